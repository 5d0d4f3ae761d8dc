/*
 * tok_invariants.h — the properties every tokenizer run must have, checked
 * by the libFuzzer target (fuzz_tokenizer.c) and, over the committed seeds,
 * by the cmocka test tests/test_tokenizer_seeds.c.
 *
 * Input layout: byte 0 selects the flags (bits 0-3) and the fast
 * scanner's classifier (bits 4-5: TOK_SIMD_*, the best one if the machine
 * lacks it); byte 1 is first_pos; the rest is the text.  The text is tokenized in index and in query mode:
 *  - positions start at first_pos (or later when stop words are removed)
 *    and never decrease; without stop words they grow by at most 1 per term;
 *    next_pos is one past the last position;
 *  - spans lie inside the text, start < end, starts never decrease;
 *  - terms are non-empty, at most TOK_MAX_TERM_BYTES, valid UTF-8, and
 *    every term, a compound's whole too, is its own NFKC case fold (a
 *    whole joins its parts, and a part starting with a combining mark
 *    must compose with the part before it: then-\u0301t);
 *  - query mode gives exactly the index-mode stream without the wholes:
 *    the index terms it lacks are wholes, each followed by another term at
 *    its position (unless stop words removed that part);
 *  - the plain-word shortcuts change nothing: with them off
 *    (tok_set_fast_paths) the index stream is identical;
 *  - tok_run_batch (the builder's interface) hands over the index stream's
 *    terms and positions, in order, with the same next_pos, and every
 *    term's first TOK_BATCH_SLACK bytes inside the batch.
 * Header-only so both programs compile it without a library.
 */
#ifndef QUIRE_TOK_INVARIANTS_H
#define QUIRE_TOK_INVARIANTS_H

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_impl.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    char term[TOK_MAX_TERM_BYTES + 1];
    uint32_t len, pos;
    size_t start, end;
} inv_tok;

typedef struct {
    inv_tok *v;
    size_t n, cap;
    int oom;
} inv_list;

static int inv_collect(void *ctx, const tok_token *t)
{
    inv_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        inv_tok *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    inv_tok *o = &l->v[l->n++];
    o->len = t->len;
    o->pos = t->pos;
    o->start = t->start;
    o->end = t->end;
    memcpy(o->term, t->term, t->len <= TOK_MAX_TERM_BYTES ? t->len : TOK_MAX_TERM_BYTES);
    return 0;
}

typedef struct {
    inv_list l;
    int outside;   /* a term's slack bytes past the batch */
} inv_blist;

static int inv_batch(void *ctx, const tok_batch *b)
{
    inv_blist *bl = ctx;
    for (uint32_t i = 0; i < b->n; i++) {
        size_t need = b->len[i] > TOK_BATCH_SLACK ? b->len[i] : TOK_BATCH_SLACK;
        if ((size_t)b->off[i] + need > sizeof b->bytes) bl->outside = 1;
        tok_token t = {.term = b->bytes + b->off[i], .len = b->len[i], .pos = b->pos[i]};
        if (inv_collect(&bl->l, &t)) return 1;
    }
    return 0;
}

static int inv_same(const inv_tok *a, const inv_tok *b)
{
    return a->len == b->len && memcmp(a->term, b->term, a->len) == 0 &&
           a->pos == b->pos && a->start == b->start && a->end == b->end;
}

/* whole[i] (may be NULL: no wholes) marks the compounds' wholes. */
static const char *inv_stream(const inv_list *l, const unsigned char *whole,
                              size_t len, uint32_t flags, uint32_t first,
                              uint32_t next)
{
    int stop = (flags & TOK_STOPWORDS_EN) != 0;
    for (size_t i = 0; i < l->n; i++) {
        const inv_tok *t = &l->v[i];
        uint32_t prev = i ? l->v[i - 1].pos : first;
        if (t->len == 0) return "empty term";
        if (t->len > TOK_MAX_TERM_BYTES) return "term too long";
        if (i == 0 && !stop && t->pos != first) return "first position is not first_pos";
        if (t->pos < prev) return "position decreased";
        if (!stop && i > 0 && t->pos > prev + 1) return "position jumped by more than 1";
        if (t->start >= t->end || t->end > len) return "span outside the input";
        if (i > 0 && t->start < l->v[i - 1].start) return "span start decreased";
        utf8proc_ssize_t k = 0;
        while (k < (utf8proc_ssize_t)t->len) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t r = utf8proc_iterate((const utf8proc_uint8_t *)t->term + k,
                                                  (utf8proc_ssize_t)t->len - k, &cp);
            if (r <= 0) return "term is not valid UTF-8";
            k += r;
        }
        utf8proc_uint8_t *m = NULL;
        utf8proc_ssize_t r = utf8proc_map(
            (const utf8proc_uint8_t *)t->term, t->len, &m,
            UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                UTF8PROC_CASEFOLD | UTF8PROC_IGNORE);
        int same = r == (utf8proc_ssize_t)t->len && memcmp(m, t->term, t->len) == 0;
        free(m);
        if (r >= 0 && !same)
            return whole && whole[i] ? "compound whole is not its own NFKC case fold"
                                     : "term is not its own NFKC case fold";
    }
    uint32_t last = l->n ? l->v[l->n - 1].pos + 1 : first;
    if (next < last) return "next_pos before the last position";
    if (!stop && next != last && l->n) return "next_pos is not one past the last term";
    return NULL;
}

