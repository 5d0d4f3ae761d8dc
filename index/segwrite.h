/*
 * segwrite.h — encodes posting lists into the segment block format and
 * assembles the segment file.  Used by the builder at flush time and by
 * the merge: terms arrive in bytewise order, each with its postings in doc
 * order.
 */
#ifndef QUIRE_SEGWRITE_H
#define QUIRE_SEGWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "index/dict.h"
#include "index/fileio.h"
#include "index/segment.h"

/* pos_buf's room past a block (see there) */
#define SEGW_POS_SLACK 64

struct segw_file;

typedef struct seg_writer {
    char *path;
    struct segw_file *file;        /* the segment file, from segw_store_begin */
    sec_out docs, skip, pos;
    dict_builder dict;
    const uint32_t *norms;
    uint32_t ndocs;
    double len_scale;              /* b / average length (segw_set_norms) */
    const uint8_t *values; size_t values_len;   /* segw_set_values */

    /* the term being written */
    const uint8_t *term; size_t term_len;
    idx_term cur;
    uint32_t nposted;              /* postings seen so far */
    uint64_t docs_start, pos_start;
    uint32_t blk_docs[128], blk_tfs[128], blk_n;
    uint32_t blk_docs_off;         /* docs bytes of the term at block start */
    uint64_t blk_pos_k, blk_pos_off;
    uint32_t prev_doc;             /* last doc of the previous block, or NONE */
    /* position gaps waiting for a block, and room past a block's for a
     * doc's gaps read before the doc is given (builder.c) */
    uint32_t pos_buf[128 + SEGW_POS_SLACK], pos_n;
    uint64_t pos_count;            /* positions in the term's written blocks */
    uint64_t tf_sum;               /* sum of the term's tfs so far */
    uint32_t *pending; uint32_t pending_n; size_t pending_cap;
    int has_pending;
    int cut;                       /* the term's list has short blocks */
    /* the term's skip entries, written as one table at its end */
    struct segw_skip { uint32_t v[4]; uint8_t imp[4]; } *sk;
    uint32_t sk_n; size_t sk_cap;
    uint8_t *sk_buf; size_t sk_buf_cap;   /* the table, built whole */
    int sk_failed;                 /* out of memory for them */
    uint32_t version;              /* of the file: SEG_VERSION unless set */

    /* a writer of the last terms for another (segw_record_terms) keeps its
     * dictionary entries as a list, term bytes in rec_bytes */
    int record;
    struct segw_rec { uint64_t term_off; size_t term_len; idx_term e; } *recs;
    size_t nrecs, recs_cap;
    uint8_t *rec_bytes; size_t rec_len, rec_cap;
    struct seg_writer *tail;       /* the next writer joined (segw_join) */
    int pos_direct;                /* POS goes straight into the file */
} seg_writer;

/* Writes the file as format `version` instead of SEG_VERSION: 4 (skip
 * entries of 20 bytes, for a reader that knows no later version) or the
 * current one; before the first term.  0, or -1 for another version. */
int segw_set_version(seg_writer *w, uint32_t version);
/* Bytes of the buffers an open writer holds, whatever it writes. */
size_t segw_buffer_mem(void);
int segw_open(seg_writer *w, const char *path, const char *tmp_prefix,
              quire_error *err);
/* The segment's document lengths, and their sum, which places the
 * impacts of its skip entries (segment.h). */
void segw_set_norms(seg_writer *w, const uint32_t *norms, uint32_t ndocs, uint64_t total_len);
/* The VALUES section's bytes (val_set_encode), kept by the caller until
 * segw_finish; none (len 0) leaves the section out. */
void segw_set_values(seg_writer *w, const uint8_t *values, size_t len);
int segw_term_begin(seg_writer *w, const uint8_t *term, size_t len,
                    uint32_t df, uint64_t cf, quire_error *err);
/* Adds a posting and returns room for its tf absolute positions, to be
 * filled by the caller before the next call; NULL when out of memory. */
uint32_t *segw_posting(seg_writer *w, uint32_t doc, uint32_t tf);

/* The same without a copy, for callers that have the position gaps:
 * segw_doc, then segw_pos_gap once per position of that posting (the
 * first position as itself, the others as the difference from the one
 * before).  A term uses either these two or segw_posting, not both. */
void segw_doc_block_(seg_writer *w);
/* Ends the block being filled (a short block, SEG_SHORT_BLOCK) and pads
 * the positions to a block boundary, so that the blocks of another list
 * can be copied after it (merge.c); only for lists of more than 128
 * postings, which have skip entries to say where blocks start. */
void segw_cut(seg_writer *w);
void segw_pos_block_(seg_writer *w);
static inline void segw_doc(seg_writer *w, uint32_t doc, uint32_t tf)
{
    if (w->blk_n == 0) {
        w->blk_docs_off = (uint32_t)(w->docs.len - w->docs_start);
        w->blk_pos_k = w->pos_count + w->pos_n;
        /* the block holding that position is the one being filled, which
         * starts where the term's written position bytes end */
        w->blk_pos_off = w->pos.len - w->pos_start;
    }
    /* a skip entry (only lists longer than a block have them) reads the
     * norms of its block's docs: a cache miss each, unless fetched now */
    if (w->cur.df > 128) __builtin_prefetch(&w->norms[doc < w->ndocs ? doc : 0]);
    w->blk_docs[w->blk_n] = doc;
    w->blk_tfs[w->blk_n] = tf;
    w->tf_sum += tf;
    w->nposted++;
    if (++w->blk_n == 128) segw_doc_block_(w);
}
static inline void segw_pos_gap(seg_writer *w, uint32_t gap)
{
    w->pos_buf[w->pos_n] = gap;
    if (++w->pos_n == 128) segw_pos_block_(w);
}
int segw_term_end(seg_writer *w, quire_error *err);

