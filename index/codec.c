/*
 * codec.c — bit packing of 128-value blocks, the hot path of every posting
 * list read.  Each width gets its own fully specialized unpack loop (the
 * width is a compile-time constant inside it) so the compiler unrolls it and
 * keeps shifts and masks immediate; a switch picks the loop once per block.
 */
#include "index/codec.h"

#include <string.h>

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

void codec_pack128(const uint32_t *in, uint32_t b, uint8_t *out)
{
    size_t nbytes = codec_packed_bytes(b);
    if (b == 0) return;
    uint64_t acc = 0;
    uint32_t fill = 0;
    size_t o = 0;
    for (int i = 0; i < CODEC_BLOCK; i++) {
        acc |= (uint64_t)in[i] << fill;
        fill += b;
        while (fill >= 8) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
            fill -= 8;
        }
    }
    /* 128*b bits is always a whole number of bytes. */
    (void)nbytes;
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
