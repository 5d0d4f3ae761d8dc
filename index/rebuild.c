/*
 * rebuild.c — quire_rebuild: an index indexed again from its own stored
 * documents, each segment file read as far as it can be.
 *
 * Reading works below idx_segment_open, which refuses a file with any
 * damaged section: a rebuild needs the store alone.  With an intact
 * section table, the store index (storeidx) gives each compressed block
 * and its documents; every block is a zstd frame with a content checksum
 * and decompresses on its own, so a damaged block loses its documents
 * alone, and the ids section (when intact) names them.  Without one (a
 * truncated file, a damaged footer or store index), the file is searched
 * for zstd frames: writers put the store first, at offset 64, and its
 * frames follow each other with nothing between, so a frame found
 * elsewhere than where the last one ended marks a loss.  Document numbers
 * are known up to the first loss, and deletion bitmaps apply while they
 * are.  Whatever is read goes to a writer opened by
 * idx_writer_open_rebuild, whose commit replaces the old generation; the
 * new one is then merged into one segment.  Pages read are dropped as the
 * reading goes on, so that the file's size never counts in the memory a
 * rebuild holds.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "index/fileio.h"
#include "index/manifest.h"
#include "index/rebuild.h"
#include "index/segment.h"
#include "index/util.h"
#include "index/xxh.h"

/* how many ids of lost documents a report names */
#define NAMED_IDS 5
/* Read pages of a file are dropped from the mapping every this many
 * bytes: resident, they counted in the rebuild's memory (a two-thread
 * rebuild of corpus/cache/big.jsonl's index peaked at 1.18 GB). */
#define DROP_EVERY ((size_t)8 << 20)

typedef struct rb {
    quire_writer *w;
    quire_report_fn report;
    void *rctx;
    quire_rebuild_stats st;
    int damage;              /* a reason to refuse without salvage */
    int seg_damaged;         /* the current file had damage */
    ZSTD_DCtx *dz;
    uint8_t *raw; size_t raw_cap;
    quire_field *fields; size_t fields_cap;
} rb;

/* One segment file as far as it could be read. */
typedef struct seg_file {
    const char *name;
    mapped_file m;
    const uint8_t *sec[SEC_COUNT];
    uint64_t len[SEC_COUNT];
    int ok[SEC_COUNT];       /* present and matching its checksum */
    int table;               /* the section table could be read */
    uint32_t ndocs;          /* documents of the file, or... */
    int ndocs_known;         /* ...unknown (a scanned MANIFEST, no meta) */
    const uint64_t *del;     /* deletion bitmap, or NULL */
    uint32_t ndeleted;
} seg_file;

__attribute__((format(printf, 2, 3))) static void say(rb *r, const char *fmt, ...)
{
    if (!r->report) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->report(r->rctx, line);
}

static void damaged(rb *r)
{
    r->damage = 1;
    if (!r->seg_damaged) r->st.damaged++;
    r->seg_damaged = 1;
}

static int is_deleted(const seg_file *f, uint32_t doc)
{
    return f->del && doc < f->ndocs && (f->del[doc / 64] >> (doc % 64) & 1);
}

/* ---- one record --------------------------------------------------------- */

static int field_is(const uint8_t *p, uint64_t n, const char *name)
{
    return n == strlen(name) && memcmp(p, name, n) == 0;
}

/* Adds the stored record p[0, len) to the writer.  QUIRE_ECORRUPT when it
 * is malformed (nothing added); other codes are failures of the rebuild. */
