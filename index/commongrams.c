/*
 * commongrams.c — the fixed list of common words behind CommonGrams.
 *
 * The list is the 40 most frequent English function words of the bundled
 * corpus (corpus/cache/all.jsonl, word counts over titles and bodies; the
 * top 40 cover about 35% of all tokens), leaving out non-words such as
 * "s", "http" and "com", most frequent first.  Common pairs
 * (QUIRE_TOK_COMMONPAIRS) use only the first 12: pairs of any two of the
 * 40 are 0.098 bigram positions per token of that corpus, 11% more
 * postings and positions, which would break the index size budget; pairs
 * of the first 12 are 0.041 per token, 4.6% more, and include the pairs
 * of the most frequent words, whose phrases took 50 to 100 ms to check on
 * positions on the 1 GiB corpus ("of the", "and the", "to the", "in the",
 * "that the", "it is", "to be").  Pairs with a word further down ("with
 * the", "on the": about 60 ms on a loaded machine) are still checked on
 * positions.
 * The list is part of the index format: an index built
 * with QUIRE_TOK_COMMONGRAMS holds bigrams for exactly these words, so
 * changing the list would make phrase queries on older indexes miss
 * bigrams that were never written.  Change it only together with a new
 * tokenizer flag.
 *
 * The words are matched against tokenizer output, i.e. after case folding
 * and, in stemmed indexes, after stemming (Snowball leaves all of these
 * words as they are).  With stop-word removal most of them never reach
 * the index and so pair with nothing.  A miss would cost speed only,
 * never correctness, because builder and planner apply the same test to
 * the same terms.
 */
#include "index/commongrams.h"

#include <string.h>

static const char *const common_words[] = {
    "the", "of", "and", "to", "in", "a", "that", "for", "is", "it",
    "i", "be", "with", "this", "you", "by", "as", "on", "have", "not",
    "our", "we", "are", "from", "which", "will", "all", "they", "but", "at",
    "or", "was", "he", "your", "their", "his", "an", "has", "them", "my",
};

int cg_is_common(uint32_t flags, const char *term, size_t len)
{
    size_t n = 0;
    if (flags & TOK_COMMONGRAMS)
        n = sizeof common_words / sizeof common_words[0];
    else if (flags & TOK_COMMONPAIRS)
        n = CG_PAIR_WORDS;
    /* The longest word has 5 bytes; most terms are rejected here. */
    if (len == 0 || len > 5)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(common_words[i]) == len &&
            memcmp(common_words[i], term, len) == 0)
            return 1;
    return 0;
}

size_t cg_bigram(char *out, const char *a, size_t alen, const char *b,
                 size_t blen)
{
    memcpy(out, a, alen);
    out[alen] = CG_SEP;
    memcpy(out + alen + 1, b, blen);
    return alen + blen + 1;
}
