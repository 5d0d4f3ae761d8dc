/*
 * peer_common.h — the pieces every C/C++ peer program of the benchmark
 * shares: reading the JSON Lines corpus, reading the query file, the clock,
 * and printing results in the one protocol that bench/run parses.
 *
 * Role: bench/peers/{fts5.c,xapian.cc,quire_bench.c} are thin adapters from
 * this protocol to one engine's API; keeping parsing, timing and output here
 * guarantees that every engine reads the same documents, runs the same
 * queries and is timed the same way.  (The Lucene peer mirrors this in
 * Java.)  Header-only with static functions so that each peer stays one
 * translation unit that can be compiled with a plain gcc/g++ line.
 *
 * Protocol (see bench/README.md):
 *   PROG build INDEXDIR CORPUS.jsonl     -> "docs=N" "build_seconds=S"
 *   PROG query INDEXDIR QUERYFILE REPS   -> one line per query:
 *     CLASS \t words \t count \t count_median_us \t count_p99_us \t
 *     top10_median_us \t top10_p99_us \t count reps (us, comma-separated) \t
 *     top10 reps (us, comma-separated) \t top10 returned (hits the top-10
 *     search gave, which must be min(10, count))
 * Each query runs once untimed (warm-up), then REPS timed exact counts,
 * then REPS timed top-10 searches.
 */
#ifndef PEER_COMMON_H
#define PEER_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- clock ------------------------------------------------------------ */
static inline double peer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- growable byte buffer --------------------------------------------- */
typedef struct peer_buf {
    char *p;
    size_t len, cap;
} peer_buf;

static inline void peer_buf_put(peer_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = (char *)realloc(b->p, cap);
        if (!np) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void peer_buf_putc(peer_buf *b, char c) { peer_buf_put(b, &c, 1); }

static inline void peer_buf_utf8(peer_buf *b, uint32_t cp)
{
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        peer_buf_put(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        peer_buf_put(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        peer_buf_put(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        peer_buf_put(b, u, 4);
    }
}

/* ---- JSON Lines documents --------------------------------------------- */
typedef struct peer_doc {
    peer_buf id, title, body;
} peer_doc;

static inline int peer_hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

/* The first '"' or '\\' in [p, end), or end: 16 bytes a step with SSE2
 * (every x86-64).  Strings are most of a corpus's bytes, and a byte loop
 * here was 5% of Quire's build instructions; every peer reads through it. */
static inline const char *peer_json_plain(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)));
        if (m)
            return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* Decodes the JSON string starting after the opening quote at *pp into b
 * (when b is not NULL); leaves *pp after the closing quote.  -1 on error. */
static inline int peer_json_string(const char **pp, const char *end, peer_buf *b)
{
    const char *p = *pp;
    while (p < end) {
        const char *run = p;
        p = peer_json_plain(p, end);
        if (b && p > run)
            peer_buf_put(b, run, (size_t)(p - run));
        if (p >= end)
            return -1;
        if (*p == '"') {
            *pp = p + 1;
            return 0;
        }
        if (++p >= end) /* backslash */
            return -1;
        char c = *p++, o = 0;
        uint32_t cp;
        switch (c) {
        case 'n': o = '\n'; break;
        case 't': o = '\t'; break;
        case 'r': o = '\r'; break;
        case 'b': o = '\b'; break;
        case 'f': o = '\f'; break;
        case '/': o = '/'; break;
        case '\\': o = '\\'; break;
        case '"': o = '"'; break;
        case 'u':
            if (end - p < 4 || peer_hex4(p, &cp))
                return -1;
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                uint32_t lo;
                if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
                    !peer_hex4(p + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                cp = 0xFFFD;
            }
            if (b)
                peer_buf_utf8(b, cp);
            continue;
        default:
            return -1;
        }
        if (b)
            peer_buf_putc(b, o);
    }
    return -1;
}

static inline const char *peer_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* Parses one line {"id":..,"title":..,"body":..}; unknown keys and
 * non-string values (numbers, literals) are skipped.  0 on success. */
static inline int peer_parse_doc(const char *line, size_t len, peer_doc *d)
{
    const char *p = line, *end = line + len;
    d->id.len = d->title.len = d->body.len = 0;
    peer_buf_put(&d->id, "", 0);
    peer_buf_put(&d->title, "", 0);
    peer_buf_put(&d->body, "", 0);
    p = peer_skip_ws(p, end);
    if (p >= end || *p++ != '{')
        return -1;
    for (;;) {
        p = peer_skip_ws(p, end);
        if (p < end && *p == '}')
            return 0;
        if (p >= end || *p++ != '"')
            return -1;
        const char *k = p;
        if (peer_json_string(&p, end, NULL))
            return -1;
        size_t klen = (size_t)(p - 1 - k);
        p = peer_skip_ws(p, end);
        if (p >= end || *p++ != ':')
            return -1;
        p = peer_skip_ws(p, end);
        if (p >= end)
            return -1;
        peer_buf *dst = NULL;
        if (klen == 2 && !memcmp(k, "id", 2)) dst = &d->id;
        else if (klen == 5 && !memcmp(k, "title", 5)) dst = &d->title;
        else if (klen == 4 && !memcmp(k, "body", 4)) dst = &d->body;
        if (*p == '"') {
            p++;
            if (peer_json_string(&p, end, dst))
                return -1;
        } else {
            while (p < end && *p != ',' && *p != '}')
                p++;
        }
        p = peer_skip_ws(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}')
            return 0;
        return -1;
    }
}

/* ---- queries ----------------------------------------------------------- */
enum { PEER_TERM, PEER_AND, PEER_OR, PEER_PHRASE };

typedef struct peer_query {
    char cls[16];
    int kind;
    char *text;        /* the words, single-space separated */
    char **words;
    int nwords;
} peer_query;

/* Reads QUERYFILE (CLASS<TAB>words per line; blank and #-lines skipped). */
static inline peer_query *peer_read_queries(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    peer_query *q = NULL;
    int cnt = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab || tab - line >= 16) {
            fprintf(stderr, "%s: bad line: %s\n", path, line);
            exit(1);
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            q = (peer_query *)realloc(q, (size_t)cap * sizeof *q);
        }
        peer_query *e = &q[cnt++];
        memset(e, 0, sizeof *e);
        memcpy(e->cls, line, (size_t)(tab - line));
        e->cls[tab - line] = '\0';
        if (!strcmp(e->cls, "term")) e->kind = PEER_TERM;
        else if (!strcmp(e->cls, "and")) e->kind = PEER_AND;
        else if (!strcmp(e->cls, "or")) e->kind = PEER_OR;
        else if (!strcmp(e->cls, "phrase")) e->kind = PEER_PHRASE;
        else {
            fprintf(stderr, "%s: unknown class %s\n", path, e->cls);
            exit(1);
        }
        e->text = strdup(tab + 1);
        char *copy = strdup(tab + 1), *save = NULL;
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            e->words = (char **)realloc(e->words, (size_t)(e->nwords + 1) * sizeof(char *));
            e->words[e->nwords++] = strdup(w);
        }
        free(copy);
    }
    free(line);
    fclose(f);
    *n = cnt;
    return q;
}

