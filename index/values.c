/*
 * values.c — numbers and dates read from stored fields, collected into
 * columns and written as a segment's VALUES section (see values.h).
 *
 * VALUES section (segment format version 3; docs/FORMAT.md, "values"):
 *   u32 ncols, u32 ndocs, then per column, ascending bytewise by name,
 *   each starting at a multiple of 8 bytes into the section:
 *     u32 name_len, u32 kind (1 integers, 2 floats), u32 bits, u32 npresent,
 *     i64 min, the name zero padded to a multiple of 8,
 *     presence: ceil(ndocs / 64) * 8 bytes, bit d % 8 of byte d / 8 set
 *       when doc d has a value,
 *     integers: doc d's value is min + the `bits` bits (at most 56) at bit
 *       d * bits of the little-endian stream of ceil(ndocs * bits / 64) * 8
 *       bytes, then 8 bytes of zeros (a reader loads 8 bytes from the
 *       value's first byte);
 *     floats: ndocs IEEE 754 doubles, little-endian.
 *   A document without a value has 0 in its place.
 * A column is integers when every value in it is a whole number of at
 * most 2^53 in magnitude (every date to the second, most numbers in
 * practice), and then takes only the bits its range needs: a column of
 * years takes 8 to 12 bits a document where doubles take 64.
 */
#include "index/values.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/util.h"

#define EXACT_INT 9007199254740992.0   /* 2^53 */

/* ---- parsing -------------------------------------------------------------- */

static int digit(char c) { return c >= '0' && c <= '9'; }

static int num2(const char *s, int *out)
{
    if (!digit(s[0]) || !digit(s[1])) return -1;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : dm[m - 1];
}

/* An ISO 8601 date or date-time filling s[0, n) exactly. */
static int parse_date(const char *s, size_t n, double *out)
{
    if (n < 10 || s[4] != '-' || s[7] != '-') return -1;
    int y = 0, mo, d;
    for (int i = 0; i < 4; i++) {
        if (!digit(s[i])) return -1;
        y = y * 10 + (s[i] - '0');
    }
    if (num2(s + 5, &mo) || num2(s + 8, &d) || mo < 1 || mo > 12 || d < 1 ||
        d > days_in_month(y, mo))
        return -1;
    double secs = (double)days_from_civil(y, mo, d) * 86400.0;
    size_t i = 10;
    if (i < n) {
        int hh, mm, ss = 0;
        if ((s[i] != 'T' && s[i] != 't' && s[i] != ' ') || n - i < 6 ||
            num2(s + i + 1, &hh) || s[i + 3] != ':' || num2(s + i + 4, &mm) || hh > 23 ||
            mm > 59)
            return -1;
        i += 6;
        double frac = 0;
        if (i < n && s[i] == ':') {
            if (n - i < 3 || num2(s + i + 1, &ss) || ss > 60) return -1;
            i += 3;
            if (i < n && (s[i] == '.' || s[i] == ',')) {
                /* one division: digits past the 18th (attoseconds) are
                 * read and left out */
                uint64_t num = 0;
                double den = 1;
                size_t j = i + 1;
                for (; j < n && digit(s[j]); j++)
                    if (j - i <= 18) num = num * 10 + (uint64_t)(s[j] - '0'), den *= 10;
                if (j == i + 1) return -1;
                frac = (double)num / den;
                i = j;
            }
        }
        secs += hh * 3600.0 + mm * 60.0 + ss + frac;
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
            int oh, om;
            int sign = s[i] == '-' ? -1 : 1;
            size_t k = i + 1;
            if (n - k < 2 || num2(s + k, &oh)) return -1;
            k += 2;
            if (k < n && s[k] == ':') k++;
            if (n - k < 2 || num2(s + k, &om) || oh > 23 || om > 59) return -1;
            i = k + 2;
            /* local time = UTC + offset */
            secs -= sign * (oh * 3600.0 + om * 60.0);
        }
    }
    if (i != n) return -1;
    *out = secs;
    return 0;
}

/* A decimal number filling s[0, n) exactly.  Most values take Clinger's
 * fast path (at most 19 significant digits, a power of ten up to 22, a
 * mantissa up to 2^53: one exact product or quotient, so correctly
 * rounded); the rest go to strtod, which follows the C library's locale,
 * and a number it reads differently under another locale's decimal point
 * is refused rather than misread. */
