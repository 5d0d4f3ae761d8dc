/*
 * util.c — error reporting shared by the library layers, the table of
 * status-code descriptions behind quire_strerror, and huge-page mappings.
 */
#define _GNU_SOURCE   /* mremap */
#include "index/util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>

static int qerr_v(quire_error *err, int code, size_t column, const char *fmt,
                  va_list ap)
{
    if (err) {
        err->code = code;
        err->column = column;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return code;
}

int qerr(quire_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qerr_v(err, code, 0, fmt, ap);
    va_end(ap);
    return code;
}

int qerr_col(quire_error *err, int code, size_t column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    qerr_v(err, code, column, fmt, ap);
    va_end(ap);
    return code;
}

const char *quire_strerror(int code)
{
    switch (code) {
    case QUIRE_OK: return "ok";
    case QUIRE_EARG: return "invalid argument";
    case QUIRE_ENOMEM: return "out of memory";
    case QUIRE_EIO: return "i/o error";
    case QUIRE_ECORRUPT: return "corrupt index";
    case QUIRE_EVERSION: return "unsupported index format version";
    case QUIRE_ENOTFOUND: return "not found";
    case QUIRE_EQUERY: return "malformed query";
    case QUIRE_EINPUT: return "malformed input";
    case QUIRE_ELOCKED: return "index is locked by another writer";
    default: return "unknown error";
    }
}

/* The builder's pool, hash table and term state are touched at random
 * places.  With 4 KiB pages most of those touches also missed the TLB:
 * perf put the stalls on the prefetches themselves (their page walks).
 * So they are mapped directly, advised as transparent huge pages, and
 * grown without copying (realloc copies into fresh 4 KiB pages before any
 * advice can apply).  They start
 * at 64 KiB and double, as with realloc, so the memory estimate and the
 * flush points are unchanged (starting at 2 MiB, a small budget flushed
 * after every document); huge pages apply once they pass 2 MiB.  On a
 * one-thread build of corpus/cache/big.jsonl, huge pages for the heap
 * (glibc.malloc.hugetlb=1) took user time from 26.9/23.8 s to 20.1/20.0 s.
 * Advice only: without THP the pages are ordinary. */
/* Each growing mapping sits at the start of HUGE_SPAN bytes of address
 * space reserved for it (PROT_NONE: no memory, nor any commit charge), and
 * grows within them by mprotect.  mremap moves a mapping whose next pages
 * are taken (as they mostly are: mmap places new mappings below the
 * others), and moving pages flushes their TLB entries on every core the
 * process runs on: in a two-thread build of corpus/cache/all.jsonl, 42
 * moves of the lanes' pools and term arrays, flush_tlb_mm_range 6.5 ms
 * and the interrupts it sends to the other lane (the build took 0.269 s,
 * now 0.263 s).  Past HUGE_SPAN a mapping moves, with mremap, to a span
 * of its own size.  The span is address space only, but a limit on it
 * (ulimit -v) counts it: 32 MiB holds every lane's arrays on
 * corpus/cache/all.jsonl, and a builder's three take 96 MiB, as glibc
 * reserves 64 MiB for each thread's malloc arena. */

static size_t huge_span(size_t cap)
{
    return cap > HUGE_SPAN ? cap : HUGE_SPAN;
}

int huge_grow(void **p, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : (size_t)64 << 10;
    while (c < need) c *= 2;
    uint8_t *n = *p;
    if (!n) {
        n = mmap(NULL, huge_span(c), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (n == MAP_FAILED) return -1;
#ifdef MADV_HUGEPAGE
        /* on the whole span: the pages made writable later keep it */
        madvise(n, huge_span(c), MADV_HUGEPAGE);
#endif
        if (mprotect(n, c, PROT_READ | PROT_WRITE) != 0) {
            munmap(n, huge_span(c));
            return -1;
        }
    } else if (c <= huge_span(*cap)) {
        if (mprotect(n + *cap, c - *cap, PROT_READ | PROT_WRITE) != 0) return -1;
    } else {
        /* mremap takes one mapping: the whole span writable first */
        size_t old = huge_span(*cap);
        if (old > *cap && mprotect(n + *cap, old - *cap, PROT_READ | PROT_WRITE) != 0)
            return -1;
        void *m = mremap(n, old, c, MREMAP_MAYMOVE);
        if (m == MAP_FAILED) {
            if (old > *cap) mprotect(n + *cap, old - *cap, PROT_NONE);
            return -1;
        }
        n = m;
#ifdef MADV_HUGEPAGE
        madvise(n, c, MADV_HUGEPAGE);
#endif
    }
    *p = n;
    *cap = c;
    return 0;
}

void huge_grow_free(void *p, size_t cap)
{
    if (p) munmap(p, huge_span(cap));
}

void huge_free(void *p, size_t bytes)
{
    if (p) munmap(p, bytes);
}

void run_each(void *(*fn)(void *), void *items, size_t size, size_t n, int *together)
{
    char *at = items;
    pthread_t *tid = n > 1 ? malloc(n * sizeof *tid) : NULL;
    int *started = n > 1 ? calloc(n, sizeof *started) : NULL;
    int all = 1;
    for (size_t i = 1; i < n; i++) {
        if (tid && started)
            started[i] = pthread_create(&tid[i], NULL, fn, at + i * size) == 0;
        all &= started && started[i];
    }
    if (together) *together = all;
    if (n > 0) fn(at);
    for (size_t i = 1; i < n; i++) {
        if (started && started[i]) pthread_join(tid[i], NULL);
        else fn(at + i * size);
    }
    free(tid);
    free(started);
}

/* Hash tables are probed (read) before their slots are written, and a
 * page read before it is written maps the shared zero page: the write
 * that follows faults again to copy it, and in a process whose threads
 * run on other cores, that copy's TLB flush interrupts all of them.
 * With the writer's id table and the builders' term tables in 4 KiB
 * pages, those copies and flushes were 4% of the samples of a two-thread
 * build of corpus/cache/all.jsonl (ptep_clear_flush, mostly under
 * quire_writer_add's probe of the id table), and the interrupts fell on
 * the other threads.  So the whole mapping is
 * faulted in writable at once (Linux 5.14+; elsewhere the advice fails
 * and the pages fault in as before); a table a quarter to three
 * quarters full (the id table grows at half, the term table at three
 * quarters) is written on nearly every page anyway. */
void *huge_alloc(size_t bytes)
{
    void *n = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (n == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(n, bytes, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
    madvise(n, bytes, MADV_POPULATE_WRITE);
#endif
    return n;
}

int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}
