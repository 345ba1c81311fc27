/*
 * shm.c - the `shm` provider: RC queue pairs between processes on one host
 * through POSIX shared memory, with the semantics and completion statuses
 * of the other providers.  This file: the device (options, segment,
 * progress thread) and the ops table.  The protocol engines are
 * shm_req.c (requester), shm_resp.c (responder), shm_comp.c (completer);
 * connection handling is in shm_qp.c, rings in shm_ring.c, segments and
 * liveness in shm_seg.c.
 *
 * Design.
 *   Segment: each open device creates /dev/shm/loom-shm.<pid>.<n>.<random>;
 *   that name is its tp_addr.  Page 0 is the header (magic, geometry, a
 *   robust "life" lock, the doorbell); then max_qp slots, one per QP: a
 *   control page and two rings, requests *to* this QP and responses *to*
 *   this QP's requests.  Rings are SPSC byte rings of 64-byte-aligned
 *   records (a 64-byte header, then the payload); prod and cons sit on
 *   their own cache lines.  A QP maps its peer's segment at RTR.
 *   Who executes what: the requester writes request records into the
 *   peer's ring; the *responder, in its own process*, checks rkey, bounds
 *   and rights against its own MR table and copies into or out of its own
 *   memory, so registered memory never needs to be shared.  Payloads larger
 *   than a record (chunk_kib) stream through the ring as it drains, so a
 *   message of any size (up to 2^31) passes through a ring of any size.
 *   Copies: through the ring each byte is copied twice (requester -> ring,
 *   ring -> target), which caps 64 KiB WRITE bandwidth near a third of one
 *   core's memcpy.  Memory the application allocates with tp_mem_alloc is
 *   a shared block (shm_mem.c): a payload run of at least ref_min bytes in
 *   one goes *by reference* (a record naming block, offset and length) and
 *   the responder copies straight from the requester's block into its own
 *   memory, after the same checks; a READ whose target is one block run
 *   gets its response written straight into it.  One copy: 64 KiB WRITE
 *   at ~0.85 x one core's memcpy on an idle 2-core machine, ~4x the ring
 *   path under load (bench_transport; ref=0 for the ring).  Verbs allow
 *   it (the requester may not touch a buffer before its WR completes), and
 *   the target's memory is still never exposed; only blocks the requester
 *   chose to allocate are.
 *   Alternatives measured: process_vm_readv (CMA, no allocator needed)
 *   copied 64 KiB at ~0.2 x memcpy here (page pinning per call), below the
 *   ring path; larger rings help the ring path only up to ~2 MiB (below).
 *   Shorter runs (under ref_min, 4 KiB) and inline data still go through
 *   the ring: at 256 B - 1 KiB the two paths measured alike within this
 *   machine's noise, at 4 KiB by reference was ahead, and small messages
 *   (latency, 2-byte inline) keep the path they were tuned on.
 *   Progress: one thread per device runs every QP's responder, completer
 *   and requester; tp_post_send also sends directly from the caller's
 *   thread.  So a process that never polls (or only sleeps in tp_cq_wait,
 *   or spins on memory a peer WRITEs) still serves its peers: RDMA WRITE,
 *   READ and atomics need nothing from the target application, as with a
 *   NIC.  The thread busy-polls for spin_us after its last work, then
 *   sleeps on a futex doorbell that producers ring when it sleeps.
 *   With poll_progress=1 (the default), tp_cq_poll on an empty CQ also runs
 *   a pass (try-locking each QP) in the caller's thread, and while the
 *   application keeps polling the thread naps, so the two never fight over
 *   a core: an application that polls gets sub-microsecond latency.  One
 *   that waits by spinning on memory (perftest's write_lat) depends on the
 *   thread being scheduled: on a machine with fewer cores than busy threads
 *   that is the scheduler's latency (tens of microseconds to milliseconds);
 *   calling tp_cq_poll in such a loop avoids it.
 *   If the peer application never polls its CQ: its receive completions
 *   pile up until its CQ overflows, which puts its QP in ERR (IBA); ours then
 *   sees no progress and ends with RETRY_EXC_ERR after timeout x retries.
 *   No deadlock when both sides block: the responder needs room only in the
 *   response ring, whose consumer (the completer) needs nothing, so every
 *   wait-for chain ends; both threads run regardless of the applications.
 *   Peer death: see shm_seg.c (robust life lock, checked every millisecond
 *   while WQEs are outstanding) -> RETRY_EXC_ERR at once, never a hang.
 *
 * Deviations from IBA, all because the medium is a lossless, ordered ring
 * in memory: one PSN per message; path_mtu is validated and reported but
 * records are sized by chunk_kib; ACK timeouts retransmit nothing (each
 * spends a retry, see shm_comp.c); all checks of a message precede the
 * placement of its first byte.
 *
 * Options (tp_device_open / LOOM_TP_OPTS, as "shm:key=value" to scope):
 * the shm_opts table below.
 *
 * Concurrency: shm.h.  The device's fields are set before its thread
 * starts and only read afterwards, except stop and app_poll_us (atomics).
 * A process must not use a device it inherited through fork(): the child
 * has the mappings but not the thread.
 */
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"
#include "shm.h"

