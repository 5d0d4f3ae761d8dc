/*
 * test_query_plan.c — query planning through the real tokenizer: words
 * giving several terms become phrases, words giving none are dropped (and
 * the groups they empty with them), quoted phrases keep stop-word gaps,
 * nested groups flatten, and in CommonGrams indexes phrases are matched
 * with bigram units.  Plans are compared as S-expressions from
 * qry_plan_dump.  Only tokenizer rules stated in DESIGN.md are relied on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "query/plan.h"

static void expect_plan(uint32_t flags, const char *q, const char *want)
{
    qry_plan *p = NULL;
    quire_error err = {0};
    int rc = qry_plan_text(q, strlen(q), flags, &p, &err);
    if (rc != QUIRE_OK)
        fail_msg("[%s]: error %d: %s", q, rc, err.message);
    char buf[1024];
    assert_true(qry_plan_dump(p, buf, sizeof buf) < sizeof buf);
    if (strcmp(buf, want) != 0)
        fail_msg("[%s]\n  got  %s\n  want %s", q, buf, want);
    qry_plan_free(p);
}

#define DEF QUIRE_TOK_DEFAULT
#define STOP (QUIRE_TOK_DEFAULT | QUIRE_TOK_STOPWORDS_EN)
/* Without bigrams a phrase's units are its slots. */
#define NOCG \
    (QUIRE_TOK_DEFAULT & ~(uint32_t)(QUIRE_TOK_COMMONGRAMS | QUIRE_TOK_COMMONPAIRS))
#define CG (QUIRE_TOK_DEFAULT | QUIRE_TOK_COMMONGRAMS)
/* The default: bigrams of two common words only. */
#define PAIRS (NOCG | QUIRE_TOK_COMMONPAIRS)

static void test_words(void **state)
{
    (void)state;
    expect_plan(DEF, "Cat", "(TERM cat)");
    expect_plan(DEF, "Caf\xc3\xa9", "(TERM cafe)");
    expect_plan(DEF, "cat dog", "(AND (TERM cat) (TERM dog))");
    /* A compound word is the phrase of its parts (query mode). */
    expect_plan(NOCG, "then-candidate", "(PHRASE then@0 candidate@1)");
    expect_plan(DEF, "well-being OR wellbeing",
                "(OR (PHRASE well@0 being@1) (TERM wellbeing))");
    /* Punctuation never becomes syntax. */
    expect_plan(DEF, "Alice & Bob", "(AND (TERM alice) (TERM bob))");
    expect_plan(DEF, "6:30 PM", "(AND (TERM 6:30) (TERM pm))");
}

static void test_dropped(void **state)
{
    (void)state;
    /* Editorial insertions and symbols yield no terms. */
    expect_plan(DEF, "[sic] cat", "(TERM cat)");
    expect_plan(DEF, "\xe2\x84\xa2", "(NONE)");
    expect_plan(DEF, "()", "(NONE)");
    expect_plan(DEF, "()()", "(NONE)");
    expect_plan(DEF, "cat ()()", "(TERM cat)");
    expect_plan(DEF, "cat ()", "(TERM cat)");
    /* An AND left with only exclusions is dropped, not inverted. */
    expect_plan(DEF, "([sic] -cat) OR dog", "(TERM dog)");
    expect_plan(DEF, "cat -[sic]", "(TERM cat)");
    expect_plan(DEF, "\"\" OR cat", "(TERM cat)");
}

