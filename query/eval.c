/*
 * eval.c — query evaluation: the plan (plan.c) becomes, per segment, a
 * tree of document-at-a-time iterators over segment-local doc ids, driven
 * by a collector: an exact count or the BM25 top-k (qry_count,
 * qry_search).  Scoring follows the definition in query.h exactly.
 *
 * Iterators (struct qit) share one shape and dispatch on a kind switch:
 *   TERM    an index posting list; a term missing from the segment's
 *           dictionary never becomes an iterator (see below);
 *   AND     leapfrog over its positive children, rarest first, then each
 *           excluded child is advanced to the candidate (AND-NOT);
 *   OR      union, current doc = minimum of the children;
 *   PHRASE  an AND of one term iterator per unit, rarest first, and then
 *           a position check, decoded lazily only for documents every
 *           unit contains; it counts the phrase frequency when scoring.
 *           Units are the slots, or in a CommonGrams index bigram terms
 *           standing for pairs of slots (plan.h); the weight is always
 *           the sum of the slot terms' idfs.  A phrase of a single unit
 *           (`"great and"`) is a TERM iterator over the bigram with that
 *           weight: its frequency is the phrase frequency, no positions
 *           are read, and block-max pruning applies to it.
 * Empty inputs are removed while building: an AND with an empty positive
 * child is empty, an OR drops empty children, an empty excluded child is
 * dropped, and an empty root skips the segment.
 *
 * Every iterator is "positioned": `doc` is its current match or IDX_END.
 * it_advance(it, t) moves to the first match >= t and never backwards.
 * Iterators are allocated once per query per segment; the per-document
 * loops allocate nothing.
 *
 * Top-k uses a size-k min-heap ordered by score, then doc number (the
 * lower wins a tie); documents mostly arrive in ascending index-wide
 * order, and then a newcomer that merely ties the heap's minimum is
 * rejected.  Pure disjunctions and conjunctions of terms, and phrases,
 * use block-max pruning (see "Block-max" below and collect_phrase), which
 * skips documents that cannot enter the heap and so returns exactly the
 * exhaustive top-k; a phrase also skips the position check of any
 * candidate its unit tfs and length rule out, and scores a few blocks of
 * short documents first (ph_prime), out of doc order, to raise the
 * threshold early.
 */
#include "query/query.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "index/fuzzy.h"
#include "index/util.h"
#include "index/values.h"
#include "query/eval.h"
#include "query/plan.h"
#include "query/sloppy.h"
#include "tokenizer/tokenizer.h"

#define BM25_K1 1.2
#define BM25_B 0.75

/* ---- per-query context --------------------------------------------------- */

typedef struct qev {
    const idx_reader *r;
    const qry_plan *plan;
    size_t nseg;
    double *idf;            /* per plan term */
    idx_term *seg_terms;    /* [seg * nterms + term] */
    uint8_t *seg_found;     /* same indexing: term present in segment */
    struct pfx_set *pfx;    /* same indexing: a prefix's or fuzzy term's documents */
    double avgdl;
    double len_scale;   /* b / avgdl: lengths are multiplied, not divided */
    int scoring;            /* phrases must count every occurrence */
    int corrupt;            /* set by iterators on undecodable data */
    int nomem;              /* set by iterators that could not allocate */
    uint64_t deadline;      /* clock reading to stop at; 0: no time limit */
    const qry_limit *lim;   /* its clock */
    uint32_t tick;          /* calls of ev_late since the clock was read */
    int late;               /* the deadline has passed: collectors stop */
} qev;

/* ---- time limit ------------------------------------------------------------
 *
 * A search or count with a time limit stops where it is when the limit
 * passes and returns what it has: the best of the documents it examined,
 * or how many of them matched.  Collectors ask ev_late once per document
 * they look at; the clock is read every EV_TICKS calls, as a read (a vDSO
 * call, about 20 ns here) costs several skipped documents.  Collectors
 * come in two copies, with and without the question (collect_blockmax).
 * Before each segment, and as a prefix or fuzzy word is expanded (each
 * term, 64 Ki postings, 64 Ki documents of its sums, 1,024 terms of a
 * fuzzy walk: pfx_gather), the clock is read every time. */
#define EV_TICKS 256

static uint64_t clock_read(const qry_limit *lim)
{
    if (lim->clock) return lim->clock(lim->clock_ctx);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The clock reading at which a limit counted from now passes; 0 (none)
 * without a limit. */
static uint64_t deadline_of(const qry_limit *lim)
{
    if (!lim || !(lim->seconds > 0)) return 0;
    uint64_t now = clock_read(lim);
    double ns = lim->seconds * 1e9;
    if (ns >= (double)(UINT64_MAX - now)) return UINT64_MAX;
    uint64_t d = now + (uint64_t)ns;
    return d ? d : 1;
}

static int ev_late_now(qev *ev)
{
    if (ev->deadline && !ev->late && clock_read(ev->lim) >= ev->deadline) ev->late = 1;
    return ev->late;
}

static inline int ev_late(qev *ev)
{
    if (__builtin_expect(!ev->deadline, 1)) return 0;
    if (++ev->tick % EV_TICKS) return ev->late;
    return ev_late_now(ev);
}

/* The documents of a prefix or fuzzy term in one segment, ascending, each
 * with the sum of the frequencies of the terms it stands for there: the
 * posting list it would have if its terms were one term.  A fuzzy term's
 * neighbours count less than the word itself (fuzzy_weight), so its sums
 * are weighted. */
typedef struct pfx_set {
    uint32_t *docs;
    uint32_t *tfs;          /* a prefix's */
    float *wtfs;            /* a fuzzy term's (4 bytes a document, as tfs:
                               as doubles, the~1 on corpus/cache/big.jsonl
                               took 20% longer, most of it faulting in
                               the larger array) */
    uint32_t n;
} pfx_set;

/* Gathers the postings of a prefix's (or fuzzy term's) terms in a
 * segment.  Few postings
 * (against the segment's documents) are collected as (doc, tf) pairs and
 * sorted; many are summed into an array of one counter per document, and
 * that array is read in order.  A fuzzy term's pairs hold, instead of the
 * tf, the index of its weighted tf in wts, and its dense sums are wacc. */
typedef struct pfx_build {
    const idx_segment *seg;
    uint64_t *pairs;        /* doc << 32 | tf (fuzzy: | index into wts) */
    size_t npairs, cap;
    uint32_t *acc;          /* per document, when dense */
    /* fuzzy: each pair's weighted tf, and the dense sums.  Floats: the
     * dense array is as large as acc (doubles made whale~1 on
     * corpus/cache/big.jsonl 9.5 -> 12.4 ms, in fresh pages), and both
     * forms add the same floats in the same order (the terms'), so a
     * document's sum does not depend on which form a segment took. */
    float *wts, *wacc;
    size_t wts_cap;
    int fuzzy;
    size_t qcps;            /* fuzzy: code points of the term asked for */
    int nomem;
    struct qev *ev;         /* for its time limit */
    int late;               /* stopped by it */
} pfx_build;

/* What one occurrence of a fuzzy term's neighbour counts, d edits from
 * it: 1 - d / (L + 1), L the longer one's length in code points, so the
 * word itself counts 1 and a neighbour less the more it differs for its
 * length (whale~1: whales 6/7, wale 5/6; a title term's mark is not
 * counted).  Documents that hold the word rank above those that hold only
 * a neighbour, as Lucene's FuzzyQuery boosts by similarity. */
static double fuzzy_weight(unsigned d, size_t qcps, size_t tcps)
{
    size_t l = qcps > tcps ? qcps : tcps;
    return 1.0 - (double)d / (double)(l + 1);
}

#define PFX_DENSE_RATIO 32  /* dense from ndocs / 32 postings on (on big: whal*, 31,821
                             * documents, 1.12 ms; with 8, 1.23 ms; with 128, 1.28 ms) */

/* Adds a term's postings to the gathered sums.  With a time limit
 * (`timed`, a copy of its own), the clock is read every 64 Ki postings
 * too: one frequent term can hold every document of the segment (the
 * 1.7 M of "the" in big's: 4 ms). */
static inline __attribute__((always_inline)) void
pfx_add_postings(pfx_build *pb, idx_postings *p, int dense, double w, const int timed)
{
    uint32_t k = 0;
    for (uint32_t d = idx_postings_doc(p); d != IDX_END; d = idx_postings_next(p)) {
        uint32_t f = idx_postings_freq(p);
        if (dense) {
            if (pb->fuzzy) pb->wacc[d] += (float)(f * w);
            else pb->acc[d] += f;
        } else if (pb->fuzzy) {
            pb->wts[pb->npairs] = (float)(f * w);
            pb->pairs[pb->npairs] = (uint64_t)d << 32 | pb->npairs;
            pb->npairs++;
        } else {
            pb->pairs[pb->npairs++] = (uint64_t)d << 32 | f;
        }
        if (timed && ++k % 65536 == 0 && ev_late_now(pb->ev)) {
            pb->late = 1;
            return;
        }
    }
}

