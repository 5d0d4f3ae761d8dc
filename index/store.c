/*
 * store.c — the document store writer and the id ordering shared by the
 * builder and the merger (see store.h).
 */
#define _GNU_SOURCE
/* for ZSTD_c_literalCompressionMode (see storew_open_sink) */
#define ZSTD_STATIC_LINKING_ONLY
#include "index/store.h"

#include <stdlib.h>
#include <string.h>

#include "index/segment.h"
#include "index/util.h"

static int grow(void **p, size_t *cap, size_t need)
{
    return grow_array(p, cap, need, 1, 4096);
}

int storew_open_sink(store_writer *s, void (*sink)(void *ctx, const void *p, size_t n),
                     void *sink_ctx, quire_error *err)
{
    memset(s, 0, sizeof *s);
    s->sink = sink;
    s->sink_ctx = sink_ctx;
    s->zc = ZSTD_createCCtx();
    if (!s->zc) return qerr(err, QUIRE_ENOMEM, "out of memory");
    /* level 1: measured on kjv+mail+sotu+moby, level 3 costs 3% more build
     * instructions for a 3.5% smaller store, which queries never scan.
     * Compression was still 23% of a one-thread build, so level 1 is tuned
     * further.  On 100 MB of corpus/cache/big.jsonl in 16 KiB blocks, plain
     * level 1 compressed at 256 MB/s to 0.385 of the raw size; with a
     * 2^11-entry hash table (reset for every block, and it stays in L1) and
     * matches of 7 bytes or more (fewer short matches tried), at 322 MB/s
     * to 0.409.  32 KiB blocks would have kept the size at 333 MB/s, but a
     * document read decompresses a whole block: 31 -> 43 us per random
     * document on 440,000 documents.  Then matches of 6 bytes or more,
     * searched with a step of 3 positions instead of 2 (targetLength 2, the
     * fast strategy's acceleration), with literals still Huffman-coded (a
     * target length turns that off unless forced, and the store grew by
     * 43%): zstd's instructions -12% on corpus/cache/all.jsonl, the store
     * 0.7% smaller.  A libzstd without the (experimental) literal switch
     * keeps the earlier setting. */
    ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, 1);
    ZSTD_CCtx_setParameter(s->zc, ZSTD_c_hashLog, 11);
    int step3 = !ZSTD_isError(
        ZSTD_CCtx_setParameter(s->zc, ZSTD_c_literalCompressionMode, ZSTD_ps_enable));
    ZSTD_CCtx_setParameter(s->zc, ZSTD_c_minMatch, step3 ? 6 : 7);
    if (step3) ZSTD_CCtx_setParameter(s->zc, ZSTD_c_targetLength, 2);
    /* a content checksum per block: readers open an index without hashing
     * the whole store, and still detect a damaged block when they read it */
    ZSTD_CCtx_setParameter(s->zc, ZSTD_c_checksumFlag, 1);
    return QUIRE_OK;
}

size_t storew_mem(const store_writer *s)
{
    return s->raw_cap + s->zbuf_cap + (s->zc ? ZSTD_sizeof_CCtx(s->zc) : 0);
}

static void store_out(store_writer *s, const void *p, size_t n)
{
    s->sink(s->sink_ctx, p, n);
    s->out_len += n;
}

void storew_put(store_writer *s, const void *p, size_t n)
{
    if (n == 0 || s->failed) return;  /* p may be NULL for an empty field */
    if (grow((void **)&s->raw, &s->raw_cap, s->raw_len + n)) {
        s->failed = 1;
        return;
    }
    memcpy(s->raw + s->raw_len, p, n);
    s->raw_len += n;
}

void storew_varint(store_writer *s, uint64_t v)
{
    uint8_t tmp[10];
    storew_put(s, tmp, (size_t)(varint_put(tmp, v) - tmp));
}

