/*
 * quire.c — the command-line tool.  It uses only the public API in quire.h:
 * reading inputs (JSON Lines, plain text files, directory trees, stdin),
 * parsing JSON, progress and output formats live here, not in the library.
 *
 *   quire index [--mem SIZE] [--threads N] [--wait SECONDS] [--optimize] [--strict] [--stem]
 *               [--stopwords] [--keep-accents] [--commongrams | --no-commongrams] [--contentless]
 *               DIR INPUT...
 *   quire search [-k N] [--offset M] [--sort [-]FIELD] [--count] [--json]
 *                [--time-limit SECONDS] DIR QUERY
 *   quire optimize [--threads N] [--wait SECONDS] DIR
 *   quire delete [--wait SECONDS] DIR ID...
 *   quire rebuild [--salvage] [--threads N] [--mem SIZE] [--wait SECONDS] [--stem ...] DIR
 *   quire get DIR ID...
 *   quire stats DIR
 *   quire verify DIR
 *   quire tokenize [--stem] [--stopwords] [--keep-accents] [TEXT]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "quire.h"

static const char *usage_text =
    "usage:\n"
    "  quire index [--mem SIZE] [--threads N] [--wait SECONDS] [--optimize] [--strict]\n"
    "              [--stem] [--stopwords] [--keep-accents] [--commongrams | --no-commongrams]\n"
    "              [--contentless] [--title-terms]\n"
    "              DIR INPUT...   index JSON Lines, text files, directories, - (stdin)\n"
    "                             (--contentless: keep ids, not the text;\n"
    "                             --wait: wait for another writer to finish;\n"
    "                             --title-terms: title:word finds words of titles)\n"
    "  quire search [-k N] [--offset M] [--sort [-]FIELD] [--count] [--json]\n"
    "               [--time-limit SECONDS] DIR QUERY\n"
    "                             (--time-limit: past it, the results found until then,\n"
    "                             exit status 3)\n"
    "  quire optimize [--threads N] [--wait SECONDS] DIR  merge all segments into one\n"
    "  quire delete [--wait SECONDS] DIR ID...            delete documents by id\n"
    "  quire rebuild [--salvage] [--threads N] [--mem SIZE] [--wait SECONDS]\n"
    "                [tokenizer options of index] DIR  index the stored documents again\n"
    "  quire get DIR ID...                               stored documents as JSON\n"
    "  quire stats DIR\n"
    "  quire verify DIR\n"
    "  quire tokenize [--stem] [--stopwords] [--keep-accents] [TEXT]   (stdin without TEXT)\n";

static int usage(void)
{
    fputs(usage_text, stderr);
    return 2;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- growable buffer ---------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static int buf_reserve(buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *n = realloc(b->p, cap);
    if (!n) return -1;
    b->p = n;
    b->cap = cap;
    return 0;
}

static int buf_put(buf *b, const void *s, size_t n)
{
    if (buf_reserve(b, n)) return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

/* ---- a small JSON reader for one line ------------------------------------ */

typedef struct json {
    const char *s, *end, *start;
    char err[160];
} json;

static void jerr(json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jerr(json *j, const char *fmt, ...)
{
    if (j->err[0]) return;
    char m[120];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    snprintf(j->err, sizeof j->err, "column %zu: %s", (size_t)(j->s - j->start) + 1, m);
}

static void jws(json *j)
{
    while (j->s < j->end && (*j->s == ' ' || *j->s == '\t' || *j->s == '\r' || *j->s == '\n'))
        j->s++;
}

static void put_utf8(buf *b, uint32_t c)
{
    char o[4];
    size_t n;
    if (c < 0x80) { o[0] = (char)c; n = 1; }
    else if (c < 0x800) { o[0] = (char)(0xc0 | c >> 6); o[1] = (char)(0x80 | (c & 0x3f)); n = 2; }
    else if (c < 0x10000) {
        o[0] = (char)(0xe0 | c >> 12); o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f)); n = 3;
    } else {
        o[0] = (char)(0xf0 | c >> 18); o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((c >> 6) & 0x3f)); o[3] = (char)(0x80 | (c & 0x3f)); n = 4;
    }
    buf_put(b, o, n);
}

static int hex4(const char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9') *v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') *v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') *v |= (uint32_t)(c - 'A' + 10);
        else return -1;
    }
    return 0;
}

/* First byte at or after p that ends a plain run of a JSON string: a
 * quote, a backslash or a control character (or end).  Bodies are long, and
 * this loop was the CLI's largest cost; SSE2 is part of every x86-64. */
static const char *scan_plain(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i ctl = _mm_set1_epi8(0x1f);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i is_ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v); /* v <= 0x1f */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                              _mm_cmpeq_epi8(v, bslash)), is_ctl);
        int mask = _mm_movemask_epi8(m);
        if (mask) return p + __builtin_ctz((unsigned)mask);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
    return p;
}

