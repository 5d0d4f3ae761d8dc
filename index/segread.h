/*
 * segread.h — the open segment as the reader sees it: an mmapped file, its
 * section table, and the deletion bitmap of the current generation.
 * Internal to index/; the layers above use index.h.
 */
#ifndef QUIRE_SEGREAD_H
#define QUIRE_SEGREAD_H

#include "index/dict.h"
#include "index/fileio.h"
#include "index/index.h"
#include "index/segment.h"
#include "index/values.h"

struct idx_segment {
    char *name;
    uint32_t version;          /* format version of the file */
    mapped_file m;
    const uint8_t *sec[SEC_COUNT];
    uint64_t sec_len[SEC_COUNT];
    uint64_t sec_hash[SEC_COUNT];
    int sec_present[SEC_COUNT];
    /* SEG_VERIFY_LAZY: a section's checksum state, SUM_* (segread.c),
     * changed with atomics by readers that share the segment */
    int sum_state[SEC_COUNT];
    uint32_t ndocs, tok_flags;
    uint64_t nterms, total_len, npostings, npositions;
    dict_view dict;
    uint64_t *dict_keys;   /* owned; dict.keys points here */
    const uint8_t *norms;
    val_view values;           /* no columns when the segment has no VALUES */
    uint64_t *deleted;     /* owned; (ndocs + 63) / 64 words, or NULL */
    uint32_t ndeleted;
};

/* The last, partial block of a posting list (FORMAT.md: varints, or from
 * SEG_*_TAIL_PACK_MIN entries on either varints after SEG_TAIL_VARINTS or
 * PFOR), decoded the same way for the query iterators and the merge.
 * seg_doc_tail: n < 128 postings at p into gaps[] (doc - previous doc - 1)
 * and tfs[]; seg_pos_tail: n < 128 position gaps.  Both return the byte
 * after the tail, or NULL when it is malformed or runs past `end`. */
const uint8_t *seg_doc_tail(const uint8_t *p, const uint8_t *end, uint32_t n, uint32_t *gaps,
                            uint32_t *tfs);
/* A full block (n = 128), or the packed form of a tail: PFOR(n gaps),
 * PFOR(n tf - 1). */
const uint8_t *seg_doc_pfor(const uint8_t *p, const uint8_t *end, uint32_t n, uint32_t *gaps,
                            uint32_t *tfs);
const uint8_t *seg_pos_tail(const uint8_t *p, const uint8_t *end, uint32_t n, uint32_t *gaps);
/* In a list with short blocks: whether the block at p (p < end) is a short
 * one; if so its count into *n and the start of its tail form into *body,
 * or *body NULL when the header is malformed. */
static inline int seg_doc_short(const uint8_t *p, const uint8_t *end, uint32_t *n,
                                const uint8_t **body)
{
    if (*p != SEG_SHORT_BLOCK) return 0;
    *body = end - p >= 2 && p[1] != 0 && p[1] < 128 ? p + 2 : NULL;
    *n = *body ? p[1] : 0;
    return 1;
}

/* Opens DIR/NAME, checking checksums as `verify` (SEG_VERIFY_*) says. */
int idx_segment_open(const char *dir, const char *name, int verify,
                     idx_segment **out, quire_error *err);
/* 1 when section `sec` matches its checksum (hashed on the first call of
 * a lazily verified segment, from any thread), 0 when it does not. */
int idx_segment_sum_ok(const idx_segment *s, int sec);
/* Checks section checksums; the store's too when `with_store`. */
int idx_segment_check_sums(const idx_segment *s, int with_store, quire_error *err);
void idx_segment_close(idx_segment *s);

#endif
