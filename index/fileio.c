/*
 * fileio.c — the only place the index layer talks to the file system for
 * bulk data.  Every failure carries the path and errno text, so a full disk
 * surfaces as "write seg_000003.qseg: No space left on device" instead of a
 * silently short file.
 */
#define _GNU_SOURCE
#include "index/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "index/util.h"
#include "index/xxh.h"

char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int sec_open(sec_out *s, const char *path, quire_error *err)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->path = strdup(path);
    s->buf = malloc(SEC_BUF);
    if (!s->path || !s->buf) {
        sec_discard(s);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    s->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (s->fd < 0) {
        int e = errno;
        sec_discard(s);
        return qerr(err, QUIRE_EIO, "create %s: %s", path, strerror(e));
    }
    return QUIRE_OK;
}

static void sec_drain(sec_out *s)
{
    const uint8_t *p = s->buf;
    size_t n = s->buf_len;
    s->buf_len = 0;
    if (s->hash && n > 0 && !s->failed) XXH3_64bits_update(s->hash, p, n);
    while (n > 0 && !s->failed) {
        ssize_t w = s->borrowed ? pwrite(s->fd, p, n, (off_t)s->at) : write(s->fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            s->failed = 1;
            s->saved_errno = errno;
            return;
        }
        p += w;
        n -= (size_t)w;
        s->at += (uint64_t)w;
    }
    if (s->borrowed) file_writeback_step(s->fd, &s->wb_from, s->at);
}

void sec_spill(sec_out *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    s->len += n;
    while (n > 0) {
        if (s->buf_len == SEC_BUF) sec_drain(s);
        size_t take = SEC_BUF - s->buf_len < n ? SEC_BUF - s->buf_len : n;
        memcpy(s->buf + s->buf_len, b, take);
        s->buf_len += take;
        b += take;
        n -= take;
    }
}

int sec_finish(sec_out *s, quire_error *err)
{
    sec_drain(s);
    if (s->failed)
        return qerr(err, QUIRE_EIO, "write %s: %s", s->path, strerror(s->saved_errno));
    return QUIRE_OK;
}

int sec_redirect(sec_out *s, int fd, uint64_t at, const char *path, void *hash,
                 quire_error *err)
{
    if (s->len != 0 || s->borrowed)
        return qerr(err, QUIRE_EARG, "internal: section redirected after writes");
    char *p = strdup(path);
    if (!p) return qerr(err, QUIRE_ENOMEM, "out of memory");
    close(s->fd);
    unlink(s->path);
    free(s->path);
    s->path = p;
    s->fd = fd;
    s->at = at;
    s->wb_from = at;
    s->borrowed = 1;
    s->hash = hash;
    return QUIRE_OK;
}

void sec_discard(sec_out *s)
{
    if (s->borrowed) {
        /* the segment file is its writer's to close or remove */
        free(s->path);
        s->path = NULL;
        s->fd = -1;
    }
    if (s->fd >= 0) close(s->fd);
    if (s->path) unlink(s->path);
    free(s->path);
    free(s->buf);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

int write_all(int fd, const void *p, size_t n, const char *path,
              quire_error *err)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return qerr(err, QUIRE_EIO, "write %s: %s", path, strerror(errno));
        }
        b += w;
        n -= (size_t)w;
    }
    return QUIRE_OK;
}

#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080   /* linux/fs.h of 6.14; glibc 2.36 lacks it */
#endif

/* The one positional write loop: plain pwrite, or with uncached set,
 * pwritev2 with RWF_DONTCACHE until the kernel refuses the flag. */
