/*
 * segment.h — constants and small structures shared by the segment writer
 * (segment_write.c) and reader (segment_read.c).  The byte layout is
 * described in segment_write.c's header comment and in docs/FORMAT.md.
 */
#ifndef QUIRE_SEGMENT_H
#define QUIRE_SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SEG_MAGIC "QUIRESEG"       /* 8 bytes at offset 0 */
#define SEG_TRAILER_MAGIC "QSEGEND1" /* last 8 bytes of the file */
#define SEG_VERSION 3u              /* written; SEG_VERSION_MIN.. are read */
#define SEG_VERSION_MIN 1u          /* version 1: no list has short blocks */
#define SEG_VERSION_VALUES 3u       /* the first that may have a VALUES section */
#define SEG_HEADER_BYTES 64u
#define SEG_ALIGN 64u
#define SEG_TRAILER_BYTES 64u      /* also the decoders' over-read slack */
#define SEG_DICT_BLOCK 16u         /* terms per dictionary block */
#define SEG_STORE_BLOCK (16u * 1024) /* raw bytes per store block (about) */
#define SEG_SKIP_ENTRY 20u         /* bytes per skip entry */
#define SEG_SKIP_TF_SATURATED 0xffffu /* stored max tf: this or more */
/* Tails of at least this many values start with a byte saying how they are
 * coded: a PFOR header (codec.h), or SEG_TAIL_VARINTS for varints.  Shorter
 * tails are always varints, which a header byte would only make longer. */
#define SEG_POS_TAIL_PACK_MIN 4u  /* measured: 3..6 equal, 1 or 16 worse */
#define SEG_DOC_TAIL_PACK_MIN 8u  /* measured: 6..16 within 0.1% */
#define SEG_TAIL_VARINTS 0x40u
/* In a list with short blocks (idx_term.cut_blocks, version 2: a merge
 * copies the blocks of each input segment's list whole, cutting the block
 * it was filling short), a doc block of fewer than 128 postings, the last
 * one too, is this byte (never a PFOR header: bits 7 and 6 both set), a
 * byte n (1..127), then n postings coded as a tail of n.  Its positions
 * then end their position block, padded with zero gaps that no posting
 * reads: every position block of such a list is a full one. */
#define SEG_SHORT_BLOCK 0xc0u

enum seg_section {
    SEC_META = 1,
    SEC_DICT = 2,
    SEC_DICTIDX = 3,
    SEC_DOCS = 4,
    SEC_SKIP = 5,
    SEC_POS = 6,
    SEC_NORMS = 7,
    SEC_STORE = 8,
    SEC_STOREIDX = 9,
    SEC_IDS = 10,
    SEC_VALUES = 11,   /* optional (version 3 on): numbers of stored fields */
    SEC_COUNT = 12 /* one past the last id */
};

/* Section table entry as stored in the footer (32 bytes, little-endian). */
typedef struct seg_section_entry {
    uint32_t id;
    uint32_t reserved;
    uint64_t offset;
    uint64_t length;
    uint64_t xxh3;
} seg_section_entry;

/* META section (little-endian, 64 bytes). */
typedef struct seg_meta {
    uint32_t ndocs;
    uint32_t tok_flags;
    uint64_t nterms;
    uint64_t total_len;   /* sum of document lengths */
    uint64_t npostings;
    uint64_t npositions;
    uint32_t block_size;  /* 128 */
    uint32_t dict_block;  /* 64 */
} seg_meta;

/* One skip entry per posting block of a term with df > 128 (20 bytes):
 *   u32 last doc of the block
 *   u32 block start, relative to the term's docs_off
 *   u32 index of the block's first position in the term's position stream
 *   u32 byte offset (relative to pos_off) of the position block holding it
 *   u16 largest tf in the block, 0xffff meaning "0xffff or more"
 *   u16 smallest doc length in the block, clamped to 0xffff (a lower bound)
 * Both u16s stay valid bounds for Block-Max WAND when clamped. */

/* The external id of local doc `doc` in an ids section ids[0, len) of a
 * segment of ndocs documents (FORMAT.md, "ids"): 0 with *p, *n set, or -1
 * when its offsets are out of bounds. */
static inline int seg_id_at(const uint8_t *ids, uint64_t len, uint32_t ndocs, uint32_t doc,
                            const uint8_t **p, size_t *n)
{
    uint64_t head = 8 + 12 * (uint64_t)ndocs + 8;
    if (doc >= ndocs || len < head) return -1;
    const uint8_t *offs = ids + 8 + 4 * (size_t)ndocs, *blob = ids + head;
    uint64_t a, b;
    memcpy(&a, offs + 8 * (size_t)doc, 8);
    memcpy(&b, offs + 8 * ((size_t)doc + 1), 8);
    if (a > b || b > len - head) return -1;
    *p = blob + a;
    *n = (size_t)(b - a);
    return 0;
}

#endif
