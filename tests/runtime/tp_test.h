/*
 * tp_test.h - what the transport suites share: access-flag sets, a monotonic
 * clock and waiting for one completion with a deadline.
 *
 * Header-only (static inline functions); included by the per-provider
 * harnesses (test_shm_pair.h, test_udp_pair.h).
 */
#ifndef LOOM_TESTS_RUNTIME_TP_TEST_H
#define LOOM_TESTS_RUNTIME_TP_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "loom/err.h"
#include "loom/transport.h"
#include "lt.h"

#define ACCESS_ALL (TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_WRITE | TP_ACCESS_REMOTE_READ | \
		    TP_ACCESS_REMOTE_ATOMIC)
#define QP_ACCESS_ALL (TP_ACCESS_REMOTE_WRITE | TP_ACCESS_REMOTE_READ | TP_ACCESS_REMOTE_ATOMIC)

static inline uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* One completion from cq within timeout_ms; false (and a failure) if none. */
static inline bool wait_wc(struct lt *t, struct tp_cq *cq, struct tp_wc *wc, int timeout_ms)
{
	uint64_t end_us = now_us() + (uint64_t)timeout_ms * 1000;

	for (;;) {
		int n = tp_cq_poll(cq, 1, wc);

		if (n == 1)
			return true;
		LT_CHECK(t, n == 0, "poll: %d %s", n, loom_err_msg());
		if (n < 0 || now_us() >= end_us)
			break;
		tp_cq_wait(cq, 10);
	}
	LT_CHECK(t, false, "no completion within %d ms", timeout_ms);
	return false;
}

#endif
