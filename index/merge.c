/*
 * merge.c — merges segments into one, dropping deleted documents: the
 * k-way merge of their term dictionaries writes every posting list with
 * new doc numbers (segments in order, live documents in order), and norms,
 * stored documents, ids and the value columns are carried over.  Used by
 * quire_writer_optimize (Lucene's forceMerge(1)); the result is a normal
 * segment written through seg_writer and store_writer, the same bytes
 * whichever way a block got there.
 *
 * What it costs: posting lists are read straight from the sections, block
 * by block, and position gaps pass through unchanged (raw_docs, raw_pos);
 * a segment without deletions has its full doc and position blocks copied
 * encoded (copy_blocks): where the merged list stands inside a block, that
 * block is cut short first (segw_cut, FORMAT.md "Lists with short
 * blocks") when the segment's list is long enough to be worth it; the
 * others are encoded again; store blocks without
 * deleted documents are copied as compressed frames; the id order is
 * merged from the segments' id orders, not sorted again.  On three
 * segments of corpus/cache/all.jsonl the first steps took the merge from
 * 3.23 G to 0.97 G instructions.
 */
#define _GNU_SOURCE
#include "index/merge.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "index/codec.h"
#include "index/dict.h"
#include "index/segment.h"
#include "index/segread.h"
#include "index/segwrite.h"
#include "index/store.h"
#include "index/strsort.h"
#include "index/util.h"
#include "index/values.h"

#define NONE UINT32_MAX
/* The shortest list of a segment whose blocks are copied after cutting the
 * merged list's block short.  Each cut pads the positions to a block
 * boundary with zero gaps; on the 4 segments of a one-thread build of
 * corpus/cache/big.jsonl, cutting before lists of 129 postings or more
 * made postings, positions and dictionary 0.74% larger than the merge
 * without cuts, 512 or more 0.28%, 2048 or more 0.09%; the merge's user
 * time was 1.0-1.1 s for the first two and 1.2-1.3 s for the third
 * (1.5-1.9 s without cuts). */
#define MERGE_CUT_MIN 512u
#define RELEASE_STEP ((uint64_t)2 << 20)

/* The merge reads each input section front to back once.  Mapped pages
 * already read count in the process's resident set until unmapped, which
 * on a 1 GiB corpus doubled the peak; dropping them (they stay in the page
 * cache) keeps the merge within the build's memory budget.  Every input
 * segment's docs and pos sections keep up to RELEASE_STEP read but not yet
 * dropped: with 16 MiB steps the 11 segments of a two-thread build of
 * corpus/cache/big.jsonl held 290 MB of them at once.
 *
 * A step ends on a DROP_ALIGN boundary of the file: the page cache holds
 * a file in folios of up to 2 MiB, aligned to their size, and drops only
 * the folios that lie wholly inside the range; steps ending anywhere left
 * a folio cached at every end (in the 8 segments of a two-thread build of
 * corpus/cache/big.jsonl, 512 KiB of every 2 MiB of the store).  `last`
 * releases up to `upto` whatever its size or alignment: the section's end,
 * or the end of a thread's share of it. */
#define DROP_ALIGN ((uint64_t)2 << 20)

static void release_to(const idx_segment *s, int fd, int sec, uint64_t upto, uint64_t *done,
                       int last)
{
    uint64_t len = s->sec_len[sec], base = (uint64_t)(s->sec[sec] - s->m.data);
    if (upto > len) upto = len;
    if (!last) {
        if (upto < *done + RELEASE_STEP) return;
        upto = ((base + upto) & ~(DROP_ALIGN - 1)) - base;
    }
    if (upto <= *done) return;
    map_drop(s->sec[sec] + *done, upto - *done);
    /* The input files are removed once the merge is published, so their
     * pages in the page cache are of no more use once read: freed now,
     * the kernel hands them back for the merged file's pages (taking
     * fresh memory cost more on the benchmark machine) and the removal
     * has less to drop. */
    if (fd >= 0) file_drop(fd, base + *done, upto - *done);
    *done = upto;
}

static void release(const idx_segment *s, int fd, int sec, uint64_t upto, uint64_t *done)
{
    release_to(s, fd, sec, upto, done, 0);
}

static int is_dead(const uint64_t *del, uint32_t d)
{
    return del && ((del[d >> 6] >> (d & 63)) & 1);
}

/* A segment's IDS section (FORMAT.md): docs ordered by id, and by doc
 * number the offsets of their ids in the id bytes. */
typedef struct ids_view {
    const uint8_t *sorted, *offs, *blob;
    uint64_t blob_len;
} ids_view;

static int ids_view_open(const idx_segment *s, ids_view *v, quire_error *err)
{
    const uint8_t *p = s->sec[SEC_IDS];
    uint64_t len = s->sec_len[SEC_IDS], n = s->ndocs;
    /* n, n sorted u32, n + 1 offsets u64, then the ids */
    if (len < 16 || ld64(p) != n || (len - 16) / 12 < n)
        return qerr(err, QUIRE_ECORRUPT, "%s: ids section broken", s->name);
    v->sorted = p + 8;
    v->offs = v->sorted + 4 * n;
    v->blob = v->offs + 8 * (n + 1);
    v->blob_len = len - (uint64_t)(v->blob - p);
    return QUIRE_OK;
}

/* Copies the store of segment s: blocks without deleted documents as they
 * are (no decompression, no compression: this was half of a merge's
 * instructions), the others record by record, leaving out the deleted. */
static int copy_store(const idx_segment *s, int fd, const uint64_t *del, store_writer *sw,
                      quire_error *err)
{
    const uint8_t *ix = s->sec[SEC_STOREIDX];
    size_t nb = s->sec_len[SEC_STOREIDX] / 24;
    uint8_t *raw = NULL;
    size_t raw_cap = 0;
    int rc = QUIRE_OK;
    uint32_t doc = 0;
    uint64_t released = 0;
    for (size_t b = 0; b < nb && !rc; b++) {
        const uint8_t *e = ix + 24 * b;
        uint32_t first = ld32(e), count = ld32(e + 4);
        uint64_t off = ld64(e + 8);
        uint32_t clen = ld32(e + 16), rlen = ld32(e + 20);
        if (first != doc || count > s->ndocs - doc || off > s->sec_len[SEC_STORE] ||
            clen > s->sec_len[SEC_STORE] - off) {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: store index broken", s->name);
            break;
        }
        int any_dead = 0;
        for (uint32_t d = first; del && d < first + count && !any_dead; d++)
            any_dead = is_dead(del, d);
        if (!any_dead) {
            rc = storew_copy_block(sw, s->sec[SEC_STORE] + off, clen, rlen, count, err);
            doc += count;
            release(s, fd, SEC_STORE, off + clen, &released);
            continue;
        }
        if (grow_array((void **)&raw, &raw_cap, rlen, 1, rlen)) {
            rc = qerr(err, QUIRE_ENOMEM, "out of memory");
            break;
        }
        size_t got = ZSTD_decompress(raw, rlen, s->sec[SEC_STORE] + off, clen);
        if (ZSTD_isError(got) || got != rlen) {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: store block %zu is corrupt", s->name, b);
            break;
        }
        const uint8_t *p = raw, *end = raw + rlen;
        for (uint32_t k = 0; k < count; k++, doc++) {
            uint64_t len;
            if (!(p = varint_get(p, end, &len)) || len > (uint64_t)(end - p)) {
                rc = qerr(err, QUIRE_ECORRUPT, "%s: bad record in store", s->name);
                break;
            }
            const uint8_t *rec = p;
            p += len;
            if (is_dead(del, doc)) continue;
            storew_varint(sw, len);
            storew_put(sw, rec, len);
            if ((rc = storew_end_doc(sw, err))) break;
        }
        release(s, fd, SEC_STORE, off + clen, &released);
    }
    free(raw);
    release_to(s, fd, SEC_STORE, s->sec_len[SEC_STORE], &released, 1);
    if (!rc && doc != s->ndocs)
        rc = qerr(err, QUIRE_ECORRUPT, "%s: store holds %u of %u documents", s->name, doc, s->ndocs);
    return rc;
}

/* Appends the ids of segment s's live documents to ids / id_off, from its
 * ids section (not from the store records). */
