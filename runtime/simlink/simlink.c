/*
 * simlink.c - the running link: simlink_next (the delivery loop of both
 * sides), what each side does with each message, and the operations
 * (MMIO, DMA, interrupts).  Handshake: simlink_hs.c; rings:
 * simlink_ring.c; time: simlink_time.c.  Contract: include/loom/simlink.h.
 *
 * Delivery loop (synchronized): scan the rings (promises), take the
 * earliest message whose delivery time (ts + latency, or now if it was
 * left waiting while the host stalled) is within both the caller's
 * "until" and the horizon; else move time to the horizon, promise it with
 * a sync message, and wait for the peer.  Time never passes a message
 * not yet delivered: an unscanned message has ts >= the usable promise, so
 * it is delivered at or after the horizon.
 *
 * Host side: DMA requests are served inside the loop (a read is answered
 * with a DMA_READ_CMPL at once; a write's bytes are already in memory);
 * interrupts go to the caller, or are kept while a blocking MMIO call
 * waits (the CPU is stalled on an uncached access, as on real hardware).
 * Device side: MMIO requests the link finds malformed or out of bounds are
 * answered with an error completion (posted ones dropped) and counted in
 * bad_msgs; the device program sees only good ones.
 *
 * All functions: the link's one thread.
 */
#include <errno.h>
#include <string.h>

#include "loom/err.h"
#include "simlink_int.h"

/* What the caller of run_loop wants back. */
struct want {
	bool cmpl;		   /* a completion with this id (host, blocking MMIO) */
	bool block;		   /* unsynchronized: wait for a message instead of returning 0 */
	uint32_t id;
	struct simlink_msg *out;
};

static const char *type_name(unsigned t)
{
	static const char *const names[SIMLINK_TYPE_END] = {
		[SIMLINK_MMIO_READ] = "MMIO read", [SIMLINK_MMIO_WRITE] = "MMIO write",
		[SIMLINK_POSTED_WRITE] = "posted write", [SIMLINK_DMA_READ] = "DMA read",
		[SIMLINK_DMA_WRITE] = "DMA write", [SIMLINK_IRQ] = "interrupt",
	};

	return t < SIMLINK_TYPE_END && names[t] ? names[t] : "message";
}

int simlink_send(struct simlink *l, enum simlink_q q, struct simlink_msg *m, uint32_t wire)
{
	if (!simlink_tx_room(&l->tx[q]))
		return loom_err_set(EAGAIN, "simlink: %s ring to the %s is full",
				    q == SIMLINK_Q_REQ ? "request" : "completion", l->peer);
	m->ts_ps = 0;
	if (l->p.synchronized) {
		m->ts_ps = simlink_depart(l, wire);
		if (m->ts_ps > l->last_tx_ps)
			l->last_tx_ps = m->ts_ps;
	}
	simlink_tx_put(&l->tx[q], m);
	simlink_bell_ring(l);
	l->st.tx_msgs++;
	l->st.tx_wire_bytes += wire;
	return 0;
}

/* ---- what each side does with a message ----------------------------- */

static void host_dma_read(struct simlink *l, const struct simlink_msg *req, int check)
{
	struct simlink_msg c;

	memset(&c, 0, sizeof(c));
	c.type = SIMLINK_DMA_READ_CMPL;
	c.id = req->id;
	c.addr = req->addr;
	c.len = req->len;
	c.status = check;
	/* Room is guaranteed by the device's outstanding-read limit; a device
	 * that broke it loses the completion. */
	if (simlink_send(l, SIMLINK_Q_CMP, &c, SIMLINK_MSG_BYTES + (check ? 0 : req->len)) < 0)
		l->st.bad_msgs++;
}

static int host_handle(struct simlink *l, struct simlink_msg *m, int check, struct want *w)
{
	switch (m->type) {
	case SIMLINK_DMA_READ:
		host_dma_read(l, m, check);
		break;
	case SIMLINK_IRQ:
		if (check)
			break;
		if (!w->cmpl) {
			*w->out = *m;
			return 1;
		}
		l->irq_pending[m->addr]++;
		break;
	case SIMLINK_MMIO_READ_CMPL:
	case SIMLINK_MMIO_WRITE_CMPL:
		if (w->cmpl && m->id == w->id && !check) {
			*w->out = *m;
			return 1;
		}
		if (!check)
			l->st.bad_msgs++; /* nobody asked for it */
		break;
	default:
		break; /* DMA_WRITE: the bytes are in place already */
	}
	return 0;
}

static int dev_handle(struct simlink *l, struct simlink_msg *m, int check, struct want *w)
{
	if (m->type == SIMLINK_DMA_READ_CMPL && l->reads_out)
		l->reads_out--;
	if (check && (m->type == SIMLINK_MMIO_READ || m->type == SIMLINK_MMIO_WRITE)) {
		simlink_mmio_complete(l, m, 0, check);
		return 0;
	}
	if (check)
		return 0;
	*w->out = *m;
	return 1;
}

