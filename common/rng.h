/* rng.h — a small, fast, seedable PRNG (xoshiro256** seeded through splitmix64).
 *
 * Everything random in discover (data shuffles, initialisation, label noise, sampling,
 * the offline proposer) draws from one of these so a seed reproduces a run exactly on
 * every machine; libc's rand() is neither portable across libcs nor thread-safe. */
#ifndef DC_RNG_H
#define DC_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} dc_rng;

void dc_rng_seed(dc_rng *r, uint64_t seed);
uint64_t dc_rng_next(dc_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double dc_rng_uniform(dc_rng *r);
/* Uniform integer in [0, n); n > 0. */
uint32_t dc_rng_below(dc_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
double dc_rng_normal(dc_rng *r);
/* In-place Fisher-Yates shuffle of n ints. */
void dc_rng_shuffle_int(dc_rng *r, int *a, int n);

#endif
