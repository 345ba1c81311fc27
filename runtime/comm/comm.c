/*
 * comm.c - the communicator (include/loom/comm.h): creation, connection of
 * one RC QP per pair of ranks through the bootstrap, teardown.  The data
 * path is comm_xchg.c, the collectives comm_coll.c.  Not here: non-blocking
 * operations, GPU memory.
 *
 * Design.
 *   Objects: one device of the chosen provider, one PD, one CQ for every
 *   completion, one RC QP per peer; two registered regions, tx and rx, of
 *   (size - 1) * chunk_bytes, one block of chunk_bytes per peer, each cut
 *   into COMM_SLOTS slots.  A world of one has none of these ("local").
 *   Data: a message is written, piece by piece, with RDMA WRITE_WITH_IMM
 *   from our tx block for the peer into our rx block at the peer; the
 *   immediate tells the receiver a piece arrived, and the receiver answers
 *   emptied slots with zero-length WRITE_WITH_IMM credits (comm_xchg.c has
 *   the flow control).  Memory is bounded: 2 * chunk_bytes per peer, any
 *   message size.  Every user buffer is copied through the slots, so user
 *   memory is never registered.
 *   Schedule: every operation is one exchange in which each member sends
 *   one message to and receives one from each other member; pieces go out
 *   round-robin over peers starting at rank + 1 (the pairwise pattern),
 *   limited by credits, and arrive in any interleaving, so no rank waits on
 *   another's order.
 *   Determinism: received bytes land at offsets fixed by the arguments;
 *   reductions add contributions in rank order in a fixed tree
 *   (comm_coll.c), never in arrival order.
 *
 * Setup (collective): every rank opens its objects, then all-gathers a card
 * {device address, rx region address and rkey, chunk_bytes, provider, the
 * QP number it made for each rank, ok}; a rank that failed locally still
 * takes part with ok = 0, so every rank returns NULL together instead of
 * waiting for a timeout.  Then RTR/RTS and the receive WRs, and a second
 * all-gather of ok flags (every QP is ready before anyone writes).
 * The udp provider is opened with port 0 (any free port: many ranks share
 * a host); LOOM_TP_OPTS can override it, and sets addr= for several hosts.
 *
 * Teardown (collective): wait for our own WRs (credits) to complete, a
 * bootstrap barrier (no peer still sends to us), then destroy.  A broken
 * communicator skips both and destroys at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm_int.h"
#include "loom/bootstrap.h"
#include "loom/err.h"

/* QP attributes.  timeout 18: 4.096 us * 2^18 ~ 1.07 s per expiry, so a
 * loaded machine never spends retries by accident; a dead peer is found
 * at once by the providers' own checks or by the bootstrap. */
#define COMM_QP_TIMEOUT 18
#define COMM_QP_RETRY 7
#define COMM_QP_RNR_RETRY 7
#define COMM_PSN 0x100
#define COMM_ABORT_FLUSH_MS 1000 /* a broken comm waits this long for its aborts to leave */

/* What each rank publishes at setup; qpn[size] follows it. */
struct comm_card {
	uint64_t rx_base;
	uint64_t chunk_bytes;
	uint32_t rkey;
	int32_t ok;
	char provider[TP_NAME_MAX];
	struct tp_addr addr;
	uint8_t pad[6];
};
_Static_assert(sizeof(struct comm_card) % 8 == 0, "cards are packed back to back");

static size_t card_bytes(int size)
{
	/* Rounded to 8 bytes: the next card starts aligned. */
	return (sizeof(struct comm_card) + 4 * (size_t)size + 7) & ~(size_t)7;
}

static struct comm_card *card_at(uint8_t *all, int size, int r)
{
	return (struct comm_card *)(all + card_bytes(size) * (size_t)r);
}

static uint32_t *card_qpn(struct comm_card *k)
{
	return (uint32_t *)(k + 1);
}

/* ---- options -------------------------------------------------------------- */

static int check_opts(struct comm *c, const struct comm_opts *o)
{
	const char *prov = o && o->provider ? o->provider : "shm";
	size_t chunk = o && o->chunk_bytes ? o->chunk_bytes : COMM_CHUNK_DEFAULT;
	int n;

	if (chunk < COMM_CHUNK_MIN || chunk > COMM_CHUNK_MAX)
		return loom_err_set(EINVAL, "comm: chunk_bytes %zu out of range [%u, %u]", chunk,
				    COMM_CHUNK_MIN, COMM_CHUNK_MAX);
	if (strlen(prov) >= sizeof(c->provider))
		return loom_err_set(EINVAL, "comm: provider name too long");
	c->chunk_bytes = chunk;
	/* Slots are 64-byte multiples, so pieces start aligned. */
	c->slot_bytes = (chunk / COMM_SLOTS) & ~(size_t)63;
	c->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : COMM_TIMEOUT_DEFAULT_MS;
	snprintf(c->provider, sizeof(c->provider), "%s", c->size == 1 ? "local" : prov);
	if (c->size == 1)
		return 0;
	n = tp_get_devices(prov, NULL, 0);
	if (n < 0)
		return loom_err_set(n, "comm: provider '%s': %s", prov, loom_err_msg());
	return 0;
}

