/*
 * tok_fast.c — the fast scanner: plain words straight from 64-byte masks.
 *
 * Most words of real text are "plain": letters and digits between plain
 * separators (space, newline, most ASCII punctuation), perhaps followed by
 * one connector before a separator ("word, ", "end. ") or a possessive
 * ("Trump's ").  Such a word forms a chunk of its own, so the chunk rules of
 * tok_words.c cannot change it: its term is its folded text.  This scanner
 * classifies 64 bytes at a time into bit masks (letter or digit, plain
 * separator, byte >= 0x80), finds words with bit scans and emits the plain
 * ones from a lower-cased copy of the window, without any per-character
 * branch for ASCII.  Words with 2- and 3-byte letters (accented Latin,
 * Cyrillic, Greek...) are folded character by character through the fold
 * table, without the general state machine.
 *
 * ASCII chunks of words joined by connectors (then-candidate, don't, 3.14,
 * U.S., 12:30:45, jane.doe@example.com) that fit the window and end plainly
 * are decided here too, with the chunk rules of tok_words.c, and so are
 * ASCII URLs that fit the window.  Anything else — a handle, a combining
 * mark, a chunk or URL reaching past the window — is left to the general
 * path in tokenizer.c: the scanner returns where that chunk starts.
 * It is only ever entered, and only ever returns, where the general path
 * has nothing open (no run, no chunk, no CJK run), which is what makes the
 * two interchangeable: tok_set_fast_paths(t, 0) turns this file off, and the
 * fuzzer and tests check that the stream is the same.
 *
 * The classification runs on AVX2 when the CPU has it (chosen at run time,
 * like index/codec_avx2.c), else on SSE2, else scalar; all three give the
 * same masks (tests/test_tokenizer.c compares them).
 */
#include "tokenizer/tok_impl.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(TOK_NO_SIMD)
#include <immintrin.h>
#define TOK_X86 1
#else
#define TOK_X86 0
#endif

/* ---------------------------------------------------------------------- */
/* Classification                                                         */

/* ASCII punctuation that is not a plain separator: the connectors
 * ' - _ / . : , @ # and '[' (which may open an editorial mark). */
static inline int ascii_special(unsigned c)
{
    return c == '\'' || c == '-' || c == '_' || c == '/' || c == '.' ||
           c == ':' || c == ',' || c == '@' || c == '#' || c == '[';
}

static inline int ascii_alnum(unsigned c)
{
    unsigned l = c | 0x20;
    return (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9');
}

/* The reference: one byte at a time. */
void tok_classify_scalar(const unsigned char *w, tok_block *b)
{
    uint64_t a = 0, p = 0, h = 0, k = 0;
    for (unsigned i = 0; i < TOK_WIN; i++) {
        unsigned c = w[i];
        if (c == '(' || c == '[' || c == '+') k |= 1ull << i;
        if (c >= 0x80) h |= 1ull << i;
        else if (ascii_alnum(c)) a |= 1ull << i;
        else if (!ascii_special(c)) p |= 1ull << i;
        b->low[i] = (unsigned char)(c | 0x20);
    }
    b->alnum = a;
    b->plain = p;
    b->high = h;
    b->brk = k;
}

#if TOK_X86
/* SSE2, the x86-64 baseline: range compares, 16 bytes at a time.  Signed
 * compares leave bytes >= 0x80 (negative) out of every range. */
static void classify_sse2(const unsigned char *w, tok_block *b)
{
    uint64_t a = 0, s = 0, h = 0, k = 0;
    for (unsigned q = 0; q < TOK_WIN; q += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(w + q));
        __m128i lo = _mm_or_si128(v, _mm_set1_epi8(0x20));
        __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lo, _mm_set1_epi8('a' - 1)),
                                       _mm_cmplt_epi8(lo, _mm_set1_epi8('z' + 1)));
        __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                      _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
        /* , - . / are 0x2c-0x2f; the others one by one. */
        __m128i sp = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x2b)),
                                   _mm_cmplt_epi8(v, _mm_set1_epi8(0x30)));
        sp = _mm_or_si128(sp, _mm_cmpeq_epi8(v, _mm_set1_epi8('\'')));
        sp = _mm_or_si128(sp, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
        sp = _mm_or_si128(sp, _mm_cmpeq_epi8(v, _mm_set1_epi8(':')));
        sp = _mm_or_si128(sp, _mm_cmpeq_epi8(v, _mm_set1_epi8('@')));
        sp = _mm_or_si128(sp, _mm_cmpeq_epi8(v, _mm_set1_epi8('#')));
        sp = _mm_or_si128(sp, _mm_cmpeq_epi8(v, _mm_set1_epi8('[')));
        __m128i brk = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('(')),
                                   _mm_cmpeq_epi8(v, _mm_set1_epi8('[')));
        brk = _mm_or_si128(brk, _mm_cmpeq_epi8(v, _mm_set1_epi8('+')));
        k |= (uint64_t)(uint32_t)_mm_movemask_epi8(brk) << q;
        a |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_or_si128(letter, digit)) << q;
        s |= (uint64_t)(uint32_t)_mm_movemask_epi8(sp) << q;
        h |= (uint64_t)(uint32_t)_mm_movemask_epi8(v) << q;
        _mm_storeu_si128((__m128i *)(b->low + q), lo);
    }
    b->alnum = a;
    b->plain = ~(a | s | h);
    b->high = h;
    b->brk = k;
}

/* AVX2: one lookup per nibble (vpshufb) gives each byte a set of bits whose
 * AND says its class; 32 bytes at a time.  Bits 0-2 mark letters and
 * digits (0x30-0x39, 0x41-0x5a, 0x61-0x7a as rectangles of high x low
 * nibble), bits 3-6 the special punctuation (# ' , - . / in 0x2_, : in
 * 0x3_, @ in 0x4_, [ _ in 0x5_).  Bytes >= 0x80 have high nibbles with no
 * bits, so they are neither.  Bit 7, the sign bit that movemask reads
 * without a compare, marks the rectangle {2, 5} x {8, b}: ( + X [; without
 * the letter X that is brk.  A saturating add of 0x7f moves "any of these
 * bits" to the sign bit the same way. */
static const unsigned char avx2_k[7][32] __attribute__((aligned(32))) = {
    /* low nibble -> bits */
    {0x25, 0x07, 0x07, 0x0f, 0x07, 0x07, 0x07, 0x0f, 0x87, 0x07, 0x16, 0xc2,
     0x0a, 0x0a, 0x0a, 0x4a, 0x25, 0x07, 0x07, 0x0f, 0x07, 0x07, 0x07, 0x0f,
     0x87, 0x07, 0x16, 0xc2, 0x0a, 0x0a, 0x0a, 0x4a},
    /* high nibble -> bits */
    {0, 0, 0x88, 0x11, 0x22, 0xc4, 0x02, 0x04, 0, 0, 0, 0, 0, 0, 0, 0,
     0, 0, 0x88, 0x11, 0x22, 0xc4, 0x02, 0x04, 0, 0, 0, 0, 0, 0, 0, 0},
#define K32(x) {x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, \
                x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}
    K32(0x0f), K32(0x07), K32(0x78), K32(0x7f), K32(0x20),
#undef K32
};