static int collect_ids(const idx_segment *s, const uint64_t *del, char **ids,
                       size_t *ids_len, size_t *ids_cap, uint64_t *id_off, uint32_t *n,
                       quire_error *err)
{
    ids_view v = {0};
    int rc = ids_view_open(s, &v, err);
    if (rc) return rc;
    for (uint32_t d = 0; d < s->ndocs; d++) {
        if (is_dead(del, d)) continue;
        uint64_t a = ld64(v.offs + 8 * (size_t)d), z = ld64(v.offs + 8 * ((size_t)d + 1));
        if (a > z || z > v.blob_len)
            return qerr(err, QUIRE_ECORRUPT, "%s: ids section broken", s->name);
        size_t vl = (size_t)(z - a);
        if (grow_array((void **)ids, ids_cap, *ids_len + vl, 1, 1 << 16))
            return qerr(err, QUIRE_ENOMEM, "out of memory");
        memcpy(*ids + *ids_len, v.blob + a, vl);
        *ids_len += vl;
        id_off[++*n] = *ids_len;
    }
    return QUIRE_OK;
}

/* The merged segment's docs ordered by id, as sort_ids orders them (by id,
 * then by doc number), by merging the segments' own orders: segments keep
 * their order, so among equal ids the earlier segment's come first.  Each
 * segment's next id is kept at hand: its doc, bytes, length and first 8
 * bytes as a number, which settles most comparisons.  The bytes are read
 * from the segment's own ids section, two dependent cache misses away
 * (its offset, then its text), which are prefetched ahead along the
 * segment's sorted order; through the merge's map and the merged id
 * offsets they were three, not prefetched, and the merge of the 7
 * segments of a two-thread build of corpus/cache/big.jsonl spent 0.46 s
 * here. */
#define ID_KEYS 3
typedef struct id_head {
    /* bytes 0-7, 8-15, 16-23, big-endian, zero-padded: the ids of
     * corpus/cache/big.jsonl share up to 17 bytes ("easy-ham-1/00001#"),
     * and with the first 8 alone, memcmp calls for the rest were 3% of a
     * two-thread optimize's samples, on the store thread (the last to
     * finish) */
    uint64_t key[ID_KEYS];
    uint32_t d;              /* new doc number, NONE when the segment is done */
    uint32_t len;
    const char *p;
} id_head;

#define ID_AHEAD 8   /* ids of a segment whose offset is prefetched ahead */

/* Moves segment i's head to its next live document by id, from at[i] on. */
static int id_head_next(idx_segment *const *segs, uint32_t *const *map,
                        const uint32_t *seg_base, uint64_t *const *dels, const ids_view *v,
                        uint32_t *at, size_t i, id_head *h, quire_error *err)
{
    const ids_view *x = &v[i];
    uint32_t n = segs[i]->ndocs;
    h->d = NONE;
    for (; at[i] < n; at[i]++) {
        uint32_t k = at[i];
        if (k + ID_AHEAD < n) {
            uint32_t ahead = ld32(x->sorted + 4 * (size_t)(k + ID_AHEAD));
            if (ahead < n) __builtin_prefetch(x->offs + 8 * (size_t)ahead);
        }
        if (k + ID_AHEAD / 2 < n) {
            uint32_t half = ld32(x->sorted + 4 * (size_t)(k + ID_AHEAD / 2));
            if (half < n) {
                uint64_t o = ld64(x->offs + 8 * (size_t)half);
                if (o < x->blob_len) __builtin_prefetch(x->blob + o);
            }
        }
        uint32_t local = ld32(x->sorted + 4 * (size_t)k);
        if (local >= n) return qerr(err, QUIRE_ECORRUPT, "%s: ids section broken", segs[i]->name);
        uint32_t d = dels[i] ? map[i][local] : seg_base[i] + local;
        if (d == NONE) continue;
        uint64_t a = ld64(x->offs + 8 * (size_t)local), z = ld64(x->offs + 8 * (size_t)local + 8);
        if (a > z || z > x->blob_len || z - a > UINT32_MAX)
            return qerr(err, QUIRE_ECORRUPT, "%s: ids section broken", segs[i]->name);
        h->d = d;
        h->p = (const char *)x->blob + a;
        h->len = (uint32_t)(z - a);
        for (uint32_t j = 0; j < ID_KEYS; j++) h->key[j] = str_key(h->p, h->len, 8 * j);
        return QUIRE_OK;
    }
    return QUIRE_OK;
}

/* Whether head x's id sorts before head y's (equal ids: neither). */
static inline int id_before(const id_head *x, const id_head *y)
{
    for (uint32_t j = 0; j < ID_KEYS; j++)
        if (x->key[j] != y->key[j]) return x->key[j] < y->key[j];
    uint32_t m = x->len < y->len ? x->len : y->len;
    int c = m > 8 * ID_KEYS ? memcmp(x->p + 8 * ID_KEYS, y->p + 8 * ID_KEYS, m - 8 * ID_KEYS) : 0;
    return c ? c < 0 : x->len < y->len;
}

/* Whether segment a's head goes out before segment b's: the lesser id,
 * on equal ids the earlier segment; a segment done (or a padding leaf,
 * past the last segment) goes after all. */
static inline int head_first(const id_head *h, size_t n, size_t a, size_t b)
{
    int da = a >= n || h[a].d == NONE, db = b >= n || h[b].d == NONE;
    if (da || db) return !da || (db && a < b);
    if (id_before(&h[a], &h[b])) return 1;
    return !id_before(&h[b], &h[a]) && a < b;
}

/* The segments' id orders merged into one, the k-way merge picking each
 * next id with a tree of losers (Knuth's replacement selection): log2(n)
 * comparisons per id.  Scanning all n heads for each took 0.30 s of the
 * store thread of a two-thread merge of the 14 segments of a two-thread
 * build of corpus/cache/big.jsonl (0.14 s for the 4 of a one-thread
 * build), and with the postings' threads on both cores it held them
 * back. */
