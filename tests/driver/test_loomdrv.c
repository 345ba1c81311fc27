/*
 * test_loomdrv.c - the host driver (driver/) against the real emulated
 * device: `loom emud` started as a process (firmware + logic die RTL behind
 * the device link).  What a user of the device relies on:
 *   - open: the register blocks are found, the device identifies itself;
 *   - NOPs complete with their tags; malformed descriptors get the right
 *     error record and the next descriptor is still served;
 *   - DMA to device DRAM and back returns the bytes;
 *   - the QUANT engine, driven through descriptors, is bit-exact with
 *     kernels/quant.c (the same bytes as quant_act_1x128);
 *   - in a synchronized link, time moves and records carry device cycles;
 *   - a killed emulator gives -EPIPE within a second, never a hang;
 *   - the emulator exits by itself when its host closes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"
#include "loom/fp8.h"
#include "loom/loomdrv.h"
#include "loom/quant.h"
#include "loom/rng.h"
#include "lt.h"

/* LT_CHECK as an expression: whether cond held. */
#define EXPECT(t, cond, ...) ((cond) ? true : (lt_fail((t), __FILE__, __LINE__, __VA_ARGS__), false))

struct dev {
	pid_t pid;
	char sock[96];
	struct loomdrv *d;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Start `loom emud` with ranks ranks (rank r's socket: <sock>.r). */
static void dev_start(struct dev *v, unsigned ranks)
{
	const char *build = getenv("LOOM_BUILD") ? getenv("LOOM_BUILD") : "build";
	char loom[256], n[16];

	memset(v, 0, sizeof(*v));
	snprintf(loom, sizeof(loom), "%s/bin/loom", build);
	snprintf(n, sizeof(n), "%u", ranks);
	snprintf(v->sock, sizeof(v->sock), "/tmp/loom-test-emud-%d", (int)getpid());
	v->pid = fork();
	if (v->pid == 0) {
		execl(loom, loom, "emud", "--socket", v->sock, "--quiet", "--timeout-ms", "5000",
		      "--ranks", n, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", loom, strerror(errno));
		_exit(127);
	}
}

/* Open the driver on rank's link of the emulator v started. */
static bool dev_connect(struct lt *t, struct dev *v, unsigned rank, bool use_irq)
{
	char path[128];
	struct loomdrv_opts o;
	int err;

	loomdrv_opts_default(&o);
	snprintf(path, sizeof(path), "%s.%u", v->sock, rank);
	o.path = path;
	o.timeout_ms = 5000;
	o.use_irq = use_irq;
	o.ring_log2 = 4;
	err = loomdrv_open(&o, &v->d);
	LT_CHECK(t, err == 0, "loomdrv_open %s: %s", path, loom_err_msg());
	return err == 0;
}

/* A one-rank emulator and the driver on it. */
static bool dev_open(struct lt *t, struct dev *v, bool use_irq)
{
	dev_start(v, 1);
	return dev_connect(t, v, 0, use_irq);
}

/* Close the driver; the emulator must then exit by itself, with status 0. */
static void dev_close(struct lt *t, struct dev *v, bool expect_exit_ok)
{
	int status = 0;
	double t0;

	loomdrv_close(v->d);
	v->d = NULL;
	if (v->pid <= 0)
		return;
	t0 = now_s();
	while (waitpid(v->pid, &status, WNOHANG) == 0) {
		if (now_s() - t0 > 10) {
			kill(v->pid, SIGKILL);
			waitpid(v->pid, &status, 0);
			LT_CHECK(t, false, "loom emud did not exit after its host closed");
			return;
		}
		usleep(10000);
	}
	if (expect_exit_ok)
		LT_CHECK(t, WIFEXITED(status) && WEXITSTATUS(status) == 0,
			 "loom emud exit status 0x%x", status);
}

/* Submit one descriptor and wait for its record. */
static bool run1(struct lt *t, struct dev *v, const struct devif_desc *d, struct devif_comp *c)
{
	int n = loomdrv_submit(v->d, d, 1);

	if (n != 1) {
		LT_CHECK(t, false, "submit: %d %s", n, loom_err_msg());
		return false;
	}
	n = loomdrv_wait(v->d, c, 1, 5000);
	LT_CHECK(t, n == 1, "wait: %d %s", n, loom_err_msg());
	return n == 1;
}

static void test_open_info(struct lt *t)
{
	struct dev v;
	struct loomdrv_info in;

	if (!dev_open(t, &v, true))
		goto out;
	loomdrv_info(v.d, &in);
	LT_CHECK(t, in.version >> 16 == DEVIF_VERSION_MAJOR && in.rank == 0 && in.ranks == 1 &&
			    in.blocks >= 3 && in.dram_bytes >= 4096 &&
			    (in.opcodes & (1u << DEVIF_OP_NOP)) && (in.opcodes & (1u << DEVIF_OP_QUANT)),
		 "version 0x%x rank %u/%u blocks %u dram %llu opcodes 0x%x", in.version, in.rank,
		 in.ranks, in.blocks, (unsigned long long)in.dram_bytes, in.opcodes);
out:
	dev_close(t, &v, true);
}

static void test_nop_and_bad_descriptors(struct lt *t)
{
	struct dev v;
	struct devif_desc d;
	struct devif_comp c;
	static const struct {
		uint8_t opcode;
		uint32_t len;
		uint64_t rsvd2;
		uint16_t want;
	} cases[] = {
		{ 0x7f, 0, 0, DEVIF_ST_BAD_OPCODE },		/* unknown opcode */
		{ DEVIF_OP_DMA_TO_DEV, 0, 0, DEVIF_ST_BAD_LEN }, /* length 0 */
		{ DEVIF_OP_NOP, 0, 1, DEVIF_ST_BAD_PARAM },	/* reserved field set */
	};

	if (!dev_open(t, &v, true))
		goto out;
	memset(&d, 0, sizeof(d));
	d.opcode = DEVIF_OP_NOP;
	d.tag = 0x1234;
	if (run1(t, &v, &d, &c))
		LT_CHECK(t, c.status == DEVIF_ST_OK && c.tag == 0x1234 && c.opcode == DEVIF_OP_NOP,
			 "NOP: status %u tag 0x%llx", c.status, (unsigned long long)c.tag);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&d, 0, sizeof(d));
		d.opcode = cases[i].opcode;
		d.len_bytes = cases[i].len;
		d.remote_va = cases[i].rsvd2; /* unused by NOP: must be 0 */
		d.tag = 100 + i;
		if (run1(t, &v, &d, &c))
			LT_CHECK(t, c.status == cases[i].want && c.tag == 100 + i,
				 "case %zu: status %u, want %u", i, c.status, cases[i].want);
		/* the device goes on */
		memset(&d, 0, sizeof(d));
		d.opcode = DEVIF_OP_NOP;
		d.tag = 200 + i;
		if (run1(t, &v, &d, &c))
			LT_CHECK(t, c.status == DEVIF_ST_OK && c.tag == 200 + i, "NOP after case %zu: %u",
				 i, c.status);
	}
out:
	dev_close(t, &v, true);
}

/* DMA_TO_DEV then DMA_FROM_DEV of n bytes at DRAM address dram. */
static bool dram_roundtrip(struct lt *t, struct dev *v, const struct loomdrv_buf *src,
			   const struct loomdrv_buf *dst, uint32_t n, uint32_t dram)
{
	struct devif_desc d;
	struct devif_comp c;

	memset(&d, 0, sizeof(d));
	d.opcode = DEVIF_OP_DMA_TO_DEV;
	d.len_bytes = n;
	d.host_addr = src->dma;
	d.dev_addr = dram;
	if (!run1(t, v, &d, &c) || !EXPECT(t, c.status == DEVIF_ST_OK, "to dev: %u", c.status))
		return false;
	d.opcode = DEVIF_OP_DMA_FROM_DEV;
	d.host_addr = dst->dma;
	return run1(t, v, &d, &c) && EXPECT(t, c.status == DEVIF_ST_OK, "from dev: %u", c.status);
}

static void test_dma_roundtrip(struct lt *t)
{
	struct dev v;
	struct loomdrv_buf a, b;
	struct loom_rng r;

	if (!dev_open(t, &v, false)) /* polling */
		goto out;
	loom_rng_init(&r, lt_seed(t));
	if (!EXPECT(t, loomdrv_dma_alloc(v.d, 8192, 64, &a) == 0 &&
				 loomdrv_dma_alloc(v.d, 8192, 64, &b) == 0, "%s", loom_err_msg()))
		goto out;
	for (size_t i = 0; i < 8192; i++)
		((uint8_t *)a.host)[i] = (uint8_t)loom_rng_u32(&r);
	if (dram_roundtrip(t, &v, &a, &b, 8192, 4096))
		LT_CHECK(t, !memcmp(a.host, b.host, 8192), "DRAM round trip changed the bytes");
out:
	dev_close(t, &v, true);
}

static void test_quant_engine_bit_exact(struct lt *t)
{
	struct dev v;
	struct loomdrv_buf in, out;
	struct devif_desc d;
	struct devif_comp c;
	struct loom_rng r;
	float x[128], s_ref;
	uint8_t q_ref[128];
	uint16_t *xb;

	if (!dev_open(t, &v, true))
		goto out;
	loom_rng_init(&r, lt_seed(t));
	if (!EXPECT(t, loomdrv_dma_alloc(v.d, 256, 64, &in) == 0 &&
				 loomdrv_dma_alloc(v.d, 288, 64, &out) == 0, "%s", loom_err_msg()))
		goto out;
	for (int mode = 0; mode < 2 && !t->failures; mode++) {
		xb = in.host;
		for (int i = 0; i < 128; i++) {
			xb[i] = bf16_from_f32((float)(loom_rng_normal(&r) * 3.0));
			x[i] = bf16_to_f32(xb[i]);
		}
		quant_act_1x128(q_ref, &s_ref, x, 1, 128, mode ? QUANT_SCALE_POW2 : QUANT_SCALE_F32);
		memset(&d, 0, sizeof(d));
		d.opcode = DEVIF_OP_DMA_TO_DEV;
		d.len_bytes = 256;
		d.host_addr = in.dma;
		d.dev_addr = 0;
		if (!run1(t, &v, &d, &c) || !EXPECT(t, c.status == 0, "to dev %u", c.status))
			break;
		memset(&d, 0, sizeof(d));
		d.opcode = DEVIF_OP_QUANT;
		d.eng_k = (uint8_t)mode;
		d.eng_len = 128;
		d.eng_src = 0;
		d.eng_in_bytes = 256;
		d.eng_dst = 8192;
		d.eng_out_bytes = 288;
		if (!run1(t, &v, &d, &c) || !EXPECT(t, c.status == 0, "QUANT status %u", c.status))
			break;
		memset(out.host, 0xee, 288);
		memset(&d, 0, sizeof(d));
		d.opcode = DEVIF_OP_DMA_FROM_DEV;
		d.len_bytes = 288;
		d.host_addr = out.dma;
		d.dev_addr = 8192;
		if (!run1(t, &v, &d, &c) || !EXPECT(t, c.status == 0, "from dev %u", c.status))
			break;
		LT_CHECK(t, !memcmp(out.host, q_ref, 128), "mode %d: E4M3 bytes differ from "
			 "quant_act_1x128", mode);
		LT_CHECK(t, !memcmp((uint8_t *)out.host + 256, &s_ref, 4), "mode %d: scale differs",
			 mode);
	}
out:
	dev_close(t, &v, true);
}

static void test_synchronized_time(struct lt *t)
{
	struct dev v;
	struct loomdrv_buf a;
	struct devif_desc d;
	struct devif_comp c;
	uint64_t t0;

	if (!dev_open(t, &v, true))
		goto out;
	LT_CHECK(t, loomdrv_synchronized(v.d), "the default link is synchronized");
	if (!EXPECT(t, loomdrv_dma_alloc(v.d, 4096, 64, &a) == 0, "%s", loom_err_msg()))
		goto out;
	t0 = loomdrv_now_ps(v.d);
	memset(&d, 0, sizeof(d));
	d.opcode = DEVIF_OP_DMA_TO_DEV;
	d.len_bytes = 4096;
	d.host_addr = a.dma;
	/* the doorbell, the descriptor fetch and the data (4 KiB at 32 B per
	 * 625 ps cycle = 80 ns) each cross the 500 ns link at least once more
	 * than the record: >= 2 us of host time; the device spent cycles */
	if (run1(t, &v, &d, &c))
		LT_CHECK(t, c.status == 0 && loomdrv_now_ps(v.d) - t0 >= 2000000 && c.cycles > 0,
			 "status %u, host time moved %llu ps, record cycles %u", c.status,
			 (unsigned long long)(loomdrv_now_ps(v.d) - t0), c.cycles);
out:
	dev_close(t, &v, true);
}

static void test_dead_emulator(struct lt *t)
{
	struct dev v;
	struct devif_desc d;
	struct devif_comp c;
	double t0;
	int n;

	if (!dev_open(t, &v, true))
		goto out;
	kill(v.pid, SIGKILL);
	waitpid(v.pid, NULL, 0);
	v.pid = 0;
	memset(&d, 0, sizeof(d));
	d.opcode = DEVIF_OP_NOP;
	t0 = now_s();
	n = loomdrv_submit(v.d, &d, 1);
	if (n == 1)
		n = loomdrv_wait(v.d, &c, 1, 5000);
	LT_CHECK(t, n == -EPIPE && now_s() - t0 < 1.0, "after a kill: %d (%s) in %.2f s", n,
		 loom_err_msg(), now_s() - t0);
	LT_CHECK(t, loomdrv_poll(v.d, &c, 1) == -EPIPE, "a dead driver stays dead");
out:
	dev_close(t, &v, false);
}

/* ---- two ranks on the mesh --------------------------------------------------------------- */

/* Each rank's host runs in its own thread and keeps pumping its link while
 * it waits (a synchronized device advances only as far as every host
 * allows, so a host that stops calling would hold the whole device).
 * Rank 1 maps region 3 with a VA of its own (MESH_VA); rank 0 writes the
 * first half by region offset and the second half by the reader's VA, the
 * second send carrying RELEASE and MESH_IMM: the release record must carry
 * the imm and 4096 bytes, and the region the bytes in their places. */
#define MESH_VA 0x7f5a12340000ull
#define MESH_IMM 0xc0ffee42u
struct mesh_side {
	struct lt *t;
	struct dev *v;	       /* the shared emulator (pid, socket) */
	unsigned rank;
	struct loomdrv *d;
	uint8_t sent[4096];    /* rank 0: what it sent */
	uint8_t got[4096];     /* rank 1: the region after the release */
	uint64_t release_tag;
	uint32_t release_src, release_status;
	uint32_t release_imm, release_bytes;
	bool ok;
};

static _Atomic int mesh_mapped, mesh_done;

/* Poll d until flag is set or 10 s pass. */
static bool pump_until(struct loomdrv *d, _Atomic int *flag)
{
	struct devif_comp c;
	double t0 = now_s();

	while (!atomic_load(flag)) {
		if (loomdrv_poll(d, &c, 1) < 0 || now_s() - t0 > 10)
			return false;
		usleep(100);
	}
	return true;
}

static void *mesh_rank(void *arg)
{
	struct mesh_side *m = arg;
	struct loomdrv_opts o;
	struct loomdrv_buf buf;
	struct devif_desc d;
	struct devif_comp c;
	char path[128];
	double t0;

	loomdrv_opts_default(&o);
	snprintf(path, sizeof(path), "%s.%u", m->v->sock, m->rank);
	o.path = path;
	o.timeout_ms = 5000;
	if (loomdrv_open(&o, &m->d) < 0 || loomdrv_dma_alloc(m->d, 4096, 64, &buf) < 0)
		goto out;
	memset(&d, 0, sizeof(d));
	if (m->rank == 1) {
		d.opcode = DEVIF_OP_REGION_MAP;
		d.region = 3;
		d.host_addr = buf.dma;
		d.len_bytes = 4096;
		d.tag = 77;
		d.remote_va = MESH_VA;
		if (loomdrv_submit(m->d, &d, 1) != 1 || loomdrv_wait(m->d, &c, 1, 5000) != 1 ||
		    c.status)
			goto out;
		atomic_store(&mesh_mapped, 1);
		for (t0 = now_s(); now_s() - t0 < 10;) { /* the release record */
			int n = loomdrv_wait(m->d, &c, 1, 100);

			if (n == 1 && c.opcode == DEVIF_OP_MESH_RELEASE) {
				m->release_tag = c.tag;
				m->release_src = c.result;
				m->release_status = c.status;
				m->release_imm = c.imm;
				m->release_bytes = c.bytes;
				memcpy(m->got, buf.host, 4096);
				m->ok = true;
				break;
			}
			if (n < 0 && n != -ETIMEDOUT)
				break;
		}
		atomic_store(&mesh_done, 1);
	} else {
		if (!pump_until(m->d, &mesh_mapped))
			goto out;
		for (int i = 0; i < 4096; i++)
			m->sent[i] = ((uint8_t *)buf.host)[i] = (uint8_t)(i * 7 + 3);
		/* two writes of one epoch: the release comes with the second */
		for (int half = 0; half < 2; half++) {
			d.opcode = DEVIF_OP_MESH_SEND;
			d.flags = half ? DEVIF_F_RELEASE : DEVIF_F_ACQUIRE;
			d.region = 3;
			d.dst_rank = 1;
			d.host_addr = buf.dma + 2048u * (unsigned)half;
			/* first half: region offset 0; second: the reader's VA (dev_addr 0) */
			d.dev_addr = 0;
			d.remote_va = half ? MESH_VA + 2048 : 0;
			d.imm = half ? MESH_IMM : 0;
			d.len_bytes = 2048;
			if (loomdrv_submit(m->d, &d, 1) != 1 || loomdrv_wait(m->d, &c, 1, 5000) != 1 ||
			    c.status)
				goto out;
		}
		m->ok = pump_until(m->d, &mesh_done);
	}
out:
	if (!m->ok)
		fprintf(stderr, "    rank %u: %s\n", m->rank, loom_err_msg());
	if (m->rank == 0)
		atomic_store(&mesh_mapped, 1); /* never leave the other side waiting */
	else
		atomic_store(&mesh_done, 1);
	return NULL;
}

static void test_mesh_send_region_release(struct lt *t)
{
	static struct mesh_side side[2];
	struct dev v;
	pthread_t th[2];

	atomic_store(&mesh_mapped, 0);
	atomic_store(&mesh_done, 0);
	dev_start(&v, 2);
	for (unsigned r = 0; r < 2; r++) {
		memset(&side[r], 0, sizeof(side[r]));
		side[r] = (struct mesh_side){ .t = t, .v = &v, .rank = r };
		pthread_create(&th[r], NULL, mesh_rank, &side[r]);
	}
	for (unsigned r = 0; r < 2; r++)
		pthread_join(th[r], NULL);
	LT_CHECK(t, side[0].ok && side[1].ok, "rank 0 %s, rank 1 %s", side[0].ok ? "ok" : "failed",
		 side[1].ok ? "ok" : "failed");
	if (side[1].ok) {
		LT_CHECK(t, side[1].release_tag == 77 && side[1].release_src == 0 &&
				    side[1].release_status == 0 && side[1].release_imm == MESH_IMM &&
				    side[1].release_bytes == 4096,
			 "release record: tag %llu from rank %u status %u imm 0x%x bytes %u",
			 (unsigned long long)side[1].release_tag, side[1].release_src,
			 side[1].release_status, side[1].release_imm, side[1].release_bytes);
		LT_CHECK(t, !memcmp(side[1].got, side[0].sent, 4096),
			 "the region holds other bytes than were sent when it was released");
	}
	for (unsigned r = 0; r < 2; r++)
		loomdrv_close(side[r].d);
	v.d = NULL;
	dev_close(t, &v, true);
}

int main(int argc, char **argv)
{
	static const struct lt_case cases[] = {
		LT_CASE(test_open_info),
		LT_CASE(test_nop_and_bad_descriptors),
		LT_CASE(test_dma_roundtrip),
		LT_CASE(test_quant_engine_bit_exact),
		LT_CASE(test_synchronized_time),
		LT_CASE(test_dead_emulator),
		LT_CASE(test_mesh_send_region_release),
	};

	signal(SIGPIPE, SIG_IGN);
	return lt_main(argc, argv, cases, LT_N(cases));
}
