/*
 * perf_ep.c - the transport endpoint of one `loom perf` side: device, PD,
 * two CQs, one RC QP, one registered buffer, and the QP's way to RTS with
 * perftest's connection parameters (timeout 14, retry_cnt 7, rnr_retry 7,
 * min_rnr_timer 12, 16 outstanding READs/atomics each way, random PSN).
 *
 * The buffer (tp_mem_alloc) has two halves of the largest message each:
 * the first is what this side sends or serves (READ source, SEND/WRITE
 * source), the second what the peer's WRITEs, SENDs and READ responses land
 * in; keeping them apart lets each side check the exact bytes the other
 * moved.
 *
 * udp: the device binds the side channel's local IPv4 address (the one the
 * peer reaches us at) and RoCEv2's port 4791, or any free port when 4791 is
 * taken (a server and a client on one host); --opt addr=/port= override
 * both (a later option wins, and LOOM_TP_OPTS comes after all of these).
 */
#include "perf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loom/err.h"

#define PERF_ACCESS (TP_ACCESS_LOCAL_WRITE | TP_ACCESS_REMOTE_WRITE | TP_ACCESS_REMOTE_READ | \
		     TP_ACCESS_REMOTE_ATOMIC)
#define PERF_QP_ACCESS (TP_ACCESS_REMOTE_WRITE | TP_ACCESS_REMOTE_READ | TP_ACCESS_REMOTE_ATOMIC)
#define PERF_RD_ATOMIC 16	/* perftest's outstanding READs/atomics */
#define PERF_MIN_RNR_TIMER 12	/* 0.64 ms, perftest's */
#define PERF_INLINE_LAT 220	/* perftest's default inline size of the latency tests */
#define PERF_ADDR_OPT_LEN (sizeof("udp:addr=") + 16)

/* Option list for tp_device_open: our udp defaults first, then the user's
 * (a later value wins).  port0: ask for any free port. */
static void build_opts(const struct perf_opts *o, const char *local_ip, bool port0,
		       char *addr_opt, const char **list)
{
	int n = 0;

	if (local_ip && local_ip[0]) {
		snprintf(addr_opt, PERF_ADDR_OPT_LEN, "udp:addr=%s", local_ip);
		list[n++] = addr_opt;
	}
	if (port0)
		list[n++] = "udp:port=0";
	for (int i = 0; i < o->n_user_opts; i++)
		list[n++] = o->user_opts[i];
	list[n] = NULL;
}

static bool user_sets_port(const struct perf_opts *o)
{
	for (int i = 0; i < o->n_user_opts; i++)
		if (!strncmp(o->user_opts[i], "port=", 5) || strstr(o->user_opts[i], ":port="))
			return true;
	return false;
}

static int open_device(struct perf_ep *ep, const struct perf_opts *o, const char *local_ip)
{
	char addr_opt[PERF_ADDR_OPT_LEN];
	const char *list[PERF_USER_OPTS_MAX + 3];
	struct tp_device_info info;
	int n = tp_get_devices(o->provider, &info, 1);

	if (n < 0)
		return n;
	if (n == 0)
		return perf_err_wrap(ENODEV, "provider %s has no device", o->provider);
	build_opts(o, local_ip, false, addr_opt, list);
	ep->dev = tp_device_open(o->provider, o->dev, list);
	if (!ep->dev && !strcmp(o->provider, "udp") && !user_sets_port(o) &&
	    strstr(loom_err_msg(), strerror(EADDRINUSE))) {
		build_opts(o, local_ip, true, addr_opt, list);
		ep->dev = tp_device_open(o->provider, o->dev, list);
	}
	if (!ep->dev)
		return perf_err_wrap(ENODEV, "open %s device %s", o->provider,
				     o->dev ? o->dev : "(first)");
	snprintf(ep->dev_name, sizeof(ep->dev_name), "%s", o->dev ? o->dev : info.name);
	return 0;
}

/* Queue depths of the test: bandwidth tests keep tx_depth sends in flight,
 * send_bw's server keeps PERF_RX_DEPTH receives posted. */
static void queue_sizes(struct perf_ep *ep, const struct perf_opts *o)
{
	ep->max_send_wr = o->lat ? PERF_LAT_DEPTH : (int)o->tx_depth;
	ep->max_recv_wr = o->verb != PERF_SEND ? 1 : o->lat ? PERF_LAT_DEPTH : PERF_RX_DEPTH;
	ep->max_inline = o->lat && (o->verb == PERF_WRITE || o->verb == PERF_SEND)
				 ? PERF_INLINE_LAT : 0;
}

