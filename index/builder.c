/*
 * builder.c — inverts documents in memory and writes them as one segment.
 *
 * The tokenizer hands tokens over in batches (tok_run_batch), so that
 * their hash table slots can be prefetched together; each is then looked
 * up in an open-addressing table whose slots hold the term's first 16
 * bytes (most terms are found without touching anything else), and the
 * token goes straight to the term's own posting stream as varints: a doc
 * mark (doc gap << 1 | 1) when it is the term's first in the document,
 * then its position gap << 1.  A term's tf in a document is the number of
 * position gaps after its mark, counted at the flush.  (Chained first in
 * per-document scratch arrays and appended as (doc gap, tf, position gaps)
 * when the document ended, every position was written and read twice
 * more: 330 M of the 3,443 M instructions of a one-thread build of
 * corpus/cache/all.jsonl.)
 * Streams live in one byte pool as chains of slices that double in size up
 * to 4 KiB (the idea of Lucene's ByteBlockPool): no per-term allocation, and
 * rare terms cost 16 bytes.  Stored documents are compressed with zstd in
 * ~16 KiB blocks as they arrive and streamed into the segment file itself
 * (its first section), so the memory estimate covers only the inverted
 * data, the norms, the ids and the numbers read from stored fields
 * (values.h), kept as (doc, value) pairs per field until the flush.
 *
 * At flush, terms are sorted bytewise (radix sort on 8-byte prefixes) and each stream is decoded once and
 * re-encoded into the segment's block format by segment_write.c's layout
 * (see the header comment there and docs/FORMAT.md).
 *
 * With TOK_COMMONGRAMS or TOK_COMMONPAIRS, each token is also paired with
 * the tokens of the previous position of the same field; a pair where
 * either term (COMMONGRAMS) or both terms (COMMONPAIRS) are common words
 * (index/commongrams.h) is indexed as a bigram term at the first token's
 * position.  Bigrams are postings like any other term, but they are not
 * tokens: they do not count in the document length, so BM25 is unchanged.
 *
 * With TOK_TITLE_TERMS, the title is tokenized a second time and each of
 * its terms is also recorded as the title term TOK_FIELD_MARK + term, at
 * the same position (title:word queries); like bigrams, title terms are
 * not tokens of the document's length.
 */
#define _GNU_SOURCE
#include "index/builder.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#define XXH_INLINE_ALL /* the per-token hash must inline */
#include <xxhash.h>
#include <zstd.h>

#include "index/codec.h"
#include "index/commongrams.h"
#include "index/dict.h"
#include "index/fileio.h"
#include "index/segment.h"
#include "index/segwrite.h"
#include "index/store.h"
#include "index/strsort.h"
#include "index/util.h"
#include "index/values.h"

#define NO_DOC UINT32_MAX
#define SLICE_LEVELS 9
static const uint32_t slice_size[SLICE_LEVELS] = {16, 32, 64, 128, 256, 512,
                                                  1024, 2048, 4096};

/* Per-term state touched for every token and every posting, 32 bytes: two
 * terms share a cache line, and as ids follow first appearance the frequent
 * terms sit together at the front and stay cached.  (One 64-byte entry per
 * term with its key elsewhere cost three cache misses per token: on
 * corpus/cache/all.jsonl the term lookup was a third of the build time.) */
typedef struct term_hot {
    uint32_t last_doc;     /* last doc in the stream */
    uint32_t last_pos;     /* the term's last position in it */
    uint32_t write;        /* next byte to write in the pool */
    uint32_t slice_end;    /* where the current slice's next pointer sits */
    uint32_t df;
    uint32_t cf;           /* < 2^32: every position takes a pool byte */
    uint32_t unused[2];    /* 32 bytes: an entry never straddles a line */
} term_hot;

/* Per-term state needed only when a term is created, compared or written. */
typedef struct term_cold {
    uint32_t term_off;     /* into terms arena */
    uint32_t term_len;
    uint32_t slice_head;   /* first slice of the stream in the pool */
} term_cold;

/* A hash table slot holds the first 16 bytes of its term and the term's
 * length, so a term of at most 16 bytes (nearly all tokens) is found by
 * reading the slot alone.  (With 8 bytes in the slot, a longer term read
 * its length from the term's state and its bytes from the arena: two cache
 * misses that were a fifth of tokq_drain's samples on 278 MB of
 * corpus/cache/big.jsonl.)  The slot also says whether the term is a
 * common word of the CommonGrams rule: read from the term's state instead,
 * that flag was a cache miss per token, 5% of a build's time on
 * corpus/cache/all.jsonl. */
typedef struct term_slot {
    uint64_t key;          /* bytes 0-7 of the term, zero padded */
    uint64_t key2;         /* bytes 8-15, zero padded */
    uint32_t tag;          /* hash bits above TAG_COMMON | min(len, TAG_LEN_MAX) */
    uint32_t id1;          /* term id + 1; 0 = empty slot */
    uint64_t unused;       /* a power-of-two size: a slot never straddles a line */
} term_slot;

/* slots of a new builder's hash table */
#define TABLE_FIRST (1u << 10)
/* a transparent huge page: the pool is given back in whole ones */
#define HUGE_PAGE ((size_t)2 << 20)

#define TAG_LEN_BITS 10
#define TAG_LEN_MAX ((1u << TAG_LEN_BITS) - 1)
#define TAG_COMMON (1u << TAG_LEN_BITS)   /* the term is a common word */

/* A token waiting to be interned, and a batch of them with their bytes
 * (copied from the tokenizer's batch, which is reused). */
typedef struct tokq_ent {
    uint64_t hash, key, key2;
    uint32_t len, pos, off, id, common;
} tokq_ent;
typedef struct tokq {
    uint32_t n;
    tokq_ent e[TOK_BATCH_MAX];
    char bytes[sizeof ((tok_batch *)0)->bytes];
} tokq;

/* A term at the current or previous position, for CommonGrams pairing. */
typedef struct cg_tok {
    uint32_t id, common;
} cg_tok;

struct idx_builder {
    tok_tokenizer *tok;
    uint32_t tok_flags;
    int contentless;

    /* terms: ids in order of first appearance */
    term_hot *hot; term_cold *cold; uint32_t nterms, terms_cap;
    size_t hot_bytes, cold_bytes, table_bytes;   /* mapped (huge_grow, huge_alloc) */
    char *arena; size_t arena_len, arena_cap;
    term_slot *table; uint32_t table_mask;   /* open addressing, linear */

    /* posting streams */
    uint8_t *pool; size_t pool_len, pool_cap;
    /* of a renewed builder: the pool bytes and terms its earlier segments
     * wrote (resident until idx_builder_trim) */
    size_t pool_hw; uint32_t terms_hw;

    /* the document being added */
    uint32_t cur_doc;
    uint32_t cur_len;
    /* tokq[tokq_cur]: the batch whose table slots are being fetched
     * while the next one is tokenized (on_batch) */
    tokq tokq[2];
    unsigned tokq_cur;

    /* CommonGrams: the terms at the current position (cg_pos) and at the
     * one before it (only if exactly cg_pos - 1), of the current field */
    int cg;                         /* TOK_COMMONGRAMS or TOK_COMMONPAIRS */
    int cg_all;                     /* TOK_COMMONGRAMS: every term pairs */
    int cg_have;                    /* cg_pos is valid */
    uint32_t cg_pos;
    cg_tok *cg_prev, *cg_cur;
    uint32_t cg_prev_n, cg_cur_n, cg_prev_cap, cg_cur_cap;
    char cg_buf[2 * TOK_MAX_TERM_BYTES + 1];
    struct cg_slot *cg_cache;       /* 2^cg_bits entries */
    uint32_t cg_bits;

    /* per-document data */
    uint32_t *norms; uint32_t ndocs, norms_cap;
    val_set values;        /* numbers of the stored fields (values.h) */
    char *ids; size_t ids_len, ids_cap;
    uint64_t *id_off; /* ndocs + 1 offsets into ids */
    size_t id_off_cap;
    uint64_t total_len, npostings, npositions;

    /* The segment file is created with the builder: the stored documents
     * stream into it (its first section) as they are added, and flush
     * writes the rest.  (Through a temporary store file, the largest
     * section was written twice and read back once.) */
    seg_writer sw;
    int sw_open;
    store_writer store;

    int failed;
};

/* CommonGrams pair cache: (first term id, second term id) -> bigram term
 * id, direct-mapped.  Interning a bigram means building its string,
 * hashing it and probing a table of several hundred thousand terms, a few
 * cache misses each; bigrams are Zipf-distributed like words ("of the",
 * "in the"), so most pairs are found here instead.  Term ids are stable
 * for the builder's life.  At 2^18 entries (3 MiB) the pair cache makes
 * a CommonGrams build of corpus/cache/all.jsonl 1.3x faster than without. */
#define CG_CACHE_BITS 18          /* 3 MiB; 2^16 was 10% slower */
/* The default common pairs (both words among 12) have at most 144 keys,
 * which 4096 entries hold with few collisions.  The 3 MiB cache was
 * emptied by writing every entry when a builder started: 768 fresh pages
 * per builder, for a few hundred entries used. */
#define CG_PAIRS_CACHE_BITS 12
struct cg_slot {
    uint32_t a, b, id;      /* a == NO_DOC: empty */
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    return grow_array(p, cap, need, elem, 64);
}

