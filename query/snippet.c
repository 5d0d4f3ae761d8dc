/*
 * snippet.c — highlighted excerpts (qry_snippet).  The stored text is
 * tokenized with the index's own tokenizer in index mode, which gives the
 * position and byte span of every term; the matches are the spans of the
 * words the query's terms match on their own, and of each occurrence of
 * its phrases, whole.  A window of the requested size is placed over the densest run
 * of matches and the text is copied with markers around the matches.
 * Only byte offsets from the tokenizer and ASCII whitespace are used as
 * cut points, so no UTF-8 sequence is ever split.  See snippet.h for the
 * exact rules.
 */
#include "query/snippet.h"
#include "query/sloppy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/fuzzy.h"
#include "index/util.h"
#include "query/plan.h"
#include "query/query.h"
#include "tokenizer/tokenizer.h"

#define ELLIPSIS "\xE2\x80\xA6"   /* U+2026 */

typedef quire_span span;

/* A token of the text: its position and span, and the query term it is
 * (an index into the plan's terms, NO_TERM for none). */
typedef struct tok_at {
    uint32_t pos, term;
    size_t start, end;
} tok_at;

#define NO_TERM UINT32_MAX

/* What the query highlights: every word a term, prefix or fuzzy word
 * outside NOT matches on its own, and every occurrence of a phrase
 * outside NOT as one span from its first word to its last (USERS.md: one
 * span per matched phrase; its words elsewhere are not matches). */
typedef struct matcher {
    const qry_plan *plan;
    int title;                      /* the text is a title: title terms match */
    uint8_t *single;                /* per plan term: matches on its own */
    fz_matcher *fz;                 /* per plan term: a fuzzy one's matcher */
    const pl_node **phrases;
    size_t nphrases, cap_phrases;
    tok_at *toks;
    size_t ntoks, cap_toks;
    span *v;
    size_t n, cap;
    int nomem;
} matcher;

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

static void collect(matcher *m, const pl_node *n)
{
    switch (n->kind) {
    case PL_TERM:
    case PL_PREFIX:
    case PL_FUZZY:
        m->single[n->term] = 1;
        return;
    case PL_PHRASE:
        if (grow_array((void **)&m->phrases, &m->cap_phrases, m->nphrases + 1,
                       sizeof *m->phrases, 4))
            m->nomem = 1;
        else
            m->phrases[m->nphrases++] = n;
        return;
    case PL_AND:
    case PL_OR:
        for (uint32_t i = 0; i < n->n; i++) collect(m, n->kids[i]);   /* not the nots */
        return;
    case PL_RANGE:
        return;   /* a number, not words of the text */
    }
}

/* A plan term's bytes as a word of the text would have them: a title
 * term's without its mark. */
static size_t term_skip(const pl_term *t)
{
    return t->len && t->bytes[0] == TOK_FIELD_MARK;
}

/* Whether the word `term` matches plan term i. */
static int term_matches(matcher *m, size_t i, const char *term, size_t len)
{
    const pl_term *t = &m->plan->terms[i];
    size_t skip = term_skip(t), tl = t->len - skip;
    if (skip && !m->title) return 0;
    if (t->edits) return fz_match(&m->fz[i], (const uint8_t *)term, len);
    return (t->prefix ? tl <= len : tl == len) && memcmp(t->bytes + skip, term, tl) == 0;
}

static void add_span(matcher *m, size_t start, size_t end)
{
    if (end <= start) return;
    if (grow_array((void **)&m->v, &m->cap, m->n + 1, sizeof *m->v, 16)) {
        m->nomem = 1;
        return;
    }
    m->v[m->n++] = (span){start, end};
}

static int on_token(void *ctx, const tok_token *t)
{
    matcher *m = ctx;
    const qry_plan *p = m->plan;
    uint32_t exact = NO_TERM;
    int single = 0;
    for (size_t i = 0; i < p->nterms; i++) {
        if (!term_matches(m, i, t->term, t->len)) continue;
        single |= m->single[i];
        if (!pl_term_expands(&p->terms[i])) exact = (uint32_t)i;
    }
    if (single) add_span(m, t->start, t->end);
    if (exact != NO_TERM && m->nphrases) {
        if (grow_array((void **)&m->toks, &m->cap_toks, m->ntoks + 1, sizeof *m->toks, 64)) {
            m->nomem = 1;
            return 1;
        }
        m->toks[m->ntoks++] = (tok_at){t->pos, exact, t->start, t->end};
    }
    return m->nomem;
}