/* Parses a string at j->s (which is at '"') into out (appended). */
static int jstring(json *j, buf *out)
{
    const char *open = j->s;
    j->s++;
    const char *run = j->s;
    while (j->s < j->end) {
        j->s = scan_plain(j->s, j->end);
        if (j->s >= j->end) break;
        char c = *j->s;
        if (c == '"') {
            buf_put(out, run, (size_t)(j->s - run));
            j->s++;
            return 0;
        }
        if ((unsigned char)c < 0x20) {
            jerr(j, "control character in string");
            return -1;
        }
        if (c != '\\') { j->s++; continue; }
        buf_put(out, run, (size_t)(j->s - run));
        if (j->end - j->s < 2) break;
        char e = j->s[1];
        j->s += 2;
        switch (e) {
        case '"': buf_put(out, "\"", 1); break;
        case '\\': buf_put(out, "\\", 1); break;
        case '/': buf_put(out, "/", 1); break;
        case 'b': buf_put(out, "\b", 1); break;
        case 'f': buf_put(out, "\f", 1); break;
        case 'n': buf_put(out, "\n", 1); break;
        case 'r': buf_put(out, "\r", 1); break;
        case 't': buf_put(out, "\t", 1); break;
        case 'u': {
            uint32_t c1, c2;
            if (j->end - j->s < 4 || hex4(j->s, &c1)) {
                jerr(j, "bad \\u escape");
                return -1;
            }
            j->s += 4;
            if (c1 >= 0xd800 && c1 < 0xdc00 && j->end - j->s >= 6 && j->s[0] == '\\' &&
                j->s[1] == 'u' && !hex4(j->s + 2, &c2) && c2 >= 0xdc00 && c2 < 0xe000) {
                c1 = 0x10000 + ((c1 - 0xd800) << 10) + (c2 - 0xdc00);
                j->s += 6;
            } else if (c1 >= 0xd800 && c1 < 0xe000) {
                c1 = 0xfffd; /* lone surrogate */
            }
            put_utf8(out, c1);
            break;
        }
        default:
            j->s -= 1;
            jerr(j, "bad escape '\\%c'", e);
            return -1;
        }
        run = j->s;
    }
    j->s = open; /* point at where the string began */
    jerr(j, "unterminated string");
    return -1;
}

/* Skips any JSON value; if raw is not NULL, copies a number's text. */
static int jskip(json *j, int depth, buf *raw)
{
    jws(j);
    if (j->s >= j->end) { jerr(j, "value expected"); return -1; }
    if (depth > 64) { jerr(j, "nesting too deep"); return -1; }
    char c = *j->s;
    if (c == '"') {
        buf tmp = {0};
        int r = jstring(j, &tmp);
        free(tmp.p);
        return r;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->s++;
        jws(j);
        if (j->s < j->end && *j->s == close) { j->s++; return 0; }
        for (;;) {
            if (c == '{') {
                jws(j);
                if (j->s >= j->end || *j->s != '"') { jerr(j, "object key expected"); return -1; }
                if (jskip(j, depth + 1, NULL)) return -1;
                jws(j);
                if (j->s >= j->end || *j->s != ':') { jerr(j, "':' expected"); return -1; }
                j->s++;
            }
            if (jskip(j, depth + 1, NULL)) return -1;
            jws(j);
            if (j->s < j->end && *j->s == ',') { j->s++; continue; }
            if (j->s < j->end && *j->s == close) { j->s++; return 0; }
            jerr(j, "',' or '%c' expected", close);
            return -1;
        }
    }
    const char *st = j->s;
    if (c == '-' || (c >= '0' && c <= '9')) {
        j->s++;
        while (j->s < j->end && strchr("0123456789+-.eE", *j->s)) j->s++;
    } else if (j->end - j->s >= 4 && !memcmp(j->s, "true", 4)) j->s += 4;
    else if (j->end - j->s >= 5 && !memcmp(j->s, "false", 5)) j->s += 5;
    else if (j->end - j->s >= 4 && !memcmp(j->s, "null", 4)) j->s += 4;
    else { jerr(j, "unexpected character '%c'", c); return -1; }
    if (raw) buf_put(raw, st, (size_t)(j->s - st));
    return 0;
}

typedef struct jdoc {
    buf id, title, body;
    buf names[32], values[32];
    size_t nextra;
    int has_id;
} jdoc;

static void jdoc_reset(jdoc *d)
{
    d->id.len = d->title.len = d->body.len = 0;
    for (size_t i = 0; i < 32; i++) d->names[i].len = d->values[i].len = 0;
    d->nextra = 0;
    d->has_id = 0;
}

static void jdoc_free(jdoc *d)
{
    free(d->id.p); free(d->title.p); free(d->body.p);
    for (size_t i = 0; i < 32; i++) { free(d->names[i].p); free(d->values[i].p); }
}

/* Parses one JSON Lines record; returns 0 or -1 with j->err set. */
static int parse_record(const char *line, size_t len, jdoc *d, char *err, size_t errcap)
{
    json j = {.s = line, .end = line + len, .start = line};
    jdoc_reset(d);
    buf key = {0};
    int rc = -1;
    jws(&j);
    if (j.s >= j.end || *j.s != '{') { jerr(&j, "a JSON object expected"); goto out; }
    j.s++;
    jws(&j);
    if (j.s < j.end && *j.s == '}') { j.s++; goto done; }
    for (;;) {
        jws(&j);
        if (j.s >= j.end || *j.s != '"') { jerr(&j, "object key expected"); goto out; }
        key.len = 0;
        if (jstring(&j, &key)) goto out;
        jws(&j);
        if (j.s >= j.end || *j.s != ':') { jerr(&j, "':' expected"); goto out; }
        j.s++;
        jws(&j);
        buf *target = NULL;
        int is_id = key.len == 2 && !memcmp(key.p, "id", 2);
        if (is_id) target = &d->id;
        else if (key.len == 5 && !memcmp(key.p, "title", 5)) target = &d->title;
        else if (key.len == 4 && !memcmp(key.p, "body", 4)) target = &d->body;
        if (j.s < j.end && *j.s == '"') {
            if (!target && d->nextra < 32) {
                buf_put(&d->names[d->nextra], key.p, key.len);
                target = &d->values[d->nextra++];
            }
            if (target) {
                target->len = 0;
                if (jstring(&j, target)) goto out;
            } else if (jskip(&j, 0, NULL)) goto out;
            if (is_id) d->has_id = 1;
        } else if (is_id) {
            d->id.len = 0;
            if (jskip(&j, 0, &d->id)) goto out;
            if (d->id.len == 0) { jerr(&j, "\"id\" must be a string or a number"); goto out; }
            d->has_id = 1;
        } else if (!target && d->nextra < 32 && j.s < j.end &&
                   (*j.s == '-' || (*j.s >= '0' && *j.s <= '9'))) {
            /* a number is kept as its text, as a string field would be
             * (and so it is also a number to sort by) */
            buf_put(&d->names[d->nextra], key.p, key.len);
            if (jskip(&j, 0, &d->values[d->nextra++])) goto out;
        } else {
            if (target) { jerr(&j, "\"%.*s\" must be a string", (int)key.len, key.p); goto out; }
            if (jskip(&j, 0, NULL)) goto out;
        }
        jws(&j);
        if (j.s < j.end && *j.s == ',') { j.s++; continue; }
        if (j.s < j.end && *j.s == '}') { j.s++; break; }
        jerr(&j, "',' or '}' expected");
        goto out;
    }
done:
    jws(&j);
    if (j.s != j.end) { jerr(&j, "trailing characters after the object"); goto out; }
    rc = 0;
out:
    if (rc) snprintf(err, errcap, "%s", j.err);
    free(key.p);
    return rc;
}