static uint32_t *merge_ids(idx_segment *const *segs, uint32_t *const *map,
                           const uint32_t *seg_base, uint64_t *const *dels, size_t n,
                           uint32_t nd, quire_error *err, int *rc)
{
    size_t leaves = 1;
    while (leaves < n) leaves *= 2;
    uint32_t *out = malloc((size_t)(nd ? nd : 1) * sizeof *out);
    ids_view *v = calloc(n + 1, sizeof *v);
    uint32_t *at = calloc(n + 1, sizeof *at);
    id_head *h = calloc(n + 1, sizeof *h);
    /* loser[k]: the segment that lost at inner node k (1..leaves-1);
     * win: scratch for the first round */
    size_t *loser = calloc(leaves, sizeof *loser), *win = calloc(2 * leaves, sizeof *win);
    *rc = QUIRE_OK;
    if (!out || !v || !at || !h || !loser || !win) {
        *rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if ((*rc = ids_view_open(segs[i], &v[i], err)) ||
            (*rc = id_head_next(segs, map, seg_base, dels, v, at, i, &h[i], err)))
            goto fail;
    for (size_t i = 0; i < leaves; i++) win[leaves + i] = i;
    for (size_t k = leaves - 1; k >= 1; k--) {
        size_t a = win[2 * k], b = win[2 * k + 1];
        int af = head_first(h, n, a, b);
        win[k] = af ? a : b;
        loser[k] = af ? b : a;
    }
    size_t best = win[1];   /* leaves == 1: the only segment */
    for (uint32_t k = 0; k < nd; k++) {
        if (best >= n || h[best].d == NONE) {
            *rc = qerr(err, QUIRE_ECORRUPT, "ids sections hold fewer documents than the merge");
            goto fail;
        }
        out[k] = h[best].d;
        at[best]++;
        if ((*rc = id_head_next(segs, map, seg_base, dels, v, at, best, &h[best], err)))
            goto fail;
        /* the new head plays the losers on its way up */
        for (size_t node = (leaves + best) / 2; node >= 1; node /= 2)
            if (head_first(h, n, loser[node], best)) {
                size_t t = loser[node];
                loser[node] = best;
                best = t;
            }
    }
    free(v);
    free(at);
    free(h);
    free(loser);
    free(win);
    return out;
fail:
    free(out);
    free(v);
    free(at);
    free(h);
    free(loser);
    free(win);
    return NULL;
}

/* ---- reading a term's postings front to back -----------------------------
 *
 * The merge reads every posting list whole, in order, and copies position
 * gaps unchanged (a position stream does not depend on doc numbers), so it
 * decodes the docs and pos sections (FORMAT.md) directly instead of going
 * through the query iterator, whose per-document work (and absolute
 * positions, turned back into gaps) was most of a merge's reading. */

typedef struct raw_pos raw_pos;

/* Term t's skip entries (nblocks of them) in k: 0, or -1 when they do not
 * lie inside the section. */
static int skip_entries(const idx_segment *s, const idx_term *t, uint32_t nblocks, seg_skip *k)
{
    return seg_skip_open(k, s->sec[SEC_SKIP], s->sec_len[SEC_SKIP], t->skip_off, nblocks,
                         s->version);
}

typedef struct raw_docs {
    const uint8_t *p, *end;
    uint32_t ndocs;          /* of the segment: every doc must be below */
    uint32_t left;           /* postings not yet decoded */
    uint32_t prev;           /* last doc decoded, NONE before the first */
    uint32_t docs[IDX_BLOCK], tfs[IDX_BLOCK], n, i;
    /* a list with short blocks: its skip entries, the next block's index,
     * and the positions to move past the padding at each block */
    int cut;
    seg_skip skip;
    const uint8_t *start;
    uint32_t block;
    raw_pos *rp;
} raw_docs;

struct raw_pos {
    const uint8_t *p, *end;
    uint64_t left;           /* gaps not yet decoded */
    uint64_t k;              /* index in the stream of buf[0] */
    int cut;                 /* padded: every block is a full one */
    uint32_t buf[IDX_BLOCK], n, i;
};

static int raw_pos_fill(raw_pos *r);

/* rp: the term's positions, read along (moved past padding), or NULL. */
static int raw_docs_init(raw_docs *r, const idx_segment *s, const idx_term *t, raw_pos *rp)
{
    r->ndocs = s->ndocs;
    r->prev = NONE;
    r->n = r->i = 0;
    r->cut = 0;
    r->block = 0;
    r->rp = rp;
    if (t->df == 1) {
        if (t->single_doc >= s->ndocs || t->cf == 0 || t->cf > UINT32_MAX) return -1;
        r->docs[0] = t->single_doc;
        r->tfs[0] = (uint32_t)t->cf;
        r->n = 1;
        r->left = 0;
        return 0;
    }
    if (t->docs_off >= s->sec_len[SEC_DOCS]) return -1;
    r->p = r->start = s->sec[SEC_DOCS] + t->docs_off;
    r->end = s->sec[SEC_DOCS] + s->sec_len[SEC_DOCS];
    r->left = t->df;
    if (t->cut_blocks && skip_entries(s, t, t->cut_blocks, &r->skip)) return -1;
    r->cut = t->cut_blocks != 0;
    return 0;
}

/* Decodes the next block: df / 128 full ones, then the tail; or in a list
 * with short blocks (FORMAT.md) full and short ones as they say. */
static int raw_docs_fill(raw_docs *r)
{
    uint32_t n = r->left < IDX_BLOCK ? r->left : IDX_BLOCK;
    if (n == 0 || r->p >= r->end) return -1;
    int full = n == IDX_BLOCK;
    if (r->cut) {
        /* its positions start at a block boundary after padding */
        if (r->p != r->start + seg_skip_get(&r->skip, SEG_SKIP_DOCS, r->block)) return -1;
        if (r->rp) {
            /* padding ends the position block the last block's end in */
            raw_pos *q = r->rp;
            uint64_t to = seg_skip_get(&r->skip, SEG_SKIP_POSK, r->block), at = q->k + q->i;
            if (at > to || (at < to && to != q->k + q->n)) return -1;
            q->i += (uint32_t)(to - at);
        }
        r->block++;
        uint32_t ns;
        const uint8_t *body;
        full = !seg_doc_short(r->p, r->end, &ns, &body);
        if (!full) {
            if (!body || ns > n) return -1;
            n = ns;
            r->p = body;
        } else if (n < IDX_BLOCK) {
            return -1;
        }
    }
    r->p = full ? seg_doc_pfor(r->p, r->end, n, r->docs, r->tfs)
                : seg_doc_tail(r->p, r->end, n, r->docs, r->tfs);
    if (!r->p) return -1;
    /* gaps to docs, checked: ascending and inside the segment */
    uint32_t prev = r->prev;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t d = prev == NONE ? r->docs[k] : (uint64_t)prev + r->docs[k] + 1;
        if (d >= r->ndocs) return -1;
        r->docs[k] = prev = (uint32_t)d;
    }
    r->prev = prev;
    r->left -= n;
    r->n = n;
    r->i = 0;
    return 0;
}

/* Next posting into *doc, *tf: 1, or 0 at the end, -1 when malformed. */
static inline int raw_docs_next(raw_docs *r, uint32_t *doc, uint32_t *tf)
{
    if (r->i == r->n) {
        if (r->left == 0) return 0;
        if (raw_docs_fill(r)) return -1;
    }
    *doc = r->docs[r->i];
    *tf = r->tfs[r->i++];
    return 1;
}

static int raw_pos_init(raw_pos *r, const idx_segment *s, const idx_term *t)
{
    r->n = r->i = 0;
    r->k = 0;
    r->cut = t->cut_blocks != 0;
    if (t->cf == 1) {
        r->buf[0] = t->single_pos;
        r->n = 1;
        r->left = 0;
        return 0;
    }
    if (t->pos_off >= s->sec_len[SEC_POS]) return -1;
    r->p = s->sec[SEC_POS] + t->pos_off;
    r->end = s->sec[SEC_POS] + s->sec_len[SEC_POS];
    /* padded: full blocks only, less than a block of padding after each
     * doc block (at most this long, however damaged) */
    r->left = t->cf + (r->cut ? (uint64_t)t->cut_blocks * IDX_BLOCK : 0);
    return 0;
}

static int raw_pos_fill(raw_pos *r)
{
    uint32_t n = r->left < IDX_BLOCK ? (uint32_t)r->left : IDX_BLOCK;
    if (r->cut && n < IDX_BLOCK) return -1;
    if (n == 0 || r->p >= r->end) return -1;
    r->k += r->n;
    if (n < IDX_BLOCK) {
        if (!(r->p = seg_pos_tail(r->p, r->end, n, r->buf))) return -1;
    } else {
        size_t np = codec_pfor_size(r->p, (size_t)(r->end - r->p), n);
        if (!np) return -1;
        codec_pfor_decode(r->p, n, r->buf);
        r->p += np;
    }
    r->left -= n;
    r->n = n;
    r->i = 0;
    return 0;
}

/* Next position gap into *gap: 0, or -1 when the stream ends early or is
 * malformed. */
static inline int raw_pos_next(raw_pos *r, uint32_t *gap)
{
    if (r->i == r->n && raw_pos_fill(r)) return -1;
    *gap = r->buf[r->i++];
    return 0;
}

/* Copies the next n position gaps into the writer, a run at a time: 0, or
 * -1 when the stream ends early or is malformed.  Forced inline: with a
 * second caller (copy_blocks) GCC made it a call in the per-posting loop,
 * 7% of a one-thread merge's samples. */
static inline __attribute__((always_inline)) int raw_pos_copy(raw_pos *r, seg_writer *w,
                                                              uint64_t n)
{
    while (n > 0) {
        if (r->i == r->n && raw_pos_fill(r)) return -1;
        uint32_t k = r->n - r->i;
        if (k > n) k = (uint32_t)n;
        if (k > IDX_BLOCK - w->pos_n) k = IDX_BLOCK - w->pos_n;
        memcpy(w->pos_buf + w->pos_n, r->buf + r->i, (size_t)k * sizeof *r->buf);
        r->i += k;
        n -= k;
        w->pos_n += k;
        if (w->pos_n == IDX_BLOCK) segw_pos_block_(w);
    }
    return 0;
}

