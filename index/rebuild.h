/*
 * rebuild.h — what quire_rebuild (rebuild.c) needs of the writer: a
 * session that replaces the committed generation instead of adding to it.
 */
#ifndef QUIRE_REBUILD_H
#define QUIRE_REBUILD_H

#include <stdint.h>

#include "index/manifest.h"
#include "quire.h"

/* Opens DIR for writing as quire_writer_open does (the lock, waiting as
 * opt says), but starting from no committed segment: nothing it adds
 * replaces a document of the committed generation, and its first commit
 * publishes what it added alone (even nothing), then removes every seg_*
 * file the new MANIFEST does not name.  *old is the generation it
 * replaces, read under the lock; when its MANIFEST cannot be read or is
 * missing, what manifest_scan finds, and *scanned is 1; when it names a
 * segment file that is not there (a MANIFEST older than the segments),
 * what manifest_scan finds too, and *scanned is 2.  A directory with
 * neither a MANIFEST nor a segment file is QUIRE_ENOTFOUND. */
int idx_writer_open_rebuild(const char *dir, const quire_writer_options *opt, manifest *old,
                            int *scanned, quire_writer **out, quire_error *err);

/* The tokenizer flags of the index the writer creates or rebuilds, before
 * its first document. */
int idx_writer_set_tok_flags(quire_writer *w, uint32_t flags, quire_error *err);

#endif