static int grow32(void **p, uint32_t *cap, size_t need, size_t elem)
{
    size_t c = *cap;
    if (need > UINT32_MAX / 2) return -1;
    int r = grow(p, &c, need, elem);
    *cap = (uint32_t)c;
    return r;
}

uint32_t idx_body_first_pos(uint32_t title_next_pos)
{
    return title_next_pos ? title_next_pos + 1 : 0;
}

static void cg_reset(idx_builder *b);

/* Creates the segment file at `path` and starts its store. */
static int open_segment(idx_builder *b, const char *path, quire_error *err)
{
    char *tmp = malloc(strlen(path) + 8);
    if (!tmp) return qerr(err, QUIRE_ENOMEM, "out of memory");
    sprintf(tmp, "%s.tmp", path);
    int rc = segw_open(&b->sw, path, tmp, err);
    free(tmp);
    if (!rc) {
        b->sw_open = 1;
        rc = segw_store_begin(&b->sw, err);
    }
    if (!rc) rc = storew_open_sink(&b->store, segw_store_put, &b->sw, err);
    return rc;
}

int idx_builder_new(uint32_t tok_flags, int contentless, const char *path,
                    idx_builder **out, quire_error *err)
{
    idx_builder *b = calloc(1, sizeof *b);
    if (!b) return qerr(err, QUIRE_ENOMEM, "out of memory");
    b->tok_flags = tok_flags;
    b->contentless = contentless;
    b->cg = (tok_flags & (TOK_COMMONGRAMS | TOK_COMMONPAIRS)) != 0;
    b->cg_all = (tok_flags & TOK_COMMONGRAMS) != 0;
    b->cur_doc = NO_DOC;
    b->table_mask = TABLE_FIRST - 1;
    b->table_bytes = ((size_t)b->table_mask + 1) * sizeof *b->table;
    if (!(b->table = huge_alloc(b->table_bytes))) {
        idx_builder_free(b);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    if (b->cg) {
        b->cg_bits = b->cg_all ? CG_CACHE_BITS : CG_PAIRS_CACHE_BITS;
        b->cg_cache = malloc(((size_t)1 << b->cg_bits) * sizeof *b->cg_cache);
        if (!b->cg_cache) {
            idx_builder_free(b);
            return qerr(err, QUIRE_ENOMEM, "out of memory");
        }
        for (uint32_t i = 0; i < 1u << b->cg_bits; i++)
            b->cg_cache[i].a = NO_DOC;
    }
    if (tok_new(tok_flags, TOK_MODE_INDEX, &b->tok) != 0) {
        idx_builder_free(b);
        return qerr(err, QUIRE_EARG, "cannot create tokenizer (flags %#x)",
                    tok_flags);
    }
    int rc = open_segment(b, path, err);
    if (rc) {
        idx_builder_free(b);
        return rc;
    }
    *out = b;
    return QUIRE_OK;
}

int idx_builder_renew(idx_builder *b, const char *path, quire_error *err)
{
    if (b->sw_open || b->failed) return qerr(err, QUIRE_EARG, "builder was not flushed");
    if (b->pool_len > b->pool_hw) b->pool_hw = b->pool_len;
    if (b->nterms > b->terms_hw) b->terms_hw = b->nterms;
    b->nterms = 0;
    b->arena_len = 0;
    memset(b->table, 0, ((size_t)b->table_mask + 1) * sizeof *b->table);
    b->pool_len = 0;
    b->cur_doc = NO_DOC;
    b->cur_len = 0;
    b->tokq[0].n = b->tokq[1].n = 0;
    cg_reset(b);
    if (b->cg_cache)   /* keyed by term ids, which start again */
        for (uint32_t i = 0; i < 1u << b->cg_bits; i++) b->cg_cache[i].a = NO_DOC;
    b->ndocs = 0;
    b->ids_len = 0;
    val_set_free(&b->values);
    b->total_len = b->npostings = b->npositions = 0;
    b->failed = 0;
    storew_close(&b->store);
    int rc = open_segment(b, path, err);
    if (rc) b->failed = 1;
    return rc;
}

void idx_builder_free(idx_builder *b)
{
    if (!b) return;
    tok_free(b->tok);
    huge_grow_free(b->hot, b->hot_bytes);
    huge_grow_free(b->cold, b->cold_bytes);
    free(b->arena);
    huge_free(b->table, b->table_bytes);
    huge_grow_free(b->pool, b->pool_cap);
    free(b->cg_prev);
    free(b->cg_cur);
    free(b->cg_cache);
    free(b->norms);
    val_set_free(&b->values);
    free(b->ids);
    free(b->id_off);
    storew_close(&b->store);
    if (b->sw_open) segw_abort(&b->sw);   /* never flushed: no segment */
    free(b);
}

uint32_t idx_builder_ndocs(const idx_builder *b) { return b->ndocs; }

int idx_builder_set_version(idx_builder *b, uint32_t version)
{
    return b->sw_open ? segw_set_version(&b->sw, version) : -1;
}

/* What the budget is compared with: the memory the builder holds that
 * grows with the segment's documents, as resident, not as reserved, and
 * what its flush will allocate.  The pool, the term state and the arena
 * double their capacity; counted by capacity, a 256 MiB budget flushed
 * once the pool passed half of it, and mapped pages are resident only
 * where written.  But a renewed builder keeps the pages its last segment
 * wrote (pool_hw, terms_hw) and its hash table (memset, so resident
 * whole, beyond a new builder's: idx_builder_fixed_mem): they count until
 * idx_builder_trim gives them back.  Counted as
 * used instead, with the id map growing in the budget's other part, peak
 * RSS at --mem 64M on 300 MB of corpus/cache/big.jsonl was 108 MB, the
 * pool resident to the high-water mark of the first segment.  The flush
 * needs FLUSH_TERM_BYTES a term at its peak (the flush_term array, 32;
 * the order and rank arrays, 8; sort_strings' two arrays of 16-byte
 * entries, 32) and FLUSH_DOC_BYTES a document (the ids' order and
 * sort_ids' scratch). */
#define FLUSH_TERM_BYTES 72
#define FLUSH_DOC_BYTES 8
size_t idx_builder_mem(const idx_builder *b)
{
    size_t pool = b->pool_len > b->pool_hw ? b->pool_len : b->pool_hw;
    size_t terms = b->nterms > b->terms_hw ? b->nterms : b->terms_hw;
    return pool + b->arena_len + (b->table_bytes - TABLE_FIRST * sizeof(term_slot)) +
           terms * (sizeof(term_hot) + sizeof(term_cold)) +
           (size_t)b->nterms * FLUSH_TERM_BYTES +
           (size_t)b->ndocs * (4 + 8 + FLUSH_DOC_BYTES) + b->ids_len + b->store.idx_len +
           b->values.mem;
}

/* What the builder holds whatever its documents: a new builder's hash
 * table (counted in idx_builder_mem, at --mem 64K it made a segment of
 * every document), the segment writer's section buffers, the store's block buffers and compressor, the
 * CommonGrams pair cache and its terms of one position, and the token
 * batches.  Left out of idx_builder_mem, as
 * a flush does not release it: counted there, a budget smaller than it
 * made every document a segment of its own (with --mem 1M, 153,981
 * segments, until mapping them failed).  The writer leaves room for it
 * beside the builder's share instead (writer.c, lane_limit). */
size_t idx_builder_fixed_mem(const idx_builder *b)
{
    size_t cg = b->cg_cache ? ((size_t)1 << b->cg_bits) * sizeof *b->cg_cache : 0;
    return sizeof *b + TABLE_FIRST * sizeof(term_slot) + segw_buffer_mem() +
           storew_mem(&b->store) + cg +
           ((size_t)b->cg_prev_cap + b->cg_cur_cap) * sizeof(cg_tok);
}

/* A renewed builder keeps what its last segment wrote, so that its pages
 * need not fault in again, zeroed (3% of a one-thread build).  Kept past
 * `keep` bytes, the pool above all, it would hold the budget of the last
 * segment while the id map has since taken part of it. */
/* Gives back the pool's pages from byte `from` (a huge-page boundary) on,
 * which then no longer count as kept. */
static void pool_give_back(idx_builder *b, size_t from)
{
    madvise(b->pool + from, b->pool_cap - from, MADV_DONTNEED);
    b->pool_hw = from;
}

void idx_builder_trim(idx_builder *b, size_t keep)
{
    if (b->nterms || b->pool_len) return;   /* only between segments */
    size_t mem = idx_builder_mem(b);
    if (mem <= keep) return;
    size_t other = mem - b->pool_hw;
    size_t pool_keep = other < keep ? (keep - other) & ~(HUGE_PAGE - 1) : 0;
    if (pool_keep < b->pool_hw) pool_give_back(b, pool_keep);
    if (idx_builder_mem(b) <= keep) return;
    if (b->terms_hw) {
        madvise(b->hot, b->hot_bytes, MADV_DONTNEED);
        madvise(b->cold, b->cold_bytes, MADV_DONTNEED);
        b->terms_hw = 0;
    }
    if (idx_builder_mem(b) <= keep || b->table_mask < TABLE_FIRST) return;
    term_slot *t = huge_alloc((size_t)TABLE_FIRST * sizeof *t);
    if (!t) return;   /* kept: the next flush comes sooner */
    huge_free(b->table, b->table_bytes);
    b->table = t;
    b->table_mask = TABLE_FIRST - 1;
    b->table_bytes = (size_t)TABLE_FIRST * sizeof *t;
}

int idx_builder_release(idx_builder *b)
{
    size_t reached = (b->pool_len + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (b->pool_hw <= reached) return 0;
    pool_give_back(b, reached);
    return 1;
}

/* ---- byte pool ---------------------------------------------------------- */

static int slice_alloc(idx_builder *b, uint32_t level, uint32_t *start)
{
    size_t need = b->pool_len + slice_size[level];
    if (need > UINT32_MAX) return -1;
    if (huge_grow((void **)&b->pool, &b->pool_cap, need)) return -1;
    *start = (uint32_t)b->pool_len;
    b->pool_len = need;
    /* Until the slice fills, its 4 trailing bytes (later the pointer to
     * the next slice) hold its level, so the per-term state need not. */
    st32(b->pool + need - 4, level);
    return 0;
}

static int stream_byte(idx_builder *b, term_hot *t, uint8_t v)
{
    if (t->write == t->slice_end) {
        uint32_t level = ld32(b->pool + t->slice_end);
        uint32_t lvl = level + 1 < SLICE_LEVELS ? level + 1 : level;
        uint32_t s;
        if (slice_alloc(b, lvl, &s)) return -1;
        st32(b->pool + t->slice_end, s);
        t->write = s;
        t->slice_end = s + slice_size[lvl] - 4;
    }
    b->pool[t->write++] = v;
    return 0;
}

__attribute__((noinline)) static int stream_varint_slow(idx_builder *b, term_hot *t,
                                                      uint64_t v)
{
    while (v >= 0x80) {
        if (stream_byte(b, t, (uint8_t)(v | 0x80))) return -1;
        v >>= 7;
    }
    return stream_byte(b, t, (uint8_t)v);
}

/* Called once per posting and per position: the common case (room in the
 * current slice) must inline into the document loop. */
static inline int stream_varint(idx_builder *b, term_hot *t, uint64_t v)
{
    if (__builtin_expect(t->slice_end - t->write >= 10, 1)) {
        uint8_t *p = b->pool + t->write;
        if (v < 0x80) {
            *p = (uint8_t)v;
            t->write++;
            return 0;
        }
        uint8_t *e = varint_put(p, v);
        t->write += (uint32_t)(e - p);
        return 0;
    }
    return stream_varint_slow(b, t, v);
}

/* Reads a term's stream back in order.
 *
 * The jump to a term's next slice was the flush's costliest load: the
 * slice is at a random place of the pool, and its address sits in the
 * last 4 bytes of the one being read, which are fetched only when the
 * reader gets there.  So on entering a slice of MID_LEVEL or more, the
 * reader fetches those 4 bytes ahead, and stops half-way (`end` is the
 * middle, `last` the real end) to read them, by then cached, and fetch
 * the first line of the next slice while it reads the second half.
 * (Read on entering the slice, the address only moved the stall there:
 * tried, about 1% of a flush.)  The first three slices are fetched ahead
 * by prefetch_terms; from level 1 on instead of 3, the flush of 300 MB of
 * corpus/cache/big.jsonl took 4 ms longer. */
#define MID_LEVEL 3
typedef struct stream_rd {
    const uint8_t *pool;
    uint32_t p, end, last, level, stop;
} stream_rd;

static inline void stream_rd_enter(stream_rd *r, uint32_t at)
{
    r->p = at;
    r->last = at + slice_size[r->level] - 4;
    r->end = r->last;
    /* slices are appended to the pool, so the stream's last slice, the
     * one `stop` is in, lies after every other: a slice ending before
     * `stop` is full */
    if (r->level >= MID_LEVEL && r->stop > r->last) {
        __builtin_prefetch(r->pool + r->last);
        r->end = at + slice_size[r->level] / 2;
    }
}

static void stream_rd_at(stream_rd *r, const idx_builder *b, uint32_t head, uint32_t stop)
{
    r->pool = b->pool;
    r->level = 0;
    r->stop = stop;
    stream_rd_enter(r, head);
}

static inline uint8_t stream_rd_byte(stream_rd *r)
{
    if (r->p == r->end && r->p != r->stop) {
        if (r->end != r->last) {
            /* half-way: the next slice's address has arrived */
            __builtin_prefetch(r->pool + ld32(r->pool + r->last));
            r->end = r->last;
        } else {
            uint32_t next = ld32(r->pool + r->end);
            if (r->level + 1 < SLICE_LEVELS) r->level++;
            stream_rd_enter(r, next);
        }
    }
    return r->pool[r->p++];
}

static inline uint64_t stream_rd_varint(stream_rd *r)
{
    /* the stream's values are below 2^33, varints of at most 5 bytes:
     * when they are all before the slice's pointer bytes, no byte needs
     * the slice-end check (only a valid stream is read, so the varint
     * ends before the stream does) */
    if (__builtin_expect(r->end - r->p >= 5, 1)) {
        const uint8_t *q = r->pool + r->p;
        uint64_t v = q[0];
        if (v < 0x80) {
            r->p++;
            return v;
        }
        v &= 0x7f;
        unsigned k = 1;
        for (;; k++) {
            v |= (uint64_t)(q[k] & 0x7f) << (7 * k);
            if (!(q[k] & 0x80) || k == 4) break;
        }
        r->p += k + 1;
        return v;
    }
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t c = stream_rd_byte(r);
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return v;
    }
}

/* ---- term table ------------------------------------------------------- */

/* The first 8 bytes of a term, zero padded. */
static inline uint64_t term_key(const char *s, uint32_t len)
{
    uint64_t k = 0;
    memcpy(&k, s, len < 8 ? len : 8);
    return k;
}

/* Bytes 8-15 of a term, zero padded. */
static inline uint64_t term_key2(const char *s, uint32_t len)
{
    uint64_t k = 0;
    if (len > 8) memcpy(&k, s + 8, len < 16 ? len - 8 : 8);
    return k;
}

/* 64-bit hash given the term's key: the low bits pick the slot, the high
 * ones go in the tag.  Terms of up to 16 bytes (nearly all) take two
 * multiplies instead of XXH3's setup. */
static inline uint64_t term_hash(const char *s, uint32_t len, uint64_t key)
{
    if (len <= 8) {
        /* Two multiplies: the low bits of a product depend only on the
         * low bits of the key, so with one, the slot came from the term's
         * first six bytes, and terms of up to 8 bytes that share them
         * ("govern", "governs", "governed") all started at the same slot. */
        uint64_t v = (key ^ ((uint64_t)len << 59)) * 0x9E3779B97F4A7C15ull;
        v = (v ^ (v >> 32)) * 0xD6E8FEB86659FD93ull;
        return v ^ (v >> 32);
    }
    if (len <= 16) {
        uint64_t y = ld64(s + len - 8);
        uint64_t v = (key * 0x9E3779B97F4A7C15ull) ^ ((y ^ len) * 0xC2B2AE3D27D4EB4Full);
        v = (v ^ (v >> 31)) * 0x94D049BB133111EBull;
        return v ^ (v >> 29);
    }
    return XXH3_64bits(s, len);
}

static inline uint32_t term_tag(uint64_t hash, uint32_t len)
{
    return ((uint32_t)(hash >> 32) & ~(TAG_COMMON | TAG_LEN_MAX)) |
           (len < TAG_LEN_MAX ? len : TAG_LEN_MAX);
}

static int table_grow(idx_builder *b)
{
    uint32_t nsize = (b->table_mask + 1) * 2;
    size_t ncap = (size_t)nsize * sizeof(term_slot);
    term_slot *nt = huge_alloc(ncap);
    if (!nt) return -1;
    uint32_t mask = nsize - 1;
    for (uint32_t i = 0; i <= b->table_mask; i++) {
        const term_slot *s = &b->table[i];
        if (!s->id1) continue;
        const term_cold *c = &b->cold[s->id1 - 1];
        const char *t = b->arena + c->term_off;
        uint32_t h = (uint32_t)term_hash(t, c->term_len, term_key(t, c->term_len)) & mask;
        while (nt[h].id1) h = (h + 1) & mask;
        nt[h] = *s;
    }
    huge_free(b->table, b->table_bytes);
    b->table = nt;
    b->table_bytes = ncap;
    b->table_mask = mask;
    return 0;
}

static inline int term_eq(const char *a, const char *b, uint32_t len)
{
    /* terms are short: a plain loop beats a libc call here */
    for (uint32_t i = 0; i < len; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

__attribute__((noinline)) static int term_new(idx_builder *b, const char *s, uint32_t len,
                                              term_slot *slot, uint64_t key,
                                              uint64_t key2, uint32_t tag, uint32_t *id, uint32_t *common)
{
    if (b->arena_len + len > UINT32_MAX || b->nterms == NO_DOC - 1) return -1;
    if (b->nterms == b->terms_cap) {
        uint32_t cap = b->terms_cap ? b->terms_cap * 2 : 1024;
        if (huge_grow((void **)&b->hot, &b->hot_bytes, (size_t)cap * sizeof *b->hot) ||
            huge_grow((void **)&b->cold, &b->cold_bytes, (size_t)cap * sizeof *b->cold))
            return -1;
        b->terms_cap = cap;
    }
    if (grow((void **)&b->arena, &b->arena_cap, b->arena_len + len, 1))
        return -1;
    uint32_t start;
    if (slice_alloc(b, 0, &start)) return -1;
    uint32_t n = b->nterms;
    b->hot[n] = (term_hot){.last_doc = NO_DOC, .write = start,
                           .slice_end = start + slice_size[0] - 4};
    b->cold[n] = (term_cold){.term_off = (uint32_t)b->arena_len, .term_len = len,
                             .slice_head = start};
    memcpy(b->arena + b->arena_len, s, len);
    b->arena_len += len;
    *common = b->cg && cg_is_common(b->tok_flags, s, len);
    *slot = (term_slot){key, key2, tag | (*common ? TAG_COMMON : 0), n + 1, 0};
    *id = b->nterms++;
    /* Grown at three quarters full, not half: the table is written all
     * over, and on this VM a fresh huge page costs about 1 ms the first
     * time it is touched (MADV_POPULATE_WRITE was 5.4% of a one-thread
     * build of corpus/cache/all.jsonl, 133k terms in 16 MiB of slots).
     * Frequent terms, inserted first, still sit where they hash; longer
     * probes fall on new and rare terms.  One-thread build of all: 0.495
     * -> 0.487 s, two threads 0.314 -> 0.298 s (15 alternated runs). */
    if ((uint64_t)b->nterms * 4 > (uint64_t)b->table_mask * 3) {
        if (table_grow(b)) return -1;
    }
    return 0;
}

/* Finds or adds the term s[0, len) whose term_hash, term_key and
 * term_key2 are given; sets *id and whether it is a common word. */
static inline int term_find(idx_builder *b, const char *s, uint32_t len, uint64_t hash,
                            uint64_t key, uint64_t key2, uint32_t *id, uint32_t *common)
{
    uint32_t tag = term_tag(hash, len);
    uint32_t h = (uint32_t)hash & b->table_mask;
    for (;;) {
        term_slot *slot = &b->table[h];
        if (!slot->id1) return term_new(b, s, len, slot, key, key2, tag, id, common);
        if ((slot->tag & ~TAG_COMMON) == tag && slot->key == key && slot->key2 == key2) {
            uint32_t idx = slot->id1 - 1;
            if (len <= 16 ||
                (b->cold[idx].term_len == len &&
                 term_eq(b->arena + b->cold[idx].term_off, s, len))) {
                *id = idx;
                *common = (slot->tag & TAG_COMMON) != 0;
                return 0;
            }
        }
        h = (h + 1) & b->table_mask;
    }
}

static int term_intern(idx_builder *b, const char *s, uint32_t len, uint32_t *id)
{
    uint64_t key = term_key(s, len);
    uint32_t common;
    return term_find(b, s, len, term_hash(s, len, key), key, term_key2(s, len), id, &common);
}

/* The varints of an occurrence at `pos` in document `cur`, with term t's
 * state moved on as if they were written: the doc mark (for a term not
 * in `cur` yet) and the position gap.  Both are below 2^33 (a doc gap
 * is below 2^32 and so is a position), varints of at most 5 bytes.
 * Positions of a term arrive in non-decreasing order. */
static inline uint64_t occ_mark(term_hot *t, uint32_t cur)
{
    uint32_t gap = t->last_doc == NO_DOC ? cur : cur - t->last_doc - 1;
    t->last_doc = cur;
    t->last_pos = 0;
    t->df++;
    return (uint64_t)gap << 1 | 1;
}
static inline uint64_t occ_gap(term_hot *t, uint32_t pos)
{
    uint64_t v = (uint64_t)(pos - t->last_pos) << 1;
    t->last_pos = pos;
    t->cf++;
    return v;
}

/* Writes an occurrence at `pos` in document `cur` to term t's stream when
 * the current slice has room for both varints; returns 0 without writing
 * when it has not.  Inlined with the pool and the count in the caller's
 * locals: through `b`, each byte stored (which may alias anything)
 * reloaded them. */
static inline int occ_fast(uint8_t *pool, term_hot *t, uint32_t cur, uint32_t pos,
                           uint64_t *npostings)
{
    if (__builtin_expect(t->slice_end - t->write < 10, 0)) return 0;
    uint8_t *p = pool + t->write;
    if (t->last_doc != cur) {
        p = varint_put(p, occ_mark(t, cur));
        ++*npostings;
    }
    p = varint_put(p, occ_gap(t, pos));
    t->write = (uint32_t)(p - pool);
    return 1;
}

/* occ_fast, or through new slices when the current one is short of room.
 * The caller counts the position in b->npositions. */
static inline int occ_put(idx_builder *b, term_hot *t, uint32_t pos)
{
    if (occ_fast(b->pool, t, b->cur_doc, pos, &b->npostings)) return 0;
    if (t->last_doc != b->cur_doc) {
        if (stream_varint(b, t, occ_mark(t, b->cur_doc))) return -1;
        b->npostings++;
    }
    return stream_varint(b, t, occ_gap(t, pos));
}

/* Starts a field: no token of it is adjacent to one of the previous. */
static void cg_reset(idx_builder *b)
{
    b->cg_have = 0;
    b->cg_prev_n = b->cg_cur_n = 0;
}

/* Pairs term `id` at `pos` with the terms of position pos - 1 and keeps
 * it for pairing with pos + 1.  Called only for terms that can pair: with
 * pairs of common words only, a word that is not common pairs with nothing
 * on either side, so it is not kept, and nothing it would change here
 * matters (the terms kept are those of the last position that had one,
 * and they pair only if that position is pos - 1).  Not calling it for
 * the other words saves 27 instructions a token. */
static int cg_token(idx_builder *b, uint32_t id, uint32_t common, uint32_t pos)
{
    if (!b->cg_have || pos != b->cg_pos) {
        if (b->cg_have && pos == b->cg_pos + 1) {
            cg_tok *t = b->cg_prev;
            uint32_t tc = b->cg_prev_cap;
            b->cg_prev = b->cg_cur;
            b->cg_prev_cap = b->cg_cur_cap;
            b->cg_prev_n = b->cg_cur_n;
            b->cg_cur = t;
            b->cg_cur_cap = tc;
        } else {
            b->cg_prev_n = 0;   /* a gap (stop words): nothing adjacent */
        }
        b->cg_cur_n = 0;
        b->cg_pos = pos;
        b->cg_have = 1;
    }
    for (uint32_t i = 0; i < b->cg_prev_n; i++) {
        uint32_t pa = b->cg_prev[i].id;
        if (!cg_paired(b->tok_flags, (int)b->cg_prev[i].common, (int)common))
            continue;
        const term_cold *a = &b->cold[pa], *c = &b->cold[id];
        uint64_t key = ((uint64_t)pa << 32) | id;
        struct cg_slot *sl = &b->cg_cache[(key * 0x9E3779B97F4A7C15ull) >>
                                          (64 - b->cg_bits)];
        uint32_t bid;
        if (sl->a == pa && sl->b == id) {
            bid = sl->id;
        } else {
            /* Copy first: interning the bigram may move the arena. */
            size_t len = cg_bigram(b->cg_buf, b->arena + a->term_off,
                                   a->term_len, b->arena + c->term_off,
                                   c->term_len);
            if (term_intern(b, b->cg_buf, (uint32_t)len, &bid)) return -1;
            *sl = (struct cg_slot){pa, id, bid};
        }
        term_hot *bt = &b->hot[bid];
        /* The same pair twice at one position is one occurrence. */
        if (bt->last_doc == b->cur_doc && bt->last_pos == pos - 1) continue;
        if (occ_put(b, bt, pos - 1)) return -1;
        b->npositions++;
    }
    if (grow32((void **)&b->cg_cur, &b->cg_cur_cap, (size_t)b->cg_cur_n + 1,
               sizeof *b->cg_cur))
        return -1;
    b->cg_cur[b->cg_cur_n++] = (cg_tok){id, common};
    return 0;
}

/* The first 8 bytes of a term of a batch, zero padded, without a
 * variable-length copy: the batch has slack past every term. */
static inline uint64_t key_masked(const char *s, uint32_t len)
{
    uint64_t k = ld64(s);
    return len >= 8 ? k : k & ((1ull << (8 * len)) - 1);
}

/* Interns and records the tokens of a batch, in order.  Their table
 * slots were prefetched when the batch arrived (on_batch), and the first
 * loop prefetches each term's state for the second. */
#define DRAIN_AHEAD 8
static int tokq_drain(idx_builder *b, tokq *q)
{
    const uint32_t n = q->n;
    q->n = 0;
    for (uint32_t i = 0; i < n; i++) {
        tokq_ent *e = &q->e[i];
        if (term_find(b, q->bytes + e->off, e->len, e->hash, e->key, e->key2, &e->id,
                      &e->common))
            return -1;
        __builtin_prefetch(&b->hot[e->id], 1);
    }
    /* cg_token writes occurrences of its own and may move the term
     * arrays and the pool (huge_grow): they are read again after it. */
    const uint32_t cur = b->cur_doc;
    /* Which tokens pair (cg_token), as one test on e->common (0 or 1):
     * with pair_mask all ones (TOK_COMMONGRAMS) every token does, with 1
     * (TOK_COMMONPAIRS) the common words, with 0 none.  Tested as
     * b->cg && (common | b->cg_all), it cost 9 M more instructions on a
     * build of corpus/cache/all.jsonl. */
    const uint32_t pair_mask = b->cg ? (b->cg_all ? ~0u : 1u) : 0;
    term_hot *hot = b->hot;
    uint8_t *pool = b->pool;
    uint64_t npostings = 0;
    for (uint32_t i = 0; i < n; i++) {
        const tokq_ent *e = &q->e[i];
        /* a stream's write point is a likely cache miss somewhere in the
         * pool; the term's state, fetched by the first loop, says where */
        if (i + DRAIN_AHEAD < n)
            __builtin_prefetch(pool + hot[q->e[i + DRAIN_AHEAD].id].write, 1);
        term_hot *t = &hot[e->id];
        const uint32_t pos = e->pos;
        if (!occ_fast(pool, t, cur, pos, &npostings)) {
            if (occ_put(b, t, pos)) return -1;
            pool = b->pool;   /* a new slice may have moved it */
        }
        if ((e->common | (pair_mask >> 1)) & pair_mask) {
            if (cg_token(b, e->id, e->common, pos)) return -1;
            hot = b->hot;
            pool = b->pool;
        }
    }
    b->npostings += npostings;
    b->npositions += n;
    b->cur_len += n;        /* only real tokens count in the length */
    return 0;
}

/* Takes a batch from the tokenizer: hashes its tokens and prefetches
 * their table slots, then interns the batch before it, whose slots were
 * fetched while this one was tokenized.  (Interned as it arrived, a batch
 * waited for its slots with nothing else to do, and the build was no
 * faster than with one call a token, where the tokenizer's work between
 * two tokens hid the misses.)  The last batch of a field is interned by
 * tokq_finish. */
static int on_batch(void *ctx, const tok_batch *bt)
{
    idx_builder *b = ctx;
    tokq *q = &b->tokq[b->tokq_cur ^ 1];
    const uint32_t n = bt->n;
    for (uint32_t i = 0; i < n; i++) {
        const char *s = bt->bytes + bt->off[i];
        const uint32_t len = bt->len[i];
        tokq_ent *e = &q->e[i];
        const uint64_t key = key_masked(s, len);
        e->key = key;
        e->key2 = len <= 8 ? 0 : len >= 16 ? ld64(s + 8) : key_masked(s + 8, len - 8);
        e->hash = term_hash(s, len, key);
        e->len = len;
        e->pos = bt->pos[i];
        e->off = bt->off[i];
        __builtin_prefetch(&b->table[e->hash & b->table_mask]);
    }
    memcpy(q->bytes, bt->bytes, bt->used);
    q->n = n;
    int rc = tokq_drain(b, &b->tokq[b->tokq_cur]);
    b->tokq_cur ^= 1;
    return rc;
}

/* Records the title terms of a batch of the title's second pass. */
static int on_title_batch(void *ctx, const tok_batch *bt)
{
    idx_builder *b = ctx;
    char buf[TOK_MAX_TERM_BYTES + 1];
    buf[0] = TOK_FIELD_MARK;
    for (uint32_t i = 0; i < bt->n; i++) {
        uint32_t len = bt->len[i], id;
        memcpy(buf + 1, bt->bytes + bt->off[i], len);
        if (term_intern(b, buf, len + 1, &id) || occ_put(b, &b->hot[id], bt->pos[i]))
            return -1;
        b->npositions++;
    }
    return 0;
}

/* Interns the batch left waiting at the end of a field. */
static int tokq_finish(idx_builder *b)
{
    return tokq_drain(b, &b->tokq[b->tokq_cur]);
}

/* ---- store ---------------------------------------------------------------- */

static void store_field(store_writer *s, const char *name, size_t nlen,
                        const char *val, size_t vlen)
{
    storew_varint(s, nlen);
    storew_put(s, name, nlen);
    storew_varint(s, vlen);
    storew_put(s, val, vlen);
}

/* Record: varint record_len, varint nfields, then per field
 * varint name_len, name, varint value_len, value.  A contentless builder
 * writes the id field alone: the record is still there, so that a document
 * number still leads to its id. */
static int store_doc(idx_builder *b, const quire_doc_input *d, quire_error *err)
{
    size_t nstored = b->contentless ? 0 : d->nfields;   /* extra fields */
    size_t nf = b->contentless ? 1 : 3 + nstored;
    uint8_t tmp[10];
#define FLEN(n, v) ((size_t)(varint_put(tmp, n) - tmp) + (n) + \
                    (size_t)(varint_put(tmp, v) - tmp) + (v))
    size_t len = (size_t)(varint_put(tmp, nf) - tmp) + FLEN(2, d->id_len);
    if (!b->contentless) len += FLEN(5, d->title_len) + FLEN(4, d->body_len);
    for (size_t i = 0; i < nstored; i++)
        len += FLEN(d->fields[i].name_len, d->fields[i].value_len);
#undef FLEN
    store_writer *s = &b->store;
    storew_varint(s, len);
    storew_varint(s, nf);
    store_field(s, "id", 2, d->id, d->id_len);
    if (!b->contentless) {
        store_field(s, "title", 5, d->title, d->title_len);
        store_field(s, "body", 4, d->body, d->body_len);
    }
    for (size_t i = 0; i < nstored; i++)
        store_field(s, d->fields[i].name, d->fields[i].name_len, d->fields[i].value,
                    d->fields[i].value_len);
    return storew_end_doc(s, err);
}

/* ---- adding documents --------------------------------------------------- */

int idx_builder_cut_store(idx_builder *b, quire_error *err)
{
    if (b->failed) return qerr(err, QUIRE_EARG, "builder is in a failed state");
    int rc = storew_cut(&b->store, err);
    if (rc) b->failed = 1;
    return rc;
}

int idx_builder_add(idx_builder *b, const quire_doc_input *d, uint32_t *doc,
                    quire_error *err)
{
    if (b->failed) return qerr(err, QUIRE_EARG, "builder is in a failed state");
    if (b->ndocs == NO_DOC - 1)
        return qerr(err, QUIRE_EARG, "segment is full (2^32-1 documents)");
    b->cur_doc = b->ndocs;
    b->cur_len = 0;
    uint32_t next = 0;
    cg_reset(b);
    int rc = tok_run_batch(b->tok, d->title ? d->title : "", d->title_len, 0,
                           on_batch, b, &next);
    if (rc == 0) rc = tokq_finish(b);
    if (rc == 0 && (b->tok_flags & TOK_TITLE_TERMS) && d->title_len) {
        uint32_t again;
        rc = tok_run_batch(b->tok, d->title, d->title_len, 0, on_title_batch, b, &again);
    }
    cg_reset(b);
    if (rc == 0)
        rc = tok_run_batch(b->tok, d->body ? d->body : "", d->body_len,
                           idx_body_first_pos(next), on_batch, b, &next);
    if (rc == 0) rc = tokq_finish(b);
    if (rc != 0) {
        b->failed = 1;
        return qerr(err, QUIRE_ENOMEM, "out of memory while indexing");
    }
    if (grow32((void **)&b->norms, &b->norms_cap, (size_t)b->ndocs + 1, 4) ||
        grow((void **)&b->id_off, &b->id_off_cap, (size_t)b->ndocs + 2, 8) ||
        grow((void **)&b->ids, &b->ids_cap, b->ids_len + d->id_len, 1)) {
        b->failed = 1;
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    b->norms[b->ndocs] = b->cur_len;
    b->total_len += b->cur_len;
    b->id_off[b->ndocs] = b->ids_len;
    if (d->id_len) memcpy(b->ids + b->ids_len, d->id, d->id_len);
    b->ids_len += d->id_len;
    b->id_off[b->ndocs + 1] = b->ids_len;
    for (size_t i = 0; i < d->nfields; i++) {
        double v;
        if (val_parse(d->fields[i].value, d->fields[i].value_len, &v) == 0 &&
            val_set_add(&b->values, d->fields[i].name, d->fields[i].name_len, b->ndocs, v)) {
            b->failed = 1;
            return qerr(err, QUIRE_ENOMEM, "out of memory");
        }
    }
    rc = store_doc(b, d, err);
    if (rc) {
        b->failed = 1;
        return rc;
    }
    *doc = b->ndocs++;
    return QUIRE_OK;
}

/* ---- flush -------------------------------------------------------------- */

static void term_at(const void *ctx, uint32_t i, const char **p, size_t *len)
{
    const idx_builder *b = ctx;
    *p = b->arena + b->cold[i].term_off;
    *len = b->cold[i].term_len;
}

/* Orders the term ids bytewise by term into order[] (strsort.c: radix
 * sorts on 8 bytes at a time; qsort_r with memcmp on the arena took 4% of
 * a build's instructions and many cache misses). */
static int sort_terms(const idx_builder *b, uint32_t *order)
{
    return sort_strings(b->nterms, term_at, b, order);
}

/* A term as the flush writes it: what it needs of the term's state,
 * gathered in term order.  Written from the term arrays in term id order,
 * the flush read them at random places (the term's df was a fifth of its
 * samples); a term in one document with one position (most terms) has its
 * posting here too, read from the pool, where first slices follow term
 * ids, while it is gathered. */
typedef struct flush_term {
    uint32_t df, cf;
    uint32_t slice_head, stop;     /* its stream in the pool */
    uint32_t term_off, term_len;   /* in the arena */
    uint32_t doc, pos;             /* df == cf == 1: its only posting */
} flush_term;

static inline int ft_single(const flush_term *f) { return f->df == 1 && f->cf == 1; }

/* The builder's terms in bytewise order; NULL when out of memory. */
static flush_term *flush_terms(const idx_builder *b)
{
    uint32_t n = b->nterms;
    size_t cnt = n ? n : 1;
    uint32_t *order = malloc(cnt * sizeof *order), *rank = malloc(cnt * sizeof *rank);
    flush_term *ft = malloc(cnt * sizeof *ft);
    if (!order || !rank || !ft || sort_terms(b, order)) {
        free(order);
        free(rank);
        free(ft);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) rank[order[i]] = i;
    for (uint32_t id = 0; id < n; id++) {
        const term_hot *h = &b->hot[id];
        const term_cold *c = &b->cold[id];
        flush_term *f = &ft[rank[id]];
        *f = (flush_term){h->df, h->cf, c->slice_head, h->write, c->term_off, c->term_len,
                          0, 0};
        if (ft_single(f)) {
            stream_rd rd;
            stream_rd_at(&rd, b, f->slice_head, f->stop);
            f->doc = (uint32_t)(stream_rd_varint(&rd) >> 1);
            f->pos = (uint32_t)(stream_rd_varint(&rd) >> 1);
        }
    }
    free(order);
    free(rank);
    return ft;
}

/* Fetches ahead what writing the terms ft[i + 2..16] will touch: their
 * bytes and streams are at random places of the arena and the pool. */
static inline void prefetch_terms(const idx_builder *b, const flush_term *ft, uint32_t i,
                                  uint32_t end)
{
    if (i + 16 < end) __builtin_prefetch(b->arena + ft[i + 16].term_off);
    if (i + 8 < end && !ft_single(&ft[i + 8])) __builtin_prefetch(b->pool + ft[i + 8].slice_head);
    /* and the second and third slices, at random places too: the last
     * 4 bytes of a full slice point to the next one (of one not full,
     * they hold its level, which makes a harmless prefetch).  The jumps
     * to them were a quarter of the flush's samples. */
    if (i + 4 < end && !ft_single(&ft[i + 4])) {
        uint32_t s0 = ft[i + 4].slice_head;
        __builtin_prefetch(b->pool + ld32(b->pool + s0 + slice_size[0] - 4));
    }
    if (i + 2 < end && !ft_single(&ft[i + 2])) {
        uint32_t s0 = ft[i + 2].slice_head;
        uint32_t s1 = ld32(b->pool + s0 + slice_size[0] - 4);
        __builtin_prefetch(b->pool + ld32(b->pool + s1 + slice_size[1] - 4));
    }
}

/* Moves the position gaps of the doc just given to segw_doc, which were
 * read into pos_buf's slack past the waiting ones, into the waiting ones:
 * a full block is written and what is left over moves to the front. */
static inline void pos_commit(seg_writer *sw, uint32_t pn)
{
    if (pn >= 128) {
        sw->pos_n = 128;
        segw_pos_block_(sw);
        pn -= 128;
        memmove(sw->pos_buf, sw->pos_buf + 128, pn * sizeof *sw->pos_buf);
    }
    sw->pos_n = pn;
}

/* The rest of a doc of more than SEGW_POS_SLACK positions: the first of
 * them are in pos_buf's slack, `gap` is the next, and `rd` is past it.
 * Counts the rest on a copy of the reader, then reads them again.
 * Returns the varint after the doc's positions (the next doc mark), or 0
 * at the end of the stream. */
static __attribute__((noinline)) uint64_t write_long_doc(seg_writer *sw, stream_rd *rd,
                                                          uint32_t doc, uint32_t gap)
{
    stream_rd more = *rd;
    uint32_t tf = SEGW_POS_SLACK + 1;
    uint64_t v = 0;
    while (rd->p != rd->stop && !((v = stream_rd_varint(rd)) & 1)) tf++;
    if (!(v & 1)) v = 0;
    segw_doc(sw, doc, tf);
    pos_commit(sw, sw->pos_n + SEGW_POS_SLACK);
    segw_pos_gap(sw, gap);
    for (uint32_t j = SEGW_POS_SLACK + 1; j < tf; j++)
        segw_pos_gap(sw, (uint32_t)(stream_rd_varint(&more) >> 1));
    return v;
}

/* Writes the term's postings, its doc numbers moved up by `base`. */
static inline void write_postings(seg_writer *sw, const idx_builder *b, const flush_term *f,
                                  uint32_t base)
{
    if (ft_single(f)) {
        segw_doc(sw, base + f->doc, 1);
        segw_pos_gap(sw, f->pos);
        return;
    }
    stream_rd rd;
    stream_rd_at(&rd, b, f->slice_head, f->stop);
    /* the stream's position gaps are the segment's: no conversion */
    uint32_t doc = NO_DOC;
    uint64_t v = stream_rd_varint(&rd);   /* the first doc mark */
    for (uint32_t k = 0; k < f->df; k++) {
        uint32_t gap = (uint32_t)(v >> 1);
        doc = doc == NO_DOC ? gap : doc + gap + 1;
        /* The doc's tf is its count of position gaps, up to the next doc
         * mark, and the segment writer takes the doc before its
         * positions: they are read ahead into pos_buf's slack. */
        const uint32_t pn = sw->pos_n;
        uint32_t *g = sw->pos_buf + pn, tf = 0;
        for (;;) {
            if (rd.p == rd.stop) break;
            v = stream_rd_varint(&rd);
            if (v & 1) break;
            if (__builtin_expect(tf == SEGW_POS_SLACK, 0)) {
                v = write_long_doc(sw, &rd, base + doc, (uint32_t)(v >> 1));
                goto next;
            }
            g[tf++] = (uint32_t)(v >> 1);
        }
        segw_doc(sw, base + doc, tf);
        pos_commit(sw, pn + tf);
    next:;
    }
}

int idx_builder_flush(idx_builder *b, quire_error *err)
{
    int rc = QUIRE_OK;
    flush_term *ft = NULL;
    uint32_t *ids_order = NULL;
    uint8_t *values = NULL;
    size_t values_len = 0;
    seg_writer *sw = &b->sw;
    if (b->failed || !b->sw_open) return qerr(err, QUIRE_EARG, "builder is in a failed state");
    if ((rc = storew_finish(&b->store, err)) || (rc = segw_pos_direct(sw, err))) goto fail;

    ft = flush_terms(b);
    ids_order = sort_ids(b->id_off, b->ids, b->ndocs);
    if (!ft || !ids_order) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto fail;
    }

    segw_set_norms(sw, b->norms, b->ndocs, b->total_len);
    if (val_set_encode(&b->values, b->ndocs, &values, &values_len)) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto fail;
    }
    segw_set_values(sw, values, values_len);
    for (uint32_t i = 0; i < b->nterms; i++) {
        prefetch_terms(b, ft, i, b->nterms);
        const flush_term *f = &ft[i];
        if ((rc = segw_term_begin(sw, (const uint8_t *)b->arena + f->term_off, f->term_len,
                                  f->df, f->cf, err)))
            goto fail;
        write_postings(sw, b, f, 0);
        if ((rc = segw_term_end(sw, err))) goto fail;
    }

    seg_meta meta = {
        .ndocs = b->ndocs, .tok_flags = b->tok_flags, .nterms = b->nterms,
        .total_len = b->total_len, .npostings = b->npostings,
        .npositions = b->npositions, .block_size = IDX_BLOCK,
        .dict_block = SEG_DICT_BLOCK,
    };
    rc = segw_finish(sw, &meta, b->store.idx, b->store.idx_len,
                     ids_order, b->id_off, b->ids, err);
    if (rc) goto fail;
    free(ft);
    free(ids_order);
    free(values);
    segw_close(sw);
    b->sw_open = 0;
    return QUIRE_OK;
fail:
    free(ft);
    free(ids_order);
    free(values);
    segw_abort(sw);
    b->sw_open = 0;
    b->failed = 1;
    return rc;
}

/* ---- joint flush ---------------------------------------------------------
 *
 * Several builders filled side by side (the writer's lanes) written as one
 * segment, by several threads: their documents one builder after another,
 * each term's postings builder by builder.  Flushed apart, the lanes' last
 * segments had to be merged again (on corpus/cache/all.jsonl, 0.1 s of a
 * 0.45 s two-thread build).  It costs more than flushing the builders
 * apart: a term most builders have is looked up in each, and its postings
 * are two chains of pool slices, each started small (the terms of the two
 * lanes of corpus/cache/all.jsonl take 110 ms written by one thread, 53-57
 * ms each by two, where one builder of all the documents writes its terms
 * in 90 ms).
 *
 * The steps, with `threads` threads (at most one per builder): each
 * finishes the stores and sorts the terms and ids of builders, taking the
 * next one when done with one (so that the end of a lane's input another
 * lane took goes with the smaller builders); then each thread t writes
 * its share of the terms, a contiguous range of the bytewise term order,
 * into builder t's writer (t > 0 recording its terms: segwrite.h); the
 * last thread then appends the other builders' stores to builder 0's file
 * (their compressed blocks copied, not recompressed) while thread 0, once
 * every range is written, joins them to builder 0's writer and merges the
 * ids; thread 0 finishes the file.  The ranges are cut at equal shares
 * of builder 0's work (joint_cut); the file is the same whichever way
 * they are cut, and however many threads write it.  (The writer joins
 * more builders than it has threads when a lane took the end of another
 * lane's input: writer.c.) */

typedef struct joint joint;

typedef struct joint_task {
    joint *j;
    uint32_t part;
    flush_term *ft;            /* prepare: this builder's terms, sorted */
    uint32_t *ids_order;       /* prepare: its doc numbers sorted by id */
    uint64_t nterms;           /* write: distinct terms written */
    int rc;
    quire_error err;
} joint_task;

struct joint {
    idx_builder *const *b;
    size_t n;
    size_t nparts;             /* threads; part p is written by task p */
    size_t next_prepare;       /* the next builder to prepare (atomic) */
    joint_task *task;
    uint32_t *base;            /* the first joint doc number of each builder */
    uint32_t *lo;              /* n * (nparts + 1): part p of builder i is the */
                               /* sorted range [lo[p*n+i], lo[(p+1)*n+i]) */
    uint32_t *norms;
    uint32_t ndocs;
    uint64_t pos_off;          /* where builder 0's file takes the positions */
    /* part 0 joins the others' terms once all are written (under mu:
     * terms_left counts the parts still writing theirs), and merges the
     * ids, while the last part copies the stores */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t terms_left;
    int terms_failed;          /* a part's terms failed (under mu) */
    int together;              /* every part has a thread: part 0 may wait */
    int joined;
    uint64_t *id_off;
    char *ids;
    uint32_t *ids_sorted;
};

/* Prepares builders until none is left (results in the builder's task,
 * errors in the running one's). */
static void *joint_prepare(void *arg)
{
    joint_task *t = arg;
    joint *j = t->j;
    for (;;) {
        size_t i = __atomic_fetch_add(&j->next_prepare, 1, __ATOMIC_RELAXED);
        if (i >= j->n || t->rc) break;
        idx_builder *b = j->b[i];
        joint_task *r = &j->task[i];
        r->ft = flush_terms(b);
        r->ids_order = sort_ids(b->id_off, b->ids, b->ndocs);
        if (!r->ft || !r->ids_order)
            t->rc = qerr(&t->err, QUIRE_ENOMEM, "out of memory");
        else
            t->rc = storew_finish(&b->store, &t->err);
    }
    return NULL;
}

/* Bytewise order of two builders' terms.  Their first 8 bytes decide
 * nearly every comparison: compared as numbers (str_key), without memcmp (3.6% of the
 * samples of a two-thread build of corpus/cache/all.jsonl were memcmp). */
static int term_cmp(const idx_builder *x, const flush_term *p, const idx_builder *y,
                    const flush_term *q)
{
    const char *a = x->arena + p->term_off, *b = y->arena + q->term_off;
    uint64_t ka = str_key(a, p->term_len, 0), kb = str_key(b, q->term_len, 0);
    if (ka != kb) return ka < kb ? -1 : 1;
    size_t m = p->term_len < q->term_len ? p->term_len : q->term_len;
    int c = m > 8 ? memcmp(a + 8, b + 8, m - 8) : 0;
    if (c) return c;
    return (p->term_len > q->term_len) - (p->term_len < q->term_len);
}

/* The first place in builder i's sorted terms not before builder 0's
 * term `t0`. */
static uint32_t lower_bound(const joint *j, size_t i, const flush_term *t0)
{
    const idx_builder *b = j->b[i];
    const flush_term *ft = j->task[i].ft;
    uint32_t lo = 0, hi = b->nterms;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (term_cmp(b, &ft[mid], j->b[0], t0) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* What writing a term costs, in postings and positions (its entries are
 * at random places: a few cache misses each).  Cut at equal shares of
 * postings and positions alone, the two parts of corpus/cache/all.jsonl
 * took 78k terms and 84 ms, and 55k terms and 66 ms; at 32, about 80 ms
 * each (from 70 to 93 ms, run to run). */
#define TERM_COST 32
/* What copying the other builders' stores costs, in the same units: the
 * last part does it after its terms (joint_write_part), so it takes that
 * much less of them.  Copied first by part 0, the stores of a two-thread
 * build of 278 MB of corpus/cache/big.jsonl (55 MB of them) held part 0
 * back 38 ms, and it ended 59 ms after part 1.  Copied last without this
 * allowance, the last part ended 18 ms after part 0; at 40 bytes a unit,
 * 8 ms before it. */
#define STORE_COPY_BYTES_PER_UNIT 48

static uint64_t term_units(const idx_builder *b)
{
    return (uint64_t)b->nterms * TERM_COST + b->npostings + b->npositions;
}

static void joint_cut(joint *j)
{
    const idx_builder *b0 = j->b[0];
    const flush_term *ft = j->task[0].ft;
    size_t n = j->n, np = j->nparts;
    /* the parts' shares of all the work, as shares of builder 0's terms
     * (the other builders' terms are cut where builder 0's are) */
    uint64_t all = 0, copy = 0;
    for (size_t i = 0; i < n; i++) all += term_units(j->b[i]);
    for (size_t i = 1; i < n; i++) copy += j->b[i]->store.out_len / STORE_COPY_BYTES_PER_UNIT;
    double scale = all ? (double)term_units(b0) / (double)all : 0;
    double share = (double)(all + copy) / (double)np;
    uint64_t sum = 0;
    uint32_t k = 0;
    for (size_t i = 0; i < n; i++) {
        j->lo[i] = 0;
        j->lo[np * n + i] = j->b[i]->nterms;
    }
    for (size_t p = 1; p < np; p++) {
        double goal = share * (double)p * scale;
        while (k < b0->nterms && (double)sum < goal) {
            sum += TERM_COST + ft[k].df + ft[k].cf;
            k++;
        }
        for (size_t i = 0; i < n; i++)
            j->lo[p * n + i] = k == b0->nterms ? j->b[i]->nterms
                               : i == 0        ? k
                                               : lower_bound(j, i, &ft[k]);
    }
}

/* Writes part p's terms into `sw`: a merge of the builders' sorted ranges. */
static int joint_write(joint *j, uint32_t p, seg_writer *sw, uint64_t *nterms,
                       quire_error *err)
{
    size_t n = j->n;
    uint32_t at[MAX_JOINT], end[MAX_JOINT], same[MAX_JOINT];
    for (size_t i = 0; i < n; i++) {
        at[i] = j->lo[p * n + i];
        end[i] = j->lo[(p + 1) * n + i];
    }
    for (;;) {
        /* the builders whose next term is the least */
        size_t nsame = 0;
        for (size_t i = 0; i < n; i++) {
            if (at[i] == end[i]) continue;
            const idx_builder *b = j->b[i];
            prefetch_terms(b, j->task[i].ft, at[i], end[i]);
            int c = nsame ? term_cmp(b, &j->task[i].ft[at[i]], j->b[same[0]],
                                     &j->task[same[0]].ft[at[same[0]]])
                          : -1;
            if (c < 0) nsame = 0;
            if (c <= 0) same[nsame++] = (uint32_t)i;
        }
        if (!nsame) return QUIRE_OK;
        uint32_t df = 0;
        uint64_t cf = 0;
        for (size_t s = 0; s < nsame; s++) {
            const flush_term *f = &j->task[same[s]].ft[at[same[s]]];
            df += f->df;
            cf += f->cf;
        }
        const idx_builder *first = j->b[same[0]];
        const flush_term *tf = &j->task[same[0]].ft[at[same[0]]];
        int rc = segw_term_begin(sw, (const uint8_t *)first->arena + tf->term_off,
                                 tf->term_len, df, cf, err);
        if (rc) return rc;
        for (size_t s = 0; s < nsame; s++) {
            size_t i = same[s];
            write_postings(sw, j->b[i], &j->task[i].ft[at[i]++], j->base[i]);
        }
        if ((rc = segw_term_end(sw, err))) return rc;
        (*nterms)++;
    }
}

static int joint_copy_store(joint *j, size_t i, quire_error *err);

static int joint_ids(joint *j, uint64_t **id_off, char **ids, uint32_t **sorted);

/* Part 0, its terms written: once every part's are, joins them to
 * builder 0's writer and merges the ids.  Both only read what the store
 * copy leaves alone (the writers' dictionaries and sections, the ids), so
 * they run while the last part copies the stores: after the terms, part 0
 * had waited for the copy, and part 1 for the join (on
 * corpus/cache/all.jsonl, 4.3 ms of copying, then 3.4 ms of joining and
 * 1.1 ms of ids, each with one thread idle). */
static int joint_join(joint *j, quire_error *err)
{
    pthread_mutex_lock(&j->mu);
    while (j->terms_left > 0) pthread_cond_wait(&j->cv, &j->mu);
    int failed = j->terms_failed;
    pthread_mutex_unlock(&j->mu);
    j->joined = 1;
    /* a part that failed wrote no usable terms (its error is reported) */
    if (failed) return QUIRE_OK;
    for (size_t p = 1; p < j->nparts; p++) {
        int rc = segw_join(&j->b[0]->sw, &j->b[p]->sw, err);
        if (rc) return rc;
    }
    if (joint_ids(j, &j->id_off, &j->ids, &j->ids_sorted))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    return QUIRE_OK;
}

/* Builder 0's positions go into its file right after the store, whose
 * size is known once the stores are finished (j->pos_off): part 0 writes
 * them there at once, and the last part appends the other builders'
 * stores after its terms, with positional writes to the same file. */
static void *joint_write_part(void *arg)
{
    joint_task *t = arg;
    joint *j = t->j;
    if (t->part == 0) t->rc = segw_pos_at(&j->b[0]->sw, j->pos_off, &t->err);
    if (!t->rc) t->rc = joint_write(j, t->part, &j->b[t->part]->sw, &t->nterms, &t->err);
    pthread_mutex_lock(&j->mu);
    if (t->rc) j->terms_failed = 1;
    if (--j->terms_left == 0) pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (t->part == 0 && j->together && !t->rc) t->rc = joint_join(j, &t->err);
    for (size_t i = 1; t->part == j->nparts - 1 && i < j->n && !t->rc; i++)
        t->rc = joint_copy_store(j, i, &t->err);
    return NULL;
}

/* Appends builder i's finished store to builder 0's, block by block. */
static int joint_copy_store(joint *j, size_t i, quire_error *err)
{
    idx_builder *b0 = j->b[0], *b = j->b[i];
    uint64_t start;
    int rc = segw_store_sync(&b->sw, &start, err);
    if (rc) return rc;
    int fd = open(b->sw.path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return qerr(err, QUIRE_EIO, "open %s: %s", b->sw.path, strerror(errno));
    size_t cap = (size_t)1 << 20, have = 0;
    uint64_t buf_at = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) rc = qerr(err, QUIRE_ENOMEM, "out of memory");
    for (size_t e = 0; !rc && e < b->store.idx_len; e += 24) {
        const uint8_t *x = b->store.idx + e;
        uint32_t ndocs = ld32(x + 4), clen = ld32(x + 16), raw = ld32(x + 20);
        uint64_t off = ld64(x + 8);
        if (off < buf_at || off + clen > buf_at + have) {
            /* read on from this block, as far as the buffer goes */
            if (grow_array((void **)&buf, &cap, clen, 1, cap)) {
                rc = qerr(err, QUIRE_ENOMEM, "out of memory");
                break;
            }
            uint64_t left = b->store.out_len - off;
            size_t want = left < cap ? (size_t)left : cap;
            if ((rc = pread_all(fd, buf, want, start + off, b->sw.path, err))) break;
            buf_at = off;
            have = want;
        }
        rc = storew_copy_block(&b0->store, buf + (off - buf_at), clen, raw, ndocs, err);
    }
    free(buf);
    close(fd);
    return rc;
}

/* Joint ids: builder i's docs by id, merged (ties go to the lower builder,
 * whose docs have the lower numbers, as sort_ids orders them). */
static int joint_ids(joint *j, uint64_t **id_off, char **ids, uint32_t **sorted)
{
    size_t n = j->n, len = 0;
    for (size_t i = 0; i < n; i++) len += j->b[i]->ids_len;
    *id_off = malloc(((size_t)j->ndocs + 1) * sizeof **id_off);
    *ids = malloc(len ? len : 1);
    *sorted = malloc(((size_t)j->ndocs + 1) * sizeof **sorted);
    if (!*id_off || !*ids || !*sorted) return -1;
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const idx_builder *b = j->b[i];
        memcpy(*ids + at, b->ids, b->ids_len);
        for (uint32_t d = 0; d < b->ndocs; d++) (*id_off)[j->base[i] + d] = at + b->id_off[d];
        at += b->ids_len;
    }
    (*id_off)[j->ndocs] = at;
    uint32_t pos[MAX_JOINT] = {0};
    for (uint32_t k = 0; k < j->ndocs; k++) {
        size_t best = n;
        const char *bid = NULL;
        size_t blen = 0;
        for (size_t i = 0; i < n; i++) {
            if (pos[i] == j->b[i]->ndocs) continue;
            uint32_t d = j->task[i].ids_order[pos[i]];
            const char *id = j->b[i]->ids + j->b[i]->id_off[d];
            size_t len_i = j->b[i]->id_off[d + 1] - j->b[i]->id_off[d];
            if (best < n) {
                size_t m = len_i < blen ? len_i : blen;
                int c = m ? memcmp(id, bid, m) : 0;
                if (c > 0 || (c == 0 && len_i >= blen)) continue;
            }
            best = i;
            bid = id;
            blen = len_i;
        }
        (*sorted)[k] = j->base[best] + j->task[best].ids_order[pos[best]++];
    }
    return 0;
}

/* Runs fn(task[i]) for i in 1..nparts-1 in threads of their own and
 * fn(task[0]) here; a thread that cannot be started runs here too
 * (run_each, which sets *together, if given). */
static void joint_run(joint *j, void *(*fn)(void *), int *together)
{
    run_each(fn, j->task, sizeof *j->task, j->nparts, together);
}

static int joint_error(const joint *j, quire_error *err)
{
    for (size_t i = 0; i < j->n; i++)
        if (j->task[i].rc) {
            if (err) *err = j->task[i].err;
            return j->task[i].rc;
        }
    return QUIRE_OK;
}

int idx_builder_flush_joint(idx_builder *const *b, size_t n, size_t threads,
                            quire_error *err)
{
    if (n == 1) return idx_builder_flush(b[0], err);
    int rc = QUIRE_OK;
    if (n > MAX_JOINT) return qerr(err, QUIRE_EARG, "a joint flush takes at most %d builders",
                                   MAX_JOINT);
    joint j = {.b = b, .n = n, .nparts = threads < 1 ? 1 : threads > n ? n : threads};
    val_set values = {0};
    uint8_t *values_buf = NULL;
    size_t values_len = 0;
    if (pthread_mutex_init(&j.mu, NULL) != 0)
        return qerr(err, QUIRE_ENOMEM, "cannot create a mutex");
    if (pthread_cond_init(&j.cv, NULL) != 0) {
        pthread_mutex_destroy(&j.mu);
        return qerr(err, QUIRE_ENOMEM, "cannot create a condition variable");
    }
    j.terms_left = j.nparts;
    seg_meta meta = {.tok_flags = b[0]->tok_flags, .block_size = IDX_BLOCK,
                     .dict_block = SEG_DICT_BLOCK};
    for (size_t i = 0; i < n; i++) {
        if (b[i]->failed || !b[i]->sw_open) {
            rc = qerr(err, QUIRE_EARG, "builder is in a failed state");
            goto out;
        }
        if ((uint64_t)meta.ndocs + b[i]->ndocs > UINT32_MAX - 1) {
            rc = qerr(err, QUIRE_EARG, "too many documents for one segment");
            goto out;
        }
        meta.ndocs += b[i]->ndocs;
        meta.total_len += b[i]->total_len;
        meta.npostings += b[i]->npostings;
        meta.npositions += b[i]->npositions;
    }
    j.ndocs = meta.ndocs;
    j.task = calloc(n, sizeof *j.task);
    j.base = malloc(n * sizeof *j.base);
    j.lo = malloc(n * (j.nparts + 1) * sizeof *j.lo);
    j.norms = malloc(((size_t)j.ndocs + 1) * sizeof *j.norms);
    if (!j.task || !j.base || !j.lo || !j.norms) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0, at = 0; i < n; at += b[i]->ndocs, i++) {
        j.task[i] = (joint_task){.j = &j, .part = (uint32_t)i};
        j.base[i] = (uint32_t)at;
        memcpy(j.norms + at, b[i]->norms, (size_t)b[i]->ndocs * sizeof *j.norms);
        if (val_set_append(&values, &b[i]->values, (uint32_t)at)) {
            rc = qerr(err, QUIRE_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (val_set_encode(&values, j.ndocs, &values_buf, &values_len)) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }
    segw_set_values(&b[0]->sw, values_buf, values_len);

    joint_run(&j, joint_prepare, NULL);
    if ((rc = joint_error(&j, err))) goto out;
    joint_cut(&j);
    j.pos_off = segw_store_end(&b[0]->sw);
    for (size_t i = 1; i < n; i++) j.pos_off += b[i]->store.out_len;
    j.pos_off = (j.pos_off + SEG_ALIGN - 1) / SEG_ALIGN * SEG_ALIGN;
    for (size_t i = 0; i < j.nparts; i++) {
        segw_set_norms(&b[i]->sw, j.norms, j.ndocs, meta.total_len);
        if (i) segw_record_terms(&b[i]->sw);
    }
    joint_run(&j, joint_write_part, &j.together);
    if ((rc = joint_error(&j, err))) goto out;
    if (!j.joined && (rc = joint_join(&j, err))) goto out;

    for (size_t i = 0; i < j.nparts; i++) meta.nterms += j.task[i].nterms;
    rc = segw_finish(&b[0]->sw, &meta, b[0]->store.idx, b[0]->store.idx_len, j.ids_sorted,
                     j.id_off, j.ids, err);
out:
    for (size_t i = 0; i < n; i++) {
        /* the others' files held only their stores, now in builder 0's */
        if (i == 0 && !rc) segw_close(&b[i]->sw);
        else if (b[i]->sw_open) segw_abort(&b[i]->sw);
        b[i]->sw_open = 0;
        if (rc) b[i]->failed = 1;
        if (j.task) {
            free(j.task[i].ft);
            free(j.task[i].ids_order);
        }
    }
    free(j.task);
    free(j.base);
    free(j.lo);
    free(j.norms);
    val_set_free(&values);
    free(values_buf);
    free(j.id_off);
    free(j.ids);
    free(j.ids_sorted);
    pthread_cond_destroy(&j.cv);
    pthread_mutex_destroy(&j.mu);
    return rc;
}