/* ---- local objects ------------------------------------------------------------ */

static int open_device(struct comm *c, const struct comm_opts *o)
{
	char max_qp[2][48];
	const char *opts[] = { "udp:port=0", max_qp[0], max_qp[1], NULL };
	int want = c->size - 1 > 64 ? c->size - 1 : 64;

	snprintf(max_qp[0], sizeof(max_qp[0]), "udp:max_qp=%d", want);
	snprintf(max_qp[1], sizeof(max_qp[1]), "shm:max_qp=%d", want);
	c->dev = tp_device_open(c->provider, o ? o->device : NULL, opts);
	if (!c->dev)
		return loom_err_set(ENODEV, "comm: open %s device: %s", c->provider,
				    loom_err_msg());
	return 0;
}

static int alloc_regions(struct comm *c)
{
	size_t len = c->chunk_bytes * (size_t)(c->size - 1);
	size_t alen = (len + 4095) & ~(size_t)4095;
	int cqe = (c->size - 1) * (COMM_SQ_DEPTH + COMM_RQ_DEPTH) + 16;

	c->pd = tp_pd_alloc(c->dev);
	c->cq = c->pd ? tp_cq_create(c->dev, cqe) : NULL;
	/* Transport memory: shm passes WRITEs out of it by reference. */
	c->tx_buf = tp_mem_alloc(c->dev, alen);
	c->rx_buf = tp_mem_alloc(c->dev, alen);
	if (!c->pd || !c->cq)
		return loom_err_set(ENOMEM, "comm: %s: %s", c->pd ? "cq" : "pd", loom_err_msg());
	if (!c->tx_buf || !c->rx_buf)
		return loom_err_set(ENOMEM, "comm: out of memory for 2 x %zu staging bytes", len);
	memset(c->tx_buf, 0, alen);
	memset(c->rx_buf, 0, alen);
	c->tx_mr = tp_mr_reg(c->pd, c->tx_buf, alen, TP_ACCESS_LOCAL_WRITE);
	c->rx_mr = c->tx_mr ? tp_mr_reg(c->pd, c->rx_buf, alen,
					TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_WRITE)
			    : NULL;
	if (!c->rx_mr)
		return loom_err_set(ENOMEM, "comm: register staging: %s", loom_err_msg());
	return 0;
}

/* Block index of peer r in our regions (we keep none for ourselves). */
static size_t block_of(int me, int r)
{
	return (size_t)(r < me ? r : r - 1);
}

static int create_qps(struct comm *c)
{
	struct tp_qp_init_attr init = { .send_cq = c->cq, .recv_cq = c->cq,
					.max_send_wr = COMM_SQ_DEPTH,
					.max_recv_wr = COMM_RQ_DEPTH, .max_send_sge = 1,
					.max_recv_sge = 1, .sq_sig_all = true };
	struct tp_qp_attr a = { .state = TP_QPS_INIT, .access = TP_ACCESS_REMOTE_WRITE };

	for (int r = 0; r < c->size; r++) {
		struct comm_peer *p = &c->peers[r];

		p->rank = r;
		if (r == c->rank)
			continue;
		p->tx = c->tx_buf + block_of(c->rank, r) * c->chunk_bytes;
		p->rx = c->rx_buf + block_of(c->rank, r) * c->chunk_bytes;
		p->qp = tp_qp_create(c->pd, &init);
		if (!p->qp)
			return loom_err_set(ENOMEM, "comm: qp for rank %d: %s", r, loom_err_msg());
		if (tp_qp_modify(p->qp, &a, TP_QP_STATE | TP_QP_ACCESS_FLAGS))
			return loom_err_set(EINVAL, "comm: qp for rank %d: INIT: %s", r,
					    loom_err_msg());
	}
	return 0;
}

static int open_local(struct comm *c, const struct comm_opts *o)
{
	int rc = open_device(c, o);

	rc = rc ? rc : alloc_regions(c);
	return rc ? rc : create_qps(c);
}

/* ---- connecting ------------------------------------------------------------ */

