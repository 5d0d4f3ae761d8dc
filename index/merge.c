/*
 * merge.c — merges segments into one, dropping deleted documents: the
 * k-way merge of their term dictionaries re-encodes every posting list with
 * new doc numbers (segments in order, live documents in order), and norms,
 * stored documents and ids are carried over.  Used by
 * quire_writer_optimize (Lucene's forceMerge(1)); the result is a normal
 * segment written through seg_writer and store_writer.
 */
#define _GNU_SOURCE
#include "index/merge.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "index/dict.h"
#include "index/segread.h"
#include "index/segwrite.h"
#include "index/store.h"
#include "index/util.h"

#define NONE UINT32_MAX
#define RELEASE_STEP ((uint64_t)16 << 20)

/* The merge reads each input section front to back once.  Mapped pages
 * already read count in the process's resident set until unmapped, which
 * on a 1 GiB corpus doubled the peak; dropping them (they stay in the page
 * cache) keeps the merge within the build's memory budget. */
static void release(const idx_segment *s, int sec, uint64_t upto, uint64_t *done)
{
    if (upto > s->sec_len[sec]) upto = s->sec_len[sec];
    if (upto < *done + RELEASE_STEP) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)(s->sec[sec] + *done) + page - 1) & ~(page - 1);
    uintptr_t to = (uintptr_t)(s->sec[sec] + upto) & ~(page - 1);
    if (to > from) madvise((void *)from, to - from, MADV_DONTNEED);
    *done = upto;
}

static int is_dead(const uint64_t *del, uint32_t d)
{
    return del && ((del[d >> 6] >> (d & 63)) & 1);
}

/* Copies the live records of segment s to the store, block by block (one
 * decompression per block), and collects their ids. */
static int copy_store(const idx_segment *s, const uint64_t *del, store_writer *sw,
                      char **ids, size_t *ids_len, size_t *ids_cap, uint64_t *id_off,
                      uint32_t *n, quire_error *err)
{
    const uint8_t *ix = s->sec[SEC_STOREIDX];
    size_t nb = s->sec_len[SEC_STOREIDX] / 24;
    uint8_t *raw = NULL;
    size_t raw_cap = 0;
    int rc = QUIRE_OK;
    uint32_t doc = 0;
    for (size_t b = 0; b < nb && !rc; b++) {
        const uint8_t *e = ix + 24 * b;
        uint32_t first = ld32(e), count = ld32(e + 4);
        uint64_t off = ld64(e + 8);
        uint32_t clen = ld32(e + 16), rlen = ld32(e + 20);
        if (first != doc || off > s->sec_len[SEC_STORE] || clen > s->sec_len[SEC_STORE] - off)
            return qerr(err, QUIRE_ECORRUPT, "%s: store index broken", s->name);
        if (rlen > raw_cap) {
            uint8_t *r = realloc(raw, rlen);
            if (!r) {
                free(raw);
                return qerr(err, QUIRE_ENOMEM, "out of memory");
            }
            raw = r;
            raw_cap = rlen;
        }
        size_t got = ZSTD_decompress(raw, rlen, s->sec[SEC_STORE] + off, clen);
        if (ZSTD_isError(got) || got != rlen) {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: store block %zu is corrupt", s->name, b);
            break;
        }
        const uint8_t *p = raw, *end = raw + rlen;
        for (uint32_t k = 0; k < count; k++, doc++) {
            uint64_t len, nf, nl, vl;
            const uint8_t *q;
            if (!(p = varint_get(p, end, &len)) || len > (uint64_t)(end - p)) {
                rc = qerr(err, QUIRE_ECORRUPT, "%s: bad record in store", s->name);
                break;
            }
            const uint8_t *rec = p;
            p += len;
            if (is_dead(del, doc)) continue;
            /* the id is the first field of every record */
            if (!(q = varint_get(rec, p, &nf)) || !(q = varint_get(q, p, &nl)) ||
                nl > (uint64_t)(p - q) || !(q = varint_get(q + nl, p, &vl)) ||
                vl > (uint64_t)(p - q)) {
                rc = qerr(err, QUIRE_ECORRUPT, "%s: bad record in store", s->name);
                break;
            }
            if (*ids_len + vl > *ids_cap) {
                size_t cap = *ids_cap ? *ids_cap : 1 << 16;
                while (cap < *ids_len + vl) cap *= 2;
                char *ni = realloc(*ids, cap);
                if (!ni) {
                    rc = qerr(err, QUIRE_ENOMEM, "out of memory");
                    break;
                }
                *ids = ni;
                *ids_cap = cap;
            }
            memcpy(*ids + *ids_len, q, vl);
            *ids_len += vl;
            id_off[++*n] = *ids_len;
            storew_varint(sw, len);
            storew_put(sw, rec, len);
            if ((rc = storew_end_doc(sw, err))) break;
        }
    }
    free(raw);
    uint64_t done = 0;
    release(s, SEC_STORE, s->sec_len[SEC_STORE] + RELEASE_STEP, &done);
    if (!rc && doc != s->ndocs)
        rc = qerr(err, QUIRE_ECORRUPT, "%s: store holds %u of %u documents", s->name, doc, s->ndocs);
    return rc;
}

