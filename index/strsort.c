/*
 * strsort.c — sort_strings: numbered byte strings in bytewise order.
 *
 * The strings are compared 8 bytes at a time, as big-endian numbers of
 * their zero-padded bytes (str_key).  All strings are first sorted by
 * their bytes 0-7: a pass on the top byte, then each of its buckets by
 * LSD radix on the other 7 bytes, within the cache.  Each run of equal
 * numbers is then sorted by bytes 8-15, and so on, until its strings
 * differ or end (then the shorter comes first: it can equal a longer one's
 * padding only where the longer one holds zero bytes).  Every step is
 * stable, so equal strings keep their numbers' order.  Most runs are
 * short; their strings' bytes, at random places, are read once per 8
 * bytes the run shares.  It replaced a radix sort on bytes 0-7 followed
 * by qsort_r with memcmp on each run: the terms of corpus/cache/all.jsonl,
 * whose mail and URLs share long prefixes, sort in 7.8 ms instead of
 * 10.1 ms.  (Document ids keep a comparison sort: store.c.)
 */
#include "index/strsort.h"

#include <stdlib.h>
#include <string.h>

#include "index/util.h"

typedef struct str_ent {
    uint64_t key;   /* the bytes being compared, as a number */
    uint32_t id;
    uint32_t len;
} str_ent;

/* Stable sort of e[0, n) by the key's bytes below bit `top` (LSD, a
 * pass per byte, the counts of every byte taken in one pass first: a byte
 * all keys share costs no pass, which the runs of shared prefixes sorted
 * deeper down have many of), tmp[0, n) as scratch; returns e or tmp,
 * whichever holds the result.  n < 2^32. */
static str_ent *radix_by_key(str_ent *e, str_ent *tmp, size_t n, unsigned top)
{
    uint32_t count[8][256];
    unsigned nb = top / 8;
    memset(count, 0, nb * sizeof count[0]);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = e[i].key;
        for (unsigned b = 0; b < nb; b++) count[b][(k >> (8 * b)) & 0xff]++;
    }
    for (unsigned b = 0; b < nb; b++) {
        uint32_t *c = count[b];
        unsigned shift = 8 * b;
        if (c[(e[0].key >> shift) & 0xff] == n) continue;   /* one bucket */
        uint32_t sum = 0;
        for (int k = 0; k < 256; k++) {
            uint32_t x = c[k];
            c[k] = sum;
            sum += x;
        }
        for (size_t i = 0; i < n; i++) tmp[c[(e[i].key >> shift) & 0xff]++] = e[i];
        str_ent *x = e;
        e = tmp;
        tmp = x;
    }
    return e;
}

/* Radix sorting a run costs up to 8 passes with a 2 KiB count table
 * each; shorter runs are sorted by insertion. */
#define INSERTION_MAX 32

/* Above this many entries, the top byte is sorted on first, and each of
 * its buckets on the other 7, within the cache. */
#define MSD_MIN 4096

/* Stable sort of e[0, n) by key, tmp[0, n) as scratch. */
static void sort_by_key(str_ent *e, str_ent *tmp, size_t n)
{
    if (n > MSD_MIN) {
        size_t count[256] = {0}, start[256];
        for (size_t i = 0; i < n; i++) count[e[i].key >> 56]++;
        size_t sum = 0;
        for (int k = 0; k < 256; k++) {
            start[k] = sum;
            sum += count[k];
        }
        size_t at[256];
        memcpy(at, start, sizeof at);
        for (size_t i = 0; i < n; i++) tmp[at[e[i].key >> 56]++] = e[i];
        for (int k = 0; k < 256; k++) {
            if (!count[k]) continue;
            str_ent *b = tmp + start[k], *s = e + start[k];
            if (count[k] <= INSERTION_MAX) {
                memcpy(s, b, count[k] * sizeof *s);
                sort_by_key(s, b, count[k]);
                continue;
            }
            str_ent *r = radix_by_key(b, s, count[k], 56);
            if (r != s) memcpy(s, r, count[k] * sizeof *s);
        }
        return;
    }
    if (n > INSERTION_MAX) {
        str_ent *s = radix_by_key(e, tmp, n, 64);
        if (s != e) memcpy(e, s, n * sizeof *e);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        str_ent x = e[i];
        size_t j = i;
        while (j > 0 && e[j - 1].key > x.key) {
            e[j] = e[j - 1];
            j--;
        }
        e[j] = x;
    }
}

typedef struct run {
    uint32_t lo, hi;   /* e[lo, hi): equal in bytes [0, depth) */
    size_t depth;
} run;

int sort_strings(uint32_t n, str_at_fn at, const void *ctx, uint32_t *order)
{
    if (n == 0) return 0;
    str_ent *e = malloc((size_t)n * sizeof *e), *tmp = malloc((size_t)n * sizeof *tmp);
    run *stack = NULL;
    size_t nstack = 0, cap = 0;
    int rc = -1;
    if (!e || !tmp) goto out;
    for (uint32_t i = 0; i < n; i++) {
        const char *p;
        size_t len;
        at(ctx, i, &p, &len);
        e[i] = (str_ent){str_key(p, len, 0), i, (uint32_t)len};
    }
    /* runs of e whose keys (bytes [depth - 8, depth)) are to be sorted */
    if (grow_array((void **)&stack, &cap, 1, sizeof *stack, 64)) goto out;
    stack[nstack++] = (run){0, n, 8};
    while (nstack) {
        run r = stack[--nstack];
        size_t m = r.hi - r.lo;
        str_ent *x = e + r.lo;
        if (r.depth > 8) {
            for (size_t k = 0; k < m; k++) {
                const char *p;
                size_t len;
                at(ctx, x[k].id, &p, &len);
                x[k].key = str_key(p, len, r.depth - 8);
            }
        }
        sort_by_key(x, tmp + r.lo, m);
        /* runs still equal: on to their next 8 bytes, or, if none has
         * any, by length */
        for (size_t a = 0, b; a < m; a = b) {
            uint32_t maxlen = x[a].len;
            for (b = a + 1; b < m && x[b].key == x[a].key; b++)
                if (x[b].len > maxlen) maxlen = x[b].len;
            if (b - a < 2) continue;
            if (maxlen <= r.depth) {
                for (size_t k = a; k < b; k++) x[k].key = x[k].len;
                sort_by_key(x + a, tmp + r.lo + a, b - a);
                continue;
            }
            if (grow_array((void **)&stack, &cap, nstack + 1, sizeof *stack, 64)) goto out;
            stack[nstack++] = (run){r.lo + (uint32_t)a, r.lo + (uint32_t)b, r.depth + 8};
        }
    }
    for (uint32_t i = 0; i < n; i++) order[i] = e[i].id;
    rc = 0;
out:
    free(e);
    free(tmp);
    free(stack);
    return rc;
}