/* The first token at position pos or after (tokens come by position). */
static size_t first_at(const matcher *m, uint64_t pos)
{
    size_t lo = 0, hi = m->ntoks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->toks[mid].pos < pos) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The token of term `term` at position pos (there is one). */
static size_t token_at(const matcher *m, uint32_t pos, uint32_t term)
{
    size_t j = first_at(m, pos);
    while (j < m->ntoks && m->toks[j].term != term) j++;
    return j;
}

typedef struct sloppy_marks {
    matcher *m;
    const pl_node *n;
} sloppy_marks;

/* A match in order and side by side is one span, as an exact phrase;
 * any other, a span per word (the words between are not matches). */
static void mark_match(void *ctx, const uint32_t *at, uint32_t k, uint32_t spread)
{
    sloppy_marks *sm = ctx;
    matcher *m = sm->m;
    size_t start = SIZE_MAX, end = 0;
    for (uint32_t i = 0; i < k; i++) {
        size_t j = token_at(m, at[i], sm->n->slot_term[i]);
        if (j == m->ntoks) continue;
        if (spread) {
            add_span(m, m->toks[j].start, m->toks[j].end);
            continue;
        }
        if (m->toks[j].start < start) start = m->toks[j].start;
        if (m->toks[j].end > end) end = m->toks[j].end;
    }
    if (!spread && start < end) add_span(m, start, end);
}

/* A phrase with slop: sloppy.c finds its matches on the positions of the
 * slots' terms in the text. */
static void sloppy_spans(matcher *m, const pl_node *n)
{
    uint32_t k = n->n;
    uint32_t **pos = calloc(k, sizeof *pos);
    uint32_t *npos = calloc(k, sizeof *npos), *group = malloc(k * sizeof *group);
    sloppy_scratch ss = {0};
    if (!pos || !npos || !group) goto fail;
    sloppy_groups(n->slot_term, k, group);
    for (uint32_t i = 0; i < k; i++) {
        if (!(pos[i] = malloc((m->ntoks ? m->ntoks : 1) * sizeof **pos))) goto fail;
        for (size_t j = 0; j < m->ntoks; j++)
            if (m->toks[j].term == n->slot_term[i] &&
                (!npos[i] || pos[i][npos[i] - 1] != m->toks[j].pos))
                pos[i][npos[i]++] = m->toks[j].pos;
    }
    sloppy_in in = {(const uint32_t *const *)pos, npos, n->slot_rel, group, k, n->slop};
    sloppy_marks sm = {m, n};
    if (sloppy_freq(&in, 0, mark_match, &sm, &ss) < 0) goto fail;
    goto out;
fail:
    m->nomem = 1;
out:
    for (uint32_t i = 0; pos && i < k; i++) free(pos[i]);
    free(pos);
    free(npos);
    free(group);
    sloppy_free(&ss);
}

/* Adds a span for every occurrence of phrase n: a token of its first
 * slot's term, and at each other slot's relative position a token of
 * that slot's term. */
static void phrase_spans(matcher *m, const pl_node *n)
{
    if (n->slop) {
        sloppy_spans(m, n);
        return;
    }
    for (size_t i = 0; i < m->ntoks; i++) {
        const tok_at *a = &m->toks[i];
        if (a->term != n->slot_term[0] || a->pos < n->slot_rel[0]) continue;
        uint64_t base = a->pos - n->slot_rel[0];
        size_t start = a->start, end = a->end;
        uint32_t k = 1;
        for (; k < n->n; k++) {
            uint64_t want = base + n->slot_rel[k];
            size_t j = first_at(m, want);
            while (j < m->ntoks && m->toks[j].pos == want && m->toks[j].term != n->slot_term[k])
                j++;
            if (j == m->ntoks || m->toks[j].pos != want) break;
            if (m->toks[j].start < start) start = m->toks[j].start;
            if (m->toks[j].end > end) end = m->toks[j].end;
        }
        if (k == n->n) add_span(m, start, end);
    }
}

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->start != y->start) return (x->start > y->start) - (x->start < y->start);
    return (x->end > y->end) - (x->end < y->end);
}

