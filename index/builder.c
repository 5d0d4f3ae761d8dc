/*
 * builder.c — inverts documents in memory and writes them as one segment.
 *
 * Per document, each token is looked up in an open-addressing hash table on
 * XXH3 of the term; its occurrences in the current document are chained in
 * per-document scratch arrays.  When the document ends, each distinct term
 * appends (doc gap, tf, position gaps) as varints to its own posting stream.
 * Streams live in one byte pool as chains of slices that double in size up
 * to 4 KiB (the idea of Lucene's ByteBlockPool): no per-term allocation, and
 * rare terms cost 16 bytes.  Stored documents are compressed with zstd in
 * ~16 KiB blocks as they arrive and streamed to a temporary file, so the
 * memory estimate covers only the inverted data, the norms and the ids.
 *
 * At flush, terms are sorted bytewise and each stream is decoded once and
 * re-encoded into the segment's block format by segment_write.c's layout
 * (see the header comment there and docs/FORMAT.md).
 *
 * With TOK_COMMONGRAMS, each token is also paired with the tokens of the
 * previous position of the same field; a pair where either term is common
 * (index/commongrams.h) is indexed as a bigram term at the first token's
 * position.  Bigrams are postings like any other term, but they are not
 * tokens: they do not count in the document length, so BM25 is unchanged.
 */
#define _GNU_SOURCE
#include "index/builder.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
#include "index/util.h"

#define NO_DOC UINT32_MAX
#define SLICE_LEVELS 9
static const uint32_t slice_size[SLICE_LEVELS] = {16, 32, 64, 128, 256, 512,
                                                  1024, 2048, 4096};

typedef struct term_ent {
    uint32_t term_off;     /* into terms arena */
    uint32_t term_len;
    uint32_t hash;
    uint32_t df;
    uint64_t cf;
    uint32_t last_doc;     /* last doc appended to the stream */
    uint32_t cur_doc;      /* doc whose occurrences are being chained */
    uint32_t occ_head, occ_tail, occ_n;
    uint32_t slice_head;   /* first slice of the stream in the pool */
    uint32_t write;        /* next byte to write */
    uint32_t slice_end;    /* where the current slice's next pointer sits */
    uint32_t level;
    uint8_t common;        /* a common word (only with TOK_COMMONGRAMS) */
} term_ent;

struct idx_builder {
    tok_tokenizer *tok;
    uint32_t tok_flags;

    /* terms */
    term_ent *terms; uint32_t nterms, terms_cap;
    char *arena; size_t arena_len, arena_cap;
    /* open addressing; a slot is (hash << 32) | (term index + 1), 0 = empty,
     * so a probe rejects most non-matching terms without touching them */
    uint64_t *table; uint32_t table_mask;

    /* posting streams */
    uint8_t *pool; size_t pool_len, pool_cap;

    /* per-document scratch */
    uint32_t *occ_pos, *occ_next; uint32_t occ_n, occ_cap;
    uint32_t *doc_terms; uint32_t doc_nterms, doc_terms_cap;
    uint32_t cur_doc;
    uint32_t cur_len;

    /* CommonGrams: the terms at the current position (cg_pos) and at the
     * one before it (only if exactly cg_pos - 1), of the current field */
    int cg;                         /* TOK_COMMONGRAMS is set */
    int cg_have;                    /* cg_pos is valid */
    uint32_t cg_pos;
    uint32_t *cg_prev, *cg_cur;
    uint32_t cg_prev_n, cg_cur_n, cg_prev_cap, cg_cur_cap;
    char cg_buf[2 * TOK_MAX_TERM_BYTES + 1];
    struct cg_slot *cg_cache;       /* CG_CACHE_SIZE entries */

    /* per-document data */
    uint32_t *norms; uint32_t ndocs, norms_cap;
    char *ids; size_t ids_len, ids_cap;
    uint64_t *id_off; /* ndocs + 1 offsets into ids */
    size_t id_off_cap;
    uint64_t total_len, npostings, npositions;

    store_writer store;

