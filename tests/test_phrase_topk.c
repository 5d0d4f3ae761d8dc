/*
 * test_phrase_topk.c — a phrase's top k with block-max pruning and the
 * first pass over the rarest unit's shortest blocks (query/eval.c,
 * collect_phrase and ph_prime) against scoring every match
 * (qry_search_exhaustive): the same documents in the same order, ties
 * included, with the same scores.
 *
 * The differential test checks the engine against a model over random
 * queries, but its corpus is too small for the first pass to run often,
 * and it lets tied documents trade places.  Here the corpus is made for
 * it: the lead word is in about 2,700 of 6,000 documents (the first pass
 * runs for k up to 20 at 64 documents a slot), the lengths come from a
 * few values, so scores tie across many documents (make_doc says which
 * ties decide the result), and some documents hold the lead word more
 * than PH_CUTS (8) times.  Each of these, undone, fails it: the heap's
 * tie rule (topk_push), the cut-offs that keep ties before the first
 * pass's last document (ph_cut_for), the main pass passing over the
 * first pass's blocks.  Three indexes: one segment;
 * many segments, where the first pass runs in each with the heap the
 * earlier segments left; and many segments with a second session that
 * replaces and deletes documents, so the first pass must skip deleted
 * ones too.
 */
#define _GNU_SOURCE   /* mkdtemp, nftw */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "index/index.h"
#include "query/eval.h"
#include "quire.h"
#include "test_rng.h"

#define NDOCS 6000
#define MAXK 64

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rnd_below(uint32_t n)
{
    return (uint32_t)((xorshift64(&rng_state) >> 11) % n);
}

/* Document `d` of generation `gen` (a replacement has other words) into
 * buf: filler words, then the lead word "alpha" in 45% of documents, 1-3
 * times or, in a few, 10 times; "beta" in 75%, right after an "alpha" in
 * a quarter of those; "gamma" after a "beta" now and then. */
static void make_doc(uint32_t d, uint32_t gen, char *buf, size_t cap)
{
    static const uint32_t lens[] = {20, 40, 80, 6, 8, 12};
    static const char *const fill[] = {"w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"};
    rng_state = 0x9E3779B97F4A7C15ull * (d + 1) + gen * 0x632BE59BD9B4E019ull;
    for (int i = 0; i < 4; i++) rnd_below(2);
    /* Long documents in the first third, so that a first pass pays
     * (ph_prime, PH_PRIME_GAIN); the shortest, of 4 words, only in the last third,
     * where the first pass takes its blocks.  The top k reaches into the
     * documents of 6 words, and among those, tied, the earlier ones of the
     * second third must win over the ones the first pass put in the heap. */
    uint32_t len = d < NDOCS / 3                           ? lens[rnd_below(3)]
                   : d >= 2 * NDOCS / 3 && rnd_below(40) == 0 ? 4
                                                            : lens[rnd_below(6)];
    const char *w[80];
    for (uint32_t i = 0; i < len; i++) w[i] = fill[rnd_below(8)];
    if (rnd_below(100) < 45) {
        uint32_t times = rnd_below(50) == 0 ? 10 : 1 + rnd_below(3);
        for (uint32_t t = 0; t < times; t++) {
            uint32_t at = rnd_below(len);
            w[at] = "alpha";
            if (at + 1 < len && rnd_below(4) == 0) w[at + 1] = "beta";
        }
    }
    if (rnd_below(100) < 75) {
        uint32_t at = rnd_below(len);
        w[at] = "beta";
        if (at + 1 < len && rnd_below(3) == 0) w[at + 1] = "gamma";
    }
    size_t o = 0;
    for (uint32_t i = 0; i < len; i++) {
        int n = snprintf(buf + o, cap - o, "%s%s", i ? " " : "", w[i]);
        assert_true(n > 0 && (size_t)n < cap - o);
        o += (size_t)n;
    }
}

static void add(quire_writer *w, uint32_t d, uint32_t gen)
{
    char id[32], body[1024];
    snprintf(id, sizeof id, "d%u", d);
    make_doc(d, gen, body, sizeof body);
    quire_doc_input in = {id, strlen(id), "", 0, body, strlen(body), NULL, 0};
    quire_error err = {0};
    if (quire_writer_add(w, &in, NULL, &err) != QUIRE_OK)
        fail_msg("add: %s", err.message);
}