__attribute__((target("avx2"))) static void classify_avx2(const unsigned char *w,
                                                          tok_block *b)
{
#define K(i) _mm256_load_si256((const __m256i *)avx2_k[i])
    uint64_t a = 0, s = 0, h = 0, k = 0;
    for (unsigned q = 0; q < TOK_WIN; q += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(w + q));
        __m256i r = _mm256_and_si256(
            _mm256_shuffle_epi8(K(0), _mm256_and_si256(v, K(2))),
            _mm256_shuffle_epi8(K(1), _mm256_and_si256(_mm256_srli_epi16(v, 4), K(2))));
        __m256i is_a = _mm256_adds_epu8(_mm256_and_si256(r, K(3)), K(5));
        __m256i is_s = _mm256_adds_epu8(_mm256_and_si256(r, K(4)), K(5));
        a |= (uint64_t)(uint32_t)_mm256_movemask_epi8(is_a) << q;
        s |= (uint64_t)(uint32_t)_mm256_movemask_epi8(is_s) << q;
        h |= (uint64_t)(uint32_t)_mm256_movemask_epi8(v) << q;
        k |= (uint64_t)(uint32_t)_mm256_movemask_epi8(r) << q;
        _mm256_storeu_si256((__m256i *)(b->low + q), _mm256_or_si256(v, K(6)));
    }
#undef K
    b->alnum = a;
    b->plain = ~(a | s | h);
    b->high = h;
    b->brk = k & ~a;
}

/* AVX-512 (BW): the same nibble tables on all 64 bytes at once, and each
 * class straight into a mask register; no movemask, shift and OR per
 * half. */
#define AVX512_TARGET "avx512f,avx512bw,bmi,bmi2"
__attribute__((target(AVX512_TARGET), always_inline)) static inline void
classify_avx512_v(__m512i v, tok_block *b)
{
    const __m512i lo_t = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)avx2_k[0]));
    const __m512i hi_t = _mm512_broadcast_i32x4(_mm_load_si128((const __m128i *)avx2_k[1]));
    const __m512i nib = _mm512_set1_epi8(0x0f);
    const __m512i r = _mm512_and_si512(
        _mm512_shuffle_epi8(lo_t, _mm512_and_si512(v, nib)),
        _mm512_shuffle_epi8(hi_t, _mm512_and_si512(_mm512_srli_epi16(v, 4), nib)));
    const uint64_t a = _mm512_test_epi8_mask(r, _mm512_set1_epi8(0x07));
    const uint64_t s = _mm512_test_epi8_mask(r, _mm512_set1_epi8(0x78));
    const uint64_t h = _mm512_movepi8_mask(v);
    const uint64_t k = _mm512_movepi8_mask(r);
    _mm512_storeu_si512((void *)b->low, _mm512_or_si512(v, _mm512_set1_epi8(0x20)));
    b->alnum = a;
    b->plain = ~(a | s | h);
    b->high = h;
    b->brk = k & ~a;
}

__attribute__((target(AVX512_TARGET))) static void classify_avx512(const unsigned char *w,
                                                                  tok_block *b)
{
    classify_avx512_v(_mm512_loadu_si512((const void *)w), b);
}

/* The last window of a text, avail < TOK_WIN bytes, padded with spaces
 * into pad as the other scanners copy it, but by one masked load: the
 * bytes past the text are never touched, so no copy of the tail is
 * needed first (two calls and a load the stores cannot forward to, on
 * every field of a document). */
__attribute__((target(AVX512_TARGET))) static void
classify_avx512_tail(const unsigned char *w, unsigned avail, tok_block *b,
                     unsigned char *pad)
{
    const __m512i v = _mm512_mask_loadu_epi8(_mm512_set1_epi8(' '),
                                             _bzhi_u64(~0ull, avail), (const void *)w);
    _mm512_storeu_si512((void *)pad, v);
    classify_avx512_v(v, b);
}
#endif

/* AVX-512 only where it costs no clock speed: VBMI2 (not used here) is
 * the mark of the cores that run 512-bit integer code at full speed (Ice
 * Lake and later, Zen 4); the first AVX-512 Xeons slow the whole core
 * down for it. */
#if TOK_X86
static int has_avx512(void)
{
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("bmi") &&
           __builtin_cpu_supports("bmi2");
}
#endif

tok_classify_fn tok_classifier(int which)
{
#if TOK_X86
    if (which == TOK_SIMD_AVX512) return has_avx512() ? classify_avx512 : NULL;
    if (which == TOK_SIMD_BEST && has_avx512()) return classify_avx512;
    if (which == TOK_SIMD_AVX2) return __builtin_cpu_supports("avx2") ? classify_avx2 : NULL;
    if (which == TOK_SIMD_SSE2) return classify_sse2;
    if (which == TOK_SIMD_BEST)
        return __builtin_cpu_supports("avx2") ? classify_avx2 : classify_sse2;
#else
    if (which == TOK_SIMD_BEST) return tok_classify_scalar;
#endif
    return which == TOK_SIMD_SCALAR ? tok_classify_scalar : NULL;
}

/* ---------------------------------------------------------------------- */
/* The scanner                                                            */

/* A word is decided only if it ends (its first byte after) at or before
 * this offset, so the up to three bytes that decide its ending lie in the
 * window. */
#define END_MAX (TOK_WIN - 4)
/* Folded bytes of a word past which the scanner leaves it to the general
 * path (which caps and cuts terms): below TOK_MAX_TERM_BYTES, so a word
 * emitted here is never cut. */
#define FAST_MAX 160
/* Returned by mixed_word for a word that reaches past the window: nothing
 * emitted, look again from the word's start. */
#define REDO (TOK_WIN + 1)

#define BIT(m, i) (((m) >> (i)) & 1u)

/* Letters and digits from w[i] on in the mask (TOK_WIN - i if all). */
static inline unsigned alnum_len(uint64_t alnum, unsigned i)
{
    uint64_t rest = ~(alnum >> i);
    return rest ? (unsigned)__builtin_ctzll(rest) : TOK_WIN - i;
}

/* "(s)" or "(es)" at w[e] (a '(' right after a word) marks an optional
 * plural and yields nothing: its length, else 0.  Reads up to w[e + 3]. */
static inline unsigned plural(const unsigned char *w, unsigned e)
{
    if ((w[e + 1] | 0x20) == 's' && w[e + 2] == ')') return 3;
    if ((w[e + 1] | 0x20) == 'e' && (w[e + 2] | 0x20) == 's' && w[e + 3] == ')') return 4;
    return 0;
}

/* The word at w[r, we) is "www" (r == TOK_WIN: no word to look at). */
static inline int is_www(const tok_block *b, unsigned r, unsigned we)
{
    return we - r == 3 && b->low[r] == 'w' && b->low[r + 1] == 'w' && b->low[r + 2] == 'w';
}

/* The word at w[r, e) could be the scheme of a URL or "www". */
static inline int maybe_url(const tok_block *b, unsigned r, unsigned e)
{
    unsigned c = b->low[r];
    return r < TOK_WIN && e - r >= 3 && e - r <= 5 && (c == 'h' || c == 'f' || c == 'w');
}

/* How a word (or chunk) that ends with the ASCII byte w[e] (not a letter
 * or digit; e <= END_MAX) ends: the offset where scanning goes on if the
 * chunk ends there, else 0.  Plain endings, the same as the general
 * path's simple_end: a plain separator, "(s)"; a connector before a plain
 * separator ("word, "); a possessive before one ("word's ").  The word
 * starts at w[r] (TOK_WIN for a chunk or a word beyond ASCII): "www" and a
 * '.' may start a URL. */
