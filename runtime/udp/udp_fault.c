/*
 * udp_fault.c - fault injection on the udp provider's wire, per direction,
 * as rates, deterministic from a seed: what a lossy, duplicating,
 * reordering, delaying and bit-flipping network would do to RoCEv2 packets.
 * It sits where a NIC meets the wire: after a packet is built (tx) and
 * before the ingress checks (rx), so a corrupted packet goes through the
 * receiver's ICRC check and is dropped there as hardware drops it (counted
 * in icrc_errors), and every other fault exercises the real protocol.
 *
 * Options (rates in [0, 1]; "fault.X" is shorthand for "fault.tx.X"):
 *   fault.seed            seed of Loom's PRNG (include/loom/rng.h); default 1
 *   fault.{tx,rx}.drop    the packet vanishes
 *   fault.{tx,rx}.dup     the packet is sent (handled) twice
 *   fault.{tx,rx}.reorder the packet is held until 1-3 later packets of the
 *                         device passed in that direction (or delay_us)
 *   fault.{tx,rx}.delay   the packet is held delay_us (default 500 us)
 *   fault.{tx,rx}.corrupt 1-3 distinct bits of the UDP payload are flipped,
 *                         never in BTH byte 4, which the ICRC masks
 *                         (REFERENCE 7): a flip there is not a corruption
 *                         the ICRC can see.  CRC-32 detects every error of
 *                         up to 3 bits in a packet this short, so each such
 *                         packet is an ICRC drop
 *   fault.{tx,rx}.ecn     the packet is marked ECN CE instead of dropped, as
 *                         a congested switch queue would: on tx it leaves
 *                         with CE in its IP header (an IP_TOS cmsg, so a
 *                         capture shows it), on rx the receive path sees
 *                         CE.  Only packets that pass the other faults are
 *                         marked
 *   fault.{tx,rx}.ecn_packets  only the first N packets (of a QP on tx, of
 *                         the device on rx) may be marked (default 0: no
 *                         limit), so a test can end a congestion episode
 * Decisions are drawn in a fixed order (drop, corrupt, dup, reorder, delay,
 * ecn; a rate of 0 draws nothing)
 * from a stream per QP for tx (seeded from fault.seed and the QP number)
 * and one per device for rx: the same packet sequence meets the same faults.
 *
 * Concurrency: tx runs under the sending QP's lock (its RNG is the QP's);
 * the tx hold queue is shared by the device's QPs under tx_hold_lock (a
 * leaf lock; held packets are sent under it, so qp_fini's purge cannot race
 * a send on the socket it closes).  rx state is the progress thread's.
 */
#include <stdlib.h>
#include <string.h>

#include "udp.h"

#define FAULT_DELAY_US 500

/* ---- options --------------------------------------------------------------- */

static double rate(const struct tp_opts *o, const char *dir, const char *what)
{
	char key[TP_OPT_KEY_MAX], shorthand[TP_OPT_KEY_MAX];
	double def = 0;

	snprintf(key, sizeof(key), "fault.%s.%s", dir, what);
	snprintf(shorthand, sizeof(shorthand), "fault.%s", what);
	if (strcmp(dir, "tx") == 0)
		def = tp_opts_f64(o, shorthand, 0);
	return tp_opts_f64(o, key, def);
}

static void read_dir(struct udp_fault_dir *d, const struct tp_opts *o, const char *dir)
{
	char key[TP_OPT_KEY_MAX];
	uint64_t def = FAULT_DELAY_US;

	d->drop = rate(o, dir, "drop");
	d->dup = rate(o, dir, "dup");
	d->reorder = rate(o, dir, "reorder");
	d->delay = rate(o, dir, "delay");
	d->corrupt = rate(o, dir, "corrupt");
	d->ecn = rate(o, dir, "ecn");
	snprintf(key, sizeof(key), "fault.%s.ecn_packets", dir);
	d->ecn_packets = tp_opts_u64(o, key, 0);
	if (strcmp(dir, "tx") == 0)
		def = tp_opts_u64(o, "fault.delay_us", FAULT_DELAY_US);
	snprintf(key, sizeof(key), "fault.%s.delay_us", dir);
	d->delay_us = tp_opts_u64(o, key, def);
}