/* Blocks encoded elsewhere, for a merge that copies them (merge.c): only
 * at a block boundary of the term's postings (blk_n == 0), resp. of its
 * positions (pos_n == 0), and only bytes that are what segw_doc and
 * segw_pos_gap would have encoded.  segw_doc_block_copy appends a full doc
 * block, PFOR of its gaps then PFOR of its tf - 1, with what its skip
 * entry needs and the bytes do not tell without decoding: its last doc,
 * the sum of its tfs, its first position's index and the offset of the
 * position block holding it (both relative to the term, as in the skip
 * entry), and the entry's last 4 bytes (max tf, min length).  n is its
 * postings: a short block (n < 128, SEG_SHORT_BLOCK and all) is passed
 * whole as gaps, with no tfs, and makes the list one with short blocks.
 * segw_pos_blocks_copy appends nblocks full position blocks. */
void segw_doc_block_copy(seg_writer *w, const uint8_t *gaps, size_t gaps_len,
                         const uint8_t *tfs, size_t tfs_len, uint32_t n, uint32_t last_doc,
                         uint64_t tf_sum, uint64_t pos_k, uint64_t pos_off,
                         const uint8_t bounds[4]);
void segw_pos_blocks_copy(seg_writer *w, const uint8_t *p, size_t len, uint64_t nblocks);

/* Splitting a segment's terms between writers, to write them in several
 * threads: each writer after the first, set to record its terms before
 * its first one, takes terms after all of the writer's before it.  Once
 * all have written all their terms, segw_join(first, next) for each next
 * writer in order adds its terms to the first's dictionary (offsets moved
 * past the sections before), and the first's segw_finish appends the
 * others' docs, skip and pos sections after its own: the file is the
 * same, byte for byte, as one writer would have written.  The others must
 * stay open until then. */
void segw_record_terms(seg_writer *w);
int segw_join(seg_writer *w, seg_writer *tail, quire_error *err);

/* The file is written in two steps.  segw_store_begin creates it and
 * starts its STORE section, the first; the caller then appends the
 * section's bytes with segw_store_put(w, bytes, n) (a store_writer sink).
 * That touches nothing the posting calls above use,
 * so the store may be written by another thread while postings are added
 * (the merge does).  segw_finish then ends the store and writes every
 * other section, the footer and the trailer, and fsyncs the file. */
int segw_store_begin(seg_writer *w, quire_error *err);
void segw_store_put(void *w, const void *p, size_t n);
/* While the store is open: writes out what is buffered, so that the file
 * at w->path holds the STORE section's bytes so far, from *start on (a
 * joint flush copies them into another segment). */
int segw_store_sync(seg_writer *w, uint64_t *start, quire_error *err);
/* While the store is open: the file offset its next byte will take. */
uint64_t segw_store_end(const seg_writer *w);
/* Right after segw_store_begin: the STORE section's bytes go past the
 * page cache (pwrite_uncached), for a segment whose store nobody is about
 * to read whole (queries fetch one block per document shown). */
void segw_store_uncached(seg_writer *w);
/* Once the whole store is written: ends it and writes STOREIDX, NORMS
 * (those of segw_set_norms) and IDS right after it, so that segw_finish
 * has less left to write (the merge calls it from its store thread;
 * segw_finish then ignores its own storeidx and ids arguments).  The
 * file then has its sections in the order STORE STOREIDX NORMS IDS POS
 * META DICT DICTIDX DOCS SKIP. */
int segw_store_extras(seg_writer *w, const uint8_t *storeidx, size_t storeidx_len,
                      const uint32_t *ids_sorted, const uint64_t *id_off,
                      const char *ids, quire_error *err);
/* Once the whole store (and its extras, if any) is written and before the
 * first term: ends the store, and the positions (the largest section
 * after the store) go straight into the file after it instead of into a
 * temporary file that segw_finish would copy. */
int segw_pos_direct(seg_writer *w, quire_error *err);
/* Where POS starts when the store is store_len bytes with storeidx_len
 * bytes of index, followed by segw_store_extras for ndocs documents
 * whose ids take ids_len bytes. */
uint64_t segw_pos_offset(uint64_t store_len, uint64_t storeidx_len, uint32_t ndocs,
                         uint64_t ids_len);
/* The same as segw_pos_direct before the store is complete, when its size
 * is known in advance: positions go to the file at `off` (from
 * segw_pos_offset), with positional writes, while another thread writes
 * the store and its extras.  segw_finish fails if they ended elsewhere. */
int segw_pos_at(seg_writer *w, uint64_t off, quire_error *err);
int segw_finish(seg_writer *w, const seg_meta *meta, const uint8_t *storeidx,
                size_t storeidx_len, const uint32_t *ids_sorted,
                const uint64_t *id_off, const char *ids, quire_error *err);
/* Frees temporaries after a successful finish. */
void segw_close(seg_writer *w);
/* Frees temporaries and removes the partial segment file. */
void segw_abort(seg_writer *w);

#endif
