/*
 * api.c — the public reading API (quire_index_*, quire_search,
 * quire_search_sorted, quire_search_ex, quire_count, quire_count_ex, quire_doc_value,
 * quire_suggest, quire_doc_*, quire_snippet, quire_highlight, quire_index_stats,
 * quire_tokenize): thin
 * wrappers that check arguments, own result memory and delegate to the
 * index layer (idx_reader) and the query layer (qry_*).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/index.h"
#include "index/util.h"
#include "index/values.h"
#include "query/query.h"
#include "query/snippet.h"
#include "tokenizer/tokenizer.h"

struct quire_index {
    idx_reader *r;
};

struct quire_results {
    size_t n;
    int partial;           /* stopped at the time limit */
    quire_hit hits[];
};

typedef struct doc_field {
    const char *name; size_t name_len;
    const char *value; size_t value_len;
} doc_field;

struct quire_doc {
    uint8_t *rec;
    size_t nfields;
    doc_field fields[];
};

int quire_index_open(const char *dir, quire_index **out, quire_error *err)
{
    if (!dir || !out) return qerr(err, QUIRE_EARG, "dir and out are required");
    quire_index *ix = calloc(1, sizeof *ix);
    if (!ix) return qerr(err, QUIRE_ENOMEM, "out of memory");
    int rc = idx_reader_open(dir, SEG_VERIFY_LAZY, &ix->r, err);
    if (rc) {
        free(ix);
        return rc;
    }
    *out = ix;
    return QUIRE_OK;
}

void quire_index_close(quire_index *ix)
{
    if (!ix) return;
    idx_reader_close(ix->r);
    free(ix);
}

static int check_limit(double seconds, quire_error *err)
{
    if (!(seconds >= 0))   /* also NaN */
        return qerr(err, QUIRE_EARG, "time limit must be a number of seconds, 0 or more");
    return QUIRE_OK;
}

int quire_search_ex(quire_index *ix, const char *query, size_t query_len, size_t k,
                    const quire_search_options *opt, quire_results **out, quire_error *err)
{
    static const quire_search_options none = {0};
    if (!opt) opt = &none;
    if (!ix || !query || !out) return qerr(err, QUIRE_EARG, "index, query and out are required");
    if (k > ((size_t)1 << 26)) return qerr(err, QUIRE_EARG, "k too large");
    int rc = check_limit(opt->time_limit, err);
    if (rc) return rc;
    quire_results *r = malloc(sizeof *r + (k ? k : 1) * sizeof(quire_hit));
    if (!r) return qerr(err, QUIRE_ENOMEM, "out of memory");
    r->n = 0;
    r->partial = 0;
    const char *f = opt->sort_field;
    const qry_limit lim = {.seconds = opt->time_limit};
    rc = k ? qry_search_ex(ix->r, query, query_len, k, f, f ? strlen(f) : 0, opt->descending,
                           &lim, r->hits, &r->n, &r->partial, err)
           : QUIRE_OK;
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return QUIRE_OK;
}

int quire_search(quire_index *ix, const char *query, size_t query_len, size_t k,
                 quire_results **out, quire_error *err)
{
    return quire_search_ex(ix, query, query_len, k, NULL, out, err);
}

int quire_search_sorted(quire_index *ix, const char *query, size_t query_len,
                        const char *field, int descending, size_t k, quire_results **out,
                        quire_error *err)
{
    if (!field) return qerr(err, QUIRE_EARG, "index, query, field and out are required");
    const quire_search_options o = {.sort_field = field, .descending = descending};
    return quire_search_ex(ix, query, query_len, k, &o, out, err);
}

