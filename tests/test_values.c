/*
 * test_values.c — numbers of stored fields and sorting by them: what
 * val_parse reads (numbers, dates, what it refuses), the VALUES section's
 * round trip at every width and its checks against malformed bytes, and
 * quire_search_sorted / quire_doc_value over indexes built with one and
 * two threads, many segments, replaced and deleted documents, merged,
 * and over a segment of format version 2, which has no values.
 */
#define _GNU_SOURCE
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "index/segment.h"
#include "index/values.h"
#include "quire.h"
#include "test_rng.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void)
{
    return (uint32_t)xorshift64(&rng_state);
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/quire-test-values-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

/* ---- val_parse ------------------------------------------------------------ */

static void test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        double v;
    } ok[] = {
        {"0", 0},
        {"1851", 1851},
        {"-42", -42},
        {"+7", 7},
        {" 12 ", 12},
        {"007", 7},
        {"2.5", 2.5},
        {"-0.001", -0.001},
        {".5", 0.5},
        {"1.", 1},
        {"2.5e3", 2500},
        {"1E-2", 0.01},
        {"123456789012345678", 123456789012345678.0},
        {"12345678901234567890123", 1.2345678901234568e22},
        {"0.1000000000000000000000001", 0.1},
        {"1e300", 1e300},
        {"9007199254740993", 9007199254740992.0},
        {"1970-01-01", 0},
        {"1851-10-18", -3730233600.0},
        {"2000-02-29", 951782400.0},
        {"1600-03-01", -11670912000.0},
        {"0001-01-01", -62135596800.0},
        {"9999-12-31T23:59:59Z", 253402300799.0},
        {"2016-06-09T18:30", 1465497000.0},
        {"2016-06-09T18:30:00Z", 1465497000.0},
        {"2016-06-09 18:30:00", 1465497000.0},
        {"2016-06-09T18:30:00+02:00", 1465489800.0},
        {"2016-06-09T18:30:00+0200", 1465489800.0},
        {"2016-06-09T18:30:00-05:30", 1465516800.0},
        {"2016-06-09T18:30:15.25Z", 1465497015.25},
        {"2016-06-09T18:30:15,5", 1465497015.5},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = -999;
        if (val_parse(ok[i].s, strlen(ok[i].s), &v) != 0 || v != ok[i].v)
            fail_msg("\"%s\": got %.17g, want %.17g", ok[i].s, v, ok[i].v);
    }
    /* the sign of zero survives */
    double z;
    assert_int_equal(val_parse("-0", 2, &z), 0);
    assert_true(z == 0 && signbit(z));
    static const char *const bad[] = {
        "", " ", "-", "+", ".", "e5", "1e", "1e+", "12a", "1,5", "0x10", "inf", "nan",
        "Infinity", "1e400", "--1", "1 2", "1851 AD", "June 9, 2016", "2016-13-01",
        "2016-02-30", "2015-02-29", "1900-02-29", "2016-06-00", "2016-6-9", "16-06-09",
        "2016-06-09T24:00", "2016-06-09T18:60", "2016-06-09T18", "2016-06-09T18:30:61",
        "2016-06-09T18:30:00.", "2016-06-09T18:30+25:00", "2016-06-09T18:30+02",
        "2016-06-09Tx", "2016-06-09T18:30:00Zjunk", "2016-06-09junk", "unknown", "true",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 0;
        if (val_parse(bad[i], strlen(bad[i]), &v) != -1)
            fail_msg("\"%s\" read as %.17g", bad[i], v);
    }
    /* not NUL-terminated: only the given length is read */
    assert_int_equal(val_parse("12345", 3, &z), 0);
    assert_true(z == 123);
}

/* ---- the section ---------------------------------------------------------- */

/* Columns of every kind over ndocs docs, some docs without values; the
 * expected value of each (NAN for none) into want[col][doc]. */
