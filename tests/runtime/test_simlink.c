/*
 * test_simlink.c - the device link between two processes: this test is the
 * host; helper_simlink_dev (next to this binary) is a toy device with a
 * register file and a DMA engine.  Checks the handshake and the device
 * map, MMIO and DMA round trips against a shadow model kept here, bounds
 * errors, interrupts, posted-write order, backpressure, and in
 * synchronized mode that every measured time equals the link model's
 * closed form exactly (round trip = 2 x latency + serialization, N bytes
 * take N / B cycles plus the message headers, credit stalls) with no
 * horizon violation on either side.  Dead peers (either side) give -EPIPE
 * within 1 s; version mismatches are refused on both sides.  Prints a
 * throughput figure (messages/s), asserting nothing about it.
 *
 * The device's register map is written out here again on purpose (not
 * shared with the device program), as the independent side of each check.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../runtime/simlink/simlink_int.h"
#include "loom/err.h"
#include "loom/simlink.h"
#include "lt.h"

/* The toy device's map (helper_simlink_dev.c). */
enum {
	R_ID = 0x000, R_SRC = 0x008, R_DST = 0x010, R_LEN = 0x018, R_CTRL = 0x020,
	R_STATUS = 0x028, R_START = 0x030, R_DONE = 0x038, R_LOG = 0x040, R_LOG_COUNT = 0x048,
	R_ORDER_ERR = 0x050, R_LOG_LAST = 0x058, R_NOW = 0x060, R_VIOL = 0x068, R_BAD = 0x070,
	R_IRQ = 0x078, R_SCRATCH = 0x100, SCRATCH_BYTES = 0x100,
};
#define DEV_ID 0x4c4f4f4dull
#define IRQ_DONE 0
#define IRQ_ERR 1
#define DMA_BYTES (1u << 20)
#define TIMEOUT_MS 10000

struct dev_proc {
	pid_t pid;
	char path[108];
	struct simlink *l;
};

static double wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool dev_exe_path(char *out, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return false;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return false;
	*slash = '\0';
	if ((size_t)snprintf(out, cap, "%.*s/helper_simlink_dev", PATH_MAX - 32, self) >= cap)
		return false;
	return access(out, X_OK) == 0;
}

static void sock_path(char *out, size_t cap)
{
	static int n;

	snprintf(out, cap, "/tmp/loom-simlink-%d-%d.sock", (int)getpid(), n++);
}

/* Start the device program with args (NULL-terminated list) and connect to it. */
static bool dev_start(struct lt *t, struct dev_proc *d, const char *const *args)
{
	char exe[PATH_MAX];
	char *argv[32];
	int n = 0;

	memset(d, 0, sizeof(*d));
	if (!dev_exe_path(exe, sizeof(exe))) {
		LT_CHECK(t, false, "helper_simlink_dev not found next to this test (make all)");
		return false;
	}
	sock_path(d->path, sizeof(d->path));
	argv[n++] = exe;
	argv[n++] = d->path;
	for (; args && *args && n < 31; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	d->pid = fork();
	if (d->pid == 0) {
		execv(exe, argv);
		_exit(127);
	}
	d->l = simlink_host_connect(d->path, DMA_BYTES, TIMEOUT_MS);
	LT_CHECK(t, d->l != NULL, "connect: %s", loom_err_msg());
	if (!d->l) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
		unlink(d->path);
	}
	return d->l != NULL;
}

/* Close the link; the device program must then exit 0 (no violation, no error). */
static void dev_stop(struct lt *t, struct dev_proc *d)
{
	int status = 0;
	double end = wall_ms() + 5000;
	pid_t r;

	simlink_close(d->l);
	d->l = NULL;
	while ((r = waitpid(d->pid, &status, WNOHANG)) == 0 && wall_ms() < end)
		usleep(1000);
	if (r == 0) {
		kill(d->pid, SIGKILL);
		waitpid(d->pid, &status, 0);
		LT_CHECK(t, false, "device did not exit after the host left");
		return;
	}
	LT_CHECK(t, WIFEXITED(status) && WEXITSTATUS(status) == 0,
		 "device exit status %#x (2 = horizon violations)", status);
}

static uint64_t rd(struct lt *t, struct simlink *l, uint64_t off)
{
	uint64_t v = ~0ull;
	int rc = simlink_mmio_read(l, 0, off, 8, &v);

	LT_CHECK(t, rc == 0, "read %#llx: %d %s", (unsigned long long)off, rc, loom_err_msg());
	return v;
}

static void wr(struct lt *t, struct simlink *l, uint64_t off, uint64_t v)
{
	int rc = simlink_mmio_write(l, 0, off, 8, v);

	LT_CHECK(t, rc == 0, "write %#llx: %d %s", (unsigned long long)off, rc, loom_err_msg());
}

/* Post a write, serving the link while the ring is full. */
static int post(struct simlink *l, uint64_t off, uint64_t v)
{
	struct simlink_msg m;
	int rc;

	while ((rc = simlink_mmio_write_posted(l, 0, off, 8, v)) == -EAGAIN) {
		rc = simlink_next(l, simlink_now(l), &m);
		if (rc < 0)
			return rc;
		if (rc == 1)
			return -EPROTO; /* no interrupt expected here */
	}
	return rc;
}

/* Wait for the next interrupt; its vector or a negative error. */
static int wait_irq(struct simlink *l)
{
	struct simlink_msg m;
	int rc = simlink_next(l, SIMLINK_FOREVER, &m);

	if (rc < 0)
		return rc;
	if (rc == 0 || m.type != SIMLINK_IRQ)
		return -EPROTO;
	return (int)m.addr;
}

static void check_no_violations(struct lt *t, struct simlink *l)
{
	struct simlink_stats st;

	LT_CHECK(t, rd(t, l, R_VIOL) == 0, "device counted violations");
	simlink_stats(l, &st);
	LT_CHECK(t, st.violations == 0, "host: %llu violations",
		 (unsigned long long)st.violations);
	LT_CHECK(t, simlink_now(l) <= st.horizon_ps || !simlink_synchronized(l),
		 "host now %llu past horizon %llu", (unsigned long long)simlink_now(l),
		 (unsigned long long)st.horizon_ps);
}

