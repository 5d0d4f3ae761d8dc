/*
 * segread.c — opens a segment file through mmap, checks its structure and
 * checksums, and serves dictionary lookups, stored documents, id lookups
 * and posting iterators.  The layout is documented in segwrite.c and
 * docs/FORMAT.md.
 *
 * Every offset read from the file is checked against its section before
 * use, so a damaged file that slipped past the checksums (or was opened
 * without verification) yields QUIRE_ECORRUPT or an exhausted iterator,
 * never a read outside the mapping.
 */
#define _GNU_SOURCE
#include "index/segread.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "index/codec.h"
#include "index/commongrams.h"
#include "index/fuzzy.h"
#include "index/segment.h"
#include "index/util.h"
#include "index/xxh.h"
#include "tokenizer/tokenizer.h"

static const char *section_name(uint32_t id)
{
    static const char *names[SEC_COUNT] = {
        "?", "meta", "dict", "dictidx", "docs", "skip", "pos", "norms",
        "store", "storeidx", "ids", "values"};
    return id < SEC_COUNT ? names[id] : "?";
}

/* sum_state: 0 (a calloc'd segment) is checked or never to be checked */
enum { SUM_OK = 0, SUM_PENDING = 1, SUM_BAD = 2 };

static int check_sum(const idx_segment *s, uint32_t id, quire_error *err);

int idx_segment_open(const char *dir, const char *name, int verify,
                     idx_segment **out, quire_error *err)
{
    idx_segment *s = calloc(1, sizeof *s);
    if (!s) return qerr(err, QUIRE_ENOMEM, "out of memory");
    char *path = path_join(dir, name);
    s->name = strdup(name);
    if (!path || !s->name) {
        free(path);
        idx_segment_close(s);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    int rc = map_named_file(path, &s->m, err);
    if (rc) goto fail;
    const uint8_t *d = s->m.data;
    size_t n = s->m.len;
    if (n < SEG_HEADER_BYTES + SEG_TRAILER_BYTES || memcmp(d, SEG_MAGIC, 8) != 0) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: not a Quire segment (bad magic or too short)", path);
        goto fail;
    }
    s->version = ld32(d + 8);
    if (s->version < SEG_VERSION_MIN || s->version > SEG_VERSION) {
        rc = qerr(err, QUIRE_EVERSION,
                  "%s: segment format version %u, this build reads versions %u to %u",
                  path, s->version, SEG_VERSION_MIN, SEG_VERSION);
        goto fail;
    }
    const uint8_t *tr = d + n - SEG_TRAILER_BYTES;
    if (memcmp(tr + SEG_TRAILER_BYTES - 8, SEG_TRAILER_MAGIC, 8) != 0) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: truncated (no trailer)", path);
        goto fail;
    }
    uint64_t foff = ld64(tr), flen = ld64(tr + 8);
    if (foff > n - SEG_TRAILER_BYTES || flen != n - SEG_TRAILER_BYTES - foff ||
        flen < 8) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: footer out of bounds", path);
        goto fail;
    }
    if (XXH3_64bits(d + foff, flen) != ld64(tr + 16)) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: footer checksum mismatch", path);
        goto fail;
    }
    uint32_t nsec = ld32(d + foff);
    if ((uint64_t)nsec * 32 + 8 != flen) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: bad section table", path);
        goto fail;
    }
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = d + foff + 8 + 32 * i;
        uint32_t id = ld32(e);
        uint64_t off = ld64(e + 8), len = ld64(e + 16);
        if (id == 0 || id >= SEC_COUNT || off > foff || len > foff - off ||
            (id == SEC_VALUES && s->version < SEG_VERSION_VALUES)) {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: section %u out of bounds", path, id);
            goto fail;
        }
        s->sec[id] = d + off;
        s->sec_len[id] = len;
        s->sec_hash[id] = ld64(e + 24);
        s->sec_present[id] = 1;
    }
    for (uint32_t id = 1; id < SEC_COUNT; id++) {
        if (!s->sec_present[id] && id != SEC_VALUES) {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: section %s missing", path, section_name(id));
            goto fail;
        }
    }
    if (verify == SEG_VERIFY_LAZY) {
        s->sum_state[SEC_POS] = s->sum_state[SEC_IDS] = SUM_PENDING;
        for (uint32_t id = 1; id < SEC_COUNT && !rc; id++)
            if (id != SEC_STORE && id != SEC_POS && id != SEC_IDS)
                rc = check_sum(s, id, err);
        if (rc) goto fail;
    } else if (verify && (rc = idx_segment_check_sums(s, 0, err))) {
        goto fail;
    }

    if (s->sec_len[SEC_META] < 48) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: meta section too short", path);
        goto fail;
    }
    const uint8_t *m = s->sec[SEC_META];
    s->ndocs = ld32(m);
    s->tok_flags = ld32(m + 4);
    s->nterms = ld64(m + 8);
    s->total_len = ld64(m + 16);
    s->npostings = ld64(m + 24);
    s->npositions = ld64(m + 32);
    if (ld32(m + 40) != IDX_BLOCK || ld32(m + 44) != SEG_DICT_BLOCK) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: unexpected block sizes", path);
        goto fail;
    }
    uint64_t nblocks = (s->nterms + SEG_DICT_BLOCK - 1) / SEG_DICT_BLOCK;
    if (s->sec_len[SEC_DICTIDX] != nblocks * 8 ||
        s->sec_len[SEC_NORMS] != (uint64_t)s->ndocs * 4 ||
        s->sec_len[SEC_STOREIDX] % 24 != 0 ||
        s->sec_len[SEC_IDS] < 8 + (uint64_t)s->ndocs * 12 + 8) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: section sizes disagree with meta", path);
        goto fail;
    }
    s->dict.dict = s->sec[SEC_DICT];
    s->dict.dict_len = s->sec_len[SEC_DICT];
    s->dict.idx = s->sec[SEC_DICTIDX];
    s->dict.nblocks = (size_t)nblocks;
    s->dict.nterms = s->nterms;
    s->dict.v1 = s->version == 1;
    s->dict.skip_entries = s->version < SEG_VERSION_PACKED_SKIP;
    {
        uint64_t *keys;
        int kr = dict_build_keys(&s->dict, &keys);
        if (kr) {
            rc = kr == -1 ? qerr(err, QUIRE_ENOMEM, "out of memory")
                          : qerr(err, QUIRE_ECORRUPT, "%s: dictionary block index is corrupt", path);
            goto fail;
        }
        s->dict_keys = keys;
        s->dict.keys = keys;
    }
    s->norms = s->sec[SEC_NORMS];
    if (s->sec_present[SEC_VALUES]) {
        int vr = val_view_open(s->sec[SEC_VALUES], s->sec_len[SEC_VALUES], s->ndocs, &s->values);
        if (vr) {
            rc = vr == -1 ? qerr(err, QUIRE_ENOMEM, "out of memory")
                          : qerr(err, QUIRE_ECORRUPT, "%s: values section is malformed", path);
            goto fail;
        }
    }
    free(path);
    *out = s;
    return QUIRE_OK;
