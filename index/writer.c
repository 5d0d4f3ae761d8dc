/*
 * writer.c — the public writing API (quire_writer_*): one writer per index
 * directory at a time (an flock on DIR/LOCK), documents buffered by a
 * builder and flushed as a segment whenever the memory budget is reached,
 * ids deduplicated (the later document wins; the earlier one is marked in
 * its segment's deletion bitmap), and an atomic commit that publishes the
 * new segments and deletion files through a new MANIFEST.
 *
 * Crash safety: segment and deletion files are complete and fsynced before
 * the MANIFEST that names them is renamed into place, and files of the old
 * generation are removed only after.  Files no MANIFEST names (left by a
 * killed build) are removed when the next writer opens the directory.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "index/builder.h"
#include "index/fileio.h"
#include "index/manifest.h"
#include "index/segread.h"
#include "index/util.h"

#define DEFAULT_BUDGET ((size_t)256 << 20)
#define LOCK_NAME "LOCK"

/* A segment the writer knows: committed (open for id lookups), flushed in
 * this session, or the one being built (the last slot). */
typedef struct wseg {
    manifest_seg ms;
    idx_segment *seg;      /* committed segments only */
    uint64_t *del;         /* deletion bitmap (may be NULL) */
    size_t del_words;
    int dirty;             /* deletions changed in this session */
    int committed;
} wseg;

/* id -> (slot, local doc) for documents added in this session. */
typedef struct id_ent { uint64_t off; uint32_t len, slot, doc, hash; } id_ent;

struct quire_writer {
    char *dir;
    int lock_fd;
    manifest m;
    size_t budget;
    wseg *segs; size_t nsegs, segs_cap;
    idx_builder *b;            /* builds slot nsegs - 1 when not NULL */
    id_ent *ids; size_t nids, ids_mask;
    char *id_bytes; size_t id_len, id_cap;
    uint64_t docs, bytes;
    int broken;                /* a failed flush leaves the session unusable */
};

static int seg_name(char *buf, size_t cap, uint32_t no)
{
    return snprintf(buf, cap, "seg_%06u.qseg", no) >= (int)cap;
}

static int push_seg(quire_writer *w, const wseg *s)
{
    if (w->nsegs == w->segs_cap) {
        size_t cap = w->segs_cap ? w->segs_cap * 2 : 16;
        wseg *n = realloc(w->segs, cap * sizeof *n);
        if (!n) return -1;
        w->segs = n;
        w->segs_cap = cap;
    }
    w->segs[w->nsegs++] = *s;
    return 0;
}

/* Removes files a previous killed writer may have left: anything that looks
 * like ours and that the MANIFEST does not name. */
static void remove_orphans(quire_writer *w)
{
    DIR *d = opendir(w->dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        int ours = strncmp(n, "seg_", 4) == 0 || strcmp(n, "MANIFEST.tmp") == 0;
        if (!ours) continue;
        int named = 0;
        for (size_t i = 0; i < w->m.nsegs && !named; i++)
            named = strcmp(n, w->m.segs[i].name) == 0 || strcmp(n, w->m.segs[i].del) == 0;
        if (!named) {
            char *p = path_join(w->dir, n);
            if (p) unlink(p);
            free(p);
        }
    }
    closedir(d);
}

