/*
 * index.h — the index layer's interface to the layers above (query/, the
 * public API).  It reads committed generations of an index directory:
 * MANIFEST, mmapped segment files, deletion bitmaps; looks terms up in the
 * dictionary and iterates posting lists document-at-a-time with skipping.
 * It knows nothing of query syntax.  The on-disk format is in
 * docs/FORMAT.md and in the header comment of index/segment_write.c.
 *
 * Doc numbers here are segment-local u32s; a reader maps them to index-wide
 * numbers by adding the segment's base.
 */
#ifndef QUIRE_INDEX_H
#define QUIRE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "quire.h"

#define IDX_BLOCK 128u
#define IDX_END 0xFFFFFFFFu   /* iterator exhausted */

typedef struct idx_segment idx_segment;
typedef struct idx_reader idx_reader;

/* Dictionary entry of one term in one segment. */
typedef struct idx_term {
    uint32_t df;          /* documents containing the term */
    uint64_t cf;          /* total occurrences */
    uint64_t docs_off;    /* byte offset of its doc/freq blocks in "docs" */
    uint64_t pos_off;     /* byte offset of its positions in "pos" */
    uint64_t skip_off;    /* byte offset of its skip entries in "skip";
                             meaningful only when df > IDX_BLOCK */
    uint32_t single_doc;  /* df == 1: the document, kept in the dictionary
                             (docs_off is then meaningless) */
    uint32_t single_pos;  /* cf == 1: the position, likewise (pos_off is
                             then meaningless) */
    uint32_t cut_blocks;  /* a list with short blocks (SEG_SHORT_BLOCK): its
                             number of blocks; 0 for a list of df / 128
                             full blocks and a tail */
} idx_term;

/* Blocks of the term's posting list (skip entries when df > IDX_BLOCK). */
static inline uint32_t idx_term_blocks(const idx_term *t)
{
    return t->cut_blocks ? t->cut_blocks : (t->df + IDX_BLOCK - 1) / IDX_BLOCK;
}

/* ---- reader: one committed generation of an index directory ---------- */

/* How section checksums are checked when a segment is opened (store
 * blocks are checked by zstd as they are read, whatever the mode). */
enum {
    SEG_VERIFY_NONE = 0,   /* segments this process wrote */
    SEG_VERIFY_ALL = 1,    /* every section at open: writers, merges */
    /* searching: every section at open but the positions and the ids,
     * which are checked the first time they are read (idx_segment_sum_ok):
     * a term or boolean query never reads positions, a search never reads
     * ids, and on corpus/cache/big.jsonl they are 228 of the 373 MB that
     * every `quire search` hashed before answering */
    SEG_VERIFY_LAZY = 2,
};

/* Opens the generation named by DIR/MANIFEST.  Section
 * checksums are checked as `verify` (SEG_VERIFY_*) says; a mismatch is
 * QUIRE_ECORRUPT. */
int idx_reader_open(const char *dir, int verify, idx_reader **out,
                    quire_error *err);
void idx_reader_close(idx_reader *r);

uint64_t idx_reader_generation(const idx_reader *r);
uint32_t idx_reader_tok_flags(const idx_reader *r);
size_t idx_reader_nsegments(const idx_reader *r);
const idx_segment *idx_reader_segment(const idx_reader *r, size_t i);
uint64_t idx_reader_base(const idx_reader *r, size_t i);
/* Segment holding index-wide doc `doc`, or -1; *local gets its local id. */
long idx_reader_locate(const idx_reader *r, uint64_t doc, uint32_t *local);

/* BM25 collection statistics.  Like Lucene, they count deleted documents
 * until a merge drops them: N = all document slots, avgdl = total_len / N,
 * df = summed over segments. */
uint64_t idx_reader_ndocs(const idx_reader *r);     /* incl. deleted */
uint64_t idx_reader_live_docs(const idx_reader *r);
uint64_t idx_reader_total_len(const idx_reader *r); /* sum of doc lengths */
/* Sizes and counts for quire_index_stats. */
int idx_reader_stats(const idx_reader *r, quire_stats *st);

/* ---- segment ----------------------------------------------------------- */

const char *idx_segment_name(const idx_segment *s);
uint32_t idx_segment_ndocs(const idx_segment *s);
uint64_t idx_segment_nterms(const idx_segment *s);
/* Length of local doc `doc` (< ndocs): the number of terms the tokenizer
 * emitted for its title and body, compound wholes included. */
uint32_t idx_segment_doclen(const idx_segment *s, uint32_t doc);
/* Every column of numbers of the segment (values.h). */
const struct val_view *idx_segment_value_view(const idx_segment *s);
/* The column of numbers of stored field `field` (values.h), or NULL when
 * no document of the segment has one. */
const struct val_column *idx_segment_values(const idx_segment *s, const char *field,
                                            size_t len);
/* Deletion bitmap of this generation: bit d of word d/64 is set when local
 * doc d is deleted.  NULL when nothing in the segment is deleted. */
