/*
 * test_ibverbs_fake.h - a software NIC for test_ibverbs.c: every libibverbs
 * entry point of struct ibvp_lib, and the context ops behind ibv_post_send,
 * ibv_post_recv, ibv_poll_cq and ibv_req_notify_cq, over one RoCE device
 * ("fake_roce0", one port, GID index 2 = ::ffff:10.0.0.1) and an iWARP one
 * that the provider must not list.  fk_install() slides it under the
 * provider (ibvp_lib_override); fk_remove() puts the real library back and
 * checks that every object was freed.
 *
 * It executes each WR when it is posted, between QPs of the device, with
 * the checks and statuses of a NIC (mlx5, rxe): REM_ACCESS_ERR for a bad
 * rkey, bounds or right (the responder QP goes to ERR), LOC_PROT_ERR for a
 * bad lkey, LOC_LEN_ERR at the receiver and REM_INV_REQ_ERR at the sender for
 * a short receive, RNR_RETRY_EXC_ERR without a receive, RETRY_EXC_ERR when
 * the peer QP is gone or not ready; flushes on ERR; a CQ overrun as the
 * async event IBV_EVENT_CQ_ERR.  Fields verbs leaves undefined (byte_len of
 * SEND/WRITE completions, opcode and byte_len of errors) are garbage, so a
 * provider that reads them fails.  It checks ibv_modify_qp as IBA table 91
 * does for RC (required attributes of each transition) and that the address
 * vector is RoCE's (is_global, GID index 2, port 1).  Knobs in fk let tests
 * make it refuse a WR, a modify or a registration, or report completions
 * twice.  Single-threaded; header-only (static functions).
 */
#ifndef LOOM_TESTS_RUNTIME_TEST_IBVERBS_FAKE_H
#define LOOM_TESTS_RUNTIME_TEST_IBVERBS_FAKE_H

#include <arpa/inet.h>
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../runtime/ibverbs/ibvp.h"
#include "lt.h"

#define FK_MAX 64
#define FK_GIDS 4

struct fk_mr {
	struct ibv_mr mr;
	int access;
};

struct fk_cq {
	struct ibv_cq cq;
	struct ibv_wc *ring;
	int cap, head, n;
	bool armed, overflow;
};

struct fk_channel {
	struct ibv_comp_channel ch;
	struct fk_cq *cq;
};

struct fk_recv {
	uint64_t wr_id;
	struct ibv_sge sge[8];
	int num_sge;
};

struct fk_qp {
	struct ibv_qp qp;
	struct fk_recv *rq;
	int rq_cap, rq_head, rq_n;
	int access, max_send_sge, max_recv_sge;
	uint32_t dest;
	bool sig_all;
};

static struct {
	struct ibv_device devs[2];
	int first, n_devices;	  /* what get_device_list lists of devs[] */
	union ibv_gid gids[FK_GIDS];
	struct fk_mr *mrs[FK_MAX];
	struct fk_qp *qps[FK_MAX];
	int live;		  /* objects made and not freed */
	struct ibv_async_event async[8];
	int n_async;
	uint32_t next_qpn, next_key;
	int fail_reg_mr;	  /* errno for the next ibv_reg_mr */
	int fail_post_at;	  /* ibv_post_send refuses its WR number k (1-based) */
	int fail_modify;	  /* errno for the next ibv_modify_qp */
	bool dup_cqe;		  /* push every completion twice */
	uint32_t vendor_id;	  /* what ibv_query_device reports */
	bool reply_be;		  /* atomics fetch big-endian, as Mellanox HCAs do */
	struct ibv_send_wr last_send;
	struct ibv_qp_attr last_attr;
	int last_mask, last_init_mask;
	struct ibv_qp_attr last_init_attr;
} fk;

static void fk_async(enum ibv_event_type type, struct ibv_cq *cq, struct ibv_qp *qp)
{
	if (fk.n_async == 8)
		return;
	fk.async[fk.n_async].event_type = type;
	if (cq)
		fk.async[fk.n_async].element.cq = cq;
	else
		fk.async[fk.n_async].element.qp = qp;
	fk.n_async++;
}

