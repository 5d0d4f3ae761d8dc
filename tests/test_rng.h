/*
 * test_rng.h — the tests' deterministic random numbers: Marsaglia's
 * xorshift64 (shifts 13, 7, 17) over a state each test seeds and keeps
 * for itself, so that a test's generated input is the same on every run
 * and every machine.  (test_differential.c draws from splitmix64
 * streams of its own.)
 */
#ifndef QUIRE_TEST_RNG_H
#define QUIRE_TEST_RNG_H

#include <stdint.h>

/* Steps *s (never 0) and returns the new state. */
static inline uint64_t xorshift64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#endif
