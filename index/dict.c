/*
 * dict.c — front-coded term dictionary.
 *
 * Layout of the "dict" section: blocks of up to 16 entries, back to back.
 * Entry (all varints LEB128):
 *     lengths     prefix, the bytes shared with the previous term of the
 *                 block (0 for the first entry of a block, so every block
 *                 starts with a whole term that binary search can read),
 *                 and suffix_len: one byte prefix << 4 | suffix_len when
 *                 prefix < 15 and suffix_len < 16 (most terms are short),
 *                 else the byte 0xf0 and two varints prefix, suffix_len
 *     suffix bytes
 *     df == 1 ? (cf - 1) << 1 | 1 : df << 1      one varint; then
 *     cf - df                        only when df > 1
 *     docs_off - base.docs_off       or, when df == 1, the document
 *     pos_off - base.pos_off         or, when cf == 1, the position
 *     skip_off - base.skip_off       only when df > 128; from segment
 *                                    version 2 shifted left by one (in
 *                                    skip entries of 20 bytes before
 *                                    version 5, in bytes since), the low bit set
 *                                    for a list with short blocks, which
 *                                    is followed by
 *     number of blocks               only for such a list
 * The base offsets are 0 at a block start and then the last entry's that
 * stored that offset (for skip_off: the previous entry that had one), so
 * offsets are stored as small deltas but each block decodes on its own.
 * Terms in one document (more than half of all terms) keep their posting,
 * and if they occur once their position, here instead of in "docs"/"pos",
 * which saves those sections' bytes and the offset deltas pointing to them
 * (Lucene's "pulsing" / singleton doc id).
 * The "dictidx" section is nblocks little-endian u64 block start offsets.
 */
#include "index/dict.h"

#include <stdlib.h>
#include <string.h>

#include "index/segment.h"
#include "index/util.h"

#define DICT_LONG_LENGTHS 0xf0u  /* lengths byte: two varints follow */

void dict_builder_init(dict_builder *b)
{
    memset(b, 0, sizeof *b);
    b->skip_unit = 1;
}

void dict_builder_free(dict_builder *b)
{
    free(b->buf);
    free(b->blocks);
    memset(b, 0, sizeof *b);
}

static int reserve(dict_builder *b, size_t extra)
{
    return grow_array((void **)&b->buf, &b->cap, b->len + extra, 1, 4096);
}

int dict_builder_add(dict_builder *b, const uint8_t *term, size_t len,
                     const idx_term *e)
{
    if (len > DICT_MAX_TERM) return -2;
    if (e->df > IDX_BLOCK && e->skip_off % b->skip_unit) return -2;
    size_t common = 0;
    if (b->nterms > 0) {
        size_t m = len < b->prev_len ? len : b->prev_len;
        while (common < m && term[common] == b->prev[common]) common++;
        /* strictly increasing: equal terms or a smaller one are bugs */
        if (common == len || (common < b->prev_len && term[common] < b->prev[common]))
            return -2;
    }
    if (b->nterms % SEG_DICT_BLOCK == 0) {
        if (grow_array((void **)&b->blocks, &b->blocks_cap, b->nblocks + 1,
                       sizeof *b->blocks, 256))
            return -1;
        b->blocks[b->nblocks++] = b->len;
        common = 0;
        memset(&b->base, 0, sizeof b->base);
    }
    if (reserve(b, len + 8 * 10)) return -1;
    uint8_t *p = b->buf + b->len;
    if (common < 15 && len - common < 16) {
        *p++ = (uint8_t)(common << 4 | (len - common));
    } else {
        *p++ = DICT_LONG_LENGTHS;
        p = varint_put(p, common);
        p = varint_put(p, len - common);
    }
    memcpy(p, term + common, len - common);
    p += len - common;
    /* more than half of all terms are in one document: their cf rides
     * in the df varint */
    if (e->df == 1) {
        p = varint_put(p, (e->cf - 1) << 1 | 1);
    } else {
        p = varint_put(p, (uint64_t)e->df << 1);
        p = varint_put(p, e->cf - e->df);
    }
    if (e->df == 1) {
        p = varint_put(p, e->single_doc);
    } else {
        p = varint_put(p, e->docs_off - b->base.docs_off);
        b->base.docs_off = e->docs_off;
    }
    if (e->cf == 1) {
        p = varint_put(p, e->single_pos);
    } else {
        p = varint_put(p, e->pos_off - b->base.pos_off);
        b->base.pos_off = e->pos_off;
    }
    if (e->df > IDX_BLOCK) {
        p = varint_put(p, (e->skip_off - b->base.skip_off) / b->skip_unit << 1 |
                              (e->cut_blocks != 0));
        if (e->cut_blocks) p = varint_put(p, e->cut_blocks);
        b->base.skip_off = e->skip_off;
    }
    b->len = (size_t)(p - b->buf);
    memcpy(b->prev, term, len);
    b->prev_len = len;
    b->nterms++;
    return 0;
}

