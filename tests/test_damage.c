/*
 * test_damage.c — a segment damaged past its checksums.  Checksums catch a
 * flipped bit on disk (test_cli.c), but not a file written wrong, by a
 * bug or on purpose, with checksums that match: segread.c promises that
 * then too every offset is checked before use, so that the worst is an
 * error or wrong results, never a crash or a read outside the mapping.
 * Here each byte of a small index's segment is changed in turn (two
 * ways), the checksums are computed again, and the index is opened,
 * searched every way the API allows, its documents read, and verified;
 * a quarter of them also take a writer, which adds, commits and merges.
 * Then the same for each byte of the MANIFEST and of a deletion file,
 * where a writer that refuses must leave every file as it was.  Every
 * call must return QUIRE_OK or one of the errors it documents; the
 * suite's ASan and UBSan build catches what a plain build would not.
 * And quire_verify's store check, and the MANIFEST's checks, on damage
 * they must name exactly.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "index/dict.h"
#include "index/index.h"
#include "index/segment.h"
#include "index/segread.h"
#include "index/util.h"
#include "quire.h"

static void damage_bad(size_t off, const char *what, int rc)
{
    fail_msg("byte %zu: %s returned %d (%s)", off, what, rc, quire_strerror(rc));
}

#include "damage.h"

static char tmpdir[64];
static char segpath[384], manpath[128], delpath[384];
/* the undamaged files: segment, MANIFEST, deletion file */
static uint8_t *orig, *orig_man, *orig_del;
static size_t orig_len, man_len, del_len;

/* A whole file, malloc'd; NULL when it cannot be read. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static int find_files(void);

/* A writer on a new index in a new tmpdir; NULL when either fails. */
static quire_writer *new_index(void)
{
    strcpy(tmpdir, "/tmp/quire-test-damage-XXXXXX");
    quire_writer *w;
    quire_error e;
    if (!mkdtemp(tmpdir) || quire_writer_open(tmpdir, NULL, &w, &e) != QUIRE_OK) return NULL;
    return w;
}

static int make_index(void **state)
{
    (void)state;
    quire_writer *w = new_index();
    if (!w || damage_build(w, tmpdir)) return -1;
    return find_files();
}

/* The paths of the index's one segment and its deletion file. */
static int find_files(void)
{
    DIR *d = opendir(tmpdir);
    if (!d) return -1;
    struct dirent *de;
    segpath[0] = delpath[0] = 0;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (!strncmp(de->d_name, "seg_", 4) && n > 5 && !strcmp(de->d_name + n - 5, ".qseg"))
            snprintf(segpath, sizeof segpath, "%s/%s", tmpdir, de->d_name);
        else if (n > 4 && !strcmp(de->d_name + n - 4, ".del"))
            snprintf(delpath, sizeof delpath, "%s/%s", tmpdir, de->d_name);
    }
    closedir(d);
    snprintf(manpath, sizeof manpath, "%s/MANIFEST", tmpdir);
    if (!segpath[0] || !delpath[0] || !(orig = slurp(segpath, &orig_len)) ||
        !(orig_man = slurp(manpath, &man_len)) || !(orig_del = slurp(delpath, &del_len)))
        return -1;
    return 0;
}

/* A segment written by a merge: two segments of 600 documents, each with
 * "alpha" in all of them, merged, so that the second one's list is
 * copied block by block after the first's is cut short (merge.c,
 * MERGE_CUT_MIN; FORMAT.md, "Lists with short blocks"); then a deletion. */
static int make_merged_index(void **state)
{
    (void)state;
    quire_writer *w = new_index();
    quire_error e;
    if (!w) return -1;
    char id[32], body[128];
    for (int i = 0; i < 1200; i++) {
        snprintf(id, sizeof id, "m%d", i);
        snprintf(body, sizeof body, "alpha %s of the %s beta %d", words[i % 6],
                 words[(i / 6) % 6], i % 7 ? i % 50 : i);
        quire_doc_input d = {id, strlen(id), i % 5 ? "" : "of the sea", i % 5 ? 0 : 10,
                             body, strlen(body), NULL, 0};
        if (quire_writer_add(w, &d, NULL, &e) != QUIRE_OK) return -1;
        if (i == 599 && quire_writer_commit(w, &e) != QUIRE_OK) return -1;
    }
    int deleted;
    if (quire_writer_commit(w, &e) != QUIRE_OK || quire_writer_optimize(w, &e) != QUIRE_OK ||
        quire_writer_delete(w, "m5", 2, &deleted, &e) != QUIRE_OK || !deleted ||
        quire_writer_commit(w, &e) != QUIRE_OK)
        return -1;
    quire_writer_free(w);
    return find_files();
}

