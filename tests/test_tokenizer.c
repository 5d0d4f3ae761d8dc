/*
 * test_tokenizer.c — the tokenizer's rules, one test per rule of
 * docs/TOKENIZER.md, each asserting the exact stream of terms and positions
 * (and byte spans where they matter).  The stream is written as
 * "term@pos term@pos ..." (with "[start,end)" after each term in the span
 * tests) so an expectation reads like the documentation's examples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tokenizer/tokenizer.h"

#define DEF TOK_FOLD_DIACRITICS

typedef struct {
    char out[8192];
    size_t len;
    int spans;
    int stop_after; /* stop the run after this many terms (0: never) */
    int seen;
} sink;

static int collect(void *ctx, const tok_token *t)
{
    sink *s = ctx;
    if (s->len) s->out[s->len++] = ' ';
    int n = s->spans
                ? snprintf(s->out + s->len, sizeof s->out - s->len, "%.*s@%u[%zu,%zu)",
                           (int)t->len, t->term, t->pos, t->start, t->end)
                : snprintf(s->out + s->len, sizeof s->out - s->len, "%.*s@%u",
                           (int)t->len, t->term, t->pos);
    s->len += (size_t)n;
    if (++s->seen == s->stop_after) return 7;
    return 0;
}

/* Tokenizes text[0,len) and returns the stream (static buffer). */
static const char *run_n(uint32_t flags, int mode, const char *text, size_t len,
                         int spans)
{
    static sink s;
    memset(&s, 0, sizeof s);
    s.spans = spans;
    tok_tokenizer *t;
    assert_int_equal(tok_new(flags, mode, &t), 0);
    uint32_t next = 0;
    assert_int_equal(tok_run(t, text, len, 0, collect, &s, &next), 0);
    tok_free(t);
    s.out[s.len] = 0;
    return s.out;
}

static const char *run(uint32_t flags, int mode, const char *text)
{
    return run_n(flags, mode, text, strlen(text), 0);
}

#define IDX(text) run(DEF, TOK_MODE_INDEX, text)
#define QRY(text) run(DEF, TOK_MODE_QUERY, text)
#define SPANS(text) run_n(DEF, TOK_MODE_INDEX, text, strlen(text), 1)

/* Letters and digits form words; case, NFKC, diacritics. */
static void test_words_and_folding(void **state)
{
    (void)state;
    assert_string_equal(IDX("Hello World 2016 abc123"),
                        "hello@0 world@1 2016@2 abc123@3");
    assert_string_equal(IDX("\xef\xac\x81le \xef\xbc\xa1\xef\xbc\xa2"), /* ﬁle ＡＢ */
                        "file@0 ab@1");
    assert_string_equal(IDX("Caf\xc3\xa9 cafe CAF\xc3\x89"), "cafe@0 cafe@1 cafe@2");
    /* Decomposed accents fold like precomposed ones. */
    assert_string_equal(IDX("Cafe\xcc\x81"), "cafe@0");
    /* Letters readers treat as plain ones. */
    assert_string_equal(IDX("C\xc5\x93lacanthe \xc3\x86sir Stra\xc3\x9f" "e \xc3\x98resund \xc5\x81\xc3\xb3\x64\xc5\xba"),
                        "coelacanthe@0 aesir@1 strasse@2 oresund@3 lodz@4");
    assert_string_equal(IDX("\xce\x95\xce\xbb\xce\xbb\xce\xac\xce\xb4\xce\xb1 \xd0\x81\xd0\xbb\xd0\xba\xd0\xb0 \xd0\xb9"),
                        "\xce\xb5\xce\xbb\xce\xbb\xce\xb1\xce\xb4\xce\xb1@0 \xd0\xb5\xd0\xbb\xd0\xba\xd0\xb0@1 \xd0\xb9@2");
    /* Without TOK_FOLD_DIACRITICS: NFKC and case fold only. */
    assert_string_equal(run(0, TOK_MODE_INDEX, "Caf\xc3\xa9 Cafe\xcc\x81 C\xc5\x93lacanthe Stra\xc3\x9f" "e"),
                        "caf\xc3\xa9@0 caf\xc3\xa9@1 c\xc5\x93lacanthe@2 strasse@3");
}

