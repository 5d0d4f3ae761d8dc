/*
 * test_query_parse.c — the query parser on its own: exact syntax trees (as
 * S-expressions from qry_ast_dump) for the operators, precedence, groups,
 * phrases and punctuation-laden words, and every syntax error with its
 * exact column and message.  Needs neither a tokenizer nor an index.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "query/parse.h"

static void expect_ast(const char *q, const char *want)
{
    qry_ast *a = NULL;
    quire_error err = {0};
    int rc = qry_parse(q, strlen(q), &a, &err);
    if (rc != QUIRE_OK)
        fail_msg("query [%s]: unexpected error %d at %zu: %s", q, rc,
                 err.column, err.message);
    char buf[1024];
    size_t n = qry_ast_dump(a, buf, sizeof buf);
    assert_true(n < sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("query [%s]\n  got  %s\n  want %s", q, buf, want);
    qry_ast_free(a);
}

static void expect_error(const char *q, size_t column, const char *msg_part)
{
    qry_ast *a = NULL;
    quire_error err = {0};
    int rc = qry_parse(q, strlen(q), &a, &err);
    if (rc != QUIRE_EQUERY)
        fail_msg("query [%s]: expected QUIRE_EQUERY, got %d", q, rc);
    assert_null(a);
    assert_int_equal(err.code, QUIRE_EQUERY);
    if (err.column != column)
        fail_msg("query [%s]: column %zu, want %zu (%s)", q, err.column,
                 column, err.message);
    if (!strstr(err.message, msg_part))
        fail_msg("query [%s]: message [%s] lacks [%s]", q, err.message,
                 msg_part);
}

static void test_words(void **state)
{
    (void)state;
    expect_ast("cat", "(TERM cat)");
    expect_ast("  cat  ", "(TERM cat)");
    expect_ast("cat dog", "(AND (TERM cat) (TERM dog))");
    expect_ast("cat\tdog\nfish", "(AND (TERM cat) (TERM dog) (TERM fish))");
    /* Lower-case keywords are words. */
    expect_ast("rock and roll", "(AND (TERM rock) (TERM and) (TERM roll))");
    expect_ast("this or that not", "(AND (TERM this) (TERM or) (TERM that) (TERM not))");
    expect_ast("And Or Not", "(AND (TERM And) (TERM Or) (TERM Not))");
    /* Keywords only as whole words. */
    expect_ast("ANDROID ORCA NOTE", "(AND (TERM ANDROID) (TERM ORCA) (TERM NOTE))");
}

static void test_punctuation_is_not_syntax(void **state)
{
    (void)state;
    expect_ast("pve-01", "(TERM pve-01)");
    expect_ast("Alice & Bob", "(AND (TERM Alice) (TERM &) (TERM Bob))");
    expect_ast("s/s", "(TERM s/s)");
    expect_ast("C++", "(TERM C++)");
    expect_ast("C++ -java", "(AND (TERM C++) (NOT (TERM java)))");
    expect_ast("don't", "(TERM don't)");
    expect_ast("@wikileaks #tag", "(AND (TERM @wikileaks) (TERM #tag))");
    expect_ast("title:foo", "(TERM title:foo)");
    expect_ast("pre* word~2 NEAR/3", "(AND (TERM pre*) (TERM word~2) (TERM NEAR/3))");
    expect_ast("6:30 PM", "(AND (TERM 6:30) (TERM PM))");
    expect_ast("[sic] ™", "(AND (TERM [sic]) (TERM ™))");
    expect_ast("a - b", "(AND (TERM a) (TERM -) (TERM b))");
    expect_ast("a + b", "(AND (TERM a) (TERM +) (TERM b))");
    expect_ast("a --b", "(AND (TERM a) (TERM --b))");
    expect_ast("a -+b", "(AND (TERM a) (TERM -+b))");
    expect_ast("a-", "(TERM a-)");
    expect_ast("a -", "(AND (TERM a) (TERM -))");
    expect_ast("e-mail x+y", "(AND (TERM e-mail) (TERM x+y))");
    expect_ast("f(x)", "(AND (TERM f) (TERM x))");
    expect_ast("a\"b c\"d", "(AND (TERM a) (PHRASE b c) (TERM d))");
    expect_ast("caf\xc3\xa9 na\xc3\xafve", "(AND (TERM caf\xc3\xa9) (TERM na\xc3\xafve))");
}

