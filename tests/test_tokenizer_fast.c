/*
 * test_tokenizer_fast.c — the fast scanner (tokenizer/tok_fast.c) against
 * the general path: for every input the stream of (term, position, start,
 * end) and next_pos must be the same with the shortcuts on (with each
 * classifier the machine has: AVX-512, AVX2, SSE2, scalar) as with them
 * off.
 *
 * Inputs: random texts assembled from fragments chosen to sit on the
 * scanner's decisions (connectors before and after words, possessives,
 * "(s)", numbers, abbreviations and dotted pairs, URLs, editorial marks,
 * accents, marks, ignorables, CJK, invalid
 * bytes, words around the 64-byte window edges), under every flag
 * combination and both modes; the sample article; and, when present, the
 * first megabytes of the benchmark corpora (corpus/cache, not in git) line
 * by line.  Also checks that the classifiers agree byte for byte, and
 * that tok_run_batch gives the terms and positions of tok_run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "tokenizer/tok_impl.h"
#include "tokenizer/tokenizer.h"
#include "test_rng.h"

#ifndef QUIRE_SOURCE_DIR
#define QUIRE_SOURCE_DIR "."
#endif

/* A stream as one byte string, so two runs compare with memcmp and a
 * failure can print where they part. */
typedef struct {
    char *s;
    size_t n, cap;
} stream;

static int put(stream *st, const void *p, size_t n)
{
    if (st->n + n > st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 4096;
        while (cap < st->n + n) cap *= 2;
        char *q = realloc(st->s, cap);
        if (!q) return 1;
        st->s = q;
        st->cap = cap;
    }
    memcpy(st->s + st->n, p, n);
    st->n += n;
    return 0;
}

static int record(void *ctx, const tok_token *t)
{
    stream *st = ctx;
    char head[64];
    int k = snprintf(head, sizeof head, "%u %zu %zu ", t->pos, t->start, t->end);
    return put(st, head, (size_t)k) || put(st, t->term, t->len) || put(st, "\n", 1);
}

/* Runs text through t into st (cleared first); the callback's failures
 * and next_pos end up in the stream too. */
static void run(tok_tokenizer *t, const char *text, size_t len, stream *st)
{
    st->n = 0;
    uint32_t next = 0;
    int rc = tok_run(t, text, len, 3, record, st, &next);
    char tail[32];
    int k = snprintf(tail, sizeof tail, "rc %d next %u\n", rc, next);
    assert_int_equal(put(st, tail, (size_t)k), 0);
}

/* The same without spans, which tok_run_batch does not give. */
static int record_terms(void *ctx, const tok_token *t)
{
    stream *st = ctx;
    char head[16];
    int k = snprintf(head, sizeof head, "%u ", t->pos);
    return put(st, head, (size_t)k) || put(st, t->term, t->len) || put(st, "\n", 1);
}

static int record_batch(void *ctx, const tok_batch *b)
{
    if (b->n == 0 || b->n > TOK_BATCH_MAX) return 5;
    for (uint32_t i = 0; i < b->n; i++) {
        tok_token tk = {.term = b->bytes + b->off[i], .len = b->len[i], .pos = b->pos[i]};
        if (record_terms(ctx, &tk)) return 1;
    }
    return 0;
}

/* Runs text through t into st as terms and positions, with tok_run or
 * tok_run_batch. */
static void run_terms(tok_tokenizer *t, const char *text, size_t len, stream *st, int batch)
{
    st->n = 0;
    uint32_t next = 0;
    int rc = batch ? tok_run_batch(t, text, len, 3, record_batch, st, &next)
                   : tok_run(t, text, len, 3, record_terms, st, &next);
    char tail[32];
    int k = snprintf(tail, sizeof tail, "rc %d next %u\n", rc, next);
    assert_int_equal(put(st, tail, (size_t)k), 0);
}

