/*
 * test_shm_ref.c - the shm provider's by-reference path (tp_mem_alloc
 * blocks, shm_mem.c): that the responder really maps the requester's block
 * (and does not when the option is off), an SGE that straddles a shared
 * block and private memory, blocks freed while a peer maps them and before
 * it could, more blocks than a peer keeps mapped, a peer dying with
 * by-reference records outstanding (either side), stale blocks swept (also
 * after several processes looked at the dead owner), and tp_mem_alloc /
 * tp_mem_free's argument checks.
 *
 * The data path of every opcode by reference (with the statuses of bad
 * keys, bounds and rights) is run in test_shm.c and test_shm_errors.c with
 * the same expectations as the copying path.  Expected bytes come from
 * pattern() regenerated from a seed, or from a plain memcpy of the source.
 */
#include <dirent.h>
#include <sys/mman.h>

#include "test_shm_pair.h"

#define KIB 1024u
#define VERR_PEER_GONE 0x100

/* ---- looking at mappings ------------------------------------------------------ */

/* The segment name in an shm address, without the leading '/'. */
static void seg_of(const struct tp_addr *a, char *out, size_t cap)
{
	snprintf(out, cap, "%.*s", (int)a->len - 1, (const char *)a->bytes + 1);
}

/* How many mappings of this process are shared blocks of the device at
 * addr ("/dev/shm/<segment>.m<id>", deleted or not). */
static int blocks_mapped(const struct tp_addr *addr)
{
	char seg[TP_ADDR_MAX + 1], want[TP_ADDR_MAX + 16], line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	seg_of(addr, seg, sizeof(seg));
	snprintf(want, sizeof(want), "%s.m", seg);
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, want) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* How many entries of /dev/shm start with prefix. */
static int shm_files(const char *prefix)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	if (d)
		closedir(d);
	return n;
}

/* ---- the responder maps the requester's block ------------------------------------ */

#define MSG (64 * KIB)

/* Parent: WRITE 64 KiB into the child, READ 64 KiB back into another part
 * of its block, SEND 64 KiB; all from/to its tp_mem_alloc buffer. */
static void mapped_parent(struct pair *p)
{
	struct end *e = &p->e;
	struct tp_sge w = sge_of(e, 0, MSG), r = sge_of(e, MSG, MSG), s = sge_of(e, 2 * MSG, MSG);
	uint8_t *want = malloc(MSG);

	pattern(e->buf, 3 * MSG, 11);
	pair_sync(p); /* the child's pattern and receive are in place */
	LT_CHECK(p->t, post1(e->qp, 1, TP_WR_RDMA_WRITE, 0, &w, 1, p->peer.buf, p->peer.rkey) == 0,
		 "%s", loom_err_msg());
	LT_CHECK(p->t, post1(e->qp, 2, TP_WR_RDMA_READ, TP_SEND_SIGNALED, &r, 1,
			     p->peer.buf + 3 * MSG, p->peer.rkey) == 0, "%s", loom_err_msg());
	LT_CHECK(p->t, post1(e->qp, 3, TP_WR_SEND, TP_SEND_SIGNALED, &s, 1, 0, 0) == 0, "%s",
		 loom_err_msg());
	expect_wc(p->t, e->scq, 2, TP_WC_SUCCESS);
	expect_wc(p->t, e->scq, 3, TP_WC_SUCCESS);
	pattern(want, MSG, 12); /* the child's bytes at 3 * MSG */
	LT_CHECK(p->t, first_diff(e->buf + MSG, want, MSG) < 0, "READ: byte %ld",
		 first_diff(e->buf + MSG, want, MSG));
	pair_sync(p);
	free(want);
}

/* Child: check the bytes, and whether its provider mapped the parent's
 * block (want_mapped: by reference, or not at all with ref=0). */