static quire_writer *open_writer(const char *dir, size_t budget)
{
    quire_writer_options opt = {.mem_budget = budget};
    quire_writer *w;
    quire_error err = {0};
    if (quire_writer_open(dir, &opt, &w, &err) != QUIRE_OK)
        fail_msg("writer_open: %s", err.message);
    return w;
}

static void commit(quire_writer *w)
{
    quire_error err = {0};
    if (quire_writer_commit(w, &err) != QUIRE_OK)
        fail_msg("commit: %s", err.message);
    quire_writer_free(w);
}

static void build(const char *dir, size_t budget, int churn)
{
    quire_writer *w = open_writer(dir, budget);
    for (uint32_t d = 0; d < NDOCS; d++) add(w, d, 0);
    commit(w);
    if (!churn) return;
    w = open_writer(dir, budget);
    quire_error err = {0};
    for (uint32_t d = 0; d < NDOCS; d++) {
        if (d % 7 == 3) {
            add(w, d, 1);
        } else if (d % 11 == 5) {
            char id[32];
            snprintf(id, sizeof id, "d%u", d);
            if (quire_writer_delete(w, id, strlen(id), NULL, &err) != QUIRE_OK)
                fail_msg("delete: %s", err.message);
        }
    }
    commit(w);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

/* Every phrase, every k: the pruned top k is the exhaustive one. */
static void check_index(const char *dir, uint32_t min_segments)
{
    static const char *const phrases[] = {
        "\"alpha beta\"", "\"beta alpha\"", "\"alpha beta gamma\"", "\"alpha w3\"",
        "\"w5 alpha\"", "\"alpha alpha\"", "\"beta gamma\"", "\"w1 alpha beta\"",
    };
    static const size_t ks[] = {1, 2, 3, 5, 10, 13, 20, MAXK};
    idx_reader *r;
    quire_error err = {0};
    if (idx_reader_open(dir, 1, &r, &err) != QUIRE_OK)
        fail_msg("reader_open: %s", err.message);
    assert_true(idx_reader_nsegments(r) >= min_segments);
    quire_hit a[MAXK], b[MAXK];
    size_t checked = 0;
    for (size_t p = 0; p < sizeof phrases / sizeof *phrases; p++) {
        const char *q = phrases[p];
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
            size_t na = 0, nb = 0;
            if (qry_search(r, q, strlen(q), ks[ki], a, &na, &err) != QUIRE_OK)
                fail_msg("[%s] search: %s", q, err.message);
            if (qry_search_exhaustive(r, q, strlen(q), ks[ki], b, &nb, &err) != QUIRE_OK)
                fail_msg("[%s] exhaustive: %s", q, err.message);
            if (na != nb)
                fail_msg("[%s] k=%zu: %zu hits, exhaustive %zu", q, ks[ki], na, nb);
            for (size_t i = 0; i < na; i++) {
                if (a[i].doc != b[i].doc || a[i].score != b[i].score)
                    fail_msg("[%s] k=%zu rank %zu: doc %llu score %.17g, exhaustive doc %llu "
                             "score %.17g", q, ks[ki], i, (unsigned long long)a[i].doc,
                             a[i].score, (unsigned long long)b[i].doc, b[i].score);
            }
            checked += na == ks[ki];
        }
    }
    /* most (phrase, k) pairs fill their k: the pruning had work to do */
    assert_true(checked >= 40);
    idx_reader_close(r);
}

static void run(size_t budget, int churn, uint32_t min_segments)
{
    char dir[] = "/tmp/quire_phtopkXXXXXX";
    assert_non_null(mkdtemp(dir));
    build(dir, budget, churn);
    check_index(dir, min_segments);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_one_segment(void **state)
{
    (void)state;
    run(0, 0, 1);
}

static void test_many_segments(void **state)
{
    (void)state;
    run(64 * 1024, 0, 3);
}

static void test_replaced_and_deleted(void **state)
{
    (void)state;
    run(64 * 1024, 1, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_segment),
        cmocka_unit_test(test_many_segments),
        cmocka_unit_test(test_replaced_and_deleted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
