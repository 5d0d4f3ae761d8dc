/*
 * snippet.h — internal: the core of qry_snippet, callable without an
 * index (the tokenizer configuration is passed instead of a reader), so
 * tests can check excerpts on literal text.
 */
#ifndef QUIRE_QUERY_SNIPPET_H
#define QUIRE_QUERY_SNIPPET_H

#include <stddef.h>
#include <stdint.h>

#include "quire.h"

/* Excerpt of text[0, len) for query q, as qry_snippet (query.h):
 *  - the text is tokenized with the index tokenizer (`tok_flags`, index
 *    mode); a match is a word that a term, prefix or fuzzy word of the
 *    query (not under NOT) matches on its own, or an occurrence of a
 *    phrase of the query (not under NOT: its words at their relative
 *    positions), one span from its first word to its last;
 *  - the window of at most `max_bytes` source bytes holding the most
 *    complete matches is chosen (the first such window on a tie), with
 *    the spare bytes split before and after the matches; max_bytes == 0
 *    means no limit;
 *  - the window is cut at whitespace when a word would otherwise be split
 *    (mid-word only when a single word is longer than the window), and
 *    "…" marks each side where text was cut;
 *  - matched spans are wrapped in open/close (NULL = ""); overlapping
 *    spans (a compound and its parts, phrases that overlap) are merged;
 *    ASCII control
 *    whitespace becomes a space;
 *  - the result is NUL-terminated in buf[cap]; when it does not fit it is
 *    truncated, never inside a UTF-8 sequence and never inside a
 *    highlighted match (a match is written with both markers or not).
 * Returns QUIRE_OK (also when nothing matched: then the excerpt is the
 * start of the text), QUIRE_EQUERY for a malformed query, QUIRE_EARG when
 * buf is NULL or cap is 0, QUIRE_ENOMEM. */
/* Added to the tok_flags of the two functions below when the text is a
 * document's title: title:word matches its words there (and nowhere
 * else).  Above every tokenizer flag. */
#define QRY_TEXT_TITLE (1u << 31)

/* The matches of query q in text[0, len), as the excerpt below marks
 * them: ascending and disjoint, in *spans (the caller frees it). */
int qry_match_spans(uint32_t tok_flags, const char *q, size_t qlen, const char *text,
                    size_t len, quire_span **spans, size_t *nspans, quire_error *err);

int qry_snippet_text(uint32_t tok_flags, const char *q, size_t qlen,
                     const char *text, size_t len, const char *open,
                     const char *close, size_t max_bytes, char *buf,
                     size_t cap, quire_error *err);

#endif