/* ---- index ---------------------------------------------------------------- */

typedef struct ictx {
    quire_writer *w;
    int strict;
    uint64_t docs, replaced, malformed, bytes_in;
    double t0, last_progress;
    int tty;
    jdoc jd;
    int failed;
} ictx;

static void progress(ictx *c, int final)
{
    if (!c->tty) return;
    double t = now();
    if (!final && t - c->last_progress < 0.5) return;
    c->last_progress = t;
    double mb = (double)c->bytes_in / 1e6, el = t - c->t0;
    fprintf(stderr, "\r%llu docs, %.1f MB, %.1f MB/s   ", (unsigned long long)c->docs, mb,
            el > 0 ? mb / el : 0.0);
    if (final) fputc('\n', stderr);
}

/* `line` is 0 for a whole-file document; the location is formatted only
 * when there is something to say (a per-line snprintf showed in profiles). */
static int add_doc(ictx *c, const quire_doc_input *d, const char *name, uint64_t line)
{
    quire_error e;
    int replaced = 0;
    char where[512];
#define WHERE() (line ? snprintf(where, sizeof where, "%s:%llu", name, (unsigned long long)line) \
                      : snprintf(where, sizeof where, "%s", name))
    if (quire_writer_add(c->w, d, &replaced, &e) != QUIRE_OK) {
        WHERE();
        fprintf(stderr, "quire: %s: %s\n", where, e.message);
        c->failed = 1;
        return -1;
    }
    c->docs++;
    if (replaced) {
        /* name the first few; the summary line counts them all */
        if (++c->replaced <= 10 && WHERE() >= 0)
            fprintf(stderr, "quire: %s: id \"%.*s\" seen before; the later document replaces it%s\n",
                    where, (int)(d->id_len > 200 ? 200 : d->id_len), d->id,
                    c->replaced == 10 ? " (further replacements are only counted)" : "");
    }
    progress(c, 0);
    return 0;
#undef WHERE
}

static int index_jsonl(ictx *c, FILE *f, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        c->bytes_in += (uint64_t)n;
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == len) continue; /* blank line */
        char err[200];
        if (parse_record(line, len, &c->jd, err, sizeof err)) {
            c->malformed++;
            fprintf(stderr, "quire: %s:%llu: malformed JSON line (%s)%s\n", name,
                    (unsigned long long)lineno, err, c->strict ? "" : "; skipped");
            if (c->strict) { rc = -1; break; }
            continue;
        }
        char idbuf[600];
        const char *id = c->jd.id.p;
        size_t idlen = c->jd.id.len;
        if (!c->jd.has_id) {
            /* documented: FILE:LINE (or LINE for stdin) stands in for a missing id */
            if (strcmp(name, "-"))
                snprintf(idbuf, sizeof idbuf, "%s:%llu", name, (unsigned long long)lineno);
            else
                snprintf(idbuf, sizeof idbuf, "%llu", (unsigned long long)lineno);
            id = idbuf;
            idlen = strlen(idbuf);
        }
        quire_field fields[32];
        for (size_t i = 0; i < c->jd.nextra; i++)
            fields[i] = (quire_field){c->jd.names[i].p, c->jd.names[i].len,
                                      c->jd.values[i].p, c->jd.values[i].len};
        quire_doc_input d = {id, idlen, c->jd.title.p, c->jd.title.len,
                             c->jd.body.p, c->jd.body.len, fields, c->jd.nextra};
        if (add_doc(c, &d, name, lineno)) { rc = -1; break; }
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "quire: read %s: %s\n", name, strerror(errno));
        c->failed = 1;
        rc = -1;
    }
    free(line);
    return rc;
}

static int read_all(FILE *f, buf *b)
{
    char tmp[1 << 16];
    size_t n;
    b->len = 0;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (buf_put(b, tmp, n)) return -1;
    if (buf_reserve(b, 0)) return -1;
    b->p[b->len] = 0;
    return ferror(f) ? -1 : 0;
}

