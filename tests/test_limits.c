/*
 * test_limits.c — searches and counts with a time limit
 * (quire_search_options.time_limit): a limit that never runs out changes
 * nothing, one that has run out before the first segment returns nothing,
 * flagged partial, and a search stopped anywhere in between returns
 * exactly the best of the documents before the one it stopped at (the
 * top-k of a prefix of the index, as the full ranking gives it), whatever
 * the collector: block-max terms, phrases, sloppy phrases, prefixes,
 * fuzzy words, ranges and sorted search.  Then, on a clock that counts
 * its own reads (query.h, qry_limit), exactly where each collector and a
 * phrase's position check stop.
 */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "quire.h"
#include "index/index.h"
#include "query/query.h"

static char dir[64];

static const char *const words[] = {
    "the", "of", "and", "to", "a", "in", "whale", "whales", "ship", "sea",
    "white", "captain", "boat", "water", "harpoon", "line", "oil", "night",
    "wind", "deck", "mast", "sail", "crew", "island", "storm", "wave",
};
#define NWORDS (sizeof words / sizeof *words)
#define SEGMENTS 3
#define PER_SEGMENT 2000

/* Deterministic text: common words far more often than the rest. */
static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/quire-test-limits-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    quire_writer_options o = {0};
    o.tok_flags = QUIRE_TOK_DEFAULT;
    o.threads = 1;
    quire_writer *w;
    quire_error e;
    if (quire_writer_open(dir, &o, &w, &e) != QUIRE_OK) return -1;
    uint32_t seed = 7;
    /* one commit a segment: three segments, searched in turn */
    for (int s = 0; s < SEGMENTS; s++) {
        for (int i = 0; i < PER_SEGMENT; i++) {
            char id[32], year[16], body[1024];
            int n = snprintf(id, sizeof id, "d%d", s * PER_SEGMENT + i);
            size_t len = 0;
            int nw = 20 + (int)(next_rand(&seed) % 40);
            for (int k = 0; k < nw; k++) {
                uint32_t r = next_rand(&seed) % 100;
                const char *wd = r < 60 ? words[r % 6] : words[6 + r % (NWORDS - 6)];
                len += (size_t)snprintf(body + len, sizeof body - len, "%s%s", k ? " " : "",
                                        wd);
            }
            snprintf(year, sizeof year, "%u", 1800 + next_rand(&seed) % 200);
            quire_field f = {"year", 4, year, strlen(year)};
            quire_doc_input d = {.id = id, .id_len = (size_t)n, .title = "", .title_len = 0,
                                 .body = body, .body_len = len, .fields = &f, .nfields = 1};
            if (quire_writer_add(w, &d, NULL, &e) != QUIRE_OK) return -1;
        }
        if (quire_writer_commit(w, &e) != QUIRE_OK) return -1;
    }
    quire_writer_free(w);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

typedef struct query_case {
    const char *q;
    const char *sort;      /* NULL: BM25 */
    int descending;
} query_case;

static const query_case cases[] = {
    {"the", NULL, 0},
    {"whale", NULL, 0},
    {"the of", NULL, 0},
    {"whale OR ship OR the", NULL, 0},
    {"\"of the\"", NULL, 0},
    {"\"the whale\"", NULL, 0},
    {"\"the sea of\"", NULL, 0},
    {"\"the of\"~4", NULL, 0},
    {"\"whale the ship\"~6", NULL, 0},
    {"wh*", NULL, 0},
    {"whale~1", NULL, 0},
    {"the -whale", NULL, 0},
    {"the year:[1850 TO 1900]", NULL, 0},
    {"the", "year", 1},
    {"\"of the\"~3", "year", 0},
};
#define NCASES (sizeof cases / sizeof *cases)

static quire_results *search(quire_index *ix, const query_case *c, size_t k, double limit)
{
    quire_search_options o = {.sort_field = c->sort, .descending = c->descending,
                              .time_limit = limit};
    quire_results *r = NULL;
    quire_error e;
    assert_int_equal(quire_search_ex(ix, c->q, strlen(c->q), k, &o, &r, &e), QUIRE_OK);
    return r;
}

static uint64_t count(quire_index *ix, const char *q, double limit, int *partial)
{
    quire_search_options o = {.time_limit = limit};
    uint64_t n = 0;
    quire_error e;
    assert_int_equal(quire_count_ex(ix, q, strlen(q), &o, &n, partial, &e), QUIRE_OK);
    return n;
}

