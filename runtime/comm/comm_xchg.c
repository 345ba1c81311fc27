/*
 * comm_xchg.c - the exchange engine under every collective: moves one
 * message each way between this rank and each peer of an operation through
 * the per-peer staging slots, with credits, and breaks the communicator on
 * any error, abort, dead job or timeout.  Not here: what the messages mean
 * (comm_coll.c) and connection setup (comm.c).
 *
 * Flow control.  A peer's receive block has COMM_SLOTS slots; piece k goes
 * into slot k % COMM_SLOTS.  We post piece k only when the peer has emptied
 * piece k - COMM_SLOTS (credits received) and our own send of it completed
 * (the local staging slot may be reused).  So at most COMM_SLOTS data pieces
 * and, since credits answer data, at most COMM_SLOTS credits are in flight
 * on a QP; with the abort that is below COMM_RQ_DEPTH receive WRs, which we
 * re-post as each completes: the responder never meets an empty receive
 * queue (no RNR).
 *
 * Ordering.  Pieces of a stream arrive in order (RC; receive completions
 * in posting order).  Pieces that arrive for a later operation (a peer that
 * is ahead of us) wait in their slots, without credit, until we get there.
 * Progress comes only from completions, so when nothing can move we sleep
 * in tp_cq_wait and look at the bootstrap's health in between.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "comm_int.h"
#include "loom/bootstrap.h"
#include "loom/err.h"

#define COMM_POLL_BATCH 32
#define COMM_IDLE_WAIT_MS 5	/* sleep between health checks while idle */

enum comm_wr_kind { WR_DATA = 1, WR_CREDIT, WR_ABORT, WR_RECV };

static const char *const wr_kind_names[] = {
	[WR_DATA] = "data write", [WR_CREDIT] = "credit", [WR_ABORT] = "abort",
	[WR_RECV] = "receive",
};

static uint64_t wr_id_make(int rank, enum comm_wr_kind k)
{
	return ((uint64_t)(uint32_t)rank << 8) | (uint64_t)k;
}

double comm_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

const char *comm_op_name(enum comm_op op)
{
	static const char *const names[] = {
		[COMM_OP_ALLTOALLV] = "alltoallv", [COMM_OP_ALLREDUCE_F32] = "allreduce_sum_f32",
		[COMM_OP_ALLREDUCE_I64] = "allreduce_sum_i64", [COMM_OP_ALLGATHER] = "allgather",
		[COMM_OP_BARRIER] = "barrier", [COMM_OP_DESTROY] = "destroy",
	};

	if ((unsigned)op >= sizeof(names) / sizeof(names[0]) || !names[op])
		return "unknown operation";
	return names[op];
}

int comm_check_usable(const struct comm *c)
{
	if (!c->broken)
		return 0;
	return loom_err_set(EPIPE, "comm: broken by an earlier error: %s", c->broken_msg);
}

/* A zero-length WRITE_WITH_IMM carrying kind and val. */
static int post_signal(struct comm *c, struct comm_peer *p, unsigned kind, uint32_t val,
		       enum comm_wr_kind wk)
{
	struct tp_send_wr wr = {
		.wr_id = wr_id_make(p->rank, wk), .opcode = TP_WR_RDMA_WRITE_WITH_IMM,
		.flags = TP_SEND_SIGNALED, .num_sge = 0,
		.imm_data = (kind << COMM_IMM_KIND_SHIFT) | (val & COMM_IMM_VAL_MASK),
		.remote_addr = p->remote_rx_addr, .rkey = p->remote_rkey,
	};
	int rc = tp_post_send(p->qp, &wr, 1, NULL);

	(void)c;
	if (rc == 0)
		p->sq_out++;
	return rc;
}

int comm_break(struct comm *c, int err, const char *fmt, ...)
{
	char msg[sizeof(c->broken_msg)];
	va_list ap;

	err = err < 0 ? -err : err;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Once broken, the first reason stays (later ones are its echoes). */
	if (!c->broken) {
		uint32_t val = c->blame >= 0 ? (uint32_t)c->blame + 1 : 0;

		c->broken = -err;
		memcpy(c->broken_msg, msg, sizeof(msg));
		for (int r = 0; r < c->size; r++)
			if (r != c->rank && c->peers && c->peers[r].qp)
				post_signal(c, &c->peers[r], COMM_IMM_ABORT, val, WR_ABORT);
	}
	return loom_err_set(err, "%s", msg);
}