/* Take the head of ring q and act on it: 1 when it goes to the caller. */
static int deliver(struct simlink *l, enum simlink_q q, struct want *w)
{
	struct simlink_msg m;
	int check;

	simlink_rx_take(&l->rx[q], &m);
	simlink_bell_ring(l); /* the peer may wait for the slot */
	if (m.type == SIMLINK_SYNC && q == SIMLINK_Q_REQ) {
		l->st.rx_syncs++;
		return 0;
	}
	l->st.rx_msgs++;
	check = simlink_msg_check(l, q, &m);
	if (check)
		l->st.bad_msgs++; /* answered with an error where a completion is due, else dropped */
	if (l->p.synchronized)
		m.ts_ps = l->now_ps; /* the caller sees the delivery time */
	return l->side == SIMLINK_HOST ? host_handle(l, &m, check, w) : dev_handle(l, &m, check, w);
}

/* ---- the delivery loop ---------------------------------------------- */

/* The ring whose head is delivered first, and when; -1 if none.  Ties go
 * to the request ring: a completion never passes an earlier posted write. */
static int earliest(const struct simlink *l, uint64_t *when)
{
	int best = -1;

	for (int q = 0; q < SIMLINK_NQ; q++) {
		const struct simlink_msg *h = simlink_rx_head(&l->rx[q]);
		uint64_t d;

		if (!h)
			continue;
		d = l->p.synchronized ? h->ts_ps + l->p.latency_ps : 0;
		if (d < l->now_ps)
			d = l->now_ps; /* left waiting while this side stalled */
		if (best < 0 || d < *when) {
			best = q;
			*when = d;
		}
	}
	return best;
}

/* A call that returns without waiting still notices a dead peer, every
 * 64 calls and at most every 2 ms, so a caller polling in a loop (say, on
 * a full ring) gets -EPIPE too. */
static int idle_check(struct simlink *l)
{
	uint64_t t;

	if ((++l->poll_calls & 63) != 0)
		return 0;
	t = simlink_mono_ns();
	if (t < l->alive_check_ns)
		return 0;
	l->alive_check_ns = t + 2000000;
	return simlink_peer_check(l);
}

static int run_sync(struct simlink *l, uint64_t until, struct want *w)
{
	uint64_t start_ns = 0, d = 0;
	unsigned spins = 0;

	for (;;) {
		bool got = simlink_poll(l);
		int q = earliest(l, &d), rc;
		uint64_t target = q >= 0 && d < until ? d : until, hz = simlink_horizon(l);

		if (target <= hz) {
			simlink_advance(l, target);
			if (q < 0 || d > l->now_ps)
				return idle_check(l);
			rc = deliver(l, q, w);
			if (rc)
				return rc;
			start_ns = 0, spins = 0;
			continue;
		}
		simlink_advance(l, hz);
		simlink_sync_send(l, true);
		if (got) {
			start_ns = 0, spins = 0;
			continue;
		}
		if (!start_ns)
			start_ns = simlink_mono_ns();
		rc = simlink_wait(l, start_ns, &spins, false);
		if (rc < 0)
			return rc;
	}
}

static int run_unsync(struct simlink *l, struct want *w)
{
	uint64_t start_ns = 0, d = 0;
	unsigned spins = 0;

	for (;;) {
		int rc, q;

		simlink_poll(l);
		q = simlink_rx_head(&l->rx[SIMLINK_Q_REQ]) ? SIMLINK_Q_REQ : earliest(l, &d);
		if (q >= 0) {
			rc = deliver(l, q, w);
			if (rc)
				return rc;
			start_ns = 0, spins = 0;
			continue;
		}
		if (!w->block)
			return idle_check(l);
		if (!start_ns)
			start_ns = simlink_mono_ns();
		rc = simlink_wait(l, start_ns, &spins, false);
		if (rc < 0)
			return rc;
	}
}

static int run_loop(struct simlink *l, uint64_t until, struct want *w)
{
	return l->p.synchronized ? run_sync(l, until, w) : run_unsync(l, w);
}

/* Host: an interrupt kept while a blocking MMIO call waited. */
static bool host_pending_irq(struct simlink *l, struct simlink_msg *out)
{
	for (uint32_t v = 0; v < l->info.n_irqs; v++) {
		if (!l->irq_pending[v])
			continue;
		l->irq_pending[v]--;
		memset(out, 0, sizeof(*out));
		out->type = SIMLINK_IRQ;
		out->addr = v;
		out->ts_ps = l->now_ps;
		return true;
	}
	return false;
}

