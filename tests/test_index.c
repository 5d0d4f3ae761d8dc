/*
 * test_index.c — the index layer below the tokenizer: bit-packing round
 * trips for every width, the front-coded dictionary at its edges, and
 * posting lists written by the segment writer and read back through the
 * iterators (next, advance, positions, block bounds) at block edges, and a
 * builder renewed after a flush writing what a new builder writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "index/builder.h"
#include "index/codec.h"
#include "index/dict.h"
#include "index/fileio.h"
#include "index/index.h"
#include "index/merge.h"
#include "index/segread.h"
#include "index/segwrite.h"
#include "index/strsort.h"
#include "index/util.h"
#include "reseal.h"
#include "test_rng.h"

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void)
{
    return (uint32_t)xorshift64(&rng_state);
}

static void test_pack_every_width(void **state)
{
    (void)state;
    for (uint32_t b = 0; b <= 32; b++) {
        uint32_t in[128], out[128];
        uint8_t packed[16 * 32 + CODEC_OVERREAD];
        for (int i = 0; i < 128; i++) {
            uint32_t mask = b == 32 ? 0xffffffffu : ((1u << b) - 1);
            in[i] = rnd() & mask;
        }
        if (b > 0) in[77] = b == 32 ? 0xffffffffu : (1u << b) - 1; /* the maximum */
        assert_int_equal(codec_width(in, 128), b);
        memset(packed, 0xee, sizeof packed);
        codec_pack128(in, b, packed);
        codec_unpack128(packed, b, out);
        assert_memory_equal(in, out, sizeof in);
        /* both packers write the same bytes, and none past 16 * b */
        for (int rep = 0; rep < 50; rep++) {
            uint32_t mask = b == 32 ? 0xffffffffu : ((1u << b) - 1);
            uint32_t r[128];
            uint8_t p1[16 * 32 + CODEC_OVERREAD], p2[16 * 32 + CODEC_OVERREAD];
            for (int i = 0; i < 128; i++) r[i] = rep == 0 ? mask : rnd() & mask;
            memset(p1, 0xee, sizeof p1);
            memset(p2, 0xee, sizeof p2);
            codec_pack128_scalar(r, b, p1);
            if (codec_have_avx512_pack()) codec_pack128_avx512(r, b, p2);
            else codec_pack128_scalar(r, b, p2);
            assert_memory_equal(p1, p2, sizeof p1);
        }
        /* both implementations, whichever the dispatcher picks here */
        codec_unpack128_scalar(packed, b, out);
        assert_memory_equal(in, out, sizeof in);
        if (codec_unpack128_avx2(packed, b, out)) assert_memory_equal(in, out, sizeof in);
        /* ascending values as gaps - 1 */
        uint32_t asc[128], dec[128], gaps[128];
        uint32_t prev = 999;
        for (int i = 0; i < 128; i++) {
            uint32_t g = b == 0 ? 0 : (rnd() & ((b >= 16 ? 0xffffu : (1u << b) - 1)));
            asc[i] = prev + g + 1;
            gaps[i] = g;
            prev = asc[i];
        }
        uint32_t wb = codec_width(gaps, 128);
        codec_pack128(gaps, wb, packed);
        codec_unpack128_delta1(packed, wb, 1000, dec);
        assert_memory_equal(asc, dec, sizeof asc);
        codec_unpack128_delta1_scalar(packed, wb, 1000, dec);
        assert_memory_equal(asc, dec, sizeof asc);
        if (codec_unpack128_delta1_avx2(packed, wb, 1000, dec))
            assert_memory_equal(asc, dec, sizeof asc);
    }
}

/* PFOR round trips: every base width with 0..many exceptions of every
 * high width, at block and tail lengths; the size parser must agree with
 * the encoder and reject a truncated block. */
static void pfor_roundtrip(const uint32_t *in, uint32_t n)
{
    uint8_t enc[CODEC_PFOR_MAX_BYTES(128) + CODEC_OVERREAD];
    uint32_t out[128];
    memset(enc, 0xee, sizeof enc);
    size_t len = codec_pfor_encode(in, n, enc);
    assert_true(len >= 1 && len <= CODEC_PFOR_MAX_BYTES(n));
    /* both encoders write the same bytes */
    uint8_t enc2[CODEC_PFOR_MAX_BYTES(128) + CODEC_OVERREAD];
    assert_int_equal(codec_pfor_encode_portable(in, n, enc2), len);
    assert_memory_equal(enc, enc2, len);
    if (codec_have_avx512()) {
        assert_int_equal(codec_pfor_encode_avx512(in, n, enc2), len);
        assert_memory_equal(enc, enc2, len);
    }
    assert_int_equal(codec_pfor_size(enc, len, n), len);
    assert_int_equal(codec_pfor_size(enc, len - 1, n), 0);
    /* never larger than plain packing with the largest width */
    assert_true(len <= 1 + codec_packed_bytes_n(n, codec_width(in, n)));
    memset(out, 0xaa, sizeof out);
    codec_pfor_decode(enc, n, out);
    assert_memory_equal(in, out, n * sizeof *in);
    if (n == 128) {
        uint32_t dec[128], acc = 4999;
        codec_pfor_decode128_delta1(enc, 5000, dec);
        for (int i = 0; i < 128; i++) {
            acc += in[i] + 1;
            assert_int_equal(dec[i], acc);
        }
    }
}

static void test_pfor_exceptions(void **state)
{
    (void)state;
    static const uint32_t lens[] = {1, 2, 3, 7, 8, 31, 64, 100, 127, 128};
    static const uint32_t nexcs[] = {0, 1, 2, 3, 7, 20, 64, 128};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        uint32_t n = lens[li];
        for (uint32_t b = 0; b <= 32; b++) {
            for (size_t ei = 0; ei < sizeof nexcs / sizeof *nexcs; ei++) {
                for (uint32_t hb = 1; b + hb <= 32; hb += (hb < 4 ? 1 : 5)) {
                    uint32_t in[128];
                    uint32_t mask = b == 0 ? 0 : b == 32 ? 0xffffffffu : (1u << b) - 1;
                    for (uint32_t i = 0; i < n; i++) in[i] = rnd() & mask;
                    uint32_t ne = nexcs[ei] < n ? nexcs[ei] : n;
                    for (uint32_t k = 0; k < ne; k++) {
                        uint32_t i = ne == n ? k : rnd() % n;
                        uint32_t top = b + hb == 32 ? 0xffffffffu : (1u << (b + hb)) - 1;
                        in[i] = (rnd() & top) | (1u << (b + hb - 1));
                    }
                    pfor_roundtrip(in, n);
                }
            }
        }
        /* one large value among zeros is an exception */
        uint32_t in[128] = {0};
        in[n - 1] = 1u << 20;
        uint8_t enc[CODEC_PFOR_MAX_BYTES(128) + CODEC_OVERREAD];
        size_t len = codec_pfor_encode(in, n, enc);
        if (n < 8) continue;  /* too short for an exception to pay */
        assert_true(enc[0] & CODEC_PFOR_EXC);
        /* a damaged exception index stays inside the 128-value buffer */
        enc[3 + codec_packed_bytes_n(n, enc[0] & 0x3f)] = 0xff;
        assert_int_equal(codec_pfor_size(enc, len, n), len);
        uint32_t out[128 + 1];
        out[128] = 0x5a5a5a5a;
        codec_pfor_decode(enc, n, out);
        assert_int_equal(out[128], 0x5a5a5a5a);
    }
    /* b > 32 and reserved bit 6 are rejected */
    uint8_t bad[CODEC_PFOR_MAX_BYTES(128)] = {33};
    assert_int_equal(codec_pfor_size(bad, sizeof bad, 128), 0);
    bad[0] = 0x41;
    assert_int_equal(codec_pfor_size(bad, sizeof bad, 128), 0);
}

/* Full blocks take a vectorized path of their own; it must choose what
 * the generic one chooses, byte for byte, or merges and flushes would
 * write other files than before (and block copies in a merge would not
 * match re-encoded blocks). */
static void test_pfor_block_path(void **state)
{
    (void)state;
    for (int it = 0; it < 200000; it++) {
        uint32_t in[128];
        uint32_t w = rnd() % 33, hw = rnd() % 33, ne = rnd() % 4 ? rnd() % 9 : rnd() % 129;
        for (int i = 0; i < 128; i++)
            in[i] = w == 0 ? 0 : w == 32 ? rnd() : rnd() & ((1u << w) - 1);
        if (rnd() % 3 == 0)
            for (int i = 0; i < 128; i++) in[i] >>= rnd() % 32;
        for (uint32_t k = 0; k < ne; k++)
            in[rnd() % 128] = hw == 32 ? rnd() : (rnd() & ((1u << hw) - 1)) | (hw ? 1u << (hw - 1) : 0);
        uint8_t a[CODEC_PFOR_MAX_BYTES(128)], b[CODEC_PFOR_MAX_BYTES(128)];
        size_t la = codec_pfor_encode(in, 128, a), lb = codec_pfor_encode_generic(in, 128, b);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
    }
}

/* ---- dictionary ------------------------------------------------------- */

static void term_at(uint32_t i, char *buf, size_t *len)
{
    /* sorted by construction: zero-padded numbers with shared prefixes */
    *len = (size_t)sprintf(buf, "term%06u", i);
}