/* ---- handshake ------------------------------------------------------ */

static void test_handshake_map(struct lt *t)
{
	const char *args[] = { "--latency", "250000", "--bpc", "16", "--queue", "64", NULL };
	struct dev_proc d;
	const struct simlink_info *info;
	const struct simlink_params *p;

	if (!dev_start(t, &d, args))
		return;
	info = simlink_info(d.l);
	p = simlink_params(d.l);
	LT_CHECK(t, info->n_bars == 2 && info->bar_bytes[0] == 4096 && info->bar_bytes[1] == 65536,
		 "bars %u: %llu %llu", info->n_bars, (unsigned long long)info->bar_bytes[0],
		 (unsigned long long)info->bar_bytes[1]);
	LT_CHECK(t, info->n_irqs == 4, "n_irqs %u", info->n_irqs);
	LT_CHECK(t, info->n_blocks == 3, "n_blocks %u", info->n_blocks);
	LT_CHECK(t, info->blocks[0].type == 1 && info->blocks[0].version == 3 &&
			    info->blocks[0].bar == 0 && info->blocks[0].offset == 0x100 &&
			    info->blocks[0].bytes == 0x100, "block 0");
	LT_CHECK(t, info->blocks[1].type == 2 && info->blocks[1].offset == 0x008, "block 1");
	LT_CHECK(t, info->blocks[2].type == 7 && info->blocks[2].version == 2 &&
			    info->blocks[2].bar == 1 && info->blocks[2].bytes == 65536, "block 2");
	LT_CHECK(t, p->latency_ps == 250000 && p->bytes_per_cycle == 16 && p->queue_msgs == 64 &&
			    p->ps_per_cycle == 1000 && p->synchronized == 1,
		 "params lat %llu bpc %u queue %u", (unsigned long long)p->latency_ps,
		 p->bytes_per_cycle, p->queue_msgs);
	LT_CHECK(t, simlink_synchronized(d.l) && simlink_now(d.l) == 0, "sync, time 0");
	LT_CHECK(t, simlink_dma_bytes(d.l) == DMA_BYTES, "dma bytes");
	LT_CHECK(t, rd(t, d.l, R_ID) == DEV_ID, "device id");
	dev_stop(t, &d);
}

/* A fake peer on a raw socket, for the handshake's refusals. */
struct fake {
	char path[108];
	uint32_t version;
	int result;		/* what the fake saw */
	char reason[128];
};

static void *fake_device(void *arg)
{
	struct fake *f = arg;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct simlink_hs_host h;
	struct simlink_hs_dev *dv = calloc(1, sizeof(*dv));
	struct simlink_hs_ack ack;
	int ls = socket(AF_UNIX, SOCK_SEQPACKET, 0), s;

	strcpy(a.sun_path, f->path);
	unlink(f->path);
	bind(ls, (struct sockaddr *)&a, sizeof(a));
	listen(ls, 1);
	s = accept(ls, NULL, NULL);
	f->result = (int)recv(s, &h, sizeof(h), 0) == (int)sizeof(h) ? 0 : -1;
	dv->magic = SIMLINK_MAGIC;
	dv->version = f->version;
	dv->kind = SIMLINK_HS_DEV;
	simlink_params_default(&dv->params);
	dv->info.n_bars = 1;
	dv->info.bar_bytes[0] = 4096;
	send(s, dv, sizeof(*dv), MSG_NOSIGNAL);
	memset(&ack, 0, sizeof(ack));
	if (recv(s, &ack, sizeof(ack), 0) == (ssize_t)sizeof(ack)) {
		f->result = ack.status;
		snprintf(f->reason, sizeof(f->reason), "%.112s", ack.reason);
	}
	close(s);
	close(ls);
	unlink(f->path);
	free(dv);
	return NULL;
}

static void test_version_mismatch_host(struct lt *t)
{
	struct fake f = { .version = SIMLINK_VERSION + 98 };
	pthread_t th;
	struct simlink *l;

	sock_path(f.path, sizeof(f.path));
	pthread_create(&th, NULL, fake_device, &f);
	l = simlink_host_connect(f.path, 4096, 5000);
	LT_CHECK(t, l == NULL, "host accepted a device of version %u", f.version);
	LT_CHECK(t, strstr(loom_err_msg(), "version 99") != NULL, "reason: %s", loom_err_msg());
	pthread_join(th, NULL);
	/* The host told the device why. */
	LT_CHECK(t, f.result == -EPROTO && strstr(f.reason, "version 99"), "ack %d '%s'",
		 f.result, f.reason);
	simlink_close(l);
}

static void *fake_host(void *arg)
{
	struct fake *f = arg;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct simlink_hs_host h = { .magic = SIMLINK_MAGIC, .version = f->version,
				     .kind = SIMLINK_HS_HOST, .dma_bytes = 4096 };
	struct simlink_hs_dev *dv = calloc(1, sizeof(*dv));
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	strcpy(a.sun_path, f->path);
	for (int i = 0; i < 2000 && connect(s, (struct sockaddr *)&a, sizeof(a)) < 0; i++)
		usleep(1000);
	send(s, &h, sizeof(h), MSG_NOSIGNAL); /* no fd either: the version is checked first */
	f->result = 1;
	if (recv(s, dv, sizeof(*dv), 0) == (ssize_t)sizeof(*dv)) {
		f->result = dv->status;
		snprintf(f->reason, sizeof(f->reason), "%.112s", dv->reason);
	}
	close(s);
	free(dv);
	return NULL;
}

static void test_version_mismatch_device(struct lt *t)
{
	struct fake f = { .version = 7 };
	struct simlink_params p;
	struct simlink_info info = { .n_bars = 1, .bar_bytes = { 4096 } };
	struct simlink_server *s;
	struct simlink *l;
	pthread_t th;

	sock_path(f.path, sizeof(f.path));
	simlink_params_default(&p);
	s = simlink_dev_listen(f.path);
	LT_CHECK(t, s != NULL, "listen: %s", loom_err_msg());
	if (!s)
		return;
	pthread_create(&th, NULL, fake_host, &f);
	l = simlink_dev_accept(s, &info, &p, 5000);
	LT_CHECK(t, l == NULL, "device accepted a host of version 7");
	LT_CHECK(t, strstr(loom_err_msg(), "version 7") != NULL, "reason: %s", loom_err_msg());
	pthread_join(th, NULL);
	LT_CHECK(t, f.result == -EPROTO && strstr(f.reason, "version 7"), "host saw %d '%s'",
		 f.result, f.reason);
	simlink_close(l);
	simlink_server_close(s);
}

