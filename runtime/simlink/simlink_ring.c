/*
 * simlink_ring.c - the SPSC rings of 64-byte messages in shared memory and
 * the check of every message a peer puts in them (the link's parser: the
 * peer is another process, its bytes are input like any other).
 *
 * Concurrency (SimBricks style): the only shared state is each slot's own
 * byte.  Producer (tx_*): sees own == 0 (acquire), fills the other 63
 * bytes, stores own = 1 (release).  Consumer (rx_*): sees own == 1
 * (acquire), copies the message, stores own = 0 (release).  Each end runs
 * on its side's one thread; nothing here blocks.
 *
 * The consumer looks ahead: slots [head, scan) have been seen owned and
 * checked but not taken, so the receiver learns the peer's promises (the
 * timestamps) without taking messages it may not deliver yet, and a ring
 * left full still pushes back on the sender.
 */
#include <stdatomic.h>
#include <string.h>

#include "loom/err.h"
#include "simlink_int.h"

static uint8_t own_load(const struct simlink_msg *m)
{
	return atomic_load_explicit((_Atomic uint8_t *)&m->own, memory_order_acquire);
}

static void own_store(struct simlink_msg *m, uint8_t v)
{
	atomic_store_explicit((_Atomic uint8_t *)&m->own, v, memory_order_release);
}

/* Producer only: the next slot is free. */
bool simlink_tx_room(const struct simlink_ring *r)
{
	return own_load(&r->slots[r->tail & (r->n - 1)]) == 0;
}

/* Producer only, after simlink_tx_room: publish m (its own byte ignored). */
void simlink_tx_put(struct simlink_ring *r, const struct simlink_msg *m)
{
	struct simlink_msg *s = &r->slots[r->tail & (r->n - 1)];

	memcpy(s, m, offsetof(struct simlink_msg, own));
	own_store(s, 1);
	r->tail++;
}

/* Consumer only: the oldest scanned message not yet taken, or NULL. */
const struct simlink_msg *simlink_rx_head(const struct simlink_ring *r)
{
	return r->head == r->scan ? NULL : &r->slots[r->head & (r->n - 1)];
}

/* Consumer only: copy out the head and hand its slot back. */
void simlink_rx_take(struct simlink_ring *r, struct simlink_msg *out)
{
	struct simlink_msg *s = &r->slots[r->head & (r->n - 1)];

	memcpy(out, s, sizeof(*out));
	out->own = 0;
	own_store(s, 0);
	r->head++;
}

/* Consumer only: extend [head, scan) over newly published slots, noting
 * their timestamps as promises.  A slot the peer wrote with a timestamp
 * older than a promise it already made is a violation; it is counted and
 * still delivered (at the receiver's current time). */
bool simlink_rx_scan(struct simlink *l, struct simlink_ring *r)
{
	bool got = false;

	while (r->scan - r->head < r->n && own_load(&r->slots[r->scan & (r->n - 1)]) == 1) {
		uint64_t ts = r->slots[r->scan & (r->n - 1)].ts_ps;

		if (l->p.synchronized) {
			if (ts < r->last_ts || ts < l->safe_ps)
				l->st.violations++;
			if (ts > r->last_ts)
				r->last_ts = ts;
			if (ts > l->seen_ps)
				l->seen_ps = ts;
		}
		r->scan++;
		got = true;
	}
	return got;
}

/* Consumer only: a slot past scan is published (something new to scan). */
bool simlink_rx_ready(const struct simlink_ring *r)
{
	return r->scan - r->head < r->n && own_load(&r->slots[r->scan & (r->n - 1)]) == 1;
}

/* Which types may travel in which ring toward this side. */
static bool type_allowed(enum simlink_side side, enum simlink_q q, unsigned type)
{
	if (q == SIMLINK_Q_REQ && type == SIMLINK_SYNC)
		return true;
	if (side == SIMLINK_DEV)
		return q == SIMLINK_Q_REQ ? (type == SIMLINK_MMIO_READ || type == SIMLINK_MMIO_WRITE ||
					     type == SIMLINK_POSTED_WRITE)
					  : type == SIMLINK_DMA_READ_CMPL;
	return q == SIMLINK_Q_REQ ? (type == SIMLINK_DMA_READ || type == SIMLINK_DMA_WRITE ||
				     type == SIMLINK_IRQ)
				  : (type == SIMLINK_MMIO_READ_CMPL || type == SIMLINK_MMIO_WRITE_CMPL);
}

static int check_mmio(const struct simlink *l, const struct simlink_msg *m)
{
	uint32_t len = m->len;

	if (len != 1 && len != 2 && len != 4 && len != 8)
		return loom_err_set(EPROTO, "simlink: MMIO of %u bytes (1, 2, 4 or 8)", len);
	if (m->bar >= l->info.n_bars || m->addr > l->info.bar_bytes[m->bar] ||
	    len > l->info.bar_bytes[m->bar] - m->addr)
		return loom_err_set(EFAULT, "simlink: MMIO at bar %u offset %#llx (%u bytes) is "
				    "outside the BAR", m->bar, (unsigned long long)m->addr, len);
	return 0;
}

static int check_dma(const struct simlink *l, const struct simlink_msg *m)
{
	if (m->len == 0 || m->len > l->p.max_payload)
		return loom_err_set(EPROTO, "simlink: DMA of %u bytes (1..%u)", m->len,
				    l->p.max_payload);
	if (m->addr > l->dma_bytes || m->len > l->dma_bytes - m->addr)
		return loom_err_set(EFAULT, "simlink: DMA at %#llx (%u bytes) is outside host "
				    "memory (%llu bytes)", (unsigned long long)m->addr, m->len,
				    (unsigned long long)l->dma_bytes);
	return 0;
}

/*
 * Check a message taken from ring q: 0, -EPROTO (wrong type for this ring
 * and direction, bad length) or -EFAULT (out of bounds), with a reason.
 * Pure: reads only the link's description; safe on any 64 bytes.
 */
int simlink_msg_check(const struct simlink *l, enum simlink_q q, const struct simlink_msg *m)
{
	if (!type_allowed(l->side, q, m->type))
		return loom_err_set(EPROTO, "simlink: message type %u from the %s in its %s ring",
				    m->type, l->peer, q == SIMLINK_Q_REQ ? "request" : "completion");
	switch (m->type) {
	case SIMLINK_MMIO_READ:
	case SIMLINK_MMIO_WRITE:
	case SIMLINK_POSTED_WRITE:
		return check_mmio(l, m);
	case SIMLINK_DMA_READ:
	case SIMLINK_DMA_WRITE:
		return check_dma(l, m);
	case SIMLINK_IRQ:
		if (m->addr >= l->info.n_irqs)
			return loom_err_set(EPROTO, "simlink: interrupt vector %llu (device has %u)",
					    (unsigned long long)m->addr, l->info.n_irqs);
		return 0;
	case SIMLINK_MMIO_READ_CMPL:
	case SIMLINK_MMIO_WRITE_CMPL:
	case SIMLINK_DMA_READ_CMPL:
		if (m->status > 0)
			return loom_err_set(EPROTO, "simlink: completion status %d > 0", m->status);
		return 0;
	default:
		return 0;
	}
}
