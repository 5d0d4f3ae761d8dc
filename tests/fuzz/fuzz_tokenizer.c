/*
 * fuzz_tokenizer.c — libFuzzer target for the tokenizer: any bytes, any
 * flags, both modes; the invariants are in tok_invariants.h.  Build and run
 * with tests/fuzz/run-tokenizer-fuzz.  A violated invariant aborts with the
 * reason, so libFuzzer saves the input as crash-*.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/tok_invariants.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *err = inv_check(data, size);
    if (err) {
        fprintf(stderr, "tokenizer invariant violated: %s\n", err);
        abort();
    }
    return 0;
}
