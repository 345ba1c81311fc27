/*
 * boot.c - the bootstrap API (include/loom/bootstrap.h): choosing a
 * back-end from the environment, checking every argument, and making a
 * handle dead after a fatal error so later calls repeat that error.
 * The back-ends are client.c + server.c (tcp), mpi.c and local.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot_impl.h"
#include "boot_wire.h"
#include "loom/bootstrap.h"
#include "loom/err.h"

int64_t boot_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool boot_err_is_fatal(int err)
{
	return err < 0 && err != -EINVAL && err != -EMSGSIZE && err != -ENOENT &&
	       err != -EOPNOTSUPP;
}

/* Record a fatal error on b (the message is the one just set). */
static int boot_track(struct boot *b, int err)
{
	if (boot_err_is_fatal(err) && !b->dead) {
		b->dead = true;
		b->dead_err = err;
		snprintf(b->dead_msg, sizeof(b->dead_msg), "%s", loom_err_msg());
	}
	return err;
}

static int boot_replay(const struct boot *b)
{
	return loom_err_set(b->dead_err, "%s", b->dead_msg);
}

/* ---- environment -------------------------------------------------------------- */

/* A whole decimal integer in [lo, hi]. */
static bool parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

int boot_env_timeout_ms(int *timeout_ms)
{
	const char *s = getenv("LOOM_BOOTSTRAP_TIMEOUT");
	char *end;
	double v;

	*timeout_ms = BOOT_TIMEOUT_DEFAULT_MS;
	if (!s)
		return 0;
	v = strtod(s, &end);
	if (end == s || *end || !(v > 0 && v <= 86400))
		return loom_err_set(EINVAL, "bootstrap: LOOM_BOOTSTRAP_TIMEOUT='%.40s' is not a "
				    "number of seconds in (0, 86400]", s);
	*timeout_ms = v * 1000 < 1 ? 1 : (int)(v * 1000);
	return 0;
}

/* LOOM_RANK, LOOM_WORLD_SIZE, LOOM_MASTER_ADDR, LOOM_MASTER_PORT. */
static int boot_env_tcp_config(struct boot_config *cfg)
{
	static const char *names[] = { "LOOM_RANK", "LOOM_WORLD_SIZE", "LOOM_MASTER_ADDR",
				       "LOOM_MASTER_PORT" };
	const char *v[4];

	for (int i = 0; i < 4; i++) {
		v[i] = getenv(names[i]);
		if (!v[i] || !*v[i])
			return loom_err_set(EINVAL, "bootstrap: %s is not set (the tcp bootstrap "
					    "needs LOOM_RANK, LOOM_WORLD_SIZE, LOOM_MASTER_ADDR and "
					    "LOOM_MASTER_PORT)", names[i]);
	}
	if (!parse_int(v[1], 1, BOOT_WORLD_MAX, &cfg->world_size))
		return loom_err_set(EINVAL, "bootstrap: LOOM_WORLD_SIZE='%.40s' is not an integer "
				    "in 1..%d", v[1], BOOT_WORLD_MAX);
	if (!parse_int(v[0], 0, cfg->world_size - 1, &cfg->rank))
		return loom_err_set(EINVAL, "bootstrap: LOOM_RANK='%.40s' is not an integer in "
				    "0..%d", v[0], cfg->world_size - 1);
	if (!parse_int(v[3], 0, 65535, &cfg->master_port))
		return loom_err_set(EINVAL, "bootstrap: LOOM_MASTER_PORT='%.40s' is not a port "
				    "number", v[3]);
	cfg->master_addr = v[2];
	return 0;
}

static bool env_set(const char *name)
{
	const char *v = getenv(name);

	return v && *v;
}

struct boot *boot_init_env(void)
{
	const char *mode = getenv("LOOM_BOOTSTRAP");
	struct boot_config cfg = { 0 };

	if (!mode || !*mode || strcmp(mode, "auto") == 0)
		mode = env_set("OMPI_COMM_WORLD_SIZE") || env_set("PMIX_RANK") ? "mpi" :
		       env_set("LOOM_WORLD_SIZE") || env_set("LOOM_RANK") ? "tcp" : "local";
	if (boot_env_timeout_ms(&cfg.timeout_ms))
		return NULL;
	if (strcmp(mode, "local") == 0)
		return boot_init_local();
	if (strcmp(mode, "mpi") == 0)
		return boot_init_mpi(cfg.timeout_ms);
	if (strcmp(mode, "tcp") != 0) {
		loom_err_set(EINVAL, "bootstrap: LOOM_BOOTSTRAP='%.40s' is not one of tcp, mpi, "
			     "local, auto", mode);
		return NULL;
	}
	if (boot_env_tcp_config(&cfg))
		return NULL;
	return boot_init_tcp(&cfg);
}

/* ---- constructors ------------------------------------------------------------- */

struct boot *boot_init_tcp(const struct boot_config *cfg)
{
	struct boot_config c;

	if (!cfg || !cfg->master_addr || !*cfg->master_addr) {
		loom_err_set(EINVAL, "bootstrap: NULL config or empty master_addr");
		return NULL;
	}
	c = *cfg;
	if (c.world_size < 1 || c.world_size > BOOT_WORLD_MAX || c.rank < 0 ||
	    c.rank >= c.world_size) {
		loom_err_set(EINVAL, "bootstrap: rank %d / world size %d: need 0 <= rank < "
			     "world size <= %d", c.rank, c.world_size, BOOT_WORLD_MAX);
		return NULL;
	}
	if (c.master_port < 0 || c.master_port > 65535 || (c.master_port == 0 && c.rank)) {
		loom_err_set(EINVAL, "bootstrap: rank %d: master_port %d: need 1..65535 (0, a "
			     "free port, only on rank 0)", c.rank, c.master_port);
		return NULL;
	}
	if (c.timeout_ms <= 0)
		c.timeout_ms = BOOT_TIMEOUT_DEFAULT_MS;
	return boot_tcp_create(&c);
}

