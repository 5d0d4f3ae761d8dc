/*
 * segwrite.c — writes one immutable segment file.  Format version 5; every
 * integer little-endian; docs/FORMAT.md is the standalone description.
 *
 *   header   64 bytes: "QUIRESEG", u32 version, u32 0, zero padding
 *   sections each starting at a multiple of 64, zero padding between them,
 *            in the order STORE POS STOREIDX META DICT DICTIDX DOCS SKIP
 *            NORMS IDS [VALUES], or, after segw_store_extras (a merge), STORE
 *            STOREIDX NORMS IDS POS META DICT DICTIDX DOCS SKIP [VALUES] (readers
 *            find them through the footer, in any order: the store comes
 *            first so that it can be written while the postings are still
 *            being merged, the sections that need no postings follow it
 *            so that the same thread writes them meanwhile, and the
 *            positions come next so that, once the size of everything
 *            before them is known, they can be written straight into the
 *            file)
 *   footer   u32 nsections, u32 0, then per section 32 bytes:
 *            u32 id, u32 0, u64 offset, u64 length, u64 XXH3-64 of its bytes
 *   trailer  64 bytes: u64 footer offset, u64 footer length, u64 XXH3-64 of
 *            the footer, u32 version, 28 zero bytes, "QSEGEND1"
 *
 * META (64 bytes): u32 ndocs, u32 tok_flags, u64 nterms, u64 total_len,
 *   u64 npostings, u64 npositions, u32 block size (128), u32 dict block (16),
 *   zero padding.
 * DICT / DICTIDX: see dict.c.  A term with df == 1 keeps its document,
 *   and with cf == 1 also its position, in its dictionary entry and has
 *   nothing in DOCS (resp. POS).
 * DOCS, per term with df > 1 at its docs_off: df/128 full blocks, each
 *     PFOR(128 gaps), PFOR(128 values tf - 1)   (codec.h: a header byte
 *     with the width b, packed low bits, then exception indexes and
 *     high parts when some values need more than b bits)
 *   then df%128 tail postings: varint (gap << 1 | tf == 1), and when
 *   tf > 1 varint (tf - 2); or, only for tails of SEG_DOC_TAIL_PACK_MIN
 *   or more, PFOR(n gaps), PFOR(n values tf - 1).  Such tails start with
 *   a byte telling which: SEG_TAIL_VARINTS (0x40, never a PFOR header)
 *   before the varints, else the first PFOR header; the writer keeps the
 *   shorter.  A gap is doc - previous doc - 1; the first doc of the term
 *   is stored as itself.
 * SKIP, per term with df > 128 at its skip_off: one entry per block (full
 *   and tail), all of them in one bit-packed table, see segment.h.
 * POS, per term with cf > 1 at its pos_off: the term's position stream — for each
 *   posting, its tf positions as gaps from the previous position of the same
 *   document (the first one absolute) — in cf/128 full blocks
 *     PFOR(128 gaps)
 *   then cf%128 tail gaps as varints; from SEG_POS_TAIL_PACK_MIN on with a
 *   leading byte as for doc tails: SEG_TAIL_VARINTS and varints, or
 *   PFOR(n gaps), whichever is shorter.
 * A list a merge cut (segw_cut, idx_term.cut_blocks) instead has full
 *   and short blocks in any order: a short one is SEG_SHORT_BLOCK, a byte
 *   n, then n postings coded as a tail; its positions are padded with zero
 *   gaps to a full block, so all its position blocks are full.
 * NORMS: u32 length (number of terms) per document.
 * STORE: zstd frames, one per block of about 16 KiB of records (shorter
 *   where a merge copied an input segment's last block unchanged); a record is
 *   varint record length, varint nfields, then per field varint name length,
 *   name, varint value length, value (fields id, title, body, then extras).
 * STOREIDX: 24 bytes per block: u32 first doc, u32 ndocs, u64 offset in
 *   STORE, u32 compressed length, u32 raw length.
 * IDS: u64 n, u32 docs sorted by external id (bytewise) [n],
 *   u64 id offsets by doc [n + 1], id bytes.
 * VALUES (version 3; only when a document has one): numbers read from
 *   stored fields, a column per field name, written last; see values.c.
 */
#define _GNU_SOURCE
#include "index/segwrite.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/codec.h"
#include "index/util.h"
#include "index/xxh.h"

#define NONE UINT32_MAX
#define OUT_BUF ((size_t)1 << 20)

static int open_tmp(sec_out *s, const char *prefix, const char *suffix,
                    quire_error *err)
{
    size_t n = strlen(prefix) + strlen(suffix) + 1;
    char *p = malloc(n);
    if (!p) return qerr(err, QUIRE_ENOMEM, "out of memory");
    snprintf(p, n, "%s%s", prefix, suffix);
    int rc = sec_open(s, p, err);
    free(p);
    return rc;
}

size_t segw_buffer_mem(void)
{
    return 3 * SEC_BUF + OUT_BUF;   /* docs, skip and pos; the file's */
}

int segw_open(seg_writer *w, const char *path, const char *tmp_prefix,
              quire_error *err)
{
    memset(w, 0, sizeof *w);
    dict_builder_init(&w->dict);
    w->version = SEG_VERSION;
    w->path = strdup(path);
    if (!w->path) return qerr(err, QUIRE_ENOMEM, "out of memory");
    int rc;
    if ((rc = open_tmp(&w->docs, tmp_prefix, ".docs", err)) ||
        (rc = open_tmp(&w->skip, tmp_prefix, ".skip", err)) ||
        (rc = open_tmp(&w->pos, tmp_prefix, ".pos", err))) {
        segw_close(w);
        return rc;
    }
    return QUIRE_OK;
}

