/*
 * codec.c — bit packing of 128-value blocks, the hot path of every posting
 * list read.  Each width gets its own fully specialized unpack loop (the
 * width is a compile-time constant inside it) so the compiler unrolls it and
 * keeps shifts and masks immediate; a switch picks the loop once per block.
 */
#include "index/codec.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint32_t codec_width(const uint32_t *v, size_t n)
{
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= v[i];
    return acc ? 32 - (uint32_t)__builtin_clz(acc) : 0;
}

static inline void store32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* 32 values of B bits are exactly B 32-bit words: with B a constant the
 * compiler unrolls the group and every shift is immediate.  (The generic
 * byte-at-a-time packer was a fifth of the segment writer's instructions.) */
#define PACK_FN(B)                                                         \
    static void pack_##B(const uint32_t *in, uint8_t *out)                 \
    {                                                                      \
        for (int g = 0; g < CODEC_BLOCK; g += 32) {                        \
            uint64_t acc = 0;                                              \
            unsigned fill = 0;                                             \
            _Pragma("GCC unroll 32")                                       \
            for (int i = 0; i < 32; i++) {                                 \
                acc |= (uint64_t)in[g + i] << fill;                        \
                fill += (B);                                               \
                if (fill >= 32) {                                          \
                    store32(out, (uint32_t)acc);                           \
                    out += 4;                                              \
                    acc >>= 32;                                            \
                    fill -= 32;                                            \
                }                                                          \
            }                                                              \
        }                                                                  \
    }

PACK_FN(1) PACK_FN(2) PACK_FN(3) PACK_FN(4) PACK_FN(5) PACK_FN(6) PACK_FN(7)
PACK_FN(8) PACK_FN(9) PACK_FN(10) PACK_FN(11) PACK_FN(12) PACK_FN(13)
PACK_FN(14) PACK_FN(15) PACK_FN(16) PACK_FN(17) PACK_FN(18) PACK_FN(19)
PACK_FN(20) PACK_FN(21) PACK_FN(22) PACK_FN(23) PACK_FN(24) PACK_FN(25)
PACK_FN(26) PACK_FN(27) PACK_FN(28) PACK_FN(29) PACK_FN(30) PACK_FN(31)
PACK_FN(32)

#define PCASE(B) case B: pack_##B(in, out); return;

void codec_pack128(const uint32_t *in, uint32_t b, uint8_t *out)
{
    if (codec_have_avx512_pack()) codec_pack128_avx512(in, b, out);
    else codec_pack128_scalar(in, b, out);
}

void codec_pack128_scalar(const uint32_t *in, uint32_t b, uint8_t *out)
{
    switch (b) {
    PCASE(1) PCASE(2) PCASE(3) PCASE(4) PCASE(5) PCASE(6) PCASE(7) PCASE(8)
    PCASE(9) PCASE(10) PCASE(11) PCASE(12) PCASE(13) PCASE(14) PCASE(15)
    PCASE(16) PCASE(17) PCASE(18) PCASE(19) PCASE(20) PCASE(21) PCASE(22)
    PCASE(23) PCASE(24) PCASE(25) PCASE(26) PCASE(27) PCASE(28) PCASE(29)
    PCASE(30) PCASE(31) PCASE(32)
    default:
        return;   /* b == 0: no bytes */
    }
}

#define UNPACK_FN(B)                                                       \
    static void unpack_##B(const uint8_t *in, uint32_t *out)               \
    {                                                                      \
        const uint64_t mask = (B) == 32 ? 0xffffffffull : ((1ull << (B)) - 1); \
        for (int i = 0; i < CODEC_BLOCK; i++) {                            \
            uint32_t bit = (uint32_t)i * (B);                              \
            out[i] = (uint32_t)((load64(in + (bit >> 3)) >> (bit & 7)) & mask); \
        }                                                                  \
    }                                                                      \
    static void unpack_delta_##B(const uint8_t *in, uint32_t base,         \
                                 uint32_t *out)                            \
    {                                                                      \
        const uint64_t mask = (B) == 32 ? 0xffffffffull : ((1ull << (B)) - 1); \
        uint32_t acc = base - 1;                                           \
        for (int i = 0; i < CODEC_BLOCK; i++) {                            \
            uint32_t bit = (uint32_t)i * (B);                              \
            acc += (uint32_t)((load64(in + (bit >> 3)) >> (bit & 7)) & mask) + 1; \
            out[i] = acc;                                                  \
        }                                                                  \
    }

