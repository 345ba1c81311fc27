/*
 * mpi.c - the "mpi" bootstrap back-end: barrier and all-gather as MPI
 * collectives on MPI_COMM_WORLD, for jobs started by Open MPI's mpirun.
 * It is not a key-value store: set/get return -EOPNOTSUPP.
 *
 * libmpi is loaded at run time (dlopen: LOOM_MPI_LIB when set, else
 * "libmpi.so.40", else "libmpi.so") so Loom builds and runs where MPI is not installed, and
 * the binary does not depend on one MPI build.  Linking with `mpicc
 * --showme:link` would be simpler but would make every Loom binary need
 * libmpi at load time.  The cost is that we restate the parts of Open MPI's
 * ABI we use (from its mpi.h, Open MPI 4.x, soname libmpi.so.40):
 *   MPI_Comm, MPI_Datatype, MPI_Errhandler, MPI_Request are pointers;
 *   MPI_COMM_WORLD     = &ompi_mpi_comm_world      (a data symbol)
 *   MPI_BYTE           = &ompi_mpi_byte
 *   MPI_ERRORS_RETURN  = &ompi_mpi_errors_return
 *   MPI_STATUS_IGNORE  = NULL;  MPI_SUCCESS = 0
 * A library without ompi_mpi_comm_world (MPICH, whose handles are ints) is
 * refused with a message rather than misused.
 *
 * Collectives use the non-blocking forms (MPI_Ibarrier, MPI_Iallgather)
 * polled with MPI_Test, so every call has the same timeout as the tcp
 * back-end.  A rank that dies is mpirun's business: it ends the job.
 * libmpi stays loaded after finalize (Open MPI cannot be initialized twice
 * in a process, and unloading it runs its destructors at a bad time).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot_impl.h"
#include "loom/err.h"

#define MPI_OK 0
#define MPI_ERR_STRING_MAX 256 /* MPI_MAX_ERROR_STRING in Open MPI 4 */

/* The entry points we resolve, in the order of mpi_syms[]. */
struct mpi_fns {
	int (*initialized)(int *flag);
	int (*finalized)(int *flag);
	int (*init)(int *argc, char ***argv);
	int (*finalize)(void);
	int (*comm_rank)(void *comm, int *rank);
	int (*comm_size)(void *comm, int *size);
	int (*comm_set_errhandler)(void *comm, void *errhandler);
	int (*ibarrier)(void *comm, void **req);
	int (*iallgather)(const void *sbuf, int scount, void *stype, void *rbuf, int rcount,
			  void *rtype, void *comm, void **req);
	int (*test)(void **req, int *flag, void *status);
	int (*error_string)(int code, char *buf, int *len);
	void *comm_world;     /* &ompi_mpi_comm_world */
	void *byte;	      /* &ompi_mpi_byte */
	void *errors_return;  /* &ompi_mpi_errors_return */
};

static const struct {
	const char *name;
	size_t offset;
} mpi_syms[] = {
	{ "MPI_Initialized", offsetof(struct mpi_fns, initialized) },
	{ "MPI_Finalized", offsetof(struct mpi_fns, finalized) },
	{ "MPI_Init", offsetof(struct mpi_fns, init) },
	{ "MPI_Finalize", offsetof(struct mpi_fns, finalize) },
	{ "MPI_Comm_rank", offsetof(struct mpi_fns, comm_rank) },
	{ "MPI_Comm_size", offsetof(struct mpi_fns, comm_size) },
	{ "MPI_Comm_set_errhandler", offsetof(struct mpi_fns, comm_set_errhandler) },
	{ "MPI_Ibarrier", offsetof(struct mpi_fns, ibarrier) },
	{ "MPI_Iallgather", offsetof(struct mpi_fns, iallgather) },
	{ "MPI_Test", offsetof(struct mpi_fns, test) },
	{ "MPI_Error_string", offsetof(struct mpi_fns, error_string) },
	{ "ompi_mpi_comm_world", offsetof(struct mpi_fns, comm_world) },
	{ "ompi_mpi_byte", offsetof(struct mpi_fns, byte) },
	{ "ompi_mpi_errors_return", offsetof(struct mpi_fns, errors_return) },
};

struct boot_mpi {
	struct boot base;
	struct mpi_fns fn;
	bool we_initialized; /* we called MPI_Init, so we call MPI_Finalize */
};