/* Apostrophes inside a word; possessives dropped. */
static void test_apostrophes(void **state)
{
    (void)state;
    assert_string_equal(IDX("don\xe2\x80\x99t don't O'Neil"), "don't@0 don't@1 o'neil@2");
    assert_string_equal(IDX("Trump Jr.\xe2\x80\x99s father's WikiLeaks' Trump Jr.'s"),
                        "trump@0 jr@1 father@2 wikileaks@3 trump@4 jr@5");
    assert_string_equal(IDX("\xe2\x80\x98loses\xe2\x80\x99 'quoted'"), "loses@0 quoted@1");
    assert_string_equal(SPANS("Trump's x"), "trump@0[0,5) x@1[8,9)");
}

/* Abbreviations with periods; sentence-final periods never join. */
static void test_abbreviations(void **state)
{
    (void)state;
    assert_string_equal(IDX("Jr. U.S. e.g. Ph.D. U.S.A."), "jr@0 us@1 eg@2 phd@3 usa@4");
    assert_string_equal(IDX("the end. Next one.Two"),
                        "the@0 end@1 next@2 one@3 two@4");
    assert_string_equal(SPANS("in the U.S. Then"), "in@0[0,2) the@1[3,6) us@2[7,10) then@3[12,16)");
    /* A part starting with a combining mark composes with the letter
     * before it once the period is gone (found by the fuzzer). */
    assert_string_equal(run(0, TOK_MODE_INDEX, "e.\xcc\x81t"), "\xc3\xa9t@0");
    assert_string_equal(IDX("e.\xcc\x81t"), "et@0");
}

/* Hyphen, underscore, slash: whole and parts; query mode parts only. */
static void test_joiners(void **state)
{
    (void)state;
    assert_string_equal(IDX("then-candidate"), "thencandidate@0 then@0 candidate@1");
    assert_string_equal(QRY("then-candidate"), "then@0 candidate@1");
    assert_string_equal(QRY("thencandidate"), "thencandidate@0");
    assert_string_equal(IDX("well-being authorization_token ABC/12345"),
                        "wellbeing@0 well@0 being@1 authorizationtoken@2 authorization@2 token@3 "
                        "abc12345@4 abc@4 12345@5");
    assert_string_equal(IDX("state-of-the-art"),
                        "stateoftheart@0 state@0 of@1 the@2 art@3");
    assert_string_equal(IDX("then-candidate's son"), "thencandidate@0 then@0 candidate@1 son@2");
    assert_string_equal(SPANS("a well-being"),
                        "a@0[0,1) wellbeing@1[2,12) well@1[2,6) being@2[7,12)");
    /* Doubled or dangling joiners join nothing. */
    assert_string_equal(IDX("a--b -c d- e_ /f"), "a@0 b@1 c@2 d@3 e@4 f@5");
    /* A part that starts with a combining mark composes with the part
     * before it in the whole, where the joiner is gone: then-\u0301t keeps
     * its accent without TOK_FOLD_DIACRITICS and the whole is the NFKC
     * "the\u0144t", not "then\u0301t"; the part keeps its lone mark. */
    assert_string_equal(run(0, TOK_MODE_INDEX, "then-\xcc\x81t"),
                        "the\xc5\x84t@0 then@0 \xcc\x81t@1");
    assert_string_equal(run(0, TOK_MODE_INDEX, "then_\xcc\x81t x"),
                        "the\xc5\x84t@0 then@0 \xcc\x81t@1 x@2");
    assert_string_equal(IDX("then-\xcc\x81t"), "thent@0 then@0 t@1");
    /* Marks that folding keeps compose with default flags too: Bengali
     * U+09C7 and the vowel sign U+09BE are U+09CB. */
    assert_string_equal(IDX("\xe0\xa7\x87-\xe0\xa6\xbex"),
                        "\xe0\xa7\x8bx@0 \xe0\xa7\x87@0 \xe0\xa6\xbex@1");
}

/* Dashes, spaced slashes and quotes split. */
static void test_dashes_quotes(void **state)
{
    (void)state;
    assert_string_equal(IDX("occurred\xe2\x80\x94" "as 1990\xe2\x80\x93" "2000 and / or"),
                        "occurred@0 as@1 1990@2 2000@3 and@4 or@5");
    assert_string_equal(IDX("\xe2\x80\x9cHi\xe2\x80\x9d \xe2\x80\x9e" "de\xe2\x80\x9c \xc2\xab" "fr\xc2\xbb \"x\""),
                        "hi@0 de@1 fr@2 x@3");
}

