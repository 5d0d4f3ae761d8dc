/*
 * manifest.c — MANIFEST and deletion files.
 *
 * MANIFEST is a short text file, so a human can read what a directory holds:
 *     quire-manifest 1
 *     generation 3
 *     tok_flags 1
 *     next_segment 4
 *     segment seg_000001.qseg 1000 seg_000001.qseg.g3.del
 *     segment seg_000002.qseg 500 -
 *     checksum 9f0c1d2e3a4b5c6d
 * The checksum is the XXH3-64 (hex) of every byte before the "checksum"
 * line.  It is replaced only by rename(2) of a fully written and fsynced
 * MANIFEST.tmp, followed by an fsync of the directory: readers see either
 * the old generation or the new one, never a mix.
 *
 * A deletion file (seg_N.qseg.gG.del) is written once per generation that
 * changes a segment's deletions, so older generations keep theirs:
 *     "QDEL" u32 version (1), u32 ndocs, u32 ndeleted,
 *     u64 words [(ndocs + 63) / 64] (bit d set = doc d deleted),
 *     u64 XXH3-64 of everything before it.
 */
#define _GNU_SOURCE
#include "index/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index/fileio.h"
#include "index/util.h"
#include "index/xxh.h"

int manifest_push(manifest *m, const manifest_seg *s)
{
    if (grow_array((void **)&m->segs, &m->cap, m->nsegs + 1, sizeof *m->segs, 8)) return -1;
    m->segs[m->nsegs++] = *s;
    return 0;
}

void manifest_free(manifest *m)
{
    free(m->segs);
    memset(m, 0, sizeof *m);
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= NAME_MAX_LEN || s[0] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' ) return 0;
    return 1;
}

/* The number of segment file `name` (seg_N.qseg); -1 for another name. */
static long seg_number(const char *name)
{
    unsigned num;
    int end = -1;
    if (strncmp(name, "seg_", 4) || name[4] < '0' || name[4] > '9' ||
        sscanf(name, "seg_%u.qseg%n", &num, &end) != 1 || end < 0 || name[end])
        return -1;
    return (long)num;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* A MANIFEST's file names as writers give them: segments named seg_N.qseg
 * with N below next_segment, each N once, and deletion files named after
 * their segment and a generation not past the MANIFEST's.  Checked because
 * writers act on them: a writer names its new segments from next_segment
 * on (one below a live segment's number would truncate that segment, and
 * a reader that has it mapped dies of SIGBUS), removes the seg_* files
 * not named, and removes a deletion file it replaces. */
static int check_names(const manifest *m, const char *path, quire_error *err)
{
    uint32_t *nums = malloc((m->nsegs ? m->nsegs : 1) * sizeof *nums);
    if (!nums) return qerr(err, QUIRE_ENOMEM, "out of memory");
    int rc = QUIRE_OK;
    for (size_t i = 0; i < m->nsegs && !rc; i++) {
        const manifest_seg *s = &m->segs[i];
        long num = seg_number(s->name);
        if (num < 0 || (unsigned long)num >= m->next_segment) {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: segment name %s is not seg_N.qseg with N "
                      "below next_segment %u", path, s->name, m->next_segment);
            break;
        }
        nums[i] = (uint32_t)num;
        if (!s->del[0]) continue;
        size_t n = strlen(s->name);
        unsigned long long g;
        int end = -1;
        if (strncmp(s->del, s->name, n) || sscanf(s->del + n, ".g%llu.del%n", &g, &end) != 1 ||
            end < 0 || s->del[n + (size_t)end] || g > m->generation)
            rc = qerr(err, QUIRE_ECORRUPT, "%s: deletion file %s is not %s.gG.del with G "
                      "at most generation %llu", path, s->del, s->name,
                      (unsigned long long)m->generation);
    }
    if (!rc && m->nsegs > 1) {
        qsort(nums, m->nsegs, sizeof *nums, cmp_u32);
        for (size_t i = 1; i < m->nsegs && !rc; i++)
            if (nums[i] == nums[i - 1])
                rc = qerr(err, QUIRE_ECORRUPT, "%s: segment number %u named twice", path,
                          nums[i]);
    }
    free(nums);
    return rc;
}