static int pfx_on_term(void *ctx, const uint8_t *term, size_t len, const idx_term *t,
                       unsigned dist)
{
    pfx_build *pb = ctx;
    /* the clock is read for every term: a term can cost a posting list of
     * every document in the segment */
    if (pb->ev->deadline && ev_late_now(pb->ev)) {
        pb->late = 1;
        return 1;
    }
    double w = 1.0;
    if (pb->fuzzy) {
        size_t mark = len && term[0] == TOK_FIELD_MARK;
        w = fuzzy_weight(dist, pb->qcps, fz_decode(term + mark, len - mark, NULL, 0));
    }
    idx_postings *p;
    if (idx_postings_open(pb->seg, t, &p) != 0) {
        pb->nomem = 1;
        return 1;
    }
    int dense = pb->fuzzy ? pb->wacc != NULL : pb->acc != NULL;
    if (!dense && pb->npairs + t->df > idx_segment_ndocs(pb->seg) / PFX_DENSE_RATIO) {
        size_t nd = (size_t)idx_segment_ndocs(pb->seg) + 1;
        if (pb->fuzzy ? !(pb->wacc = calloc(nd, sizeof *pb->wacc))
                      : !(pb->acc = calloc(nd, sizeof *pb->acc))) {
            idx_postings_close(p);
            pb->nomem = 1;
            return 1;
        }
        for (size_t i = 0; i < pb->npairs; i++) {
            uint32_t d = (uint32_t)(pb->pairs[i] >> 32), v = (uint32_t)pb->pairs[i];
            if (pb->fuzzy) pb->wacc[d] += pb->wts[v];
            else pb->acc[d] += v;
        }
        pb->npairs = 0;
        dense = 1;
    }
    if (!dense && (grow_array((void **)&pb->pairs, &pb->cap, pb->npairs + t->df,
                              sizeof *pb->pairs, 64) ||
                   (pb->fuzzy && grow_array((void **)&pb->wts, &pb->wts_cap, pb->npairs + t->df,
                                            sizeof *pb->wts, 64)))) {
        idx_postings_close(p);
        pb->nomem = 1;
        return 1;
    }
    if (pb->ev->deadline) pfx_add_postings(pb, p, dense, w, 1);
    else pfx_add_postings(pb, p, dense, w, 0);
    idx_postings_close(p);
    return pb->late;
}

/* Documents a time limit lets pfx_gather read between two clock reads. */
#define PFX_CHUNK 65536u

/* A fuzzy walk between two matching terms (idx_segment_fuzzy): out of
 * time, it stops there. */
static int pfx_poll(void *ctx)
{
    pfx_build *pb = ctx;
    if (!ev_late_now(pb->ev)) return 0;
    pb->late = 1;
    return 1;
}

/* Fills *out with the documents of prefix or fuzzy term t in segment
 * `seg`, a fuzzy term's frequencies weighted when `scoring`; 0, -1 on
 * allocation failure, -2 on a corrupt dictionary, -3 when ev's time limit
 * passed (out is then empty). */
