/*
 * dict.h — the term dictionary: terms sorted bytewise, front-coded in blocks
 * of SEG_DICT_BLOCK entries, plus a block index of byte offsets used for
 * binary search on each block's first (fully stored) term.
 */
#ifndef QUIRE_DICT_H
#define QUIRE_DICT_H

#include <stddef.h>
#include <stdint.h>

#include "index/index.h"

#define DICT_MAX_TERM 4096u  /* longest term the dictionary stores */

typedef struct dict_builder {
    uint8_t *buf; size_t len, cap;       /* dict section bytes */
    uint64_t *blocks; size_t nblocks, blocks_cap; /* block start offsets */
    uint8_t prev[DICT_MAX_TERM]; size_t prev_len;
    uint64_t nterms;
    idx_term base;                        /* delta baselines in the block */
    uint32_t skip_unit;   /* bytes a stored skip offset counts: 1 (version
                             5 on, dict_builder_init) or SEG_SKIP_ENTRY */
} dict_builder;

void dict_builder_init(dict_builder *b);
void dict_builder_free(dict_builder *b);
/* Terms must arrive in strictly increasing bytewise order.  Returns 0, -1 on
 * allocation failure, -2 on order violation, an over-long term or a skip
 * offset that is not a whole number of skip entries. */
int dict_builder_add(dict_builder *b, const uint8_t *term, size_t len,
                     const idx_term *e);

/* A read-only view of a serialized dictionary. */
typedef struct dict_view {
    const uint8_t *dict; size_t dict_len;
    const uint8_t *idx;  size_t nblocks;  /* idx: nblocks u64 offsets */
    uint64_t nterms;
    const uint64_t *keys;  /* optional: first 8 bytes of each block's first
                              term, big-endian, for a cache-resident search */
    int v1;                /* of a version 1 segment: skip offsets without
                              the short-block bit (dict.c) */
    int skip_entries;      /* versions 2-4: skip offsets stored in entries
                              of SEG_SKIP_ENTRY bytes (from 5 on, bytes) */
} dict_view;

/* Builds v's keys array (caller frees it).  0, -1 no memory, -2 corrupt. */
int dict_build_keys(const dict_view *v, uint64_t **keys);

/* 1 found, 0 absent, -1 corrupt. */
int dict_lookup(const dict_view *v, const uint8_t *term, size_t len,
                idx_term *out);

/* Sequential decoding of every entry, for verification and merging. */
typedef struct dict_iter {
    const dict_view *v;
    uint64_t i;                /* entries decoded so far */
    const uint8_t *p, *end;
    uint8_t term[DICT_MAX_TERM]; size_t term_len;
    idx_term e, base;
} dict_iter;
void dict_iter_init(dict_iter *it, const dict_view *v);
/* 1 produced an entry, 0 end, -1 corrupt. */
int dict_iter_next(dict_iter *it);
/* Starts it at the dictionary block that may hold term, so that the entries
 * dict_iter_next gives next are a few below term (at most a block's), then
 * the rest from the first at or above it: a merge of a range of terms
 * starts there without decoding the entries before.  0, -1 corrupt. */
int dict_iter_seek(dict_iter *it, const dict_view *v, const uint8_t *term, size_t len);
/* Moves it forward, never back, to the block that may hold term, when
 * that block starts after the entries given so far; otherwise leaves it.
 * The entries given next are still in order, and none is given twice.
 * 0, -1 corrupt. */
int dict_iter_skip(dict_iter *it, const uint8_t *term, size_t len);

#endif