/* Plain text: the first line is the title, the rest the body. */
static int index_text(ictx *c, FILE *f, const char *name)
{
    buf b = {0};
    if (read_all(f, &b)) {
        fprintf(stderr, "quire: read %s: %s\n", name, strerror(errno));
        free(b.p);
        c->failed = 1;
        return -1;
    }
    c->bytes_in += b.len;
    const char *nl = b.len ? memchr(b.p, '\n', b.len) : NULL;
    size_t tlen = nl ? (size_t)(nl - b.p) : b.len;
    const char *body = nl ? nl + 1 : b.p + b.len;
    quire_doc_input d = {name, strlen(name), b.p ? b.p : "", tlen, body,
                         b.len - (size_t)(body - (b.p ? b.p : body)), NULL, 0};
    int rc = add_doc(c, &d, name, 0);
    free(b.p);
    return rc;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int is_jsonl_name(const char *p)
{
    return has_suffix(p, ".jsonl") || has_suffix(p, ".ndjson") || has_suffix(p, ".json");
}

static int index_path(ictx *c, const char *path, int top);

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int index_dir(ictx *c, const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "quire: open %s: %s\n", path, strerror(errno));
        c->failed = 1;
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* hidden files and . .. */
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    /* sorted, so doc numbers do not depend on the file system's order */
    qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rc && names[i]) {
            char *p = malloc(strlen(path) + strlen(names[i]) + 2);
            if (p) {
                sprintf(p, "%s/%s", path, names[i]);
                rc = index_path(c, p, 0);
                free(p);
            }
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int index_path(ictx *c, const char *path, int top)
{
    if (strcmp(path, "-") == 0) {
        int ch = getc(stdin);
        while (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r') ch = getc(stdin);
        if (ch != EOF) ungetc(ch, stdin);
        return ch == '{' ? index_jsonl(c, stdin, "-") : index_text(c, stdin, "-");
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "quire: %s: %s\n", path, strerror(errno));
        c->failed = 1;
        return -1;
    }
    if (S_ISDIR(st.st_mode)) return index_dir(c, path);
    if (!S_ISREG(st.st_mode)) {
        if (top) fprintf(stderr, "quire: %s: not a regular file; skipped\n", path);
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "quire: open %s: %s\n", path, strerror(errno));
        c->failed = 1;
        return -1;
    }
    /* stdio's own buffer is 4 KiB: a read call per 4 KiB (glibc ignores
     * the size without a buffer) */
    size_t vbuf_len = (size_t)1 << 20;
    char *vbuf = malloc(vbuf_len);
    if (vbuf) setvbuf(f, vbuf, _IOFBF, vbuf_len);
    int rc = is_jsonl_name(path) ? index_jsonl(c, f, path) : index_text(c, f, path);
    fclose(f);
    free(vbuf);
    return rc;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0) return -1;
    double mul = 1;
    switch (*end) {
    case 'k': case 'K': mul = 1024; end++; break;
    case 'm': case 'M': mul = 1024 * 1024; end++; break;
    case 'g': case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return -1;
    *out = (size_t)(v * mul);
    return 0;
}

/* Writer threads by default: one per core, up to 8. */
static uint32_t default_threads(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    return ncpu < 1 ? 1 : ncpu > 8 ? 8 : (uint32_t)ncpu;
}

/* --threads N: 0, or 2 after an error message. */
static int parse_threads(const char *s, uint32_t *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 1 || v > 64) {
        fprintf(stderr, "quire: --threads: '%s' is not a number from 1 to 64\n", s);
        return 2;
    }
    *out = (uint32_t)v;
    return 0;
}

/* --wait SECONDS (decimals allowed, at most a day): 0, or 2 after an
 * error message. */
static int parse_wait(const char *s, uint32_t *out_ms)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0 && v <= 86400)) {
        fprintf(stderr, "quire: --wait: '%s' is not a number of seconds from 0 to 86400\n", s);
        return 2;
    }
    *out_ms = (uint32_t)(v * 1000 + 0.5);
    return 0;
}

/* The tokenizer options of index and rebuild, applied to *flags: 1 when
 * `o` is one. */
static int tok_option(const char *o, uint32_t *flags)
{
    if (!strcmp(o, "--stem")) *flags |= QUIRE_TOK_STEM_EN;
    else if (!strcmp(o, "--stopwords")) *flags |= QUIRE_TOK_STOPWORDS_EN;
    else if (!strcmp(o, "--keep-accents")) *flags &= ~(uint32_t)QUIRE_TOK_FOLD_DIACRITICS;
    else if (!strcmp(o, "--commongrams")) *flags |= QUIRE_TOK_COMMONGRAMS;
    else if (!strcmp(o, "--no-commongrams"))
        *flags &= ~(uint32_t)(QUIRE_TOK_COMMONGRAMS | QUIRE_TOK_COMMONPAIRS);
    else if (!strcmp(o, "--title-terms")) *flags |= QUIRE_TOK_TITLE_TERMS;
    else return 0;
    return 1;
}

