/*
 * fuzz_segment.c — libFuzzer target for a segment file damaged past its
 * checksums.  The input is a whole segment file; its checksums are
 * computed again (tests/damage.h), it takes the place of the segment of
 * the index tests/damage.h builds (whose MANIFEST and deletion file stay),
 * and the index is opened, read every way the public API allows, and
 * verified.  Every call must work or fail with a documented error;
 * anything else aborts with the reason, so libFuzzer saves the input as
 * crash-*, and ASan and UBSan catch what a call does wrong on the way.
 * tests/test_damage.c changes one byte at a time; libFuzzer also inserts,
 * erases and copies runs of bytes, and keeps what reaches new code.
 * Build and run with tests/fuzz/run-segment-fuzz, which starts from the
 * undamaged segment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quire.h"

static void damage_bad(size_t off, const char *what, int rc)
{
    (void)off;
    fprintf(stderr, "damaged segment: %s returned %d (%s)\n", what, rc, quire_strerror(rc));
    abort();
}

#include "tests/damage.h"
#include "tests/fuzz/fuzz_tmpdir.h"

/* mkdtemp's template: the six X's become the directory's unique part */
static char dir[] = "/tmp/quire_fuzz_segmentXXXXXX";
static char seg[64];

/* libFuzzer has no teardown hook: the index goes when the process exits */
static void cleanup(void)
{
    fuzz_rm_tree(dir);
}

static void write_all(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* Builds the index; with QUIRE_FUZZ_SEED=PATH, writes its undamaged
 * segment there (run-segment-fuzz's seed, which git does not keep). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    quire_writer *w;
    quire_error e;
    if (!mkdtemp(dir) || quire_writer_open(dir, NULL, &w, &e) != QUIRE_OK ||
        damage_build(w, dir))
        abort();
    atexit(cleanup);
    snprintf(seg, sizeof seg, "%s/seg_000001.qseg", dir);
    const char *seed = getenv("QUIRE_FUZZ_SEED");
    if (seed) {
        FILE *f = fopen(seg, "rb");
        static uint8_t buf[1 << 16];
        size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (!f || n == 0 || n == sizeof buf) abort();
        fclose(f);
        write_all(seed, buf, n);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *f = malloc(size ? size : 1);
    if (!f) abort();
    memcpy(f, data, size);
    reseal(f, size);
    write_all(seg, f, size);
    free(f);
    size_t opened = 0, flagged = 0;
    exercise(dir, 0, &opened, &flagged);
    return 0;
}
