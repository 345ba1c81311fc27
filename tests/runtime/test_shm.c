/*
 * test_shm.c - the shm provider's data path: every opcode between two
 * processes (fork; address, QP number, buffer and rkey swapped through a
 * pipe), data checked byte for byte against the sender's pattern,
 * gather/scatter lists on both sides, inline data, unsignaled sends,
 * immediates, multi-megabyte messages through small rings, atomics exactly
 * once under contention, and a target that never calls the library; the
 * data-path cases once more with buffers from tp_mem_alloc passed by
 * reference.
 *
 * Behaviour within one process (loopback, counters, CQ notification and
 * overflow, SQD) is in test_shm_local.c, error statuses in
 * test_shm_errors.c.  Every expected value is built
 * independently of the transport: the sender's bytes are regenerated from a
 * seed on the receiving side, atomics are checked against plain arithmetic.
 */
#include "test_shm_pair.h"

/* ---- SEND / RECV with gather and scatter lists ------------------------------- */

/* Parent's three messages: 3 SGEs (4101 bytes), SEND_WITH_IMM of 0 bytes,
 * SEND_WITH_IMM of 2 SGEs (5000 bytes). */
static const struct { size_t off; uint32_t len; } send_sg[3][3] = {
	{ { 7, 100 }, { 300, 1 }, { 1000, 4000 } },
	{ { 0, 0 } },
	{ { 9000, 3000 }, { 20000, 2000 } },
};
static const int send_nsg[3] = { 3, 0, 2 };
static const uint32_t send_len[3] = { 4101, 0, 5000 };

static void send_parent(struct pair *p)
{
	struct end *e = &p->e;

	pattern(e->buf, e->len, 1);
	for (int m = 0; m < 3; m++) {
		struct tp_sge sge[3];
		struct tp_send_wr wr = { .wr_id = 10 + (uint64_t)m, .flags = TP_SEND_SIGNALED,
					 .opcode = m ? TP_WR_SEND_WITH_IMM : TP_WR_SEND,
					 .sg_list = sge, .num_sge = send_nsg[m],
					 .imm_data = 0xdead0000u + (uint32_t)m };

		for (int i = 0; i < send_nsg[m]; i++)
			sge[i] = sge_of(e, send_sg[m][i].off, send_sg[m][i].len);
		LT_CHECK(p->t, tp_post_send(e->qp, &wr, 1, NULL) == 0, "%s", loom_err_msg());
	}
	for (int m = 0; m < 3; m++) {
		struct tp_wc wc;

		if (wait_wc(p->t, e->scq, &wc, 5000))
			LT_CHECK(p->t, wc.status == TP_WC_SUCCESS && wc.wr_id == 10 + (uint64_t)m &&
					       wc.opcode == TP_WC_SEND,
				 "send %d: %s wr_id %llu", m, tp_wc_status_str(wc.status),
				 (unsigned long long)wc.wr_id);
	}
}

/* Child: receive lists of other shapes (4 SGEs, 1, 2), then check each
 * message against the parent's pattern. */
static void send_child(struct pair *p)
{
	struct end *e = &p->e;
	uint8_t *src = malloc(p->peer.len), *want = malloc(8192), *got = malloc(8192);
	struct tp_sge rs[3][4] = {
		{ sge_of(e, 100, 50), sge_of(e, 200, 60), sge_of(e, 1000, 2000),
		  sge_of(e, 4000, 4000) },
		{ sge_of(e, 9000, 16) },
		{ sge_of(e, 10000, 1), sge_of(e, 12000, 6000) },
	};
	const int rn[3] = { 4, 1, 2 };

	for (int m = 0; m < 3; m++)
		LT_CHECK(p->t, recv1(e->qp, 20 + (uint64_t)m, rs[m], rn[m]) == 0, "%s",
			 loom_err_msg());
	pair_sync(p); /* receives are posted */
	pattern(src, p->peer.len, 1);
	for (int m = 0; m < 3; m++) {
		struct tp_wc wc;
		uint8_t *w = want;

		if (!wait_wc(p->t, e->rcq, &wc, 5000))
			break;
		LT_CHECK(p->t, wc.status == TP_WC_SUCCESS && wc.opcode == TP_WC_RECV &&
				       wc.wr_id == 20 + (uint64_t)m && wc.byte_len == send_len[m] &&
				       wc.qp_num == tp_qp_num(e->qp),
			 "recv %d: %s op %s wr_id %llu len %u", m, tp_wc_status_str(wc.status),
			 tp_wc_opcode_str(wc.opcode), (unsigned long long)wc.wr_id, wc.byte_len);
		LT_CHECK(p->t, wc.has_imm == (m > 0) && (m == 0 || wc.imm_data == 0xdead0000u + (uint32_t)m),
			 "recv %d: imm %d 0x%x", m, wc.has_imm, wc.imm_data);
		for (int i = 0; i < send_nsg[m]; i++) {
			memcpy(w, src + send_sg[m][i].off, send_sg[m][i].len);
			w += send_sg[m][i].len;
		}
		gather(got, rs[m], rn[m]);
		LT_CHECK(p->t, first_diff(got, want, send_len[m]) < 0, "recv %d: byte %ld differs", m,
			 first_diff(got, want, send_len[m]));
	}
	free(src);
	free(want);
	free(got);
}