static int remove_index(void **state)
{
    (void)state;
    free(orig);
    free(orig_man);
    free(orig_del);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_more(size_t off, const char *path, const uint8_t *damaged, size_t len,
                       size_t *writable);
static void restore(void);

/* Every `stride`-th byte of the segment (from `first`) changed two ways:
 * its lowest bit (a count or a length off by one) and its highest (a
 * varint's continuation, a large value).  `alpha` is the undamaged
 * index's count of "alpha". */
static void sweep_segment(size_t first, size_t stride, uint64_t alpha)
{
    uint8_t *f = malloc(orig_len);
    assert_non_null(f);
    static const uint8_t masks[] = {0x01, 0x80};
    size_t tried = 0, opened = 0, flagged = 0, written = 0;
    for (size_t off = first; off < orig_len; off += stride) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(f, orig, orig_len);
            f[off] ^= masks[m];
            reseal(f, orig_len);
            if (!memcmp(f, orig, orig_len)) continue;   /* a checksum, written again */
            restore();
            write_file(segpath, f, orig_len);
            exercise(tmpdir, off, &opened, &flagged);
            /* a writer on a quarter of them, the byte rotating through
             * each group of four (on all, the test took 83 s, not 23) */
            size_t k = off / stride;
            if ((k + k / 4) % 4 == 2 * m) write_more(off, segpath, f, orig_len, &written);
            tried++;
        }
    }
    restore();
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(tmpdir, &ix, &e), QUIRE_OK);
    uint64_t n;
    assert_int_equal(quire_count(ix, "alpha", 5, &n, &e), QUIRE_OK);
    assert_int_equal(n, alpha);
    quire_index_close(ix);
    print_message("%zu bytes, %zu damaged files: %zu opened, %zu found wrong by quire_verify, "
                  "%zu took a writer\n", orig_len, tried, opened, flagged, written);
    /* most damage gets past the open's checks to the code that reads the
     * sections, and much of it is where verification must find it */
    assert_true(tried > orig_len / stride);
    assert_true(opened > tried / 2);
    assert_true(flagged > tried / 4);
    free(f);
}

static void test_every_byte(void **state)
{
    (void)state;
    sweep_segment(0, 1, 149);
}

/* The index's segment, through the internal API, checksums checked. */
static idx_segment *open_segment(void)
{
    idx_segment *s = NULL;
    quire_error e;
    assert_int_equal(idx_segment_open(tmpdir, strrchr(segpath, '/') + 1, SEG_VERIFY_ALL, &s, &e),
                     QUIRE_OK);
    return s;
}

/* The merged segment (make_merged_index, 47 KB) every 31st byte: its
 * lists with short blocks are read by searches and copied again by the
 * merges of write_more.  (Every 7th byte, 13,490 damaged files, took
 * 85 s, and found no fault either.) */
static void test_merged_every_31st_byte(void **state)
{
    (void)state;
    idx_segment *s = open_segment();
    dict_iter it;
    dict_iter_init(&it, &s->dict);
    uint32_t cut = 0;
    while (dict_iter_next(&it) == 1) cut += it.e.cut_blocks > 0;
    idx_segment_close(s);
    assert_true(cut > 0);
    sweep_segment(3, 31, 1199);
}

/* The checksum line of a MANIFEST computed again (when it is still
 * there to find). */
static void reseal_manifest(uint8_t *m, size_t len)
{
    uint8_t *ck = memmem(m, len, "\nchecksum ", 10);
    if (!ck || (size_t)(ck - m) + 10 + 16 > len) return;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx",
             (unsigned long long)XXH3_64bits(m, (size_t)(ck - m) + 1));
    memcpy(ck + 10, hex, 16);
}

static void reseal_del(uint8_t *d, size_t len)
{
    if (len >= 8) st64(d + len - 8, XXH3_64bits(d, len - 8));
}

/* The directory as make_index left it (whatever a writer did since). */
static void restore(void)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    struct dirent *de;
    char path[512];
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && strcmp(de->d_name, "LOCK")) {
            snprintf(path, sizeof path, "%s/%s", tmpdir, de->d_name);
            assert_int_equal(unlink(path), 0);
        }
    closedir(d);
    write_file(segpath, orig, orig_len);
    write_file(manpath, orig_man, man_len);
    write_file(delpath, orig_del, del_len);
}

/* Whether the directory still holds the three files as they were
 * written, `damaged` (len bytes) at `path` and the originals elsewhere. */