static int pfx_gather(qev *ev, const idx_segment *seg, const pl_term *t, int scoring,
                      pfx_set *out)
{
    /* a count needs no weights: a fuzzy term's documents are gathered as a
     * prefix's (whale~2 on corpus/cache/big.jsonl: 25.1 -> 22 ms) */
    pfx_build pb = {.seg = seg, .fuzzy = t->edits != 0 && scoring, .ev = ev};
    if (pb.fuzzy) {
        size_t mark = t->len && t->bytes[0] == TOK_FIELD_MARK;
        pb.qcps = fz_decode((const uint8_t *)t->bytes + mark, t->len - mark, NULL, 0);
    }
    memset(out, 0, sizeof *out);
    int r = t->edits ? idx_segment_fuzzy(seg, t->bytes, t->len, t->edits, pfx_on_term,
                                         ev->deadline ? pfx_poll : NULL, &pb)
                     : idx_segment_prefix(seg, t->bytes, t->len, pfx_on_term, &pb);
    /* Turning the sums into a list reads them all: dense, two passes over a
     * counter a document (2-4 ms each on big's segment), which a time limit
     * reads the clock between chunks of. */
    const int timed = ev->deadline != 0;
    if (!pb.late && timed && ev_late_now(ev)) pb.late = 1;
    int rc = pb.nomem || (t->edits && r == -2) ? -1 : r < 0 ? -2 : pb.late ? -3 : 0;
    uint32_t nd = idx_segment_ndocs(seg), n = 0;
    if (!rc && (pb.acc || pb.wacc)) {
        for (uint32_t lo = 0; lo < nd && !rc; lo += PFX_CHUNK) {
            uint32_t hi = nd - lo < PFX_CHUNK ? nd : lo + PFX_CHUNK;
            if (pb.acc)
                for (uint32_t d = lo; d < hi; d++) n += pb.acc[d] != 0;
            else   /* every occurrence weighs more than 0 (fuzzy_weight) */
                for (uint32_t d = lo; d < hi; d++) n += pb.wacc[d] != 0;
            if (timed && ev_late_now(ev)) rc = -3;
        }
    } else if (!rc && pb.npairs) {
        qsort(pb.pairs, pb.npairs, sizeof *pb.pairs, cmp_u64);
        for (size_t i = 0; i < pb.npairs; i++)
            n += i == 0 || pb.pairs[i] >> 32 != pb.pairs[i - 1] >> 32;
    }
    if (!rc && n) {
        out->docs = malloc((size_t)n * sizeof *out->docs);
        if (pb.fuzzy) out->wtfs = malloc((size_t)n * sizeof *out->wtfs);
        else out->tfs = malloc((size_t)n * sizeof *out->tfs);
        if (!out->docs || (!out->tfs && !out->wtfs)) {
            rc = -1;
        } else if (pb.acc || pb.wacc) {
            for (uint32_t lo = 0; lo < nd && !rc; lo += PFX_CHUNK) {
                uint32_t hi = nd - lo < PFX_CHUNK ? nd : lo + PFX_CHUNK;
                if (pb.acc) {
                    for (uint32_t d = lo; d < hi; d++)
                        if (pb.acc[d]) {
                            out->docs[out->n] = d;
                            out->tfs[out->n++] = pb.acc[d];
                        }
                } else {
                    for (uint32_t d = lo; d < hi; d++)
                        if (pb.wacc[d] != 0) {
                            out->docs[out->n] = d;
                            out->wtfs[out->n++] = pb.wacc[d];
                        }
                }
                if (timed && ev_late_now(ev)) rc = -3;
            }
        } else {
            /* a doc's pairs are summed in the order the terms came, a
             * fuzzy term's in float as the dense form adds them */
            float run = 0;
            for (size_t i = 0; i < pb.npairs; i++) {
                uint32_t d = (uint32_t)(pb.pairs[i] >> 32), v = (uint32_t)pb.pairs[i];
                int same = out->n && out->docs[out->n - 1] == d;
                if (pb.fuzzy) {
                    run = same ? run + pb.wts[v] : pb.wts[v];
                    if (!same) out->docs[out->n++] = d;
                    out->wtfs[out->n - 1] = run;
                } else if (same) {
                    out->tfs[out->n - 1] += v;
                } else {
                    out->docs[out->n] = d;
                    out->tfs[out->n++] = v;
                }
            }
        }
    }
    free(pb.pairs);
    free(pb.acc);
    free(pb.wts);
    free(pb.wacc);
    if (rc) {
        free(out->docs);
        free(out->tfs);
        free(out->wtfs);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

static int ev_init(qev *ev, const idx_reader *r, const qry_plan *plan,
                   int scoring, const qry_limit *lim, uint64_t deadline, quire_error *err)
{
    memset(ev, 0, sizeof *ev);
    ev->lim = lim;
    ev->deadline = deadline;
    ev->r = r;
    ev->plan = plan;
    ev->scoring = scoring;
    ev->nseg = idx_reader_nsegments(r);
    size_t nt = plan->nterms, cells = ev->nseg * nt;
    ev->idf = malloc((nt ? nt : 1) * sizeof *ev->idf);
    ev->seg_terms = malloc((cells ? cells : 1) * sizeof *ev->seg_terms);
    ev->seg_found = calloc(cells ? cells : 1, 1);
    if (!ev->idf || !ev->seg_terms || !ev->seg_found)
        return qerr(err, QUIRE_ENOMEM, "out of memory evaluating query");
    /* only a query with a prefix or fuzzy term pays for their table (a
     * term count takes half a microsecond) */
    for (size_t t = 0; t < nt && !ev->pfx; t++)
        if (pl_term_expands(&plan->terms[t]) &&
            !(ev->pfx = calloc(cells ? cells : 1, sizeof *ev->pfx)))
            return qerr(err, QUIRE_ENOMEM, "out of memory evaluating query");

    double n = (double)idx_reader_ndocs(r);
    uint64_t total = idx_reader_total_len(r);
    ev->avgdl = total && n > 0 ? (double)total / n : 1.0;
    ev->len_scale = BM25_B / ev->avgdl;
    for (size_t t = 0; t < nt; t++) {
        uint64_t df = 0;
        for (size_t s = 0; s < ev->nseg; s++) {
            const idx_segment *seg = idx_reader_segment(r, s);
            if (pl_term_expands(&plan->terms[t])) {
                /* out of time: the statistics are never used */
                if (ev_late_now(ev)) return QUIRE_OK;
                pfx_set *ps = &ev->pfx[s * nt + t];
                int g = pfx_gather(ev, seg, &plan->terms[t], scoring, ps);
                if (g == -3) return QUIRE_OK;
                if (g == -1)
                    return qerr(err, QUIRE_ENOMEM, "out of memory evaluating query");
                if (g == -2)
                    return qerr(err, QUIRE_ECORRUPT, "corrupt dictionary in segment %s",
                                idx_segment_name(seg));
                ev->seg_found[s * nt + t] = ps->n > 0;
                df += ps->n;
                continue;
            }
            idx_term *it = &ev->seg_terms[s * nt + t];
            int found = idx_segment_lookup(seg, plan->terms[t].bytes,
                                           plan->terms[t].len, it);
            if (found < 0)
                return qerr(err, QUIRE_ECORRUPT,
                            "corrupt dictionary in segment %s",
                            idx_segment_name(seg));
            if (found && it->df > 0) {
                ev->seg_found[s * nt + t] = 1;
                df += it->df;
            }
        }
        double d = (double)df;
        ev->idf[t] = log(1.0 + (n - d + 0.5) / (d + 0.5));
    }
    return QUIRE_OK;
}

static void ev_free(qev *ev)
{
    size_t cells = ev->nseg * (ev->plan ? ev->plan->nterms : 0);
    for (size_t i = 0; ev->pfx && i < cells; i++) {
        free(ev->pfx[i].docs);
        free(ev->pfx[i].tfs);
        free(ev->pfx[i].wtfs);
    }
    free(ev->pfx);
    free(ev->idf);
    free(ev->seg_terms);
    free(ev->seg_found);
}

/* Length normalisation of BM25 for a document of `len` positions:
 * sat(f, len) = f * (k1 + 1) / (f + norm). */
static inline double bm25_norm(const qev *ev, uint32_t len)
{
    return BM25_K1 * (1.0 - BM25_B + (double)len * ev->len_scale);
}

static inline double bm25_sat(double f, double norm)
{
    return f * (BM25_K1 + 1.0) / (f + norm);
}

/* ---- iterators ----------------------------------------------------------- */

typedef enum it_kind { IT_TERM, IT_PHRASE, IT_AND, IT_OR, IT_SET, IT_RANGE } it_kind;

typedef struct qit qit;
struct qit {
    it_kind kind;
    uint32_t doc;           /* current match or IDX_END */
    uint64_t cost;          /* estimated matches, to order AND inputs */
    double weight;          /* TERM: idf; PHRASE: sum of slot idfs */
    uint32_t term;          /* TERM: plan term index */
    idx_postings *p;        /* TERM */
    const pfx_set *set;     /* SET: a prefix's documents; `at` the current */
    uint32_t at;
    const val_column *col;  /* RANGE: the field's numbers in the segment */
    double lo, hi;          /* RANGE: lo <= value <= hi */
    uint32_t ndocs;         /* RANGE: of the segment */
    qit **kids;             /* AND positives / OR / PHRASE slots, in plan
                               order (scores are summed in this order) */
    uint32_t n;
    qit **order;            /* AND, PHRASE: kids by ascending cost */
    qit **nots;             /* AND: excluded */
    uint32_t nnots;
    /* PHRASE */
    uint32_t *order_rel;    /* relative position of each unit of order */
    idx_poscur *pc;         /* per-unit position cursors of phrase_verify */
    uint32_t pfreq;
    /* PHRASE with slop (its units are its slots): per kid, the relative
     * position, the first kid of the same term, and the current doc's
     * positions; the sloppy frequency */
    uint32_t slop;
    uint32_t *kid_rel, *kid_group;
    uint32_t **kpos, *knpos, *kcap;
    sloppy_scratch ss;
    double sfreq;
    qev *ev;
};

static void it_free(qit *it)
{
    if (!it) return;
    if (it->p) idx_postings_close(it->p);
    for (uint32_t i = 0; i < it->n && it->kids; i++)
        it_free(it->kids[i]);
    for (uint32_t i = 0; i < it->nnots; i++)
        it_free(it->nots[i]);
    free(it->kids);
    free(it->order);
    free(it->nots);
    free(it->pc);
    free(it->order_rel);
    for (uint32_t i = 0; it->kpos && i < it->n; i++) free(it->kpos[i]);
    free(it->kpos);
    free(it->knpos);
    free(it->kcap);
    free(it->kid_rel);
    free(it->kid_group);
    sloppy_free(&it->ss);
    free(it);
}

static uint32_t it_seek(qit *it, uint32_t target);

static inline uint32_t it_advance(qit *it, uint32_t target)
{
    if (it->doc >= target)
        return it->doc;
    return it_seek(it, target);
}

/* First doc >= target on which every iterator of v (rarest first) sits. */
static uint32_t align(qit **v, uint32_t n, uint32_t target)
{
    uint32_t d = it_advance(v[0], target);
    for (;;) {
        if (d == IDX_END)
            return IDX_END;
        uint32_t i;
        for (i = 1; i < n; i++) {
            uint32_t di = it_advance(v[i], d);
            if (di != d) {
                d = di;
                break;
            }
        }
        if (i == n)
            return d;
        d = it_advance(v[0], d);
    }
}

#define PH_CUTS 8
/* Blocks of the rarest unit collect_phrase's first pass may take. */
#define PH_PRIME_BLOCKS 16

/* Doc ranges a phrase's first pass scored (ph_prime), ascending, and the
 * one at or after the main pass's position. */
typedef struct ph_done {
    uint32_t lo[PH_PRIME_BLOCKS], hi[PH_PRIME_BLOCKS];
    uint32_t n, at;
} ph_done;

/* Whether doc d, at or after every doc asked before, lies in a done
 * range (then done->at is that range). */
static inline int ph_done_skip(ph_done *done, uint32_t d)
{
    while (done->at < done->n && done->hi[done->at] < d) done->at++;
    return done->at < done->n && d >= done->lo[done->at];
}

/* align() for a phrase's units, which are all terms: calls the posting
 * iterators directly rather than through it_seek's dispatch, which was
 * half the cost of a candidate of a frequent phrase.  The units' `doc`
 * fields are brought up to date on return.
 *
 * With `cut` (collect_phrase, once the top-k heap is full), a doc of the
 * rarest unit whose own tf and length cannot beat the threshold (cut, of
 * ph_cutoffs) is passed over before the other units move to it, as the
 * phrase frequency is at most any unit's tf.  For a phrase of a rarer
 * word and a very common one, most of the rarer word's docs are, and
 * moving the common word's list to each of them was most of the query:
 * "great and" on corpus/cache/big.jsonl, 150,902 docs of "great". */
static inline uint32_t align_units_cut(qit **v, uint32_t n, uint32_t target,
                                       const idx_segment *seg, const uint32_t *cut,
                                       ph_done *done)
{
    idx_postings *lead = v[0]->p;
    uint32_t d = idx_postings_advance(lead, target);
    while (d != IDX_END) {
        if (done && ph_done_skip(done, d)) {
            d = idx_postings_advance(lead, done->hi[done->at] + 1);
            continue;
        }
        if (cut) {
            uint32_t f = idx_postings_freq(lead);
            if (f <= PH_CUTS && idx_segment_doclen(seg, d) >= cut[f - 1]) {
                d = idx_postings_advance(lead, d + 1);
                continue;
            }
        }
        uint32_t i;
        for (i = 1; i < n; i++) {
            uint32_t di = idx_postings_advance(v[i]->p, d);
            if (di != d) {
                d = di;
                break;
            }
        }
        if (i == n)
            break;
        d = idx_postings_advance(lead, d);
    }
    for (uint32_t i = 0; i < n; i++)
        v[i]->doc = idx_postings_doc(v[i]->p);
    return d;
}

static uint32_t align_units(qit **v, uint32_t n, uint32_t target)
{
    return align_units_cut(v, n, target, NULL, NULL, NULL);
}

static int excluded(qit *it, uint32_t d)
{
    for (uint32_t j = 0; j < it->nnots; j++)
        if (it_advance(it->nots[j], d) == d)
            return 1;
    return 0;
}

/* Position check of a phrase on the doc all its units sit on.  Unit i
 * must occur at p + rel[i] for a common start p.  The rarest unit
 * anchors and the others are checked rarest first; each is a position
 * cursor, opened only when the check first needs it, that moves forward
 * and decodes as it goes.  So a document costs at most the sum of its
 * frequencies, and a check that fails on the first pair — most of the
 * candidates of a phrase of rare and common words — never decodes the
 * tfs or positions of the remaining units.  Counts every start p when
 * scoring, stops at the first otherwise. */
static int sloppy_verify(qit *it);

static int phrase_verify(qit *it)
{
    if (it->slop) return sloppy_verify(it);
    uint32_t n = it->n;
    idx_poscur *c = it->pc;
    const uint32_t *rel = it->order_rel;
    for (uint32_t i = 1; i < n; i++)
        c[i].p = NULL;
    if (idx_poscur_open(it->order[0]->p, &c[0]) != 0) {
        it->ev->corrupt = 1;
        return 0;
    }
    uint32_t count = 0;
    int r;
    while ((r = idx_poscur_next(&c[0])) > 0) {
        uint32_t ap = c[0].pos;
        if (ap < rel[0])
            continue;
        uint64_t start = (uint64_t)ap - rel[0];
        uint32_t j;
        for (j = 1; j < n; j++) {
            uint64_t want = start + rel[j];
            if (!c[j].p) {
                /* every unit has a position here: step onto the first */
                if (idx_poscur_open(it->order[j]->p, &c[j]) != 0 ||
                    idx_poscur_next(&c[j]) != 1) {
                    r = -1;
                    goto done;
                }
            }
            while (c[j].pos < want) {
                r = idx_poscur_next(&c[j]);
                if (r <= 0)
                    goto done;  /* later starts need later positions */
            }
            if (c[j].pos != want)
                break;
        }
        if (j == n) {
            count++;
            if (!it->ev->scoring)
                break;
        }
    }
done:
    if (r < 0)
        it->ev->corrupt = 1;
    it->pfreq = count;
    return count > 0;
}

/* Position check of a phrase with slop (sloppy.c) on the doc all its
 * slots sit on: every slot's positions are read, as a match may take any
 * of them. */
static int sloppy_verify(qit *it)
{
    for (uint32_t i = 0; i < it->n; i++) {
        idx_poscur c;
        if (idx_poscur_open(it->kids[i]->p, &c) != 0) {
            it->ev->corrupt = 1;
            return 0;
        }
        uint32_t n = 0;
        int r;
        while ((r = idx_poscur_next(&c)) > 0) {
            if (n == it->kcap[i]) {
                size_t cap = it->kcap[i];
                if (grow_array((void **)&it->kpos[i], &cap, (size_t)n + 1,
                               sizeof *it->kpos[i], 16) || cap > UINT32_MAX) {
                    it->ev->nomem = 1;
                    return 0;
                }
                it->kcap[i] = (uint32_t)cap;
            }
            it->kpos[i][n++] = c.pos;
        }
        if (r < 0) {
            it->ev->corrupt = 1;
            return 0;
        }
        it->knpos[i] = n;
    }
    sloppy_in in = {(const uint32_t *const *)it->kpos, it->knpos, it->kid_rel, it->kid_group,
                    it->n, it->slop};
    double f = sloppy_freq(&in, !it->ev->scoring, NULL, NULL, &it->ss);
    if (f < 0) {
        it->ev->nomem = 1;
        return 0;
    }
    it->sfreq = f;
    return f > 0;
}

static uint32_t it_seek(qit *it, uint32_t target)
{
    uint32_t d;
    if (target == IDX_END) {
        /* Nothing can follow; leave the children where they are. */
        it->doc = IDX_END;
        return IDX_END;
    }
    switch (it->kind) {
    case IT_TERM:
        d = idx_postings_advance(it->p, target);
        break;
    case IT_SET: {
        /* galloping: targets are usually near */
        const uint32_t *v = it->set->docs;
        uint32_t lo = it->at, n = it->set->n, step = 1;
        while (lo + step < n && v[lo + step] < target) {
            lo += step;
            step *= 2;
        }
        uint32_t hi = lo + step < n ? lo + step : n;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (v[mid] < target) lo = mid + 1;
            else hi = mid;
        }
        it->at = lo;
        d = lo < n ? v[lo] : IDX_END;
        break;
    }
    case IT_RANGE: {
        /* a scan of the column: every seek starts where the last one
         * stopped or further, so a segment's column is read once at most
         * per query; bytes of the presence bitmap without a value are
         * stepped over whole */
        d = IDX_END;
        for (uint32_t x = target; x < it->ndocs; x++) {
            if (!(x & 7) && !it->col->present[x >> 3]) {
                x += 7;
                continue;
            }
            double v;
            if (val_get(it->col, x, &v) && v >= it->lo && v <= it->hi) {
                d = x;
                break;
            }
        }
        break;
    }
    case IT_AND:
        d = align(it->order, it->n, target);
        while (d != IDX_END && excluded(it, d))
            d = align(it->order, it->n, d + 1);
        break;
    case IT_PHRASE:
        d = align_units(it->order, it->n, target);
        while (d != IDX_END && !phrase_verify(it)) {
            /* Candidates that fail the position check never reach the
             * collector, which would otherwise not see the clock while a
             * sloppy phrase of common words rejects a segment's worth.
             * Out of time, the phrase ends here; the collector, which
             * asks before it takes a document, stops too. */
            if (it->ev->corrupt || it->ev->nomem || ev_late(it->ev)) {
                d = IDX_END;
                break;
            }
            d = align_units(it->order, it->n, d + 1);
        }
        break;
    case IT_OR:
    default:
        d = IDX_END;
        for (uint32_t i = 0; i < it->n; i++) {
            uint32_t di = it_advance(it->kids[i], target);
            if (di < d) d = di;
        }
        break;
    }
    it->doc = d;
    return d;
}

/* BM25 score of the current doc; `norm` from bm25_norm. */
static double it_score(qit *it, double norm)
{
    switch (it->kind) {
    case IT_TERM:
        return it->weight * bm25_sat((double)idx_postings_freq(it->p), norm);
    case IT_SET:
        return it->weight * bm25_sat(it->set->wtfs ? (double)it->set->wtfs[it->at]
                                                   : (double)it->set->tfs[it->at], norm);
    case IT_PHRASE:
        return it->weight * bm25_sat(it->slop ? it->sfreq : (double)it->pfreq, norm);
    case IT_RANGE:
        return 0;   /* a filter */
    case IT_AND: {
        double s = 0;
        for (uint32_t i = 0; i < it->n; i++)
            s += it_score(it->kids[i], norm);
        return s;
    }
    case IT_OR:
    default: {
        double s = 0;
        for (uint32_t i = 0; i < it->n; i++)
            if (it->kids[i]->doc == it->doc)
                s += it_score(it->kids[i], norm);
        return s;
    }
    }
}

static void sort_by_cost(qit **v, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        qit *x = v[i];
        uint32_t j = i;
        while (j > 0 && v[j - 1]->cost > x->cost) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static qit *it_new(qev *ev, it_kind kind)
{
    qit *it = calloc(1, sizeof *it);
    if (it) {
        it->kind = kind;
        it->ev = ev;
    }
    return it;
}

/* What a node's score is multiplied by (word^B). */
static inline double node_boost(const pl_node *pn)
{
    return pn->boost > 0 ? pn->boost : 1.0;
}

/* Builds the iterator of plan node `pn` in segment `s`.  *out = NULL when
 * the node cannot match there.  Returns 0, or -1 on allocation failure. */
static int it_build(qev *ev, size_t s, const pl_node *pn, qit **out)
{
    *out = NULL;
    const idx_segment *seg = idx_reader_segment(ev->r, s);
    size_t nt = ev->plan->nterms;
    switch (pn->kind) {
    case PL_TERM: {
        size_t cell = s * nt + pn->term;
        if (!ev->seg_found[cell])
            return 0;
        qit *it = it_new(ev, IT_TERM);
        if (!it) return -1;
        if (idx_postings_open(seg, &ev->seg_terms[cell], &it->p) != 0) {
            free(it);
            return -1;
        }
        it->term = pn->term;
        it->weight = ev->idf[pn->term] * node_boost(pn);
        it->cost = ev->seg_terms[cell].df;
        it->doc = idx_postings_doc(it->p);
        *out = it;
        return 0;
    }
    case PL_PREFIX:
    case PL_FUZZY: {
        size_t cell = s * nt + pn->term;
        if (!ev->seg_found[cell])
            return 0;
        qit *it = it_new(ev, IT_SET);
        if (!it) return -1;
        it->set = &ev->pfx[cell];
        it->term = pn->term;
        it->weight = ev->idf[pn->term] * node_boost(pn);
        it->cost = it->set->n;
        it->doc = it->set->docs[0];
        *out = it;
        return 0;
    }
    case PL_RANGE: {
        const val_column *col = idx_segment_values(seg, pn->field, pn->field_len);
        if (!col || pn->lo > pn->hi) return 0;
        qit *it = it_new(ev, IT_RANGE);
        if (!it) return -1;
        it->col = col;
        it->lo = pn->lo;
        it->hi = pn->hi;
        it->ndocs = idx_segment_ndocs(seg);
        /* a bound: every value may lie in the range */
        it->cost = col->npresent;
        it->doc = 0;
        it_seek(it, 0);
        *out = it;
        return 0;
    }
    case PL_PHRASE: {
        /* A unit absent from the segment (a bigram included) means no
         * occurrence of the phrase there. */
        uint32_t nu = pn->nunits;
        for (uint32_t i = 0; i < nu; i++)
            if (!ev->seg_found[s * nt + pn->unit_term[i]])
                return 0;
        double weight = 0;
        for (uint32_t i = 0; i < pn->n; i++)
            weight += ev->idf[pn->slot_term[i]];
        weight *= node_boost(pn);
        if (nu == 1 && !pn->slop) {
            /* Unit positions are distinct (bigrams are deduplicated when
             * indexed), so the term frequency is the phrase frequency. */
            pl_node leaf = {.kind = PL_TERM, .term = pn->unit_term[0]};
            if (it_build(ev, s, &leaf, out))
                return -1;
            if (*out)
                (*out)->weight = weight;
            return 0;
        }
        qit *it = it_new(ev, IT_PHRASE);
        if (!it) return -1;
        it->kids = calloc(nu, sizeof *it->kids);
        it->order = malloc(nu * sizeof *it->order);
        it->pc = malloc(nu * sizeof *it->pc);
        it->order_rel = malloc(nu * sizeof *it->order_rel);
        if (!it->kids || !it->order || !it->pc || !it->order_rel) {
            it_free(it);
            return -1;
        }
        it->n = nu;
        it->weight = weight;
        it->cost = UINT64_MAX;
        for (uint32_t i = 0; i < nu; i++) {
            pl_node leaf = {.kind = PL_TERM, .term = pn->unit_term[i]};
            if (it_build(ev, s, &leaf, &it->kids[i]) || !it->kids[i]) {
                it_free(it);
                return -1;
            }
            if (it->kids[i]->cost < it->cost)
                it->cost = it->kids[i]->cost;
            it->order[i] = it->kids[i];
        }
        sort_by_cost(it->order, it->n);
        for (uint32_t i = 0; i < nu; i++)
            for (uint32_t j = 0; j < nu; j++)
                if (it->order[i] == it->kids[j])
                    it->order_rel[i] = pn->unit_rel[j];
        if (pn->slop) {
            it->slop = pn->slop;
            it->kid_rel = malloc(nu * sizeof *it->kid_rel);
            it->kid_group = malloc(nu * sizeof *it->kid_group);
            it->kpos = calloc(nu, sizeof *it->kpos);
            it->knpos = calloc(nu, sizeof *it->knpos);
            it->kcap = calloc(nu, sizeof *it->kcap);
            if (!it->kid_rel || !it->kid_group || !it->kpos || !it->knpos || !it->kcap) {
                it_free(it);
                return -1;
            }
            memcpy(it->kid_rel, pn->unit_rel, nu * sizeof *it->kid_rel);
            sloppy_groups(pn->unit_term, nu, it->kid_group);
        }
        it->doc = 0;
        it_seek(it, 0);
        *out = it;
        return 0;
    }
    case PL_AND: {
        qit *it = it_new(ev, IT_AND);
        if (!it) return -1;
        it->kids = calloc(pn->n, sizeof *it->kids);
        it->order = malloc(pn->n * sizeof *it->order);
        it->nots = calloc(pn->nnots ? pn->nnots : 1, sizeof *it->nots);
        if (!it->kids || !it->order || !it->nots) {
            it_free(it);
            return -1;
        }
        it->cost = UINT64_MAX;
        for (uint32_t i = 0; i < pn->n; i++) {
            qit *k;
            if (it_build(ev, s, pn->kids[i], &k)) {
                it_free(it);
                return -1;
            }
            if (!k) {           /* an empty conjunct empties the AND */
                it_free(it);
                return 0;
            }
            it->kids[it->n++] = k;
            it->order[i] = k;
            if (k->cost < it->cost) it->cost = k->cost;
        }
        for (uint32_t i = 0; i < pn->nnots; i++) {
            qit *k;
            if (it_build(ev, s, pn->nots[i], &k)) {
                it_free(it);
                return -1;
            }
            if (k) it->nots[it->nnots++] = k;
        }
        if (it->n == 1 && it->nnots == 0) {
            /* Only the positive child is left in this segment. */
            *out = it->kids[0];
            it->n = 0;
            it_free(it);
            return 0;
        }
        sort_by_cost(it->order, it->n);
        it->doc = 0;
        it_seek(it, 0);
        *out = it;
        return 0;
    }
    case PL_OR: {
        qit *it = it_new(ev, IT_OR);
        if (!it) return -1;
        it->kids = calloc(pn->n, sizeof *it->kids);
        if (!it->kids) {
            it_free(it);
            return -1;
        }
        for (uint32_t i = 0; i < pn->n; i++) {
            qit *k;
            if (it_build(ev, s, pn->kids[i], &k)) {
                it_free(it);
                return -1;
            }
            if (k) {
                it->kids[it->n++] = k;
                it->cost += k->cost;
            }
        }
        if (it->n <= 1) {
            *out = it->n ? it->kids[0] : NULL;
            it->n = 0;
            it_free(it);
            return 0;
        }
        it->doc = 0;
        it_seek(it, 0);
        *out = it;
        return 0;
    }
    }
    return 0;
}

/* ---- top-k heap ---------------------------------------------------------- */

typedef struct topk {
    quire_hit *h;       /* min-heap: h[0] is the worst kept hit */
    size_t n, k;
} topk;

/* Is a worse than b?  Lower score, or equal score and later doc. */
static inline int hit_worse(const quire_hit *a, const quire_hit *b)
{
    return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

static void heap_sift_down(quire_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && hit_worse(&h[l], &h[m])) m = l;
        if (l + 1 < n && hit_worse(&h[l + 1], &h[m])) m = l + 1;
        if (m == i) return;
        quire_hit t = h[i]; h[i] = h[m]; h[m] = t;
        i = m;
    }
}

/* Offers a hit; documents must arrive in ascending doc order. */
static inline void topk_push(topk *t, double score, uint64_t doc)
{
    if (t->n < t->k) {
        size_t i = t->n++;
        t->h[i] = (quire_hit){doc, score};
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!hit_worse(&t->h[i], &t->h[p])) break;
            quire_hit x = t->h[i]; t->h[i] = t->h[p]; t->h[p] = x;
            i = p;
        }
    } else if (score > t->h[0].score || (score == t->h[0].score && doc < t->h[0].doc)) {
        /* the tie matters only when documents come out of doc order
         * (ph_prime); in order, a tie always comes later */
        t->h[0] = (quire_hit){doc, score};
        heap_sift_down(t->h, t->n, 0);
    }
}