static void mapped_child_check(struct pair *p, bool want_mapped)
{
	struct end *e = &p->e;
	uint8_t *src = malloc(3 * MSG);
	struct tp_sge rs = sge_of(e, 4 * MSG, MSG);
	struct tp_wc wc;

	pattern(e->buf + 3 * MSG, MSG, 12);
	LT_CHECK(p->t, recv1(e->qp, 7, &rs, 1) == 0, "%s", loom_err_msg());
	pair_sync(p);
	pattern(src, 3 * MSG, 11);
	if (wait_wc(p->t, e->rcq, &wc, 5000))
		LT_CHECK(p->t, wc.status == TP_WC_SUCCESS && wc.byte_len == MSG, "recv: %s len %u",
			 tp_wc_status_str(wc.status), wc.byte_len);
	LT_CHECK(p->t, first_diff(e->buf, src, MSG) < 0, "WRITE: byte %ld",
		 first_diff(e->buf, src, MSG));
	LT_CHECK(p->t, first_diff(e->buf + 4 * MSG, src + 2 * MSG, MSG) < 0, "SEND: byte %ld",
		 first_diff(e->buf + 4 * MSG, src + 2 * MSG, MSG));
	LT_CHECK(p->t, (blocks_mapped(&p->peer.addr) > 0) == want_mapped,
		 "the parent's block is %smapped here", want_mapped ? "not " : "");
	pair_sync(p);
	free(src);
}

static void mapped_child(struct pair *p)
{
	mapped_child_check(p, true);
}

static void unmapped_child(struct pair *p)
{
	mapped_child_check(p, false);
}

static void test_responder_maps_block(struct lt *t)
{
	struct cfg c = cfg_default();

	c.mem = true; /* default ref_min: 64 KiB runs go by reference */
	c.buf_len = 5 * MSG;
	run_pair(t, &c, mapped_parent, mapped_child);
}

/* The control: ref=0 copies through the rings, the block is never mapped
 * by the peer (so the check above can fail). */
static void test_ref_off_copies(struct lt *t)
{
	struct cfg c = cfg_default();

	c.mem = true;
	c.opts[0] = "ref=0";
	c.buf_len = 5 * MSG;
	run_pair(t, &c, mapped_parent, unmapped_child);
}

/* ---- an SGE across a shared block and private memory --------------------------- */

/* A 2 x 64 KiB range [lo, lo + 128 KiB): one half a tp_mem_alloc block,
 * the other private anonymous memory mapped right next to it. */
struct straddle {
	uint8_t *blk, *priv, *lo;
	struct tp_mr *mr;
};

