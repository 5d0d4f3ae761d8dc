/*
 * fuzz_query.c — libFuzzer target for the query side: any bytes as a query
 * against a small index (two segments, a deleted document, an extra
 * field, numbers and dates to sort and filter by), through every public
 * reading call that takes a query.  Build
 * and run with tests/fuzz/run-query-fuzz.  A violated invariant aborts
 * with the reason, so libFuzzer saves the input as crash-*.
 *
 * Invariants: every call returns QUIRE_OK or a documented error, and the
 * same one for count and search; search returns min(k, count) hits, best
 * first; sorted by a number, the same hits, the numbers in order and those
 * without one last; highlight spans are ascending, disjoint and inside the field;
 * a snippet is NUL-terminated inside its buffer; a suggestion, stripped of
 * its markers, is a query that matches.  Stopped by a time limit at any of
 * its first clock reads (a clock that counts them, query.h), a search
 * returns exactly the best of a prefix of the full ranking, and a count at
 * most the full count; not stopped, the same as without a limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quire.h"
#include "index/index.h"
#include "query/query.h"
#include "tests/fuzz/fuzz_tmpdir.h"

static quire_index *ix;
static idx_reader *rd;      /* the same index, for qry_search_ex's clock */
/* mkdtemp's template: the six X's become the directory's unique part */
static char dir[] = "/tmp/quire_fuzz_queryXXXXXX";

/* libFuzzer has no teardown hook: the index goes when the process exits */
static void cleanup(void)
{
    quire_index_close(ix);
    idx_reader_close(rd);
    fuzz_rm_tree(dir);
}

static void fail(const char *what, const char *q, size_t n)
{
    fprintf(stderr, "query invariant violated: %s\nquery: [%.*s]\n", what, (int)n, q);
    abort();
}

static void add(quire_writer *w, const char *id, const char *title, const char *body)
{
    quire_error e;
    /* a year for most documents, a date for some */
    char year[16];
    snprintf(year, sizeof year, "%d", 1850 + (int)strlen(body) % 17);
    quire_field f[3] = {{"note", 4, "whale oil and ambergris", 23},
                        {"year", 4, year, strlen(year)},
                        {"date", 4, "1851-10-18T12:00:00Z", 20}};
    size_t nf = id[1] == '3' ? 1 : id[1] % 2 ? 3 : 2;
    quire_doc_input d = {id, strlen(id), title, strlen(title), body, strlen(body), f, nf};
    if (quire_writer_add(w, &d, NULL, &e) != QUIRE_OK) {
        fprintf(stderr, "add: %s\n", e.message);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!mkdtemp(dir)) abort();
    atexit(cleanup);
    /* title terms too: title:word queries reach every call */
    quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT | QUIRE_TOK_TITLE_TERMS,
                                .threads = 1};
    quire_writer *w;
    quire_error e;
    if (quire_writer_open(dir, &opt, &w, &e) != QUIRE_OK) abort();
    add(w, "d1", "Moby Dick", "Call me Ishmael. The Sperm Whale's head; the Right Whale.");
    add(w, "d2", "The Ship", "Ahab's harpoon, Queequeg's lance: then-candidate e-mail C++ "
                             "6:30 PM \xe2\x80\x9cquoted\xe2\x80\x9d caf\xc3\xa9 \xd0\xba\xd0\xbe\xd1\x82");
    add(w, "d3", "", "of the whale of the sea; to be or not to be, that is the question");
    if (quire_writer_commit(w, &e) != QUIRE_OK) abort();
    add(w, "d4", "Chowder", "whales whale whaling wale while the sperm whale sounded");
    add(w, "d5", "Gone", "a document deleted before the fuzzing starts");
    if (quire_writer_delete(w, "d5", 2, NULL, &e) != QUIRE_OK) abort();
    add(w, "d6", "\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e text, 1999 and 2001");
    if (quire_writer_commit(w, &e) != QUIRE_OK) abort();
    quire_writer_free(w);
    if (quire_index_open(dir, &ix, &e) != QUIRE_OK) abort();
    if (idx_reader_open(dir, SEG_VERIFY_LAZY, &rd, &e) != QUIRE_OK) abort();
    return 0;
}

static uint64_t count_reads(void *ctx)
{
    return (*(uint64_t *)ctx)++;
}

/* Time limits passing at clock reads 1 to 8: every place the driver reads
 * the clock in a small index (before each segment, each term a prefix or
 * fuzzy word gathers). */