static void test_structure(void **state)
{
    (void)state;
    expect_plan(DEF, "a (b c) d", "(AND (TERM a) (TERM b) (TERM c) (TERM d))");
    expect_plan(DEF, "a OR (b OR c)", "(OR (TERM a) (TERM b) (TERM c))");
    expect_plan(DEF, "a (b -c) -d",
                "(AND (TERM a) (TERM b) (NOT (TERM c)) (NOT (TERM d)))");
    expect_plan(DEF, "\"new york\" -(pizza OR \"hot dog\")",
                "(AND (PHRASE new@0 york@1) (NOT (OR (TERM pizza) "
                "(PHRASE hot@0 dog@1))))");
    /* A phrase of one term is a term. */
    expect_plan(DEF, "\"cat\"", "(TERM cat)");
    /* Repeated terms keep their own slots. */
    expect_plan(NOCG, "\"to be or not to be\"",
                "(PHRASE to@0 be@1 or@2 not@3 to@4 be@5)");
    /* A phrase with slop keeps its slots as units: a bigram stands for
     * two words side by side, which a match with slop need not have. */
    expect_plan(DEF, "\"of the sea\"", "(PHRASE of@0 the@1 sea@2 : of+the@0 sea@2)");
    expect_plan(DEF, "\"of the sea\"~2", "(PHRASE of@0 the@1 sea@2 ~2)");
    expect_plan(DEF, "\"of the sea\"~0", "(PHRASE of@0 the@1 sea@2 : of+the@0 sea@2)");
    expect_plan(DEF, "\"cat\"~3", "(TERM cat)");
    expect_plan(DEF, "\"new-york times\"~1", "(PHRASE new@0 york@1 times@2 ~1)");
}

/* The default indexes only pairs of two of the 12 most common words; a
 * pair with one stays two unigram units. */
/* A word ending in '*' whose text before it is one term is a prefix;
 * otherwise the '*' is punctuation, as before. */
static void test_prefix(void **state)
{
    (void)state;
    expect_plan(DEF, "comput*", "(PREFIX comput)");
    expect_plan(DEF, "Caf\xc3\xa9*", "(PREFIX cafe)");
    expect_plan(DEF, "comput comput*", "(AND (TERM comput) (PREFIX comput))");
    expect_plan(DEF, "ahab -whal*", "(AND (TERM ahab) (NOT (PREFIX whal)))");
    expect_plan(DEF, "whal* OR ship", "(OR (PREFIX whal) (TERM ship))");
    expect_plan(DEF, "*", "(NONE)");
    expect_plan(DEF, "cat**", "(TERM cat)");
    expect_plan(DEF, "\"comput*\"", "(TERM comput)");
    expect_plan(NOCG, "then-cand*", "(PHRASE then@0 cand@1)");
    expect_plan(STOP, "the* cat", "(TERM cat)");
}

/* A word ending in '~' or '~N' whose text before it is one term is
 * fuzzy: N edits at most 2, without N by the term's length (none up to 2
 * code points, one up to 5, two beyond), and with no edits the term
 * itself; a stop word drops out as it would without the '~'; otherwise
 * the '~' is punctuation, as before. */
/* With title terms, title:word and title:"..." stand for the words'
 * title terms; without, they read as before: the word "title" too. */
static void test_title(void **state)
{
    (void)state;
    const uint32_t T = PAIRS | QUIRE_TOK_TITLE_TERMS;
    expect_plan(T, "title:whale", "(TERM title:whale)");
    expect_plan(T, "title:Whales", "(TERM title:whales)");
    expect_plan(T, "title:whal*", "(PREFIX title:whal)");
    expect_plan(T, "title:whale~1", "(FUZZY title:whale~1)");
    expect_plan(T, "title:new-york", "(PHRASE title:new@0 title:york@1)");
    /* no bigram stands for two title terms */
    expect_plan(T, "title:\"of the sea\"", "(PHRASE title:of@0 title:the@1 title:sea@2)");
    expect_plan(T, "title:\"white whale\"~1", "(PHRASE title:white@0 title:whale@1 ~1)");
    expect_plan(T, "whale -title:whale", "(AND (TERM whale) (NOT (TERM title:whale)))");
    expect_plan(T, "title:", "(TERM title)");
    expect_plan(PAIRS, "title:whale", "(PHRASE title@0 whale@1)");
    expect_plan(PAIRS, "title:\"white whale\"",
                "(AND (TERM title) (PHRASE white@0 whale@1))");
}