static void fill_set(val_set *s, uint32_t ndocs, double **want, const char *const *names,
                     size_t ncols)
{
    for (size_t c = 0; c < ncols; c++)
        for (uint32_t d = 0; d < ndocs; d++) want[c][d] = NAN;
    for (uint32_t d = 0; d < ndocs; d++) {
        for (size_t c = 0; c < ncols; c++) {
            if (rnd() % 4 == 0) continue;
            double v;
            switch (c) {
            case 0: v = 1800 + rnd() % 300; break;              /* years */
            case 1: v = (double)(int32_t)rnd() * 4096.0; break;  /* wide integers */
            case 2: v = (rnd() % 1000) / 8.0 - 50; break;       /* fractions */
            case 3: v = 9007199254740992.0 - (rnd() % 3) * 9007199254740992.0; break;
            default: v = 5; break;                               /* constant */
            }
            want[c][d] = v;
            assert_int_equal(val_set_add(s, names[c], strlen(names[c]), d, v), 0);
        }
    }
}

/* The columns of fill_set under these names, encoded for nd documents;
 * want[c] (allocated here) gets what each document should read back. */
static const char *const names[] = {"year", "big", "frac", "huge", "const"};
enum { NC = 5 };
static uint8_t *encoded(val_set *s, uint32_t nd, double **want, size_t *len)
{
    for (int c = 0; c < NC; c++) want[c] = malloc(nd * sizeof(double));
    memset(s, 0, sizeof *s);
    fill_set(s, nd, want, names, NC);
    uint8_t *buf;
    assert_int_equal(val_set_encode(s, nd, &buf, len), 0);
    return buf;
}

static void test_section_round_trip(void **state)
{
    (void)state;
    const uint32_t sizes[] = {1, 7, 63, 64, 65, 1000, 4099};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        uint32_t nd = sizes[si];
        double *want[NC];
        val_set s;
        size_t len;
        uint8_t *buf = encoded(&s, nd, want, &len);
        val_view v;
        assert_int_equal(val_view_open(buf, len, nd, &v), 0);
        /* names ascending: big, const, frac, huge, year */
        static const char *const sorted[] = {"big", "const", "frac", "huge", "year"};
        /* columns come into the set as their first value does */
        assert_int_equal(v.ncols, s.n);
        for (uint32_t j = 0, k = 0; k < NC; k++) {
            const val_column *col = val_view_find(&v, sorted[k], strlen(sorted[k]));
            int has = 0;
            for (size_t c = 0; c < s.n; c++)
                has |= s.c[c].name_len == strlen(sorted[k]) &&
                       !memcmp(s.c[c].name, sorted[k], s.c[c].name_len);
            if (!has) {
                assert_null(col);
                continue;
            }
            assert_ptr_equal(col, &v.cols[j++]);
        }
        assert_null(val_view_find(&v, "yea", 3));
        assert_null(val_view_find(&v, "years", 5));
        for (int c = 0; c < NC; c++) {
            const val_column *col = val_view_find(&v, names[c], strlen(names[c]));
            if (!col) continue;
            /* integers where they fit, at the bits their range needs */
            if (c == 2) assert_int_equal(col->kind, VAL_FLOATS);
            else assert_int_equal(col->kind, VAL_INTS);
            if (c != 2) {
                double lo = INFINITY, hi = -INFINITY;
                for (uint32_t d = 0; d < nd; d++)
                    if (!isnan(want[c][d])) {
                        lo = fmin(lo, want[c][d]);
                        hi = fmax(hi, want[c][d]);
                    }
                uint64_t range = (uint64_t)(hi - lo);
                assert_int_equal(col->bits, range ? 64 - __builtin_clzll(range) : 0);
                assert_true((double)col->min == lo);
                if (nd >= 1000 && c == 3) assert_int_equal(col->bits, 55);
                if (c == 4) assert_int_equal(col->bits, 0);
            }
            for (uint32_t d = 0; d < nd; d++) {
                double got = -1;
                int has = val_get(col, d, &got);
                if (isnan(want[c][d])) {
                    assert_int_equal(has, 0);
                } else if (!has || got != want[c][d]) {
                    fail_msg("ndocs %u column %s doc %u: got %.17g, want %.17g", nd,
                             names[c], d, got, want[c][d]);
                }
            }
        }
        val_view_close(&v);
        free(buf);
        val_set_free(&s);
        for (int c = 0; c < NC; c++) free(want[c]);
    }
    /* nothing to write */
    val_set s = {0};
    uint8_t *buf = (uint8_t *)"x";
    size_t len = 1;
    assert_int_equal(val_set_encode(&s, 10, &buf, &len), 0);
    assert_null(buf);
    assert_int_equal(len, 0);
    /* a doc's second value of a field is ignored */
    assert_int_equal(val_set_add(&s, "a", 1, 3, 1.0), 0);
    assert_int_equal(val_set_add(&s, "a", 1, 3, 2.0), 0);
    assert_int_equal(s.c[0].n, 1);
    val_set_free(&s);
    /* at most VAL_MAX_COLS names: the values of the others are not kept */
    for (uint32_t d = 0; d < 2; d++)
        for (int k = 0; k < VAL_MAX_COLS + 44; k++) {
            char name[16];
            snprintf(name, sizeof name, "f%03d", k);
            assert_int_equal(val_set_add(&s, name, strlen(name), d, k), 0);
        }
    assert_int_equal(s.n, VAL_MAX_COLS);
    assert_int_equal(val_set_encode(&s, 2, &buf, &len), 0);
    val_view v;
    assert_int_equal(val_view_open(buf, len, 2, &v), 0);
    assert_int_equal(v.ncols, VAL_MAX_COLS);
    double x;
    assert_true(val_get(val_view_find(&v, "f255", 4), 1, &x) && x == 255);
    assert_null(val_view_find(&v, "f256", 4));
    val_view_close(&v);
    free(buf);
    val_set_free(&s);
}

