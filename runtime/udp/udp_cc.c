/*
 * udp_cc.c - congestion control of the udp provider: DCQCN (Zhu et al.,
 * "Congestion Control for Large-Scale RDMA Deployments", SIGCOMM 2015), the
 * scheme RoCEv2 NICs run.  Not here: the congestion point (a switch queue
 * marking ECN CE); on this machine that is a qdisc with ECN marking on a
 * veth, or fault injection's `ecn` rate (udp_fault.c).
 *
 * Every packet leaves with ECN-capable transport, ECT(0) (option ecn=0:
 * not ECN-capable, so an AQM drops instead of marking).
 *
 * Notification point (the receiver of data: the responder for requests,
 * the requester for READ responses): a data packet that arrives with CE
 * makes the QP send a CNP (BTH opcode 0x81, BECN set, PSN 0, 16 zero bytes, as
 * the golden frame of REFERENCE 7) to the requesting QP, at most one per
 * cnp_interval_us (default 50) per QP.
 *
 * Reaction point (the requester), rates in Mbit/s:
 *   - until the first CNP the QP is unlimited (only the window paces it),
 *     unless line_rate_mbps is set: then it is paced at most at that rate;
 *   - on a CNP: rt = rc; rc = rc * (1 - alpha / 2) (not below
 *     cc.min_rate_mbps); alpha = (1 - g) * alpha + g; the increase stages
 *     restart.  The first CNP of an unlimited QP starts from its sending
 *     rate measured over the last millisecond (the "line rate" it gets back
 *     to; 10 Gbit/s when nothing was measured);
 *   - alpha decays, alpha = (1 - g) * alpha, every cc.alpha_us without a
 *     CNP (computed when next needed, not on a timer);
 *   - the rate increases at each expiry of a timer (cc.timer_us) and every
 *     cc.byte_reset bytes sent: while both stage counts are below F
 *     (cc.fast_steps) fast recovery rc = (rt + rc) / 2; when one reaches F
 *     additive increase rt += cc.ai_mbps first; when both do, hyper
 *     increase rt += i * cc.hai_mbps (i = stages past F); rt stays at most
 *     the line rate.  An unlimited QP back at its line rate is unlimited
 *     again;
 *   - pacing: a packet of L bytes (IPv4 header to ICRC; extension headers
 *     not counted) moves the next departure L * 8 / rc us later; after a
 *     pause up to cc.burst_kib may leave at once (the progress thread's
 *     wake-ups are tens of microseconds apart on a loaded host).
 * Defaults: g = 1/256, alpha_us 55, F = 5 and alpha starting at 1 as the
 * DCQCN paper; timer_us 300, byte_reset 32767, ai 5 and hai 50 Mbit/s as
 * mlx5's rpg_* defaults; min rate 10 Mbit/s.
 *
 * READ responses are data as requests are: a READ response received with
 * CE makes the requester (their notification point) send a CNP, and the
 * responder's QP paces its READ responses at the same rate as its own
 * requests (one reaction point per QP, as a NIC keeps one per flow).
 * Deviations: CE on ACKs and atomic ACKs is ignored (no data); counters
 * are per device: the rate gauge cc_rate_mbps is the rate of the QP that
 * changed its rate last.
 *
 * Concurrency: everything runs under the QP's lock (requester in any
 * thread, timers and received CNPs in the progress thread).
 */
#include <math.h>
#include <string.h>

#include "udp.h"

#define CC_HDR_BYTES (ROCE_IPV4_UDP_BYTES + ROCE_BTH_BYTES + ROCE_ICRC_BYTES)
#define CC_MEASURE_US 1000	/* the send-rate measurement window */
#define CC_FALLBACK_MBPS 10000.0 /* line rate when nothing was measured */

int udp_cc_read_opts(struct udp_cc_cfg *c, const struct tp_opts *o)
{
	c->on = tp_opts_bool(o, "cc", true);
	c->tos = tp_opts_bool(o, "ecn", true) ? UDP_ECN_ECT0 : 0;
	c->cnp_interval_us = tp_opts_u64(o, "cnp_interval_us", 50);
	c->line_mbps = tp_opts_f64(o, "line_rate_mbps", 0);
	c->min_mbps = tp_opts_f64(o, "cc.min_rate_mbps", 10);
	c->g = tp_opts_f64(o, "cc.g", 1.0 / 256);
	c->ai_mbps = tp_opts_f64(o, "cc.ai_mbps", 5);
	c->hai_mbps = tp_opts_f64(o, "cc.hai_mbps", 50);
	c->alpha_us = tp_opts_u64(o, "cc.alpha_us", 55);
	c->timer_us = tp_opts_u64(o, "cc.timer_us", 300);
	c->byte_reset = tp_opts_u64(o, "cc.byte_reset", 32767);
	c->burst_bytes = tp_opts_u64(o, "cc.burst_kib", 16) * 1024;
	c->fast_steps = (unsigned)tp_opts_u64(o, "cc.fast_steps", 5);
	if (c->line_mbps > 0 && c->line_mbps < c->min_mbps)
		c->min_mbps = c->line_mbps;
	return 0;
}

