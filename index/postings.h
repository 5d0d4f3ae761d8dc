/*
 * postings.h — the posting iterator's state and its per-posting operations,
 * inline because the query layer calls them once per posting.  Block loads
 * and every other slow path live in segread.c.  Included by index.h; use
 * only the functions.
 */
#ifndef QUIRE_POSTINGS_H
#define QUIRE_POSTINGS_H

#include <stdint.h>

#include "index/segment.h"

struct idx_postings {
    const idx_segment *s;
    idx_term t;
    const uint8_t *docs, *docs_end;   /* docs section bounds */
    const uint8_t *skip;              /* term's skip entries (sk) or NULL */
    const uint8_t *pos, *pos_end;     /* term's positions, section end */
    uint32_t nblocks, nfull;
    uint32_t block;                   /* decoded block */
    uint32_t n, i, doc;
    uint32_t docs_buf[IDX_BLOCK], tf_buf[IDX_BLOCK];
    const uint8_t *tf_ptr;            /* PFOR tfs of a full block */
    int tf_ready;
    uint64_t blk_pos_k, blk_pos_off;
    uint32_t psum_i;                  /* positions before doc psum_i ... */
    uint64_t psum;                    /* ... of the block sum to psum */
    uint64_t pblk, pblk_off;          /* decoded position block, offset */
    uint32_t pbuf[IDX_BLOCK];
    uint32_t *out; size_t out_cap;
    uint32_t sblock;                  /* shallow cursor */
    idx_impacts single_imp; uint32_t single_last;   /* one-block list */
    int single_bounds;
    /* the positions' checksum is known good; last, so that no buffer
     * above moves (4 bytes before docs_buf made phrases 3% slower) */
    int pos_ok;
    seg_skip sk;                      /* read through seg_skip_get */
};


struct idx_poscur {
    idx_postings *p;
    uint32_t left;   /* positions not yet returned */
    uint32_t at;     /* next delta in p->pbuf */
    uint32_t pos;    /* the last position returned */
};

/* Slow paths (segread.c). */
int idx_poscur_refill_(idx_poscur *c);
uint32_t idx_postings_next_block_(idx_postings *p);
uint32_t idx_postings_advance_slow_(idx_postings *p, uint32_t target);
void idx_postings_load_tfs_(idx_postings *p);

/* Current document, or IDX_END. */
static inline uint32_t idx_postings_doc(const idx_postings *p) { return p->doc; }

/* Moves to the next document; returns it or IDX_END.  An exhausted
 * iterator has n == 0, so it always takes the slow path, which says END. */
static inline uint32_t idx_postings_next(idx_postings *p)
{
    if (++p->i < p->n) return p->doc = p->docs_buf[p->i];
    return idx_postings_next_block_(p);
}

/* Moves to the first document >= target (never backwards); returns it or
 * IDX_END.  Uses the skip entries to jump over whole blocks. */
static inline uint32_t idx_postings_advance(idx_postings *p, uint32_t target)
{
    if (p->doc >= target) return p->doc;  /* also covers IDX_END */
    if (p->docs_buf[p->n - 1] < target) return idx_postings_advance_slow_(p, target);
    uint32_t i = p->i;
    while (p->docs_buf[i] < target) i++;
    p->i = i;
    return p->doc = p->docs_buf[i];
}

/* Moves to the first document, from the current one on, whose tf is at
 * least fmin; returns it or IDX_END.  Scans the decoded tfs of each block
 * rather than stepping posting by posting. */
static inline uint32_t idx_postings_next_tf(idx_postings *p, uint32_t fmin)
{
    while (p->doc != IDX_END) {
        if (!p->tf_ready) idx_postings_load_tfs_(p);
        uint32_t i = p->i, n = p->n;
        while (i < n && p->tf_buf[i] < fmin) i++;
        if (i < n) {
            p->i = i;
            return p->doc = p->docs_buf[i];
        }
        p->i = n - 1;
        idx_postings_next_block_(p);
    }
    return IDX_END;
}

/* Term frequency in the current document (0 at the end). */
static inline uint32_t idx_postings_freq(idx_postings *p)
{
    if (p->doc == IDX_END) return 0;
    if (!p->tf_ready) idx_postings_load_tfs_(p);
    return p->tf_buf[p->i];
}

/* Steps to the next position of the document: 1 with c->pos set, 0 when
 * there is none left, -1 on corrupt data.  Positions are delta-coded from
 * 0 within a document. */
static inline int idx_poscur_next(idx_poscur *c)
{
    if (!c->left) return 0;
    if (c->at == IDX_BLOCK && idx_poscur_refill_(c) != 0) return -1;
    c->pos += c->p->pbuf[c->at++];
    c->left--;
    return 1;
}

#endif
