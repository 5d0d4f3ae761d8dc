/*
 * test_cli.c — end to end through the `quire` binary and the public API,
 * and every kind of bad input a user can hand us: invalid UTF-8 and NUL
 * bytes, empty and 10 MB documents, duplicate ids, malformed JSON lines
 * (default skip vs --strict), malformed queries, missing, truncated and
 * corrupted indexes, a killed build and a full disk.  Each must give a
 * clear message and a non-zero exit where it fails, never a crash, and
 * never lose the last committed index.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <math.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "quire.h"
#include "index/index.h"
#include "index/segread.h"

static char tmp[64];

/* Runs a shell command; returns its exit status and captures stdout+stderr. */
static int run(char *out, size_t cap, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[4200];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t n = 0;
    if (out && cap) {
        n = fread(out, 1, cap - 1, p);
        out[n] = 0;
    }
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {}
    int st = pclose(p);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* The file at path into buf, NUL-terminated; its length.  It must fit. */
static size_t read_whole(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    assert_true(n < cap - 1);
    buf[n] = 0;
    fclose(f);
    return n;
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmp, "/tmp/quire-test-cli-XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    return system(cmd);
}

static uint64_t count(const char *dir, const char *q)
{
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    uint64_t n = 0;
    assert_int_equal(quire_count(ix, q, strlen(q), &n, &e), QUIRE_OK);
    quire_index_close(ix);
    return n;
}

/* Writes `jsonl` to TMP/NAME.jsonl (its path in path) and indexes it with
 * the CLI into TMP/NAME (in dir), which must succeed; the CLI's output in
 * out. */
static void index_jsonl(const char *name, const char *jsonl, char path[128], char dir[128],
                        char *out, size_t cap)
{
    snprintf(path, 128, "%s/%s.jsonl", tmp, name);
    snprintf(dir, 128, "%s/%s", tmp, name);
    write_file(path, jsonl, strlen(jsonl));
    assert_int_equal(run(out, cap, "%s index %s %s", QUIRE_CLI, dir, path), 0);
}

/* ---- the sample article ------------------------------------------------ */

static void test_news_phrase(void **state)
{
    (void)state;
    char out[8192];
    /* corpus/news-sample.txt is the project's copy of ../shared/corpus/news-sample.txt,
     * so the test runs from a clone anywhere */
    assert_int_equal(run(out, sizeof out, "%s index %s/news %s/corpus/news-sample.txt",
                         QUIRE_CLI, tmp, QUIRE_SOURCE_DIR), 0);
    assert_non_null(strstr(out, "indexed 1 documents"));
    assert_int_equal(run(out, sizeof out, "%s search --json %s/news '\"does not conceed\"'",
                         QUIRE_CLI, tmp), 0);
    assert_non_null(strstr(out, "news-sample.txt\",\"score\":"));
    assert_non_null(strstr(out, "\"title\":\"Secret messages revealed"));
    /* the excerpt, the phrase marked as one span, JSON-escaped */
    assert_non_null(strstr(out, ",\"snippet\":\""));
    assert_non_null(strstr(out, "if he <em>DOES NOT conceed</em> [sic]"));
    assert_int_equal(run(out, sizeof out, "%s search --count %s/news '\"does not conceed\"'",
                         QUIRE_CLI, tmp), 0);
    assert_string_equal(out, "1\n");
    /* the human format shows the title and a snippet with the match */
    assert_int_equal(run(out, sizeof out, "%s search %s/news conceed", QUIRE_CLI, tmp), 0);
    assert_non_null(strstr(out, "1. Secret messages revealed"));
    assert_non_null(strstr(out, "[conceed]"));
    /* words the article does not contain */
    assert_int_equal(run(out, sizeof out, "%s search --count %s/news '\"not conceed trump\"'",
                         QUIRE_CLI, tmp), 0);
    assert_string_equal(out, "0\n");
    assert_int_equal(run(out, sizeof out, "%s verify %s/news", QUIRE_CLI, tmp), 0);
    assert_non_null(strstr(out, "ok: 1 segments, 1 documents"));
    assert_int_equal(run(out, sizeof out, "%s stats %s/news", QUIRE_CLI, tmp), 0);
    assert_non_null(strstr(out, "documents         1 (+0 deleted)"));
}

/* URLs, e-mail addresses, handles and dotted compounds are indexed as
 * their parts only (docs/TOKENIZER.md, rule 7), and a query of one, split
 * the same way, finds the text by the phrase of its parts: in the document
 * that has it, not in the one with the same words apart. */
static void test_urls_and_addresses(void **state)
{
    (void)state;
    char path[128], dir[128], out[4096];
    const char *docs =
        "{\"id\":\"a\",\"body\":\"mail Jane.Doe@Example.com, see "
        "https://www.Example.com/a-b?q=1. @wikileaks says v1.2\"}\n"
        "{\"id\":\"b\",\"body\":\"jane wrote: doe example com. www and example "
        "com a b q; wikileaks v 1 2\"}\n";
    index_jsonl("urls", docs, path, dir, out, sizeof out);
    assert_int_equal(count(dir, "Jane.Doe@Example.com"), 1);
    assert_int_equal(count(dir, "https://www.example.com/a-b?q=1"), 1);
    assert_int_equal(count(dir, "www.example.com"), 1);
    assert_int_equal(count(dir, "v1.2"), 1);
    assert_int_equal(count(dir, "@wikileaks"), 2);
    assert_int_equal(count(dir, "\"example com\""), 2);
}

/* ---- JSON Lines: fields, title/body boundary, malformed lines ---------- */

static void test_jsonl_fields_and_boundary(void **state)
{
    (void)state;
    char path[128], dir[128], out[8192];
    const char *data =
        "{\"id\": \"a\", \"title\": \"Red fox\", \"body\": \"jumps high\", \"lang\": \"en\"}\n"
        "{\"id\": 7, \"title\": \"caf\\u00e9 \\ud83c\\udf31\", \"body\": \"fox red\", \"n\": [1, {\"x\": null}]}\n"
        "\n"
        "{\"id\": \"c\", \"body\": \"the red fox jumps\"}\n";
    index_jsonl("docs", data, path, dir, out, sizeof out);
    assert_non_null(strstr(out, "indexed 3 documents"));
    /* "fox jumps" runs from title into body in doc a: that must not match */
    assert_int_equal(count(dir, "\"fox jumps\""), 1);
    assert_int_equal(count(dir, "\"red fox\""), 2);
    assert_int_equal(count(dir, "cafe"), 1);
    /* stored fields come back, including extra string fields */
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    quire_doc *d;
    assert_int_equal(quire_doc_get(ix, 0, &d, &e), QUIRE_OK);
    const char *v;
    size_t n;
    assert_int_equal(quire_doc_field(d, "lang", &v, &n), QUIRE_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(v, "en", 2);
    quire_doc_free(d);
    assert_int_equal(quire_doc_get(ix, 1, &d, &e), QUIRE_OK);
    assert_int_equal(quire_doc_field(d, "id", &v, &n), QUIRE_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(v, "7", 1);
    assert_int_equal(quire_doc_field(d, "title", &v, &n), QUIRE_OK);
    assert_int_equal(n, strlen("caf\xc3\xa9 \xf0\x9f\x8c\xb1"));
    assert_memory_equal(v, "caf\xc3\xa9 \xf0\x9f\x8c\xb1", n);
    quire_doc_free(d);
    assert_int_equal(quire_doc_get(ix, 3, &d, &e), QUIRE_ENOTFOUND);
    quire_index_close(ix);
}

/* --sort FIELD / -FIELD: numbers and dates of stored fields, JSON numbers
 * kept as their text, the documents without one last, pages, contentless. */
static void test_sort_by_field(void **state)
{
    (void)state;
    char path[128], dir[128], out[8192];
    const char *data =
        "{\"id\":\"a\",\"title\":\"One\",\"body\":\"white whale\",\"year\":1851,"
        "\"date\":\"1851-10-18\"}\n"
        "{\"id\":\"b\",\"title\":\"Two\",\"body\":\"a whale\",\"year\":\"1820\","
        "\"date\":\"1820-11-20T08:00:00Z\"}\n"
        "{\"id\":\"c\",\"title\":\"Three\",\"body\":\"whale ship\",\"year\":\"unknown\"}\n"
        "{\"id\":\"d\",\"title\":\"Four\",\"body\":\"whale whale\",\"year\":2.5e3,"
        "\"date\":\"2001-01-01 00:00+01:00\",\"tags\":[1,2]}\n"
        "{\"id\":\"e\",\"title\":\"Five\",\"body\":\"no match\",\"year\":1}\n";
    index_jsonl("sort", data, path, dir, out, sizeof out);
    assert_int_equal(run(out, sizeof out, "%s search --sort year %s whale", QUIRE_CLI, dir), 0);
    assert_string_equal(out, "1. Two  (id b, year 1820)\n   a [whale]\n"
                             "2. One  (id a, year 1851)\n   white [whale]\n"
                             "3. Four  (id d, year 2.5e3)\n   [whale] [whale]\n"
                             "4. Three  (id c, no year)\n   [whale] ship\n");
    assert_int_equal(run(out, sizeof out, "%s search --sort -year -k 2 --offset 1 %s whale",
                         QUIRE_CLI, dir), 0);
    assert_string_equal(out, "2. One  (id a, year 1851)\n   white [whale]\n"
                             "3. Two  (id b, year 1820)\n   a [whale]\n");
    /* ranges filter: spaces inside brackets, dates, exclusions */
    assert_int_equal(run(out, sizeof out, "%s search --count %s 'whale year:[1800 TO 1851]'",
                         QUIRE_CLI, dir), 0);
    assert_string_equal(out, "2\n");
    assert_int_equal(run(out, sizeof out, "%s search --sort date %s 'date:[1800-01-01 TO "
                         "2001-01-01 00:00+01:00]'", QUIRE_CLI, dir), 0);
    assert_string_equal(out, "1. Two  (id b, date 1820-11-20T08:00:00Z)\n   a whale\n"
                             "2. One  (id a, date 1851-10-18)\n   white whale\n"
                             "3. Four  (id d, date 2001-01-01 00:00+01:00)\n   whale whale\n");
    assert_int_equal(run(out, sizeof out, "%s search --count %s 'whale -year:<1850'", QUIRE_CLI,
                         dir), 0);
    assert_string_equal(out, "3\n");
    /* dates are seconds since 1970 (UTC unless the date says otherwise) */
    assert_int_equal(run(out, sizeof out, "%s search --json --sort -date %s whale", QUIRE_CLI,
                         dir), 0);
    assert_string_equal(out,
        "{\"id\":\"d\",\"value\":978303600,\"title\":\"Four\",\"snippet\":"
        "\"<em>whale</em> <em>whale</em>\"}\n"
        "{\"id\":\"a\",\"value\":-3730233600,\"title\":\"One\",\"snippet\":"
        "\"white <em>whale</em>\"}\n"
        "{\"id\":\"b\",\"value\":-4705574400,\"title\":\"Two\",\"snippet\":"
        "\"a <em>whale</em>\"}\n"
        "{\"id\":\"c\",\"value\":null,\"title\":\"Three\",\"snippet\":"
        "\"<em>whale</em> ship\"}\n");
    /* the number is stored as written; an array is not stored */
    assert_int_equal(run(out, sizeof out, "%s get %s d", QUIRE_CLI, dir), 0);
    assert_string_equal(out, "{\"id\":\"d\",\"title\":\"Four\",\"body\":\"whale whale\","
                             "\"year\":\"2.5e3\",\"date\":\"2001-01-01 00:00+01:00\"}\n");
    /* no number in the field: the BM25-free order is by document */
    assert_int_equal(run(out, sizeof out, "%s search --sort title %s whale", QUIRE_CLI, dir), 0);
    assert_non_null(strstr(out, "1. One  (id a, no title)"));
    assert_non_null(strstr(out, "4. Four  (id d, no title)"));
    assert_int_equal(run(out, sizeof out, "%s search --sort - %s whale", QUIRE_CLI, dir), 2);
    assert_non_null(strstr(out, "--sort needs a field name"));
    /* contentless: the number, as the text is not kept */
    char cl[128];
    snprintf(cl, sizeof cl, "%s/sortcl", tmp);
    assert_int_equal(run(out, sizeof out, "%s index --contentless %s %s", QUIRE_CLI, cl, path),
                     0);
    assert_int_equal(run(out, sizeof out, "%s search --sort -year -k 1 %s whale", QUIRE_CLI, cl),
                     0);
    assert_string_equal(out, "1. (untitled)  (id d, year 2500)\n   \n");
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 0);
    /* quire stats lists the fields with numbers */
    assert_int_equal(run(out, sizeof out, "%s stats %s | grep ^numbers", QUIRE_CLI, dir), 0);
    assert_string_equal(out, "numbers date      3 documents, from -4705574400 to 978303600\n"
                             "numbers year      4 documents, from 1 to 2500\n");
}

/* --time-limit: spent before the first segment, nothing and status 3;
 * ample, the output of the search without it. */
static void test_time_limit(void **state)
{
    (void)state;
    char path[128], d[128], out[8192], plain[8192];
    const char *data = "{\"id\":\"a\",\"title\":\"One\",\"body\":\"white whale\"}\n"
                       "{\"id\":\"b\",\"title\":\"Two\",\"body\":\"a whale\"}\n";
    index_jsonl("limit", data, path, d, out, sizeof out);
    assert_int_equal(run(plain, sizeof plain, "%s search %s whale", QUIRE_CLI, d), 0);
    assert_string_equal(plain, "1. One  (id a, score 0.1823)\n   white [whale]\n"
                               "2. Two  (id b, score 0.1823)\n   a [whale]\n");
    assert_int_equal(run(out, sizeof out, "%s search --time-limit 1000 %s whale", QUIRE_CLI, d),
                     0);
    assert_string_equal(out, plain);
    assert_int_equal(run(out, sizeof out, "%s search --time-limit 1e-9 %s whale", QUIRE_CLI, d),
                     3);
    assert_string_equal(out, "quire: stopped at the time limit: 1e-09 s; the results are the "
                             "best of the documents searched until then\n");
    assert_int_equal(run(out, sizeof out, "%s search --json --time-limit 1e-9 %s whale",
                         QUIRE_CLI, d), 3);
    assert_string_equal(out, "quire: stopped at the time limit: 1e-09 s; the results are the "
                             "best of the documents searched until then\n");
    assert_int_equal(run(out, sizeof out, "%s search --count --time-limit 1e-9 %s whale",
                         QUIRE_CLI, d), 3);
    assert_string_equal(out, "0\nquire: stopped at the time limit: 1e-09 s; the count is of "
                             "the documents searched until then\n");
    assert_int_equal(run(out, sizeof out, "%s search --count --time-limit 1000 %s whale",
                         QUIRE_CLI, d), 0);
    assert_string_equal(out, "2\n");
    const char *bad[] = {"0", "-1", "x", "", "nan", "1e10"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(run(out, sizeof out, "%s search --time-limit '%s' %s whale", QUIRE_CLI,
                             bad[i], d), 2);
        assert_string_equal(out, "quire: --time-limit needs a number of seconds above 0\n");
    }
}

static void test_malformed_json(void **state)
{
    (void)state;
    char path[128], dir[128], out[8192];
    snprintf(path, sizeof path, "%s/bad.jsonl", tmp);
    snprintf(dir, sizeof dir, "%s/bad", tmp);
    const char *data =
        "{\"id\": \"1\", \"body\": \"good one\"}\n"
        "{\"id\": \"2\", \"body\": \"unterminated}\n"
        "not json at all\n"
        "{\"id\": \"3\", \"body\": \"good two\"}\n"
        "{\"id\": \"4\", \"body\": 12}\n"
        "{\"id\": \"5\", \"body\": \"x\"} trailing\n";
    write_file(path, data, strlen(data));
    /* default: skip and count, naming file and line */
    assert_int_equal(run(out, sizeof out, "%s index %s %s", QUIRE_CLI, dir, path), 0);
    assert_non_null(strstr(out, "bad.jsonl:2: malformed JSON line (column 21: unterminated string); skipped"));
    assert_non_null(strstr(out, "bad.jsonl:3: malformed JSON line (column 1: a JSON object expected)"));
    assert_non_null(strstr(out, "bad.jsonl:5: malformed JSON line"));
    assert_non_null(strstr(out, "\"body\" must be a string"));
    assert_non_null(strstr(out, "bad.jsonl:6: malformed JSON line (column 26: trailing characters"));
    assert_non_null(strstr(out, "indexed 2 documents"));
    assert_non_null(strstr(out, "4 malformed lines skipped"));
    assert_int_equal(count(dir, "good"), 2);
    /* --strict: stop at the first one, commit nothing of this run */
    char dir2[128];
    snprintf(dir2, sizeof dir2, "%s/strict", tmp);
    assert_int_equal(run(out, sizeof out, "%s index --strict %s %s", QUIRE_CLI, dir2, path), 1);
    assert_non_null(strstr(out, "bad.jsonl:2: malformed JSON line"));
    assert_null(strstr(out, "bad.jsonl:3:"));
    assert_non_null(strstr(out, "nothing from this run was committed"));
    /* appending in strict mode to the good index leaves it as it was */
    assert_int_equal(run(out, sizeof out, "%s index --strict %s %s", QUIRE_CLI, dir, path), 1);
    assert_int_equal(count(dir, "good"), 2);
}

/* ---- text files, directories, stdin, odd bytes ------------------------- */

static void test_text_inputs_and_bad_bytes(void **state)
{
    (void)state;
    char d[128], out[8192], p[256];
    snprintf(d, sizeof d, "%s/tree", tmp);
    mkdir(d, 0755);
    snprintf(p, sizeof p, "%s/tree/sub", tmp);
    mkdir(p, 0755);
    /* invalid UTF-8 and a NUL byte split words but never stop the build */
    static const char bad[] = "Title line\nalpha\xff\xfe" "beta gamma\0delta \xc3( epsilon";
    snprintf(p, sizeof p, "%s/tree/bad.txt", tmp);
    write_file(p, bad, sizeof bad - 1);
    snprintf(p, sizeof p, "%s/tree/sub/empty.txt", tmp);
    write_file(p, "", 0);
    snprintf(p, sizeof p, "%s/tree/sub/.hidden", tmp);
    write_file(p, "hidden words", 12);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/treeix", tmp);
    assert_int_equal(run(out, sizeof out, "printf 'piped words here' | %s index %s %s/tree -",
                         QUIRE_CLI, dir, tmp), 0);
    assert_non_null(strstr(out, "indexed 3 documents"));
    assert_int_equal(count(dir, "alpha"), 1);
    assert_int_equal(count(dir, "beta"), 1);
    assert_int_equal(count(dir, "gamma"), 1);
    assert_int_equal(count(dir, "delta"), 1);
    assert_int_equal(count(dir, "epsilon"), 1);
    assert_int_equal(count(dir, "\"gamma delta\""), 1);
    assert_int_equal(count(dir, "alphabeta"), 0);
    assert_int_equal(count(dir, "hidden"), 0);
    assert_int_equal(count(dir, "piped"), 1);
    assert_int_equal(run(out, sizeof out, "%s search --json %s piped", QUIRE_CLI, dir), 0);
    assert_non_null(strstr(out, "{\"id\":\"-\""));
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 0);
}

static void test_big_document(void **state)
{
    (void)state;
    /* 10 MB in one document: one rare word at the very end */
    size_t n = 10u << 20;
    char *text = malloc(n + 32);
    for (size_t i = 0; i < n; i += 8) memcpy(text + i, "lorem i ", 8);
    memcpy(text + n, " zyzzyva", 8);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/big", tmp);
    quire_writer *w;
    quire_error e;
    quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT, .threads = 1};
    assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_OK);
    quire_doc_input d = {"big", 3, "", 0, text, n + 8, NULL, 0};
    assert_int_equal(quire_writer_add(w, &d, NULL, &e), QUIRE_OK);
    quire_doc_input d2 = {"small", 5, "", 0, "lorem", 5, NULL, 0};
    assert_int_equal(quire_writer_add(w, &d2, NULL, &e), QUIRE_OK);
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    assert_int_equal(count(dir, "zyzzyva"), 1);
    assert_int_equal(count(dir, "\"i zyzzyva\""), 1);
    assert_int_equal(count(dir, "lorem"), 2);
    /* the store gives the whole document back */
    quire_index *ix;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    quire_doc *doc;
    assert_int_equal(quire_doc_get(ix, 0, &doc, &e), QUIRE_OK);
    const char *v;
    size_t len;
    quire_doc_field(doc, "body", &v, &len);
    assert_int_equal(len, n + 8);
    assert_memory_equal(v + n, " zyzzyva", 8);
    quire_doc_free(doc);
    quire_index_close(ix);
    free(text);
}