/* Score a document must beat to enter: -inf while the heap has room. */
static inline double topk_threshold(const topk *t)
{
    return t->n < t->k ? -INFINITY : t->h[0].score;
}

/* Heap to best-first order, in place. */
static void topk_finish(topk *t)
{
    size_t n = t->n;
    while (n > 1) {
        quire_hit x = t->h[0]; t->h[0] = t->h[n - 1]; t->h[n - 1] = x;
        n--;
        heap_sift_down(t->h, n, 0);
    }
}

/* ---- block-max pruning ----------------------------------------------------
 * For a root that is a term, an OR of terms, or an AND whose positive
 * children are terms, a doc's score is a sum of per-term contributions
 * idf * sat(tf, len).  sat grows with tf and shrinks with len, so for a
 * posting block whose documents each lie under one of its two impact
 * points (tf_k, len_k) (from the skip data, idx_postings_shallow_impacts),
 * idf * max_k sat(tf_k, len_k) bounds every contribution in that block.
 * (With one point, the largest tf and the smallest length, that bound was
 * too loose to skip most blocks of a frequent term: on
 * corpus/cache/all.jsonl 284 of the 349 blocks of `the` could hold a top
 * 10 document by it, 136 by two points, 8 by their true maxima.)
 *
 * At a candidate d, let S be the terms sitting on d, e_i the last doc of
 * the block of term i covering d, and E the smallest of the e_i (i in S)
 * and, for OR, of (doc_j - 1) over the terms j not on d.  Every doc in
 * [d, E] can only get contributions from S, each within the same block,
 * so sum(bound_i) bounds all of them.  When that bound does not beat the
 * heap threshold, the whole range is skipped with one seek to E + 1.
 * A doc that merely ties the threshold would be rejected anyway (it comes
 * later in doc order than the heap's minimum), so skipping on <= keeps
 * exactly the hits exhaustive scoring keeps.  The bounds carry a relative
 * slack of 1e-9 so floating-point rounding can never make one too low. */