static void test_bad_setup(struct lt *t)
{
	struct simlink_params p;
	struct simlink_info info = { .n_bars = 1, .bar_bytes = { 4096 } };
	struct simlink_server *s;
	char path[108];
	double t0;

	sock_path(path, sizeof(path));
	LT_CHECK(t, simlink_host_connect(path, 0, 100) == NULL && strstr(loom_err_msg(), "dma"),
		 "dma_bytes 0: %s", loom_err_msg());
	t0 = wall_ms();
	LT_CHECK(t, simlink_host_connect(path, 4096, 50) == NULL, "connect to nothing");
	LT_CHECK(t, wall_ms() - t0 < 2000, "connect gave up after %.0f ms", wall_ms() - t0);
	LT_CHECK(t, simlink_dev_listen("") == NULL, "empty path");
	s = simlink_dev_listen(path);
	LT_CHECK(t, s != NULL, "listen: %s", loom_err_msg());
	if (!s)
		return;
	simlink_params_default(&p);
	p.queue_msgs = 3;
	LT_CHECK(t, simlink_dev_accept(s, &info, &p, 50) == NULL &&
			    strstr(loom_err_msg(), "queue_msgs"), "queue 3: %s", loom_err_msg());
	simlink_params_default(&p);
	p.latency_ps = 0;
	LT_CHECK(t, simlink_dev_accept(s, &info, &p, 50) == NULL &&
			    strstr(loom_err_msg(), "latency"), "latency 0: %s", loom_err_msg());
	simlink_params_default(&p);
	p.credit_bytes = 1000;
	LT_CHECK(t, simlink_dev_accept(s, &info, &p, 50) == NULL, "credits < payload");
	simlink_params_default(&p);
	info.n_blocks = 1;
	info.blocks[0] = (struct simlink_block){ .bar = 0, .offset = 4000, .bytes = 200 };
	LT_CHECK(t, simlink_dev_accept(s, &info, &p, 50) == NULL &&
			    strstr(loom_err_msg(), "outside its BAR"), "block: %s", loom_err_msg());
	info.n_blocks = 0;
	t0 = wall_ms();
	LT_CHECK(t, simlink_dev_accept(s, &info, &p, 50) == NULL &&
			    strstr(loom_err_msg(), "timed out"),
		 "no host: %s", loom_err_msg());
	LT_CHECK(t, wall_ms() - t0 < 1000, "accept waited %.0f ms", wall_ms() - t0);
	LT_CHECK(t, simlink_next(NULL, 0, NULL) == -EINVAL, "next(NULL)");
	simlink_server_close(s);
	simlink_close(NULL);
	simlink_server_close(NULL);
}

/* ---- functional (both modes) ---------------------------------------- */

/* Random MMIO of 1..8 bytes on the scratch block against a shadow copy. */
static void mmio_random(struct lt *t, struct simlink *l, struct loom_rng *r)
{
	static const uint32_t lens[] = { 1, 2, 4, 8 };
	uint8_t shadow[SCRATCH_BYTES];
	int bad = 0;

	memset(shadow, 0, sizeof(shadow));
	for (int i = 0; i < 400 && bad < 5; i++) {
		uint32_t len = lens[loom_rng_u32(r) % 4];
		uint64_t off = loom_rng_u32(r) % (SCRATCH_BYTES - len + 1), v = loom_rng_u64(r), got = 0;
		int op = (int)(loom_rng_u32(r) % 3), rc;

		if (len < 8)
			v &= (1ull << (8 * len)) - 1;
		if (op == 0) {
			rc = simlink_mmio_read(l, 0, R_SCRATCH + off, len, &got);
			memcpy(&v, shadow + off, len);
			v &= len < 8 ? (1ull << (8 * len)) - 1 : ~0ull;
			if (rc != 0 || got != v)
				bad++;
			LT_CHECK(t, rc == 0 && got == v, "read %u @%#llx: rc %d got %#llx want %#llx",
				 len, (unsigned long long)off, rc, (unsigned long long)got,
				 (unsigned long long)v);
			continue;
		}
		rc = op == 1 ? simlink_mmio_write(l, 0, R_SCRATCH + off, len, v)
			     : simlink_mmio_write_posted(l, 0, R_SCRATCH + off, len, v);
		LT_CHECK(t, rc == 0, "write: %d %s", rc, loom_err_msg());
		memcpy(shadow + off, &v, len);
	}
}

static void mmio_errors(struct lt *t, struct simlink *l)
{
	uint64_t v;

	LT_CHECK(t, simlink_mmio_write(l, 0, R_ID, 8, 1) == -EPERM, "ID write: %s",
		 loom_err_msg());
	LT_CHECK(t, simlink_mmio_read(l, 0, 4096 - 4, 8, &v) == -EFAULT, "read past BAR0");
	LT_CHECK(t, simlink_mmio_read(l, 2, 0, 8, &v) == -EFAULT, "BAR 2 does not exist");
	LT_CHECK(t, simlink_mmio_read(l, 0, 0, 3, &v) == -EINVAL, "3-byte MMIO");
	LT_CHECK(t, simlink_mmio_read(l, 1, 65536 - 8, 8, &v) == 0 && v == 0, "BAR1 end");
	LT_CHECK(t, simlink_dma_read(l, 0, 64, (uint32_t[1]){ 0 }) == -EINVAL,
		 "the host issues no DMA");
	LT_CHECK(t, simlink_dma_ptr(l, DMA_BYTES - 8, 16) == NULL, "dma_ptr bounds");
	LT_CHECK(t, simlink_dma_ptr(l, DMA_BYTES - 16, 16) != NULL, "dma_ptr at the end");
}