fail:
    free(path);
    idx_segment_close(s);
    return rc;
}

/* XXH3 of a section, read a chunk at a time; each chunk's pages then leave
 * the process's resident set (they stay in the page cache, and whatever
 * a query reads comes back as a minor fault).  Hashed whole, the sections
 * stayed resident: opening the segments of corpus/cache/big.jsonl counted
 * 380 MB of file pages into the RSS of every process that opened them,
 * and a build's peak RSS went past its memory budget in the final merge. */
#define SUM_CHUNK ((size_t)4 << 20)
static int section_sum(const uint8_t *p, size_t len, uint64_t *out)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h) return -1;
    XXH3_64bits_reset(h);
    for (size_t off = 0; off < len; off += SUM_CHUNK) {
        size_t n = len - off < SUM_CHUNK ? len - off : SUM_CHUNK;
        XXH3_64bits_update(h, p + off, n);
        map_drop(p + off, n);
    }
    *out = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return 0;
}

static int check_sum(const idx_segment *s, uint32_t id, quire_error *err)
{
    if (!s->sec_present[id]) return QUIRE_OK;   /* an optional section left out */
    uint64_t sum;
    if (section_sum(s->sec[id], s->sec_len[id], &sum))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    if (sum != s->sec_hash[id])
        return qerr(err, QUIRE_ECORRUPT, "%s: checksum mismatch in section %s", s->name,
                    section_name(id));
    return QUIRE_OK;
}

int idx_segment_check_sums(const idx_segment *s, int with_store, quire_error *err)
{
    for (uint32_t id = 1; id < SEC_COUNT; id++) {
        /* the store is most of the file, and every zstd frame in it carries
         * its own content checksum, checked whenever a block is read */
        if (id == SEC_STORE && !with_store) continue;
        int rc = check_sum(s, id, err);
        if (rc) return rc;
    }
    return QUIRE_OK;
}

int idx_segment_sum_ok(const idx_segment *s, int sec)
{
    /* the segment is shared read-only; this word is its one cache, and
     * two threads that both hash a section store the same answer */
    int *st = (int *)&s->sum_state[sec];
    int v = __atomic_load_n(st, __ATOMIC_ACQUIRE);
    if (v == SUM_PENDING) {
        quire_error e;
        int rc = check_sum(s, (uint32_t)sec, &e);
        if (rc == QUIRE_ENOMEM) return 0;   /* not known good: not read */
        v = rc ? SUM_BAD : SUM_OK;
        __atomic_store_n(st, v, __ATOMIC_RELEASE);
    }
    return v == SUM_OK;
}

void idx_segment_close(idx_segment *s)
{
    if (!s) return;
    unmap_file(&s->m);
    free(s->dict_keys);
    val_view_close(&s->values);
    free(s->deleted);
    free(s->name);
    free(s);
}

const char *idx_segment_name(const idx_segment *s) { return s->name; }

const val_view *idx_segment_value_view(const idx_segment *s) { return &s->values; }