static void test_dict_lookups(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {0, 1, 63, 64, 65, 1000};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        uint32_t n = sizes[si];
        dict_builder b;
        dict_builder_init(&b);
        for (uint32_t i = 0; i < n; i++) {
            char t[32];
            size_t l;
            term_at(i, t, &l);
            /* every 4th term in one document, every 8th also once:
             * those keep doc and position in the entry */
            uint32_t df = i % 4 == 0 ? 1 : i % 300 + 1;
            /* skip offsets are whole entries; some long lists have
             * short blocks (a merge's), whose count the entry keeps */
            idx_term e = {.df = df, .cf = df + (i % 8 == 0 ? 0 : i),
                          .docs_off = (uint64_t)i * 10, .pos_off = (uint64_t)i * 7,
                          .skip_off = (uint64_t)i * SEG_SKIP_ENTRY, .single_doc = i * 3,
                          .single_pos = i * 5,
                          .cut_blocks = df > IDX_BLOCK && i % 3 == 0 ? 3 + i % 5 : 0};
            assert_int_equal(dict_builder_add(&b, (uint8_t *)t, l, &e), 0);
        }
        dict_view v = {b.buf, b.len, NULL, b.nblocks, n, NULL, 0, 0};
        uint8_t *idx = malloc(8 * (b.nblocks + 1));
        for (size_t k = 0; k < b.nblocks; k++) memcpy(idx + 8 * k, &b.blocks[k], 8);
        v.idx = idx;
        /* without and with the in-memory keys of the blocks' first terms */
        uint64_t *keys = NULL;
        assert_int_equal(dict_build_keys(&v, &keys), 0);
        for (int pass = 0; pass < 2; pass++) {
        v.keys = pass ? keys : NULL;
        for (uint32_t i = 0; i < n; i++) {
            char t[32];
            size_t l;
            term_at(i, t, &l);
            idx_term e;
            assert_int_equal(dict_lookup(&v, (uint8_t *)t, l, &e), 1);
            uint32_t df = i % 4 == 0 ? 1 : i % 300 + 1;
            assert_int_equal(e.df, df);
            assert_int_equal(e.cf, df + (i % 8 == 0 ? 0 : i));
            if (df == 1) assert_int_equal(e.single_doc, i * 3);
            else assert_int_equal(e.docs_off, (uint64_t)i * 10);
            if (e.cf == 1) assert_int_equal(e.single_pos, i * 5);
            else assert_int_equal(e.pos_off, (uint64_t)i * 7);
            if (e.df > IDX_BLOCK) assert_int_equal(e.skip_off, (uint64_t)i * SEG_SKIP_ENTRY);
            assert_int_equal(e.cut_blocks, df > IDX_BLOCK && i % 3 == 0 ? 3 + i % 5 : 0);
        }
        idx_term e;
        assert_int_equal(dict_lookup(&v, (const uint8_t *)"term", 4, &e), 0);
        assert_int_equal(dict_lookup(&v, (const uint8_t *)"a", 1, &e), 0);
        assert_int_equal(dict_lookup(&v, (const uint8_t *)"zzz", 3, &e), 0);
        assert_int_equal(dict_lookup(&v, (const uint8_t *)"term0000005", 11, &e), 0);
        assert_int_equal(dict_lookup(&v, (const uint8_t *)"", 0, &e), 0);
        }
        free(keys);
        /* sequential iteration sees every term in order */
        dict_iter it;
        dict_iter_init(&it, &v);
        uint32_t seen = 0;
        while (dict_iter_next(&it) == 1) {
            char t[32];
            size_t l;
            term_at(seen, t, &l);
            assert_int_equal(it.term_len, l);
            assert_memory_equal(it.term, t, l);
            seen++;
        }
        assert_int_equal(seen, n);
        free(idx);
        dict_builder_free(&b);
    }
}

static void test_dict_edges(void **state)
{
    (void)state;
    /* empty term first, shared prefixes, terms of 255, 256 and 4000 bytes */
    char long255[255], long256[256], long4000[4000];
    memset(long255, 'x', sizeof long255);
    memset(long256, 'x', sizeof long256);
    memset(long4000, 'x', sizeof long4000);
    long4000[3999] = 'y';
    struct { const char *t; size_t l; } terms[] = {
        {"", 0}, {"a", 1}, {"ab", 2}, {"abc", 3}, {"abd", 3}, {"b", 1},
        {long255, 255}, {long256, 256}, {long4000, 4000}, {"\xc3\xa9t\xc3\xa9", 6},
    };
    size_t n = sizeof terms / sizeof *terms;
    dict_builder b;
    dict_builder_init(&b);
    for (size_t i = 0; i < n; i++) {
        idx_term e = {.df = (uint32_t)i + 1, .cf = i + 1, .docs_off = i, .pos_off = i};
        assert_int_equal(dict_builder_add(&b, (const uint8_t *)terms[i].t, terms[i].l, &e), 0);
    }
    /* out of order and duplicates are refused */
    idx_term e0 = {.df = 1, .cf = 1};
    assert_int_equal(dict_builder_add(&b, (const uint8_t *)"a", 1, &e0), -2);
    assert_int_equal(dict_builder_add(&b, (const uint8_t *)"\xc3\xa9t\xc3\xa9", 6, &e0), -2);
    uint8_t idx[8];
    memcpy(idx, &b.blocks[0], 8);
    dict_view v = {b.buf, b.len, idx, b.nblocks, n, NULL, 0, 0};
    for (size_t i = 0; i < n; i++) {
        idx_term e;
        assert_int_equal(dict_lookup(&v, (const uint8_t *)terms[i].t, terms[i].l, &e), 1);
        assert_int_equal(e.df, i + 1);
    }
    idx_term e;
    assert_int_equal(dict_lookup(&v, (const uint8_t *)long255, 254, &e), 0);
    assert_int_equal(dict_lookup(&v, (const uint8_t *)long4000, 3999, &e), 0);
    assert_int_equal(dict_lookup(&v, (const uint8_t *)"abe", 3, &e), 0);
    dict_builder_free(&b);
}

/* ---- posting lists through a real segment file ------------------------ */

typedef struct plist {
    uint32_t df;
    uint32_t *docs, *tfs;
    uint32_t **pos;
} plist;

static void plist_make(plist *p, uint32_t df, uint32_t ndocs, uint32_t max_tf)
{
    p->df = df;
    p->docs = malloc(df * sizeof *p->docs);
    p->tfs = malloc(df * sizeof *p->tfs);
    p->pos = malloc(df * sizeof *p->pos);
    /* df distinct docs spread over [0, ndocs) */
    uint32_t d = 0;
    for (uint32_t i = 0; i < df; i++) {
        uint32_t room = ndocs - d - (df - i);
        uint32_t gap = room ? rnd() % (room / (df - i) + 1) : 0;
        d += gap;
        p->docs[i] = d++;
        p->tfs[i] = 1 + (i % 7 == 0 ? rnd() % max_tf : 0);
        p->pos[i] = malloc(p->tfs[i] * sizeof(uint32_t));
        uint32_t q = rnd() % 5;
        for (uint32_t k = 0; k < p->tfs[i]; k++) {
            p->pos[i][k] = q;
            q += rnd() % 3 == 0 ? 0 : 1 + rnd() % 1000;
        }
    }
}