static void test_duplicate_ids(void **state)
{
    (void)state;
    char path[128], path2[128], dir[128], out[8192];
    snprintf(path, sizeof path, "%s/dup.jsonl", tmp);
    snprintf(path2, sizeof path2, "%s/dup2.jsonl", tmp);
    snprintf(dir, sizeof dir, "%s/dup", tmp);
    const char *a = "{\"id\":\"x\",\"body\":\"first version\"}\n"
                    "{\"id\":\"y\",\"body\":\"other doc\"}\n"
                    "{\"id\":\"x\",\"body\":\"second version\"}\n";
    write_file(path, a, strlen(a));
    assert_int_equal(run(out, sizeof out, "%s index %s %s", QUIRE_CLI, dir, path), 0);
    assert_non_null(strstr(out, "dup.jsonl:3: id \"x\" seen before; the later document replaces it"));
    assert_non_null(strstr(out, "1 replaced earlier documents"));
    assert_int_equal(count(dir, "version"), 1);
    assert_int_equal(count(dir, "second"), 1);
    assert_int_equal(count(dir, "first"), 0);
    /* across commits: a later run replaces a committed document */
    const char *b = "{\"id\":\"x\",\"body\":\"third version\"}\n";
    write_file(path2, b, strlen(b));
    assert_int_equal(run(out, sizeof out, "%s index %s %s", QUIRE_CLI, dir, path2), 0);
    assert_non_null(strstr(out, "replaces it"));
    assert_int_equal(count(dir, "version"), 1);
    assert_int_equal(count(dir, "third"), 1);
    assert_int_equal(count(dir, "other"), 1);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, dir), 0);
    assert_non_null(strstr(out, "documents         2 (+2 deleted)"));
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 0);
}

/* An id of 16 MiB is refused before anything is added; the writer goes on
 * and still replaces documents by id.  A commit with nothing new publishes
 * no generation. */
static void test_id_limits(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/idlim", tmp);
    quire_writer *w = NULL;
    quire_error err;
    assert_int_equal(quire_writer_open(dir, NULL, &w, &err), QUIRE_OK);
    size_t big = (size_t)16 << 20;
    char *id = malloc(big);
    assert_non_null(id);
    memset(id, 'i', big);
    quire_doc_input d = {.id = id, .id_len = big, .body = "huge id", .body_len = 7};
    assert_int_equal(quire_writer_add(w, &d, NULL, &err), QUIRE_EARG);
    assert_non_null(strstr(err.message, "shorter than 16 MiB"));
    d.id_len = big - 1;   /* the longest id taken */
    d.body = "long id";
    assert_int_equal(quire_writer_add(w, &d, NULL, &err), QUIRE_OK);
    int rep = -1;
    quire_doc_input a = {.id = "a", .id_len = 1, .body = "first", .body_len = 5};
    assert_int_equal(quire_writer_add(w, &a, &rep, &err), QUIRE_OK);
    assert_int_equal(rep, 0);
    a.body = "second";
    a.body_len = 6;
    assert_int_equal(quire_writer_add(w, &a, &rep, &err), QUIRE_OK);
    assert_int_equal(rep, 1);
    assert_int_equal(quire_writer_add(w, &d, &rep, &err), QUIRE_OK);
    assert_int_equal(rep, 1);
    assert_int_equal(quire_writer_commit(w, &err), QUIRE_OK);
    char out[4096];
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, dir), 0);
    assert_non_null(strstr(out, "generation        1\n"));
    /* nothing changed: a commit (and an optimize of one segment without
     * deletions) publishes no new generation */
    assert_int_equal(quire_writer_commit(w, &err), QUIRE_OK);
    quire_writer_free(w);
    free(id);
    assert_int_equal(run(out, sizeof out, "%s optimize %s", QUIRE_CLI, dir), 0);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, dir), 0);
    assert_non_null(strstr(out, "generation        2\n"));   /* merged away the deletions */
    assert_int_equal(run(out, sizeof out, "%s optimize %s", QUIRE_CLI, dir), 0);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, dir), 0);
    assert_non_null(strstr(out, "generation        2\n"));
    assert_int_equal(count(dir, "huge"), 0);
    assert_int_equal(count(dir, "long"), 1);
    assert_int_equal(count(dir, "first"), 0);
    assert_int_equal(count(dir, "second"), 1);
}

/* 3,000 documents with 900-byte ids and 40 words each under a 2 MiB
 * budget: the ids' map soon takes the builders' share of the budget. */
static void build_long_ids(const char *dir, uint32_t threads)
{
    quire_writer_options opt = {.mem_budget = (size_t)2 << 20, .threads = threads};
    quire_writer *w = NULL;
    quire_error err;
    assert_int_equal(quire_writer_open(dir, &opt, &w, &err), QUIRE_OK);
    static char id[1100], body[2000];
    for (int d = 0; d < 3000; d++) {
        int n = snprintf(id, sizeof id, "%0900d-%d", 0, d);
        int m = 0;
        for (int k = 0; k < 40; k++) m += snprintf(body + m, sizeof body - (size_t)m, "w%dx%d ", d, k);
        quire_doc_input in = {.id = id, .id_len = (size_t)n, .body = body, .body_len = (size_t)m};
        assert_int_equal(quire_writer_add(w, &in, NULL, &err), QUIRE_OK);
    }
    assert_int_equal(quire_writer_commit(w, &err), QUIRE_OK);
    quire_writer_free(w);
}

/* A small budget still makes segments of many documents.  The long ids
 * grow the map until the builder keeps only a quarter of the budget,
 * smaller than the hash table it kept from its earlier segments; with the
 * table counted whole, every document then became a segment. */
static void test_small_budget_not_per_document(void **state)
{
    (void)state;
    char dir[128], out[4096];
    snprintf(dir, sizeof dir, "%s/smallbudget", tmp);
    build_long_ids(dir, 1);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, dir), 0);
    const char *seg = strstr(out, "segments");
    assert_non_null(seg);
    long nseg = strtol(seg + 8, NULL, 10);
    assert_true(nseg >= 2 && nseg <= 100);
    assert_int_equal(count(dir, "w2999x39"), 1);
}

/* Two threads, the same input twice: the same segments, so the same
 * merged one.  The lanes used to read the growing id map's size while
 * the caller went on, and cut their segments at other documents from
 * one run to the next. */
static void test_threads_deterministic_flushes(void **state)
{
    (void)state;
    char a[128], b[128], out[4096];
    snprintf(a, sizeof a, "%s/detA", tmp);
    snprintf(b, sizeof b, "%s/detB", tmp);
    build_long_ids(a, 2);
    build_long_ids(b, 2);
    assert_int_equal(run(out, sizeof out, "%s optimize %s", QUIRE_CLI, a), 0);
    assert_int_equal(run(out, sizeof out, "%s optimize %s", QUIRE_CLI, b), 0);
    assert_int_equal(run(out, sizeof out, "cmp %s/seg_*.qseg %s/seg_*.qseg", a, b), 0);
}

/* Asserts that directories a and b hold the same files, byte for byte;
 * a's listing (ls) goes to list. */
static void same_files(const char *a, const char *b, char *list, size_t cap)
{
    char other[4096], out[256];
    assert_int_equal(run(list, cap, "cd %s && ls", a), 0);
    assert_int_equal(run(other, sizeof other, "cd %s && ls", b), 0);
    assert_string_equal(list, other);
    assert_int_equal(run(out, sizeof out, "cd %s && for f in *; do cmp $f %s/$f || exit 1; done",
                         a, b), 0);
}

static int count_files(const char *dir);

/* Two lanes of 16 MiB, whose last batch before a commit takes no budget
 * flush: past its budget a lane waits to learn whether it is there, and
 * while one is past it every queue may fill (writer.c, lane_deepen).
 * Words used once each make a lane's memory outgrow its text, so each
 * lane flushes several times; two builds make the same files. */
static void build_unique_words(const char *dir)
{
    quire_writer_options opt = {.mem_budget = (size_t)32 << 20, .threads = 2};
    quire_writer *w = NULL;
    quire_error e;
    assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_OK);
    for (int i = 0; i < 30000; i++) {
        char id[32], body[256];
        int n = snprintf(id, sizeof id, "u%d", i);
        size_t len = 0;
        for (int k = 0; k < 20; k++)
            len += (size_t)snprintf(body + len, sizeof body - len, "t%07d ", i * 20 + k);
        quire_doc_input d = {id, (size_t)n, "", 0, body, len, NULL, 0};
        assert_int_equal(quire_writer_add(w, &d, NULL, &e), QUIRE_OK);
    }
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
}

static void test_threads_budget_tail(void **state)
{
    (void)state;
    char a[128], b[128], list[4096], out[4096];
    snprintf(a, sizeof a, "%s/tailA", tmp);
    snprintf(b, sizeof b, "%s/tailB", tmp);
    build_unique_words(a);
    build_unique_words(b);
    same_files(a, b, list, sizeof list);
    assert_true(count_files(a) > 6);   /* LOCK, MANIFEST and 5 or more segments */
    assert_int_equal(count(a, "t0000000"), 1);
    assert_int_equal(count(a, "t0319999"), 1);
    assert_int_equal(count(a, "t0599999"), 1);
    assert_int_equal(count(a, "t0600000"), 0);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, a), 0);
}

/* After each lane's first, smaller batches (4, 16, 64 and 256 KiB: 680
 * documents of 1 KiB), `rounds` rounds of a heavy batch (1024 documents
 * of 1 KiB, 127 words each: the batch ends at 1 MiB), which goes to lane
 * 0, and a light one (4096 documents of one word), which goes to lane 1;
 * committed at once, so lane 1 is done while lane 0 still has batches
 * queued (at most QUEUE_SHALLOW, and the commit's). */
static void build_skewed(const char *dir, int rounds, int steal, uint64_t *stolen)
{
    /* 32 MiB a lane: two batches at its end are anyone's */
    quire_writer_options opt = {.mem_budget = (size_t)64 << 20, .threads = 2};
    quire_writer *w = NULL;
    quire_error err;
    assert_int_equal(quire_writer_open(dir, &opt, &w, &err), QUIRE_OK);
    if (!steal) idx_writer_no_steal(w);
    /* 16 texts of 127 words of 8 bytes (the last one's space counted) */
    static char bodies[16][1016];
    for (int v = 0; v < 16; v++)
        for (int k = 0; k < 127; k++) {
            char wd[9];
            snprintf(wd, sizeof wd, k == 1 ? "heavy   " : "v%06d ", (v * 127 + k) * 7919 % 200000);
            memcpy(bodies[v] + 8 * k, wd, 8);
        }
    char id[16];
    unsigned n = 0;
    for (; n < 680; n++) {
        snprintf(id, sizeof id, "d%07u", n);
        quire_doc_input in = {.id = id, .id_len = 8, .body = bodies[0], .body_len = 1016};
        assert_int_equal(quire_writer_add(w, &in, NULL, &err), QUIRE_OK);
    }
    for (int round = 0; round < rounds; round++) {
        for (int d = 0; d < 1024; d++, n++) {
            snprintf(id, sizeof id, "d%07u", n);
            char u[9], *body = bodies[n % 16];
            snprintf(u, sizeof u, "u%06u ", n % 3000);
            memcpy(body, u, 8);   /* the first word */
            quire_doc_input in = {.id = id, .id_len = 8, .body = body, .body_len = 1016};
            assert_int_equal(quire_writer_add(w, &in, NULL, &err), QUIRE_OK);
        }
        for (int d = 0; d < 4096; d++, n++) {
            snprintf(id, sizeof id, "d%07u", n);
            quire_doc_input in = {.id = id, .id_len = 8, .body = "light", .body_len = 5};
            assert_int_equal(quire_writer_add(w, &in, NULL, &err), QUIRE_OK);
        }
    }
    assert_int_equal(quire_writer_commit(w, &err), QUIRE_OK);
    *stolen = idx_writer_stolen(w);
    quire_writer_free(w);
}