int segw_set_version(seg_writer *w, uint32_t version)
{
    if (version != SEG_VERSION && version != SEG_VERSION_IMPACTS) return -1;
    w->version = version;
    w->dict.skip_unit = version < SEG_VERSION_PACKED_SKIP ? SEG_SKIP_ENTRY : 1;
    return 0;
}

void segw_set_norms(seg_writer *w, const uint32_t *norms, uint32_t ndocs, uint64_t total_len)
{
    w->norms = norms;
    w->ndocs = ndocs;
    /* where the impacts of a block split (segment.h): at this segment's
     * average length, which is near what queries will score with */
    w->len_scale = total_len && ndocs ? SEG_IMPACT_B * (double)ndocs / (double)total_len : 0;
}

void segw_set_values(seg_writer *w, const uint8_t *values, size_t len)
{
    w->values = values;
    w->values_len = len;
}

int segw_term_begin(seg_writer *w, const uint8_t *term, size_t len,
                    uint32_t df, uint64_t cf, quire_error *err)
{
    /* skip entries address positions with u32s */
    if (cf > UINT32_MAX / 2)
        return qerr(err, QUIRE_EARG, "a term occurs %llu times in one segment; "
                    "lower the memory budget", (unsigned long long)cf);
    w->term = term;
    w->term_len = len;
    memset(&w->cur, 0, sizeof w->cur);
    w->cur.df = df;
    w->cur.cf = cf;
    w->cur.docs_off = w->docs.len;
    w->cur.pos_off = w->pos.len;
    w->cur.skip_off = w->skip.len;
    w->docs_start = w->docs.len;
    w->pos_start = w->pos.len;
    w->nposted = 0;
    w->blk_n = 0;
    w->prev_doc = NONE;
    w->pos_n = 0;
    w->pos_count = 0;
    w->tf_sum = 0;
    w->has_pending = 0;
    w->cut = 0;
    w->sk_n = 0;
    /* the dictionary entry is added at term end; the caller keeps the
     * term bytes alive until then */
    return QUIRE_OK;
}

void segw_pos_block_(seg_writer *w)
{
    uint8_t buf[CODEC_PFOR_MAX_BYTES(128)];
    sec_write(&w->pos, buf, codec_pfor_encode(w->pos_buf, 128, buf));
    w->pos_n = 0;
    w->pos_count += 128;
}

static void flush_pending(seg_writer *w)
{
    if (!w->has_pending) return;
    uint32_t prev = 0;
    for (uint32_t i = 0; i < w->pending_n; i++) {
        segw_pos_gap(w, w->pending[i] - prev);
        prev = w->pending[i];
    }
    w->has_pending = 0;
}

/* Keeps one skip entry of the term for its table (skip_table_put).
 * `bounds` is the block's impacts (segment.h), as stored. */
static void skip_put(seg_writer *w, uint32_t last_doc, uint32_t docs_off, uint64_t pos_k,
                     uint64_t pos_off, const uint8_t bounds[4])
{
    if (grow_array((void **)&w->sk, &w->sk_cap, (size_t)w->sk_n + 1, sizeof *w->sk, 64)) {
        w->sk_failed = 1;
        return;
    }
    struct segw_skip *e = &w->sk[w->sk_n++];
    e->v[SEG_SKIP_LAST] = last_doc;
    e->v[SEG_SKIP_DOCS] = docs_off;
    e->v[SEG_SKIP_POSK] = (uint32_t)pos_k;
    e->v[SEG_SKIP_POSOFF] = (uint32_t)pos_off;
    memcpy(e->imp, bounds, 4);
}

/* Writes the term's skip entries (segment.h, FORMAT.md): the one place
 * their layout is written. */
static void skip_table_put(seg_writer *w)
{
    uint32_t n = w->sk_n;
    if (w->sk_failed || n == 0) return;   /* reported by segw_term_end */
    if (w->version < SEG_VERSION_PACKED_SKIP) {
        for (uint32_t b = 0; b < n; b++) {
            uint8_t e[SEG_SKIP_ENTRY];
            for (int f = 0; f < 4; f++) st32(e + 4 * f, w->sk[b].v[f]);
            memcpy(e + 16, w->sk[b].imp, 4);
            sec_write(&w->skip, e, sizeof e);
        }
        return;
    }
    uint32_t last0 = w->sk[0].v[SEG_SKIP_LAST];
    uint8_t width[4];
    for (unsigned f = 0; f < 4; f++) {
        uint32_t sub = f == SEG_SKIP_LAST ? last0 : 0, top = 0;
        for (uint32_t b = 0; b < n; b++) top |= w->sk[b].v[f] - sub;
        width[f] = (uint8_t)(top ? 32 - __builtin_clz(top) : 0);
    }
    /* built whole, then written in one piece: 8 bytes of slack for the
     * 64-bit stores of the last values */
    uint64_t len = seg_skip_bytes(n, width);
    if (grow_array((void **)&w->sk_buf, &w->sk_buf_cap, len + 8, 1, 256)) {
        w->sk_failed = 1;
        return;
    }
    uint8_t *t = w->sk_buf;
    memset(t, 0, len + 8);
    memcpy(t, width, 4);
    st32(t + 4, last0);
    for (uint32_t b = 0; b < n; b++) memcpy(t + SEG_SKIP_HEAD + 4 * (size_t)b, w->sk[b].imp, 4);
    uint64_t at = 8 * (SEG_SKIP_HEAD + 4 * (uint64_t)n);
    for (unsigned f = 0; f < 4; f++) {
        uint32_t sub = f == SEG_SKIP_LAST ? last0 : 0;
        for (uint32_t b = 0; b < n; b++) {
            uint64_t o = at + (uint64_t)b * width[f];
            st64(t + (o >> 3), ld64(t + (o >> 3)) | (uint64_t)(w->sk[b].v[f] - sub) << (o & 7));
        }
        at += ((uint64_t)n * width[f] + 7) / 8 * 8;
    }
    sec_write(&w->skip, t, len);
}