UNPACK_FN(1) UNPACK_FN(2) UNPACK_FN(3) UNPACK_FN(4) UNPACK_FN(5)
UNPACK_FN(6) UNPACK_FN(7) UNPACK_FN(8) UNPACK_FN(9) UNPACK_FN(10)
UNPACK_FN(11) UNPACK_FN(12) UNPACK_FN(13) UNPACK_FN(14) UNPACK_FN(15)
UNPACK_FN(16) UNPACK_FN(17) UNPACK_FN(18) UNPACK_FN(19) UNPACK_FN(20)
UNPACK_FN(21) UNPACK_FN(22) UNPACK_FN(23) UNPACK_FN(24) UNPACK_FN(25)
UNPACK_FN(26) UNPACK_FN(27) UNPACK_FN(28) UNPACK_FN(29) UNPACK_FN(30)
UNPACK_FN(31) UNPACK_FN(32)

#define CASE(B) case B: unpack_##B(in, out); return;
#define CASED(B) case B: unpack_delta_##B(in, base, out); return;

void codec_unpack128(const uint8_t *in, uint32_t b, uint32_t *out)
{
    if (codec_have_avx2() && codec_unpack128_avx2(in, b, out)) return;
    codec_unpack128_scalar(in, b, out);
}

void codec_unpack128_scalar(const uint8_t *in, uint32_t b, uint32_t *out)
{
    switch (b) {
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
    CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
    CASE(17) CASE(18) CASE(19) CASE(20) CASE(21) CASE(22) CASE(23) CASE(24)
    CASE(25) CASE(26) CASE(27) CASE(28) CASE(29) CASE(30) CASE(31) CASE(32)
    default:
        memset(out, 0, CODEC_BLOCK * sizeof *out);
        return;
    }
}

void codec_unpack128_delta1(const uint8_t *in, uint32_t b, uint32_t base,
                            uint32_t *out)
{
    if (codec_have_avx2() && codec_unpack128_delta1_avx2(in, b, base, out)) return;
    codec_unpack128_delta1_scalar(in, b, base, out);
}

void codec_unpack128_delta1_scalar(const uint8_t *in, uint32_t b, uint32_t base,
                                   uint32_t *out)
{
    switch (b) {
    CASED(1) CASED(2) CASED(3) CASED(4) CASED(5) CASED(6) CASED(7) CASED(8)
    CASED(9) CASED(10) CASED(11) CASED(12) CASED(13) CASED(14) CASED(15)
    CASED(16) CASED(17) CASED(18) CASED(19) CASED(20) CASED(21) CASED(22)
    CASED(23) CASED(24) CASED(25) CASED(26) CASED(27) CASED(28) CASED(29)
    CASED(30) CASED(31) CASED(32)
    default:
        for (int i = 0; i < CODEC_BLOCK; i++) out[i] = base + (uint32_t)i;
        return;
    }
}

/* ---- PFOR --------------------------------------------------------------- */

void codec_pack_n(const uint32_t *in, uint32_t n, uint32_t b, uint8_t *out)
{
    if (b == 0) return;
    if (n == CODEC_BLOCK) {
        codec_pack128(in, b, out);
        return;
    }
    /* whole 32-bit words while they fill, then the last bytes */
    uint64_t acc = 0;
    uint32_t fill = 0;
    for (uint32_t i = 0; i < n; i++) {
        acc |= (uint64_t)in[i] << fill;
        fill += b;
        if (fill >= 32) {
            store32(out, (uint32_t)acc);
            out += 4;
            acc >>= 32;
            fill -= 32;
        }
    }
    for (; fill > 0; fill = fill > 8 ? fill - 8 : 0) {
        *out++ = (uint8_t)acc;
        acc >>= 8;
    }
}

