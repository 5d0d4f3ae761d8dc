/*
 * query.h — the query layer: parses query text into an AST, plans it
 * against an index reader (query words go through the index's own
 * tokenizer in query mode), evaluates it document-at-a-time over every
 * segment and collects an exact count or the BM25 top-k.
 *
 * Scoring (k1 = 1.2, b = 0.75, statistics from idx_reader_*):
 *   idf(t)   = ln(1 + (N - df + 0.5) / (df + 0.5))
 *   sat(f,d) = f * (k1 + 1) / (f + k1 * (1 - b + b * d / avgdl))
 *   term t in doc d:       idf(t) * sat(tf, len(d))
 *   phrase p in doc d:     (sum of idf of its terms) * sat(phrase freq, len)
 *   AND / OR:              sum of the scores of the matching children
 *   NOT / -x:              contributes nothing
 * Documents with equal scores are ordered by ascending doc number.
 */
#ifndef QUIRE_QUERY_H
#define QUIRE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "quire.h"
#include "index/index.h"

/* BM25 top-k.  hits must hold k entries; *nhits receives how many were
 * filled, best first. */
int qry_search(const idx_reader *r, const char *q, size_t qlen, size_t k,
               quire_hit *hits, size_t *nhits, quire_error *err);

/* Exact number of live matching documents. */
int qry_count(const idx_reader *r, const char *q, size_t qlen,
              uint64_t *count, quire_error *err);

/* A time limit: `seconds` from the call (0: none), on `clock` (NULL:
 * CLOCK_MONOTONIC, in ns), which tests replace with a count of its reads
 * (as Lucene's TimeLimitingCollector takes a Counter) to stop a search at
 * a chosen point. */
typedef struct qry_limit {
    double seconds;
    uint64_t (*clock)(void *ctx);
    void *clock_ctx;
} qry_limit;

/* qry_search (field NULL), or with field[0, flen) the k matches with the
 * highest (descending) or lowest value of that stored field
 * (index/values.h), best first, ties and documents without a value (last)
 * in ascending doc order, each hit's score its value (NaN for none); under
 * a time limit (NULL: none): once it has passed, the search stops and
 * returns the best of the documents it looked at, and *partial is 1 (else
 * 0). */
int qry_search_ex(const idx_reader *r, const char *q, size_t qlen, size_t k,
                  const char *field, size_t flen, int descending, const qry_limit *lim,
                  quire_hit *hits, size_t *nhits, int *partial, quire_error *err);

/* qry_count under a time limit, as qry_search_ex: a count stopped by it
 * is of the documents looked at, and *partial is 1. */
int qry_count_ex(const idx_reader *r, const char *q, size_t qlen, const qry_limit *lim,
                 uint64_t *count, int *partial, quire_error *err);

/* quire_suggest (suggest.c). */
int qry_suggest(const idx_reader *r, const char *q, size_t qlen, const char *open,
                const char *close, char *buf, size_t cap, size_t *replaced, quire_error *err);

#endif