int quire_writer_open(const char *dir, const quire_writer_options *opt,
                      quire_writer **out, quire_error *err)
{
    if (!dir || !out) return qerr(err, QUIRE_EARG, "dir and out are required");
    uint32_t flags = opt ? opt->tok_flags : QUIRE_TOK_DEFAULT;
    if (flags & ~(uint32_t)TOK_KNOWN_FLAGS)
        return qerr(err, QUIRE_EARG, "unknown tokenizer flags %#x", flags);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return qerr(err, QUIRE_EIO, "mkdir %s: %s", dir, strerror(errno));
    quire_writer *w = calloc(1, sizeof *w);
    if (!w) return qerr(err, QUIRE_ENOMEM, "out of memory");
    w->lock_fd = -1;
    w->budget = opt && opt->mem_budget ? opt->mem_budget : DEFAULT_BUDGET;
    w->dir = strdup(dir);
    char *lock = path_join(dir, LOCK_NAME);
    int rc = QUIRE_OK;
    if (!w->dir || !lock) {
        free(lock);
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto fail;
    }
    w->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lock_fd < 0) {
        rc = qerr(err, QUIRE_EIO, "open %s: %s", lock, strerror(errno));
        free(lock);
        goto fail;
    }
    if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = qerr(err, QUIRE_ELOCKED, "%s: another writer has the index open", dir);
        free(lock);
        goto fail;
    }
    free(lock);
    rc = manifest_read(dir, &w->m, err);
    if (rc == QUIRE_ENOTFOUND) {
        memset(&w->m, 0, sizeof w->m);
        w->m.tok_flags = flags;
        w->m.next_segment = 1;
        rc = QUIRE_OK;
    }
    if (rc) goto fail;
    remove_orphans(w);
    for (size_t i = 0; i < w->m.nsegs; i++) {
        wseg s = {.ms = w->m.segs[i], .committed = 1};
        rc = idx_segment_open(dir, s.ms.name, 1, &s.seg, err);
        if (!rc && s.ms.del[0])
            rc = del_read(dir, s.ms.del, s.seg->ndocs, &s.del, &(uint32_t){0}, err);
        if (!rc && push_seg(w, &s)) rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        if (rc) {
            idx_segment_close(s.seg);
            free(s.del);
            goto fail;
        }
        /* a bitmap read from disk covers the whole segment; none: empty */
        w->segs[w->nsegs - 1].del_words = s.del ? ((size_t)s.seg->ndocs + 63) / 64 : 0;
    }
    *out = w;
    return QUIRE_OK;
fail:
    quire_writer_free(w);
    return rc;
}