static void plist_free(plist *p)
{
    for (uint32_t i = 0; i < p->df; i++) free(p->pos[i]);
    free(p->docs);
    free(p->tfs);
    free(p->pos);
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/quire-test-index-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

/* Writes terms "t0".."t<n-1>" with the given lists into one segment. */
static idx_segment *write_segment(plist *lists, size_t n, uint32_t ndocs)
{
    quire_error err;
    char path[128], prefix[128];
    snprintf(path, sizeof path, "%s/seg.qseg", tmpdir);
    snprintf(prefix, sizeof prefix, "%s/seg.tmp", tmpdir);
    uint32_t *norms = calloc(ndocs, sizeof *norms);
    /* lengths past the exact codes of impacts (segment.h) too */
    uint64_t total = 0;
    for (uint32_t d = 0; d < ndocs; d++) {
        norms[d] = d % 5 ? 10 + d % 50 : 100 + (d * 2654435761u) % 70000;
        total += norms[d];
    }
    seg_writer w;
    assert_int_equal(segw_open(&w, path, prefix, &err), QUIRE_OK);
    segw_set_norms(&w, norms, ndocs, total);
    assert_int_equal(segw_store_begin(&w, &err), QUIRE_OK);   /* an empty store */
    uint64_t npost = 0, npos = 0;
    char names[16][8];
    for (size_t t = 0; t < n; t++) {
        snprintf(names[t], sizeof names[t], "t%zu", t);
        uint64_t cf = 0;
        for (uint32_t i = 0; i < lists[t].df; i++) cf += lists[t].tfs[i];
        assert_int_equal(segw_term_begin(&w, (uint8_t *)names[t], strlen(names[t]),
                                         lists[t].df, cf, &err), QUIRE_OK);
        for (uint32_t i = 0; i < lists[t].df; i++) {
            uint32_t *pos = segw_posting(&w, lists[t].docs[i], lists[t].tfs[i]);
            assert_non_null(pos);
            memcpy(pos, lists[t].pos[i], lists[t].tfs[i] * sizeof *pos);
        }
        assert_int_equal(segw_term_end(&w, &err), QUIRE_OK);
        npost += lists[t].df;
        npos += cf;
    }
    uint32_t *ids_sorted = calloc(ndocs, 4);
    uint64_t *id_off = calloc(ndocs + 1, 8);
    for (uint32_t d = 0; d < ndocs; d++) ids_sorted[d] = d;
    seg_meta meta = {.ndocs = ndocs, .tok_flags = 1, .nterms = n, .total_len = total,
                     .npostings = npost, .npositions = npos, .block_size = 128,
                     .dict_block = SEG_DICT_BLOCK};
    assert_int_equal(segw_finish(&w, &meta, NULL, 0, ids_sorted, id_off, "", &err),
                     QUIRE_OK);
    segw_close(&w);
    free(ids_sorted);
    free(id_off);
    free(norms);
    idx_segment *s;
    int rc = idx_segment_open(tmpdir, "seg.qseg", 1, &s, &err);
    if (rc) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(rc, QUIRE_OK);
    return s;
}

static void check_list(idx_segment *s, const char *term, const plist *p)
{
    idx_term t;
    assert_int_equal(idx_segment_lookup(s, term, strlen(term), &t), 1);
    assert_int_equal(t.df, p->df);
    idx_postings *it;
    /* full scan with next, freq and positions */
    assert_int_equal(idx_postings_open(s, &t, &it), 0);
    for (uint32_t i = 0; i < p->df; i++) {
        assert_int_equal(idx_postings_doc(it), p->docs[i]);
        assert_int_equal(idx_postings_freq(it), p->tfs[i]);
        if (i % 3 == 0 || p->df < 1000) {
            uint32_t n;
            const uint32_t *pos = idx_postings_positions(it, &n);
            assert_non_null(pos);
            assert_int_equal(n, p->tfs[i]);
            assert_memory_equal(pos, p->pos[i], n * sizeof *pos);
        }
        idx_postings_next(it);
    }
    assert_int_equal(idx_postings_doc(it), IDX_END);
    assert_int_equal(idx_postings_next(it), IDX_END);
    idx_postings_close(it);
    /* advance to targets in and between documents, with positions after */
    assert_int_equal(idx_postings_open(s, &t, &it), 0);
    uint32_t i = 0;
    while (i < p->df) {
        uint32_t step = 1 + rnd() % 300;
        i = i + step < p->df ? i + step : p->df - 1;
        uint32_t target = p->docs[i] - (rnd() % 2 && i > 0 && p->docs[i] - 1 > p->docs[i - 1]);
        uint32_t got = idx_postings_advance(it, target);
        assert_int_equal(got, p->docs[i]);
        uint32_t n;
        const uint32_t *pos = idx_postings_positions(it, &n);
        assert_non_null(pos);
        assert_memory_equal(pos, p->pos[i], n * sizeof *pos);
        if (i == p->df - 1) break;
    }
    assert_int_equal(idx_postings_advance(it, p->docs[p->df - 1] + 1), IDX_END);
    idx_postings_close(it);
    /* shallow advance bounds every block it reports */
    assert_int_equal(idx_postings_open(s, &t, &it), 0);
    for (uint32_t k = 0; k < p->df; k += 1 + rnd() % 200) {
        uint32_t max_tf, min_len;
        uint32_t last = idx_postings_shallow_advance(it, p->docs[k], &max_tf, &min_len);
        assert_true(last >= p->docs[k]);
        assert_true(max_tf >= p->tfs[k]);
        assert_true(min_len <= idx_segment_doclen(s, p->docs[k]));
    }
    idx_postings_close(it);
    /* and every document of a block lies under one of its impacts */
    assert_int_equal(idx_postings_open(s, &t, &it), 0);
    idx_impacts imp = {{0, 0}, {0, 0}};
    uint32_t last = 0;
    for (uint32_t k = 0; k < p->df; k++) {
        if (k == 0 || p->docs[k] > last) {
            last = idx_postings_shallow_impacts(it, p->docs[k], &imp);
            assert_true(last >= p->docs[k]);
            assert_true(imp.tf[0] <= imp.tf[1] && imp.len[0] <= imp.len[1]);
        }
        uint32_t len = idx_segment_doclen(s, p->docs[k]);
        assert_true((p->tfs[k] <= imp.tf[0] && len >= imp.len[0]) ||
                    (p->tfs[k] <= imp.tf[1] && len >= imp.len[1]));
    }
    idx_postings_close(it);
}

static void test_postings_block_edges(void **state)
{
    (void)state;
    static const uint32_t dfs[] = {1, 127, 128, 129, 256, 100000};
    plist lists[6];
    for (int i = 0; i < 6; i++) plist_make(&lists[i], dfs[i], 300000, 300);
    idx_segment *s = write_segment(lists, 6, 300000);
    for (int i = 0; i < 6; i++) {
        char name[8];
        snprintf(name, sizeof name, "t%d", i);
        check_list(s, name, &lists[i]);
    }
    idx_term t;
    assert_int_equal(idx_segment_lookup(s, "t6", 2, &t), 0);
    assert_int_equal(idx_segment_lookup(s, "", 0, &t), 0);
    idx_segment_close(s);
    for (int i = 0; i < 6; i++) plist_free(&lists[i]);
}

static void test_postings_dense(void **state)
{
    (void)state;
    /* every document: all gaps zero, width 0 blocks */
    plist p;
    p.df = 1000;
    p.docs = malloc(1000 * 4);
    p.tfs = malloc(1000 * 4);
    p.pos = malloc(1000 * sizeof *p.pos);
    for (uint32_t i = 0; i < 1000; i++) {
        p.docs[i] = i;
        p.tfs[i] = 1;
        p.pos[i] = malloc(4);
        p.pos[i][0] = 0;
    }
    idx_segment *s = write_segment(&p, 1, 1000);
    check_list(s, "t0", &p);
    idx_segment_close(s);
    plist_free(&p);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Entry lengths on both sides of the one-byte form (prefix < 15 and
 * suffix < 16): growing shared prefixes and growing suffixes. */
static void test_dict_length_forms(void **state)
{
    (void)state;
    enum { N = 3 * 41 };
    char *terms[N];
    for (int k = 0; k <= 40; k++) {
        terms[3 * k] = calloc(64, 1);
        terms[3 * k + 1] = calloc(64, 1);
        terms[3 * k + 2] = calloc(64, 1);
        terms[3 * k][0] = 'p';
        memset(terms[3 * k] + 1, 'a', (size_t)k);          /* prefix grows */
        terms[3 * k + 1][0] = 'q';
        memset(terms[3 * k + 1] + 1, 'a' + k % 26, (size_t)k); /* suffix grows */
        snprintf(terms[3 * k + 2], 64, "r%02d%.*s", k, k, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz");
    }
    qsort(terms, N, sizeof *terms, cmp_str);
    dict_builder b;
    dict_builder_init(&b);
    for (uint32_t i = 0; i < N; i++) {
        idx_term e = {.df = i % 3 ? 1 : 2 + i, .cf = i % 3 ? 1 + i % 5 : 9 + 2 * i,
                      .docs_off = i, .pos_off = i, .single_doc = i, .single_pos = 7 * i};
        assert_int_equal(dict_builder_add(&b, (uint8_t *)terms[i], strlen(terms[i]), &e), 0);
    }
    uint8_t *idx = malloc(8 * b.nblocks);
    for (size_t k = 0; k < b.nblocks; k++) memcpy(idx + 8 * k, &b.blocks[k], 8);
    dict_view v = {b.buf, b.len, idx, b.nblocks, N, NULL, 0, 0};
    for (uint32_t i = 0; i < N; i++) {
        idx_term e;
        assert_int_equal(dict_lookup(&v, (uint8_t *)terms[i], strlen(terms[i]), &e), 1);
        assert_int_equal(e.df, i % 3 ? 1 : 2 + i);
        assert_int_equal(e.cf, i % 3 ? 1 + i % 5 : 9 + 2 * i);
        if (e.df == 1) assert_int_equal(e.single_doc, i);
        if (e.cf == 1) assert_int_equal(e.single_pos, 7 * i);
    }
    free(idx);
    dict_builder_free(&b);
    for (int i = 0; i < N; i++) free(terms[i]);
}

/* Tails of every length class around the thresholds at which they get a
 * coding byte (SEG_DOC_TAIL_PACK_MIN, SEG_POS_TAIL_PACK_MIN), alone and
 * after full blocks, sparse and dense. */
static void test_postings_tails(void **state)
{
    (void)state;
    static const uint32_t lens[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 100, 127};
    const size_t nl = sizeof lens / sizeof *lens;
    for (uint32_t after = 0; after <= 256; after += 128) {
        for (uint32_t ndocs = 200; ndocs <= 200000; ndocs *= 1000) {
            /* at most 10 terms a segment: "t10" would sort before "t2" */
            for (size_t from = 0; from < nl; from += 8) {
                size_t n = nl - from < 8 ? nl - from : 8;
                plist lists[8];
                for (size_t i = 0; i < n; i++)
                    plist_make(&lists[i], after + lens[from + i], ndocs + after,
                               i % 2 ? 3 : 40);
                idx_segment *s = write_segment(lists, n, ndocs + after);
                for (size_t i = 0; i < n; i++) {
                    char name[8];
                    snprintf(name, sizeof name, "t%zu", i);
                    check_list(s, name, &lists[i]);
                }
                idx_segment_close(s);
                for (size_t i = 0; i < n; i++) plist_free(&lists[i]);
            }
        }
    }
}

/* Both codings of a long enough tail occur: varints when the values are
 * skewed so that no single width fits them well, PFOR otherwise. */
static void test_tail_codings(void **state)
{
    (void)state;
    static const uint32_t skewed_pos[] = {100, 200, 300, 20300};
    static const uint32_t flat_pos[] = {1, 2, 3, 4};
    plist l[4];
    for (int i = 0; i < 4; i++) {
        l[i].df = i < 2 ? 1 : 8;
        l[i].docs = malloc(8 * 4);
        l[i].tfs = malloc(8 * 4);
        l[i].pos = malloc(8 * sizeof *l[i].pos);
        for (uint32_t k = 0; k < l[i].df; k++) {
            l[i].tfs[k] = i < 2 ? 4 : 1;
            l[i].pos[k] = malloc(4 * 4);
            memcpy(l[i].pos[k], i == 0 ? skewed_pos : i == 1 ? flat_pos
                                : (const uint32_t[]){0, 0, 0, 0}, 16);
            /* t2: gaps of 50 and one of 5000; t3: consecutive docs */
            l[i].docs[k] = i < 2 ? 7 : i == 2 ? 51 * k + (k == 7 ? 4950 : 0) : k;
        }
    }
    idx_segment *s = write_segment(l, 4, 6000);
    const int expect_varints[4] = {1, 0, 1, 0};
    for (int i = 0; i < 4; i++) {
        char name[8];
        snprintf(name, sizeof name, "t%d", i);
        check_list(s, name, &l[i]);
        idx_term t;
        assert_int_equal(idx_segment_lookup(s, name, strlen(name), &t), 1);
        const uint8_t *first = i < 2 ? s->sec[SEC_POS] + t.pos_off
                                     : s->sec[SEC_DOCS] + t.docs_off;
        assert_int_equal(*first == SEG_TAIL_VARINTS, expect_varints[i]);
    }
    idx_segment_close(s);
    for (int i = 0; i < 4; i++) plist_free(&l[i]);
}

/* Terms in one document keep it (and a single position) in the
 * dictionary: a segment of only such terms has empty docs and pos
 * sections, and every iterator call still works on them. */
static void test_singletons(void **state)
{
    (void)state;
    static const uint32_t tfs[] = {1, 1, 5, 1, 200};
    static const uint32_t docs[] = {0, 4999, 17, 70000, 3};
    plist l[5];
    for (int i = 0; i < 5; i++) {
        l[i].df = 1;
        l[i].docs = malloc(4);
        l[i].tfs = malloc(4);
        l[i].pos = malloc(sizeof *l[i].pos);
        l[i].docs[0] = docs[i];
        l[i].tfs[0] = tfs[i];
        l[i].pos[0] = malloc(tfs[i] * 4);
        for (uint32_t k = 0; k < tfs[i]; k++) l[i].pos[0][k] = i == 3 ? 1u << 30 : 3 * k + 2;
    }
    idx_segment *s = write_segment(l, 3, 80000);
    assert_int_equal(s->sec_len[SEC_DOCS], 0);
    assert_true(s->sec_len[SEC_POS] > 0 && s->sec_len[SEC_POS] < 16); /* t2 only */
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "t%d", i);
        check_list(s, name, &l[i]);
    }
    idx_segment_close(s);
    /* singletons between ordinary lists, large doc and position values */
    plist mixed[6];
    mixed[0] = l[3];
    plist_make(&mixed[1], 300, 80000, 9);
    mixed[2] = l[0];
    plist_make(&mixed[3], 2, 80000, 9);
    mixed[4] = l[4];
    mixed[5] = l[1];
    s = write_segment(mixed, 6, 80000);
    for (int i = 0; i < 6; i++) {
        char name[8];
        snprintf(name, sizeof name, "t%d", i);
        check_list(s, name, &mixed[i]);
    }
    idx_segment_close(s);
    plist_free(&mixed[1]);
    plist_free(&mixed[3]);
    for (int i = 0; i < 5; i++) plist_free(&l[i]);
}

/* ---- a renewed builder ----------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc(*len ? *len : 1);
    assert_int_equal(fread(p, 1, *len, f), *len);
    fclose(f);
    return p;
}

/* Documents from a small vocabulary with common words ("of the", "in a"),
 * so that CommonGrams pairs, terms of 9-16 and over 16 bytes, and long
 * posting lists all occur; `salt` varies the words between sets. */
/* Documents from .. to - 1 of the set `salt` names. */
static void add_docs_range(idx_builder *b, int from, int to, unsigned salt)
{
    static const char *words[] = {
        "the", "of", "in", "a", "and", "to", "whale", "ishmael", "queequeg",
        "harpooneer", "circumnavigation", "unconditionally", "sea", "ship",
        "extraordinarily-long-compound-word", "Café", "ﬁsh", "2016", "6:30",
    };
    const int nw = (int)(sizeof words / sizeof *words);
    char body[2048], title[64], id[32];
    for (int d = from; d < to; d++) {
        size_t len = 0;
        int n = 5 + (int)((d * 7 + salt) % 60);
        for (int k = 0; k < n; k++) {
            const char *w = words[(d * 31 + k * 17 + salt * 5 + (k * k) % 7) % nw];
            len += (size_t)snprintf(body + len, sizeof body - len, "%s%s", k ? " " : "", w);
        }
        snprintf(title, sizeof title, "%s %s", words[(d + salt) % nw], words[(d * 3) % nw]);
        snprintf(id, sizeof id, "doc-%u-%d", salt, d);
        quire_doc_input in = {id, strlen(id), title, strlen(title), body, len, NULL, 0};
        uint32_t doc;
        quire_error err;
        assert_int_equal(idx_builder_add(b, &in, &doc, &err), QUIRE_OK);
        assert_int_equal(doc, (uint32_t)d);
    }
}

static void add_docs(idx_builder *b, int ndocs, unsigned salt)
{
    add_docs_range(b, 0, ndocs, salt);
}

/* Writes at `path` the segment a new builder makes of add_docs(700, 2):
 * what a renewed or trimmed builder must write again. */
static void write_fresh(const char *path)
{
    quire_error err;
    idx_builder *b;
    assert_int_equal(idx_builder_new(QUIRE_TOK_DEFAULT, 0, path, &b, &err), QUIRE_OK);
    add_docs(b, 700, 2);
    assert_int_equal(idx_builder_flush(b, &err), QUIRE_OK);
    idx_builder_free(b);
}

static void assert_same_file(const char *x, const char *y)
{
    size_t la, lb;
    unsigned char *a = slurp(x, &la), *c = slurp(y, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, c, la);
    free(a);
    free(c);
}

/* The files of a renewal test: what a new builder writes (written here),
 * the first segment of the builder under test, and the segment it writes
 * renewed, which must be the same as the new builder's: fresh-NAME.qseg,
 * first-NAME.qseg and NAME.qseg. */
typedef struct renew_files {
    char fresh[128], first[128], renewed[128];
} renew_files;

static void renew_files_make(renew_files *f, const char *name)
{
    snprintf(f->fresh, sizeof f->fresh, "%s/fresh-%s.qseg", tmpdir, name);
    snprintf(f->first, sizeof f->first, "%s/first-%s.qseg", tmpdir, name);
    snprintf(f->renewed, sizeof f->renewed, "%s/%s.qseg", tmpdir, name);
    write_fresh(f->fresh);
}

static void test_builder_renew(void **state)
{
    (void)state;
    quire_error err;
    renew_files f;
    renew_files_make(&f, "renewed");
    idx_builder *b;

    /* a first segment with other documents and more terms, then the same
     * documents as the fresh builder's */
    assert_int_equal(idx_builder_new(QUIRE_TOK_DEFAULT, 0, f.first, &b, &err), QUIRE_OK);
    assert_int_equal(idx_builder_renew(b, f.renewed, &err), QUIRE_EARG);  /* not flushed */
    add_docs(b, 1500, 1);
    assert_int_equal(idx_builder_flush(b, &err), QUIRE_OK);
    assert_int_equal(idx_builder_renew(b, f.renewed, &err), QUIRE_OK);
    assert_int_equal(idx_builder_ndocs(b), 0);
    add_docs(b, 700, 2);
    assert_int_equal(idx_builder_flush(b, &err), QUIRE_OK);
    idx_builder_free(b);

    assert_same_file(f.fresh, f.renewed);
    idx_segment *s;
    assert_int_equal(idx_segment_open(tmpdir, "renewed.qseg", 1, &s, &err), QUIRE_OK);
    assert_int_equal(s->ndocs, 700);
    idx_segment_close(s);
}

/* A renewed builder keeps the pages its last segment wrote and counts
 * them against the budget (idx_builder_mem) until idx_builder_trim gives
 * them back: counted as used, they held the last segment's budget while
 * the session's id map took part of it.  Trimmed to nothing, the builder
 * holds what a new builder does (its hash table of 1,024 slots, counted
 * as fixed), and writes the same segment as a new builder. */
static void test_builder_trim(void **state)
{
    (void)state;
    quire_error err;
    renew_files f;
    renew_files_make(&f, "trimmed");
    idx_builder *b;

    assert_int_equal(idx_builder_new(QUIRE_TOK_DEFAULT, 0, f.first, &b, &err), QUIRE_OK);
    assert_int_equal(idx_builder_mem(b), 0);
    add_docs(b, 1500, 1);
    /* and 2,000 words of their own: the hash table grows past its first
     * 1,024 slots */
    for (int i = 0; i < 2000; i++) {
        char id[32], body[32];
        snprintf(id, sizeof id, "own-%d", i);
        snprintf(body, sizeof body, "word%d", i);
        quire_doc_input in = {id, strlen(id), NULL, 0, body, strlen(body), NULL, 0};
        uint32_t doc;
        assert_int_equal(idx_builder_add(b, &in, &doc, &err), QUIRE_OK);
    }
    size_t full = idx_builder_mem(b);
    assert_int_equal(idx_builder_flush(b, &err), QUIRE_OK);
    assert_int_equal(idx_builder_renew(b, f.renewed, &err), QUIRE_OK);
    size_t kept = idx_builder_mem(b);
    /* the pool written (most of it: 344,604 of 606,891 bytes here; 221,228
     * with the term state and hash table alone), the term state and the
     * hash table grown */
    assert_true(kept > full / 2);
    assert_true(kept < full);
    idx_builder_trim(b, kept);
    assert_int_equal(idx_builder_mem(b), kept);
    idx_builder_trim(b, kept - 1);
    assert_true(idx_builder_mem(b) < kept);
    idx_builder_trim(b, 0);
    assert_int_equal(idx_builder_mem(b), 0);
    add_docs(b, 700, 2);
    idx_builder_trim(b, 0);   /* documents added: not between segments */
    assert_true(idx_builder_mem(b) > 0);
    assert_int_equal(idx_builder_flush(b, &err), QUIRE_OK);
    idx_builder_free(b);

    assert_same_file(f.fresh, f.renewed);
}

/* A renewed builder gives back the pool pages its new segment has not
 * reached, which idx_builder_mem counted as used, and then writes the
 * same segment as a new builder, its pool growing into them again. */
static void test_builder_release(void **state)
{
    (void)state;
    quire_error err;
    renew_files f;
    renew_files_make(&f, "released");
    idx_builder *b;

    assert_int_equal(idx_builder_new(QUIRE_TOK_DEFAULT, 0, f.first, &b, &err), QUIRE_OK);
    add_docs(b, 60000, 1);
    assert_int_equal(idx_builder_release(b), 0);   /* a new builder kept nothing */
    assert_int_equal(idx_builder_flush(b, &err), QUIRE_OK);
    assert_int_equal(idx_builder_renew(b, f.renewed, &err), QUIRE_OK);
    add_docs_range(b, 0, 350, 2);
    size_t kept = idx_builder_mem(b);
    assert_int_equal(idx_builder_release(b), 1);
    size_t after = idx_builder_mem(b);
    /* the first segment's pool (4,586,736 bytes of streams) but the huge
     * page the new one is in; the term state and the table stay */
    assert_int_equal(kept - after, 4586736 - (2 << 20));
    assert_int_equal(idx_builder_release(b), 0);
    add_docs_range(b, 350, 700, 2);
    assert_int_equal(idx_builder_mem(b) > after, 1);
    assert_int_equal(idx_builder_flush(b, &err), QUIRE_OK);
    idx_builder_free(b);

    assert_same_file(f.fresh, f.renewed);
}

/* ---- merging: copied blocks against encoded ones ------------------------ */

/* Document g of the merge tests, the same whichever segment holds it:
 * "alpha" in every document and "beta" in every other, each once (lists
 * whose blocks and positions line up again at a segment of 256), "delta"
 * from document 556 on (first met past a base), and words w0..w19 a few
 * times each (lists longer than 128 and 256 in several segments, with
 * positions starting anywhere in a block). */
static void merge_doc(uint32_t g, char *body, size_t cap, char *id, size_t idcap)
{
    size_t len = (size_t)snprintf(body, cap, "alpha%s%s", g % 2 == 0 ? " beta" : "",
                                  g >= 556 && g % 4 == 0 ? " delta" : "");
    uint32_t h = g * 2654435761u;
    int n = 3 + (int)(h >> 28);
    for (int k = 0; k < n; k++) {
        h = h * 1103515245u + 12345u;
        uint32_t w = (h >> 16) % 20, reps = 1 + (h >> 8) % 3;
        for (uint32_t r = 0; r < reps; r++)
            len += (size_t)snprintf(body + len, cap - len, " w%u", w);
    }
    snprintf(id, idcap, "m-%u", g);
}

/* A builder for DIR/NAME fed documents [from, to) but those for which
 * dead(g), not flushed. */
static idx_builder *merge_builder(const char *name, uint32_t from, uint32_t to,
                                  int (*dead)(uint32_t))
{
    char path[256], body[512], id[32];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    idx_builder *b;
    quire_error err;
    assert_int_equal(idx_builder_new(QUIRE_TOK_DEFAULT, 0, path, &b, &err), QUIRE_OK);
    for (uint32_t g = from; g < to; g++) {
        if (dead && dead(g)) continue;
        merge_doc(g, body, sizeof body, id, sizeof id);
        quire_doc_input in = {id, strlen(id), NULL, 0, body, strlen(body), NULL, 0};
        uint32_t doc;
        assert_int_equal(idx_builder_add(b, &in, &doc, &err), QUIRE_OK);
    }
    return b;
}

/* Builds DIR/NAME from documents [from, to) but those for which dead(g). */
static void merge_build(const char *name, uint32_t from, uint32_t to, int (*dead)(uint32_t))
{
    idx_builder *b = merge_builder(name, from, to, dead);
    quire_error err;
    assert_int_equal(idx_builder_flush(b, &err), QUIRE_OK);
    idx_builder_free(b);
}

/* The same, written as segment version `version` (idx_builder_set_version). */
static void merge_build_version(const char *name, uint32_t from, uint32_t to, uint32_t version)
{
    idx_builder *b = merge_builder(name, from, to, NULL);
    quire_error err;
    assert_int_equal(idx_builder_set_version(b, version), 0);
    assert_int_equal(idx_builder_flush(b, &err), QUIRE_OK);
    idx_builder_free(b);
}

static int dead_some(uint32_t g)
{
    /* in the second and fifth segments (see test_merge_copies) */
    return ((g >= 256 && g < 556) || (g >= 1385 && g < 2385)) && g % 7 == 3;
}

static idx_segment *open_seg(const char *name)
{
    idx_segment *s;
    quire_error err;
    int rc = idx_segment_open(tmpdir, name, 1, &s, &err);
    if (rc) fprintf(stderr, "%s\n", err.message);
    assert_int_equal(rc, QUIRE_OK);
    return s;
}

/* The builder's posting streams (builder.c): a doc mark at a term's
 * first occurrence in a document, then its position gaps, each doc's tf
 * counted at the flush up to the next mark.  "alpha" takes tfs on both
 * sides of the 64 gaps read ahead (SEGW_POS_SLACK) and of a position
 * block, with gaps that take one varint byte and two; "gamma" opens every
 * third document; "beta" fills the gaps. */
static void test_builder_streams(void **state)
{
    (void)state;
    static const uint32_t tfs[] = {1, 0, 2, 63, 64, 65, 66, 127, 128, 129, 300, 1000, 3};
    const uint32_t ntf = sizeof tfs / sizeof *tfs, ndocs = 3 * ntf;
    const uint32_t first = idx_body_first_pos(0);
    char path[256], id[32];
    snprintf(path, sizeof path, "%s/streams.qseg", tmpdir);
    idx_builder *b;
    quire_error err;
    assert_int_equal(idx_builder_new(QUIRE_TOK_DEFAULT, 0, path, &b, &err), QUIRE_OK);
    plist alpha = {0}, gamma = {0};
    plist *lists[2] = {&alpha, &gamma};
    for (int i = 0; i < 2; i++) {
        lists[i]->docs = malloc(ndocs * sizeof *alpha.docs);
        lists[i]->tfs = malloc(ndocs * sizeof *alpha.tfs);
        lists[i]->pos = malloc(ndocs * sizeof *alpha.pos);
    }
    const size_t cap = 256 << 10;
    char *body = malloc(cap);
    for (uint32_t d = 0; d < ndocs; d++) {
        uint32_t tf = tfs[d % ntf], w = 0;
        size_t len = 0;
        if (d % 3 == 0) {
            gamma.docs[gamma.df] = d;
            gamma.tfs[gamma.df] = 1;
            gamma.pos[gamma.df] = malloc(sizeof(uint32_t));
            gamma.pos[gamma.df++][0] = first + w++;
            len += (size_t)snprintf(body + len, cap - len, "gamma ");
        }
        if (tf) {
            alpha.docs[alpha.df] = d;
            alpha.tfs[alpha.df] = tf;
            alpha.pos[alpha.df] = malloc(tf * sizeof(uint32_t));
        }
        for (uint32_t k = 0; k < tf; k++) {
            /* a gap past 63 takes two bytes once shifted for the mark bit */
            uint32_t fill = (k * 7 + d) % 5 == 0 ? 70 : (k + d) % 3;
            for (uint32_t f = 0; f < fill; f++, w++)
                len += (size_t)snprintf(body + len, cap - len, "beta ");
            alpha.pos[alpha.df][k] = first + w++;
            len += (size_t)snprintf(body + len, cap - len, "alpha ");
        }
        if (tf) alpha.df++;
        len += (size_t)snprintf(body + len, cap - len, "beta");
        assert_true(len < cap - 1);
        snprintf(id, sizeof id, "s%u", d);
        quire_doc_input in = {id, strlen(id), NULL, 0, body, len, NULL, 0};
        uint32_t doc;
        assert_int_equal(idx_builder_add(b, &in, &doc, &err), QUIRE_OK);
        assert_int_equal(doc, d);
    }
    free(body);
    assert_int_equal(idx_builder_flush(b, &err), QUIRE_OK);
    idx_builder_free(b);
    idx_segment *s = open_seg("streams.qseg");
    check_list(s, "alpha", &alpha);
    check_list(s, "gamma", &gamma);
    idx_segment_close(s);
    plist_free(&alpha);
    plist_free(&gamma);
}

/* Every section but the store's and the ids' (the merge keeps input store
 * blocks whole, the builder cuts its own) equal in a and b. */
static void same_postings(idx_segment *a, idx_segment *b)
{
    static const int secs[] = {SEC_META, SEC_DICT, SEC_DICTIDX, SEC_DOCS, SEC_SKIP, SEC_POS,
                               SEC_NORMS};
    for (size_t i = 0; i < sizeof secs / sizeof *secs; i++) {
        assert_int_equal(a->sec_len[secs[i]], b->sec_len[secs[i]]);
        assert_memory_equal(a->sec[secs[i]], b->sec[secs[i]], a->sec_len[secs[i]]);
    }
}

/* The same terms, counts, documents, tfs and positions in a and b, and the
 * same norms, however their blocks were cut. */
static void same_lists(idx_segment *a, idx_segment *b)
{
    assert_int_equal(a->ndocs, b->ndocs);
    assert_int_equal(a->nterms, b->nterms);
    assert_int_equal(a->npostings, b->npostings);
    assert_int_equal(a->npositions, b->npositions);
    assert_int_equal(a->total_len, b->total_len);
    assert_int_equal(a->sec_len[SEC_NORMS], b->sec_len[SEC_NORMS]);
    assert_memory_equal(a->sec[SEC_NORMS], b->sec[SEC_NORMS], a->sec_len[SEC_NORMS]);
    dict_iter ia, ib;
    dict_iter_init(&ia, &a->dict);
    dict_iter_init(&ib, &b->dict);
    int ra, rb;
    while ((ra = dict_iter_next(&ia)) == 1) {
        assert_int_equal((rb = dict_iter_next(&ib)), 1);
        assert_int_equal(ia.term_len, ib.term_len);
        assert_memory_equal(ia.term, ib.term, ia.term_len);
        assert_int_equal(ia.e.df, ib.e.df);
        assert_int_equal(ia.e.cf, ib.e.cf);
        idx_postings *pa, *pb;
        assert_int_equal(idx_postings_open(a, &ia.e, &pa), 0);
        assert_int_equal(idx_postings_open(b, &ib.e, &pb), 0);
        uint32_t n = 0;
        for (uint32_t d = idx_postings_doc(pa); d != IDX_END; d = idx_postings_next(pa), n++) {
            assert_int_equal(idx_postings_doc(pb), d);
            assert_int_equal(idx_postings_freq(pb), idx_postings_freq(pa));
            uint32_t na, nb;
            const uint32_t *xa = idx_postings_positions(pa, &na);
            assert_non_null(xa);
            uint32_t *copy = malloc(na * sizeof *copy);
            memcpy(copy, xa, na * sizeof *copy);
            const uint32_t *xb = idx_postings_positions(pb, &nb);
            assert_non_null(xb);
            assert_int_equal(na, nb);
            assert_memory_equal(copy, xb, na * sizeof *copy);
            free(copy);
            idx_postings_next(pb);
        }
        assert_int_equal(idx_postings_doc(pb), IDX_END);
        assert_int_equal(n, ia.e.df);
        idx_postings_close(pa);
        idx_postings_close(pb);
    }
    assert_int_equal(ra, 0);
    assert_int_equal(dict_iter_next(&ib), 0);
}

/* A merge writes the lists one builder given all the documents writes:
 * with the blocks of each segment without deletions copied whole, the
 * block being filled before them cut short (a list with short blocks),
 * their first block encoded again when its first gap moves (as for "beta"
 * and "delta"), and the other lists encoded again.  One, two and five
 * threads write the same file.  A merged segment, with its short blocks,
 * merges again with another into the same lists as one builder's. */
static void test_merge_copies(void **state)
{
    (void)state;
    static const uint32_t cut[] = {0, 256, 556, 1256, 1385, 2385, 2445};
    const size_t n = sizeof cut / sizeof *cut - 1;
    idx_segment *segs[8];
    uint64_t *dels[8] = {0}, *none[8] = {0};
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "mc%zu.qseg", i);
        merge_build(name, cut[i], cut[i + 1], NULL);
        segs[i] = open_seg(name);
        if (i == 1 || i == 4) {
            uint32_t nd = cut[i + 1] - cut[i];
            dels[i] = calloc((nd + 63) / 64, sizeof **dels);
            for (uint32_t d = 0; d < nd; d++)
                if (dead_some(cut[i] + d)) dels[i][d >> 6] |= 1ull << (d & 63);
        }
    }
    merge_build("mc_all.qseg", 0, cut[n], NULL);
    merge_build("mc_live.qseg", 0, cut[n], dead_some);
    idx_segment *all = open_seg("mc_all.qseg"), *live = open_seg("mc_live.qseg");
    /* the lists the copies are about */
    idx_term t;
    assert_int_equal(idx_segment_lookup(segs[0], "beta", 4, &t), 1);
    assert_int_equal(t.df, 128);
    assert_int_equal(idx_segment_lookup(segs[4], "w7", 2, &t), 1);
    assert_true(t.df > 256);
    quire_error err;
    uint32_t nd;
    static const unsigned nthreads[] = {1, 2, 5};
    for (size_t ti = 0; ti < 3; ti++) {
        unsigned threads = nthreads[ti];
        char name[32];
        snprintf(name, sizeof name, "mc_m%u.qseg", threads);
        assert_int_equal(idx_merge(tmpdir, segs, none, n, name, QUIRE_TOK_DEFAULT, threads,
                                   &nd, &err), QUIRE_OK);
        assert_int_equal(nd, cut[n]);
        idx_segment *m = open_seg(name);
        same_lists(all, m);
        /* alpha's longer lists were copied after short blocks */
        assert_int_equal(idx_segment_lookup(m, "alpha", 5, &t), 1);
        assert_true(t.cut_blocks > (t.df + IDX_BLOCK - 1) / IDX_BLOCK);
        idx_segment_close(m);
        snprintf(name, sizeof name, "mc_d%u.qseg", threads);
        assert_int_equal(idx_merge(tmpdir, segs, dels, n, name, QUIRE_TOK_DEFAULT, threads,
                                   &nd, &err), QUIRE_OK);
        assert_int_equal(nd, live->ndocs);
        m = open_seg(name);
        same_lists(live, m);
        idx_segment_close(m);
    }
    char p1[256], p2[256];
    const char *pairs[4][2] = {{"mc_m1.qseg", "mc_m2.qseg"}, {"mc_d1.qseg", "mc_d2.qseg"},
                               {"mc_m1.qseg", "mc_m5.qseg"}, {"mc_d1.qseg", "mc_d5.qseg"}};
    for (int k = 0; k < 4; k++) {
        snprintf(p1, sizeof p1, "%s/%s", tmpdir, pairs[k][0]);
        snprintf(p2, sizeof p2, "%s/%s", tmpdir, pairs[k][1]);
        assert_same_file(p1, p2);
    }
    /* the merged segment (short blocks, padded positions) merged again
     * with more documents, with and without the later's deletions */
    merge_build("mc_more.qseg", cut[n], cut[n] + 700, NULL);
    merge_build("mc_again_all.qseg", 0, cut[n] + 700, NULL);
    idx_segment *again[2] = {open_seg("mc_m1.qseg"), open_seg("mc_more.qseg")};
    assert_int_equal(idx_merge(tmpdir, again, none, 2, "mc_again.qseg", QUIRE_TOK_DEFAULT, 2,
                               &nd, &err), QUIRE_OK);
    idx_segment *ma = open_seg("mc_again.qseg"), *aa = open_seg("mc_again_all.qseg");
    same_lists(aa, ma);
    idx_segment_close(ma);
    idx_segment_close(aa);
    /* and with deletions in the merged segment: its lists with short
     * blocks are then read posting by posting, past their padding */
    uint64_t *again_dels[2] = {calloc((cut[n] + 63) / 64, sizeof **again_dels), NULL};
    for (uint32_t d = 0; d < cut[n]; d++)
        if (dead_some(d)) again_dels[0][d >> 6] |= 1ull << (d & 63);
    merge_build("mc_again_live.qseg", 0, cut[n] + 700, dead_some);
    assert_int_equal(idx_merge(tmpdir, again, again_dels, 2, "mc_again_d.qseg",
                               QUIRE_TOK_DEFAULT, 2, &nd, &err), QUIRE_OK);
    ma = open_seg("mc_again_d.qseg");
    aa = open_seg("mc_again_live.qseg");
    same_lists(aa, ma);
    idx_segment_close(ma);
    idx_segment_close(aa);
    free(again_dels[0]);
    idx_segment_close(again[0]);
    idx_segment_close(again[1]);
    idx_segment_close(all);
    idx_segment_close(live);
    for (size_t i = 0; i < n; i++) {
        idx_segment_close(segs[i]);
        free(dels[i]);
    }
}