/* ---- copying encoded blocks -----------------------------------------------
 *
 * A segment without deletions keeps every posting and its order, its doc
 * numbers only move up by its base, and position gaps do not depend on doc
 * numbers at all.  So where the merged term's writer stands at a block
 * boundary of both its postings and its positions (always at the first
 * segment holding the term, the one with a base of 0 for the first
 * segment's terms), the segment's full doc blocks are the bytes the writer
 * would encode again: gaps are relative within the list, only the block's
 * first one changes (base + doc - previous - 1, or base + doc for the
 * term's first posting) and then only its gaps' PFOR is encoded again,
 * PFOR being deterministic.  The same holds for the full position blocks
 * before the one holding the first position of the segment's doc tail.
 * Skip entries move by the offsets the writer had reached; max tf and min
 * length carry over, the merged norms being the segment's.  With only
 * the writer's natural boundaries, on the 5 segments of a one-thread
 * build of corpus/cache/big.jsonl, 31% of the doc blocks (230k of 743k)
 * and 30% of the position blocks (374k of 1.24M) were copied, the others
 * starting at an offset inside an output block; so the writer's block is
 * cut short (segw_cut) before every list of MERGE_CUT_MIN postings or
 * more, and those are copied whole.
 *
 * Copied blocks are checked no less than decoded ones: each doc block is
 * still decoded (no encoding, no norms) and must be ascending and inside
 * the segment, as raw_docs_fill checks, and its skip entry must agree with
 * it (last doc, the largest tf of its impacts, offset, first position and
 * its block's offset); each position block must parse as it would to be
 * decoded.  Only the impacts' lengths and their smaller tf are taken on
 * trust: checking them would read the norms of every posting, a cache
 * miss each, which is what copying saves (a wrong one can only make a
 * score bound loose or tight, never a read go astray).  The impacts of a
 * segment older than version 4 are rewritten as this version's
 * (segment.h). */

/* Copies the full blocks of segment s's list of term t (df > IDX_BLOCK,
 * rd and rp just initialized, w at a block boundary of both) into w, and
 * leaves rd, rp and w where the caller's posting-by-posting copy of the
 * rest goes on: 0, or -1 when malformed.  A list with short blocks (whose
 * first block is a full one: see copy_whole) is copied whole, its short
 * blocks and its padded position blocks too. */
static int copy_blocks(raw_docs *rd, raw_pos *rp, const idx_segment *s, const idx_term *t,
                       uint32_t base, seg_writer *w)
{
    int cut = t->cut_blocks != 0;
    uint32_t nb = cut ? t->cut_blocks : t->df / IDX_BLOCK;
    seg_skip skip;
    if (t->cf < t->df || skip_entries(s, t, idx_term_blocks(t), &skip)) return -1;
    const uint8_t *docs = rd->p, *p = docs, *end = rd->end;
    const uint8_t *pos = rp->p, *pend = rp->end;
    uint64_t pos_bytes = 0, pos_blocks = 0;   /* full position blocks walked */
    uint64_t k = 0;                           /* index of the block's first position */
    uint64_t kmax = t->cf + (cut ? (uint64_t)nb * IDX_BLOCK : 0);   /* padding included */
    uint64_t out_k = w->pos_count, out_pos_off = w->pos.len - w->pos_start;
    uint32_t prev = NONE, gaps[IDX_BLOCK], tfs[IDX_BLOCK], left = t->df;
    uint8_t first[CODEC_PFOR_MAX_BYTES(IDX_BLOCK)];
    for (uint32_t j = 0;; j++) {
        /* the position block holding position k (only full ones: k <= cf) */
        while (pos_blocks < k / IDX_BLOCK) {
            size_t n = codec_pfor_size(pos + pos_bytes, (size_t)(pend - pos) - pos_bytes,
                                       IDX_BLOCK);
            if (!n) return -1;
            pos_bytes += n;
            pos_blocks++;
        }
        if (j == nb) break;
        const uint8_t *e = seg_skip_imp(&skip, j);
        if (seg_skip_get(&skip, SEG_SKIP_DOCS, j) != (uint64_t)(p - docs) ||
            seg_skip_get(&skip, SEG_SKIP_POSK, j) != k ||
            seg_skip_get(&skip, SEG_SKIP_POSOFF, j) != pos_bytes || p >= end)
            return -1;
        uint32_t n = IDX_BLOCK;
        const uint8_t *q, *tf_bytes = NULL, *body;
        size_t ng = 0;
        if (cut && seg_doc_short(p, end, &n, &body)) {
            if (j == 0 || !body) return -1;
            q = seg_doc_tail(body, end, n, gaps, tfs);
        } else {
            ng = codec_pfor_size(p, (size_t)(end - p), IDX_BLOCK);
            q = ng ? seg_doc_pfor(p, end, IDX_BLOCK, gaps, tfs) : NULL;
            tf_bytes = p + ng;
        }
        if (!q || n > left) return -1;
        /* 64 bits: ascending without wrapping, so the last doc bounds all */
        uint64_t d = prev == NONE ? UINT64_MAX : prev, sum = 0;
        uint32_t max_tf = 0;
        for (uint32_t i = 0; i < n; i++) {
            d += (uint64_t)gaps[i] + 1;
            sum += tfs[i];
            if (tfs[i] > max_tf) max_tf = tfs[i];
        }
        /* the impacts, as this version writes them (an older entry's
         * corner becomes both points), and their largest tf must be the
         * block's */
        uint8_t imp[4];
        uint16_t top;
        if (s->version >= SEG_VERSION_IMPACTS) {
            memcpy(imp, e, 4);
        } else {
            uint16_t mt = (uint16_t)(max_tf < SEG_SKIP_TF_SATURATED ? max_tf
                                                                 : SEG_SKIP_TF_SATURATED);
            if (memcmp(e, &mt, 2) != 0) return -1;
            seg_impacts_from_corner(e, imp);
        }
        memcpy(&top, imp + 2, 2);
        if (d >= rd->ndocs || seg_skip_last(&skip, j) != d || (top & 127u) != seg_tf_code(max_tf) ||
            sum > kmax - k)
            return -1;
        if (n < IDX_BLOCK) {
            /* whole, marker and count with it */
            segw_doc_block_copy(w, p, (size_t)(q - p), NULL, 0, n, base + (uint32_t)d, sum,
                                out_k + k, out_pos_off + pos_bytes, imp);
        } else {
            const uint8_t *g = p;
            size_t glen = ng;
            if (j == 0) {
                /* the list's first doc, gaps[0], as the writer's gap */
                uint32_t g0 = base + gaps[0];
                if (w->prev_doc != NONE) g0 -= w->prev_doc + 1;   /* prev_doc < base */
                if (g0 != gaps[0]) {
                    gaps[0] = g0;
                    glen = codec_pfor_encode(gaps, IDX_BLOCK, first);
                    g = first;
                }
            }
            segw_doc_block_copy(w, g, glen, tf_bytes, (size_t)(q - tf_bytes), n,
                                base + (uint32_t)d, sum, out_k + k, out_pos_off + pos_bytes,
                                imp);
        }
        p = q;
        prev = (uint32_t)d;
        left -= n;
        k += sum;
        if (cut) {
            /* the next block's positions start after the padding, if any:
             * the next entry says where, the last block's end at a block */
            uint64_t next = j + 1 < nb ? seg_skip_get(&skip, SEG_SKIP_POSK, j + 1)
                                       : (k + IDX_BLOCK - 1) / IDX_BLOCK * IDX_BLOCK;
            if (next < k || (next != k && (next % IDX_BLOCK || next - k >= IDX_BLOCK)))
                return -1;
            k = next;
        }
    }
    segw_pos_blocks_copy(w, pos, (size_t)pos_bytes, pos_blocks);
    rd->p = p;
    rd->left = left;
    rd->prev = prev;
    rd->n = rd->i = 0;
    rp->p = pos + pos_bytes;
    rp->n = rp->i = 0;
    if (cut) {
        /* all of it: the position blocks end at a boundary too */
        if (left) return -1;
        w->cut = 1;
        rp->left = 0;
        return 0;
    }
    rp->left = t->cf - pos_blocks * IDX_BLOCK;
    /* the block holding position k begins with the last blocks' last
     * positions */
    return raw_pos_copy(rp, w, (uint32_t)(k - pos_blocks * IDX_BLOCK));
}