static bool dir_on(const struct udp_fault_dir *d)
{
	return d->drop > 0 || d->dup > 0 || d->reorder > 0 || d->delay > 0 || d->corrupt > 0 ||
	       d->ecn > 0;
}

int udp_fault_read_opts(struct udp_fault_cfg *f, const struct tp_opts *o)
{
	f->seed = tp_opts_u64(o, "fault.seed", 1);
	read_dir(&f->tx, o, "tx");
	read_dir(&f->rx, o, "rx");
	f->on = dir_on(&f->tx) || dir_on(&f->rx);
	return 0;
}

/* ---- decisions ----------------------------------------------------------------- */

struct verdict {
	bool drop, corrupt, dup, hold, mark;
	unsigned after;	  /* reorder: later packets to let pass first */
	uint64_t hold_us; /* how long at most */
};

static bool hit(struct loom_rng *r, double p)
{
	return p > 0 && loom_rng_uniform(r) < p;
}

/* seen: packets of this stream before this one (for ecn_packets). */
static struct verdict decide(const struct udp_fault_dir *d, struct loom_rng *r, uint64_t seen)
{
	struct verdict v = { 0 };

	if ((v.drop = hit(r, d->drop)))
		return v;
	v.corrupt = hit(r, d->corrupt);
	v.dup = hit(r, d->dup);
	if (hit(r, d->reorder)) {
		v.hold = true;
		v.after = 1 + (unsigned)(loom_rng_u32(r) % 3);
		v.hold_us = d->delay_us;
	} else if (hit(r, d->delay)) {
		v.hold = true;
		v.hold_us = d->delay_us;
	}
	v.mark = (!d->ecn_packets || seen < d->ecn_packets) && hit(r, d->ecn);
	return v;
}

/* Flip 1-3 distinct bits of buf (len bytes), never in BTH byte 4.  Distinct:
 * two flips of one bit would cancel and leave a valid packet. */
static void corrupt(struct loom_rng *r, uint8_t *buf, size_t len)
{
	unsigned flips = 1 + (unsigned)(loom_rng_u32(r) % 3);
	uint64_t bits = (uint64_t)len * 8, done[3];

	for (unsigned i = 0; i < flips && len > ROCE_BTH_CN + 1; i++) {
		uint64_t b;
		bool again;

		do {
			b = loom_rng_u64(r) % bits;
			again = b / 8 == ROCE_BTH_CN;
			for (unsigned k = 0; k < i; k++)
				again |= done[k] == b;
		} while (again);
		done[i] = b;
		buf[b / 8] ^= (uint8_t)(1u << (b % 8));
	}
}

static void count(struct udp_device *ud, const struct verdict *v)
{
	if (v->drop)
		tp_count(&ud->dev, TP_CNT(fault_dropped), 1);
	if (v->corrupt)
		tp_count(&ud->dev, TP_CNT(fault_corrupted), 1);
	if (v->dup)
		tp_count(&ud->dev, TP_CNT(fault_duplicated), 1);
	if (v->hold)
		tp_count(&ud->dev, v->after ? TP_CNT(fault_reordered) : TP_CNT(fault_delayed), 1);
	if (v->mark)
		tp_count(&ud->dev, TP_CNT(fault_marked), 1);
}

/* ---- hold queues --------------------------------------------------------------- */

static struct udp_held *held_new(size_t len)
{
	struct udp_held *h = malloc(sizeof(*h) + len);

	if (h) {
		memset(h, 0, sizeof(*h));
		h->len = len;
	}
	return h;
}

static void hold_push(struct udp_hold *q, struct udp_held *h)
{
	h->next = q->head;
	q->head = h;
	q->n++;
}

/* Unlink and return the entries that are due (time, or no packets left to
 * wait for when passed is set, which first counts one packet passing). */