static void send_parent_sync(struct pair *p)
{
	pair_sync(p); /* the child posted its receives */
	send_parent(p);
}

static void test_send_recv_sg(struct lt *t)
{
	struct cfg c = cfg_default();

	run_pair(t, &c, send_parent_sync, send_child);
}

/* ---- RDMA WRITE and WRITE_WITH_IMM --------------------------------------------------- */

static void write_parent(struct pair *p)
{
	struct end *e = &p->e;
	struct tp_sge sge[3] = { sge_of(e, 5, 1000), sge_of(e, 2000, 17), sge_of(e, 3000, 3000) };
	struct tp_sge imm_sge = sge_of(e, 10000, 64);
	struct tp_send_wr wr[2] = {
		{ .wr_id = 1, .opcode = TP_WR_RDMA_WRITE, .sg_list = sge, .num_sge = 3,
		  .remote_addr = p->peer.buf + 1000, .rkey = p->peer.rkey },
		{ .wr_id = 2, .opcode = TP_WR_RDMA_WRITE_WITH_IMM, .flags = TP_SEND_SIGNALED,
		  .sg_list = &imm_sge, .num_sge = 1, .imm_data = 77,
		  .remote_addr = p->peer.buf, .rkey = p->peer.rkey },
	};

	pattern(e->buf, e->len, 2);
	pair_sync(p);
	LT_CHECK(p->t, tp_post_send(e->qp, wr, 2, NULL) == 0, "%s", loom_err_msg());
	expect_wc(p->t, e->scq, 2, TP_WC_SUCCESS);
}

/* The WRITE_WITH_IMM completes after the WRITE before it was placed (RC
 * order), so both are checked as soon as its receive completes. */
static void write_child(struct pair *p)
{
	struct end *e = &p->e;
	uint8_t *src = malloc(p->peer.len), want[4017];
	struct tp_wc wc;

	LT_CHECK(p->t, recv1(e->qp, 9, NULL, 0) == 0, "%s", loom_err_msg());
	pair_sync(p);
	pattern(src, p->peer.len, 2);
	if (wait_wc(p->t, e->rcq, &wc, 5000))
		LT_CHECK(p->t, wc.status == TP_WC_SUCCESS && wc.opcode == TP_WC_RECV_RDMA_WITH_IMM &&
				       wc.has_imm && wc.imm_data == 77 && wc.byte_len == 64 &&
				       wc.wr_id == 9,
			 "%s %s imm %u len %u", tp_wc_status_str(wc.status),
			 tp_wc_opcode_str(wc.opcode), wc.imm_data, wc.byte_len);
	memcpy(want, src + 5, 1000);
	memcpy(want + 1000, src + 2000, 17);
	memcpy(want + 1017, src + 3000, 3000);
	LT_CHECK(p->t, first_diff(e->buf + 1000, want, sizeof(want)) < 0, "WRITE byte %ld",
		 first_diff(e->buf + 1000, want, sizeof(want)));
	LT_CHECK(p->t, first_diff(e->buf, src + 10000, 64) < 0, "WRITE_WITH_IMM data");
	LT_CHECK(p->t, e->buf[999] == 0 && e->buf[1000 + sizeof(want)] == 0,
		 "bytes around the WRITE were touched");
	free(src);
}

