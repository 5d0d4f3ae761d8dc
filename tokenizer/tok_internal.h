/*
 * tok_internal.h — shared between the tokenizer and its generated folding
 * table (tokenizer/fold_table.c, written by tokenizer/gen_fold.c).  The table
 * gives every code point a character class, the flags that send a word to the
 * utf8proc slow path, and its folded form (NFKC, case fold, and in the
 * "diacritics" variant also stripped marks and plain-letter folds), so the hot
 * path never calls utf8proc per character.
 */
#ifndef QUIRE_TOK_INTERNAL_H
#define QUIRE_TOK_INTERNAL_H

#include <stdint.h>

/* Character classes.  Connector classes (APOS..HASH) are the only punctuation
 * that can sit inside a word; everything in TC_SEP ends a word. */
enum {
    TC_SEP = 0,        /* space, punctuation, symbols, emoji, controls, U+FFFD */
    TC_LETTER = 1,
    TC_DIGIT = 2,
    TC_MARK = 3,       /* combining mark: extends the word it follows */
    TC_CJK = 4,        /* Han, kana, Hangul, Bopomofo: bigrammed */
    TC_IGNORE = 5,     /* default-ignorable: soft hyphen, ZWJ, selectors */
    TC_APOS = 6,       /* ' ’ ʼ ＇ */
    TC_HYPHEN = 7,     /* - ‐ ‑ */
    TC_UNDERSCORE = 8,
    TC_SLASH = 9,
    TC_DOT = 10,
    TC_COLON = 11,
    TC_COMMA = 12,
    TC_AT = 13,
    TC_HASH = 14,
    TC_LBRACKET = 15   /* '[' may open an editorial insertion */
};

/* Entry layout (uint32_t):
 *   bits 0-3   class
 *   bit  4     TF_COMPSECOND: the character (or its fold) can compose with
 *              the one before it, so the word needs real NFKC
 *   bit  5     TF_NZCCC: non-zero canonical combining class; two in a row may
 *              need canonical reordering, so the word needs real NFKC
 *   bits 6-7   fold kind (FK_*)
 *   bits 8-31  payload: FK_DELTA signed code point delta; FK_POOL offset
 *              (bits 8-23) and length (bits 24-31) into tok_fold_pool */
#define TF_CLASS(e) ((e) & 15u)
#define TF_COMPSECOND (1u << 4)
#define TF_NZCCC (1u << 5)
#define TF_KIND(e) (((e) >> 6) & 3u)
enum { FK_SAME = 0, FK_DELTA = 1, FK_POOL = 2, FK_EMPTY = 3 };
#define TF_DELTA(e) ((int32_t)(e) >> 8)
#define TF_POOL_OFF(e) (((e) >> 8) & 0xffffu)
#define TF_POOL_LEN(e) ((e) >> 24)

#define TOK_FOLD_SHIFT 7
#define TOK_FOLD_BLOCKS (0x110000 >> TOK_FOLD_SHIFT)

#define TOK_FOLD_SMALL 0x800

/* [0]: case fold + NFKC only; [1]: also diacritics and plain letters. */
extern const uint16_t tok_fold_stage1[2][TOK_FOLD_BLOCKS];
extern const uint32_t tok_fold_small[2][TOK_FOLD_SMALL];
extern const uint32_t tok_fold_stage2[];
extern const char tok_fold_pool[];

static inline uint32_t tok_fold_entry(int diacritics, uint32_t cp)
{
    if (cp < TOK_FOLD_SMALL) return tok_fold_small[diacritics][cp];
    return tok_fold_stage2[((uint32_t)tok_fold_stage1[diacritics]
                            [cp >> TOK_FOLD_SHIFT] << TOK_FOLD_SHIFT) |
                           (cp & ((1u << TOK_FOLD_SHIFT) - 1))];
}

#endif