static int start_builder(quire_writer *w, quire_error *err)
{
    wseg s;
    memset(&s, 0, sizeof s);
    if (seg_name(s.ms.name, sizeof s.ms.name, w->m.next_segment))
        return qerr(err, QUIRE_EARG, "segment number overflow");
    char tmp[NAME_MAX_LEN + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", s.ms.name);
    char *prefix = path_join(w->dir, tmp);
    if (!prefix) return qerr(err, QUIRE_ENOMEM, "out of memory");
    int rc = idx_builder_new(w->m.tok_flags, prefix, &w->b, err);
    free(prefix);
    if (rc) return rc;
    if (push_seg(w, &s)) {
        idx_builder_free(w->b);
        w->b = NULL;
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    w->m.next_segment++;
    return QUIRE_OK;
}

static int flush_builder(quire_writer *w, quire_error *err)
{
    if (!w->b) return QUIRE_OK;
    wseg *s = &w->segs[w->nsegs - 1];
    int rc;
    if (idx_builder_ndocs(w->b) == 0) {
        /* nothing to write: forget the slot (no id points at it) */
        idx_builder_free(w->b);
        w->b = NULL;
        free(s->del);
        w->nsegs--;
        return QUIRE_OK;
    }
    char *path = path_join(w->dir, s->ms.name);
    if (!path) return qerr(err, QUIRE_ENOMEM, "out of memory");
    rc = idx_builder_flush(w->b, path, err);
    free(path);
    s->ms.ndocs = idx_builder_ndocs(w->b);
    idx_builder_free(w->b);
    w->b = NULL;
    if (rc) w->broken = 1;
    return rc;
}

/* ---- id deduplication ------------------------------------------------- */

static int ids_grow(quire_writer *w)
{
    size_t size = w->ids_mask ? (w->ids_mask + 1) * 2 : 1024;
    id_ent *n = calloc(size, sizeof *n);
    if (!n) return -1;
    for (size_t i = 0; w->ids && i <= w->ids_mask; i++) {
        if (!w->ids[i].slot) continue;
        size_t h = w->ids[i].hash & (size - 1);
        while (n[h].slot) h = (h + 1) & (size - 1);
        n[h] = w->ids[i];
    }
    free(w->ids);
    w->ids = n;
    w->ids_mask = size - 1;
    return 0;
}

static int mark_deleted(quire_writer *w, size_t slot, uint32_t doc)
{
    wseg *s = &w->segs[slot];
    size_t need = (size_t)doc / 64 + 1;
    if (need > s->del_words) {
        size_t words = s->del_words ? s->del_words : 16;
        while (words < need) words *= 2;
        uint64_t *n = realloc(s->del, words * 8);
        if (!n) return -1;
        memset(n + s->del_words, 0, (words - s->del_words) * 8);
        s->del = n;
        s->del_words = words;
    }
    s->del[doc / 64] |= 1ull << (doc % 64);
    s->dirty = 1;
    return 0;
}

/* slot + 1 is stored so that slot 0 is distinguishable from an empty entry */
static int dedupe(quire_writer *w, const quire_doc_input *d, uint32_t slot,
                  uint32_t doc, int *replaced, quire_error *err)
{
    *replaced = 0;
    if (d->id_len == 0) return QUIRE_OK;
    if (d->id_len > UINT32_MAX) return qerr(err, QUIRE_EARG, "id too long");
    if ((w->nids + 1) * 2 > w->ids_mask && ids_grow(w))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    uint32_t hash = (uint32_t)XXH3_64bits(d->id, d->id_len) | 1;
    size_t h = hash & w->ids_mask;
    while (w->ids[h].slot) {
        id_ent *e = &w->ids[h];
        if (e->hash == hash && e->len == d->id_len &&
            memcmp(w->id_bytes + e->off, d->id, d->id_len) == 0) {
            if (mark_deleted(w, e->slot - 1, e->doc))
                return qerr(err, QUIRE_ENOMEM, "out of memory");
            e->slot = slot + 1;
            e->doc = doc;
            *replaced = 1;
            return QUIRE_OK;
        }
        h = (h + 1) & w->ids_mask;
    }
    /* not seen in this session: the committed segments may hold it */
    for (size_t i = w->nsegs; i-- > 0;) {
        if (!w->segs[i].committed) continue;
        long old = idx_segment_find_id(w->segs[i].seg, d->id, d->id_len);
        if (old < 0) continue;
        wseg *s = &w->segs[i];
        int dead = s->del && (size_t)old / 64 < s->del_words &&
                   ((s->del[old / 64] >> (old % 64)) & 1);
        if (dead) continue;
        if (mark_deleted(w, i, (uint32_t)old))
            return qerr(err, QUIRE_ENOMEM, "out of memory");
        *replaced = 1;
        break;
    }
    if (w->id_len + d->id_len > w->id_cap) {
        size_t cap = w->id_cap ? w->id_cap : 1 << 16;
        while (cap < w->id_len + d->id_len) cap *= 2;
        char *n = realloc(w->id_bytes, cap);
        if (!n) return qerr(err, QUIRE_ENOMEM, "out of memory");
        w->id_bytes = n;
        w->id_cap = cap;
    }
    memcpy(w->id_bytes + w->id_len, d->id, d->id_len);
    w->ids[h] = (id_ent){.off = w->id_len, .len = (uint32_t)d->id_len,
                         .slot = slot + 1, .doc = doc, .hash = hash};
    w->id_len += d->id_len;
    w->nids++;
    return QUIRE_OK;
}

int quire_writer_add(quire_writer *w, const quire_doc_input *d, int *replaced,
                     quire_error *err)
{
    if (!w || !d) return qerr(err, QUIRE_EARG, "writer and document are required");
    if (w->broken) return qerr(err, QUIRE_EARG, "writer failed earlier; reopen it");
    int rc, rep = 0;
    if (!w->b && (rc = start_builder(w, err))) return rc;
    uint32_t doc;
    if ((rc = idx_builder_add(w->b, d, &doc, err))) {
        w->broken = 1;
        return rc;
    }
    if ((rc = dedupe(w, d, (uint32_t)(w->nsegs - 1), doc, &rep, err))) {
        w->broken = 1;
        return rc;
    }
    if (replaced) *replaced = rep;
    w->docs++;
    w->bytes += d->title_len + d->body_len;
    if (idx_builder_mem(w->b) >= w->budget) return flush_builder(w, err);
    return QUIRE_OK;
}

void quire_writer_progress(const quire_writer *w, uint64_t *docs, uint64_t *bytes)
{
    if (docs) *docs = w ? w->docs : 0;
    if (bytes) *bytes = w ? w->bytes : 0;
}

int quire_writer_commit(quire_writer *w, quire_error *err)
{
    if (!w) return qerr(err, QUIRE_EARG, "writer is required");
    if (w->broken) return qerr(err, QUIRE_EARG, "writer failed earlier; reopen it");
    int rc = flush_builder(w, err);
    if (rc) return rc;
    manifest next = w->m;
    next.segs = NULL;
    next.nsegs = next.cap = 0;
    next.generation = w->m.generation + 1;
    char (*old_del)[NAME_MAX_LEN] = calloc(w->nsegs + 1, sizeof *old_del);
    if (!old_del) return qerr(err, QUIRE_ENOMEM, "out of memory");
    for (size_t i = 0; i < w->nsegs && !rc; i++) {
        wseg *s = &w->segs[i];
        manifest_seg ms = s->ms;
        if (s->dirty) {
            char name[NAME_MAX_LEN];
            snprintf(name, sizeof name, "%.20s.g%llu.del", s->ms.name,
                     (unsigned long long)next.generation);
            /* the bitmap may be shorter than the segment: pad with zeros */
            size_t words = ((size_t)ms.ndocs + 63) / 64;
            uint64_t *bits = calloc(words ? words : 1, 8);
            if (!bits) {
                rc = qerr(err, QUIRE_ENOMEM, "out of memory");
                break;
            }
            memcpy(bits, s->del, (s->del_words < words ? s->del_words : words) * 8);
            rc = del_write(w->dir, name, bits, ms.ndocs, err);
            free(bits);
            snprintf(old_del[i], NAME_MAX_LEN, "%s", s->ms.del);
            snprintf(ms.del, sizeof ms.del, "%s", name);
        }
        if (!rc && manifest_push(&next, &ms)) rc = qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    if (!rc) rc = manifest_write(w->dir, &next, err);
    if (rc) {
        manifest_free(&next);
        free(old_del);
        w->broken = 1;
        return rc;
    }
    /* published: drop replaced deletion files, adopt the new state */
    for (size_t i = 0; i < w->nsegs; i++) {
        wseg *s = &w->segs[i];
        if (old_del[i][0]) {
            char *p = path_join(w->dir, old_del[i]);
            if (p) unlink(p);
            free(p);
        }
        s->ms = next.segs[i];
        s->dirty = 0;
        if (!s->committed) {
            s->committed = 1;
            rc = idx_segment_open(w->dir, s->ms.name, 0, &s->seg, err);
            if (rc) w->broken = 1;
        }
    }
    free(old_del);
    manifest_free(&w->m);
    w->m = next;
    return rc;
}

void quire_writer_free(quire_writer *w)
{
    if (!w) return;
    if (w->b) idx_builder_free(w->b);
    for (size_t i = 0; i < w->nsegs; i++) {
        wseg *s = &w->segs[i];
        if (!s->committed && s->ms.ndocs && w->dir) {
            char *p = path_join(w->dir, s->ms.name);
            if (p) unlink(p);
            free(p);
        }
        idx_segment_close(s->seg);
        free(s->del);
    }
    free(w->segs);
    free(w->ids);
    free(w->id_bytes);
    manifest_free(&w->m);
    if (w->lock_fd >= 0) close(w->lock_fd);
    free(w->dir);
    free(w);
}