/* ---- statistics and output --------------------------------------------- */
static inline int peer_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile (p in 0..100) of n values; sorts v. */
static inline double peer_percentile(double *v, int n, double p)
{
    qsort(v, (size_t)n, sizeof *v, peer_cmp_double);
    if (p == 50.0 && n % 2 == 0) /* true median */
        return (v[n / 2 - 1] + v[n / 2]) / 2;
    int r = (int)(p / 100.0 * n + 0.999999);
    if (r < 1) r = 1;
    if (r > n) r = n;
    return v[r - 1];
}

static inline void peer_print_reps(FILE *out, const double *v, int n)
{
    for (int i = 0; i < n; i++)
        fprintf(out, "%s%.2f", i ? "," : "", v[i]);
}

/* Prints the result line of one query; cnt_us and top_us hold REPS
 * microsecond timings each (they are printed in run order, then sorted). */
static inline void peer_print_result(const peer_query *q, uint64_t count,
                                     double *cnt_us, double *top_us, int reps,
                                     int returned)
{
    printf("%s\t%s\t%llu\t", q->cls, q->text, (unsigned long long)count);
    double *a = (double *)malloc((size_t)reps * sizeof(double));
    double *b = (double *)malloc((size_t)reps * sizeof(double));
    memcpy(a, cnt_us, (size_t)reps * sizeof(double));
    memcpy(b, top_us, (size_t)reps * sizeof(double));
    double cm = peer_percentile(a, reps, 50), c99 = peer_percentile(a, reps, 99);
    double tm = peer_percentile(b, reps, 50), t99 = peer_percentile(b, reps, 99);
    printf("%.2f\t%.2f\t%.2f\t%.2f\t", cm, c99, tm, t99);
    peer_print_reps(stdout, cnt_us, reps);
    putchar('\t');
    peer_print_reps(stdout, top_us, reps);
    printf("\t%d\n", returned);
    free(a);
    free(b);
}

/* Reads the corpus line by line and calls add(ctx, doc, n) for each.
 * Returns the number of documents. */
typedef void (*peer_add_fn)(void *ctx, const peer_doc *d, uint64_t n);
static inline uint64_t peer_each_doc(const char *path, peer_add_fn add, void *ctx)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(1);
    }
    /* stdio's 4 KiB buffer made 262,144 read calls for 1 GiB; every engine
     * reads through this function.  (glibc ignores the size without a
     * buffer.) */
    size_t vbuf_len = (size_t)1 << 20;
    char *vbuf = (char *)malloc(vbuf_len);
    if (vbuf) setvbuf(f, vbuf, _IOFBF, vbuf_len);
    peer_doc d;
    memset(&d, 0, sizeof d);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t n = 0, lineno = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (len == 1 && line[0] == '\n')
            continue;
        if (peer_parse_doc(line, (size_t)len, &d)) {
            fprintf(stderr, "%s:%llu: malformed JSON line, skipped\n", path,
                    (unsigned long long)lineno);
            continue;
        }
        add(ctx, &d, ++n);
    }
    free(line);
    free(d.id.p);
    free(d.title.p);
    free(d.body.p);
    fclose(f);
    free(vbuf);
    return n;
}

static inline void peer_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s build INDEXDIR CORPUS.jsonl\n"
            "       %s query INDEXDIR QUERYFILE REPS\n",
            prog, prog);
    exit(2);
}

/* The command line every peer shares: build DIR CORPUS | query DIR FILE REPS. */
typedef int (*peer_build_fn)(const char *dir, const char *corpus);
typedef int (*peer_query_fn)(const char *dir, const char *queries, int reps);

static inline int peer_main(int argc, char **argv, peer_build_fn build, peer_query_fn query)
{
    if (argc == 4 && !strcmp(argv[1], "build"))
        return build(argv[2], argv[3]);
    if (argc == 5 && !strcmp(argv[1], "query"))
        return query(argv[2], argv[3], atoi(argv[4]) > 0 ? atoi(argv[4]) : 1);
    peer_usage(argv[0]);
    return 2;
}

#endif /* PEER_COMMON_H */