static void skip_entry(seg_writer *w)
{
    if (w->cur.df <= IDX_BLOCK) return;
    uint8_t bounds[4];
    seg_impacts_choose(w->blk_docs, w->blk_tfs, w->blk_n, (const uint8_t *)w->norms, w->ndocs,
                       w->len_scale, bounds);
    skip_put(w, w->blk_docs[w->blk_n - 1], w->blk_docs_off, w->blk_pos_k, w->blk_pos_off,
             bounds);
}

void segw_doc_block_(seg_writer *w)
{
    uint32_t gaps[128], tfs[128];
    uint32_t prev = w->prev_doc;
    for (uint32_t i = 0; i < 128; i++) {
        gaps[i] = prev == NONE ? w->blk_docs[i] : w->blk_docs[i] - prev - 1;
        prev = w->blk_docs[i];
        tfs[i] = w->blk_tfs[i] - 1;
    }
    uint8_t buf[2 * CODEC_PFOR_MAX_BYTES(128)];
    size_t n = codec_pfor_encode(gaps, 128, buf);
    n += codec_pfor_encode(tfs, 128, buf + n);
    sec_write(&w->docs, buf, n);
    skip_entry(w);
    w->prev_doc = prev;
    w->blk_n = 0;
}

void segw_doc_block_copy(seg_writer *w, const uint8_t *gaps, size_t gaps_len,
                         const uint8_t *tfs, size_t tfs_len, uint32_t n, uint32_t last_doc,
                         uint64_t tf_sum, uint64_t pos_k, uint64_t pos_off,
                         const uint8_t bounds[4])
{
    if (n < IDX_BLOCK) w->cut = 1;
    /* the entry skip_entry would write, down to its u32 truncations, but
     * for the impacts' split, chosen at the input segment's average
     * length (a bound all the same) */
    if (w->cur.df > IDX_BLOCK)
        skip_put(w, last_doc, (uint32_t)(w->docs.len - w->docs_start), pos_k, pos_off, bounds);
    sec_write(&w->docs, gaps, gaps_len);
    if (tfs_len) sec_write(&w->docs, tfs, tfs_len);
    w->prev_doc = last_doc;
    w->nposted += n;
    w->tf_sum += tf_sum;
}

void segw_pos_blocks_copy(seg_writer *w, const uint8_t *p, size_t len, uint64_t nblocks)
{
    sec_write(&w->pos, p, len);
    w->pos_count += nblocks * IDX_BLOCK;
}

uint32_t *segw_posting(seg_writer *w, uint32_t doc, uint32_t tf)
{
    flush_pending(w);
    if (grow_array((void **)&w->pending, &w->pending_cap, tf, sizeof *w->pending, 64))
        return NULL;
    /* positions of this posting are still pending if the block is
     * flushed now; its skip entry only needs where its first position
     * lives, which segw_doc takes before */
    segw_doc(w, doc, tf);
    w->pending_n = tf;
    w->has_pending = 1;
    return w->pending;
}

static int record_term(seg_writer *w, quire_error *err)
{
    if (grow_array((void **)&w->recs, &w->recs_cap, w->nrecs + 1, sizeof *w->recs, 1024) ||
        grow_array((void **)&w->rec_bytes, &w->rec_cap, w->rec_len + w->term_len, 1, 1 << 16))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    memcpy(w->rec_bytes + w->rec_len, w->term, w->term_len);
    w->recs[w->nrecs++] = (struct segw_rec){w->rec_len, w->term_len, w->cur};
    w->rec_len += w->term_len;
    return QUIRE_OK;
}

void segw_record_terms(seg_writer *w) { w->record = 1; }

int segw_join(seg_writer *w, seg_writer *tail, quire_error *err)
{
    /* the tail's sections follow w's and those of the tails joined before */
    uint64_t docs = w->docs.len, pos = w->pos.len, skip = w->skip.len;
    seg_writer **end = &w->tail;
    for (; *end; end = &(*end)->tail) {
        docs += (*end)->docs.len;
        pos += (*end)->pos.len;
        skip += (*end)->skip.len;
    }
    for (size_t i = 0; i < tail->nrecs; i++) {
        idx_term e = tail->recs[i].e;
        e.docs_off += docs;
        e.pos_off += pos;
        e.skip_off += skip;
        int r = dict_builder_add(&w->dict, tail->rec_bytes + tail->recs[i].term_off,
                                 tail->recs[i].term_len, &e);
        if (r == -1) return qerr(err, QUIRE_ENOMEM, "out of memory");
        if (r) return qerr(err, QUIRE_EARG, "term out of order or longer than %u bytes",
                           DICT_MAX_TERM);
    }
    tail->tail = NULL;
    *end = tail;
    return QUIRE_OK;
}