int manifest_read(const char *dir, manifest *m, quire_error *err)
{
    memset(m, 0, sizeof *m);
    char *path = path_join(dir, MANIFEST_NAME);
    if (!path) return qerr(err, QUIRE_ENOMEM, "out of memory");
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        int rc = e == ENOENT
            ? qerr(err, QUIRE_ENOTFOUND, "%s: no index here (MANIFEST missing)", dir)
            : qerr(err, QUIRE_EIO, "open %s: %s", path, strerror(e));
        free(path);
        return rc;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                fclose(f);
                free(buf);
                free(path);
                return qerr(err, QUIRE_ENOMEM, "out of memory");
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err) {
        int rc = qerr(err, QUIRE_EIO, "read %s", path);
        free(buf);
        free(path);
        return rc;
    }
    buf[n] = 0;
    int rc = QUIRE_OK;
    char *ck = strstr(buf, "\nchecksum ");
    unsigned long long want;
    if (!ck || sscanf(ck + 10, "%16llx", &want) != 1 ||
        XXH3_64bits(buf, (size_t)(ck - buf) + 1) != want) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: checksum mismatch or truncated", path);
        goto out;
    }
    ck[1] = 0;
    unsigned version = 0;
    char *save = NULL;
    int seen_header = 0, seen_gen = 0, seen_flags = 0, seen_next = 0;
    for (char *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        manifest_seg s;
        char del[NAME_MAX_LEN + 1];
        unsigned long long g;
        unsigned u;
        int end = -1;   /* %n: a line must be read to its end */
        if (sscanf(line, "quire-manifest %u%n", &version, &end) == 1 && !line[end] &&
            !seen_header) {
            seen_header = 1;
            if (version != MANIFEST_VERSION) {
                rc = qerr(err, QUIRE_EVERSION,
                          "%s: manifest version %u, this build reads version %u",
                          path, version, MANIFEST_VERSION);
                goto out;
            }
        } else if (sscanf(line, "generation %llu%n", &g, &end) == 1 && !line[end] &&
                   !seen_gen) {
            seen_gen = 1;
            m->generation = g;
        } else if (sscanf(line, "tok_flags %u%n", &u, &end) == 1 && !line[end] &&
                   !seen_flags) {
            seen_flags = 1;
            m->tok_flags = u;
        } else if (sscanf(line, "next_segment %u%n", &u, &end) == 1 && !line[end] &&
                   !seen_next) {
            seen_next = 1;
            m->next_segment = u;
        } else if (sscanf(line, "segment %63s %u %64s%n", s.name, &s.ndocs, del, &end) == 3 &&
                   !line[end]) {
            if (!valid_name(s.name) || (strcmp(del, "-") && !valid_name(del))) {
                rc = qerr(err, QUIRE_ECORRUPT, "%s: bad file name in '%s'", path, line);
                goto out;
            }
            snprintf(s.del, sizeof s.del, "%.63s", strcmp(del, "-") ? del : "");
            if (manifest_push(m, &s)) {
                rc = qerr(err, QUIRE_ENOMEM, "out of memory");
                goto out;
            }
        } else {
            rc = qerr(err, QUIRE_ECORRUPT, "%s: unexpected line '%s'", path, line);
            goto out;
        }
    }
    if (!seen_header) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: not a Quire manifest", path);
        goto out;
    }
    if (!seen_gen || !seen_flags || !seen_next) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: no %s line", path,
                  !seen_gen ? "generation" : !seen_flags ? "tok_flags" : "next_segment");
        goto out;
    }
    rc = check_names(m, path, err);
out:
    free(buf);
    free(path);
    if (rc) manifest_free(m);
    return rc;
}

/* by number: past seg_999999 the names are longer, not later in byte order */
static int cmp_seg(const void *a, const void *b)
{
    unsigned long x = strtoul(((const manifest_seg *)a)->name + 4, NULL, 10);
    unsigned long y = strtoul(((const manifest_seg *)b)->name + 4, NULL, 10);
    return (x > y) - (x < y);
}