/* Every cut and every flipped header byte of a section is refused or
 * still reads within bounds (ASan checks the latter). */
static void test_section_malformed(void **state)
{
    (void)state;
    enum { ND = 70 };
    double *want[NC];
    val_set s;
    size_t len;
    uint8_t *buf = encoded(&s, ND, want, &len);
    val_view v;
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *c = malloc(cut ? cut : 1);
        memcpy(c, buf, cut);
        assert_int_equal(val_view_open(c, cut, ND, &v), -2);
        free(c);
    }
    assert_int_equal(val_view_open(buf, len, ND + 1, &v), -2);   /* another segment's */
    uint8_t *c = malloc(len);
    for (size_t at = 0; at < len; at++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(c, buf, len);
            c[at] ^= (uint8_t)(1u << bit);
            if (val_view_open(c, len, ND, &v) != 0) continue;
            for (uint32_t k = 0; k < v.ncols; k++)
                for (uint32_t d = 0; d < ND; d++) {
                    double x;
                    (void)val_get(&v.cols[k], d, &x);
                }
            val_view_close(&v);
        }
    }
    free(c);
    free(buf);
    val_set_free(&s);
    for (int k = 0; k < NC; k++) free(want[k]);
}

/* ---- through the public API ----------------------------------------------- */

#define NDOCS 3000

/* The model: the live documents' ids and their value (NAN for none). */
typedef struct model {
    int live[NDOCS];
    double year[NDOCS];
    double rare[NDOCS];     /* one document in 20: whole bytes of the
                               presence bitmap are empty */
} model;

static const char *const words[] = {"whale", "ship", "sea", "captain", "harpoon"};

static void doc_text(uint32_t i, char *body, size_t cap)
{
    snprintf(body, cap, "%s %s %s", words[i % 5], words[(i / 5) % 5], i % 3 ? "deck" : "mast");
}

/* Adds document i (id "d<i>") with a "year" field that is a unique number
 * (i * 7919 mod 10007, shifted and sometimes a fraction or a date), text,
 * or missing. */