int quire_doc_value(quire_index *ix, uint64_t doc, const char *field, double *value,
                    quire_error *err)
{
    if (!ix || !field || !value) return qerr(err, QUIRE_EARG, "index, field and value are required");
    uint32_t local;
    long s = idx_reader_locate(ix->r, doc, &local);
    if (s < 0) return qerr(err, QUIRE_ENOTFOUND, "no document %llu", (unsigned long long)doc);
    const val_column *c = idx_segment_values(idx_reader_segment(ix->r, (size_t)s), field,
                                             strlen(field));
    if (!c || !val_get(c, local, value))
        return qerr(err, QUIRE_ENOTFOUND, "document %llu has no number in field %s",
                    (unsigned long long)doc, field);
    return QUIRE_OK;
}

int quire_count_ex(quire_index *ix, const char *query, size_t query_len,
                   const quire_search_options *opt, uint64_t *count, int *partial,
                   quire_error *err)
{
    int late = 0;
    if (partial) *partial = 0;
    if (!ix || !query || !count) return qerr(err, QUIRE_EARG, "index, query and count are required");
    const qry_limit lim = {.seconds = opt ? opt->time_limit : 0};
    int rc = check_limit(lim.seconds, err);
    if (!rc) rc = qry_count_ex(ix->r, query, query_len, &lim, count, &late, err);
    if (!rc && partial) *partial = late;
    return rc;
}

int quire_count(quire_index *ix, const char *query, size_t query_len,
                uint64_t *count, quire_error *err)
{
    return quire_count_ex(ix, query, query_len, NULL, count, NULL, err);
}

int quire_suggest(quire_index *ix, const char *query, size_t query_len, const char *open,
                  const char *close, char *buf, size_t cap, size_t *replaced, quire_error *err)
{
    if (replaced) *replaced = 0;
    if (!ix || !query || !open || !close || (!buf && cap) || !replaced)
        return qerr(err, QUIRE_EARG, "index, query, markers, buffer and replaced are required");
    return qry_suggest(ix->r, query, query_len, open, close, buf, cap, replaced, err);
}

size_t quire_results_size(const quire_results *r) { return r ? r->n : 0; }
int quire_results_partial(const quire_results *r) { return r ? r->partial : 0; }
const quire_hit *quire_results_get(const quire_results *r, size_t i)
{
    return r && i < r->n ? &r->hits[i] : NULL;
}
void quire_results_free(quire_results *r) { free(r); }

int quire_doc_find(quire_index *ix, const char *id, size_t id_len, uint64_t *doc,
                   quire_error *err)
{
    if (!ix || (!id && id_len) || !doc) return qerr(err, QUIRE_EARG, "index, id and doc are required");
    /* newest first: a replaced document's live copy is in a later
     * segment, and every other copy is deleted */
    for (size_t s = idx_reader_nsegments(ix->r); s-- > 0;) {
        const idx_segment *seg = idx_reader_segment(ix->r, s);
        long d = idx_segment_find_id(seg, id ? id : "", id_len);
        if (d == -2)
            return qerr(err, QUIRE_ECORRUPT, "segment %s: checksum mismatch in section ids",
                        idx_segment_name(seg));
        if (d >= 0 && !idx_is_deleted(idx_segment_deleted(seg), (uint32_t)d)) {
            *doc = idx_reader_base(ix->r, s) + (uint64_t)d;
            return QUIRE_OK;
        }
    }
    return qerr(err, QUIRE_ENOTFOUND, "no document with id %.*s", (int)(id_len > 200 ? 200 : id_len),
                id ? id : "");
}