static inline unsigned ascii_end(const tok_block *b, const unsigned char *w,
                                 unsigned e, unsigned r)
{
    unsigned c = w[e], k;
    if (BIT(b->plain, e)) {
        if (c == '(' && (k = plural(w, e))) return e + k;
        return e + 1;
    }
    /* '[' ends the chunk; the scanner then looks for an editorial mark. */
    if (c == '[') return e;
    if (BIT(b->plain, e + 1)) return c == '.' && is_www(b, r, e) ? 0 : e + 2;
    /* Two connectors in a row end the chunk after the first (the second
     * starts nothing), except ".'" of "Jr.'s", '@' and '#' which start a
     * handle, and "://" or "www.." which may be a URL. */
    unsigned c1 = w[e + 1];
    if (!BIT(b->alnum, e + 1) && !BIT(b->high, e + 1) && !BIT(b->plain, e + 1) &&
        c1 != '@' && c1 != '#' && c1 != '[' && !(c == '.' && c1 == '\'') &&
        !((c == '.' || c == ':') && maybe_url(b, r, e)))
        return e + 2;
    /* ".'" (a quote closing after a period) is kept in the chunk for
     * "Jr.'s"; before a plain separator, or before a connector that then
     * starts nothing, it ends the chunk as any two connectors do. */
    if (c == '.' && c1 == '\'' && !maybe_url(b, r, e)) {
        unsigned c2 = w[e + 2];
        if (BIT(b->plain, e + 2)) return e + 2;
        if (!BIT(b->alnum, e + 2) && !BIT(b->high, e + 2) && c2 != '@' && c2 != '#' &&
            c2 != '[')
            return e + 3;
        return 0;
    }
    if (c == '\'' && (w[e + 1] | 0x20) == 's' && BIT(b->plain, e + 2)) {
        if (w[e + 2] != '(') return e + 3;
        if (e + 5 >= TOK_WIN) return 0;
        return e + 2 + ((k = plural(w, e + 2)) ? k : 1);
    }
    return 0;
}


/* Emits a term at position `pos` (not advanced): a compound's whole.
 * Its callers build it from the words' letters and digits alone, so it
 * is always one tok_whole_wanted keeps. */
static inline int emit_whole(tok_tokenizer *t, const char *term, size_t n,
                             size_t start, size_t end, int plain)
{
    if (!plain) return tok_emit(t, term, n, start, end, t->pos, TOK_K_STEM);
    tok_token tk = {.term = term, .len = (uint32_t)n, .pos = t->pos,
                    .start = start, .end = end};
    int rc = t->emit(t->ctx, &tk);
    if (rc) t->stop = rc;
    return rc;
}

/* What an ASCII run of letters and digits holds: RUN_LETTERS, RUN_DIGITS
 * or both.  In the lower-cased window letters have bit 0x40 set and
 * digits do not, so an OR of the bytes and an OR of their complements
 * tell; eight bytes at a time (low has the slack), so a run of up to
 * eight is one step, not a loop whose length the branch predictor would
 * have to guess. */
enum { RUN_LETTERS = 1, RUN_DIGITS = 2 };
static inline unsigned run_kind(const tok_block *b, unsigned s, unsigned e)
{
    const uint64_t bit6 = 0x4040404040404040ull;
    uint64_t any = 0, none = 0;
    for (unsigned q = s; q < e; q += 8) {
        uint64_t x;
        memcpy(&x, b->low + q, 8);
        const unsigned n = e - q; /* the run's bytes in x: its first n */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        const uint64_t m = n >= 8 ? ~0ull : ~(~0ull >> (8 * n));
#else
        const uint64_t m = n >= 8 ? ~0ull : (1ull << (8 * n)) - 1;
#endif
        any |= x & m;
        none |= ~x & m;
    }
    return ((any & bit6) ? RUN_LETTERS : 0) | ((none & bit6) ? RUN_DIGITS : 0);
}

/* Two ASCII runs joined by '.', ',' or ':' (the word at w[r, we), then
 * w[we]), with a plain ending: numbers (3.14, 1,000, 6:30), two-part
 * abbreviations (U.S, e.g), dotted compounds (sf.net, v1.2) and the
 * separate words of the other pairs (Mat27:32, 1,2).  These are the
 * chunk rules of tok_words.c for a chunk of three atoms:
 *   - digits '.' digits; up to three digits ',' exactly three; up to two
 *     digits ':' exactly two: one word, punctuation kept;
 *   - letters '.' letters, each part one or two letters and one of them a
 *     single letter: one word without the period;
 *   - any other pair joined by '.': a compound, whose whole (index mode)
 *     keeps the period;
 *   - ',' and ':' otherwise join nothing: two words.
 * "www." may start a URL and is left to the general path.  Returns as
 * ascii_chunk does. */
static unsigned ascii_pair(tok_tokenizer *t, const tok_block *b,
                           const unsigned char *w, size_t at, unsigned r,
                           unsigned we, int plain, int *rc)
{
    const unsigned c = w[we];
    if ((c != '.' && c != ',' && c != ':') || !BIT(b->alnum, we + 1)) return 0;
    if (c == '.' && is_www(b, r, we)) return 0;
    const unsigned s2 = we + 1, e2 = s2 + alnum_len(b->alnum, s2);
    if (e2 > END_MAX) return REDO;
    const unsigned next = ascii_end(b, w, e2, TOK_WIN);
    if (!next) return 0;
    const unsigned k1 = run_kind(b, r, we), k2 = run_kind(b, s2, e2);
    const unsigned l1 = we - r, l2 = e2 - s2;
    /* The window is lower-cased with OR 0x20, which leaves digits and
     * . , : as they are: a number's term is its text there. */
    const char *low = (const char *)b->low;
    if (k1 == RUN_DIGITS && k2 == RUN_DIGITS &&
        (c == '.' || (c == ',' && l1 <= 3 && l2 == 3) ||
         (c == ':' && l1 <= 2 && l2 == 2))) {
        *rc = tok_emit_word(t, low + r, e2 - r, at + r, at + e2, plain);
        return next;
    }
    if (c == '.' && k1 == RUN_LETTERS && k2 == RUN_LETTERS && l1 <= 2 && l2 <= 2 &&
        (l1 == 1 || l2 == 1)) {
        char ab[4];
        memcpy(ab, low + r, l1);
        memcpy(ab + l1, low + s2, l2);
        *rc = tok_emit_word(t, ab, l1 + l2, at + r, at + e2, plain);
        return next;
    }
    /* a dotted pair: its whole would keep the period (tok_whole_wanted) */
    if ((*rc = tok_emit_word(t, low + r, l1, at + r, at + we, plain))) return next;
    *rc = tok_emit_word(t, low + s2, l2, at + s2, at + e2, plain);
    return next;
}

/* An ASCII chunk of words joined by apostrophes and by - _ / (the word at
 * w[r, we) is followed by one of them), with a plain ending.  Here the
 * chunk rules of tok_words.c come down to: an apostrophe joins two words
 * into one (don't), unless the second is a possessive s, which may only
 * end the chunk; - _ / make a compound, whose whole (index mode) is its
 * words without the joiners, at the position of the first.  Numbers,
 * abbreviations and dotted compounds need '.', ',' or ':' and are left to
 * the general path, as is any other chunk.  Returns as mixed_word does. */
static unsigned ascii_chunk(tok_tokenizer *t, const tok_block *b,
                            const unsigned char *w, size_t at, unsigned r,
                            unsigned we, int plain, int *rc)
{
    unsigned ls[TOK_WIN / 2], le[TOK_WIN / 2], nl = 0, s0 = r, e = we;
    for (;;) {
        unsigned c = w[e];
        if (!(c == '\'' || c == '-' || c == '_' || c == '/') || !BIT(b->alnum, e + 1))
            break;
        unsigned ne = e + 1 + alnum_len(b->alnum, e + 1);
        if (ne > END_MAX) return REDO;
        if (c == '\'') {
            if (ne == e + 2 && (w[e + 1] | 0x20) == 's') break;
            e = ne;
            continue;
        }
        ls[nl] = s0;
        le[nl++] = e;
        s0 = e + 1;
        e = ne;
    }
    if (e == we) return ascii_pair(t, b, w, at, r, we, plain, rc);
    unsigned next = ascii_end(b, w, e, TOK_WIN);
    if (!next) return 0;
    ls[nl] = s0;
    le[nl++] = e;
    const char *low = (const char *)b->low;
    if (nl > 1 && t->mode == TOK_MODE_INDEX) {
        /* The words 16 bytes at a time (low has the slack, whole the
         * room): copies of a fixed size are a few moves, memcpy of a
         * word's length a call. */
        char whole[TOK_WIN + 16];
        size_t n = 0;
        for (unsigned k = 0; k < nl; k++) {
            for (unsigned q = ls[k]; q < le[k]; q += 16) memcpy(whole + n + (q - ls[k]), low + q, 16);
            n += le[k] - ls[k];
        }
        if ((*rc = emit_whole(t, whole, n, at + r, at + e, plain))) return next;
    }
    for (unsigned k = 0; k < nl; k++)
        if ((*rc = tok_emit_word(t, low + ls[k], le[k] - ls[k], at + ls[k], at + le[k], plain)))
            return next;
    return next;
}