int simlink_next(struct simlink *l, uint64_t until_ps, struct simlink_msg *out)
{
	struct want w = { .out = out };

	if (!l || !out)
		return loom_err_set(EINVAL, "simlink: next needs a link and an output message");
	if (l->side == SIMLINK_HOST && host_pending_irq(l, out))
		return 1;
	w.block = until_ps == SIMLINK_FOREVER;
	return run_loop(l, until_ps, &w);
}

/* ---- host operations ------------------------------------------------ */

static int host_mmio_args(const struct simlink *l, uint32_t bar, uint64_t off, uint32_t len)
{
	if (!l || l->side != SIMLINK_HOST)
		return loom_err_set(EINVAL, "simlink: MMIO is issued by the host side");
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return loom_err_set(EINVAL, "simlink: MMIO of %u bytes (1, 2, 4 or 8)", len);
	if (bar >= l->info.n_bars || off > l->info.bar_bytes[bar] ||
	    len > l->info.bar_bytes[bar] - off)
		return loom_err_set(EFAULT, "simlink: MMIO at bar %u offset %#llx (%u bytes) is "
				    "outside the device's BARs", bar, (unsigned long long)off, len);
	return 0;
}

/* Send a request, serving the device while the ring stays full. */
static int host_send_wait(struct simlink *l, struct simlink_msg *m)
{
	struct simlink_msg sink;
	struct want w = { .cmpl = true, .id = ~0u, .out = &sink };
	uint64_t start_ns = 0;
	unsigned spins = 0;
	int rc;

	while ((rc = simlink_send(l, SIMLINK_Q_REQ, m, SIMLINK_MSG_BYTES)) == -EAGAIN) {
		rc = run_loop(l, l->now_ps, &w);
		if (rc < 0)
			return rc;
		if (!start_ns)
			start_ns = simlink_mono_ns();
		rc = simlink_wait(l, start_ns, &spins, true);
		if (rc < 0)
			return rc;
	}
	return rc;
}

static int host_mmio(struct simlink *l, unsigned type, uint32_t bar, uint64_t off, uint32_t len,
		     uint64_t *val)
{
	struct simlink_msg m, c;
	struct want w = { .cmpl = true, .block = true, .out = &c };
	int rc = host_mmio_args(l, bar, off, len);

	if (rc < 0)
		return rc;
	memset(&m, 0, sizeof(m));
	m.type = (uint8_t)type;
	m.bar = (uint8_t)bar;
	m.addr = off;
	m.len = len;
	m.data = type == SIMLINK_MMIO_WRITE ? *val : 0;
	m.id = w.id = l->next_id++;
	rc = host_send_wait(l, &m);
	if (rc == 0)
		rc = run_loop(l, SIMLINK_FOREVER, &w);
	if (rc < 0)
		return rc;
	if (c.status < 0)
		return loom_err_set(-c.status, "simlink: device answered %s at bar %u offset %#llx "
				    "with error %d", type_name(type), bar, (unsigned long long)off,
				    c.status);
	if (type == SIMLINK_MMIO_READ)
		*val = c.data;
	return 0;
}

int simlink_mmio_read(struct simlink *l, uint32_t bar, uint64_t off, uint32_t len, uint64_t *val)
{
	if (!val)
		return loom_err_set(EINVAL, "simlink: MMIO read needs a value pointer");
	return host_mmio(l, SIMLINK_MMIO_READ, bar, off, len, val);
}

int simlink_mmio_write(struct simlink *l, uint32_t bar, uint64_t off, uint32_t len, uint64_t val)
{
	return host_mmio(l, SIMLINK_MMIO_WRITE, bar, off, len, &val);
}

int simlink_mmio_write_posted(struct simlink *l, uint32_t bar, uint64_t off, uint32_t len,
			      uint64_t val)
{
	struct simlink_msg m;
	int rc = host_mmio_args(l, bar, off, len);

	if (rc < 0)
		return rc;
	memset(&m, 0, sizeof(m));
	m.type = SIMLINK_POSTED_WRITE;
	m.bar = (uint8_t)bar;
	m.addr = off;
	m.len = len;
	m.data = val;
	m.id = l->next_id++;
	return simlink_send(l, SIMLINK_Q_REQ, &m, SIMLINK_MSG_BYTES);
}

/* ---- device operations ---------------------------------------------- */

int simlink_mmio_complete(struct simlink *l, const struct simlink_msg *req, uint64_t data,
			  int status)
{
	struct simlink_msg c;

	if (!l || !req || l->side != SIMLINK_DEV ||
	    (req->type != SIMLINK_MMIO_READ && req->type != SIMLINK_MMIO_WRITE) || status > 0)
		return loom_err_set(EINVAL, "simlink: complete needs the device side, an MMIO read "
				    "or write request and a status <= 0");
	memset(&c, 0, sizeof(c));
	c.type = req->type == SIMLINK_MMIO_READ ? SIMLINK_MMIO_READ_CMPL : SIMLINK_MMIO_WRITE_CMPL;
	c.id = req->id;
	c.bar = req->bar;
	c.addr = req->addr;
	c.len = req->len;
	c.data = req->type == SIMLINK_MMIO_READ ? data : 0;
	c.status = status;
	return simlink_send(l, SIMLINK_Q_CMP, &c, SIMLINK_MSG_BYTES);
}