typedef struct bm_term {
    qit *it;
    int valid;              /* bound/block_end describe a block */
    uint32_t block_end;     /* last doc of the block the bound is for */
    double bound;           /* idf * the larger sat of the block's impacts, with slack */
} bm_term;

#define BOUND_SLACK (1.0 + 1e-9)

/* Bound of term b's block covering d (b->it->doc == d); refreshes the
 * block when the iterator has moved past the cached one.  Targets never
 * decrease, as the shallow cursor requires. */
static inline double bm_bound_at(const qev *ev, bm_term *b, uint32_t d)
{
    if (!b->valid || b->block_end < d) {
        idx_impacts imp;
        b->block_end = idx_postings_shallow_impacts(b->it->p, d, &imp);
        double s0 = bm25_sat((double)imp.tf[0], bm25_norm(ev, imp.len[0]));
        double s1 = bm25_sat((double)imp.tf[1], bm25_norm(ev, imp.len[1]));
        b->bound = b->it->weight * (s0 > s1 ? s0 : s1) * BOUND_SLACK;
        b->valid = 1;
        if (b->block_end < d) {
            /* Inconsistent skip data: give no bound rather than a wrong
             * one, so this doc is scored exhaustively. */
            b->block_end = d;
            b->bound = INFINITY;
        }
    }
    return b->bound;
}

/* The smallest tf with which a lone term of weight w can beat thr in the
 * shortest possible document (length 0): w*f*(k1+1)/(f + norm(0)) > thr
 * needs f > thr*norm(0) / (w*(k1+1) - thr).  Rounded down, so a document
 * at the limit is kept for the exact test; UINT32_MAX when no tf can. */
static uint32_t tf_floor(const qev *ev, double w, double thr)
{
    double room = w * (BM25_K1 + 1.0) - thr;
    if (!(room > 0))
        return UINT32_MAX;
    double f = thr * bm25_norm(ev, 0) / room;
    if (!(f < 4e9))
        return UINT32_MAX;
    return f < 1 ? 1 : (uint32_t)f;
}

/* Top-k over one segment with block-max skipping; root is an OR of terms
 * or an AND whose positives are terms. */
static inline __attribute__((always_inline)) void
collect_blockmax_(qev *ev, qit *root, bm_term *bt, const idx_segment *seg, uint64_t base,
                  topk *t, const int timed)
{
    const uint64_t *del = idx_segment_deleted(seg);
    /* a lone term is an OR of one: its own blocks bound it */
    int single = root->kind == IT_TERM;
    uint32_t n = single ? 1 : root->n;
    int is_or = single || root->kind == IT_OR;
    for (uint32_t i = 0; i < n; i++)
        bt[i] = (bm_term){single ? root : root->kids[i], 0, 0, 0};
    uint32_t d = root->doc;
    double fmin_thr = NAN;
    uint32_t fmin = 1;
    while (d != IDX_END && !(timed && ev_late(ev))) {
        double thr = topk_threshold(t);
        if (thr > -INFINITY) {
            double ub = 0;
            uint32_t end = IDX_END - 1;
            for (uint32_t i = 0; i < n; i++) {
                uint32_t kd = bt[i].it->doc;
                if (kd == d) {
                    ub += bm_bound_at(ev, &bt[i], d);
                    if (bt[i].block_end < end)
                        end = bt[i].block_end;
                } else if (is_or && kd - 1 < end) {
                    end = kd - 1;       /* kd > d, so kd - 1 >= d */
                }
            }
            if (ub <= thr) {
                d = it_seek(root, end + 1);
                continue;
            }
        }
        if (!idx_is_deleted(del, d)) {
            /* A lone term's score w*f*(k1+1)/(f+norm) beats the threshold
             * only if w*f*(k1+1) > thr*(f+norm).  Tested first with the
             * smallest norm there is (length 0), it rejects most postings
             * of a frequent term before their length is read — a cache
             * miss per document on a large index — and then without the
             * division.  The margin leaves anything close to the exact
             * score. */
            if (single && thr > -INFINITY) {
                double f = (double)idx_postings_freq(root->p);
                double top = root->weight * f * (BM25_K1 + 1.0);
                double lim = thr * (1.0 - 1e-12);
                if (top < lim * (f + bm25_norm(ev, 0)) ||
                    top < lim * (f + bm25_norm(ev, idx_segment_doclen(seg, d)))) {
                    /* Skip, within the decoded blocks, every posting whose
                     * tf cannot beat the threshold even at length 0: for a
                     * frequent term most postings have tf 1 or 2 and are
                     * passed over without a length or a score. */
                    if (thr != fmin_thr) {
                        fmin = tf_floor(ev, root->weight, thr);
                        fmin_thr = thr;
                    }
                    idx_postings_next(root->p);
                    d = root->doc = idx_postings_next_tf(root->p, fmin);
                    continue;
                }
            }
            double norm = bm25_norm(ev, idx_segment_doclen(seg, d));
            topk_push(t, it_score(root, norm), base + d);
        }
        d = it_advance(root, d + 1);
    }
}

