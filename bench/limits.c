/*
 * limits.c — how closely searches keep a time limit
 * (quire_search_options.time_limit): for queries that no pruning bounds
 * (sloppy phrases of common words, an OR of common words, a broad prefix,
 * a fuzzy common word), the wall time of a top-10 search and of a count
 * without a limit and with each limit, in-process, median and largest of
 * REPS runs, and how many runs stopped partial.
 *
 * Usage: bench_limits INDEXDIR [REPS] [QUERY...]
 *   e.g. taskset -c 1 build-bench/bench_limits /tmp/benchwork/index/big/quire 5
 * Without queries, the set below.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quire.h"

#define MAX_REPS 101

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *const default_queries[] = {
    "\"of the\"~5", "\"the and\"~20", "\"the of and to\"~50",
    "the OR of OR and OR to OR a OR in", "t*", "the~1",
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s INDEXDIR [REPS] [QUERY...]\n", argv[0]);
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "REPS must be 1 to %d\n", MAX_REPS);
        return 2;
    }
    const char *const *qs = default_queries;
    size_t nq = sizeof default_queries / sizeof *default_queries;
    if (argc > 3) {
        qs = (const char *const *)argv + 3;
        nq = (size_t)(argc - 3);
    }
    quire_index *ix;
    quire_error e;
    if (quire_index_open(argv[1], &ix, &e) != QUIRE_OK) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    const double limits[] = {0, 0.001, 0.01, 0.05};
    printf("%-36s %7s | %21s %7s | %21s %7s\n", "query", "limit", "top-10 median / max ms",
           "partial", "count median / max ms", "partial");
    for (size_t i = 0; i < nq; i++) {
        for (size_t l = 0; l < sizeof limits / sizeof *limits; l++) {
            double ts[MAX_REPS], tc[MAX_REPS];
            int ps = 0, pc = 0;
            for (int r = 0; r < reps; r++) {
                quire_search_options o = {.time_limit = limits[l]};
                quire_results *res;
                uint64_t n;
                int p;
                double t0 = now();
                if (quire_search_ex(ix, qs[i], strlen(qs[i]), 10, &o, &res, &e) != QUIRE_OK)
                    goto fail;
                ts[r] = now() - t0;
                ps += quire_results_partial(res);
                quire_results_free(res);
                t0 = now();
                if (quire_count_ex(ix, qs[i], strlen(qs[i]), &o, &n, &p, &e) != QUIRE_OK)
                    goto fail;
                tc[r] = now() - t0;
                pc += p;
            }
            qsort(ts, (size_t)reps, sizeof *ts, cmp_double);
            qsort(tc, (size_t)reps, sizeof *tc, cmp_double);
            char lim[16];
            snprintf(lim, sizeof lim, limits[l] ? "%g s" : "none", limits[l]);
            printf("%-36s %7s | %10.2f / %8.2f %4d/%-2d | %10.2f / %8.2f %4d/%-2d\n", qs[i], lim,
                   ts[reps / 2] * 1e3, ts[reps - 1] * 1e3, ps, reps, tc[reps / 2] * 1e3,
                   tc[reps - 1] * 1e3, pc, reps);
        }
    }
    quire_index_close(ix);
    return 0;
fail:
    fprintf(stderr, "%s\n", e.message);
    quire_index_close(ix);
    return 1;
}