static void fk_cq_push(struct ibv_cq *icq, const struct ibv_wc *wc)
{
	struct fk_cq *c = (struct fk_cq *)icq;

	if (c->overflow)
		return;
	if (c->n == c->cap) {
		c->overflow = true;
		fk_async(IBV_EVENT_CQ_ERR, icq, NULL);
		return;
	}
	c->ring[(c->head + c->n++) % c->cap] = *wc;
	if (fk.dup_cqe && c->n < c->cap)
		c->ring[(c->head + c->n++) % c->cap] = *wc;
	if (c->armed) {
		uint64_t one = 1;

		c->armed = false;
		if (write(icq->channel->fd, &one, 8) != 8)
			abort();
	}
}

/* A completion with verbs' undefined fields as garbage. */
static void fk_complete(struct ibv_cq *cq, uint32_t qpn, uint64_t wr_id, int status, int opcode,
			uint32_t byte_len)
{
	struct ibv_wc wc = { .wr_id = wr_id, .status = (enum ibv_wc_status)status,
			     .opcode = (enum ibv_wc_opcode)(status ? 0xee : opcode),
			     .byte_len = status ? 0xdeadbeef : byte_len, .qp_num = qpn,
			     .vendor_err = status ? 0x42 : 0 };

	fk_cq_push(cq, &wc);
}

static void fk_qp_err(struct fk_qp *q)
{
	q->qp.state = IBV_QPS_ERR;
	for (; q->rq_n; q->rq_n--, q->rq_head++)
		fk_complete(q->qp.recv_cq, q->qp.qp_num, q->rq[q->rq_head % q->rq_cap].wr_id,
			    IBV_WC_WR_FLUSH_ERR, 0, 0);
}

static struct fk_qp *fk_qp_find(uint32_t qpn)
{
	for (int i = 0; i < FK_MAX; i++)
		if (fk.qps[i] && fk.qps[i]->qp.qp_num == qpn)
			return fk.qps[i];
	return NULL;
}

/* Whether [addr, addr + len) lies in an MR of pd named by key granting need. */
static bool fk_key_ok(struct ibv_pd *pd, uint32_t key, bool remote, uint64_t addr, uint64_t len,
		      int need)
{
	if (len == 0)
		return true;
	for (int i = 0; i < FK_MAX; i++) {
		struct fk_mr *m = fk.mrs[i];
		uint64_t lo;

		if (!m || (remote ? m->mr.rkey : m->mr.lkey) != key)
			continue;
		lo = (uintptr_t)m->mr.addr;
		return m->mr.pd == pd && (m->access & need) == need && addr >= lo &&
		       addr - lo <= m->mr.length && len <= m->mr.length - (addr - lo);
	}
	return false;
}

static uint64_t sge_total(const struct ibv_sge *s, int n)
{
	uint64_t len = 0;

	for (int i = 0; i < n; i++)
		len += s[i].length;
	return len;
}

/* Copy between a linear buffer and an SGE list (to_sge: into the list). */
static void sge_copy(const struct ibv_sge *s, int n, uint8_t *buf, uint64_t len, bool to_sge)
{
	for (int i = 0; i < n && len; i++) {
		uint64_t k = s[i].length < len ? s[i].length : len;
		uint8_t *p = (uint8_t *)(uintptr_t)s[i].addr;

		memcpy(to_sge ? p : buf, to_sge ? buf : p, k);
		buf += k;
		len -= k;
	}
}

static bool fk_sges_ok(struct ibv_pd *pd, const struct ibv_sge *s, int n, int need)
{
	for (int i = 0; i < n; i++)
		if (!fk_key_ok(pd, s[i].lkey, false, s[i].addr, s[i].length, need))
			return false;
	return true;
}