int quire_doc_get(quire_index *ix, uint64_t doc, quire_doc **out, quire_error *err)
{
    if (!ix || !out) return qerr(err, QUIRE_EARG, "index and out are required");
    uint32_t local;
    long si = idx_reader_locate(ix->r, doc, &local);
    if (si < 0) return qerr(err, QUIRE_ENOTFOUND, "no document %llu", (unsigned long long)doc);
    uint8_t *rec;
    size_t len;
    int rc = idx_segment_doc_record(idx_reader_segment(ix->r, (size_t)si), local, &rec, &len, err);
    if (rc) return rc;
    const uint8_t *p = rec, *end = rec + len;
    uint64_t nf;
    if (!(p = varint_get(p, end, &nf)) || nf > len) {
        free(rec);
        return qerr(err, QUIRE_ECORRUPT, "stored document %llu is malformed",
                    (unsigned long long)doc);
    }
    quire_doc *d = malloc(sizeof *d + (nf ? nf : 1) * sizeof(doc_field));
    if (!d) {
        free(rec);
        return qerr(err, QUIRE_ENOMEM, "out of memory");
    }
    d->rec = rec;
    d->nfields = (size_t)nf;
    for (size_t i = 0; i < nf; i++) {
        uint64_t nl, vl;
        if (!(p = varint_get(p, end, &nl)) || nl > (uint64_t)(end - p)) goto bad;
        d->fields[i].name = (const char *)p;
        d->fields[i].name_len = (size_t)nl;
        p += nl;
        if (!(p = varint_get(p, end, &vl)) || vl > (uint64_t)(end - p)) goto bad;
        d->fields[i].value = (const char *)p;
        d->fields[i].value_len = (size_t)vl;
        p += vl;
    }
    *out = d;
    return QUIRE_OK;
bad:
    quire_doc_free(d);
    return qerr(err, QUIRE_ECORRUPT, "stored document %llu is malformed",
                (unsigned long long)doc);
}

int quire_doc_field(const quire_doc *d, const char *name, const char **value,
                    size_t *len)
{
    size_t nl = strlen(name);
    for (size_t i = 0; d && i < d->nfields; i++) {
        if (d->fields[i].name_len == nl && memcmp(d->fields[i].name, name, nl) == 0) {
            *value = d->fields[i].value;
            *len = d->fields[i].value_len;
            return QUIRE_OK;
        }
    }
    *value = "";
    *len = 0;
    return QUIRE_ENOTFOUND;
}

size_t quire_doc_nfields(const quire_doc *d) { return d ? d->nfields : 0; }

void quire_doc_field_at(const quire_doc *d, size_t i, const char **name,
                        size_t *name_len, const char **value, size_t *len)
{
    *name = d->fields[i].name;
    *name_len = d->fields[i].name_len;
    *value = d->fields[i].value;
    *len = d->fields[i].value_len;
}

void quire_doc_free(quire_doc *d)
{
    if (!d) return;
    free(d->rec);
    free(d);
}

int quire_snippet(quire_index *ix, uint64_t doc, const char *query, size_t query_len,
                  const char *open, const char *close, size_t max_bytes, char *buf,
                  size_t cap, quire_error *err)
{
    if (!ix || !query || !buf || cap == 0)
        return qerr(err, QUIRE_EARG, "index, query and buffer are required");
    quire_doc *d;
    int rc = quire_doc_get(ix, doc, &d, err);
    if (rc) return rc;
    const char *text;
    size_t len;
    uint32_t flags = idx_reader_tok_flags(ix->r);
    quire_doc_field(d, "body", &text, &len);
    if (len == 0) {
        quire_doc_field(d, "title", &text, &len);
        flags |= QRY_TEXT_TITLE;
    }
    rc = qry_snippet_text(flags, query, query_len, text, len, open ? open : "",
                          close ? close : "", max_bytes, buf, cap, err);
    quire_doc_free(d);
    return rc;
}