static int make_objects(struct perf_ep *ep, const struct perf_opts *o, size_t max_size)
{
	struct tp_qp_init_attr init;
	struct tp_qp_attr a = { .state = TP_QPS_INIT, .access = PERF_QP_ACCESS };

	queue_sizes(ep, o);
	ep->pd = tp_pd_alloc(ep->dev);
	ep->scq = ep->pd ? tp_cq_create(ep->dev, ep->max_send_wr + 16) : NULL;
	ep->rcq = ep->scq ? tp_cq_create(ep->dev, ep->max_recv_wr + 16) : NULL;
	init = (struct tp_qp_init_attr){ .send_cq = ep->scq, .recv_cq = ep->rcq,
					 .max_send_wr = ep->max_send_wr,
					 .max_recv_wr = ep->max_recv_wr, .max_send_sge = 1,
					 .max_recv_sge = 1, .max_inline_data = ep->max_inline };
	ep->qp = ep->rcq ? tp_qp_create(ep->pd, &init) : NULL;
	if (!ep->qp)
		return perf_err_wrap(ENOMEM, "set up %s", o->provider);
	ep->half = (max_size + 4095) & ~(size_t)4095;
	/* From the transport, as perftest allocates its buffers for the NIC:
	 * shm passes payloads in such memory by reference (one copy). */
	ep->buf = tp_mem_alloc(ep->dev, 2 * ep->half);
	if (!ep->buf)
		return perf_err_wrap(ENOMEM, "a %zu-byte buffer", 2 * ep->half);
	memset(ep->buf, 0, 2 * ep->half); /* fault the pages in before any timing */
	ep->mr = tp_mr_reg(ep->pd, ep->buf, 2 * ep->half, PERF_ACCESS);
	if (!ep->mr)
		return perf_err_wrap(ENOMEM, "register %zu bytes", 2 * ep->half);
	if (tp_qp_modify(ep->qp, &a, TP_QP_STATE | TP_QP_ACCESS_FLAGS))
		return perf_err_wrap(EINVAL, "QP to INIT");
	return 0;
}

int perf_ep_open(struct perf_ep *ep, const struct perf_opts *o, size_t max_size,
		 const char *local_ip)
{
	struct timespec ts;
	int err;

	memset(ep, 0, sizeof(*ep));
	err = open_device(ep, o, strcmp(o->provider, "udp") ? NULL : local_ip);
	if (!err)
		err = make_objects(ep, o, max_size);
	if (err) {
		perf_ep_close(ep);
		return err;
	}
	/* A random 24-bit start PSN, as perftest (lrand48): exercises wrap-around. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ep->psn = (uint32_t)(ts.tv_nsec ^ (ts.tv_sec << 7) ^ (long)getpid()) & 0xffffff;
	tp_device_counters(ep->dev, &ep->base);
	return 0;
}

struct perf_card perf_ep_card(const struct perf_ep *ep)
{
	struct perf_card c = { .qpn = tp_qp_num(ep->qp), .psn = ep->psn, .rkey = ep->mr->rkey,
			       .vaddr = (uintptr_t)ep->buf, .len = 2 * ep->half };

	tp_device_addr(ep->dev, &c.addr);
	return c;
}

int perf_ep_connect(struct perf_ep *ep, const struct perf_opts *o, const struct perf_card *peer)
{
	struct tp_qp_attr rtr = { .state = TP_QPS_RTR, .path_mtu = (uint32_t)o->mtu,
				  .dest = peer->addr, .dest_qp_num = peer->qpn,
				  .rq_psn = peer->psn, .max_dest_rd_atomic = PERF_RD_ATOMIC,
				  .min_rnr_timer = PERF_MIN_RNR_TIMER };
	struct tp_qp_attr rts = { .state = TP_QPS_RTS, .sq_psn = ep->psn,
				  .timeout = (uint8_t)o->qp_timeout, .retry_cnt = 7,
				  .rnr_retry = 7, .max_rd_atomic = PERF_RD_ATOMIC };

	if (tp_qp_modify(ep->qp, &rtr, TP_QP_STATE | TP_QP_PATH_MTU | TP_QP_DEST |
					       TP_QP_RQ_PSN | TP_QP_MAX_DEST_RD_ATOMIC |
					       TP_QP_MIN_RNR_TIMER))
		return perf_err_wrap(EINVAL, "QP to RTR");
	if (tp_qp_modify(ep->qp, &rts, TP_QP_STATE | TP_QP_SQ_PSN | TP_QP_TIMEOUT |
					       TP_QP_RETRY_CNT | TP_QP_RNR_RETRY |
					       TP_QP_MAX_QP_RD_ATOMIC))
		return perf_err_wrap(EINVAL, "QP to RTS");
	return 0;
}

/* Destroy what exists, children first; errors here change nothing the
 * caller could act on, so they are not reported. */
void perf_ep_close(struct perf_ep *ep)
{
	if (ep->qp)
		tp_qp_destroy(ep->qp);
	if (ep->mr)
		tp_mr_dereg(ep->mr);
	if (ep->buf)
		tp_mem_free(ep->dev, ep->buf);
	if (ep->scq)
		tp_cq_destroy(ep->scq);
	if (ep->rcq)
		tp_cq_destroy(ep->rcq);
	if (ep->pd)
		tp_pd_free(ep->pd);
	if (ep->dev)
		tp_device_close(ep->dev);
	memset(ep, 0, sizeof(*ep));
}