/* Reads an entry's prefix and suffix lengths (see the layout above). */
static const uint8_t *get_lengths(const uint8_t *p, const uint8_t *end,
                                  uint64_t *prefix, uint64_t *suffix)
{
    if (p >= end) return NULL;
    uint8_t h = *p++;
    if (h != DICT_LONG_LENGTHS) {
        if (h > DICT_LONG_LENGTHS) return NULL;
        *prefix = h >> 4;
        *suffix = h & 15;
        return p;
    }
    if (!(p = varint_get(p, end, prefix))) return NULL;
    return varint_get(p, end, suffix);
}

/* Decodes an entry's statistics and offsets (everything after its term
 * bytes) at *pp, advancing the block's delta bases. */
static int decode_stats(const dict_view *v, const uint8_t **pp, const uint8_t *end,
                        idx_term *e, idx_term *base)
{
    const uint8_t *p = *pp;
    uint64_t df, extra, d1, d2, d3 = 0, cut = 0;
    if (!(p = varint_get(p, end, &df))) return -1;
    if (df & 1) {
        extra = df >> 1;   /* cf - 1 of a one-document term */
        df = 1;
    } else {
        df >>= 1;
        if (!(p = varint_get(p, end, &extra))) return -1;
    }
    if (!(p = varint_get(p, end, &d1))) return -1;
    if (!(p = varint_get(p, end, &d2))) return -1;
    if (df == 0 || df > UINT32_MAX || extra > UINT64_MAX - df) return -1;
    if (df > IDX_BLOCK && !(p = varint_get(p, end, &d3))) return -1;
    if (df > IDX_BLOCK && !v->v1) {
        /* short blocks only add to the (df + 127) / 128 blocks of full ones */
        if ((d3 & 1) && (!(p = varint_get(p, end, &cut)) ||
                         cut < (df + IDX_BLOCK - 1) / IDX_BLOCK || cut > df))
            return -1;
        uint64_t unit = v->skip_entries ? SEG_SKIP_ENTRY : 1;
        if ((d3 >>= 1) > UINT64_MAX / unit) return -1;
        d3 *= unit;
    }
    e->df = (uint32_t)df;
    e->cut_blocks = (uint32_t)cut;
    e->cf = df + extra;
    e->single_doc = e->single_pos = 0;
    if (df == 1) {
        if (d1 > UINT32_MAX) return -1;
        e->single_doc = (uint32_t)d1;
        e->docs_off = base->docs_off;
    } else {
        e->docs_off = base->docs_off + d1;
        base->docs_off = e->docs_off;
    }
    if (e->cf == 1) {
        if (d2 > UINT32_MAX) return -1;
        e->single_pos = (uint32_t)d2;
        e->pos_off = base->pos_off;
    } else {
        e->pos_off = base->pos_off + d2;
        base->pos_off = e->pos_off;
    }
    if (df > IDX_BLOCK) {
        e->skip_off = base->skip_off + d3;
        base->skip_off = e->skip_off;
    } else {
        e->skip_off = 0;
    }
    *pp = p;
    return 0;
}

/* Decodes one entry at *pp given the previous term in term/term_len. */
static int decode_entry(const dict_view *v, const uint8_t **pp, const uint8_t *end,
                        uint8_t *term, size_t *term_len, idx_term *e, idx_term *base)
{
    const uint8_t *p = *pp;
    uint64_t prefix, suffix;
    if (!(p = get_lengths(p, end, &prefix, &suffix))) return -1;
    if (prefix > *term_len || prefix + suffix > DICT_MAX_TERM ||
        suffix > (uint64_t)(end - p))
        return -1;
    memcpy(term + prefix, p, suffix);
    *term_len = prefix + suffix;
    p += suffix;
    if (decode_stats(v, &p, end, e, base)) return -1;
    *pp = p;
    return 0;
}

static int cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

/* Reads the whole first term of block i without copying it. */
static int block_first(const dict_view *v, size_t i, const uint8_t **term,
                       size_t *len)
{
    uint64_t off = ld64(v->idx + 8 * i);
    if (off >= v->dict_len) return -1;
    const uint8_t *p = v->dict + off, *end = v->dict + v->dict_len;
    uint64_t prefix, suffix;
    if (!(p = get_lengths(p, end, &prefix, &suffix)) || prefix != 0 ||
        suffix > (uint64_t)(end - p))
        return -1;
    *term = p;
    *len = suffix;
    return 0;
}

/* The first 8 bytes of a term as a big-endian number, zero-padded: keys
 * compare like the terms do, except that equal keys may hide a difference
 * further on. */
static uint64_t term_key(const uint8_t *t, size_t len)
{
    uint64_t k = 0;
    for (size_t i = 0; i < 8; i++) k = k << 8 | (i < len ? t[i] : 0);
    return k;
}

int dict_build_keys(const dict_view *v, uint64_t **keys)
{
    *keys = malloc((v->nblocks ? v->nblocks : 1) * sizeof **keys);
    if (!*keys) return -1;
    for (size_t i = 0; i < v->nblocks; i++) {
        const uint8_t *t;
        size_t tl;
        if (block_first(v, i, &t, &tl)) {
            free(*keys);
            *keys = NULL;
            return -2;
        }
        (*keys)[i] = term_key(t, tl);
    }
    return 0;
}