static int cmd_index(int argc, char **argv)
{
    quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT};
    int strict = 0, npos = 0, only_pos = 0, optimize = 0;
    opt.threads = default_threads();
    char **pos = calloc((size_t)argc, sizeof *pos);
    if (!pos) return 1;
    /* options may stand anywhere; "-" alone is stdin, "--" ends options */
    for (int a = 1; a < argc; a++) {
        const char *o = argv[a];
        if (only_pos || o[0] != '-' || !o[1]) { pos[npos++] = argv[a]; continue; }
        if (!strcmp(o, "--mem") && a + 1 < argc) {
            if (parse_size(argv[++a], &opt.mem_budget) || opt.mem_budget < 4096) {
                fprintf(stderr, "quire: --mem: '%s' is not a size of at least 4K (e.g. 64M, 1G)\n",
                        argv[a]);
                free(pos);
                return 2;
            }
        } else if (!strcmp(o, "--threads") && a + 1 < argc) {
            if (parse_threads(argv[++a], &opt.threads)) {
                free(pos);
                return 2;
            }
        } else if (!strcmp(o, "--wait") && a + 1 < argc) {
            if (parse_wait(argv[++a], &opt.lock_wait_ms)) {
                free(pos);
                return 2;
            }
        } else if (!strcmp(o, "--optimize")) optimize = 1;
        else if (!strcmp(o, "--strict")) strict = 1;
        else if (tok_option(o, &opt.tok_flags)) continue;
        else if (!strcmp(o, "--contentless")) opt.contentless = 1;
        else if (!strcmp(o, "--")) only_pos = 1;
        else {
            fprintf(stderr, "quire: index: unknown option '%s'\n", o);
            free(pos);
            return usage();
        }
    }
    if (npos < 2) {
        free(pos);
        return usage();
    }
    int i = 0;
    argc = npos;
    argv = pos;
    const char *dir = argv[i++];
    ictx c;
    memset(&c, 0, sizeof c);
    c.strict = strict;
    c.tty = isatty(2);
    quire_error e;
    if (quire_writer_open(dir, &opt, &c.w, &e) != QUIRE_OK) {
        fprintf(stderr, "quire: %s\n", e.message);
        free(pos);
        return 1;
    }
    c.t0 = now();
    int rc = 0;
    for (; i < argc && !rc; i++) rc = index_path(&c, argv[i], 1);
    if (rc || c.failed) {
        progress(&c, 1);
        fprintf(stderr, "quire: stopped; nothing from this run was committed, "
                        "the index keeps its previous state\n");
        quire_writer_free(c.w);
        jdoc_free(&c.jd);
        free(pos);
        return 1;
    }
    if ((optimize ? quire_writer_optimize(c.w, &e) : quire_writer_commit(c.w, &e)) != QUIRE_OK) {
        fprintf(stderr, "quire: commit: %s\n", e.message);
        quire_writer_free(c.w);
        jdoc_free(&c.jd);
        free(pos);
        return 1;
    }
    progress(&c, 1);
    double el = now() - c.t0;
    printf("indexed %llu documents, %.1f MB in %.2f s (%.1f MB/s)",
           (unsigned long long)c.docs, (double)c.bytes_in / 1e6, el,
           el > 0 ? (double)c.bytes_in / 1e6 / el : 0.0);
    if (c.replaced) printf("; %llu replaced earlier documents with the same id",
                           (unsigned long long)c.replaced);
    if (c.malformed) printf("; %llu malformed lines skipped", (unsigned long long)c.malformed);
    printf("\n");
    quire_writer_free(c.w);
    jdoc_free(&c.jd);
    free(pos);
    return 0;
}

/* ---- search ------------------------------------------------------------- */

static void json_str(FILE *o, const char *s, size_t n)
{
    fputc('"', o);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') fprintf(o, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", o);
        else if (ch == '\t') fputs("\\t", o);
        else if (ch == '\r') fputs("\\r", o);
        else if (ch < 0x20) fprintf(o, "\\u%04x", ch);
        else fputc(ch, o);
    }
    fputc('"', o);
}

static void print_query_error(const char *q, const quire_error *e)
{
    fprintf(stderr, "quire: %s\n", e->message);
    if (e->code == QUIRE_EQUERY && e->column > 0) {
        fprintf(stderr, "  %s\n  %*s^\n", q, (int)e->column - 1, "");
    }
}