/* Deliver a message into the peer's next receive; the sender's status. */
static int fk_deliver(struct fk_qp *peer, uint8_t *msg, uint64_t len, const struct ibv_send_wr *w,
		      int opcode)
{
	struct fk_recv *r;
	struct ibv_wc wc = { .status = IBV_WC_SUCCESS, .opcode = (enum ibv_wc_opcode)opcode,
			     .byte_len = (uint32_t)len, .qp_num = peer->qp.qp_num };

	if (!peer->rq_n)
		return IBV_WC_RNR_RETRY_EXC_ERR;
	r = &peer->rq[peer->rq_head++ % peer->rq_cap];
	peer->rq_n--;
	wc.wr_id = r->wr_id;
	if (opcode == IBV_WC_RECV && len > sge_total(r->sge, r->num_sge)) {
		fk_complete(peer->qp.recv_cq, peer->qp.qp_num, r->wr_id, IBV_WC_LOC_LEN_ERR, 0, 0);
		fk_qp_err(peer);
		return IBV_WC_REM_INV_REQ_ERR;
	}
	if (opcode == IBV_WC_RECV) {
		if (!fk_sges_ok(peer->qp.pd, r->sge, r->num_sge, IBV_ACCESS_LOCAL_WRITE)) {
			fk_complete(peer->qp.recv_cq, peer->qp.qp_num, r->wr_id,
				    IBV_WC_LOC_PROT_ERR, 0, 0);
			fk_qp_err(peer);
			return IBV_WC_REM_OP_ERR;
		}
		sge_copy(r->sge, r->num_sge, msg, len, true);
	}
	if (w->opcode == IBV_WR_SEND_WITH_IMM || w->opcode == IBV_WR_RDMA_WRITE_WITH_IMM) {
		wc.wc_flags = IBV_WC_WITH_IMM;
		wc.imm_data = w->imm_data;
	}
	fk_cq_push(peer->qp.recv_cq, &wc);
	return IBV_WC_SUCCESS;
}

/* The responder's checks of an RDMA/atomic target; failure ends its QP. */
static bool fk_remote_ok(struct fk_qp *peer, uint32_t rkey, uint64_t addr, uint64_t len,
			 int need)
{
	if ((peer->access & need) && fk_key_ok(peer->qp.pd, rkey, true, addr, len, need))
		return true;
	fk_qp_err(peer);
	return false;
}

static int fk_atomic(struct fk_qp *q, struct fk_qp *peer, const struct ibv_send_wr *w)
{
	uint64_t *target = (uint64_t *)(uintptr_t)w->wr.atomic.remote_addr, old;

	if (w->wr.atomic.remote_addr % 8) {
		fk_qp_err(peer);
		return IBV_WC_REM_INV_REQ_ERR;
	}
	if (!fk_remote_ok(peer, w->wr.atomic.rkey, w->wr.atomic.remote_addr, 8,
			  IBV_ACCESS_REMOTE_ATOMIC))
		return IBV_WC_REM_ACCESS_ERR;
	if (!fk_sges_ok(q->qp.pd, w->sg_list, w->num_sge, IBV_ACCESS_LOCAL_WRITE))
		return IBV_WC_LOC_PROT_ERR;
	old = *target;
	if (w->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD)
		*target = old + w->wr.atomic.compare_add;
	else if (old == w->wr.atomic.compare_add)
		*target = w->wr.atomic.swap;
	if (fk.reply_be)
		old = htobe64(old);
	sge_copy(w->sg_list, w->num_sge, (uint8_t *)&old, 8, true);
	return IBV_WC_SUCCESS;
}