void codec_unpack_n(const uint8_t *in, uint32_t n, uint32_t b, uint32_t *out)
{
    if (n == CODEC_BLOCK) {
        codec_unpack128(in, b, out);
        return;
    }
    if (b == 0) {
        memset(out, 0, (size_t)n * sizeof *out);
        return;
    }
    const uint64_t mask = b == 32 ? 0xffffffffull : ((1ull << b) - 1);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t bit = i * b;
        out[i] = (uint32_t)((load64(in + (bit >> 3)) >> (bit & 7)) & mask);
    }
}

/* Full blocks, nearly all of what a merge or a flush encodes, get a path
 * of their own: with n a run-time value GCC 12 at -O2 vectorized none of
 * the generic path's loops (its cheap cost model skips loops that need a
 * remainder), so the exception counts there took a shift, a compare and
 * an add per value and per candidate width: 58% of the encoder's samples
 * in a one-thread merge.  Here the OR, the counts and the low bits run on
 * explicit 8-lane vectors (two SSE2 registers each in the default clone,
 * one AVX2 register in the avx2 one), and the exceptions are found from a
 * bit mask instead of a pass over all 128 values.  Every choice is the
 * generic path's, so the bytes are the same (tests compare the two). */
typedef uint32_t u32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

/* a macro: a function returning a 32-byte vector has an ABI of its own
 * without AVX, which compilers warn about even when it is inlined */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(u32x8))

/* Bit i % 64 of m[i / 64] set when in[i] >> b is not 0 (b < 32). */
static inline __attribute__((always_inline)) void exc_mask128(const uint32_t *in, uint32_t b,
                                                              uint64_t m[2])
{
    m[0] = m[1] = 0;
#ifdef __SSE2__
    const __m128i zero = _mm_setzero_si128(), cnt = _mm_cvtsi32_si128((int)b);
    for (int k = 0; k < CODEC_BLOCK / 4; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + 4 * k));
        __m128i fits = _mm_cmpeq_epi32(_mm_srl_epi32(v, cnt), zero);
        uint64_t bits = (uint64_t)(~_mm_movemask_ps(_mm_castsi128_ps(fits)) & 15);
        m[k >> 4] |= bits << (4 * (k & 15));
    }
#else
    for (int i = 0; i < CODEC_BLOCK; i++)
        m[i >> 6] |= (uint64_t)((in[i] >> b) != 0) << (i & 63);
#endif
}

static inline __attribute__((always_inline)) size_t pfor_encode128(const uint32_t *in,
                                                                   uint8_t *out)
{
    u32x8 acc = {0};
    for (int k = 0; k < CODEC_BLOCK / 8; k++) {
        u32x8 v;
        LOAD8(v, in + 8 * k);
        acc |= v;
    }
    uint32_t all = 0;
    for (int l = 0; l < 8; l++) all |= acc[l];
    uint32_t maxw = all ? 32 - (uint32_t)__builtin_clz(all) : 0;
    if (maxw == 0) return codec_pfor_plain(in, CODEC_BLOCK, 0, out);
    /* the generic path's search, see there */
    uint32_t best_b = maxw;
    size_t best = 1 + codec_packed_bytes(maxw);
    for (uint32_t b = maxw; b-- > 0;) {
        i32x8 neg = {0};   /* minus the count of values that fit, per lane */
        for (int k = 0; k < CODEC_BLOCK / 8; k++) {
            u32x8 v;
            LOAD8(v, in + 8 * k);
            neg += (i32x8)((v >> b) == 0);
        }
        uint32_t nexc = CODEC_BLOCK;
        for (int l = 0; l < 8; l++) nexc += (uint32_t)neg[l];
        if (!codec_pfor_step(CODEC_BLOCK, b, maxw, nexc, &best, &best_b)) break;
    }
    uint32_t b = best_b;
    if (b == maxw) {
        out[0] = (uint8_t)b;
        codec_pack128(in, b, out + 1);
        return 1 + codec_packed_bytes(b);
    }
    uint32_t low[CODEC_BLOCK], high[CODEC_BLOCK];
    uint8_t idx[CODEC_BLOCK];
    const u32x8 mask = (u32x8){0} + (b == 0 ? 0 : (1u << b) - 1);   /* b < maxw <= 32 */
    for (int k = 0; k < CODEC_BLOCK / 8; k++) {
        u32x8 v;
        LOAD8(v, in + 8 * k);
        v &= mask;
        memcpy(low + 8 * k, &v, sizeof v);
    }
    uint64_t m[2];
    exc_mask128(in, b, m);
    uint32_t nexc = 0;
    for (int h = 0; h < 2; h++)
        for (uint64_t bits = m[h]; bits; bits &= bits - 1) {
            uint32_t i = 64 * (uint32_t)h + (uint32_t)__builtin_ctzll(bits);
            idx[nexc] = (uint8_t)i;
            high[nexc++] = in[i] >> b;
        }
    return codec_pfor_put(out, CODEC_BLOCK, b, maxw, low, idx, high, nexc);
}