static int parse_number(const char *s, size_t n, double *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    uint64_t mant = 0;
    int digits = 0, dropped = 0, any = 0;
    int64_t exp10 = 0;
    for (; i < n && digit(s[i]); i++, any = 1) {
        if (mant == 0 && s[i] == '0') continue;
        if (digits < 19) mant = mant * 10 + (uint64_t)(s[i] - '0'), digits++;
        else exp10++, dropped |= s[i] != '0';
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && digit(s[i]); i++, any = 1) {
            if (mant == 0 && s[i] == '0') { exp10--; continue; }
            if (digits < 19) mant = mant * 10 + (uint64_t)(s[i] - '0'), digits++, exp10--;
            else dropped |= s[i] != '0';
        }
    }
    if (!any) return -1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (s[i] == '-' || s[i] == '+')) eneg = s[i++] == '-';
        if (i == n || !digit(s[i])) return -1;
        int64_t e = 0;
        for (; i < n && digit(s[i]); i++)
            if (e < 100000) e = e * 10 + (s[i] - '0');
        exp10 += eneg ? -e : e;
    }
    if (i != n) return -1;
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    double v;
    if (mant == 0) {
        v = 0;
    } else if (!dropped && mant <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        v = exp10 < 0 ? (double)mant / p10[-exp10] : (double)mant * p10[exp10];
    } else {
        char tmp[512];
        if (n >= sizeof tmp) return -1;
        memcpy(tmp, s, n);
        tmp[n] = 0;
        char *end;
        v = strtod(tmp, &end);
        if (end != tmp + n) return -1;
        v = fabs(v);
    }
    if (!isfinite(v)) return -1;
    *out = neg ? -v : v;
    return 0;
}

int val_parse(const char *s, size_t n, double *out)
{
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n == 0) return -1;
    /* a date starts with four digits and a dash; no number does */
    if (n >= 10 && s[4] == '-' && digit(s[0])) return parse_date(s, n, out);
    return parse_number(s, n, out);
}

/* ---- collecting ----------------------------------------------------------- */

int val_set_add(val_set *s, const char *name, size_t name_len, uint32_t doc, double v)
{
    if (name_len > UINT32_MAX) return -1;
    val_col *c = NULL;
    for (size_t k = 0; k < s->n; k++) {
        val_col *x = &s->c[(s->last + k) % s->n];
        if (x->name_len == name_len && !memcmp(x->name, name, name_len)) {
            c = x;
            break;
        }
    }
    if (!c) {
        if (s->n == VAL_MAX_COLS) return 0;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 4;
            val_col *nc = realloc(s->c, cap * sizeof *nc);
            if (!nc) return -1;
            s->c = nc;
            s->cap = cap;
        }
        c = &s->c[s->n];
        memset(c, 0, sizeof *c);
        c->name = malloc(name_len ? name_len : 1);
        if (!c->name) return -1;
        memcpy(c->name, name, name_len);
        c->name_len = (uint32_t)name_len;
        s->n++;
        s->mem += sizeof *c + name_len;
    }
    s->last = (size_t)(c - s->c);
    if (c->n && c->docs[c->n - 1] >= doc) return 0;   /* the doc's first value stands */
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        uint32_t *nd = realloc(c->docs, cap * sizeof *nd);
        if (!nd) return -1;
        c->docs = nd;
        double *nv = realloc(c->vals, cap * sizeof *nv);
        if (!nv) return -1;
        c->vals = nv;
        s->mem += (cap - c->cap) * (sizeof *nd + sizeof *nv);
        c->cap = cap;
    }
    c->docs[c->n] = doc;
    c->vals[c->n++] = v;
    return 0;
}

int val_set_append(val_set *dst, const val_set *src, uint32_t base)
{
    for (size_t k = 0; k < src->n; k++) {
        const val_col *c = &src->c[k];
        for (size_t i = 0; i < c->n; i++)
            if (val_set_add(dst, c->name, c->name_len, base + c->docs[i], c->vals[i]))
                return -1;
    }
    return 0;
}

void val_set_free(val_set *s)
{
    for (size_t k = 0; k < s->n; k++) {
        free(s->c[k].name);
        free(s->c[k].docs);
        free(s->c[k].vals);
    }
    free(s->c);
    memset(s, 0, sizeof *s);
}