/* word^B and "..."^B multiply the item's score (QUERY.md). */
static void test_boost(void **state)
{
    (void)state;
    expect_plan(DEF, "whale^2", "(TERM whale ^2)");
    expect_plan(DEF, "whale^0.25 ship", "(AND (TERM whale ^0.25) (TERM ship))");
    expect_plan(DEF, "whal*^2", "(PREFIX whal ^2)");
    expect_plan(DEF, "whale~1^3", "(FUZZY whale~1 ^3)");
    expect_plan(DEF, "new-york^1.5", "(PHRASE new@0 york@1 ^1.5)");
    expect_plan(DEF, "\"white whale\"~1^2", "(PHRASE white@0 whale@1 ~1 ^2)");
    expect_plan(DEF, "whale^5000", "(TERM whale ^1000)");
    /* no boost: ^0, nothing before the '^', more after the number */
    expect_plan(NOCG, "x^0", "(PHRASE x@0 0@1)");
    expect_plan(DEF, "^2", "(TERM 2)");
    expect_plan(NOCG, "e=mc^2x", "(PHRASE e@0 mc@1 2x@2)");
    expect_plan(PAIRS | QUIRE_TOK_TITLE_TERMS, "title:whale^3", "(TERM title:whale ^3)");
}

/* Ranges of a field's numbers: every form, exclusive bounds moved to the
 * next double inward, open ends, and what stays text. */
static void test_ranges(void **state)
{
    (void)state;
    expect_plan(DEF, "year:[1800 TO 1900]", "(RANGE year 1800 1900)");
    expect_plan(DEF, "year:{1800 TO 1900}",
                "(RANGE year 1800.0000000000002 1899.9999999999998)");
    expect_plan(DEF, "year:[1800 TO 1900}", "(RANGE year 1800 1899.9999999999998)");
    expect_plan(DEF, "year:[* TO 1900]", "(RANGE year * 1900)");
    expect_plan(DEF, "year:[  1800   TO   *  ]", "(RANGE year 1800 *)");
    expect_plan(DEF, "year:1800..1900", "(RANGE year 1800 1900)");
    expect_plan(DEF, "year:1800..", "(RANGE year 1800 *)");
    expect_plan(DEF, "year:..1900", "(RANGE year * 1900)");
    expect_plan(DEF, "year:*..*", "(RANGE year * *)");
    expect_plan(DEF, "x.y_z-1:>=-2.5", "(RANGE x.y_z-1 -2.5 *)");
    expect_plan(DEF, "year:>1900", "(RANGE year 1900.0000000000002 *)");
    expect_plan(DEF, "year:<=1900", "(RANGE year * 1900)");
    expect_plan(DEF, "year:<1900", "(RANGE year * 1899.9999999999998)");
    expect_plan(DEF, "date:>=2016-06-09", "(RANGE date 1465430400 *)");
    expect_plan(DEF, "date:[2016-06-09 18:30 TO 2016-06-09T18:30:00+02:00]",
                "(RANGE date 1465497000 1465489800)");
    expect_plan(DEF, "date:2016-06-09..2016-06-10^3", "(RANGE date 1465430400 1465516800)");
    expect_plan(DEF, "whale year:[1800 TO 1900] -date:<1851-01-01",
                "(AND (TERM whale) (RANGE year 1800 1900) (NOT (RANGE date * "
                "-3755289600.0000005)))");
    expect_plan(DEF, "whale OR year:>=1900", "(OR (TERM whale) (RANGE year 1900 *))");
    /* not ranges: the words as before */
    expect_plan(DEF, "6:30", "(TERM 6:30)");
    expect_plan(NOCG, "foo:[bar baz]", "(AND (PHRASE foo@0 bar@1) (TERM baz))");
    expect_plan(NOCG, "year:>abc", "(PHRASE year@0 abc@1)");
    expect_plan(DEF, "year:>", "(TERM year)");
    expect_plan(DEF, "year:1850", "(PHRASE year@0 1850@1)");
    expect_plan(NOCG, "year:[1800 1900]", "(AND (PHRASE year@0 1800@1) (TERM 1900))");
    expect_plan(NOCG, "year:[1800 TO 1900 TO 2000]",
                "(AND (PHRASE year@0 1800@1) (TERM to) (TERM 1900) (TERM to) (TERM 2000))");
    expect_plan(DEF, "1year:>5", "(PHRASE 1year@0 5@1)");
    expect_plan(PAIRS | QUIRE_TOK_TITLE_TERMS, "title:>5", "(TERM title:5)");
}

