/*
 * reader.c — one committed generation of an index directory: reads the
 * MANIFEST, opens every segment it names (mmap), loads the deletion
 * bitmaps, and sums the collection statistics BM25 needs.  A reader is
 * immutable after open, so any number of threads may search through it.
 */
#include <stdlib.h>
#include <string.h>

#include "index/manifest.h"
#include "index/segread.h"
#include "index/util.h"

struct idx_reader {
    uint64_t generation;
    uint32_t tok_flags;
    size_t nsegs;
    idx_segment **segs;
    uint64_t *base;       /* nsegs + 1 entries */
    uint64_t live, total_len;
};

int idx_reader_open(const char *dir, int verify, idx_reader **out,
                    quire_error *err)
{
    manifest m;
    int rc = manifest_read(dir, &m, err);
    if (rc) return rc;
    idx_reader *r = calloc(1, sizeof *r);
    if (!r) {
        manifest_free(&m);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    r->generation = m.generation;
    r->tok_flags = m.tok_flags;
    r->segs = calloc(m.nsegs ? m.nsegs : 1, sizeof *r->segs);
    r->base = calloc(m.nsegs + 1, sizeof *r->base);
    if (!r->segs || !r->base) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < m.nsegs; i++) {
        idx_segment *s;
        if ((rc = idx_segment_open(dir, m.segs[i].name, verify, &s, err))) goto fail;
        r->segs[r->nsegs++] = s;
        if (s->ndocs != m.segs[i].ndocs || s->tok_flags != m.tok_flags) {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: segment disagrees with MANIFEST",
                      m.segs[i].name);
            goto fail;
        }
        if (m.segs[i].del[0] &&
            (rc = del_read(dir, m.segs[i].del, s->ndocs, &s->deleted, &s->ndeleted, err)))
            goto fail;
        r->base[i + 1] = r->base[i] + s->ndocs;
        r->live += s->ndocs - s->ndeleted;
        r->total_len += s->total_len;
    }
    manifest_free(&m);
    *out = r;
    return QUIRE_OK;
fail:
    manifest_free(&m);
    idx_reader_close(r);
    return rc;
}

void idx_reader_close(idx_reader *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nsegs; i++) idx_segment_close(r->segs[i]);
    free(r->segs);
    free(r->base);
    free(r);
}

uint64_t idx_reader_generation(const idx_reader *r) { return r->generation; }
uint32_t idx_reader_tok_flags(const idx_reader *r) { return r->tok_flags; }
size_t idx_reader_nsegments(const idx_reader *r) { return r->nsegs; }
const idx_segment *idx_reader_segment(const idx_reader *r, size_t i) { return r->segs[i]; }
uint64_t idx_reader_base(const idx_reader *r, size_t i) { return r->base[i]; }
uint64_t idx_reader_ndocs(const idx_reader *r) { return r->base[r->nsegs]; }
uint64_t idx_reader_live_docs(const idx_reader *r) { return r->live; }
uint64_t idx_reader_total_len(const idx_reader *r) { return r->total_len; }

long idx_reader_locate(const idx_reader *r, uint64_t doc, uint32_t *local)
{
    if (doc >= r->base[r->nsegs]) return -1;
    size_t lo = 0, hi = r->nsegs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->base[mid] <= doc) lo = mid; else hi = mid;
    }
    *local = (uint32_t)(doc - r->base[lo]);
    return (long)lo;
}
