/*
 * internal.h: the generator's own PRNG (private to src/testdata/): xoshiro256**
 * seeded through splitmix64, with integer-only helpers, so that a seed
 * gives the same numbers on every platform and libc.
 */
#ifndef DUPLA_TESTDATA_INTERNAL_H
#define DUPLA_TESTDATA_INTERNAL_H

#include <stdint.h>

struct rng {
    uint64_t s[4];
};

/* A stream for (seed, kind, a, b): independent of every other stream. */
void testdata_rng_init(struct rng *r, uint64_t seed, uint64_t kind, uint64_t a, uint64_t b);
uint64_t testdata_rng_next(struct rng *r);
/* Uniform in [0, n) (n > 0), without modulo bias. */
uint64_t testdata_rng_below(struct rng *r, uint64_t n);
/* Uniform in [lo, hi]. */
int64_t testdata_rng_range(struct rng *r, int64_t lo, int64_t hi);
/* true with probability permille / 1000. */
int testdata_rng_chance(struct rng *r, unsigned permille);
/* A multiplier in permille drawn from a right-skewed (log-normal-like)
 * distribution with median 1000: about 440 at the 5th percentile and 2300
 * at the 95th. */
int64_t testdata_rng_skewed_permille(struct rng *r);

#endif
