/*
 * fuzzy.c — bounded edit distance over code points (see fuzzy.h).
 *
 * Row i of the table holds, for each prefix of the query term, the
 * distance from the tested term's first i code points; cells are capped at
 * k + 1, which keeps them in a byte and changes no comparison with k.
 */
#include "index/fuzzy.h"

#include <stdlib.h>
#include <string.h>

/* One code point of s[i, len): its value, and its length in *k. */
static inline uint32_t decode_one(const uint8_t *s, size_t len, size_t i, size_t *k)
{
    uint32_t c = s[i];
    *k = 1;
    if (c < 0x80) return c;
    size_t need = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0, j = 1;
    if (need > 1 && i + need <= len) {
        c &= 0x3fu >> (need - 1);
        for (; j < need && (s[i + j] & 0xc0) == 0x80; j++) c = c << 6 | (s[i + j] & 0x3f);
    }
    if (need == 0 || j != need) return 0x110000u + s[i];   /* a byte apart from any */
    *k = need;
    return c;
}

size_t fz_decode(const uint8_t *s, size_t len, uint32_t *cp, size_t cap)
{
    size_t n = 0, k;
    for (size_t i = 0; i < len; n++, i += k) {
        uint32_t c = decode_one(s, len, i, &k);
        if (n < cap) cp[n] = c;
    }
    return n;
}

/* Row i (1-based) from rows i - 1 and i - 2, for the term's code points
 * t[0, i); returns the least cell of the row. */
static unsigned fz_row(uint8_t *rows, const uint32_t *q, size_t m, unsigned k,
                       const uint32_t *t, size_t i)
{
    uint8_t *r = rows + i * (m + 1), *p = r - (m + 1), *pp = i >= 2 ? p - (m + 1) : NULL;
    unsigned cap = k + 1, least = i < cap ? (unsigned)i : cap;
    r[0] = (uint8_t)least;
    uint32_t c = t[i - 1];
    for (size_t j = 1; j <= m; j++) {
        unsigned v = p[j - 1] + (q[j - 1] != c);
        if (p[j] + 1u < v) v = p[j] + 1u;
        if (r[j - 1] + 1u < v) v = r[j - 1] + 1u;
        if (pp && j >= 2 && q[j - 1] == t[i - 2] && q[j - 2] == c && pp[j - 2] + 1u < v)
            v = pp[j - 2] + 1u;
        if (v > cap) v = cap;
        r[j] = (uint8_t)v;
        if (v < least) least = v;
    }
    return least;
}

static void fz_row0(uint8_t *rows, size_t m, unsigned k)
{
    for (size_t j = 0; j <= m; j++) rows[j] = (uint8_t)(j < k + 1 ? j : k + 1);
}

int fz_init(fz_matcher *z, const uint8_t *term, size_t len, unsigned k)
{
    memset(z, 0, sizeof *z);
    z->m = fz_decode(term, len, z->q, FZ_MAX_CPS);
    if (z->m > FZ_MAX_CPS) return -2;
    z->k = k > FZ_MAX_EDITS ? FZ_MAX_EDITS : k;
    z->rows = malloc((z->m + z->k + 1) * (z->m + 1));
    if (!z->rows) return -1;
    fz_row0(z->rows, z->m, z->k);
    return 0;
}

void fz_free(fz_matcher *z)
{
    free(z->rows);
    z->rows = NULL;
}

int fz_match(fz_matcher *z, const uint8_t *term, size_t len)
{
    return fz_distance(z, term, len) >= 0;
}

int fz_distance(fz_matcher *z, const uint8_t *term, size_t len)
{
    if (!z->rows) return -1;   /* fz_init failed: a term too long matches none */
    /* the code points this term shares with the last one: those whose
     * bytes lie in the bytes they share */
    size_t sb = 0, lim = len < z->tbn ? len : z->tbn;
    while (sb < lim && term[sb] == z->tb[sb]) sb++;
    size_t same = 0;
    while (same < z->tn && z->off[same + 1] <= sb) same++;
    if (z->valid > same) z->valid = same;
    if (z->dead && z->dead > same) z->dead = 0;
    /* starts with a prefix already too far: the bytes kept are still
     * those of that prefix */
    if (z->dead) return -1;
    size_t cap = z->m + z->k, n = same, i = z->off[same], k;
    for (; i < len; n++, i += k) {
        uint32_t c = decode_one(term, len, i, &k);
        if (n < cap) {
            z->t[n] = c;
            z->off[n + 1] = (uint32_t)(i + k);
        }
    }
    z->tn = n < cap ? n : cap;
    z->tbn = z->off[z->tn];
    memcpy(z->tb + sb, term + sb, z->tbn > sb ? z->tbn - sb : 0);
    /* longer or shorter by more than k: too far whatever the rows say */
    if (n > cap || n + z->k < z->m) return -1;
    for (size_t r = z->valid + 1; r <= n; r++) {
        unsigned least = fz_row(z->rows, z->q, z->m, z->k, z->t, r);
        z->valid = r;
        if (least > z->k) {
            z->dead = r;
            return -1;
        }
    }
    unsigned d = z->rows[n * (z->m + 1) + z->m];
    return d <= z->k ? (int)d : -1;
}

size_t fz_dead_prefix(const fz_matcher *z, const uint8_t **p)
{
    *p = z->tb;
    return z->dead && z->dead <= z->tn ? z->off[z->dead] : 0;
}

int fz_within(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, unsigned k)
{
    fz_matcher z;
    if (fz_init(&z, a, alen, k)) {
        fz_free(&z);
        return 0;
    }
    int r = fz_match(&z, b, blen);
    fz_free(&z);
    return r;
}