/* Builds the skewed input into <tmp>/<name>A with stealing and <name>B
 * without, and checks that the two give the same files (the segment, no
 * steal builder's file left) and that A verifies. */
static void skewed_pair(const char *name, int rounds, char *a, size_t cap, uint64_t *stolen)
{
    char b[128], out[4096], list[4096];
    snprintf(a, cap, "%s/%sA", tmp, name);
    snprintf(b, sizeof b, "%s/%sB", tmp, name);
    uint64_t sb;
    build_skewed(a, rounds, 1, stolen);
    build_skewed(b, rounds, 0, &sb);
    assert_int_equal(sb, 0);
    same_files(a, b, list, sizeof list);
    assert_non_null(strstr(list, "seg_000001.qseg\n"));
    assert_null(strstr(list, "stolen"));
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, a), 0);
}

/* The lane done first builds the end of the other's input into a builder
 * of its own, joined after the other's: the index is byte for byte the
 * one the other lane would have written alone. */
static void test_threads_steal(void **state)
{
    (void)state;
    char a[128];
    uint64_t sa;
    skewed_pair("steal", 10, a, sizeof a, &sa);
    assert_true(sa >= 1 && sa <= 2);
    assert_int_equal(count(a, "heavy"), 10920);
    assert_int_equal(count(a, "light"), 40960);
    assert_int_equal(count(a, "u000007"), 3);   /* documents 6007, 27007, 42007 */
}

/* When the lanes flushed at their budget before the commit, each lane's
 * last builder is written apart, with what another lane took from its end
 * joined to it: still the files the lanes would have written alone. */
static void test_threads_steal_apart(void **state)
{
    (void)state;
    char a[128];
    uint64_t sa;
    skewed_pair("apart", 100, a, sizeof a, &sa);
    assert_true(sa >= 1 && sa <= 2);
    assert_true(count_files(a) >= 5);   /* LOCK, MANIFEST and 3 or more segments */
    assert_int_equal(count(a, "heavy"), 680 + 100 * 1024);
    assert_int_equal(count(a, "light"), 100 * 4096);
    unsigned u7 = 0;   /* heavy documents n with n % 3000 == 7 */
    for (unsigned r = 0, n = 680; r < 100; r++, n += 1024 + 4096)
        for (unsigned d = 0; d < 1024; d++) u7 += (n + d) % 3000 == 7;
    assert_int_equal(count(a, "u000007"), u7);
}

/* Two heavy batches for lane 0: when lane 1 is done, lane 0 is building
 * the first, and its queue is the second and the commit's (empty) batch.
 * Both go (their text is nearer half of what is left than none), and the
 * commit's flag moves onto the batch lane 0 is building.  Lane 0 can be
 * past it by then (the second heavy batch alone, or nothing, is taken):
 * whichever happens, the files must be the ones built without stealing. */
static void test_threads_steal_queue(void **state)
{
    (void)state;
    char a[128], name[32];
    for (int run_no = 0; run_no < 3; run_no++) {
        snprintf(name, sizeof name, "stealQ%d", run_no);
        uint64_t sa;
        skewed_pair(name, 2, a, sizeof a, &sa);
        assert_true(sa <= 2);
        assert_int_equal(count(a, "heavy"), 2728);
        assert_int_equal(count(a, "light"), 8192);
        assert_int_equal(count(a, "u000007"), 1);   /* document 6007 */
    }
}

/* 29995 documents, every seventh with the id of the one three before it
 * (the last one too),
 * added by two lanes with a 4 MiB budget; `ask`: whether each add asks if
 * it replaced one.  Returns how many said so. */
static unsigned build_dups(const char *dir, int ask)
{
    quire_writer_options opt = {.mem_budget = (size_t)4 << 20, .threads = 2};
    quire_writer *w = NULL;
    quire_error err;
    assert_int_equal(quire_writer_open(dir, &opt, &w, &err), QUIRE_OK);
    unsigned said = 0;
    for (unsigned d = 0; d < 29995; d++) {
        char id[32], body[96];
        int n = snprintf(id, sizeof id, "dup%u", d % 7 == 6 ? d - 3 : d);
        int m = snprintf(body, sizeof body, "every document w%u v%u", d, d * 31 % 977);
        quire_doc_input in = {.id = id, .id_len = (size_t)n, .body = body,
                              .body_len = (size_t)m};
        int replaced = -1;
        assert_int_equal(quire_writer_add(w, &in, ask ? &replaced : NULL, &err), QUIRE_OK);
        if (ask) said += replaced == 1;
    }
    assert_int_equal(quire_writer_commit(w, &err), QUIRE_OK);
    quire_writer_free(w);
    return said;
}

/* With lanes, an add that does not ask whether it replaced a document
 * has its id looked up when the next one comes (or at the commit): the
 * index is the same as when every add asks, and the later document wins. */
static void test_threads_dedupe_later(void **state)
{
    (void)state;
    char a[128], b[128], list[4096];
    snprintf(a, sizeof a, "%s/dupsA", tmp);
    snprintf(b, sizeof b, "%s/dupsB", tmp);
    assert_int_equal(build_dups(a, 0), 0);
    assert_int_equal(build_dups(b, 1), 4285);
    same_files(a, b, list, sizeof list);
    assert_true(count_files(a) > 3);   /* flushed at the budget */
    assert_int_equal(count(a, "every"), 29995 - 4285);
    assert_int_equal(count(a, "w6"), 1);      /* replaces w3 */
    assert_int_equal(count(a, "w3"), 0);
    assert_int_equal(count(a, "w29994"), 1);  /* the last add, looked up at the commit, */
    assert_int_equal(count(a, "w29991"), 0);  /* replaces w29991 */
    assert_int_equal(count(a, "w29993"), 1);
}

/* Lanes give their batch buffers back at each commit; documents added
 * after it go into new ones, and a replaced id is still found. */
static void test_threads_add_after_commit(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/twocommits", tmp);
    quire_writer_options opt = {.threads = 2};
    quire_writer *w = NULL;
    quire_error err;
    assert_int_equal(quire_writer_open(dir, &opt, &w, &err), QUIRE_OK);
    char id[32], body[64];
    for (int round = 0; round < 2; round++) {
        for (int d = 0; d < 5000; d++) {
            int n = snprintf(id, sizeof id, "doc%d", round == 0 ? d : d + 4000);
            int m = snprintf(body, sizeof body, "%s words %d", round ? "second" : "first", d);
            quire_doc_input in = {.id = id, .id_len = (size_t)n, .body = body,
                                  .body_len = (size_t)m};
            assert_int_equal(quire_writer_add(w, &in, NULL, &err), QUIRE_OK);
        }
        assert_int_equal(quire_writer_commit(w, &err), QUIRE_OK);
    }
    quire_writer_free(w);
    /* ids doc4000-doc4999 of the first round were replaced in the second */
    assert_int_equal(count(dir, "first"), 4000);
    assert_int_equal(count(dir, "second"), 5000);
    assert_int_equal(count(dir, "words"), 9000);
}

/* ---- queries ----------------------------------------------------------- */

static void test_malformed_queries(void **state)
{
    (void)state;
    char out[8192];
    char dir[128];
    snprintf(dir, sizeof dir, "%s/news", tmp);
    assert_int_equal(run(out, sizeof out, "%s search %s '(trump AND wikileaks'", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "column 1"));
    assert_int_equal(run(out, sizeof out, "%s search %s 'trump \"jr'", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "column 7"));
    assert_int_equal(run(out, sizeof out, "%s search %s 'trump AND'", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "column 7"));
    /* punctuation is never an operator */
    assert_int_equal(run(out, sizeof out, "%s search --count %s 'then-candidate'", QUIRE_CLI, dir), 0);
    assert_string_equal(out, "1\n");
    assert_int_equal(run(out, sizeof out, "%s search --count %s 'Alice & Bob'", QUIRE_CLI, dir), 0);
    assert_string_equal(out, "0\n");
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    uint64_t n;
    assert_int_equal(quire_count(ix, "a OR (b", 7, &n, &e), QUIRE_EQUERY);
    assert_int_equal(e.column, 6);
    quire_index_close(ix);
}

/* ---- damaged indexes ------------------------------------------------- */

static void copy_dir(const char *from, const char *to)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s", to, from, to);
    assert_int_equal(system(cmd), 0);
}

/* XORs the byte at `off` of the file with 0x5a. */
static void flip_byte(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

static void test_missing_and_corrupt_index(void **state)
{
    (void)state;
    char out[8192], src[128], dir[128], seg[256];
    snprintf(src, sizeof src, "%s/news", tmp);
    snprintf(dir, sizeof dir, "%s/damaged", tmp);
    assert_int_equal(run(out, sizeof out, "%s search %s/nothing-here x", QUIRE_CLI, tmp), 1);
    assert_non_null(strstr(out, "no index here"));
    assert_int_equal(run(out, sizeof out, "%s verify %s/nothing-here", QUIRE_CLI, tmp), 1);

    /* flip one byte in each region of the segment file: always detected */
    copy_dir(src, dir);
    snprintf(seg, sizeof seg, "%s/seg_000001.qseg", dir);
    struct stat st;
    assert_int_equal(stat(seg, &st), 0);
    for (off_t off = 0; off < st.st_size; off += 97) {
        copy_dir(src, dir);
        flip_byte(seg, (long)off);
        int rc = run(out, sizeof out, "%s search %s trump", QUIRE_CLI, dir);
        /* a flipped padding byte changes nothing a reader uses */
        if (rc == 0) continue;
        assert_int_equal(rc, 1);
        assert_true(strstr(out, "checksum") || strstr(out, "corrupt") || strstr(out, "truncated") ||
                    strstr(out, "not a Quire segment") || strstr(out, "out of bounds") ||
                    strstr(out, "version"));
        assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 1);
    }
    /* truncation at several lengths */
    for (off_t len = 0; len < st.st_size; len += st.st_size / 7 + 1) {
        copy_dir(src, dir);
        assert_int_equal(truncate(seg, len), 0);
        assert_int_equal(run(out, sizeof out, "%s search %s trump", QUIRE_CLI, dir), 1);
        assert_true(strstr(out, "truncated") || strstr(out, "empty file") ||
                    strstr(out, "not a Quire segment"));
    }
    /* a damaged or missing MANIFEST */
    copy_dir(src, dir);
    char man[256];
    snprintf(man, sizeof man, "%s/MANIFEST", dir);
    FILE *f = fopen(man, "r+b");
    fseek(f, 20, SEEK_SET);
    fputc('9', f);
    fclose(f);
    assert_int_equal(run(out, sizeof out, "%s search %s trump", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "MANIFEST: checksum mismatch"));
    copy_dir(src, dir);
    unlink(seg);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "seg_000001.qseg: No such file"));
}

/* Flips the byte in the middle of section `sec` of DIR/NAME. */
static void damage_section_of(const char *dir, const char *name, int sec)
{
    idx_segment *s;
    quire_error e;
    assert_int_equal(idx_segment_open(dir, name, SEG_VERIFY_NONE, &s, &e), QUIRE_OK);
    assert_true(s->sec_len[sec] > 0);
    long off = (long)(s->sec[sec] - s->m.data) + (long)(s->sec_len[sec] / 2);
    idx_segment_close(s);
    char seg[256];
    snprintf(seg, sizeof seg, "%s/%s", dir, name);
    flip_byte(seg, off);
}

static void damage_section(const char *dir, int sec)
{
    damage_section_of(dir, "seg_000001.qseg", sec);
}

/* A search checks the positions and the ids when it first reads them,
 * not at open: damaged positions fail the first phrase, not a term query;
 * damaged ids fail a writer (which reads them to replace documents), not
 * a search.  quire verify checks everything. */
static void test_lazy_checksums(void **state)
{
    (void)state;
    char out[8192], src[128], dir[128];
    snprintf(src, sizeof src, "%s/news", tmp);
    snprintf(dir, sizeof dir, "%s/lazy", tmp);
    quire_index *ix;
    quire_error e;
    uint64_t n;

    copy_dir(src, dir);
    damage_section(dir, SEC_POS);
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_count(ix, "trump", 5, &n, &e), QUIRE_OK);
    assert_int_equal(n, 1);
    const char *ph = "\"donald trump jr\"";
    assert_int_equal(quire_count(ix, ph, strlen(ph), &n, &e), QUIRE_ECORRUPT);
    assert_non_null(strstr(e.message, "corrupt positions in segment seg_000001.qseg"));
    quire_results *r;
    assert_int_equal(quire_search(ix, ph, strlen(ph), 10, &r, &e), QUIRE_ECORRUPT);
    quire_index_close(ix);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "checksum mismatch in section pos"));

    copy_dir(src, dir);
    damage_section(dir, SEC_IDS);
    assert_int_equal(run(out, sizeof out, "%s search --count %s '%s'", QUIRE_CLI, dir, ph), 0);
    assert_string_equal(out, "1\n");
    quire_writer *w;
    assert_int_equal(quire_writer_open(dir, NULL, &w, &e), QUIRE_ECORRUPT);
    assert_non_null(strstr(e.message, "checksum mismatch in section ids"));
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "checksum mismatch in section ids"));
}

/* ---- crash safety -------------------------------------------------------- */

/* A writer on dir with the default tokenizer and `threads` threads. */
static quire_writer *writer_at(const char *dir, uint32_t threads)
{
    quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT, .threads = threads};
    quire_writer *w = NULL;
    quire_error e;
    assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_OK);
    return w;
}

static void put_doc(quire_writer *w, const char *id, const char *body)
{
    quire_error e;
    quire_doc_input d = {id, strlen(id), "", 0, body, strlen(body), NULL, 0};
    assert_int_equal(quire_writer_add(w, &d, NULL, &e), QUIRE_OK);
}

static void add_n(quire_writer *w, int from, int n, const char *word)
{
    for (int i = from; i < from + n; i++) {
        char id[32], body[128];
        snprintf(id, sizeof id, "doc%d", i);
        snprintf(body, sizeof body, "%s number %d with some filler words %d", word, i, i * 7);
        put_doc(w, id, body);
    }
}

static int count_files(const char *dir)
{
    char out[256];
    run(out, sizeof out, "ls -A %s | wc -l", dir);
    return atoi(out);
}

static void test_killed_build_keeps_last_commit(void **state)
{
    (void)state;
    char dir[128], out[4096];
    snprintf(dir, sizeof dir, "%s/crash", tmp);
    quire_writer *w;
    quire_error e;
    quire_writer_options opt = {.mem_budget = 64 << 10, .tok_flags = QUIRE_TOK_DEFAULT,
                                 .threads = 1};
    assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_OK);
    add_n(w, 0, 500, "committed");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    int files = count_files(dir);

    /* a child adds many documents (flushing segments) and is killed */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        quire_writer *cw;
        if (quire_writer_open(dir, &opt, &cw, &e) != QUIRE_OK) _exit(3);
        add_n(cw, 500, 20000, "uncommitted");
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFSIGNALED(st));
    assert_true(count_files(dir) > files); /* it did leave segment files */
    assert_int_equal(count(dir, "committed"), 500);
    assert_int_equal(count(dir, "uncommitted"), 0);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 0);
    /* the next writer clears the orphans, and work goes on */
    assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_OK);
    assert_int_equal(count_files(dir), files);
    add_n(w, 500, 10, "later");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    assert_int_equal(count(dir, "committed OR later"), 510);

    /* a second writer on the same directory is refused while one is open */
    assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_OK);
    quire_writer *w2;
    assert_int_equal(quire_writer_open(dir, &opt, &w2, &e), QUIRE_ELOCKED);
    quire_writer_free(w);
}

/* A MANIFEST older than the segments (restored from a backup) names
 * segments merged away since: a writer refuses to open, naming the
 * missing file, and removes nothing; the current MANIFEST put back, the
 * index is whole; and quire rebuild makes it whole from the segment
 * files.  (Orphans were removed before the named segments were opened:
 * such a writer deleted the segment holding the index.) */