static int untouched(const char *path, const uint8_t *damaged, size_t len)
{
    const char *paths[3] = {segpath, manpath, delpath};
    const uint8_t *want[3] = {orig, orig_man, orig_del};
    size_t lens[3] = {orig_len, man_len, del_len};
    for (int i = 0; i < 3; i++) {
        if (paths[i] == path) {
            want[i] = damaged;
            lens[i] = len;
        }
        size_t n;
        uint8_t *p = slurp(paths[i], &n);
        int same = p && n == lens[i] && !memcmp(p, want[i], n);
        free(p);
        if (!same) return 0;
    }
    return 1;
}

/* A writer on the damaged index: one that cannot open must leave every
 * file as it was (it removes the files the MANIFEST does not name only
 * once it knows the MANIFEST holds); one that opens must add, commit and
 * merge as on any index. */
static void write_more(size_t off, const char *path, const uint8_t *damaged, size_t len,
                       size_t *writable)
{
    quire_writer *w;
    quire_error e;
    int rc = quire_writer_open(tmpdir, NULL, &w, &e);
    expect_rc(rc, off, "quire_writer_open");
    if (rc != QUIRE_OK) {
        if (!untouched(path, damaged, len)) fail_msg("byte %zu: a writer that failed (%s) changed files", off,
                                   e.message);
        return;
    }
    ++*writable;
    quire_doc_input d = {"new", 3, "", 0, "alpha omega", 11, NULL, 0};
    /* a writer that failed takes nothing more (QUIRE_EARG) */
    rc = quire_writer_add(w, &d, NULL, &e);
    expect_rc(rc, off, "quire_writer_add");
    if (!rc) expect_rc(rc = quire_writer_commit(w, &e), off, "quire_writer_commit");
    if (!rc) expect_rc(quire_writer_optimize(w, &e), off, "quire_writer_optimize");
    quire_writer_free(w);
    expect_rc(quire_verify(tmpdir, no_report, NULL, &e), off, "quire_verify after writing");
}

/* Each byte of a small file of the index (`what`) changed two ways,
 * resealed, then read and written; `want` of them open, for readers and
 * writers alike. */
static void sweep(const char *what, const char *path, const uint8_t *file, size_t len,
                  void (*reseal_fn)(uint8_t *, size_t), size_t want)
{
    uint8_t *f = malloc(len);
    assert_non_null(f);
    static const uint8_t masks[] = {0x01, 0x80};
    size_t tried = 0, opened = 0, flagged = 0, writable = 0;
    for (size_t off = 0; off < len; off++) {
        for (size_t m = 0; m < sizeof masks; m++) {
            memcpy(f, file, len);
            f[off] ^= masks[m];
            reseal_fn(f, len);
            if (!memcmp(f, file, len)) continue;
            restore();
            write_file(path, f, len);
            exercise(tmpdir, off, &opened, &flagged);
            write_more(off, path, f, len, &writable);
            tried++;
        }
    }
    restore();
    free(f);
    print_message("%s of %zu bytes, %zu damaged: %zu opened, %zu took a writer\n", what, len,
                  tried, opened, writable);
    assert_true(tried > len);
    assert_int_equal(opened, want);
    assert_int_equal(writable, want);
}

static void test_manifest_every_byte(void **state)
{
    (void)state;
    /* only "generation 3", "next_segment 3" and the byte after the
     * checksum line (twice) are a MANIFEST as good as the original */
    sweep("MANIFEST", manpath, orig_man, man_len, reseal_manifest, 4);
}

static void test_deletions_every_byte(void **state)
{
    (void)state;
    /* a bit of the bitmap changes the count of deleted documents it holds */
    sweep("deletion file", delpath, orig_del, del_len, reseal_del, 0);
}

/* MANIFESTs with checksums that hold but names, counts or lines no
 * writer writes: readers and writers refuse them, saying what is wrong,
 * and a writer removes nothing. */