/* Execute one WR of q; its status and the send completion's byte_len. */
static int fk_exec(struct fk_qp *q, const struct ibv_send_wr *w, uint32_t *byte_len)
{
	struct fk_qp *peer = fk_qp_find(q->dest);
	uint64_t len = sge_total(w->sg_list, w->num_sge);
	bool out = w->opcode <= IBV_WR_SEND_WITH_IMM; /* data flows from us */
	uint8_t *msg;
	int st = IBV_WC_SUCCESS;

	*byte_len = 0xdeadbeef; /* verbs: undefined for SEND and WRITE */
	if (!peer || peer->qp.state < IBV_QPS_RTR || peer->qp.state > IBV_QPS_SQD)
		return IBV_WC_RETRY_EXC_ERR;
	if (out && !(w->send_flags & IBV_SEND_INLINE) && !fk_sges_ok(q->qp.pd, w->sg_list,
								     w->num_sge, 0))
		return IBV_WC_LOC_PROT_ERR;
	if (w->opcode == IBV_WR_ATOMIC_CMP_AND_SWP || w->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		*byte_len = 8;
		return fk_atomic(q, peer, w);
	}
	msg = malloc(len ? len : 1);
	if (out)
		sge_copy(w->sg_list, w->num_sge, msg, len, false);
	if (w->opcode == IBV_WR_SEND || w->opcode == IBV_WR_SEND_WITH_IMM) {
		st = fk_deliver(peer, msg, len, w, IBV_WC_RECV);
	} else if (w->opcode == IBV_WR_RDMA_WRITE || w->opcode == IBV_WR_RDMA_WRITE_WITH_IMM) {
		if (!fk_remote_ok(peer, w->wr.rdma.rkey, w->wr.rdma.remote_addr, len,
				  IBV_ACCESS_REMOTE_WRITE))
			st = IBV_WC_REM_ACCESS_ERR;
		else if (w->opcode == IBV_WR_RDMA_WRITE_WITH_IMM && !peer->rq_n)
			st = IBV_WC_RNR_RETRY_EXC_ERR;
		else
			memcpy((void *)(uintptr_t)w->wr.rdma.remote_addr, msg, len);
		if (!st && w->opcode == IBV_WR_RDMA_WRITE_WITH_IMM)
			st = fk_deliver(peer, msg, len, w, IBV_WC_RECV_RDMA_WITH_IMM);
	} else { /* READ */
		if (!fk_remote_ok(peer, w->wr.rdma.rkey, w->wr.rdma.remote_addr, len,
				  IBV_ACCESS_REMOTE_READ))
			st = IBV_WC_REM_ACCESS_ERR;
		else if (!fk_sges_ok(q->qp.pd, w->sg_list, w->num_sge, IBV_ACCESS_LOCAL_WRITE))
			st = IBV_WC_LOC_PROT_ERR;
		else
			sge_copy(w->sg_list, w->num_sge,
				 (uint8_t *)(uintptr_t)w->wr.rdma.remote_addr, len, true);
		*byte_len = (uint32_t)len;
	}
	free(msg);
	return st;
}

static const int fk_wc_of_wr[] = {
	[IBV_WR_RDMA_WRITE] = IBV_WC_RDMA_WRITE, [IBV_WR_RDMA_WRITE_WITH_IMM] = IBV_WC_RDMA_WRITE,
	[IBV_WR_SEND] = IBV_WC_SEND,		 [IBV_WR_SEND_WITH_IMM] = IBV_WC_SEND,
	[IBV_WR_RDMA_READ] = IBV_WC_RDMA_READ,	 [IBV_WR_ATOMIC_CMP_AND_SWP] = IBV_WC_COMP_SWAP,
	[IBV_WR_ATOMIC_FETCH_AND_ADD] = IBV_WC_FETCH_ADD,
};

static int fk_post_send(struct ibv_qp *iqp, struct ibv_send_wr *wr, struct ibv_send_wr **bad)
{
	struct fk_qp *q = (struct fk_qp *)iqp;
	int k = 0;

	for (struct ibv_send_wr *w = wr; w; w = w->next) {
		uint32_t byte_len;
		int st;

		fk.last_send = *w;
		if (++k == fk.fail_post_at || w->num_sge > q->max_send_sge ||
		    (iqp->state != IBV_QPS_RTS && iqp->state != IBV_QPS_ERR)) {
			*bad = w;
			return k == fk.fail_post_at ? ENOMEM : EINVAL;
		}
		if (iqp->state == IBV_QPS_ERR) {
			fk_complete(iqp->send_cq, iqp->qp_num, w->wr_id, IBV_WC_WR_FLUSH_ERR, 0, 0);
			continue;
		}
		st = fk_exec(q, w, &byte_len);
		if (st) {
			fk_complete(iqp->send_cq, iqp->qp_num, w->wr_id, st, 0, 0);
			fk_qp_err(q);
		} else if (q->sig_all || (w->send_flags & IBV_SEND_SIGNALED)) {
			fk_complete(iqp->send_cq, iqp->qp_num, w->wr_id, 0, fk_wc_of_wr[w->opcode],
				    byte_len);
		}
	}
	return 0;
}

