/*
 * reseal.h — a segment file's checksums computed again after a test
 * changed its bytes, as a writer would have left them: for the damage
 * tests (damage.h) and for test_index.c's older-version segments.
 */
#ifndef QUIRE_TESTS_RESEAL_H
#define QUIRE_TESTS_RESEAL_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

#include "index/segment.h"
#include "index/util.h"

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

#endif