/* Whether copy_blocks takes segment s's list of term t into w: a list of
 * more than a block, from a segment without deletions, where w stands at
 * a block boundary or the list is long enough to cut w's block short
 * (MERGE_CUT_MIN); a list with short blocks only if its first block is a
 * full one (its first gap may change, which only a full block's PFOR of
 * gaps can take without encoding the block's tfs again). */
static int copy_whole(const idx_segment *s, const idx_term *t, const seg_writer *w)
{
    if (t->df <= IDX_BLOCK) return 0;
    if (!(w->blk_n == 0 && w->pos_n == 0) && t->df < MERGE_CUT_MIN) return 0;
    return !t->cut_blocks ||
           (t->docs_off < s->sec_len[SEC_DOCS] && s->sec[SEC_DOCS][t->docs_off] != SEG_SHORT_BLOCK);
}

/* The inputs, as the threads of a merge share them (read only). */
typedef struct merge_in {
    idx_segment *const *segs;
    const int *fds;                /* of the files, for file_drop */
    uint64_t *const *dels;
    uint32_t *const *map;          /* new number of each doc, or NONE */
    const uint32_t *seg_base;      /* new number of each segment's doc 0 */
    size_t n;
    uint32_t nd;                   /* live documents */
} merge_in;

/* The merged store, written straight into the segment file (a temporary
 * store file would be written and read once more: on corpus/cache/big.jsonl
 * the kernel's page-cache copies were 40% of a merge's time), as its first
 * section, then the sections that need nothing from the postings either:
 * the store index, norms and ids (segw_store_extras).  With two or more
 * threads they are written by a thread of their own while the postings
 * are merged.  The id order is merged by whichever comes first, that
 * thread once the store is copied or the caller's once it has no postings
 * left to merge (merge_ids_take): on the store thread alone it took 0.1 s
 * after everything else in a two-thread merge of the 7 segments of a
 * two-thread build of corpus/cache/big.jsonl; after the postings, 0.15 s. */
typedef struct merge_store {
    const merge_in *in;
    uint64_t *id_off;
    char *ids;             /* the live documents' ids (store_ids) */
    size_t ids_len;
    seg_writer *w;
    store_writer sw;
    int sw_open;
    uint32_t *ids_sorted;
    int rc;
    quire_error err;
    /* the id order: taken by one thread, the other waits for it */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ids_taken, ids_done, ids_rc;
    quire_error ids_err;
} merge_store;

/* Merges the id order unless another thread has taken it. */
static void merge_ids_take(merge_store *m)
{
    pthread_mutex_lock(&m->mu);
    int mine = !m->ids_taken;
    m->ids_taken = 1;
    pthread_mutex_unlock(&m->mu);
    if (!mine) return;
    int rc;
    uint32_t *sorted = merge_ids(m->in->segs, m->in->map, m->in->seg_base, m->in->dels,
                                 m->in->n, m->in->nd, &m->ids_err, &rc);
    pthread_mutex_lock(&m->mu);
    m->ids_sorted = sorted;
    m->ids_rc = rc;
    m->ids_done = 1;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* The bytes of the ids of every document of the inputs: all of them are
 * live when the inputs have no deletions. */
static int ids_size(idx_segment *const *segs, size_t n, uint64_t *len, quire_error *err)
{
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        ids_view v = {0};
        int rc = ids_view_open(segs[i], &v, err);
        if (rc) return rc;
        uint64_t a = ld64(v.offs), z = ld64(v.offs + 8 * (size_t)segs[i]->ndocs);
        if (a > z || z > v.blob_len)
            return qerr(err, QUIRE_ECORRUPT, "%s: ids section broken", segs[i]->name);
        *len += z - a;
    }
    return QUIRE_OK;
}

/* The live documents' ids, in their new order, for the IDS section.  Run
 * by the store's thread: before the postings, they took 30 ms of a
 * two-thread merge of the 14 segments of a two-thread build of
 * corpus/cache/big.jsonl in which the other threads waited. */
static int store_ids(merge_store *m)
{
    const merge_in *in = m->in;
    uint64_t total;
    int rc = ids_size(in->segs, in->n, &total, &m->err);
    if (rc) return rc;
    size_t cap = total ? (size_t)total : 1;
    if (!(m->ids = malloc(cap))) return qerr(&m->err, QUIRE_ENOMEM, "out of memory");
    uint32_t nids = 0;
    for (size_t i = 0; i < in->n && !rc; i++)
        rc = collect_ids(in->segs[i], in->dels[i], &m->ids, &m->ids_len, &cap, m->id_off,
                         &nids, &m->err);
    return rc;
}

static void *write_store(void *ctx)
{
    merge_store *m = ctx;
    int rc = store_ids(m);
    if (!rc) rc = storew_open_sink(&m->sw, segw_store_put, m->w, &m->err);
    if (!rc) {
        m->sw_open = 1;
        for (size_t i = 0; i < m->in->n && !rc; i++)
            rc = copy_store(m->in->segs[i], m->in->fds[i], m->in->dels[i], &m->sw, &m->err);
        if (!rc) rc = storew_finish(&m->sw, &m->err);
    }
    /* taken even after a failure, so that nobody waits for it */
    merge_ids_take(m);
    pthread_mutex_lock(&m->mu);
    while (!m->ids_done) pthread_cond_wait(&m->cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
    if (!rc && m->ids_rc) {
        rc = m->ids_rc;
        m->err = m->ids_err;
    }
    if (!rc)
        rc = segw_store_extras(m->w, m->sw.idx, m->sw.idx_len, m->ids_sorted, m->id_off,
                               m->ids, &m->err);
    m->rc = rc;
    return NULL;
}

/* The merged store's bytes and blocks when no input has deletions: every
 * block is copied unchanged (copy_store), so they are known before it is
 * written, and so is where the positions will start. */
static void store_size(idx_segment *const *segs, size_t n, uint64_t *len, uint64_t *nblocks)
{
    *len = *nblocks = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *ix = segs[i]->sec[SEC_STOREIDX];
        size_t nb = segs[i]->sec_len[SEC_STOREIDX] / 24;
        for (size_t b = 0; b < nb; b++) *len += ld32(ix + 24 * b + 16);
        *nblocks += nb;
    }
}

/* Bytewise order of terms, a shorter prefix first. */
static int cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return (alen > blen) - (alen < blen);
}

static int cmp_terms(const dict_iter *a, const dict_iter *b)
{
    return cmp_bytes(a->term, a->term_len, b->term, b->term_len);
}

/* ---- sharing the terms among threads -----------------------------------
 *
 * The terms are cut into chunks of about equal bytes (of docs and pos) of
 * the largest input segment.  A run is a stretch of consecutive chunks
 * that one thread merges into one writer; runs are joined in term order
 * afterwards (segw_join), so the file is the same bytes however the
 * chunks were shared out.  Each thread starts a run at an even share of
 * the chunks and, at the end of each chunk, goes on into the next one
 * unless another run has it.  A thread whose run ended takes the upper
 * half of the largest stretch of chunks no run has reached yet and starts
 * a run there.  Two fixed halves of corpus/cache/big.jsonl's terms (7
 * segments of a two-thread build) finished 0.17-0.31 s apart: the bytes of
 * the largest segment are not the work of all seven, and the thread
 * writing the positions straight into the file shares the file with the
 * store's thread. */
#define MERGE_CHUNKS 64

typedef struct merge_run {
    uint32_t first;            /* its first chunk */
    seg_writer *w;
} merge_run;

typedef struct merge_sched {
    const merge_in *in;
    const uint32_t *norms;
    uint64_t total_len;        /* of norms */
    const char *path, *tail_prefix;
    /* chunk k holds the terms from bound k (none for k == 0) up to bound
     * k + 1 (none for the last) */
    uint32_t nchunks;
    uint8_t *bound_bytes;
    size_t bound_off[MERGE_CHUNKS + 1], bound_len[MERGE_CHUNKS + 1];
    pthread_mutex_t mu;        /* what follows */
    uint8_t claimed[MERGE_CHUNKS];
    merge_run runs[MERGE_CHUNKS];
    uint32_t nruns;
    int rc;                    /* the first error, in err */
    quire_error err;
} merge_sched;

