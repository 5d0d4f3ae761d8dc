/*
 * manifest.h — the commit point of an index directory, and the deletion
 * bitmaps it names.  See manifest.c for the formats.
 */
#ifndef QUIRE_MANIFEST_H
#define QUIRE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "quire.h"

#define MANIFEST_NAME "MANIFEST"
#define MANIFEST_VERSION 1u
#define NAME_MAX_LEN 64

typedef struct manifest_seg {
    char name[NAME_MAX_LEN];  /* seg_000001.qseg */
    uint32_t ndocs;
    char del[NAME_MAX_LEN];   /* deletion file, "" when none */
} manifest_seg;

typedef struct manifest {
    uint64_t generation;
    uint32_t tok_flags;
    uint32_t next_segment;
    manifest_seg *segs;
    size_t nsegs, cap;
} manifest;

/* QUIRE_ENOTFOUND when DIR has no MANIFEST. */
int manifest_read(const char *dir, manifest *m, quire_error *err);
/* Writes MANIFEST.tmp, fsyncs it, renames it over MANIFEST, fsyncs DIR. */
int manifest_write(const char *dir, const manifest *m, quire_error *err);
int manifest_push(manifest *m, const manifest_seg *s);
/* What DIR's file names say when its MANIFEST cannot be read (for
 * quire_rebuild): every seg_N.qseg in number order, each with its
 * newest deletion file seg_N.qseg.gG.del; ndocs 0 (unknown), tok_flags 0
 * (unknown), generation the largest G, next_segment past the largest N.
 * Files a killed writer left behind are among them. */
int manifest_scan(const char *dir, manifest *m, quire_error *err);
void manifest_free(manifest *m);

/* Deletion bitmap of a segment with ndocs documents. */
int del_read(const char *dir, const char *name, uint32_t ndocs,
             uint64_t **bits, uint32_t *ndeleted, quire_error *err);
int del_write(const char *dir, const char *name, const uint64_t *bits,
              uint32_t ndocs, quire_error *err);

#endif
