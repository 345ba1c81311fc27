/*
 * test_drv_dma.c - libloomdrv's DMA memory allocator (driver/dma.c) against
 * a byte map kept here: random allocations and frees never overlap, keep
 * their alignment, fail only when no aligned hole of the size exists, and
 * free everything back into one extent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../../driver/drv.h"
#include "loom/rng.h"
#include "lt.h"

#define MEM 65536u

struct live {
	uint64_t addr, bytes;
};

/* Whether map has an aligned run of bytes free (brute force). */
static bool hole_exists(const uint8_t *map, uint64_t bytes, uint64_t align)
{
	for (uint64_t a = 0; a + bytes <= MEM; a += align) {
		uint64_t i = 0;

		while (i < bytes && !map[a + i])
			i++;
		if (i == bytes)
			return true;
	}
	return false;
}

static void test_random_against_map(struct lt *t)
{
	static struct drv_dma m;
	static uint8_t map[MEM];
	struct live live[256];
	int n = 0;
	struct loom_rng r;

	loom_rng_init(&r, lt_seed(t));
	memset(map, 0, sizeof(map));
	drv_dma_init(&m, MEM);
	for (int step = 0; step < 20000 && !t->failures; step++) {
		if (n < 256 && (n == 0 || loom_rng_u32(&r) % 3)) {
			uint64_t bytes = 64 * (1 + loom_rng_u32(&r) % 32);
			uint64_t align = 64u << (loom_rng_u32(&r) % 5), a;
			bool free_hole = hole_exists(map, bytes, align);
			int err = drv_dma_take(&m, bytes, align, &a);

			if (err) {
				LT_CHECK(t, !free_hole, "step %d: %llu bytes (align %llu) refused with "
					 "a hole free", step, (unsigned long long)bytes,
					 (unsigned long long)align);
				continue;
			}
			LT_CHECK(t, a % align == 0 && a + bytes <= MEM, "step %d: 0x%llx not aligned "
				 "to %llu or out of range", step, (unsigned long long)a,
				 (unsigned long long)align);
			for (uint64_t i = 0; i < bytes && a + i < MEM; i++) {
				if (map[a + i]) {
					LT_CHECK(t, false, "step %d: 0x%llx overlaps a live buffer", step,
						 (unsigned long long)(a + i));
					break;
				}
				map[a + i] = 1;
			}
			live[n++] = (struct live){ a, bytes };
		} else {
			int k = (int)(loom_rng_u32(&r) % (uint32_t)n);

			drv_dma_give(&m, live[k].addr, live[k].bytes);
			memset(map + live[k].addr, 0, live[k].bytes);
			live[k] = live[--n];
		}
	}
	while (n) {
		n--;
		drv_dma_give(&m, live[n].addr, live[n].bytes);
	}
	LT_CHECK(t, m.n == 1 && m.ext[0].start == 0 && m.ext[0].bytes == MEM,
		 "after freeing all: %u extents, first [%llu, +%llu)", m.n,
		 (unsigned long long)m.ext[0].start, (unsigned long long)m.ext[0].bytes);
}

static void test_exhaustion(struct lt *t)
{
	static struct drv_dma m;
	uint64_t a, b;

	drv_dma_init(&m, 4096);
	LT_CHECK(t, drv_dma_take(&m, 4096, 64, &a) == 0 && a == 0, "whole memory");
	LT_CHECK(t, drv_dma_take(&m, 64, 64, &b) == -ENOMEM, "nothing left: -ENOMEM");
	drv_dma_give(&m, a, 4096);
	LT_CHECK(t, drv_dma_take(&m, 8192, 64, &a) == -ENOMEM, "larger than the memory");
	LT_CHECK(t, drv_dma_take(&m, 64, 64, &a) == 0 && drv_dma_take(&m, 64, 4096, &b) == -ENOMEM,
		 "the only 4096-aligned address is taken");
}

int main(int argc, char **argv)
{
	static const struct lt_case cases[] = {
		LT_CASE(test_random_against_map),
		LT_CASE(test_exhaustion),
	};

	return lt_main(argc, argv, cases, LT_N(cases));
}