/* Two copies of each collector, with and without a time limit.  With one,
 * the test in the loop, even of a local flag, added 3.3% to the
 * instructions of the search driver for the ORs of bench/queries/all.tsv
 * on corpus/cache/all.jsonl (callgrind; two copies: 0.7%). */
static void collect_blockmax(qev *ev, qit *root, bm_term *bt, const idx_segment *seg,
                             uint64_t base, topk *t)
{
    if (ev->deadline) collect_blockmax_(ev, root, bt, seg, base, t, 1);
    else collect_blockmax_(ev, root, bt, seg, base, t, 0);
}

/* Top-k over one segment whose root is a phrase.  Each occurrence of the
 * phrase takes a distinct position of every unit, so its frequency is at
 * most the smallest unit tf, and it can only be in a document that every
 * unit's posting lists hold.  Two bounds follow, both checked before the
 * expensive part, the position check:
 *  - per block range, as in collect_blockmax: for candidate d, with E the
 *    smallest last doc of the units' blocks covering d, every doc in
 *    [d, E] scores at most weight * sat(min max_tf, max min_len);
 *  - per document: weight * sat(min tf, len).  For a given threshold and
 *    tf that is a length cut-off, recomputed only when the threshold
 *    moves, so a candidate costs a tf and a length compare, no floating
 *    point.  Frequent phrases of frequent words are candidates in a large
 *    share of all documents, and this is the loop they run through.
 * `pb` has room for one entry per unit. */
typedef struct ph_block {
    uint32_t end, max_tf, min_len;
    int valid;
} ph_block;

/* A phrase match's score: frequency f in a document of norm `norm`.
 * The scoring and the cut-offs below evaluate this one expression, not
 * inlined, so that the two get the same bits whatever the compiler
 * contracts into fused multiply-adds. */
static __attribute__((noinline)) double ph_score(double w, double f, double norm)
{
    return w * bm25_sat(f, norm);
}

/* Length cut-offs for threshold thr, two tables of PH_CUTS: from
 * cut[f - 1] on a document of phrase frequency f scores thr or less, and
 * from cut[PH_CUTS + f - 1] on less than thr.  The first is for documents
 * that come after every document in the heap, which lose a tie
 * (topk_push); the second for those ph_prime's pass may have left behind
 * them in the heap, as a tie with a lower doc number wins.  For f of 1 and
 * 2, nearly every candidate, the boundary is found with ph_score itself,
 * exactly; rounded up by two lengths, as all the cut-offs were and those
 * of larger f still are (solved from w*f*(k1+1)/(f + norm(len)) = thr),
 * every candidate of the lengths past it was verified for nothing.  The
 * verses of the KJV share a few lengths: on corpus/cache/all.jsonl the
 * exact boundary alone took a top 10 of "great and" from 2,010
 * verifications to 1,891, and with the first pass it took the 50 phrases
 * of bench/queries/gcide.tsv from 1% more instructions to 4% fewer. */
static void ph_cutoffs(const qev *ev, double w, double thr, uint32_t *cut)
{
    for (uint32_t f = 1; f <= PH_CUTS; f++) {
        double lim = w * f * (BM25_K1 + 1.0) / thr - f;
        double len = (lim / BM25_K1 - (1.0 - BM25_B)) / ev->len_scale;
        uint32_t c, keep;
        if (!(len < 4e9)) {   /* also NaN */
            c = keep = UINT32_MAX;
        } else if (f > 2) {
            c = keep = len < 0 ? 0 : (uint32_t)len + 2;
        } else {
            /* the least length that scores thr or less, then less; the
             * score falls as the length grows */
            c = len < 1 ? 0 : (uint32_t)len;
            while (c > 0 && !(ph_score(w, f, bm25_norm(ev, c - 1)) > thr)) c--;
            while (c < UINT32_MAX && ph_score(w, f, bm25_norm(ev, c)) > thr) c++;
            keep = c;
            while (keep < UINT32_MAX && !(ph_score(w, f, bm25_norm(ev, keep)) < thr)) keep++;
        }
        cut[f - 1] = c;
        cut[PH_CUTS + f - 1] = keep;
    }
}

/* Which of ph_cutoffs' tables holds for doc d: the one that keeps ties
 * while d may come before a document of ph_prime's pass in the heap. */
static inline const uint32_t *ph_cut_for(const uint32_t *cut, const ph_done *done, uint32_t d)
{
    return done && done->n && d <= done->hi[done->n - 1] ? cut + PH_CUTS : cut;
}

/* The phrase's next candidate from target on, passing over the ranges
 * ph_prime scored (`done`, NULL if none). */
static uint32_t ph_next(const qev *ev, qit *ph, const idx_segment *seg, const topk *t,
                        uint32_t target, uint32_t *cut, double *cut_thr, ph_done *done)
{
    double thr = topk_threshold(t);
    if (thr == -INFINITY)
        return align_units_cut(ph->order, ph->n, target, seg, NULL, done);
    if (thr != *cut_thr) {
        ph_cutoffs(ev, ph->weight, thr, cut);
        *cut_thr = thr;
    }
    return align_units_cut(ph->order, ph->n, target, seg, ph_cut_for(cut, done, target), done);
}

/* Lead documents ph_prime takes, per slot of the heap, in whole blocks
 * (at most PH_PRIME_BLOCKS); it takes none unless the lead has
 * PH_PRIME_MIN times as many documents, nor unless the shortest documents
 * of the lead's first blocks are on the whole PH_PRIME_GAIN times longer
 * than those of the blocks it would take.  Tried on the 50 phrases of
 * bench/queries/all.tsv (top 10, instructions by callgrind): 64 documents
 * a slot took more off them all than 32 or 128; with PH_PRIME_MIN 4, the
 * 1,895 documents of "place" were too few for a first pass, and "place of"
 * took 1.34 M instructions where it takes 0.51 M with one. */
#define PH_PRIME_PER_HIT 64u
#define PH_PRIME_MIN 2u
#define PH_PRIME_GAIN 2u

/* The first pass of collect_phrase over a segment.  A phrase's
 * frequency is mostly 1, and then the shorter document scores higher, so
 * the pass scores, with iterators of its own, the candidates in the
 * blocks of the rarest unit's list whose shortest documents are the
 * shortest (by the skip data's min_len, the earlier block on a tie):
 * the main pass then starts with the threshold of the documents likely
 * to score highest, and passes over these blocks (`done`, in doc order).
 * As the pass pushes documents out of doc order, a later document of the
 * main pass may tie the heap's minimum with a lower doc number; topk_push
 * and ph_cut_for keep it.  Returns 1, or 0 when it made no pass.
 *
 * Without it the threshold rose with the matches in doc order.  On
 * corpus/cache/all.jsonl, "great and" has 4,279 candidates and 222
 * matches, the short ones in the Bible at the end, and a top 10 verified
 * 2,010 candidates, most while the heap held matches in the long
 * documents before it.  With it (and ph_cutoffs' exact boundaries), the
 * 50 phrases of bench/queries/all.tsv took 16% fewer instructions, "great
 * and" 1.20 M where it took 2.28 M, and the 50 of
 * bench/queries/gcide.tsv, where the gain test mostly says no, 4% fewer;
 * on corpus/cache/big.jsonl, `all` repeated, "great and" and "from our"
 * took 6% more: the later copies' candidates, verified either way, are
 * most of the work there. */