static void test_operators(void **state)
{
    (void)state;
    expect_ast("cat AND dog", "(AND (TERM cat) (TERM dog))");
    expect_ast("cat OR dog", "(OR (TERM cat) (TERM dog))");
    expect_ast("cat OR dog OR fish", "(OR (TERM cat) (TERM dog) (TERM fish))");
    expect_ast("cat NOT dog", "(AND (TERM cat) (NOT (TERM dog)))");
    expect_ast("cat AND NOT dog", "(AND (TERM cat) (NOT (TERM dog)))");
    expect_ast("cat -dog", "(AND (TERM cat) (NOT (TERM dog)))");
    expect_ast("-dog cat", "(AND (NOT (TERM dog)) (TERM cat))");
    expect_ast("+cat dog", "(AND (TERM cat) (TERM dog))");
    expect_ast("cat +dog", "(AND (TERM cat) (TERM dog))");
    expect_ast("cat -\"hot dog\"", "(AND (TERM cat) (NOT (PHRASE hot dog)))");
    expect_ast("cat -(dog OR fish)",
               "(AND (TERM cat) (NOT (OR (TERM dog) (TERM fish))))");
    /* After '-' or '+' a keyword is a plain word. */
    expect_ast("cat -AND", "(AND (TERM cat) (NOT (TERM AND)))");
    expect_ast("cat +OR", "(AND (TERM cat) (TERM OR))");
}

static void test_precedence(void **state)
{
    (void)state;
    expect_ast("a b OR c", "(OR (AND (TERM a) (TERM b)) (TERM c))");
    expect_ast("a OR b c", "(OR (TERM a) (AND (TERM b) (TERM c)))");
    expect_ast("a AND b OR c AND d",
               "(OR (AND (TERM a) (TERM b)) (AND (TERM c) (TERM d)))");
    expect_ast("a OR b -c", "(OR (TERM a) (AND (TERM b) (NOT (TERM c))))");
    expect_ast("a -b OR c", "(OR (AND (TERM a) (NOT (TERM b))) (TERM c))");
    expect_ast("a AND b c", "(AND (TERM a) (TERM b) (TERM c))");
    expect_ast("NOT a b", "(AND (NOT (TERM a)) (TERM b))");
    expect_ast("a NOT b OR c", "(OR (AND (TERM a) (NOT (TERM b))) (TERM c))");
}

static void test_groups_and_phrases(void **state)
{
    (void)state;
    expect_ast("(a OR b) c", "(AND (OR (TERM a) (TERM b)) (TERM c))");
    expect_ast("(a)", "(TERM a)");
    expect_ast("((a))", "(TERM a)");
    expect_ast("(a b) c", "(AND (AND (TERM a) (TERM b)) (TERM c))");
    expect_ast("a (b OR (c -d))",
               "(AND (TERM a) (OR (TERM b) (AND (TERM c) (NOT (TERM d)))))");
    expect_ast("cat (-dog)", "(AND (TERM cat) (NOT (TERM dog)))");
    expect_ast("cat (-dog -fish)",
               "(AND (TERM cat) (AND (NOT (TERM dog)) (NOT (TERM fish))))");
    expect_ast("()", "(AND)");
    expect_ast("cat ()", "(AND (TERM cat) (AND))");
    /* groups with nothing in them, and no NOT either, are no error (this
     * crashed the NOT check; found by tests/fuzz/run-query-fuzz) */
    expect_ast("()()", "(AND (AND) (AND))");
    expect_ast("(()) (() ())", "(AND (AND) (AND (AND) (AND)))");
    expect_ast("\"new york\"", "(PHRASE new york)");
    expect_ast("\" new   york \"", "(PHRASE new york)");
    expect_ast("\"\"", "(PHRASE)");
    expect_ast("\"a (b) OR c\"", "(PHRASE a (b) OR c)");
    expect_ast("\"to be\" OR \"not to be\"",
               "(OR (PHRASE to be) (PHRASE not to be))");
    expect_ast("x\"y\"", "(AND (TERM x) (PHRASE y))");
    /* slop: digits right after the closing quote, then the end of the item */
    expect_ast("\"white whale\"~2", "(PHRASE white whale ~2)");
    expect_ast("\"white whale\"~0", "(PHRASE white whale)");
    expect_ast("(\"a b\"~10)", "(PHRASE a b ~10)");
    expect_ast("\"a b\"~3\"c d\"~1 e", "(AND (PHRASE a b ~3) (PHRASE c d ~1) (TERM e))");
    expect_ast("-\"a b\"~2 c", "(AND (NOT (PHRASE a b ~2)) (TERM c))");
    expect_ast("\"a b\"~99999999999", "(PHRASE a b ~1000)");
    /* anything else after the quote is a word, as before */
    expect_ast("\"a b\"~", "(AND (PHRASE a b) (TERM ~))");
    expect_ast("\"a b\"~x", "(AND (PHRASE a b) (TERM ~x))");
    expect_ast("\"a b\"~2x", "(AND (PHRASE a b) (TERM ~2x))");
    expect_ast("\"a b\" ~2", "(AND (PHRASE a b) (TERM ~2))");
    /* title:"..." is one item; apart, or with another word, two */
    expect_ast("title:\"a b\"", "(PHRASE title: a b)");
    expect_ast("title:\"a b\"~2 c", "(AND (PHRASE title: a b ~2) (TERM c))");
    expect_ast("c -title:\"a b\"", "(AND (TERM c) (NOT (PHRASE title: a b)))");
    expect_ast("title: \"a b\"", "(AND (TERM title:) (PHRASE a b))");
    expect_ast("subtitle:\"a b\"", "(AND (TERM subtitle:) (PHRASE a b))");
    expect_ast("title:whale", "(TERM title:whale)");
    /* boosts after a phrase (and its slop); a word keeps its text */
    expect_ast("\"a b\"^2", "(PHRASE a b ^2)");
    expect_ast("\"a b\"~2^0.5 c", "(AND (PHRASE a b ~2 ^0.5) (TERM c))");
    expect_ast("title:\"a b\"^3", "(PHRASE title: a b ^3)");
    expect_ast("\"a b\"^x", "(AND (PHRASE a b) (TERM ^x))");
    expect_ast("\"a b\"^0", "(AND (PHRASE a b) (TERM ^0))");
    expect_ast("\"a b\"^2~1", "(AND (PHRASE a b) (TERM ^2~1))");
    expect_ast("whale^2", "(TERM whale^2)");
}