/* sort_strings against a comparison sort: bytewise order, a prefix before
 * the longer strings it begins (also when they go on with zero bytes,
 * which the zero-padded keys cannot tell apart), equal strings by number;
 * runs sharing 8, 16 and 40 bytes; runs longer than insertion sorts and
 * than the first radix pass's threshold. */
typedef struct str_set {
    char **p;
    size_t *len;
} str_set;

static void str_set_at(const void *ctx, uint32_t i, const char **p, size_t *len)
{
    const str_set *s = ctx;
    *p = s->p[i];
    *len = s->len[i];
}

static const str_set *ref_set;

static int ref_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    size_t lx = ref_set->len[x], ly = ref_set->len[y], m = lx < ly ? lx : ly;
    int c = m ? memcmp(ref_set->p[x], ref_set->p[y], m) : 0;
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return (x > y) - (x < y);
}

static void test_sort_strings(void **state)
{
    (void)state;
    enum { N = 20000 };
    static const char *fixed[] = {"", "a", "a", "ab", "abcdefgh", "abcdefgh",
                                  "abcdefghi", "abcdefghij", "b"};
    const size_t nfixed = sizeof fixed / sizeof *fixed;
    str_set s = {calloc(N, sizeof *s.p), calloc(N, sizeof *s.len)};
    assert_non_null(s.p);
    assert_non_null(s.len);
    uint64_t r = 12345;
    for (uint32_t i = 0; i < N; i++) {
        char buf[64];
        size_t len;
        if (i < nfixed) {
            len = strlen(fixed[i]);
            memcpy(buf, fixed[i], len);
        } else if (i < nfixed + 6) {
            /* "abcdefgh" then zero bytes: equal keys, longer strings */
            len = 8 + (i - nfixed) % 3 + 1;
            memcpy(buf, "abcdefgh", 8);
            memset(buf + 8, 0, len - 8);
        } else {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            unsigned shared = (unsigned)(r >> 60) % 4;   /* 0, 8, 16 or 40 bytes */
            static const unsigned pre[] = {0, 8, 16, 40};
            memset(buf, 'x', pre[shared]);
            len = pre[shared] + (size_t)((r >> 20) % 9);
            for (size_t k = pre[shared]; k < len; k++) {
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                buf[k] = (char)('a' + (r >> 59) % 3);   /* few letters: many ties */
            }
        }
        s.p[i] = malloc(len ? len : 1);
        assert_non_null(s.p[i]);
        memcpy(s.p[i], buf, len);
        s.len[i] = len;
    }
    uint32_t *want = malloc(N * sizeof *want), *got = malloc(N * sizeof *got);
    assert_non_null(want);
    assert_non_null(got);
    for (uint32_t n = 0; n <= N; n = n ? n * 5 : 1) {
        for (uint32_t i = 0; i < n; i++) want[i] = i;
        ref_set = &s;
        qsort(want, n, sizeof *want, ref_cmp);
        assert_int_equal(sort_strings(n, str_set_at, &s, got), 0);
        assert_memory_equal(got, want, n * sizeof *got);
    }
    /* the fixed strings in order: "", "a" (0 before 1), ... */
    assert_int_equal(sort_strings((uint32_t)nfixed, str_set_at, &s, got), 0);
    static const uint32_t fixed_order[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_memory_equal(got, fixed_order, sizeof fixed_order);
    for (uint32_t i = 0; i < N; i++) free(s.p[i]);
    free(s.p);
    free(s.len);
    free(want);
    free(got);
}

/* A joint flush of three builders (three threads, each writing a range of
 * the terms) writes what one builder given all their documents writes,
 * but for the store's block boundaries; every stored document reads back,
 * and only the first builder's file is left.  The ranges fall where they
 * may: "w7" and the others are in every builder, "delta" only in the
 * last two.  With two threads (the writer's, when a lane took the end of
 * another's input) and with one, the file is the same. */
static void test_builder_joint(void **state)
{
    (void)state;
    static const uint32_t cut[] = {0, 256, 556, 1256};
    idx_builder *b[3];
    char name[32], path[256];
    quire_error err;
    for (int threads = 3; threads >= 1; threads--) {
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "mj%d_%d.qseg", threads, i);
            b[i] = merge_builder(name, cut[i], cut[i + 1], NULL);
        }
        assert_int_equal(idx_builder_flush_joint(b, 3, (size_t)threads, &err), QUIRE_OK);
        for (int i = 0; i < 3; i++) idx_builder_free(b[i]);
        for (int i = 1; i < 3; i++) {
            snprintf(path, sizeof path, "%s/mj%d_%d.qseg", tmpdir, threads, i);
            assert_int_equal(access(path, F_OK), -1);
        }
    }
    size_t len3, len;
    snprintf(path, sizeof path, "%s/mj3_0.qseg", tmpdir);
    unsigned char *f3 = slurp(path, &len3);
    for (int threads = 2; threads >= 1; threads--) {
        snprintf(path, sizeof path, "%s/mj%d_0.qseg", tmpdir, threads);
        unsigned char *f = slurp(path, &len);
        assert_int_equal(len, len3);
        assert_memory_equal(f, f3, len);
        free(f);
    }
    free(f3);
    merge_build("mj_all.qseg", 0, cut[3], NULL);
    idx_segment *j = open_seg("mj3_0.qseg"), *all = open_seg("mj_all.qseg");
    same_postings(all, j);
    assert_int_equal(j->sec_len[SEC_IDS], all->sec_len[SEC_IDS]);
    assert_memory_equal(j->sec[SEC_IDS], all->sec[SEC_IDS], all->sec_len[SEC_IDS]);
    for (uint32_t d = 0; d < cut[3]; d++) {
        uint8_t *r1, *r2;
        size_t l1, l2;
        assert_int_equal(idx_segment_doc_record(j, d, &r1, &l1, &err), QUIRE_OK);
        assert_int_equal(idx_segment_doc_record(all, d, &r2, &l2, &err), QUIRE_OK);
        assert_int_equal(l1, l2);
        assert_memory_equal(r1, r2, l1);
        free(r1);
        free(r2);
    }
    assert_int_equal(idx_segment_check_sums(j, 1, &err), QUIRE_OK);
    idx_segment_close(j);
    idx_segment_close(all);
}