/* The writer's block of blk_n < 128 postings in tail form (FORMAT.md):
 * varints, or PFOR when that is shorter and the block long enough. */
static void doc_tail_put(seg_writer *w)
{
    /* most tail postings have tf 1: the varint form folds that into the
     * gap's low bit (as Lucene does), saving a byte each */
    uint8_t vbuf[128 * 20], pbuf[1 + 2 * CODEC_PFOR_MAX_BYTES(128)];
    uint32_t gaps[128], tfs[128];
    uint8_t *v = vbuf;
    if (w->blk_n >= SEG_DOC_TAIL_PACK_MIN) *v++ = SEG_TAIL_VARINTS;
    uint32_t prev = w->prev_doc;
    for (uint32_t i = 0; i < w->blk_n; i++) {
        uint32_t gap = prev == NONE ? w->blk_docs[i] : w->blk_docs[i] - prev - 1;
        uint32_t tf = w->blk_tfs[i];
        v = varint_put(v, (uint64_t)gap << 1 | (tf == 1));
        if (tf != 1) v = varint_put(v, tf - 2);
        gaps[i] = gap;
        tfs[i] = tf - 1;
        prev = w->blk_docs[i];
    }
    size_t vlen = (size_t)(v - vbuf), plen = SIZE_MAX;
    if (w->blk_n >= SEG_DOC_TAIL_PACK_MIN) {
        plen = codec_pfor_encode(gaps, w->blk_n, pbuf);
        plen += codec_pfor_encode(tfs, w->blk_n, pbuf + plen);
    }
    if (plen < vlen) sec_write(&w->docs, pbuf, plen);
    else sec_write(&w->docs, vbuf, vlen);
    w->prev_doc = prev;
}

/* The pos_n < 128 waiting position gaps in tail form. */
static void pos_tail_put(seg_writer *w)
{
    uint8_t vbuf[1 + 128 * 5], pbuf[CODEC_PFOR_MAX_BYTES(128)];
    uint8_t *v = vbuf;
    if (w->pos_n >= SEG_POS_TAIL_PACK_MIN) *v++ = SEG_TAIL_VARINTS;
    for (uint32_t i = 0; i < w->pos_n; i++) v = varint_put(v, w->pos_buf[i]);
    size_t vlen = (size_t)(v - vbuf), plen = SIZE_MAX;
    if (w->pos_n >= SEG_POS_TAIL_PACK_MIN)
        plen = codec_pfor_encode(w->pos_buf, w->pos_n, pbuf);
    if (plen < vlen) sec_write(&w->pos, pbuf, plen);
    else sec_write(&w->pos, vbuf, vlen);
}

void segw_cut(seg_writer *w)
{
    if (w->cur.df <= IDX_BLOCK) return;   /* no skip entries to say so */
    flush_pending(w);
    if (w->blk_n == 0 && w->pos_n == 0) return;   /* at a boundary already */
    w->cut = 1;
    if (w->blk_n > 0) {
        uint8_t h[2] = {SEG_SHORT_BLOCK, (uint8_t)w->blk_n};
        sec_write(&w->docs, h, 2);
        doc_tail_put(w);
        skip_entry(w);
        w->blk_n = 0;
    }
    if (w->pos_n > 0) {
        /* zero gaps: the smallest PFOR, and no posting reads them */
        memset(w->pos_buf + w->pos_n, 0, (128 - w->pos_n) * sizeof *w->pos_buf);
        w->pos_n = 128;
        segw_pos_block_(w);
    }
}

int segw_term_end(seg_writer *w, quire_error *err)
{
    flush_pending(w);
    if (w->cur.df == 1) {
        /* a single posting lives in the dictionary entry (see dict.c) */
        w->cur.single_doc = w->blk_docs[0];
        w->blk_n = 0;
        if (w->cur.cf == 1) {
            w->cur.single_pos = w->pos_buf[0];
            w->pos_count += w->pos_n;
            w->pos_n = 0;
        }
    }
    if (w->cut) {
        /* every block not full is a short one, positions padded */
        segw_cut(w);
    } else {
        if (w->blk_n > 0) {
            doc_tail_put(w);
            skip_entry(w);
            w->blk_n = 0;
        }
        if (w->pos_n > 0) pos_tail_put(w);
    }
    w->pos_count += w->pos_n;
    w->pos_n = 0;
    if (w->nposted != w->cur.df || w->tf_sum != w->cur.cf ||
        (w->cut ? w->pos_count < w->cur.cf : w->pos_count != w->cur.cf))
        return qerr(err, QUIRE_ECORRUPT, "internal: posting counts disagree");
    if (w->cut) w->cur.cut_blocks = w->sk_n;
    if (w->cur.df > IDX_BLOCK) skip_table_put(w);
    if (w->sk_failed || (w->cur.df > IDX_BLOCK && w->sk_n == 0))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    if (w->docs.failed || w->pos.failed || w->skip.failed)
        return QUIRE_OK; /* reported by sec_finish with the errno */
    if (w->record) return record_term(w, err);
    int r = dict_builder_add(&w->dict, w->term, w->term_len, &w->cur);
    if (r == -1) return qerr(err, QUIRE_ENOMEM, "out of memory");
    if (r) return qerr(err, QUIRE_EARG, "term out of order or longer than %u bytes",
                       DICT_MAX_TERM);
    return QUIRE_OK;
}