int comm_xchg_post_recvs(struct comm *c, struct comm_peer *p, int n)
{
	struct tp_recv_wr wr = { .wr_id = wr_id_make(p->rank, WR_RECV), .num_sge = 0 };

	(void)c;
	for (int i = 0; i < n; i++) {
		int rc = tp_post_recv(p->qp, &wr, 1, NULL);

		if (rc)
			return rc;
	}
	return 0;
}

/* ---- sending ------------------------------------------------------------- */

static bool can_post_piece(const struct comm_peer *p)
{
	return p->tx_posted < p->tx_credit + COMM_SLOTS &&
	       p->tx_posted < p->tx_done + COMM_SLOTS && p->sq_out < COMM_SQ_DEPTH - 1;
}

/* Copy the next piece of x's message into its staging slot and write it
 * into the peer's slot of the same index. */
static int push_piece(struct comm *c, struct comm_xfer *x)
{
	struct comm_peer *p = x->p;
	unsigned slot = (unsigned)(p->tx_posted % COMM_SLOTS);
	uint8_t *buf = p->tx + (size_t)slot * c->slot_bytes;
	size_t len = 0, take;
	struct tp_sge sge;
	struct tp_send_wr wr;
	int rc;

	if (!x->send_started) {
		struct comm_msg_hdr h = { .magic_op = COMM_MSG_MAGIC | (uint32_t)c->op,
					  .seq = p->tx_seq, .total_bytes = x->send_bytes };

		memcpy(buf, &h, sizeof(h));
		len = sizeof(h);
		x->send_started = true;
	}
	take = x->send_bytes - x->sent;
	take = take < c->slot_bytes - len ? take : c->slot_bytes - len;
	if (take)
		memcpy(buf + len, x->src + x->sent, take);
	len += take;
	sge = (struct tp_sge){ .addr = (uintptr_t)buf, .length = (uint32_t)len,
			       .lkey = c->tx_mr->lkey };
	wr = (struct tp_send_wr){
		.wr_id = wr_id_make(p->rank, WR_DATA), .opcode = TP_WR_RDMA_WRITE_WITH_IMM,
		.flags = TP_SEND_SIGNALED, .sg_list = &sge, .num_sge = 1,
		.imm_data = (COMM_IMM_DATA << COMM_IMM_KIND_SHIFT) |
			    (uint32_t)(p->tx_posted & COMM_IMM_VAL_MASK),
		.remote_addr = p->remote_rx_addr + (uint64_t)slot * c->slot_bytes,
		.rkey = p->remote_rkey,
	};
	rc = tp_post_send(p->qp, &wr, 1, NULL);
	c->blame = p->rank;
	if (rc)
		return comm_break(c, rc, "comm: %s: rank %d: post of a data write failed: %s",
				  comm_op_name(c->op), p->rank, loom_err_msg());
	p->sq_out++;
	p->tx_posted++;
	x->sent += take;
	c->st.bytes_sent += take;
	c->st.messages_sent++;
	if (x->sent == x->send_bytes) {
		x->send_done = true;
		p->tx_seq++;
	}
	return 0;
}

static int push_all(struct comm *c, struct comm_xfer *xf, int n, bool *moved)
{
	for (int i = 0; i < n; i++) {
		struct comm_xfer *x = &xf[i];

		while (x->p && !x->send_done && can_post_piece(x->p)) {
			int rc = push_piece(c, x);

			if (rc)
				return rc;
			*moved = true;
		}
	}
	return 0;
}

/* Report emptied slots to every peer we owe (one coalesced credit each). */
static int flush_credits(struct comm *c, bool *moved)
{
	for (int r = 0; r < c->size; r++) {
		struct comm_peer *p = &c->peers[r];
		int rc;

		if (r == c->rank || !p->credit_owed || p->sq_out >= COMM_SQ_DEPTH - 1)
			continue;
		rc = post_signal(c, p, COMM_IMM_CREDIT, p->credit_owed, WR_CREDIT);
		c->blame = p->rank;
		if (rc)
			return comm_break(c, rc, "comm: %s: rank %d: post of a credit failed: %s",
					  comm_op_name(c->op), p->rank, loom_err_msg());
		p->credit_owed = 0;
		*moved = true;
	}
	return 0;
}

/* ---- completions ----------------------------------------------------------- */

static int explain_failure(struct comm *c);