static void add_doc(quire_writer *w, uint32_t i, int version, model *m)
{
    char id[32], body[128], year[64], note[16];
    snprintf(id, sizeof id, "d%u", i);
    doc_text(i, body, sizeof body);
    quire_field f[3];
    size_t nf = 0;
    char rare[32];
    m->rare[i] = NAN;
    if (i % 20 == 7) {
        snprintf(rare, sizeof rare, "%u", i + (uint32_t)version);
        f[nf++] = (quire_field){"rare", 4, rare, strlen(rare)};
        m->rare[i] = i + version;
    }
    snprintf(note, sizeof note, "n%u", i % 7);
    f[nf++] = (quire_field){"note", 4, note, strlen(note)};
    double v = NAN;
    uint32_t key = (i * 7919u + (uint32_t)version * 31u) % 10007u;
    switch (i % 6) {
    case 0: break;                                               /* none */
    case 1: snprintf(year, sizeof year, "unknown"); break;       /* text */
    case 2:
        snprintf(year, sizeof year, "%u.5", key);
        v = key + 0.5;
        break;
    case 3: {
        /* a date: key days after 1990-01-01 */
        int64_t t = 631152000 + (int64_t)key * 86400;
        snprintf(year, sizeof year, "%lld", (long long)t);
        /* written as seconds: a date string is val_parse's to check */
        v = (double)t;
        break;
    }
    default:
        snprintf(year, sizeof year, "%u", key);
        v = key;
        break;
    }
    if (i % 6 != 0) f[nf++] = (quire_field){"year", 4, year, strlen(year)};
    quire_doc_input d = {id, strlen(id), "", 0, body, strlen(body), f, nf};
    quire_error e;
    int replaced;
    assert_int_equal(quire_writer_add(w, &d, &replaced, &e), QUIRE_OK);
    m->live[i] = 1;
    m->year[i] = v;
}

static int cmp_model_hits(double a, double b, int desc)
{
    if (isnan(a) || isnan(b)) return isnan(a) - isnan(b);
    return desc ? (a < b) - (a > b) : (a > b) - (a < b);
}

/* quire_search_sorted of `q` (a word or everything) against the model:
 * the same ids in the same order where values differ, the documents
 * without a value last, ties in ascending doc order. */