static void fill_card(struct comm *c, struct comm_card *k, int ok)
{
	memset(k, 0, card_bytes(c->size));
	k->ok = ok;
	if (!ok)
		return;
	k->rx_base = (uintptr_t)c->rx_buf;
	k->rkey = c->rx_mr->rkey;
	k->chunk_bytes = c->chunk_bytes;
	snprintf(k->provider, sizeof(k->provider), "%s", c->provider);
	tp_device_addr(c->dev, &k->addr);
	for (int r = 0; r < c->size; r++)
		card_qpn(k)[r] = r == c->rank ? 0 : tp_qp_num(c->peers[r].qp);
}

/* Every card present and consistent with ours. */
static int check_cards(struct comm *c, uint8_t *all)
{
	for (int r = 0; r < c->size; r++) {
		struct comm_card *k = card_at(all, c->size, r);

		if (!k->ok)
			return loom_err_set(EIO, "comm: create: rank %d failed to set up (its log "
					    "says why)", r);
		if (k->chunk_bytes != c->chunk_bytes || strcmp(k->provider, c->provider) != 0)
			return loom_err_set(EPROTO, "comm: create: rank %d uses %s with chunk_bytes "
					    "%llu, rank %d %s with %zu", r, k->provider,
					    (unsigned long long)k->chunk_bytes, c->rank,
					    c->provider, c->chunk_bytes);
	}
	return 0;
}

static int connect_peer(struct comm *c, struct comm_peer *p, struct comm_card *k)
{
	struct tp_qp_attr a = { .state = TP_QPS_RTR, .path_mtu = 4096, .dest = k->addr,
				.dest_qp_num = card_qpn(k)[c->rank], .rq_psn = COMM_PSN,
				.max_dest_rd_atomic = 0, .min_rnr_timer = 1 };
	int rc;

	p->remote_rx_addr = k->rx_base + block_of(p->rank, c->rank) * c->chunk_bytes;
	p->remote_rkey = k->rkey;
	rc = tp_qp_modify(p->qp, &a, TP_QP_STATE | TP_QP_PATH_MTU | TP_QP_DEST | TP_QP_RQ_PSN |
				     TP_QP_MAX_DEST_RD_ATOMIC | TP_QP_MIN_RNR_TIMER);
	a = (struct tp_qp_attr){ .state = TP_QPS_RTS, .sq_psn = COMM_PSN,
				 .timeout = COMM_QP_TIMEOUT, .retry_cnt = COMM_QP_RETRY,
				 .rnr_retry = COMM_QP_RNR_RETRY, .max_rd_atomic = 0 };
	rc = rc ? rc
		: tp_qp_modify(p->qp, &a, TP_QP_STATE | TP_QP_SQ_PSN | TP_QP_TIMEOUT |
					      TP_QP_RETRY_CNT | TP_QP_RNR_RETRY |
					      TP_QP_MAX_QP_RD_ATOMIC);
	rc = rc ? rc : comm_xchg_post_recvs(c, p, COMM_RQ_DEPTH);
	if (rc)
		return loom_err_set(rc, "comm: connect to rank %d: %s", p->rank, loom_err_msg());
	return 0;
}

/* Gather the ok flags; the first failing rank's number, or -1. */
static int gather_ok(struct comm *c, int ok, int *bad_rank)
{
	int32_t mine = ok, *all = calloc((size_t)c->size, sizeof(*all));
	int rc;

	*bad_rank = -1;
	if (!all)
		return loom_err_set(ENOMEM, "comm: create: out of memory");
	rc = boot_allgather(c->boot, &mine, all, sizeof(mine));
	for (int r = 0; r < c->size && !rc && *bad_rank < 0; r++)
		if (!all[r])
			*bad_rank = r;
	free(all);
	return rc;
}

/* Exchange cards and connect; every rank calls it (ok = 0 after a local
 * failure, whose message is kept). */
static int connect_all(struct comm *c, int ok)
{
	size_t kb = card_bytes(c->size);
	uint8_t *mine = calloc(1, kb), *all = calloc((size_t)c->size, kb);
	int rc = mine && all ? 0 : loom_err_set(ENOMEM, "comm: create: out of memory");
	int bad = -1, rc2;
	char why[256];

	snprintf(why, sizeof(why), "%s", loom_err_msg());
	if (!rc) {
		fill_card(c, (struct comm_card *)mine, ok);
		rc = boot_allgather(c->boot, mine, all, kb);
	}
	if (!rc && ok)
		rc = check_cards(c, all);
	for (int r = 0; r < c->size && !rc && ok; r++)
		if (r != c->rank)
			rc = connect_peer(c, &c->peers[r], card_at(all, c->size, r));
	if (!ok)
		loom_err_set(EIO, "%s", why);
	else if (rc)
		snprintf(why, sizeof(why), "%s", loom_err_msg());
	free(mine);
	free(all);
	/* Second round: nobody writes before every QP is ready, and a rank
	 * that failed while connecting makes everyone fail. */
	rc2 = gather_ok(c, ok && !rc, &bad);
	if (!ok || rc)
		return loom_err_set(rc ? rc : EIO, "%s", why);
	if (rc2)
		return rc2;
	if (bad >= 0)
		return loom_err_set(EIO, "comm: create: rank %d failed to connect", bad);
	return 0;
}