const uint64_t *idx_segment_deleted(const idx_segment *s);
static inline int idx_is_deleted(const uint64_t *bits, uint32_t doc)
{
    return bits && ((bits[doc >> 6] >> (doc & 63)) & 1);
}

/* Looks `term` up.  Returns 1 and fills *out when present, 0 when absent,
 * -1 when the dictionary is corrupt. */
int idx_segment_lookup(const idx_segment *s, const char *term, size_t len,
                       idx_term *out);

/* What idx_segment_prefix and idx_segment_fuzzy call for each term they
 * find: its bytes (valid during the call), its entry, and for a fuzzy
 * walk its distance in edits from the term asked for (0 for a prefix). */
typedef int (*idx_term_fn)(void *ctx, const uint8_t *term, size_t len, const idx_term *t,
                           unsigned dist);

/* Calls fn for every term of the segment that starts with prefix[0, len),
 * in bytewise order, CommonGrams bigrams left out (no word of text holds
 * their separator).  Returns 0, -1 when the dictionary is corrupt, or the
 * first nonzero value fn returned. */
int idx_segment_prefix(const idx_segment *s, const char *prefix, size_t len, idx_term_fn fn,
                       void *ctx);

/* The same for every term within `edits` edits of term[0, len) (fuzzy.h),
 * in bytewise order.  Returns 0, -1 when the dictionary is corrupt, -2
 * when out of memory, or the first nonzero value fn or poll returned.
 * The walk tests the terms between two matches too: `poll` (may be NULL)
 * is called with ctx every IDX_FUZZY_POLL terms tested, so that a caller
 * with a time limit can stop it there. */
#define IDX_FUZZY_POLL 1024
int idx_segment_fuzzy(const idx_segment *s, const char *term, size_t len, unsigned edits,
                      idx_term_fn fn, int (*poll)(void *ctx), void *ctx);

/* Stored document of local doc `doc`: a freshly allocated copy of its
 * record (see FORMAT.md, "store"), to be freed by the caller. */
int idx_segment_doc_record(const idx_segment *s, uint32_t doc,
                           uint8_t **rec, size_t *len, quire_error *err);

/* Checks that the store holds every doc's record, in order: each block
 * decompresses (its zstd content checksum holds) and holds exactly the
 * records of its docs.  Each block is decompressed once; reading every
 * doc through idx_segment_doc_record decompresses a block once per doc
 * in it. */
int idx_segment_check_store(const idx_segment *s, quire_error *err);

/* Local doc of external id, or -1 when absent, -2 when the ids section
 * fails its checksum (read first here in a lazily verified segment). */
long idx_segment_find_id(const idx_segment *s, const char *id, size_t len);

/* ---- posting iterator (document at a time) ---------------------------- */

typedef struct idx_postings idx_postings;

/* Opens an iterator positioned on the term's first document.  Returns 0,
 * or -1 on allocation failure.  Iterators are independent of each other and
 * may be used from one thread at a time. */
int idx_postings_open(const idx_segment *s, const idx_term *t,
                      idx_postings **out);
void idx_postings_close(idx_postings *p);

/* Positions (absolute, ascending) of the term in the current document,
 * decoded lazily.  *n receives the count (== freq).  The array is valid
 * until the iterator moves.  Returns NULL on corrupt data. */
const uint32_t *idx_postings_positions(idx_postings *p, uint32_t *n);

/* A cursor over the positions of the current document, decoded a block
 * at a time as it moves, so a phrase check can stop at its answer instead
 * of materialising every position first.  Opened on the iterator's
 * current document; valid until the iterator moves.  Returns 0, or -1 at
 * the end of the list or on corrupt data.  Step with idx_poscur_next. */
typedef struct idx_poscur idx_poscur;
int idx_poscur_open(idx_postings *p, idx_poscur *c);

/* Block-max support.  Moves the skip cursor (not the decoded block) to the
 * block that may contain `target` and returns that block's last document,
 * or IDX_END when target is past the list.  Every document of that block
 * has tf <= tf[k] and length >= len[k] for k = 0 or 1 (its impacts,
 * segment.h); tf[1] is the largest tf (UINT32_MAX when too large to
 * record: no bound on tf) and len[0] the smallest length. */
typedef struct idx_impacts {
    uint32_t tf[2], len[2];
} idx_impacts;
uint32_t idx_postings_shallow_impacts(idx_postings *p, uint32_t target, idx_impacts *imp);
/* The same, bounded by one corner: *max_tf = tf[1], *min_len = len[0]. */
uint32_t idx_postings_shallow_advance(idx_postings *p, uint32_t target,
                                      uint32_t *max_tf, uint32_t *min_len);

/* doc, next, advance and freq are inline: they run once per posting. */
#include "index/postings.h"

/* For tests of the writer's lanes (writer.c, "Stealing"), which by design
 * leave no trace in the index: the batches lanes took from the end of
 * other lanes' input at commits, and a switch that stops them. */
uint64_t idx_writer_stolen(const quire_writer *w);
void idx_writer_no_steal(quire_writer *w);

#endif
