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
#define SEG_VERSION 5u              /* written; SEG_VERSION_MIN.. are read */
#define SEG_VERSION_MIN 1u          /* version 1: no list has short blocks */
#define SEG_VERSION_VALUES 3u       /* the first that may have a VALUES section */
#define SEG_VERSION_IMPACTS 4u      /* skip entries hold two (tf, length) points */
#define SEG_VERSION_PACKED_SKIP 5u  /* a term's skip entries are one bit-packed table */
#define SEG_HEADER_BYTES 64u
#define SEG_ALIGN 64u
#define SEG_TRAILER_BYTES 64u      /* also the decoders' over-read slack */
#define SEG_DICT_BLOCK 16u         /* terms per dictionary block */
#define SEG_STORE_BLOCK (16u * 1024) /* raw bytes per store block (about) */
#define SEG_SKIP_ENTRY 20u         /* bytes per skip entry, before version 5 */
#define SEG_SKIP_HEAD 8u           /* bytes before a version 5 table's impacts */
#define SEG_SKIP_TF_SATURATED 0xffffu /* version < 4, stored max tf: this or more */
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

/* One skip entry per posting block of a term with df > 128:
 *   the last doc of the block
 *   the block's start, relative to the term's docs_off
 *   the index of the block's first position in the term's position stream
 *   the byte offset (relative to pos_off) of the position block holding it
 *   then, from version 4 on, the block's impacts: two u16 points
 *     tf code | length code << 7 (seg_tf_code, seg_len_code)
 *   such that every document of the block has tf <= tf and length >=
 *   length of one of them; the second has the block's largest tf, the
 *   first its smallest length.  (Lucene's impacts keep every point of the
 *   block's (tf, length) Pareto front.  Two points in the four bytes the
 *   entry had leave top-k two to six times fewer blocks of a frequent
 *   term that it cannot skip than the one corner of the largest tf and
 *   the smallest length did: on corpus/cache/all.jsonl 46 of the 339
 *   blocks of `and` instead of 199, 5 of the 75 of `was` instead of 30.)
 *   Before version 4: u16 largest tf in the block, 0xffff meaning "0xffff
 *   or more", and u16 smallest doc length, clamped to 0xffff; both stay
 *   valid bounds when clamped.
 *
 * Before version 5 an entry is those five as u32s, 20 bytes, one after
 * another.  From version 5 on a term's entries are one table (segment
 * format, "skip"):
 *   u8 width[4]     bits of each of the four numbers below
 *   u32 last0       the last doc of block 0
 *   u32 impacts[n]
 *   packed(n, width[0]) last doc - last0, then packed(n, width[f]) of
 *                   each of the three others, each array byte aligned
 * Each number of a term takes the bits its largest value needs: the 20
 * bytes of an entry were 4.8% of postings, positions and dictionary on
 * corpus/cache/sotu.jsonl, and the tables take 57% of them.  A field is
 * still read at a computed bit offset, so a cursor reads only the entries
 * it visits, as it did. */
enum { SEG_SKIP_LAST, SEG_SKIP_DOCS, SEG_SKIP_POSK, SEG_SKIP_POSOFF };

/* A term's skip entries as a reader sees them, whatever the version: field
 * f of block b is the mask[f] bits at bit at[f] + b * step[f] from p (plus
 * last0 for the last doc), its impacts the 4 bytes at imp + b * imp_step.
 * A read loads 8 bytes at the field's first byte: up to 7 past a table's
 * end, which the segment file's footer and trailer cover. */
typedef struct seg_skip {
    const uint8_t *p, *imp;
    uint64_t at[4];
    uint32_t step[4], mask[4];
    uint32_t imp_step, last0;
} seg_skip;

static inline uint32_t seg_skip_get(const seg_skip *k, unsigned f, uint32_t b)
{
    uint64_t o = k->at[f] + (uint64_t)b * k->step[f], v;
    memcpy(&v, k->p + (o >> 3), 8);
    return (uint32_t)(v >> (o & 7)) & k->mask[f];
}

static inline uint32_t seg_skip_last(const seg_skip *k, uint32_t b)
{
    return seg_skip_get(k, SEG_SKIP_LAST, b) + k->last0;
}

/* The first block from b on, before n, whose last doc is target or more;
 * n if none.  Blocks b, b + 1, b + 3, b + 7, ... are tried, then the
 * blocks between the last two tried are halved: a cursor moves a block or
 * two at a time mostly, but a phrase's frequent term jumps over dozens. */