static int add_record(rb *r, const seg_file *f, const uint8_t *p, size_t len,
                      quire_error *err)
{
    const uint8_t *end = p + len;
    uint64_t nf;
    if (!(p = varint_get(p, end, &nf)) || nf > len)
        return QUIRE_ECORRUPT;
    quire_doc_input d;
    memset(&d, 0, sizeof d);
    int have_id = 0, have_text = 0;
    size_t nx = 0;
    for (uint64_t i = 0; i < nf; i++) {
        uint64_t nl, vl;
        const uint8_t *name, *val;
        if (!(p = varint_get(p, end, &nl)) || nl > (uint64_t)(end - p)) return QUIRE_ECORRUPT;
        name = p;
        p += nl;
        if (!(p = varint_get(p, end, &vl)) || vl > (uint64_t)(end - p)) return QUIRE_ECORRUPT;
        val = p;
        p += vl;
        /* a record's fields are id, title, body, then the extra ones */
        if (i == 0 && field_is(name, nl, "id")) {
            d.id = (const char *)val;
            d.id_len = (size_t)vl;
            have_id = 1;
        } else if (i == 1 && field_is(name, nl, "title")) {
            d.title = (const char *)val;
            d.title_len = (size_t)vl;
        } else if (i == 2 && field_is(name, nl, "body")) {
            d.body = (const char *)val;
            d.body_len = (size_t)vl;
            have_text = 1;
        } else if (i >= 3 && have_text) {
            if (grow_array((void **)&r->fields, &r->fields_cap, nx + 1, sizeof *r->fields, 8))
                return qerr(err, QUIRE_ENOMEM, "out of memory");
            r->fields[nx++] = (quire_field){(const char *)name, (size_t)nl,
                                            (const char *)val, (size_t)vl};
        } else {
            return QUIRE_ECORRUPT;
        }
    }
    if (p != end || !have_id) return QUIRE_ECORRUPT;
    if (!have_text)
        return qerr(err, QUIRE_EARG,
                    "%s: document '%.*s' was added contentless: its text is not in the "
                    "index, so the index cannot be rebuilt (nothing changed)",
                    f->name, (int)(d.id_len > 200 ? 200 : d.id_len), d.id);
    d.fields = r->fields;
    d.nfields = nx;
    int rc = quire_writer_add(r->w, &d, NULL, err);
    if (rc == QUIRE_OK) r->st.docs++;
    return rc == QUIRE_ECORRUPT ? QUIRE_EIO : rc;   /* not the record's fault */
}

/* Adds the records of one decompressed block, documents first, first + 1,
 * ... (numbered: `numbered`), skipping deleted ones.  *seen counts the
 * records read; QUIRE_ECORRUPT when a record is malformed. */
static int add_block(rb *r, const seg_file *f, const uint8_t *p, size_t len, uint32_t first,
                     int numbered, uint32_t limit, uint32_t *seen, quire_error *err)
{
    const uint8_t *end = p + len;
    *seen = 0;
    while (p < end && *seen < limit) {
        uint64_t l;
        if (!(p = varint_get(p, end, &l)) || l > (uint64_t)(end - p)) return QUIRE_ECORRUPT;
        if (!(numbered && is_deleted(f, first + *seen))) {
            int rc = add_record(r, f, p, (size_t)l, err);
            if (rc) return rc;
        }
        p += l;
        (*seen)++;
    }
    return p == end ? QUIRE_OK : QUIRE_ECORRUPT;
}

/* Decompresses the frame at src (n bytes at most) into r->raw: its
 * length, or -1 when the frame is damaged (or not a frame), -2 when out of
 * memory.  *flen is the frame's compressed length. */
static long long unframe(rb *r, const uint8_t *src, size_t n, size_t *flen)
{
    /* only this frame: given the frames after it, zstd decompresses them too */
    size_t fl = ZSTD_findFrameCompressedSize(src, n);
    if (ZSTD_isError(fl)) return -1;
    *flen = n = fl;
    unsigned long long rlen = ZSTD_getFrameContentSize(src, n);
    if (rlen == ZSTD_CONTENTSIZE_UNKNOWN || rlen == ZSTD_CONTENTSIZE_ERROR ||
        rlen > ((size_t)1 << 31))
        return -1;
    if (grow_array((void **)&r->raw, &r->raw_cap, rlen ? rlen : 1, 1, 1 << 16)) return -2;
    size_t got = ZSTD_decompressDCtx(r->dz, r->raw, r->raw_cap, src, n);
    if (ZSTD_isError(got) || got != rlen) return -1;
    return (long long)got;
}

/* ---- lost documents ----------------------------------------------------- */