/* The commonest chunks that reach ascii_atoms, decided without atoms and
 * tok_words: the chunk rules of tok_words.c, for chunks of ASCII runs
 * (the word at w[r, we) first) inside the window with a plain ending
 * whose runs never merge but in the few ways below.  ',' and ':' after a
 * run that is not all digits break the chunk into parts that are decided
 * alone (mailto:x@y.org, rpm,deb).  Each part is
 *   - one run: a word;
 *   - runs joined by '.' '-' '_' '/': a compound, whose whole (index
 *     mode) drops the joiners but keeps the periods (e-corp.net, 5.8.0);
 *     or, if every run is one or two letters joined by periods and one
 *     is a single letter, an abbreviation: one word (F.C.C);
 *   - runs joined by '.' '-' '_', '@', runs joined by '.' '-' with a
 *     period: an e-mail address, whose whole is its text, case folded.
 * A final possessive 's is dropped (API's,).  The whole chunk may also be
 * a number that is one term: up to three digits, then ',' and exactly
 * three, again and again, perhaps then '.' and digits (37,400,000.00); or
 * up to two digits, then ':' and exactly two, twice (12:30:45).
 * Anything else - a run that merges with the next (digits before '.'
 * and digits: 3.14; an abbreviation inside a compound), an apostrophe
 * inside, '#', a second '@' - is left to ascii_atoms (0).  Returns as
 * ascii_chunk does. */
static unsigned ascii_common(tok_tokenizer *t, const tok_block *b,
                             const unsigned char *w, size_t at, unsigned r,
                             unsigned we, int plain, int *rc)
{
    unsigned ls[TOK_WIN / 2], le[TOK_WIN / 2], nl = 0, s = r, e = we;
    /* conn[i] joins run i to run i + 1. */
    unsigned char kind[TOK_WIN / 2], conn[TOK_WIN / 2];
    for (;;) {
        ls[nl] = s;
        le[nl] = e;
        kind[nl] = (unsigned char)run_kind(b, s, e);
        const unsigned c = w[e];
        if (!(c == '\'' || c == '-' || c == '_' || c == '/' || c == '.' || c == ':' ||
              c == ',' || c == '@' || c == '#') ||
            !BIT(b->alnum, e + 1)) {
            nl++;
            break;
        }
        conn[nl++] = (unsigned char)c;
        s = e + 1;
        e = s + alnum_len(b->alnum, s);
        if (e > END_MAX) return REDO;
    }
    if (nl < 2) return 0;
    const unsigned next = ascii_end(b, w, le[nl - 1], TOK_WIN);
    if (!next) return 0;
    const char *low = (const char *)b->low;
    /* The number of one term. */
    if (kind[0] == RUN_DIGITS && (conn[0] == ',' || conn[0] == ':')) {
        int one;
        if (conn[0] == ',') {
            unsigned i = 1;
            one = le[0] - ls[0] <= 3;
            for (; i < nl && conn[i - 1] == ','; i++)
                one &= kind[i] == RUN_DIGITS && le[i] - ls[i] == 3;
            if (i < nl) one &= conn[i - 1] == '.' && kind[i] == RUN_DIGITS && i + 1 == nl;
        } else {
            one = nl == 3 && le[0] - ls[0] <= 2 && conn[1] == ':' &&
                  kind[1] == RUN_DIGITS && le[1] - ls[1] == 2 && kind[2] == RUN_DIGITS &&
                  le[2] - ls[2] == 2;
        }
        if (!one) return 0;
        const unsigned e2 = le[nl - 1];
        *rc = tok_emit_word(t, low + r, e2 - r, at + r, at + e2, plain);
        return next;
    }
    unsigned n = nl; /* runs that make words */
    if (conn[nl - 2] == '\'') {
        if (le[nl - 1] - ls[nl - 1] != 1 || low[ls[nl - 1]] != 's') return 0;
        n = nl - 1;
    }
    /* Check every part first: nothing is emitted for a chunk left to
     * ascii_atoms. */
    unsigned parts = 0, pend[TOK_WIN / 2];
    unsigned char ptype[TOK_WIN / 2];
    enum { P_WORDS, P_ABBR, P_MAIL };
    for (unsigned p0 = 0; p0 < n;) {
        unsigned p1 = p0, ats = 0, dots_after_at = 0, slash_after_at = 0;
        while (p1 + 1 < n && conn[p1] != ',' && conn[p1] != ':') {
            const unsigned c = conn[p1];
            if (c == '\'' || c == '#') return 0;
            if (c == '@') ats++;
            if (c == '.') dots_after_at += ats;
            if (ats && (c == '_' || c == '/')) slash_after_at = 1;
            p1++;
        }
        /* A ',' or ':' after digits may join them (1,000 6:30). */
        if (p1 + 1 < n && kind[p1] == RUN_DIGITS) return 0;
        unsigned type = P_WORDS;
        if (ats) {
            if (ats > 1 || !dots_after_at || slash_after_at) return 0;
            for (unsigned i = p0; i < p1 && conn[i] != '@'; i++)
                if (conn[i] == '/') return 0;
            type = P_MAIL;
        }
        /* Runs not after a period but before one that merge with what
         * follows: digits and digits (3.14, but not 1.2.3), one or two
         * letters and more such (U.S), as parse_leaf decides. */
        for (unsigned i = p0; i < p1; i++) {
            if (conn[i] != '.' || (i > p0 && conn[i - 1] == '.')) continue;
            if (kind[i] == RUN_DIGITS && kind[i + 1] == RUN_DIGITS &&
                !(i + 2 < nl && conn[i + 1] == '.'))
                return 0;
            if (kind[i] == RUN_LETTERS && le[i] - ls[i] <= 2) {
                unsigned m = i, single = le[i] - ls[i] == 1, count = 1;
                while (m + 1 < nl && conn[m] == '.' &&
                       kind[m + 1] == RUN_LETTERS && le[m + 1] - ls[m + 1] <= 2) {
                    m++;
                    count++;
                    single |= le[m] - ls[m] == 1;
                }
                const int dotted_after = m + 1 < nl && conn[m] == '.';
                if (count >= 2 && single && !dotted_after) {
                    /* An abbreviation: decided here only as a whole part. */
                    if (i != p0 || m != p1 || type != P_WORDS) return 0;
                    type = P_ABBR;
                }
            }
        }
        ptype[parts] = (unsigned char)type;
        pend[parts++] = p1;
        p0 = p1 + 1;
    }
    for (unsigned p = 0, p0 = 0; p < parts; p0 = pend[p++] + 1) {
        const unsigned p1 = pend[p];
        const unsigned s0 = ls[p0], e1 = le[p1];
        if (ptype[p] == P_ABBR) {
            char ab[TOK_WIN];
            unsigned m = 0;
            for (unsigned i = p0; i <= p1; i++) {
                ab[m++] = low[ls[i]];
                if (le[i] - ls[i] == 2) ab[m++] = low[ls[i] + 1];
            }
            if ((*rc = tok_emit_word(t, ab, m, at + s0, at + e1, plain))) return next;
            continue;
        }
        /* an e-mail address's or dotted compound's whole keeps its '@'
         * or periods, and no query asks for it (tok_whole_wanted): its
         * parts alone */
        int dotted = 0;
        for (unsigned k = p0; k < p1; k++) dotted |= conn[k] == '.';
        if (p1 > p0 && t->mode == TOK_MODE_INDEX && ptype[p] != P_MAIL && !dotted) {
            char whole[TOK_WIN + 16];
            size_t m = 0;
            for (unsigned k = p0; k <= p1; k++) {
                for (unsigned q = ls[k]; q < le[k]; q += 16)
                    memcpy(whole + m + (q - ls[k]), low + q, 16);
                m += le[k] - ls[k];
            }
            if ((*rc = emit_whole(t, whole, m, at + s0, at + e1, plain))) return next;
        }
        for (unsigned k = p0; k <= p1; k++)
            if ((*rc = tok_emit_word(t, low + ls[k], le[k] - ls[k], at + ls[k], at + le[k],
                                     plain)))
                return next;
    }
    return next;
}