static void show_diff(const char *text, size_t len, const stream *a, const stream *b)
{
    size_t i = 0;
    while (i < a->n && i < b->n && a->s[i] == b->s[i]) i++;
    size_t ls = i;
    while (ls > 0 && a->s[ls - 1] != '\n') ls--;
    fprintf(stderr, "input (%zu bytes): \"", len);
    for (size_t k = 0; k < len && k < 400; k++) {
        unsigned char c = (unsigned char)text[k];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') fputc(c, stderr);
        else fprintf(stderr, "\\x%02x", c);
    }
    fprintf(stderr, "\"\nfast:    %.*s\ngeneral: %.*s\n", (int)(a->n - ls > 200 ? 200 : a->n - ls),
            a->s + ls, (int)(b->n - ls > 200 ? 200 : b->n - ls), b->s + ls);
}

/* Compares every fast variant with the general path on one text; returns
 * 0 if they agree. */
typedef struct {
    tok_tokenizer *fast[4], *ref;
    int nfast;
    stream a, b, c, d;
} rig;

static void rig_init(rig *g, uint32_t flags, int mode)
{
    memset(g, 0, sizeof *g);
    /* BEST is AVX-512 where the machine has it, and then AVX2 is not. */
    const int kinds[] = {TOK_SIMD_BEST, TOK_SIMD_AVX2, TOK_SIMD_SSE2, TOK_SIMD_SCALAR};
    for (int k = 0; k < 4; k++) {
        tok_tokenizer *t;
        assert_int_equal(tok_new(flags, mode, &t), 0);
        if (tok_set_simd(t, kinds[k]) == 0) g->fast[g->nfast++] = t;
        else tok_free(t);
    }
    assert_int_equal(tok_new(flags, mode, &g->ref), 0);
    tok_set_fast_paths(g->ref, 0);
}

static void rig_free(rig *g)
{
    for (int k = 0; k < g->nfast; k++) tok_free(g->fast[k]);
    tok_free(g->ref);
    free(g->a.s);
    free(g->b.s);
    free(g->c.s);
    free(g->d.s);
}

static int rig_check(rig *g, const char *text, size_t len)
{
    run(g->ref, text, len, &g->b);
    for (int k = 0; k < g->nfast; k++) {
        run(g->fast[k], text, len, &g->a);
        if (g->a.n != g->b.n || memcmp(g->a.s, g->b.s, g->a.n) != 0) {
            fprintf(stderr, "classifier variant %d differs\n", k);
            show_diff(text, len, &g->a, &g->b);
            return 1;
        }
    }
    /* tok_run_batch, through the scanner's own batch loop and through
     * the general path, gives the terms of tok_run. */
    run_terms(g->ref, text, len, &g->c, 0);
    for (int k = -1; k < g->nfast; k++) {
        run_terms(k < 0 ? g->ref : g->fast[k], text, len, &g->d, 1);
        if (g->c.n != g->d.n || memcmp(g->c.s, g->d.s, g->c.n) != 0) {
            fprintf(stderr, "tok_run_batch, variant %d, differs\n", k);
            show_diff(text, len, &g->d, &g->c);
            return 1;
        }
    }
    return 0;
}

/* ---- random texts ---- */

