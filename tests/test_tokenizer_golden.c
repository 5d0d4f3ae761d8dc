/*
 * test_tokenizer_golden.c — the whole token stream of the sample article,
 * corpus/news-sample.txt, against the reviewed expectation in
 * tests/golden/news-sample.tokens (default configuration, index mode; one
 * term per line: term, position, byte start, byte end, tab-separated).
 *
 * It also checks that every span points at text that folds to its term:
 * the span's text, NFKC case folded with marks stripped and everything but
 * letters and digits removed, equals the term treated the same way — or,
 * for a compound's whole, contains it.
 *
 * After a deliberate rule change, regenerate the file with
 *   QUIRE_UPDATE_GOLDEN=1 build-tok/test_tokenizer_golden
 * and review the diff line by line before committing it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <utf8proc.h>

#include "tokenizer/tokenizer.h"

#ifndef QUIRE_SOURCE_DIR
#define QUIRE_SOURCE_DIR "."
#endif

typedef struct {
    char *out;
    size_t len, cap;
    const char *text;
    int bad_spans;
    /* The previous term, whose span check waits to know if it is a whole. */
    char prev[TOK_MAX_TERM_BYTES + 1];
    uint32_t prev_len, prev_pos;
    size_t prev_start, prev_end;
    int have_prev;
} golden;

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0;
    *len = (size_t)n;
    return b;
}

/* NFKC case fold, marks stripped, only letters and digits kept. */
static char *skeleton(const char *s, size_t n)
{
    utf8proc_uint8_t *m = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &m,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                                          UTF8PROC_CASEFOLD | UTF8PROC_IGNORE |
                                          UTF8PROC_STRIPMARK);
    assert_true(r >= 0);
    char *o = malloc((size_t)r + 1);
    size_t k = 0;
    utf8proc_ssize_t i = 0;
    while (i < r) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate(m + i, r - i, &cp);
        int cat = utf8proc_category(cp);
        if ((cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
            (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO)) {
            memcpy(o + k, m + i, (size_t)l);
            k += (size_t)l;
        }
        i += l;
    }
    o[k] = 0;
    free(m);
    return o;
}

static void check_span(golden *g, int whole)
{
    char *a = skeleton(g->text + g->prev_start, g->prev_end - g->prev_start);
    char *b = skeleton(g->prev, g->prev_len);
    int ok = whole ? strstr(a, b) != NULL : strcmp(a, b) == 0;
    if (!ok) {
        g->bad_spans++;
        print_error("span [%zu,%zu) \"%.*s\" does not fold to term \"%s\"\n", g->prev_start,
                    g->prev_end, (int)(g->prev_end - g->prev_start), g->text + g->prev_start,
                    g->prev);
    }
    free(a);
    free(b);
}

static int collect(void *ctx, const tok_token *t)
{
    golden *g = ctx;
    if (g->have_prev) check_span(g, t->pos == g->prev_pos);
    memcpy(g->prev, t->term, t->len);
    g->prev[t->len] = 0;
    g->prev_len = t->len;
    g->prev_pos = t->pos;
    g->prev_start = t->start;
    g->prev_end = t->end;
    g->have_prev = 1;

    size_t need = g->len + t->len + 64;
    if (need > g->cap) {
        g->cap = need * 2;
        g->out = realloc(g->out, g->cap);
        assert_non_null(g->out);
    }
    g->len += (size_t)snprintf(g->out + g->len, g->cap - g->len, "%.*s\t%u\t%zu\t%zu\n",
                               (int)t->len, t->term, t->pos, t->start, t->end);
    return 0;
}

static void test_golden(void **state)
{
    (void)state;
    size_t tlen, glen;
    char *text = read_all(QUIRE_SOURCE_DIR "/corpus/news-sample.txt", &tlen);
    assert_non_null(text);
    golden g = {.text = text};
    tok_tokenizer *t;
    assert_int_equal(tok_new(TOK_FOLD_DIACRITICS, TOK_MODE_INDEX, &t), 0);
    assert_int_equal(tok_run(t, text, tlen, 0, collect, &g, NULL), 0);
    if (g.have_prev) check_span(&g, 0);
    tok_free(t);
    assert_int_equal(g.bad_spans, 0);

    const char *path = QUIRE_SOURCE_DIR "/tests/golden/news-sample.tokens";
    const char *update = getenv("QUIRE_UPDATE_GOLDEN");
    if (update && *update == '1') {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(g.out, 1, g.len, f);
        fclose(f);
    }
    char *want = read_all(path, &glen);
    assert_non_null(want);
    /* Compare line by line so a failure names the first differing token. */
    const char *a = g.out, *b = want;
    size_t line = 1;
    while (*a || *b) {
        const char *ae = strchr(a, '\n'), *be = strchr(b, '\n');
        size_t al = ae ? (size_t)(ae - a) : strlen(a), bl = be ? (size_t)(be - b) : strlen(b);
        if (al != bl || memcmp(a, b, al) != 0)
            fail_msg("line %zu: got \"%.*s\", want \"%.*s\"", line, (int)al, a, (int)bl, b);
        a += al + (ae != NULL);
        b += bl + (be != NULL);
        line++;
    }
    assert_int_equal(g.len, glen);
    free(want);
    free(g.out);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
