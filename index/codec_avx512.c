/*
 * codec_avx512.c — the PFOR encoder (codec.h) with AVX-512F, and the
 * 128-value bit packer with AVX-512 F/BW/VL/VBMI2, chosen at run time by
 * codec.c when the CPU has them; compiled for AVX-512 function by function,
 * like codec_avx2.c.  The packer is described above its code.
 *
 * It writes the same bytes as the portable encoder in codec.c: the same
 * width (the largest of the smallest size), the same exception lists.  What
 * differs is how it gets there.  The block's (up to) 128 values stay in 8
 * registers; counting the exceptions of a width is 8 masked tests and
 * popcounts instead of a pass over memory (that count, tried for several
 * widths, was a third of the portable encoder's instructions), and the
 * exceptions' indexes and high bits are gathered with compress instead of
 * a loop over every value (another quarter).
 */
#include "index/codec.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,popcnt")))

AVX512 size_t codec_pfor_encode_avx512(const uint32_t *in, uint32_t n, uint8_t *out)
{
    if (n == 0 || n > CODEC_BLOCK) return 0;
    __m512i v[CODEC_BLOCK / 16];
    __mmask16 live[CODEC_BLOCK / 16];
    uint32_t nv = (n + 15) / 16;
    __m512i all = _mm512_setzero_si512();
    for (uint32_t k = 0; k < nv; k++) {
        uint32_t left = n - 16 * k;
        live[k] = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        v[k] = _mm512_maskz_loadu_epi32(live[k], in + 16 * k);
        all = _mm512_or_si512(all, v[k]);
    }
    uint32_t allr = (uint32_t)_mm512_reduce_or_epi32(all);
    uint32_t maxw = allr ? 32 - (uint32_t)__builtin_clz(allr) : 0;
    if (maxw == 0) return codec_pfor_plain(in, n, 0, out);
    /* the same search as the portable encoder (codec.c), so the same b */
    uint32_t best_b = maxw;
    size_t best = 1 + codec_packed_bytes_n(n, maxw);
    for (uint32_t b = maxw; b-- > 0;) {
        const __m512i high = _mm512_set1_epi32((int)(~0u << b));
        uint32_t nexc = 0;
        for (uint32_t k = 0; k < nv; k++)
            nexc += (uint32_t)__builtin_popcount(_mm512_test_epi32_mask(v[k], high));
        if (!codec_pfor_step(n, b, maxw, nexc, &best, &best_b)) break;
    }
    uint32_t b = best_b;
    if (b == maxw) return codec_pfor_plain(in, n, b, out);
    /* 16 lanes of slack: every compressed vector is stored whole */
    uint32_t low[CODEC_BLOCK], high[CODEC_BLOCK + 16];
    uint8_t idx[CODEC_BLOCK + 16];
    const __m512i lowmask = _mm512_set1_epi32(b == 0 ? 0 : (int)((1u << b) - 1));
    const __m512i highmask = _mm512_set1_epi32((int)(~0u << b));
    const __m128i shift = _mm_cvtsi32_si128((int)b);
    __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i sixteen = _mm512_set1_epi32(16);
    uint32_t nexc = 0;
    for (uint32_t k = 0; k < nv; k++) {
        _mm512_storeu_si512((void *)(low + 16 * k), _mm512_and_si512(v[k], lowmask));
        __mmask16 m = _mm512_test_epi32_mask(v[k], highmask);
        _mm_storeu_si128((__m128i *)(void *)(idx + nexc),
                         _mm512_cvtepi32_epi8(_mm512_maskz_compress_epi32(m, iota)));
        _mm512_storeu_si512((void *)(high + nexc),
                            _mm512_maskz_compress_epi32(m, _mm512_srl_epi32(v[k], shift)));
        nexc += (uint32_t)__builtin_popcount(m);
        iota = _mm512_add_epi32(iota, sixteen);
    }
    return codec_pfor_put(out, n, b, maxw, low, idx, high, nexc);
}

int codec_have_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("popcnt");
}