/* Reports documents [first, first + count) of f as lost (the live ones). */
static void lost(rb *r, const seg_file *f, uint32_t first, uint32_t count, const char *what)
{
    uint32_t live = 0;
    char names[600] = "";
    size_t at = 0;
    const uint8_t *ids = f->ok[SEC_IDS] && f->ndocs_known ? f->sec[SEC_IDS] : NULL;
    if (ids && (f->len[SEC_IDS] < 8 || ld64(ids) != f->ndocs)) ids = NULL;
    for (uint32_t d = first; d - first < count; d++) {
        if (is_deleted(f, d)) continue;
        const uint8_t *id;
        size_t il;
        if (ids && live < NAMED_IDS && at < sizeof names - 64 &&
            seg_id_at(ids, f->len[SEC_IDS], f->ndocs, d, &id, &il) == 0)
            at += (size_t)snprintf(names + at, sizeof names - at, "%s%.*s", live ? ", " : "",
                                   (int)(il > 60 ? 60 : il), (const char *)id);
        live++;
    }
    if (!live) return;
    r->st.lost += live;
    damaged(r);
    if (at)
        say(r, "%s: %s: %u documents lost (ids %s%s)", f->name, what, live, names,
            live > NAMED_IDS ? ", ..." : "");
    else
        say(r, "%s: %s: %u documents lost", f->name, what, live);
}

/* ---- reading a file ----------------------------------------------------- */

/* Reads the section table, if it can be, and checks the small sections. */
static void read_table(seg_file *f)
{
    const uint8_t *d = f->m.data;
    size_t n = f->m.len;
    if (n < SEG_HEADER_BYTES + SEG_TRAILER_BYTES) return;
    const uint8_t *tr = d + n - SEG_TRAILER_BYTES;
    if (memcmp(tr + SEG_TRAILER_BYTES - 8, SEG_TRAILER_MAGIC, 8) != 0) return;
    uint64_t foff = ld64(tr), flen = ld64(tr + 8);
    if (foff > n - SEG_TRAILER_BYTES || flen != n - SEG_TRAILER_BYTES - foff || flen < 8 ||
        XXH3_64bits(d + foff, flen) != ld64(tr + 16))
        return;
    uint32_t nsec = ld32(d + foff);
    if ((uint64_t)nsec * 32 + 8 != flen) return;
    uint64_t hash[SEC_COUNT] = {0};
    for (uint32_t i = 0; i < nsec; i++) {
        const uint8_t *e = d + foff + 8 + 32 * (size_t)i;
        uint32_t id = ld32(e);
        uint64_t off = ld64(e + 8), len = ld64(e + 16);
        if (id == 0 || id >= SEC_COUNT || off > foff || len > foff - off) return;
        f->sec[id] = d + off;
        f->len[id] = len;
        hash[id] = ld64(e + 24);
    }
    f->table = 1;
    /* the store is checked a block at a time, as it is read; the pages
     * hashed are dropped (DROP_EVERY) */
    XXH3_state_t *st = XXH3_createState();
    for (uint32_t id = 1; id < SEC_COUNT; id++) {
        if (id == SEC_STORE || !f->sec[id]) continue;
        if (!st) {   /* no memory for the state: hashed whole */
            f->ok[id] = XXH3_64bits(f->sec[id], f->len[id]) == hash[id];
            continue;
        }
        XXH3_64bits_reset(st);
        for (uint64_t at = 0; at < f->len[id]; at += DROP_EVERY) {
            size_t n = f->len[id] - at < DROP_EVERY ? (size_t)(f->len[id] - at) : DROP_EVERY;
            XXH3_64bits_update(st, f->sec[id] + at, n);
            map_drop(f->sec[id] + at, n);
        }
        f->ok[id] = XXH3_64bits_digest(st) == hash[id];
    }
    XXH3_freeState(st);
    f->ok[SEC_STORE] = f->sec[SEC_STORE] != NULL;
}

/* The names of the sections other than the store that are missing or
 * damaged (VALUES only damaged: it is optional), for the report; "" when
 * none. */
static void bad_sections(const seg_file *f, char *buf, size_t cap)
{
    static const char *const names[SEC_COUNT] = {
        "", "meta", "dict", "dictidx", "docs", "skip", "pos", "norms", "store", "storeidx",
        "ids", "values"};
    size_t at = 0;
    buf[0] = 0;
    for (uint32_t id = 1; id < SEC_COUNT; id++)
        if (id != SEC_STORE && !f->ok[id] && at < cap && (id != SEC_VALUES || f->sec[id]))
            at += (size_t)snprintf(buf + at, cap - at, "%s%s", at ? ", " : "", names[id]);
}

/* Whether the store index covers documents 0..ndocs-1 in order, inside
 * the store. */