int manifest_scan(const char *dir, manifest *m, quire_error *err)
{
    memset(m, 0, sizeof *m);
    DIR *d = opendir(dir);
    if (!d) return qerr(err, QUIRE_EIO, "open %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = QUIRE_OK;
    uint32_t last = 0;
    /* segment files first; then each deletion file goes to its segment */
    while (!rc && (e = readdir(d))) {
        unsigned num;
        int end = 0;
        if (sscanf(e->d_name, "seg_%u.qseg%n", &num, &end) != 1 || e->d_name[end] ||
            !valid_name(e->d_name))
            continue;
        manifest_seg s;
        memset(&s, 0, sizeof s);
        snprintf(s.name, sizeof s.name, "%.63s", e->d_name);
        if (manifest_push(m, &s)) rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        if (num > last) last = num;
    }
    if (m->nsegs) qsort(m->segs, m->nsegs, sizeof *m->segs, cmp_seg);   /* not NULL, 0 */
    rewinddir(d);
    uint64_t *gen = calloc(m->nsegs + 1, sizeof *gen);
    if (!gen && !rc) rc = qerr(err, QUIRE_ENOMEM, "out of memory");
    while (!rc && (e = readdir(d))) {
        unsigned num;
        unsigned long long g;
        int end = 0;
        if (sscanf(e->d_name, "seg_%u.qseg.g%llu.del%n", &num, &g, &end) != 2 ||
            e->d_name[end] || !valid_name(e->d_name))
            continue;
        if (g > m->generation) m->generation = g;
        for (size_t i = 0; i < m->nsegs; i++) {
            size_t n = strlen(m->segs[i].name);
            if (!strncmp(e->d_name, m->segs[i].name, n) && e->d_name[n] == '.' &&
                (!m->segs[i].del[0] || g > gen[i])) {
                gen[i] = g;
                snprintf(m->segs[i].del, sizeof m->segs[i].del, "%.63s", e->d_name);
            }
        }
    }
    closedir(d);
    free(gen);
    m->next_segment = last + 1;
    if (rc) manifest_free(m);
    return rc;
}

static int write_file_atomic(const char *dir, const char *name,
                             const void *data, size_t len, quire_error *err)
{
    char *path = path_join(dir, name);
    char *tmp = malloc(strlen(path) + 5);
    if (!path || !tmp) {
        free(path);
        free(tmp);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    sprintf(tmp, "%s.tmp", path);
    int rc = QUIRE_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = qerr(err, QUIRE_EIO, "create %s: %s", tmp, strerror(errno));
        goto out;
    }
    rc = write_all(fd, data, len, tmp, err);
    if (!rc && fsync(fd) != 0)
        rc = qerr(err, QUIRE_EIO, "fsync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = qerr(err, QUIRE_EIO, "close %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = qerr(err, QUIRE_EIO, "rename %s: %s", tmp, strerror(errno));
    if (rc) unlink(tmp);
    if (!rc) rc = fsync_dir(dir, err);
out:
    free(path);
    free(tmp);
    return rc;
}

int manifest_write(const char *dir, const manifest *m, quire_error *err)
{
    size_t cap = 256 + m->nsegs * (2 * NAME_MAX_LEN + 32);
    char *buf = malloc(cap);
    if (!buf) return qerr(err, QUIRE_ENOMEM, "out of memory");
    size_t n = (size_t)snprintf(buf, cap,
                                "quire-manifest %u\ngeneration %llu\ntok_flags %u\n"
                                "next_segment %u\n",
                                MANIFEST_VERSION, (unsigned long long)m->generation,
                                m->tok_flags, m->next_segment);
    for (size_t i = 0; i < m->nsegs; i++)
        n += (size_t)snprintf(buf + n, cap - n, "segment %s %u %s\n",
                              m->segs[i].name, m->segs[i].ndocs,
                              m->segs[i].del[0] ? m->segs[i].del : "-");
    n += (size_t)snprintf(buf + n, cap - n, "checksum %016llx\n",
                          (unsigned long long)XXH3_64bits(buf, n));
    int rc = write_file_atomic(dir, MANIFEST_NAME, buf, n, err);
    free(buf);
    return rc;
}

int del_read(const char *dir, const char *name, uint32_t ndocs,
             uint64_t **bits, uint32_t *ndeleted, quire_error *err)
{
    char *path = path_join(dir, name);
    if (!path) return qerr(err, QUIRE_ENOMEM, "out of memory");
    mapped_file mf;
    int rc = map_named_file(path, &mf, err);
    if (rc) {
        free(path);
        return rc;
    }
    size_t words = ((size_t)ndocs + 63) / 64;
    size_t want = 16 + words * 8 + 8;
    if (mf.len != want || memcmp(mf.data, "QDEL", 4) != 0 ||
        ld32(mf.data + 8) != ndocs ||
        XXH3_64bits(mf.data, want - 8) != ld64(mf.data + want - 8)) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: corrupt deletion file", path);
        goto out;
    }
    if (ld32(mf.data + 4) != 1) {
        rc = qerr(err, QUIRE_EVERSION, "%s: deletion file version %u", path,
                  ld32(mf.data + 4));
        goto out;
    }
    /* the count a reader takes for its live documents must be the bits',
     * none of them past the last doc */
    uint64_t set = 0;
    int stray = 0;
    for (size_t i = 0; i < words; i++) {
        uint64_t w = ld64(mf.data + 16 + 8 * i);
        if (i == words - 1 && ndocs % 64 && w >> (ndocs % 64)) stray = 1;
        set += (uint64_t)__builtin_popcountll(w);
    }
    if (stray || set != ld32(mf.data + 12)) {
        rc = qerr(err, QUIRE_ECORRUPT, "%s: deletion file counts %u deleted, its bits %llu%s",
                  path, ld32(mf.data + 12), (unsigned long long)set,
                  stray ? ", some past the last document" : "");
        goto out;
    }
    *bits = malloc(words ? words * 8 : 8);
    if (!*bits) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(*bits, mf.data + 16, words * 8);
    *ndeleted = ld32(mf.data + 12);
out:
    unmap_file(&mf);
    free(path);
    return rc;
}

int del_write(const char *dir, const char *name, const uint64_t *bits,
              uint32_t ndocs, quire_error *err)
{
    size_t words = ((size_t)ndocs + 63) / 64;
    size_t len = 16 + words * 8 + 8;
    uint8_t *buf = malloc(len);
    if (!buf) return qerr(err, QUIRE_ENOMEM, "out of memory");
    uint32_t nd = 0;
    for (size_t i = 0; i < words; i++) nd += (uint32_t)__builtin_popcountll(bits[i]);
    memcpy(buf, "QDEL", 4);
    st32(buf + 4, 1);
    st32(buf + 8, ndocs);
    st32(buf + 12, nd);
    memcpy(buf + 16, bits, words * 8);
    st64(buf + len - 8, XXH3_64bits(buf, len - 8));
    int rc = write_file_atomic(dir, name, buf, len, err);
    free(buf);
    return rc;
}