/* Numbers: times, decimals, groups whole; versions and addresses whole and parts. */
static void test_numbers(void **state)
{
    (void)state;
    assert_string_equal(IDX("6:30 3.14 1,000 1,000,000.5 2016 12:30:45"),
                        "6:30@0 3.14@1 1,000@2 1,000,000.5@3 2016@4 12:30:45@5");
    assert_string_equal(IDX("v1.2 8.8.8.8"),
                        "v1@0 2@1 8@2 8@3 8@4 8@5");
    assert_string_equal(QRY("v1.2 3.14"), "v1@0 2@1 3.14@2");
    /* Not a group, not a time: the parts are separate words. */
    assert_string_equal(IDX("1,2 10:5 October 14, 2016"),
                        "1@0 2@1 10@2 5@3 october@4 14@5 2016@6");
}

/* Handles, tags, e-mail addresses and URLs: in index mode too, only their
 * parts (their wholes keep '@', '#', '.' or ':', which no query term has). */
static void test_handles_urls(void **state)
{
    (void)state;
    assert_string_equal(IDX("@wikileaks #MeToo @foo_bar"),
                        "wikileaks@0 metoo@1 foo@2 bar@3");
    assert_string_equal(QRY("@wikileaks"), "wikileaks@0");
    /* Glued to a word, @ and # are no prefix. */
    assert_string_equal(IDX("user@localhost C# x#y (@a)"),
                        "user@0 localhost@1 c@2 x@3 y@4 a@5");
    assert_string_equal(IDX("Jane.Doe@Example.com,"),
                        "jane@0 doe@1 example@2 com@3");
    assert_string_equal(IDX("see https://www.Example.com/a-b?q=1. ok"),
                        "see@0 https@1 www@2 example@3 com@4 "
                        "a@5 b@6 q@7 1@8 ok@9");
    assert_string_equal(QRY("www.example.org/x"), "www@0 example@1 org@2 x@3");
    assert_string_equal(SPANS("(http://x.io/a)."),
                        "http@0[1,5) x@1[8,9) io@2[10,12) a@3[13,14)");
    /* A URL's parts are composed: n\u0301 is \u0144 without
     * TOK_FOLD_DIACRITICS, conjoining jamo are a syllable in any case.  (Its
     * whole, which keeps ':' and '.', is not emitted: tok_whole_wanted.) */
    assert_string_equal(run(0, TOK_MODE_INDEX, "http://a.io/n\xcc\x81 x"),
                        "http@0 a@1 io@2 \xc5\x84@3 x@4");
    assert_string_equal(IDX("http://a.io/\xe1\x84\x80\xe1\x85\xa1 x"),
                        "http@0 a@1 io@2 \xea\xb0\x80@3 x@4");
}

/* Editorial insertions take no position; other brackets are text. */
static void test_editorial(void **state)
{
    (void)state;
    assert_string_equal(IDX("does not conceed [sic] and spends"),
                        "does@0 not@1 conceed@2 and@3 spends@4");
    assert_string_equal(IDX("a [sic!] b [...] c [\xe2\x80\xa6] d [emphasis added] e [ Sic ] f"),
                        "a@0 b@1 c@2 d@3 e@4 f@5");
    assert_string_equal(IDX("see [1] and [Trump] said"), "see@0 1@1 and@2 trump@3 said@4");
    assert_string_equal(IDX("a(s) email(s) box(es)"), "a@0 email@1 box@2");
    assert_string_equal(IDX("x's(s) y q\xe2\x80\x99s(s) z b's( c"), "x@0 y@1 q@2 z@3 b@4 c@5");
}

/* CJK bigrams; symbols and emoji split and vanish. */
static void test_cjk_symbols(void **state)
{
    (void)state;
    /* 中华人民 → 中华 华人 人民 */
    assert_string_equal(IDX("\xe4\xb8\xad\xe5\x8d\x8e\xe4\xba\xba\xe6\xb0\x91"),
                        "\xe4\xb8\xad\xe5\x8d\x8e@0 \xe5\x8d\x8e\xe4\xba\xba@1 \xe4\xba\xba\xe6\xb0\x91@2");
    /* A lone character is a unigram; Latin next to CJK splits. */
    assert_string_equal(IDX("\xe4\xb8\xad iPhone\xe7\x94\xa8\xe6\x88\xb7"),
                        "\xe4\xb8\xad@0 iphone@1 \xe7\x94\xa8\xe6\x88\xb7@2");
    /* Hangul and kana, half-width katakana folded to full width. */
    assert_string_equal(IDX("\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xef\xbd\xb6\xef\xbe\x80"),
                        "\xed\x95\x9c\xea\xb5\xad@0 \xea\xb5\xad\xec\x96\xb4@1 \xe3\x82\xab\xe3\x82\xbf@2");
    assert_string_equal(IDX("\xf0\x9f\x8c\xb1plants Hitman\xe2\x84\xa2 a\xe2\x80\x8b" "b x\xc2\xad" "y"),
                        "plants@0 hitman@1 a@2 b@3 xy@4");
    assert_string_equal(SPANS("\xf0\x9f\x8c\xb1plants"), "plants@0[4,10)");
}