static void test_stale_manifest_keeps_segments(void **state)
{
    (void)state;
    char dir[128], man[256], old[512], cur[512], seg[256];
    snprintf(dir, sizeof dir, "%s/stale", tmp);
    snprintf(man, sizeof man, "%s/MANIFEST", dir);
    quire_error e;
    quire_writer *w = writer_at(dir, 1);
    add_n(w, 0, 20, "alpha");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    size_t old_len = read_whole(man, old, sizeof old);
    add_n(w, 20, 20, "alpha");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    assert_int_equal(quire_writer_optimize(w, &e), QUIRE_OK);
    quire_writer_free(w);
    size_t cur_len = read_whole(man, cur, sizeof cur);
    snprintf(seg, sizeof seg, "%s/seg_000003.qseg", dir);
    struct stat st;
    assert_int_equal(stat(seg, &st), 0);
    assert_int_equal(count_files(dir), 3);   /* LOCK, MANIFEST, the merged segment */

    write_file(man, old, old_len);
    for (uint32_t threads = 1; threads <= 2; threads++) {
        quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT, .threads = threads};
        w = NULL;
        assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_ECORRUPT);
        assert_null(w);
        assert_non_null(strstr(e.message, "seg_000001.qseg: No such file or directory (the "
                                          "MANIFEST names it)"));
        assert_int_equal(stat(seg, &st), 0);
    }
    char out[4096];
    assert_int_equal(run(out, sizeof out, "%s delete %s d1", QUIRE_CLI, dir), 1);
    assert_int_equal(stat(seg, &st), 0);
    write_file(man, cur, cur_len);
    assert_int_equal(count(dir, "alpha"), 40);
    /* quire verify's advice, quire rebuild, reads the segment files found,
     * as for an unreadable MANIFEST (so publishing needs --salvage): it
     * had read the stale one's (none), and, with --salvage, published no
     * documents and removed the segment holding them */
    write_file(man, old, old_len);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "quire rebuild"));
    assert_int_equal(run(out, sizeof out, "%s rebuild %s", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "MANIFEST: names segment files not there; reading the 1 segment "
                                "files"));
    assert_int_equal(stat(seg, &st), 0);
    assert_int_equal(run(out, sizeof out, "%s rebuild --salvage %s", QUIRE_CLI, dir), 0);
    assert_non_null(strstr(out, "rebuilt 40 documents from 1 segment files"));
    assert_int_equal(count(dir, "alpha"), 40);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 0);
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Commits and closes the writer after `ms`: the first writer of
 * test_writer_lock_wait, while the second waits for it. */
typedef struct closer {
    quire_writer *w;
    unsigned ms;
    int rc;
} closer;

static void *close_later(void *p)
{
    closer *c = p;
    quire_error e;
    usleep(c->ms * 1000);
    c->rc = quire_writer_commit(c->w, &e);
    quire_writer_free(c->w);
    return NULL;
}

/* A second writer fails at once by default, fails after lock_wait_ms (or
 * the CLI's --wait) while the first stays open, and goes ahead once the
 * first closes within it: in this process or another. */
static void test_writer_lock_wait(void **state)
{
    (void)state;
    char dir[128], in[160], out[4096];
    snprintf(dir, sizeof dir, "%s/lockwait", tmp);
    snprintf(in, sizeof in, "%s/lockwait.jsonl", tmp);
    const char *doc = "{\"id\":\"cli1\",\"title\":\"\",\"body\":\"waited for the lock\"}\n";
    write_file(in, doc, strlen(doc));
    quire_writer *w, *w2;
    quire_error e;
    quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT, .threads = 1};
    assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_OK);
    add_n(w, 0, 10, "first");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK); /* optimize wants an index */
    add_n(w, 20, 2, "fourth");

    /* held for longer than the second writer waits */
    assert_int_equal(quire_writer_open(dir, &opt, &w2, &e), QUIRE_ELOCKED);
    assert_null(strstr(e.message, "waited"));
    quire_writer_options wait = opt;
    wait.lock_wait_ms = 40;
    double t0 = mono_ms();
    assert_int_equal(quire_writer_open(dir, &wait, &w2, &e), QUIRE_ELOCKED);
    assert_true(mono_ms() - t0 >= 40);
    assert_non_null(strstr(e.message, "another writer has the index open (waited "));
    assert_int_equal(run(out, sizeof out, "%s index --threads 1 %s %s", QUIRE_CLI, dir, in), 1);
    assert_non_null(strstr(out, "another writer has the index open"));
    assert_int_equal(run(out, sizeof out, "%s index --wait 0.05 --threads 1 %s %s", QUIRE_CLI,
                         dir, in), 1);
    assert_non_null(strstr(out, "another writer has the index open (waited "));
    assert_int_equal(run(out, sizeof out, "%s optimize --wait 0.05 %s", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "(waited "));
    assert_int_equal(run(out, sizeof out, "%s index --wait -1 %s %s", QUIRE_CLI, dir, in), 2);
    assert_non_null(strstr(out, "--wait: '-1' is not a number of seconds"));

    /* released while the second waits: it goes on from the first's commit */
    closer c = {w, 100, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, close_later, &c), 0);
    wait.lock_wait_ms = QUIRE_WAIT_FOREVER;
    assert_int_equal(quire_writer_open(dir, &wait, &w2, &e), QUIRE_OK);
    pthread_join(th, NULL);
    assert_int_equal(c.rc, QUIRE_OK);
    add_n(w2, 10, 5, "second");
    assert_int_equal(quire_writer_commit(w2, &e), QUIRE_OK);
    quire_writer_free(w2);

    /* the CLI waits for a writer in another process */
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        quire_writer *cw;
        if (quire_writer_open(dir, &opt, &cw, &e) != QUIRE_OK) _exit(3);
        add_n(cw, 15, 3, "third");
        if (write(ready[1], "x", 1) != 1) _exit(4);
        usleep(150 * 1000);
        if (quire_writer_commit(cw, &e) != QUIRE_OK) _exit(5);
        quire_writer_free(cw);
        _exit(0);
    }
    close(ready[1]);
    char x;
    assert_int_equal(read(ready[0], &x, 1), 1);
    close(ready[0]);
    assert_int_equal(run(out, sizeof out, "%s index --wait 30 --threads 1 %s %s", QUIRE_CLI, dir,
                         in), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(count(dir, "third"), 3);
    assert_int_equal(count(dir, "first"), 10);
    assert_int_equal(count(dir, "fourth"), 2);
    assert_int_equal(count(dir, "second"), 5);
    assert_int_equal(count(dir, "waited"), 1);
}

/* A disk that fills up (the child may write at most 16 KiB per file)
 * while `threads` lanes build: the add or the commit that meets it fails
 * with the write's error, and the last commit stays whole.  With two
 * lanes and a 1 MiB budget, segments are flushed at the budget before the
 * commit too (of about 28 KiB each: at 64 KiB a file, none met the
 * limit), and a lane that fails must not leave the other waiting. */
static void full_disk(uint32_t threads)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/full%u", tmp, threads);
    quire_writer *w;
    quire_error e;
    quire_writer_options opt = {.mem_budget = threads > 1 ? (size_t)1 << 20 : 0,
                                .threads = threads};
    assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_OK);
    add_n(w, 0, 100, "before");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {16 << 10, 16 << 10};
        setrlimit(RLIMIT_FSIZE, &rl);
        if (quire_writer_open(dir, &opt, &w, &e) != QUIRE_OK) _exit(3);
        int rc = QUIRE_OK;
        for (int i = 100; i < 20100 && !rc; i++) {
            char id[32], body[128];
            snprintf(id, sizeof id, "doc%d", i);
            snprintf(body, sizeof body, "after number %d with some filler words %d", i, i * 7);
            quire_doc_input d = {id, strlen(id), "", 0, body, strlen(body), NULL, 0};
            rc = quire_writer_add(w, &d, NULL, &e);
        }
        if (!rc) rc = quire_writer_commit(w, &e);
        quire_writer_free(w);
        if (rc == QUIRE_EIO && strstr(e.message, "File too large")) _exit(0);
        _exit(5);
    }
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(count(dir, "before"), 100);
    assert_int_equal(count(dir, "after"), 0);
}

static void test_full_disk(void **state)
{
    (void)state;
    full_disk(1);
    full_disk(2);
}

/* ---- several builder threads ------------------------------------------ */

typedef struct hitset { size_t n; char ids[50][64]; double scores[50]; } hitset;

static void top_ids(const char *dir, const char *q, hitset *out)
{
    quire_index *ix;
    quire_error e;
    quire_results *r;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_search(ix, q, strlen(q), 50, &r, &e), QUIRE_OK);
    out->n = quire_results_size(r);
    for (size_t i = 0; i < out->n; i++) {
        const quire_hit *h = quire_results_get(r, i);
        quire_doc *d;
        assert_int_equal(quire_doc_get(ix, h->doc, &d, &e), QUIRE_OK);
        const char *id;
        size_t len;
        quire_doc_field(d, "id", &id, &len);
        snprintf(out->ids[i], sizeof out->ids[i], "%.*s", (int)len, id);
        out->scores[i] = h->score;
        quire_doc_free(d);
    }
    quire_results_free(r);
    quire_index_close(ix);
}

static void build_moby(const char *dir, uint32_t threads, size_t mem)
{
    /* the sample twice with every 7th document given again later: the
     * later copy of an id must win whichever thread builds it */
    char path[512];
    snprintf(path, sizeof path, "%s/corpus/moby-sample.jsonl", QUIRE_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    quire_writer *w;
    quire_error e;
    quire_writer_options opt = {.mem_budget = mem, .tok_flags = QUIRE_TOK_DEFAULT,
                                 .threads = threads};
    assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_OK);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int i = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        /* the id and body are enough here; take them crudely from the line */
        char *id = strstr(line, "\"id\": \"") + 7;
        char *ide = strchr(id, '"');
        char *body = strstr(line, "\"body\": \"") + 9;
        quire_doc_input d = {id, (size_t)(ide - id), "", 0, body, strlen(body), NULL, 0};
        assert_int_equal(quire_writer_add(w, &d, NULL, &e), QUIRE_OK);
        if (i++ % 7 == 0) {
            char again[64];
            snprintf(again, sizeof again, "%.*s", (int)(ide - id), id);
            quire_doc_input d2 = {again, strlen(again), "", 0, "replacement text whale", 22, NULL, 0};
            assert_int_equal(quire_writer_add(w, &d2, NULL, &e), QUIRE_OK);
        }
    }
    free(line);
    fclose(f);
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
}

static void test_threads_same_results(void **state)
{
    (void)state;
    char d1[128], d3[128], d3b[128], out[4096];
    snprintf(d1, sizeof d1, "%s/t1", tmp);
    snprintf(d3, sizeof d3, "%s/t3", tmp);
    snprintf(d3b, sizeof d3b, "%s/t3b", tmp);
    build_moby(d1, 1, 0);
    build_moby(d3, 3, 96 << 10);
    build_moby(d3b, 3, 96 << 10);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, d3), 0);
    static const char *queries[] = {
        "whale", "replacement", "\"replacement text\"", "ship OR sea", "ahab -whale",
        "\"the whale\"", "queequeg harpooneer", "(call OR me) ishmael",
    };
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        uint64_t c1 = count(d1, queries[q]);
        assert_int_equal(count(d3, queries[q]), c1);
        /* statistics are the same, so scores are; ids may tie differently
         * only on equal scores */
        hitset a, b, c;
        top_ids(d1, queries[q], &a);
        top_ids(d3, queries[q], &b);
        top_ids(d3b, queries[q], &c);
        assert_int_equal(a.n, b.n);
        for (size_t i = 0; i < a.n; i++) {
            assert_true(fabs(a.scores[i] - b.scores[i]) < 1e-9);
            /* the same input gives the same index on every run */
            assert_string_equal(b.ids[i], c.ids[i]);
        }
    }
    assert_int_equal(count(d1, "replacement"), 58);
}

/* A budget a few times a builder's fixed memory (the CommonGrams pair
 * cache is 3 MiB) still gathers many documents per segment: when the
 * builder's arrays started at 2 MiB each, every document made a segment. */
static void test_small_budget_segments(void **state)
{
    (void)state;
    char d[128], out[4096];
    snprintf(d, sizeof d, "%s/small", tmp);
    assert_int_equal(run(out, sizeof out, "%s index --threads 2 --mem 8M %s %s/corpus/moby-sample.jsonl",
                         QUIRE_CLI, d, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, d), 0);
    assert_non_null(strstr(out, "segments          1\n"));
    assert_non_null(strstr(out, "documents         400 (+0 deleted)"));
}

static int nsegs(const char *dir)
{
    char out[64];
    assert_int_equal(run(out, sizeof out, "ls %s | grep -c '\\.qseg$'", dir), 0);
    return atoi(out);
}

/* One small commit of add_n's documents. */
static void commit_docs(quire_writer *w, int from, int n, const char *word)
{
    quire_error e;
    add_n(w, from, n, word);
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
}

/* Commits of a few documents each leave a segment each; the tenth small
 * segment in a row merges the ten (all below the 2 MiB floor: one
 * level), and the merged one takes part in the next run of ten. */
static void test_merge_policy_small_commits(void **state)
{
    (void)state;
    char d[128];
    snprintf(d, sizeof d, "%s/incr", tmp);
    quire_writer *w = writer_at(d, 1);
    static const int expect[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1,   /* s1..s10 merged */
                                 2, 3, 4, 5, 6, 7, 8, 9, 1,      /* M1 + s11..s19 */
                                 2, 3};
    for (int c = 0; c < 21; c++) {
        /* commit 5 replaces the documents of commit 1: the merge drops them */
        commit_docs(w, c == 4 ? 0 : 3 * c, 3, c == 4 ? "replaced" : "original");
        assert_int_equal(nsegs(d), expect[c]);
    }
    quire_writer_free(w);
    assert_int_equal(count(d, "original"), 3 * 21 - 3 - 3);
    assert_int_equal(count(d, "replaced"), 3);
    assert_int_equal(count(d, "number"), 3 * 20);
    char out[4096];
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, d), 0);
    assert_non_null(strstr(out, "documents         60 (+0 deleted)"));
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, d), 0);
    /* another session goes on from the same state */
    w = writer_at(d, 1);
    commit_docs(w, 100, 2, "later");
    quire_writer_free(w);
    assert_int_equal(nsegs(d), 4);
    assert_int_equal(count(d, "number"), 62);
}

/* A segment of a larger level is not merged with the small ones after
 * it; and a commit that adds several segments (flushed at the budget)
 * merges nothing, however many there are; the next small commit does. */
static void test_merge_policy_levels_and_bulk(void **state)
{
    (void)state;
    char d[128], path[256];
    snprintf(d, sizeof d, "%s/levels", tmp);
    quire_writer *w = writer_at(d, 1);
    quire_error e;
    /* 3 MB of words that hardly repeat: a segment past the 2 MiB floor */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 12000; i++) {
        char id[32], body[300];
        size_t n = 0;
        for (int k = 0; k < 16; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            n += (size_t)snprintf(body + n, sizeof body - n, "w%012llx ",
                                  (unsigned long long)(x & 0xffffffffffffull));
        }
        snprintf(id, sizeof id, "big%d", i);
        quire_doc_input doc = {id, strlen(id), "", 0, body, n, NULL, 0};
        assert_int_equal(quire_writer_add(w, &doc, NULL, &e), QUIRE_OK);
    }
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    snprintf(path, sizeof path, "%s/seg_000001.qseg", d);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size >= (2 << 20) && st.st_size < (20 << 20));
    for (int c = 0; c < 9; c++) commit_docs(w, 3 * c, 3, "small");
    assert_int_equal(nsegs(d), 10);   /* one level up and nine small ones */
    commit_docs(w, 27, 3, "small");
    assert_int_equal(nsegs(d), 2);    /* the ten small ones merged */
    assert_int_equal(stat(path, &st), 0);
    quire_writer_free(w);
    assert_int_equal(count(d, "small"), 30);

    /* a bulk commit of many segments */
    snprintf(d, sizeof d, "%s/bulk", tmp);
    quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT, .threads = 1,
                                .mem_budget = 64 << 10};
    assert_int_equal(quire_writer_open(d, &opt, &w, &e), QUIRE_OK);
    add_n(w, 0, 3000, "bulk");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    int bulk = nsegs(d);
    assert_true(bulk > 20);
    /* then a small commit: the ten newest segments merge (all are of the
     * lowest level), then the ten newest again, while there are ten */
    commit_docs(w, 5000, 1, "small");
    int left = bulk + 1;
    while (left >= 10) left -= 9;
    assert_int_equal(nsegs(d), left);
    quire_writer_free(w);
    assert_int_equal(count(d, "bulk"), 3000);
    assert_int_equal(count(d, "small"), 1);
}

