/*
 * xxh.h — XXH3 for the checksums of whole files and sections.
 *
 * Debian's libxxhash is built for baseline x86-64, so its XXH3_64bits and
 * XXH3_64bits_update run the SSE2 loop: 12 GB/s here.  The same library
 * exports dispatching entry points that choose AVX2 or AVX-512 at run time
 * (20-22 GB/s on 64 MiB, the same hashes); xxh_x86dispatch.h maps the
 * usual names onto them.  Elsewhere the plain functions are used.  (The
 * builder's per-token hash is inlined instead: builder.c.)
 */
#ifndef QUIRE_XXH_H
#define QUIRE_XXH_H

#include <xxhash.h>
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#include <xxh_x86dispatch.h>
#endif
#endif

#endif