/* Copy len bytes src -> dst through the device's DMA engine. */
static int dma_copy(struct lt *t, struct simlink *l, uint64_t cmd, uint64_t src, uint64_t dst,
		    uint64_t len)
{
	wr(t, l, R_SRC, src);
	wr(t, l, R_DST, dst);
	wr(t, l, R_LEN, len);
	wr(t, l, R_CTRL, cmd);
	return wait_irq(l);
}

static void dma_round_trip(struct lt *t, struct simlink *l, struct loom_rng *r)
{
	uint8_t *mem = simlink_dma_ptr(l, 0, DMA_BYTES), *want = malloc(DMA_BYTES);
	uint64_t src = 1000, dst = 300001, len = 70001; /* odd sizes, several chunks */
	int v;

	for (uint32_t i = 0; i < DMA_BYTES; i++)
		mem[i] = (uint8_t)loom_rng_u32(r);
	memcpy(want, mem, DMA_BYTES);
	memcpy(want + dst, want + src, len);
	v = dma_copy(t, l, 1, src, dst, len);
	LT_CHECK(t, v == IRQ_DONE, "copy irq %d (%s)", v, loom_err_msg());
	LT_CHECK(t, rd(t, l, R_STATUS) == 0, "copy status");
	LT_CHECK(t, memcmp(mem, want, DMA_BYTES) == 0, "memory after the copy");

	for (uint64_t i = 0; i < 5000; i++)
		want[9000 + i] = (uint8_t)(77 + i);
	v = dma_copy(t, l, 2, 77, 9000, 5000);
	LT_CHECK(t, v == IRQ_DONE && memcmp(mem, want, DMA_BYTES) == 0, "fill: irq %d", v);

	/* Out of bounds: an error status and interrupt, memory untouched. */
	v = dma_copy(t, l, 2, 0, DMA_BYTES - 100, 200);
	LT_CHECK(t, v == IRQ_ERR, "fill past the end: irq %d", v);
	LT_CHECK(t, rd(t, l, R_STATUS) == (uint64_t)(int64_t)-EFAULT, "status %lld",
		 (long long)rd(t, l, R_STATUS));
	v = dma_copy(t, l, 1, DMA_BYTES - 10, 0, 20);
	LT_CHECK(t, v == IRQ_ERR, "copy from past the end: irq %d", v);
	LT_CHECK(t, memcmp(mem, want, DMA_BYTES) == 0, "memory after refused DMA");
	free(want);
}

static void interrupts(struct lt *t, struct simlink *l)
{
	int got[4];

	for (int v = 0; v < 4; v++)
		LT_CHECK(t, post(l, R_IRQ, (uint64_t)v) == 0, "post irq %d", v);
	for (int i = 0; i < 4; i++)
		got[i] = wait_irq(l);
	LT_CHECK(t, got[0] == 0 && got[1] == 1 && got[2] == 2 && got[3] == 3,
		 "irqs %d %d %d %d", got[0], got[1], got[2], got[3]);
	/* Raised while a blocking read waits: kept, then returned. */
	LT_CHECK(t, post(l, R_IRQ, 3) == 0, "post");
	LT_CHECK(t, rd(t, l, R_ID) == DEV_ID, "id");
	LT_CHECK(t, wait_irq(l) == 3, "irq kept across the read");
	/* A vector the device does not have is refused on its side. */
	LT_CHECK(t, post(l, R_IRQ, 4) == 0, "post");
	LT_CHECK(t, rd(t, l, R_ID) == DEV_ID, "id");
}

static void posted_order(struct lt *t, struct simlink *l, int n)
{
	uint64_t base = rd(t, l, R_LOG_COUNT);

	for (int i = 0; i < n; i++)
		if (post(l, R_LOG, base + (uint64_t)i) != 0) {
			LT_CHECK(t, false, "post %d: %s", i, loom_err_msg());
			return;
		}
	LT_CHECK(t, rd(t, l, R_LOG_COUNT) == base + (uint64_t)n, "log count");
	LT_CHECK(t, rd(t, l, R_ORDER_ERR) == 0, "posted writes out of order");
}

static void functional(struct lt *t, const char *const *args)
{
	struct loom_rng r;
	struct dev_proc d;

	loom_rng_init(&r, lt_seed(t));
	if (!dev_start(t, &d, args))
		return;
	mmio_random(t, d.l, &r);
	mmio_errors(t, d.l);
	dma_round_trip(t, d.l, &r);
	interrupts(t, d.l);
	posted_order(t, d.l, 3000);
	check_no_violations(t, d.l);
	LT_CHECK(t, rd(t, d.l, R_BAD) == 0, "device saw malformed messages");
	dev_stop(t, &d);
}

static void test_functional_sync(struct lt *t)
{
	const char *args[] = { "--queue", "64", NULL };

	functional(t, args);
}

static void test_functional_unsync(struct lt *t)
{
	const char *args[] = { "--unsync", "--queue", "64", NULL };
	struct dev_proc d;

	functional(t, args);
	if (!dev_start(t, &d, args))
		return;
	LT_CHECK(t, !simlink_synchronized(d.l), "unsynchronized mode is reported");
	LT_CHECK(t, rd(t, d.l, R_NOW) == 0 && simlink_now(d.l) == 0, "no time passes");
	dev_stop(t, &d);
}

/* ---- timing (synchronized) ------------------------------------------ */

/* ceil(bytes / bpc) cycles of 1000 ps: the serialization, computed here. */
static uint64_t ser(uint64_t bytes, uint64_t bpc)
{
	return (bytes + bpc - 1) / bpc * 1000;
}