static void check_sorted(const char *dir, const model *m, const char *word)
{
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    for (int desc = 0; desc <= 1; desc++) {
        /* expected: the matching live docs sorted by value */
        uint32_t *exp = malloc(NDOCS * sizeof *exp);
        size_t n = 0;
        for (uint32_t i = 0; i < NDOCS; i++) {
            if (!m->live[i]) continue;
            char body[128];
            doc_text(i, body, sizeof body);
            if (word && !strstr(body, word)) continue;
            exp[n++] = i;
        }
        for (size_t a = 1; a < n; a++)   /* insertion sort: stable on ties */
            for (size_t b = a; b > 0 && cmp_model_hits(m->year[exp[b - 1]], m->year[exp[b]],
                                                       desc) > 0;
                 b--) {
                uint32_t t = exp[b];
                exp[b] = exp[b - 1];
                exp[b - 1] = t;
            }
        const char *q = word ? word : "whale OR ship OR sea OR captain OR harpoon";
        quire_results *r;
        assert_int_equal(quire_search_sorted(ix, q, strlen(q), "year", desc, NDOCS, &r, &e),
                         QUIRE_OK);
        assert_int_equal(quire_results_size(r), n);
        uint64_t prev_doc = 0;
        for (size_t h = 0; h < n; h++) {
            const quire_hit *hit = quire_results_get(r, h);
            double want = m->year[exp[h]];
            quire_doc *d;
            assert_int_equal(quire_doc_get(ix, hit->doc, &d, &e), QUIRE_OK);
            const char *id;
            size_t idl;
            assert_int_equal(quire_doc_field(d, "id", &id, &idl), QUIRE_OK);
            if (isnan(want)) {
                /* without a value: last, in ascending doc order */
                assert_true(isnan(hit->score));
                assert_true(h == 0 || !isnan(quire_results_get(r, h - 1)->score) ||
                            hit->doc > prev_doc);
                assert_true(isnan(m->year[strtoul(id + 1, NULL, 10)]));
                assert_int_equal(quire_doc_value(ix, hit->doc, "year", &want, &e),
                                 QUIRE_ENOTFOUND);
            } else {
                char wid[32];
                snprintf(wid, sizeof wid, "d%u", exp[h]);
                if (idl != strlen(wid) || memcmp(id, wid, idl) || hit->score != want)
                    fail_msg("%s hit %zu: %.*s %.17g, want %s %.17g", desc ? "desc" : "asc",
                             h, (int)idl, id, hit->score, wid, want);
                double v;
                assert_int_equal(quire_doc_value(ix, hit->doc, "year", &v, &e), QUIRE_OK);
                assert_true(v == want);
            }
            prev_doc = hit->doc;
            quire_doc_free(d);
        }
        quire_results_free(r);
        /* a page is the same ranking's slice */
        if (n > 20) {
            assert_int_equal(quire_search_sorted(ix, q, strlen(q), "year", desc, 20, &r, &e),
                             QUIRE_OK);
            quire_results *all;
            assert_int_equal(quire_search_sorted(ix, q, strlen(q), "year", desc, n, &all, &e),
                             QUIRE_OK);
            assert_memory_equal(quire_results_get(r, 0), quire_results_get(all, 0),
                                20 * sizeof(quire_hit));
            quire_results_free(all);
            quire_results_free(r);
        }
        free(exp);
    }
    /* a field no document has a number in: every match, by doc number */
    quire_results *r;
    assert_int_equal(quire_search_sorted(ix, "whale", 5, "note", 1, 5, &r, &e), QUIRE_OK);
    assert_int_equal(quire_results_size(r), 5);
    for (size_t h = 0; h < 5; h++) {
        assert_true(isnan(quire_results_get(r, h)->score));
        if (h) assert_true(quire_results_get(r, h)->doc > quire_results_get(r, h - 1)->doc);
    }
    quire_results_free(r);
    double v;
    assert_int_equal(quire_doc_value(ix, 1u << 30, "year", &v, &e), QUIRE_ENOTFOUND);
    quire_index_close(ix);
}

/* Ranges as filters against the model: counts and top-k, alone, with a
 * word, excluded, exclusive bounds on values that exist. */