/* A thread's iterators and counts. */
typedef struct merge_worker {
    merge_sched *ms;
    dict_iter *its;
    int *live_it;
    size_t *pick;
    uint64_t *rel;             /* docs, pos released up to, per segment */
    uint64_t nterms, npostings, npositions;
    seg_writer *first_w;       /* the writer of the run at chunk 0 */
} merge_worker;

/* Chunk bounds: the terms of the largest segment (by docs and pos bytes)
 * where each further 1/MERGE_CHUNKS of those bytes starts. */
static int plan_chunks(merge_sched *ms, unsigned threads, quire_error *err)
{
    ms->nchunks = 1;
    if (threads < 2) return QUIRE_OK;
    idx_segment *const *segs = ms->in->segs;
    size_t big = 0;
    uint64_t most = 0;
    for (size_t i = 0; i < ms->in->n; i++) {
        uint64_t b = segs[i]->sec_len[SEC_DOCS] + segs[i]->sec_len[SEC_POS];
        if (b >= most) {
            most = b;
            big = i;
        }
    }
    size_t cap = 0, len = 0;
    dict_iter it;
    dict_iter_init(&it, &segs[big]->dict);
    int r;
    while (ms->nchunks < MERGE_CHUNKS && (r = dict_iter_next(&it)) == 1) {
        if ((it.e.docs_off + it.e.pos_off) * MERGE_CHUNKS < most * ms->nchunks) continue;
        if (grow_array((void **)&ms->bound_bytes, &cap, len + it.term_len + 1, 1, 4096))
            return qerr(err, QUIRE_ENOMEM, "out of memory");
        memcpy(ms->bound_bytes + len, it.term, it.term_len);
        ms->bound_off[ms->nchunks] = len;
        ms->bound_len[ms->nchunks] = it.term_len;
        len += it.term_len;
        ms->nchunks++;
    }
    if (ms->nchunks < MERGE_CHUNKS && r < 0)
        return qerr(err, QUIRE_ECORRUPT, "%s: dictionary does not decode", segs[big]->name);
    return QUIRE_OK;
}

/* Claims chunk k for a new run and gives the run its writer: the caller's
 * own for chunk 0, else a new one whose sections go to temporary files.
 * Called with ms->mu held. */
static int run_start(merge_worker *wk, uint32_t k, merge_run **out, quire_error *err)
{
    merge_sched *ms = wk->ms;
    merge_run *run = &ms->runs[ms->nruns];
    run->first = k;
    if (k == 0) {
        run->w = wk->first_w;
    } else {
        size_t plen = strlen(ms->tail_prefix) + 8;
        char *prefix = malloc(plen);
        run->w = calloc(1, sizeof *run->w);
        if (!prefix || !run->w) {
            free(prefix);
            free(run->w);
            return qerr(err, QUIRE_ENOMEM, "out of memory");
        }
        snprintf(prefix, plen, "%s%u", ms->tail_prefix, k);
        int rc = segw_open(run->w, ms->path, prefix, err);
        free(prefix);
        if (rc) {
            free(run->w);
            return rc;
        }
        segw_set_norms(run->w, ms->norms, ms->in->nd, ms->total_len);
        segw_record_terms(run->w);
    }
    ms->claimed[k] = 1;
    ms->nruns++;
    *out = run;
    return QUIRE_OK;
}

/* Where a thread whose run ended goes next: the upper half of the largest
 * stretch of unclaimed chunks (a lone one too: its run may have far to
 * go).  0 and *k set, or 1: nothing left.  Called with ms->mu held. */
static int steal_chunk(const merge_sched *ms, uint32_t *k)
{
    uint32_t best = 0, best_len = 0;
    for (uint32_t a = 0; a < ms->nchunks;) {
        if (ms->claimed[a]) {
            a++;
            continue;
        }
        uint32_t b = a;
        while (b < ms->nchunks && !ms->claimed[b]) b++;
        if (b - a > best_len) {
            best = a;
            best_len = b - a;
        }
        a = b;
    }
    if (best_len == 0) return 1;
    *k = best + best_len / 2;
    return 0;
}

/* The writer refuses a term out of order or too long (QUIRE_EARG, a
 * caller's mistake where the caller gives the terms).  Here the inputs
 * give them, from dictionaries whose checksums hold: one of the segments
 * (pick[0..np), or all n when pick is NULL) is corrupt. */
static int out_of_order(quire_error *err, idx_segment *const *segs, const size_t *pick,
                        size_t np)
{
    char names[256] = "";
    size_t at = 0;
    for (size_t q = 0; q < np && at < sizeof names; q++)
        at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", q ? ", " : "",
                               segs[pick ? pick[q] : q]->name);
    return qerr(err, QUIRE_ECORRUPT, "dictionary out of order in %s", names);
}

/* Merges the terms of the run from chunk k on into run->w, chunk after
 * chunk until the next one is claimed or the terms end. */