static bool straddle_make(struct lt *t, struct end *e, struct straddle *s)
{
	memset(s, 0, sizeof(*s));
	s->blk = tp_mem_alloc(e->dev, MSG);
	LT_CHECK(t, s->blk, "%s", loom_err_msg());
	if (!s->blk)
		return false;
	for (int below = 0; below < 2 && !s->priv; below++) {
		uint8_t *at = below ? s->blk - MSG : s->blk + MSG;
		void *m = mmap(at, MSG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (m == at)
			s->priv = m;
		else if (m != MAP_FAILED)
			munmap(m, MSG);
	}
	if (!s->priv) {
		lt_skip(t, "no free address range next to the block");
		return false;
	}
	s->lo = s->priv < s->blk ? s->priv : s->blk;
	s->mr = tp_mr_reg(e->pd, s->lo, 2 * MSG, ACCESS_ALL);
	LT_CHECK(t, s->mr, "%s", loom_err_msg());
	return s->mr != NULL;
}

static void straddle_free(struct lt *t, struct end *e, struct straddle *s)
{
	if (s->mr)
		LT_CHECK(t, tp_mr_dereg(s->mr) == 0, "%s", loom_err_msg());
	if (s->priv)
		munmap(s->priv, MSG);
	if (s->blk)
		LT_CHECK(t, tp_mem_free(e->dev, s->blk) == 0, "%s", loom_err_msg());
}

/* WRITE, SEND and READ through SGEs that cross the shared/private boundary
 * at lo + 64 KiB (and one wholly in the block), between two devices of
 * this process; default ref_min, so runs of 4 KiB or more go by reference
 * and shorter ones are copied. */
static void test_straddling_sge(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a, b;
	struct straddle s = { 0 };
	struct tp_addr addr;
	struct tp_sge g[3], rs;
	uint8_t *want = malloc(3 * MSG);
	struct tp_wc wc;

	c.buf_len = 4 * MSG;
	if (!duo_open(t, &a, &b, &c, NULL, false) || !straddle_make(t, &a, &s))
		goto out;
	pattern(s.lo, 2 * MSG, 21);
	/* 40 KiB across the boundary, 100 bytes just before it, 3 KiB after. */
	g[0] = (struct tp_sge){ (uintptr_t)s.lo + MSG - 20 * KIB, 40 * KIB, s.mr->lkey };
	g[1] = (struct tp_sge){ (uintptr_t)s.lo + MSG - 100, 100, s.mr->lkey };
	g[2] = (struct tp_sge){ (uintptr_t)s.lo + MSG + 7, 3 * KIB, s.mr->lkey };
	gather(want, g, 3);
	LT_CHECK(t, post1(a.qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, g, 3,
			  (uintptr_t)b.buf + 5, b.mr->rkey) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 1, TP_WC_SUCCESS);
	LT_CHECK(t, first_diff(b.buf + 5, want, 43 * KIB + 100) < 0, "WRITE: byte %ld",
		 first_diff(b.buf + 5, want, 43 * KIB + 100));
	rs = sge_of(&b, MSG, 2 * MSG);
	recv1(b.qp, 9, &rs, 1);
	LT_CHECK(t, post1(a.qp, 2, TP_WR_SEND, TP_SEND_SIGNALED, g, 3, 0, 0) == 0, "%s",
		 loom_err_msg());
	expect_wc(t, a.scq, 2, TP_WC_SUCCESS);
	if (wait_wc(t, b.rcq, &wc, 5000))
		LT_CHECK(t, wc.status == TP_WC_SUCCESS && wc.byte_len == 43 * KIB + 100 &&
				    first_diff(b.buf + MSG, want, wc.byte_len) < 0,
			 "SEND: %s len %u", tp_wc_status_str(wc.status), wc.byte_len);
	/* READ into the straddling range (copied), then into the block alone
	 * (by reference): b's bytes come back intact either way. */
	pattern(b.buf, 2 * MSG, 22);
	memcpy(want, b.buf, 2 * MSG);
	g[0] = (struct tp_sge){ (uintptr_t)s.lo + MSG - 20 * KIB, 40 * KIB, s.mr->lkey };
	g[1] = (struct tp_sge){ (uintptr_t)s.blk, MSG, s.mr->lkey };
	LT_CHECK(t, post1(a.qp, 3, TP_WR_RDMA_READ, TP_SEND_SIGNALED, &g[0], 1,
			  (uintptr_t)b.buf, b.mr->rkey) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 3, TP_WC_SUCCESS);
	LT_CHECK(t, first_diff(s.lo + MSG - 20 * KIB, want, 40 * KIB) < 0, "READ across: byte %ld",
		 first_diff(s.lo + MSG - 20 * KIB, want, 40 * KIB));
	LT_CHECK(t, post1(a.qp, 4, TP_WR_RDMA_READ, TP_SEND_SIGNALED, &g[1], 1,
			  (uintptr_t)b.buf + MSG, b.mr->rkey) == 0, "%s", loom_err_msg());
	expect_wc(t, a.scq, 4, TP_WC_SUCCESS);
	LT_CHECK(t, first_diff(s.blk, want + MSG, MSG) < 0, "READ into the block: byte %ld",
		 first_diff(s.blk, want + MSG, MSG));
	tp_device_addr(a.dev, &addr);
	/* a's own mapping of its block, and b's of a's block. */
	LT_CHECK(t, blocks_mapped(&addr) >= 2, "a's block is not mapped by b (%d mappings)",
		 blocks_mapped(&addr));
out:
	straddle_free(t, &a, &s);
	duo_close(t, &a, &b);
	free(want);
}

/* ---- blocks freed, and more blocks than a peer keeps mapped ----------------------- */

/* One by-reference WRITE of len bytes (pattern seed) from a fresh block of
 * a into b's buffer; the block is then deregistered and freed. */
static void write_from_new_block(struct lt *t, struct end *a, struct end *b, size_t len,
				 uint64_t seed)
{
	uint8_t *blk = tp_mem_alloc(a->dev, len);
	struct tp_mr *mr = blk ? tp_mr_reg(a->pd, blk, len, ACCESS_ALL) : NULL;
	struct tp_sge g;

	LT_CHECK(t, mr, "%s", loom_err_msg());
	if (mr) {
		pattern(blk, len, seed);
		g = (struct tp_sge){ (uintptr_t)blk, (uint32_t)len, mr->lkey };
		LT_CHECK(t, post1(a->qp, seed, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, &g, 1,
				  (uintptr_t)b->buf, b->mr->rkey) == 0, "%s", loom_err_msg());
		expect_wc(t, a->scq, seed, TP_WC_SUCCESS);
		LT_CHECK(t, first_diff(b->buf, blk, len) < 0, "block %llu: byte %ld",
			 (unsigned long long)seed, first_diff(b->buf, blk, len));
		LT_CHECK(t, tp_mem_free(a->dev, blk) == -EBUSY, "freed while registered");
		LT_CHECK(t, tp_mr_dereg(mr) == 0, "%s", loom_err_msg());
	}
	if (blk)
		LT_CHECK(t, tp_mem_free(a->dev, blk) == 0, "%s", loom_err_msg());
}

/* 40 blocks one after the other, each freed while b still maps it: every
 * WRITE carries its own block's bytes (never a stale mapping's), and b
 * keeps at most SHM_RMAP_N (32) of a's freed blocks mapped. */
static void test_blocks_freed_while_mapped(struct lt *t)
{
	struct cfg c = cfg_default();
	struct tp_addr addr;
	struct end a, b;

	if (!duo_open(t, &a, &b, &c, NULL, false))
		goto out;
	for (uint64_t i = 1; i <= 40; i++)
		write_from_new_block(t, &a, &b, 8 * KIB + 4096 * (i % 3), i);
	tp_device_addr(a.dev, &addr);
	LT_CHECK(t, blocks_mapped(&addr) >= 1 && blocks_mapped(&addr) <= 32,
		 "%d of a's freed blocks still mapped", blocks_mapped(&addr));
out:
	duo_close(t, &a, &b);
}

/* A WRITE by reference is in the stopped child's ring when the parent
 * deregisters and frees its block (an application error: verbs forbid
 * it): the child cannot map the block any more, answers REM_OP_ERR and
 * goes to ERR; nothing crashes, nothing hangs. */
static void freed_early_parent(struct pair *p)
{
	struct end *e = &p->e;
	uint8_t *blk = tp_mem_alloc(e->dev, MSG);
	struct tp_mr *mr = blk ? tp_mr_reg(e->pd, blk, MSG, ACCESS_ALL) : NULL;
	struct tp_sge g = { (uintptr_t)blk, MSG, mr ? mr->lkey : 0 };
	struct tp_wc wc;

	LT_CHECK(p->t, mr, "%s", loom_err_msg());
	pair_sync(p);
	kill(p->pid, SIGSTOP);
	usleep(20000);
	LT_CHECK(p->t, post1(e->qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, &g, 1, p->peer.buf,
			     p->peer.rkey) == 0, "%s", loom_err_msg());
	LT_CHECK(p->t, mr && tp_mr_dereg(mr) == 0, "%s", loom_err_msg());
	LT_CHECK(p->t, blk && tp_mem_free(e->dev, blk) == 0, "%s", loom_err_msg());
	kill(p->pid, SIGCONT);
	if (wait_wc(p->t, e->scq, &wc, 5000))
		LT_CHECK(p->t, wc.status == TP_WC_REM_OP_ERR && wc.vendor_err == 0x63,
			 "got %s 0x%x", tp_wc_status_str(wc.status), wc.vendor_err);
	pair_sync(p);
}

static void freed_early_child(struct pair *p)
{
	pair_sync(p);
	pair_sync(p); /* the parent saw its completion */
	LT_CHECK(p->t, qp_state(p->e.qp) == TP_QPS_ERR, "responder in %s",
		 tp_qp_state_str(qp_state(p->e.qp)));
}

static void test_block_freed_before_mapped(struct lt *t)
{
	struct cfg c = cfg_default();

	run_pair(t, &c, freed_early_parent, freed_early_child);
}

/* ---- peer death with by-reference records outstanding ------------------------------ */

#define N_OUT 64

/* N_OUT by-reference WRITEs wait in the stopped child's ring; the child is
 * killed: the first completes with RETRY_EXC_ERR (peer gone), the rest are
 * flushed, and the block frees normally afterwards (end_close). */
static void responder_dies_parent(struct pair *p)
{
	struct end *e = &p->e;
	struct tp_sge g = sge_of(e, 0, 16 * KIB);
	struct tp_wc wc;

	pair_sync(p);
	kill(p->pid, SIGSTOP);
	usleep(20000);
	for (int i = 0; i < N_OUT; i++)
		LT_CHECK(p->t, post1(e->qp, (uint64_t)i, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, &g, 1,
				     p->peer.buf, p->peer.rkey) == 0, "%s", loom_err_msg());
	kill(p->pid, SIGKILL);
	p->killed = true;
	if (wait_wc(p->t, e->scq, &wc, 5000))
		LT_CHECK(p->t, wc.status == TP_WC_RETRY_EXC_ERR && wc.vendor_err == VERR_PEER_GONE &&
				       wc.wr_id == 0,
			 "got %s 0x%x wr_id %llu", tp_wc_status_str(wc.status), wc.vendor_err,
			 (unsigned long long)wc.wr_id);
	for (int i = 1; i < N_OUT; i++)
		expect_wc(p->t, e->scq, (uint64_t)i, TP_WC_WR_FLUSH_ERR);
}

static void idle_child(struct pair *p)
{
	pair_sync(p);
	for (;;)
		pause();
}

static void test_responder_dies(struct lt *t)
{
	struct cfg c = cfg_default();

	c.mem = true;
	c.timeout = 0; /* only the liveness check can end the WRs */
	run_pair(t, &c, responder_dies_parent, idle_child);
}

/* The child posts N_OUT by-reference WRITEs and dies at once, without
 * freeing its block: the parent's responder still places every byte (the
 * block's file outlives its owner), and the next device opened sweeps the
 * dead child's segment and block away. */
static void requester_dies_parent(struct pair *p)
{
	struct end *e = &p->e;
	uint8_t *want = malloc(16 * KIB);
	char prefix[64];
	struct tp_device *d;
	uint64_t t0 = now_us();

	pattern(want, 16 * KIB, 31);
	p->killed = true;
	pair_sync(p);
	while (first_diff(e->buf + (N_OUT - 1) * 16 * KIB, want, 16 * KIB) >= 0 &&
	       now_us() - t0 < 5000000)
		usleep(1000);
	for (int i = 0; i < N_OUT; i++)
		LT_CHECK(p->t, first_diff(e->buf + (size_t)i * 16 * KIB, want, 16 * KIB) < 0,
			 "WRITE %d of the dead requester: byte %ld", i,
			 first_diff(e->buf + (size_t)i * 16 * KIB, want, 16 * KIB));
	/* Each device open sweeps; the child may take a moment to die. */
	snprintf(prefix, sizeof(prefix), "loom-shm.%.*s", (int)p->peer.addr.len - 10,
		 (const char *)p->peer.addr.bytes + 10);
	LT_CHECK(p->t, shm_files(prefix) >= 2, "the child's segment and block: %d files",
		 shm_files(prefix));
	t0 = now_us();
	do {
		d = tp_device_open("shm", NULL, NULL);
		LT_CHECK(p->t, d, "%s", loom_err_msg());
		if (d)
			tp_device_close(d);
		usleep(10000);
	} while (d && shm_files(prefix) && now_us() - t0 < 5000000);
	LT_CHECK(p->t, shm_files(prefix) == 0, "%d files of the dead child (%s*) left in /dev/shm",
		 shm_files(prefix), prefix);
	free(want);
}

static void requester_dies_child(struct pair *p)
{
	struct end *e = &p->e;

	pattern(e->buf, 16 * KIB, 31);
	for (int i = 0; i < N_OUT; i++) {
		struct tp_sge g = sge_of(e, 0, 16 * KIB);

		post1(e->qp, (uint64_t)i, TP_WR_RDMA_WRITE, 0, &g, 1,
		      p->peer.buf + (uint64_t)i * 16 * KIB, p->peer.rkey);
	}
	pair_sync(p);
	raise(SIGKILL);
}

static void test_requester_dies(struct lt *t)
{
	struct cfg c = cfg_default();

	c.mem = true;
	c.buf_len = N_OUT * 16 * KIB;
	run_pair(t, &c, requester_dies_parent, requester_dies_child);
}

/* ---- a dead peer stays dead for every look ----------------------------------------- */

/* A child opens a device and a QP, tells its card, dies.  Two devices of
 * ours connect to it and each finds it dead (the first look takes its
 * robust lock as EOWNERDEAD, the second finds the lock unrecoverable); a
 * third device's open must still sweep the segment (and its blocks): the
 * death is recorded in the segment, not only in the lock, which glibc
 * leaves held after the second look. */
static void test_dead_peer_stays_dead(struct lt *t)
{
	struct cfg c = cfg_default();
	struct end a[2];
	struct card k = { 0 };
	char prefix[64];
	struct tp_device *d;
	int fd[2];
	pid_t pid;

	memset(a, 0, sizeof(a));
	c.timeout = 0;
	/* Our ends first: opening a device sweeps dead segments. */
	if (!end_open(t, &a[0], &c) || !end_open(t, &a[1], &c) || pipe(fd)) {
		LT_CHECK(t, false, "setup");
		goto out;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct lt ct = { .name = "child" };
		struct end e;

		c.mem = true; /* a block to sweep too */
		if (end_open(&ct, &e, &c))
			k = end_card(&e);
		if (write(fd[1], &k, sizeof(k)) != (ssize_t)sizeof(k))
			_exit(1);
		raise(SIGKILL);
	}
	LT_CHECK(t, read(fd[0], &k, sizeof(k)) == (ssize_t)sizeof(k), "child's card");
	waitpid(pid, NULL, 0);
	close(fd[0]);
	close(fd[1]);
	snprintf(prefix, sizeof(prefix), "loom-shm.%.*s", (int)k.addr.len - 10,
		 (const char *)k.addr.bytes + 10);
	for (int i = 0; i < 2; i++) {
		struct tp_wc wc;

		if (!end_connect(t, &a[i], &k, &c))
			continue;
		post1(a[i].qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, NULL, 0, k.buf, k.rkey);
		if (wait_wc(t, a[i].scq, &wc, 5000))
			LT_CHECK(t, wc.status == TP_WC_RETRY_EXC_ERR &&
					    wc.vendor_err == VERR_PEER_GONE,
				 "look %d: %s 0x%x", i + 1, tp_wc_status_str(wc.status),
				 wc.vendor_err);
	}
	d = tp_device_open("shm", NULL, NULL);
	LT_CHECK(t, d, "%s", loom_err_msg());
	if (d)
		tp_device_close(d);
	LT_CHECK(t, shm_files(prefix) == 0, "%d files of the dead child (%s*) left",
		 shm_files(prefix), prefix);
out:
	end_close(t, &a[0]);
	end_close(t, &a[1]);
}

/* ---- tp_mem_alloc / tp_mem_free arguments ---------------------------------------- */

static void test_mem_args(struct lt *t)
{
	struct tp_device *d = tp_device_open("shm", NULL, NULL);
	struct tp_pd *pd = d ? tp_pd_alloc(d) : NULL;
	uint8_t *m, *heap = malloc(64);
	struct tp_mr *mr;
	bool zero = true;

	LT_CHECK(t, pd, "%s", loom_err_msg());
	if (!pd)
		goto out;
	LT_CHECK(t, !tp_mem_alloc(NULL, 4096) && !tp_mem_alloc(d, 0) &&
			    !tp_mem_alloc(d, (size_t)1 << 41),
		 "bad arguments accepted");
	m = tp_mem_alloc(d, 5000); /* rounded up to 2 pages */
	LT_CHECK(t, m && ((uintptr_t)m & 4095) == 0, "%p: %s", (void *)m, loom_err_msg());
	if (!m)
		goto out;
	for (int i = 0; i < 8192; i++)
		zero &= m[i] == 0;
	LT_CHECK(t, zero, "a new block is not zeroed");
	mr = tp_mr_reg(pd, m + 4096, 4096, ACCESS_ALL);
	LT_CHECK(t, mr, "registering the block's second page: %s", loom_err_msg());
	LT_CHECK(t, tp_mem_free(d, m) == -EBUSY, "freed under an MR");
	LT_CHECK(t, tp_pd_free(pd) == -EBUSY && tp_device_close(d) == -EBUSY, "closed");
	LT_CHECK(t, mr && tp_mr_dereg(mr) == 0, "%s", loom_err_msg());
	LT_CHECK(t, tp_device_close(d) == -EBUSY, "device closed with a live block (and a PD)");
	LT_CHECK(t, tp_mem_free(d, m + 4096) == -EINVAL, "freed a pointer inside a block");
	LT_CHECK(t, tp_mem_free(d, heap) == -EINVAL, "freed heap memory");
	LT_CHECK(t, tp_mem_free(NULL, m) == -EINVAL && tp_mem_free(d, NULL) == -EINVAL, "NULLs");
	LT_CHECK(t, tp_mem_free(d, m) == 0, "%s", loom_err_msg());
	LT_CHECK(t, tp_mem_free(d, m) == -EINVAL, "freed twice");
out:
	if (pd)
		LT_CHECK(t, tp_pd_free(pd) == 0, "%s", loom_err_msg());
	if (d)
		LT_CHECK(t, tp_device_close(d) == 0, "%s", loom_err_msg());
	free(heap);
}

/* A provider without by-reference transfers (udp) hands out plain memory
 * under the same rules. */
static void test_mem_other_provider(struct lt *t)
{
	const char *opts[] = { "addr=127.0.0.1", "port=0", NULL };
	struct tp_device *d = tp_device_open("udp", NULL, opts);
	uint8_t *m;

	if (!d) {
		lt_skip(t, "no udp device: %s", loom_err_msg());
		return;
	}
	m = tp_mem_alloc(d, 100);
	LT_CHECK(t, m && ((uintptr_t)m & 4095) == 0 && m[99] == 0, "%s", loom_err_msg());
	if (m)
		memset(m, 1, 4096); /* a whole page is ours */
	LT_CHECK(t, tp_device_close(d) == -EBUSY, "closed with a live block");
	LT_CHECK(t, tp_mem_free(d, m) == 0 && tp_device_close(d) == 0, "%s", loom_err_msg());
}

static const struct lt_case cases[] = {
	LT_CASE(test_responder_maps_block),
	LT_CASE(test_ref_off_copies),
	LT_CASE(test_straddling_sge),
	LT_CASE(test_blocks_freed_while_mapped),
	LT_CASE(test_block_freed_before_mapped),
	LT_CASE(test_responder_dies),
	LT_CASE(test_requester_dies),
	LT_CASE(test_dead_peer_stays_dead),
	LT_CASE(test_mem_args),
	LT_CASE(test_mem_other_provider),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}