/* a's hits are the first of b's, as many as a has. */
static void same_first(const quire_results *a, const quire_results *b)
{
    assert_true(quire_results_size(a) <= quire_results_size(b));
    for (size_t i = 0; i < quire_results_size(a); i++) {
        const quire_hit *x = quire_results_get(a, i), *y = quire_results_get(b, i);
        assert_int_equal(x->doc, y->doc);
        if (!(isnan(x->score) && isnan(y->score))) assert_true(x->score == y->score);
    }
}

/* A limit that does not run out: the results of the calls without one. */
static void test_generous_limit(void **state)
{
    (void)state;
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    for (size_t i = 0; i < NCASES; i++) {
        const query_case *c = &cases[i];
        quire_results *plain;
        if (c->sort)
            assert_int_equal(quire_search_sorted(ix, c->q, strlen(c->q), c->sort, c->descending,
                                                 10, &plain, &e), QUIRE_OK);
        else
            assert_int_equal(quire_search(ix, c->q, strlen(c->q), 10, &plain, &e), QUIRE_OK);
        assert_true(quire_results_size(plain) > 0);
        assert_int_equal(quire_results_partial(plain), 0);
        quire_results *lim = search(ix, c, 10, 1000.0);
        assert_int_equal(quire_results_partial(lim), 0);
        assert_int_equal(quire_results_size(plain), quire_results_size(lim));
        same_first(plain, lim);
        quire_results_free(plain);
        quire_results_free(lim);
        uint64_t n;
        assert_int_equal(quire_count(ix, c->q, strlen(c->q), &n, &e), QUIRE_OK);
        int partial = -1;
        assert_int_equal(count(ix, c->q, 1000.0, &partial), n);
        assert_int_equal(partial, 0);
    }
    /* NULL options are none */
    quire_results *r;
    assert_int_equal(quire_search_ex(ix, "whale", 5, 3, NULL, &r, &e), QUIRE_OK);
    assert_int_equal(quire_results_size(r), 3);
    assert_int_equal(quire_results_partial(r), 0);
    quire_results_free(r);
    uint64_t n;
    assert_int_equal(quire_count_ex(ix, "whale", 5, NULL, &n, NULL, &e), QUIRE_OK);
    assert_true(n > 0);
    quire_index_close(ix);
}

/* A limit gone by the time the first segment is searched: nothing, flagged. */
static void test_spent_limit(void **state)
{
    (void)state;
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    for (size_t i = 0; i < NCASES; i++) {
        quire_results *r = search(ix, &cases[i], 10, 1e-9);
        assert_int_equal(quire_results_size(r), 0);
        assert_int_equal(quire_results_partial(r), 1);
        quire_results_free(r);
        int partial = 0;
        assert_int_equal(count(ix, cases[i].q, 1e-9, &partial), 0);
        assert_int_equal(partial, 1);
    }
    /* a query that matches nothing anywhere is searched no less */
    quire_results *r = search(ix, &(query_case){"zzzz", NULL, 0}, 10, 1e-9);
    assert_int_equal(quire_results_partial(r), 1);
    quire_results_free(r);
    /* k = 0 asks for nothing: there is nothing to cut short */
    r = search(ix, &cases[0], 0, 1e-9);
    assert_int_equal(quire_results_size(r), 0);
    assert_int_equal(quire_results_partial(r), 0);
    quire_results_free(r);
    quire_index_close(ix);
}

static void test_bad_limit(void **state)
{
    (void)state;
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    const double bad[] = {-1.0, NAN, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        quire_search_options o = {.time_limit = bad[i]};
        quire_results *r = NULL;
        assert_int_equal(quire_search_ex(ix, "whale", 5, 10, &o, &r, &e), QUIRE_EARG);
        assert_null(r);
        assert_string_equal(e.message, "time limit must be a number of seconds, 0 or more");
        uint64_t n = 7;
        int partial = 5;
        assert_int_equal(quire_count_ex(ix, "whale", 5, &o, &n, &partial, &e), QUIRE_EARG);
        assert_int_equal(partial, 0);
    }
    quire_index_close(ix);
}

/* Stopped anywhere: the hits are the best k of the documents up to the
 * last one among them, in the full ranking's order (the best of a prefix
 * of the index are the best of any shorter prefix that holds them). */
static void check_prefix_top(const quire_results *got, const quire_results *full, size_t k)
{
    size_t n = quire_results_size(got);
    uint64_t last = 0;
    for (size_t i = 0; i < n; i++)
        if (quire_results_get(got, i)->doc > last) last = quire_results_get(got, i)->doc;
    size_t j = 0;
    for (size_t i = 0; i < quire_results_size(full) && j < k; i++) {
        const quire_hit *h = quire_results_get(full, i);
        if (n == 0 || h->doc > last) continue;
        assert_true(j < n);
        const quire_hit *g = quire_results_get(got, j++);
        assert_int_equal(g->doc, h->doc);
        if (!(isnan(g->score) && isnan(h->score))) assert_true(g->score == h->score);
    }
    assert_int_equal(j, n);
}