/* Sorts the spans and merges those that overlap. */
static void merge_spans(matcher *m)
{
    if (m->n == 0) return;
    qsort(m->v, m->n, sizeof *m->v, cmp_span);
    size_t k = 0;
    for (size_t i = 1; i < m->n; i++) {
        if (m->v[i].start < m->v[k].end) {
            if (m->v[i].end > m->v[k].end) m->v[k].end = m->v[i].end;
        } else {
            m->v[++k] = m->v[i];
        }
    }
    m->n = k + 1;
}

/* ---- bounded output ------------------------------------------------------ */

typedef struct out {
    char *buf;
    size_t cap;         /* usable bytes: the caller's cap minus the NUL */
    size_t len;
    size_t reserve;     /* bytes held back for a pending close marker */
    int full;
} out;

static void out_text(out *o, const char *s, size_t n)
{
    if (o->full) return;
    size_t room = o->cap - o->len - o->reserve;
    if (n > room) {
        /* Cut before the lead byte of a sequence that does not fit. */
        size_t m = room;
        while (m > 0 && ((unsigned char)s[m] & 0xC0) == 0x80)
            m--;
        n = m;
        o->full = 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        o->buf[o->len + i] = is_space(c) ? ' ' : (char)c;
    }
    o->len += n;
}

/* Writes `open` only if the whole match (`span` bytes) and its close fit
 * too, so truncation never cuts a highlighted match; returns whether it
 * did. */
static int out_open(out *o, const char *open, size_t olen, size_t clen,
                    size_t span)
{
    if (o->full) return 0;
    if (o->cap - o->len - o->reserve < olen + clen + span) {
        o->full = 1;
        return 0;
    }
    memcpy(o->buf + o->len, open, olen);
    o->len += olen;
    o->reserve += clen;
    return 1;
}

static void out_close(out *o, const char *close, size_t clen)
{
    o->reserve -= clen;
    memcpy(o->buf + o->len, close, clen);
    o->len += clen;
}

/* ---- window -------------------------------------------------------------- */

/* End of a window starting at ws with room for max bytes, keeping at
 * least [ws, min_end): cut at whitespace when a word would be split, and
 * mid-word (at a UTF-8 boundary) only when no whitespace is available. */
static size_t window_end(const char *text, size_t len, size_t ws, size_t max,
                         size_t min_end)
{
    size_t we = len - ws > max ? ws + max : len;
    if (we < len && !is_space((unsigned char)text[we]) &&
        !is_space((unsigned char)text[we - 1])) {
        size_t p = we;
        while (p > min_end && !is_space((unsigned char)text[p - 1]))
            p--;
        if (p > min_end)
            we = p - 1;                 /* just before that space */
        else if (min_end > ws)
            we = min_end;               /* end right after the matches */
        else
            while (we > ws && ((unsigned char)text[we] & 0xC0) == 0x80)
                we--;
    }
    while (we > min_end && we > ws && is_space((unsigned char)text[we - 1]))
        we--;
    return we;
}

