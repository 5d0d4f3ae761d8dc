/*
 * store.h — writer of a segment's document store: records appended one at a
 * time, cut into ~16 KiB blocks, each compressed with zstd and handed to a
 * sink (the segment file being written, segw_store_put), with the block
 * index kept in memory.  Shared by the builder
 * (records made from new documents) and the merger (records copied from
 * older segments).  The record format is in segwrite.c and docs/FORMAT.md.
 */
#ifndef QUIRE_STORE_H
#define QUIRE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "quire.h"

typedef struct store_writer {
    ZSTD_CCtx *zc;
    uint8_t *raw; size_t raw_len, raw_cap;   /* the open block */
    uint8_t *zbuf; size_t zbuf_cap;
    uint32_t first_doc, ndocs_block, ndocs;
    /* compressed blocks go to the sink; out_len counts the bytes so far */
    void (*sink)(void *ctx, const void *p, size_t n);
    void *sink_ctx;
    uint64_t out_len;
    uint8_t *idx; size_t idx_len, idx_cap;   /* the STOREIDX section */
    int failed;                              /* an append ran out of memory */
} store_writer;

/* The section's bytes go to `sink` as they are made: the builder and the
 * merge write the store straight into the segment file, skipping a
 * temporary copy of the largest section.  Write errors are the sink's to
 * keep (segw_finish reports them). */
int storew_open_sink(store_writer *s, void (*sink)(void *ctx, const void *p, size_t n),
                     void *sink_ctx, quire_error *err);
/* Bytes of its buffers and compressor. */
size_t storew_mem(const store_writer *s);
/* Appends to the current record (callers write a whole record: its varint
 * length first, then its fields). */
void storew_put(store_writer *s, const void *p, size_t n);
void storew_varint(store_writer *s, uint64_t v);
/* Ends a record; compresses the block when it is full. */
int storew_end_doc(store_writer *s, quire_error *err);
/* Closes the open block, then appends an already compressed block of
 * `ndocs` records (`raw_len` bytes decompressed) unchanged: a merge copies
 * the blocks that lost no document without decompressing them. */
int storew_copy_block(store_writer *s, const uint8_t *frame, uint32_t clen,
                      uint32_t raw_len, uint32_t ndocs, quire_error *err);
/* Compresses the open block now, so that the next record starts a new one
 * (writer.c's lanes cut at batch boundaries, so that a builder that takes
 * another lane's batches writes the blocks that lane would have). */
int storew_cut(store_writer *s, quire_error *err);
/* Compresses the last block; the section is then complete. */
int storew_finish(store_writer *s, quire_error *err);
void storew_close(store_writer *s);

/* Doc numbers 0..n-1 ordered by their ids (bytewise, then by number):
 * id of doc d is ids[off[d], off[d+1]).  Returns NULL on no memory. */
uint32_t *sort_ids(const uint64_t *off, const char *ids, uint32_t n);

#endif