/* The last block whose first term is <= term (block 0 when none is) into
 * *block: 0, or -1 corrupt.  With keys the search touches a small array
 * that stays in cache; a block's bytes are read only when the keys tie. */
static int find_block(const dict_view *v, const uint8_t *term, size_t len, size_t *block)
{
    size_t lo = 0, hi = v->nblocks;
    uint64_t key = term_key(term, len);
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        int c;
        if (v->keys && v->keys[mid] != key) {
            c = v->keys[mid] < key ? -1 : 1;
        } else {
            const uint8_t *t;
            size_t tl;
            if (block_first(v, mid, &t, &tl)) return -1;
            c = cmp_bytes(t, tl, term, len);
        }
        if (c <= 0) lo = mid; else hi = mid;
    }
    *block = lo;
    return 0;
}

int dict_lookup(const dict_view *v, const uint8_t *term, size_t len,
                idx_term *out)
{
    if (v->nblocks == 0 || len > DICT_MAX_TERM) return 0;
    size_t lo;
    if (find_block(v, term, len, &lo)) return -1;
    const uint8_t *p = v->dict + ld64(v->idx + 8 * lo);
    const uint8_t *end = v->dict + v->dict_len;
    uint64_t n = v->nterms - (uint64_t)lo * SEG_DICT_BLOCK;
    if (n > SEG_DICT_BLOCK) n = SEG_DICT_BLOCK;
    /* Scan the block without rebuilding its terms.  Invariant: every term
     * so far is < the target, and the last one shares m bytes with it.  An
     * entry sharing more than m bytes with its predecessor is then < the
     * target too, one sharing fewer is > it, and only one sharing exactly m
     * needs its suffix compared (the classic front-coded search). */
    size_t m = 0, prev_len = 0;
    idx_term e, base;
    memset(&base, 0, sizeof base);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t prefix, suffix;
        if (!(p = get_lengths(p, end, &prefix, &suffix)) || prefix > prev_len ||
            prefix + suffix > DICT_MAX_TERM || suffix > (uint64_t)(end - p))
            return -1;
        const uint8_t *sfx = p;
        p += suffix;
        prev_len = (size_t)(prefix + suffix);
        if (decode_stats(v, &p, end, &e, &base)) return -1;
        if (prefix > m) continue;       /* still < target */
        if (prefix < m) return 0;       /* passed it */
        size_t k = 0;
        while (k < suffix && m + k < len && sfx[k] == term[m + k]) k++;
        if (k == suffix) {
            if (m + k == len) { *out = e; return 1; }
            m += k;                     /* a proper prefix of the target */
            continue;
        }
        if (m + k == len || sfx[k] > term[m + k]) return 0;
        m += k;
    }
    return 0;
}

void dict_iter_init(dict_iter *it, const dict_view *v)
{
    memset(it, 0, sizeof *it);
    it->v = v;
    it->p = v->dict;
    /* an empty segment's dictionary may be NULL */
    it->end = v->dict ? v->dict + v->dict_len : NULL;
}

int dict_iter_seek(dict_iter *it, const dict_view *v, const uint8_t *term, size_t len)
{
    dict_iter_init(it, v);
    if (v->nblocks == 0) return 0;
    /* the block that would hold term: the first entry at or above it is
     * there or starts the next block */
    size_t lo;
    if (find_block(v, term, len, &lo)) return -1;
    it->i = (uint64_t)lo * SEG_DICT_BLOCK;
    it->p = v->dict + ld64(v->idx + 8 * lo);
    return 0;
}

int dict_iter_skip(dict_iter *it, const uint8_t *term, size_t len)
{
    const dict_view *v = it->v;
    if (v->nblocks == 0 || it->i >= v->nterms) return 0;
    size_t b;
    if (find_block(v, term, len, &b)) return -1;
    /* forward only, to the start of a later block: the entries of the
     * current one were given or are still to come in order */
    if ((uint64_t)b * SEG_DICT_BLOCK <= it->i) return 0;
    it->i = (uint64_t)b * SEG_DICT_BLOCK;
    it->p = v->dict + ld64(v->idx + 8 * b);
    return 0;
}

int dict_iter_next(dict_iter *it)
{
    if (it->i >= it->v->nterms) return 0;
    if (it->i % SEG_DICT_BLOCK == 0) {
        size_t b = (size_t)(it->i / SEG_DICT_BLOCK);
        if (b >= it->v->nblocks) return -1;
        uint64_t off = ld64(it->v->idx + 8 * b);
        if (it->v->dict + off != it->p) return -1;
        memset(&it->base, 0, sizeof it->base);
        it->term_len = 0;
    }
    if (decode_entry(it->v, &it->p, it->end, it->term, &it->term_len, &it->e, &it->base))
        return -1;
    it->i++;
    return 1;
}