/* Merges a copy of DIR/mx0.qseg with byte `at` xor-ed with `x`, opened
 * without checksums as a segment of this session is, and DIR/mx1.qseg. */
static int merge_damaged(const unsigned char *file, size_t len, size_t at, unsigned char x,
                         idx_segment *second)
{
    char path[256];
    snprintf(path, sizeof path, "%s/mxbad.qseg", tmpdir);
    unsigned char *c = malloc(len);
    memcpy(c, file, len);
    c[at] ^= x;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(c, 1, len, f), len);
    fclose(f);
    free(c);
    idx_segment *segs[2];
    uint64_t *dels[2] = {0};
    quire_error err;
    assert_int_equal(idx_segment_open(tmpdir, "mxbad.qseg", 0, &segs[0], &err), QUIRE_OK);
    segs[1] = second;
    uint32_t nd;
    int rc = idx_merge(tmpdir, segs, dels, 2, "mxout.qseg", QUIRE_TOK_DEFAULT, 1, &nd, &err);
    idx_segment_close(segs[0]);
    return rc;
}

/* Damaged blocks of a list the merge copies: a skip entry that disagrees
 * with its block is refused, and no damage to the blocks themselves makes
 * it read astray (under ASan) or fail other than with QUIRE_ECORRUPT. */
