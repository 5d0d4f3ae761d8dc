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
#include <xxhash.h>

#include "quire.h"

/* A section being written to its own temporary file. */
typedef struct sec_out {
    FILE *f;
    char *path;
    uint64_t len;
    XXH3_state_t *h;
    int failed;           /* sticky: a write failed (errno saved) */
    int saved_errno;
} sec_out;

int sec_open(sec_out *s, const char *path, quire_error *err);
/* Appends bytes; errors are sticky and reported by sec_finish. */
void sec_write(sec_out *s, const void *p, size_t n);
/* Flushes; on success *hash gets the XXH3-64 of everything written. */
int sec_finish(sec_out *s, uint64_t *hash, quire_error *err);
/* Closes and removes the temporary file (safe to call twice). */
void sec_discard(sec_out *s);

/* Writes the whole buffer to fd at the current offset. */
int write_all(int fd, const void *p, size_t n, const char *path,
              quire_error *err);
int fsync_dir(const char *dir, quire_error *err);

typedef struct mapped_file {
    const uint8_t *data;
    size_t len;
} mapped_file;
int map_file(const char *path, mapped_file *m, quire_error *err);
void unmap_file(mapped_file *m);

/* Joins dir and name into a freshly allocated path (NULL on no memory). */
char *path_join(const char *dir, const char *name);

#endif