/* ---- assembling the file ---------------------------------------------- */

typedef struct out_file {
    int fd;
    const char *path;
    uint64_t off;      /* file offset of the next byte put */
    XXH3_state_t *h;   /* hash of the section being written, or NULL */
    quire_error *err;
    int rc;
    uint8_t *buf;      /* bytes [off - buf_len, off), not yet written: many
                        * sections are put in 4-byte pieces */
    size_t buf_len;
    size_t hashed;     /* of buf, the bytes already given to h (or put with
                        * no hash): hashed a buffer at a time, not a piece */
    int uncached;      /* written past the page cache (pwrite_uncached) */
    uint64_t wb_from;  /* writeback started before it (file_writeback_step) */
} out_file;


/* Writes are positional: a threaded merge has several threads writing
 * their own parts of the one file through the same descriptor. */
static int out_write(out_file *o, const void *p, size_t n, uint64_t at)
{
    if (o->uncached) return pwrite_uncached(o->fd, p, n, at, &o->uncached, o->path, o->err);
    return pwrite_all(o->fd, p, n, at, o->path, o->err);
}

/* Gives h the bytes put since it last had them.  Hashed piece by piece
 * (XXH3_64bits_update per out_put), a two-thread merge of the 7 segments
 * of a two-thread build of corpus/cache/big.jsonl made 5.4 million calls,
 * nearly all from the 4- and 8-byte pieces of NORMS and IDS, and they
 * were 8.7% of its samples. */
static void out_hash_up(out_file *o)
{
    if (o->h && o->buf_len > o->hashed) XXH3_64bits_update(o->h, o->buf + o->hashed,
                                                           o->buf_len - o->hashed);
    o->hashed = o->buf_len;
}

/* Bytes put from now on go to h (NULL: to no hash); out_set_hash also
 * starts h over. */
static void out_use_hash(out_file *o, XXH3_state_t *h)
{
    out_hash_up(o);
    o->h = h;
}

static void out_set_hash(out_file *o, XXH3_state_t *h)
{
    out_use_hash(o, h);
    XXH3_64bits_reset(h);
}

static uint64_t out_digest(out_file *o)
{
    out_hash_up(o);
    return XXH3_64bits_digest(o->h);
}

static void out_flush(out_file *o)
{
    if (o->rc || o->buf_len == 0) return;
    out_hash_up(o);
    o->rc = out_write(o, o->buf, o->buf_len, o->off - o->buf_len);
    o->buf_len = o->hashed = 0;
    file_writeback_step(o->fd, &o->wb_from, o->off);
}

static void out_put(out_file *o, const void *p, size_t n)
{
    if (o->rc || n == 0) return;
    if (o->buf_len + n > OUT_BUF) {
        out_flush(o);
        if (n >= OUT_BUF) {
            if (o->h) XXH3_64bits_update(o->h, p, n);
            if (!o->rc) o->rc = out_write(o, p, n, o->off);
            o->off += n;
            file_writeback_step(o->fd, &o->wb_from, o->off);
            return;
        }
    }
    memcpy(o->buf + o->buf_len, p, n);
    o->buf_len += n;
    o->off += n;
}

/* Continues at `off`: the bytes between were written by someone else. */
static void out_seek(out_file *o, uint64_t off)
{
    out_flush(o);
    o->off = off;
}

static uint64_t align_up(uint64_t off)
{
    return (off + SEG_ALIGN - 1) / SEG_ALIGN * SEG_ALIGN;
}

static void out_align(out_file *o)
{
    static const uint8_t zeros[SEG_ALIGN];
    out_put(o, zeros, (size_t)(align_up(o->off) - o->off));
}

/* Copies a finished temporary section file into the segment. */
static void out_copy(out_file *o, sec_out *s)
{
    if (o->rc) return;
    static const size_t chunk = 1 << 20;
    uint8_t *buf = malloc(chunk);
    if (!buf) {
        o->rc = qerr(o->err, QUIRE_ENOMEM, "out of memory");
        return;
    }
    uint64_t off = 0;
    while (off < s->len && !o->rc) {
        size_t n = s->len - off < chunk ? (size_t)(s->len - off) : chunk;
        ssize_t got = pread(s->fd, buf, n, (off_t)off);
        if (got <= 0) {
            if (got < 0 && errno == EINTR) continue;
            o->rc = qerr(o->err, QUIRE_EIO, "read %s: %s", s->path,
                         got < 0 ? strerror(errno) : "short file");
            break;
        }
        out_put(o, buf, (size_t)got);
        off += (uint64_t)got;
    }
    free(buf);
}

/* The segment file while it is assembled: its STORE section is written
 * first (segw_store_begin), possibly by another thread while postings
 * are still being added, then everything else (segw_finish). */
struct segw_file {
    out_file o;
    XXH3_state_t *h;                /* o.h while a section is written */
    XXH3_state_t *hp;               /* POS's: another thread may write POS
                                     * while o and h write the store */
    quire_error err;                /* errors of writes to o until segw_finish */
    seg_section_entry tab[SEC_COUNT];
    uint32_t nsec;
    int store_open;                 /* STORE begun and not ended */
    int extras;                     /* STOREIDX, NORMS, IDS follow the store */
    uint64_t pos_off;               /* where POS goes, once it goes direct */
};