static const char *const frags[] = {
    /* words and plain separators */
    "word", "Word", "WORD", "a", "I", "s", "S", "es", "x1", "2016", "3", "abc123",
    " ", " ", " ", "  ", "\n", "\t", "!", "?", ";", "\"", ")", "]", "}", "*", "+",
    "=", "&", "$", "%", "\\", "^", "`", "|", "~", "<", ">", "\x7f", "\x01",
    /* connectors and what they make */
    "'", "'s", "'S", "-", "_", "/", ".", ":", ",", "@", "#", "(", "(s)", "(es)",
    "(S)", "[", "[sic]", "[ sic! ]", "[...]", "[\xe2\x80\xa6]", "[emphasis added]",
    "[1]", ".'s", "...", "--", "U.S.", "e.g.", "3.14", "1,000", "6:30", "v1.2",
    "then-candidate", "don't", "O'Neil", "well_being", "ABC/12345", "rock'n'roll",
    "state-of-the-art", "a/b_c-d", "x's(s)", "'s(es)", "-s", "_", "'", "s'", "''",
    /* numbers, abbreviations and dotted pairs (ascii_pair) */
    "1,2", "10:5", "12:30:45", "1,000,000.5", "Mat27:32", "ab.cd", "U.S", "e.g",
    "Ph.D", "1.2.3", "5:00pm", "2,031.95", "sf.NET", "a.b", "12", "123", "1234",
    "00", "www.x", "x.www", "ab.c", "1.x", "x.1", "A.", "ab,", "12:", "p.m.,",
    /* apostrophes and colons the tight loop takes (inner_connectors) */
    "it's", "IT'S", "y'all", "'s'", "x's-", "x's.", "x's'", "x'sy", "10:54", "1:05",
    "123:45", "12:3", "12:345", "a9:99", "Re:foo", "x'12:30", "12:30's", "12:30'x",
    "h:www.x", "a:b'c", "ab:cd'", "12:30:", "1:23:45:67", "ab:cd(s)", "ab:cd[",
    "ab:c-", ":", "a:", "9:",
    /* URLs, handles, e-mail */
    "http://", "https://x.org/a?b=1", "www.", "www.example.com", "ftp:", "file://",
    "h", "w", "f", "http", "www", "WWW.", "www.!x", "ftp:", "@wikileaks", "#MeToo",
    "a@b.com", "# ", "@(", "#'",
    /* chunks the scanner decides without tok_words (ascii_common) */
    "mailto:a@b.org", "x-y:z", "rpm,deb", "a,b:c", "F.C.C", "F.C.C.", "U.S's", "API's,",
    "5.8.0", "1.2's", "7.5pt", "e-corp.net", "a.b-c", "ab.c.d", "a.b.c's", "x/y.z",
    "jo.smith@x.org", "x_y@a-b.c", "x@a_b.c", "x/y@z.com", "x@y.z@w", "x@1.2", "x@ab.cd",
    "1,000,000", "1,000,000's", "37,400,000.00", "12:30:45.5", "x:1,000", "1:23:45:67",
    "1.2.3.4", "2.9.1:", "re:x.y.z", "a9.b.c", "x.#y", "a-1.2.b", "a.1.2",
    /* handles and tags the scanner decides itself (handle_fast) */
    "#tag", "@User_Name", "#a_b_c", "@x's", "#x'", "#x'y", "#x(s)", "#x[sic]", "#x--",
    "#x-_", "#x.y", "#x.'s", "#x_", "#x__y", "@15:03", "#x\xc3\xa9", "##x", "@#x", "#1",
    "#X_Y_", "@a.", "#b,", "@c-d", "#e/f", "@x\xe2\x80\x99s", "#x's(s)",
    /* URLs the scanner decides itself (url_fast): case, ends, brackets,
     * trailing punctuation, bytes beyond ASCII, no letter after the prefix */
    "HTTP://X.ORG/A_B@C", "https://a.b/(x)y", "http://a.b/x)", "http://a.b/[x]",
    "http://a.b/x].", "www.A.b,", "https://x.org/a.,;:!?'", "http://x.y/?a=b&c=%20'",
    "ftp://a", "FTPS://B.c/d", "file:///x", "http.//x", "www:x", "https:/x",
    "http://-", "http://..", "http://a\"b", "http://a<b", "http://a\\b", "http://a^b",
    "http://a`b", "http://a{b", "http://a|b", "http://a}b", ("http://a\x7f" "b"),
    "http://\xc3\xa9", "http://a.\xc3\xa9/x", "www.x.com/a-b_c/d.html", "https://",
    "http://((a)", "http://a]b", "http:\x0f/x", "https:/\x0fx",
    /* beyond ASCII: letters, accents, separators, connectors */
    "\xc3\xa9", "\xc3\x89", "caf\xc3\xa9", "\xc3\x9f", "\xc5\x93", "\xc3\xa6",
    "\xd0\x81\xd0\xbb\xd0\xba\xd0\xb0", "\xd0\xb4\xd0\xb0", "\xce\x95\xce\xbb\xce\xac",
    "\xe1\xbb\x87", "\xc4\xb0", "\xc5\x89", "\xc7\x84", "\xce\x90",
    "\xe2\x80\x99", "\xe2\x80\x99s", "\xe2\x80\x9c", "\xe2\x80\x9d", "\xe2\x80\x94",
    "\xe2\x80\x93", "\xc2\xab", "\xc2\xbb", "\xc2\xa0", "\xe2\x80\x90", "\xca\xbc",
    "\xef\xbc\x87", "\xef\xbc\xa0", "\xef\xbc\x83", "\xef\xbc\xbb",
    /* marks, ignorables, CJK, symbols, invalid */
    "e\xcc\x81", "\xcc\x81", "\xc2\xad", "\xe2\x80\x8b", "\xe2\x80\x8d", "\xef\xb8\x8f",
    "\xe4\xb8\xad", "\xe5\x8d\x8e\xe4\xba\xba", "\xe3\x81\x8b\xe3\x82\x99", "\xef\xbd\xb6",
    "\xea\xb0\x80", "\xe1\x84\x80\xe1\x85\xa1", "\xe2\x84\xa2", "\xf0\x9f\x8c\xb1",
    "\xef\xac\x81", "\xef\xbc\xa1", "\xef\xb7\xba", "\xe0\xb8\x81\xe0\xb8\xb2",
    "\xff", "\xc3", "\xe2\x80", "\xf0\x9f", "\xed\xa0\x80", "\xc0\xaf", "\0",
};
#define NFRAGS (sizeof frags / sizeof frags[0])

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    return (uint32_t)(xorshift64(&rng_state) >> 11);
}