static void test_sync_round_trip(struct lt *t)
{
	static const struct { const char *lat, *bpc; uint64_t l, b; } cfg[] = {
		{ "500000", "32", 500000, 32 }, { "1000", "8", 1000, 8 },
		{ "123457", "5", 123457, 5 },
	};

	for (size_t c = 0; c < 3; c++) {
		const char *args[] = { "--latency", cfg[c].lat, "--bpc", cfg[c].bpc, NULL };
		uint64_t lat = cfg[c].l, s64 = ser(64, cfg[c].b);
		struct dev_proc d;

		if (!dev_start(t, &d, args))
			return;
		for (int i = 0; i < 20; i++) {
			uint64_t t0 = simlink_now(d.l), dev_now = rd(t, d.l, R_NOW);
			uint64_t t1 = simlink_now(d.l);

			/* Request leaves at t0 + s64, arrives one latency later;
			 * the completion likewise back. */
			LT_CHECK(t, dev_now == t0 + s64 + lat, "cfg %zu: device saw the read at %llu, "
				 "want %llu", c, (unsigned long long)dev_now,
				 (unsigned long long)(t0 + s64 + lat));
			LT_CHECK(t, t1 - t0 == 2 * lat + 2 * s64, "cfg %zu: round trip %llu ps, want "
				 "%llu", c, (unsigned long long)(t1 - t0),
				 (unsigned long long)(2 * lat + 2 * s64));
			if (t1 - t0 != 2 * lat + 2 * s64)
				break;
		}
		check_no_violations(t, d.l);
		dev_stop(t, &d);
	}
}

/* K posted writes at one instant: the last arrives K serializations later. */
static void test_sync_bandwidth(struct lt *t)
{
	const char *args[] = { "--latency", "100000", "--bpc", "4", "--queue", "512", NULL };
	const uint64_t lat = 100000, k = 300;
	struct dev_proc d;
	uint64_t t0, last;

	if (!dev_start(t, &d, args))
		return;
	t0 = simlink_now(d.l);
	for (uint64_t i = 0; i < k; i++)
		LT_CHECK(t, simlink_mmio_write_posted(d.l, 0, R_LOG, 8, i) == 0, "post %llu",
			 (unsigned long long)i);
	last = rd(t, d.l, R_LOG_LAST);
	/* 300 x 64 bytes at 4 B/cycle: 4800 cycles, exactly. */
	LT_CHECK(t, last == t0 + k * ser(64, 4) + lat, "last write at %llu, want %llu",
		 (unsigned long long)last, (unsigned long long)(t0 + k * ser(64, 4) + lat));
	LT_CHECK(t, (last - t0 - lat) / 1000 == k * 64 / 4, "%llu cycles for %llu bytes",
		 (unsigned long long)((last - t0 - lat) / 1000), (unsigned long long)(k * 64));
	check_no_violations(t, d.l);
	dev_stop(t, &d);
}

/* Credits for 4 messages and a long latency: groups of 4 per credit round
 * trip, ts_i = t0 + (i % 4 + 1) s + (i / 4)(2 L + s) for i >= 0. */
static void test_sync_credits(struct lt *t)
{
	const char *args[] = { "--latency", "50000", "--bpc", "16", "--credits", "256",
			       "--payload", "128", NULL };
	const uint64_t lat = 50000, s = ser(64, 16), k = 13, i = k - 1;
	struct dev_proc d;
	uint64_t t0, last, want;

	if (!dev_start(t, &d, args))
		return;
	t0 = simlink_now(d.l);
	for (uint64_t j = 0; j < k; j++)
		LT_CHECK(t, simlink_mmio_write_posted(d.l, 0, R_LOG, 8, j) == 0, "post");
	last = rd(t, d.l, R_LOG_LAST);
	want = t0 + (i % 4 + 1) * s + (i / 4) * (2 * lat + s) + lat;
	LT_CHECK(t, last == want, "last write arrived at %llu, want %llu",
		 (unsigned long long)last, (unsigned long long)want);
	check_no_violations(t, d.l);
	dev_stop(t, &d);
}

/* The device fills N bytes with DMA writes, then interrupts: the interrupt
 * arrives after every chunk's 64 + payload bytes and its own 64. */
static void test_sync_dma_bandwidth(struct lt *t)
{
	const char *args[] = { "--latency", "200000", "--bpc", "32", "--credits", "1048576",
			       NULL };
	const uint64_t lat = 200000, n = 65536, chunk = 4096, nchunks = n / chunk;
	struct dev_proc d;
	uint64_t start, t_irq, want, cycles;
	uint8_t *mem;
	int v;

	if (!dev_start(t, &d, args))
		return;
	wr(t, d.l, R_SRC, 5);
	wr(t, d.l, R_DST, 4096);
	wr(t, d.l, R_LEN, n);
	LT_CHECK(t, simlink_mmio_write_posted(d.l, 0, R_CTRL, 8, 2) == 0, "doorbell");
	v = wait_irq(d.l);
	t_irq = simlink_now(d.l);
	LT_CHECK(t, v == IRQ_DONE, "irq %d", v);
	start = rd(t, d.l, R_START);
	want = start + nchunks * ser(64 + chunk, 32) + ser(64, 32) + lat;
	LT_CHECK(t, t_irq == want, "interrupt at %llu, want %llu", (unsigned long long)t_irq,
		 (unsigned long long)want);
	/* N payload bytes at B per cycle, plus 64 per message (headers). */
	cycles = (t_irq - start - lat) / 1000;
	LT_CHECK(t, cycles == (n + 64 * (nchunks + 1)) / 32, "%llu cycles", (unsigned long long)cycles);
	mem = simlink_dma_ptr(d.l, 4096, n);
	for (uint64_t i = 0; mem && i < n; i++)
		if (mem[i] != (uint8_t)(5 + i)) {
			LT_CHECK(t, false, "byte %llu", (unsigned long long)i);
			break;
		}
	check_no_violations(t, d.l);
	dev_stop(t, &d);
}

/* The device stalls (wall time) with a 16-slot ring: posts are refused with
 * -EAGAIN while it sleeps, and all arrive, in order, once it is back. */