static void test_write_and_imm(struct lt *t)
{
	struct cfg c = cfg_default();

	run_pair(t, &c, write_parent, write_child);
}

/* ---- RDMA READ ---------------------------------------------------------------------- */

static void read_parent(struct pair *p)
{
	struct end *e = &p->e;
	uint8_t *src = malloc(p->peer.len), got[5000];
	struct tp_sge sge[3] = { sge_of(e, 100, 1), sge_of(e, 200, 2999), sge_of(e, 8000, 2000) };
	struct tp_sge none = sge_of(e, 0, 0);

	pair_sync(p); /* the child's pattern is in place */
	LT_CHECK(p->t, post1(e->qp, 1, TP_WR_RDMA_READ, TP_SEND_SIGNALED, sge, 3,
			     p->peer.buf + 123, p->peer.rkey) == 0, "%s", loom_err_msg());
	LT_CHECK(p->t, post1(e->qp, 2, TP_WR_RDMA_READ, TP_SEND_SIGNALED, &none, 1,
			     p->peer.buf, p->peer.rkey) == 0, "%s", loom_err_msg());
	expect_wc(p->t, e->scq, 1, TP_WC_SUCCESS);
	expect_wc(p->t, e->scq, 2, TP_WC_SUCCESS);
	pattern(src, p->peer.len, 3);
	gather(got, sge, 3);
	LT_CHECK(p->t, first_diff(got, src + 123, sizeof(got)) < 0, "READ byte %ld",
		 first_diff(got, src + 123, sizeof(got)));
	LT_CHECK(p->t, e->buf[99] == 0 && e->buf[101] == 0 && e->buf[10000] == 0,
		 "bytes around the READ targets were touched");
	pair_sync(p);
	free(src);
}

static void read_child(struct pair *p)
{
	pattern(p->e.buf, p->e.len, 3);
	pair_sync(p);
	pair_sync(p); /* stay until the parent is done */
}

static void test_read(struct lt *t)
{
	struct cfg c = cfg_default();

	run_pair(t, &c, read_parent, read_child);
}

/* ---- atomics ------------------------------------------------------------------------- */

static void atomic_parent(struct pair *p)
{
	struct end *e = &p->e;
	const uint64_t raddr = p->peer.buf + 64;
	/* (opcode, compare_add, swap) -> expected original: 1000 +5 -> 1005 ==
	 * 1005 -> 42, != 7 -> stays 42, + (2^64 - 1) -> 41. */
	const struct { enum tp_wr_opcode op; uint64_t a, b, orig; } ops[4] = {
		{ TP_WR_ATOMIC_FETCH_ADD, 5, 0, 1000 },
		{ TP_WR_ATOMIC_CMP_SWP, 1005, 42, 1005 },
		{ TP_WR_ATOMIC_CMP_SWP, 7, 99, 42 },
		{ TP_WR_ATOMIC_FETCH_ADD, UINT64_MAX, 0, 42 },
	};

	pair_sync(p);
	for (int i = 0; i < 4; i++) {
		struct tp_sge s = sge_of(e, 8 * (size_t)i, 8);
		struct tp_send_wr wr = { .wr_id = (uint64_t)i, .opcode = ops[i].op,
					 .flags = TP_SEND_SIGNALED, .sg_list = &s, .num_sge = 1,
					 .remote_addr = raddr, .rkey = p->peer.rkey,
					 .compare_add = ops[i].a, .swap = ops[i].b };
		struct tp_wc wc;
		uint64_t got;

		LT_CHECK(p->t, tp_post_send(e->qp, &wr, 1, NULL) == 0, "%s", loom_err_msg());
		if (!wait_wc(p->t, e->scq, &wc, 5000))
			break;
		memcpy(&got, e->buf + 8 * i, 8);
		LT_CHECK(p->t, wc.status == TP_WC_SUCCESS &&
				       wc.opcode == (ops[i].op == TP_WR_ATOMIC_CMP_SWP ? TP_WC_COMP_SWAP
										     : TP_WC_FETCH_ADD),
			 "atomic %d: %s %s", i, tp_wc_status_str(wc.status),
			 tp_wc_opcode_str(wc.opcode));
		LT_CHECK(p->t, got == ops[i].orig, "atomic %d: original %llu, want %llu", i,
			 (unsigned long long)got, (unsigned long long)ops[i].orig);
	}
	pair_sync(p);
}

