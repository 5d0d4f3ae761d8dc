/*
 * strsort.h — sorting numbered byte strings (the builder's terms) into
 * bytewise order, and the 8-byte keys that compare them (also the
 * merge's, for ids).
 */
#ifndef QUIRE_STRSORT_H
#define QUIRE_STRSORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bytes [at, at + 8) of p[0, len), zero padded, as a big-endian number:
 * where two such numbers differ, they order their strings as bytewise
 * comparison does. */
static inline uint64_t str_key(const char *p, size_t len, size_t at)
{
    uint64_t w = 0;
    if (len >= at + 8) memcpy(&w, p + at, 8);
    else if (len > at) memcpy(&w, p + at, len - at);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* String i is *p, *len bytes (shorter than 4 GiB). */
typedef void (*str_at_fn)(const void *ctx, uint32_t i, const char **p, size_t *len);

/* Puts 0..n-1 into order[] sorted by their strings: bytewise, a string
 * before the longer ones it begins, equal strings by number.  0, or -1
 * when out of memory. */
int sort_strings(uint32_t n, str_at_fn at, const void *ctx, uint32_t *order);

#endif