static void check_ranges(const char *dir, const model *m)
{
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    /* bounds drawn from the values themselves, so that inclusive and
     * exclusive ends differ */
    double vals[NDOCS];
    size_t nv = 0;
    for (uint32_t i = 0; i < NDOCS; i++)
        if (!isnan(m->year[i])) vals[nv++] = m->year[i];
    for (int t = 0; t < 40; t++) {
        double a = vals[rnd() % nv], b = vals[rnd() % nv];
        if (t % 4 == 0) b = a;   /* one value */
        if (a > b) { double x = a; a = b; b = x; }
        int lo_ex = t % 3 == 1, hi_ex = t % 5 == 2;
        const char *word = t % 2 ? "whale" : NULL;
        for (int neg = 0; neg <= (word != NULL); neg++) {
            char q[256];
            snprintf(q, sizeof q, "%s %s%s:%c%.17g TO %.17g%c", word ? word : "", neg ? "-" : "",
                     "year", lo_ex ? '{' : '[', a, b, hi_ex ? '}' : ']');
            uint64_t want = 0;
            for (uint32_t i = 0; i < NDOCS; i++) {
                if (!m->live[i]) continue;
                char body[128];
                doc_text(i, body, sizeof body);
                if (word && !strstr(body, word)) continue;
                double v = m->year[i];
                int in = !isnan(v) && (lo_ex ? v > a : v >= a) && (hi_ex ? v < b : v <= b);
                want += neg ? !in : in;
            }
            uint64_t got;
            assert_int_equal(quire_count(ix, q, strlen(q), &got, &e), QUIRE_OK);
            if (got != want) fail_msg("[%s]: %llu, want %llu", q, (unsigned long long)got,
                                      (unsigned long long)want);
            /* the same documents come out of a search, with the range
             * adding nothing to a score */
            quire_results *r;
            assert_int_equal(quire_search(ix, q, strlen(q), NDOCS, &r, &e), QUIRE_OK);
            assert_int_equal(quire_results_size(r), want);
            if (!word)
                for (size_t h = 0; h < want; h++) assert_true(quire_results_get(r, h)->score == 0);
            quire_results_free(r);
            assert_int_equal(quire_search_sorted(ix, q, strlen(q), "year", 0, NDOCS, &r, &e),
                             QUIRE_OK);
            assert_int_equal(quire_results_size(r), want);
            if (!neg && want) {
                assert_true(quire_results_get(r, 0)->score >= a);
                assert_true(quire_results_get(r, want - 1)->score <= b);
            }
            quire_results_free(r);
        }
    }
    /* a sparse column */
    for (int t = 0; t < 20; t++) {
        uint32_t a = rnd() % NDOCS, b = a + rnd() % 400;
        char q[64];
        snprintf(q, sizeof q, "rare:%u..%u", a, b);
        uint64_t want = 0, got;
        for (uint32_t i = 0; i < NDOCS; i++)
            want += m->live[i] && m->rare[i] >= a && m->rare[i] <= b;
        assert_int_equal(quire_count(ix, q, strlen(q), &got, &e), QUIRE_OK);
        if (got != want) fail_msg("[%s]: %llu, want %llu", q, (unsigned long long)got,
                                  (unsigned long long)want);
    }
    /* the other forms read the same */
    uint64_t x, y;
    assert_int_equal(quire_count(ix, "year:>=5000", 11, &x, &e), QUIRE_OK);
    assert_int_equal(quire_count(ix, "year:[5000 TO *]", 16, &y, &e), QUIRE_OK);
    assert_true(x == y && x > 0);
    assert_int_equal(quire_count(ix, "year:5000..", 11, &y, &e), QUIRE_OK);
    assert_true(x == y);
    assert_int_equal(quire_count(ix, "year:<5000", 10, &x, &e), QUIRE_OK);
    assert_int_equal(quire_count(ix, "year:[* TO 5000}", 16, &y, &e), QUIRE_OK);
    assert_true(x == y && x > 0);
    /* a field without numbers, and an empty range, match nothing */
    assert_int_equal(quire_count(ix, "note:>0", 7, &x, &e), QUIRE_OK);
    assert_int_equal(x, 0);
    assert_int_equal(quire_count(ix, "year:[9 TO 1]", 13, &x, &e), QUIRE_OK);
    assert_int_equal(x, 0);
    quire_index_close(ix);
}

typedef struct fields_seen {
    char names[4][8];
    uint64_t docs[4];
    double min[4], max[4];
    int n;
} fields_seen;

static int on_field(void *ctx, const quire_field_info *f)
{
    fields_seen *s = ctx;
    assert_true(s->n < 4 && f->name_len < 8);
    memcpy(s->names[s->n], f->name, f->name_len);
    s->names[s->n][f->name_len] = 0;
    s->docs[s->n] = f->docs;
    s->min[s->n] = f->min;
    s->max[s->n++] = f->max;
    return 0;
}

/* quire_index_fields against the model: the live documents with a
 * number in each field, and their least and greatest. */
static void check_fields(const char *dir, const model *m)
{
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    fields_seen s = {0};
    assert_int_equal(quire_index_fields(ix, on_field, &s, &e), QUIRE_OK);
    quire_index_close(ix);
    assert_int_equal(s.n, 2);
    const double *col[2] = {m->rare, m->year};
    for (int k = 0; k < 2; k++) {
        uint64_t docs = 0;
        double lo = INFINITY, hi = -INFINITY;
        for (uint32_t i = 0; i < NDOCS; i++) {
            if (!m->live[i] || isnan(col[k][i])) continue;
            docs++;
            lo = fmin(lo, col[k][i]);
            hi = fmax(hi, col[k][i]);
        }
        assert_string_equal(s.names[k], k ? "year" : "rare");
        assert_int_equal(s.docs[k], docs);
        assert_true(s.min[k] == lo && s.max[k] == hi);
    }
}