static void atomic_child(struct pair *p)
{
	uint64_t v = 1000;

	memcpy(p->e.buf + 64, &v, 8);
	pair_sync(p);
	pair_sync(p);
	memcpy(&v, p->e.buf + 64, 8);
	LT_CHECK(p->t, v == 41, "counter %llu, want 41", (unsigned long long)v);
}

static void test_atomics(struct lt *t)
{
	struct cfg c = cfg_default();

	run_pair(t, &c, atomic_parent, atomic_child);
}

/* ---- inline data and unsignaled WRs --------------------------------------------- */

#define N_UNSIG 10

static void inline_parent(struct pair *p)
{
	struct end *e = &p->e;
	uint8_t stack[200];
	struct tp_sge in = { .addr = (uintptr_t)stack, .length = sizeof(stack), .lkey = 0 };
	struct tp_wc wc;

	pattern(stack, sizeof(stack), 4);
	pattern(e->buf, e->len, 5);
	pair_sync(p); /* receive posted */
	/* INLINE copies at post time: lkey 0 is fine and the buffer may change. */
	LT_CHECK(p->t, post1(e->qp, 1, TP_WR_SEND, TP_SEND_INLINE | TP_SEND_SIGNALED, &in, 1, 0,
			     0) == 0, "%s", loom_err_msg());
	memset(stack, 0xee, sizeof(stack));
	expect_wc(p->t, e->scq, 1, TP_WC_SUCCESS);
	/* N_UNSIG unsignaled WRITEs, then one signaled: one completion. */
	for (int i = 0; i <= N_UNSIG; i++) {
		struct tp_sge s = sge_of(e, 1000 * (size_t)i, 1000);

		LT_CHECK(p->t, post1(e->qp, 100 + (uint64_t)i, TP_WR_RDMA_WRITE,
				     i == N_UNSIG ? TP_SEND_SIGNALED : 0, &s, 1,
				     p->peer.buf + 1000 * (uint64_t)i, p->peer.rkey) == 0,
			 "%s", loom_err_msg());
	}
	expect_wc(p->t, e->scq, 100 + N_UNSIG, TP_WC_SUCCESS);
	usleep(20000);
	LT_CHECK(p->t, tp_cq_poll(e->scq, 1, &wc) == 0, "an unsignaled WR completed: wr_id %llu",
		 (unsigned long long)wc.wr_id);
	pair_sync(p);
}

static void inline_child(struct pair *p)
{
	struct end *e = &p->e;
	uint8_t want[200], *src = malloc(p->peer.len);
	struct tp_sge r = sge_of(e, 60000, 200);
	struct tp_wc wc;

	LT_CHECK(p->t, recv1(e->qp, 1, &r, 1) == 0, "%s", loom_err_msg());
	pair_sync(p);
	pattern(want, sizeof(want), 4);
	if (wait_wc(p->t, e->rcq, &wc, 5000))
		LT_CHECK(p->t, wc.status == TP_WC_SUCCESS && wc.byte_len == 200 &&
				       first_diff(e->buf + 60000, want, 200) < 0,
			 "inline SEND: %s len %u byte %ld", tp_wc_status_str(wc.status), wc.byte_len,
			 first_diff(e->buf + 60000, want, 200));
	pair_sync(p);
	pattern(src, p->peer.len, 5);
	LT_CHECK(p->t, first_diff(e->buf, src, 1000 * (N_UNSIG + 1)) < 0, "WRITEs: byte %ld",
		 first_diff(e->buf, src, 1000 * (N_UNSIG + 1)));
	free(src);
}

static void test_inline_unsignaled(struct lt *t)
{
	struct cfg c = cfg_default();

	run_pair(t, &c, inline_parent, inline_child);
}

/* ---- multi-megabyte messages through small rings ------------------------------- */

#define BIG (6u << 20)