static int cmd_search(int argc, char **argv)
{
    size_t k = 10, offset = 0;
    int count = 0, as_json = 0, npos = 0, only_pos = 0, descending = 0;
    const char *pos[2] = {NULL, NULL}, *sort = NULL;
    double limit = 0;
    /* known options anywhere; anything else (even "-word") is positional */
    for (int a = 1; a < argc; a++) {
        const char *o = argv[a];
        if (!only_pos && !strcmp(o, "-k") && a + 1 < argc) {
            char *end;
            long v = strtol(argv[++a], &end, 10);
            if (*end || v < 0) { fprintf(stderr, "quire: -k needs a number\n"); return 2; }
            k = (size_t)v;
        } else if (!only_pos && !strcmp(o, "--offset") && a + 1 < argc) {
            char *end;
            long v = strtol(argv[++a], &end, 10);
            if (*end || v < 0 || !argv[a][0]) {
                fprintf(stderr, "quire: --offset needs a number\n");
                return 2;
            }
            offset = (size_t)v;
        } else if (!only_pos && !strcmp(o, "--sort") && a + 1 < argc) {
            /* --sort FIELD: lowest first; --sort -FIELD: highest first */
            sort = argv[++a];
            descending = sort[0] == '-';
            sort += descending;
            if (!sort[0]) {
                fprintf(stderr, "quire: --sort needs a field name\n");
                return 2;
            }
        } else if (!only_pos && !strcmp(o, "--time-limit") && a + 1 < argc) {
            char *end;
            limit = strtod(argv[++a], &end);
            if (*end || !argv[a][0] || !(limit > 0) || limit > 1e9) {
                fprintf(stderr, "quire: --time-limit needs a number of seconds above 0\n");
                return 2;
            }
        } else if (!only_pos && !strcmp(o, "--count")) count = 1;
        else if (!only_pos && !strcmp(o, "--json")) as_json = 1;
        else if (!only_pos && !strcmp(o, "--")) only_pos = 1;
        else if (npos < 2) pos[npos++] = o;
        else return usage();
    }
    if (npos != 2) return usage();
    const char *dir = pos[0], *q = pos[1];
    quire_index *ix;
    quire_error e;
    if (quire_index_open(dir, &ix, &e) != QUIRE_OK) {
        fprintf(stderr, "quire: %s\n", e.message);
        return 1;
    }
    int rc = 0, partial = 0;
    const quire_search_options so = {.sort_field = sort, .descending = descending,
                                     .time_limit = limit};
    if (count) {
        uint64_t n;
        if (quire_count_ex(ix, q, strlen(q), &so, &n, &partial, &e) != QUIRE_OK) {
            print_query_error(q, &e);
            rc = 1;
        } else {
            printf("%llu\n", (unsigned long long)n);
        }
        quire_index_close(ix);
        if (partial) {
            fflush(stdout);   /* the message follows the output */
            fprintf(stderr, "quire: stopped at the time limit: %g s; the count is of the "
                            "documents searched until then\n", limit);
            rc = 3;
        }
        return rc;
    }
    /* a page further down: the best offset + k, of which the first
     * offset are skipped (the ranking is the same however many are asked) */
    quire_results *r;
    size_t want = k > SIZE_MAX - offset ? SIZE_MAX : k + offset;
    if (quire_search_ex(ix, q, strlen(q), want, &so, &r, &e) != QUIRE_OK) {
        print_query_error(q, &e);
        quire_index_close(ix);
        return 1;
    }
    /* colour on a terminal, else plain markers */
    int color = isatty(1);
    const char *mo = color ? "\033[1m" : "[", *mc = color ? "\033[0m" : "]";
    for (size_t h = offset; h < quire_results_size(r); h++) {
        const quire_hit *hit = quire_results_get(r, h);
        quire_doc *d;
        if (quire_doc_get(ix, hit->doc, &d, &e) != QUIRE_OK) {
            fprintf(stderr, "quire: %s\n", e.message);
            rc = 1;
            break;
        }
        const char *id, *title;
        size_t idl, tl;
        quire_doc_field(d, "id", &id, &idl);
        quire_doc_field(d, "title", &title, &tl);
        if (as_json) {
            /* the excerpt as the listing shows it, matches in <em></em>
             * (Elasticsearch's default), for tools that call the CLI */
            char snip[1024];
            if (quire_snippet(ix, hit->doc, q, strlen(q), "<em>", "</em>", 200, snip,
                              sizeof snip, &e) != QUIRE_OK)
                snip[0] = 0;
            printf("{\"id\":");
            json_str(stdout, id, idl);
            if (!sort) printf(",\"score\":%.6f", hit->score);
            else if (hit->score != hit->score) printf(",\"value\":null");
            else printf(",\"value\":%.17g", hit->score);
            printf(",\"title\":");
            json_str(stdout, title, tl);
            printf(",\"snippet\":");
            json_str(stdout, snip, strlen(snip));
            printf("}\n");
        } else {
            char snip[1024];
            if (quire_snippet(ix, hit->doc, q, strlen(q), mo, mc, 200, snip, sizeof snip,
                              &e) != QUIRE_OK)
                snip[0] = 0;
            for (char *p = snip; *p; p++) if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
            if (tl == 0) {
                title = "(untitled)";
                tl = strlen(title);
            }
            printf("%zu. %.*s  (id %.*s, ", h + 1, (int)(tl > 120 ? 120 : tl), title,
                   (int)(idl > 120 ? 120 : idl), id);
            const char *sv;
            size_t svl;
            /* sorted: the field as stored (a date reads as a date) */
            if (!sort) printf("score %.4f", hit->score);
            else if (hit->score != hit->score) printf("no %s", sort);
            else if (quire_doc_field(d, sort, &sv, &svl) == QUIRE_OK)
                printf("%s %.*s", sort, (int)(svl > 60 ? 60 : svl), sv);
            else printf("%s %.17g", sort, hit->score);   /* contentless */
            printf(")\n   %s\n", snip);
        }
        quire_doc_free(d);
    }
    partial = quire_results_partial(r);
    if (partial) {
        fflush(stdout);
        fprintf(stderr, "quire: stopped at the time limit: %g s; the results are the best of "
                        "the documents searched until then\n", limit);
        if (!rc) rc = 3;
    } else if (!as_json && quire_results_size(r) == 0 && offset == 0) {
        printf("no matches\n");
        char fix[1024];
        size_t n;
        if (quire_suggest(ix, q, strlen(q), "[", "]", fix, sizeof fix, &n, &e) == QUIRE_OK && n)
            printf("did you mean: %s\n", fix);
    }
    quire_results_free(r);
    quire_index_close(ix);
    return rc;
}

/* ---- stats, verify, tokenize ------------------------------------------- */

/* A field with numbers, for quire stats: its documents and range. */
static int print_field(void *ctx, const quire_field_info *f)
{
    (void)ctx;
    printf("numbers %-9.*s %llu document%s, from %.17g to %.17g\n", (int)f->name_len, f->name,
           (unsigned long long)f->docs, f->docs == 1 ? "" : "s", f->min, f->max);
    return 0;
}