/* Packing 128 values of width b in the scalar layout (value i at bits
 * [i*b, (i+1)*b)), 16 values per register, by merging neighbours: pairs
 * into 64-bit lanes (2b bits), pairs of pairs into 128-bit lanes (4b bits,
 * the high part by a right shift), and those into 256-bit halves (8
 * values, exactly b bytes) with a lane permute and a funnel shift
 * (VBMI2's vpshldvq), each half then stored with a b-byte mask.  The
 * scalar packer's shift-and-or per value was 1.4-1.9% of a one-thread
 * build of corpus/cache/big.jsonl (flush and merge). */
#define AVX512P __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi2")))

AVX512P void codec_pack128_avx512(const uint32_t *in, uint32_t b, uint8_t *out)
{
    if (b == 0 || b > 32) return;
    const __m512i lo32 = _mm512_set1_epi64(0xffffffffll);
    const __m128i sb = _mm_cvtsi32_si128((int)b), s2b = _mm_cvtsi32_si128((int)(2 * b)),
                  s2bc = _mm_cvtsi32_si128((int)(64 - 2 * b));
    /* the second quad of each half, shifted left by 4b bits across the half:
     * word i is (a[i-k] << t) | (a[i-k-1] >> (64 - t)), k = 4b / 64, t = 4b % 64,
     * a[0..1] the quad's words (lanes 2 and 3 of the half), other a zero */
    const uint32_t k = 4 * b / 64, t = 4 * b % 64;
    int64_t ix[8], iy[8];
    __mmask8 mx = 0, my = 0;
    for (int j = 0; j < 8; j++) {
        int h = j & 4, i = j & 3;
        int sx = i - (int)k, sy = i - (int)k - 1;
        ix[j] = h + 2 + (sx >= 0 && sx <= 1 ? sx : 0);
        iy[j] = h + 2 + (sy >= 0 && sy <= 1 ? sy : 0);
        if (sx >= 0 && sx <= 1) mx |= (__mmask8)(1u << j);
        if (sy >= 0 && sy <= 1) my |= (__mmask8)(1u << j);
    }
    const __m512i vix = _mm512_loadu_si512((const void *)ix), viy = _mm512_loadu_si512((const void *)iy);
    const __m512i vt = _mm512_set1_epi64(t);
    const __mmask32 bytes = b == 32 ? 0xffffffffu : (1u << b) - 1;
    for (int g = 0; g < CODEC_BLOCK / 16; g++) {
        __m512i v = _mm512_loadu_si512((const void *)(in + 16 * g));
        __m512i p = _mm512_or_si512(_mm512_and_si512(v, lo32),
                                    _mm512_sll_epi64(_mm512_srli_epi64(v, 32), sb));
        __m512i sw = _mm512_shuffle_epi32(p, _MM_PERM_BADC);
        __m512i q = _mm512_mask_blend_epi64(0xaa, _mm512_or_si512(p, _mm512_sll_epi64(sw, s2b)),
                                            _mm512_srl_epi64(p, s2bc));
        __m512i x = _mm512_maskz_permutexvar_epi64(mx, vix, q);
        __m512i y = _mm512_maskz_permutexvar_epi64(my, viy, q);
        __m512i r = _mm512_or_si512(_mm512_shldv_epi64(x, y, vt), _mm512_maskz_mov_epi64(0x33, q));
        _mm256_mask_storeu_epi8(out + (size_t)(2 * g) * b, bytes, _mm512_castsi512_si256(r));
        _mm256_mask_storeu_epi8(out + (size_t)(2 * g + 1) * b, bytes,
                                _mm512_extracti64x4_epi64(r, 1));
    }
}

int codec_have_avx512_pack(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi2");
}

#else

size_t codec_pfor_encode_avx512(const uint32_t *in, uint32_t n, uint8_t *out)
{
    (void)in; (void)n; (void)out;
    return 0;
}

int codec_have_avx512(void) { return 0; }

void codec_pack128_avx512(const uint32_t *in, uint32_t b, uint8_t *out)
{
    (void)in; (void)b; (void)out;
}

int codec_have_avx512_pack(void) { return 0; }

#endif
