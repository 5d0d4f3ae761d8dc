/*
 * sloppy.h — matching a phrase with slop ("w1 w2 ... wk"~N) on the
 * positions of one document or text (sloppy.c; docs/QUERY.md, "Phrases
 * with slop"), shared by evaluation and highlighting.
 */
#ifndef QUIRE_QUERY_SLOPPY_H
#define QUIRE_QUERY_SLOPPY_H

#include <stddef.h>
#include <stdint.h>

/* The phrase's slots: slot i has the ascending positions pos[i][0,
 * npos[i]) of its term, the position rel[i] relative to the first slot
 * (nondecreasing in i), and group[i], the first slot with the same term
 * (slots of one term share their positions and must take different
 * ones). */
typedef struct sloppy_in {
    const uint32_t *const *pos;
    const uint32_t *npos;
    const uint32_t *rel;
    const uint32_t *group;
    uint32_t k;
    uint32_t slop;
} sloppy_in;

/* group[] of sloppy_in from the slots' terms: the first slot of each term. */
static inline void sloppy_groups(const uint32_t *term, uint32_t k, uint32_t *group)
{
    for (uint32_t i = 0; i < k; i++) {
        uint32_t g = 0;
        while (term[g] != term[i]) g++;
        group[i] = g;
    }
}

/* Reusable scratch; zero it before first use, free with sloppy_free. */
typedef struct sloppy_scratch {
    uint32_t *at;          /* per slot: the position it takes */
    uint32_t *next;        /* per slot: its next start, in the sweep */
    uint32_t *from;        /* per slot: its first position in the window */
    size_t cap;
} sloppy_scratch;

/* Called for every match counted: the position at[i] slot i takes, and
 * the match's spread (0: the words in order, side by side). */
typedef void (*sloppy_mark_fn)(void *ctx, const uint32_t *at, uint32_t k, uint32_t spread);

/* The sloppy frequency: the sum, over every distinct start lo at which the
 * phrase matches, of 1 / (1 + the smallest spread of a match starting
 * there); 0 when it does not match.  With `first_only`, stops at the first
 * start (a nonzero result says only that it matches).  -1 when out of
 * memory. */
double sloppy_freq(const sloppy_in *in, int first_only, sloppy_mark_fn mark, void *ctx,
                   sloppy_scratch *s);
void sloppy_free(sloppy_scratch *s);

#endif
