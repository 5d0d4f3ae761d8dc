/*
 * codec_avx512.c — the PFOR encoder (codec.h) with AVX-512F, chosen at run
 * time by codec.c when the CPU has it; compiled for AVX-512 function by
 * function, like codec_avx2.c.
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
    if (maxw == 0) {
        out[0] = 0;
        return 1;
    }
    /* the same search as the portable encoder (codec.c), so the same b */
    uint32_t best_b = maxw;
    size_t best = 1 + codec_packed_bytes_n(n, maxw);
    for (uint32_t b = maxw; b-- > 0;) {
        const __m512i high = _mm512_set1_epi32((int)(~0u << b));
        uint32_t nexc = 0;
        for (uint32_t k = 0; k < nv; k++)
            nexc += (uint32_t)__builtin_popcount(_mm512_test_epi32_mask(v[k], high));
        size_t exc_cost = 3 + nexc + codec_packed_bytes_n(nexc, maxw - b);
        if (exc_cost >= best) break;
        size_t cost = exc_cost + codec_packed_bytes_n(n, b);
        if (cost < best) {
            best = cost;
            best_b = b;
        }
    }
    uint32_t b = best_b;
    uint8_t *p = out;
    if (b == maxw) {
        *p++ = (uint8_t)b;
        codec_pack_n(in, n, b, p);
        return 1 + codec_packed_bytes_n(n, b);
    }
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

int codec_have_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("popcnt");
}

#else

size_t codec_pfor_encode_avx512(const uint32_t *in, uint32_t n, uint8_t *out)
{
    (void)in; (void)n; (void)out;
    return 0;
}

int codec_have_avx512(void) { return 0; }

#endif