const val_column *idx_segment_values(const idx_segment *s, const char *field, size_t len)
{
    return val_view_find(&s->values, field, len);
}
uint32_t idx_segment_ndocs(const idx_segment *s) { return s->ndocs; }
uint64_t idx_segment_nterms(const idx_segment *s) { return s->nterms; }
uint32_t idx_segment_doclen(const idx_segment *s, uint32_t doc)
{
    return doc < s->ndocs ? ld32(s->norms + 4 * (size_t)doc) : 0;
}
const uint64_t *idx_segment_deleted(const idx_segment *s)
{
    return s->ndeleted ? s->deleted : NULL;
}

/* A term's skip entries, in k: 0, or -1 when they do not lie inside the
 * section. */
static int term_skip(const idx_segment *s, const idx_term *e, seg_skip *k)
{
    return seg_skip_open(k, s->sec[SEC_SKIP], s->sec_len[SEC_SKIP], e->skip_off,
                         idx_term_blocks(e), s->version);
}

/* A dictionary entry's offsets point inside their sections. */
static int term_in_bounds(const idx_segment *s, const idx_term *e)
{
    seg_skip k;
    return !((e->df > 1 && e->docs_off >= s->sec_len[SEC_DOCS]) ||
             (e->df == 1 && e->single_doc >= s->ndocs) ||
             (e->cf > 1 && e->pos_off >= s->sec_len[SEC_POS]) ||
             (e->df > IDX_BLOCK && term_skip(s, e, &k) != 0) ||
             e->df > s->ndocs);
}

int idx_segment_lookup(const idx_segment *s, const char *term, size_t len,
                       idx_term *out)
{
    int r = dict_lookup(&s->dict, (const uint8_t *)term, len, out);
    if (r == 1 && !term_in_bounds(s, out)) return -1;
    return r;
}

/* A prefix's terms sit together in the sorted dictionary: seek to the
 * block that may hold the prefix, skip what sorts before it, stop at the
 * first term that does not start with it. */
int idx_segment_prefix(const idx_segment *s, const char *prefix, size_t len, idx_term_fn fn,
                       void *ctx)
{
    dict_iter it;
    if (dict_iter_seek(&it, &s->dict, (const uint8_t *)prefix, len)) return -1;
    int r;
    while ((r = dict_iter_next(&it)) == 1) {
        size_t m = it.term_len < len ? it.term_len : len;
        int c = memcmp(it.term, prefix, m);
        if (c < 0 || (c == 0 && it.term_len < len)) continue;   /* before it */
        if (c > 0) return 0;                                       /* past it */
        if (memchr(it.term, CG_SEP, it.term_len)) continue;
        idx_term e = it.e;
        if (!term_in_bounds(s, &e)) return -1;
        if (e.df == 0) continue;
        int rc = fn(ctx, it.term, it.term_len, &e, 0);
        if (rc) return rc;
    }
    return r < 0 ? -1 : 0;
}

/* A term's neighbours may sit anywhere in the dictionary, so terms are
 * tested in order, the matcher reusing the rows of the prefix a term
 * shares with the one before it.  A prefix already too far rules out
 * every term that starts with it: once FZ_SKIP_AFTER terms in a row fell
 * under one such prefix, the walk jumps to the dictionary block of the
 * first term after them (dict_iter_skip), as Lucene intersects the
 * terms with an automaton instead of testing each.  On
 * corpus/cache/big.jsonl's optimized index, whale~1 had the walk test all
 * of its 133,422 terms.  Title terms (one leading mark) are a block of
 * the dictionary too, passed over the same way by a word's walk. */
#define FZ_SKIP_AFTER 8
int idx_segment_fuzzy(const idx_segment *s, const char *term, size_t len, unsigned edits,
                      idx_term_fn fn, int (*poll)(void *ctx), void *ctx)
{
    fz_matcher z;
    int r = fz_init(&z, (const uint8_t *)term, len, edits);
    if (r) {
        fz_free(&z);
        return r == -2 ? 0 : -2;   /* longer than any term: matches none */
    }
    dict_iter it;
    dict_iter_init(&it, &s->dict);
    int rc = 0;
    /* a title term's neighbours are title terms, a word's are words */
    int title = len && term[0] == TOK_FIELD_MARK;
    /* the prefix that ruled out the last terms, and how many in a row */
    uint8_t dead[DICT_MAX_TERM + 1];
    size_t dead_len = 0, run = 0;
    uint32_t walked = 0;
    while (!rc && (r = dict_iter_next(&it)) == 1) {
        int d;
        if (dead_len && it.term_len >= dead_len && !memcmp(it.term, dead, dead_len)) {
            if (++run < FZ_SKIP_AFTER) continue;
            /* past every term that starts with it: the prefix with its
             * last byte below 0xff increased, the bytes after dropped */
            size_t n = dead_len;
            while (n && dead[n - 1] == 0xff) n--;
            if (!n) break;   /* nothing follows */
            dead[n - 1]++;
            if (dict_iter_skip(&it, dead, n)) {
                rc = -1;
                break;
            }
            dead_len = run = 0;
            continue;
        }
        dead_len = run = 0;
        int other_kind = (it.term_len && it.term[0] == TOK_FIELD_MARK) != title;
        if (other_kind && !title) {
            dead[0] = TOK_FIELD_MARK;   /* every title term */
            dead_len = run = 1;
            continue;
        }
        /* a title term's walk is over once the title terms are */
        if (other_kind && title && (uint8_t)it.term[0] > (uint8_t)TOK_FIELD_MARK) break;
        if (other_kind || memchr(it.term, CG_SEP, it.term_len)) continue;
        /* counted where a term is tested: the terms passed over before
         * are a few between two tests (a prefix's run, bigrams) */
        if (poll && ++walked % IDX_FUZZY_POLL == 0 && (rc = poll(ctx))) break;
        if ((d = fz_distance(&z, it.term, it.term_len)) < 0) {
            const uint8_t *p;
            size_t n = fz_dead_prefix(&z, &p);
            if (n && n <= DICT_MAX_TERM) {
                memcpy(dead, p, n);
                dead_len = n;
                run = 1;
            }
            continue;
        }
        idx_term e = it.e;
        if (!term_in_bounds(s, &e)) rc = -1;
        else if (e.df) rc = fn(ctx, it.term, it.term_len, &e, (unsigned)d);
    }
    fz_free(&z);
    if (!rc && r < 0) rc = -1;
    return rc;
}