#define SHM_IDLE_SLEEP_US 100000 /* longest sleep with no timer pending */
#define SHM_DOZE_US 100		 /* thread's nap while the application polls */
/* Defaults, from a sweep of 64 KiB RDMA WRITE bandwidth between two
 * processes on a 2-core machine (best of 5, noisy): larger rings keep the
 * producer and the consumer apart (256 KiB: ~7.6 GB/s, 1 MiB: ~25 GB/s,
 * 2 MiB: ~32 GB/s); each QP reserves 2 rings in /dev/shm.  A short spin:
 * a spinning thread takes the core from the application when cores are
 * few. */
#define SHM_RING_KIB 2048
#define SHM_CHUNK_KIB 256
#define SHM_SPIN_US 20
/* Shorter runs of a shared block are copied through the ring (the design
 * note above). */
#define SHM_REF_MIN 4096
#define SHM_STR_(x) #x
#define SHM_STR(x) SHM_STR_(x)

bool shm_trace_on;

void shm_trace(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "shm[%d]: ", (int)getpid());
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const struct tp_opt_spec shm_opts[] = {
	{ "max_qp", TP_OPT_U64, 1, 256, "QP slots in the device's segment (default 64)" },
	{ "ring_kib", TP_OPT_U64, 4, 1 << 20,
	  "KiB of each ring, a power of two (default 2048; each QP reserves 2 rings "
	  "in /dev/shm)" },
	{ "chunk_kib", TP_OPT_U64, 1, 1 << 18,
	  "payload KiB per record, at most ring_kib/4 (default 256)" },
	{ "spin_us", TP_OPT_U64, 0, 10000000,
	  "microseconds the progress thread polls after its last work before sleeping "
	  "(default 20)" },
	{ "poll_progress", TP_OPT_BOOL, 0, 1,
	  "tp_cq_poll on an empty CQ makes progress, and the thread naps meanwhile "
	  "(default 1)" },
	{ "ref", TP_OPT_BOOL, 0, 1,
	  "pass payloads in tp_mem_alloc memory to the peer by reference, one copy "
	  "instead of two (default 1)" },
	{ "ref_min", TP_OPT_U64, 0, 1u << 31,
	  "bytes: shorter runs of tp_mem_alloc memory are copied through the ring "
	  "(default " SHM_STR(SHM_REF_MIN) ")" },
	{ NULL },
};

/* ---- progress ------------------------------------------------------------ */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	sched_yield();
#endif
}

/* One pass over every QP; whether anything happened.  A QP whose lock is
 * taken (a post in progress) counts as busy. */
static bool progress_all(struct shm_device *sd, uint64_t now, uint64_t *deadline)
{
	bool did = false;

	pthread_rwlock_rdlock(&sd->qps_lock);
	for (unsigned i = 0; i < sd->max_qp; i++) {
		struct shm_qp *q = sd->qps[i];

		if (!q)
			continue;
		if (pthread_mutex_trylock(&q->qp.lock)) {
			did = true;
			continue;
		}
		did |= shm_qp_progress(q, now, deadline);
		pthread_mutex_unlock(&q->qp.lock);
	}
	pthread_rwlock_unlock(&sd->qps_lock);
	return did;
}

/* Sleep on the doorbell (shm.h: the sleeping/doorbell Dekker pair) until
 * rung or the earliest timer; after announcing the sleep, look for work
 * once more. */