static int storeidx_sane(const seg_file *f)
{
    if (!f->ok[SEC_STOREIDX] || !f->ok[SEC_STORE] || f->len[SEC_STOREIDX] % 24) return 0;
    const uint8_t *ix = f->sec[SEC_STOREIDX];
    size_t nb = f->len[SEC_STOREIDX] / 24;
    uint64_t next = 0;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *e = ix + 24 * b;
        uint64_t off = ld64(e + 8), clen = ld32(e + 16);
        if (ld32(e) != next || ld32(e + 4) == 0 || off > f->len[SEC_STORE] ||
            clen > f->len[SEC_STORE] - off)
            return 0;
        next += ld32(e + 4);
    }
    return f->ndocs_known ? next == f->ndocs : next <= UINT32_MAX;
}

/* Reads the documents through the store index. */
static int read_indexed(rb *r, seg_file *f, quire_error *err)
{
    const uint8_t *ix = f->sec[SEC_STOREIDX];
    size_t nb = f->len[SEC_STOREIDX] / 24;
    if (!f->ndocs_known) {
        f->ndocs = nb ? ld32(ix + 24 * (nb - 1)) + ld32(ix + 24 * (nb - 1) + 4) : 0;
        f->ndocs_known = 1;
    }
    const uint8_t *store = f->sec[SEC_STORE];
    size_t dropped = 0;
    for (size_t b = 0; b < nb; b++) {
        const uint8_t *e = ix + 24 * b;
        uint32_t first = ld32(e), count = ld32(e + 4), clen = ld32(e + 16);
        uint64_t off = ld64(e + 8);
        if (off > dropped + DROP_EVERY) {
            map_drop(store + dropped, (size_t)off - dropped);
            dropped = (size_t)off;
        }
        size_t flen;
        long long got = unframe(r, f->sec[SEC_STORE] + off, clen, &flen);
        if (got >= 0 && flen != clen) got = -1;
        if (got == -2) return qerr(err, QUIRE_ENOMEM, "out of memory");
        uint32_t seen = 0;
        int rc = got < 0 ? QUIRE_ECORRUPT
                         : add_block(r, f, r->raw, (size_t)got, first, 1, count, &seen, err);
        if (rc == QUIRE_OK && seen == count) continue;
        if (rc != QUIRE_ECORRUPT && rc != QUIRE_OK) return rc;
        char what[96];
        snprintf(what, sizeof what, "stored block %zu (documents %u to %u) is damaged", b,
                 first + seen, first + count - 1);
        lost(r, f, first + seen, count - seen, what);
    }
    return QUIRE_OK;
}

/* Reads the documents of a file whose store index cannot be used, frame
 * by frame. */
static int read_scanned(rb *r, seg_file *f, quire_error *err)
{
    static const uint8_t magic[4] = {0x28, 0xb5, 0x2f, 0xfd};   /* ZSTD_MAGICNUMBER */
    const uint8_t *base = f->m.data, *end = base + f->m.len;
    const uint8_t *p = base + SEG_HEADER_BYTES, *expect = p;
    const uint8_t *dropped = base;
    uint32_t doc = 0;         /* records read */
    int numbered = 1;         /* doc is the number of the next record */
    const uint8_t *q;
    while (p < end && (q = memmem(p, (size_t)(end - p), magic, sizeof magic))) {
        if ((size_t)(q - dropped) > DROP_EVERY) {
            map_drop(dropped, (size_t)(q - dropped));
            dropped = q;
        }
        size_t flen;
        long long got = unframe(r, q, (size_t)(end - q), &flen);
        if (got == -2) return qerr(err, QUIRE_ENOMEM, "out of memory");
        if (got < 0) {
            p = q + 1;
            continue;
        }
        if (q != expect && numbered) {
            numbered = 0;
            damaged(r);
            say(r, "%s: stored documents missing before offset %zu: those after the "
                   "first %u are read without their numbers%s",
                f->name, (size_t)(q - base), doc,
                f->ndeleted ? ", so this segment's deletions no longer apply to them" : "");
        }
        uint32_t seen;
        int rc = add_block(r, f, r->raw, (size_t)got, doc, numbered, UINT32_MAX, &seen, err);
        if (rc == QUIRE_ECORRUPT) {
            /* a frame with a valid checksum that holds no records: not
             * one of the store's */
            p = q + 1;
            continue;
        }
        if (rc) return rc;
        doc += seen;
        p = expect = q + flen;
    }
    if (f->ndocs_known && doc < f->ndocs) {
        char what[96];
        snprintf(what, sizeof what, "%u of its %u stored documents were found", doc, f->ndocs);
        if (numbered) {
            lost(r, f, doc, f->ndocs - doc, what);
        } else {
            /* which ones is not known: count them all as lost */
            r->st.lost += f->ndocs - doc;
            damaged(r);
            say(r, "%s: %s", f->name, what);
        }
    } else if (!f->ndocs_known && !numbered) {
        say(r, "%s: how many documents were lost is not known", f->name);
    }
    return QUIRE_OK;
}