/* Any other ASCII chunk inside the window: runs joined by single
 * connectors (' - _ / . : , @ #), the word at w[r, we) first, with a plain
 * ending.  Its atoms are the ones the general path's byte loop would
 * collect, built here from the masks and the lower-cased window, and
 * tok_words applies the chunk rules to them (times, longer numbers and
 * abbreviations, e-mail addresses, versions).  A URL can only start at the
 * first word: a possible scheme or "www" before '.' or ':' is left to the
 * general path.  Returns as ascii_chunk does. */
static unsigned ascii_atoms(tok_tokenizer *t, const tok_block *b,
                            const unsigned char *w, size_t at, unsigned r,
                            unsigned we, int plain, int *rc)
{
    if ((w[we] == '.' || w[we] == ':') && maybe_url(b, r, we)) return 0;
    const unsigned done = ascii_common(t, b, w, at, r, we, plain, rc);
    if (done) return done;
    tok_atom *a = t->atoms; /* room for TOK_WIN atoms (tok_new) */
    size_t n = 0;
    uint32_t off = 0;
    unsigned s = r, e = we;
    for (;;) {
        unsigned k = run_kind(b, s, e);
        /* 16 bytes at a time, as in ascii_chunk (t->buf has room:
         * tok_new reserves 4096). */
        for (unsigned q = s; q < e; q += 16) memcpy(t->buf + off + (q - s), b->low + q, 16);
        a[n++] = (tok_atom){.kind = TOK_A_RUN, .letters = (k & RUN_LETTERS) != 0,
                            .digits = (k & RUN_DIGITS) != 0, .ncp = e - s,
                            .off = off, .len = e - s, .start = at + s, .end = at + e};
        off += e - s;
        unsigned c = w[e];
        if (!(c == '\'' || c == '-' || c == '_' || c == '/' || c == '.' || c == ':' ||
              c == ',' || c == '@' || c == '#') ||
            !BIT(b->alnum, e + 1))
            break;
        a[n++] = (tok_atom){.kind = TOK_A_CONN, .ch = (uint8_t)c, .start = at + e,
                            .end = at + e + 1};
        s = e + 1;
        e = s + alnum_len(b->alnum, s);
        if (e > END_MAX) return REDO;
    }
    if (n < 3) return 0;
    unsigned next = ascii_end(b, w, e, TOK_WIN);
    if (!next) return 0;
    t->natoms = n;
    t->buflen = off;
    *rc = tok_words(t);
    t->natoms = 0;
    t->buflen = 0;
    return next;
}

/* Returned by url_fast when the word is no URL's prefix. */
#define NOT_URL (TOK_WIN + 2)

/* A URL (rule 7) whose prefix starts at w[r] (the word w[r, we), then
 * w[we] is ':' or '.'), decided here when it lies inside the window and
 * is ASCII: the general path's url_len (tokenizer.c) on the window's
 * bytes, and the terms url_ascii (tok_words.c) would emit: the runs of
 * letters and digits, from the lower-cased window.  url_len runs
 * only where a chunk starts, and so does this: r is where nothing is open
 * and the byte before is no connector that joins.  Returns the offset
 * after the URL (the trimmed punctuation after it is left to the scanner,
 * as the general path leaves it to its loop), NOT_URL if the word is no
 * prefix, REDO if the URL may reach past the window, 0 to leave it to the
 * general path (a byte beyond ASCII, or no letter or digit after the
 * prefix, which makes it no URL: the general path then takes the words). */
static unsigned url_fast(tok_tokenizer *t, const tok_block *b, const unsigned char *w,
                         size_t at, unsigned r, unsigned we, int plain, int *rc)
{
    static const struct {
        char word[6], sep[4];
        unsigned wl, sl;
    } pre[] = {{"http", "://", 4, 3}, {"https", "://", 5, 3}, {"ftp", "://", 3, 3},
               {"ftps", "://", 4, 3}, {"file", "://", 4, 3}, {"www", ".", 3, 1}};
    /* What each ASCII byte does to a URL, as url_len's table: 0 nothing,
     * 1 ends it, 2 a bracket to balance. */
    static const uint8_t url_byte[128] = {
        [0 ... 0x20] = 1, ['"'] = 1, ['<'] = 1, ['>'] = 1, ['\\'] = 1, ['^'] = 1,
        ['`'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1, [0x7f] = 1,
        ['('] = 2, [')'] = 2, ['['] = 2, [']'] = 2,
    };
    const unsigned char *low = b->low;
    unsigned plen = 0;
    /* The word is letters (the window's OR 0x20 lower-cases them); the
     * separator is compared as it is, since OR 0x20 would also turn
     * control bytes into ':' '/' '.'. */
    for (unsigned i = 0; i < sizeof pre / sizeof pre[0]; i++)
        if (we - r == pre[i].wl && memcmp(low + r, pre[i].word, pre[i].wl) == 0 &&
            memcmp(w + we, pre[i].sep, pre[i].sl) == 0) {
            plen = pre[i].wl + pre[i].sl;
            break;
        }
    if (!plen) return NOT_URL;
    /* Every byte that ends a URL or is a bracket is a plain separator or
     * '[' (brk), and the others are letters, digits, connectors and
     * plain bytes like ? = & %: only those candidates are looked at,
     * which in most URLs are none before the end. */
    uint64_t cand = (b->plain | b->high | b->brk) & (~0ull << (r + plen));
    int paren = 0, brack = 0;
    unsigned q;
    for (;; cand &= cand - 1) {
        /* No end in the window (a padded window ends in spaces). */
        if (!cand) return REDO;
        q = (unsigned)__builtin_ctzll(cand);
        unsigned c = w[q];
        if (c >= 0x80) return 0;
        unsigned u = url_byte[c];
        if (u == 1) break;
        if (u == 2) {
            if (c == '(') paren++;
            if (c == ')' && --paren < 0) break;
            if (c == '[') brack++;
            if (c == ']' && --brack < 0) break;
        }
    }
    unsigned n = q - r;
    while (n > plen) {
        unsigned c = w[r + n - 1];
        if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' ||
            c == '\'')
            n--;
        else
            break;
    }
    const unsigned e = r + n; /* < TOK_WIN: w[q] ended the URL */
    if (!((b->alnum >> (r + plen)) & ((1ull << (n - plen)) - 1))) return 0;
    /* The parts (no whole: it keeps ':' or '.', tok_whole_wanted): the
     * runs of letters and digits, from the lower-cased window; the last
     * one may end at e itself. */
    const uint64_t in = (~0ull << r) & ((1ull << e) - 1);
    uint64_t st = b->alnum & ~(b->alnum << 1) & in;
    uint64_t en = ~b->alnum & (b->alnum << 1) & (in << 1);
    do {
        unsigned ws = (unsigned)__builtin_ctzll(st), ee = (unsigned)__builtin_ctzll(en);
        if ((*rc = tok_emit_word(t, (const char *)low + ws, ee - ws, at + ws, at + ee,
                                 plain)))
            return e;
        st &= st - 1;
        en &= en - 1;
    } while (st);
    return e;
}