static struct boot_mpi *to_mpi(struct boot *b)
{
	return boot_container_of(b, struct boot_mpi, base);
}

/* "MPI_ERR_TRUNCATE: message truncated" for an MPI error code. */
static const char *mpi_strerror(const struct mpi_fns *fn, int code, char *buf)
{
	int len = 0;

	if (fn->error_string(code, buf, &len) != MPI_OK || len <= 0)
		snprintf(buf, MPI_ERR_STRING_MAX, "MPI error %d", code);
	else
		buf[len < MPI_ERR_STRING_MAX ? len : MPI_ERR_STRING_MAX - 1] = '\0';
	return buf;
}

/* dlopen libmpi and fill fn; the handle is never closed (see the top). */
static int mpi_load(struct mpi_fns *fn)
{
	const char *env = getenv("LOOM_MPI_LIB");
	const char *names[] = { env && *env ? env : "libmpi.so.40", "libmpi.so" };
	size_t n = env && *env ? 1 : 2; /* an explicit choice has no fallback */
	char first_err[200] = "";
	void *lib = NULL;

	for (size_t i = 0; i < n && !lib; i++) {
		/* RTLD_GLOBAL: Open MPI's plugins resolve symbols against libmpi. */
		lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
		if (!lib && !first_err[0])
			snprintf(first_err, sizeof(first_err), "%s", dlerror());
	}
	if (!lib)
		return loom_err_set(ENOENT, "bootstrap: mpi: cannot load libmpi (%s); install "
				    "Open MPI (openmpi-bin) or unset LOOM_BOOTSTRAP=mpi", first_err);
	for (size_t i = 0; i < sizeof(mpi_syms) / sizeof(mpi_syms[0]); i++) {
		void *p = dlsym(lib, mpi_syms[i].name);

		if (!p)
			return loom_err_set(ENOTSUP, "bootstrap: mpi: libmpi has no %s: only Open "
					    "MPI's ABI is supported", mpi_syms[i].name);
		memcpy((char *)fn + mpi_syms[i].offset, &p, sizeof(p));
	}
	return 0;
}

/* MPI_Init unless the program did, errors returned (not fatal) on
 * MPI_COMM_WORLD, then our rank and size. */
static int mpi_start(struct boot_mpi *m)
{
	struct mpi_fns *fn = &m->fn;
	char es[MPI_ERR_STRING_MAX];
	int inited = 0, finalized = 0, rc;

	fn->initialized(&inited);
	fn->finalized(&finalized);
	if (finalized)
		return loom_err_set(EINVAL, "bootstrap: mpi: MPI was already finalized in this "
				    "process");
	if (!inited) {
		rc = fn->init(NULL, NULL);
		if (rc != MPI_OK)
			return loom_err_set(EIO, "bootstrap: mpi: MPI_Init: %s",
					    mpi_strerror(fn, rc, es));
		m->we_initialized = true;
	}
	fn->comm_set_errhandler(fn->comm_world, fn->errors_return);
	if (fn->comm_rank(fn->comm_world, &m->base.rank) != MPI_OK ||
	    fn->comm_size(fn->comm_world, &m->base.world_size) != MPI_OK)
		return loom_err_set(EIO, "bootstrap: mpi: MPI_Comm_rank/size failed");
	return 0;
}

/* Poll req until it completes or the deadline passes: spin briefly, then
 * sleep in steps growing to 1 ms (bootstrap is not latency-critical). */
static int mpi_wait(struct boot_mpi *m, void **req, const char *what)
{
	int64_t start = boot_now_ms(), deadline = start + m->base.timeout_ms;
	char es[MPI_ERR_STRING_MAX];
	long sleep_ns = 1000;

	for (int spins = 0;; spins++) {
		int done = 0, rc = m->fn.test(req, &done, NULL);

		if (rc != MPI_OK)
			return loom_err_set(EIO, "bootstrap: rank %d (mpi): %s: MPI_Test: %s",
					    m->base.rank, what, mpi_strerror(&m->fn, rc, es));
		if (done)
			return 0;
		if (boot_now_ms() >= deadline)
			return loom_err_set(ETIMEDOUT, "bootstrap: rank %d (mpi): %s timed out after "
					    "%.1f s (MPI does not say which ranks are missing)",
					    m->base.rank, what, (double)(boot_now_ms() - start) / 1e3);
		if (spins < 100) {
			sched_yield();
		} else {
			struct timespec ts = { 0, sleep_ns };

			nanosleep(&ts, NULL);
			sleep_ns = sleep_ns * 2 > 1000000 ? 1000000 : sleep_ns * 2;
		}
	}
}

