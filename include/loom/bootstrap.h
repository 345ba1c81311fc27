/*
 * bootstrap.h - how the ranks of a Loom job find each other: a barrier, an
 * all-gather of one fixed-size blob per rank (QP numbers, addresses) and a
 * small key-value store, before any RDMA connection exists.
 *
 * It is not a data path: every call is a round trip through rank 0 (TCP) or
 * an MPI collective, meant for setup-sized messages (bytes to a few MiB).
 *
 * Back-ends (boot_backend_name()):
 *   "tcp"   a rendezvous store: rank 0 runs a server thread listening on
 *           master_addr:master_port; every rank, rank 0 included, connects
 *           to it as a client.  Wire protocol: runtime/bootstrap/boot_wire.h.
 *   "mpi"   started by Open MPI's mpirun: barrier and all-gather are MPI
 *           collectives on MPI_COMM_WORLD.  libmpi is loaded at run time
 *           (dlopen; LOOM_MPI_LIB names another file), so Loom builds and
 *           runs where MPI is not installed.
 *           boot_set/boot_get return -EOPNOTSUPP (use boot_allgather).
 *   "local" a world of one process: no sockets, no threads.
 *
 * boot_init_env() picks one from the environment:
 *   LOOM_BOOTSTRAP      tcp | mpi | local | auto (default auto)
 *   auto: OMPI_COMM_WORLD_SIZE or PMIX_RANK set (started by mpirun) -> mpi;
 *         else LOOM_WORLD_SIZE set -> tcp; else local.
 *   LOOM_RANK, LOOM_WORLD_SIZE, LOOM_MASTER_ADDR, LOOM_MASTER_PORT  (tcp)
 *   LOOM_BOOTSTRAP_TIMEOUT  seconds (decimal), default 60: the limit on
 *                           every blocking call, the initial connect
 *                           included, in every back-end.
 *
 * Failure model ("never hang"):
 *   - A rank whose connection closes without boot_finalize() (it died, or
 *     exited without finalizing) makes rank 0 abort the job: every other
 *     rank's pending or next call fails with -ECONNABORTED and a message
 *     naming the rank, within milliseconds of the close (the kernel closes
 *     a killed process's sockets).  TCP keepalive (about 11 s) covers a host
 *     that vanishes without closing.
 *   - Rank 0 dying: the others see their connection close and fail with
 *     -ECONNRESET ("lost connection to rank 0 ...").
 *   - A call that waits longer than the timeout fails with -ETIMEDOUT and
 *     says what it waited for (the key, the collective and the ranks that
 *     have not arrived); it also aborts the job so the others stop waiting.
 *   - After any of these the handle is dead: every later call returns the
 *     same error and message.  boot_abort() does the same on purpose.
 * Under mpirun a rank's death is handled by mpirun (it kills the job); the
 * timeout still bounds every call.
 *
 * Collectives (boot_barrier, boot_allgather) must be called by every rank
 * in the same order with the same len_bytes, as in MPI; a mismatch aborts
 * the job with a message naming both sides (tcp).
 *
 * Threads: a struct boot is used by one thread at a time (callers
 * serialize).  Rank 0's server thread is internal; see runtime/bootstrap/
 * server.c.  Errors: negative errno, reason in loom_err_msg() (loom/err.h).
 */
#ifndef LOOM_BOOTSTRAP_H
#define LOOM_BOOTSTRAP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BOOT_WORLD_MAX 4096		   /* ranks in one job */
#define BOOT_KEY_MAX 255		   /* bytes in a key: printable ASCII, no NUL */
#define BOOT_VALUE_MAX (1u << 20)	   /* bytes in one value or all-gather blob */
#define BOOT_GATHER_MAX (64u << 20)	   /* world_size * len_bytes of one all-gather */
#define BOOT_TIMEOUT_DEFAULT_MS 60000

struct boot;

/* The explicit form, for a launcher that knows the job layout. */
struct boot_config {
	int rank;		 /* 0 .. world_size-1 */
	int world_size;		 /* 1 .. BOOT_WORLD_MAX */
	const char *master_addr; /* rank 0's host name or IP literal ("127.0.0.1") */
	int master_port;	 /* 1..65535; rank 0 may pass 0 for a free port */
	int timeout_ms;		 /* every blocking call; <= 0: BOOT_TIMEOUT_DEFAULT_MS */
};

/* Constructors: NULL on failure with the reason in loom_err_msg().
 * boot_init_tcp: rank 0 binds and starts the server, then every rank
 * connects (retrying with backoff while rank 0 is not listening yet, up to
 * the timeout) and introduces itself.  It does not wait for the other
 * ranks: call boot_barrier() for that. */
struct boot *boot_init_env(void);
struct boot *boot_init_tcp(const struct boot_config *cfg);
struct boot *boot_init_mpi(int timeout_ms);
struct boot *boot_init_local(void);

int boot_rank(const struct boot *b);
int boot_world_size(const struct boot *b);
const char *boot_backend_name(const struct boot *b); /* "tcp", "mpi", "local" */
/* tcp, rank 0: the port the server listens on (useful with port 0);
 * otherwise the configured port, or 0 for mpi/local. */
int boot_master_port(const struct boot *b);

/* Store value (len_bytes <= BOOT_VALUE_MAX) under key, replacing any
 * earlier value; visible to every rank once this returns. */
int boot_set(struct boot *b, const char *key, const void *val, size_t len_bytes);
/* Wait until key exists (or the timeout), then copy its value into buf.
 * *len_out gets the value's length.  -EMSGSIZE (handle stays usable) when
 * the value is longer than cap_bytes.  local back-end: -ENOENT at once for
 * a missing key (no other rank can set it). */
int boot_get(struct boot *b, const char *key, void *buf, size_t cap_bytes, size_t *len_out);

int boot_barrier(struct boot *b);
/* all (world_size * len_bytes) gets every rank's mine (len_bytes) in rank
 * order.  0 < len_bytes <= BOOT_VALUE_MAX, world_size * len_bytes <=
 * BOOT_GATHER_MAX.  mine and all must not overlap. */
int boot_allgather(struct boot *b, const void *mine, void *all, size_t len_bytes);

/* Non-blocking health check: 0, or the error that killed the job (an abort
 * broadcast or rank 0's connection closing) without waiting for a call. */
int boot_check(struct boot *b);
/* Abort the job on purpose: every other rank fails with -ECONNABORTED and
 * this reason (tcp; under mpirun the job ends when this process exits with
 * a failure).  Returns 0 once rank 0 confirmed, else the error; the handle
 * is dead afterwards either way (still call boot_finalize). */
int boot_abort(struct boot *b, const char *reason);

/* Say goodbye and free b (always freed; NULL is a no-op returning 0).
 * Rank 0 waits (up to the timeout) for every other rank to finalize, since
 * its process hosts the store.  Returns 0, or the error that made the
 * goodbye fail (a dead handle returns its error). */
int boot_finalize(struct boot *b);

#ifdef __cplusplus
}
#endif
#endif
