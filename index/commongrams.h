/*
 * commongrams.h — the common-word list and bigram terms of CommonGrams
 * (QUIRE_TOK_COMMONGRAMS), shared by the index builder and the query
 * planner so both sides always agree on which pairs are indexed.
 *
 * In an index built with TOK_COMMONGRAMS, every pair of terms at adjacent
 * positions p, p + 1 of one field where either term is common is also
 * indexed as the bigram term "first\x1fsecond" at position p; with
 * TOK_COMMONPAIRS (the default) only the pairs where both are among the
 * CG_PAIR_WORDS most common.  A phrase
 * query then iterates the (much rarer) bigrams instead of the posting and
 * position lists of two very frequent words.  See docs/FORMAT.md and
 * docs/QUERY.md.
 */
#ifndef QUIRE_INDEX_COMMONGRAMS_H
#define QUIRE_INDEX_COMMONGRAMS_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* Separates the two words of a bigram term.  The tokenizer never emits
 * control characters, so a bigram can never collide with a real term. */
#define CG_SEP '\x1f'

/* Common pairs pair only the first (most frequent) words of the list. */
#define CG_PAIR_WORDS 12

/* 1 if `term` (a tokenizer output term) is a common word for the bigram
 * rule of tokenizer flags `flags`: one of the 40 with TOK_COMMONGRAMS,
 * one of the first CG_PAIR_WORDS with only TOK_COMMONPAIRS, none
 * without either. */
int cg_is_common(uint32_t flags, const char *term, size_t len);

/* Whether adjacent terms a, b (a first) are also indexed as their bigram
 * under tokenizer flags `flags`, given which of them are common words:
 * with TOK_COMMONGRAMS when either is, with TOK_COMMONPAIRS when both
 * are.  The builder and the planner both decide through this function. */
static inline int cg_paired(uint32_t flags, int a_common, int b_common)
{
    if (flags & TOK_COMMONGRAMS)
        return a_common || b_common;
    if (flags & TOK_COMMONPAIRS)
        return a_common && b_common;
    return 0;
}

/* Writes the bigram term of a and b into out (room for alen + blen + 1
 * bytes) and returns its length. */
size_t cg_bigram(char *out, const char *a, size_t alen, const char *b,
                 size_t blen);

#endif