static void test_merge_copy_damaged(void **state)
{
    (void)state;
    merge_build("mx0.qseg", 0, 700, NULL);
    merge_build("mx1.qseg", 700, 1000, NULL);
    idx_segment *s0 = open_seg("mx0.qseg"), *s1 = open_seg("mx1.qseg");
    idx_term t;
    assert_int_equal(idx_segment_lookup(s0, "w3", 2, &t), 1);
    assert_true(t.df > 256);
    size_t docs = (size_t)(s0->sec[SEC_DOCS] - s0->m.data) + t.docs_off;
    size_t skip = (size_t)(s0->sec[SEC_SKIP] - s0->m.data) + t.skip_off;
    size_t pos = (size_t)(s0->sec[SEC_POS] - s0->m.data) + t.pos_off;
    char path[256];
    snprintf(path, sizeof path, "%s/mx0.qseg", tmpdir);
    size_t len;
    unsigned char *file = slurp(path, &len);
    assert_int_equal(merge_damaged(file, len, 0, 0, s1), QUIRE_OK);
    /* the last doc, the offset, the first position, its block (each one
     * off by one, its lowest bit flipped), the tf code of the second
     * impact point (the largest tf) of the second block */
    seg_skip k = {0};
    assert_int_equal(seg_skip_open(&k, s0->sec[SEC_SKIP], s0->sec_len[SEC_SKIP], t.skip_off,
                                   idx_term_blocks(&t), s0->version), 0);
    for (unsigned f = 0; f < 4; f++) {
        uint64_t o = k.at[f] + k.step[f];
        assert_true(k.mask[f] != 0);
        assert_int_equal(merge_damaged(file, len, skip + o / 8, (unsigned char)(1u << (o % 8)),
                                       s1), QUIRE_ECORRUPT);
    }
    assert_int_equal(merge_damaged(file, len, skip + (size_t)(seg_skip_imp(&k, 1) - k.p) + 2, 1,
                                   s1), QUIRE_ECORRUPT);
    /* a width past 32 bits */
    assert_int_equal(merge_damaged(file, len, skip + SEG_SKIP_DOCS, 0x40, s1), QUIRE_ECORRUPT);
    for (size_t at = 0; at < 300; at += 3) {
        int rc = merge_damaged(file, len, docs + at, (unsigned char)(1u << (at % 8)), s1);
        assert_true(rc == QUIRE_OK || rc == QUIRE_ECORRUPT);
        rc = merge_damaged(file, len, pos + at, (unsigned char)(1u << (at % 8)), s1);
        assert_true(rc == QUIRE_OK || rc == QUIRE_ECORRUPT);
    }
    free(file);
    /* the same for a list with short blocks: alpha, merged from mx0 (5
     * blocks and 60), mx1 (300, encoded again) and mx2 (700, copied after
     * a short block of 104), merged again and read */
    merge_build("mx2.qseg", 1000, 1700, NULL);
    idx_segment *s2 = open_seg("mx2.qseg"), *three[3] = {s0, s1, s2};
    uint64_t *nodel[3] = {0};
    quire_error err;
    uint32_t nd;
    assert_int_equal(idx_merge(tmpdir, three, nodel, 3, "mxm.qseg", QUIRE_TOK_DEFAULT, 1, &nd,
                               &err), QUIRE_OK);
    idx_segment *m = open_seg("mxm.qseg");
    assert_int_equal(idx_segment_lookup(m, "alpha", 5, &t), 1);
    /* 5 full, 2 full, a short one of 104, 5 full and the last one of 60 */
    assert_int_equal(t.cut_blocks, 14);
    docs = (size_t)(m->sec[SEC_DOCS] - m->m.data) + t.docs_off;
    skip = (size_t)(m->sec[SEC_SKIP] - m->m.data) + t.skip_off;
    pos = (size_t)(m->sec[SEC_POS] - m->m.data) + t.pos_off;
    snprintf(path, sizeof path, "%s/mxm.qseg", tmpdir);
    file = slurp(path, &len);
    assert_int_equal(merge_damaged(file, len, 0, 0, s1), QUIRE_OK);
    size_t spots[] = {docs, skip, pos};
    for (size_t sp = 0; sp < 3; sp++) {
        for (size_t at = 0; at < 14 * SEG_SKIP_ENTRY; at += 5) {
            int rc = merge_damaged(file, len, spots[sp] + at, (unsigned char)(1u << (at % 8)),
                                   s1);
            assert_true(rc == QUIRE_OK || rc == QUIRE_ECORRUPT);
            /* and a reader walking the damaged list stays inside the file */
            idx_segment *b;
            assert_int_equal(idx_segment_open(tmpdir, "mxbad.qseg", 0, &b, &err), QUIRE_OK);
            idx_term bt;
            idx_postings *p;
            if (idx_segment_lookup(b, "alpha", 5, &bt) == 1 && idx_postings_open(b, &bt, &p) == 0) {
                for (uint32_t d = idx_postings_doc(p); d != IDX_END; d = idx_postings_next(p)) {
                    uint32_t np;
                    idx_postings_positions(p, &np);
                }
                idx_postings_close(p);
            }
            idx_segment_close(b);
        }
    }
    free(file);
    idx_segment_close(m);
    idx_segment_close(s2);
    idx_segment_close(s0);
    idx_segment_close(s1);
}


