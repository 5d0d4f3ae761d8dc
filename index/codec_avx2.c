/*
 * codec_avx2.c — AVX2 unpacking of 128-value bit-packed blocks, chosen at
 * run time by codec.c when the CPU has AVX2 (Debian's baseline is plain
 * x86-64, so this file is compiled for AVX2 function by function, never
 * for the whole program).
 *
 * The layout stays the scalar one (value i at bits [i*b, (i+1)*b)), so no
 * format change: 8 consecutive values span exactly b bytes, and value j of
 * a group starts at byte (j*b)/8, bit (j*b)%8 of the group.  For b <= 25 a
 * value then fits in the 4 bytes at its start byte, so one byte shuffle
 * gathers each value's 4 bytes into a 32-bit lane, a variable shift and a
 * mask finish it.  The low 4 lanes read from the group's start, the high 4
 * from its byte (4*b)/8, each 16 bytes, so a decoder may read up to 15
 * bytes past a block (CODEC_OVERREAD).  The prefix sum of doc-id gaps is
 * done in the vector too (log-step shifted adds plus a carried total).
 */
#include "index/codec.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

/* Shuffle control for width B: lane j takes bytes s..s+3 where s is its
 * start byte relative to the 16 bytes loaded for its half. */
#define LO(B, j, k) ((char)((((j) * (B)) >> 3) + (k)))
#define HI(B, j, k) ((char)((((j) * (B)) >> 3) - ((4 * (B)) >> 3) + (k)))
#define LANE_LO(B, j) LO(B, j, 0), LO(B, j, 1), LO(B, j, 2), LO(B, j, 3)
#define LANE_HI(B, j) HI(B, j, 0), HI(B, j, 1), HI(B, j, 2), HI(B, j, 3)
#define MASK(B) {LANE_LO(B, 0), LANE_LO(B, 1), LANE_LO(B, 2), LANE_LO(B, 3), \
                 LANE_HI(B, 4), LANE_HI(B, 5), LANE_HI(B, 6), LANE_HI(B, 7)}
#define SHIFT(B) {(0 * (B)) & 7, (1 * (B)) & 7, (2 * (B)) & 7, (3 * (B)) & 7, \
                  (4 * (B)) & 7, (5 * (B)) & 7, (6 * (B)) & 7, (7 * (B)) & 7}

#define MAX_SIMD_WIDTH 25

static const char shuffle_tab[MAX_SIMD_WIDTH + 1][32] __attribute__((aligned(32))) = {
    {0}, MASK(1), MASK(2), MASK(3), MASK(4), MASK(5), MASK(6), MASK(7), MASK(8),
    MASK(9), MASK(10), MASK(11), MASK(12), MASK(13), MASK(14), MASK(15), MASK(16),
    MASK(17), MASK(18), MASK(19), MASK(20), MASK(21), MASK(22), MASK(23), MASK(24),
    MASK(25)};
static const int shift_tab[MAX_SIMD_WIDTH + 1][8] __attribute__((aligned(32))) = {
    {0}, SHIFT(1), SHIFT(2), SHIFT(3), SHIFT(4), SHIFT(5), SHIFT(6), SHIFT(7), SHIFT(8),
    SHIFT(9), SHIFT(10), SHIFT(11), SHIFT(12), SHIFT(13), SHIFT(14), SHIFT(15), SHIFT(16),
    SHIFT(17), SHIFT(18), SHIFT(19), SHIFT(20), SHIFT(21), SHIFT(22), SHIFT(23), SHIFT(24),
    SHIFT(25)};

AVX2 static inline __m256i group(const uint8_t *p, uint32_t b, __m256i shuf, __m256i sh,
                                 __m256i mask)
{
    __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(p + ((4 * b) >> 3)));
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    v = _mm256_shuffle_epi8(v, shuf);
    return _mm256_and_si256(_mm256_srlv_epi32(v, sh), mask);
}

AVX2 int codec_unpack128_avx2(const uint8_t *in, uint32_t b, uint32_t *out)
{
    if (b == 0 || b > MAX_SIMD_WIDTH) return 0;
    const __m256i shuf = _mm256_load_si256((const __m256i *)(const void *)shuffle_tab[b]);
    const __m256i sh = _mm256_load_si256((const __m256i *)(const void *)shift_tab[b]);
    const __m256i mask = _mm256_set1_epi32((int)((1u << b) - 1));
    for (int g = 0; g < CODEC_BLOCK / 8; g++)
        _mm256_storeu_si256((__m256i *)(void *)(out + 8 * g),
                            group(in + (size_t)g * b, b, shuf, sh, mask));
    return 1;
}

AVX2 int codec_unpack128_delta1_avx2(const uint8_t *in, uint32_t b, uint32_t base,
                                     uint32_t *out)
{
    if (b == 0 || b > MAX_SIMD_WIDTH) return 0;
    const __m256i shuf = _mm256_load_si256((const __m256i *)(const void *)shuffle_tab[b]);
    const __m256i sh = _mm256_load_si256((const __m256i *)(const void *)shift_tab[b]);
    const __m256i mask = _mm256_set1_epi32((int)((1u << b) - 1));
    const __m256i one = _mm256_set1_epi32(1), last = _mm256_set1_epi32(7);
    __m256i carry = _mm256_set1_epi32((int)(base - 1));
    for (int g = 0; g < CODEC_BLOCK / 8; g++) {
        __m256i v = _mm256_add_epi32(group(in + (size_t)g * b, b, shuf, sh, mask), one);
        /* inclusive prefix sum within each 128-bit half, then carry the low
         * half's total into the high half */
        v = _mm256_add_epi32(v, _mm256_slli_si256(v, 4));
        v = _mm256_add_epi32(v, _mm256_slli_si256(v, 8));
        __m256i low_total = _mm256_permute2x128_si256(v, v, 0x08); /* [0 | low] */
        v = _mm256_add_epi32(v, _mm256_shuffle_epi32(low_total, 0xff));
        v = _mm256_add_epi32(v, carry);
        _mm256_storeu_si256((__m256i *)(void *)(out + 8 * g), v);
        carry = _mm256_permutevar8x32_epi32(v, last);
    }
    return 1;
}

int codec_have_avx2(void)
{
    return __builtin_cpu_supports("avx2");
}

#else

int codec_unpack128_avx2(const uint8_t *in, uint32_t b, uint32_t *out)
{
    (void)in; (void)b; (void)out;
    return 0;
}

int codec_unpack128_delta1_avx2(const uint8_t *in, uint32_t b, uint32_t base, uint32_t *out)
{
    (void)in; (void)b; (void)base; (void)out;
    return 0;
}

int codec_have_avx2(void) { return 0; }

#endif