static void progress_sleep(struct shm_device *sd)
{
	struct shm_seg_hdr *h = sd->hdr;
	uint32_t seen = atomic_load_explicit(&h->doorbell, memory_order_acquire);
	uint64_t now, deadline;

	atomic_store_explicit(&h->sleeping, 1, memory_order_seq_cst);
	now = tp_now_us();
	deadline = now + SHM_IDLE_SLEEP_US;
	if (!atomic_load_explicit(&sd->stop, memory_order_seq_cst) &&
	    !progress_all(sd, now, &deadline) && deadline > now)
		shm_futex_wait(&h->doorbell, seen, deadline - now);
	atomic_store_explicit(&h->sleeping, 0, memory_order_relaxed);
}

/* Whether the application made a progress pass (tp_cq_poll) this recently. */
static bool app_polling(struct shm_device *sd, uint64_t now)
{
	return now - atomic_load_explicit(&sd->app_poll_us, memory_order_relaxed) < SHM_DOZE_US;
}

/* Nap without asking to be rung (sleeping stays 0): while the application
 * polls, it makes the progress, and producers make no wake-up calls. */
static void progress_doze(void)
{
	struct timespec ts = { .tv_nsec = SHM_DOZE_US * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * The thread: while the application polls this device's CQs (poll_progress)
 * it naps, so that two threads do not fight over one core; otherwise it
 * works, spins spin_us after its last work, then sleeps until rung.
 */
static void *progress_thread(void *arg)
{
	struct shm_device *sd = arg;
	uint64_t idle_since = tp_now_us();

	prctl(PR_SET_TIMERSLACK, 1000UL); /* naps of SHM_DOZE_US, not 50 us more */
	pthread_mutex_lock(&sd->hdr->life); /* held until close (shm_seg.c) */
	atomic_store_explicit(&sd->hdr->magic, SHM_MAGIC, memory_order_release);
	while (!atomic_load_explicit(&sd->stop, memory_order_acquire)) {
		uint64_t now = tp_now_us(), deadline = UINT64_MAX;

		if (app_polling(sd, now)) {
			progress_doze();
			idle_since = tp_now_us();
		} else if (progress_all(sd, now, &deadline)) {
			idle_since = now;
		} else if (now - idle_since < sd->spin_us) {
			cpu_relax();
		} else {
			progress_sleep(sd);
			idle_since = tp_now_us();
		}
	}
	atomic_store_explicit(&sd->hdr->closed, 1, memory_order_release);
	pthread_mutex_unlock(&sd->hdr->life);
	return NULL;
}

/* tp_cq_poll found its CQ empty: one pass from the application's thread. */
static void shm_progress(struct tp_device *dev)
{
	struct shm_device *sd = to_shm_dev(dev);
	uint64_t now, deadline = UINT64_MAX;

	if (!sd->poll_progress)
		return;
	now = tp_now_us();
	atomic_store_explicit(&sd->app_poll_us, now, memory_order_relaxed);
	progress_all(sd, now, &deadline);
}

/* Start the thread with every signal blocked (signals belong to the
 * application's threads); wait until it holds `life` and published the
 * magic, so peers and the stale-segment sweep never see a half-made one. */
static int thread_start(struct shm_device *sd)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&sd->thread, NULL, progress_thread, sd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		return loom_err_set(err, "shm: progress thread: %s", strerror(err));
	pthread_setname_np(sd->thread, "loom-shm");
	while (atomic_load_explicit(&sd->hdr->magic, memory_order_acquire) != SHM_MAGIC)
		sched_yield();
	return 0;
}

/* ---- devices ----------------------------------------------------------------- */

static int shm_get_devices(struct tp_device_info *list, int max)
{
	if (list && max >= 1) {
		memset(list, 0, sizeof(*list));
		strcpy(list->provider, "shm");
		strcpy(list->name, "shm0");
	}
	return 1;
}

static int read_opts(struct shm_device *sd, const struct tp_opts *o)
{
	uint64_t ring_kib = tp_opts_u64(o, "ring_kib", SHM_RING_KIB);
	uint64_t chunk_kib = tp_opts_u64(o, "chunk_kib", SHM_CHUNK_KIB);

	if (ring_kib & (ring_kib - 1))
		return loom_err_set(EINVAL, "shm: ring_kib=%llu is not a power of two",
				    (unsigned long long)ring_kib);
	if (chunk_kib > ring_kib / 4)
		return loom_err_set(EINVAL, "shm: chunk_kib=%llu exceeds ring_kib/4 = %llu",
				    (unsigned long long)chunk_kib,
				    (unsigned long long)(ring_kib / 4));
	sd->max_qp = (unsigned)tp_opts_u64(o, "max_qp", 64);
	sd->ring_bytes = ring_kib * 1024;
	sd->chunk_bytes = chunk_kib * 1024;
	sd->spin_us = tp_opts_u64(o, "spin_us", SHM_SPIN_US);
	sd->poll_progress = tp_opts_bool(o, "poll_progress", true);
	sd->ref_min = tp_opts_bool(o, "ref", true) ? tp_opts_u64(o, "ref_min", SHM_REF_MIN)
						   : UINT64_MAX;
	return 0;
}

static int shm_device_open(struct tp_device *dev, const char *name, const struct tp_opts *o)
{
	struct shm_device *sd = to_shm_dev(dev);
	int err;

	if (strcmp(name, "shm0") != 0)
		return loom_err_set(ENODEV, "shm: no device '%s' (the shm provider has one: shm0)",
				    name);
	if ((err = read_opts(sd, o)) < 0)
		return err;
	shm_trace_on = getenv("LOOM_SHM_TRACE") != NULL;
	shm_sweep_stale(); /* what crashed processes left in /dev/shm */
	sd->qps = calloc(sd->max_qp, sizeof(*sd->qps));
	sd->gen = calloc(sd->max_qp, sizeof(*sd->gen));
	if (!sd->qps || !sd->gen) {
		err = loom_err_set(ENOMEM, "shm: out of memory for the QP table");
		goto err_free;
	}
	pthread_rwlock_init(&sd->qps_lock, NULL);
	pthread_mutex_init(&sd->peers_lock, NULL);
	pthread_rwlock_init(&sd->mem_lock, NULL);
	if ((err = shm_seg_create(sd)) < 0)
		goto err_locks;
	if ((err = thread_start(sd)) < 0)
		goto err_seg;
	return 0;

err_seg:
	shm_seg_destroy(sd);
err_locks:
	pthread_rwlock_destroy(&sd->mem_lock);
	pthread_mutex_destroy(&sd->peers_lock);
	pthread_rwlock_destroy(&sd->qps_lock);
err_free:
	free(sd->gen);
	free(sd->qps);
	return err;
}

static void shm_device_close(struct tp_device *dev)
{
	struct shm_device *sd = to_shm_dev(dev);

	atomic_store_explicit(&sd->stop, true, memory_order_seq_cst);
	atomic_fetch_add_explicit(&sd->hdr->doorbell, 1, memory_order_seq_cst);
	shm_bell(sd->hdr);
	pthread_join(sd->thread, NULL);
	while (sd->peers) { /* none unless a QP leaked its reference */
		struct shm_peer *p = sd->peers;

		sd->peers = p->next;
		shm_rmap_fini(p);
		if (!p->self)
			munmap(p->hdr, p->map_len);
		free(p);
	}
	shm_seg_destroy(sd);
	shm_mem_fini(sd);
	pthread_mutex_destroy(&sd->peers_lock);
	pthread_rwlock_destroy(&sd->qps_lock);
	free(sd->gen);
	free(sd->qps);
}

static int shm_device_addr(struct tp_device *dev, struct tp_addr *addr)
{
	struct shm_device *sd = to_shm_dev(dev);

	addr->len = (uint16_t)strlen(sd->seg_name);
	memcpy(addr->bytes, sd->seg_name, addr->len);
	return 0;
}

static int shm_addr_format(const struct tp_addr *addr, char *buf, size_t len)
{
	int n = snprintf(buf, len, "shm:%.*s", (int)addr->len, (const char *)addr->bytes);

	return n < 0 || (size_t)n >= len ? loom_err_set(ENOSPC, "shm: addr_format: buffer of "
							"%zu bytes too small", len)
					 : 0;
}

const struct tp_provider_ops shm_provider_ops = {
	.name = "shm",
	.opts = shm_opts,
	.device_size = sizeof(struct shm_device),
	.qp_size = sizeof(struct shm_qp),
	.get_devices = shm_get_devices,
	.device_open = shm_device_open,
	.device_close = shm_device_close,
	.device_addr = shm_device_addr,
	.addr_format = shm_addr_format,
	.qp_init = shm_qp_init,
	.qp_fini = shm_qp_fini,
	.qp_modify = shm_qp_modify,
	.post_send_kick = shm_post_send_kick,
	.progress = shm_progress,
	.mem_alloc = shm_mem_alloc,
	.mem_free = shm_mem_free,
};