/* Publish q's rate in the device's gauge (0: unlimited). */
static void cc_gauge(struct udp_qp *q)
{
	uint64_t v = q->cc.limited ? (uint64_t)(q->cc.rc + 0.5) : 0;

	atomic_store_explicit(&q->qp.dev->counters[TP_CNT(cc_rate_mbps)], v ? v : q->cc.limited,
			      memory_order_relaxed);
}

void udp_cc_start(struct udp_qp *q, uint64_t now)
{
	const struct udp_cc_cfg *cfg = &q->ud->cc;
	struct udp_cc *c = &q->cc;

	memset(c, 0, sizeof(*c));
	c->alpha = 1;
	c->alpha_t_us = now;
	c->inc_at_us = UDP_NO_DEADLINE;
	c->next_ns = now * 1000;
	if (cfg->line_mbps > 0) {
		c->limited = true;
		c->rc = c->rt = c->line = cfg->line_mbps;
	}
	cc_gauge(q);
}

/* ---- notification point ------------------------------------------------------- */

void udp_cc_ce(struct udp_qp *q, uint64_t now)
{
	static const uint8_t reserved[ROCE_CNP_PAYLOAD_BYTES];
	struct iovec iov = { .iov_base = (void *)reserved, .iov_len = sizeof(reserved) };
	struct roce_pkt p = { 0 };

	tp_count(q->qp.dev, TP_CNT(ecn_marked), 1);
	if (q->resp.cnp_at_us && now - q->resp.cnp_at_us < q->ud->cc.cnp_interval_us)
		return;
	p.bth.opcode = ROCE_OP_CNP;
	p.bth.pkey = q->ud->pkey;
	p.bth.becn = true;
	p.bth.dqpn = q->qp.attr.dest_qp_num;
	udp_tx(q, &p, &iov, 1);
	q->resp.cnp_at_us = now ? now : 1;
	tp_count(q->qp.dev, TP_CNT(cnps_sent), 1);
}

/* ---- reaction point -------------------------------------------------------------- */

static void alpha_decay(struct udp_qp *q, uint64_t now)
{
	const struct udp_cc_cfg *cfg = &q->ud->cc;
	struct udp_cc *c = &q->cc;
	uint64_t k = cfg->alpha_us ? (now - c->alpha_t_us) / cfg->alpha_us : 0;

	if (now <= c->alpha_t_us || !k)
		return;
	c->alpha *= pow(1 - cfg->g, (double)k);
	c->alpha_t_us += k * cfg->alpha_us;
}

/* The sending rate of an unlimited QP (Mbit/s): the last full window; the
 * one in progress when none was completed (at least 100 us of it: shorter
 * is one sendmmsg burst, not a rate). */
static double measured_mbps(const struct udp_cc *c, uint64_t now)
{
	double m = c->meas_mbps;

	if (m <= 0 && c->win_t0_us && now > c->win_t0_us + 100)
		m = (double)c->win_bytes * 8 / (double)(now - c->win_t0_us);
	return m > 0 ? m : CC_FALLBACK_MBPS;
}

void udp_cc_cnp_rx(struct udp_qp *q, uint64_t now)
{
	const struct udp_cc_cfg *cfg = &q->ud->cc;
	struct udp_cc *c = &q->cc;

	tp_count(q->qp.dev, TP_CNT(cnps_received), 1);
	if (!cfg->on)
		return;
	alpha_decay(q, now);
	if (!c->limited) {
		c->line = measured_mbps(c, now);
		if (c->line < cfg->min_mbps)
			c->line = cfg->min_mbps;
		c->rc = c->line;
		c->limited = true;
		c->next_ns = now * 1000;
	}
	c->rt = c->rc;
	c->rc *= 1 - c->alpha / 2;
	if (c->rc < cfg->min_mbps)
		c->rc = cfg->min_mbps;
	c->alpha = (1 - cfg->g) * c->alpha + cfg->g;
	c->t_stage = c->bc_stage = 0;
	c->bc_bytes = 0;
	c->inc_at_us = now + cfg->timer_us;
	tp_count(q->qp.dev, TP_CNT(cc_rate_cuts), 1);
	cc_gauge(q);
	UDP_TRACE(q->ud, "qp %u cc: CNP, rate %.1f Mbit/s (target %.1f, alpha %.3f)", q->qp.qp_num,
		  c->rc, c->rt, c->alpha);
}