static int ph_prime(qev *ev, qit *ph, const idx_segment *seg, uint64_t base, topk *t,
                    ph_done *done, const int timed)
{
    uint32_t n = ph->n;
    uint64_t want = ((uint64_t)t->k * PH_PRIME_PER_HIT + IDX_BLOCK - 1) / IDX_BLOCK;
    if (want > PH_PRIME_BLOCKS) want = PH_PRIME_BLOCKS;
    if (n < 2 || ph->order[0]->p->t.df < want * PH_PRIME_MIN * IDX_BLOCK)
        return 0;
    /* the pass moves iterators of its own, the lead's first; the main
     * pass's stay where it_build left them, on a verified match (pfreq) */
    idx_postings **own = malloc(2 * (size_t)n * sizeof *own);
    uint32_t *main_doc = malloc((size_t)n * sizeof *main_doc);
    uint32_t opened = 0;
    if (!own || !main_doc || idx_postings_open(seg, &ph->order[0]->p->t, &own[0]) != 0)
        ev->nomem = 1;   /* as anywhere in a search: QUIRE_ENOMEM */
    else
        opened = 1;
    done->n = done->at = 0;
    if (opened) {
        /* the lead's blocks of the shortest documents, the earlier on a
         * tie, and the summed min_len of those and of the first blocks */
        uint32_t key[PH_PRIME_BLOCKS];
        uint32_t lo = 0, max_tf, min_len, nblocks = 0;
        uint64_t first_sum = 0, sel_sum = 0;
        for (;;) {
            uint32_t hi = idx_postings_shallow_advance(own[0], lo, &max_tf, &min_len);
            if (hi == IDX_END || hi < lo) break;
            if (nblocks++ < want) first_sum += min_len;
            uint32_t i = done->n < want ? done->n++ : (uint32_t)want;
            for (; i > 0 && key[i - 1] > min_len; i--)
                if (i < want) {
                    key[i] = key[i - 1];
                    done->lo[i] = done->lo[i - 1];
                    done->hi[i] = done->hi[i - 1];
                }
            if (i < want) {
                key[i] = min_len;
                done->lo[i] = lo;
                done->hi[i] = hi;
            }
            if (hi >= IDX_END - 1) break;
            lo = hi + 1;
        }
        for (uint32_t i = 0; i < done->n; i++) sel_sum += key[i];
        /* Unless the main pass would meet about as short documents at
         * once: on corpus/cache/gcide.jsonl the first blocks' were 1.1-1.4
         * times longer, and a first pass cost up to 15% more; on
         * corpus/cache/all.jsonl, where it pays, 3-6 times. */
        if (first_sum <= PH_PRIME_GAIN * sel_sum) done->n = 0;
        for (uint32_t i = 1; i < done->n; i++)   /* to doc order */
            for (uint32_t j = i; j > 0 && done->lo[j - 1] > done->lo[j]; j--) {
                uint32_t x = done->lo[j]; done->lo[j] = done->lo[j - 1]; done->lo[j - 1] = x;
                x = done->hi[j]; done->hi[j] = done->hi[j - 1]; done->hi[j - 1] = x;
            }
    }
    for (; done->n && opened < n; opened++)
        if (idx_postings_open(seg, &ph->order[opened]->p->t, &own[opened]) != 0) break;
    if (!own || !main_doc || (done->n && opened < n)) {
        ev->nomem = 1;
        done->n = 0;
    }
    if (done->n) {
        for (uint32_t i = 0; i < n; i++) {
            own[n + i] = ph->order[i]->p;
            main_doc[i] = ph->order[i]->doc;
            ph->order[i]->p = own[i];
        }
        uint32_t main_pfreq = ph->pfreq;
        const uint64_t *del = idx_segment_deleted(seg);
        double cut_thr = NAN;
        uint32_t cut[2 * PH_CUTS];
        idx_postings *lp = own[0];
        for (uint32_t r = 0; r < done->n; r++) {
            uint32_t d = idx_postings_advance(lp, done->lo[r]);
            for (; d <= done->hi[r]; d = idx_postings_next(lp)) {   /* IDX_END too */
                if (timed && ev_late(ev)) goto out;
                uint32_t len = idx_segment_doclen(seg, d);
                double thr = topk_threshold(t);
                if (thr > -INFINITY) {
                    uint32_t f = idx_postings_freq(lp);
                    if (f <= PH_CUTS) {
                        if (thr != cut_thr) {
                            ph_cutoffs(ev, ph->weight, thr, cut);
                            cut_thr = thr;
                        }
                        if (len >= cut[f - 1]) continue;
                    }
                }
                uint32_t i = 1;
                while (i < n && idx_postings_advance(own[i], d) == d) i++;
                if (i < n || idx_is_deleted(del, d) || !phrase_verify(ph)) {
                    if (ev->corrupt) goto out;
                    continue;
                }
                topk_push(t, ph_score(ph->weight, (double)ph->pfreq, bm25_norm(ev, len)),
                          base + d);
            }
        }
    out:
        ph->pfreq = main_pfreq;
        for (uint32_t i = 0; i < n; i++) {
            ph->order[i]->p = own[n + i];
            ph->order[i]->doc = main_doc[i];
        }
    }
    for (uint32_t i = 0; i < opened; i++) idx_postings_close(own[i]);
    free(own);
    free(main_doc);
    return done->n != 0;
}

static inline __attribute__((always_inline)) void
collect_phrase_(qev *ev, qit *ph, ph_block *pb, const idx_segment *seg, uint64_t base,
                topk *t, const int timed)
{
    const uint64_t *del = idx_segment_deleted(seg);
    uint32_t n = ph->n;
    for (uint32_t i = 0; i < n; i++)
        pb[i].valid = 0;
    uint32_t rng_end = 0;
    int rng_valid = 0;
    double rng_ub = 0, cut_thr = NAN;
    uint32_t cut[2 * PH_CUTS];
    ph_done done_buf;
    ph_done *done = ph_prime(ev, ph, seg, base, t, &done_buf, timed) ? &done_buf : NULL;
    if (ev->corrupt || ev->nomem)
        return;
    /* it_build left the phrase on its first match, already verified,
     * unless ph_prime scored it */
    uint32_t d = ph->doc;
    int verified = 1;
    if (d != IDX_END && done && ph_done_skip(done, d)) {
        verified = 0;
        d = ph_next(ev, ph, seg, t, d + 1, cut, &cut_thr, done);
    }
    while (d != IDX_END && !(timed && ev_late(ev))) {
        double thr = topk_threshold(t);
        if (!verified && thr > -INFINITY) {
            if (!rng_valid || rng_end < d) {
                uint32_t f = UINT32_MAX, len = 0, end = IDX_END - 1;
                for (uint32_t i = 0; i < n; i++) {
                    ph_block *b = &pb[i];
                    if (!b->valid || b->end < d) {
                        b->end = idx_postings_shallow_advance(
                            ph->kids[i]->p, d, &b->max_tf, &b->min_len);
                        b->valid = 1;
                        if (b->end < d) {   /* inconsistent skip data */
                            b->end = d;
                            b->max_tf = UINT32_MAX;
                            b->min_len = 0;
                        }
                    }
                    if (b->max_tf < f) f = b->max_tf;
                    if (b->min_len > len) len = b->min_len;
                    if (b->end < end) end = b->end;
                }
                rng_ub = ph->weight * bm25_sat((double)f, bm25_norm(ev, len)) *
                         BOUND_SLACK;
                rng_end = end;
                rng_valid = 1;
            }
            if (rng_ub <= thr) {
                d = ph_next(ev, ph, seg, t, rng_end + 1, cut, &cut_thr, done);
                continue;
            }
            uint32_t f = idx_postings_freq(ph->order[0]->p);
            for (uint32_t i = 1; i < n && f > 1; i++) {
                uint32_t tf = idx_postings_freq(ph->order[i]->p);
                if (tf < f) f = tf;
            }
            if (f <= PH_CUTS) {
                if (thr != cut_thr) {
                    ph_cutoffs(ev, ph->weight, thr, cut);
                    cut_thr = thr;
                }
                if (idx_segment_doclen(seg, d) >= ph_cut_for(cut, done, d)[f - 1]) {
                    d = ph_next(ev, ph, seg, t, d + 1, cut, &cut_thr, done);
                    continue;
                }
            }
        }
        if (!idx_is_deleted(del, d) && (verified || phrase_verify(ph))) {
            double norm = bm25_norm(ev, idx_segment_doclen(seg, d));
            topk_push(t, ph_score(ph->weight, (double)ph->pfreq, norm),
                      base + d);
        }
        if (ev->corrupt)
            return;
        verified = 0;
        d = ph_next(ev, ph, seg, t, d + 1, cut, &cut_thr, done);
    }
}

static void collect_phrase(qev *ev, qit *ph, ph_block *pb, const idx_segment *seg,
                           uint64_t base, topk *t)
{
    if (ev->deadline) collect_phrase_(ev, ph, pb, seg, base, t, 1);
    else collect_phrase_(ev, ph, pb, seg, base, t, 0);
}

static int blockmax_eligible(const qit *root)
{
    if (root->kind == IT_TERM)
        return 1;
    if (root->kind != IT_OR && root->kind != IT_AND)
        return 0;
    for (uint32_t i = 0; i < root->n; i++)
        if (root->kids[i]->kind != IT_TERM)
            return 0;
    return 1;
}

static inline __attribute__((always_inline)) void
collect_exhaustive_(qev *ev, qit *root, const idx_segment *seg, uint64_t base, topk *t,
                    const int timed)
{
    const uint64_t *del = idx_segment_deleted(seg);
    for (uint32_t d = root->doc; d != IDX_END && !(timed && ev_late(ev));
         d = it_advance(root, d + 1)) {
        if (idx_is_deleted(del, d))
            continue;
        double sc = it_score(root, bm25_norm(ev, idx_segment_doclen(seg, d)));
        topk_push(t, sc, base + d);
    }
}

static void collect_exhaustive(qev *ev, qit *root, const idx_segment *seg, uint64_t base,
                               topk *t)
{
    if (ev->deadline) collect_exhaustive_(ev, root, seg, base, t, 1);
    else collect_exhaustive_(ev, root, seg, base, t, 0);
}

/* ---- entry points -------------------------------------------------------- */

/* Options of the search driver; tests turn pruning off to compare.  With
 * a field, the top-k is by its numbers (collect_sorted), not by BM25. */
typedef struct search_opts {
    int blockmax;
    const char *field;
    size_t flen;
    int descending;
    const qry_limit *lim;  /* NULL: none */
} search_opts;

/* Top-k by a stored field's number (values.h) instead of BM25: every
 * match is visited, as for a count, and offered to the same heap with
 * the value as its key (negated for ascending order), so ties keep
 * ascending doc order; a document without a value has the lowest key,
 * -inf, and so comes after every other in either order.  Values are
 * finite (val_parse), so -inf is never a real key.  No BM25 is worked
 * out: search_impl gives hits their value, NaN when they have none. */
static inline __attribute__((always_inline)) void
collect_sorted_(qev *ev, qit *root, const idx_segment *seg, const search_opts *opt,
                uint64_t base, topk *t, const int timed)
{
    const val_column *col = idx_segment_values(seg, opt->field, opt->flen);
    const uint64_t *del = idx_segment_deleted(seg);
    for (uint32_t d = root->doc; d != IDX_END && !(timed && ev_late(ev));
         d = it_advance(root, d + 1)) {
        if (idx_is_deleted(del, d)) continue;
        double v, key = -INFINITY;
        if (col && val_get(col, d, &v)) key = opt->descending ? v : -v;
        topk_push(t, key, base + d);
    }
}

static void collect_sorted(qev *ev, qit *root, const idx_segment *seg, const search_opts *opt,
                           uint64_t base, topk *t)
{
    if (ev->deadline) collect_sorted_(ev, root, seg, opt, base, t, 1);
    else collect_sorted_(ev, root, seg, opt, base, t, 0);
}