static void test_fuzzy(void **state)
{
    (void)state;
    expect_plan(DEF, "whale~1", "(FUZZY whale~1)");
    expect_plan(DEF, "Wh\xc3\xa2le~2", "(FUZZY whale~2)");
    expect_plan(DEF, "whale~", "(FUZZY whale~1)");
    expect_plan(DEF, "whaling~", "(FUZZY whaling~2)");
    expect_plan(DEF, "ox~", "(TERM ox)");
    /* code points, not bytes: three Cyrillic letters take six */
    expect_plan(DEF, "\xd0\xba\xd0\xbe\xd1\x82~", "(FUZZY \xd0\xba\xd0\xbe\xd1\x82~1)");
    expect_plan(DEF, "whale~0", "(TERM whale)");
    expect_plan(DEF, "whale~7", "(FUZZY whale~2)");
    expect_plan(DEF, "whale~99999999999999999999", "(FUZZY whale~2)");
    expect_plan(DEF, "whale whale~1", "(AND (TERM whale) (FUZZY whale~1))");
    expect_plan(DEF, "whale~1 whale~2", "(AND (FUZZY whale~1) (FUZZY whale~2))");
    expect_plan(DEF, "ahab -whale~1", "(AND (TERM ahab) (NOT (FUZZY whale~1)))");
    expect_plan(DEF, "whale~1 OR ship", "(OR (FUZZY whale~1) (TERM ship))");
    expect_plan(DEF, "~", "(NONE)");
    expect_plan(DEF, "~1", "(TERM 1)");
    expect_plan(DEF, "whale~~1", "(PHRASE whale@0 1@1)");
    expect_plan(DEF, "whale~x", "(PHRASE whale@0 x@1)");
    expect_plan(DEF, "\"whale~1\"", "(PHRASE whale@0 1@1)");
    expect_plan(NOCG, "then-cand~1", "(PHRASE then@0 cand@1 1@2)");
    expect_plan(STOP, "the~1 cat", "(TERM cat)");
    expect_plan(STOP, "the~ cat", "(TERM cat)");
}

static void test_common_pairs_units(void **state)
{
    (void)state;
    assert_int_equal(DEF, PAIRS);
    expect_plan(PAIRS, "\"of the\"", "(PHRASE of@0 the@1 : of+the@0)");
    expect_plan(PAIRS, "\"great and\"", "(PHRASE great@0 and@1)");
    expect_plan(PAIRS, "\"the united states\"", "(PHRASE the@0 united@1 states@2)");
    expect_plan(PAIRS, "\"the representatives of the\"",
                "(PHRASE the@0 representatives@1 of@2 the@3 : the@0 "
                "representatives@1 of+the@2)");
    /* only the 12 most frequent words pair: `or`, `not` and `with` do not */
    expect_plan(PAIRS, "\"to be or not to be\"",
                "(PHRASE to@0 be@1 or@2 not@3 to@4 be@5 : to+be@0 or@2 not@3 "
                "to+be@4)");
    expect_plan(PAIRS, "\"with the\"", "(PHRASE with@0 the@1)");
    expect_plan(CG, "\"with the\"", "(PHRASE with@0 the@1 : with+the@0)");
    expect_plan(PAIRS | QUIRE_TOK_STOPWORDS_EN, "\"end of the world\"",
                "(PHRASE end@0 world@3)");
}

