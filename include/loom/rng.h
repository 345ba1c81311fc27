/*
 * rng.h - Loom's seeded pseudo-random numbers (xoshiro256**, splitmix64
 * seeding): the one generator that tests, benchmarks, `loom` subcommands and
 * the workload use, so the same seed gives the same numbers everywhere.
 *
 * Not cryptographic.  A struct loom_rng is plain state: copy it to fork a
 * stream; one per thread (no internal locking).
 */
#ifndef LOOM_RNG_H
#define LOOM_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct loom_rng {
	uint64_t s[4];
};

void loom_rng_init(struct loom_rng *r, uint64_t seed);
uint64_t loom_rng_u64(struct loom_rng *r);
uint32_t loom_rng_u32(struct loom_rng *r);	/* the high 32 bits of one u64 draw */
double loom_rng_uniform(struct loom_rng *r);	/* [0, 1), 53 random bits */
/* N(0, 1) by Box-Muller, one value per two uniform draws:
 * sqrt(-2 ln(1 - u1)) cos(2 pi u2). */
double loom_rng_normal(struct loom_rng *r);

#ifdef __cplusplus
}
#endif
#endif