static int merge_run_terms(merge_worker *wk, merge_run *run)
{
    merge_sched *ms = wk->ms;
    const merge_in *in = ms->in;
    idx_segment *const *segs = in->segs;
    uint64_t *const *dels = in->dels;
    uint32_t *const *map = in->map;
    const uint32_t *seg_base = in->seg_base;
    size_t n = in->n;
    dict_iter *its = wk->its;
    int *live_it = wk->live_it;
    size_t *pick = wk->pick;
    uint64_t *rel = wk->rel;
    seg_writer *w = run->w;
    uint32_t k = run->first;
    /* (no bounds at all for one chunk: bound_bytes is NULL) */
    const uint8_t *lo = k ? ms->bound_bytes + ms->bound_off[k] : NULL, *hi = NULL;
    size_t lo_len = ms->bound_len[k], hi_len = 0;
    quire_error err_, *err = &err_;
    int rc = QUIRE_OK;
    if (k + 1 < ms->nchunks) {
        hi = ms->bound_bytes + ms->bound_off[k + 1];
        hi_len = ms->bound_len[k + 1];
    }
    for (size_t i = 0; i < n; i++) {
        int r = 0;
        if (k) r = dict_iter_seek(&its[i], &segs[i]->dict, lo, lo_len);
        else dict_iter_init(&its[i], &segs[i]->dict);
        if (r == 0) {
            do {
                r = dict_iter_next(&its[i]);
            } while (r == 1 && k && cmp_bytes(its[i].term, its[i].term_len, lo, lo_len) < 0);
        }
        if (r < 0) {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: dictionary does not decode", segs[i]->name);
            goto out;
        }
        live_it[i] = r == 1;
        /* pages before the run's first term are another run's to drop,
         * and without a term here so are those after */
        rel[2 * i] = live_it[i] ? its[i].e.docs_off : UINT64_MAX;
        rel[2 * i + 1] = live_it[i] ? its[i].e.pos_off : UINT64_MAX;
    }
    for (;;) {
        /* the smallest current term and every segment that has it */
        size_t np = 0;
        for (size_t i = 0; i < n; i++) {
            if (!live_it[i]) continue;
            int c = np ? cmp_terms(&its[i], &its[pick[0]]) : -1;
            if (c < 0) np = 0;
            if (c <= 0) pick[np++] = i;
        }
        if (np == 0) break;
        if (hi && cmp_bytes(its[pick[0]].term, its[pick[0]].term_len, hi, hi_len) >= 0) {
            /* the chunk is done: on into the next, unless it is taken */
            pthread_mutex_lock(&ms->mu);
            int go = !ms->rc && !ms->claimed[k + 1];
            if (go) ms->claimed[++k] = 1;
            pthread_mutex_unlock(&ms->mu);
            if (!go) break;
            hi = NULL;
            if (k + 1 < ms->nchunks) {
                hi = ms->bound_bytes + ms->bound_off[k + 1];
                hi_len = ms->bound_len[k + 1];
            }
            continue;
        }
        /* with deletions the counts are known only by reading the lists */
        uint64_t df = 0, cf = 0;
        for (size_t q = 0; q < np && !rc; q++) {
            size_t i = pick[q];
            if (!dels[i]) {
                df += its[i].e.df;
                cf += its[i].e.cf;
                continue;
            }
            raw_docs rd;
            uint32_t d, tf;
            int r = raw_docs_init(&rd, segs[i], &its[i].e, NULL) ? -1 : 1;
            while (r == 1 && (r = raw_docs_next(&rd, &d, &tf)) == 1)
                if (map[i][d] != NONE) {
                    df++;
                    cf += tf;
                }
            if (r < 0)
                rc = qerr(err, QUIRE_ECORRUPT, "%s: postings do not decode", segs[i]->name);
        }
        if (rc) goto out;
        const dict_iter *t = &its[pick[0]];
        if (df > 0) {
            if (df > UINT32_MAX) {
                rc = qerr(err, QUIRE_EARG, "term in too many documents");
                goto out;
            }
            if ((rc = segw_term_begin(w, t->term, t->term_len, (uint32_t)df, cf, err)))
                goto out;
            for (size_t q = 0; q < np && !rc; q++) {
                size_t i = pick[q];
                raw_docs rd;
                raw_pos rp;
                uint32_t d, tf, gap;
                const uint32_t *m = map[i];
                int r = raw_docs_init(&rd, segs[i], &its[i].e, &rp) ||
                        raw_pos_init(&rp, segs[i], &its[i].e) ? -1 : 1;
                if (!dels[i]) {
                    /* Every document lives and keeps its order: its new
                     * number is an addition, not a lookup in the map (a
                     * cache miss per posting of a rare term: 1.7 s of a
                     * 9.4 s merge of corpus/cache/big.jsonl). */
                    uint32_t base = seg_base[i];
                    if (r == 1 && copy_whole(segs[i], &its[i].e, w)) {
                        /* the block being filled (if any) ends short, so
                         * that this segment's blocks follow whole */
                        segw_cut(w);
                        if (copy_blocks(&rd, &rp, segs[i], &its[i].e, base, w)) r = -1;
                    }
                    /* Positions follow their postings a run at a time:
                     * copied per posting (a tf of 1 or 2, mostly), the
                     * copy's loop and memcpy call were 1.1 G of the 11.4 G
                     * instructions of a one-thread merge of the 12
                     * segments of a two-thread build of
                     * corpus/cache/big.jsonl.  A run ends where the writer
                     * starts a doc block (its skip entry takes the position
                     * count there) and before the next input block is
                     * read (in a list with short blocks, reading one moves
                     * rp past the padding after the positions before). */
                    uint64_t run = 0;
                    while (r == 1) {
                        if ((w->blk_n == 0 || rd.i == rd.n) && run) {
                            if (raw_pos_copy(&rp, w, run)) {
                                r = -1;
                                break;
                            }
                            run = 0;
                        }
                        if ((r = raw_docs_next(&rd, &d, &tf)) != 1) break;
                        segw_doc(w, base + d, tf);
                        run += tf;
                    }
                    if (r == 0 && run && raw_pos_copy(&rp, w, run)) r = -1;
                }
                while (r == 1 && (r = raw_docs_next(&rd, &d, &tf)) == 1) {
                    int live = m[d] != NONE;
                    if (live) segw_doc(w, m[d], tf);
                    for (uint32_t j = 0; j < tf && r == 1; j++) {
                        if (raw_pos_next(&rp, &gap)) r = -1;
                        else if (live) segw_pos_gap(w, gap);
                    }
                }
                if (r < 0)
                    rc = qerr(err, QUIRE_ECORRUPT, "%s: postings or positions do not decode",
                              segs[i]->name);
            }
            if (!rc && (rc = segw_term_end(w, err)) == QUIRE_EARG)
                rc = out_of_order(err, segs, pick, np);
            if (rc) goto out;
            wk->nterms++;
            wk->npostings += df;
            wk->npositions += cf;
        }
        for (size_t q = 0; q < np; q++) {
            size_t i = pick[q];
            release(segs[i], in->fds[i], SEC_DOCS, its[i].e.docs_off, &rel[2 * i]);
            release(segs[i], in->fds[i], SEC_POS, its[i].e.pos_off, &rel[2 * i + 1]);
            int r = dict_iter_next(&its[i]);
            if (r < 0) {
                rc = qerr(err, QUIRE_ECORRUPT, "%s: dictionary does not decode", segs[i]->name);
                goto out;
            }
            live_it[i] = r == 1;
        }
    }
    /* the run's share ends at the next term, or with the section */
    for (size_t i = 0; i < n; i++) {
        if (rel[2 * i] == UINT64_MAX) continue;
        release_to(segs[i], in->fds[i], SEC_DOCS, live_it[i] ? its[i].e.docs_off : UINT64_MAX,
                   &rel[2 * i], 1);
        release_to(segs[i], in->fds[i], SEC_POS, live_it[i] ? its[i].e.pos_off : UINT64_MAX,
                   &rel[2 * i + 1], 1);
    }
out:
    if (rc) {
        pthread_mutex_lock(&ms->mu);
        if (!ms->rc) {
            ms->rc = rc;
            ms->err = *err;
        }
        pthread_mutex_unlock(&ms->mu);
    }
    return rc;
}

/* A thread's share: its first run, then runs taken from the others. */
static void merge_worker_loop(merge_worker *wk, merge_run *run)
{
    merge_sched *ms = wk->ms;
    while (run && !merge_run_terms(wk, run)) {
        uint32_t k;
        quire_error e;
        run = NULL;
        pthread_mutex_lock(&ms->mu);
        int rc;
        if (!ms->rc && !steal_chunk(ms, &k) && (rc = run_start(wk, k, &run, &e))) {
            ms->rc = rc;
            ms->err = e;
            run = NULL;
        }
        pthread_mutex_unlock(&ms->mu);
    }
}

typedef struct merge_thread {
    merge_worker wk;
    merge_run *run;
    pthread_t tid;
    int started;
} merge_thread;

static void *merge_thread_main(void *arg)
{
    merge_thread *t = arg;
    merge_worker_loop(&t->wk, t->run);
    return NULL;
}

static int cmp_runs(const void *a, const void *b)
{
    uint32_t x = ((const merge_run *)a)->first, y = ((const merge_run *)b)->first;
    return (x > y) - (x < y);
}

