/*
 * damage.h — reading an index whose files were damaged past their
 * checksums, shared by tests/test_damage.c (every byte in turn) and
 * tests/fuzz/fuzz_segment.c (libFuzzer's mutations): the checksums
 * computed again over a changed segment file, and every reading call of
 * the public API run over the index, each of which must work or fail with
 * a documented error.  The includer defines damage_bad, called with any
 * other result.  The index is the one both build: 150 documents whose
 * words the queries below use.
 */
#ifndef QUIRE_TESTS_DAMAGE_H
#define QUIRE_TESTS_DAMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "index/segment.h"
#include "index/util.h"
#include "quire.h"
#include "reseal.h"

static void damage_bad(size_t off, const char *what, int rc);

static const char *words[] = {"gamma", "delta", "whale", "ship", "sea", "captain"};

/* The index both damage: 150 documents with more than a block of
 * postings for "alpha" (skip entries, a packed block and a tail),
 * positions past a block for "beta", common-word pairs ("of the"), a
 * number column, titles and two store blocks, committed through w (which
 * it frees), then "d3" deleted.  0, or -1 when a call fails. */
static int damage_build(quire_writer *w, const char *dir)
{
    quire_error e;
    char id[32], title[64], body[512], year[16];
    /* a long stored field (not searched) ends the store's first block
     * after doc 74, the record that passes 16 KiB */
    static char note[17000];
    memset(note, 'n', sizeof note);
    for (int i = 0; i < 150; i++) {
        snprintf(id, sizeof id, "d%d", i);
        snprintf(title, sizeof title, "Title %d of the %s", i, words[i % 6]);
        int n = snprintf(body, sizeof body, "alpha %s of the %s beta", words[i % 6],
                         words[(i * 5 + 1) % 6]);
        for (int k = 0; k < (i == 7 ? 20 : i % 3); k++)
            n += snprintf(body + n, sizeof body - (size_t)n, " beta %s", words[k % 6]);
        snprintf(year, sizeof year, "%d", 1800 + i);
        quire_field year_f = {"year", 4, year, strlen(year)};
        quire_field note_f = {"note", 4, note, sizeof note};
        quire_doc_input d = {id, strlen(id), title, strlen(title), body, strlen(body),
                             i % 2 ? &year_f : &note_f, i % 2 || i == 74};
        if (quire_writer_add(w, &d, NULL, &e) != QUIRE_OK) {
            quire_writer_free(w);
            return -1;
        }
    }
    int rc = quire_writer_commit(w, &e);
    quire_writer_free(w);
    if (rc) return -1;
    int deleted;
    if (quire_writer_open(dir, NULL, &w, &e) != QUIRE_OK) return -1;
    rc = quire_writer_delete(w, "d3", 2, &deleted, &e) != QUIRE_OK || !deleted ||
         quire_writer_commit(w, &e) != QUIRE_OK;
    quire_writer_free(w);
    return rc ? -1 : 0;
}

/* A damaged file may be refused (ECORRUPT, or EVERSION where the version
 * is hit), or ask for more memory than is sensible (ENOMEM); a document
 * or value may be missing.  Any other code goes to damage_bad. */
static void expect_rc(int rc, size_t off, const char *what)
{
    if (rc == QUIRE_OK || rc == QUIRE_ECORRUPT || rc == QUIRE_EVERSION || rc == QUIRE_ENOMEM ||
        rc == QUIRE_ENOTFOUND)
        return;
    damage_bad(off, what, rc);
}

static void no_report(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

/* Queries of every kind; those marked `docs` also read their first hit's
 * document, snippet, highlights and value (a few, as each decompresses a
 * store block: quire_verify reads them all). */
static const struct {
    const char *q;
    int docs;
} queries[] = {
    {"alpha", 0}, {"beta", 0}, {"alpha beta", 0}, {"whale OR ship", 1}, {"alpha -whale", 0},
    {"(sea OR captain) beta", 0}, {"\"of the\"", 0}, {"\"alpha whale of the\"", 1},
    {"\"beta gamma\"~2", 0}, {"cap*", 0}, {"whael~1", 1}, {"zzz", 0}, {"title:whale", 0},
    {"sea^2 ship", 0},
};

/* Reads hit `doc` every way the API allows. */
static void read_doc(quire_index *ix, uint64_t doc, const char *qs, size_t off)
{
    quire_error e;
    quire_doc *d;
    int rc = quire_doc_get(ix, doc, &d, &e);
    expect_rc(rc, off, "quire_doc_get");
    if (rc == QUIRE_OK) quire_doc_free(d);
    char buf[256];
    expect_rc(quire_snippet(ix, doc, qs, strlen(qs), "[", "]", 80, buf, sizeof buf, &e), off,
              "quire_snippet");
    quire_span sp[8];
    size_t ns;
    expect_rc(quire_highlight(ix, doc, qs, strlen(qs), "body", sp, 8, &ns, &e), off,
              "quire_highlight");
    double v;
    expect_rc(quire_doc_value(ix, doc, "year", &v, &e), off, "quire_doc_value");
}

/* Everything a reader can do with the index at dir; every call either
 * works or fails cleanly.  Counts the opens that work and the verifies
 * that fail. */
static void exercise(const char *dir, size_t off, size_t *opened, size_t *flagged)
{
    quire_index *ix;
    quire_error e;
    int rc = quire_index_open(dir, &ix, &e);
    expect_rc(rc, off, "quire_index_open");
    if (rc == QUIRE_OK) {
        ++*opened;
        quire_stats st;
        expect_rc(quire_index_stats(ix, &st, &e), off, "quire_index_stats");
        for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
            const char *qs = queries[q].q;
            uint64_t n;
            expect_rc(quire_count(ix, qs, strlen(qs), &n, &e), off, qs);
            quire_results *r;
            rc = quire_search(ix, qs, strlen(qs), 5, &r, &e);
            expect_rc(rc, off, qs);
            if (rc == QUIRE_OK) {
                if (queries[q].docs && quire_results_size(r))
                    read_doc(ix, quire_results_get(r, 0)->doc, qs, off);
                quire_results_free(r);
            }
            if (!queries[q].docs) continue;
            rc = quire_search_sorted(ix, qs, strlen(qs), "year", 1, 5, &r, &e);
            expect_rc(rc, off, "quire_search_sorted");
            if (rc == QUIRE_OK) quire_results_free(r);
        }
        uint64_t doc;
        expect_rc(quire_doc_find(ix, "d42", 3, &doc, &e), off, "quire_doc_find");
        char buf[128];
        size_t rep;
        expect_rc(quire_suggest(ix, "whael shp", 9, "<", ">", buf, sizeof buf, &rep, &e), off,
                  "quire_suggest");
        quire_index_close(ix);
    }
    rc = quire_verify(dir, no_report, NULL, &e);
    expect_rc(rc, off, "quire_verify");
    if (rc != QUIRE_OK) ++*flagged;
}


#endif