static int cmd_stats(int argc, char **argv)
{
    if (argc != 2) return usage();
    quire_index *ix;
    quire_error e;
    if (quire_index_open(argv[1], &ix, &e) != QUIRE_OK) {
        fprintf(stderr, "quire: %s\n", e.message);
        return 1;
    }
    quire_stats s;
    quire_index_stats(ix, &s, &e);
    double post_bytes = (double)(s.bytes_docs + s.bytes_skip);
    printf("generation        %llu\n", (unsigned long long)s.generation);
    printf("segments          %u\n", s.segments);
    printf("tokenizer         fold-diacritics=%s stem=%s stopwords=%s commongrams=%s "
           "title-terms=%s\n",
           s.tok_flags & QUIRE_TOK_FOLD_DIACRITICS ? "on" : "off",
           s.tok_flags & QUIRE_TOK_STEM_EN ? "on" : "off",
           s.tok_flags & QUIRE_TOK_STOPWORDS_EN ? "on" : "off",
           s.tok_flags & QUIRE_TOK_COMMONGRAMS   ? "all"
           : s.tok_flags & QUIRE_TOK_COMMONPAIRS ? "pairs"
                                                 : "off",
           s.tok_flags & QUIRE_TOK_TITLE_TERMS ? "on" : "off");
    printf("documents         %llu (+%llu deleted)\n", (unsigned long long)s.docs,
           (unsigned long long)s.deleted_docs);
    printf("terms             %llu\n", (unsigned long long)s.terms);
    printf("postings          %llu\n", (unsigned long long)s.postings);
    printf("positions         %llu\n", (unsigned long long)s.positions);
    printf("bytes dict        %llu\n", (unsigned long long)s.bytes_dict);
    printf("bytes docs        %llu\n", (unsigned long long)s.bytes_docs);
    printf("bytes skip        %llu\n", (unsigned long long)s.bytes_skip);
    printf("bytes pos         %llu\n", (unsigned long long)s.bytes_pos);
    printf("bytes norms       %llu\n", (unsigned long long)s.bytes_norms);
    printf("bytes store       %llu\n", (unsigned long long)s.bytes_store);
    printf("bytes ids         %llu\n", (unsigned long long)s.bytes_ids);
    printf("bytes other       %llu\n", (unsigned long long)s.bytes_other);
    printf("bytes total       %llu\n", (unsigned long long)s.bytes_total);
    printf("bits per posting  %.2f (doc ids, tfs and skip data)\n",
           s.postings ? post_bytes * 8 / (double)s.postings : 0.0);
    printf("bits per position %.2f\n",
           s.positions ? (double)s.bytes_pos * 8 / (double)s.positions : 0.0);
    if (quire_index_fields(ix, print_field, NULL, &e) != QUIRE_OK) {
        fprintf(stderr, "quire: %s\n", e.message);
        quire_index_close(ix);
        return 1;
    }
    quire_index_close(ix);
    return 0;
}

/* Opens a writer on the index at dir, refusing to create one where there
 * is none (quire_writer_open would); says why on failure. */
static int open_existing(const char *dir, const quire_writer_options *opt, quire_writer **w)
{
    quire_error e;
    quire_index *ix;
    if (quire_index_open(dir, &ix, &e) != QUIRE_OK) {
        fprintf(stderr, "quire: %s\n", e.message);
        return -1;
    }
    quire_index_close(ix);
    if (quire_writer_open(dir, opt, w, &e) != QUIRE_OK) {
        fprintf(stderr, "quire: %s\n", e.message);
        return -1;
    }
    return 0;
}

static int cmd_optimize(int argc, char **argv)
{
    /* the tokenizer options are the index's; with two or more threads
     * the merge splits the terms between two threads and copies the
     * stored documents in a third */
    quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT, .threads = default_threads()};
    while (argc >= 4 && argv[1][0] == '-') {
        if (!strcmp(argv[1], "--threads")) {
            if (parse_threads(argv[2], &opt.threads)) return 2;
        } else if (!strcmp(argv[1], "--wait")) {
            if (parse_wait(argv[2], &opt.lock_wait_ms)) return 2;
        } else {
            break;
        }
        argv += 2;
        argc -= 2;
    }
    if (argc != 2) return usage();
    quire_writer *w;
    quire_error e;
    if (open_existing(argv[1], &opt, &w)) return 1;
    double t0 = now();
    int rc = quire_writer_optimize(w, &e);
    quire_writer_free(w);
    if (rc != QUIRE_OK) {
        fprintf(stderr, "quire: optimize: %s\n", e.message);
        return 1;
    }
    printf("merged into one segment in %.2f s\n", now() - t0);
    return 0;
}

/* Deletes the documents with the ids given and commits once. */
static int cmd_delete(int argc, char **argv)
{
    quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT, .threads = 1};
    while (argc >= 4 && !strcmp(argv[1], "--wait")) {
        if (parse_wait(argv[2], &opt.lock_wait_ms)) return 2;
        argv += 2;
        argc -= 2;
    }
    if (argc < 3) return usage();
    quire_writer *w;
    quire_error e;
    if (open_existing(argv[1], &opt, &w)) return 1;
    size_t n = 0;
    for (int i = 2; i < argc; i++) {
        int found;
        if (quire_writer_delete(w, argv[i], strlen(argv[i]), &found, &e) != QUIRE_OK) {
            fprintf(stderr, "quire: delete %s: %s\n", argv[i], e.message);
            quire_writer_free(w);   /* nothing is committed */
            return 1;
        }
        if (!found) fprintf(stderr, "quire: no document with id %s\n", argv[i]);
        n += (size_t)found;
    }
    int rc = quire_writer_commit(w, &e);
    quire_writer_free(w);
    if (rc != QUIRE_OK) {
        fprintf(stderr, "quire: commit: %s\n", e.message);
        return 1;
    }
    printf("deleted %zu of %d documents\n", n, argc - 2);
    return 0;
}

/* Prints the stored documents with these ids, one JSON object a line:
 * every stored field, in stored order. */
static int cmd_get(int argc, char **argv)
{
    if (argc < 3) return usage();
    quire_index *ix;
    quire_error e;
    if (quire_index_open(argv[1], &ix, &e) != QUIRE_OK) {
        fprintf(stderr, "quire: %s\n", e.message);
        return 1;
    }
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        uint64_t doc;
        quire_doc *d;
        if (quire_doc_find(ix, argv[i], strlen(argv[i]), &doc, &e) != QUIRE_OK ||
            quire_doc_get(ix, doc, &d, &e) != QUIRE_OK) {
            fprintf(stderr, "quire: %s\n", e.message);
            rc = 1;
            continue;
        }
        for (size_t f = 0; f < quire_doc_nfields(d); f++) {
            const char *name, *value;
            size_t nl, vl;
            quire_doc_field_at(d, f, &name, &nl, &value, &vl);
            fputs(f ? "," : "{", stdout);
            json_str(stdout, name, nl);
            fputc(':', stdout);
            json_str(stdout, value, vl);
        }
        puts("}");
        quire_doc_free(d);
    }
    quire_index_close(ix);
    return rc;
}

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    printf("problem: %s\n", line);
}