/* Cloned for AVX2 (the vectors of pfor_encode128), behind a plain
 * function: clang refuses target_clones on a function used before its
 * definition, and a clone set is best kept out of the exported names. */
__attribute__((target_clones("avx2", "default"))) static size_t
pfor_encode_clones(const uint32_t *in, uint32_t n, uint8_t *out)
{
    if (n == CODEC_BLOCK) return pfor_encode128(in, out);
    return codec_pfor_encode_generic(in, n, out);
}

size_t codec_pfor_encode_portable(const uint32_t *in, uint32_t n, uint8_t *out)
{
    return pfor_encode_clones(in, n, out);
}

size_t codec_pfor_encode(const uint32_t *in, uint32_t n, uint8_t *out)
{
    if (codec_have_avx512()) return codec_pfor_encode_avx512(in, n, out);
    return pfor_encode_clones(in, n, out);
}

size_t codec_pfor_encode_generic(const uint32_t *in, uint32_t n, uint8_t *out)
{
    /* the largest width from an OR; all zeros take one byte */
    uint32_t all = 0;
    for (uint32_t i = 0; i < n; i++) all |= in[i];
    uint32_t maxw = all ? 32 - (uint32_t)__builtin_clz(all) : 0;
    if (maxw == 0) return codec_pfor_plain(in, n, 0, out);
    /* Try b = maxw - 1, maxw - 2, ... while some b can still win: any
     * b' <= b has at least the exceptions of b, so
     * 3 + nexc + bytes(nexc, maxw - b) bounds its cost from below.  The
     * exceptions of one b are counted by one loop over the values;
     * usually one or two such loops decide (a width histogram was half
     * of this function's instructions).  The choice is the same as
     * trying every b: the largest b of the smallest size. */
    uint32_t best_b = maxw;
    size_t best = 1 + codec_packed_bytes_n(n, maxw);
    for (uint32_t b = maxw; b-- > 0;) {
        uint32_t nexc = 0;
        for (uint32_t i = 0; i < n; i++) nexc += (in[i] >> b) != 0;
        if (!codec_pfor_step(n, b, maxw, nexc, &best, &best_b)) break;
    }
    uint32_t b = best_b;
    if (b == maxw) return codec_pfor_plain(in, n, b, out);
    uint32_t low[CODEC_BLOCK], high[CODEC_BLOCK];
    uint8_t idx[CODEC_BLOCK];
    const uint32_t mask = b == 0 ? 0 : (1u << b) - 1;   /* b < maxw <= 32 */
    for (uint32_t i = 0; i < n; i++) low[i] = in[i] & mask;
    /* Exceptions are appended without a branch: they are few and scattered,
     * and a branch per value mispredicted (this loop was half of the
     * function's samples in a merge) */
    uint32_t nexc = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t h = in[i] >> b;
        idx[nexc] = (uint8_t)i;
        high[nexc] = h;
        nexc += h != 0;
    }
    return codec_pfor_put(out, n, b, maxw, low, idx, high, nexc);
}

size_t codec_pfor_put(uint8_t *out, uint32_t n, uint32_t b, uint32_t maxw,
                      const uint32_t *low, const uint8_t *idx, const uint32_t *high,
                      uint32_t nexc)
{
    uint8_t *p = out;
    uint32_t hb = maxw - b;
    *p++ = (uint8_t)(b | CODEC_PFOR_EXC);
    *p++ = (uint8_t)(nexc - 1);
    *p++ = (uint8_t)hb;
    codec_pack_n(low, n, b, p);
    p += codec_packed_bytes_n(n, b);
    memcpy(p, idx, nexc);
    p += nexc;
    codec_pack_n(high, nexc, hb, p);
    p += codec_packed_bytes_n(nexc, hb);
    return (size_t)(p - out);
}