/* One increase step (a timer expiry or a byte-counter stage). */
static void cc_increase(struct udp_qp *q)
{
	const struct udp_cc_cfg *cfg = &q->ud->cc;
	struct udp_cc *c = &q->cc;
	unsigned lo = c->t_stage < c->bc_stage ? c->t_stage : c->bc_stage;
	unsigned hi = c->t_stage < c->bc_stage ? c->bc_stage : c->t_stage;

	if (lo >= cfg->fast_steps)
		c->rt += (double)(lo - cfg->fast_steps + 1) * cfg->hai_mbps;
	else if (hi >= cfg->fast_steps)
		c->rt += cfg->ai_mbps;
	if (c->rt > c->line)
		c->rt = c->line;
	c->rc = (c->rt + c->rc) / 2;
	if (c->rc >= c->line * 0.999) {
		c->rc = c->line;
		c->inc_at_us = UDP_NO_DEADLINE; /* nothing left to recover */
		if (cfg->line_mbps <= 0) {
			c->limited = false; /* back to unlimited: measure afresh */
			c->win_t0_us = 0;
			c->meas_mbps = 0;
		}
	}
	cc_gauge(q);
}

bool udp_cc_may_send(struct udp_qp *q, uint64_t now)
{
	struct udp_cc *c = &q->cc;
	uint64_t now_ns = now * 1000, burst_ns;

	if (!c->limited)
		return true;
	burst_ns = (uint64_t)((double)q->ud->cc.burst_bytes * 8000 / c->rc);
	if (c->next_ns + burst_ns < now_ns)
		c->next_ns = now_ns - burst_ns;
	if (c->next_ns <= now_ns) {
		c->wait_us = 0;
		return true;
	}
	c->wait_us = (c->next_ns + 999) / 1000;
	return false;
}

/* Measure the sending rate of an unlimited QP in CC_MEASURE_US windows. */
static void measure(struct udp_cc *c, uint32_t bytes, uint64_t now)
{
	if (!c->win_t0_us || now - c->last_tx_us > CC_MEASURE_US) {
		c->win_t0_us = now; /* idle for a window: start over */
		c->win_bytes = 0;
	}
	c->win_bytes += bytes;
	c->last_tx_us = now;
	if (now - c->win_t0_us >= CC_MEASURE_US) {
		c->meas_mbps = (double)c->win_bytes * 8 / (double)(now - c->win_t0_us);
		c->win_t0_us = now;
		c->win_bytes = 0;
	}
}

void udp_cc_sent(struct udp_qp *q, uint32_t payload_bytes, uint64_t now)
{
	const struct udp_cc_cfg *cfg = &q->ud->cc;
	struct udp_cc *c = &q->cc;
	uint32_t bytes = payload_bytes + CC_HDR_BYTES;

	if (!c->limited) {
		measure(c, bytes, now);
		return;
	}
	c->next_ns += (uint64_t)((double)bytes * 8000 / c->rc);
	if (c->inc_at_us == UDP_NO_DEADLINE)
		return; /* at the line rate: no stages to count */
	c->bc_bytes += bytes;
	if (cfg->byte_reset && c->bc_bytes >= cfg->byte_reset) {
		c->bc_bytes -= cfg->byte_reset;
		c->bc_stage++;
		cc_increase(q);
	}
}

void udp_cc_timer(struct udp_qp *q, uint64_t now)
{
	const struct udp_cc_cfg *cfg = &q->ud->cc;
	struct udp_cc *c = &q->cc;

	if (c->wait_us && c->wait_us <= now)
		c->wait_us = 0; /* the requester runs next */
	/* catch up a few missed expiries (a starved thread), then restart */
	for (int n = 0; c->limited && c->inc_at_us <= now && n < 8; n++) {
		c->t_stage++;
		c->inc_at_us += cfg->timer_us;
		cc_increase(q);
	}
	if (c->limited && c->inc_at_us <= now)
		c->inc_at_us = now + cfg->timer_us;
	if (!c->limited)
		c->wait_us = 0;
}

uint64_t udp_cc_deadline(const struct udp_qp *q)
{
	const struct udp_cc *c = &q->cc;
	uint64_t d = c->limited ? c->inc_at_us : UDP_NO_DEADLINE;

	if (c->wait_us && c->wait_us < d)
		d = c->wait_us;
	return d;
}
