/*
 * eval.h — internal entry points of query/eval.c beyond query.h, used by
 * tests and benchmarks to check the pruned top-k against plain scoring.
 */
#ifndef QUIRE_QUERY_EVAL_H
#define QUIRE_QUERY_EVAL_H

#include <stddef.h>

#include "query/query.h"

/* qry_search without block-max pruning: every matching document is
 * scored.  Same contract and results as qry_search. */
int qry_search_exhaustive(const idx_reader *r, const char *q, size_t qlen,
                          size_t k, quire_hit *hits, size_t *nhits,
                          quire_error *err);

#endif