static inline uint32_t seg_skip_find(const seg_skip *k, uint32_t b, uint32_t n,
                                     uint32_t target)
{
    if (b >= n || seg_skip_last(k, b) >= target) return b;
    uint32_t lo = b, step = 1;   /* lo: a block whose last doc is under target */
    for (;;) {
        uint32_t hi = n - lo > step ? lo + step : n;
        if (hi == n || seg_skip_last(k, hi) >= target) {
            /* the answer is in (lo, hi] */
            while (hi - lo > 1) {
                uint32_t mid = lo + (hi - lo) / 2;
                if (seg_skip_last(k, mid) >= target) hi = mid;
                else lo = mid;
            }
            return hi;
        }
        lo = hi;
        step *= 2;
    }
}

static inline const uint8_t *seg_skip_imp(const seg_skip *k, uint32_t b)
{
    return k->imp + (size_t)b * k->imp_step;
}

/* Bytes of a version 5 table of n entries with these widths. */
static inline uint64_t seg_skip_bytes(uint32_t n, const uint8_t width[4])
{
    uint64_t len = SEG_SKIP_HEAD + 4 * (uint64_t)n;
    for (int f = 0; f < 4; f++) len += ((uint64_t)n * width[f] + 7) / 8;
    return len;
}

/* Sets k to the n entries at byte off of a skip section sec[0, sec_len)
 * of a segment of the given version: 0, or -1 when they do not lie inside
 * it (or a width is over 32). */
static inline int seg_skip_open(seg_skip *k, const uint8_t *sec, uint64_t sec_len,
                                uint64_t off, uint32_t n, uint32_t version)
{
    if (off > sec_len) return -1;
    k->p = sec + off;
    if (version < SEG_VERSION_PACKED_SKIP) {
        if ((uint64_t)n * SEG_SKIP_ENTRY > sec_len - off) return -1;
        for (int f = 0; f < 4; f++) {
            k->at[f] = 32 * (uint64_t)f;
            k->step[f] = 8 * SEG_SKIP_ENTRY;
            k->mask[f] = UINT32_MAX;
        }
        k->imp = k->p + 16;
        k->imp_step = SEG_SKIP_ENTRY;
        k->last0 = 0;
        return 0;
    }
    if (sec_len - off < SEG_SKIP_HEAD) return -1;
    const uint8_t *w = k->p;
    for (int f = 0; f < 4; f++)
        if (w[f] > 32) return -1;
    if (seg_skip_bytes(n, w) > sec_len - off) return -1;
    memcpy(&k->last0, w + 4, 4);
    k->imp = k->p + SEG_SKIP_HEAD;
    k->imp_step = 4;
    uint64_t at = 8 * (SEG_SKIP_HEAD + 4 * (uint64_t)n);
    for (int f = 0; f < 4; f++) {
        k->at[f] = at;
        k->step[f] = w[f];
        k->mask[f] = w[f] == 32 ? UINT32_MAX : (1u << w[f]) - 1;
        at += ((uint64_t)n * w[f] + 7) / 8 * 8;
    }
    return 0;
}

/* Codes of the impacts.  A tf is rounded up and a length down, so that a
 * point stays a bound: tf exact below 32, then 16 steps per doubling up
 * to 1920, and 127 for no bound; a length exact below 128, then 32 steps
 * per doubling (at most 3% low). */
#define SEG_TF_CODE_NONE 127u

static inline uint32_t seg_tf_code(uint32_t tf)
{
    if (tf < 32) return tf;
    uint32_t e = 31 - (uint32_t)__builtin_clz(tf) - 4;   /* tf in [16 << e, 32 << e) */
    uint32_t m = (uint32_t)(((uint64_t)tf + (1u << e) - 1) >> e);   /* 16..32 */
    if (m == 32) {
        e++;
        m = 16;
    }
    uint32_t code = 32 + (e - 1) * 16 + (m - 16);
    return code < SEG_TF_CODE_NONE ? code : SEG_TF_CODE_NONE;
}

static inline uint32_t seg_tf_value(uint32_t code)
{
    if (code < 32) return code;
    if (code >= SEG_TF_CODE_NONE) return UINT32_MAX;
    return ((code - 32) % 16 + 16) << ((code - 32) / 16 + 1);
}

static inline uint32_t seg_len_code(uint32_t len)
{
    if (len < 128) return len;
    uint32_t e = 31 - (uint32_t)__builtin_clz(len) - 5;  /* len in [32 << e, 64 << e) */
    uint32_t code = 128 + (e - 2) * 32 + ((len >> e) - 32);
    return code < 511 ? code : 511;
}

static inline uint32_t seg_len_value(uint32_t code)
{
    if (code < 128) return code;
    return ((code - 128) % 32 + 32) << ((code - 128) / 32 + 2);
}

/* BM25's constants as query/eval.c scores with them.  Here they only say
 * where a block's two impact points split its tfs: other constants still
 * get valid bounds, only looser ones. */
