/*
 * builder.h — in-memory inversion of documents into one segment.
 * The writer (writer.c) feeds documents to a builder until its memory
 * estimate passes the budget, then flushes it to a segment file.
 */
#ifndef QUIRE_BUILDER_H
#define QUIRE_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "quire.h"
#include "tokenizer/tokenizer.h"

typedef struct idx_builder idx_builder;

/* `path` is the segment file the builder writes: created now (the stored
 * documents stream into it as they are added), complete after flush, and
 * removed when the builder is freed unflushed.  Temporary files are named
 * path + ".tmp" + a suffix. */
/* `contentless`: the store keeps each document's id only (see
 * quire_writer_options). */
int idx_builder_new(uint32_t tok_flags, int contentless, const char *path,
                    idx_builder **out, quire_error *err);
void idx_builder_free(idx_builder *b);

/* Inverts one document; returns its local doc number in *doc. */
int idx_builder_add(idx_builder *b, const quire_doc_input *d, uint32_t *doc,
                    quire_error *err);
uint32_t idx_builder_ndocs(const idx_builder *b);
/* Bytes of memory that grow with the documents, and that the flush will
 * take (what the budget is compared with; see builder.c). */
size_t idx_builder_mem(const idx_builder *b);
/* Bytes of the builder's buffers and scratch, which a flush keeps. */
size_t idx_builder_fixed_mem(const idx_builder *b);
/* Of a renewed builder with no document yet: gives back pages its last
 * segments wrote until idx_builder_mem is at most `keep`, where it can. */
void idx_builder_trim(idx_builder *b, size_t keep);
/* Gives back the pool pages a renewed builder kept that its segment has
 * not reached (counted in idx_builder_mem all the same); returns whether
 * there were any. */
int idx_builder_release(idx_builder *b);

/* Ends the open block of the document store: the next document starts a
 * new one. */
int idx_builder_cut_store(idx_builder *b, quire_error *err);

/* Writes the segment as an older format (segw_set_version: 4, whose skip
 * entries a reader before version 5 knows) until renewed; before the
 * flush.  0, or -1 for a version it cannot write. */
int idx_builder_set_version(idx_builder *b, uint32_t version);

/* Completes the segment file (fsynced) with what was added.  The builder
 * is spent afterwards: only _renew and _free are valid. */
int idx_builder_flush(idx_builder *b, quire_error *err);

/* The most builders one joint flush takes. */
#define MAX_JOINT 128

/* Completes one segment with the documents of b[0], then those of b[1],
 * ..., b[n - 1] (none empty, n <= MAX_JOINT), written by min(threads, n)
 * threads (the caller's and the rest of its own) at b[0]'s path; the
 * other builders' files are removed.  The file is the same for any number
 * of threads.  Every builder is spent afterwards, as after
 * idx_builder_flush. */
int idx_builder_flush_joint(idx_builder *const *b, size_t n, size_t threads,
                            quire_error *err);

/* Makes a flushed builder empty again, writing a new segment at `path`
 * (as _new would), with the same tokenizer flags.  Its memory is kept, so
 * the next segment does not fault in and zero its pages again.  On error
 * the builder is spent. */
int idx_builder_renew(idx_builder *b, const char *path, quire_error *err);

/* Tokenizes the title and body the way the builder does, so tests and the
 * query side agree on positions: title from 0, body from the title's next
 * position + 1 when the title had terms (a gap no phrase can bridge). */
uint32_t idx_body_first_pos(uint32_t title_next_pos);

#endif
