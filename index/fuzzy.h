/*
 * fuzzy.h — edit distance for fuzzy queries (`word~N`, docs/QUERY.md).
 *
 * The distance is Damerau's restricted one (optimal string alignment):
 * inserting, deleting or replacing a code point, or swapping two adjacent
 * ones, is one edit each, as in Lucene's FuzzyQuery.  It counts code
 * points, not bytes: `кот` and `ко` are one edit apart, though the `т`
 * takes two bytes.  Only distances up to FZ_MAX_EDITS are ever asked for,
 * so each cell is kept at most one above the bound and a term is given up
 * as soon as a whole row of its table is over it.
 *
 * fz_matcher tests many terms against one query term.  Terms come in the
 * dictionary's sorted order, so a term shares a prefix with the one
 * before it, and the table rows of that prefix are kept: only the rows of
 * the code points that differ are computed again.  A prefix whose row is
 * over the bound rules out every term that starts with it, and those are
 * passed over without a row computed.
 */
#ifndef QUIRE_INDEX_FUZZY_H
#define QUIRE_INDEX_FUZZY_H

#include <stddef.h>
#include <stdint.h>

#define FZ_MAX_EDITS 2
/* A query term's code points; the tokenizer's terms are shorter. */
#define FZ_MAX_CPS 256

typedef struct fz_matcher {
    uint32_t q[FZ_MAX_CPS];   /* the query term */
    size_t m;
    unsigned k;               /* the bound: 1 or 2 */
    uint8_t *rows;            /* (m + k + 1) rows of m + 1 cells */
    /* the last term tested: its first tn code points, where each starts
     * in its bytes (off[tn]: where they end), and those bytes */
    uint32_t t[FZ_MAX_CPS + FZ_MAX_EDITS];
    uint32_t off[FZ_MAX_CPS + FZ_MAX_EDITS + 1];
    uint8_t tb[4 * (FZ_MAX_CPS + FZ_MAX_EDITS)];
    size_t tn, tbn;
    size_t valid;             /* rows 0..valid hold t's prefix of that length */
    size_t dead;              /* nonzero: row `dead` is over the bound */
} fz_matcher;

/* The code points of s[0, len) in cp (at most cap), returning how many
 * there are (possibly more than cap).  A byte that starts no valid UTF-8
 * sequence counts as a code point of its own. */
size_t fz_decode(const uint8_t *s, size_t len, uint32_t *cp, size_t cap);

/* Prepares to test terms against term[0, len) with bound k (1 or 2).
 * 0, -1 out of memory, -2 when the term has more than FZ_MAX_CPS code
 * points. */
int fz_init(fz_matcher *z, const uint8_t *term, size_t len, unsigned k);
void fz_free(fz_matcher *z);

/* Whether term[0, len) is within the bound of the query term (never,
 * after fz_init failed).  Fastest when successive calls pass terms in
 * ascending byte order. */
int fz_match(fz_matcher *z, const uint8_t *term, size_t len);
/* The same, giving the distance (0 to the bound), or -1 when over it. */
int fz_distance(fz_matcher *z, const uint8_t *term, size_t len);
/* After fz_distance said -1: the term's prefix that is already over the
 * bound, so that every term starting with those bytes is too, into *p;
 * its length in bytes, 0 when the term was ruled out otherwise. */
size_t fz_dead_prefix(const fz_matcher *z, const uint8_t **p);

/* The same for one pair, without a matcher. */
int fz_within(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, unsigned k);

#endif