int quire_highlight(quire_index *ix, uint64_t doc, const char *query, size_t query_len,
                    const char *field, quire_span *spans, size_t cap, size_t *n,
                    quire_error *err)
{
    if (n) *n = 0;
    if (!ix || !query || !field || (!spans && cap) || !n)
        return qerr(err, QUIRE_EARG, "index, query, field, spans and n are required");
    quire_doc *d;
    int rc = quire_doc_get(ix, doc, &d, err);
    if (rc) return rc;
    const char *text;
    size_t len;
    if (quire_doc_field(d, field, &text, &len) != QUIRE_OK) {
        quire_doc_free(d);
        return qerr(err, QUIRE_ENOTFOUND, "document %llu keeps no field '%s'",
                    (unsigned long long)doc, field);
    }
    quire_span *all;
    size_t na;
    rc = qry_match_spans(idx_reader_tok_flags(ix->r) |
                             (strcmp(field, "title") == 0 ? QRY_TEXT_TITLE : 0),
                         query, query_len, text, len, &all, &na,
                         err);
    quire_doc_free(d);
    if (rc) return rc;
    if (na && cap) memcpy(spans, all, (na < cap ? na : cap) * sizeof *all);
    *n = na;
    free(all);
    return QUIRE_OK;
}

static int cmp_field(const void *a, const void *b)
{
    const quire_field_info *x = a, *y = b;
    int c = memcmp(x->name, y->name, x->name_len < y->name_len ? x->name_len : y->name_len);
    return c ? c : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

int quire_index_fields(quire_index *ix, quire_field_fn fn, void *ctx, quire_error *err)
{
    if (!ix || !fn) return qerr(err, QUIRE_EARG, "index and fn are required");
    quire_field_info *v = NULL;   /* by first appearance; sorted at the end */
    size_t n = 0, cap = 0;
    for (size_t s = 0; s < idx_reader_nsegments(ix->r); s++) {
        const idx_segment *seg = idx_reader_segment(ix->r, s);
        const val_view *vv = idx_segment_value_view(seg);
        const uint64_t *del = idx_segment_deleted(seg);
        for (uint32_t c = 0; c < vv->ncols; c++) {
            const val_column *col = &vv->cols[c];
            size_t i = 0;
            while (i < n && !(v[i].name_len == col->name_len &&
                              !memcmp(v[i].name, col->name, col->name_len)))
                i++;
            if (i == n) {
                if (grow_array((void **)&v, &cap, n + 1, sizeof *v, 8)) {
                    free(v);
                    return qerr(err, QUIRE_ENOMEM, "out of memory");
                }
                v[n++] = (quire_field_info){(const char *)col->name, col->name_len, 0,
                                              INFINITY, -INFINITY};
            }
            for (uint32_t d = 0; d < vv->ndocs; d++) {
                double x;
                if (idx_is_deleted(del, d) || !val_get(col, d, &x)) continue;
                v[i].docs++;
                if (x < v[i].min) v[i].min = x;
                if (x > v[i].max) v[i].max = x;
            }
        }
    }
    if (n) qsort(v, n, sizeof *v, cmp_field);
    for (size_t i = 0; i < n; i++)
        if (v[i].docs && fn(ctx, &v[i])) break;
    free(v);
    return QUIRE_OK;
}

int quire_index_stats(quire_index *ix, quire_stats *out, quire_error *err)
{
    if (!ix || !out) return qerr(err, QUIRE_EARG, "index and out are required");
    return idx_reader_stats(ix->r, out);
}

typedef struct tok_adapter { quire_token_fn fn; void *ctx; } tok_adapter;

static int adapt(void *ctx, const tok_token *t)
{
    tok_adapter *a = ctx;
    return a->fn(a->ctx, t->term, t->len, t->pos, t->start, t->end);
}

int quire_tokenize(uint32_t tok_flags, const char *text, size_t len,
                   quire_token_fn emit, void *ctx, quire_error *err)
{
    if (!emit || (!text && len)) return qerr(err, QUIRE_EARG, "text and emit are required");
    tok_tokenizer *t;
    if (tok_new(tok_flags, TOK_MODE_INDEX, &t) != 0)
        return qerr(err, QUIRE_EARG, "bad tokenizer flags %#x", tok_flags);
    tok_adapter a = {emit, ctx};
    int rc = tok_run(t, text ? text : "", len, 0, adapt, &a, NULL);
    tok_free(t);
    if (rc < 0) return qerr(err, QUIRE_ENOMEM, "out of memory");
    return QUIRE_OK;
}