    char *tmp_prefix;
    quire_error *err;     /* of the current add, for the token callback */
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
#define CG_CACHE_SIZE (1u << CG_CACHE_BITS)
struct cg_slot {
    uint32_t a, b, id;      /* a == NO_DOC: empty */
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *n = realloc(*p, c * elem);
    if (!n) return -1;
    *p = n;
    *cap = c;
    return 0;
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

int idx_builder_new(uint32_t tok_flags, const char *tmp_prefix,
                    idx_builder **out, quire_error *err)
{
    idx_builder *b = calloc(1, sizeof *b);
    if (!b) return qerr(err, QUIRE_ENOMEM, "out of memory");
    b->tok_flags = tok_flags;
    b->cg = (tok_flags & TOK_COMMONGRAMS) != 0;
    b->cur_doc = NO_DOC;
    b->tmp_prefix = strdup(tmp_prefix);
    b->table_mask = (1u << 10) - 1;
    b->table = calloc((size_t)b->table_mask + 1, sizeof *b->table);
    if (!b->tmp_prefix || !b->table) {
        idx_builder_free(b);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    if (b->cg) {
        b->cg_cache = malloc(CG_CACHE_SIZE * sizeof *b->cg_cache);
        if (!b->cg_cache) {
            idx_builder_free(b);
            return qerr(err, QUIRE_ENOMEM, "out of memory");
        }
        for (uint32_t i = 0; i < CG_CACHE_SIZE; i++)
            b->cg_cache[i].a = NO_DOC;
    }
    if (tok_new(tok_flags, TOK_MODE_INDEX, &b->tok) != 0) {
        idx_builder_free(b);
        return qerr(err, QUIRE_EARG, "cannot create tokenizer (flags %#x)",
                    tok_flags);
    }
    char *p = malloc(strlen(tmp_prefix) + 16);
    if (!p) {
        idx_builder_free(b);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    sprintf(p, "%s.store", tmp_prefix);
    int rc = storew_open(&b->store, p, err);
    free(p);
    if (rc) {
        idx_builder_free(b);
        return rc;
    }
    *out = b;
    return QUIRE_OK;
}

void idx_builder_free(idx_builder *b)
{
    if (!b) return;
    tok_free(b->tok);
    free(b->terms);
    free(b->arena);
    free(b->table);
    free(b->pool);
    free(b->occ_pos);
    free(b->occ_next);
    free(b->doc_terms);
    free(b->cg_prev);
    free(b->cg_cur);
    free(b->cg_cache);
    free(b->norms);
    free(b->ids);
    free(b->id_off);
    storew_close(&b->store);
    free(b->tmp_prefix);
    free(b);
}

uint32_t idx_builder_ndocs(const idx_builder *b) { return b->ndocs; }

size_t idx_builder_mem(const idx_builder *b)
{
    return b->pool_cap + b->arena_cap + (size_t)b->terms_cap * sizeof(term_ent) +
           ((size_t)b->table_mask + 1) * 8 + (size_t)b->occ_cap * 8 +
           (size_t)b->norms_cap * 4 + b->ids_cap + b->id_off_cap * 8 +
           ((size_t)b->cg_prev_cap + b->cg_cur_cap) * 4 +
           (b->cg_cache ? CG_CACHE_SIZE * sizeof(struct cg_slot) : 0) +
           storew_mem(&b->store);
}

/* ---- byte pool ---------------------------------------------------------- */

static int slice_alloc(idx_builder *b, uint32_t level, uint32_t *start)
{
    size_t need = b->pool_len + slice_size[level];
    if (need > UINT32_MAX) return -1;
    if (grow((void **)&b->pool, &b->pool_cap, need, 1)) return -1;
    *start = (uint32_t)b->pool_len;
    b->pool_len = need;
    return 0;
}

static int stream_byte(idx_builder *b, term_ent *t, uint8_t v)
{
    if (t->write == t->slice_end) {
        uint32_t lvl = t->level + 1 < SLICE_LEVELS ? t->level + 1 : t->level;
        uint32_t s;
        if (slice_alloc(b, lvl, &s)) return -1;
        st32(b->pool + t->slice_end, s);
        t->level = lvl;
        t->write = s;
        t->slice_end = s + slice_size[lvl] - 4;
    }
    b->pool[t->write++] = v;
    return 0;
}

__attribute__((noinline)) static int stream_varint_slow(idx_builder *b, term_ent *t,
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
static inline int stream_varint(idx_builder *b, term_ent *t, uint64_t v)
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

/* Reads a term's stream back in order. */
typedef struct stream_rd {
    const uint8_t *pool;
    uint32_t p, end, level, stop;
} stream_rd;

static void stream_rd_init(stream_rd *r, const idx_builder *b, const term_ent *t)
{
    r->pool = b->pool;
    r->p = t->slice_head;
    r->level = 0;
    r->end = t->slice_head + slice_size[0] - 4;
    r->stop = t->write;
}

static inline uint8_t stream_rd_byte(stream_rd *r)
{
    if (r->p == r->end && r->p != r->stop) {
        uint32_t next = ld32(r->pool + r->end);
        if (r->level + 1 < SLICE_LEVELS) r->level++;
        r->p = next;
        r->end = next + slice_size[r->level] - 4;
    }
    return r->pool[r->p++];
}

static inline uint32_t stream_rd_varint(stream_rd *r)
{
    uint32_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t c = stream_rd_byte(r);
        v |= (uint32_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return v;
    }
}

/* ---- term table ------------------------------------------------------- */

static int table_grow(idx_builder *b)
{
    uint32_t nsize = (b->table_mask + 1) * 2;
    uint64_t *nt = calloc(nsize, sizeof *nt);
    if (!nt) return -1;
    uint32_t mask = nsize - 1;
    for (uint32_t i = 0; i < b->nterms; i++) {
        uint32_t h = b->terms[i].hash & mask;
        while (nt[h]) h = (h + 1) & mask;
        nt[h] = ((uint64_t)b->terms[i].hash << 32) | (i + 1);
    }
    free(b->table);
    b->table = nt;
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

/* Most terms are at most 8 bytes: one multiply (Fibonacci hashing, the high
 * half) hashes them; longer ones go through XXH3. */
static inline uint32_t term_hash(const char *s, uint32_t len)
{
    if (len <= 8) {
        uint64_t v = 0;
        memcpy(&v, s, len);
        return (uint32_t)(((v ^ ((uint64_t)len << 59)) * 0x9E3779B97F4A7C15ull) >> 32);
    }
    return (uint32_t)XXH3_64bits(s, len);
}

static int term_intern(idx_builder *b, const char *s, uint32_t len,
                       uint32_t *id)
{
    uint32_t hash = term_hash(s, len);
    uint32_t h = hash & b->table_mask;
    for (;;) {
        uint64_t slot = b->table[h];
        if (!slot) break;
        if ((uint32_t)(slot >> 32) == hash) {
            uint32_t idx = (uint32_t)slot - 1;
            term_ent *t = &b->terms[idx];
            if (t->term_len == len && term_eq(b->arena + t->term_off, s, len)) {
                *id = idx;
                return 0;
            }
        }
        h = (h + 1) & b->table_mask;
    }
    if (b->arena_len + len > UINT32_MAX) return -1;
    if (grow32((void **)&b->terms, &b->terms_cap, b->nterms + 1, sizeof(term_ent)))
        return -1;
    if (grow((void **)&b->arena, &b->arena_cap, b->arena_len + len, 1))
        return -1;
    uint32_t start;
    if (slice_alloc(b, 0, &start)) return -1;
    term_ent *t = &b->terms[b->nterms];
    memset(t, 0, sizeof *t);
    t->term_off = (uint32_t)b->arena_len;
    t->term_len = len;
    t->hash = hash;
    t->last_doc = NO_DOC;
    t->cur_doc = NO_DOC;
    t->slice_head = start;
    t->write = start;
    t->slice_end = start + slice_size[0] - 4;
    t->common = b->cg && cg_is_common(s, len);
    memcpy(b->arena + b->arena_len, s, len);
    b->arena_len += len;
    b->table[h] = ((uint64_t)hash << 32) | (b->nterms + 1);
    *id = b->nterms++;
    if ((uint64_t)b->nterms * 2 > b->table_mask) {
        if (table_grow(b)) return -1;
    }
    return 0;
}

/* Records an occurrence of term `id` at `pos` in the current document.
 * Positions arrive in non-decreasing order. */
static int add_occ(idx_builder *b, uint32_t id, uint32_t pos)
{
    if (b->occ_n == b->occ_cap) {
        /* occ_pos and occ_next always share one capacity */
        uint32_t cap = b->occ_cap ? b->occ_cap * 2 : 1024;
        if (cap <= b->occ_cap) return -1;
        uint32_t *p = realloc(b->occ_pos, (size_t)cap * 4);
        if (!p) return -1;
        b->occ_pos = p;
        uint32_t *n = realloc(b->occ_next, (size_t)cap * 4);
        if (!n) return -1;
        b->occ_next = n;
        b->occ_cap = cap;
    }
    term_ent *t = &b->terms[id];
    uint32_t o = b->occ_n++;
    b->occ_pos[o] = pos;
    b->occ_next[o] = NO_DOC;
    if (t->cur_doc != b->cur_doc) {
        if (grow32((void **)&b->doc_terms, &b->doc_terms_cap,
                   b->doc_nterms + 1, 4))
            return -1;
        b->doc_terms[b->doc_nterms++] = id;
        t->cur_doc = b->cur_doc;
        t->occ_head = o;
        t->occ_n = 0;
    } else {
        b->occ_next[t->occ_tail] = o;
    }
    t->occ_tail = o;
    t->occ_n++;
    return 0;
}

/* Starts a field: no token of it is adjacent to one of the previous. */
static void cg_reset(idx_builder *b)
{
    b->cg_have = 0;
    b->cg_prev_n = b->cg_cur_n = 0;
}

/* Pairs term `id` at `pos` with the terms of position pos - 1 and keeps
 * it for pairing with pos + 1. */
static int cg_token(idx_builder *b, uint32_t id, uint32_t pos)
{
    if (!b->cg_have || pos != b->cg_pos) {
        if (b->cg_have && pos == b->cg_pos + 1) {
            uint32_t *t = b->cg_prev, tc = b->cg_prev_cap;
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
        uint32_t pa = b->cg_prev[i];
        const term_ent *a = &b->terms[pa], *c = &b->terms[id];
        if (!a->common && !c->common)
            continue;
        uint64_t key = ((uint64_t)pa << 32) | id;
        struct cg_slot *sl = &b->cg_cache[(key * 0x9E3779B97F4A7C15ull) >>
                                          (64 - CG_CACHE_BITS)];
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
        const term_ent *bt = &b->terms[bid];
        /* The same pair twice at one position is one occurrence. */
        if (bt->cur_doc == b->cur_doc && b->occ_pos[bt->occ_tail] == pos - 1)
            continue;
        if (add_occ(b, bid, pos - 1)) return -1;
    }
    if (grow32((void **)&b->cg_cur, &b->cg_cur_cap, (size_t)b->cg_cur_n + 1, 4))
        return -1;
    b->cg_cur[b->cg_cur_n++] = id;
    return 0;
}

static int on_token(void *ctx, const tok_token *tk)
{
    idx_builder *b = ctx;
    uint32_t id;
    if (term_intern(b, tk->term, tk->len, &id)) return -1;
    if (add_occ(b, id, tk->pos)) return -1;
    b->cur_len++;           /* only real tokens count in the length */
    return b->cg ? cg_token(b, id, tk->pos) : 0;
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
 * varint name_len, name, varint value_len, value. */
static int store_doc(idx_builder *b, const quire_doc_input *d, quire_error *err)
{
    size_t len = 0;
    uint8_t tmp[10];
#define FLEN(n, v) ((size_t)(varint_put(tmp, n) - tmp) + (n) + \
                    (size_t)(varint_put(tmp, v) - tmp) + (v))
    len += (size_t)(varint_put(tmp, 3 + d->nfields) - tmp);
    len += FLEN(2, d->id_len) + FLEN(5, d->title_len) + FLEN(4, d->body_len);
    for (size_t i = 0; i < d->nfields; i++)
        len += FLEN(d->fields[i].name_len, d->fields[i].value_len);
#undef FLEN
    store_writer *s = &b->store;
    storew_varint(s, len);
    storew_varint(s, 3 + d->nfields);
    store_field(s, "id", 2, d->id, d->id_len);
    store_field(s, "title", 5, d->title, d->title_len);
    store_field(s, "body", 4, d->body, d->body_len);
    for (size_t i = 0; i < d->nfields; i++)
        store_field(s, d->fields[i].name, d->fields[i].name_len, d->fields[i].value,
                    d->fields[i].value_len);
    return storew_end_doc(s, err);
}

/* ---- adding documents --------------------------------------------------- */

int idx_builder_add(idx_builder *b, const quire_doc_input *d, uint32_t *doc,
                    quire_error *err)
{
    if (b->failed) return qerr(err, QUIRE_EARG, "builder is in a failed state");
    if (b->ndocs == NO_DOC - 1)
        return qerr(err, QUIRE_EARG, "segment is full (2^32-1 documents)");
    b->cur_doc = b->ndocs;
    b->occ_n = 0;
    b->doc_nterms = 0;
    b->cur_len = 0;
    uint32_t next = 0;
    cg_reset(b);
    int rc = tok_run(b->tok, d->title ? d->title : "", d->title_len, 0,
                     on_token, b, &next);
    cg_reset(b);
    if (rc == 0)
        rc = tok_run(b->tok, d->body ? d->body : "", d->body_len,
                     idx_body_first_pos(next), on_token, b, &next);
    if (rc != 0) {
        b->failed = 1;
        return qerr(err, QUIRE_ENOMEM, "out of memory while indexing");
    }
    /* Append this document to the stream of every term it contains. */
    for (uint32_t i = 0; i < b->doc_nterms; i++) {
        term_ent *t = &b->terms[b->doc_terms[i]];
        uint32_t gap = t->last_doc == NO_DOC ? b->cur_doc : b->cur_doc - t->last_doc - 1;
        int bad = stream_varint(b, t, gap) || stream_varint(b, t, t->occ_n);
        uint32_t prev = 0;
        for (uint32_t o = t->occ_head; !bad && o != NO_DOC; o = b->occ_next[o]) {
            bad = stream_varint(b, t, b->occ_pos[o] - prev);
            prev = b->occ_pos[o];
        }
        if (bad) {
            b->failed = 1;
            return qerr(err, QUIRE_ENOMEM, "out of memory while indexing");
        }
        t->last_doc = b->cur_doc;
        t->df++;
        t->cf += t->occ_n;
        b->npostings++;
        b->npositions += t->occ_n;
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
    rc = store_doc(b, d, err);
    if (rc) {
        b->failed = 1;
        return rc;
    }
    *doc = b->ndocs++;
    return QUIRE_OK;
}

/* ---- flush -------------------------------------------------------------- */

static int cmp_terms(const void *a, const void *b, void *ctx)
{
    const idx_builder *bd = ctx;
    const term_ent *x = &bd->terms[*(const uint32_t *)a];
    const term_ent *y = &bd->terms[*(const uint32_t *)b];
    size_t m = x->term_len < y->term_len ? x->term_len : y->term_len;
    int c = memcmp(bd->arena + x->term_off, bd->arena + y->term_off, m);
    if (c) return c;
    return (x->term_len > y->term_len) - (x->term_len < y->term_len);
}

int idx_builder_flush(idx_builder *b, const char *path, quire_error *err)
{
    int rc = QUIRE_OK;
    uint32_t *order = NULL, *ids_order = NULL;
    seg_writer sw;
    if (b->failed) return qerr(err, QUIRE_EARG, "builder is in a failed state");
    if ((rc = storew_finish(&b->store, err))) return rc;
    if ((rc = segw_open(&sw, path, b->tmp_prefix, err))) return rc;

    order = malloc((size_t)(b->nterms ? b->nterms : 1) * sizeof *order);
    ids_order = sort_ids(b->id_off, b->ids, b->ndocs);
    if (!order || !ids_order) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < b->nterms; i++) order[i] = i;
    qsort_r(order, b->nterms, sizeof *order, cmp_terms, b);

    segw_set_norms(&sw, b->norms, b->ndocs);
    for (uint32_t i = 0; i < b->nterms; i++) {
        term_ent *t = &b->terms[order[i]];
        stream_rd rd;
        stream_rd_init(&rd, b, t);
        if ((rc = segw_term_begin(&sw, (const uint8_t *)b->arena + t->term_off,
                                  t->term_len, t->df, t->cf, err)))
            goto fail;
        uint32_t doc = NO_DOC;
        for (uint32_t k = 0; k < t->df; k++) {
            uint32_t gap = stream_rd_varint(&rd);
            doc = doc == NO_DOC ? gap : doc + gap + 1;
            uint32_t tf = stream_rd_varint(&rd);
            uint32_t *pos = segw_posting(&sw, doc, tf);
            if (!pos) {
                rc = qerr(err, QUIRE_ENOMEM, "out of memory");
                goto fail;
            }
            uint32_t p = 0;
            for (uint32_t j = 0; j < tf; j++) {
                p += stream_rd_varint(&rd);
                pos[j] = p;
            }
        }
        if ((rc = segw_term_end(&sw, err))) goto fail;
    }

    seg_meta meta = {
        .ndocs = b->ndocs, .tok_flags = b->tok_flags, .nterms = b->nterms,
        .total_len = b->total_len, .npostings = b->npostings,
        .npositions = b->npositions, .block_size = IDX_BLOCK,
        .dict_block = SEG_DICT_BLOCK,
    };
    rc = segw_finish(&sw, &meta, &b->store.out, b->store.idx, b->store.idx_len,
                     ids_order, b->id_off, b->ids, err);
    if (rc) goto fail;
    free(order);
    free(ids_order);
    segw_close(&sw);
    return QUIRE_OK;
fail:
    free(order);
    free(ids_order);
    segw_abort(&sw);
    return rc;
}