size_t codec_pfor_size(const uint8_t *in, size_t avail, uint32_t n)
{
    if (avail < 1 || n == 0 || n > CODEC_BLOCK) return 0;
    uint32_t h = in[0], b = h & 0x3f;
    if (b > 32 || (h & 0x40)) return 0;
    size_t size = 1 + codec_packed_bytes_n(n, b);
    if (h & CODEC_PFOR_EXC) {
        if (avail < 3) return 0;
        uint32_t nexc = (uint32_t)in[1] + 1, hb = in[2];
        if (nexc > n || hb == 0 || b + hb > 32) return 0;
        size += 2 + nexc + codec_packed_bytes_n(nexc, hb);
    }
    return size > avail ? 0 : size;
}

/* The k-th high part of a checked block's exceptions. */
static inline uint32_t pfor_high(const uint8_t *hp, uint32_t k, uint32_t hb,
                                 uint64_t mask)
{
    uint32_t bit = k * hb;
    return (uint32_t)((load64(hp + (bit >> 3)) >> (bit & 7)) & mask);
}

/* Applies the exceptions of a checked block to out.  Indexes are masked
 * to the 128-value buffer, so damaged data cannot write outside it. */
static inline void pfor_patch(const uint8_t *in, uint32_t n, uint32_t *out)
{
    uint32_t b = in[0] & 0x3f, nexc = (uint32_t)in[1] + 1, hb = in[2];
    const uint8_t *idx = in + 3 + codec_packed_bytes_n(n, b);
    const uint8_t *hp = idx + nexc;
    const uint64_t mask = (1ull << hb) - 1;
    for (uint32_t k = 0; k < nexc; k++)
        out[idx[k] & (CODEC_BLOCK - 1)] |= pfor_high(hp, k, hb, mask) << b;
}

void codec_pfor_decode(const uint8_t *in, uint32_t n, uint32_t *out)
{
    uint32_t b = in[0] & 0x3f;
    if (!(in[0] & CODEC_PFOR_EXC)) {
        codec_unpack_n(in + 1, n, b, out);
        return;
    }
    codec_unpack_n(in + 3, n, b, out);
    pfor_patch(in, n, out);
}

/* out[i] = out[i-1] + out[i] + 1 with out[-1] = base - 1, in place.  With
 * SSE2 (every x86-64) four lanes at a time: two shifted adds make the
 * prefix sums inside a vector, a broadcast carries the total across. */
static void prefix_delta1(uint32_t *out, uint32_t base)
{
#ifdef __SSE2__
    __m128i carry = _mm_set1_epi32((int)(base - 1));
    const __m128i one = _mm_set1_epi32(1);
    for (int i = 0; i < CODEC_BLOCK; i += 4) {
        __m128i v = _mm_add_epi32(_mm_loadu_si128((const __m128i *)(out + i)), one);
        v = _mm_add_epi32(v, _mm_slli_si128(v, 4));
        v = _mm_add_epi32(v, _mm_slli_si128(v, 8));
        v = _mm_add_epi32(v, carry);
        _mm_storeu_si128((__m128i *)(out + i), v);
        carry = _mm_shuffle_epi32(v, 0xff);
    }
#else
    uint32_t acc = base - 1;
    for (int i = 0; i < CODEC_BLOCK; i++) {
        acc += out[i] + 1;
        out[i] = acc;
    }
#endif
}

void codec_pfor_decode128_delta1(const uint8_t *in, uint32_t base, uint32_t *out)
{
    uint32_t b = in[0] & 0x3f;
    if (!(in[0] & CODEC_PFOR_EXC)) {
        codec_unpack128_delta1(in + 1, b, base, out);
        return;
    }
    /* exceptions: the gaps must be whole before they are summed */
    codec_unpack128(in + 3, b, out);
    pfor_patch(in, CODEC_BLOCK, out);
    prefix_delta1(out, base);
}
