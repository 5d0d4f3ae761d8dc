/*
 * merge.h — merging segments into one (see merge.c).
 */
#ifndef QUIRE_MERGE_H
#define QUIRE_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "index/index.h"

/* Writes DIR/NAME from segs[0..n) in order, leaving out documents whose bit
 * is set in dels[i] (dels[i] may be NULL).  With threads > 1 the stored
 * documents are copied by a thread of their own while `threads` threads
 * merge the postings, sharing the terms out in runs of chunks (merge.c);
 * the file is the same whatever the threads.
 * The file is complete and fsynced on success; *ndocs_out gets its
 * document count. */
int idx_merge(const char *dir, idx_segment *const *segs, uint64_t *const *dels, size_t n,
              const char *name, uint32_t tok_flags, unsigned threads, uint32_t *ndocs_out,
              quire_error *err);

#endif
