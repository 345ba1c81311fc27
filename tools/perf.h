/*
 * perf.h - what the files of `loom perf` (perftest for Loom's transport)
 * share: the options, the TCP side channel, the transport endpoint, one
 * measurement's results, and the functions each file offers the others.
 *
 *   perf.c       the subcommand: options, --help, the run (connect, set up,
 *                one step per message size, tear down)
 *   perf_conn.c  the TCP side channel: listen/accept/connect and the small
 *                fixed-size messages the two sides exchange
 *   perf_ep.c    the transport endpoint: device, PD, CQs, QP, buffer, MR,
 *                and bringing the QP to RTS against the peer's card
 *   perf_test.c  the measurement loops of the eight tests and the checks of
 *                the bytes they moved
 *   perf_out.c   statistics, the perftest-style tables and the JSON lines
 *
 * Not a library: internal to tools/ (every symbol is perf_-prefixed).
 * Errors: negative errno with the reason in loom_err_msg(), printed once by
 * perf.c as "loom perf: reason".
 */
#ifndef LOOM_TOOLS_PERF_H
#define LOOM_TOOLS_PERF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "loom/transport.h"

#define PERF_PORT_DEFAULT 18515
#define PERF_SWEEP_MAX (8u << 20)	/* -a: sizes 2 .. 8 MiB */
#define PERF_SIZE_MAX (1u << 30)	/* -s limit: 1 GiB per message */
#define PERF_ITERS_MAX 100000000L
#define PERF_USER_OPTS_MAX 24		/* --opt and fault aliases */
#define PERF_OPT_LEN 96
#define PERF_RX_DEPTH 512		/* receives posted for send_bw (perftest's) */
#define PERF_LAT_DEPTH 16		/* send/recv queue depth of the latency tests */
#define PERF_ATOMIC_BYTES 8

/* The verb a test exercises; each has a bandwidth and a latency test. */
enum perf_verb { PERF_WRITE, PERF_READ, PERF_SEND, PERF_ATOMIC };

struct perf_opts {
	enum perf_verb verb;
	bool lat;			/* *_lat rather than *_bw */
	const char *provider;
	const char *dev;		/* NULL: the provider's first device */
	const char *server;		/* NULL: be the server */
	long size, iters, tx_depth, mtu, qp_timeout, port;
	bool sweep, json, events;
	long yield_every;		/* empty polls before a sched_yield */
	double wait_s;			/* client: retry a refused connect this long */
	double timeout_s;		/* no progress this long ends the test */
	/* Which of size/iters/sweep/tx_depth/mtu were given (PERF_SET_*): the
	 * server takes the client's values and refuses conflicting ones. */
	unsigned set;
	int n_user_opts;
	char user_opts[PERF_USER_OPTS_MAX][PERF_OPT_LEN]; /* provider "key=value" */
};

enum perf_set_bits {
	PERF_SET_SIZE = 1 << 0,
	PERF_SET_ITERS = 1 << 1,
	PERF_SET_SWEEP = 1 << 2,
	PERF_SET_TX_DEPTH = 1 << 3,
	PERF_SET_MTU = 1 << 4,
	PERF_SET_QP_TIMEOUT = 1 << 5,
};

const char *perf_test_name(enum perf_verb verb, bool lat); /* "write_bw" */
/* Record "PREFIX: the previous reason" (loom_err_msg() may not be an
 * argument of loom_err_set: they share one buffer); returns -err. */