static int dev_dma_args(const struct simlink *l, uint64_t addr, uint32_t len, const char *what)
{
	if (!l || l->side != SIMLINK_DEV)
		return loom_err_set(EINVAL, "simlink: %s is issued by the device side", what);
	if (len == 0 || len > l->p.max_payload)
		return loom_err_set(EINVAL, "simlink: %s of %u bytes (1..max_payload=%u; split it)",
				    what, len, l->p.max_payload);
	if (addr > l->dma_bytes || len > l->dma_bytes - addr)
		return loom_err_set(EFAULT, "simlink: %s at %#llx (%u bytes) is outside host "
				    "memory (%llu bytes)", what, (unsigned long long)addr, len,
				    (unsigned long long)l->dma_bytes);
	return 0;
}

int simlink_dma_read(struct simlink *l, uint64_t addr, uint32_t len, uint32_t *id)
{
	struct simlink_msg m;
	int rc = dev_dma_args(l, addr, len, "DMA read");

	if (rc < 0)
		return rc;
	if (!id)
		return loom_err_set(EINVAL, "simlink: DMA read needs an id pointer");
	if (l->reads_out >= l->p.queue_msgs)
		return loom_err_set(EBUSY, "simlink: %u DMA reads outstanding (the completion "
				    "ring's size)", l->reads_out);
	memset(&m, 0, sizeof(m));
	m.type = SIMLINK_DMA_READ;
	m.addr = addr;
	m.len = len;
	m.id = l->next_id++;
	rc = simlink_send(l, SIMLINK_Q_REQ, &m, SIMLINK_MSG_BYTES);
	if (rc < 0)
		return rc;
	l->reads_out++;
	*id = m.id;
	return 0;
}

int simlink_dma_write(struct simlink *l, uint64_t addr, const void *src, uint32_t len)
{
	struct simlink_msg m;
	int rc = dev_dma_args(l, addr, len, "DMA write");

	if (rc < 0)
		return rc;
	if (!src)
		return loom_err_set(EINVAL, "simlink: DMA write needs a source");
	if (!simlink_tx_room(&l->tx[SIMLINK_Q_REQ]))
		return loom_err_set(EAGAIN, "simlink: request ring to the host is full");
	memcpy(l->dma + addr, src, len); /* before the message: the host may act on it */
	memset(&m, 0, sizeof(m));
	m.type = SIMLINK_DMA_WRITE;
	m.addr = addr;
	m.len = len;
	m.id = l->next_id++;
	return simlink_send(l, SIMLINK_Q_REQ, &m, SIMLINK_MSG_BYTES + len);
}

int simlink_irq(struct simlink *l, uint32_t vector)
{
	struct simlink_msg m;

	if (!l || l->side != SIMLINK_DEV || vector >= l->info.n_irqs)
		return loom_err_set(EINVAL, "simlink: interrupt %u from the device side (n_irqs %u)",
				    vector, l ? l->info.n_irqs : 0);
	memset(&m, 0, sizeof(m));
	m.type = SIMLINK_IRQ;
	m.addr = vector;
	m.id = l->next_id++;
	return simlink_send(l, SIMLINK_Q_REQ, &m, SIMLINK_MSG_BYTES);
}

/* ---- accessors ------------------------------------------------------ */

void *simlink_dma_ptr(struct simlink *l, uint64_t addr, uint64_t len)
{
	if (!l || !l->dma || addr > l->dma_bytes || len > l->dma_bytes - addr) {
		loom_err_set(EFAULT, "simlink: host memory [%#llx, +%llu) is out of bounds",
			     (unsigned long long)addr, (unsigned long long)len);
		return NULL;
	}
	return l->dma + addr;
}

uint64_t simlink_dma_bytes(const struct simlink *l)
{
	return l ? l->dma_bytes : 0;
}

uint64_t simlink_now(const struct simlink *l)
{
	return l ? l->now_ps : 0;
}

bool simlink_synchronized(const struct simlink *l)
{
	return l && l->p.synchronized;
}

const struct simlink_info *simlink_info(const struct simlink *l)
{
	return l ? &l->info : NULL;
}

const struct simlink_params *simlink_params(const struct simlink *l)
{
	return l ? &l->p : NULL;
}

void simlink_stats(const struct simlink *l, struct simlink_stats *out)
{
	if (l && out)
		*out = l->st;
}