static int on_recv(struct comm *c, struct comm_peer *p, const struct tp_wc *wc)
{
	unsigned kind = wc->imm_data >> COMM_IMM_KIND_SHIFT;
	uint32_t val = wc->imm_data & COMM_IMM_VAL_MASK;
	const char *op = comm_op_name(c->op);
	int rc = comm_xchg_post_recvs(c, p, 1);

	if (rc)
		return comm_break(c, rc, "comm: %s: rank %d: re-post of a receive failed: %s", op,
				  p->rank, loom_err_msg());
	if (wc->opcode != TP_WC_RECV_RDMA_WITH_IMM || !wc->has_imm)
		return comm_break(c, EPROTO, "comm: %s: rank %d: unexpected %s", op, p->rank,
				  tp_wc_opcode_str(wc->opcode));
	c->blame = p->rank;
	if (kind == COMM_IMM_ABORT && val > 0) {
		c->blame = (int)val - 1;
		return comm_break(c, ECONNABORTED, "comm: %s: rank %d broke its communicator "
				  "over an error naming rank %d", op, p->rank, c->blame);
	}
	/* No rank named: most often the job itself failed (the bootstrap
	 * says which rank), which may take this rank's bootstrap a moment
	 * longer to hear than the abort took. */
	if (kind == COMM_IMM_ABORT) {
		int why = explain_failure(c);

		if (why)
			return why;
	}
	if (kind == COMM_IMM_ABORT)
		return comm_break(c, ECONNABORTED, "comm: %s: rank %d broke its communicator "
				  "(see its log)", op, p->rank);
	if (kind == COMM_IMM_CREDIT) {
		if (val == 0 || p->tx_credit + val > p->tx_posted)
			return comm_break(c, EPROTO, "comm: %s: rank %d: credit for %u pieces, "
					  "%llu outstanding", op, p->rank, (unsigned)val,
					  (unsigned long long)(p->tx_posted - p->tx_credit));
		p->tx_credit += val;
		return 0;
	}
	if (kind != COMM_IMM_DATA || val != (p->rx_arrived & COMM_IMM_VAL_MASK) ||
	    p->rx_arrived - p->rx_used >= COMM_SLOTS || wc->byte_len > c->slot_bytes ||
	    wc->byte_len == 0)
		return comm_break(c, EPROTO, "comm: %s: rank %d: bad piece (imm 0x%x, %u bytes, "
				  "%llu waiting)", op, p->rank, (unsigned)wc->imm_data,
				  (unsigned)wc->byte_len,
				  (unsigned long long)(p->rx_arrived - p->rx_used));
	p->rx_len[p->rx_arrived % COMM_SLOTS] = wc->byte_len;
	p->rx_arrived++;
	return 0;
}

/* A transfer to a peer failed. That is often the echo of a failure
 * elsewhere: a rank that broke its communicator over another rank's death
 * and exited, or the job itself failing. Before blaming the peer, give the
 * bootstrap's verdict and any abort message already on its way up to
 * EXPLAIN_MS to name the real culprit. Returns the break's error, or 0 when
 * nothing better turned up (the caller blames the peer). */