static int mpi_barrier(struct boot *b)
{
	struct boot_mpi *m = to_mpi(b);
	char what[48], es[MPI_ERR_STRING_MAX];
	void *req = NULL;
	int rc;

	snprintf(what, sizeof(what), "barrier #%u", b->ncoll);
	rc = m->fn.ibarrier(m->fn.comm_world, &req);
	if (rc != MPI_OK)
		return loom_err_set(EIO, "bootstrap: rank %d (mpi): %s: MPI_Ibarrier: %s", b->rank,
				    what, mpi_strerror(&m->fn, rc, es));
	return mpi_wait(m, &req, what);
}

static int mpi_allgather(struct boot *b, const void *mine, void *all, size_t len_bytes)
{
	struct boot_mpi *m = to_mpi(b);
	char what[64], es[MPI_ERR_STRING_MAX];
	void *req = NULL;
	int rc;

	/* len_bytes <= BOOT_VALUE_MAX (boot.c), so it fits an int count. */
	snprintf(what, sizeof(what), "allgather #%u (%zu bytes/rank)", b->ncoll, len_bytes);
	rc = m->fn.iallgather(mine, (int)len_bytes, m->fn.byte, all, (int)len_bytes, m->fn.byte,
			      m->fn.comm_world, &req);
	if (rc != MPI_OK)
		return loom_err_set(EIO, "bootstrap: rank %d (mpi): %s: MPI_Iallgather: %s",
				    b->rank, what, mpi_strerror(&m->fn, rc, es));
	return mpi_wait(m, &req, what);
}

static int mpi_set(struct boot *b, const char *key, const void *val, size_t len_bytes)
{
	(void)val;
	(void)len_bytes;
	return loom_err_set(EOPNOTSUPP, "bootstrap: rank %d (mpi): set '%s': the mpi bootstrap "
			    "has no key-value store; exchange with boot_allgather", b->rank, key);
}

static int mpi_get(struct boot *b, const char *key, void *buf, size_t cap_bytes,
		   size_t *len_out)
{
	(void)buf;
	(void)cap_bytes;
	(void)len_out;
	return loom_err_set(EOPNOTSUPP, "bootstrap: rank %d (mpi): get '%s': the mpi bootstrap "
			    "has no key-value store; exchange with boot_allgather", b->rank, key);
}

static int mpi_check(struct boot *b)
{
	(void)b;
	return 0;
}

/* Nothing to tell the others: mpirun ends the job when this rank exits
 * with a failure. */
static int mpi_abort(struct boot *b, const char *reason)
{
	(void)b;
	(void)reason;
	return 0;
}

static int mpi_finalize(struct boot *b, bool dead)
{
	struct boot_mpi *m = to_mpi(b);
	char es[MPI_ERR_STRING_MAX];
	int rc = 0, mrc;

	/* A dead handle may have a collective pending; MPI_Finalize would wait
	 * for it forever. */
	if (!dead && m->we_initialized) {
		mrc = m->fn.finalize();
		if (mrc != MPI_OK)
			rc = loom_err_set(EIO, "bootstrap: rank %d (mpi): MPI_Finalize: %s",
					  b->rank, mpi_strerror(&m->fn, mrc, es));
	}
	free(m);
	return rc;
}

static const struct boot_ops mpi_ops = {
	.name = "mpi",
	.set = mpi_set,
	.get = mpi_get,
	.barrier = mpi_barrier,
	.allgather = mpi_allgather,
	.check = mpi_check,
	.abort = mpi_abort,
	.finalize = mpi_finalize,
};

struct boot *boot_mpi_create(int timeout_ms)
{
	struct boot_mpi *m = calloc(1, sizeof(*m));

	if (!m) {
		loom_err_set(ENOMEM, "bootstrap: out of memory");
		return NULL;
	}
	m->base = (struct boot){ .ops = &mpi_ops, .timeout_ms = timeout_ms };
	if (mpi_load(&m->fn) || mpi_start(m)) {
		free(m);
		return NULL;
	}
	return &m->base;
}