static struct udp_held *hold_take(struct udp_hold *q, uint64_t now, bool passed)
{
	struct udp_held **pp = &q->head, *out = NULL;

	while (*pp) {
		struct udp_held *h = *pp;

		if (passed && h->after && --h->after == 0)
			h->due_us = 0;
		if (h->due_us <= now) {
			*pp = h->next;
			q->n--;
			h->next = out;
			out = h;
		} else {
			pp = &h->next;
		}
	}
	return out;
}

static uint64_t hold_next_due(const struct udp_hold *q)
{
	uint64_t t = UDP_NO_DEADLINE;

	for (const struct udp_held *h = q->head; h; h = h->next)
		if (h->due_us < t)
			t = h->due_us;
	return t;
}

/* Send what was taken from the tx queue (tx_hold_lock held) and free it. */
static void tx_send_held(struct udp_device *ud, struct udp_held *h)
{
	while (h) {
		struct udp_held *next = h->next;
		struct iovec v = { .iov_base = h->data, .iov_len = h->len };

		udp_send_iov(ud, h->fd, &h->to, &v, 1, h->tos);
		free(h);
		h = next;
	}
}

static void rx_deliver_held(struct udp_device *ud, struct udp_held *h, uint64_t now)
{
	while (h) {
		struct udp_held *next = h->next;

		udp_rx_deliver(ud, h->data, h->len, &h->ip, now);
		free(h);
		h = next;
	}
}

/* ---- tx ---------------------------------------------------------------------------- */

