/*
 * micro.c — micro-benchmarks of the hot paths, each printed next to the
 * number it should approach:
 *   - memory bandwidth (memcpy of 256 MiB), the ceiling of any scan;
 *   - posting-block decode (bit unpacking + prefix sum), integers/s, on
 *     synthetic blocks of each width and on every posting list of a real
 *     index; published SIMD-BP128 / Stream VByte figures are 2.4-4 G/s per
 *     core, and the target here is >= 2 G/s;
 *   - AND intersection of real posting lists (leapfrog with skipping),
 *     postings/s;
 *   - phrase verification (position decode and match), positions/s;
 *   - dictionary lookups/s, of present and of absent terms.
 *
 * Usage: bench_micro [INDEX_DIR]   (without an index only the synthetic parts)
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/codec.h"
#include "index/dict.h"
#include "index/index.h"
#include "index/segread.h"
#include "index/util.h"
#include "quire.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static volatile uint32_t sink;

static void bench_memcpy(void)
{
    size_t n = (size_t)256 << 20;
    char *a = malloc(n), *b = malloc(n);
    memset(a, 1, n);
    memset(b, 2, n);
    double best = 1e9;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        memcpy(b, a, n);
        double t = now() - t0;
        if (t < best) best = t;
    }
    sink = (uint32_t)b[rnd() % n];
    printf("memory bandwidth (memcpy)      %8.2f GB/s   (read + write; ceiling of scans)\n",
           (double)n / best / 1e9);
    free(a);
    free(b);
}

static void bench_decode_synthetic(void)
{
    enum { NB = 4096 };  /* 2 MiB of packed data at width 32: stays in L2/L3 */
    uint8_t *packed = malloc((size_t)NB * 16 * 32 + CODEC_OVERREAD);
    uint32_t in[128], out[128];
    static const uint32_t widths[] = {1, 2, 4, 6, 8, 10, 12, 16, 20, 24, 32};
    printf("block decode, synthetic (unpack + prefix sum, 128-value blocks):\n");
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
        uint32_t b = widths[wi];
        for (int k = 0; k < NB; k++) {
            for (int i = 0; i < 128; i++) in[i] = b == 32 ? rnd() : rnd() & ((1u << b) - 1);
            codec_pack128(in, b, packed + (size_t)k * 16 * b);
        }
        double best = 1e9;
        for (int r = 0; r < 5; r++) {
            double t0 = now();
            uint32_t acc = 0;
            for (int rep = 0; rep < 20; rep++)
                for (int k = 0; k < NB; k++) {
                    codec_unpack128_delta1(packed + (size_t)k * 16 * b, b, acc, out);
                    acc = out[127 & rnd()];
                }
            double t = now() - t0;
            sink = acc;
            if (t < best) best = t;
        }
        printf("  width %2u                      %8.2f G ints/s\n", b,
               20.0 * NB * 128 / best / 1e9);
    }
    free(packed);
}

/* Decodes every posting list of every segment through the iterator, the
 * way queries read them (docs and tfs, no positions).  The lists' entries
 * are gathered first: timed with the walk of the dictionary, which queries
 * do not make, the figure was 28% lower on corpus/cache/man.jsonl. */
static void bench_decode_index(const idx_reader *r)
{
    typedef struct { const idx_segment *s; idx_term e; } list;
    list *lists = NULL;
    size_t nlists = 0, cap = 0;
    uint64_t postings = 0;
    for (size_t si = 0; si < idx_reader_nsegments(r); si++) {
        const idx_segment *s = idx_reader_segment(r, si);
        dict_iter it;
        dict_iter_init(&it, &s->dict);
        while (dict_iter_next(&it) == 1) {
            if (it.e.df < 128) continue;  /* block decode, not tails */
            if (grow_array((void **)&lists, &cap, nlists + 1, sizeof *lists, 1024)) {
                free(lists);
                printf("posting lists of the index: out of memory\n");
                return;
            }
            lists[nlists++] = (list){s, it.e};
            postings += it.e.df;
        }
    }
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now();
        for (size_t l = 0; l < nlists; l++) {
            idx_postings *p;
            if (idx_postings_open(lists[l].s, &lists[l].e, &p)) continue;
            uint32_t acc = 0;
            for (uint32_t d = idx_postings_doc(p); d != IDX_END; d = idx_postings_next(p))
                acc += idx_postings_freq(p);
            sink = acc;
            idx_postings_close(p);
        }
        double t = now() - t0;
        if (t < best) best = t;
    }
    free(lists);
    printf("posting lists of the index (df >= 128), doc + tf per posting:\n");
    printf("  %llu postings in %zu lists      %8.2f G postings/s (%.2f G ints/s)\n",
           (unsigned long long)postings, nlists, (double)postings / best / 1e9,
           2.0 * (double)postings / best / 1e9);
}

typedef struct tstat { uint8_t term[64]; size_t len; uint32_t df; } tstat;

static int by_df_desc(const void *a, const void *b)
{
    const tstat *x = a, *y = b;
    return (x->df < y->df) - (x->df > y->df);
}

/* Opens iterators on two sampled terms; 0 when both are in segment s. */
static int open_pair(const idx_segment *s, const tstat *a, const tstat *b,
                     idx_postings **pa, idx_postings **pb, uint32_t *dfa, uint32_t *dfb)
{
    idx_term ta, tb;
    if (idx_segment_lookup(s, (const char *)a->term, a->len, &ta) != 1 ||
        idx_segment_lookup(s, (const char *)b->term, b->len, &tb) != 1)
        return -1;
    if (idx_postings_open(s, &ta, pa)) return -1;
    if (idx_postings_open(s, &tb, pb)) {
        idx_postings_close(*pa);
        return -1;
    }
    *dfa = ta.df;
    *dfb = tb.df;
    return 0;
}

