/*
 * fileio.h — file helpers of the index layer: buffered section output with
 * a running XXH3 checksum, whole-file writes with fsync, directory fsync,
 * and read-only mmap.  All report errors through quire_error with the path
 * and errno text.
 */
#ifndef QUIRE_FILEIO_H
#define QUIRE_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "quire.h"

/* A section being written to its own temporary file, through a buffer of
 * its own: postings are appended a few bytes at a time, so the common path
 * is an inline memcpy.  The checksum is computed later, when the section is
 * copied into the segment file; or, after sec_redirect, the bytes go
 * straight to the segment file and are hashed as they are written. */
#define SEC_BUF ((size_t)1 << 20)
typedef struct sec_out {
    int fd;
    int borrowed;         /* fd is the segment file's (sec_redirect) */
    uint64_t at;          /* when borrowed: file offset of the next byte */
    uint64_t wb_from;     /* when borrowed: writeback started before it */
    void *hash;           /* XXH3_state_t to update, or NULL */
    char *path;
    uint64_t len;         /* bytes appended so far */
    uint8_t *buf;
    size_t buf_len;
    int failed;           /* sticky: a write failed (errno saved) */
    int saved_errno;
} sec_out;

int sec_open(sec_out *s, const char *path, quire_error *err);
void sec_spill(sec_out *s, const void *p, size_t n);
/* Appends bytes; errors are sticky and reported by sec_finish. */
static inline void sec_write(sec_out *s, const void *p, size_t n)
{
    if (s->buf_len + n <= SEC_BUF) {
        memcpy(s->buf + s->buf_len, p, n);
        s->buf_len += n;
        s->len += n;
        return;
    }
    sec_spill(s, p, n);
}
/* From now on, writes go to `fd` (the segment file) at offset `at` and
 * on, named `path` in messages, and update the XXH3 state `hash`; the
 * temporary file is removed.  Only before the first byte.  Positional
 * writes leave the descriptor's offset alone, so another thread may be
 * writing another part of the same file meanwhile. */
int sec_redirect(sec_out *s, int fd, uint64_t at, const char *path, void *hash,
                 quire_error *err);
/* Writes out the buffer; the file then holds all `len` bytes. */
int sec_finish(sec_out *s, quire_error *err);
/* Closes and removes the temporary file (safe to call twice). */
void sec_discard(sec_out *s);

/* Writes the whole buffer to fd at the current offset. */
int write_all(int fd, const void *p, size_t n, const char *path,
              quire_error *err);
/* Writes the whole buffer to fd at offset `at`. */
int pwrite_all(int fd, const void *p, size_t n, uint64_t at, const char *path,
               quire_error *err);
/* pwrite_all, past the page cache when *uncached is set: the kernel writes
 * the pages back at once and frees them (RWF_DONTCACHE, Linux 6.14+).
 * Where the kernel or the file system does not offer it, *uncached is
 * cleared and the bytes are written through the page cache as usual. */
int pwrite_uncached(int fd, const void *p, size_t n, uint64_t at, int *uncached,
                    const char *path, quire_error *err);
/* Reads exactly n bytes of fd from offset `at` (a short file is an error). */
int pread_all(int fd, void *p, size_t n, uint64_t at, const char *path, quire_error *err);
int fsync_dir(const char *dir, quire_error *err);

typedef struct mapped_file {
    const uint8_t *data;
    size_t len;
} mapped_file;
int map_file(const char *path, mapped_file *m, quire_error *err);

/* map_file for a file the MANIFEST names (a segment, a deletion file):
 * there, a missing file is a damaged index (QUIRE_ECORRUPT), not a missing
 * one (QUIRE_ENOTFOUND, which a caller may take as "create one"). */
int map_named_file(const char *path, mapped_file *m, quire_error *err);
void unmap_file(mapped_file *m);
/* Drops the whole pages of [p, p + n) of a read-only file mapping from the
 * process's resident set; they stay in the page cache and come back as
 * minor faults when read again. */
void map_drop(const void *p, size_t n);

/* Drops the whole pages of [off, off + len) of the file open as fd from
 * the page cache, if they are clean and mapped nowhere. */
void file_drop(int fd, uint64_t off, uint64_t len);

/* Starts writing back the dirty pages of [off, off + len) of fd without
 * waiting for them: the fsync that must follow has less left to do. */
void file_writeback(int fd, uint64_t off, uint64_t len);
/* file_writeback of [*from, to) once it reaches 1 MiB, then *from = to:
 * called as a segment file grows, so that the fsync ending it waits for
 * little more than the last step (RocksDB's bytes_per_sync does the same).
 * A builder streams its store into the file while it indexes, and the
 * kernel, with 20 GB free, started no writeback of its own before the
 * flush's fsync: on a one-thread build of corpus/cache/big.jsonl the four
 * flushes waited 89, 71, 68 and 36 ms in fsync (strace -T), then 9, 2, 5
 * and 5 ms. */
void file_writeback_step(int fd, uint64_t *from, uint64_t to);

/* Joins dir and name into a freshly allocated path (NULL on no memory). */
char *path_join(const char *dir, const char *name);

#endif