static int fk_post_recv(struct ibv_qp *iqp, struct ibv_recv_wr *wr, struct ibv_recv_wr **bad)
{
	struct fk_qp *q = (struct fk_qp *)iqp;

	for (struct ibv_recv_wr *w = wr; w; w = w->next) {
		struct fk_recv *r;

		if (iqp->state == IBV_QPS_RESET || w->num_sge > q->max_recv_sge ||
		    q->rq_n == q->rq_cap) {
			*bad = w;
			return q->rq_n == q->rq_cap ? ENOMEM : EINVAL;
		}
		if (iqp->state == IBV_QPS_ERR) {
			fk_complete(iqp->recv_cq, iqp->qp_num, w->wr_id, IBV_WC_WR_FLUSH_ERR, 0, 0);
			continue;
		}
		r = &q->rq[(q->rq_head + q->rq_n++) % q->rq_cap];
		r->wr_id = w->wr_id;
		r->num_sge = w->num_sge;
		memcpy(r->sge, w->sg_list, (size_t)w->num_sge * sizeof(*w->sg_list));
	}
	return 0;
}

static int fk_poll_cq(struct ibv_cq *icq, int n, struct ibv_wc *wc)
{
	struct fk_cq *c = (struct fk_cq *)icq;
	int got = 0;

	for (; got < n && c->n; got++, c->n--)
		wc[got] = c->ring[c->head++ % c->cap];
	return got;
}

static int fk_req_notify_cq(struct ibv_cq *icq, int solicited_only)
{
	(void)solicited_only;
	((struct fk_cq *)icq)->armed = true;
	return 0;
}

static struct ibv_device **fk_get_device_list(int *n)
{
	struct ibv_device **l = calloc((size_t)fk.n_devices + 1, sizeof(*l));

	for (int i = 0; i < fk.n_devices; i++)
		l[i] = &fk.devs[fk.first + i];
	*n = fk.n_devices;
	fk.live++;
	return l;
}

static void fk_free_device_list(struct ibv_device **l)
{
	free(l);
	fk.live--;
}

static const char *fk_get_device_name(struct ibv_device *d)
{
	return d->name;
}

static struct ibv_context *fk_open_device(struct ibv_device *d)
{
	struct ibv_context *c = calloc(1, sizeof(*c));

	c->device = d;
	c->ops.post_send = fk_post_send;
	c->ops.post_recv = fk_post_recv;
	c->ops.poll_cq = fk_poll_cq;
	c->ops.req_notify_cq = fk_req_notify_cq;
	c->async_fd = eventfd(0, EFD_CLOEXEC);
	c->num_comp_vectors = 1;
	fk.live++;
	return c;
}

static int fk_close_device(struct ibv_context *c)
{
	close(c->async_fd);
	free(c);
	fk.live--;
	return 0;
}

static int fk_query_device(struct ibv_context *c, struct ibv_device_attr *a)
{
	(void)c;
	memset(a, 0, sizeof(*a));
	a->vendor_id = fk.vendor_id;
	a->phys_port_cnt = 1;
	a->max_qp_wr = 1024;
	a->max_sge = 8;
	a->max_cqe = 4096;
	a->max_qp_rd_atom = a->max_qp_init_rd_atom = 16;
	return 0;
}