static void test_backpressure(struct lt *t)
{
	const char *args[] = { "--queue", "16", NULL };
	struct dev_proc d;
	struct simlink_msg m;
	int accepted = 0, rc = 0;
	double t0;

	if (!dev_start(t, &d, args))
		return;
	wr(t, d.l, R_LEN, 500); /* stall 500 ms */
	LT_CHECK(t, rd(t, d.l, R_ID) == DEV_ID, "id");
	LT_CHECK(t, simlink_mmio_write_posted(d.l, 0, R_CTRL, 8, 3) == 0, "stall");
	/* For 200 ms post what fits: the device takes the stall command (and
	 * everything before it) early in that window, then sleeps past its end,
	 * so the ring ends up holding exactly 16 of our posts. */
	t0 = wall_ms();
	while (wall_ms() - t0 < 200 && accepted < 100) {
		rc = simlink_mmio_write_posted(d.l, 0, R_LOG, 8, (uint64_t)accepted);
		if (rc == 0)
			accepted++;
		else if (rc != -EAGAIN)
			break;
	}
	LT_CHECK(t, rc == -EAGAIN && strstr(loom_err_msg(), "full"), "rc %d: %s", rc,
		 loom_err_msg());
	LT_CHECK(t, accepted == 16, "%d accepted into 16 slots", accepted);
	for (; accepted < 100; accepted++) {
		while ((rc = simlink_mmio_write_posted(d.l, 0, R_LOG, 8, (uint64_t)accepted)) ==
		       -EAGAIN)
			if ((rc = simlink_next(d.l, simlink_now(d.l), &m)) < 0)
				break;
		if (rc < 0) {
			LT_CHECK(t, false, "post %d: %s", accepted, loom_err_msg());
			break;
		}
	}
	LT_CHECK(t, rd(t, d.l, R_LOG_COUNT) == 100, "log count");
	LT_CHECK(t, rd(t, d.l, R_ORDER_ERR) == 0, "order");
	check_no_violations(t, d.l);
	dev_stop(t, &d);
}

/* 4-slot rings, both directions busy at once: the device copies 40 KiB in
 * 256-byte DMA chunks (its ring fills; it retries) while the host posts
 * writes into its own full ring and reads registers.  Nothing deadlocks,
 * nothing is lost or reordered, no horizon is passed. */
static void small_rings(struct lt *t, const char *const *args)
{
	struct loom_rng r;
	struct dev_proc d;
	struct simlink_msg m;
	uint8_t *mem, *want;
	const uint64_t src = 64, dst = 200000, len = 40000;
	int irq = -1, rc = 0, posted = 0;

	loom_rng_init(&r, lt_seed(t));
	if (!dev_start(t, &d, args))
		return;
	mem = simlink_dma_ptr(d.l, 0, DMA_BYTES);
	want = malloc(DMA_BYTES);
	for (uint32_t i = 0; i < DMA_BYTES; i++)
		mem[i] = (uint8_t)loom_rng_u32(&r);
	memcpy(want, mem, DMA_BYTES);
	memcpy(want + dst, want + src, len);
	wr(t, d.l, R_SRC, src);
	wr(t, d.l, R_DST, dst);
	wr(t, d.l, R_LEN, len);
	LT_CHECK(t, simlink_mmio_write_posted(d.l, 0, R_CTRL, 8, 1) == 0, "doorbell");
	while (posted < 300 && rc >= 0) {
		rc = simlink_mmio_write_posted(d.l, 0, R_LOG, 8, (uint64_t)posted);
		if (rc == 0 && ++posted % 50 == 0)
			LT_CHECK(t, rd(t, d.l, R_ID) == DEV_ID, "id while busy");
		else if (rc == -EAGAIN && (rc = simlink_next(d.l, simlink_now(d.l), &m)) == 1)
			irq = (int)m.addr;
	}
	LT_CHECK(t, rc >= 0, "posting: %d %s", rc, loom_err_msg());
	if (irq < 0)
		irq = wait_irq(d.l);
	LT_CHECK(t, irq == IRQ_DONE, "irq %d (%s)", irq, loom_err_msg());
	LT_CHECK(t, memcmp(mem, want, DMA_BYTES) == 0, "memory after the copy");
	LT_CHECK(t, rd(t, d.l, R_LOG_COUNT) == 300 && rd(t, d.l, R_ORDER_ERR) == 0, "log");
	check_no_violations(t, d.l);
	free(want);
	dev_stop(t, &d);
}

static void test_small_rings(struct lt *t)
{
	const char *sync[] = { "--queue", "4", "--payload", "256", "--latency", "20000", NULL };
	const char *unsync[] = { "--unsync", "--queue", "4", "--payload", "256", NULL };

	small_rings(t, sync);
	small_rings(t, unsync);
}

/* ---- dead peers ----------------------------------------------------- */

static void test_device_killed(struct lt *t)
{
	struct dev_proc d;
	struct simlink_msg m;
	uint64_t v;
	double t0;
	int rc;

	if (!dev_start(t, &d, NULL))
		return;
	LT_CHECK(t, rd(t, d.l, R_ID) == DEV_ID, "id");
	kill(d.pid, SIGKILL);
	waitpid(d.pid, NULL, 0);
	unlink(d.path); /* killed before it removed its socket */
	t0 = wall_ms();
	rc = simlink_mmio_read(d.l, 0, R_ID, 8, &v);
	LT_CHECK(t, rc == -EPIPE && strstr(loom_err_msg(), "device has gone"), "read: %d %s", rc,
		 loom_err_msg());
	LT_CHECK(t, wall_ms() - t0 < 1000, "noticed after %.0f ms", wall_ms() - t0);
	t0 = wall_ms();
	rc = simlink_next(d.l, SIMLINK_FOREVER, &m);
	LT_CHECK(t, rc == -EPIPE && wall_ms() - t0 < 1000, "next: %d after %.0f ms", rc,
		 wall_ms() - t0);
	simlink_close(d.l);
}

/* A host that never waits (posting into a full ring, polling with
 * simlink_next at its current time) still learns of the death. */
