/*
 * plan.c — syntax tree to query plan: words and phrases through the index
 * tokenizer (query mode), terms interned, the tree flattened and stripped
 * of whatever produced no terms.  See plan.h for the rules.  Runs once per
 * query, so clarity wins over speed here; evaluation (eval.c) is where the
 * time goes.
 */
#include "query/dump.h"
#include "query/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/commongrams.h"
#include "index/fuzzy.h"
#include "index/util.h"
#include "tokenizer/tokenizer.h"

typedef struct node_vec {
    pl_node **v;
    uint32_t n, cap;
} node_vec;

typedef struct word_tok {
    uint32_t term;
    uint32_t pos;
} word_tok;

typedef struct planner {
    qry_plan *plan;
    size_t terms_cap;
    tok_tokenizer *tok;
    word_tok *toks;         /* terms of the word being tokenized */
    size_t ntoks, toks_cap;
    uint32_t tok_flags;     /* CommonGrams flags: phrases use bigram units */
    int field;              /* planning title:word: its terms are title terms */
    int nomem;
} planner;

/* Makes room for `extra` more entries. */
static int vec_reserve(node_vec *v, uint32_t extra)
{
    if (v->n + extra <= v->cap)
        return 0;
    uint32_t cap = v->cap ? v->cap : 4;
    while (cap < v->n + extra)
        cap *= 2;
    pl_node **nv = realloc(v->v, cap * sizeof *nv);
    if (!nv) return -1;
    v->v = nv;
    v->cap = cap;
    return 0;
}

static int vec_push(node_vec *v, pl_node *x)
{
    if (vec_reserve(v, 1)) return -1;
    v->v[v->n++] = x;
    return 0;
}

static void node_free(pl_node *n)
{
    if (!n) return;
    for (uint32_t i = 0; i < n->n && n->kids; i++)
        node_free(n->kids[i]);
    for (uint32_t i = 0; i < n->nnots; i++)
        node_free(n->nots[i]);
    free(n->kids);
    free(n->nots);
    free(n->slot_term);
    free(n->slot_rel);
    free(n->unit_term);
    free(n->unit_rel);
    free(n->field);
    free(n);
}