static int fk_query_port(struct ibv_context *c, uint8_t port, struct ibv_port_attr *a)
{
	(void)c;
	if (port != 1)
		return EINVAL;
	a->state = IBV_PORT_ACTIVE;
	a->max_mtu = IBV_MTU_4096;
	a->active_mtu = IBV_MTU_1024;
	a->gid_tbl_len = FK_GIDS;
	a->link_layer = IBV_LINK_LAYER_ETHERNET;
	return 0;
}

static int fk_query_gid(struct ibv_context *c, uint8_t port, int index, union ibv_gid *gid)
{
	(void)c;
	if (port != 1 || index < 0 || index >= FK_GIDS)
		return EINVAL;
	*gid = fk.gids[index];
	return 0;
}

static struct ibv_pd *fk_alloc_pd(struct ibv_context *c)
{
	struct ibv_pd *pd = calloc(1, sizeof(*pd));

	pd->context = c;
	fk.live++;
	return pd;
}

static int fk_dealloc_pd(struct ibv_pd *pd)
{
	for (int i = 0; i < FK_MAX; i++)
		if ((fk.mrs[i] && fk.mrs[i]->mr.pd == pd) || (fk.qps[i] && fk.qps[i]->qp.pd == pd))
			return EBUSY;
	free(pd);
	fk.live--;
	return 0;
}

static struct ibv_mr *fk_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	int i;

	if (fk.fail_reg_mr) {
		errno = fk.fail_reg_mr;
		fk.fail_reg_mr = 0;
		return NULL;
	}
	for (i = 0; i < FK_MAX && fk.mrs[i]; i++)
		;
	if (i == FK_MAX || (access & ~15)) {
		errno = i == FK_MAX ? ENOMEM : EINVAL;
		return NULL;
	}
	fk.mrs[i] = calloc(1, sizeof(*fk.mrs[i]));
	fk.mrs[i]->mr = (struct ibv_mr){ .context = pd->context, .pd = pd, .addr = addr,
					 .length = len, .lkey = 0x100 + fk.next_key,
					 .rkey = 0x80000 + fk.next_key };
	fk.next_key++;
	fk.mrs[i]->access = access;
	fk.live++;
	return &fk.mrs[i]->mr;
}

static int fk_dereg_mr(struct ibv_mr *mr)
{
	for (int i = 0; i < FK_MAX; i++)
		if (fk.mrs[i] == (struct fk_mr *)mr) {
			free(fk.mrs[i]);
			fk.mrs[i] = NULL;
			fk.live--;
			return 0;
		}
	return EINVAL;
}

static struct ibv_comp_channel *fk_create_comp_channel(struct ibv_context *c)
{
	struct fk_channel *ch = calloc(1, sizeof(*ch));

	ch->ch.context = c;
	ch->ch.fd = eventfd(0, EFD_CLOEXEC);
	fk.live++;
	return &ch->ch;
}

static int fk_destroy_comp_channel(struct ibv_comp_channel *ch)
{
	close(ch->fd);
	free(ch);
	fk.live--;
	return 0;
}

static struct ibv_cq *fk_create_cq(struct ibv_context *c, int cqe, void *cq_context,
				   struct ibv_comp_channel *ch, int vector)
{
	struct fk_cq *q;

	(void)vector;
	if (cqe < 1 || cqe > 4096) {
		errno = EINVAL;
		return NULL;
	}
	q = calloc(1, sizeof(*q));
	q->ring = calloc((size_t)cqe, sizeof(*q->ring));
	q->cap = q->cq.cqe = cqe;
	q->cq.context = c;
	q->cq.channel = ch;
	q->cq.cq_context = cq_context;
	if (ch)
		((struct fk_channel *)ch)->cq = q;
	fk.live++;
	return &q->cq;
}

static int fk_destroy_cq(struct ibv_cq *icq)
{
	struct fk_cq *c = (struct fk_cq *)icq;

	free(c->ring);
	free(c);
	fk.live--;
	return 0;
}

static int fk_get_cq_event(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **ctx)
{
	uint64_t v;

	if (read(ch->fd, &v, 8) != 8)
		return -1; /* the provider made the fd nonblocking: EAGAIN */
	*cq = &((struct fk_channel *)ch)->cq->cq;
	*ctx = (*cq)->cq_context;
	return 0;
}