static void test_stopped_midway(void **state)
{
    (void)state;
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    const double limits[] = {1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3};
    unsigned midway = 0, runs = 0;
    for (size_t i = 0; i < NCASES; i++) {
        const query_case *c = &cases[i];
        uint64_t total;
        assert_int_equal(quire_count(ix, c->q, strlen(c->q), &total, &e), QUIRE_OK);
        quire_results *full = search(ix, c, (size_t)total, 0);
        assert_int_equal(quire_results_size(full), total);
        for (size_t l = 0; l < sizeof limits / sizeof *limits; l++) {
            quire_results *r = search(ix, c, 10, limits[l]);
            if (quire_results_partial(r)) {
                check_prefix_top(r, full, 10);
                midway += quire_results_size(r) > 0;
            } else {
                assert_int_equal(quire_results_size(r), total < 10 ? total : 10);
                same_first(r, full);
            }
            runs++;
            quire_results_free(r);
            int partial = -1;
            uint64_t n = count(ix, c->q, limits[l], &partial);
            assert_true(partial == 0 || partial == 1);
            if (partial) assert_true(n <= total);
            else assert_int_equal(n, total);
        }
        quire_results_free(full);
    }
    /* how often the clock fell between the first document and the last
     * depends on the machine; the checks above hold either way */
    print_message("%u of %u limited searches stopped with hits\n", midway, runs);
    quire_index_close(ix);
}

/* ---- stopped at a chosen clock read ---------------------------------------
 *
 * Reads of a counting clock: #0 when the search starts (the deadline is
 * set from it), #1 before the first segment, #2 at the 256th time a
 * collector or a phrase's check asks (query/eval.c, EV_TICKS).  A limit
 * passing at read #2 stops the search after 255 documents of the first
 * segment. */
static uint64_t count_reads(void *ctx)
{
    return (*(uint64_t *)ctx)++;
}

static qry_limit at_read(uint64_t *reads, uint64_t at)
{
    *reads = 0;
    return (qry_limit){.seconds = ((double)at + 0.5) * 1e-9, .clock = count_reads,
                       .clock_ctx = reads};
}

/* The documents matching q, ascending. */
static size_t matching_docs(quire_index *ix, const char *q, uint64_t *docs, size_t cap)
{
    quire_results *r = search(ix, &(query_case){q, NULL, 0}, cap, 0);
    size_t n = quire_results_size(r);
    for (size_t i = 0; i < n; i++) docs[i] = quire_results_get(r, i)->doc;
    quire_results_free(r);
    for (size_t i = 1; i < n; i++)   /* insertion sort: ranked, not in doc order */
        for (size_t j = i; j > 0 && docs[j - 1] > docs[j]; j--) {
            uint64_t t = docs[j];
            docs[j] = docs[j - 1];
            docs[j - 1] = t;
        }
    return n;
}

static int has_doc(const uint64_t *docs, size_t n, uint64_t d)
{
    for (size_t i = 0; i < n; i++)
        if (docs[i] == d) return 1;
    return 0;
}

#define ALL (SEGMENTS * PER_SEGMENT)

