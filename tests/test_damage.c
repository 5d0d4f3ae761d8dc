/*
 * test_damage.c — a segment damaged past its checksums.  Checksums catch a
 * flipped bit on disk (test_cli.c), but not a file written wrong, by a
 * bug or on purpose, with checksums that match.  quire_verify's store
 * check, on such damage it must name exactly.
 */
#define _GNU_SOURCE
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

#include "index/segment.h"
#include "index/util.h"
#include "quire.h"

static char tmpdir[64];
static char segpath[128];
static uint8_t *orig;      /* the undamaged segment file */
static size_t orig_len;

static int make_index(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/quire-test-damage-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    quire_writer *w;
    quire_error e;
    if (quire_writer_open(tmpdir, NULL, &w, &e) != QUIRE_OK) return -1;
    /* more than a block of postings for "alpha" (skip entries, a packed
     * block and a tail), positions past a block for "beta", common-word
     * pairs ("of the"), a number column, titles, two store blocks */
    static const char *words[] = {"gamma", "delta", "whale", "ship", "sea", "captain"};
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
        if (quire_writer_add(w, &d, NULL, &e) != QUIRE_OK) return -1;
    }
    if (quire_writer_commit(w, &e) != QUIRE_OK) return -1;
    quire_writer_free(w);
    snprintf(segpath, sizeof segpath, "%s/seg_000001.qseg", tmpdir);
    FILE *f = fopen(segpath, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    orig_len = (size_t)ftell(f);
    rewind(f);
    orig = malloc(orig_len);
    if (!orig || fread(orig, 1, orig_len, f) != orig_len) return -1;
    fclose(f);
    return 0;
}

static int remove_index(void **state)
{
    (void)state;
    free(orig);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

/* Computes every section's checksum and the footer's again, as a writer
 * would have, wherever the (possibly damaged) footer says they are. */
static void reseal(uint8_t *f, size_t len)
{
    if (len < SEG_HEADER_BYTES + SEG_TRAILER_BYTES) return;
    uint8_t *tr = f + len - SEG_TRAILER_BYTES;
    uint64_t foff = ld64(tr), flen = ld64(tr + 8);
    if (foff > len - SEG_TRAILER_BYTES || flen != len - SEG_TRAILER_BYTES - foff || flen < 8)
        return;
    uint64_t nsec = ld32(f + foff);
    for (uint64_t i = 0; i < nsec && 8 + 32 * (i + 1) <= flen; i++) {
        uint8_t *e = f + foff + 8 + 32 * i;
        uint64_t off = ld64(e + 8), slen = ld64(e + 16);
        if (off <= foff && slen <= foff - off) st64(e + 24, XXH3_64bits(f + off, slen));
    }
    st64(tr + 16, XXH3_64bits(f + foff, flen));
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
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
        else snprintf(want, sizeof want, cases[c].report, first1 + 1, first1 + 1 + count1, first1);
        quire_error e;
        assert_int_equal(quire_verify(tmpdir, keep_report, got, &e), QUIRE_ECORRUPT);
        assert_string_equal(got, want);
    }
    write_file(segpath, orig, orig_len);
    quire_error e;
    assert_int_equal(quire_verify(tmpdir, NULL, NULL, &e), QUIRE_OK);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_store),
    };
    return cmocka_run_group_tests(tests, make_index, remove_index);
}
