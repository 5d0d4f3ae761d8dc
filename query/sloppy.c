/*
 * sloppy.c — phrases with slop.  A match of "w1 ... wk"~N is a position
 * p_i of each slot's term, different positions for slots of one term,
 * whose d_i = p_i - rel_i spread by at most N: max d - min d <= N.  This is
 * Lucene's rule: in order with at most N other words between them in all,
 * or out of order at a cost ("b a" is 2 from "a b").  A match's start is
 * its smallest d.
 *
 * For a start lo, slot i may take any position of its term in
 * [lo + rel_i, lo + rel_i + N].  Slots of different terms never compete.
 * Slots of one term have windows of one width, in slot order, so taking
 * for each in turn the first position of its window no earlier slot took
 * finds an assignment whenever there is one (earliest deadline first), and
 * the earliest, whose spread is the smallest.  A start counts only when
 * some slot can sit exactly at it: each slot that can is tried there.
 */
#include "query/sloppy.h"

#include <stdlib.h>

/* Whether slot i's term has a position other slots of its group do not
 * hold: earlier ones (assigned in order) and `fixed`, set beforehand. */
static int taken(const sloppy_in *in, uint32_t i, uint32_t fixed, const uint32_t *at,
                 uint32_t pos)
{
    for (uint32_t q = in->group[i]; q < in->k; q++)
        if (q != i && in->group[q] == in->group[i] && (q < i || q == fixed) && at[q] == pos)
            return 1;
    return 0;
}

/* Gives every slot a position for start lo, slot `fixed` at lo + its rel
 * (which the caller found among its positions), or none when fixed is k;
 * from[i] is slot i's first position at or after lo + rel[i].  Returns
 * the largest d, or INT64_MIN when some slot has no free position in its
 * window. */
static int64_t assign(const sloppy_in *in, int64_t lo, uint32_t fixed, const uint32_t *from,
                      uint32_t *at)
{
    if (fixed < in->k) at[fixed] = (uint32_t)(lo + in->rel[fixed]);
    int64_t maxd = lo;
    for (uint32_t i = 0; i < in->k; i++) {
        if (i == fixed) continue;
        int64_t to = lo + in->rel[i] + in->slop;
        const uint32_t *p = in->pos[i];
        uint32_t n = in->npos[i], j = from[i];
        while (j < n && p[j] <= to && taken(in, i, fixed, at, p[j])) j++;
        if (j == n || p[j] > to) return INT64_MIN;
        at[i] = p[j];
        if ((int64_t)p[j] - in->rel[i] > maxd) maxd = (int64_t)p[j] - in->rel[i];
    }
    return maxd;
}

/* Every start where some slot sits exactly, ascending, is the smallest of
 * the slots' next d = position - rel (each slot's are ascending): a merge,
 * with no list of them built or sorted. */
double sloppy_freq(const sloppy_in *in, int first_only, sloppy_mark_fn mark, void *ctx,
                   sloppy_scratch *s)
{
    uint32_t k = in->k;
    /* a word the phrase has n times needs n positions (most documents of
     * a long phrase of common words fail here, before any start) */
    for (uint32_t i = 0; i < k; i++) {
        uint32_t same = 0;
        for (uint32_t q = in->group[i]; q < k; q++) same += in->group[q] == in->group[i];
        if (in->npos[i] < same) return 0;
    }
    if (s->cap < k) {
        uint32_t *a = realloc(s->at, 3 * (size_t)k * sizeof *a);
        if (!a) return -1;
        s->at = a;
        s->next = a + k;
        s->from = a + 2 * k;
        s->cap = k;
    }
    for (uint32_t i = 0; i < k; i++) s->next[i] = s->from[i] = 0;
    double f = 0;
    for (;;) {
        int64_t lo = INT64_MAX;
        for (uint32_t i = 0; i < k; i++)
            if (s->next[i] < in->npos[i]) {
                int64_t d = (int64_t)in->pos[i][s->next[i]] - in->rel[i];
                if (d < lo) lo = d;
            }
        if (lo == INT64_MAX) break;
        int64_t best = INT64_MAX;
        uint32_t best_fix = 0;
        for (uint32_t i = 0; i < k; i++) {
            const uint32_t *p = in->pos[i];
            int64_t want = lo + in->rel[i];
            while (s->from[i] < in->npos[i] && (int64_t)p[s->from[i]] < want) s->from[i]++;
            if (s->next[i] < in->npos[i] && (int64_t)p[s->next[i]] == want) s->next[i]++;
        }
        /* With no slot fixed, each takes its earliest free position: the
         * smallest spread there is.  Unless none of them then sits at lo
         * (a slot of the same word took its place), that is the answer:
         * one assignment instead of one per slot that can sit at lo (a
         * phrase of 20 common words with slop 1000 counted on big in 11.1
         * s).  With none, no slot can be fixed either. */
        int64_t m = assign(in, lo, k, s->from, s->at);
        if (m == INT64_MIN) continue;
        uint32_t at_lo = k;
        for (uint32_t i = 0; i < k && at_lo == k; i++)
            if ((int64_t)s->at[i] - in->rel[i] == lo) at_lo = i;
        if (at_lo < k) {
            best = m - lo;
            best_fix = k;
        }
        for (uint32_t i = 0; i < k && at_lo == k; i++) {
            uint32_t j = s->from[i];
            if (j == in->npos[i] || (int64_t)in->pos[i][j] != lo + in->rel[i]) continue;
            m = assign(in, lo, i, s->from, s->at);
            if (m != INT64_MIN && m - lo < best) {
                best = m - lo;
                best_fix = i;
            }
        }
        if (best == INT64_MAX) continue;
        f += 1.0 / (1.0 + (double)best);
        if (mark) {
            assign(in, lo, best_fix, s->from, s->at);
            mark(ctx, s->at, k, (uint32_t)best);
        }
        if (first_only) break;
    }
    return f;
}

void sloppy_free(sloppy_scratch *s)
{
    free(s->at);
    s->at = s->next = s->from = NULL;
    s->cap = 0;
}
