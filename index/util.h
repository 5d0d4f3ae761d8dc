/*
 * util.h — small helpers shared by the index and query layers: error
 * reporting into quire_error, little-endian loads/stores, LEB128 varints
 * and huge-page mappings.  Everything here is either inline or stateless.
 */
#ifndef QUIRE_UTIL_H
#define QUIRE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quire.h"

/* Fills *err (if not NULL) and returns `code`, so callers can write
 * `return qerr(err, QUIRE_EIO, "open %s: %s", path, strerror(errno));`. */
int qerr(quire_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with a query column. */
int qerr_col(quire_error *err, int code, size_t column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* qsort comparator of uint64_t, ascending. */
int cmp_u64(const void *a, const void *b);

/* Grows the array *p, of *cap elements of `elem` bytes, to hold at least
 * `need` of them, doubling from `first` (or from *cap); 0, or -1 with *p
 * unchanged.  Inline: several arrays grow with every document. */
static inline int grow_array(void **p, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : first;
    while (c < need) c *= 2;
    if (c > SIZE_MAX / elem) return -1;
    void *n = realloc(*p, c * elem);
    if (!n) return -1;
    *p = n;
    *cap = c;
    return 0;
}

/* Memory touched at random places, mapped directly and advised as
 * transparent huge pages (see util.c).  huge_grow: *p is NULL or from
 * huge_grow with *cap bytes; grows to at least `need` bytes, doubling from
 * 64 KiB, in place up to HUGE_SPAN and by moving pages past it, never by
 * copying them; 0 or -1.  huge_alloc: a
 * mapping of `bytes`, all of it faulted in (for tables probed before
 * they are written), NULL on failure.  Both read as zeros.  huge_grow_free
 * takes huge_grow's capacity, huge_free huge_alloc's size. */
#define HUGE_SPAN ((size_t)32 << 20)   /* grown in place up to this (util.c) */
int huge_grow(void **p, size_t *cap, size_t need);
void huge_grow_free(void *p, size_t cap);
void *huge_alloc(size_t bytes);
void huge_free(void *p, size_t bytes);

/* Runs fn on n items of `size` bytes from `items`: items 1..n-1 in
 * threads of their own, item 0 in the caller's, and returns when all are
 * done.  An item whose thread cannot be started runs in the caller's
 * thread after the others.  With `together`, *together says (before item
 * 0 runs) whether every item runs at the same time as item 0, which may
 * then wait for them. */
void run_each(void *(*fn)(void *), void *items, size_t size, size_t n, int *together);

static inline uint32_t ld32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t ld64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void st32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void st64(void *p, uint64_t v) { memcpy(p, &v, 8); }

/* LEB128: 7 bits a byte, low first, high bit = more.  Encoders write at most
 * 10 bytes; decoders stop at `end` and return NULL on truncation or
 * overlong input instead of reading past it. */
static inline uint8_t *varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) { *p++ = (uint8_t)(v | 0x80); v >>= 7; }
    *p++ = (uint8_t)v;
    return p;
}
static inline const uint8_t *varint_get(const uint8_t *p, const uint8_t *end,
                                        uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= end) return NULL;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *out = v; return p; }
    }
    return NULL;
}
static inline const uint8_t *varint_get32(const uint8_t *p, const uint8_t *end,
                                          uint32_t *out)
{
    uint64_t v;
    p = varint_get(p, end, &v);
    if (!p || v > UINT32_MAX) return NULL;
    *out = (uint32_t)v;
    return p;
}

#endif
