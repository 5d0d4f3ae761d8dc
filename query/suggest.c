/*
 * suggest.c — "did you mean" (quire_suggest): the query with each word
 * that is in no document of the index replaced by the index's most
 * frequent term within one or two edits (index/fuzzy.h), offered only
 * when the query so corrected matches.
 *
 * USERS.md: a suggestion must say which word it replaced and must never be
 * a query with zero hits.  Words are the terms the index's tokenizer makes
 * of the query's words and phrases, so a word inside a phrase or a
 * compound is corrected on its own, and the replacement is the term as
 * indexed (folded; stemmed in a stemmed index).  Excluded words (NOT, -)
 * are left alone, and so are prefix and fuzzy words, which already stand
 * for other terms.  A word of one or two characters is never replaced;
 * up to five it may be one edit away, longer two (as fuzzy `word~`).
 * Among candidates the nearer wins, then the one in more documents
 * (summed over segments, deleted ones included), then bytewise order.
 */
#include <stdlib.h>
#include <string.h>

#include "index/fuzzy.h"
#include "index/index.h"
#include "index/util.h"
#include "query/parse.h"
#include "query/plan.h"
#include "query/query.h"
#include "tokenizer/tokenizer.h"

/* A word of the query to replace: its bytes in the query, and by what. */
typedef struct sg_fix {
    size_t start, end;
    char term[TOK_MAX_TERM_BYTES];
    size_t len;
} sg_fix;

typedef struct sg_cand {
    char term[TOK_MAX_TERM_BYTES];
    size_t len;
    uint64_t df;
} sg_cand;

typedef struct suggester {
    const idx_reader *r;
    const char *q;
    tok_tokenizer *tok;
    size_t base;             /* where the text being tokenized starts in q */
    sg_fix *fix;
    size_t nfix, cap_fix;
    sg_cand *cand;           /* the candidates for one word */
    size_t ncand, cap_cand;
    int nomem, corrupt;
} suggester;

static int on_candidate(void *ctx, const uint8_t *term, size_t len, const idx_term *t,
                        unsigned dist)
{
    (void)dist;
    suggester *sg = ctx;
    if (len > TOK_MAX_TERM_BYTES) return 0;
    for (size_t i = 0; i < sg->ncand; i++)
        if (sg->cand[i].len == len && memcmp(sg->cand[i].term, term, len) == 0) {
            sg->cand[i].df += t->df;
            return 0;
        }
    if (grow_array((void **)&sg->cand, &sg->cap_cand, sg->ncand + 1, sizeof *sg->cand, 16)) {
        sg->nomem = 1;
        return 1;
    }
    sg_cand *c = &sg->cand[sg->ncand++];
    memcpy(c->term, term, len);
    c->len = len;
    c->df = t->df;
    return 0;
}

/* Whether candidate c, d edits away, beats b, bd edits away. */
static int before(const sg_cand *c, unsigned d, const sg_cand *b, unsigned bd)
{
    if (d != bd) return d < bd;
    if (c->df != b->df) return c->df > b->df;
    size_t m = c->len < b->len ? c->len : b->len;
    int x = memcmp(c->term, b->term, m);
    return x ? x < 0 : c->len < b->len;
}

/* Whether some segment holds the term. */
static int in_index(suggester *sg, const char *term, size_t len)
{
    for (size_t s = 0; s < idx_reader_nsegments(sg->r); s++) {
        idx_term t;
        int f = idx_segment_lookup(idx_reader_segment(sg->r, s), term, len, &t);
        if (f < 0) sg->corrupt = 1;
        if (f == 1 && t.df > 0) return 1;
    }
    return 0;
}

/* A term of the query: replaced by its best candidate when the index
 * does not hold it. */
static int on_word(void *ctx, const tok_token *t)
{
    suggester *sg = ctx;
    if (in_index(sg, t->term, t->len) || sg->corrupt) return sg->corrupt;
    size_t cps = fz_decode((const uint8_t *)t->term, t->len, NULL, 0);
    unsigned edits = cps <= 2 ? 0 : cps <= 5 ? 1 : 2;
    if (!edits) return 0;
    sg->ncand = 0;
    for (size_t s = 0; s < idx_reader_nsegments(sg->r); s++) {
        int r = idx_segment_fuzzy(idx_reader_segment(sg->r, s), t->term, t->len, edits,
                                  on_candidate, NULL, sg);
        if (r == -1) sg->corrupt = 1;
        if (r == -2) sg->nomem = 1;
        if (sg->nomem || sg->corrupt) return 1;
    }
    const sg_cand *best = NULL;
    unsigned best_d = 0;
    for (size_t i = 0; i < sg->ncand; i++) {
        const sg_cand *c = &sg->cand[i];
        unsigned d = edits == 1 || fz_within((const uint8_t *)t->term, t->len,
                                             (const uint8_t *)c->term, c->len, 1) ? 1 : 2;
        if (!best || before(c, d, best, best_d)) {
            best = c;
            best_d = d;
        }
    }
    if (!best) return 0;
    if (grow_array((void **)&sg->fix, &sg->cap_fix, sg->nfix + 1, sizeof *sg->fix, 8)) {
        sg->nomem = 1;
        return 1;
    }
    sg_fix *f = &sg->fix[sg->nfix++];
    f->start = sg->base + t->start;
    f->end = sg->base + t->end;
    memcpy(f->term, best->term, best->len);
    f->len = best->len;
    return 0;
}