static void build(const char *dir, uint32_t threads, size_t budget, model *m)
{
    memset(m, 0, sizeof *m);
    quire_writer_options o = {.mem_budget = budget, .threads = threads};
    quire_writer *w;
    quire_error e;
    assert_int_equal(quire_writer_open(dir, &o, &w, &e), QUIRE_OK);
    for (uint32_t i = 0; i < NDOCS; i++) add_doc(w, i, 0, m);
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    /* a second session: replacements with new values, deletions */
    for (uint32_t i = 0; i < NDOCS; i += 5) add_doc(w, i, 1, m);
    for (uint32_t i = 1; i < NDOCS; i += 11) {
        int deleted;
        char id[32];
        snprintf(id, sizeof id, "d%u", i);
        assert_int_equal(quire_writer_delete(w, id, strlen(id), &deleted, &e), QUIRE_OK);
        m->live[i] = 0;
    }
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
}

static void optimize(const char *dir, uint32_t threads)
{
    quire_writer_options o = {.threads = threads};
    quire_writer *w;
    quire_error e;
    assert_int_equal(quire_writer_open(dir, &o, &w, &e), QUIRE_OK);
    assert_int_equal(quire_writer_optimize(w, &e), QUIRE_OK);
    quire_writer_free(w);
}

static void test_sorted_search(void **state)
{
    (void)state;
    static model m;
    const struct {
        uint32_t threads;
        size_t budget;
    } runs[] = {{1, 0}, {1, 64 << 10}, {2, 0}, {2, 64 << 10}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char dir[128];
        snprintf(dir, sizeof dir, "%s/sorted%zu", tmpdir, i);
        build(dir, runs[i].threads, runs[i].budget, &m);
        check_sorted(dir, &m, NULL);
        check_sorted(dir, &m, "whale");
        check_sorted(dir, &m, "mast");
        check_ranges(dir, &m);
        check_fields(dir, &m);
        optimize(dir, runs[i].threads);
        check_ranges(dir, &m);
        check_fields(dir, &m);
        check_sorted(dir, &m, NULL);
        check_sorted(dir, &m, "harpoon");
    }
}

/* Rewrites the header's format version of every segment in dir. */
static void set_version(const char *dir, uint32_t version)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls %s/*.qseg", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char path[256];
    int n = 0;
    while (fgets(path, sizeof path, p)) {
        path[strcspn(path, "\n")] = 0;
        FILE *f = fopen(path, "r+b");
        assert_non_null(f);
        uint8_t b[4] = {(uint8_t)version, 0, 0, 0};
        assert_int_equal(fseek(f, 8, SEEK_SET), 0);
        assert_int_equal(fwrite(b, 1, 4, f), 4);
        fclose(f);
        n++;
    }
    pclose(p);
    assert_true(n > 0);
}

/* A version 2 segment has no values: it reads, every document is without
 * one, and a merge with newer segments keeps the newer ones' values. */