/* ---- stored documents and ids ------------------------------------------ */

/* Store block k (its storeidx entry checked against the store) into a
 * fresh buffer of *rlen bytes: through `dz` when given (a caller reading
 * many blocks keeps one context), else through a context of its own. */
static int store_block(const idx_segment *s, size_t k, ZSTD_DCtx *dz, uint8_t **raw,
                       size_t *rlen, quire_error *err)
{
    const uint8_t *e = s->sec[SEC_STOREIDX] + 24 * k;
    uint64_t off = ld64(e + 8);
    uint32_t clen = ld32(e + 16), n = ld32(e + 20);
    if (off > s->sec_len[SEC_STORE] || clen > s->sec_len[SEC_STORE] - off)
        return qerr(err, QUIRE_ECORRUPT, "%s: store index broken at block %zu", s->name, k);
    const uint8_t *src = s->sec[SEC_STORE] + off;
    /* the raw length is allocated before the frame is read: it must be
     * the one the frame says (a damaged store index asked for 4 GiB) */
    if (ZSTD_getFrameContentSize(src, clen) != n)
        return qerr(err, QUIRE_ECORRUPT, "%s: store block %zu is not the %u bytes its index "
                    "says", s->name, k, n);
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return qerr(err, QUIRE_ENOMEM, "out of memory");
    size_t got = dz ? ZSTD_decompressDCtx(dz, b, n, src, clen) : ZSTD_decompress(b, n, src, clen);
    if (ZSTD_isError(got) || got != n) {
        free(b);
        return qerr(err, QUIRE_ECORRUPT, "%s: store block of doc %u is corrupt (%s)", s->name,
                    ld32(e), ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short block");
    }
    *raw = b;
    *rlen = n;
    return QUIRE_OK;
}

/* The next record of a block at *p: its bytes at *rec, *len of them. */
static int next_record(const uint8_t **p, const uint8_t *end, const uint8_t **rec, size_t *len)
{
    uint64_t l;
    const uint8_t *q = varint_get(*p, end, &l);
    if (!q || l > (uint64_t)(end - q)) return -1;
    *rec = q;
    *len = (size_t)l;
    *p = q + l;
    return 0;
}

int idx_segment_doc_record(const idx_segment *s, uint32_t doc, uint8_t **rec,
                           size_t *len, quire_error *err)
{
    if (doc >= s->ndocs)
        return qerr(err, QUIRE_ENOTFOUND, "no document %u in %s", doc, s->name);
    const uint8_t *ix = s->sec[SEC_STOREIDX];
    size_t nb = s->sec_len[SEC_STOREIDX] / 24;
    size_t lo = 0, hi = nb;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ld32(ix + 24 * mid) <= doc) lo = mid; else hi = mid;
    }
    if (nb == 0) return qerr(err, QUIRE_ECORRUPT, "%s: empty store index", s->name);
    uint32_t first = ld32(ix + 24 * lo), count = ld32(ix + 24 * lo + 4);
    if (doc < first || doc - first >= count)
        return qerr(err, QUIRE_ECORRUPT, "%s: store index broken at doc %u", s->name, doc);
    uint8_t *raw;
    size_t rlen;
    int rc = store_block(s, lo, NULL, &raw, &rlen, err);
    if (rc) return rc;
    const uint8_t *p = raw, *r;
    for (uint32_t i = first;; i++) {
        if (next_record(&p, raw + rlen, &r, len)) {
            free(raw);
            return qerr(err, QUIRE_ECORRUPT, "%s: bad record in store", s->name);
        }
        if (i == doc) {
            memmove(raw, r, *len);
            *rec = raw;
            return QUIRE_OK;
        }
    }
}