static void check_limits(const char *q, size_t size, uint64_t count)
{
    quire_error e;
    quire_results *full = NULL;
    if (quire_search(ix, q, size, count ? count : 1, &full, &e) != QUIRE_OK)
        fail("search with k = count failed", q, size);
    for (uint64_t at = 1; at <= 8; at++) {
        uint64_t reads = 0;
        qry_limit lim = {.seconds = ((double)at + 0.5) * 1e-9, .clock = count_reads,
                         .clock_ctx = &reads};
        quire_hit hits[5];
        size_t n;
        int partial;
        if (qry_search_ex(rd, q, size, 5, NULL, 0, 0, &lim, hits, &n, &partial, &e) != QUIRE_OK)
            fail("search under a time limit failed", q, size);
        uint64_t last = 0;
        for (size_t i = 0; i < n; i++) last = hits[i].doc > last ? hits[i].doc : last;
        /* the best of the documents up to the last hit, or of all */
        size_t j = 0;
        for (size_t i = 0; i < quire_results_size(full) && j < 5; i++) {
            const quire_hit *h = quire_results_get(full, i);
            if (partial && (n == 0 || h->doc > last)) continue;
            if (j >= n || hits[j].doc != h->doc || hits[j].score != h->score)
                fail("a search stopped by its time limit is not the best of a prefix", q, size);
            j++;
        }
        if (j != n) fail("a search stopped by its time limit has hits it should not", q, size);
        reads = 0;
        uint64_t c;
        if (qry_count_ex(rd, q, size, &lim, &c, &partial, &e) != QUIRE_OK)
            fail("count under a time limit failed", q, size);
        if (partial ? c > count : c != count)
            fail("a count under a time limit is off", q, size);
    }
    quire_results_free(full);
}

static int known(int rc)
{
    return rc == QUIRE_OK || rc == QUIRE_EQUERY || rc == QUIRE_ENOMEM;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *q = (const char *)data;
    quire_error e;
    uint64_t count = 0;
    int rc = quire_count(ix, q, size, &count, &e);
    if (!known(rc)) fail("count: unexpected error code", q, size);
    quire_results *r = NULL;
    int rs = quire_search(ix, q, size, 5, &r, &e);
    if (rs != rc) fail("search and count disagree on the error", q, size);
    if (rc != QUIRE_OK) return 0;
    size_t n = quire_results_size(r);
    if (n != (count < 5 ? count : 5)) fail("search returns other than min(k, count) hits", q, size);
    for (size_t i = 0; i < n; i++) {
        const quire_hit *h = quire_results_get(r, i);
        if (i && h->score > quire_results_get(r, i - 1)->score) fail("hits not best first", q, size);
        char snip[64];
        memset(snip, 'X', sizeof snip);
        if (quire_snippet(ix, h->doc, q, size, "[", "]", 40, snip, sizeof snip, &e) != QUIRE_OK)
            fail("snippet failed", q, size);
        if (!memchr(snip, '\0', sizeof snip)) fail("snippet not terminated", q, size);
        static const char *const fields[] = {"title", "body", "note"};
        for (int f = 0; f < 3; f++) {
            quire_span sp[16];
            size_t ns;
            if (quire_highlight(ix, h->doc, q, size, fields[f], sp, 16, &ns, &e) != QUIRE_OK)
                fail("highlight failed", q, size);
            quire_doc *d;
            const char *v;
            size_t vl;
            if (quire_doc_get(ix, h->doc, &d, &e) != QUIRE_OK) fail("doc_get failed", q, size);
            quire_doc_field(d, fields[f], &v, &vl);
            quire_doc_free(d);
            for (size_t k = 0; k < ns && k < 16; k++)
                if (sp[k].start >= sp[k].end || sp[k].end > vl ||
                    (k && sp[k].start < sp[k - 1].end))
                    fail("highlight spans out of order or outside the field", q, size);
        }
    }
    quire_results_free(r);
    check_limits(q, size, count);
    rs = quire_search_sorted(ix, q, size, "year", 1, 5, &r, &e);
    if (rs != QUIRE_OK) fail("sorted search failed on a query count took", q, size);
    if (quire_results_size(r) != n) fail("sorted search returns another number of hits than search", q, size);
    for (size_t i = 1; i < n; i++) {
        double a = quire_results_get(r, i - 1)->score, b = quire_results_get(r, i)->score;
        if ((a != a && b == b) || (a == a && b == b && b > a))
            fail("sorted hits out of order", q, size);
    }
    quire_results_free(r);
    char fix[512];
    size_t nrep;
    if (quire_suggest(ix, q, size, "", "", fix, sizeof fix, &nrep, &e) != QUIRE_OK)
        fail("suggest failed on a query count took", q, size);
    if (nrep && strlen(fix) < sizeof fix - 1) {
        uint64_t c2 = 0;
        if (quire_count(ix, fix, strlen(fix), &c2, &e) != QUIRE_OK || c2 == 0)
            fail("a suggestion that matches nothing", q, size);
    }
    return 0;
}