static void test_version2(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/v2", tmpdir);
    quire_writer *w;
    quire_error e;
    assert_int_equal(quire_writer_open(dir, NULL, &w, &e), QUIRE_OK);
    quire_doc_input d = {"old", 3, "", 0, "whale", 5, NULL, 0};
    assert_int_equal(quire_writer_add(w, &d, NULL, &e), QUIRE_OK);
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    /* without values a segment is a version 2 file but for the header */
    set_version(dir, 2);
    quire_index *ix;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    quire_results *r;
    assert_int_equal(quire_search_sorted(ix, "whale", 5, "year", 0, 10, &r, &e), QUIRE_OK);
    assert_int_equal(quire_results_size(r), 1);
    assert_true(isnan(quire_results_get(r, 0)->score));
    quire_results_free(r);
    quire_index_close(ix);

    assert_int_equal(quire_writer_open(dir, NULL, &w, &e), QUIRE_OK);
    quire_field f = {"year", 4, "1851", 4};
    quire_doc_input d2 = {"new", 3, "", 0, "whale", 5, &f, 1};
    assert_int_equal(quire_writer_add(w, &d2, NULL, &e), QUIRE_OK);
    assert_int_equal(quire_writer_optimize(w, &e), QUIRE_OK);
    quire_writer_free(w);
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_search_sorted(ix, "whale", 5, "year", 1, 10, &r, &e), QUIRE_OK);
    assert_int_equal(quire_results_size(r), 2);
    assert_true(quire_results_get(r, 0)->score == 1851);
    assert_true(isnan(quire_results_get(r, 1)->score));
    quire_results_free(r);
    quire_index_close(ix);

    /* the merged segment has a VALUES section: as version 2 it is corrupt,
     * and a damaged byte of the section fails its checksum */
    set_version(dir, 2);
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_ECORRUPT);
    assert_non_null(strstr(e.message, "section 11 out of bounds"));
    set_version(dir, SEG_VERSION);
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    quire_index_close(ix);
}

/* A damaged VALUES section is found by its checksum when the index opens,
 * by quire_verify, and the index can be rebuilt from its documents. */
static void test_damaged(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/damaged", tmpdir);
    static model m;
    build(dir, 1, 0, &m);
    optimize(dir, 1);
    char cmd[256], path[256];
    snprintf(cmd, sizeof cmd, "ls %s/*.qseg", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(fgets(path, sizeof path, p));
    pclose(p);
    path[strcspn(path, "\n")] = 0;
    /* the section table entry of VALUES, through the trailer */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    uint8_t tr[SEG_TRAILER_BYTES];
    assert_int_equal(fseek(f, (long)st.st_size - SEG_TRAILER_BYTES, SEEK_SET), 0);
    assert_int_equal(fread(tr, 1, sizeof tr, f), sizeof tr);
    uint64_t foff;
    memcpy(&foff, tr, 8);
    uint8_t hdr[8];
    assert_int_equal(fseek(f, (long)foff, SEEK_SET), 0);
    assert_int_equal(fread(hdr, 1, 8, f), 8);
    uint32_t nsec;
    memcpy(&nsec, hdr, 4);
    uint64_t voff = 0, vlen = 0;
    for (uint32_t i = 0; i < nsec; i++) {
        uint8_t ent[32];
        assert_int_equal(fread(ent, 1, 32, f), 32);
        uint32_t id;
        memcpy(&id, ent, 4);
        if (id == SEC_VALUES) {
            memcpy(&voff, ent + 8, 8);
            memcpy(&vlen, ent + 16, 8);
        }
    }
    assert_true(vlen > 0);
    uint8_t byte;
    long at = (long)(voff + vlen / 2);
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    assert_int_equal(fread(&byte, 1, 1, f), 1);
    byte ^= 0x10;
    assert_int_equal(fseek(f, at, SEEK_SET), 0);
    assert_int_equal(fwrite(&byte, 1, 1, f), 1);
    fclose(f);
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_ECORRUPT);
    assert_non_null(strstr(e.message, "checksum mismatch in section values"));
    assert_int_equal(quire_verify(dir, NULL, NULL, &e), QUIRE_ECORRUPT);
    quire_rebuild_options ro;
    memset(&ro, 0, sizeof ro);
    assert_int_equal(quire_rebuild(dir, &ro, NULL, NULL, NULL, &e), QUIRE_OK);
    check_sorted(dir, &m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_section_round_trip),
        cmocka_unit_test(test_section_malformed),
        cmocka_unit_test(test_sorted_search),
        cmocka_unit_test(test_version2),
        cmocka_unit_test(test_damaged),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
