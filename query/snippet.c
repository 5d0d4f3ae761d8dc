/*
 * snippet.c — highlighted excerpts (qry_snippet).  The stored text is
 * tokenized with the index's own tokenizer in index mode, which gives the
 * byte span of every term; spans of terms the query searches for are the
 * matches.  A window of the requested size is placed over the densest run
 * of matches and the text is copied with markers around the matches.
 * Only byte offsets from the tokenizer and ASCII whitespace are used as
 * cut points, so no UTF-8 sequence is ever split.  See snippet.h for the
 * exact rules.
 */
#include "query/snippet.h"

#include <stdlib.h>
#include <string.h>

#include "index/fuzzy.h"
#include "index/util.h"
#include "query/plan.h"
#include "query/query.h"
#include "tokenizer/tokenizer.h"

#define ELLIPSIS "\xE2\x80\xA6"   /* U+2026 */

typedef struct span {
    size_t start, end;
} span;

typedef struct matcher {
    const qry_plan *plan;
    span *v;
    size_t n, cap;
    int nomem;
} matcher;

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

static int is_query_term(const qry_plan *p, const char *term, size_t len)
{
    for (size_t i = 0; i < p->nterms; i++) {
        const pl_term *t = &p->terms[i];
        if (!t->positive) continue;
        if (t->edits ? fz_within((const uint8_t *)t->bytes, t->len, (const uint8_t *)term, len,
                                 t->edits)
                     : (t->prefix ? t->len <= len : t->len == len) &&
                           memcmp(t->bytes, term, t->len) == 0)
            return 1;
    }
    return 0;
}

/* Span starts never decrease (tokenizer invariant), so merging with the
 * last span is enough to keep the list sorted and disjoint. */
static int on_token(void *ctx, const tok_token *t)
{
    matcher *m = ctx;
    if (!is_query_term(m->plan, t->term, t->len) || t->end <= t->start)
        return 0;
    if (m->n && t->start < m->v[m->n - 1].end) {
        if (t->end > m->v[m->n - 1].end)
            m->v[m->n - 1].end = t->end;
        return 0;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        span *nv = realloc(m->v, cap * sizeof *nv);
        if (!nv) { m->nomem = 1; return 1; }
        m->v = nv;
        m->cap = cap;
    }
    m->v[m->n++] = (span){t->start, t->end};
    return 0;
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

int qry_snippet_text(uint32_t tok_flags, const char *q, size_t qlen,
                     const char *text, size_t len, const char *open,
                     const char *close, size_t max_bytes, char *buf,
                     size_t cap, quire_error *err)
{
    if (!buf || cap == 0)
        return qerr(err, QUIRE_EARG, "snippet buffer is empty");
    buf[0] = '\0';
    if (!text && len)
        return qerr(err, QUIRE_EARG, "snippet text is NULL");
    if (!open) open = "";
    if (!close) close = "";
    size_t olen = strlen(open), clen = strlen(close);

    qry_plan *plan;
    int rc = qry_plan_text(q, qlen, tok_flags, &plan, err);
    if (rc) return rc;
    matcher m = {.plan = plan};
    tok_tokenizer *tok;
    if (tok_new(tok_flags, TOK_MODE_INDEX, &tok) != 0) {
        qry_plan_free(plan);
        return qerr(err, QUIRE_ENOMEM, "cannot create the tokenizer");
    }
    rc = tok_run(tok, text, len, 0, on_token, &m, NULL);
    tok_free(tok);
    qry_plan_free(plan);
    if (rc != 0 || m.nomem) {
        free(m.v);
        return qerr(err, QUIRE_ENOMEM, "out of memory making a snippet");
    }

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

int qry_snippet(const idx_reader *r, const char *q, size_t qlen,
                const char *text, size_t len, const char *open,
                const char *close, size_t max_bytes, char *buf, size_t cap,
                quire_error *err)
{
    if (!r)
        return qerr(err, QUIRE_EARG, "qry_snippet: NULL reader");
    return qry_snippet_text(idx_reader_tok_flags(r), q, qlen, text, len, open,
                            close, max_bytes, buf, cap, err);
}