static void section_begin(struct segw_file *f, uint32_t id)
{
    out_align(&f->o);
    out_set_hash(&f->o, f->h);
    f->tab[f->nsec] = (seg_section_entry){.id = id, .offset = f->o.off};
}

static void section_end(struct segw_file *f)
{
    f->tab[f->nsec].length = f->o.off - f->tab[f->nsec].offset;
    f->tab[f->nsec].xxh3 = out_digest(&f->o);
    f->nsec++;
}

static void store_end(struct segw_file *f)
{
    if (!f->store_open) return;
    section_end(f);
    f->store_open = 0;
    if (f->o.uncached) {
        out_flush(&f->o);   /* the store's last bytes, uncached too */
        f->o.uncached = 0;
    }
}

static void file_free(struct segw_file *f)
{
    if (!f) return;
    if (f->o.fd >= 0) close(f->o.fd);
    XXH3_freeState(f->h);
    XXH3_freeState(f->hp);
    free(f->o.buf);
    free(f);
}

int segw_store_begin(seg_writer *w, quire_error *err)
{
    struct segw_file *f = calloc(1, sizeof *f);
    if (!f) return qerr(err, QUIRE_ENOMEM, "out of memory");
    f->o.fd = -1;
    f->o.path = w->path;
    f->o.err = &f->err;
    f->h = XXH3_createState();
    f->hp = XXH3_createState();
    f->o.buf = malloc(OUT_BUF);
    if (!f->h || !f->hp || !f->o.buf) {
        file_free(f);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    f->o.fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->o.fd < 0) {
        int e = errno;
        file_free(f);
        return qerr(err, QUIRE_EIO, "create %s: %s", w->path, strerror(e));
    }
    w->file = f;
    uint8_t header[SEG_HEADER_BYTES] = {0};
    memcpy(header, SEG_MAGIC, 8);
    st32(header + 8, w->version);
    out_put(&f->o, header, sizeof header);   /* o.h is NULL: no section */
    section_begin(f, SEC_STORE);
    f->store_open = 1;
    if (f->o.rc) {
        *err = f->err;
        return f->o.rc;
    }
    return QUIRE_OK;
}

void segw_store_uncached(seg_writer *w)
{
    if (w->file && w->file->store_open) w->file->o.uncached = 1;
}

void segw_store_put(void *w, const void *p, size_t n)
{
    out_put(&((seg_writer *)w)->file->o, p, n);
}

int segw_store_sync(seg_writer *w, uint64_t *start, quire_error *err)
{
    struct segw_file *f = w->file;
    if (!f || !f->store_open) return qerr(err, QUIRE_EARG, "internal: no store open");
    out_flush(&f->o);
    if (f->o.rc) {
        *err = f->err;
        return f->o.rc;
    }
    *start = f->tab[f->nsec].offset;
    return QUIRE_OK;
}

uint64_t segw_store_end(const seg_writer *w)
{
    return w->file->o.off;
}

static void put_storeidx(struct segw_file *f, const uint8_t *storeidx, size_t len)
{
    section_begin(f, SEC_STOREIDX);
    out_put(&f->o, storeidx, len);
    section_end(f);
}

static void put_norms(struct segw_file *f, const uint32_t *norms, uint32_t ndocs)
{
    section_begin(f, SEC_NORMS);
    for (uint32_t i = 0; i < ndocs; i++) {
        uint8_t b[4];
        st32(b, norms[i]);
        out_put(&f->o, b, 4);
    }
    section_end(f);
}

static void put_ids(struct segw_file *f, uint32_t ndocs, const uint32_t *ids_sorted,
                    const uint64_t *id_off, const char *ids)
{
    out_file *o = &f->o;
    section_begin(f, SEC_IDS);
    uint8_t b[8];
    st64(b, ndocs);
    out_put(o, b, 8);
    for (uint32_t i = 0; i < ndocs; i++) {
        st32(b, ids_sorted[i]);
        out_put(o, b, 4);
    }
    for (uint32_t i = 0; i <= ndocs; i++) {
        st64(b, id_off[i]);
        out_put(o, b, 8);
    }
    out_put(o, ids, ndocs ? (size_t)id_off[ndocs] : 0);
    section_end(f);
}

int segw_store_extras(seg_writer *w, const uint8_t *storeidx, size_t storeidx_len,
                      const uint32_t *ids_sorted, const uint64_t *id_off,
                      const char *ids, quire_error *err)
{
    struct segw_file *f = w->file;
    if (!f || !f->store_open)
        return qerr(err, QUIRE_EARG, "internal: no store to follow");
    store_end(f);
    put_storeidx(f, storeidx, storeidx_len);
    put_norms(f, w->norms, w->ndocs);
    put_ids(f, w->ndocs, ids_sorted, id_off, ids);
    f->extras = 1;
    out_flush(&f->o);
    /* in a merge this thread has nothing else to do, and the fsync at the
     * end is on the critical path */
    if (!f->o.rc) file_writeback(f->o.fd, 0, f->o.off);
    if (f->o.rc) {
        *err = f->err;
        return f->o.rc;
    }
    return QUIRE_OK;
}