/* Impact codes round a tf up and a length down to the nearest code, and
 * grow with their code. */
static void test_impact_codes(void **state)
{
    (void)state;
    for (uint32_t c = 1; c < SEG_TF_CODE_NONE; c++)
        assert_true(seg_tf_value(c) > seg_tf_value(c - 1));
    for (uint32_t c = 1; c < 512; c++) assert_true(seg_len_value(c) > seg_len_value(c - 1));
    for (uint64_t v = 0; v < 3000000; v += v < 5000 ? 1 : 1 + v / 997) {
        uint32_t tc = seg_tf_code((uint32_t)v), lc = seg_len_code((uint32_t)v);
        assert_true(tc <= SEG_TF_CODE_NONE && lc < 512);
        assert_true(seg_tf_value(tc) >= v);
        if (tc > 0) assert_true(seg_tf_value(tc - 1) < v);
        if (v <= 1920) assert_true(tc < SEG_TF_CODE_NONE);
        assert_true(seg_len_value(lc) <= v);
        if (lc < 511) assert_true(seg_len_value(lc + 1) > v);
        if (v < 32) assert_int_equal(seg_tf_value(tc), v);
        if (v < 128) assert_int_equal(seg_len_value(lc), v);
        if (v >= 128 && v <= 516096) assert_true(seg_len_value(lc) * 1.032 > (double)v);
    }
    assert_int_equal(seg_tf_code(UINT32_MAX), SEG_TF_CODE_NONE);
    assert_int_equal(seg_tf_value(SEG_TF_CODE_NONE), UINT32_MAX);
    assert_int_equal(seg_len_value(seg_len_code(UINT32_MAX)), 516096);
}

/* Every document of a block lies under one of the two impact points
 * seg_impacts_choose picks, the second has the largest tf's code and the
 * first the smallest length's, and a block whose split cannot lower the
 * bound (one tf) gets its corner twice. */
static void test_impacts_cover(void **state)
{
    (void)state;
    uint32_t norms[4096], docs[128], tfs[128];
    for (uint32_t d = 0; d < 4096; d++)
        norms[d] = d % 3 ? 1 + rnd() % 200 : rnd() % 4 ? 50 + rnd() % 5000 : rnd();
    for (int round = 0; round < 20000; round++) {
        uint32_t n = 1 + rnd() % 128, max_tf = 0, min_len = UINT32_MAX;
        uint32_t spread = round % 4 == 0 ? 1 : round % 4 == 1 ? 4 : round % 4 == 2 ? 60 : 5000;
        for (uint32_t i = 0; i < n; i++) {
            docs[i] = rnd() % 4100;   /* a few past the norms: length 0 */
            tfs[i] = spread == 1 ? 1 : 1 + (rnd() % 3 ? rnd() % spread : rnd() % (spread * 8));
            uint32_t len = docs[i] < 4096 ? norms[docs[i]] : 0;
            if (tfs[i] > max_tf) max_tf = tfs[i];
            if (len < min_len) min_len = len;
        }
        uint8_t b[4];
        seg_impacts_choose(docs, tfs, n, (const uint8_t *)norms, 4096, 0.75 / 300.0, b);
        uint32_t tf[2], len[2];
        seg_impacts_read(b, tf, len);
        assert_int_equal(tf[1], seg_tf_value(seg_tf_code(max_tf)));
        assert_int_equal(len[0], seg_len_value(seg_len_code(min_len)));
        assert_true(tf[0] <= tf[1] && len[0] <= len[1]);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t l = docs[i] < 4096 ? norms[docs[i]] : 0;
            assert_true((tfs[i] <= tf[0] && l >= len[0]) || (tfs[i] <= tf[1] && l >= len[1]));
        }
        if (spread == 1) assert_true(tf[0] == tf[1] && len[0] == len[1]);
    }
}

/* Every document of every block of every list of s lies under one of the
 * block's impacts; with `corners`, both points are the block's largest tf
 * and smallest length, exactly (a version 3 segment's bound). */
static void check_impacts(idx_segment *s, int corners)
{
    dict_iter it;
    dict_iter_init(&it, &s->dict);
    uint64_t blocks = 0;
    while (dict_iter_next(&it) == 1) {
        idx_postings *p, *q;
        assert_int_equal(idx_postings_open(s, &it.e, &p), 0);
        assert_int_equal(idx_postings_open(s, &it.e, &q), 0);
        idx_impacts imp = {{0, 0}, {0, 0}};
        uint32_t last = 0, max_tf = 0, min_len = UINT32_MAX;
        int started = 0;
        for (uint32_t d = idx_postings_doc(p); d != IDX_END; d = idx_postings_next(p)) {
            if (!started || d > last) {
                if (started && corners) {
                    assert_true(imp.tf[0] == max_tf && imp.tf[1] == max_tf);
                    assert_true(imp.len[0] == min_len && imp.len[1] == min_len);
                }
                last = idx_postings_shallow_impacts(q, d, &imp);
                assert_true(last != IDX_END && last >= d);
                max_tf = 0;
                min_len = UINT32_MAX;
                started = 1;
                blocks++;
            }
            uint32_t tf = idx_postings_freq(p), len = idx_segment_doclen(s, d);
            if (tf > max_tf) max_tf = tf;
            if (len < min_len) min_len = len;
            assert_true((tf <= imp.tf[0] && len >= imp.len[0]) ||
                        (tf <= imp.tf[1] && len >= imp.len[1]));
        }
        idx_postings_close(p);
        idx_postings_close(q);
    }
    assert_true(blocks > 50);   /* 66 blocks in 700 documents of merge_doc */
}