/* Reads one segment file of the replaced generation. */
static int read_segment(rb *r, const char *dir, const manifest_seg *ms, int scanned,
                        quire_error *err)
{
    seg_file f;
    memset(&f, 0, sizeof f);
    f.name = ms->name;
    f.ndocs = ms->ndocs;
    f.ndocs_known = !scanned;
    r->seg_damaged = 0;
    r->st.segments++;
    char *path = path_join(dir, ms->name);
    if (!path) return qerr(err, QUIRE_ENOMEM, "out of memory");
    quire_error e;
    int rc = map_file(path, &f.m, &e);
    free(path);
    if (rc == QUIRE_ENOMEM) return qerr(err, rc, "%s", e.message);
    if (rc) {
        damaged(r);
        r->st.lost += f.ndocs;
        say(r, "%s: cannot be read (%s): its %u documents are lost", ms->name, e.message,
            f.ndocs);
        return QUIRE_OK;
    }
    const uint8_t *d = f.m.data;
    if (f.m.len >= SEG_HEADER_BYTES && memcmp(d, SEG_MAGIC, 8) == 0 &&
        (ld32(d + 8) < SEG_VERSION_MIN || ld32(d + 8) > SEG_VERSION)) {
        rc = qerr(err, QUIRE_EVERSION,
                  "%s: segment format version %u, this build reads versions %u to %u",
                  ms->name, ld32(d + 8), SEG_VERSION_MIN, SEG_VERSION);
        goto out;
    }
    read_table(&f);
    if (f.ok[SEC_META] && f.len[SEC_META] >= 8) {
        uint32_t n = ld32(f.sec[SEC_META]);
        if (f.ndocs_known && n != f.ndocs) {
            damaged(r);
            say(r, "%s: holds %u documents where the MANIFEST says %u", ms->name, n, f.ndocs);
        }
        f.ndocs = n;
        f.ndocs_known = 1;
    }
    uint64_t *bits = NULL;
    if (ms->del[0]) {
        uint32_t n = f.ndocs;
        if (!f.ndocs_known) {
            /* the deletion file says how many documents it covers */
            char *dp = path_join(dir, ms->del);
            mapped_file dm;
            if (dp && map_file(dp, &dm, &e) == QUIRE_OK) {
                if (dm.len >= 16) n = ld32(dm.data + 8);
                unmap_file(&dm);
            }
            free(dp);
        }
        rc = del_read(dir, ms->del, n, &bits, &f.ndeleted, &e);
        if (rc == QUIRE_ENOMEM) {
            rc = qerr(err, rc, "%s", e.message);
            goto out;
        }
        if (rc) {
            damaged(r);
            say(r, "%s: deletion file unreadable (%s): the documents deleted from this "
                   "segment come back", ms->name, e.message);
            bits = NULL;
        } else if (!f.ndocs_known) {
            f.ndocs = n;
            f.ndocs_known = 1;
        }
        rc = QUIRE_OK;
    }
    f.del = bits;
    if (storeidx_sane(&f)) {
        char bad[128];
        bad_sections(&f, bad, sizeof bad);
        if (bad[0])
            say(r, "%s: damaged sections %s, rebuilt from the stored documents", ms->name,
                bad);
        rc = read_indexed(r, &f, err);
    } else {
        say(r, "%s: %s: reading its stored documents frame by frame", ms->name,
            !f.table ? "section table unreadable (truncated or damaged file)"
                     : "store index damaged");
        rc = read_scanned(r, &f, err);
    }
    free(bits);
out:
    unmap_file(&f.m);
    return rc;
}