int idx_merge(const char *dir, idx_segment *const *segs, uint64_t *const *dels, size_t n,
              const char *name, uint32_t tok_flags, unsigned threads, uint32_t *ndocs_out,
              quire_error *err)
{
    int rc = QUIRE_OK;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += segs[i]->ndocs;
    if (total >= NONE) return qerr(err, QUIRE_EARG, "too many documents for one segment");
    uint32_t **map = calloc(n + 1, sizeof *map);
    uint32_t *seg_base = calloc(n + 1, sizeof *seg_base);  /* new number of doc 0 */
    if (threads < 1) threads = 1;
    if (threads > MERGE_CHUNKS) threads = MERGE_CHUNKS;
    /* per thread: */
    merge_thread *th = calloc(threads, sizeof *th);
    dict_iter *its = calloc(threads * n + 1, sizeof *its);
    int *live_it = calloc(threads * n + 1, sizeof *live_it);
    int *fds = malloc((n + 1) * sizeof *fds);   /* of the inputs, for file_drop */
    size_t *pick = calloc(threads * n + 1, sizeof *pick);
    uint64_t *rel = calloc(2 * threads * n + 2, sizeof *rel);
    uint32_t *norms = malloc((total + 1) * sizeof *norms);
    val_set values = {0};
    uint8_t *values_buf = NULL;
    size_t values_len = 0;
    uint64_t *id_off = calloc(total + 2, sizeof *id_off);
    char *path = path_join(dir, name), *prefix = NULL, *tail_prefix = NULL;
    merge_store ms;
    pthread_t store_tid;
    int store_thread = 0;
    seg_writer w;
    int w_open = 0;
    merge_sched sched;
    memset(&sched, 0, sizeof sched);
    pthread_mutex_init(&sched.mu, NULL);
    memset(&ms, 0, sizeof ms);
    pthread_mutex_init(&ms.mu, NULL);
    pthread_cond_init(&ms.cv, NULL);
    if (fds)
        for (size_t i = 0; i < n; i++) fds[i] = -1;
    if (!map || !seg_base || !th || !its || !live_it || !norms || !id_off || !pick || !rel ||
        !path || !fds) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }
    prefix = malloc(strlen(path) + 8);
    tail_prefix = malloc(strlen(path) + 8);
    if (!prefix || !tail_prefix) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }
    sprintf(prefix, "%s.tmp", path);
    sprintf(tail_prefix, "%s.tm", path);

    for (size_t i = 0; i < n; i++) {
        /* without it the pages are only dropped when the file is removed */
        char *p = path_join(dir, segs[i]->name);
        if (p) fds[i] = open(p, O_RDONLY | O_CLOEXEC);
        free(p);
    }

    /* new doc numbers: segments in order, live documents in order */
    uint32_t nd = 0;
    uint64_t total_len = 0;
    for (size_t i = 0; i < n; i++) {
        map[i] = malloc(((size_t)segs[i]->ndocs + 1) * sizeof **map);
        if (!map[i]) {
            rc = qerr(err, QUIRE_ENOMEM, "out of memory");
            goto out;
        }
        seg_base[i] = nd;
        for (uint32_t d = 0; d < segs[i]->ndocs; d++) {
            if (is_dead(dels[i], d)) {
                map[i][d] = NONE;
                continue;
            }
            norms[nd] = idx_segment_doclen(segs[i], d);
            total_len += norms[nd];
            map[i][d] = nd++;
        }
    }

    /* values: each input's columns, live documents renumbered */
    for (size_t i = 0; i < n; i++) {
        const val_view *vv = &segs[i]->values;
        for (uint32_t c = 0; c < vv->ncols; c++) {
            const val_column *col = &vv->cols[c];
            for (uint32_t d = 0; d < segs[i]->ndocs; d++) {
                double v;
                if (map[i][d] != NONE && val_get(col, d, &v) &&
                    val_set_add(&values, (const char *)col->name, col->name_len, map[i][d], v)) {
                    rc = qerr(err, QUIRE_ENOMEM, "out of memory");
                    goto out;
                }
            }
        }
    }
    if (val_set_encode(&values, nd, &values_buf, &values_len)) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }

    if ((rc = segw_open(&w, path, prefix, err))) goto out;
    w_open = 1;
    segw_set_norms(&w, norms, nd, total_len);
    segw_set_values(&w, values_buf, values_len);
    if ((rc = segw_store_begin(&w, err))) goto out;
    /* The merged store, often half the segment, is written past the page
     * cache.  Buffered, its pages had to be taken fresh (slow on the
     * benchmark's VM: the host backs them on first touch) and the store
     * thread's writes contended with the positions' for the file's inode
     * lock; uncached, the kernel writes the pages back at once and reuses
     * them.  Standalone two-thread merges of the 8 segments of a two-thread
     * build of corpus/cache/big.jsonl: 2.03-2.25 s -> 1.70-1.76 s, system
     * time 1.1-1.5 -> 0.6-0.7 s; the final fsync 0.12 -> 0.0 s.  Postings,
     * positions and the dictionary stay cached: queries read them next. */
    segw_store_uncached(&w);
    merge_in in = {.segs = segs, .fds = fds, .dels = dels, .map = map, .seg_base = seg_base,
                   .n = n, .nd = nd};
    ms.in = &in;
    ms.id_off = id_off;
    ms.w = &w;
    int any_del = 0;
    for (size_t i = 0; i < n; i++) any_del |= dels[i] != NULL;
    if (threads > 1 && !any_del) {
        /* The store's size is known: the first run's positions go
         * straight to their place in the file while the store is written
         * before them (through a temporary file they took 0.2 s more of
         * the two-thread merge of corpus/cache/big.jsonl). */
        uint64_t store_len, nblocks, ids_len;
        store_size(segs, n, &store_len, &nblocks);
        if ((rc = ids_size(segs, n, &ids_len, err)) ||
            (rc = segw_pos_at(&w, segw_pos_offset(store_len, 24 * nblocks, nd, ids_len), err)))
            goto out;
    }
    store_thread = threads > 1 && pthread_create(&store_tid, NULL, write_store, &ms) == 0;
    if (!store_thread) {
        write_store(&ms);
        if ((rc = ms.rc)) {
            *err = ms.err;
            goto out;
        }
        /* the store is complete: positions can follow it in the file */
        if (!w.pos_direct && (rc = segw_pos_direct(&w, err))) goto out;
    }
    sched.in = &in;
    sched.norms = norms;
    sched.total_len = total_len;
    sched.path = path;
    sched.tail_prefix = tail_prefix;
    if ((rc = plan_chunks(&sched, threads, err))) goto out;
    unsigned nth = threads < sched.nchunks ? threads : sched.nchunks;
    for (unsigned j = 0; j < nth; j++) {
        merge_thread *t = &th[j];
        t->wk = (merge_worker){.ms = &sched, .its = its + j * n, .live_it = live_it + j * n,
                               .pick = pick + j * n, .rel = rel + 2 * j * n, .first_w = &w};
        /* the threads start evenly spread over the chunks */
        if ((rc = run_start(&t->wk, (uint32_t)((uint64_t)j * sched.nchunks / nth), &t->run,
                            err)))
            goto out;
    }
    for (unsigned j = 1; j < nth; j++)
        th[j].started = pthread_create(&th[j].tid, NULL, merge_thread_main, &th[j]) == 0;
    merge_worker_loop(&th[0].wk, th[0].run);
    if (store_thread) merge_ids_take(&ms);
    for (unsigned j = 1; j < nth; j++) {
        /* no thread: the caller's does that share too */
        if (th[j].started) pthread_join(th[j].tid, NULL);
        else merge_worker_loop(&th[j].wk, th[j].run);
        th[j].started = 0;
    }
    if ((rc = sched.rc)) {
        *err = sched.err;
        goto out;
    }
    uint64_t nterms = 0, npostings = 0, npositions = 0;
    for (unsigned j = 0; j < nth; j++) {
        nterms += th[j].wk.nterms;
        npostings += th[j].wk.npostings;
        npositions += th[j].wk.npositions;
    }
    qsort(sched.runs, sched.nruns, sizeof *sched.runs, cmp_runs);
    for (uint32_t k = 1; k < sched.nruns; k++) {
        if ((rc = segw_join(&w, sched.runs[k].w, err)) == QUIRE_EARG)
            rc = out_of_order(err, segs, NULL, n);
        if (rc) goto out;
    }
    seg_meta meta = {
        .ndocs = nd, .tok_flags = tok_flags, .nterms = nterms, .total_len = total_len,
        .npostings = npostings, .npositions = npositions, .block_size = IDX_BLOCK,
        .dict_block = SEG_DICT_BLOCK,
    };
    if (store_thread) {
        pthread_join(store_tid, NULL);
        store_thread = 0;
        if ((rc = ms.rc)) {
            *err = ms.err;
            goto out;
        }
    }
    rc = segw_finish(&w, &meta, ms.sw.idx, ms.sw.idx_len, ms.ids_sorted, id_off,
                     ms.ids ? ms.ids : "", err);
    if (!rc) *ndocs_out = nd;
out:
    for (unsigned j = 1; th && j < threads; j++)
        if (th[j].started) pthread_join(th[j].tid, NULL);
    if (store_thread) pthread_join(store_tid, NULL);
    for (uint32_t k = 0; k < sched.nruns; k++) {
        if (sched.runs[k].w == &w) continue;
        segw_close(sched.runs[k].w);   /* never abort: its path is w's file */
        free(sched.runs[k].w);
    }
    free(sched.bound_bytes);
    pthread_mutex_destroy(&sched.mu);
    free(th);
    if (w_open) {
        if (rc) segw_abort(&w);
        else segw_close(&w);
    }
    if (ms.sw_open) storew_close(&ms.sw);
    for (size_t i = 0; map && i < n; i++) free(map[i]);
    free(map);
    free(seg_base);
    free(its);
    free(live_it);
    for (size_t i = 0; fds && i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
    free(fds);
    free(norms);
    val_set_free(&values);
    free(values_buf);
    free(id_off);
    free(pick);
    free(rel);
    free(ms.ids);
    free(ms.ids_sorted);
    free(prefix);
    free(tail_prefix);
    free(path);
    pthread_cond_destroy(&ms.cv);
    pthread_mutex_destroy(&ms.mu);
    return rc;
}