#define EXPLAIN_MS 1000
static int explain_failure(struct comm *c)
{
	double end = comm_now_us() + EXPLAIN_MS * 1e3;
	const char *op = comm_op_name(c->op);
	struct tp_wc wc[COMM_POLL_BATCH];

	while (comm_now_us() < end) {
		int rc = boot_check(c->boot);

		if (rc) {
			c->blame = -1;
			return comm_break(c, rc, "comm: %s: the job failed: %s", op, loom_err_msg());
		}
		int n = tp_cq_poll(c->cq, COMM_POLL_BATCH, wc);
		for (int i = 0; i < n; i++) {
			unsigned kind = wc[i].imm_data >> COMM_IMM_KIND_SHIFT;
			uint32_t val = wc[i].imm_data & COMM_IMM_VAL_MASK;
			int from = (int)(wc[i].wr_id >> 8);

			if (wc[i].status == TP_WC_SUCCESS && wc[i].has_imm &&
			    kind == COMM_IMM_ABORT && val > 0) {
				c->blame = (int)val - 1;
				return comm_break(c, ECONNABORTED, "comm: %s: rank %d broke its "
						  "communicator over an error naming rank %d", op,
						  from, c->blame);
			}
		}
		if (n <= 0) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}

static int on_wc(struct comm *c, const struct tp_wc *wc)
{
	int rank = (int)(wc->wr_id >> 8);
	enum comm_wr_kind k = (enum comm_wr_kind)(wc->wr_id & 0xff);
	struct comm_peer *p;

	if (rank < 0 || rank >= c->size || rank == c->rank || k < WR_DATA || k > WR_RECV)
		return comm_break(c, EPROTO, "comm: %s: completion with a foreign wr_id 0x%llx",
				  comm_op_name(c->op), (unsigned long long)wc->wr_id);
	p = &c->peers[rank];
	if (wc->status != TP_WC_SUCCESS) {
		int why = explain_failure(c);

		if (why)
			return why;
	}
	c->blame = rank;
	if (wc->status != TP_WC_SUCCESS)
		return comm_break(c, wc->status == TP_WC_RETRY_EXC_ERR ? ECONNRESET : EIO,
				  "comm: %s: rank %d: %s failed: %s%s (vendor_err 0x%x)",
				  comm_op_name(c->op), rank, wr_kind_names[k],
				  tp_wc_status_str(wc->status),
				  wc->status == TP_WC_RETRY_EXC_ERR ? ", peer gone" : "",
				  (unsigned)wc->vendor_err);
	if (k == WR_RECV)
		return on_recv(c, p, wc);
	p->sq_out--;
	if (k == WR_DATA)
		p->tx_done++;
	return 0;
}

static int poll_cq(struct comm *c, bool *moved)
{
	struct tp_wc wc[COMM_POLL_BATCH];
	int n;

	do {
		n = tp_cq_poll(c->cq, COMM_POLL_BATCH, wc);
		c->blame = -1;
		if (n < 0)
			return comm_break(c, n, "comm: %s: poll of the completion queue failed: %s",
					  comm_op_name(c->op), loom_err_msg());
		for (int i = 0; i < n; i++) {
			int rc = on_wc(c, &wc[i]);

			if (rc)
				return rc;
		}
		*moved |= n > 0;
	} while (n == COMM_POLL_BATCH);
	return 0;
}

/* ---- receiving ------------------------------------------------------------- */

static int check_hdr(struct comm *c, const struct comm_xfer *x, const struct comm_msg_hdr *h)
{
	const struct comm_peer *p = x->p;
	const char *op = comm_op_name(c->op);

	c->blame = p->rank;
	if ((h->magic_op & 0xffff0000u) != COMM_MSG_MAGIC)
		return comm_break(c, EPROTO, "comm: %s: rank %d: bad message header 0x%08x", op,
				  p->rank, (unsigned)h->magic_op);
	if ((h->magic_op & 0xffffu) != (uint32_t)c->op)
		return comm_break(c, EPROTO, "comm: %s: rank %d is in %s: collectives called in "
				  "different orders", op, p->rank,
				  comm_op_name((enum comm_op)(h->magic_op & 0xffffu)));
	if (h->seq != p->rx_seq)
		return comm_break(c, EPROTO, "comm: %s: rank %d: message %u, expected %u", op,
				  p->rank, (unsigned)h->seq, (unsigned)p->rx_seq);
	if (h->total_bytes != x->recv_bytes)
		return comm_break(c, EPROTO, "comm: %s: rank %d sends %llu bytes, this rank (%d) "
				  "expects %zu: counts disagree", op, p->rank,
				  (unsigned long long)h->total_bytes, c->rank, x->recv_bytes);
	return 0;
}

/* Copy out every arrived piece of x's incoming message. */
static int pull_pieces(struct comm *c, struct comm_xfer *x, bool *moved)
{
	struct comm_peer *p = x->p;

	while (!x->recv_done && p->rx_used < p->rx_arrived) {
		unsigned slot = (unsigned)(p->rx_used % COMM_SLOTS);
		const uint8_t *buf = p->rx + (size_t)slot * c->slot_bytes;
		size_t len = p->rx_len[slot], off = 0;

		if (!x->recv_started) {
			struct comm_msg_hdr h;
			int rc;

			if (len < sizeof(h))
				return comm_break(c, EPROTO, "comm: %s: rank %d: %zu-byte first "
						  "piece", comm_op_name(c->op), p->rank, len);
			memcpy(&h, buf, sizeof(h));
			rc = check_hdr(c, x, &h);
			if (rc)
				return rc;
			x->recv_started = true;
			off = sizeof(h);
		}
		c->blame = p->rank;
		if (len - off > x->recv_bytes - x->got)
			return comm_break(c, EPROTO, "comm: %s: rank %d: piece overruns the "
					  "message", comm_op_name(c->op), p->rank);
		memcpy(x->dst + x->got, buf + off, len - off);
		x->got += len - off;
		p->rx_used++;
		p->credit_owed++;
		*moved = true;
		if (x->got == x->recv_bytes) {
			x->recv_done = true;
			p->rx_seq++;
		}
	}
	return 0;
}

/* ---- the loop ---------------------------------------------------------------- */

/* Transfers not finished, and credits still owed to their peers. */
static int count_left(const struct comm_xfer *xf, int n)
{
	int left = 0;

	for (int i = 0; i < n; i++)
		if (xf[i].p)
			left += !xf[i].send_done + !xf[i].recv_done + (xf[i].p->credit_owed > 0);
	return left;
}

/* The first peer we still wait for, for messages. */
static const struct comm_xfer *first_pending(const struct comm_xfer *xf, int n)
{
	for (int i = 0; i < n; i++)
		if (xf[i].p && !xf[i].recv_done)
			return &xf[i];
	for (int i = 0; i < n; i++)
		if (xf[i].p && !xf[i].send_done)
			return &xf[i];
	return NULL;
}

/* Nothing moved: look at the job's health, the deadline, then sleep until
 * a completion arrives (or briefly). */
static int idle(struct comm *c, const struct comm_xfer *xf, int n, double last_us)
{
	double t0 = comm_now_us();
	int rc = boot_check(c->boot);

	c->blame = -1;
	if (rc)
		return comm_break(c, rc, "comm: %s: the job failed while waiting: %s",
				  comm_op_name(c->op), loom_err_msg());
	if (t0 - last_us > (double)c->timeout_ms * 1e3) {
		const struct comm_xfer *x = first_pending(xf, n);

		c->blame = x ? x->p->rank : -1;
		return comm_break(c, ETIMEDOUT, "comm: %s: rank %d: nothing moved for %d ms "
				  "(waiting to %s %s)", comm_op_name(c->op), x ? x->p->rank : -1,
				  c->timeout_ms, x && !x->recv_done ? "receive" : "send",
				  x && !x->recv_done ? "its data" : "into its slots");
	}
	tp_cq_wait(c->cq, COMM_IDLE_WAIT_MS);
	c->st.wait_us += comm_now_us() - t0;
	return 0;
}

int comm_xchg_run(struct comm *c, struct comm_xfer *xf, int n)
{
	double last_us = comm_now_us();

	while (count_left(xf, n) > 0) {
		bool moved = false;
		int rc = push_all(c, xf, n, &moved);

		rc = rc ? rc : poll_cq(c, &moved);
		for (int i = 0; i < n && !rc; i++)
			if (xf[i].p)
				rc = pull_pieces(c, &xf[i], &moved);
		rc = rc ? rc : flush_credits(c, &moved);
		if (!rc && !moved)
			rc = idle(c, xf, n, last_us);
		else if (moved)
			last_us = comm_now_us();
		if (rc)
			return rc;
	}
	return 0;
}

static int sq_outstanding(const struct comm *c)
{
	int n = 0;

	for (int r = 0; r < c->size; r++)
		if (r != c->rank)
			n += c->peers[r].sq_out + (c->peers[r].credit_owed > 0);
	return n;
}

int comm_xchg_drain(struct comm *c)
{
	double last_us = comm_now_us();

	c->op = COMM_OP_DESTROY;
	while (sq_outstanding(c) > 0) {
		bool moved = false;
		int rc = poll_cq(c, &moved);

		rc = rc ? rc : flush_credits(c, &moved);
		if (!rc && !moved)
			rc = idle(c, NULL, 0, last_us);
		else if (moved)
			last_us = comm_now_us();
		if (rc)
			return rc;
	}
	return 0;
}

/* A broken communicator's last act: let the abort messages leave before the
 * QPs go (a destroyed QP would drop them and leave the peers waiting for
 * their timeout).  Errors are expected here (dead peers) and ignored. */
void comm_xchg_flush_aborts(struct comm *c, int limit_ms)
{
	double end = comm_now_us() + limit_ms * 1e3;
	struct tp_wc wc[COMM_POLL_BATCH];

	while (comm_now_us() < end) {
		int out = 0, n = tp_cq_poll(c->cq, COMM_POLL_BATCH, wc);

		if (n < 0)
			return;
		for (int i = 0; i < n; i++) {
			int r = (int)(wc[i].wr_id >> 8);

			if ((wc[i].wr_id & 0xff) != WR_RECV && r >= 0 && r < c->size && r != c->rank)
				c->peers[r].sq_out--;
		}
		for (int r = 0; r < c->size; r++)
			out += r != c->rank && c->peers[r].sq_out > 0;
		if (!out)
			return;
		if (n == 0)
			tp_cq_wait(c->cq, 1);
	}
}