static void test_manifest_checks(void **state)
{
    (void)state;
    static const struct {
        const char *body;   /* the lines between tok_flags and the checksum */
        const char *error;  /* after "DIR/MANIFEST: " or the segment's name */
    } cases[] = {
        {"next_segment 1\nsegment seg_000001.qseg 150 seg_000001.qseg.g2.del\n",
         "segment name seg_000001.qseg is not seg_N.qseg with N below next_segment 1"},
        {"next_segment 2\nsegment seg_000001.qseg 150 seg_000001.qseg.g2.del\n"
         "segment seg_000001.qseg 150 -\n",
         "segment number 1 named twice"},
        {"next_segment 2\nsegment seg_000001.qseg 150 seg_000001.qseg.g3.del\n",
         "deletion file seg_000001.qseg.g3.del is not seg_000001.qseg.gG.del with G at most "
         "generation 2"},
        {"next_segment 2\nsegment seg_000001.qseg 150 MANIFEST\n",
         "deletion file MANIFEST is not seg_000001.qseg.gG.del with G at most generation 2"},
        {"next_segment 2 3\nsegment seg_000001.qseg 150 -\n",
         "unexpected line 'next_segment 2 3'"},
        {"segment seg_000001.qseg 150 -\n", "no next_segment line"},
        {"next_segment 2\nsegment seg_000001.qseg 151 seg_000001.qseg.g2.del\n",
         "seg_000001.qseg: segment disagrees with MANIFEST"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char m[512];
        int n = snprintf(m, sizeof m, "quire-manifest 1\ngeneration 2\ntok_flags 17\n%s"
                         "checksum 0000000000000000\n", cases[c].body);
        reseal_manifest((uint8_t *)m, (size_t)n);
        restore();
        write_file(manpath, (const uint8_t *)m, (size_t)n);
        char want[512];
        if (strncmp(cases[c].error, "seg_", 4))
            snprintf(want, sizeof want, "%s: %s", manpath, cases[c].error);
        else
            snprintf(want, sizeof want, "%s", cases[c].error);
        quire_index *ix;
        quire_writer *w;
        quire_error e;
        assert_int_equal(quire_index_open(tmpdir, &ix, &e), QUIRE_ECORRUPT);
        assert_string_equal(e.message, want);
        assert_int_equal(quire_writer_open(tmpdir, NULL, &w, &e), QUIRE_ECORRUPT);
        assert_string_equal(e.message, want);
        assert_true(untouched(manpath, (const uint8_t *)m, (size_t)n));
    }
    restore();
}

/* Where section `id` of segment file f lies. */
static void section_at(const uint8_t *f, size_t len, uint32_t id, size_t *off, size_t *slen)
{
    const uint8_t *tr = f + len - SEG_TRAILER_BYTES;
    uint64_t foff = ld64(tr);
    uint32_t nsec = ld32(f + foff);
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = f + foff + 8 + 32 * i;
        if (ld32(e) == id) {
            *off = (size_t)ld64(e + 8);
            *slen = (size_t)ld64(e + 16);
            return;
        }
    }
    fail_msg("no section %u", id);
}

static void keep_report(void *ctx, const char *line)
{
    char *buf = ctx;
    size_t n = strlen(buf);
    snprintf(buf + n, 1024 - n, "%s\n", line);
}

/* quire_verify reads each store block once and checks that the blocks
 * hold every document's record, in order, and nothing else. */