static void bench_index(const char *dir)
{
    quire_error e;
    idx_reader *r;
    if (idx_reader_open(dir, 1, &r, &e)) {
        fprintf(stderr, "bench_micro: %s\n", e.message);
        return;
    }
    bench_decode_index(r);
    const idx_segment *s = idx_reader_segment(r, 0);
    /* the most frequent terms of the first segment, and a sample of all */
    size_t cap = 1 << 16, n = 0;
    tstat *terms = malloc(cap * sizeof *terms);
    dict_iter it;
    dict_iter_init(&it, &s->dict);
    uint64_t seen = 0;
    while (dict_iter_next(&it) == 1) {
        if (it.term_len > 63) continue;
        seen++;
        size_t slot = n < cap ? n++ : (size_t)(rnd() % seen);
        if (slot >= cap) continue;
        memcpy(terms[slot].term, it.term, it.term_len);
        terms[slot].len = it.term_len;
        terms[slot].df = it.e.df;
    }
    /* dictionary lookups */
    double t0 = now();
    uint64_t found = 0, lookups = 0;
    for (int rep = 0; rep < 20; rep++)
        for (size_t i = 0; i < n; i++) {
            idx_term t;
            found += idx_segment_lookup(s, (const char *)terms[i].term, terms[i].len, &t) == 1;
            lookups++;
        }
    double t = now() - t0;
    printf("dictionary lookups, present    %8.2f M/s  (%llu of %llu found)\n",
           (double)lookups / t / 1e6, (unsigned long long)found, (unsigned long long)lookups);
    t0 = now();
    lookups = 0;
    for (int rep = 0; rep < 20; rep++)
        for (size_t i = 0; i < n; i++) {
            uint8_t q[72];
            memcpy(q, terms[i].term, terms[i].len);
            q[terms[i].len] = 0x01;  /* sorts right after the term: absent */
            idx_term tt;
            found += idx_segment_lookup(s, (const char *)q, terms[i].len + 1, &tt) == 1;
            lookups++;
        }
    t = now() - t0;
    printf("dictionary lookups, absent     %8.2f M/s\n", (double)lookups / t / 1e6);

    /* AND of pairs among the 40 most frequent terms: leapfrog with skips */
    qsort(terms, n, sizeof *terms, by_df_desc);
    size_t top = n < 40 ? n : 40;
    uint64_t scanned = 0, matches = 0;
    t0 = now();
    for (size_t a = 0; a < top; a++)
        for (size_t b = a + 1; b < top; b++) {
            idx_postings *pa, *pb;
            uint32_t dfa, dfb;
            if (open_pair(s, &terms[a], &terms[b], &pa, &pb, &dfa, &dfb)) continue;
            if (dfa > dfb) { idx_postings *x = pa; pa = pb; pb = x; }
            uint32_t d = idx_postings_doc(pa);
            while (d != IDX_END) {
                uint32_t o = idx_postings_advance(pb, d);
                if (o == IDX_END) break;
                if (o == d) { matches++; d = idx_postings_next(pa); }
                else d = idx_postings_advance(pa, o);
            }
            scanned += dfa + dfb;
            idx_postings_close(pa);
            idx_postings_close(pb);
        }
    t = now() - t0;
    printf("AND of frequent-term pairs     %8.2f G postings/s (input postings; %llu matches)\n",
           (double)scanned / t / 1e9, (unsigned long long)matches);

    /* phrase verification: adjacent pairs of frequent terms, positions
     * decoded for every document containing both */
    uint64_t positions = 0, phrase_hits = 0;
    t0 = now();
    for (size_t a = 0; a < top && a < 20; a++)
        for (size_t b = 0; b < top && b < 20; b++) {
            if (a == b) continue;
            idx_postings *pa, *pb;
            uint32_t dfa, dfb;
            if (open_pair(s, &terms[a], &terms[b], &pa, &pb, &dfa, &dfb)) continue;
            uint32_t d = idx_postings_doc(pa);
            while (d != IDX_END) {
                uint32_t o = idx_postings_advance(pb, d);
                if (o == IDX_END) break;
                if (o != d) { d = idx_postings_advance(pa, o); continue; }
                uint32_t na, nb;
                const uint32_t *xa = idx_postings_positions(pa, &na);
                const uint32_t *xb = idx_postings_positions(pb, &nb);
                if (xa && xb) {
                    positions += na + nb;
                    uint32_t i = 0, j = 0;
                    while (i < na && j < nb) {
                        if (xa[i] + 1 == xb[j]) { phrase_hits++; i++; j++; }
                        else if (xa[i] + 1 < xb[j]) i++;
                        else j++;
                    }
                }
                d = idx_postings_next(pa);
            }
            idx_postings_close(pa);
            idx_postings_close(pb);
        }
    t = now() - t0;
    printf("phrase verification            %8.2f G positions/s (%llu positions, %llu matches)\n",
           (double)positions / t / 1e9, (unsigned long long)positions,
           (unsigned long long)phrase_hits);
    free(terms);
    idx_reader_close(r);
}

int main(int argc, char **argv)
{
    printf("bench_micro%s%s\n", argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
    bench_memcpy();
    bench_decode_synthetic();
    if (argc > 1) bench_index(argv[1]);
    printf("targets: block decode >= 2 G ints/s (SIMD-BP128, Stream VByte: 2.4-4 G/s per core)\n");
    return 0;
}