int idx_segment_check_store(const idx_segment *s, quire_error *err)
{
    const uint8_t *ix = s->sec[SEC_STOREIDX];
    size_t nb = s->sec_len[SEC_STOREIDX] / 24;
    if (s->sec_len[SEC_STOREIDX] % 24)
        return qerr(err, QUIRE_ECORRUPT, "%s: store index of %zu bytes", s->name,
                    (size_t)s->sec_len[SEC_STOREIDX]);
    ZSTD_DCtx *dz = ZSTD_createDCtx();
    if (!dz) return qerr(err, QUIRE_ENOMEM, "out of memory");
    int rc = QUIRE_OK;
    uint32_t next = 0;   /* the first doc the next block must hold */
    for (size_t k = 0; k < nb && !rc; k++) {
        uint32_t first = ld32(ix + 24 * k), count = ld32(ix + 24 * k + 4);
        if (first != next || count == 0 || count > s->ndocs - next) {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: store block %zu holds docs %u to %llu, "
                      "expected from %u", s->name, k, first,
                      (unsigned long long)first + count, next);
            break;
        }
        uint8_t *raw;
        size_t rlen;
        if ((rc = store_block(s, k, dz, &raw, &rlen, err))) break;
        const uint8_t *p = raw, *r;
        size_t len;
        for (uint32_t i = 0; i < count && !rc; i++)
            if (next_record(&p, raw + rlen, &r, &len))
                rc = qerr(err, QUIRE_ECORRUPT, "%s: bad record of doc %u in store", s->name,
                          first + i);
        if (!rc && p != raw + rlen)
            rc = qerr(err, QUIRE_ECORRUPT, "%s: store block %zu has bytes past its %u docs",
                      s->name, k, count);
        free(raw);
        next = first + count;
    }
    if (!rc && next != s->ndocs)
        rc = qerr(err, QUIRE_ECORRUPT, "%s: the store holds %u of %u docs", s->name, next,
                  s->ndocs);
    ZSTD_freeDCtx(dz);
    return rc;
}

static void id_at(const idx_segment *s, uint32_t doc, const uint8_t **p,
                  size_t *len)
{
    if (seg_id_at(s->sec[SEC_IDS], s->sec_len[SEC_IDS], s->ndocs, doc, p, len)) {
        *p = s->sec[SEC_IDS];
        *len = 0;
    }
}

long idx_segment_find_id(const idx_segment *s, const char *id, size_t len)
{
    if (!idx_segment_sum_ok(s, SEC_IDS)) return -2;
    const uint8_t *sorted = s->sec[SEC_IDS] + 8;
    size_t lo = 0, hi = s->ndocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t d = ld32(sorted + 4 * mid);
        if (d >= s->ndocs) return -1;
        const uint8_t *p;
        size_t l;
        id_at(s, d, &p, &l);
        size_t m = l < len ? l : len;
        int c = m ? memcmp(p, id, m) : 0;
        if (!c) c = (l > len) - (l < len);
        if (c == 0) {
            /* several docs may share an id (only the last is live) */
            while (mid + 1 < s->ndocs) {
                uint32_t d2 = ld32(sorted + 4 * (mid + 1));
                if (d2 >= s->ndocs) break;
                id_at(s, d2, &p, &l);
                if (l != len || (len && memcmp(p, id, len))) break;
                mid++;
                d = d2;
            }
            return d;
        }
        if (c < 0) lo = mid + 1; else hi = mid;
    }
    return -1;
}

/* ---- posting iterator -------------------------------------------------- */

/* blk_pos_k of a block whose skip entry's position fields are not read
 * yet.  Most blocks of a phrase's frequent terms are decoded for their
 * documents alone; read at every block load, the two fields were 1.7% of
 * a phrase's instructions once the entries were bit-packed. */
#define BLK_POS_UNREAD UINT64_MAX

__attribute__((noinline)) static void blk_pos_read(idx_postings *p)
{
    p->blk_pos_k = seg_skip_get(&p->sk, SEG_SKIP_POSK, p->block);
    p->blk_pos_off = seg_skip_get(&p->sk, SEG_SKIP_POSOFF, p->block);
}

static inline void blk_pos(idx_postings *p)
{
    if (__builtin_expect(p->blk_pos_k == BLK_POS_UNREAD, 0)) blk_pos_read(p);
}

/* Decodes block b; returns 0, or -1 on corrupt data (iterator ends). */
const uint8_t *seg_doc_pfor(const uint8_t *p, const uint8_t *end, uint32_t n, uint32_t *gaps,
                            uint32_t *tfs)
{
    size_t avail = (size_t)(end - p);
    size_t nd = codec_pfor_size(p, avail, n);
    size_t nt = nd ? codec_pfor_size(p + nd, avail - nd, n) : 0;
    if (!nt) return NULL;
    codec_pfor_decode(p, n, gaps);
    codec_pfor_decode(p + nd, n, tfs);
    for (uint32_t k = 0; k < n; k++) {
        if (tfs[k] == UINT32_MAX) return NULL;
        tfs[k]++;
    }
    return p + nd + nt;
}