static void test_device_killed_polling(struct lt *t)
{
	static const char *const modes[2][4] = { { "--queue", "4", NULL },
						 { "--unsync", "--queue", "4", NULL } };

	for (int i = 0; i < 2; i++) {
		struct dev_proc d;
		struct simlink_msg m;
		double t0;
		int rc = 0, n = 0;

		if (!dev_start(t, &d, modes[i]))
			return;
		kill(d.pid, SIGKILL);
		waitpid(d.pid, NULL, 0);
		unlink(d.path);
		t0 = wall_ms();
		while (rc >= 0 && wall_ms() - t0 < 3000) {
			rc = simlink_mmio_write_posted(d.l, 0, R_LOG, 8, (uint64_t)n);
			n += rc == 0;
			if (rc == -EAGAIN)
				rc = simlink_next(d.l, simlink_now(d.l), &m);
		}
		LT_CHECK(t, rc == -EPIPE && n == 4, "%s: rc %d after %d posts", modes[i][0], rc, n);
		LT_CHECK(t, wall_ms() - t0 < 1000, "noticed after %.0f ms", wall_ms() - t0);
		simlink_close(d.l);
	}
}

/* This process is the device; a child host connects and is killed. */
static void test_host_killed(struct lt *t)
{
	struct simlink_params p;
	struct simlink_info info = { .n_bars = 1, .n_irqs = 1, .bar_bytes = { 4096 } };
	struct simlink_server *s;
	struct simlink *l;
	struct simlink_msg m;
	char path[108];
	pid_t pid;
	double t0;
	int rc;

	sock_path(path, sizeof(path));
	s = simlink_dev_listen(path);
	LT_CHECK(t, s != NULL, "listen: %s", loom_err_msg());
	if (!s)
		return;
	pid = fork();
	if (pid == 0) {
		struct simlink *h = simlink_host_connect(path, 4096, 5000);

		if (h)
			pause();
		_exit(1);
	}
	simlink_params_default(&p);
	l = simlink_dev_accept(s, &info, &p, 5000);
	simlink_server_close(s);
	LT_CHECK(t, l != NULL, "accept: %s", loom_err_msg());
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	if (!l)
		return;
	t0 = wall_ms();
	rc = simlink_next(l, SIMLINK_FOREVER, &m);
	LT_CHECK(t, rc == -EPIPE && strstr(loom_err_msg(), "host has gone"), "next: %d %s", rc,
		 loom_err_msg());
	LT_CHECK(t, wall_ms() - t0 < 1000, "noticed after %.0f ms", wall_ms() - t0);
	simlink_close(l);
}

/* ---- malformed messages (white box: written straight into a ring) ----- */

struct pair {
	char path[108];
	struct simlink_params p;
	struct simlink *dev;
};

static void *pair_dev(void *arg)
{
	struct pair *pr = arg;
	struct simlink_info info = { .n_bars = 1, .n_irqs = 2, .bar_bytes = { 4096 } };
	struct simlink_server *s = simlink_dev_listen(pr->path);

	if (s)
		pr->dev = simlink_dev_accept(s, &info, &pr->p, 5000);
	simlink_server_close(s);
	return NULL;
}

/* Random 64-byte messages from the "device" (unsynchronized, so only the
 * parser is exercised): the host counts the bad ones, returns only
 * well-formed interrupts and keeps working. */
static void test_malformed_messages(struct lt *t)
{
	struct pair pr;
	struct simlink *h;
	struct simlink_msg m, got;
	struct simlink_stats st;
	struct loom_rng r;
	pthread_t th;
	uint64_t want_bad = 0, want_irq = 0, irqs = 0;

	memset(&pr, 0, sizeof(pr));
	sock_path(pr.path, sizeof(pr.path));
	simlink_params_default(&pr.p);
	pr.p.synchronized = 0;
	pr.p.queue_msgs = 64;
	pthread_create(&th, NULL, pair_dev, &pr);
	h = simlink_host_connect(pr.path, 8192, 5000);
	pthread_join(th, NULL);
	LT_CHECK(t, h && pr.dev, "pair: %s", loom_err_msg());
	if (!h || !pr.dev)
		goto out;
	loom_rng_init(&r, lt_seed(t));
	for (int i = 0; i < 20000; i++) {
		uint8_t *b = (uint8_t *)&m;
		int rc;

		for (int j = 0; j < 64; j++)
			b[j] = (uint8_t)loom_rng_u32(&r);
		/* Valid types half the time, small fields often. */
		m.type = (uint8_t)(loom_rng_u32(&r) % 2 ? loom_rng_u32(&r) % 12 : m.type);
		if (loom_rng_u32(&r) % 2)
			m.addr %= 9000;
		if (loom_rng_u32(&r) % 2)
			m.len %= 5000;
		/* The host's rule, written independently: interrupts with a
		 * vector < 2 and DMA writes inside memory are good; everything
		 * else in the request ring is bad but for syncs. */
		if (m.type == SIMLINK_SYNC)
			;
		else if (m.type == SIMLINK_IRQ && m.addr < 2)
			want_irq++;
		else if ((m.type == SIMLINK_DMA_WRITE || m.type == SIMLINK_DMA_READ) &&
			 m.len >= 1 && m.len <= 4096 && m.addr <= 8192 && m.len <= 8192 - m.addr)
			;
		else
			want_bad++;
		simlink_tx_put(&pr.dev->tx[SIMLINK_Q_REQ], &m);
		while ((rc = simlink_next(h, 0, &got)) == 1) {
			irqs++;
			LT_CHECK(t, got.type == SIMLINK_IRQ && got.addr < 2, "returned type %u",
				 got.type);
		}
		LT_CHECK(t, rc == 0, "next: %d %s", rc, loom_err_msg());
		/* Drain the host's DMA read completions on the device side. */
		while (simlink_rx_scan(pr.dev, &pr.dev->rx[SIMLINK_Q_CMP]), simlink_rx_head(
			       &pr.dev->rx[SIMLINK_Q_CMP]))
			simlink_rx_take(&pr.dev->rx[SIMLINK_Q_CMP], &got);
	}
	simlink_stats(h, &st);
	LT_CHECK(t, st.bad_msgs == want_bad, "bad %llu, want %llu", (unsigned long long)st.bad_msgs,
		 (unsigned long long)want_bad);
	LT_CHECK(t, irqs == want_irq, "irqs %llu, want %llu", (unsigned long long)irqs,
		 (unsigned long long)want_irq);
out:
	simlink_close(h);
	simlink_close(pr.dev);
}

/* A device that breaks its promise is caught; a host never passes the
 * promise it has (it times out at the horizon instead); the device side
 * answers an out-of-bounds MMIO with an error completion by itself. */