/* Returns NULL when every invariant holds, else what failed. */
static const char *inv_check(const unsigned char *data, size_t size)
{
    if (size < 2) return NULL;
    uint32_t flags = data[0] & TOK_KNOWN_FLAGS;
    uint32_t first = data[1];
    const char *text = (const char *)data + 2;
    size_t len = size - 2;
    const char *err = NULL;
    inv_list ix = {0}, qy = {0}, ref = {0};
    tok_tokenizer *ti = NULL, *tq = NULL;
    uint32_t nix = 0, nqy = 0, nref = 0;
    unsigned char *whole = NULL;
    if (tok_new(flags, TOK_MODE_INDEX, &ti) || tok_new(flags, TOK_MODE_QUERY, &tq)) {
        err = "tok_new failed";
        goto out;
    }
    (void)tok_set_simd(ti, (data[0] >> 4) & 3);
    if (tok_run(ti, text, len, first, inv_collect, &ix, &nix) != 0 ||
        tok_run(tq, text, len, first, inv_collect, &qy, &nqy) != 0) {
        err = ix.oom || qy.oom ? NULL : "tok_run failed";
        goto out;
    }
    /* Align the streams: what query mode lacks are the wholes. */
    if (ix.n && !(whole = calloc(ix.n, 1))) goto out;
    size_t q = 0;
    for (size_t i = 0; i < ix.n; i++) {
        if (q < qy.n && inv_same(&ix.v[i], &qy.v[q])) {
            q++;
            continue;
        }
        int part_follows = i + 1 < ix.n && ix.v[i + 1].pos == ix.v[i].pos;
        if (!part_follows && !(flags & TOK_STOPWORDS_EN)) {
            err = "query mode is not the index stream without wholes";
            goto out;
        }
        whole[i] = 1;
    }
    if (q != qy.n) {
        err = "query mode has terms index mode lacks";
        goto out;
    }
    /* The batches against the stream (they carry no spans). */
    inv_blist bt = {0};
    uint32_t nbt = 0;
    if (tok_run_batch(ti, text, len, first, inv_batch, &bt, &nbt) != 0) {
        err = bt.l.oom ? NULL : "tok_run_batch failed";
        free(bt.l.v);
        goto out;
    }
    if (bt.outside) err = "a batch term's slack lies outside the batch";
    else if (bt.l.n != ix.n || nbt != nix) err = "tok_run_batch differs from tok_run";
    for (size_t i = 0; !err && i < ix.n; i++)
        if (bt.l.v[i].len != ix.v[i].len || bt.l.v[i].pos != ix.v[i].pos ||
            memcmp(bt.l.v[i].term, ix.v[i].term, ix.v[i].len) != 0)
            err = "tok_run_batch differs from tok_run";
    free(bt.l.v);
    if (err) goto out;
    /* The shortcuts against the general path. */
    tok_set_fast_paths(ti, 0);
    if (tok_run(ti, text, len, first, inv_collect, &ref, &nref) != 0) {
        err = ref.oom ? NULL : "tok_run failed";
        goto out;
    }
    if (ref.n != ix.n || nref != nix) {
        err = "fast paths change the stream";
        goto out;
    }
    for (size_t i = 0; i < ix.n; i++)
        if (!inv_same(&ix.v[i], &ref.v[i])) {
            err = "fast paths change the stream";
            goto out;
        }
    if ((err = inv_stream(&ix, whole, len, flags, first, nix))) goto out;
    if ((err = inv_stream(&qy, NULL, len, flags, first, nqy))) goto out;
    if (nix != nqy) err = "next_pos differs between index and query mode";
out:
    tok_free(ti);
    tok_free(tq);
    free(whole);
    free(ix.v);
    free(qy.v);
    free(ref.v);
    return err;
}

#endif