/* A handle or tag (rule 7) at w[r] ('@' or '#', then a letter or
 * digit), ASCII, inside the window, ending plainly: what tok_words makes
 * of it at the start of a chunk, which is where r is (nothing open).  The
 * whole is the prefix and the runs joined by '_', lower-cased, verbatim;
 * then every run.  Left to the general path: a byte beyond ASCII after
 * it, and an apostrophe that does not end the chunk ("@trump's" keeps its
 * s as a word of its own: the possessive rule is no handle's), and any
 * other connector that goes on (ascii_end says which end).  Returns as
 * url_fast does (no NOT_URL). */
static unsigned handle_fast(tok_tokenizer *t, const tok_block *b, const unsigned char *w,
                            size_t at, unsigned r, int plain, int *rc)
{
    unsigned ls[TOK_WIN / 2], le[TOK_WIN / 2], nl = 0, s = r + 1, e;
    for (;;) {
        e = s + alnum_len(b->alnum, s);
        if (e > END_MAX) return REDO;
        ls[nl] = s;
        le[nl++] = e;
        if (w[e] != '_' || !BIT(b->alnum, e + 1)) break;
        s = e + 1;
    }
    if (w[e] >= 0x80 || (w[e] == '\'' && !BIT(b->plain, e + 1))) return 0;
    const unsigned next = ascii_end(b, w, e, TOK_WIN);
    if (!next) return 0;
    /* the parts alone: the whole keeps its '@' or '#' (tok_whole_wanted) */
    for (unsigned k = 0; k < nl; k++)
        if ((*rc = tok_emit_word(t, (const char *)b->low + ls[k], le[k] - ls[k], at + ls[k],
                                 at + le[k], plain)))
            return next;
    return next;
}

/* A word with non-ASCII letters starting at w[r] (window offset; the
 * window starts at text offset `at`).  Folds it into `out` and, if it is
 * plain, emits it.  Returns the offset where scanning goes on (at most
 * TOK_WIN); 0 to give the word to the general path; REDO. */
static unsigned mixed_word(tok_tokenizer *t, const tok_block *b,
                           const unsigned char *w, size_t at, unsigned r,
                           int plain, int *rc)
{
    const unsigned char *text = (const unsigned char *)t->text;
    const unsigned char *end = text + t->len;
    /* Room for a window of ASCII copied 16 bytes at a time after FAST_MAX
     * bytes, and one more fold. */
    char out[FAST_MAX + TOK_WIN + 16 + TOK_MAX_FOLD];
    size_t o = 0;
    unsigned p = r, next;
    for (;;) {
        if (p > END_MAX) return REDO;
        /* Longer than any plain word needs: the general path cuts it. */
        if (o > FAST_MAX) return 0;
        unsigned n = alnum_len(b->alnum, p);
        if (n) {
            /* ASCII letters and digits, lower-cased in the window: copied
             * 16 bytes at a time (low has the slack). */
            for (unsigned k = 0; k < n; k += 16) memcpy(out + o + k, b->low + p + k, 16);
            o += n;
            p += n;
            if (p > END_MAX) return REDO;
        }
        unsigned c0 = w[p];
        if (c0 < 0x80) {
            if (!(next = ascii_end(b, w, p, TOK_WIN))) return 0;
            break;
        }
        /* Two-byte letters (accented Latin, Greek, Cyrillic...) whose fold
         * is themselves or a code point below U+0800, in a tight loop.  In
         * a padded window a character cut by the end of the text meets a
         * space here and is left to tok_decode below. */
        while (c0 - 0xc2u < 0x1eu) {
            unsigned c1 = w[p + 1];
            if ((c1 & 0xc0) != 0x80) break;
            uint32_t cp = ((c0 & 0x1fu) << 6) | (c1 & 0x3fu);
            uint32_t e = tok_fold_small[t->diacritics][cp];
            unsigned cls = TF_CLASS(e);
            if ((cls != TC_LETTER && cls != TC_DIGIT) || (e & (TF_COMPSECOND | TF_NZCCC)))
                break;
            if (TF_KIND(e) == FK_SAME) {
                out[o] = (char)c0;
                out[o + 1] = (char)c1;
                o += 2;
            } else if (TF_KIND(e) == FK_DELTA) {
                uint32_t f = (uint32_t)((int32_t)cp + TF_DELTA(e));
                if (f < 0x80) {
                    out[o++] = (char)f;
                } else if (f < 0x800) {
                    out[o] = (char)(0xc0 | (f >> 6));
                    out[o + 1] = (char)(0x80 | (f & 0x3f));
                    o += 2;
                } else {
                    break;
                }
            } else {
                break;
            }
            p += 2;
            if (p > END_MAX) return REDO;
            c0 = w[p];
        }
        if (b->alnum >> p & 1 || c0 < 0x80) continue;
        uint32_t cp;
        size_t k = tok_decode(text + at + p, end, &cp);
        uint32_t e = tok_fold_entry(t->diacritics, cp);
        unsigned cls = TF_CLASS(e);
        if (cls == TC_LETTER || cls == TC_DIGIT) {
            /* Composition or reordering needs utf8proc: general path. */
            if (e & (TF_COMPSECOND | TF_NZCCC)) return 0;
            o += tok_put_fold(e, cp, text + at + p, k, out + o);
            p += (unsigned)k;
            continue;
        }
        if (cls == TC_IGNORE) { /* invisible: part of the word's span */
            p += (unsigned)k;
            continue;
        }
        if (cls == TC_SEP) {
            next = p + (unsigned)k;
            break;
        }
        if (cls == TC_CJK) { /* ends the word, starts a CJK run */
            next = p;
            break;
        }
        if (cls < TC_APOS || cls > TC_HASH) return 0;
        /* A connector before a plain ASCII separator, or ’s before one
         * other than '(': the same endings as in ascii_end. */
        unsigned q = p + (unsigned)k;
        if (q + 1 >= TOK_WIN) return REDO;
        if (BIT(b->plain, q)) {
            next = q;
            break;
        }
        if (cp == 0x2019 && (w[q] | 0x20) == 's' && BIT(b->plain, q + 1) &&
            w[q + 1] != '(') {
            next = q + 1;
            break;
        }
        return 0;
    }
    /* Letters may fold to nothing: no word, which the general path
     * handles (it drops the run and keeps the chunk going). */
    if (o == 0 || o > FAST_MAX) return 0;
    *rc = tok_emit_word(t, out, o, at + r, at + p, plain);
    return next;
}

/* A run of CJK characters from text offset i, where nothing is open.  The
 * characters that fold to themselves, which is nearly all, are emitted as
 * overlapping bigrams (a lone one as a unigram) straight from the text,
 * exactly as the general path's cjk_add / cjk_end would.  At a character
 * that needs more (a mark or ignorable joining the run, a half-width or
 * composing character) the last two characters are handed to the general
 * path in t->cjk and *open is set.  Returns where the run (or the handled
 * part of it) ends. */
