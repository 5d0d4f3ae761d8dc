/*
 * tokenize.c — tokenizer throughput, Quire against SQLite FTS5 unicode61.
 *
 * Measures single-core MB/s of tok_run (index mode, default configuration:
 * every rule in force, diacritics folded) on up to three corpora:
 *   sample  corpus/news-sample.txt repeated to about 50 MB;
 *   english a JSONL file (string values of each line, "id" excepted) or a
 *           plain text file given with --english;
 *   mixed   corpus/cache/mixed.txt (built by corpus/make-mixed): translated
 *           messages in a dozen scripts.
 * Each corpus is fed line by line, to both tokenizers alike.  When built with
 * SQLite (QUIRE_HAVE_SQLITE), the same bytes go through FTS5's unicode61
 * tokenizer with remove_diacritics=2, called through fts5_api.xTokenize
 * alone — no table, no index — so the ratio compares word breaking only.
 * Times are thread CPU time; best of --reps runs.  Prints a table and the
 * command line.
 *
 * Usage: bench_tokenize [--sample FILE] [--english FILE.jsonl|txt]
 *                       [--mixed FILE] [--mb N] [--reps N] [--flags N]
 *                       [--only sample|english|mixed] [--no-fts5]
 * --only and --no-fts5 narrow a run for profilers (callgrind, perf), whose
 * counts should not mix the two tokenizers or the corpora.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer.h"

#ifdef QUIRE_HAVE_SQLITE
#include <sqlite3.h>
#endif

typedef struct {
    char *data;
    size_t len;
    size_t *lines; /* start offsets, plus one past the end */
    size_t nlines;
} corpus;

/* CPU time of this thread: MB/s per core, and steady on a busy machine
 * where wall-clock time would count the time other processes ran. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); b = NULL; }
            else b = nb;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

static int index_lines(corpus *c)
{
    size_t cap = 1024;
    c->lines = malloc(cap * sizeof *c->lines);
    if (!c->lines) return -1;
    c->nlines = 0;
    size_t start = 0;
    for (size_t i = 0; i <= c->len; i++) {
        if (i == c->len || c->data[i] == '\n') {
            if (c->nlines + 2 > cap) {
                size_t *nl = realloc(c->lines, (cap *= 2) * sizeof *nl);
                if (!nl) return -1;
                c->lines = nl;
            }
            c->lines[c->nlines++] = start;
            start = i + 1;
        }
    }
    c->lines[c->nlines] = c->len + 1; /* so line k is [lines[k], lines[k+1]-1) */
    return 0;
}

/* Appends the unescaped string values of one JSON object line (skipping
 * the value of "id") to out, one per line.  Enough JSON for JSONL corpora. */
static size_t json_strings(const char *s, size_t n, char *out)
{
    size_t o = 0, i = 0;
    int expect_value = 0, skip = 0;
    while (i < n) {
        char c = s[i];
        if (c == ':') { expect_value = 1; i++; continue; }
        if (c == ',' || c == '{') { expect_value = 0; i++; continue; }
        if (c != '"') { i++; continue; }
        size_t start = o;
        i++;
        while (i < n && s[i] != '"') {
            if (s[i] == '\\' && i + 1 < n) {
                char e = s[++i];
                if (e == 'n' || e == 't' || e == 'r') out[o++] = ' ';
                else if (e == 'u' && i + 4 < n) {
                    unsigned v = (unsigned)strtoul((char[5]){s[i + 1], s[i + 2], s[i + 3], s[i + 4], 0}, NULL, 16);
                    i += 4;
                    if (v < 0x80) out[o++] = (char)v;
                    else if (v < 0x800) {
                        out[o++] = (char)(0xc0 | (v >> 6));
                        out[o++] = (char)(0x80 | (v & 0x3f));
                    } else {
                        out[o++] = (char)(0xe0 | (v >> 12));
                        out[o++] = (char)(0x80 | ((v >> 6) & 0x3f));
                        out[o++] = (char)(0x80 | (v & 0x3f));
                    }
                } else out[o++] = e;
                i++;
                continue;
            }
            out[o++] = s[i++];
        }
        i++;
        if (!expect_value) {
            skip = (o - start == 2 && memcmp(out + start, "id", 2) == 0);
            o = start; /* a key */
        } else if (skip) {
            o = start;
        } else {
            out[o++] = '\n';
        }
        expect_value = 0;
    }
    return o;
}

static int load_english(const char *path, corpus *c)
{
    size_t n;
    char *raw = read_file(path, &n);
    if (!raw) return -1;
    size_t plen = strlen(path);
    if (plen > 6 && strcmp(path + plen - 6, ".jsonl") == 0) {
        char *out = malloc(n + 1);
        if (!out) { free(raw); return -1; }
        size_t o = 0, start = 0;
        for (size_t i = 0; i <= n; i++)
            if (i == n || raw[i] == '\n') {
                o += json_strings(raw + start, i - start, out + o);
                start = i + 1;
            }
        free(raw);
        c->data = out;
        c->len = o;
    } else {
        c->data = raw;
        c->len = n;
    }
    return index_lines(c);
}

static int load_repeated(const char *path, size_t target, corpus *c)
{
    size_t n;
    char *one = read_file(path, &n);
    if (!one || n == 0) { free(one); return -1; }
    size_t reps = target / n + 1;
    c->data = malloc(reps * n);
    if (!c->data) { free(one); return -1; }
    for (size_t r = 0; r < reps; r++) memcpy(c->data + r * n, one, n);
    c->len = reps * n;
    free(one);
    return index_lines(c);
}

/* ---- Quire ---- */

typedef struct { size_t terms, bytes; } sink;

