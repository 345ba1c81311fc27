/*
 * boot_impl.h - what the bootstrap back-ends share: the generic handle
 * (struct boot), the ops table each back-end fills, and small helpers.
 * Internal to runtime/bootstrap/; the API is include/loom/bootstrap.h.
 *
 * boot.c checks arguments, then calls the back-end.  A back-end returns 0
 * or a negative errno with loom_err_set; boot.c marks the handle dead on a
 * fatal error (boot_err_is_fatal) and replays that error afterwards.
 */
#ifndef LOOM_BOOT_IMPL_H
#define LOOM_BOOT_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loom/bootstrap.h"

#define BOOT_MSG_TEXT_MAX 400 /* bytes of an error text kept or sent */

struct boot_ops {
	const char *name;
	int (*set)(struct boot *b, const char *key, const void *val, size_t len_bytes);
	int (*get)(struct boot *b, const char *key, void *buf, size_t cap_bytes,
		   size_t *len_out);
	int (*barrier)(struct boot *b);
	int (*allgather)(struct boot *b, const void *mine, void *all, size_t len_bytes);
	int (*check)(struct boot *b);
	int (*abort)(struct boot *b, const char *reason);
	/* Goodbye (skipped when dead), then free the back-end's part of b. */
	int (*finalize)(struct boot *b, bool dead);
	int (*master_port)(const struct boot *b);
};

/* Embedded first in every back-end's handle (to_tcp(), to_mpi(), ...). */
struct boot {
	const struct boot_ops *ops;
	int rank;
	int world_size;
	int timeout_ms;
	uint32_t ncoll; /* collectives started so far: "barrier #3" in messages */
	bool dead;
	int dead_err;	/* negative errno replayed once dead */
	char dead_msg[BOOT_MSG_TEXT_MAX + 100];
};

#define boot_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* Fatal errors kill the handle; the others (bad arguments, a buffer too
 * small) leave it usable. */
bool boot_err_is_fatal(int err);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t boot_now_ms(void);

/* LOOM_BOOTSTRAP_TIMEOUT in ms, or the default; -EINVAL on a bad value. */
int boot_env_timeout_ms(int *timeout_ms);

/* Constructors of the back-ends (arguments already validated). */
struct boot *boot_tcp_create(const struct boot_config *cfg);
struct boot *boot_mpi_create(int timeout_ms);
struct boot *boot_local_create(void);

#endif