static void flatten(uint8_t *dst, const struct iovec *iov, int iovcnt)
{
	for (int i = 0; i < iovcnt; i++) {
		memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
}

/* Hold copies (2 when duplicated) of a tx datagram. */
static void tx_hold(struct udp_qp *q, const struct verdict *v, const uint8_t *data, size_t len,
		    uint8_t tos, uint64_t now)
{
	struct udp_device *ud = q->ud;
	uint64_t due = now + v->hold_us;

	pthread_mutex_lock(&ud->tx_hold_lock);
	for (int copy = 0; copy < (v->dup ? 2 : 1); copy++) {
		struct udp_held *h = held_new(len);

		if (!h)
			break; /* no memory: the packet is lost, which is a fault too */
		memcpy(h->data, data, len);
		h->due_us = due;
		h->after = v->after;
		h->fd = q->fd;
		h->qpn = q->qp.qp_num;
		h->to = q->dest;
		h->tos = tos;
		hold_push(&ud->tx_hold, h);
	}
	if (due < atomic_load_explicit(&ud->tx_hold_due, memory_order_relaxed))
		atomic_store_explicit(&ud->tx_hold_due, due, memory_order_relaxed);
	pthread_mutex_unlock(&ud->tx_hold_lock);
	udp_wake(ud, due);
}

/* One packet passed on tx: release reordered packets waiting for it. */
static void tx_passed(struct udp_device *ud)
{
	struct udp_held *h;

	if (!ud->fault.tx.reorder)
		return;
	pthread_mutex_lock(&ud->tx_hold_lock);
	h = hold_take(&ud->tx_hold, 0, true);
	tx_send_held(ud, h);
	pthread_mutex_unlock(&ud->tx_hold_lock);
}

void udp_fault_tx(struct udp_qp *q, const struct iovec *iov, int iovcnt, size_t len)
{
	struct udp_device *ud = q->ud;
	struct verdict v = decide(&ud->fault.tx, &q->tx_rng, q->tx_seen++);
	uint8_t flat[UDP_RX_BUF];
	struct iovec one = { .iov_base = flat, .iov_len = len };
	uint8_t tos = v.mark ? ud->cc.tos | UDP_ECN_CE : ud->cc.tos;

	count(ud, &v);
	if (v.drop)
		return;
	if ((v.corrupt || v.hold) && len <= sizeof(flat)) {
		flatten(flat, iov, iovcnt);
		iov = &one;
		iovcnt = 1;
		if (v.corrupt)
			corrupt(&q->tx_rng, flat, len);
		if (v.hold) {
			tx_hold(q, &v, flat, len, tos, tp_now_us());
			return;
		}
	}
	udp_send_iov(ud, q->fd, &q->dest, iov, iovcnt, tos);
	if (v.dup)
		udp_send_iov(ud, q->fd, &q->dest, iov, iovcnt, tos);
	tx_passed(ud);
}

/* ---- rx ------------------------------------------------------------------------------ */

static void rx_hold(struct udp_device *ud, const struct verdict *v, const uint8_t *buf,
		    size_t len, const struct roce_ipv4_udp *ip, uint64_t now)
{
	for (int copy = 0; copy < (v->dup ? 2 : 1); copy++) {
		struct udp_held *h = held_new(len);

		if (!h)
			return;
		memcpy(h->data, buf, len);
		h->due_us = now + v->hold_us;
		h->after = v->after;
		h->ip = *ip;
		hold_push(&ud->rx_hold, h);
	}
}

void udp_fault_rx(struct udp_device *ud, uint8_t *buf, size_t len,
		  const struct roce_ipv4_udp *ip, uint64_t now)
{
	struct verdict v = decide(&ud->fault.rx, &ud->rx_rng, ud->rx_seen++);
	struct roce_ipv4_udp marked;

	count(ud, &v);
	if (v.drop)
		return;
	if (v.mark) { /* the receive path's view: CE */
		marked = *ip;
		marked.tos |= UDP_ECN_CE;
		ip = &marked;
	}
	if (v.corrupt)
		corrupt(&ud->rx_rng, buf, len);
	if (v.hold) {
		rx_hold(ud, &v, buf, len, ip, now);
		return;
	}
	udp_rx_deliver(ud, buf, len, ip, now);
	if (v.dup)
		udp_rx_deliver(ud, buf, len, ip, now);
	if (ud->fault.rx.reorder)
		rx_deliver_held(ud, hold_take(&ud->rx_hold, 0, true), now);
}

/* ---- the progress thread's side ------------------------------------------------------ */

uint64_t udp_fault_release(struct udp_device *ud, uint64_t now)
{
	uint64_t next, tx_next;

	if (!ud->fault.on)
		return UDP_NO_DEADLINE;
	rx_deliver_held(ud, hold_take(&ud->rx_hold, now, false), now);
	udp_rx_flush(ud);
	next = hold_next_due(&ud->rx_hold);
	if (atomic_load_explicit(&ud->tx_hold_due, memory_order_relaxed) <= now) {
		pthread_mutex_lock(&ud->tx_hold_lock);
		tx_send_held(ud, hold_take(&ud->tx_hold, now, false));
		atomic_store_explicit(&ud->tx_hold_due, hold_next_due(&ud->tx_hold),
				      memory_order_relaxed);
		pthread_mutex_unlock(&ud->tx_hold_lock);
	}
	tx_next = atomic_load_explicit(&ud->tx_hold_due, memory_order_relaxed);
	return tx_next < next ? tx_next : next;
}

/* Drop the held tx packets of a QP that is going away. */
void udp_fault_purge_qp(struct udp_device *ud, uint32_t qpn)
{
	struct udp_held **pp;

	pthread_mutex_lock(&ud->tx_hold_lock);
	pp = &ud->tx_hold.head;
	while (*pp) {
		struct udp_held *h = *pp;

		if (h->qpn == qpn) {
			*pp = h->next;
			ud->tx_hold.n--;
			free(h);
		} else {
			pp = &h->next;
		}
	}
	pthread_mutex_unlock(&ud->tx_hold_lock);
}

static void hold_free(struct udp_hold *q)
{
	while (q->head) {
		struct udp_held *h = q->head;

		q->head = h->next;
		free(h);
	}
	q->n = 0;
}

void udp_fault_free(struct udp_device *ud)
{
	hold_free(&ud->rx_hold);
	hold_free(&ud->tx_hold);
}