const uint8_t *seg_doc_tail(const uint8_t *p, const uint8_t *end, uint32_t n, uint32_t *gaps,
                            uint32_t *tfs)
{
    if (n >= SEG_DOC_TAIL_PACK_MIN) {
        if (p >= end) return NULL;
        if (*p != SEG_TAIL_VARINTS) return seg_doc_pfor(p, end, n, gaps, tfs);
        p++;
    }
    for (uint32_t k = 0; k < n; k++) {
        uint64_t v;
        uint32_t tf = 1;
        if (!(p = varint_get(p, end, &v)) || (v >> 1) > UINT32_MAX) return NULL;
        if (!(v & 1)) {
            if (!(p = varint_get32(p, end, &tf)) || tf > UINT32_MAX - 2) return NULL;
            tf += 2;
        }
        gaps[k] = (uint32_t)(v >> 1);
        tfs[k] = tf;
    }
    return p;
}

const uint8_t *seg_pos_tail(const uint8_t *p, const uint8_t *end, uint32_t n, uint32_t *gaps)
{
    if (n >= SEG_POS_TAIL_PACK_MIN) {
        if (p >= end) return NULL;
        if (*p == SEG_TAIL_VARINTS) {
            p++;
        } else {
            size_t np = codec_pfor_size(p, (size_t)(end - p), n);
            if (!np) return NULL;
            codec_pfor_decode(p, n, gaps);
            return p + np;
        }
    }
    for (uint32_t k = 0; k < n; k++)
        if (!(p = varint_get32(p, end, &gaps[k]))) return NULL;
    return p;
}

static int load_block(idx_postings *p, uint32_t b)
{
    uint32_t base = 0;
    const uint8_t *start = p->docs;
    /* with skip entries, read when positions are first asked for */
    p->blk_pos_k = p->skip ? BLK_POS_UNREAD : 0;
    p->blk_pos_off = 0;
    if (p->skip) {
        start = p->docs + seg_skip_get(&p->sk, SEG_SKIP_DOCS, b);
        if (b > 0) base = seg_skip_last(&p->sk, b - 1) + 1;
    } else if (b != 0) {
        return -1;
    }
    if (p->t.df == 1) {
        /* the one posting came with the dictionary entry */
        if (p->t.single_doc >= p->s->ndocs || p->t.cf > UINT32_MAX) return -1;
        p->block = 0;
        p->i = 0;
        p->psum_i = 0;
        p->psum = 0;
        p->docs_buf[0] = p->doc = p->t.single_doc;
        p->tf_buf[0] = (uint32_t)p->t.cf;
        p->tf_ready = 1;
        p->n = 1;
        return 0;
    }
    if (start >= p->docs_end) return -1;
    p->block = b;
    p->i = 0;
    p->psum_i = 0;
    p->psum = 0;
    /* in a list with short blocks, each one says so (SEG_SHORT_BLOCK) */
    uint32_t nshort = 0;
    const uint8_t *body = start;
    int full = p->t.cut_blocks ? !seg_doc_short(start, p->docs_end, &nshort, &body)
                               : b < p->nfull;
    if (full) {
        size_t avail = (size_t)(p->docs_end - start);
        size_t nd = codec_pfor_size(start, avail, IDX_BLOCK);
        if (!nd || !codec_pfor_size(start + nd, avail - nd, IDX_BLOCK)) return -1;
        codec_pfor_decode128_delta1(start, base, p->docs_buf);
        /* tfs are decoded only when asked for (most queries never do) */
        p->tf_ptr = start + nd;
        p->tf_ready = 0;
        p->n = IDX_BLOCK;
    } else {
        uint32_t n = p->t.cut_blocks ? nshort : p->t.df - p->nfull * IDX_BLOCK;
        if (!body || !seg_doc_tail(body, p->docs_end, n, p->docs_buf, p->tf_buf)) return -1;
        uint32_t prev = base - 1;
        for (uint32_t k = 0; k < n; k++) p->docs_buf[k] = prev += p->docs_buf[k] + 1;
        p->tf_ready = 1;
        p->n = n;
    }
    if (p->docs_buf[p->n - 1] >= p->s->ndocs) return -1;
    p->doc = p->docs_buf[0];
    return 0;
}

static void end_iter(idx_postings *p)
{
    p->doc = IDX_END;
    p->n = 0;
    p->i = 0;
    p->block = p->nblocks;
}

