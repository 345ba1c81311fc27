/* rng.c - xoshiro256** with splitmix64 seeding (see include/loom/rng.h). */
#include "loom/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void loom_rng_init(struct loom_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t loom_rng_u64(struct loom_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

uint32_t loom_rng_u32(struct loom_rng *r) { return (uint32_t)(loom_rng_u64(r) >> 32); }

double loom_rng_uniform(struct loom_rng *r) { return (double)(loom_rng_u64(r) >> 11) * 0x1p-53; }

double loom_rng_normal(struct loom_rng *r)
{
	double u1 = 1.0 - loom_rng_uniform(r), u2 = loom_rng_uniform(r);

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