/* WRITE 6 MiB (2 SGEs) to the child, READ it back elsewhere, SEND 5 MiB. */
static void big_parent(struct pair *p)
{
	struct end *e = &p->e;
	struct tp_sge w[2] = { sge_of(e, 0, BIG / 2), sge_of(e, BIG / 2, BIG / 2) };
	struct tp_sge r = sge_of(e, BIG, BIG);
	struct tp_sge s = sge_of(e, 4096, 5u << 20);

	pattern(e->buf, BIG, 6);
	LT_CHECK(p->t, post1(e->qp, 1, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, w, 2, p->peer.buf + 64,
			     p->peer.rkey) == 0, "%s", loom_err_msg());
	LT_CHECK(p->t, post1(e->qp, 2, TP_WR_RDMA_READ, TP_SEND_SIGNALED, &r, 1, p->peer.buf + 64,
			     p->peer.rkey) == 0, "%s", loom_err_msg());
	expect_wc(p->t, e->scq, 1, TP_WC_SUCCESS);
	expect_wc(p->t, e->scq, 2, TP_WC_SUCCESS);
	LT_CHECK(p->t, first_diff(e->buf + BIG, e->buf, BIG) < 0, "READ back: byte %ld",
		 first_diff(e->buf + BIG, e->buf, BIG));
	pair_sync(p); /* the child checked the WRITE and posted a receive */
	LT_CHECK(p->t, post1(e->qp, 3, TP_WR_SEND, TP_SEND_SIGNALED, &s, 1, 0, 0) == 0, "%s",
		 loom_err_msg());
	expect_wc(p->t, e->scq, 3, TP_WC_SUCCESS);
	pair_sync(p);
}

static void big_child(struct pair *p)
{
	struct end *e = &p->e;
	uint8_t *src = malloc(BIG);
	/* 1 MiB + 1 byte + 4 MiB: room for the 5 MiB message, scattered. */
	struct tp_sge r[3] = { sge_of(e, 2 * BIG, 1u << 20), sge_of(e, 2 * BIG + (1u << 20) + 100, 1),
			       sge_of(e, 2 * BIG + (1u << 20) + 4096, 4u << 20) };
	struct tp_wc wc;
	uint8_t *got = malloc((5u << 20) + 1);

	pattern(src, BIG, 6);
	pair_sync(p);
	LT_CHECK(p->t, first_diff(e->buf + 64, src, BIG) < 0, "WRITE: byte %ld",
		 first_diff(e->buf + 64, src, BIG));
	LT_CHECK(p->t, recv1(e->qp, 7, r, 3) == 0, "%s", loom_err_msg());
	pair_sync(p);
	if (wait_wc(p->t, e->rcq, &wc, 10000)) {
		gather(got, r, 3);
		LT_CHECK(p->t, wc.status == TP_WC_SUCCESS && wc.byte_len == 5u << 20 &&
				       first_diff(got, src + 4096, 5u << 20) < 0,
			 "SEND: %s len %u byte %ld", tp_wc_status_str(wc.status), wc.byte_len,
			 first_diff(got, src + 4096, 5u << 20));
	}
	free(got);
	free(src);
}

static void test_large_messages(struct lt *t)
{
	struct cfg c = cfg_default();

	/* 64 KiB rings and 16 KiB records: a 6 MiB message is 384 records
	 * streamed through a ring that holds 3 of them. */
	c.opts[0] = "ring_kib=64";
	c.opts[1] = "chunk_kib=16";
	c.buf_len = 3 * BIG;
	run_pair(t, &c, big_parent, big_child);
}

/* ---- atomics exactly once under contention -------------------------------------- */

#define N_ADD 3000
#define ADD_DEPTH 16

/* Fetch-add 1 at raddr N_ADD times through qp, ADD_DEPTH in flight; the
 * returned originals land in out[]. */