static int search_impl(const idx_reader *r, const char *q, size_t qlen,
                       size_t k, quire_hit *hits, size_t *nhits, int *partial,
                       const search_opts *opt, quire_error *err)
{
    *nhits = 0;
    *partial = 0;
    if (!r || (!hits && k))
        return qerr(err, QUIRE_EARG, "qry_search: NULL argument");
    /* the limit counts from here: parsing and planning are in it */
    uint64_t deadline = deadline_of(opt->lim);
    qry_plan *plan;
    int rc = qry_plan_text(q, qlen, idx_reader_tok_flags(r), &plan, err);
    if (rc) return rc;
    if (!plan->root || k == 0 || idx_reader_live_docs(r) == 0) {
        qry_plan_free(plan);
        return QUIRE_OK;
    }
    qev ev = {0};
    topk t = {0};
    void *scratch = NULL;
    size_t scratch_cap = 0;
    rc = ev_init(&ev, r, plan, !opt->field, opt->lim, deadline, err);
    if (rc) goto out;
    /* The heap never needs more room than there are live documents. */
    uint64_t live = idx_reader_live_docs(r);
    t.k = k < live ? k : (size_t)live;
    t.h = malloc(t.k * sizeof *t.h);
    if (!t.h) {
        rc = qerr(err, QUIRE_ENOMEM, "out of memory for %zu hits", t.k);
        goto out;
    }
    for (size_t s = 0; s < ev.nseg && !ev_late_now(&ev); s++) {
        qit *root;
        if (it_build(&ev, s, plan->root, &root)) {
            rc = qerr(err, QUIRE_ENOMEM, "out of memory evaluating query");
            goto out;
        }
        if (!root) continue;
        const idx_segment *seg = idx_reader_segment(r, s);
        uint64_t base = idx_reader_base(r, s);
        /* a phrase with slop has no frequency bound for block-max */
        int phrase = root->kind == IT_PHRASE && !root->slop;
        if (opt->field) {
            collect_sorted(&ev, root, seg, opt, base, &t);
        } else if (opt->blockmax && (phrase || blockmax_eligible(root))) {
            /* per-input block state: one entry per unit or term */
            size_t need = (root->n ? root->n : 1) *
                          (phrase ? sizeof(ph_block) : sizeof(bm_term));
            if (need > scratch_cap) {
                void *nb = realloc(scratch, need);
                if (!nb) {
                    it_free(root);
                    rc = qerr(err, QUIRE_ENOMEM, "out of memory evaluating query");
                    goto out;
                }
                scratch = nb;
                scratch_cap = need;
            }
            if (phrase)
                collect_phrase(&ev, root, scratch, seg, base, &t);
            else
                collect_blockmax(&ev, root, scratch, seg, base, &t);
        } else {
            collect_exhaustive(&ev, root, seg, base, &t);
        }
        it_free(root);
        if (ev.nomem) {
            rc = qerr(err, QUIRE_ENOMEM, "out of memory evaluating query");
            goto out;
        }
        if (ev.corrupt) {
            rc = qerr(err, QUIRE_ECORRUPT, "corrupt positions in segment %s (checksum mismatch or undecodable block)",
                      idx_segment_name(seg));
            goto out;
        }
    }
    topk_finish(&t);
    memcpy(hits, t.h, t.n * sizeof *hits);
    for (size_t i = 0; opt->field && i < t.n; i++) {
        double key = hits[i].score;
        hits[i].score = key == -INFINITY ? NAN : opt->descending ? key : -key;
    }
    *nhits = t.n;
    *partial = ev.late;
out:
    free(scratch);
    free(t.h);
    ev_free(&ev);
    qry_plan_free(plan);
    return rc;
}

int qry_search_ex(const idx_reader *r, const char *q, size_t qlen, size_t k,
                  const char *field, size_t flen, int descending, const qry_limit *lim,
                  quire_hit *hits, size_t *nhits, int *partial, quire_error *err)
{
    const search_opts opt = {.blockmax = !field, .field = field, .flen = flen,
                             .descending = descending, .lim = lim};
    return search_impl(r, q, qlen, k, hits, nhits, partial, &opt, err);
}

int qry_search(const idx_reader *r, const char *q, size_t qlen, size_t k,
               quire_hit *hits, size_t *nhits, quire_error *err)
{
    int partial;
    return qry_search_ex(r, q, qlen, k, NULL, 0, 0, NULL, hits, nhits, &partial, err);
}

int qry_search_exhaustive(const idx_reader *r, const char *q, size_t qlen,
                          size_t k, quire_hit *hits, size_t *nhits,
                          quire_error *err)
{
    static const search_opts opt = {.blockmax = 0};
    int partial;
    return search_impl(r, q, qlen, k, hits, nhits, &partial, &opt, err);
}

/* Sets the bit of each document of p.  With a time limit (`timed`, a copy
 * of its own), the clock is read every 64 Ki postings: one frequent term
 * is 1.7 M postings of big's segment, 1.4 ms. */
static inline __attribute__((always_inline)) void
or_set_bits(qev *ev, idx_postings *p, uint64_t *b, const int timed)
{
    uint32_t k = 0;
    for (uint32_t d = idx_postings_doc(p); d != IDX_END; d = idx_postings_next(p)) {
        b[d >> 6] |= 1ull << (d & 63);
        if (timed && ++k % 65536 == 0 && ev_late_now(ev)) return;
    }
}

/* Exact count of an OR of terms in one segment: every posting sets its
 * document's bit, and the set bits that are not deleted are counted.  A
 * document-at-a-time union compares the current documents of all its
 * inputs at every step; this touches each posting once, sequentially, and
 * the bitmap (one bit per document) stays in cache. */
static int count_or_terms(qev *ev, size_t s, const pl_node *pn,
                          uint64_t **bits, size_t *cap, uint64_t *total)
{
    const idx_segment *seg = idx_reader_segment(ev->r, s);
    uint32_t nd = idx_segment_ndocs(seg);
    size_t nw = ((size_t)nd + 63) / 64;
    if (nw > *cap) {
        uint64_t *nb = realloc(*bits, nw * sizeof *nb);
        if (!nb) return -1;
        *bits = nb;
        *cap = nw;
    }
    uint64_t *b = *bits;
    memset(b, 0, nw * sizeof *b);
    for (uint32_t i = 0; i < pn->n && !ev_late_now(ev); i++) {
        size_t cell = s * ev->plan->nterms + pn->kids[i]->term;
        if (!ev->seg_found[cell])
            continue;
        idx_postings *p;
        if (idx_postings_open(seg, &ev->seg_terms[cell], &p) != 0)
            return -1;
        if (ev->deadline) or_set_bits(ev, p, b, 1);
        else or_set_bits(ev, p, b, 0);
        idx_postings_close(p);
    }
    const uint64_t *del = idx_segment_deleted(seg);
    uint64_t n = 0;
    for (size_t w = 0; w < nw; w++)
        n += (uint64_t)__builtin_popcountll(del ? b[w] & ~del[w] : b[w]);
    *total += n;
    return 0;
}

static int or_of_terms(const pl_node *pn)
{
    if (pn->kind != PL_OR)
        return 0;
    for (uint32_t i = 0; i < pn->n; i++)
        if (pn->kids[i]->kind != PL_TERM)
            return 0;
    return 1;
}

int qry_count_ex(const idx_reader *r, const char *q, size_t qlen, const qry_limit *lim,
                 uint64_t *count, int *partial, quire_error *err)
{
    *count = 0;
    *partial = 0;
    if (!r)
        return qerr(err, QUIRE_EARG, "qry_count: NULL reader");
    uint64_t deadline = deadline_of(lim);
    qry_plan *plan;
    int rc = qry_plan_text(q, qlen, idx_reader_tok_flags(r), &plan, err);
    if (rc) return rc;
    if (!plan->root) {
        qry_plan_free(plan);
        return QUIRE_OK;
    }
    qev ev = {0};
    rc = ev_init(&ev, r, plan, 0, lim, deadline, err);
    uint64_t total = 0;
    uint64_t *bits = NULL;
    size_t bits_cap = 0;
    for (size_t s = 0; rc == QUIRE_OK && s < ev.nseg && !ev_late_now(&ev); s++) {
        const idx_segment *seg = idx_reader_segment(r, s);
        const uint64_t *del = idx_segment_deleted(seg);
        const pl_node *pr = plan->root;
        if (or_of_terms(pr)) {
            if (count_or_terms(&ev, s, pr, &bits, &bits_cap, &total))
                rc = qerr(err, QUIRE_ENOMEM, "out of memory evaluating query");
            continue;
        }
        uint32_t lone = UINT32_MAX;     /* the root is this one term */
        if (pr->kind == PL_TERM)
            lone = pr->term;
        else if (pr->kind == PL_PHRASE && pr->nunits == 1)
            lone = pr->unit_term[0];    /* a phrase that is one bigram */
        if (lone != UINT32_MAX && !del) {
            /* Without deletions a term's df is its exact count. */
            size_t cell = s * plan->nterms + lone;
            if (ev.seg_found[cell])
                total += ev.seg_terms[cell].df;
            continue;
        }
        qit *root;
        if (it_build(&ev, s, plan->root, &root)) {
            rc = qerr(err, QUIRE_ENOMEM, "out of memory evaluating query");
            break;
        }
        if (!root) continue;
        const int timed = ev.deadline != 0;
        for (uint32_t d = root->doc; d != IDX_END && !(timed && ev_late(&ev));
             d = it_advance(root, d + 1))
            total += !idx_is_deleted(del, d);
        it_free(root);
        if (ev.nomem)
            rc = qerr(err, QUIRE_ENOMEM, "out of memory evaluating query");
        else if (ev.corrupt)
            rc = qerr(err, QUIRE_ECORRUPT, "corrupt positions in segment %s (checksum mismatch or undecodable block)",
                      idx_segment_name(seg));
    }
    if (rc == QUIRE_OK) {
        *count = total;
        *partial = ev.late;
    }
    free(bits);
    ev_free(&ev);
    qry_plan_free(plan);
    return rc;
}

int qry_count(const idx_reader *r, const char *q, size_t qlen,
              uint64_t *count, quire_error *err)
{
    int partial;
    return qry_count_ex(r, q, qlen, NULL, count, &partial, err);
}