/* Invalid UTF-8 and NUL bytes. */
static void test_invalid_input(void **state)
{
    (void)state;
    assert_string_equal(run_n(DEF, TOK_MODE_INDEX, "ab\xff" "cd\0ef \xc0\x80gh \xed\xa0\x80ij k\xe2\x80", 23, 1),
                        "ab@0[0,2) cd@1[3,5) ef@2[6,8) gh@3[11,13) ij@4[17,19) k@5[20,21)");
    assert_string_equal(IDX(""), "");
    assert_string_equal(IDX(" \t\n..--''"), "");
}

/* Stemming and stop words; stop words keep their positions. */
static void test_stem_stop(void **state)
{
    (void)state;
    assert_string_equal(run(TOK_STOPWORDS_EN | DEF, TOK_MODE_INDEX, "the cat"), "cat@1");
    assert_string_equal(run(TOK_STOPWORDS_EN | DEF, TOK_MODE_QUERY, "The cat and the hat"),
                        "cat@1 hat@4");
    assert_string_equal(run(TOK_STEM_EN | DEF, TOK_MODE_INDEX, "running dogs jumped easily"),
                        "run@0 dog@1 jump@2 easili@3");
    assert_string_equal(run(TOK_STEM_EN | TOK_STOPWORDS_EN | DEF, TOK_MODE_INDEX,
                            "The runners' well-being is 3.14"),
                        "runner@1 wellb@2 well@2 be@3 3.14@5");
    /* next_pos counts removed stop words. */
    tok_tokenizer *t;
    assert_int_equal(tok_new(TOK_STOPWORDS_EN, TOK_MODE_INDEX, &t), 0);
    sink s;
    memset(&s, 0, sizeof s);
    uint32_t next = 0;
    assert_int_equal(tok_run(t, "cat of the", 10, 5, collect, &s, &next), 0);
    assert_int_equal(next, 8);
    tok_free(t);
}

/* API behaviour: flags, first_pos, stopping, long terms. */
static void test_api(void **state)
{
    (void)state;
    tok_tokenizer *t = NULL;
    assert_int_equal(tok_new(1u << 7, TOK_MODE_INDEX, &t), -1);
    assert_null(t);
    assert_int_equal(tok_new(DEF, 9, &t), -1);
    assert_int_equal(tok_new(DEF | TOK_STEM_EN, TOK_MODE_QUERY, &t), 0);
    assert_int_equal(tok_flags(t), DEF | TOK_STEM_EN);

    sink s;
    memset(&s, 0, sizeof s);
    uint32_t next = 0;
    assert_int_equal(tok_run(t, "a b", 3, 10, collect, &s, &next), 0);
    s.out[s.len] = 0;
    assert_string_equal(s.out, "a@10 b@11");
    assert_int_equal(next, 12);

    /* A non-zero return from the callback stops the run and is returned. */
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    const char *text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen";
    assert_int_equal(tok_run(t, text, strlen(text), 0, collect, &s, &next), 7);
    assert_int_equal(s.seen, 2);
    tok_free(t);

    /* Terms are cut to TOK_MAX_TERM_BYTES at a character boundary. */
    char big[1200];
    for (int i = 0; i < 400; i++) memcpy(big + 2 * i, "\xc3\xa9", 2); /* é */
    assert_int_equal(tok_new(0, TOK_MODE_INDEX, &t), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(tok_run(t, big, 800, 0, collect, &s, &next), 0);
    assert_int_equal(s.seen, 1);
    s.out[s.len] = 0;
    assert_int_equal(strlen(s.out), 254 + 2); /* 127 × é, then "@0" */
    tok_free(t);
    tok_free(NULL);
}

/* tok_run_batch: the same stream in batches.  collect_batch writes it
 * as collect does without spans, and checks each batch's layout. */
typedef struct {
    sink s;
    int calls, stop_at_call;
    uint32_t sizes[64];
} batch_sink;

static int collect_batch(void *ctx, const tok_batch *b)
{
    batch_sink *bs = ctx;
    assert_true(b->n >= 1 && b->n <= TOK_BATCH_MAX);
    uint32_t at = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        /* one after another, as documented */
        assert_int_equal(b->off[i], at);
        at += b->len[i];
        tok_token tk = {.term = b->bytes + b->off[i], .len = b->len[i], .pos = b->pos[i]};
        collect(&bs->s, &tk);
    }
    assert_int_equal(b->used, at);
    if (bs->calls < 64) bs->sizes[bs->calls] = b->n;
    return ++bs->calls == bs->stop_at_call ? 9 : 0;
}