/* `comput*`: every term that starts with "comput", across segments, as
 * if they were one term (its documents, the sum of their frequencies, one
 * idf); in NOT and OR like any term; highlighted in snippets. */
static void test_prefix_queries(void **state)
{
    (void)state;
    char d[128], out[4096];
    snprintf(d, sizeof d, "%s/prefix", tmp);
    quire_writer *w = writer_at(d, 1);
    quire_error e;
    put_doc(w, "d1", "computer science");
    put_doc(w, "d2", "computing computing power");
    put_doc(w, "d3", "compute the sum");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    put_doc(w, "d4", "commute home");
    put_doc(w, "d5", "comp time");
    put_doc(w, "d6", "a computer");
    put_doc(w, "d7", "recompute nothing");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    assert_int_equal(nsegs(d), 2);
    assert_int_equal(count(d, "comput*"), 4);
    assert_int_equal(count(d, "computer OR computing OR compute"), 4);
    assert_int_equal(count(d, "comp*"), 5);
    assert_int_equal(count(d, "com*"), 6);
    assert_int_equal(count(d, "Comput*"), 4);
    assert_int_equal(count(d, "commute OR comput*"), 5);
    assert_int_equal(count(d, "power -comput*"), 0);
    assert_int_equal(count(d, "home -comput*"), 1);
    assert_int_equal(count(d, "comput* science"), 1);
    assert_int_equal(count(d, "zzz*"), 0);
    assert_int_equal(count(d, "\"comput*\""), 0);   /* in a phrase, '*' is punctuation */

    /* d2 has two of the terms; d1 and d6 are shorter than d3 */
    quire_index *ix;
    quire_results *r;
    assert_int_equal(quire_index_open(d, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_search(ix, "comput*", 7, 10, &r, &e), QUIRE_OK);
    static const char *order[] = {"d2", "d1", "d6", "d3"};
    assert_int_equal(quire_results_size(r), 4);
    for (size_t i = 0; i < 4; i++) {
        quire_doc *doc;
        const char *v;
        size_t vl;
        assert_int_equal(quire_doc_get(ix, quire_results_get(r, i)->doc, &doc, &e), QUIRE_OK);
        assert_int_equal(quire_doc_field(doc, "id", &v, &vl), QUIRE_OK);
        assert_int_equal(vl, 2);
        assert_memory_equal(v, order[i], 2);
        quire_doc_free(doc);
    }
    assert_true(quire_results_get(r, 1)->score == quire_results_get(r, 2)->score);
    assert_true(quire_results_get(r, 0)->score > quire_results_get(r, 1)->score);
    assert_true(quire_results_get(r, 2)->score > quire_results_get(r, 3)->score);
    char snip[256];
    assert_int_equal(quire_snippet(ix, quire_results_get(r, 0)->doc, "comput*", 7, "[", "]",
                                   200, snip, sizeof snip, &e), QUIRE_OK);
    assert_string_equal(snip, "[computing] [computing] power");
    quire_results_free(r);
    quire_index_close(ix);

    /* a replaced document leaves the prefix's documents */
    put_doc(w, "d3", "nothing here");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    assert_int_equal(run(out, sizeof out, "%s search --count %s 'comput*'", QUIRE_CLI, d), 0);
    assert_string_equal(out, "3\n");
}

/* `whale~1`: every term within one edit of "whale", across segments, as
 * if they were one term; in NOT, AND and OR like any term; highlighted
 * in snippets. */
static void test_fuzzy_queries(void **state)
{
    (void)state;
    char d[128], out[4096];
    snprintf(d, sizeof d, "%s/fuzzy", tmp);
    quire_writer *w = writer_at(d, 1);
    quire_error e;
    put_doc(w, "d1", "whale ship");
    put_doc(w, "d2", "whales whales sea");
    put_doc(w, "d3", "wale harbour");
    put_doc(w, "d4", "hwale");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    put_doc(w, "d5", "while waiting");
    put_doc(w, "d6", "wheel rock");    /* two edits: a -> e, then le -> el */
    put_doc(w, "d7", "whaling");       /* three */
    put_doc(w, "d8", "orca");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    assert_int_equal(nsegs(d), 2);
    assert_int_equal(count(d, "whale~1"), 5);
    assert_int_equal(count(d, "whale OR whales OR wale OR hwale OR while"), 5);
    assert_int_equal(count(d, "whale~"), 5);     /* five letters: one edit */
    assert_int_equal(count(d, "WHALE~1"), 5);
    assert_int_equal(count(d, "whale~2"), 6);
    assert_int_equal(count(d, "whale~5"), 6);    /* at most two */
    assert_int_equal(count(d, "whale~0"), 1);
    assert_int_equal(count(d, "whaling~2"), 1);
    assert_int_equal(count(d, "orca OR whale~1"), 6);
    assert_int_equal(count(d, "whale~1 sea"), 1);
    assert_int_equal(count(d, "ship -whale~1"), 0);
    assert_int_equal(count(d, "rock -whale~1"), 1);
    assert_int_equal(count(d, "rock -whale~2"), 0);
    assert_int_equal(count(d, "zzzzzzz~2"), 0);
    assert_int_equal(count(d, "\"whale~1\""), 0);   /* in a phrase, "whale 1" */

    /* one term, its neighbours weighed by their distance (query.h): of d1,
     * d3 and d5 (two words each, tf 1), whale itself counts 1 in d1, and
     * wale and while 1 - 1/6 in d3 and d5, which tie */
    quire_index *ix;
    quire_results *r;
    assert_int_equal(quire_index_open(d, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_search(ix, "whale~1", 7, 10, &r, &e), QUIRE_OK);
    assert_int_equal(quire_results_size(r), 5);
    double s1 = -1, s3 = -1, s5 = -1;
    for (size_t i = 0; i < 5; i++) {
        quire_doc *doc;
        const char *v;
        size_t vl;
        assert_int_equal(quire_doc_get(ix, quire_results_get(r, i)->doc, &doc, &e), QUIRE_OK);
        assert_int_equal(quire_doc_field(doc, "id", &v, &vl), QUIRE_OK);
        double sc = quire_results_get(r, i)->score;
        if (!memcmp(v, "d1", 2)) s1 = sc;
        if (!memcmp(v, "d3", 2)) s3 = sc;
        if (!memcmp(v, "d5", 2)) s5 = sc;
        quire_doc_free(doc);
    }
    assert_true(s1 > s3 && s3 > 0 && s3 == s5);
    /* BM25's saturation of 5/6 (a float: QUERY.md) against 1 at the same
     * length: 14 words in 8 documents, k1 1.2, b 0.75 */
    double norm = 1.2 * (0.25 + 0.75 * 2 / (14.0 / 8)), w56 = (float)(5.0 / 6);
    double want = (w56 / (w56 + norm)) / (1 / (1 + norm));
    if (fabs(s3 / s1 - want) > 1e-12) fail_msg("s3 / s1 = %.15f, want %.15f", s3 / s1, want);
    quire_results_free(r);
    assert_int_equal(quire_search(ix, "whale~1 sea", 11, 10, &r, &e), QUIRE_OK);
    assert_int_equal(quire_results_size(r), 1);
    char snip[256];
    assert_int_equal(quire_snippet(ix, quire_results_get(r, 0)->doc, "whale~1", 7, "[", "]",
                                   200, snip, sizeof snip, &e), QUIRE_OK);
    assert_string_equal(snip, "[whales] [whales] sea");
    quire_results_free(r);
    quire_index_close(ix);

    /* a replaced document leaves the fuzzy term's documents */
    put_doc(w, "d5", "nothing here");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    assert_int_equal(run(out, sizeof out, "%s search --count %s 'whale~1'", QUIRE_CLI, d), 0);
    assert_string_equal(out, "4\n");
    assert_int_equal(run(out, sizeof out, "%s search %s 'wale~1 harbour'", QUIRE_CLI, d), 0);
    assert_non_null(strstr(out, "[wale] [harbour]"));
}

static int del(quire_writer *w, const char *id)
{
    quire_error e;
    int found = -1;
    assert_int_equal(quire_writer_delete(w, id, strlen(id), &found, &e), QUIRE_OK);
    return found;
}

static int add_replacing(quire_writer *w, const char *id, const char *body)
{
    quire_error e;
    int replaced = -1;
    quire_doc_input d = {id, strlen(id), "", 0, body, strlen(body), NULL, 0};
    assert_int_equal(quire_writer_add(w, &d, &replaced, &e), QUIRE_OK);
    return replaced;
}

/* quire_writer_delete: committed documents and documents of the session,
 * at the commit; deleting twice, deleting what is not there, adding an id
 * again after its delete; with lanes, where the last document added waits
 * for its deduplication; the CLI. */
static void test_delete(void **state)
{
    (void)state;
    char d[128], out[4096];
    snprintf(d, sizeof d, "%s/delete", tmp);
    quire_writer *w = writer_at(d, 1);
    quire_error e;
    put_doc(w, "d1", "apple one");
    put_doc(w, "d2", "apple two");
    put_doc(w, "d3", "apple three");
    put_doc(w, "d4", "apple four");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    assert_int_equal(del(w, "d2"), 1);
    assert_int_equal(del(w, "d2"), 0);
    assert_int_equal(del(w, "zz"), 0);
    assert_int_equal(quire_writer_delete(w, "", 0, NULL, &e), QUIRE_EARG);
    assert_int_equal(count(d, "apple"), 4);        /* not before the commit */
    put_doc(w, "d5", "apple five");
    assert_int_equal(del(w, "d5"), 1);             /* added in this session */
    assert_int_equal(add_replacing(w, "d1", "apple uno"), 1);
    assert_int_equal(del(w, "d1"), 1);             /* the replacement */
    assert_int_equal(add_replacing(w, "d1", "apple eins"), 0);
    assert_int_equal(del(w, "d3"), 1);             /* committed */
    assert_int_equal(add_replacing(w, "d3", "apple tres"), 0);
    assert_int_equal(add_replacing(w, "d3", "apple trois"), 1);
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    assert_int_equal(count(d, "apple"), 3);        /* d1, d3, d4 */
    assert_int_equal(count(d, "two OR five OR one OR uno OR three OR tres"), 0);
    assert_int_equal(count(d, "eins"), 1);
    assert_int_equal(count(d, "trois"), 1);
    assert_int_equal(del(w, "d4"), 1);
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    assert_int_equal(count(d, "apple"), 2);
    assert_int_equal(quire_writer_optimize(w, &e), QUIRE_OK);
    quire_writer_free(w);
    quire_index *ix;
    quire_stats st;
    assert_int_equal(quire_index_open(d, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_index_stats(ix, &st, &e), QUIRE_OK);
    assert_int_equal(st.docs, 2);
    assert_int_equal(st.deleted_docs, 0);          /* merged away */
    quire_index_close(ix);

    /* lanes: batches still queued, and the document added just before */
    char d2[128];
    snprintf(d2, sizeof d2, "%s/delete2", tmp);
    w = writer_at(d2, 2);
    add_n(w, 0, 3000, "pear");
    assert_int_equal(del(w, "doc2999"), 1);        /* its dedupe was put off */
    assert_int_equal(del(w, "doc7"), 1);
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    add_n(w, 3000, 10, "pear");
    assert_int_equal(del(w, "doc100"), 1);
    assert_int_equal(del(w, "doc3009"), 1);
    put_doc(w, "doc7", "pear again");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    assert_int_equal(count(d2, "pear"), 3007);
    assert_int_equal(count(d2, "2999 OR 100 OR 3009"), 0);
    assert_int_equal(count(d2, "pear again"), 1);

    /* the CLI commits once, and says what it did not find */
    assert_int_equal(run(out, sizeof out, "%s delete %s doc1 nope doc2", QUIRE_CLI, d2), 0);
    assert_non_null(strstr(out, "no document with id nope"));
    assert_non_null(strstr(out, "deleted 2 of 3 documents"));
    assert_int_equal(count(d2, "pear"), 3005);
    assert_int_not_equal(run(out, sizeof out, "%s delete %s/none doc1", QUIRE_CLI, tmp), 0);
    assert_int_equal(run(out, sizeof out, "%s delete %s", QUIRE_CLI, d2), 2);
}

static size_t suggest(quire_index *ix, const char *q, const char *want)
{
    char buf[256];
    size_t n = 99;
    quire_error e;
    assert_int_equal(quire_suggest(ix, q, strlen(q), "[", "]", buf, sizeof buf, &n, &e),
                     QUIRE_OK);
    assert_string_equal(buf, want);
    return n;
}

/* quire_suggest: words in no document replaced by the nearest term, then
 * the one in most documents, then the first bytewise; never a query
 * without hits; excluded, prefix and fuzzy words, and words of two
 * characters, left alone; the CLI offers it when nothing matched. */
static void test_suggest(void **state)
{
    (void)state;
    char d[128], out[4096];
    snprintf(d, sizeof d, "%s/suggest", tmp);
    quire_writer *w = writer_at(d, 1);
    quire_error e;
    put_doc(w, "d1", "whale ship shipmaxx");
    put_doc(w, "d2", "whale sea shipmaxx bar");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    put_doc(w, "d3", "whale orca shipmaxx bat");
    put_doc(w, "d4", "whalz shipmatz");
    put_doc(w, "d5", "ship");
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    quire_index *ix;
    assert_int_equal(quire_index_open(d, &ix, &e), QUIRE_OK);
    assert_int_equal(suggest(ix, "whael ship", "[whale] ship"), 1);       /* a swap */
    assert_int_equal(suggest(ix, "Whael  OR orka", "[whale]  OR [orca]"), 2);
    assert_int_equal(suggest(ix, "\"whael ship\"", "\"[whale] ship\""), 1);
    assert_int_equal(suggest(ix, "whalx", "[whale]"), 1);    /* df 3 against whalz's 1 */
    assert_int_equal(suggest(ix, "bax", "[bar]"), 1);        /* bar, bat: df 1, bytewise */
    assert_int_equal(suggest(ix, "shipmate", "[shipmatz]"), 1);  /* 1 edit beats df 3 */
    assert_int_equal(suggest(ix, "whale ship", ""), 0);     /* nothing to replace */
    assert_int_equal(suggest(ix, "ship -whael", ""), 0);    /* excluded: left alone */
    assert_int_equal(suggest(ix, "whael sea orca", ""), 0); /* would match nothing */
    assert_int_equal(suggest(ix, "shp", "[ship]"), 1);      /* an insertion */
    assert_int_equal(suggest(ix, "xyz", ""), 0);            /* no term 1 edit away */
    assert_int_equal(suggest(ix, "wh", ""), 0);             /* too short */
    assert_int_equal(suggest(ix, "whalx~1", ""), 0);
    assert_int_equal(suggest(ix, "whal* whael", "whal* [whale]"), 1);
    assert_int_equal(suggest(ix, "whalx* whael", ""), 0);   /* the prefix matches nothing */
    size_t n;
    char small[6];
    assert_int_equal(quire_suggest(ix, "whael ship", 10, "", "", small, sizeof small, &n, &e),
                     QUIRE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(small, "whale");                    /* truncated */
    assert_int_equal(quire_suggest(ix, "whael (", 7, "", "", small, sizeof small, &n, &e),
                     QUIRE_EQUERY);
    quire_index_close(ix);
    assert_int_equal(run(out, sizeof out, "%s search %s 'whael ship'", QUIRE_CLI, d), 0);
    assert_string_equal(out, "no matches\ndid you mean: [whale] ship\n");
    assert_int_equal(run(out, sizeof out, "%s search %s 'whael orca sea'", QUIRE_CLI, d), 0);
    assert_string_equal(out, "no matches\n");
}

/* quire_highlight: the spans snippets mark, as byte offsets into any
 * stored field; none kept by a contentless index. */
static void test_highlight(void **state)
{
    (void)state;
    char d[128], bare[128];
    snprintf(d, sizeof d, "%s/highlight", tmp);
    snprintf(bare, sizeof bare, "%s/highlight-bare", tmp);
    for (int contentless = 0; contentless < 2; contentless++) {
        quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT, .threads = 1,
                                    .contentless = contentless};
        quire_writer *w;
        quire_error e;
        assert_int_equal(quire_writer_open(contentless ? bare : d, &opt, &w, &e), QUIRE_OK);
        const char *body = "The Sperm Whale's head; the Right Whale, a sperm whale.";
        quire_field extra = {"note", 4, "whale oil", 9};
        quire_doc_input in = {"h1", 2, "Sperm whales", 12, body, strlen(body), &extra, 1};
        assert_int_equal(quire_writer_add(w, &in, NULL, &e), QUIRE_OK);
        assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
        quire_writer_free(w);
    }
    quire_index *ix;
    quire_error e;
    quire_span sp[8];
    size_t n;
    assert_int_equal(quire_index_open(d, &ix, &e), QUIRE_OK);
    const char *q = "\"sperm whale\" OR head";
    assert_int_equal(quire_highlight(ix, 0, q, strlen(q), "body", sp, 8, &n, &e), QUIRE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(sp[0].start, 4);     /* "Sperm Whale", not the Right Whale */
    assert_int_equal(sp[0].end, 15);
    assert_int_equal(sp[1].start, 18);    /* head */
    assert_int_equal(sp[1].end, 22);
    assert_int_equal(sp[2].start, 43);    /* "sperm whale" */
    assert_int_equal(sp[2].end, 54);
    assert_int_equal(quire_highlight(ix, 0, q, strlen(q), "body", sp, 1, &n, &e), QUIRE_OK);
    assert_int_equal(n, 3);               /* counted past cap */
    assert_int_equal(quire_highlight(ix, 0, q, strlen(q), "body", NULL, 0, &n, &e), QUIRE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(quire_highlight(ix, 0, "whal*", 5, "title", sp, 8, &n, &e), QUIRE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sp[0].start, 6);     /* "whales" */
    assert_int_equal(sp[0].end, 12);
    assert_int_equal(quire_highlight(ix, 0, "whale -oil", 10, "note", sp, 8, &n, &e), QUIRE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sp[0].start, 0);
    assert_int_equal(sp[0].end, 5);
    assert_int_equal(quire_highlight(ix, 0, "whale", 5, "nope", sp, 8, &n, &e), QUIRE_ENOTFOUND);
    assert_int_equal(quire_highlight(ix, 0, "(whale", 6, "body", sp, 8, &n, &e), QUIRE_EQUERY);
    assert_int_equal(quire_highlight(ix, 7, "whale", 5, "body", sp, 8, &n, &e), QUIRE_ENOTFOUND);
    quire_index_close(ix);
    assert_int_equal(quire_index_open(bare, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_highlight(ix, 0, "whale", 5, "body", sp, 8, &n, &e), QUIRE_ENOTFOUND);
    assert_non_null(strstr(e.message, "keeps no field 'body'"));
    quire_index_close(ix);
}

static void test_optimize(void **state)
{
    (void)state;
    char d[128], out[4096];
    snprintf(d, sizeof d, "%s/opt", tmp);
    build_moby(d, 2, 64 << 10);
    static const char *queries[] = {
        "whale", "replacement", "\"replacement text\"", "ship OR sea", "ahab -whale",
        "\"the whale\"", "(call OR me) ishmael",
    };
    uint64_t before[7];
    for (int q = 0; q < 7; q++) before[q] = count(d, queries[q]);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, d), 0);
    assert_null(strstr(out, "segments          1\n"));
    assert_non_null(strstr(out, "(+58 deleted)"));
    quire_writer *w;
    quire_error e;
    assert_int_equal(quire_writer_open(d, NULL, &w, &e), QUIRE_OK);
    assert_int_equal(quire_writer_optimize(w, &e), QUIRE_OK);
    /* the writer goes on after an optimize */
    quire_doc_input doc = {"new", 3, "", 0, "replacement after optimize", 26, NULL, 0};
    assert_int_equal(quire_writer_add(w, &doc, NULL, &e), QUIRE_OK);
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    for (int q = 0; q < 7; q++)
        assert_int_equal(count(d, queries[q]), before[q] + (q == 1));
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, d), 0);
    assert_non_null(strstr(out, "segments          2\n"));
    assert_non_null(strstr(out, "documents         401 (+0 deleted)"));
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, d), 0);
    assert_int_equal(run(out, sizeof out, "ls %s | grep -c qseg", d), 0);
    assert_string_equal(out, "2\n");
}