static void print_rebuild_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "quire: rebuild: %s\n", line);
}

/* Indexes the stored documents again into a new generation. */
static int cmd_rebuild(int argc, char **argv)
{
    quire_rebuild_options o;
    memset(&o, 0, sizeof o);
    o.writer.tok_flags = QUIRE_TOK_DEFAULT;
    o.writer.threads = default_threads();
    const char *dir = NULL;
    for (int a = 1; a < argc; a++) {
        const char *v = argv[a];
        if (!strcmp(v, "--salvage")) {
            o.salvage = 1;
        } else if (!strcmp(v, "--mem") && a + 1 < argc) {
            if (parse_size(argv[++a], &o.writer.mem_budget) || o.writer.mem_budget < 4096) {
                fprintf(stderr, "quire: --mem: '%s' is not a size of at least 4K\n", argv[a]);
                return 2;
            }
        } else if (!strcmp(v, "--threads") && a + 1 < argc) {
            if (parse_threads(argv[++a], &o.writer.threads)) return 2;
        } else if (!strcmp(v, "--wait") && a + 1 < argc) {
            if (parse_wait(argv[++a], &o.writer.lock_wait_ms)) return 2;
        } else if (tok_option(v, &o.writer.tok_flags)) {
            o.set_tok_flags = 1;
        } else if (v[0] == '-' || dir) {
            fprintf(stderr, "quire: rebuild: unexpected argument '%s'\n", v);
            return usage();
        } else {
            dir = v;
        }
    }
    if (!dir) return usage();
    double t0 = now();
    quire_rebuild_stats st;
    quire_error e;
    int rc = quire_rebuild(dir, &o, print_rebuild_line, NULL, &st, &e);
    if (rc != QUIRE_OK) {
        fprintf(stderr, "quire: rebuild: %s\n", e.message);
        return 1;
    }
    printf("rebuilt %llu documents from %u segment files in %.2f s (tok_flags %u)",
           (unsigned long long)st.docs, st.segments, now() - t0, st.tok_flags);
    if (st.lost) printf("; %llu documents could not be read back", (unsigned long long)st.lost);
    printf("\n");
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    if (argc != 2) return usage();
    quire_error e;
    int rc = quire_verify(argv[1], print_line, NULL, &e);
    if (rc != QUIRE_OK) {
        fprintf(stderr, "quire: verify failed: %s\n", e.message);
        if (rc == QUIRE_ECORRUPT)
            fprintf(stderr, "quire: 'quire rebuild %s' indexes the stored documents again "
                            "(and says what it cannot read)\n", argv[1]);
        return 1;
    }
    quire_index *ix;
    if (quire_index_open(argv[1], &ix, &e) == QUIRE_OK) {
        quire_stats s;
        quire_index_stats(ix, &s, &e);
        printf("ok: %u segments, %llu documents, %llu terms, %llu postings, %llu positions\n",
               s.segments, (unsigned long long)s.docs, (unsigned long long)s.terms,
               (unsigned long long)s.postings, (unsigned long long)s.positions);
        quire_index_close(ix);
    }
    return 0;
}

static int print_token(void *ctx, const char *term, size_t len, uint32_t pos,
                       size_t start, size_t end)
{
    (void)ctx;
    printf("%u\t%zu\t%zu\t%.*s\n", pos, start, end, (int)len, term);
    return 0;
}

static int cmd_tokenize(int argc, char **argv)
{
    uint32_t flags = QUIRE_TOK_DEFAULT;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (!strcmp(argv[i], "--stem")) flags |= QUIRE_TOK_STEM_EN;
        else if (!strcmp(argv[i], "--stopwords")) flags |= QUIRE_TOK_STOPWORDS_EN;
        else if (!strcmp(argv[i], "--keep-accents")) flags &= ~(uint32_t)QUIRE_TOK_FOLD_DIACRITICS;
        else return usage();
    }
    buf b = {0};
    if (i < argc) buf_put(&b, argv[i], strlen(argv[i]));
    else if (read_all(stdin, &b)) { free(b.p); return 1; }
    quire_error e;
    int rc = quire_tokenize(flags, b.p ? b.p : "", b.len, print_token, NULL, &e);
    free(b.p);
    if (rc) { fprintf(stderr, "quire: %s\n", e.message); return 1; }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *cmd = argv[1];
    if (!strcmp(cmd, "index")) return cmd_index(argc - 1, argv + 1);
    if (!strcmp(cmd, "search")) return cmd_search(argc - 1, argv + 1);
    if (!strcmp(cmd, "stats")) return cmd_stats(argc - 1, argv + 1);
    if (!strcmp(cmd, "verify")) return cmd_verify(argc - 1, argv + 1);
    if (!strcmp(cmd, "optimize")) return cmd_optimize(argc - 1, argv + 1);
    if (!strcmp(cmd, "delete")) return cmd_delete(argc - 1, argv + 1);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(cmd, "rebuild")) return cmd_rebuild(argc - 1, argv + 1);
    if (!strcmp(cmd, "get")) return cmd_get(argc - 1, argv + 1);
    if (!strcmp(cmd, "--version")) { printf("quire %s\n", QUIRE_VERSION_STRING); return 0; }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    fprintf(stderr, "quire: unknown command '%s'\n", cmd);
    return usage();
}