static int cmp_terms(const dict_iter *a, const dict_iter *b)
{
    size_t m = a->term_len < b->term_len ? a->term_len : b->term_len;
    int c = m ? memcmp(a->term, b->term, m) : 0;
    if (c) return c;
    return (a->term_len > b->term_len) - (a->term_len < b->term_len);
}

int idx_merge(const char *dir, idx_segment *const *segs, uint64_t *const *dels, size_t n,
              const char *name, uint32_t tok_flags, uint32_t *ndocs_out, quire_error *err)
{
    int rc = QUIRE_OK;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += segs[i]->ndocs;
    if (total >= NONE) return qerr(err, QUIRE_EARG, "too many documents for one segment");
    uint32_t **map = calloc(n + 1, sizeof *map);
    dict_iter *its = calloc(n + 1, sizeof *its);
    int *live_it = calloc(n + 1, sizeof *live_it);
    uint32_t *norms = malloc((total + 1) * sizeof *norms);
    uint64_t *id_off = calloc(total + 2, sizeof *id_off);
    size_t *pick = calloc(n + 1, sizeof *pick);
    uint64_t *rel = calloc(2 * n + 2, sizeof *rel);  /* docs, pos released up to */
    char *ids = NULL, *path = path_join(dir, name), *prefix = NULL;
    size_t ids_len = 0, ids_cap = 0;
    uint32_t *ids_sorted = NULL;
    store_writer sw;
    seg_writer w;
    int sw_open = 0, w_open = 0;
    memset(&sw, 0, sizeof sw);
    if (!map || !its || !live_it || !norms || !id_off || !pick || !rel || !path) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }
    prefix = malloc(strlen(path) + 8);
    if (!prefix) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }
    sprintf(prefix, "%s.tmp", path);

    /* new doc numbers: segments in order, live documents in order */
    uint32_t nd = 0;
    uint64_t total_len = 0;
    for (size_t i = 0; i < n; i++) {
        map[i] = malloc(((size_t)segs[i]->ndocs + 1) * sizeof **map);
        if (!map[i]) {
            rc = qerr(err, QUIRE_ENOMEM, "out of memory");
            goto out;
        }
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

    char sp[4096];
    snprintf(sp, sizeof sp, "%s.store", prefix);
    if ((rc = storew_open(&sw, sp, err))) goto out;
    sw_open = 1;
    uint32_t nids = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = copy_store(segs[i], dels[i], &sw, &ids, &ids_len, &ids_cap, id_off, &nids, err);
    if (!rc) rc = storew_finish(&sw, err);
    if (rc) goto out;

    if ((rc = segw_open(&w, path, prefix, err))) goto out;
    w_open = 1;
    segw_set_norms(&w, norms, nd);
    for (size_t i = 0; i < n; i++) {
        dict_iter_init(&its[i], &segs[i]->dict);
        int r = dict_iter_next(&its[i]);
        if (r < 0) {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: dictionary does not decode", segs[i]->name);
            goto out;
        }
        live_it[i] = r == 1;
    }
    uint64_t nterms = 0, npostings = 0, npositions = 0;
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
        /* with deletions the counts are known only by reading the lists */
        uint64_t df = 0, cf = 0;
        for (size_t k = 0; k < np && !rc; k++) {
            size_t i = pick[k];
            if (!dels[i]) {
                df += its[i].e.df;
                cf += its[i].e.cf;
                continue;
            }
            idx_postings *p;
            if (idx_postings_open(segs[i], &its[i].e, &p)) {
                rc = qerr(err, QUIRE_ENOMEM, "out of memory");
                break;
            }
            for (uint32_t d = idx_postings_doc(p); d != IDX_END; d = idx_postings_next(p))
                if (map[i][d] != NONE) {
                    df++;
                    cf += idx_postings_freq(p);
                }
            idx_postings_close(p);
        }
        if (rc) goto out;
        const dict_iter *t = &its[pick[0]];
        if (df > 0) {
            if (df > UINT32_MAX) {
                rc = qerr(err, QUIRE_EARG, "term in too many documents");
                goto out;
            }
            if ((rc = segw_term_begin(&w, t->term, t->term_len, (uint32_t)df, cf, err)))
                goto out;
            for (size_t k = 0; k < np && !rc; k++) {
                size_t i = pick[k];
                idx_postings *p;
                if (idx_postings_open(segs[i], &its[i].e, &p)) {
                    rc = qerr(err, QUIRE_ENOMEM, "out of memory");
                    break;
                }
                for (uint32_t d = idx_postings_doc(p); d != IDX_END; d = idx_postings_next(p)) {
                    if (map[i][d] == NONE) continue;
                    uint32_t tf = idx_postings_freq(p), np2;
                    const uint32_t *pos = idx_postings_positions(p, &np2);
                    uint32_t *out = pos && np2 == tf ? segw_posting(&w, map[i][d], tf) : NULL;
                    if (!out) {
                        rc = pos ? qerr(err, QUIRE_ENOMEM, "out of memory")
                                 : qerr(err, QUIRE_ECORRUPT, "%s: positions do not decode",
                                        segs[i]->name);
                        break;
                    }
                    memcpy(out, pos, (size_t)tf * sizeof *out);
                }
                idx_postings_close(p);
            }
            if (!rc) rc = segw_term_end(&w, err);
            if (rc) goto out;
            nterms++;
            npostings += df;
            npositions += cf;
        }
        for (size_t k = 0; k < np; k++) {
            size_t i = pick[k];
            release(segs[i], SEC_DOCS, its[i].e.docs_off, &rel[2 * i]);
            release(segs[i], SEC_POS, its[i].e.pos_off, &rel[2 * i + 1]);
            int r = dict_iter_next(&its[i]);
            if (r < 0) {
                rc = qerr(err, QUIRE_ECORRUPT, "%s: dictionary does not decode", segs[i]->name);
                goto out;
            }
            live_it[i] = r == 1;
        }
    }
    ids_sorted = sort_ids(id_off, ids ? ids : "", nd);
    if (!ids_sorted) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }
    seg_meta meta = {
        .ndocs = nd, .tok_flags = tok_flags, .nterms = nterms, .total_len = total_len,
        .npostings = npostings, .npositions = npositions, .block_size = IDX_BLOCK,
        .dict_block = SEG_DICT_BLOCK,
    };
    rc = segw_finish(&w, &meta, &sw.out, sw.idx, sw.idx_len, ids_sorted, id_off,
                     ids ? ids : "", err);
    if (!rc) *ndocs_out = nd;
out:
    if (w_open) {
        if (rc) segw_abort(&w);
        else segw_close(&w);
    }
    if (sw_open) storew_close(&sw);
    for (size_t i = 0; map && i < n; i++) free(map[i]);
    free(map);
    free(its);
    free(live_it);
    free(norms);
    free(id_off);
    free(pick);
    free(rel);
    free(ids);
    free(ids_sorted);
    free(prefix);
    free(path);
    return rc;
}