/* Rewrites DIR/NAME, a version 4 segment, as a version 3 one: each skip entry's impacts
 * become the block's u16 largest tf and smallest length, and the checksums
 * of the skip section and of the footer are made again. */
static void make_version3(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    size_t len;
    unsigned char *f = slurp(path, &len);
    idx_segment *s = open_seg(name);
    assert_int_equal(s->version, 4);
    size_t skip_at = (size_t)(s->sec[SEC_SKIP] - s->m.data);
    dict_iter it;
    dict_iter_init(&it, &s->dict);
    uint64_t rewritten = 0;
    while (dict_iter_next(&it) == 1) {
        if (it.e.df <= IDX_BLOCK) continue;
        assert_int_equal(it.e.cut_blocks, 0);
        idx_postings *p;
        assert_int_equal(idx_postings_open(s, &it.e, &p), 0);
        uint32_t k = 0, max_tf = 0, min_len = UINT32_MAX;
        for (uint32_t d = idx_postings_doc(p);; d = idx_postings_next(p)) {
            if (d != IDX_END) {
                uint32_t tf = idx_postings_freq(p), l = idx_segment_doclen(s, d);
                if (tf > max_tf) max_tf = tf;
                if (l < min_len) min_len = l;
                k++;
            }
            if (k > 0 && (k % IDX_BLOCK == 0 || d == IDX_END)) {
                uint16_t mt = (uint16_t)(max_tf < 0xffff ? max_tf : 0xffff);
                uint16_t ml = (uint16_t)(min_len < 0xffff ? min_len : 0xffff);
                size_t at = skip_at + it.e.skip_off +
                            (size_t)((k - 1) / IDX_BLOCK) * SEG_SKIP_ENTRY + 16;
                memcpy(f + at, &mt, 2);
                memcpy(f + at + 2, &ml, 2);
                rewritten++;
                max_tf = 0;
                min_len = UINT32_MAX;
            }
            if (d == IDX_END) break;
        }
        idx_postings_close(p);
    }
    assert_true(rewritten > 10);
    idx_segment_close(s);
    uint8_t v3[4] = {3, 0, 0, 0};
    memcpy(f + 8, v3, 4);
    const unsigned char *tr = f + len - SEG_TRAILER_BYTES;
    uint64_t foff = ld64(tr);
    uint32_t nsec = ld32(f + foff);
    for (uint32_t i = 0; i < nsec; i++) {
        const unsigned char *e = f + foff + 8 + 32 * i;
        if (ld32(e) == SEC_SKIP) {
            assert_int_equal(ld64(e + 8), skip_at);
        }
    }
    reseal(f, len);
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(f, 1, len, out), len);
    fclose(out);
    free(f);
}

/* A version 3 segment reads with its one bound per block as both impacts,
 * and a version 4 one (skip entries of 20 bytes) with its two points; each
 * merges with a segment of this version into the lists a merge of two of
 * this version's writes, the entries it copies rewritten as this
 * version's. */
static void test_skip_versions(void **state)
{
    (void)state;
    merge_build_version("v3a.qseg", 0, 700, 4);
    merge_build_version("v4a.qseg", 0, 700, 4);
    merge_build("v5a.qseg", 0, 700, NULL);
    merge_build("v5b.qseg", 700, 1000, NULL);
    make_version3("v3a.qseg");
    idx_segment *a[3] = {open_seg("v3a.qseg"), open_seg("v4a.qseg"), open_seg("v5a.qseg")};
    idx_segment *b = open_seg("v5b.qseg");
    assert_int_equal(a[0]->version, 3);
    assert_int_equal(a[1]->version, 4);
    assert_int_equal(a[2]->version, SEG_VERSION);
    assert_true(SEG_VERSION > 4);
    /* the same entries, the current ones packed in fewer bytes */
    assert_true(a[2]->sec_len[SEC_SKIP] * 10 < a[1]->sec_len[SEC_SKIP] * 7);
    assert_int_equal(a[0]->sec_len[SEC_SKIP], a[1]->sec_len[SEC_SKIP]);
    check_impacts(a[0], 1);
    check_impacts(a[1], 0);
    check_impacts(a[2], 0);
    same_lists(a[1], a[2]);
    idx_segment *m[3];
    for (int v = 0; v < 3; v++) {
        idx_segment *segs[2] = {a[v], b};
        uint64_t *dels[2] = {0};
        quire_error err;
        uint32_t nd;
        char name[32];
        snprintf(name, sizeof name, "m%d.qseg", v);
        assert_int_equal(idx_merge(tmpdir, segs, dels, 2, name, QUIRE_TOK_DEFAULT, 1, &nd, &err),
                         QUIRE_OK);
        m[v] = open_seg(name);
        assert_int_equal(m[v]->version, SEG_VERSION);
        check_impacts(m[v], 0);
    }
    same_lists(m[0], m[2]);
    same_lists(m[1], m[2]);
    /* with version 4's impacts copied, a merge writes the same bytes */
    same_postings(m[1], m[2]);
    for (int v = 0; v < 3; v++) {
        idx_segment_close(m[v]);
        idx_segment_close(a[v]);
    }
    idx_segment_close(b);
}

/* pwrite_uncached: the bytes land where asked, in one call or several;
 * where the file system cannot write past the page cache (tmpfs) it
 * says so by clearing the flag and writes through it; a real write error
 * is reported, not taken for a missing feature. */
static void uncached_round_trip(const char *path, int expect_flag)
{
    quire_error err;
    static uint8_t a[300000], b[sizeof a + 4099];
    for (size_t i = 0; i < sizeof a; i++) a[i] = (uint8_t)(rnd() >> 7);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    int uncached = 1;
    /* an unaligned offset, then the rest in a second call */
    assert_int_equal(pwrite_uncached(fd, a, 1000, 4099, &uncached, path, &err), QUIRE_OK);
    assert_int_equal(pwrite_uncached(fd, a + 1000, sizeof a - 1000, 4099 + 1000, &uncached,
                                     path, &err), QUIRE_OK);
    if (expect_flag >= 0) assert_int_equal(uncached, expect_flag);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 4099 + sizeof a);
    assert_int_equal(pread(fd, b, sizeof b, 0), 4099 + sizeof a);
    for (size_t i = 0; i < 4099; i++) assert_int_equal(b[i], 0);
    assert_memory_equal(b + 4099, a, sizeof a);
    close(fd);
    unlink(path);
}

static void test_pwrite_uncached(void **state)
{
    (void)state;
    char path[128];
    /* /tmp: uncached where the kernel (6.14+) and file system offer it */
    snprintf(path, sizeof path, "%s/uncached", tmpdir);
    uncached_round_trip(path, -1);
    /* tmpfs has no uncached writes: the flag is cleared, nothing lost */
    char shm[] = "/dev/shm/quire-test-uncached-XXXXXX";
    int sfd = mkstemp(shm);
    if (sfd >= 0) {
        close(sfd);
        uncached_round_trip(shm, 0);
    }
    /* a descriptor open for reading only: an error with the path */
    quire_error err;
    snprintf(path, sizeof path, "%s/readonly", tmpdir);
    int fd = open(path, O_RDONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    int uncached = 1;
    uint8_t x = 1;
    assert_int_equal(pwrite_uncached(fd, &x, 1, 0, &uncached, path, &err), QUIRE_EIO);
    assert_non_null(strstr(err.message, "readonly"));
    close(fd);
    unlink(path);
}

/* huge_grow keeps the bytes written while it grows: in place within its
 * reserved span (the address does not change), and when a size past the
 * span moves it. */
static void test_huge_grow(void **state)
{
    (void)state;
    uint8_t *p = NULL;
    size_t cap = 0;
    assert_int_equal(huge_grow((void **)&p, &cap, 1), 0);
    assert_int_equal(cap, (size_t)64 << 10);
    uint8_t *first = p;
    p[0] = 1;
    p[cap - 1] = 2;
    assert_int_equal(huge_grow((void **)&p, &cap, cap + 1), 0);
    assert_int_equal(cap, (size_t)128 << 10);
    assert_ptr_equal(p, first);
    p[cap - 1] = 3;
    /* a jump from 128 KiB past the span, to twice the span */
    size_t past = HUGE_SPAN + 1;
    assert_int_equal(huge_grow((void **)&p, &cap, past), 0);
    assert_int_equal(cap, 2 * HUGE_SPAN);
    assert_int_equal(p[0], 1);
    assert_int_equal(p[(64 << 10) - 1], 2);
    assert_int_equal(p[(128 << 10) - 1], 3);
    assert_int_equal(p[128 << 10], 0);
    p[cap - 1] = 4;
    assert_int_equal(huge_grow((void **)&p, &cap, cap + 1), 0);
    assert_int_equal(cap, 4 * HUGE_SPAN);
    assert_int_equal(p[0], 1);
    assert_int_equal(p[2 * HUGE_SPAN - 1], 4);
    huge_grow_free(p, cap);
    /* grown step by step up to the span: one place all along */
    p = NULL;
    cap = 0;
    assert_int_equal(huge_grow((void **)&p, &cap, 1), 0);
    first = p;
    while (cap < HUGE_SPAN) {
        p[cap - 1] = (uint8_t)cap;
        assert_int_equal(huge_grow((void **)&p, &cap, cap + 1), 0);
        assert_ptr_equal(p, first);
    }
    for (size_t c = (size_t)64 << 10; c < cap; c *= 2) assert_int_equal(p[c - 1], (uint8_t)c);
    huge_grow_free(p, cap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_every_width),
        cmocka_unit_test(test_pfor_exceptions),
        cmocka_unit_test(test_pfor_block_path),
        cmocka_unit_test(test_dict_lookups),
        cmocka_unit_test(test_dict_edges),
        cmocka_unit_test(test_postings_block_edges),
        cmocka_unit_test(test_postings_dense),
        cmocka_unit_test(test_postings_tails),
        cmocka_unit_test(test_tail_codings),
        cmocka_unit_test(test_singletons),
        cmocka_unit_test(test_dict_length_forms),
        cmocka_unit_test(test_builder_renew),
        cmocka_unit_test(test_builder_trim),
        cmocka_unit_test(test_builder_release),
        cmocka_unit_test(test_builder_streams),
        cmocka_unit_test(test_huge_grow),
        cmocka_unit_test(test_merge_copies),
        cmocka_unit_test(test_sort_strings),
        cmocka_unit_test(test_builder_joint),
        cmocka_unit_test(test_merge_copy_damaged),
        cmocka_unit_test(test_pwrite_uncached),
        cmocka_unit_test(test_impact_codes),
        cmocka_unit_test(test_impacts_cover),
        cmocka_unit_test(test_skip_versions),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