/* Optimizes copies of index src into d1 with one thread, d2 with two and
 * d2 + "x" with five (more threads than cores: runs of chunks start and end
 * while others are still going), and checks that all made the same single
 * segment, which verifies. */
static void optimize_both_ways(const char *src, const char *d1, const char *d2)
{
    char out[4096];
    assert_int_equal(run(out, sizeof out, "cp -r %s %s && cp -r %s %s && cp -r %s %sx", src, d1,
                         src, d2, src, d2), 0);
    assert_int_equal(run(out, sizeof out, "%s optimize --threads 1 %s", QUIRE_CLI, d1), 0);
    assert_int_equal(run(out, sizeof out, "%s optimize --threads 2 %s", QUIRE_CLI, d2), 0);
    assert_int_equal(run(out, sizeof out, "%s optimize --threads 5 %sx", QUIRE_CLI, d2), 0);
    assert_int_equal(run(out, sizeof out, "cd %s && for f in *.qseg; do cmp $f %s/$f && cmp $f %sx/$f"
                         " || exit 1; done && ls *.qseg | wc -l", d1, d2, d2), 0);
    assert_string_equal(out, "1\n");
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, d2), 0);
    assert_int_equal(run(out, sizeof out, "%s verify %sx", QUIRE_CLI, d2), 0);
}

/* A merge shared among threads (runs of term chunks, stored documents in
 * a thread of their own) writes the same file, byte for byte, as one
 * thread: on an index of many segments with replaced (deleted) documents. */
/* Segments of one document with a one-byte id merge: the merge once
 * required 4 more bytes of ids section than such a segment has. */
static void test_optimize_short_ids(void **state)
{
    (void)state;
    char d[128], in[128], out[4096];
    snprintf(d, sizeof d, "%s/short", tmp);
    snprintf(in, sizeof in, "%s/short.jsonl", tmp);
    for (int i = 0; i < 2; i++) {
        const char *doc = i ? "{\"id\":\"b\",\"body\":\"second whale\"}\n"
                            : "{\"id\":\"a\",\"body\":\"first whale\"}\n";
        write_file(in, doc, strlen(doc));
        assert_int_equal(run(out, sizeof out, "%s index %s %s", QUIRE_CLI, d, in), 0);
    }
    assert_int_equal(run(out, sizeof out, "%s optimize %s", QUIRE_CLI, d), 0);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, d), 0);
    assert_non_null(strstr(out, "segments          1\n"));
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, d), 0);
    assert_int_equal(count(d, "whale"), 2);
    assert_int_equal(count(d, "second"), 1);
}

static void test_optimize_threads_identical(void **state)
{
    (void)state;
    char d[128], d1[128], d2[128], out[4096];
    snprintf(d, sizeof d, "%s/optsrc", tmp);
    snprintf(d1, sizeof d1, "%s/opt1", tmp);
    snprintf(d2, sizeof d2, "%s/opt2", tmp);
    build_moby(d, 3, 48 << 10);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, d), 0);
    assert_non_null(strstr(out, "(+58 deleted)"));
    optimize_both_ways(d, d1, d2);
    assert_int_equal(count(d2, "replacement"), 58);
    assert_int_equal(count(d2, "whale"), count(d, "whale"));
}

/* The same without deletions: then the store's size is known before it is
 * written, and the first half's positions go straight to their place in
 * the file while a third thread writes the store before them. */
static void test_optimize_threads_identical_nodel(void **state)
{
    (void)state;
    char d[128], d1[128], d2[128], out[4096];
    snprintf(d, sizeof d, "%s/optnd", tmp);
    snprintf(d1, sizeof d1, "%s/optnd1", tmp);
    snprintf(d2, sizeof d2, "%s/optnd2", tmp);
    assert_int_equal(run(out, sizeof out, "%s index --threads 2 --mem 64K %s %s/corpus/moby-sample.jsonl",
                         QUIRE_CLI, d, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, d), 0);
    assert_non_null(strstr(out, "(+0 deleted)"));
    assert_null(strstr(out, "\nsegments          1\n"));
    optimize_both_ways(d, d1, d2);
    assert_int_equal(count(d2, "whale"), count(d, "whale"));
}

/* A threaded build names its segment files by lane, not by which lane
 * flushed first: the same input and options give the same directory, file
 * for file and byte for byte (MANIFEST included), whatever the threads'
 * timing.  With a 1 MiB budget each lane flushes several segments, so
 * numbers handed out in flush order differed from run to run. */
static void test_threads_same_files(void **state)
{
    (void)state;
    char in[128], d1[128], d2[128], out[4096];
    snprintf(in, sizeof in, "%s/same.jsonl", tmp);
    snprintf(d1, sizeof d1, "%s/same1", tmp);
    snprintf(d2, sizeof d2, "%s/same2", tmp);
    /* 2.6 MB, three batches of 1 MiB: lanes 0, 1 and 0 again */
    assert_int_equal(run(out, sizeof out, "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do"
                         " sed \"s/\\\"id\\\": \\\"/&c$i-/\" %s/corpus/moby-sample.jsonl; done > %s",
                         QUIRE_SOURCE_DIR, in), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(run(out, sizeof out, "%s index --threads 2 --mem 1M %s %s", QUIRE_CLI,
                             i ? d2 : d1, in), 0);
    assert_non_null(strstr(out, "indexed 4800 documents"));
    char list[4096];
    same_files(d1, d2, list, sizeof list);
    /* lane 0 numbers 1, 3, 5, ...; lane 1 numbers 2, 4, 6, ... */
    assert_non_null(strstr(list, "seg_000001.qseg\nseg_000002.qseg\nseg_000003.qseg\n"));
    int nseg = 0;
    for (const char *p = list; (p = strstr(p, ".qseg\n")); p++) nseg++;
    assert_true(nseg > 4);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, d1), 0);
}

/* Number of terms `quire stats` reports for index dir. */
static unsigned long stats_terms(const char *dir, const char *want_cg)
{
    char out[4096];
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, dir), 0);
    assert_non_null(strstr(out, want_cg));
    const char *t = strstr(out, "\nterms ");
    assert_non_null(t);
    return strtoul(t + 7, NULL, 10);
}

/* CommonGrams (--commongrams: bigrams where either word is common), the
 * default common pairs (both words common) and no bigrams at all
 * (--no-commongrams): bigrams across segments, threads and the optimize
 * merge; each index verifies and every query counts and scores the same
 * in all three. */
static void test_commongrams(void **state)
{
    (void)state;
    char cg[128], pairs[128], plain[128], out[4096];
    snprintf(cg, sizeof cg, "%s/cg", tmp);
    snprintf(pairs, sizeof pairs, "%s/pairs", tmp);
    snprintf(plain, sizeof plain, "%s/plain", tmp);
    assert_int_equal(run(out, sizeof out, "%s index --commongrams --threads 2 --mem 64K --optimize"
                         " %s %s/corpus/moby-sample.jsonl", QUIRE_CLI, cg, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s index --threads 2 --mem 64K --optimize"
                         " %s %s/corpus/moby-sample.jsonl", QUIRE_CLI, pairs, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s index --no-commongrams --threads 2 --mem 64K"
                         " --optimize %s %s/corpus/moby-sample.jsonl", QUIRE_CLI, plain,
                         QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, cg), 0);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, pairs), 0);
    /* each bigram rule adds terms: all pairs with a common word > pairs
     * of common words > none */
    unsigned long n_cg = stats_terms(cg, "commongrams=all");
    unsigned long n_pairs = stats_terms(pairs, "commongrams=pairs");
    unsigned long n_plain = stats_terms(plain, "commongrams=off");
    assert_true(n_cg > n_pairs);
    assert_true(n_pairs > n_plain);
    static const char *queries[] = {
        "\"the whale\"", "\"of the\"", "\"the white whale\"", "\"in the sea\" OR ahab",
        "\"call me ishmael\"", "whale -\"the whale\"", "sea-captain", "\"it was the\"",
    };
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        assert_int_equal(count(cg, queries[q]), count(plain, queries[q]));
        assert_int_equal(count(pairs, queries[q]), count(plain, queries[q]));
        hitset a, b, c;
        top_ids(cg, queries[q], &a);
        top_ids(pairs, queries[q], &c);
        top_ids(plain, queries[q], &b);
        assert_int_equal(a.n, b.n);
        assert_int_equal(c.n, b.n);
        for (size_t i = 0; i < a.n; i++) {
            assert_true(a.scores[i] == b.scores[i]);
            assert_true(c.scores[i] == b.scores[i]);
        }
    }
    assert_true(count(cg, "\"the whale\"") > 0);
}

static void index_stats(const char *dir, quire_stats *st)
{
    quire_index *ix;
    quire_error e;
    assert_int_equal(quire_index_open(dir, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_index_stats(ix, st, &e), QUIRE_OK);
    quire_index_close(ix);
}

/* --contentless keeps each document's id but not its text: the search
 * sections are byte for byte the sizes of a full build's, every query
 * counts and scores the same, a document gives its id alone and an empty
 * snippet.  A later full-text run into the same index stores its own
 * documents, and the optimize merge keeps both kinds. */
static void test_contentless(void **state)
{
    (void)state;
    char full[128], bare[128], bare2[128], extra[128], out[8192];
    snprintf(full, sizeof full, "%s/full", tmp);
    snprintf(bare, sizeof bare, "%s/bare", tmp);
    snprintf(bare2, sizeof bare2, "%s/bare2", tmp);
    snprintf(extra, sizeof extra, "%s/extra.jsonl", tmp);
    assert_int_equal(run(out, sizeof out, "%s index --threads 1 %s %s/corpus/moby-sample.jsonl",
                         QUIRE_CLI, full, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s index --contentless --threads 1 %s"
                         " %s/corpus/moby-sample.jsonl", QUIRE_CLI, bare, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s index --contentless --threads 2 --mem 256K %s"
                         " %s/corpus/moby-sample.jsonl", QUIRE_CLI, bare2, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, bare), 0);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, bare2), 0);
    quire_stats a, b;
    index_stats(full, &a);
    index_stats(bare, &b);
    assert_int_equal(b.docs, 400);
    assert_int_equal(b.bytes_dict, a.bytes_dict);
    assert_int_equal(b.bytes_docs, a.bytes_docs);
    assert_int_equal(b.bytes_skip, a.bytes_skip);
    assert_int_equal(b.bytes_pos, a.bytes_pos);
    assert_int_equal(b.bytes_norms, a.bytes_norms);
    assert_int_equal(b.bytes_ids, a.bytes_ids);
    /* 400 ids of about 10 bytes against 1.5 MB of text */
    assert_true(b.bytes_store * 50 < a.bytes_store);
    static const char *queries[] = {
        "whale", "\"the white whale\"", "ship OR sea", "ahab -whale", "queequeg harpooneer",
    };
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        assert_int_equal(count(bare, queries[q]), count(full, queries[q]));
        assert_int_equal(count(bare2, queries[q]), count(full, queries[q]));
        hitset x, y;
        top_ids(full, queries[q], &x);
        top_ids(bare, queries[q], &y);
        assert_int_equal(x.n, y.n);
        for (size_t i = 0; i < x.n; i++) {
            assert_string_equal(x.ids[i], y.ids[i]);
            assert_true(x.scores[i] == y.scores[i]);
        }
    }
    quire_index *ix;
    quire_error e;
    quire_results *r;
    assert_int_equal(quire_index_open(bare, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_search(ix, "ishmael", 7, 1, &r, &e), QUIRE_OK);
    assert_int_equal(quire_results_size(r), 1);
    uint64_t doc = quire_results_get(r, 0)->doc;
    quire_results_free(r);
    quire_doc *d;
    const char *v;
    size_t vl;
    assert_int_equal(quire_doc_get(ix, doc, &d, &e), QUIRE_OK);
    assert_int_equal(quire_doc_nfields(d), 1);
    assert_int_equal(quire_doc_field(d, "id", &v, &vl), QUIRE_OK);
    assert_int_equal(vl, 9);
    assert_memory_equal(v, "moby/1/12", 9);
    assert_int_equal(quire_doc_field(d, "body", &v, &vl), QUIRE_ENOTFOUND);
    quire_doc_free(d);
    char snip[256] = "x";
    assert_int_equal(quire_snippet(ix, doc, "ishmael", 7, "[", "]", 200, snip, sizeof snip, &e),
                     QUIRE_OK);
    assert_string_equal(snip, "");
    quire_index_close(ix);
    assert_int_equal(run(out, sizeof out, "%s search %s ishmael", QUIRE_CLI, bare), 0);
    assert_non_null(strstr(out, "1. (untitled)  (id moby/1/12, score "));
    /* a later run without the option stores its documents; the merge
     * copies both kinds of record */
    const char *more = "{\"id\":\"new\",\"title\":\"Later\",\"body\":\"a stored whale\"}\n";
    write_file(extra, more, strlen(more));
    assert_int_equal(run(out, sizeof out, "%s index --optimize %s %s", QUIRE_CLI, bare, extra),
                     0);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, bare), 0);
    assert_int_equal(run(out, sizeof out, "%s search %s '\"stored whale\" OR ishmael'", QUIRE_CLI,
                         bare), 0);
    assert_non_null(strstr(out, "Later  (id new, score "));
    assert_non_null(strstr(out, "a [stored whale]"));     /* the phrase, one span */
    assert_non_null(strstr(out, "(untitled)  (id moby/1/12, score "));
}