/* ---- create / destroy ----------------------------------------------------------- */

/* Keep the first error of a teardown step. */
static void keep_err(int *first, int rc, const char *what)
{
	if (rc && !*first)
		*first = loom_err_set(rc, "comm: destroy: %s: %s", what, loom_err_msg());
}

/* Free everything; 0 or the first error a destroy call returned. */
static int free_all(struct comm *c)
{
	int rc = 0;

	for (int r = 0; c->peers && r < c->size; r++)
		if (c->peers[r].qp)
			keep_err(&rc, tp_qp_destroy(c->peers[r].qp), "qp");
	if (c->tx_mr)
		keep_err(&rc, tp_mr_dereg(c->tx_mr), "tx mr");
	if (c->rx_mr)
		keep_err(&rc, tp_mr_dereg(c->rx_mr), "rx mr");
	if (c->tx_buf)
		keep_err(&rc, tp_mem_free(c->dev, c->tx_buf), "tx buffer");
	if (c->rx_buf)
		keep_err(&rc, tp_mem_free(c->dev, c->rx_buf), "rx buffer");
	if (c->cq)
		keep_err(&rc, tp_cq_destroy(c->cq), "cq");
	if (c->pd)
		keep_err(&rc, tp_pd_free(c->pd), "pd");
	if (c->dev)
		keep_err(&rc, tp_device_close(c->dev), "device");
	free(c->peers);
	free(c->xf);
	free(c);
	return rc;
}

struct comm *comm_create(struct boot *boot, const struct comm_opts *opts)
{
	struct comm *c;
	int rc;

	if (!boot) {
		loom_err_set(EINVAL, "comm: create: NULL bootstrap");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		loom_err_set(ENOMEM, "comm: create: out of memory");
		return NULL;
	}
	c->boot = boot;
	c->blame = -1;
	c->rank = boot_rank(boot);
	c->size = boot_world_size(boot);
	c->peers = calloc((size_t)c->size, sizeof(*c->peers));
	c->xf = calloc((size_t)c->size, sizeof(*c->xf));
	if (!c->peers || !c->xf) {
		loom_err_set(ENOMEM, "comm: create: out of memory for %d ranks", c->size);
		free_all(c);
		return NULL;
	}
	/* Argument errors are the same on every rank: fail before any exchange. */
	if (check_opts(c, opts)) {
		free_all(c);
		return NULL;
	}
	if (c->size == 1)
		return c;
	rc = open_local(c, opts);
	rc = connect_all(c, rc == 0);
	if (rc) {
		free_all(c);
		return NULL;
	}
	return c;
}

int comm_destroy(struct comm *c)
{
	int rc = 0, rc2;

	if (!c)
		return 0;
	if (c->size > 1 && !c->broken) {
		rc = comm_xchg_drain(c);
		if (!rc)
			rc = boot_barrier(c->boot);
		if (rc)
			rc = loom_err_set(rc, "comm: destroy: %s", loom_err_msg());
	}
	if (c->size > 1 && c->broken) {
		struct tp_qp_attr a = { .state = TP_QPS_ERR };

		comm_xchg_flush_aborts(c, COMM_ABORT_FLUSH_MS);
		for (int r = 0; r < c->size; r++)
			if (c->peers[r].qp)
				tp_qp_modify(c->peers[r].qp, &a, TP_QP_STATE);
	}
	rc2 = free_all(c);
	return rc ? rc : rc2;
}

int comm_rank(const struct comm *c)
{
	return c ? c->rank : -1;
}

int comm_size(const struct comm *c)
{
	return c ? c->size : 0;
}

const char *comm_provider(const struct comm *c)
{
	return c ? c->provider : "";
}

int comm_stats_get(const struct comm *c, struct comm_stats *s)
{
	if (!c || !s)
		return loom_err_set(EINVAL, "comm: stats_get: NULL argument");
	*s = c->st;
	return 0;
}

void comm_stats_reset(struct comm *c)
{
	if (c)
		memset(&c->st, 0, sizeof(c->st));
}
