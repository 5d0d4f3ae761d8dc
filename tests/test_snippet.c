/*
 * test_snippet.c — highlighted excerpts on literal text, without an index
 * (qry_snippet_text takes the tokenizer flags directly): window choice,
 * word-boundary cuts and ellipses, highlight markers, NOT terms, case
 * folding, UTF-8 safety and buffer truncation.  The texts use plain words
 * separated by spaces and punctuation, whose tokenization is not in doubt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "query/snippet.h"

#define FLAGS QUIRE_TOK_DEFAULT

static void expect_snippet(const char *q, const char *text, size_t max,
                           size_t cap, const char *want)
{
    char buf[512];
    assert_true(cap <= sizeof buf);
    memset(buf, 'X', sizeof buf);
    quire_error err = {0};
    int rc = qry_snippet_text(FLAGS, q, strlen(q), text, strlen(text), "<b>",
                              "</b>", max, buf, cap, &err);
    if (rc != QUIRE_OK)
        fail_msg("[%s] error %d: %s", q, rc, err.message);
    if (strcmp(buf, want) != 0)
        fail_msg("[%s] max %zu cap %zu\n  got  [%s]\n  want [%s]", q, max, cap,
                 buf, want);
    assert_true(strlen(buf) < cap);
    /* Nothing written past the terminator. */
    for (size_t i = strlen(buf) + 1; i < sizeof buf; i++)
        assert_int_equal(buf[i], 'X');
}

static void test_whole_text(void **state)
{
    (void)state;
    const char *t = "The cat sat on the mat.";
    expect_snippet("cat mat", t, 100, 512,
                   "The <b>cat</b> sat on the <b>mat</b>.");
    expect_snippet("cat mat", t, 0, 512,
                   "The <b>cat</b> sat on the <b>mat</b>.");
    /* Case folded on both sides; the original spelling is kept. */
    expect_snippet("CAT", "A Cat and a CAT.", 100, 512,
                   "A <b>Cat</b> and a <b>CAT</b>.");
    /* Every occurrence, including stop-word-like terms. */
    expect_snippet("the", t, 100, 512,
                   "<b>The</b> cat sat on <b>the</b> mat.");
    /* A phrase is one span, where it occurs. */
    expect_snippet("\"cat sat\"", t, 100, 512,
                   "The <b>cat sat</b> on the mat.");
    /* Excluded terms are not matches. */
    expect_snippet("cat -mat", t, 100, 512,
                   "The <b>cat</b> sat on the mat.");
    /* Newlines and tabs print as spaces. */
    expect_snippet("b", "a\nb\tc", 100, 512, "a <b>b</b> c");
    expect_snippet("x", "", 10, 512, "");
}

/* USERS.md: one span per matched phrase; its words elsewhere are no
 * matches, unless the query asks for them on their own too. */
static void test_phrases(void **state)
{
    (void)state;
    const char *t = "The Sperm Whale's head. Nor in the sperm whale; the Right Whale, "
                    "a sperm oil whale.";
    expect_snippet("\"sperm whale\"", t, 200, 512,
                   "The <b>Sperm Whale</b>'s head. Nor in the <b>sperm whale</b>; the Right "
                   "Whale, a sperm oil whale.");
    expect_snippet("\"sperm whale\" right", t, 200, 512,
                   "The <b>Sperm Whale</b>'s head. Nor in the <b>sperm whale</b>; the "
                   "<b>Right</b> Whale, a sperm oil whale.");
    expect_snippet("\"sperm whale\" OR whale", t, 200, 512,
                   "The <b>Sperm Whale</b>'s head. Nor in the <b>sperm whale</b>; the Right "
                   "<b>Whale</b>, a sperm oil <b>whale</b>.");
    /* with slop: a match side by side and in order is one span, any
     * other a span per word; words of no match are not marked */
    expect_snippet("\"sperm whale\"~2", t, 200, 512,
                   "The <b>Sperm Whale</b>'s head. Nor in the <b>sperm whale</b>; the Right "
                   "Whale, a <b>sperm</b> oil <b>whale</b>.");
    expect_snippet("\"whale sperm\"", "whale, then sperm; a sperm whale", 100, 512,
                   "whale, then sperm; a sperm whale");
    /* in order with a word between is 1; "sperm whale" reversed is 2 */
    expect_snippet("\"whale sperm\"~1", "whale, then sperm; a sperm whale", 100, 512,
                   "<b>whale</b>, then <b>sperm</b>; a sperm whale");
    expect_snippet("\"whale sperm\"~2", "whale, then sperm; a sperm whale", 100, 512,
                   "<b>whale</b>, then <b>sperm</b>; a <b>sperm</b> <b>whale</b>");
    /* excluded phrases are not matches */
    expect_snippet("oil -\"sperm whale\"", t, 200, 512,
                   "The Sperm Whale's head. Nor in the sperm whale; the Right Whale, "
                   "a sperm <b>oil</b> whale.");
    /* a word of several terms is a phrase: its span covers them all */
    expect_snippet("then-candidate", "the then-candidate and then a candidate", 100, 512,
                   "the <b>then-candidate</b> and then a candidate");
    /* phrases that overlap make one span */
    expect_snippet("\"a b\" \"b c\"", "x a b c y b c", 100, 512,
                   "x <b>a b c</b> y <b>b c</b>");
    /* positions, not bytes: a phrase may span punctuation */
    expect_snippet("\"end game\"", "the end -- game over; end, game", 100, 512,
                   "the <b>end -- game</b> over; <b>end, game</b>");
    /* with stop words removed, a phrase spans the gap they leave, which
     * any stop words fill (as the search matches it) */
    char buf[128];
    quire_error err;
    const char *q = "\"end of the world\"", *w = "the end of the world, the end of a world";
    assert_int_equal(qry_snippet_text(FLAGS | QUIRE_TOK_STOPWORDS_EN, q, strlen(q), w, strlen(w),
                                      "<", ">", 100, buf, sizeof buf, &err),
                     QUIRE_OK);
    assert_string_equal(buf, "the <end of the world>, the <end of a world>");
}