/* A range NAME:[A TO B] is one word, spaces and all; brackets that hold
 * no range leave the words as they were. */
static void test_range_words(void **state)
{
    (void)state;
    expect_ast("year:[1800 TO 1900] ship", "(AND (TERM year:[1800 TO 1900]) (TERM ship))");
    expect_ast("(year:{1 TO *}^2 OR x)", "(OR (TERM year:{1 TO *}^2) (TERM x))");
    expect_ast("-date:[2016-06-09 18:30 TO *] a",
               "(AND (NOT (TERM date:[2016-06-09 18:30 TO *])) (TERM a))");
    expect_ast("foo:[bar baz]", "(AND (TERM foo:[bar) (TERM baz]))");
    expect_ast("year:[1 TO 2", "(AND (TERM year:[1) (TERM TO) (TERM 2))");
    expect_ast("[1 TO 2]", "(AND (TERM [1) (TERM TO) (TERM 2]))");
    expect_ast("year:>=5 year:1..2", "(AND (TERM year:>=5) (TERM year:1..2))");
    expect_error("year:[1 TO 2)", 13, "unbalanced parenthesis");
    qry_range r;
    assert_int_equal(qry_range_syntax("year:{1 TO 5]", 13, &r), 1);
    assert_int_equal(r.field_len, 4);
    assert_memory_equal(r.field, "year", 4);
    assert_true(r.lo > 1 && r.lo < 1.000001 && r.hi == 5);
    assert_int_equal(qry_range_syntax("year:{1 TO 5]", 12, NULL), 0);   /* cut short */
    assert_int_equal(qry_range_syntax("title:>5", 8, NULL), 0);
    assert_int_equal(qry_range_syntax(":>5", 3, NULL), 0);
    assert_int_equal(qry_range_syntax("a:>", 3, NULL), 0);
    assert_int_equal(qry_range_syntax("a:>*", 4, NULL), 0);
    assert_int_equal(qry_range_syntax("a:[1 TO 2 TO 3]", 15, NULL), 0);
    assert_int_equal(qry_range_syntax("a:[TO 2]", 8, NULL), 0);
    assert_int_equal(qry_range_syntax("a:[* TO *]", 10, &r), 1);
    assert_true(isinf(r.lo) && r.lo < 0 && isinf(r.hi) && r.hi > 0);
    /* only qlen bytes: a closing bracket past them closes nothing */
    qry_ast *a;
    char buf[128];
    assert_int_equal(qry_parse("year:[1 TO 2]", 12, &a, NULL), QUIRE_OK);
    qry_ast_dump(a, buf, sizeof buf);
    assert_string_equal(buf, "(AND (TERM year:[1) (TERM TO) (TERM 2))");
    qry_ast_free(a);
    /* more than a boost after the bracket: not a range */
    expect_ast("year:[1 TO 2]abc", "(AND (TERM year:[1) (TERM TO) (TERM 2]abc))");
    /* many openings and no closing: each looks ahead a bounded way (this
     * took quadratic time before the bound) */
    size_t n = 3 * 50000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i += 3) memcpy(big + i, "a:[", 3);
    assert_int_equal(qry_parse(big, n, &a, NULL), QUIRE_OK);
    const qry_node *root = qry_ast_root(a);
    assert_int_equal(root->kind, QRY_WORD);
    assert_int_equal(root->len, n);
    qry_ast_free(a);
    for (size_t i = 0; i + 12 <= n; i += 12) memcpy(big + i, "a:[1 TO 2]c ", 12);
    assert_int_equal(qry_parse(big, n, &a, NULL), QUIRE_OK);
    qry_ast_free(a);
    free(big);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("", 1, "empty query");
    expect_error("   ", 1, "empty query");
    expect_error("(cat", 1, "unbalanced parenthesis: '(' is never closed");
    expect_error("dog (cat OR (fish)", 5, "'(' is never closed");
    expect_error("cat)", 4, "')' has no matching '('");
    expect_error("(a) b) c", 6, "')' has no matching '('");
    expect_error("\"cat", 1, "unterminated quote");
    expect_error("dog \"cat", 5, "unterminated quote");
    expect_error("a \"b\" \"c", 7, "unterminated quote");
    expect_error("cat AND", 5, "AND needs an operand after it");
    expect_error("AND cat", 1, "AND needs an operand before it");
    expect_error("cat AND OR dog", 5, "AND needs an operand after it");
    expect_error("OR dog", 1, "OR needs an operand before it");
    expect_error("cat OR", 5, "OR needs an operand after it");
    expect_error("cat OR OR dog", 5, "OR needs an operand after it");
    expect_error("(cat OR) dog", 6, "OR needs an operand after it");
    expect_error("cat NOT", 5, "NOT needs an operand after it");
    expect_error("cat AND)", 5, "AND needs an operand after it");
    expect_error("-cat", 1, "needs a positive term");
    expect_error("NOT cat", 1, "needs a positive term");
    expect_error("-cat -dog", 1, "needs a positive term");
    expect_error("dog OR -cat", 8, "needs a positive term");
    expect_error("(-cat) OR dog", 2, "needs a positive term");
    expect_error("() -cat", 4, "needs a positive term");
    expect_error("dog -(-cat)", 7, "needs a positive term");
    expect_error("dog OR (-cat -fish)", 9, "needs a positive term");
    /* The message names the column too. */
    qry_ast *a = NULL;
    quire_error err = {0};
    assert_int_equal(qry_parse("a (b", 4, &a, &err), QUIRE_EQUERY);
    assert_string_equal(err.message,
        "query error at column 3: unbalanced parenthesis: '(' is never closed");
}