static void test_white_box_checks(struct lt *t)
{
	const uint64_t lat = 1000;
	struct pair pr;
	struct simlink *h;
	struct simlink_msg m, got;
	struct simlink_stats st;
	pthread_t th;
	int rc;

	memset(&pr, 0, sizeof(pr));
	sock_path(pr.path, sizeof(pr.path));
	simlink_params_default(&pr.p);
	pr.p.latency_ps = pr.p.sync_interval_ps = lat;
	pthread_create(&th, NULL, pair_dev, &pr);
	h = simlink_host_connect(pr.path, 8192, 200);
	pthread_join(th, NULL);
	LT_CHECK(t, h && pr.dev, "pair: %s", loom_err_msg());
	if (!h || !pr.dev)
		goto out;
	memset(&m, 0, sizeof(m));
	m.type = SIMLINK_SYNC;
	m.ts_ps = 5000;
	simlink_tx_put(&pr.dev->tx[SIMLINK_Q_REQ], &m);
	/* Wanting 100000 with a promise of 5000: stops at 5000 + latency. */
	rc = simlink_next(h, 100000, &got);
	LT_CHECK(t, rc == -ETIMEDOUT && strstr(loom_err_msg(), "no progress"), "next: %d %s", rc,
		 loom_err_msg());
	LT_CHECK(t, simlink_now(h) == 5000 + lat, "host at %llu, horizon %llu",
		 (unsigned long long)simlink_now(h), (unsigned long long)(5000 + lat));
	simlink_stats(h, &st);
	LT_CHECK(t, st.violations == 0 && st.rx_syncs == 1, "violations %llu syncs %llu",
		 (unsigned long long)st.violations, (unsigned long long)st.rx_syncs);
	/* An interrupt older than the promise: counted, still delivered. */
	m.type = SIMLINK_IRQ;
	m.ts_ps = 2000;
	m.addr = 1;
	simlink_tx_put(&pr.dev->tx[SIMLINK_Q_REQ], &m);
	rc = simlink_next(h, simlink_now(h), &got);
	simlink_stats(h, &st);
	LT_CHECK(t, rc == 1 && got.type == SIMLINK_IRQ && st.violations == 1, "rc %d violations %llu",
		 rc, (unsigned long long)st.violations);

	/* Device side: MMIO to a BAR it does not have, straight into its ring. */
	memset(&m, 0, sizeof(m));
	m.type = SIMLINK_MMIO_READ;
	m.bar = 5;
	m.len = 8;
	m.id = 77;
	m.ts_ps = simlink_now(h) + 10;
	simlink_tx_put(&h->tx[SIMLINK_Q_REQ], &m);
	rc = simlink_next(pr.dev, m.ts_ps + lat, &got);
	simlink_stats(pr.dev, &st);
	LT_CHECK(t, rc == 0 && st.bad_msgs == 1, "device: rc %d bad %llu", rc,
		 (unsigned long long)st.bad_msgs);
	simlink_rx_scan(h, &h->rx[SIMLINK_Q_CMP]);
	LT_CHECK(t, simlink_rx_head(&h->rx[SIMLINK_Q_CMP]) != NULL, "no error completion");
	if (simlink_rx_head(&h->rx[SIMLINK_Q_CMP])) {
		simlink_rx_take(&h->rx[SIMLINK_Q_CMP], &got);
		LT_CHECK(t, got.type == SIMLINK_MMIO_READ_CMPL && got.id == 77 &&
				    got.status == -EFAULT, "completion type %u id %u status %d",
			 got.type, got.id, got.status);
	}
out:
	simlink_close(h);
	simlink_close(pr.dev);
}

/* ---- throughput (printed, not asserted) ----------------------------- */

static double median3(double a, double b, double c)
{
	return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
}

static void throughput(struct lt *t, const char *const *args, const char *mode)
{
	const int n = 60000, rt = 1000;
	double posted[3], trips[3], t0;
	struct dev_proc d;

	if (!dev_start(t, &d, args))
		return;
	for (int rep = 0; rep < 3; rep++) {
		t0 = wall_ms();
		posted_order(t, d.l, n);
		posted[rep] = n / ((wall_ms() - t0) / 1e3);
		t0 = wall_ms();
		for (int i = 0; i < rt; i++)
			rd(t, d.l, R_ID);
		trips[rep] = rt / ((wall_ms() - t0) / 1e3);
	}
	printf("   simlink %-14s posted writes %8.0f msg/s   MMIO read round trips %7.0f/s"
	       "   (medians of 3)\n", mode, median3(posted[0], posted[1], posted[2]),
	       median3(trips[0], trips[1], trips[2]));
	if (simlink_synchronized(d.l))
		printf("   simlink %-14s emulated %.3f us of link time\n", mode,
		       (double)simlink_now(d.l) / 1e6);
	check_no_violations(t, d.l);
	dev_stop(t, &d);
}

static void test_throughput(struct lt *t)
{
	const char *unsync[] = { "--unsync", NULL };
	const char *sync[] = { "--latency", "1000000", "--interval", "250000", NULL };

	throughput(t, unsync, "unsynchronized");
	throughput(t, sync, "synchronized");
}

static const struct lt_case cases[] = {
	LT_CASE(test_handshake_map),
	LT_CASE(test_version_mismatch_host),
	LT_CASE(test_version_mismatch_device),
	LT_CASE(test_bad_setup),
	LT_CASE(test_functional_sync),
	LT_CASE(test_functional_unsync),
	LT_CASE(test_sync_round_trip),
	LT_CASE(test_sync_bandwidth),
	LT_CASE(test_sync_credits),
	LT_CASE(test_sync_dma_bandwidth),
	LT_CASE(test_backpressure),
	LT_CASE(test_small_rings),
	LT_CASE(test_device_killed),
	LT_CASE(test_device_killed_polling),
	LT_CASE(test_host_killed),
	LT_CASE(test_malformed_messages),
	LT_CASE(test_white_box_checks),
	LT_CASE(test_throughput),
};

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	return lt_main(argc, argv, cases, LT_N(cases));
}