static const char *run_batch(uint32_t flags, int mode, const char *text, uint32_t first,
                             uint32_t *next, batch_sink *bs)
{
    memset(bs, 0, sizeof *bs);
    tok_tokenizer *t;
    assert_int_equal(tok_new(flags, mode, &t), 0);
    assert_int_equal(tok_run_batch(t, text, strlen(text), first, collect_batch, bs, next), 0);
    /* the tokenizer is reusable with the per-term API afterwards */
    sink s;
    memset(&s, 0, sizeof s);
    assert_int_equal(tok_run(t, "x y", 3, 0, collect, &s, NULL), 0);
    assert_int_equal(s.seen, 2);
    tok_free(t);
    bs->s.out[bs->s.len] = 0;
    return bs->s.out;
}

static void test_batch(void **state)
{
    (void)state;
    batch_sink bs;
    uint32_t next = 0;
    /* the scanner's tight loop, compounds (the general path), CJK */
    assert_string_equal(run_batch(DEF, TOK_MODE_INDEX,
                                  "Hello World, state-of-the-art \xe4\xb8\xad\xe5\x8d\x8e"
                                  "\xe4\xba\xba Caf\xc3\xa9",
                                  4, &next, &bs),
                        "hello@4 world@5 stateoftheart@6 state@6 of@7 the@8 art@9 "
                        "\xe4\xb8\xad\xe5\x8d\x8e@10 \xe5\x8d\x8e\xe4\xba\xba@11 cafe@12");
    assert_int_equal(next, 13);
    assert_int_equal(bs.calls, 1);
    /* stop words removed, positions kept, next_pos counts them */
    assert_string_equal(run_batch(TOK_STOPWORDS_EN, TOK_MODE_INDEX, "The cat and the hat",
                                  0, &next, &bs),
                        "cat@1 hat@4");
    assert_int_equal(next, 5);
    /* nothing: no call */
    assert_string_equal(run_batch(DEF, TOK_MODE_INDEX, " ,. ", 0, &next, &bs), "");
    assert_int_equal(bs.calls, 0);

    /* Many terms: full batches, then the rest; long words (past the
     * 16 bytes of the scanner's fixed copy) too.  Same as tok_run. */
    static char text[6000];
    size_t n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)sprintf(text + n, i % 7 ? "w%d " : "Abcdefghijklmnopqrstuvw%d ", i);
    const char *want = run(DEF, TOK_MODE_INDEX, text);
    char *copy = strdup(want);
    assert_string_equal(run_batch(DEF, TOK_MODE_INDEX, text, 0, &next, &bs), copy);
    free(copy);
    assert_int_equal(next, 300);
    assert_int_equal(bs.calls, 5);
    assert_int_equal(bs.sizes[0], TOK_BATCH_MAX);
    assert_int_equal(bs.sizes[4], 300 - 4 * TOK_BATCH_MAX);
    /* A batch is handed over when its bytes are full, before it has
     * TOK_BATCH_MAX terms: 60 words of 40 digits. */
    n = 0;
    for (int i = 0; i < 60; i++) n += (size_t)sprintf(text + n, "%040d ", i);
    run_batch(0, TOK_MODE_INDEX, text, 0, &next, &bs);
    assert_int_equal(bs.s.seen, 60);
    assert_true(bs.sizes[0] < TOK_BATCH_MAX);
    assert_true(bs.sizes[0] * 40 > TOK_BATCH_FULL);

    /* A non-zero return stops the run and is returned; nothing follows. */
    tok_tokenizer *t;
    assert_int_equal(tok_new(DEF, TOK_MODE_INDEX, &t), 0);
    memset(&bs, 0, sizeof bs);
    bs.stop_at_call = 2;
    assert_int_equal(tok_run_batch(t, text, strlen(text), 0, collect_batch, &bs, &next), 9);
    assert_int_equal(bs.calls, 2);
    tok_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words_and_folding),
        cmocka_unit_test(test_apostrophes),
        cmocka_unit_test(test_abbreviations),
        cmocka_unit_test(test_joiners),
        cmocka_unit_test(test_dashes_quotes),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_handles_urls),
        cmocka_unit_test(test_editorial),
        cmocka_unit_test(test_cjk_symbols),
        cmocka_unit_test(test_invalid_input),
        cmocka_unit_test(test_stem_stop),
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