static void test_depth_limit(void **state)
{
    (void)state;
    /* Deep but legal nesting parses; absurd nesting fails cleanly. */
    char q[2100];
    size_t n = 0;
    for (int i = 0; i < 100; i++) q[n++] = '(';
    q[n++] = 'x';
    for (int i = 0; i < 100; i++) q[n++] = ')';
    qry_ast *a = NULL;
    quire_error err = {0};
    assert_int_equal(qry_parse(q, n, &a, &err), QUIRE_OK);
    char buf[64];
    qry_ast_dump(a, buf, sizeof buf);
    assert_string_equal(buf, "(TERM x)");
    qry_ast_free(a);

    n = 0;
    for (int i = 0; i < 1000; i++) q[n++] = '(';
    q[n++] = 'x';
    for (int i = 0; i < 1000; i++) q[n++] = ')';
    assert_int_equal(qry_parse(q, n, &a, &err), QUIRE_EQUERY);
    assert_int_equal(err.column, 201);
    assert_non_null(strstr(err.message, "nested too deeply"));
}

static void test_dump_truncation(void **state)
{
    (void)state;
    qry_ast *a = NULL;
    assert_int_equal(qry_parse("cat dog", 7, &a, NULL), QUIRE_OK);
    char buf[8];
    size_t need = qry_ast_dump(a, buf, sizeof buf);
    assert_int_equal(need, strlen("(AND (TERM cat) (TERM dog))"));
    assert_string_equal(buf, "(AND (T");
    qry_ast_free(a);
}

static void test_not_nul_terminated(void **state)
{
    (void)state;
    /* Only qlen bytes are read: the query need not be NUL-terminated. */
    const char q[] = "cat OR dogXXXX";
    qry_ast *a = NULL;
    assert_int_equal(qry_parse(q, 10, &a, NULL), QUIRE_OK);
    char buf[64];
    qry_ast_dump(a, buf, sizeof buf);
    assert_string_equal(buf, "(OR (TERM cat) (TERM dog))");
    qry_ast_free(a);
    /* Embedded NUL is just a byte of a word. */
    assert_int_equal(qry_parse("a\0b", 3, &a, NULL), QUIRE_OK);
    qry_ast_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_punctuation_is_not_syntax),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_groups_and_phrases),
        cmocka_unit_test(test_range_words),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_dump_truncation),
        cmocka_unit_test(test_not_nul_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
