/*
 * codec.h — integer compression for posting lists.
 *
 * Blocks of exactly 128 u32 values are bit-packed with one width b (0..32):
 * value i occupies bits [i*b, (i+1)*b) of a little-endian bit stream of
 * 16*b bytes ("frame of reference" without the reference, the values being
 * gaps already).  Decoders may load up to 15 bytes past the end of a packed
 * block; segment files always end in a 64-byte footer, so such over-reads
 * stay inside the mapping (see FORMAT.md).
 */
#ifndef QUIRE_CODEC_H
#define QUIRE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define CODEC_BLOCK 128
#define CODEC_OVERREAD 16  /* bytes a decoder may read past a block */

/* Bits needed for the largest of n values (0 when all are 0). */
uint32_t codec_width(const uint32_t *v, size_t n);

/* Bytes of a packed block of width b. */
static inline size_t codec_packed_bytes(uint32_t b) { return (size_t)b * 16; }

/* Packs 128 values (each < 2^b) into out[16*b]. */
void codec_pack128(const uint32_t *in, uint32_t b, uint8_t *out);
/* The portable packer and the AVX-512 one (codec_avx512.c: F, BW, VL and
 * VBMI2, which codec_have_avx512_pack asks the CPU for), which
 * codec_pack128 picks between; the same bytes (exposed for tests). */
void codec_pack128_scalar(const uint32_t *in, uint32_t b, uint8_t *out);
void codec_pack128_avx512(const uint32_t *in, uint32_t b, uint8_t *out);
int codec_have_avx512_pack(void);

/* AVX2 versions of the two unpackers below (codec_avx2.c), for widths up to
 * 25; they return 0 when they do not handle the width.  codec_have_avx2
 * asks the CPU (through the compiler's cpu model, no state of ours). */
int codec_have_avx2(void);
int codec_unpack128_avx2(const uint8_t *in, uint32_t b, uint32_t *out);
int codec_unpack128_delta1_avx2(const uint8_t *in, uint32_t b, uint32_t base,
                                uint32_t *out);
/* The portable versions, which the two below fall back to (exposed so tests
 * check both on a machine with AVX2). */
void codec_unpack128_scalar(const uint8_t *in, uint32_t b, uint32_t *out);
void codec_unpack128_delta1_scalar(const uint8_t *in, uint32_t b, uint32_t base,
                                   uint32_t *out);

/* Unpacks 128 values of width b. */
void codec_unpack128(const uint8_t *in, uint32_t b, uint32_t *out);

/* Unpacks 128 gaps of width b and turns them into ascending values:
 * out[i] = out[i-1] + gap[i] + 1 with out[-1] = base - 1. */
void codec_unpack128_delta1(const uint8_t *in, uint32_t b, uint32_t base,
                            uint32_t *out);

/* ---- patched frame of reference (PFOR) --------------------------------
 *
 * n values (1 <= n <= 128) packed with one width b chosen to minimize the
 * encoded size; the few values that do not fit ("exceptions") keep their
 * low b bits in the packed stream and have their high bits patched in
 * afterwards, so decoding is a plain unpack plus a short patch loop.
 *
 *   u8 h             b = h & 0x3f (0..32); bit 7 set: exceptions follow
 *   [u8 nexc - 1, u8 hb]          only with exceptions: count (1..128)
 *                                 and width of the high parts (1..32 - b)
 *   packed           ceil(n * b / 8) bytes (16 * b for n = 128)
 *   [u8 index[nexc]]             positions of the exceptions, ascending
 *   [packed high]    ceil(nexc * hb / 8) bytes: value >> b of each
 *
 * Header values 0x21..0x7f are never produced (b > 32 or bit 6 set);
 * callers may use them as their own markers. */
#define CODEC_PFOR_EXC 0x80u
#define CODEC_PFOR_MAX_BYTES(n) (3u + 4u * (n) + 5u * (n))

/* Encodes in[0..n) into out (at least CODEC_PFOR_MAX_BYTES(n) bytes);
 * returns the bytes written. */
size_t codec_pfor_encode(const uint32_t *in, uint32_t n, uint8_t *out);
/* The same without the vectors of the 128-value path, for any n; with
 * AVX-512F (codec_avx512.c; 0 when not compiled in); and the portable
 * choice between the first two, which codec_pfor_encode uses on CPUs
 * without AVX-512.  All must produce the same bytes (exposed so tests
 * compare them). */
size_t codec_pfor_encode_generic(const uint32_t *in, uint32_t n, uint8_t *out);
int codec_have_avx512(void);
size_t codec_pfor_encode_avx512(const uint32_t *in, uint32_t n, uint8_t *out);
size_t codec_pfor_encode_portable(const uint32_t *in, uint32_t n, uint8_t *out);
/* The encoders' shared pieces, so that they choose and write alike.  One
 * step of the width search (b = maxw - 1, maxw - 2, ...): b's size given
 * nexc, its count of values wider than b bits, kept in *best / *best_b when
 * smaller; 0 when no narrower b can win (any b' < b has at least these
 * exceptions, so 3 + nexc + bytes(nexc, maxw - b) bounds its size). */
static inline int codec_pfor_step(uint32_t n, uint32_t b, uint32_t maxw, uint32_t nexc,
                                  size_t *best, uint32_t *best_b)
{
    size_t exc_cost = 3 + (size_t)nexc + ((size_t)nexc * (maxw - b) + 7) / 8;
    if (exc_cost >= *best) return 0;
    size_t cost = exc_cost + ((size_t)n * b + 7) / 8;
    if (cost < *best) {
        *best = cost;
        *best_b = b;
    }
    return 1;
}
/* Writes a block of width b < maxw with its nexc exceptions (low: every
 * value's low b bits; idx, high: the exceptions' indexes and value >> b);
 * returns the bytes written. */
size_t codec_pfor_put(uint8_t *out, uint32_t n, uint32_t b, uint32_t maxw,
                      const uint32_t *low, const uint8_t *idx, const uint32_t *high,
                      uint32_t nexc);
/* Size in bytes of the encoded block of n values at in, checked against
 * `avail` and the header's limits; 0 when malformed or truncated. */
size_t codec_pfor_size(const uint8_t *in, size_t avail, uint32_t n);
/* Decodes a block already checked by codec_pfor_size into out[0..n)
 * (out must have room for 128 values). */
void codec_pfor_decode(const uint8_t *in, uint32_t n, uint32_t *out);
/* Decodes a 128-value block of gaps into ascending values like
 * codec_unpack128_delta1. */
void codec_pfor_decode128_delta1(const uint8_t *in, uint32_t base, uint32_t *out);

/* Generic packing of n values of width b into ceil(n * b / 8) bytes, the
 * same bit order as codec_pack128 (used for short lists and patches). */
void codec_pack_n(const uint32_t *in, uint32_t n, uint32_t b, uint8_t *out);
void codec_unpack_n(const uint8_t *in, uint32_t n, uint32_t b, uint32_t *out);
static inline size_t codec_packed_bytes_n(uint32_t n, uint32_t b)
{
    return ((size_t)n * b + 7) / 8;
}

/* A pfor of n values without exceptions, all of width b (0: all zero, the
 * header alone): the ends of both encoders' width search. */
static inline size_t codec_pfor_plain(const uint32_t *in, uint32_t n, uint32_t b,
                                      uint8_t *out)
{
    out[0] = (uint8_t)b;
    if (b == 0) return 1;
    codec_pack_n(in, n, b, out + 1);
    return 1 + codec_packed_bytes_n(n, b);
}

#endif