static void test_commongrams_units(void **state)
{
    (void)state;
    /* A pair with a common word is one bigram unit. */
    expect_plan(CG, "\"great and\"", "(PHRASE great@0 and@1 : great+and@0)");
    expect_plan(CG, "\"the united\"", "(PHRASE the@0 united@1 : the+united@0)");
    /* So is the several-term word of a compound. */
    expect_plan(CG, "then-candidate", "(PHRASE then@0 candidate@1)");
    expect_plan(CG, "mother-in-law",
                "(PHRASE mother@0 in@1 law@2 : mother+in@0 in+law@1)");
    expect_plan(CG, "well-being OR wellbeing",
                "(OR (PHRASE well@0 being@1) (TERM wellbeing))");
    /* Words in no pair with a common word stay unigram units. */
    expect_plan(CG, "\"new york\"", "(PHRASE new@0 york@1)");
    expect_plan(CG, "\"the united states\"",
                "(PHRASE the@0 united@1 states@2 : the+united@0 states@2)");
    expect_plan(CG, "\"new york and boston\"",
                "(PHRASE new@0 york@1 and@2 boston@3 : new@0 york+and@1 "
                "and+boston@2)");
    /* Chains of pairs overlap; a repeated bigram is one plan term. */
    expect_plan(CG, "\"the representatives of the\"",
                "(PHRASE the@0 representatives@1 of@2 the@3 : "
                "the+representatives@0 representatives+of@1 of+the@2)");
    expect_plan(CG, "\"to be or not to be\"",
                "(PHRASE to@0 be@1 or@2 not@3 to@4 be@5 : to+be@0 be+or@1 "
                "or+not@2 not+to@3 to+be@4)");
    /* Bigrams never span a stop-word gap. */
    expect_plan(STOP | CG, "\"end of the world\"", "(PHRASE end@0 world@3)");
    /* Commonness is decided on the terms, after stemming. */
    expect_plan(CG | QUIRE_TOK_STEM_EN, "\"his houses\"",
                "(PHRASE his@0 hous@1 : his+hous@0)");
    /* Words and NOTs are untouched; a bigram is a term of the table, but
     * only a unit, never a slot (snippets highlight slots). */
    expect_plan(CG, "the cat -\"of mice\"",
                "(AND (TERM the) (TERM cat) (NOT (PHRASE of@0 mice@1 : "
                "of+mice@0)))");
    qry_plan *p = NULL;
    quire_error err = {0};
    assert_int_equal(qry_plan_text("\"great and\"", 11, CG, &p, &err), QUIRE_OK);
    assert_int_equal(p->nterms, 3);
    assert_int_equal(p->terms[2].len, 9);
    assert_memory_equal(p->terms[2].bytes, "great\x1f" "and", 9);
    assert_int_equal(p->root->kind, PL_PHRASE);
    assert_int_equal(p->root->slot_term[0], 0);
    assert_int_equal(p->root->slot_term[1], 1);
    assert_int_equal(p->root->unit_term[0], 2);
    qry_plan_free(p);
}

static void test_stop_words(void **state)
{
    (void)state;
    /* Stop words leave gaps, so the position check stays exact. */
    expect_plan(STOP, "\"end of the world\"", "(PHRASE end@0 world@3)");
    expect_plan(STOP, "\"the end\"", "(TERM end)");
    expect_plan(STOP, "the", "(NONE)");
    expect_plan(STOP, "the cat", "(TERM cat)");
    expect_plan(CG, "the cat", "(AND (TERM the) (TERM cat))");
}

static void test_errors_pass_through(void **state)
{
    (void)state;
    qry_plan *p = NULL;
    quire_error err = {0};
    assert_int_equal(qry_plan_text("cat OR", 6, DEF, &p, &err), QUIRE_EQUERY);
    assert_null(p);
    assert_int_equal(err.column, 5);
    assert_int_equal(qry_plan_text("cat", 3, 0x80, &p, &err), QUIRE_EARG);
    assert_null(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_dropped),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_fuzzy),
        cmocka_unit_test(test_title),
        cmocka_unit_test(test_boost),
        cmocka_unit_test(test_stop_words),
        cmocka_unit_test(test_commongrams_units),
        cmocka_unit_test(test_common_pairs_units),
        cmocka_unit_test(test_errors_pass_through),
        cmocka_unit_test(test_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