/* Pages of results: `--offset M -k N` prints ranks M+1..M+N of the one
 * ranking, so pages put end to end are the whole list. */
static void test_search_pages(void **state)
{
    (void)state;
    char dir[128], all[16384], page[8192], joined[16384] = "";
    snprintf(dir, sizeof dir, "%s/pages", tmp);
    assert_int_equal(run(all, sizeof all, "%s index --threads 1 %s %s/corpus/moby-sample.jsonl",
                         QUIRE_CLI, dir, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(all, sizeof all, "%s search --json -k 28 %s whale", QUIRE_CLI, dir), 0);
    int lines = 0;
    for (const char *p = all; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 28);
    for (int off = 0; off < 28; off += 7) {
        assert_int_equal(run(page, sizeof page, "%s search --json --offset %d -k 7 %s whale",
                             QUIRE_CLI, off, dir), 0);
        strcat(joined, page);
    }
    assert_string_equal(joined, all);
    /* past the end: nothing, and no "did you mean" */
    assert_int_equal(run(page, sizeof page, "%s search --offset 100000 %s whale", QUIRE_CLI, dir),
                     0);
    assert_string_equal(page, "");
    assert_int_equal(run(page, sizeof page, "%s search --offset -1 %s whale", QUIRE_CLI, dir), 2);
    assert_non_null(strstr(page, "--offset needs a number"));
    /* the plain listing numbers ranks from the offset */
    assert_int_equal(run(page, sizeof page, "%s search --offset 3 -k 1 %s whale", QUIRE_CLI, dir),
                     0);
    assert_true(strncmp(page, "4. ", 3) == 0);
}

/* A writer opens the committed segments with its threads, each checked
 * against its checksums: with any number of threads the open fails on a
 * damaged segment, and names the first one damaged. */
static void test_writer_open_checks_segments(void **state)
{
    (void)state;
    char dir[128], seg[256];
    snprintf(dir, sizeof dir, "%s/open-threads", tmp);
    quire_error e;
    quire_writer *w = writer_at(dir, 1);
    for (int c = 0; c < 4; c++) {   /* four commits of a few documents: four segments */
        add_n(w, c * 10, 10, "alpha");
        assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    }
    quire_writer_free(w);
    struct stat st;
    snprintf(seg, sizeof seg, "%s/seg_000004.qseg", dir);
    assert_int_equal(stat(seg, &st), 0);
    static const uint32_t threads[] = {1, 2, 3, 8};
    for (size_t i = 0; i < sizeof threads / sizeof *threads; i++) {
        w = writer_at(dir, threads[i]);
        quire_writer_free(w);
    }
    damage_section_of(dir, "seg_000003.qseg", SEC_DICT);
    damage_section_of(dir, "seg_000004.qseg", SEC_DOCS);
    for (size_t i = 0; i < sizeof threads / sizeof *threads; i++) {
        quire_writer_options opt = {.tok_flags = QUIRE_TOK_DEFAULT, .threads = threads[i]};
        w = NULL;
        assert_int_equal(quire_writer_open(dir, &opt, &w, &e), QUIRE_ECORRUPT);
        assert_null(w);
        assert_non_null(strstr(e.message, "seg_000003.qseg"));
        assert_non_null(strstr(e.message, "checksum mismatch in section dict"));
    }
}

/* ---- title terms ------------------------------------------------------- */

static void same_answers(const char *a, const char *b);

typedef struct title_toks { char t[32][64]; uint32_t pos[32]; int n; } title_toks;

static int collect_title_tok(void *ctx, const char *term, size_t len, uint32_t pos,
                             size_t start, size_t end)
{
    (void)start;
    (void)end;
    title_toks *tt = ctx;
    assert_true(tt->n < 32);
    tt->pos[tt->n] = pos;
    snprintf(tt->t[tt->n++], sizeof tt->t[0], "%.*s", (int)len, term);
    return 0;
}

/* Whether the title has term w at position pos (a compound and its first
 * part share one). */
static int title_has(const title_toks *tt, uint32_t pos, const char *w)
{
    for (int i = 0; i < tt->n; i++)
        if (tt->pos[i] == pos && !strcmp(tt->t[i], w)) return 1;
    return 0;
}

/* How many titles of corpus/moby-sample.jsonl hold the words w[0..n) at
 * consecutive positions, as the tokenizer reads them. */
static uint64_t titles_with(const char *const *w, int n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/corpus/moby-sample.jsonl", QUIRE_SOURCE_DIR);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    uint64_t hits = 0;
    while (getline(&line, &cap, f) > 0) {
        char *t = strstr(line, "\"title\": \"") + 10, *e = strchr(t, '"');
        assert_true(memchr(t, '\\', (size_t)(e - t)) == NULL);
        title_toks tt = {.n = 0};
        quire_error err;
        assert_int_equal(quire_tokenize(QUIRE_TOK_DEFAULT, t, (size_t)(e - t),
                                        collect_title_tok, &tt, &err), QUIRE_OK);
        int found = 0;
        for (int i = 0; i < tt.n && !found; i++) {
            int k = 0;
            while (k < n && title_has(&tt, tt.pos[i] + (uint32_t)k, w[k])) k++;
            found = k == n;
        }
        hits += (uint64_t)found;
    }
    free(line);
    fclose(f);
    return hits;
}

/* --title-terms: title:word and title:"..." find exactly the documents
 * whose titles hold the words, counted here from the corpus through the
 * tokenizer; every other query answers as without it (title terms are not
 * in any document's length); highlighting marks them in titles only; and
 * a rebuild adds them to an index built without. */
static void test_title_terms(void **state)
{
    (void)state;
    char tt[128], plain[128], out[4096];
    snprintf(tt, sizeof tt, "%s/titles", tmp);
    snprintf(plain, sizeof plain, "%s/titles-plain", tmp);
    assert_int_equal(run(out, sizeof out, "%s index --threads 1 --title-terms %s "
                         "%s/corpus/moby-sample.jsonl", QUIRE_CLI, tt, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s index --threads 1 %s %s/corpus/moby-sample.jsonl",
                         QUIRE_CLI, plain, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s stats %s", QUIRE_CLI, tt), 0);
    assert_non_null(strstr(out, "title-terms=on"));
    static const char *const words[] = {"ship", "the", "spouter", "inn", "chapter", "loomings",
                                        "whale", "1"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        char q[64];
        snprintf(q, sizeof q, "title:%s", words[i]);
        assert_int_equal(count(tt, q), titles_with(&words[i], 1));
    }
    assert_int_equal(count(tt, "title:ship"), 82);
    static const char *const the_ship[] = {"the", "ship"}, *const spouter_inn[] = {"spouter",
                                                                                    "inn"};
    assert_int_equal(count(tt, "title:\"the ship\""), titles_with(the_ship, 2));
    assert_int_equal(count(tt, "title:spouter-inn"), titles_with(spouter_inn, 2));
    assert_int_equal(count(tt, "title:\"ship the\""), 0);
    assert_int_equal(count(tt, "title:\"ship the\"~2"), titles_with(the_ship, 2));
    assert_int_equal(count(tt, "title:spout*"), titles_with(spouter_inn, 1));
    assert_int_equal(count(tt, "title:spoter~1"), titles_with(spouter_inn, 1));
    /* 2 edits from "spouter" too, which title terms are not */
    assert_int_equal(count(tt, "title:spoutr~2"), titles_with(spouter_inn, 1));
    /* words of bodies only are no title terms, nor the other way round */
    assert_int_equal(count(tt, "title:ishmael"), 0);
    assert_true(count(tt, "ishmael") > 0);
    assert_int_equal(count(tt, "ship -title:ship"), count(plain, "ship") - count(tt, "title:ship AND ship"));
    same_answers(tt, plain);
    assert_int_equal(count(plain, "title:ship"), 0);   /* the word "title", then "ship" */

    quire_index *ix;
    quire_error e;
    quire_results *r;
    assert_int_equal(quire_index_open(tt, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_search(ix, "title:loomings", 14, 1, &r, &e), QUIRE_OK);
    assert_int_equal(quire_results_size(r), 1);
    quire_span sp[4];
    size_t ns;
    uint64_t doc = quire_results_get(r, 0)->doc;
    assert_int_equal(quire_highlight(ix, doc, "title:loomings", 14, "title", sp, 4, &ns, &e),
                     QUIRE_OK);
    assert_int_equal(ns, 1);
    assert_int_equal(sp[0].start, 11);   /* "Chapter 1. Loomings." */
    assert_int_equal(sp[0].end, 19);
    assert_int_equal(quire_highlight(ix, doc, "title:loomings", 14, "body", sp, 4, &ns, &e),
                     QUIRE_OK);
    assert_int_equal(ns, 0);
    quire_results_free(r);
    quire_index_close(ix);

    /* an index without them gets them from its stored titles */
    assert_int_equal(run(out, sizeof out, "%s rebuild --threads 1 --title-terms %s", QUIRE_CLI, plain), 0);
    assert_int_equal(count(plain, "title:ship"), 82);
    same_answers(tt, plain);
}

/* ---- rebuild ------------------------------------------------------------- */

typedef struct report_lines { char text[16384]; size_t n; } report_lines;

static void collect_line(void *ctx, const char *line)
{
    report_lines *l = ctx;
    int w = snprintf(l->text + l->n, sizeof l->text - l->n, "%s\n", line);
    if (w > 0 && l->n + (size_t)w < sizeof l->text) l->n += (size_t)w;
}

static int rebuild_at(const char *dir, uint32_t threads, int salvage, report_lines *l,
                      quire_rebuild_stats *st, quire_error *e)
{
    quire_rebuild_options o = {.writer = {.threads = threads}, .salvage = (uint32_t)salvage};
    memset(l, 0, sizeof *l);
    return quire_rebuild(dir, &o, collect_line, l, st, e);
}

static const char *const rebuild_queries[] = {
    "whale", "\"the white whale\"", "ship OR sea", "ahab -whale", "queequeg harpooneer",
    "\"replacement text whale\"", "harpoon*", "whael~1", "whale~1", "zanzibarword",
};
#define NREBUILD_QUERIES (sizeof rebuild_queries / sizeof *rebuild_queries)

/* Every query of rebuild_queries: the same hits with the same scores. */
static void same_answers(const char *a, const char *b)
{
    for (size_t q = 0; q < NREBUILD_QUERIES; q++) {
        assert_int_equal(count(a, rebuild_queries[q]), count(b, rebuild_queries[q]));
        hitset x, y;
        top_ids(a, rebuild_queries[q], &x);
        top_ids(b, rebuild_queries[q], &y);
        assert_int_equal(x.n, y.n);
        for (size_t i = 0; i < x.n; i++) {
            assert_string_equal(x.ids[i], y.ids[i]);
            assert_true(x.scores[i] == y.scores[i]);
        }
    }
}

/* The index at `to` made anew of every document stored in the index at
 * `from` (which has no deleted one), through the public API, with
 * tokenizer flags `flags`. */
static void readd_all(const char *from, const char *to, uint32_t flags)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", to);
    assert_int_equal(system(cmd), 0);
    quire_index *ix;
    quire_error e;
    quire_stats st;
    assert_int_equal(quire_index_open(from, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_index_stats(ix, &st, &e), QUIRE_OK);
    assert_int_equal(st.deleted_docs, 0);
    quire_writer_options o = {.tok_flags = flags, .threads = 1};
    quire_writer *w;
    assert_int_equal(quire_writer_open(to, &o, &w, &e), QUIRE_OK);
    for (uint64_t i = 0; i < st.docs; i++) {
        quire_doc *d;
        assert_int_equal(quire_doc_get(ix, i, &d, &e), QUIRE_OK);
        quire_doc_input in;
        memset(&in, 0, sizeof in);
        quire_field fields[4];
        size_t nf = quire_doc_nfields(d);
        assert_true(nf >= 3 && nf - 3 <= 4);
        quire_doc_field(d, "id", &in.id, &in.id_len);
        quire_doc_field(d, "title", &in.title, &in.title_len);
        quire_doc_field(d, "body", &in.body, &in.body_len);
        for (size_t k = 3; k < nf; k++)
            quire_doc_field_at(d, k, &fields[k - 3].name, &fields[k - 3].name_len,
                               &fields[k - 3].value, &fields[k - 3].value_len);
        in.fields = fields;
        in.nfields = nf - 3;
        assert_int_equal(quire_writer_add(w, &in, NULL, &e), QUIRE_OK);
        quire_doc_free(d);
    }
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    quire_index_close(ix);
}

/* A rebuild of an index of many segments, with replaced and deleted
 * documents and an extra field, is the index optimize makes of it: the
 * same documents in the same order, so the same terms, postings and
 * positions, and the same hits with the same scores (one thread; with
 * two, documents are dealt in batches and only the counts must agree).
 * Only its own files are left.  With tokenizer flags, the stored text is
 * tokenized the new way. */
static void test_rebuild(void **state)
{
    (void)state;
    char src[128], opt[128], one[128], two[128], stem[128], out[4096];
    snprintf(src, sizeof src, "%s/rb-src", tmp);
    snprintf(opt, sizeof opt, "%s/rb-opt", tmp);
    snprintf(one, sizeof one, "%s/rb-one", tmp);
    snprintf(two, sizeof two, "%s/rb-two", tmp);
    snprintf(stem, sizeof stem, "%s/rb-stem", tmp);
    build_moby(src, 2, 64 << 10);
    /* The second session writes a segment a document (a budget of one
     * byte), two of them: a commit that adds one segment would let the
     * merge policy fold the first session's small segments, down to one
     * or to several depending on how many there were. */
    quire_writer_options o1 = {.mem_budget = 1, .tok_flags = QUIRE_TOK_DEFAULT, .threads = 1};
    quire_writer *w;
    quire_error e;
    assert_int_equal(quire_writer_open(src, &o1, &w, &e), QUIRE_OK);
    int found;
    assert_int_equal(quire_writer_delete(w, "moby/1/3", 8, &found, &e), QUIRE_OK);
    assert_true(found);
    quire_field fx = {"date", 4, "2026-11-27", 10};
    quire_doc_input d = {"extra-1", 7, "Zanzibarword title", 18, "with a date field", 17, &fx, 1};
    assert_int_equal(quire_writer_add(w, &d, NULL, &e), QUIRE_OK);
    quire_doc_input d2 = {"extra-2", 7, "", 0, "a second late document", 22, NULL, 0};
    assert_int_equal(quire_writer_add(w, &d2, NULL, &e), QUIRE_OK);
    assert_int_equal(quire_writer_commit(w, &e), QUIRE_OK);
    quire_writer_free(w);
    quire_stats s0, s1;
    index_stats(src, &s0);
    assert_true(s0.segments > 3);
    assert_true(s0.deleted_docs > 0);
    /* quire get: every stored field, the live copy of a replaced id, and
     * nothing for a deleted one */
    assert_int_equal(run(out, sizeof out, "%s get %s extra-1 moby/1/1", QUIRE_CLI, src), 0);
    assert_string_equal(out, "{\"id\":\"extra-1\",\"title\":\"Zanzibarword title\","
                             "\"body\":\"with a date field\",\"date\":\"2026-11-27\"}\n"
                             "{\"id\":\"moby/1/1\",\"title\":\"\",\"body\":"
                             "\"replacement text whale\"}\n");
    assert_int_equal(run(out, sizeof out, "%s get %s moby/1/3", QUIRE_CLI, src), 1);
    assert_string_equal(out, "quire: no document with id moby/1/3\n");
    copy_dir(src, opt);
    copy_dir(src, one);
    copy_dir(src, two);
    copy_dir(src, stem);
    assert_int_equal(run(out, sizeof out, "%s optimize --threads 1 %s", QUIRE_CLI, opt), 0);

    report_lines l;
    quire_rebuild_stats st;
    /* one writer at a time; a reader keeps the generation it opened */
    w = writer_at(one, 1);
    assert_int_equal(rebuild_at(one, 1, 0, &l, &st, &e), QUIRE_ELOCKED);
    quire_writer_free(w);
    quire_index *old;
    assert_int_equal(quire_index_open(one, &old, &e), QUIRE_OK);
    assert_int_equal(rebuild_at(one, 1, 0, &l, &st, &e), QUIRE_OK);
    assert_string_equal(l.text, "");
    uint64_t nw;
    assert_int_equal(quire_count(old, "\"the white whale\"", 17, &nw, &e), QUIRE_OK);
    assert_int_equal(nw, count(src, "\"the white whale\""));
    quire_index_close(old);
    assert_int_equal(st.docs, s0.docs);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.damaged, 0);
    assert_int_equal(st.segments, s0.segments);
    assert_int_equal(st.tok_flags, QUIRE_TOK_DEFAULT);
    index_stats(one, &s1);
    quire_stats so;
    index_stats(opt, &so);
    assert_int_equal(s1.generation, s0.generation + 1);
    assert_int_equal(s1.segments, 1);
    assert_int_equal(s1.docs, s0.docs);
    assert_int_equal(s1.deleted_docs, 0);
    assert_int_equal(s1.terms, so.terms);
    assert_int_equal(s1.postings, so.postings);
    assert_int_equal(s1.positions, so.positions);
    same_answers(one, opt);
    assert_int_equal(count_files(one), 3);   /* LOCK, MANIFEST, the segment */
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, one), 0);

    quire_index *ix;
    quire_results *r;
    assert_int_equal(quire_index_open(one, &ix, &e), QUIRE_OK);
    assert_int_equal(quire_search(ix, "zanzibarword", 12, 1, &r, &e), QUIRE_OK);
    assert_int_equal(quire_results_size(r), 1);
    quire_doc *doc;
    assert_int_equal(quire_doc_get(ix, quire_results_get(r, 0)->doc, &doc, &e), QUIRE_OK);
    const char *v;
    size_t vl;
    assert_int_equal(quire_doc_field(doc, "date", &v, &vl), QUIRE_OK);
    assert_int_equal(vl, 10);
    assert_memory_equal(v, "2026-11-27", 10);
    assert_int_equal(quire_doc_field(doc, "title", &v, &vl), QUIRE_OK);
    assert_memory_equal(v, "Zanzibarword title", 18);
    quire_doc_free(doc);
    quire_results_free(r);
    quire_index_close(ix);

    /* at a small budget it writes many segments, and merges them */
    quire_rebuild_options small = {.writer = {.threads = 2, .mem_budget = 64 << 10}};
    assert_int_equal(quire_rebuild(two, &small, NULL, NULL, &st, &e), QUIRE_OK);
    assert_int_equal(st.docs, s0.docs);
    index_stats(two, &s1);
    assert_int_equal(s1.segments, 1);
    assert_int_equal(count_files(two), 3);
    for (size_t q = 0; q < NREBUILD_QUERIES; q++)
        assert_int_equal(count(two, rebuild_queries[q]), count(opt, rebuild_queries[q]));

    /* the CLI, with a new tokenizer configuration */
    assert_int_equal(run(out, sizeof out, "%s rebuild --stem --threads 1 %s", QUIRE_CLI, stem), 0);
    char want[128];
    snprintf(want, sizeof want, "rebuilt %llu documents from %u segment files",
             (unsigned long long)s0.docs, s0.segments);
    assert_non_null(strstr(out, want));
    index_stats(stem, &s1);
    assert_int_equal(s1.tok_flags, QUIRE_TOK_DEFAULT | QUIRE_TOK_STEM_EN);
    assert_int_equal(s1.docs, s0.docs);
    assert_int_equal(count(stem, "whales"), count(stem, "whale"));
    readd_all(opt, one, QUIRE_TOK_DEFAULT | QUIRE_TOK_STEM_EN);
    same_answers(stem, one);
}

/* The block of the store that holds document `doc` of DIR/seg_000001.qseg:
 * its offset in the file, its first document and its number of documents. */
static void store_block(const char *dir, uint32_t doc, long *off, uint32_t *first,
                        uint32_t *n)
{
    idx_segment *s;
    quire_error e;
    assert_int_equal(idx_segment_open(dir, "seg_000001.qseg", SEG_VERIFY_NONE, &s, &e), QUIRE_OK);
    const uint8_t *ix = s->sec[SEC_STOREIDX];
    for (size_t b = 0; b < s->sec_len[SEC_STOREIDX] / 24; b++) {
        uint32_t f, c, clen;
        uint64_t o;
        memcpy(&f, ix + 24 * b, 4);
        memcpy(&c, ix + 24 * b + 4, 4);
        memcpy(&o, ix + 24 * b + 8, 8);
        memcpy(&clen, ix + 24 * b + 16, 4);
        if (doc >= f && doc - f < c) {
            *off = (long)(s->sec[SEC_STORE] - s->m.data) + (long)o + (long)clen / 2;
            *first = f;
            *n = c;
        }
    }
    idx_segment_close(s);
}

/* Damage of every kind a rebuild meets: it reads every stored document
 * * that is intact, says what it lost (naming ids when it can), changes
 * nothing when anything is lost unless told to salvage, and never
 * brings back a deleted document while it knows the documents' numbers. */
static void test_rebuild_damaged(void **state)
{
    (void)state;
    char src[128], dir[128], seg[256], man[256], out[8192], before[4096], after[4096];
    snprintf(src, sizeof src, "%s/rbd-src", tmp);
    snprintf(dir, sizeof dir, "%s/rbd", tmp);
    snprintf(seg, sizeof seg, "%s/seg_000001.qseg", dir);
    snprintf(man, sizeof man, "%s/MANIFEST", dir);
    assert_int_equal(run(out, sizeof out, "%s index --threads 1 %s %s/corpus/moby-sample.jsonl",
                         QUIRE_CLI, src, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(run(out, sizeof out, "%s delete %s moby/1/3 moby/16/73", QUIRE_CLI, src), 0);
    /* what a rebuild must answer: the same documents, none deleted */
    char ref[128];
    snprintf(ref, sizeof ref, "%s/rbd-ref", tmp);
    copy_dir(src, ref);
    assert_int_equal(run(out, sizeof out, "%s optimize %s", QUIRE_CLI, ref), 0);
    quire_stats s0, s1;
    index_stats(src, &s0);
    assert_int_equal(s0.docs, 398);
    report_lines l;
    quire_rebuild_stats st;
    quire_error e;
    long off = -1;
    uint32_t first = 0, n = 0;
    store_block(src, 200, &off, &first, &n);
    assert_true(off > 0 && n > 1 && first > 3 && first + n < 300);
    char names[128];
    snprintf(names, sizeof names, "documents %u to %u) is damaged: %u documents lost (ids moby/",
             first, first + n - 1, n);

    /* a damaged block of the store: refused, unless salvaged */
    copy_dir(src, dir);
    flip_byte(seg, off);
    read_whole(man, before, sizeof before);
    assert_int_equal(rebuild_at(dir, 1, 0, &l, &st, &e), QUIRE_ECORRUPT);
    assert_non_null(strstr(e.message, "nothing was changed"));
    assert_non_null(strstr(l.text, names));
    assert_int_equal(st.lost, n);
    read_whole(man, after, sizeof after);
    assert_string_equal(before, after);
    assert_int_equal(count_files(dir), 4);   /* LOCK, MANIFEST, segment, deletions */
    assert_int_equal(count(dir, "whale"), count(src, "whale"));
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "indexes the stored documents again"));
    assert_int_equal(run(out, sizeof out, "%s rebuild %s", QUIRE_CLI, dir), 1);
    assert_non_null(strstr(out, "salvage publishes what could be read"));
    assert_int_equal(run(out, sizeof out, "%s rebuild --salvage %s", QUIRE_CLI, dir), 0);
    snprintf(before, sizeof before, "rebuilt %u documents from 1 segment files", 398 - n);
    assert_non_null(strstr(out, before));
    assert_non_null(strstr(out, "documents could not be read back"));
    index_stats(dir, &s1);
    assert_int_equal(s1.docs, 398 - n);
    assert_int_equal(count(dir, "\"call me ishmael\""), 1);
    assert_int_equal(run(out, sizeof out, "%s verify %s", QUIRE_CLI, dir), 0);

    /* damaged postings and dictionary: every document is intact */
    copy_dir(src, dir);
    damage_section(dir, SEC_DOCS);
    damage_section(dir, SEC_DICT);
    assert_int_equal(rebuild_at(dir, 1, 0, &l, &st, &e), QUIRE_OK);
    assert_string_equal(l.text, "seg_000001.qseg: damaged sections dict, docs, rebuilt from "
                                "the stored documents\n");
    assert_int_equal(st.docs, 398);
    assert_int_equal(st.lost, 0);
    same_answers(dir, ref);

    /* a file cut short of its section table: the store comes first */
    copy_dir(src, dir);
    struct stat sb;
    assert_int_equal(stat(seg, &sb), 0);
    assert_int_equal(truncate(seg, sb.st_size / 2), 0);
    assert_int_equal(rebuild_at(dir, 1, 0, &l, &st, &e), QUIRE_OK);
    assert_non_null(strstr(l.text, "section table unreadable"));
    assert_int_equal(st.docs, 398);
    same_answers(dir, ref);

    /* ... and a damaged block too: numbers are lost from there on */
    copy_dir(src, dir);
    assert_int_equal(truncate(seg, sb.st_size - 1), 0);
    flip_byte(seg, off);
    assert_int_equal(rebuild_at(dir, 1, 0, &l, &st, &e), QUIRE_ECORRUPT);
    snprintf(names, sizeof names, "read without their numbers, so this segment's deletions");
    assert_non_null(strstr(l.text, names));
    snprintf(names, sizeof names, "%u of its 400 stored documents were found", 400 - n);
    assert_non_null(strstr(l.text, names));
    /* moby/1/3 (document 2) stays deleted, moby/16/73 (300) comes back */
    assert_int_equal(rebuild_at(dir, 1, 1, &l, &st, &e), QUIRE_OK);
    assert_int_equal(st.docs, 399 - n);
    assert_int_equal(count(dir, "\"call me ishmael\""), 1);

    /* an unreadable MANIFEST: the segment files and their deletions */
    copy_dir(src, dir);
    flip_byte(man, 20);
    assert_int_equal(rebuild_at(dir, 1, 0, &l, &st, &e), QUIRE_ECORRUPT);
    assert_non_null(strstr(l.text, "MANIFEST: unreadable or missing; reading the 1 segment files"));
    assert_int_equal(rebuild_at(dir, 1, 1, &l, &st, &e), QUIRE_OK);
    assert_int_equal(st.docs, 398);
    same_answers(dir, ref);
    /* ... or lost */
    copy_dir(src, dir);
    assert_int_equal(unlink(man), 0);
    assert_int_equal(rebuild_at(dir, 1, 0, &l, &st, &e), QUIRE_ECORRUPT);
    assert_int_equal(rebuild_at(dir, 1, 1, &l, &st, &e), QUIRE_OK);
    assert_int_equal(st.docs, 398);
    same_answers(dir, ref);

    /* an unreadable deletion file: its document comes back only if salvaged */
    copy_dir(src, dir);
    assert_int_equal(run(out, sizeof out, "for f in %s/*.del; do printf x >> $f; done", dir), 0);
    assert_int_equal(rebuild_at(dir, 1, 0, &l, &st, &e), QUIRE_ECORRUPT);
    assert_non_null(strstr(l.text, "deletion file unreadable"));
    assert_int_equal(rebuild_at(dir, 1, 1, &l, &st, &e), QUIRE_OK);
    assert_int_equal(st.docs, 400);

    /* a byte flipped anywhere in the file: salvaged, every live document
     * read or counted lost, and the result whole */
    for (off_t at = 0; at < sb.st_size; at += sb.st_size / 40 + 1) {
        copy_dir(src, dir);
        flip_byte(seg, (long)at);
        assert_int_equal(rebuild_at(dir, 1, 1, &l, &st, &e), QUIRE_OK);
        assert_true(st.docs <= 400 && st.docs + st.lost >= 398);
        index_stats(dir, &s1);
        assert_int_equal(s1.docs, st.docs);
    }

    /* no text to index: refused, nothing changed */
    snprintf(dir, sizeof dir, "%s/rbd-bare", tmp);
    assert_int_equal(run(out, sizeof out, "%s index --contentless --threads 1 %s"
                         " %s/corpus/moby-sample.jsonl", QUIRE_CLI, dir, QUIRE_SOURCE_DIR), 0);
    assert_int_equal(rebuild_at(dir, 1, 1, &l, &st, &e), QUIRE_EARG);
    assert_non_null(strstr(e.message, "document 'moby/1/1' was added contentless"));
    assert_int_equal(count_files(dir), 3);
    assert_int_equal(count(dir, "whale"), count(src, "whale"));

    /* no index: nothing created */
    snprintf(dir, sizeof dir, "%s/rbd-none", tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(rebuild_at(dir, 1, 1, &l, &st, &e), QUIRE_ENOTFOUND);
    assert_non_null(strstr(e.message, "no index here (no MANIFEST, no segment)"));
    assert_int_equal(count_files(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_news_phrase),
        cmocka_unit_test(test_urls_and_addresses),
        cmocka_unit_test(test_jsonl_fields_and_boundary),
        cmocka_unit_test(test_sort_by_field),
        cmocka_unit_test(test_time_limit),
        cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_text_inputs_and_bad_bytes),
        cmocka_unit_test(test_big_document),
        cmocka_unit_test(test_duplicate_ids),
        cmocka_unit_test(test_id_limits),
        cmocka_unit_test(test_small_budget_not_per_document),
        cmocka_unit_test(test_threads_deterministic_flushes),
        cmocka_unit_test(test_threads_add_after_commit),
        cmocka_unit_test(test_malformed_queries),
        cmocka_unit_test(test_missing_and_corrupt_index),
        cmocka_unit_test(test_writer_open_checks_segments),
        cmocka_unit_test(test_lazy_checksums),
        cmocka_unit_test(test_killed_build_keeps_last_commit),
        cmocka_unit_test(test_stale_manifest_keeps_segments),
        cmocka_unit_test(test_writer_lock_wait),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_threads_same_results),
        cmocka_unit_test(test_small_budget_segments),
        cmocka_unit_test(test_merge_policy_small_commits),
        cmocka_unit_test(test_merge_policy_levels_and_bulk),
        cmocka_unit_test(test_prefix_queries),
        cmocka_unit_test(test_fuzzy_queries),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_suggest),
        cmocka_unit_test(test_highlight),
        cmocka_unit_test(test_optimize),
        cmocka_unit_test(test_optimize_short_ids),
        cmocka_unit_test(test_optimize_threads_identical),
        cmocka_unit_test(test_optimize_threads_identical_nodel),
        cmocka_unit_test(test_threads_budget_tail),
        cmocka_unit_test(test_threads_steal),
        cmocka_unit_test(test_threads_steal_queue),
        cmocka_unit_test(test_threads_steal_apart),
        cmocka_unit_test(test_threads_dedupe_later),
        cmocka_unit_test(test_threads_same_files),
        cmocka_unit_test(test_commongrams),
        cmocka_unit_test(test_contentless),
        cmocka_unit_test(test_search_pages),
        cmocka_unit_test(test_title_terms),
        cmocka_unit_test(test_rebuild),
        cmocka_unit_test(test_rebuild_damaged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