static void add_many(struct lt *t, struct tp_qp *qp, struct tp_cq *cq, struct tp_mr *mr,
		     uint64_t *res, uint64_t raddr, uint32_t rkey, uint64_t *out)
{
	int posted = 0, done = 0;

	while (done < N_ADD) {
		struct tp_wc wc[ADD_DEPTH];
		int n;

		while (posted < N_ADD && posted - done < ADD_DEPTH) {
			struct tp_sge s = { (uintptr_t)&res[posted % ADD_DEPTH], 8, mr->lkey };
			struct tp_send_wr wr = { .wr_id = (uint64_t)posted,
						 .opcode = TP_WR_ATOMIC_FETCH_ADD,
						 .flags = TP_SEND_SIGNALED, .sg_list = &s,
						 .num_sge = 1, .remote_addr = raddr, .rkey = rkey,
						 .compare_add = 1 };
			if (tp_post_send(qp, &wr, 1, NULL)) {
				LT_CHECK(t, false, "post: %s", loom_err_msg());
				return;
			}
			posted++;
		}
		if (!wait_wc(t, cq, wc, 10000))
			return;
		n = 1 + tp_cq_poll(cq, ADD_DEPTH - 1, wc + 1);
		for (int i = 0; i < n; i++) {
			LT_CHECK(t, wc[i].status == TP_WC_SUCCESS && wc[i].wr_id == (uint64_t)done,
				 "fetch-add %d: %s wr_id %llu", done, tp_wc_status_str(wc[i].status),
				 (unsigned long long)wc[i].wr_id);
			out[done] = res[done % ADD_DEPTH];
			done++;
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A second QP pair on the parent's own device, connected to itself. */
static bool loop_pair(struct lt *t, struct end *e, struct tp_cq *cq, struct tp_qp **qa,
		      struct tp_qp **qb)
{
	struct tp_qp_init_attr init = { .send_cq = cq, .recv_cq = cq, .max_send_wr = 64,
					.max_recv_wr = 8, .max_send_sge = 1, .max_recv_sge = 1 };
	struct cfg c = cfg_default();
	struct end ea = *e, eb = *e;
	struct card ka, kb;

	*qa = tp_qp_create(e->pd, &init);
	*qb = tp_qp_create(e->pd, &init);
	if (!*qa || !*qb)
		return false;
	ea.qp = *qa;
	eb.qp = *qb;
	ka = end_card(&ea);
	kb = end_card(&eb);
	{
		struct tp_qp_attr a = { .state = TP_QPS_INIT, .access = QP_ACCESS_ALL };

		tp_qp_modify(*qa, &a, TP_QP_STATE | TP_QP_ACCESS_FLAGS);
		tp_qp_modify(*qb, &a, TP_QP_STATE | TP_QP_ACCESS_FLAGS);
	}
	return end_connect(t, &ea, &kb, &c) && end_connect(t, &eb, &ka, &c);
}

static void add_parent(struct pair *p)
{
	struct end *e = &p->e;
	struct tp_cq *cq = tp_cq_create(e->dev, 64);
	struct tp_qp *qa = NULL, *qb = NULL;
	uint64_t *all = calloc(2 * N_ADD, 8), counter;

	if (loop_pair(p->t, e, cq, &qa, &qb)) {
		pair_sync(p); /* go */
		add_many(p->t, qa, cq, e->mr, (uint64_t *)(void *)(e->buf + 4096),
			 (uintptr_t)e->buf, e->mr->rkey, all);
		pair_recv(p, all + N_ADD, N_ADD * sizeof(uint64_t));
		memcpy(&counter, e->buf, 8);
		LT_CHECK(p->t, counter == 2 * N_ADD, "counter %llu, want %d",
			 (unsigned long long)counter, 2 * N_ADD);
		/* Exactly once: the originals are a permutation of 0 .. 2N-1. */
		qsort(all, 2 * N_ADD, 8, cmp_u64);
		for (int i = 0; i < 2 * N_ADD; i++)
			if (all[i] != (uint64_t)i) {
				LT_CHECK(p->t, false, "originals: [%d] = %llu", i,
					 (unsigned long long)all[i]);
				break;
			}
	}
	if (qa)
		tp_qp_destroy(qa);
	if (qb)
		tp_qp_destroy(qb);
	tp_cq_destroy(cq);
	free(all);
}

static void add_child(struct pair *p)
{
	uint64_t *mine = calloc(N_ADD, 8);

	pair_sync(p);
	add_many(p->t, p->e.qp, p->e.scq, p->e.mr, (uint64_t *)(void *)p->e.buf, p->peer.buf,
		 p->peer.rkey, mine);
	pair_send(p, mine, N_ADD * sizeof(uint64_t));
	free(mine);
}

static void test_atomics_exactly_once(struct lt *t)
{
	struct cfg c = cfg_default();

	run_pair(t, &c, add_parent, add_child);
}

/* ---- a target that never calls the library --------------------------------------- */

#define N_PING 300

/* Ping-pong over RDMA WRITE where each side spins on its own memory (the
 * perftest write_lat pattern): the peer's memory is updated by its
 * progress thread while the application does nothing but load. */
static bool spin_until(volatile uint64_t *flag, uint64_t v)
{
	uint64_t end = now_us() + 5000000;

	while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != v)
		if (now_us() > end)
			return false;
	return true;
}

static void ping(struct pair *p, bool first)
{
	struct end *e = &p->e;
	volatile uint64_t *flag = (volatile uint64_t *)(void *)e->buf;
	uint64_t *src = (uint64_t *)(void *)(e->buf + 64);

	for (uint64_t i = 1; i <= N_PING; i++) {
		struct tp_sge s = { (uintptr_t)src, 8, e->mr->lkey };
		struct tp_wc wc;

		if (!first && !spin_until(flag, i)) {
			LT_CHECK(p->t, false, "ping %llu never arrived", (unsigned long long)i);
			return;
		}
		*src = i;
		if (post1(e->qp, i, TP_WR_RDMA_WRITE, TP_SEND_SIGNALED, &s, 1, p->peer.buf,
			  p->peer.rkey) || !wait_wc(p->t, e->scq, &wc, 5000)) {
			LT_CHECK(p->t, false, "write %llu: %s", (unsigned long long)i, loom_err_msg());
			return;
		}
		if (first && !spin_until(flag, i)) {
			LT_CHECK(p->t, false, "pong %llu never arrived", (unsigned long long)i);
			return;
		}
	}
}

static void ping_parent(struct pair *p)
{
	ping(p, true);
}

static void ping_child(struct pair *p)
{
	ping(p, false);
}

static void test_passive_target(struct lt *t)
{
	struct cfg c = cfg_default();

	run_pair(t, &c, ping_parent, ping_child);
}

/* ---- the same, by reference ----------------------------------------------------- */

/* Both buffers from tp_mem_alloc, every byte of them passed by reference
 * (cfg_ref): the expected bytes are the same as above, so only the path
 * differs.  Which records went by reference is test_shm_ref.c's concern. */
static void test_send_recv_sg_ref(struct lt *t)
{
	struct cfg c = cfg_ref();

	run_pair(t, &c, send_parent_sync, send_child);
}

static void test_write_and_imm_ref(struct lt *t)
{
	struct cfg c = cfg_ref();

	run_pair(t, &c, write_parent, write_child);
}

static void test_read_ref(struct lt *t)
{
	struct cfg c = cfg_ref();

	run_pair(t, &c, read_parent, read_child);
}

static void test_inline_unsignaled_ref(struct lt *t)
{
	struct cfg c = cfg_ref();

	run_pair(t, &c, inline_parent, inline_child);
}

static void test_large_messages_ref(struct lt *t)
{
	struct cfg c = cfg_ref();

	c.opts[1] = "ring_kib=64";
	c.opts[2] = "chunk_kib=16";
	c.buf_len = 3 * BIG;
	run_pair(t, &c, big_parent, big_child);
}

static const struct lt_case cases[] = {
	LT_CASE(test_send_recv_sg),
	LT_CASE(test_write_and_imm),
	LT_CASE(test_read),
	LT_CASE(test_atomics),
	LT_CASE(test_inline_unsignaled),
	LT_CASE(test_large_messages),
	LT_CASE(test_atomics_exactly_once),
	LT_CASE(test_passive_target),
	LT_CASE(test_send_recv_sg_ref),
	LT_CASE(test_write_and_imm_ref),
	LT_CASE(test_read_ref),
	LT_CASE(test_inline_unsignaled_ref),
	LT_CASE(test_large_messages_ref),
};

int main(int argc, char **argv)
{
	return lt_main(argc, argv, cases, LT_N(cases));
}