static void fk_ack_cq_events(struct ibv_cq *cq, unsigned n)
{
	(void)cq;
	(void)n;
}

static struct ibv_qp *fk_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr *a)
{
	struct fk_qp *q;
	int i;

	for (i = 0; i < FK_MAX && fk.qps[i]; i++)
		;
	if (i == FK_MAX || a->qp_type != IBV_QPT_RC || a->cap.max_send_sge > 8 ||
	    a->cap.max_recv_sge > 8 || a->cap.max_inline_data > 256 ||
	    a->cap.max_send_wr > 1024 || a->cap.max_recv_wr > 1024) {
		errno = EINVAL;
		return NULL;
	}
	q = fk.qps[i] = calloc(1, sizeof(*q));
	q->qp = (struct ibv_qp){ .context = pd->context, .qp_context = a->qp_context, .pd = pd,
				 .send_cq = a->send_cq, .recv_cq = a->recv_cq,
				 .qp_num = fk.next_qpn++, .state = IBV_QPS_RESET,
				 .qp_type = IBV_QPT_RC };
	q->rq_cap = (int)a->cap.max_recv_wr;
	q->rq = calloc(a->cap.max_recv_wr + 1, sizeof(*q->rq));
	q->max_send_sge = (int)a->cap.max_send_sge;
	q->max_recv_sge = (int)a->cap.max_recv_sge;
	q->sig_all = a->sq_sig_all;
	fk.live++;
	return &q->qp;
}

/* What IBA / the kernel's ib_modify_qp_is_ok require for an RC QP. */
static int fk_required(int cur, int next)
{
	if (cur == IBV_QPS_RESET && next == IBV_QPS_INIT)
		return IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
	if (cur == IBV_QPS_INIT && next == IBV_QPS_RTR)
		return IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
		       IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	if (cur == IBV_QPS_RTR && next == IBV_QPS_RTS)
		return IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
		       IBV_QP_MAX_QP_RD_ATOMIC;
	return 0;
}

static int fk_modify_qp(struct ibv_qp *iqp, struct ibv_qp_attr *a, int mask)
{
	struct fk_qp *q = (struct fk_qp *)iqp;
	int next = (mask & IBV_QP_STATE) ? (int)a->qp_state : (int)iqp->state, req;

	if (fk.fail_modify) {
		req = fk.fail_modify;
		fk.fail_modify = 0;
		return req;
	}
	fk.last_attr = *a;
	fk.last_mask = mask;
	if (iqp->state == IBV_QPS_RESET && next == IBV_QPS_INIT) {
		fk.last_init_attr = *a;
		fk.last_init_mask = mask;
	}
	req = fk_required(iqp->state, next);
	if ((mask & req) != req || ((mask & IBV_QP_PORT) && a->port_num != 1))
		return EINVAL;
	if ((mask & IBV_QP_AV) &&
	    (!a->ah_attr.is_global || a->ah_attr.port_num != 1 || a->ah_attr.grh.sgid_index != 2 ||
	     memcmp(a->ah_attr.grh.dgid.raw, fk.gids[2].raw, 16)))
		return EINVAL; /* this NIC's one RoCE port: GID index 2 */
	if ((mask & IBV_QP_PATH_MTU) && a->path_mtu > IBV_MTU_1024)
		return EINVAL;
	if (((mask & IBV_QP_MAX_QP_RD_ATOMIC) && a->max_rd_atomic > 16) ||
	    ((mask & IBV_QP_MAX_DEST_RD_ATOMIC) && a->max_dest_rd_atomic > 16))
		return EINVAL;
	if (mask & IBV_QP_ACCESS_FLAGS)
		q->access = (int)a->qp_access_flags;
	if (mask & IBV_QP_DEST_QPN)
		q->dest = a->dest_qp_num;
	if (next == IBV_QPS_ERR)
		fk_qp_err(q);
	if (next == IBV_QPS_RESET)
		q->rq_n = 0;
	iqp->state = (enum ibv_qp_state)next;
	return 0;
}