static void vec_free_all(node_vec *v)
{
    for (uint32_t i = 0; i < v->n; i++)
        node_free(v->v[i]);
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

/* Index of `term` in the plan's table, adding it if new; -1 on ENOMEM.
 * `prefix`: it stands for the terms it starts; `edits` (nonzero): for the
 * terms that many edits from it (a term and the same bytes as a prefix or
 * fuzzy are two). */
static long intern_as(planner *pb, const char *term, size_t len, int prefix, unsigned edits)
{
    qry_plan *p = pb->plan;
    char marked[TOK_MAX_TERM_BYTES + 1];
    if (pb->field) {
        /* the title term of `term` (TOK_TITLE_TERMS) */
        if (len > TOK_MAX_TERM_BYTES) len = TOK_MAX_TERM_BYTES;
        marked[0] = TOK_FIELD_MARK;
        memcpy(marked + 1, term, len);
        term = marked;
        len++;
    }
    for (size_t i = 0; i < p->nterms; i++) {
        if (p->terms[i].len == len && p->terms[i].prefix == prefix &&
            p->terms[i].edits == edits && memcmp(p->terms[i].bytes, term, len) == 0)
            return (long)i;
    }
    if (p->nterms == pb->terms_cap) {
        size_t cap = pb->terms_cap ? pb->terms_cap * 2 : 8;
        pl_term *nt = realloc(p->terms, cap * sizeof *nt);
        if (!nt) return -1;
        p->terms = nt;
        pb->terms_cap = cap;
    }
    char *copy = malloc(len ? len : 1);
    if (!copy) return -1;
    memcpy(copy, term, len);
    p->terms[p->nterms] = (pl_term){copy, len, prefix, edits};
    return (long)p->nterms++;
}

static long intern(planner *pb, const char *term, size_t len)
{
    return intern_as(pb, term, len, 0, 0);
}

/* Fills the units of phrase n from its slots (see plan.h).  Without
 * CommonGrams the units are the slots. */
static int plan_units(planner *pb, pl_node *n)
{
    uint32_t ns = n->n;
    /* Never more units than slots: a run of k slots chained by bigrams
     * gives k - 1 of them.  So a phrase with a bigram has fewer units. */
    n->unit_term = malloc(ns * sizeof *n->unit_term);
    n->unit_rel = malloc(ns * sizeof *n->unit_rel);
    uint8_t *pair = calloc(ns, 1);      /* slots i, i + 1 form a bigram */
    uint8_t *covered = calloc(ns, 1);
    int rc = -1;
    if (!n->unit_term || !n->unit_rel || !pair || !covered)
        goto out;
    const pl_term *t = pb->plan->terms;
    /* no bigram stands for a pair of title terms */
    for (uint32_t i = 0; i + 1 < ns && !n->slop && !pb->field; i++) {
        const pl_term *a = &t[n->slot_term[i]], *b = &t[n->slot_term[i + 1]];
        if (n->slot_rel[i + 1] == n->slot_rel[i] + 1 &&
            cg_paired(pb->tok_flags, cg_is_common(pb->tok_flags, a->bytes, a->len),
                      cg_is_common(pb->tok_flags, b->bytes, b->len)))
            pair[i] = covered[i] = covered[i + 1] = 1;
    }
    n->nunits = 0;
    for (uint32_t i = 0; i < ns; i++) {
        if (!covered[i]) {
            n->unit_term[n->nunits] = n->slot_term[i];
            n->unit_rel[n->nunits++] = n->slot_rel[i];
        }
        if (!pair[i])
            continue;
        const pl_term *a = &t[n->slot_term[i]], *b = &t[n->slot_term[i + 1]];
        char buf[2 * TOK_MAX_TERM_BYTES + 1];
        size_t len = cg_bigram(buf, a->bytes, a->len, b->bytes, b->len);
        long id = intern_as(pb, buf, len, 0, 0);
        if (id < 0)
            goto out;
        /* interning may move the terms table; nothing below uses a, b */
        t = pb->plan->terms;
        n->unit_term[n->nunits] = (uint32_t)id;
        n->unit_rel[n->nunits++] = n->slot_rel[i];
    }
    rc = 0;
out:
    free(pair);
    free(covered);
    return rc;
}

static int on_token(void *ctx, const tok_token *t)
{
    planner *pb = ctx;
    if (pb->ntoks == pb->toks_cap) {
        size_t cap = pb->toks_cap ? pb->toks_cap * 2 : 16;
        word_tok *nt = realloc(pb->toks, cap * sizeof *nt);
        if (!nt) { pb->nomem = 1; return 1; }
        pb->toks = nt;
        pb->toks_cap = cap;
    }
    long id = intern(pb, t->term, t->len);
    if (id < 0) { pb->nomem = 1; return 1; }
    pb->toks[pb->ntoks++] = (word_tok){(uint32_t)id, t->pos};
    return 0;
}

/* A word or quoted phrase (with its slop): NULL when it yields no term. */
static int plan_text(planner *pb, const char *text, size_t len, uint32_t slop,
                     pl_node **out)
{
    *out = NULL;
    pb->ntoks = 0;
    int rc = tok_run(pb->tok, text, len, 0, on_token, pb, NULL);
    if (rc != 0 || pb->nomem)
        return -1;
    if (pb->ntoks == 0)
        return 0;
    pl_node *n = calloc(1, sizeof *n);
    if (!n) return -1;
    if (pb->ntoks == 1) {
        n->kind = PL_TERM;
        n->term = pb->toks[0].term;
        *out = n;
        return 0;
    }
    n->kind = PL_PHRASE;
    n->n = (uint32_t)pb->ntoks;
    n->slop = slop;
    n->slot_term = malloc(pb->ntoks * sizeof *n->slot_term);
    n->slot_rel = malloc(pb->ntoks * sizeof *n->slot_rel);
    if (!n->slot_term || !n->slot_rel) {
        node_free(n);
        return -1;
    }
    uint32_t base = pb->toks[0].pos;
    for (size_t i = 1; i < pb->ntoks; i++)
        if (pb->toks[i].pos < base) base = pb->toks[i].pos;
    for (size_t i = 0; i < pb->ntoks; i++) {
        n->slot_term[i] = pb->toks[i].term;
        n->slot_rel[i] = pb->toks[i].pos - base;
    }
    if (plan_units(pb, n)) {
        node_free(n);
        return -1;
    }
    *out = n;
    return 0;
}

/* Whether text[0, len) is one term in query mode; if so, copies it to
 * buf (TOK_MAX_TERM_BYTES) and sets *n; *ntoks says how many terms it
 * is.  -1 on ENOMEM. */
static int one_term(planner *pb, const char *text, size_t len, char *buf, size_t *n,
                    size_t *ntoks)
{
    qry_plan *p = pb->plan;
    size_t before = p->nterms;
    pb->ntoks = 0;
    int rc = tok_run(pb->tok, text, len, 0, on_token, pb, NULL);
    if (rc != 0 || pb->nomem)
        return -1;
    *n = 0;
    if (pb->ntoks == 1) {
        /* the term itself, without the mark of a title term */
        const pl_term *t = &p->terms[pb->toks[0].term];
        size_t skip = pb->field ? 1 : 0;
        *n = t->len - skip < TOK_MAX_TERM_BYTES ? t->len - skip : TOK_MAX_TERM_BYTES;
        memcpy(buf, t->bytes + skip, *n);
    }
    /* the terms interned just now are no terms the query searches for */
    while (p->nterms > before)
        free(p->terms[--p->nterms].bytes);
    *ntoks = pb->ntoks;
    return pb->ntoks == 1;
}

/* A PREFIX or FUZZY node for term[0, n).  0, -1 on ENOMEM. */
static int expanded_node(planner *pb, pl_kind kind, const char *term, size_t n, int prefix,
                         unsigned edits, pl_node **out)
{
    long id = intern_as(pb, term, n, prefix, edits);
    if (id < 0)
        return -1;
    pl_node *x = calloc(1, sizeof *x);
    if (!x) return -1;
    x->kind = kind;
    x->term = (uint32_t)id;
    *out = x;
    return 0;
}

/* A word ending in '*' after a character other than '*': a PREFIX when
 * the text before the '*' is one term, NULL *out with 0 when it is not
 * (the caller then plans the word as it is). */
int qry_prefix_syntax(const char *text, size_t len)
{
    return len >= 2 && text[len - 1] == '*' && text[len - 2] != '*';
}

int qry_fuzzy_syntax(const char *text, size_t len, size_t *before)
{
    size_t d = len;
    while (d > 0 && text[d - 1] >= '0' && text[d - 1] <= '9') d--;
    if (d < 2 || text[d - 1] != '~' || text[d - 2] == '~')
        return 0;
    *before = d - 1;
    return 1;
}

static int plan_prefix(planner *pb, const char *text, size_t len, pl_node **out)
{
    *out = NULL;
    if (!qry_prefix_syntax(text, len))
        return 0;
    char buf[TOK_MAX_TERM_BYTES];
    size_t n, ntoks;
    int one = one_term(pb, text, len - 1, buf, &n, &ntoks);
    if (one <= 0)
        return one;
    return expanded_node(pb, PL_PREFIX, buf, n, 1, 0, out);
}

/* A word ending in '~' or '~' and digits, after a character other than
 * '~': FUZZY when the text before the '~' is one term, with the edits
 * the digits say (at most FZ_MAX_EDITS) or, without digits, as many as
 * the term's length allows: none up to 2 code points, one up to 5, two
 * beyond (Elasticsearch's AUTO).  With no edits it is that term; when
 * that text is no term (a stop word) the word drops out, as the word
 * would.  Returns 1 when the word was fuzzy (*out NULL if dropped), 0
 * when it is not, -1 on ENOMEM. */
static int plan_fuzzy(planner *pb, const char *text, size_t len, pl_node **out)
{
    *out = NULL;
    size_t d;
    if (!qry_fuzzy_syntax(text, len, &d))
        return 0;
    d++;   /* the '~' */
    char buf[TOK_MAX_TERM_BYTES];
    size_t n, ntoks;
    int one = one_term(pb, text, d - 1, buf, &n, &ntoks);
    if (one < 0)
        return -1;
    if (!one)
        return ntoks == 0;
    unsigned edits = 0;
    if (d == len) {
        size_t cps = fz_decode((const uint8_t *)buf, n, NULL, 0);
        edits = cps <= 2 ? 0 : cps <= 5 ? 1 : 2;
    } else {
        for (size_t i = d; i < len && edits < FZ_MAX_EDITS; i++)
            edits = edits * 10 + (unsigned)(text[i] - '0');
        if (edits > FZ_MAX_EDITS) edits = FZ_MAX_EDITS;
    }
    if (edits == 0)
        return plan_text(pb, text, d - 1, 0, out) ? -1 : 1;
    return expanded_node(pb, PL_FUZZY, buf, n, 0, edits, out) ? -1 : 1;
}

static int plan_node(planner *pb, const qry_node *q, pl_node **out);

/* Collects the items of an AND, seeing through nested ANDs (from groups)
 * and through planned children that are themselves ANDs. */
static int and_collect(planner *pb, const qry_node *q, node_vec *pos,
                       node_vec *neg)
{
    for (const qry_node *c = q->child; c; c = c->next) {
        if (c->kind == QRY_AND) {
            if (and_collect(pb, c, pos, neg)) return -1;
            continue;
        }
        pl_node *x;
        if (c->kind == QRY_NOT) {
            if (plan_node(pb, c->child, &x)) return -1;
            if (x && vec_push(neg, x)) { node_free(x); return -1; }
            continue;
        }
        if (plan_node(pb, c, &x)) return -1;
        if (!x) continue;
        if (x->kind == PL_AND) {
            /* Already simplified, so it has positives; merge it. */
            if (vec_reserve(pos, x->n) || vec_reserve(neg, x->nnots)) {
                node_free(x);
                return -1;
            }
            for (uint32_t i = 0; i < x->n; i++)
                pos->v[pos->n++] = x->kids[i];
            for (uint32_t i = 0; i < x->nnots; i++)
                neg->v[neg->n++] = x->nots[i];
            x->n = x->nnots = 0;   /* children moved, free only the shell */
            node_free(x);
            continue;
        }
        if (vec_push(pos, x)) { node_free(x); return -1; }
    }
    return 0;
}

/* A bare word: a prefix, a fuzzy word, or its text's terms. */
static int plan_word(planner *pb, const char *text, size_t len, pl_node **out)
{
    if (plan_prefix(pb, text, len, out)) return -1;
    if (*out) return 0;
    switch (plan_fuzzy(pb, text, len, out)) {
    case -1: return -1;
    case 1: return 0;
    }
    return plan_text(pb, text, len, 0, out);
}

static int plan_node(planner *pb, const qry_node *q, pl_node **out)
{
    *out = NULL;
    switch (q->kind) {
    case QRY_WORD: {
        double boost = 0;
        size_t len = qry_word_boost(q->text, q->len, &boost);
        int rc;
        qry_range rg;
        if (qry_range_syntax(q->text, len, &rg)) {
            /* a filter: its boost would multiply nothing */
            pl_node *x = calloc(1, sizeof *x);
            if (!x || !(x->field = malloc(rg.field_len))) {
                free(x);
                return -1;
            }
            memcpy(x->field, rg.field, rg.field_len);
            x->kind = PL_RANGE;
            x->field_len = rg.field_len;
            x->lo = rg.lo;
            x->hi = rg.hi;
            *out = x;
            return 0;
        }
        if ((pb->tok_flags & TOK_TITLE_TERMS) && len > 6 && !memcmp(q->text, "title:", 6)) {
            /* title:word, in an index with title terms: the word, its
             * terms replaced by their title terms */
            pb->field = 1;
            rc = plan_word(pb, q->text + 6, len - 6, out);
            pb->field = 0;
        } else {
            rc = plan_word(pb, q->text, len, out);
        }
        if (!rc && *out && len < q->len) (*out)->boost = boost;
        return rc;
    }
    case QRY_PHRASE:
        if (q->title && (pb->tok_flags & TOK_TITLE_TERMS)) {
            pb->field = 1;
            int rc = plan_text(pb, q->text, q->len, q->slop, out);
            pb->field = 0;
            if (!rc && *out) (*out)->boost = q->boost;
            return rc;
        }
        if (q->title) {
            /* no title terms: the word "title:" and the phrase, as they
             * were read before title:"..." was one item */
            qry_node w = {.kind = QRY_WORD, .text = q->text - 7, .len = 6, .col = q->col};
            qry_node ph = *q;
            ph.title = 0;
            w.next = &ph;
            ph.next = NULL;
            qry_node and = {.kind = QRY_AND, .child = &w, .col = q->col};
            return plan_node(pb, &and, out);
        }
        {
            int rc = plan_text(pb, q->text, q->len, q->slop, out);
            if (!rc && *out) (*out)->boost = q->boost;
            return rc;
        }
    case QRY_NOT:
        /* The parser only lets NOT appear inside an AND (handled by
         * and_collect); anywhere else it could match nothing. */
        return 0;
    case QRY_AND: {
        node_vec pos = {0}, neg = {0};
        if (and_collect(pb, q, &pos, &neg)) {
            vec_free_all(&pos);
            vec_free_all(&neg);
            return -1;
        }
        if (pos.n == 0) {
            vec_free_all(&neg);
            free(pos.v);
            return 0;
        }
        if (pos.n == 1 && neg.n == 0) {
            *out = pos.v[0];
            free(pos.v);
            return 0;
        }
        pl_node *n = calloc(1, sizeof *n);
        if (!n) {
            vec_free_all(&pos);
            vec_free_all(&neg);
            return -1;
        }
        n->kind = PL_AND;
        n->kids = pos.v;
        n->n = pos.n;
        n->nots = neg.v;
        n->nnots = neg.n;
        *out = n;
        return 0;
    }
    case QRY_OR: {
        node_vec kids = {0};
        for (const qry_node *c = q->child; c; c = c->next) {
            pl_node *x;
            if (plan_node(pb, c, &x)) { vec_free_all(&kids); return -1; }
            if (!x) continue;
            if (x->kind == PL_OR) {
                if (vec_reserve(&kids, x->n)) {
                    node_free(x);
                    vec_free_all(&kids);
                    return -1;
                }
                for (uint32_t i = 0; i < x->n; i++)
                    kids.v[kids.n++] = x->kids[i];
                x->n = 0;
                node_free(x);
                continue;
            }
            if (vec_push(&kids, x)) {
                node_free(x);
                vec_free_all(&kids);
                return -1;
            }
        }
        if (kids.n <= 1) {
            *out = kids.n ? kids.v[0] : NULL;
            free(kids.v);
            return 0;
        }
        pl_node *n = calloc(1, sizeof *n);
        if (!n) { vec_free_all(&kids); return -1; }
        n->kind = PL_OR;
        n->kids = kids.v;
        n->n = kids.n;
        *out = n;
        return 0;
    }
    }
    return 0;
}

int qry_plan_build(const qry_node *root, uint32_t tok_flags, qry_plan **out,
                   quire_error *err)
{
    *out = NULL;
    if (tok_flags & ~(uint32_t)TOK_KNOWN_FLAGS)
        return qerr(err, QUIRE_EARG, "unknown tokenizer flags 0x%x",
                    (unsigned)tok_flags);
    planner pb = {0};
    pb.plan = calloc(1, sizeof *pb.plan);
    if (!pb.plan)
        return qerr(err, QUIRE_ENOMEM, "out of memory planning query");
    pb.tok_flags = tok_flags;
    if (tok_new(tok_flags, TOK_MODE_QUERY, &pb.tok) != 0) {
        qry_plan_free(pb.plan);
        return qerr(err, QUIRE_ENOMEM, "cannot create the query tokenizer");
    }
    int rc = plan_node(&pb, root, &pb.plan->root);
    tok_free(pb.tok);
    free(pb.toks);
    if (rc) {
        qry_plan_free(pb.plan);
        return qerr(err, QUIRE_ENOMEM, "out of memory planning query");
    }
    *out = pb.plan;
    return QUIRE_OK;
}

int qry_plan_text(const char *q, size_t qlen, uint32_t tok_flags,
                  qry_plan **out, quire_error *err)
{
    qry_ast *ast;
    *out = NULL;
    int rc = qry_parse(q, qlen, &ast, err);
    if (rc) return rc;
    rc = qry_plan_build(qry_ast_root(ast), tok_flags, out, err);
    qry_ast_free(ast);
    return rc;
}

void qry_plan_free(qry_plan *p)
{
    if (!p) return;
    node_free(p->root);
    for (size_t i = 0; i < p->nterms; i++)
        free(p->terms[i].bytes);
    free(p->terms);
    free(p);
}

/* ---- dump ---------------------------------------------------------------- */

/* A term as the query would name it: a title term as title:word. */
static void dump_term(dump_buf *d, const pl_term *t)
{
    if (t->len && t->bytes[0] == TOK_FIELD_MARK) {
        dump_put(d, "title:", 6);
        dump_put(d, t->bytes + 1, t->len - 1);
    } else {
        dump_put(d, t->bytes, t->len);
    }
}

static void dump_boost(dump_buf *d, const pl_node *n)
{
    if (!n->boost) return;
    char b[32];
    int len = snprintf(b, sizeof b, " ^%g", n->boost);
    dump_put(d, b, (size_t)len);
}

static void dump_node(dump_buf *d, const qry_plan *p, const pl_node *n)
{
    switch (n->kind) {
    case PL_TERM:
    case PL_PREFIX:
    case PL_FUZZY: {
        static const char *const head[] = {[PL_TERM] = "(TERM ", [PL_PREFIX] = "(PREFIX ",
                                           [PL_FUZZY] = "(FUZZY "};
        dump_put(d, head[n->kind], strlen(head[n->kind]));
        dump_term(d, &p->terms[n->term]);
        if (n->kind == PL_FUZZY) {
            dump_put(d, "~", 1);
            dump_u32(d, p->terms[n->term].edits);
        }
        dump_boost(d, n);
        dump_put(d, ")", 1);
        return;
    }
    case PL_PHRASE:
        dump_put(d, "(PHRASE", 7);
        for (uint32_t i = 0; i < n->n; i++) {
            const pl_term *t = &p->terms[n->slot_term[i]];
            dump_put(d, " ", 1);
            dump_term(d, t);
            dump_put(d, "@", 1);
            dump_u32(d, n->slot_rel[i]);
        }
        if (n->nunits != n->n) {
            dump_put(d, " :", 2);
            for (uint32_t i = 0; i < n->nunits; i++) {
                const pl_term *t = &p->terms[n->unit_term[i]];
                dump_put(d, " ", 1);
                for (size_t j = 0; j < t->len; j++)
                    dump_put(d, t->bytes[j] == CG_SEP ? "+" : &t->bytes[j], 1);
                dump_put(d, "@", 1);
                dump_u32(d, n->unit_rel[i]);
            }
        }
        if (n->slop) {
            dump_put(d, " ~", 2);
            dump_u32(d, n->slop);
        }
        dump_boost(d, n);
        dump_put(d, ")", 1);
        return;
    case PL_RANGE: {
        dump_put(d, "(RANGE ", 7);
        dump_put(d, n->field, n->field_len);
        char b[64];
        int len = isinf(n->lo) ? snprintf(b, sizeof b, " *") : snprintf(b, sizeof b, " %.17g", n->lo);
        dump_put(d, b, (size_t)len);
        len = isinf(n->hi) ? snprintf(b, sizeof b, " *)") : snprintf(b, sizeof b, " %.17g)", n->hi);
        dump_put(d, b, (size_t)len);
        return;
    }
    case PL_AND:
    case PL_OR:
        dump_put(d, n->kind == PL_AND ? "(AND" : "(OR", n->kind == PL_AND ? 4 : 3);
        for (uint32_t i = 0; i < n->n; i++) {
            dump_put(d, " ", 1);
            dump_node(d, p, n->kids[i]);
        }
        for (uint32_t i = 0; i < n->nnots; i++) {
            dump_put(d, " (NOT ", 6);
            dump_node(d, p, n->nots[i]);
            dump_put(d, ")", 1);
        }
        dump_put(d, ")", 1);
        return;
    }
}

size_t qry_plan_dump(const qry_plan *p, char *buf, size_t cap)
{
    dump_buf d = {.buf = buf, .cap = cap ? cap - 1 : 0, .len = 0};
    if (p->root)
        dump_node(&d, p, p->root);
    else
        dump_put(&d, "(NONE)", 6);
    if (cap)
        buf[d.len < cap ? d.len : cap - 1] = '\0';
    return d.len;
}