static void test_clock_reads(void **state)
{
    (void)state;
    quire_index *ix;
    idx_reader *r;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    assert_int_equal(idx_reader_open(dir, SEG_VERIFY_LAZY, &r, &e), QUIRE_OK);
    static uint64_t cand[ALL], match[ALL];
    uint64_t reads, n;
    int partial;

    /* a count takes one document a tick */
    const char *and_q = "the of";
    size_t nand = matching_docs(ix, and_q, cand, ALL);
    assert_true(nand > 600 && cand[600] < PER_SEGMENT);
    for (uint64_t at = 1; at <= 3; at++) {
        qry_limit lim = at_read(&reads, at);
        assert_int_equal(qry_count_ex(r, and_q, strlen(and_q), &lim, &n, &partial, &e),
                         QUIRE_OK);
        assert_int_equal(partial, 1);
        assert_int_equal(n, at == 1 ? 0 : 256 * (at - 1) - 1);
        assert_int_equal(reads, at + 1);
    }

    /* sorted: the best of the first 255 matches */
    qry_limit lim = at_read(&reads, 2);
    quire_hit hits[10];
    size_t nh;
    assert_int_equal(qry_search_ex(r, and_q, strlen(and_q), 10, "year", 4, 1, &lim, hits, &nh,
                                   &partial, &e), QUIRE_OK);
    assert_int_equal(partial, 1);
    quire_results *full = search(ix, &(query_case){and_q, "year", 1}, ALL, 0);
    size_t j = 0;
    for (size_t i = 0; i < quire_results_size(full) && j < 10; i++) {
        const quire_hit *h = quire_results_get(full, i);
        if (!has_doc(cand, 255, h->doc)) continue;
        assert_int_equal(hits[j].doc, h->doc);
        assert_true(hits[j].score == h->score);
        j++;
    }
    assert_int_equal(nh, 10);
    assert_int_equal(j, 10);
    quire_results_free(full);

    /* a sloppy phrase: one tick a candidate (a document with both words),
     * whether its position check rejects it (in the phrase) or not (in the
     * collector), so the count is of the matches among 255 candidates */
    const char *ph = "\"whale ship\"~1";
    size_t nc = matching_docs(ix, "whale ship", cand, ALL);
    size_t nm = matching_docs(ix, ph, match, ALL);
    assert_true(nc > 300 && cand[300] < PER_SEGMENT && nm < nc);
    uint64_t want = 0;
    for (size_t i = 0; i < 255; i++) want += has_doc(match, nm, cand[i]);
    assert_true(want > 0 && want < 255);
    lim = at_read(&reads, 2);
    assert_int_equal(qry_count_ex(r, ph, strlen(ph), &lim, &n, &partial, &e), QUIRE_OK);
    assert_int_equal(partial, 1);
    assert_int_equal(n, want);

    /* a prefix is expanded segment by segment, the clock read before each,
     * before each of its terms (whale, whales, white), after them, and
     * after each of the two passes that turn its sums (one a document:
     * most documents have one of the words) into a list: 7 reads a
     * segment, #1 to #21, then #22 before the first segment is searched.
     * Stopped in the expansion, it stops at once, with nothing. */
    for (uint64_t a = 2; a <= 21; a++) {
        lim = at_read(&reads, a);
        assert_int_equal(qry_count_ex(r, "wh*", 3, &lim, &n, &partial, &e), QUIRE_OK);
        assert_int_equal(partial, 1);
        assert_int_equal(n, 0);
        assert_int_equal(reads, a + 1);
    }
    lim = at_read(&reads, 23);
    assert_int_equal(qry_count_ex(r, "wh*", 3, &lim, &n, &partial, &e), QUIRE_OK);
    assert_int_equal(partial, 1);
    assert_int_equal(n, 255);

    /* top-k (block-max, phrase and exhaustive collectors): stopped inside
     * the first segment, the best of a prefix that is not the whole
     * segment.  In the OR, the phrase runs out of time first: no document
     * after that is taken without its part of the score. */
    const query_case bm[] = {{"the of", NULL, 0}, {"whale OR ship", NULL, 0},
                             {"\"of the sea\"", NULL, 0}, {"\"whale ship\"~1", NULL, 0},
                             {"wh*", NULL, 0}, {"\"whale ship\"~1 OR harpoon", NULL, 0}};
    const uint64_t at[] = {2, 2, 2, 2, 23, 2};
    for (size_t c = 0; c < sizeof bm / sizeof *bm; c++) {
        lim = at_read(&reads, at[c]);
        assert_int_equal(qry_search_ex(r, bm[c].q, strlen(bm[c].q), 10, NULL, 0, 0, &lim, hits,
                                       &nh, &partial, &e), QUIRE_OK);
        assert_int_equal(partial, 1);
        full = search(ix, &bm[c], ALL, 0);
        /* the prefix's best, as check_prefix_top checks a quire_results */
        uint64_t last = 0;
        for (size_t i = 0; i < nh; i++) last = hits[i].doc > last ? hits[i].doc : last;
        assert_true(nh > 0 && last < PER_SEGMENT);
        size_t k = 0, seg0 = 0;
        int differs = 0;
        for (size_t i = 0; i < quire_results_size(full); i++) {
            const quire_hit *h = quire_results_get(full, i);
            if (h->doc < PER_SEGMENT && seg0 < 10)   /* the whole first segment's best */
                differs |= seg0 >= nh || hits[seg0++].doc != h->doc;
            if (h->doc > last || k >= nh) continue;
            assert_int_equal(hits[k].doc, h->doc);
            assert_true(hits[k].score == h->score);
            k++;
        }
        assert_int_equal(k, nh);
        assert_true(differs);
        quire_results_free(full);
    }
    idx_reader_close(r);
    quire_index_close(ix);
}

