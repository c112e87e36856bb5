/*
 * rng.c: splitmix64 and xoshiro256** (public-domain algorithms by Sebastiano
 * Vigna and David Blackman, written here from their description).
 */
#include "testdata/internal.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void testdata_rng_init(struct rng *r, uint64_t seed, uint64_t kind, uint64_t a, uint64_t b)
{
    uint64_t x = seed;
    uint64_t k = splitmix64(&x) ^ (kind * 0xd1b54a32d192ed03ULL);
    k = splitmix64(&k) ^ (a * 0x9e3779b97f4a7c15ULL);
    k = splitmix64(&k) ^ (b * 0xc2b2ae3d27d4eb4fULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&k);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t testdata_rng_next(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t testdata_rng_below(struct rng *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = testdata_rng_next(r);
    while (x >= limit);
    return x % n;
}

int64_t testdata_rng_range(struct rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)testdata_rng_below(r, (uint64_t)(hi - lo) + 1);
}

int testdata_rng_chance(struct rng *r, unsigned permille)
{
    return testdata_rng_below(r, 1000) < permille;
}

/* Quantiles (per 10000) of exp(N(0, 0.5)) in permille, interpolated. */
static const struct {
    int q;
    int v;
} skew[] = {{0, 250},     {100, 312},   {500, 439},   {1000, 527},  {2500, 714},  {5000, 1000},
            {7500, 1402}, {9000, 1898}, {9500, 2276}, {9900, 3200}, {10000, 5000}};

int64_t testdata_rng_skewed_permille(struct rng *r)
{
    int u = (int)testdata_rng_below(r, 10000);
    for (unsigned i = 1; i < sizeof skew / sizeof skew[0]; i++) {
        if (u < skew[i].q) {
            int q0 = skew[i - 1].q, v0 = skew[i - 1].v;
            return v0 + (int64_t)(u - q0) * (skew[i].v - v0) / (skew[i].q - q0);
        }
    }
    return skew[sizeof skew / sizeof skew[0] - 1].v;
}