static size_t cjk_run(tok_tokenizer *t, size_t i, int *rc, int *open)
{
    const unsigned char *s = (const unsigned char *)t->text;
    const unsigned char *end = s + t->len;
    size_t p2 = 0, p1 = 0, l1 = 0, count = 0; /* the last two characters */
    *open = 0;
    while (s + i < end && s[i] >= 0x80) {
        uint32_t cp;
        size_t k = tok_decode(s + i, end, &cp);
        uint32_t e = tok_fold_entry(t->diacritics, cp);
        unsigned cls = TF_CLASS(e);
        if (cls == TC_CJK && TF_KIND(e) == FK_SAME && !(e & TF_COMPSECOND)) {
            if (count >= 2) {
                tok_token tk = {.term = (const char *)s + p2, .len = (uint32_t)(p1 + l1 - p2),
                                .pos = t->pos++, .start = p2, .end = p1 + l1};
                if ((*rc = t->emit(t->ctx, &tk))) {
                    t->stop = *rc;
                    return i;
                }
            }
            p2 = p1;
            p1 = i;
            l1 = k;
            count++;
            i += k;
            continue;
        }
        if (cls != TC_MARK && cls != TC_IGNORE && cls != TC_CJK) break;
        if (count) {
            for (size_t q = count >= 2 ? 2 : 1; q >= 1; q--) {
                tok_cjk_char *c = &t->cjk[(count - q) & 1];
                c->start = q == 2 ? p2 : p1;
                c->end = q == 2 ? p1 : p1 + l1;
                c->len = (uint32_t)(c->end - c->start);
                c->slow = 0;
                memcpy(c->fold, s + c->start, c->len);
            }
            t->cjk_count = count;
            *open = 1;
        }
        return i;
    }
    if (count) {
        size_t a = count == 1 ? p1 : p2;
        tok_token tk = {.term = (const char *)s + a, .len = (uint32_t)(p1 + l1 - a),
                        .pos = t->pos++, .start = a, .end = p1 + l1};
        if ((*rc = t->emit(t->ctx, &tk))) t->stop = *rc;
    }
    return i;
}

/* Emits the plain words from text offset i on (where nothing is open);
 * returns the offset of the first chunk the general path must take (with
 * nothing open there either), or t->len.  *rc is set when the callback
 * stops the run or on allocation failure.  Compiled three times (below):
 * with SCAN_AVX2 or SCAN_AVX512 the scanner calls that classifier
 * directly and may use BMI1 and BMI2 (one instruction to clear the lowest
 * bit of a mask, shifts without the count in cl), which nearly every AVX2
 * CPU has; tok_scanner checks, once per tokenizer.  (Inlining the
 * classifier too gave fewer instructions but no more speed.) */
enum { SCAN_ANY, SCAN_AVX2, SCAN_AVX512 };

/* The callback (or the batch's) said stop with e: the run ends there. */
static inline size_t scan_stopped(tok_tokenizer *t, int *rc, int e, uint32_t pos)
{
    *rc = e;
    t->pos = pos;
    t->stop = e;
    return t->len;
}