/* Finds the words to replace under n, leaving out what NOT excludes. */
static int walk(suggester *sg, const qry_node *n)
{
    for (; n; n = n->next) {
        size_t before;
        double boost;
        switch (n->kind) {
        case QRY_WORD:
            /* no words to correct: prefixes, fuzzy words, ranges */
            if (qry_prefix_syntax(n->text, n->len) || qry_fuzzy_syntax(n->text, n->len, &before) ||
                qry_range_syntax(n->text, qry_word_boost(n->text, n->len, &boost), NULL))
                break;
            /* fall through */
        case QRY_PHRASE:
            sg->base = (size_t)(n->text - sg->q);
            if (tok_run(sg->tok, n->text, n->len, 0, on_word, sg, NULL) < 0) sg->nomem = 1;
            if (sg->nomem || sg->corrupt) return -1;
            break;
        case QRY_NOT:
            break;
        default:
            if (walk(sg, n->child)) return -1;
        }
    }
    return 0;
}

static int cmp_fix(const void *a, const void *b)
{
    const sg_fix *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

/* Appends p[0, n) to buf[0, cap) at *at, as far as it fits. */
static void put(char *buf, size_t cap, size_t *at, const char *p, size_t n)
{
    if (*at < cap) memcpy(buf + *at, p, *at + n < cap ? n : cap - *at);
    *at += n;
}

/* q with the fixes applied, the replaced words in open/close; the length
 * it needs (buf holds what fits of it). */
static size_t rewrite(const char *q, size_t qlen, const sg_fix *fix, size_t nfix,
                      const char *open, const char *close, char *buf, size_t cap)
{
    size_t at = 0, from = 0;
    for (size_t i = 0; i < nfix; i++) {
        put(buf, cap, &at, q + from, fix[i].start - from);
        put(buf, cap, &at, open, strlen(open));
        put(buf, cap, &at, fix[i].term, fix[i].len);
        put(buf, cap, &at, close, strlen(close));
        from = fix[i].end;
    }
    put(buf, cap, &at, q + from, qlen - from);
    return at;
}

int qry_suggest(const idx_reader *r, const char *q, size_t qlen, const char *open,
                const char *close, char *buf, size_t cap, size_t *replaced, quire_error *err)
{
    *replaced = 0;
    if (cap) buf[0] = '\0';
    qry_ast *ast;
    int rc = qry_parse(q, qlen, &ast, err);
    if (rc) return rc;
    /* the suggestion is a C string: a query holding a NUL byte has none */
    if (memchr(q, '\0', qlen)) {
        qry_ast_free(ast);
        return QUIRE_OK;
    }
    suggester sg = {.r = r, .q = q};
    if (tok_new(idx_reader_tok_flags(r), TOK_MODE_QUERY, &sg.tok) != 0) {
        qry_ast_free(ast);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    walk(&sg, qry_ast_root(ast));
    qry_ast_free(ast);
    tok_free(sg.tok);
    free(sg.cand);
    if (sg.nomem) rc = qerr(err, QUIRE_ENOMEM, "out of memory");
    else if (sg.corrupt) rc = qerr(err, QUIRE_ECORRUPT, "corrupt dictionary");
    /* one word may give several terms (a compound's whole and its
     * parts): the first replacement of a span wins */
    if (sg.nfix) qsort(sg.fix, sg.nfix, sizeof *sg.fix, cmp_fix);
    size_t n = 0;
    for (size_t i = 0; i < sg.nfix; i++)
        if (!n || sg.fix[i].start >= sg.fix[n - 1].end) sg.fix[n++] = sg.fix[i];
    char *plain = NULL;
    if (!rc && n) {
        size_t need = rewrite(q, qlen, sg.fix, n, "", "", NULL, 0);
        if (!(plain = malloc(need + 1))) {
            rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        } else {
            rewrite(q, qlen, sg.fix, n, "", "", plain, need);
            uint64_t hits = 0;
            rc = qry_count(r, plain, need, &hits, err);
            if (!rc && hits > 0) {
                size_t len = rewrite(q, qlen, sg.fix, n, open, close, buf, cap);
                if (cap) buf[len < cap ? len : cap - 1] = '\0';
                *replaced = n;
            }
        }
    }
    free(plain);
    free(sg.fix);
    return rc;
}
