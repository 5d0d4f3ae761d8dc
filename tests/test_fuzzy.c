/*
 * test_fuzzy.c — the edit distance behind fuzzy queries (index/fuzzy.h):
 * exact cases, and the matcher's reuse of rows across sorted terms
 * checked against a plain table over every pair of a generated
 * vocabulary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "index/fuzzy.h"
#include "test_rng.h"

static int within(const char *a, const char *b, unsigned k)
{
    return fz_within((const uint8_t *)a, strlen(a), (const uint8_t *)b, strlen(b), k);
}

static void test_cases(void **state)
{
    (void)state;
    assert_true(within("whale", "whale", 1));
    assert_true(within("whale", "while", 1));      /* replace */
    assert_true(within("whale", "whales", 1));     /* insert */
    assert_true(within("whale", "wale", 1));       /* delete */
    assert_true(within("whale", "hwale", 1));      /* swap */
    assert_false(within("whale", "hwael", 1));
    assert_true(within("whale", "hwael", 2));
    assert_false(within("kitten", "sitting", 2));  /* 3 edits */
    /* the restricted distance: no edit of a swapped pair ("ca" -> "ac"
     * -> "abc" would be 2) */
    assert_false(within("ca", "abc", 2));
    /* code points: т and о take two bytes each */
    assert_true(within("\xd0\xba\xd0\xbe\xd1\x82", "\xd0\xba\xd0\xbe", 1));
    assert_true(within("\xd0\xba\xd0\xbe\xd1\x82", "\xd0\xba\xd1\x82\xd0\xbe", 1));
    assert_false(within("\xd0\xba\xd0\xbe\xd1\x82", "\xd0\xba", 1));
    assert_true(within("\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5", 1));
    /* a byte that is no UTF-8 counts as one code point */
    assert_true(within("a\xff", "a", 1));
    assert_true(within("ab", "a\xff", 1));
    assert_false(within("a\xd0", "a\xd0\xba", 0));
    /* bounds: k above FZ_MAX_EDITS is FZ_MAX_EDITS */
    assert_false(within("abcdef", "abc", 9));
    assert_true(within("abcdef", "abcd", 9));
    /* a term of more than FZ_MAX_CPS code points matches nothing */
    char big[FZ_MAX_CPS + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(within(big, big, 1));
    big[FZ_MAX_CPS] = '\0';
    assert_true(within(big, big, 1));
}

/* ---- against a plain table ---------------------------------------------- */

static const char *const alphabet[] = {"a", "b", "c", "\xc3\xa9", "\xd0\xba", "\xe6\x97\xa5"};
#define NLETTERS (sizeof alphabet / sizeof alphabet[0])
#define NWORDS 3000

static uint64_t rng = 88172645463325252ULL;
static uint32_t rnd(uint32_t n)
{
    return (uint32_t)(xorshift64(&rng) % n);
}

typedef struct word {
    char bytes[64];
    size_t len;
    uint32_t cp[16];     /* letters as indexes into alphabet */
    size_t n;
} word;

static int cmp_word(const void *x, const void *y)
{
    const word *a = x, *b = y;
    size_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->bytes, b->bytes, m);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Optimal string alignment distance, the whole table. */
static unsigned osa(const word *a, const word *b)
{
    unsigned d[17][17];
    for (size_t i = 0; i <= a->n; i++) d[i][0] = (unsigned)i;
    for (size_t j = 0; j <= b->n; j++) d[0][j] = (unsigned)j;
    for (size_t i = 1; i <= a->n; i++)
        for (size_t j = 1; j <= b->n; j++) {
            unsigned v = d[i - 1][j - 1] + (a->cp[i - 1] != b->cp[j - 1]);
            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a->cp[i - 1] == b->cp[j - 2] && a->cp[i - 2] == b->cp[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[a->n][b->n];
}

static void test_sorted_against_table(void **state)
{
    (void)state;
    static word w[NWORDS];
    for (size_t i = 0; i < NWORDS; i++) {
        /* short words over few letters: many neighbours, long shared
         * prefixes, and lengths on both sides of every bound */
        w[i].n = 1 + rnd(i % 3 ? 6 : 12);
        w[i].len = 0;
        for (size_t k = 0; k < w[i].n; k++) {
            w[i].cp[k] = rnd(i % 2 ? 3 : NLETTERS);
            const char *l = alphabet[w[i].cp[k]];
            memcpy(w[i].bytes + w[i].len, l, strlen(l));
            w[i].len += strlen(l);
        }
    }
    qsort(w, NWORDS, sizeof *w, cmp_word);
    size_t hits[FZ_MAX_EDITS + 1] = {0};
    for (size_t q = 0; q < NWORDS; q += 37) {
        for (unsigned k = 1; k <= FZ_MAX_EDITS; k++) {
            fz_matcher z;
            assert_int_equal(fz_init(&z, (const uint8_t *)w[q].bytes, w[q].len, k), 0);
            for (size_t i = 0; i < NWORDS; i++) {
                int want = osa(&w[q], &w[i]) <= k;
                int got = fz_match(&z, (const uint8_t *)w[i].bytes, w[i].len);
                if (got != want)
                    fail_msg("%.*s ~%u %.*s: got %d, want %d", (int)w[q].len, w[q].bytes, k,
                             (int)w[i].len, w[i].bytes, got, want);
                hits[k] += (size_t)got;
            }
            fz_free(&z);
        }
    }
    /* the vocabulary has neighbours to find, more at two edits */
    assert_true(hits[1] > 500);
    assert_true(hits[2] > hits[1] * 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_sorted_against_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