int idx_postings_open(const idx_segment *s, const idx_term *t,
                      idx_postings **out)
{
    idx_postings *p = malloc(sizeof *p);
    if (!p) return -1;
    memset(p, 0, offsetof(idx_postings, docs_buf));
    p->s = s;
    p->t = *t;
    p->docs = s->sec[SEC_DOCS] + t->docs_off;
    p->docs_end = s->sec[SEC_DOCS] + s->sec_len[SEC_DOCS];
    p->pos = s->sec[SEC_POS] + t->pos_off;
    p->pos_end = s->sec[SEC_POS] + s->sec_len[SEC_POS];
    p->nblocks = idx_term_blocks(t);
    p->nfull = t->df / IDX_BLOCK;   /* unless t->cut_blocks: then unused */
    p->pblk = UINT64_MAX;
    p->pblk_off = 0;
    p->out = NULL;
    p->out_cap = 0;
    p->sblock = 0;
    p->single_bounds = 0;
    p->pos_ok = 0;
    /* skip entries out of bounds (a lookup checks them first) read as
     * corrupt blocks do: the list ends */
    int ok = t->df != 0 && (t->df <= IDX_BLOCK || term_skip(s, t, &p->sk) == 0);
    if (ok && t->df > IDX_BLOCK) p->skip = p->sk.p;
    if (!ok || load_block(p, 0) != 0) end_iter(p);
    *out = p;
    return 0;
}

void idx_postings_close(idx_postings *p)
{
    if (!p) return;
    free(p->out);
    free(p);
}

uint32_t idx_postings_next_block_(idx_postings *p)
{
    if (p->doc == IDX_END) return IDX_END;
    if (p->block + 1 >= p->nblocks || load_block(p, p->block + 1) != 0) {
        end_iter(p);
        return IDX_END;
    }
    return p->doc;
}

uint32_t idx_postings_advance_slow_(idx_postings *p, uint32_t target)
{
    /* find the first later block whose last doc reaches target */
    uint32_t b = p->block + 1;
    if (!p->skip) { end_iter(p); return IDX_END; }
    b = seg_skip_find(&p->sk, b, p->nblocks, target);
    for (;; b++) {
        if (b >= p->nblocks || load_block(p, b) != 0) {
            end_iter(p);
            return IDX_END;
        }
        uint32_t i = 0;
        while (i < p->n && p->docs_buf[i] < target) i++;
        if (i < p->n) {
            p->i = i;
            return p->doc = p->docs_buf[i];
        }
        /* the block's skip entry says it reaches target and its docs do
         * not: a damaged entry (which sent this loop past the block's
         * last doc), so on to the next block */
    }
}

void idx_postings_load_tfs_(idx_postings *p)
{
    codec_pfor_decode(p->tf_ptr, IDX_BLOCK, p->tf_buf);
    for (uint32_t k = 0; k < IDX_BLOCK; k++) p->tf_buf[k]++;
    p->tf_ready = 1;
}

static void ensure_tfs(idx_postings *p)
{
    if (!p->tf_ready) idx_postings_load_tfs_(p);
}

/* Decodes position block pb of the term into pbuf; 0 or -1. */
static int load_pos_block(idx_postings *p, uint64_t pb)
{
    /* every read of positions starts here (pblk starts at none), once
     * per block of 128: checked in pos_start, once per document, the
     * test made phrase queries 5-8% slower */
    if (__builtin_expect(!p->pos_ok, 0)) {
        if (!idx_segment_sum_ok(p->s, SEC_POS)) return -1;   /* read as corrupt */
        p->pos_ok = 1;
    }
    /* a list with short blocks pads its positions: no tail */
    uint64_t nfullpos = p->t.cut_blocks ? UINT64_MAX : p->t.cf / IDX_BLOCK;
    uint64_t have_blk, off;
    if (p->t.cf == 1) {
        /* the one position came with the dictionary entry */
        if (pb != 0) return -1;
        p->pbuf[0] = p->t.single_pos;
        p->pblk = 0;
        p->pblk_off = 0;
        return 0;
    }
    /* walk forward from the nearest known block start */
    blk_pos(p);
    uint64_t anchor = p->blk_pos_k / IDX_BLOCK;
    if (p->pblk != UINT64_MAX && p->pblk <= pb && p->pblk >= anchor) {
        have_blk = p->pblk;
        off = p->pblk_off;
    } else {
        have_blk = anchor;
        off = p->blk_pos_off;
    }
    while (have_blk < pb) {
        if (have_blk >= nfullpos) return -1;
        const uint8_t *b = p->pos + off;
        if (b >= p->pos_end) return -1;
        size_t sz = codec_pfor_size(b, (size_t)(p->pos_end - b), IDX_BLOCK);
        if (!sz) return -1;
        off += sz;
        have_blk++;
    }
    const uint8_t *b = p->pos + off;
    if (b >= p->pos_end) return -1;
    if (pb < nfullpos) {
        if (!codec_pfor_size(b, (size_t)(p->pos_end - b), IDX_BLOCK)) return -1;
        codec_pfor_decode(b, IDX_BLOCK, p->pbuf);
    } else {
        uint32_t n = (uint32_t)(p->t.cf - nfullpos * IDX_BLOCK);
        if (!seg_pos_tail(b, p->pos_end, n, p->pbuf)) return -1;
    }
    p->pblk = pb;
    p->pblk_off = off;
    return 0;
}

/* Index k (within the term) of the current document's first position and
 * its tf; -1 when the iterator is at the end or the counts are corrupt. */