/* Up to `cap` bytes of random fragments, and runs of filler so that words
 * land on every offset of a window. */
static size_t random_text(char *out, size_t cap)
{
    size_t n = 0, want = rnd() % cap;
    while (n < want) {
        const char *f;
        size_t fl;
        char filler[80];
        unsigned pick = rnd() % 16;
        if (pick == 0) {
            fl = 1 + rnd() % 70;
            for (size_t k = 0; k < fl; k++) filler[k] = (char)('a' + rnd() % 26);
            f = filler;
        } else if (pick == 1) {
            fl = 1 + rnd() % 8;
            memset(filler, ' ', fl);
            f = filler;
        } else {
            f = frags[rnd() % NFRAGS];
            fl = f[0] ? strlen(f) : 1;
        }
        if (n + fl > cap) break;
        memcpy(out + n, f, fl);
        n += fl;
    }
    return n;
}

static void test_random(void **state)
{
    (void)state;
    static char text[600];
    for (uint32_t flags = 0; flags <= TOK_KNOWN_FLAGS; flags++)
        for (int mode = 0; mode < 2; mode++) {
            rig g;
            rig_init(&g, flags, mode);
            int rounds = flags == TOK_FOLD_DIACRITICS && mode == TOK_MODE_INDEX ? 30000 : 3000;
            for (int r = 0; r < rounds; r++) {
                size_t n = random_text(text, r % 4 ? 150 : sizeof text);
                if (rig_check(&g, text, n)) fail_msg("flags %u mode %d round %d", flags, mode, r);
            }
            rig_free(&g);
        }
}

/* ---- real text ---- */

static char *read_prefix(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = malloc(max);
    *len = b ? fread(b, 1, max, f) : 0;
    fclose(f);
    return b;
}