/* Segment files record their tokenizer flags in their meta section: for a
 * directory whose MANIFEST, which holds them too, was unreadable. */
static int flags_of_files(const char *dir, const manifest *old, uint32_t *flags)
{
    for (size_t i = 0; i < old->nsegs; i++) {
        char *path = path_join(dir, old->segs[i].name);
        seg_file f;
        memset(&f, 0, sizeof f);
        quire_error e;
        int ok = path && map_file(path, &f.m, &e) == QUIRE_OK;
        free(path);
        if (!ok) continue;
        read_table(&f);
        ok = f.ok[SEC_META] && f.len[SEC_META] >= 8;
        if (ok) *flags = ld32(f.sec[SEC_META] + 4);
        unmap_file(&f.m);
        if (ok) return 1;
    }
    return 0;
}

int quire_rebuild(const char *dir, const quire_rebuild_options *opt, quire_report_fn report,
                  void *ctx, quire_rebuild_stats *out, quire_error *err)
{
    if (out) memset(out, 0, sizeof *out);
    if (!dir) return qerr(err, QUIRE_EARG, "dir is required");
    quire_rebuild_options o;
    memset(&o, 0, sizeof o);
    if (opt) o = *opt;
    if (o.writer.contentless)
        return qerr(err, QUIRE_EARG, "a rebuild indexes the stored text: contentless must be 0");
    struct stat sb;
    /* a writer would create the directory, or a LOCK file in it: there
     * must be a MANIFEST, or segment files whose MANIFEST was lost */
    char *mf = path_join(dir, MANIFEST_NAME);
    if (!mf) return qerr(err, QUIRE_ENOMEM, "out of memory");
    int there = stat(mf, &sb) == 0;
    free(mf);
    if (!there) {
        manifest m;
        there = manifest_scan(dir, &m, err) == QUIRE_OK && m.nsegs > 0;
        manifest_free(&m);
    }
    if (!there)
        return qerr(err, QUIRE_ENOTFOUND, "%s: no index here (no MANIFEST, no segment)", dir);
    rb r;
    memset(&r, 0, sizeof r);
    r.report = report;
    r.rctx = ctx;
    manifest old;
    int scanned;
    int rc = idx_writer_open_rebuild(dir, &o.writer, &old, &scanned, &r.w, err);
    if (rc) return rc;
    uint32_t flags = old.tok_flags;
    if (scanned) {
        r.damage = 1;
        say(&r, "MANIFEST: %s; reading the %zu segment files in %s (which of them were "
                "committed is not known)",
            scanned == 2 ? "names segment files not there" : "unreadable or missing",
            old.nsegs, dir);
        if (!o.set_tok_flags && !flags_of_files(dir, &old, &flags)) {
            rc = qerr(err, QUIRE_ECORRUPT,
                      "%s: neither the MANIFEST nor any segment says how the index was "
                      "tokenized: give the tokenizer options", dir);
            goto out;
        }
    }
    if (o.set_tok_flags) flags = o.writer.tok_flags;
    if ((rc = idx_writer_set_tok_flags(r.w, flags, err))) goto out;
    r.st.tok_flags = flags;
    if (!(r.dz = ZSTD_createDCtx())) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < old.nsegs && !rc; i++)
        rc = read_segment(&r, dir, &old.segs[i], scanned, err);
    if (rc) goto out;
    if (r.damage && !o.salvage) {
        rc = qerr(err, QUIRE_ECORRUPT,
                  "%s is damaged (%llu live documents cannot be read back, %u of %u segment "
                  "files damaged%s); nothing was changed: salvage publishes what could be read",
                  dir, (unsigned long long)r.st.lost, r.st.damaged, r.st.segments,
                  scanned ? ", MANIFEST unreadable" : "");
        goto out;
    }
    /* published, then merged into one segment as quire_writer_optimize
     * leaves an index: a rebuild at the memory budget wrote several */
    rc = quire_writer_optimize(r.w, err);
out:
    if (out) *out = r.st;
    /* uncommitted: the writer removes what it wrote, and the old
     * generation stays */
    quire_writer_free(r.w);
    manifest_free(&old);
    ZSTD_freeDCtx(r.dz);
    free(r.raw);
    free(r.fields);
    return rc;
}
