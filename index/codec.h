/*
 * codec.h — integer compression for posting lists.
 *
 * Blocks of exactly 128 u32 values are bit-packed with one width b (0..32):
 * value i occupies bits [i*b, (i+1)*b) of a little-endian bit stream of
 * 16*b bytes ("frame of reference" without the reference, the values being
 * gaps already).  Decoders may load up to 7 bytes past the end of a packed
 * block; segment files always end in a 64-byte footer, so such over-reads
 * stay inside the mapping (see FORMAT.md).
 */
#ifndef QUIRE_CODEC_H
#define QUIRE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define CODEC_BLOCK 128
#define CODEC_OVERREAD 8   /* bytes a decoder may read past a block */

/* Bits needed for the largest of n values (0 when all are 0). */
uint32_t codec_width(const uint32_t *v, size_t n);

/* Bytes of a packed block of width b. */
static inline size_t codec_packed_bytes(uint32_t b) { return (size_t)b * 16; }

/* Packs 128 values (each < 2^b) into out[16*b]. */
void codec_pack128(const uint32_t *in, uint32_t b, uint8_t *out);

/* Unpacks 128 values of width b. */
void codec_unpack128(const uint8_t *in, uint32_t b, uint32_t *out);

/* Unpacks 128 gaps of width b and turns them into ascending values:
 * out[i] = out[i-1] + gap[i] + 1 with out[-1] = base - 1. */
void codec_unpack128_delta1(const uint8_t *in, uint32_t b, uint32_t base,
                            uint32_t *out);

#endif