int perf_err_wrap(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- perf_conn.c: the TCP side channel ------------------------------------------ */

/* What each side tells the other about its endpoint (a perftest "card"). */
struct perf_card {
	struct tp_addr addr;
	uint32_t qpn, psn, rkey;
	uint64_t vaddr, len;	/* the registered buffer (both halves) */
};

/* One step message; type is enum perf_msg_type. */
enum perf_msg_type {
	PERF_MSG_HELLO = 1,	/* client -> server: the test and its parameters */
	PERF_MSG_CARD,		/* both ways: the endpoint, or status != 0 and err */
	PERF_MSG_BEGIN,		/* client -> server: run size with seed */
	PERF_MSG_READY,		/* server -> client: buffers and receives prepared */
	PERF_MSG_DONE,		/* client -> server: the results and the client's check */
	PERF_MSG_CHECKED,	/* server -> client: the server's check */
	PERF_MSG_BYE,		/* either way: the end */
	PERF_MSG_ABORT,		/* either way: the sender failed; err says why */
};

/* Results of one message size, as the client measured them. */
struct perf_result {
	uint64_t size, iters;
	double bw_peak_mib, bw_avg_mib, msg_rate_mpps;	/* bandwidth tests */
	double t_min, t_max, t_typical, t_avg, t_stdev, t_p99, t_p999; /* us */
};

struct perf_msg {
	char magic[8];		/* PERF_MAGIC in every message */
	uint32_t type;
	int32_t status;		/* 0 ok; otherwise err says why */
	char test[16], provider[16];
	uint64_t size, iters, seed;
	uint32_t sweep, tx_depth, mtu, qp_timeout, set;
	struct perf_card card;
	struct perf_result res;
	char err[200];
};

struct perf_conn {
	int fd;
	char peer[64];	/* "host:port" for messages */
	char local_ip[16]; /* this end's IPv4 address on the connection */
	int port;	/* server: the port it listens on */
};

/* Server: listen on port (0 = any) and print the waiting line to stderr. */
int perf_conn_listen(struct perf_conn *c, int port, const char *what);
int perf_conn_accept(struct perf_conn *c);
/* Client: connect to host:port, retrying a refused connection for wait_s. */
int perf_conn_connect(struct perf_conn *c, const char *host, int port, double wait_s);
void perf_conn_close(struct perf_conn *c);
int perf_conn_send(struct perf_conn *c, const struct perf_msg *m);
/* Wait up to timeout_ms (-1 forever) for a message of type want; an ABORT
 * from the peer, EOF or another type is an error with the reason. */
int perf_conn_recv(struct perf_conn *c, struct perf_msg *m, uint32_t want, int timeout_ms);
/* Non-blocking: 0 while the peer is alive and silent; an error when it
 * closed the connection or sent ABORT (it failed). */
int perf_conn_check(struct perf_conn *c);
/* perf_conn_check after waiting up to wait_ms for news from the peer. */
int perf_conn_wait_check(struct perf_conn *c, int wait_ms);
/* Best effort: tell the peer why this side gives up. */
void perf_conn_abort(struct perf_conn *c, const char *why);

/* ---- perf_ep.c: the transport endpoint ------------------------------------------ */

struct perf_ep {
	struct tp_device *dev;
	struct tp_pd *pd;
	struct tp_cq *scq, *rcq;
	struct tp_qp *qp;
	struct tp_mr *mr;
	uint8_t *buf;		/* 2 * half bytes: [0, half) sent/served, [half, 2 half) received */
	size_t half;
	int max_send_wr, max_recv_wr, max_inline;
	int recv_posted;	/* receives posted and not completed (kept across steps) */
	uint32_t psn;
	char dev_name[TP_NAME_MAX];
	struct tp_counters base; /* counters when the current step began */
};

/* Open the device and make every object; buf holds messages up to
 * max_size.  local_ip: the side channel's address (udp binds it unless
 * --opt addr= says otherwise). */
int perf_ep_open(struct perf_ep *ep, const struct perf_opts *o, size_t max_size,
		 const char *local_ip);
struct perf_card perf_ep_card(const struct perf_ep *ep);
/* RESET -> INIT -> RTR -> RTS against the peer's card. */
int perf_ep_connect(struct perf_ep *ep, const struct perf_opts *o, const struct perf_card *peer);
void perf_ep_close(struct perf_ep *ep);

/* ---- perf_test.c: the measurements ------------------------------------------ */

/* One step of one size, on one side.  peer: the other side's card; seed:
 * the step's pattern seed (client's bytes; the server's are seed ^ 1). */
struct perf_step {
	const struct perf_opts *o;
	struct perf_ep *ep;
	struct perf_conn *conn;
	const struct perf_card *peer;
	uint64_t size, iters, seed;
	struct perf_result res;	/* client: filled by the run */
};

/* Server, before READY: fill/poison buffers, post receives. */
int perf_step_prepare_server(struct perf_step *s);
/* Client, before BEGIN: the same on its side. */
int perf_step_prepare_client(struct perf_step *s);
/* The measured loop (client) or the active part of the server's role. */
int perf_step_run_client(struct perf_step *s);
int perf_step_run_server(struct perf_step *s);
/* The data checks after the loop: 0, or -EIO with what differs. */
int perf_step_check_client(struct perf_step *s);
int perf_step_check_server(struct perf_step *s);

/* ---- perf_out.c: statistics and output ---------------------------------------- */

void perf_lat_stats(double *us, uint64_t n, struct perf_result *r); /* sorts us */
/* perftest's peak: the best rate over any run of posts [i, j] ending at a
 * signaled completion j; t_post (n), t_done[j] valid where signaled[j]. */
double perf_bw_peak(const uint64_t *t_post_ns, const uint64_t *t_done_ns, const bool *signaled,
		    uint64_t n, uint64_t size);

void perf_print_banner(FILE *f, const struct perf_opts *o, const struct perf_ep *ep,
		       const struct perf_card *me, const struct perf_card *peer);
void perf_print_table_head(FILE *f, const struct perf_opts *o);
void perf_print_row(FILE *f, const struct perf_opts *o, const struct perf_result *r);
void perf_print_table_end(FILE *f, const struct tp_counters *c);
void perf_print_json(FILE *f, const struct perf_opts *o, const struct perf_ep *ep,
		     const struct perf_result *r, const struct tp_counters *step_counters,
		     const char *check);
/* Counters a - b, field by field. */
struct tp_counters perf_counters_sub(const struct tp_counters *a, const struct tp_counters *b);

#endif