uint64_t segw_pos_offset(uint64_t store_len, uint64_t storeidx_len, uint32_t ndocs,
                         uint64_t ids_len)
{
    uint64_t off = align_up(SEG_HEADER_BYTES) + store_len;          /* STORE */
    off = align_up(off) + storeidx_len;                             /* STOREIDX */
    off = align_up(off) + 4 * (uint64_t)ndocs;                      /* NORMS */
    off = align_up(off) + 8 + 4 * (uint64_t)ndocs + 8 * ((uint64_t)ndocs + 1) +
          ids_len;                                                  /* IDS */
    return align_up(off);
}

static int pos_to_file(seg_writer *w, uint64_t off, quire_error *err)
{
    struct segw_file *f = w->file;
    XXH3_64bits_reset(f->hp);
    int rc = sec_redirect(&w->pos, f->o.fd, off, w->path, f->hp, err);
    if (rc) return rc;
    f->pos_off = off;
    w->pos_direct = 1;
    return QUIRE_OK;
}

int segw_pos_direct(seg_writer *w, quire_error *err)
{
    struct segw_file *f = w->file;
    if (!f || w->pos_direct || w->pos.len != 0)
        return qerr(err, QUIRE_EARG, "internal: positions redirected too late");
    store_end(f);
    out_align(&f->o);
    out_flush(&f->o);
    if (f->o.rc) {
        *err = f->err;
        return f->o.rc;
    }
    return pos_to_file(w, f->o.off, err);
}

int segw_pos_at(seg_writer *w, uint64_t off, quire_error *err)
{
    if (!w->file || w->pos_direct || w->pos.len != 0 || off % SEG_ALIGN)
        return qerr(err, QUIRE_EARG, "internal: positions redirected too late");
    return pos_to_file(w, off, err);
}

/* DOCS and SKIP of a writer and its tails, at a known offset, by a thread
 * of their own: once the terms are all merged, copying the sections out of
 * the temporary files is most of what is left, and one thread copying
 * them all left the other core idle (0.9 s of a 3.4 s two-thread merge of
 * corpus/cache/big.jsonl). */
typedef struct copy_job {
    seg_writer *w;
    out_file o;
    seg_section_entry tab[2];
    quire_error err;
} copy_job;

static sec_out *sec_of(seg_writer *w, uint32_t id)
{
    return id == SEC_DOCS ? &w->docs : id == SEC_SKIP ? &w->skip : &w->pos;
}

static void copy_section(copy_job *j, seg_section_entry *e, uint32_t id)
{
    out_file *o = &j->o;
    out_align(o);
    out_set_hash(o, o->h);
    *e = (seg_section_entry){.id = id, .offset = o->off};
    for (seg_writer *t = j->w; t; t = t->tail) out_copy(o, sec_of(t, id));
    e->length = o->off - e->offset;
    e->xxh3 = out_digest(o);
}

static void *copy_docs_skip(void *arg)
{
    copy_job *j = arg;
    copy_section(j, &j->tab[0], SEC_DOCS);
    copy_section(j, &j->tab[1], SEC_SKIP);
    out_flush(&j->o);
    if (!j->o.rc) file_writeback(j->o.fd, j->tab[0].offset, j->o.off - j->tab[0].offset);
    return NULL;
}