static int flush_block(store_writer *s, quire_error *err)
{
    if (s->ndocs_block == 0) return QUIRE_OK;
    size_t bound = ZSTD_compressBound(s->raw_len);
    if (grow((void **)&s->zbuf, &s->zbuf_cap, bound) ||
        grow((void **)&s->idx, &s->idx_cap, s->idx_len + 24))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    size_t z = ZSTD_compress2(s->zc, s->zbuf, s->zbuf_cap, s->raw, s->raw_len);
    if (ZSTD_isError(z)) return qerr(err, QUIRE_EIO, "zstd: %s", ZSTD_getErrorName(z));
    uint8_t *e = s->idx + s->idx_len;
    st32(e, s->first_doc);
    st32(e + 4, s->ndocs_block);
    st64(e + 8, s->out_len);
    st32(e + 16, (uint32_t)z);
    st32(e + 20, (uint32_t)s->raw_len);
    s->idx_len += 24;
    store_out(s, s->zbuf, z);
    s->raw_len = 0;
    s->ndocs_block = 0;
    return QUIRE_OK;
}

int storew_end_doc(store_writer *s, quire_error *err)
{
    if (s->failed) return qerr(err, QUIRE_ENOMEM, "out of memory");
    if (s->ndocs_block == 0) s->first_doc = s->ndocs;
    s->ndocs_block++;
    s->ndocs++;
    if (s->raw_len >= SEG_STORE_BLOCK) return flush_block(s, err);
    return QUIRE_OK;
}

int storew_copy_block(store_writer *s, const uint8_t *frame, uint32_t clen,
                      uint32_t raw_len, uint32_t ndocs, quire_error *err)
{
    int rc = flush_block(s, err);   /* records appended before come first */
    if (rc) return rc;
    if (s->failed) return qerr(err, QUIRE_ENOMEM, "out of memory");
    if (grow((void **)&s->idx, &s->idx_cap, s->idx_len + 24))
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    uint8_t *e = s->idx + s->idx_len;
    st32(e, s->ndocs);
    st32(e + 4, ndocs);
    st64(e + 8, s->out_len);
    st32(e + 16, clen);
    st32(e + 20, raw_len);
    s->idx_len += 24;
    store_out(s, frame, clen);
    s->ndocs += ndocs;
    return QUIRE_OK;
}

int storew_cut(store_writer *s, quire_error *err)
{
    if (s->failed) return qerr(err, QUIRE_ENOMEM, "out of memory");
    return flush_block(s, err);
}

int storew_finish(store_writer *s, quire_error *err)
{
    return flush_block(s, err);
}

void storew_close(store_writer *s)
{
    ZSTD_freeCCtx(s->zc);
    free(s->raw);
    free(s->zbuf);
    free(s->idx);
    memset(s, 0, sizeof *s);
}

typedef struct id_ctx { const uint64_t *off; const char *ids; } id_ctx;

static int cmp_ids(const void *a, const void *b, void *ctx)
{
    const id_ctx *c = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    size_t xl = c->off[x + 1] - c->off[x], yl = c->off[y + 1] - c->off[y];
    size_t m = xl < yl ? xl : yl;
    int r = m ? memcmp(c->ids + c->off[x], c->ids + c->off[y], m) : 0;
    if (r) return r;
    if (xl != yl) return xl < yl ? -1 : 1;
    return (x > y) - (x < y);
}

/* A comparison sort, not sort_strings (strsort.c), which orders the same
 * way but sorts ids no faster: ids arrive nearly in order, and those of
 * corpus/cache/big.jsonl share 17 bytes in groups (481,092 of them sort
 * in 31 ms either way).  It needs 32 bytes a document where this needs 8:
 * a one-thread build of big.jsonl peaked 11 MiB higher. */
uint32_t *sort_ids(const uint64_t *off, const char *ids, uint32_t n)
{
    uint32_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) return NULL;
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    id_ctx c = {off, ids};
    qsort_r(order, n, sizeof *order, cmp_ids, &c);
    return order;
}