static inline __attribute__((always_inline)) size_t
fast_scan(tok_tokenizer *t, size_t i, int *rc, const int isa)
{
    const unsigned char *text = (const unsigned char *)t->text;
    const size_t len = t->len;
    const int plain = !(t->flags & (TOK_STEM_EN | TOK_STOPWORDS_EN));
    tok_block b;
    unsigned char pad[TOK_WIN];
    size_t at = i;
    *rc = 0;
    while (at < len) {
        const unsigned char *w = text + at;
        size_t avail = len - at;
        /* Half a kilobyte ahead: a lane reads its batch's text for the
         * first time here, and the caller's thread wrote it on another
         * core, so every line was a miss the hardware did not fetch ahead
         * (classify_avx512 took 16.5 ms of a two-thread build of
         * corpus/cache/all.jsonl, 6.2 ms with this). */
        if (avail > 8 * TOK_WIN) __builtin_prefetch(w + 8 * TOK_WIN);
        /* The tail is padded with spaces: they end a word just as the
         * end of the text does. */
#if TOK_X86
        if (isa == SCAN_AVX512) {
            if (avail < TOK_WIN) {
                classify_avx512_tail(w, (unsigned)avail, &b, pad);
                w = pad;
            } else {
                classify_avx512(w, &b);
            }
        } else
#endif
        {
            if (avail < TOK_WIN) {
                memcpy(pad, w, avail);
                memset(pad + avail, ' ', TOK_WIN - avail);
                w = pad;
            }
#if TOK_X86
            if (isa == SCAN_AVX2) classify_avx2(w, &b);
            else
#endif
                t->classify(w, &b);
        }
        /* Word starts and ends (the byte after a word), for the words that
         * end inside the window. */
        const uint64_t alnum = b.alnum, not_plain = ~b.plain;
        /* Connectors (or '[') followed by a plain separator ("word, "). */
        const uint64_t conn_end = ~alnum & not_plain & ~b.high & (b.plain >> 1);
        const uint64_t end_ok = (b.plain | conn_end) & ~b.brk;
        const uint64_t ends = ~alnum & (alnum << 1);
        const uint64_t starts = ends ? alnum & ~(alnum << 1) &
                                           ((1ull << (63 - __builtin_clzll(ends))) - 1)
                                     : 0;
        /* Bytes that end a run of plain words: any byte between words that
         * is not a plain separator, except a connector ending a word before
         * one ("word, "), and the byte after a word that is no plain ending
         * ('(' of "(s)", '[', a joining connector).  A word can be emitted
         * in the tight loop below iff none lies from where scanning stands
         * to its end, so each pass needs one mask, not a test per word. */
        uint64_t stop = ~alnum & ((not_plain & ~(conn_end & (alnum << 1))) |
                                  ((alnum << 1) & ~end_ok));
        /* "www." before a separator may still be a URL ("www. x" is not,
         * but the general path decides): a word of exactly three letters
         * ending at a connector that ends a word. */
        for (uint64_t c3 = conn_end & (alnum << 1) & (alnum << 2) & (alnum << 3) &
                           ~(alnum << 4);
             c3; c3 &= c3 - 1) {
            unsigned x = (unsigned)__builtin_ctzll(c3);
            if (w[x] == '.' && is_www(&b, x - 3, x)) stop |= 1ull << x;
        }
        unsigned r = 0;
        for (;;) {
            if (plain) {
                /* The common case in a tight loop: the words after r up to
                 * the first stopping byte.  The k-th start after r pairs
                 * with the k-th end after r.  At r itself any byte but a
                 * plain separator stops (a connector there is not one that
                 * ended a word of this loop). */
                const uint64_t sm = (stop | (not_plain & ~alnum & (1ull << r))) & (~0ull << r);
                /* Below the first stop (all if none): (x & -x) - 1, no
                 * branch; whether there is a stop is as unpredictable as
                 * the text. */
                uint64_t en = ends & ((~0ull << r) << 1) & ((sm & -sm) - 1);
                if (en && t->batch) {
                    /* The same words into tok_run_batch's batch, with no
                     * call per word.  low has 16 bytes of slack past the
                     * window, so one fixed-size copy takes a word of up
                     * to 16 bytes. */
                    uint64_t st = starts & (~0ull << r);
                    const char *const low = (const char *)b.low;
                    const unsigned last = 63u ^ (unsigned)__builtin_clzll(en);
                    tok_batch *const bt = t->batch;
                    uint32_t pos = t->pos, n = bt->n, used = bt->used;
                    do {
                        const uint64_t ws = (uint64_t)__builtin_ctzll(st) & 63;
                        const uint64_t we = (uint64_t)__builtin_ctzll(en) & 63;
                        const uint32_t wl = (uint32_t)(we - ws);
                        char *const d = bt->bytes + used;
                        memcpy(d, low + ws, 16);
                        if (__builtin_expect(wl > 16, 0)) memcpy(d + 16, low + ws + 16, wl - 16);
                        bt->off[n] = used;
                        bt->len[n] = wl;
                        bt->pos[n] = pos++;
                        n++;
                        used += wl;
                        if (__builtin_expect(n == TOK_BATCH_MAX || used > TOK_BATCH_FULL, 0)) {
                            bt->n = n;
                            bt->used = used;
                            int e = tok_batch_flush(t);
                            n = used = 0;
                            if (e) return scan_stopped(t, rc, e, pos);
                        }
                        st &= st - 1;
                        en &= en - 1;
                    } while (en);
                    bt->n = n;
                    bt->used = used;
                    t->pos = pos;
                    r = last + (unsigned)BIT(conn_end, last);
                } else if (en) {
                    uint64_t st = starts & (~0ull << r);
                    const tok_emit_fn emit = t->emit;
                    void *const ctx = t->ctx;
                    const char *const low = (const char *)b.low;
                    uint32_t pos = t->pos;
                    /* 64-bit offsets: no sign extension in the loop; the
                     * status is stored only when the callback stops.  The
                     * last word's end is taken before the loop, so no end
                     * lives across the callback and the window's base stays
                     * in a register (gcc spills it otherwise), and the
                     * position is stored before it is incremented (a copy
                     * fewer); the callback itself stays in a register: a
                     * call through t->emit measured slower. */
                    const unsigned last = 63u ^ (unsigned)__builtin_clzll(en);
                    tok_token tk;
                    do {
                        const uint64_t ws = (uint64_t)__builtin_ctzll(st) & 63;
                        const uint64_t we = (uint64_t)__builtin_ctzll(en) & 63;
                        tk.term = low + ws;
                        tk.len = (uint32_t)(we - ws);
                        tk.pos = pos;
                        pos++;
                        tk.start = at + ws;
                        tk.end = at + we;
                        int e = emit(ctx, &tk);
                        if (__builtin_expect(e != 0, 0)) return scan_stopped(t, rc, e, pos);
                        st &= st - 1;
                        en &= en - 1;
                    } while (en);
                    t->pos = pos;
                    r = last + (unsigned)BIT(conn_end, last);
                }
                if (!sm) {
                    /* Nothing stopped the loop: what is left after r is
                     * plain separators and at most a word cut by the end
                     * of the window.  On to it, or to the next window,
                     * without the dispatch below.  (The padding of the
                     * last window has no letters: past avail, the text is
                     * done.)  Whether a word is cut is as likely as not,
                     * so no branch on it: with bit 63 forced the bit scan
                     * needs no test for zero, and an empty rest adds one
                     * (63 + 1 = TOK_WIN). */
                    const uint64_t rest = alnum & (~0ull << r);
                    r = (unsigned)__builtin_ctzll(rest | 1ull << 63) + (rest == 0);
                    if (r >= avail) return len;
                    if (r == 0) return at; /* longer than a window */
                    break;
                }
            }
            /* Plain separators up to the next thing to look at. */
            uint64_t np = ~(b.plain >> r);
            r = np ? r + (unsigned)__builtin_ctzll(np) : TOK_WIN;
            if (r >= avail) return len;
            if (r > END_MAX) break;
            unsigned c = w[r], next;
            if (BIT(b.alnum, r)) {
                unsigned we = r + alnum_len(b.alnum, r);
                if (we > END_MAX) {
                    if (r == 0) return at; /* longer than a window */
                    break;
                }
                next = NOT_URL;
                if ((w[we] == ':' || w[we] == '.') && maybe_url(&b, r, we))
                    next = url_fast(t, &b, w, at, r, we, plain, rc);
                if (next != NOT_URL) {
                    /* A URL, decided or left to the general path. */
                } else if (w[we] >= 0x80) {
                    next = mixed_word(t, &b, w, at, r, plain, rc);
                } else {
                    next = ascii_end(&b, w, we, r);
                    if (next) {
                        if ((*rc = tok_emit_word(t, (const char *)b.low + r, we - r,
                                             at + r, at + we, plain)))
                            return len;
                    } else {
                        next = ascii_chunk(t, &b, w, at, r, we, plain, rc);
                        if (!next) next = ascii_atoms(t, &b, w, at, r, we, plain, rc);
                    }
                }
            } else if (c >= 0x80) {
                uint32_t cp;
                size_t k = tok_decode(text + at + r, text + len, &cp);
                unsigned cls = TF_CLASS(tok_fold_entry(t->diacritics, cp));
                if (cls == TC_LETTER || cls == TC_DIGIT) {
                    next = mixed_word(t, &b, w, at, r, plain, rc);
                } else if (cls == TC_CJK) {
                    int open;
                    size_t e = cjk_run(t, at + r, rc, &open);
                    if (*rc) return len;
                    if (open || e == at + r) return e;
                    at = e;
                    goto rewindow;
                } else if (cls == TC_SEP || cls == TC_IGNORE || cls == TC_LBRACKET ||
                           (cls >= TC_APOS && cls <= TC_COMMA)) {
                    /* With nothing open these only separate (a connector
                     * cannot start a chunk); @ # marks and CJK open
                     * something. */
                    next = r + (unsigned)k;
                } else {
                    next = 0;
                }
            } else if (c == '[') {
                size_t e = tok_editorial_end(t->text, at + r, len);
                if (e) {
                    at = e;
                    goto rewindow;
                }
                next = r + 1;
            } else if (c == '@' || c == '#') {
                /* A handle or tag, unless nothing follows the prefix. */
                if (BIT(b.alnum, r + 1))
                    next = handle_fast(t, &b, w, at, r, plain, rc);
                else
                    next = BIT(b.plain, r + 1) ? r + 2 : 0;
            } else {
                /* A connector cannot start a chunk, nor can the ones after
                 * it ("-----", "__init"): on to the first byte that may. */
                next = r + 1;
                while (next < TOK_WIN) {
                    unsigned d = w[next];
                    if (!(d == '-' || d == '_' || d == '.' || d == '\'' || d == '/' ||
                          d == ':' || d == ','))
                        break;
                    next++;
                }
            }
            if (*rc) return len;
            if (next == 0) return at + r;
            if (next == REDO) {
                /* The word reaches past the window: look again from its
                 * start, unless it already is at the start. */
                if (r == 0) return at;
                break;
            }
            if (next >= TOK_WIN) {
                r = TOK_WIN;
                break;
            }
            r = next;
        }
        at += r;
    rewindow:;
    }
    return len;
}

#if TOK_X86
__attribute__((target("avx2,bmi,bmi2"))) static size_t fast_scan_avx2(tok_tokenizer *t,
                                                                     size_t i, int *rc)
{
    return fast_scan(t, i, rc, SCAN_AVX2);
}

/* AVX-512 only in the classifier: the scanner is the AVX2 one, whose code
 * the wider registers would not shorten. */
__attribute__((target("avx2,bmi,bmi2"))) static size_t fast_scan_avx512(tok_tokenizer *t,
                                                                       size_t i, int *rc)
{
    return fast_scan(t, i, rc, SCAN_AVX512);
}
#endif

static size_t fast_scan_any(tok_tokenizer *t, size_t i, int *rc)
{
    return fast_scan(t, i, rc, SCAN_ANY);
}

tok_scan_fn tok_scanner(tok_classify_fn classify)
{
#if TOK_X86
    if (classify == classify_avx512) return fast_scan_avx512;
    if (classify == classify_avx2 && __builtin_cpu_supports("bmi") &&
        __builtin_cpu_supports("bmi2"))
        return fast_scan_avx2;
#endif
    (void)classify;
    return fast_scan_any;
}