__attribute__((always_inline)) static inline int pos_start(idx_postings *p, uint64_t *k,
                                                       uint32_t *tf)
{
    if (p->doc == IDX_END) return -1;
    ensure_tfs(p);
    blk_pos(p);
    if (p->psum_i > p->i) { p->psum_i = 0; p->psum = 0; }
    while (p->psum_i < p->i) p->psum += p->tf_buf[p->psum_i++];
    *tf = p->tf_buf[p->i];
    *k = p->blk_pos_k + p->psum;
    /* padding (less than a block after each block) makes the indexes of a
     * list with short blocks run past cf */
    if (*k + *tf > p->t.cf + (uint64_t)p->t.cut_blocks * IDX_BLOCK || *tf > p->t.cf) return -1;
    return 0;
}

const uint32_t *idx_postings_positions(idx_postings *p, uint32_t *n)
{
    uint64_t k;
    uint32_t tf;
    if (pos_start(p, &k, &tf) != 0) return NULL;
    /* A document has no more positions than its segment.  A damaged list
     * can say so anyway (a tf of 2.4 G, past 2^31, where doubling a 32-bit
     * capacity wrapped to 0 and never ended: quire_verify hung). */
    if (tf > p->s->npositions ||
        grow_array((void **)&p->out, &p->out_cap, tf, sizeof *p->out, 16))
        return NULL;
    uint32_t acc = 0;
    for (uint32_t j = 0; j < tf;) {
        uint64_t pb = (k + j) / IDX_BLOCK;
        if (pb != p->pblk && load_pos_block(p, pb) != 0) return NULL;
        uint32_t at = (uint32_t)((k + j) % IDX_BLOCK);
        uint32_t take = IDX_BLOCK - at;
        if (take > tf - j) take = tf - j;
        for (uint32_t q = 0; q < take; q++) {
            acc += p->pbuf[at + q];
            p->out[j + q] = acc;
        }
        j += take;
    }
    *n = tf;
    return p->out;
}

int idx_poscur_open(idx_postings *p, idx_poscur *c)
{
    uint64_t k;
    uint32_t tf;
    if (pos_start(p, &k, &tf) != 0) return -1;
    uint64_t pb = k / IDX_BLOCK;
    if (pb != p->pblk && load_pos_block(p, pb) != 0) return -1;
    c->p = p;
    c->left = tf;
    c->at = (uint32_t)(k % IDX_BLOCK);
    c->pos = 0;
    return 0;
}

int idx_poscur_refill_(idx_poscur *c)
{
    if (load_pos_block(c->p, c->p->pblk + 1) != 0) return -1;
    c->at = 0;
    return 0;
}

uint32_t idx_postings_shallow_impacts(idx_postings *p, uint32_t target, idx_impacts *imp)
{
    if (!p->skip) {
        if (p->t.df == 0 || p->nblocks == 0) return IDX_END;
        if (!p->single_bounds) {
            /* one block: it is block 0, decoded at open unless exhausted */
            idx_postings tmp;
            const idx_postings *src = p;
            if (p->block != 0 || p->doc == IDX_END) {
                memcpy(&tmp, p, sizeof tmp);
                tmp.out = NULL;
                if (load_block(&tmp, 0) != 0) return IDX_END;
                src = &tmp;
            }
            idx_postings *w = (idx_postings *)src;
            ensure_tfs(w);
            const idx_segment *s = p->s;
            double len_scale = s->total_len && s->ndocs
                                   ? SEG_IMPACT_B * (double)s->ndocs / (double)s->total_len
                                   : 0;
            uint8_t b[4];
            seg_impacts_choose(w->docs_buf, w->tf_buf, w->n, s->norms, s->ndocs, len_scale, b);
            seg_impacts_read(b, p->single_imp.tf, p->single_imp.len);
            p->single_last = w->docs_buf[w->n - 1];
            p->single_bounds = 1;
        }
        if (target > p->single_last) return IDX_END;
        *imp = p->single_imp;
        return p->single_last;
    }
    uint32_t b = p->sblock;
    if (p->doc != IDX_END && b < p->block) b = p->block;
    b = seg_skip_find(&p->sk, b, p->nblocks, target);
    p->sblock = b;
    if (b >= p->nblocks) return IDX_END;
    const uint8_t *e = seg_skip_imp(&p->sk, b);
    if (p->s->version >= SEG_VERSION_IMPACTS) {
        seg_impacts_read(e, imp->tf, imp->len);
    } else {
        uint16_t mt, ml;
        memcpy(&mt, e, 2);
        memcpy(&ml, e + 2, 2);
        imp->tf[0] = imp->tf[1] = mt == SEG_SKIP_TF_SATURATED ? UINT32_MAX : mt;
        imp->len[0] = imp->len[1] = ml;
    }
    return seg_skip_last(&p->sk, b);
}

uint32_t idx_postings_shallow_advance(idx_postings *p, uint32_t target,
                                      uint32_t *max_tf, uint32_t *min_len)
{
    idx_impacts imp;
    uint32_t last = idx_postings_shallow_impacts(p, target, &imp);
    if (last != IDX_END) {
        *max_tf = imp.tf[1];
        *min_len = imp.len[0];
    }
    return last;
}