int segw_finish(seg_writer *w, const seg_meta *meta, const uint8_t *storeidx,
                size_t storeidx_len, const uint32_t *ids_sorted,
                const uint64_t *id_off, const char *ids, quire_error *err)
{
    int rc;
    struct segw_file *f = w->file;
    if (!f) return qerr(err, QUIRE_EARG, "internal: segment store not begun");
    if (f->o.rc) {
        *err = f->err;
        return f->o.rc;
    }
    if ((rc = sec_finish(&w->docs, err)) || (rc = sec_finish(&w->skip, err)) ||
        (rc = sec_finish(&w->pos, err)))
        return rc;
    seg_writer *t = w->tail;
    for (seg_writer *x = t; x; x = x->tail)
        if ((rc = sec_finish(&x->docs, err)) || (rc = sec_finish(&x->skip, err)) ||
            (rc = sec_finish(&x->pos, err)))
            return rc;
    out_file *o = &f->o;
    o->err = err;
    store_end(f);

    /* POS follows the store (and, in a merge, STOREIDX, NORMS and IDS),
     * whether it went there directly or not: the file is the same */
    out_align(o);
    uint64_t pos_off = o->off, pos_len = w->pos.len;
    for (seg_writer *x = t; x; x = x->tail) pos_len += x->pos.len;
    if (w->pos_direct && f->pos_off != pos_off)
        return qerr(err, QUIRE_EARG, "internal: positions written at %llu, not %llu",
                    (unsigned long long)f->pos_off, (unsigned long long)pos_off);

    /* everything's size is known now: with a tail, DOCS and SKIP are copied
     * by a second thread at their offset while this one writes the rest */
    copy_job job;
    pthread_t job_tid;
    int job_thread = 0;
    memset(&job, 0, sizeof job);
    job.w = w;
    job.o.fd = o->fd;
    job.o.path = w->path;
    job.o.err = &job.err;
    job.o.off = align_up(pos_off + pos_len);
    if (!f->extras) job.o.off = align_up(job.o.off + storeidx_len);  /* STOREIDX */
    job.o.off = align_up(job.o.off + 64);                            /* META */
    job.o.off = align_up(job.o.off + w->dict.len);                   /* DICT */
    job.o.off += 8 * (uint64_t)w->dict.nblocks;                      /* DICTIDX */
    job.o.wb_from = job.o.off;
    if (t) {
        job.o.h = XXH3_createState();
        job.o.buf = malloc(OUT_BUF);
        if (!job.o.h || !job.o.buf) {
            XXH3_freeState(job.o.h);
            free(job.o.buf);
            return qerr(err, QUIRE_ENOMEM, "out of memory");
        }
        XXH3_64bits_reset(job.o.h);
        job_thread = pthread_create(&job_tid, NULL, copy_docs_skip, &job) == 0;
    }

    if (w->pos_direct) {
        /* sec_finish above wrote the rest of POS to the file and hashed it */
        out_seek(o, pos_off + w->pos.len);
    } else {
        out_set_hash(o, f->hp);
        out_copy(o, &w->pos);
    }
    out_use_hash(o, f->hp);
    for (seg_writer *x = t; x; x = x->tail) out_copy(o, &x->pos);
    f->tab[f->nsec++] = (seg_section_entry){.id = SEC_POS, .offset = pos_off,
                                            .length = pos_len,
                                            .xxh3 = out_digest(o)};

    if (!f->extras) put_storeidx(f, storeidx, storeidx_len);

    uint8_t m[64] = {0};
    st32(m, meta->ndocs);
    st32(m + 4, meta->tok_flags);
    st64(m + 8, meta->nterms);
    st64(m + 16, meta->total_len);
    st64(m + 24, meta->npostings);
    st64(m + 32, meta->npositions);
    st32(m + 40, meta->block_size);
    st32(m + 44, meta->dict_block);
    section_begin(f, SEC_META);
    out_put(o, m, sizeof m);
    section_end(f);

    section_begin(f, SEC_DICT);
    out_put(o, w->dict.buf, w->dict.len);
    section_end(f);
    section_begin(f, SEC_DICTIDX);
    for (size_t i = 0; i < w->dict.nblocks; i++) {
        uint8_t b[8];
        st64(b, w->dict.blocks[i]);
        out_put(o, b, 8);
    }
    section_end(f);
    if (t) {
        if (!job_thread) copy_docs_skip(&job);
        else pthread_join(job_tid, NULL);
        XXH3_freeState(job.o.h);
        free(job.o.buf);
        if (job.o.rc && !o->rc) {
            *err = job.err;
            o->rc = job.o.rc;
        }
        if (!o->rc && job.tab[0].offset != align_up(o->off))
            o->rc = qerr(err, QUIRE_EARG, "internal: postings copied to the wrong offset");
        f->tab[f->nsec++] = job.tab[0];
        f->tab[f->nsec++] = job.tab[1];
        out_seek(o, job.o.off);
    } else {
        section_begin(f, SEC_DOCS);
        out_copy(o, &w->docs);
        section_end(f);
        section_begin(f, SEC_SKIP);
        out_copy(o, &w->skip);
        section_end(f);
    }
    if (!f->extras) {
        put_norms(f, w->norms, meta->ndocs);
        put_ids(f, meta->ndocs, ids_sorted, id_off, ids);
    }
    if (w->values_len) {
        /* last, in either layout: nothing's offset depends on its size */
        section_begin(f, SEC_VALUES);
        out_put(o, w->values, w->values_len);
        section_end(f);
    }

    out_align(o);
    uint64_t footer_off = o->off;
    out_set_hash(o, f->h);
    uint8_t fb[8] = {0};
    st32(fb, f->nsec);
    out_put(o, fb, 8);
    for (uint32_t i = 0; i < f->nsec; i++) {
        uint8_t e[32];
        st32(e, f->tab[i].id);
        st32(e + 4, 0);
        st64(e + 8, f->tab[i].offset);
        st64(e + 16, f->tab[i].length);
        st64(e + 24, f->tab[i].xxh3);
        out_put(o, e, sizeof e);
    }
    uint64_t footer_len = o->off - footer_off;
    uint64_t footer_hash = out_digest(o);
    uint8_t tr[SEG_TRAILER_BYTES] = {0};
    st64(tr, footer_off);
    st64(tr + 8, footer_len);
    st64(tr + 16, footer_hash);
    st32(tr + 24, w->version);
    memcpy(tr + SEG_TRAILER_BYTES - 8, SEG_TRAILER_MAGIC, 8);
    out_use_hash(o, NULL);
    out_put(o, tr, sizeof tr);
    out_flush(o);
    if (!o->rc && w->version != SEG_VERSION) {
        /* the header went out when the store began, with the version then */
        uint8_t v[4];
        st32(v, w->version);
        if (pwrite(o->fd, v, 4, 8) != 4)
            o->rc = qerr(err, QUIRE_EIO, "write %s: %s", w->path, strerror(errno));
    }

    if (!o->rc && fsync(o->fd) != 0)
        o->rc = qerr(err, QUIRE_EIO, "fsync %s: %s", w->path, strerror(errno));
    if (close(o->fd) != 0 && !o->rc)
        o->rc = qerr(err, QUIRE_EIO, "close %s: %s", w->path, strerror(errno));
    o->fd = -1;
    return o->rc;
}

void segw_close(seg_writer *w)
{
    file_free(w->file);
    sec_discard(&w->docs);
    sec_discard(&w->skip);
    sec_discard(&w->pos);
    dict_builder_free(&w->dict);
    free(w->sk);
    free(w->sk_buf);
    free(w->pending);
    free(w->recs);
    free(w->rec_bytes);
    free(w->path);
    memset(w, 0, sizeof *w);
}

void segw_abort(seg_writer *w)
{
    if (w->path) unlink(w->path);
    segw_close(w);
}