static void test_no_match(void **state)
{
    (void)state;
    const char *t = "alpha beta gamma delta epsilon";
    expect_snippet("zeta", t, 100, 512, "alpha beta gamma delta epsilon");
    /* The start of the text, cut before a partial word. */
    expect_snippet("zeta", t, 14, 512, "alpha beta\xE2\x80\xA6");
    expect_snippet("zeta", t, 16, 512, "alpha beta gamma\xE2\x80\xA6");
    expect_snippet("zeta", t, 17, 512, "alpha beta gamma\xE2\x80\xA6");
    /* A single word longer than the window is cut inside. */
    expect_snippet("zeta", "abcdefghij klm", 4, 512, "abcd\xE2\x80\xA6");
}

static void test_window(void **state)
{
    (void)state;
    /* Matches: one near the start, two close together near the end: the
     * denser window wins, and gets context on both sides. */
    const char *t =
        "red one two three four five six seven eight nine ten eleven "
        "twelve red blue thirteen fourteen";
    expect_snippet("red blue", t, 24, 512,
                   "\xE2\x80\xA6" "twelve <b>red</b> <b>blue</b> thirteen\xE2\x80\xA6");
    /* A tie between windows: the first one. */
    expect_snippet("red", "one red two three four five six red seven", 11,
                   512, "one <b>red</b> two\xE2\x80\xA6");
    /* The window reaches the end: the spare budget goes before. */
    expect_snippet("end", "aa bb cc dd ee ff gg end", 12, 512,
                   "\xE2\x80\xA6" "ee ff gg <b>end</b>");
    /* Window starting at the very first byte: no leading ellipsis. */
    expect_snippet("aa", "aa bb cc dd ee ff", 8, 512, "<b>aa</b> bb cc\xE2\x80\xA6");
}

static void test_utf8(void **state)
{
    (void)state;
    /* Cut points never fall inside a sequence: the partial word before
     * the window and the two-byte letters after it are left out. */
    const char *t = "\xC3\xA9t\xC3\xA9 \xC3\xA0 la plage \xC3\xA9t\xC3\xA9";
    expect_snippet("plage", t, 12, 512, "\xE2\x80\xA6" "la <b>plage</b>\xE2\x80\xA6");
    /* A match longer than the window: cut inside at a code point. */
    expect_snippet("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9",
                   "xyzzy \xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9 abc", 5, 512,
                   "\xE2\x80\xA6<b>\xC3\xA9\xC3\xA9</b>\xE2\x80\xA6");
}

static void test_truncation(void **state)
{
    (void)state;
    const char *t = "caf\xC3\xA9 caf\xC3\xA9 caf\xC3\xA9";
    /* Room for 4 bytes: the two-byte \xC3\xA9 would be split, so it goes. */
    expect_snippet("zzz", t, 0, 5, "caf");
    expect_snippet("zzz", t, 0, 6, "caf\xC3\xA9");
    expect_snippet("zzz", t, 0, 1, "");
    /* A match is written whole with both markers, or not at all. */
    expect_snippet("cat", "a cat b", 0, 8, "a ");
    expect_snippet("cat", "a cat b", 0, 12, "a ");
    expect_snippet("cat", "a cat b", 0, 13, "a <b>cat</b>");
    expect_snippet("cat", "a cat b", 0, 15, "a <b>cat</b> b");
    /* The ellipsis is never split either. */
    expect_snippet("zzz", "alpha beta gamma", 5, 7, "alpha");
    expect_snippet("zzz", "alpha beta gamma", 5, 9, "alpha\xE2\x80\xA6");
}

static void test_errors(void **state)
{
    (void)state;
    char buf[32];
    quire_error err = {0};
    assert_int_equal(qry_snippet_text(FLAGS, "(cat", 4, "cat", 3, "<", ">", 10,
                                      buf, sizeof buf, &err), QUIRE_EQUERY);
    assert_int_equal(err.column, 1);
    assert_string_equal(buf, "");
    assert_int_equal(qry_snippet_text(FLAGS, "cat", 3, "cat", 3, "<", ">", 10,
                                      buf, 0, &err), QUIRE_EARG);
    assert_int_equal(qry_snippet_text(FLAGS, "cat", 3, "cat", 3, "<", ">", 10,
                                      NULL, 10, &err), QUIRE_EARG);
    /* NULL markers mean none. */
    assert_int_equal(qry_snippet_text(FLAGS, "cat", 3, "a cat", 5, NULL, NULL,
                                      10, buf, sizeof buf, &err), QUIRE_OK);
    assert_string_equal(buf, "a cat");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_text),
        cmocka_unit_test(test_phrases),
        cmocka_unit_test(test_no_match),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