struct boot *boot_init_mpi(int timeout_ms)
{
	return boot_mpi_create(timeout_ms > 0 ? timeout_ms : BOOT_TIMEOUT_DEFAULT_MS);
}

struct boot *boot_init_local(void)
{
	return boot_local_create();
}

/* ---- accessors ---------------------------------------------------------------- */

int boot_rank(const struct boot *b)
{
	return b ? b->rank : -1;
}

int boot_world_size(const struct boot *b)
{
	return b ? b->world_size : 0;
}

const char *boot_backend_name(const struct boot *b)
{
	return b ? b->ops->name : "none";
}

int boot_master_port(const struct boot *b)
{
	return b && b->ops->master_port ? b->ops->master_port(b) : 0;
}

/* ---- operations --------------------------------------------------------------- */

/* NULL handle, or a dead one: the error to return (0: go ahead). */
static int boot_usable(const struct boot *b)
{
	if (!b)
		return loom_err_set(EINVAL, "bootstrap: NULL handle");
	return b->dead ? boot_replay(b) : 0;
}

static int boot_key_check(const struct boot *b, const char *key)
{
	if (!key || !boot_wire_key_valid(key, strnlen(key, BOOT_KEY_MAX + 1)))
		return loom_err_set(EINVAL, "bootstrap: rank %d: a key must be 1..%d printable "
				    "ASCII characters", b->rank, BOOT_KEY_MAX);
	return 0;
}

int boot_set(struct boot *b, const char *key, const void *val, size_t len_bytes)
{
	int rc = boot_usable(b);

	if (rc || (rc = boot_key_check(b, key)))
		return rc;
	if (!val && len_bytes)
		return loom_err_set(EINVAL, "bootstrap: set '%s': NULL value", key);
	if (len_bytes > BOOT_VALUE_MAX)
		return loom_err_set(EMSGSIZE, "bootstrap: set '%s': %zu bytes exceeds the %u-byte "
				    "value limit", key, len_bytes, BOOT_VALUE_MAX);
	return boot_track(b, b->ops->set(b, key, val, len_bytes));
}

int boot_get(struct boot *b, const char *key, void *buf, size_t cap_bytes, size_t *len_out)
{
	int rc = boot_usable(b);

	if (rc || (rc = boot_key_check(b, key)))
		return rc;
	if (!buf && cap_bytes)
		return loom_err_set(EINVAL, "bootstrap: get '%s': NULL buffer", key);
	return boot_track(b, b->ops->get(b, key, buf, cap_bytes, len_out));
}

int boot_barrier(struct boot *b)
{
	int rc = boot_usable(b);

	if (rc)
		return rc;
	b->ncoll++;
	return boot_track(b, b->ops->barrier(b));
}

int boot_allgather(struct boot *b, const void *mine, void *all, size_t len_bytes)
{
	int rc = boot_usable(b);
	size_t total;

	if (rc)
		return rc;
	total = len_bytes * (size_t)b->world_size;
	if (!mine || !all || len_bytes == 0)
		return loom_err_set(EINVAL, "bootstrap: rank %d: allgather needs buffers and "
				    "len_bytes > 0", b->rank);
	if (len_bytes > BOOT_VALUE_MAX || total > BOOT_GATHER_MAX)
		return loom_err_set(EMSGSIZE, "bootstrap: rank %d: allgather of %zu bytes x %d "
				    "ranks exceeds %u bytes/rank or %u in all", b->rank, len_bytes,
				    b->world_size, BOOT_VALUE_MAX, BOOT_GATHER_MAX);
	if ((uintptr_t)mine < (uintptr_t)all + total && (uintptr_t)all < (uintptr_t)mine + len_bytes)
		return loom_err_set(EINVAL, "bootstrap: rank %d: allgather buffers overlap",
				    b->rank);
	b->ncoll++;
	return boot_track(b, b->ops->allgather(b, mine, all, len_bytes));
}

int boot_check(struct boot *b)
{
	int rc = boot_usable(b);

	return rc ? rc : boot_track(b, b->ops->check(b));
}

int boot_abort(struct boot *b, const char *reason)
{
	int rc = boot_usable(b);
	char why[BOOT_MSG_TEXT_MAX];

	if (rc)
		return rc;
	snprintf(why, sizeof(why), "%s", reason && *reason ? reason : "(no reason given)");
	rc = b->ops->abort(b, why);
	b->dead = true;
	b->dead_err = -ECONNABORTED;
	snprintf(b->dead_msg, sizeof(b->dead_msg), "bootstrap: rank %d aborted the job: %s",
		 b->rank, why);
	return rc;
}

int boot_finalize(struct boot *b)
{
	char msg[sizeof(b->dead_msg)];
	bool dead;
	int err, rc;

	if (!b)
		return 0;
	dead = b->dead;
	err = b->dead_err;
	snprintf(msg, sizeof(msg), "%s", b->dead_msg);
	rc = b->ops->finalize(b, dead); /* frees b */
	return dead ? loom_err_set(err, "%s", msg) : rc;
}