#define SEG_IMPACT_K1 1.2
#define SEG_IMPACT_B 0.75

/* BM25's saturation of tf at length len, without its constant factor;
 * len_scale is b / the average length. */
static inline double seg_impact_sat(uint32_t tf, uint32_t len, double len_scale)
{
    double norm = SEG_IMPACT_K1 * (1.0 - SEG_IMPACT_B + (double)len * len_scale);
    return (double)tf / ((double)tf + norm);
}

/* Writes the impacts (skip entries, above) of a block of n >= 1
 * documents docs[] with tfs[] to out[4], their lengths read from the u32s
 * norms[0, ndocs) (0 past them).  The documents are split by tf code into
 * the lower codes and the higher ones, each group bounded by its corner
 * (its largest tf and its smallest length), at the split whose larger
 * corner scores least at the average length len_scale stands for; with
 * one group, both points are the block's corner.  Whatever the split,
 * every document lies under one of the points.  (A table of the least
 * length per tf code, rather than sorting the block: 1.2% more build
 * instructions than the one corner at first, 0.6% now.) */
static inline void seg_impacts_choose(const uint32_t *docs, const uint32_t *tfs, uint32_t n,
                                      const uint8_t *norms, uint32_t ndocs, double len_scale,
                                      uint8_t out[4])
{
    /* least length per tf code present; a tf under 32 is its own code */
    uint32_t least[128], top = 0;
    for (uint32_t c = 0; c < 128; c++) least[c] = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t tc = tfs[i] < 32 ? tfs[i] : seg_tf_code(tfs[i]), len = 0;
        if (docs[i] < ndocs) memcpy(&len, norms + 4 * (size_t)docs[i], 4);
        least[tc] = len < least[tc] ? len : least[tc];
        top = tc > top ? tc : top;
    }
    uint8_t code[128];
    uint16_t pre[128], suf[129];   /* length codes */
    uint32_t m = 0;
    for (uint32_t c = 0; c <= top; c++)
        if (least[c] != UINT32_MAX) {
            code[m] = (uint8_t)c;
            pre[m++] = (uint16_t)seg_len_code(least[c]);
        }
    suf[m] = UINT16_MAX;
    for (uint32_t k = m; k-- > 0;) suf[k] = suf[k + 1] < pre[k] ? suf[k + 1] : pre[k];
    for (uint32_t k = 1; k < m; k++) pre[k] = pre[k] < pre[k - 1] ? pre[k] : pre[k - 1];
    uint32_t top_tf = seg_tf_value(top), best = m - 1;
    double best_score = seg_impact_sat(top_tf, seg_len_value(pre[m - 1]), len_scale);
    for (uint32_t k = 0; k + 1 < m; k++) {
        double a = seg_impact_sat(seg_tf_value(code[k]), seg_len_value(pre[k]), len_scale);
        double b = seg_impact_sat(top_tf, seg_len_value(suf[k + 1]), len_scale);
        double s = a > b ? a : b;
        if (s < best_score) {
            best_score = s;
            best = k;
        }
    }
    uint16_t p0, p1;
    if (best == m - 1) {
        p0 = p1 = (uint16_t)(top | (uint32_t)pre[m - 1] << 7);
    } else {
        p0 = (uint16_t)(code[best] | (uint32_t)pre[best] << 7);
        p1 = (uint16_t)(top | (uint32_t)suf[best + 1] << 7);
    }
    memcpy(out, &p0, 2);
    memcpy(out + 2, &p1, 2);
}

/* The impacts of a skip entry (version 4 on), its four bytes, as two points
 * (tf[1] the block's largest tf, UINT32_MAX for no bound; len[0] its
 * smallest length). */
static inline void seg_impacts_read(const uint8_t *b, uint32_t tf[2], uint32_t len[2])
{
    for (int k = 0; k < 2; k++) {
        uint16_t v;
        memcpy(&v, b + 2 * k, 2);
        tf[k] = seg_tf_value(v & 127u);
        len[k] = seg_len_value(v >> 7);
    }
}

/* The impacts of a version 1-3 skip entry's bounds (u16 max tf, u16 min
 * length): the one corner, twice. */
static inline void seg_impacts_from_corner(const uint8_t *b, uint8_t out[4])
{
    uint16_t mt, ml;
    memcpy(&mt, b, 2);
    memcpy(&ml, b + 2, 2);
    uint32_t tc = seg_tf_code(mt == SEG_SKIP_TF_SATURATED ? UINT32_MAX : mt);
    uint16_t p = (uint16_t)(tc | seg_len_code(ml) << 7);
    memcpy(out, &p, 2);
    memcpy(out + 2, &p, 2);
}

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