static int cmp_name(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static int cmp_cols(const void *x, const void *y)
{
    const val_col *a = *(const val_col *const *)x, *b = *(const val_col *const *)y;
    return cmp_name((const uint8_t *)a->name, a->name_len, (const uint8_t *)b->name,
                    b->name_len);
}

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* Whether the column is stored as integers, with its least value and
 * the bits a value takes above it. */
static int col_ints(const val_col *c, int64_t *min, uint32_t *bits)
{
    int64_t lo = 0, hi = 0;
    for (size_t i = 0; i < c->n; i++) {
        double v = c->vals[i];
        if (!(v >= -EXACT_INT && v <= EXACT_INT) || v != floor(v)) return 0;
        int64_t x = (int64_t)v;
        if (i == 0 || x < lo) lo = x;
        if (i == 0 || x > hi) hi = x;
    }
    uint64_t range = (uint64_t)(hi - lo);
    *min = lo;
    *bits = range ? 64u - (uint32_t)__builtin_clzll(range) : 0u;
    return *bits <= 56;
}

static size_t col_bytes(const val_col *c, uint32_t ndocs, int ints, uint32_t bits)
{
    size_t pres = ((size_t)ndocs + 63) / 64 * 8;
    size_t data = ints ? ((size_t)ndocs * bits + 63) / 64 * 8 + 8 : (size_t)ndocs * 8;
    return 24 + pad8(c->name_len) + pres + data;
}

int val_set_encode(const val_set *s, uint32_t ndocs, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    size_t ncols = 0;
    for (size_t k = 0; k < s->n; k++) ncols += s->c[k].n > 0;
    if (ncols == 0) return 0;
    const val_col **order = malloc(ncols * sizeof *order);
    if (!order) return -1;
    for (size_t k = 0, j = 0; k < s->n; k++)
        if (s->c[k].n) order[j++] = &s->c[k];
    qsort(order, ncols, sizeof *order, cmp_cols);
    size_t total = 8;
    for (size_t j = 0; j < ncols; j++) {
        const val_col *c = order[j];
        int64_t min;
        uint32_t bits;
        int ints = col_ints(c, &min, &bits);
        total += col_bytes(c, ndocs, ints, bits);
    }
    uint8_t *b = calloc(1, total);
    if (!b) {
        free(order);
        return -1;
    }
    st32(b, (uint32_t)ncols);
    st32(b + 4, ndocs);
    uint8_t *p = b + 8;
    for (size_t j = 0; j < ncols; j++) {
        const val_col *c = order[j];
        int64_t min = 0;
        uint32_t bits = 0;
        int ints = col_ints(c, &min, &bits);
        st32(p, c->name_len);
        st32(p + 4, ints ? VAL_INTS : VAL_FLOATS);
        st32(p + 8, ints ? bits : 64);
        st32(p + 12, (uint32_t)c->n);
        st64(p + 16, ints ? (uint64_t)min : 0);
        memcpy(p + 24, c->name, c->name_len);
        uint8_t *pres = p + 24 + pad8(c->name_len);
        uint8_t *data = pres + ((size_t)ndocs + 63) / 64 * 8;
        for (size_t i = 0; i < c->n; i++) {
            uint32_t d = c->docs[i];
            pres[d >> 3] |= (uint8_t)(1u << (d & 7));
            if (!ints) {
                memcpy(data + (size_t)d * 8, &c->vals[i], 8);
            } else if (bits) {
                uint64_t raw = (uint64_t)((int64_t)c->vals[i] - min);
                uint64_t bit = (uint64_t)d * bits;
                uint8_t *q = data + (bit >> 3);
                uint64_t w;
                memcpy(&w, q, 8);
                w |= raw << (bit & 7);
                memcpy(q, &w, 8);
            }
        }
        p += col_bytes(c, ndocs, ints, bits);
    }
    free(order);
    *out = b;
    *len = total;
    return 0;
}

/* ---- reading -------------------------------------------------------------- */

int val_view_open(const uint8_t *p, size_t len, uint32_t ndocs, val_view *v)
{
    memset(v, 0, sizeof *v);
    if (len < 8 || len % 8 || ld32(p + 4) != ndocs) return -2;
    uint32_t ncols = ld32(p);
    /* every column takes at least 24 bytes */
    if (ncols == 0 || ncols > VAL_MAX_COLS || ncols > (len - 8) / 24) return -2;
    v->cols = calloc(ncols, sizeof *v->cols);
    if (!v->cols) return -1;
    v->ncols = ncols;
    v->ndocs = ndocs;
    size_t at = 8;
    size_t pres = ((size_t)ndocs + 63) / 64 * 8;
    for (uint32_t j = 0; j < ncols; j++) {
        if (len - at < 24) goto bad;
        const uint8_t *h = p + at;
        val_column *c = &v->cols[j];
        c->name_len = ld32(h);
        c->kind = ld32(h + 4);
        c->bits = ld32(h + 8);
        c->npresent = ld32(h + 12);
        c->min = (int64_t)ld64(h + 16);
        if ((c->kind != VAL_INTS && c->kind != VAL_FLOATS) ||
            (c->kind == VAL_INTS && (c->bits > 56 || c->min < -(INT64_C(1) << 62) ||
                                     c->min > (INT64_C(1) << 62))) ||
            (c->kind == VAL_FLOATS && c->bits != 64) || c->npresent == 0 ||
            c->npresent > ndocs || c->name_len > len - at - 24)
            goto bad;
        size_t data = c->kind == VAL_INTS ? ((size_t)ndocs * c->bits + 63) / 64 * 8 + 8
                                          : (size_t)ndocs * 8;
        size_t need = 24 + pad8(c->name_len) + pres + data;
        if (need > len - at) goto bad;
        c->name = h + 24;
        c->present = h + 24 + pad8(c->name_len);
        c->data = c->present + pres;
        uint64_t count = 0;
        for (size_t w = 0; w < pres; w += 8) count += (uint64_t)__builtin_popcountll(ld64(c->present + w));
        if (count != c->npresent) goto bad;
        if (j && cmp_name(v->cols[j - 1].name, v->cols[j - 1].name_len, c->name,
                          c->name_len) >= 0)
            goto bad;
        at += need;
    }
    if (at != len) goto bad;
    return 0;
bad:
    val_view_close(v);
    return -2;
}

void val_view_close(val_view *v)
{
    free(v->cols);
    memset(v, 0, sizeof *v);
}

const val_column *val_view_find(const val_view *v, const char *name, size_t len)
{
    size_t lo = 0, hi = v->ncols;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_name(v->cols[mid].name, v->cols[mid].name_len, (const uint8_t *)name, len);
        if (c == 0) return &v->cols[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