static int pwrite_loop(int fd, const uint8_t *b, size_t n, uint64_t at, int *uncached,
                       const char *path, quire_error *err)
{
    while (n > 0) {
        ssize_t w;
        if (uncached && *uncached) {
            struct iovec v = {.iov_base = (void *)b, .iov_len = n};
            w = pwritev2(fd, &v, 1, (off_t)at, RWF_DONTCACHE);
            /* an older kernel (EINVAL: unknown flag) or a file system
             * without it (EOPNOTSUPP: tmpfs): the page cache it is */
            if (w < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
                *uncached = 0;
                continue;
            }
        } else {
            w = pwrite(fd, b, n, (off_t)at);
        }
        if (w < 0) {
            if (errno == EINTR) continue;
            return qerr(err, QUIRE_EIO, "write %s: %s", path, strerror(errno));
        }
        b += w;
        n -= (size_t)w;
        at += (uint64_t)w;
    }
    return QUIRE_OK;
}

int pwrite_all(int fd, const void *p, size_t n, uint64_t at, const char *path,
               quire_error *err)
{
    return pwrite_loop(fd, p, n, at, NULL, path, err);
}

int pwrite_uncached(int fd, const void *p, size_t n, uint64_t at, int *uncached,
                    const char *path, quire_error *err)
{
    return pwrite_loop(fd, p, n, at, uncached, path, err);
}

int pread_all(int fd, void *p, size_t n, uint64_t at, const char *path, quire_error *err)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = pread(fd, b, n, (off_t)at);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            return qerr(err, QUIRE_EIO, "read %s: %s", path, r < 0 ? strerror(errno) : "short file");
        }
        b += r;
        n -= (size_t)r;
        at += (uint64_t)r;
    }
    return QUIRE_OK;
}

/* Bytes a segment file lets pile up dirty before their writeback starts.
 * The sections written last (dictionary, postings, skip data, norms, ids:
 * 7 MB of the 24 MB index of corpus/cache/all.jsonl) come within a few
 * ms of the fsync; in steps of 8 MiB most of them waited for it, and the
 * fsync took 8-9 ms.  In steps of 1 MiB their writeback starts while the
 * rest is written: the fsync takes 2-3 ms.  Builds of corpus/cache/big.jsonl
 * take as long as before. */
#define WRITEBACK_STEP ((uint64_t)1 << 20)

void file_writeback_step(int fd, uint64_t *from, uint64_t to)
{
    if (to < *from) *from = to;   /* the writer went back */
    if (to - *from < WRITEBACK_STEP) return;
    file_writeback(fd, *from, to - *from);
    *from = to;
}

int fsync_dir(const char *dir, quire_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return qerr(err, QUIRE_EIO, "open %s: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0)
        return qerr(err, QUIRE_EIO, "fsync %s: %s", dir, strerror(e));
    return QUIRE_OK;
}

int map_file(const char *path, mapped_file *m, quire_error *err)
{
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return qerr(err, errno == ENOENT ? QUIRE_ENOTFOUND : QUIRE_EIO,
                    "open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return qerr(err, QUIRE_EIO, "stat %s: %s", path, strerror(e));
    }
    if (st.st_size == 0) {
        close(fd);
        return qerr(err, QUIRE_ECORRUPT, "%s: empty file", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return qerr(err, QUIRE_EIO, "mmap %s: %s", path, strerror(e));
    m->data = p;
    m->len = (size_t)st.st_size;
    return QUIRE_OK;
}

void map_drop(const void *p, size_t n)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t to = ((uintptr_t)p + n) & ~(page - 1);
    if (to > from) madvise((void *)from, to - from, MADV_DONTNEED);
}

void file_drop(int fd, uint64_t off, uint64_t len)
{
    posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
}

void file_writeback(int fd, uint64_t off, uint64_t len)
{
    if (len) sync_file_range(fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

int map_named_file(const char *path, mapped_file *m, quire_error *err)
{
    int rc = map_file(path, m, err);
    if (rc == QUIRE_ENOTFOUND)
        rc = qerr(err, QUIRE_ECORRUPT, "open %s: No such file or directory (the MANIFEST "
                  "names it)", path);
    return rc;
}

void unmap_file(mapped_file *m)
{
    if (m->data) munmap((void *)m->data, m->len);
    memset(m, 0, sizeof *m);
}