static int fk_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask,
		       struct ibv_qp_init_attr *init)
{
	(void)mask;
	(void)init;
	a->qp_state = qp->state;
	return 0;
}

static int fk_destroy_qp(struct ibv_qp *iqp)
{
	for (int i = 0; i < FK_MAX; i++)
		if (fk.qps[i] == (struct fk_qp *)iqp) {
			free(fk.qps[i]->rq);
			free(fk.qps[i]);
			fk.qps[i] = NULL;
			fk.live--;
			return 0;
		}
	return EINVAL;
}

static int fk_get_async_event(struct ibv_context *c, struct ibv_async_event *ev)
{
	(void)c;
	if (!fk.n_async) {
		errno = EAGAIN;
		return -1;
	}
	*ev = fk.async[0];
	memmove(fk.async, fk.async + 1, (size_t)--fk.n_async * sizeof(fk.async[0]));
	return 0;
}

static void fk_ack_async_event(struct ibv_async_event *ev)
{
	(void)ev;
}

static const struct ibvp_lib fk_lib = {
	.get_device_list = fk_get_device_list,
	.free_device_list = fk_free_device_list,
	.get_device_name = fk_get_device_name,
	.open_device = fk_open_device,
	.close_device = fk_close_device,
	.query_device = fk_query_device,
	.query_port = fk_query_port,
	.query_gid = fk_query_gid,
	.alloc_pd = fk_alloc_pd,
	.dealloc_pd = fk_dealloc_pd,
	.reg_mr = fk_reg_mr,
	.dereg_mr = fk_dereg_mr,
	.create_comp_channel = fk_create_comp_channel,
	.destroy_comp_channel = fk_destroy_comp_channel,
	.create_cq = fk_create_cq,
	.destroy_cq = fk_destroy_cq,
	.get_cq_event = fk_get_cq_event,
	.ack_cq_events = fk_ack_cq_events,
	.create_qp = fk_create_qp,
	.modify_qp = fk_modify_qp,
	.query_qp = fk_query_qp,
	.destroy_qp = fk_destroy_qp,
	.get_async_event = fk_get_async_event,
	.ack_async_event = fk_ack_async_event,
};

/* Set before fk_install() to make a Mellanox-like NIC (vendor 0x02c9 whose
 * atomics fetch big-endian); reset by it. */
static bool fk_next_mellanox;

/* A fresh NIC: devices fake_roce0 (RoCE) and fake_iwarp0; GIDs: link-local,
 * empty, IPv4 10.0.0.1 (the one the provider should pick), empty. */
static void fk_install(void)
{
	memset(&fk, 0, sizeof(fk));
	fk.vendor_id = fk_next_mellanox ? 0x02c9 : 0x1234;
	fk.reply_be = fk_next_mellanox;
	fk_next_mellanox = false;
	fk.devs[0] = (struct ibv_device){ .node_type = IBV_NODE_CA,
					  .transport_type = IBV_TRANSPORT_IB,
					  .name = "fake_roce0",
					  .ibdev_path = "/nonexistent/fake_roce0" };
	fk.devs[1] = (struct ibv_device){ .node_type = IBV_NODE_RNIC,
					  .transport_type = IBV_TRANSPORT_IWARP,
					  .name = "fake_iwarp0" };
	fk.n_devices = 2;
	fk.next_qpn = 0x11;
	inet_pton(AF_INET6, "fe80::1", fk.gids[0].raw);
	inet_pton(AF_INET6, "::ffff:10.0.0.1", fk.gids[2].raw);
	ibvp_lib_override(&fk_lib);
}

/* Back to the real library; every NIC object must have been freed. */
static void fk_remove(struct lt *t)
{
	ibvp_lib_override(NULL);
	LT_CHECK(t, fk.live == 0, "the software NIC has %d objects left (a leak)", fk.live);
}

#endif