static void test_verify_store(void **state)
{
    (void)state;
    uint8_t *f = malloc(orig_len);
    assert_non_null(f);
    size_t off = 0, len = 0;
    section_at(orig, orig_len, SEC_STOREIDX, &off, &len);
    assert_int_equal(len % 24, 0);
    assert_int_equal(len, 48);
    uint32_t count0 = ld32(orig + off + 4);
    assert_int_equal(count0, 75);
    static const struct {
        size_t at;          /* in storeidx */
        int32_t add;        /* to the u32 there */
        const char *report;
    } cases[] = {
        {4, -1, "seg_000001.qseg: store block 0 has bytes past its %u docs\n"},
        {4, +1, "seg_000001.qseg: bad record of doc %u in store\n"},
        {24, +1, "seg_000001.qseg: store block 1 holds docs %u to %u, expected from %u\n"},
        /* a raw length near 4 GiB was allocated before the frame was read */
        {20, -0x1000, "seg_000001.qseg: store block 0 is not the %u bytes its index says\n"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        memcpy(f, orig, orig_len);
        uint8_t *x = f + off + cases[c].at;
        uint32_t v = ld32(x) + (uint32_t)cases[c].add;
        memcpy(x, &v, 4);
        reseal(f, orig_len);
        write_file(segpath, f, orig_len);
        char got[1024] = "", want[256];
        uint32_t first1 = ld32(orig + off + 24), count1 = ld32(orig + off + 28);
        if (c == 0) snprintf(want, sizeof want, cases[c].report, count0 - 1);
        else if (c == 1) snprintf(want, sizeof want, cases[c].report, count0);
        else if (c == 2)
            snprintf(want, sizeof want, cases[c].report, first1 + 1, first1 + 1 + count1, first1);
        else snprintf(want, sizeof want, cases[c].report, ld32(orig + off + 20) - 0x1000);
        if (c == 3) {
            /* and a reader does not ask for the memory either */
            quire_index *ix;
            quire_doc *d;
            quire_error e;
            assert_int_equal(quire_index_open(tmpdir, &ix, &e), QUIRE_OK);
            assert_int_equal(quire_doc_get(ix, 0, &d, &e), QUIRE_ECORRUPT);
            quire_index_close(ix);
        }
        quire_error e;
        assert_int_equal(quire_verify(tmpdir, keep_report, got, &e), QUIRE_ECORRUPT);
        assert_string_equal(got, want);
    }
    write_file(segpath, orig, orig_len);
    quire_error e;
    assert_int_equal(quire_verify(tmpdir, NULL, NULL, &e), QUIRE_OK);
    free(f);
}

/* A document's tf past its segment's positions (found by
 * tests/fuzz/run-segment-fuzz: a one-document term whose dictionary entry
 * says 2,414,418,875): reading its positions doubled a 32-bit capacity
 * past 2^31, to 0, and never ended (quire_verify hung).  Now it fails. */
static void test_tf_past_positions(void **state)
{
    (void)state;
    idx_segment *s = open_segment();
    idx_term t;
    assert_int_equal(idx_segment_lookup(s, "7", 1, &t), 1);   /* "Title 7 of the ..." */
    assert_int_equal(t.df, 1);
    idx_postings *p;
    uint32_t n = 0;
    assert_int_equal(idx_postings_open(s, &t, &p), 0);
    assert_non_null(idx_postings_positions(p, &n));
    assert_int_equal(n, 1);
    idx_postings_close(p);
    t.cf = 2414418875u;
    assert_int_equal(idx_postings_open(s, &t, &p), 0);
    assert_null(idx_postings_positions(p, &n));
    idx_postings_close(p);
    idx_segment_close(s);
}

/* A skip entry that says its block reaches further than its documents
 * do (found by tests/fuzz/run-segment-fuzz): an AND advancing the list to
 * a document past the block read past the block's 128 decoded documents
 * (UBSan: index 128 out of bounds), where it must go on to the next
 * block.  Block 1 of "alpha" (docs 128-255) is made to end at 259, the one
 * document with the word "259".  Block 2 is decoded from there, as docs
 * 260-387 instead of 256-383, so the damaged list has no 259: the AND
 * finds nothing, and reads nothing outside the blocks. */
static void test_merged_skip_past_block(void **state)
{
    (void)state;
    idx_segment *s = open_segment();
    idx_term t;
    assert_int_equal(idx_segment_lookup(s, "alpha", 5, &t), 1);
    seg_skip k = {0};
    assert_int_equal(seg_skip_open(&k, s->sec[SEC_SKIP], s->sec_len[SEC_SKIP], t.skip_off,
                                   idx_term_blocks(&t), s->version),
                     0);
    assert_int_equal(seg_skip_last(&k, 1), 255);
    uint64_t bit = k.at[SEG_SKIP_LAST] + k.step[SEG_SKIP_LAST];
    size_t at = (size_t)(k.p - s->m.data) + (size_t)(bit >> 3);
    idx_segment_close(s);
    uint8_t *f = malloc(orig_len);
    assert_non_null(f);
    memcpy(f, orig, orig_len);
    uint64_t v = ld64(f + at), mask = (uint64_t)k.mask[SEG_SKIP_LAST] << (bit & 7);
    v = (v & ~mask) | ((uint64_t)(259 - k.last0) << (bit & 7));
    st64(f + at, v);
    reseal(f, orig_len);
    write_file(segpath, f, orig_len);
    free(f);
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(tmpdir, &ix, &e), QUIRE_OK);
    uint64_t n;
    assert_int_equal(quire_count(ix, "alpha 259", 9, &n, &e), QUIRE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(quire_count(ix, "259", 3, &n, &e), QUIRE_OK);
    assert_int_equal(n, 1);
    quire_results *r;
    assert_int_equal(quire_search(ix, "alpha 259", 9, 10, &r, &e), QUIRE_OK);
    assert_int_equal(quire_results_size(r), 0);
    quire_results_free(r);
    quire_index_close(ix);
    restore();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_store),
        cmocka_unit_test(test_tf_past_positions),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_manifest_checks),
        cmocka_unit_test(test_manifest_every_byte),
        cmocka_unit_test(test_deletions_every_byte),
    };
    const struct CMUnitTest merged[] = {
        cmocka_unit_test(test_merged_skip_past_block),
        cmocka_unit_test(test_merged_every_31st_byte),
    };
    return cmocka_run_group_tests(tests, make_index, remove_index) |
           cmocka_run_group_tests(merged, make_merged_index, remove_index);
}
