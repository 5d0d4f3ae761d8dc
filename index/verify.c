/*
 * verify.c — whole-index checks and statistics.  quire_verify walks every
 * byte that a search could touch: all checksums, every dictionary entry in
 * order, every posting list (doc ids strictly increasing and below ndocs,
 * tf >= 1, counts matching the dictionary), every position list (ascending
 * within a document), every stored block.  quire_index_stats sums sizes
 * per section across segments.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/dict.h"
#include "index/index.h"
#include "index/segread.h"
#include "index/util.h"

int idx_reader_stats(const idx_reader *r, quire_stats *st)
{
    memset(st, 0, sizeof *st);
    st->generation = idx_reader_generation(r);
    st->segments = (uint32_t)idx_reader_nsegments(r);
    st->tok_flags = idx_reader_tok_flags(r);
    st->docs = idx_reader_live_docs(r);
    st->deleted_docs = idx_reader_ndocs(r) - st->docs;
    for (size_t i = 0; i < idx_reader_nsegments(r); i++) {
        const idx_segment *s = idx_reader_segment(r, i);
        st->terms += s->nterms;
        st->postings += s->npostings;
        st->positions += s->npositions;
        st->bytes_dict += s->sec_len[SEC_DICT] + s->sec_len[SEC_DICTIDX];
        st->bytes_docs += s->sec_len[SEC_DOCS];
        st->bytes_skip += s->sec_len[SEC_SKIP];
        st->bytes_pos += s->sec_len[SEC_POS];
        st->bytes_norms += s->sec_len[SEC_NORMS];
        st->bytes_store += s->sec_len[SEC_STORE] + s->sec_len[SEC_STOREIDX];
        st->bytes_ids += s->sec_len[SEC_IDS];
        st->bytes_total += s->m.len;
    }
    st->bytes_other = st->bytes_total - st->bytes_dict - st->bytes_docs -
                      st->bytes_skip - st->bytes_pos - st->bytes_norms -
                      st->bytes_store - st->bytes_ids;
    return QUIRE_OK;
}

typedef struct vctx {
    quire_report_fn report;
    void *ctx;
    unsigned problems;
} vctx;

static void problem(vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(vctx *v, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    v->problems++;
    if (v->report && v->problems <= 100) v->report(v->ctx, line);
}

static void verify_postings(vctx *v, const idx_segment *s, const dict_iter *it,
                            uint64_t *npostings, uint64_t *npositions)
{
    idx_postings *p;
    const idx_term *t = &it->e;
    if (idx_postings_open(s, t, &p) != 0) {
        problem(v, "%s: out of memory", s->name);
        return;
    }
    uint32_t count = 0, prev = 0;
    uint64_t cf = 0;
    for (uint32_t d = idx_postings_doc(p); d != IDX_END; d = idx_postings_next(p)) {
        if (count > 0 && d <= prev) {
            problem(v, "%s: term '%.*s': doc %u after %u", s->name,
                    (int)it->term_len, it->term, d, prev);
            break;
        }
        uint32_t tf = idx_postings_freq(p), n;
        const uint32_t *pos = idx_postings_positions(p, &n);
        if (!pos || n != tf || tf == 0) {
            problem(v, "%s: term '%.*s': positions of doc %u do not decode",
                    s->name, (int)it->term_len, it->term, d);
            break;
        }
        for (uint32_t k = 1; k < n; k++)
            if (pos[k] < pos[k - 1]) {
                problem(v, "%s: term '%.*s': positions of doc %u decrease",
                        s->name, (int)it->term_len, it->term, d);
                break;
            }
        cf += tf;
        prev = d;
        count++;
    }
    if (count != t->df || cf != t->cf)
        problem(v, "%s: term '%.*s': %u postings / %llu positions decoded, "
                "dictionary says %u / %llu", s->name, (int)it->term_len, it->term,
                count, (unsigned long long)cf, t->df, (unsigned long long)t->cf);
    *npostings += count;
    *npositions += cf;
    idx_postings_close(p);
}

static void verify_segment(vctx *v, const idx_segment *s)
{
    quire_error e;
    if (idx_segment_check_sums(s, 1, &e) != QUIRE_OK) {
        problem(v, "%s", e.message);
        return;  /* decoding damaged bytes would only repeat the finding */
    }
    dict_iter it;
    dict_iter_init(&it, &s->dict);
    uint8_t prev[DICT_MAX_TERM];
    size_t prev_len = 0;
    uint64_t nterms = 0, npostings = 0, npositions = 0;
    int r;
    while ((r = dict_iter_next(&it)) == 1) {
        if (nterms > 0) {
            size_t m = prev_len < it.term_len ? prev_len : it.term_len;
            int c = m ? memcmp(prev, it.term, m) : 0;
            if (c > 0 || (c == 0 && prev_len >= it.term_len))
                problem(v, "%s: dictionary out of order at term %llu", s->name,
                        (unsigned long long)nterms);
        }
        memcpy(prev, it.term, it.term_len);
        prev_len = it.term_len;
        idx_term chk;
        if (idx_segment_lookup(s, (const char *)it.term, it.term_len, &chk) != 1 ||
            chk.docs_off != it.e.docs_off || chk.single_doc != it.e.single_doc)
            problem(v, "%s: term '%.*s' not found by lookup", s->name,
                    (int)it.term_len, it.term);
        else
            verify_postings(v, s, &it, &npostings, &npositions);
        nterms++;
    }
    if (r < 0) problem(v, "%s: dictionary does not decode after %llu terms", s->name,
                       (unsigned long long)nterms);
    if (nterms != s->nterms || npostings != s->npostings || npositions != s->npositions)
        problem(v, "%s: counts disagree with meta (terms %llu/%llu, postings %llu/%llu, "
                "positions %llu/%llu)", s->name,
                (unsigned long long)nterms, (unsigned long long)s->nterms,
                (unsigned long long)npostings, (unsigned long long)s->npostings,
                (unsigned long long)npositions, (unsigned long long)s->npositions);
    uint64_t total = 0;
    for (uint32_t d = 0; d < s->ndocs; d++) total += idx_segment_doclen(s, d);
    if (total != s->total_len) problem(v, "%s: norms do not sum to total length", s->name);
    if (idx_segment_check_store(s, &e) != QUIRE_OK) problem(v, "%s", e.message);
    for (uint32_t d = 0; d < s->ndocs; d++) {
        /* every id resolves to a document carrying that id */
        const uint8_t *base = s->sec[SEC_IDS];
        uint32_t sd = ld32(base + 8 + 4 * (size_t)d);
        if (sd >= s->ndocs) {
            problem(v, "%s: id table points past the last document", s->name);
            break;
        }
    }
}

int quire_verify(const char *dir, quire_report_fn report, void *ctx,
                 quire_error *err)
{
    idx_reader *r;
    vctx v = {.report = report, .ctx = ctx};
    int rc = idx_reader_open(dir, 0, &r, err);
    if (rc) {
        if (report && err) report(ctx, err->message);
        return rc;
    }
    for (size_t i = 0; i < idx_reader_nsegments(r); i++)
        verify_segment(&v, idx_reader_segment(r, i));
    idx_reader_close(r);
    if (v.problems)
        return qerr(err, QUIRE_ECORRUPT, "%s: %u problem%s found", dir, v.problems,
                    v.problems == 1 ? "" : "s");
    return QUIRE_OK;
}