/* An index of its own at dir/name: `ndocs` documents whose bodies
 * body(i) gives, opened for the internal calls. */
static idx_reader *side_index(const char *name, int ndocs, const char *(*body)(int i))
{
    char sdir[96];
    snprintf(sdir, sizeof sdir, "%s/%s", dir, name);
    quire_writer_options o = {.tok_flags = QUIRE_TOK_DEFAULT, .threads = 1};
    quire_writer *w;
    quire_error e;
    assert_int_equal(quire_writer_open(sdir, &o, &w, &e), QUIRE_OK);
    for (int i = 0; i < ndocs; i++) {
        char id[16];
        int n = snprintf(id, sizeof id, "%s%d", name, i);
        const char *b = body(i);
        quire_doc_input d = {.id = id, .id_len = (size_t)n, .title = "", .body = b,
                             .body_len = strlen(b)};
        assert_int_equal(quire_writer_add(w, &d, NULL, &e), QUIRE_OK);
    }
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    idx_reader *r;
    assert_int_equal(idx_reader_open(sdir, SEG_VERIFY_LAZY, &r, &e), QUIRE_OK);
    return r;
}

/* 4,000 words "aa" + four letters from b to z. */
static const char *made_up_words(int i)
{
    (void)i;
    static char body[4000 * 7 + 1];
    size_t len = 0;
    uint32_t seed = 11;
    for (int k = 0; k < 4000; k++) {
        body[len++] = 'a';
        body[len++] = 'a';
        for (int c = 0; c < 4; c++) body[len++] = (char)('b' + next_rand(&seed) % 25);
        body[len++] = ' ';
    }
    body[len] = 0;
    return body;
}

static const char *zz_yy(int i)
{
    return i % 2 ? "zz" : "zz yy";
}

/* A fuzzy word's dictionary walk reads the clock every IDX_FUZZY_POLL
 * terms it tests, matches or not.  The terms of this index are 4,000
 * made-up words "aa" + four letters from b to z: aaaaaa~2 matches none,
 * and each word is ruled out only at its fifth letter, so the walk tests
 * one term for each distinct five-letter start (about 3,500), instead of
 * passing over runs of terms under a prefix already too far. */
static void test_fuzzy_walk(void **state)
{
    (void)state;
    idx_reader *r = side_index("walk", 1, made_up_words);
    quire_error e;
    uint64_t reads, n;
    int partial;
    /* unstopped: #0, #1 before the walk, its polls, #N after it, and one
     * before the segment is searched */
    qry_limit lim = at_read(&reads, 1000000);
    assert_int_equal(qry_count_ex(r, "aaaaaa~2", 8, &lim, &n, &partial, &e), QUIRE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(partial, 0);
    uint64_t all = reads;
    assert_true(all >= 4 + 3);   /* 3,000 terms tested or more: 3 polls or more */
    for (uint64_t a = 2; a < all; a++) {
        lim = at_read(&reads, a);
        assert_int_equal(qry_count_ex(r, "aaaaaa~2", 8, &lim, &n, &partial, &e), QUIRE_OK);
        assert_int_equal(partial, 1);
        assert_int_equal(reads, a + 1);
    }
    idx_reader_close(r);
}

/* An exact count of an OR of terms sets a bit a posting, a term at a
 * time (count_or_terms), reading the clock before each term and every
 * 64 Ki postings: in 70,000 documents of "zz" (and "yy" in every other, zz_yy),
 * zz OR yy stops after 65,536 of zz's. */
static void test_or_count(void **state)
{
    (void)state;
    idx_reader *r = side_index("or", 70000, zz_yy);
    quire_error e;
    /* reads: #0, #1 before the segment, #2 before zz, #3 at its 65,536th
     * posting, #4 before yy */
    const uint64_t want[] = {0, 65536, 70000};
    for (uint64_t a = 2; a <= 4; a++) {
        uint64_t reads, n;
        int partial;
        qry_limit lim = at_read(&reads, a);
        assert_int_equal(qry_count_ex(r, "zz OR yy", 8, &lim, &n, &partial, &e), QUIRE_OK);
        assert_int_equal(partial, 1);
        assert_int_equal(n, want[a - 2]);
        assert_int_equal(reads, a + 1);
    }
    idx_reader_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generous_limit),
        cmocka_unit_test(test_spent_limit),
        cmocka_unit_test(test_bad_limit),
        cmocka_unit_test(test_stopped_midway),
        cmocka_unit_test(test_clock_reads),
        cmocka_unit_test(test_fuzzy_walk),
        cmocka_unit_test(test_or_count),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