static int quire_cb(void *ctx, const tok_token *t)
{
    sink *s = ctx;
    s->terms++;
    s->bytes += t->len;
    return 0;
}

static double run_quire(const corpus *c, uint32_t flags, sink *s)
{
    tok_tokenizer *t;
    if (tok_new(flags, TOK_MODE_INDEX, &t)) return -1;
    double t0 = now();
    for (size_t k = 0; k < c->nlines; k++) {
        size_t a = c->lines[k], b = c->lines[k + 1] - 1;
        if (tok_run(t, c->data + a, b - a, 0, quire_cb, s, NULL) < 0) {
            tok_free(t);
            return -1;
        }
    }
    double dt = now() - t0;
    tok_free(t);
    return dt;
}

/* ---- SQLite FTS5 unicode61 ---- */

#ifdef QUIRE_HAVE_SQLITE
static int fts5_cb(void *ctx, int flags, const char *tok, int n, int s0, int e0)
{
    (void)flags; (void)tok; (void)s0; (void)e0;
    sink *s = ctx;
    s->terms++;
    s->bytes += (size_t)n;
    return SQLITE_OK;
}

static double run_fts5(const corpus *c, sink *s)
{
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return -1;
    fts5_api *api = NULL;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    void *ud;
    fts5_tokenizer tk;
    Fts5Tokenizer *tok;
    const char *args[] = {"remove_diacritics", "2"};
    if (!api || api->xFindTokenizer(api, "unicode61", &ud, &tk) != SQLITE_OK ||
        tk.xCreate(ud, args, 2, &tok) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    double t0 = now();
    for (size_t k = 0; k < c->nlines; k++) {
        size_t a = c->lines[k], b = c->lines[k + 1] - 1;
        tk.xTokenize(tok, s, FTS5_TOKENIZE_DOCUMENT, c->data + a, (int)(b - a),
                     fts5_cb);
    }
    double dt = now() - t0;
    tk.xDelete(tok);
    sqlite3_close(db);
    return dt;
}
#endif

static int no_fts5;

static void report(const char *name, const corpus *c, uint32_t flags, int reps)
{
    double best_q = 1e30, best_f = 1e30;
    sink qs = {0, 0}, fs = {0, 0};
    for (int r = 0; r < reps; r++) {
        sink s = {0, 0};
        double dt = run_quire(c, flags, &s);
        if (dt < 0) { fprintf(stderr, "%s: quire failed\n", name); return; }
        if (dt < best_q) best_q = dt;
        qs = s;
#ifdef QUIRE_HAVE_SQLITE
        sink f = {0, 0};
        if (no_fts5) continue;
        dt = run_fts5(c, &f);
        if (dt < 0) { fprintf(stderr, "%s: fts5 failed\n", name); return; }
        if (dt < best_f) best_f = dt;
        fs = f;
#endif
    }
    double mb = (double)c->len / 1e6;
    double q = mb / best_q;
#ifdef QUIRE_HAVE_SQLITE
    double f = no_fts5 ? 0 : mb / best_f;
    printf("| %-8s | %8.1f | %10.1f | %9.1f | %5.2fx | %10zu | %10zu |\n", name, mb,
           q, f, q / f, qs.terms, fs.terms);
#else
    (void)best_f; (void)fs;
    printf("| %-8s | %8.1f | %10.1f | %9s | %6s | %10zu | %10s |\n", name, mb, q,
           "-", "-", qs.terms, "-");
#endif
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *sample = "corpus/news-sample.txt", *english = NULL;
    const char *mixed = "corpus/cache/mixed.txt", *only = NULL;
    double target_mb = 50;
    int reps = 3;
    uint32_t flags = TOK_FOLD_DIACRITICS;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--sample")) sample = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--english")) english = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--mixed")) mixed = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--mb")) target_mb = atof(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--flags")) flags = (uint32_t)atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--only")) only = argv[++i];
        else if (!strcmp(argv[i], "--no-fts5")) no_fts5 = 1;
        else {
            fprintf(stderr, "usage: %s [--sample FILE] [--english FILE.jsonl|txt] "
                            "[--mixed FILE] [--mb N] [--reps N] [--flags N] "
                            "[--only sample|english|mixed] [--no-fts5]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    printf("command:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\nquire flags %u (index mode); fts5 unicode61 remove_diacritics=2; "
           "best of %d; thread CPU time\n\n", flags, reps);
    printf("| corpus   |       MB | quire MB/s | fts5 MB/s |  ratio | quire terms | fts5 terms |\n");
    printf("|----------|---------:|-----------:|----------:|-------:|-----------:|-----------:|\n");

    corpus c;
    if (only && strcmp(only, "sample")) sample = NULL;
    if (only && strcmp(only, "english")) english = NULL;
    if (only && strcmp(only, "mixed")) mixed = NULL;
    if (!sample) {
    } else if (load_repeated(sample, (size_t)(target_mb * 1e6), &c) == 0) {
        report("sample", &c, flags, reps);
        free(c.data);
        free(c.lines);
    } else {
        fprintf(stderr, "cannot read %s\n", sample);
    }
    if (english) {
        if (load_english(english, &c) == 0) {
            report("english", &c, flags, reps);
            free(c.data);
            free(c.lines);
        } else {
            fprintf(stderr, "cannot read %s\n", english);
        }
    }
    memset(&c, 0, sizeof c);
    if (!mixed) {
    } else if ((c.data = read_file(mixed, &c.len)) != NULL && index_lines(&c) == 0) {
        report("mixed", &c, flags, reps);
    } else {
        fprintf(stderr, "no %s (run corpus/make-mixed)\n", mixed);
    }
    free(c.data);
    free(c.lines);
    return 0;
}
