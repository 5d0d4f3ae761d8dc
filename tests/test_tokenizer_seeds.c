/*
 * test_tokenizer_seeds.c — runs the fuzzer's invariant checker
 * (tests/fuzz/tok_invariants.h) over every committed seed in
 * tests/fuzz/seeds-tokenizer/, and over each seed under every flag
 * combination, so inputs that once broke an invariant stay fixed without
 * running libFuzzer.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/fuzz/tok_invariants.h"

#ifndef QUIRE_SOURCE_DIR
#define QUIRE_SOURCE_DIR "."
#endif
#define SEEDS QUIRE_SOURCE_DIR "/tests/fuzz/seeds-tokenizer"

static void test_seeds(void **state)
{
    (void)state;
    DIR *d = opendir(SEEDS);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", SEEDS, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static unsigned char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        for (unsigned flags = 0; flags <= TOK_KNOWN_FLAGS && n >= 2; flags++) {
            buf[0] = (unsigned char)flags;
            const char *err = inv_check(buf, n);
            if (err) fail_msg("seed %s, flags %u: %s", e->d_name, flags, err);
        }
        files++;
    }
    closedir(d);
    assert_true(files >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