/* Line by line, as the benchmark and the indexer (one field at a time)
 * feed it; JSON escapes are left as they are, which only adds variety. */
static void check_file(const char *path, size_t max, int required)
{
    size_t len;
    char *text = read_prefix(path, max, &len);
    if (!text) {
        if (required) fail_msg("cannot read %s", path);
        return;
    }
    rig g;
    rig_init(&g, TOK_FOLD_DIACRITICS, TOK_MODE_INDEX);
    size_t a = 0;
    while (a < len) {
        const char *nl = memchr(text + a, '\n', len - a);
        size_t b = nl ? (size_t)(nl - text) : len;
        if (rig_check(&g, text + a, b - a)) fail_msg("%s at byte %zu", path, a);
        a = b + 1;
    }
    /* And whole, as one long field. */
    if (rig_check(&g, text, len)) fail_msg("%s as a whole", path);
    rig_free(&g);
    free(text);
}

static void test_corpora(void **state)
{
    (void)state;
    check_file(QUIRE_SOURCE_DIR "/corpus/news-sample.txt", 1 << 20, 1);
    check_file(QUIRE_SOURCE_DIR "/corpus/cache/all.jsonl", 4 << 20, 0);
    check_file(QUIRE_SOURCE_DIR "/corpus/cache/mixed.txt", 8 << 20, 0);
}

/* ---- classifiers ---- */

static void test_classifiers(void **state)
{
    (void)state;
    const int kinds[] = {TOK_SIMD_SSE2, TOK_SIMD_AVX2, TOK_SIMD_AVX512};
    unsigned char w[TOK_WIN];
    for (int k = 0; k < 3; k++) {
        tok_classify_fn f = tok_classifier(kinds[k]);
        if (!f) continue;
        for (int r = 0; r < 20000; r++) {
            for (unsigned i = 0; i < TOK_WIN; i++)
                w[i] = (unsigned char)(r < 256 ? (r + i) & 0xff : rnd() & 0xff);
            tok_block x, y;
            tok_classify_scalar(w, &x);
            f(w, &y);
            assert_true(x.alnum == y.alnum);
            assert_true(x.plain == y.plain);
            assert_true(x.high == y.high);
            assert_true(x.brk == y.brk);
            assert_memory_equal(x.low, y.low, TOK_WIN);
        }
    }
    assert_non_null(tok_classifier(TOK_SIMD_BEST));
    assert_non_null(tok_classifier(TOK_SIMD_SCALAR));
}

/* ---- the end of a field at the end of mapped memory ---- */

/* Texts that end where an unreadable page begins: the last window must
 * read no byte past the text (the AVX-512 scanner loads it masked, the
 * others copy it), and still give the stream of the general path. */
static void test_page_end(void **state)
{
    (void)state;
    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(m != MAP_FAILED);
    assert_int_equal(mprotect(m + page, (size_t)page, PROT_NONE), 0);
    char *end = m + page;
    static const char *const tails[] = {"word", "don't", "3.14", "a@b.com",
                                        "www.x.org/a", "caf\xc3\xa9", "U.S."};
    rig g;
    rig_init(&g, TOK_FOLD_DIACRITICS, TOK_MODE_INDEX);
    for (size_t len = 1; len <= 3 * TOK_WIN; len++)
        for (size_t k = 0; k < sizeof tails / sizeof tails[0]; k++) {
            char *text = end - len;
            for (size_t i = 0; i < len; i++) text[i] = (char)('a' + i % 7);
            for (size_t i = 0; i + 1 < len; i += 9) text[i] = ' ';
            size_t tl = strlen(tails[k]);
            if (tl <= len) memcpy(end - tl, tails[k], tl);
            if (rig_check(&g, text, len)) fail_msg("length %zu tail %zu", len, k);
        }
    rig_free(&g);
    munmap(m, (size_t)page * 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifiers),
        cmocka_unit_test(test_page_end),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_corpora),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