int qry_match_spans(uint32_t tok_flags, const char *q, size_t qlen, const char *text,
                    size_t len, quire_span **spans, size_t *nspans, quire_error *err)
{
    *spans = NULL;
    *nspans = 0;
    if (!text && len)
        return qerr(err, QUIRE_EARG, "text is NULL");
    int title = (tok_flags & QRY_TEXT_TITLE) != 0;
    tok_flags &= ~QRY_TEXT_TITLE;
    qry_plan *plan;
    int rc = qry_plan_text(q, qlen, tok_flags, &plan, err);
    if (rc) return rc;
    matcher m = {.plan = plan, .title = title, .single = calloc(plan->nterms + 1, 1),
                 .fz = calloc(plan->nterms + 1, sizeof *m.fz)};
    tok_tokenizer *tok = NULL;
    /* a fuzzy term's matcher, made once (a word of the text matches or
     * not whatever the words before it) */
    for (size_t i = 0; m.fz && i < plan->nterms; i++)
        if (plan->terms[i].edits &&
            fz_init(&m.fz[i], (const uint8_t *)plan->terms[i].bytes + term_skip(&plan->terms[i]),
                    plan->terms[i].len - term_skip(&plan->terms[i]), plan->terms[i].edits) == -1)
            m.nomem = 1;
    if (m.nomem || !m.single || !m.fz || tok_new(tok_flags, TOK_MODE_INDEX, &tok) != 0) {
        m.nomem = 1;
    } else {
        if (plan->root) collect(&m, plan->root);
        if (!m.nomem && tok_run(tok, text, len, 0, on_token, &m, NULL) != 0) m.nomem = 1;
        for (size_t i = 0; i < m.nphrases && !m.nomem; i++) phrase_spans(&m, m.phrases[i]);
        if (!m.nomem) merge_spans(&m);
    }
    tok_free(tok);
    for (size_t i = 0; m.fz && i < plan->nterms; i++) fz_free(&m.fz[i]);
    free(m.fz);
    qry_plan_free(plan);
    free(m.single);
    free(m.phrases);
    free(m.toks);
    if (m.nomem) {
        free(m.v);
        return qerr(err, QUIRE_ENOMEM, "out of memory finding matches");
    }
    *spans = m.v;
    *nspans = m.n;
    return QUIRE_OK;
}

int qry_snippet_text(uint32_t tok_flags, const char *q, size_t qlen,
                     const char *text, size_t len, const char *open,
                     const char *close, size_t max_bytes, char *buf,
                     size_t cap, quire_error *err)
{
    if (!buf || cap == 0)
        return qerr(err, QUIRE_EARG, "snippet buffer is empty");
    buf[0] = '\0';
    if (!open) open = "";
    if (!close) close = "";
    size_t olen = strlen(open), clen = strlen(close);
    matcher m = {0};
    int rc = qry_match_spans(tok_flags, q, qlen, text, len, &m.v, &m.n, err);
    if (rc) return rc;

    size_t max = max_bytes ? max_bytes : len;
    size_t ws = 0, we = len;
    if (len > max) {
        if (m.n == 0) {
            we = window_end(text, len, 0, max, 0);
        } else {
            /* Densest window: for each first match i, count the matches
             * ending within max bytes of its start (two pointers). */
            size_t best_i = 0, best_c = 0, j = 0;
            for (size_t i = 0; i < m.n; i++) {
                if (j < i) j = i;
                while (j < m.n && m.v[j].end - m.v[i].start <= max)
                    j++;
                if (j - i > best_c) {
                    best_c = j - i;
                    best_i = i;
                }
            }
            size_t first = m.v[best_i].start;
            if (best_c == 0) {
                /* The first match alone is longer than the window. */
                ws = first;
                we = window_end(text, len, ws, max, ws);
            } else {
                size_t last = m.v[best_i + best_c - 1].end;
                size_t lead = (max - (last - first)) / 2;
                ws = first > lead ? first - lead : 0;
                if (len - ws < max)
                    ws = len - max;     /* use the budget before instead */
                /* Start on a word: skip the partial word and spaces. */
                if (ws > 0 && !is_space((unsigned char)text[ws - 1]))
                    while (ws < first && !is_space((unsigned char)text[ws]))
                        ws++;
                while (ws < first && is_space((unsigned char)text[ws]))
                    ws++;
                we = window_end(text, len, ws, max, last);
            }
        }
    }

    out o = {.buf = buf, .cap = cap - 1};
    if (ws > 0)
        out_text(&o, ELLIPSIS, sizeof ELLIPSIS - 1);
    size_t at = ws;
    for (size_t i = 0; i < m.n; i++) {
        size_t s = m.v[i].start, e = m.v[i].end;
        if (e <= ws || s >= we) continue;
        if (s < ws) s = ws;
        if (e > we) e = we;
        out_text(&o, text + at, s - at);
        if (out_open(&o, open, olen, clen, e - s)) {
            out_text(&o, text + s, e - s);
            out_close(&o, close, clen);
        }
        at = e;
    }
    out_text(&o, text + at, we - at);
    if (we < len)
        out_text(&o, ELLIPSIS, sizeof ELLIPSIS - 1);
    buf[o.len] = '\0';
    free(m.v);
    return QUIRE_OK;
}
