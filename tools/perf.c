/*
 * perf.c - `loom perf`: perftest (ib_write_bw, ib_read_lat, ...) for Loom's
 * transport.  Started without SERVER it waits for a client; started with it
 * it connects, and the two run one test over one RC QP of the chosen
 * provider, with perftest's defaults, table columns and units
 * (REFERENCE §8), a check of the bytes moved, and the device's transport
 * counters at the end.
 *
 * This file: the options, --help, and the run: side channel, endpoints,
 * one step per message size (BEGIN, READY, the loop, DONE with the client's
 * results, CHECKED with the server's data check), goodbye.  The loops are in
 * perf_test.c, the exchange in perf_conn.c, the endpoint in perf_ep.c, the
 * output in perf_out.c.
 *
 * Not here: the transport itself (runtime/), and perftest options that
 * have no meaning for one RC QP (-q, -c UC/UD, --bidirectional, ...).
 */
#include "perf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "loom/err.h"

#define PERF_HELLO_TIMEOUT_MS 10000
#define PERF_CARD_TIMEOUT_MS 60000 /* the peer opens its device meanwhile */

static const char *const test_names[2][4] = {
	{ "write_bw", "read_bw", "send_bw", "atomic_bw" },
	{ "write_lat", "read_lat", "send_lat", "atomic_lat" },
};

const char *perf_test_name(enum perf_verb verb, bool lat)
{
	return test_names[lat][verb];
}

int perf_err_wrap(int err, const char *fmt, ...)
{
	char prefix[256], prev[512];
	va_list ap;

	snprintf(prev, sizeof(prev), "%s", loom_err_msg());
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	return prev[0] ? loom_err_set(err, "%s: %s", prefix, prev) : loom_err_set(err, "%s", prefix);
}

/* ---- options ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: loom perf TEST [options] [SERVER]\n"
"\n"
"Measure Loom's transport as perftest measures an RDMA NIC.  Start the server\n"
"first (no SERVER), then the client with the server's host name or address:\n"
"    loom perf write_bw --provider shm            # server: waits for a client\n"
"    loom perf write_bw --provider shm 127.0.0.1  # client: runs and reports\n"
"Both sides print the client's results; both exit 1 when anything failed.\n"
"\n"
"TEST: write_bw write_lat read_bw read_lat send_bw send_lat atomic_bw atomic_lat\n"
"  *_bw   keep --tx-depth WRs in flight (every 100th signaled, as perftest);\n"
"         BW peak is the best rate over any run of messages, BW average all of them\n"
"  *_lat  one message at a time; write_lat and send_lat are ping-pongs and report\n"
"         half the round trip, read_lat and atomic_lat the full round trip;\n"
"         t_typical is the median, percentiles are nearest-rank\n"
"  atomic tests: FETCH_AND_ADD of 1 on one 64-bit word (8 bytes)\n"
"\n"
"options (default in brackets):\n"
"  --provider P      udp (userspace RoCEv2 over UDP), shm (shared memory, one host)\n"
"                    or ibverbs (rdma-core) [udp]\n"
"  -d, --ib-dev DEV  device of the provider [its first]\n"
"  -s, --size BYTES  message size, 1..%u [65536 for *_bw, 2 for *_lat, 8 for atomics]\n"
"  -n, --iters N     messages [5000 for write_bw, 1000 for the others]\n"
"  -a, --all         sweep sizes 2, 4, ..., 8388608 (atomics: 8 only)\n"
"  -t, --tx-depth N  *_bw: WRs in flight, 1..16384 [128]\n"
"  -m, --mtu M       path MTU: 256, 512, 1024, 2048 or 4096 [4096]\n"
"  -u, --qp-timeout T  ACK timeout 4.096 us * 2^T, 0..31 (retry_cnt 7) [14]\n"
"  -p, --port P      TCP port of the parameter exchange; a server given 0 takes\n"
"                    any free port (it prints the one it took) [18515]\n"
"  -e, --events      wait on the CQ's event (tp_cq_wait) instead of busy polling\n"
"  --yield N         busy polling: sched_yield() after N empty polls, so provider\n"
"                    threads sharing the core run [16 for udp and *_bw, 8192 else]\n"
"  --json            one JSON object per message size (one line each; with -a one\n"
"                    line per size) with the parameters, results, \"data_check\" and\n"
"                    the step's counters, instead of the tables\n"
"  --opt KEY=VALUE   a provider option (repeatable; e.g. --opt window=64,\n"
"                    --opt fault.rx.drop=0.01; see runtime/udp/udp.c, runtime/shm/shm.c)\n"
"  --drop R, --dup R, --reorder R, --delay R, --corrupt R\n"
"                    udp fault injection on this side's sent packets, a rate in\n"
"                    [0, 1] (= --opt fault.tx.drop=R ...); give them to either side\n"
"  --fault-seed S    seed of the fault injection (deterministic runs) [1]\n"
"  --timeout SEC     give up when nothing completes for SEC seconds [20]\n"
"  --wait SEC        client: retry a refused connection for SEC seconds [0, as perftest]\n"
"  -h, --help        this text\n"
"\n"
"The server takes -s, -n, -a, --tx-depth, --mtu and --qp-timeout from the client;\n"
"given to both, they must agree.  TEST and --provider must match.\n"
"\n"
"Checks: every completion must succeed; after each size the receiving side\n"
"compares the bytes that arrived with the pattern the sender wrote (WRITE: the\n"
"server's buffer; READ: the client's; SEND: every length and the last message;\n"
"atomics: the word grew by exactly the number of iterations, and every fetched\n"
"value is the expected one).  A mismatch prints 'data check failed' and exits 1.\n"
"A peer that dies or stops answering ends the run within --timeout (usually at\n"
"once: the side channel closes) with exit status 1.\n"
"\n"
"Counters: after the table, this side's device counters (retransmits, timeouts,\n"
"NAKs, RNR NAKs, duplicates, packets, ICRC errors, injected faults).\n"
"udp: the device binds the address the peer reached us at (--opt addr=...\n"
"overrides) and UDP port 4791, or any free port when 4791 is taken.\n"
"Exit status: 0 ok, 1 failed run (connection, transport or data), 2 bad arguments.\n",
		PERF_SIZE_MAX);
}

static bool parse_test(const char *s, struct perf_opts *o)
{
	for (int lat = 0; lat < 2; lat++)
		for (int v = 0; v < 4; v++)
			if (!strcmp(s, test_names[lat][v])) {
				o->verb = (enum perf_verb)v;
				o->lat = lat;
				return true;
			}
	fprintf(stderr, "loom perf: unknown test '%s' (write_bw, write_lat, read_bw, read_lat, "
			"send_bw, send_lat, atomic_bw, atomic_lat)\n", s);
	return false;
}

static bool add_user_opt(struct perf_opts *o, const char *opt, const char *kv)
{
	if (!strchr(kv, '=') || kv[0] == '=') {
		fprintf(stderr, "loom perf: %s: '%s' is not KEY=VALUE\n", opt, kv);
		return false;
	}
	if (o->n_user_opts == PERF_USER_OPTS_MAX || strlen(kv) >= PERF_OPT_LEN) {
		fprintf(stderr, "loom perf: %s: too many or too long provider options\n", opt);
		return false;
	}
	snprintf(o->user_opts[o->n_user_opts++], PERF_OPT_LEN, "%s", kv);
	return true;
}

/* --drop R and friends: a checked rate, then fault.tx.KIND=R. */
static bool fault_alias(struct perf_opts *o, const char *opt, const char *v)
{
	char kv[PERF_OPT_LEN];
	double rate;

	if (!cli_double("perf", opt, v, 0, 1, &rate))
		return false;
	snprintf(kv, sizeof(kv), "fault.tx.%s=%s", opt + 2, v);
	return add_user_opt(o, opt, kv);
}

static bool set_mtu(struct perf_opts *o, const char *v)
{
	if (!cli_long("perf", "--mtu", v, 256, 4096, &o->mtu))
		return false;
	if (o->mtu & (o->mtu - 1)) {
		fprintf(stderr, "loom perf: --mtu: %ld is not 256, 512, 1024, 2048 or 4096\n",
			o->mtu);
		return false;
	}
	return true;
}

/* opt is a, or b (NULL: a has no other spelling). */
static bool is_opt(const char *opt, const char *a, const char *b)
{
	return !strcmp(opt, a) || (b && !strcmp(opt, b));
}

/* Integer options: spellings, the PERF_SET_* bit (0: none), range, field. */
static const struct perf_num_opt {
	const char *short_name, *long_name;
	unsigned set;
	long min, max;
	size_t field;
} num_opts[] = {
	{ "-s", "--size", PERF_SET_SIZE, 1, PERF_SIZE_MAX, offsetof(struct perf_opts, size) },
	{ "-n", "--iters", PERF_SET_ITERS, 1, PERF_ITERS_MAX, offsetof(struct perf_opts, iters) },
	{ "-t", "--tx-depth", PERF_SET_TX_DEPTH, 1, 16384, offsetof(struct perf_opts, tx_depth) },
	{ "-u", "--qp-timeout", PERF_SET_QP_TIMEOUT, 0, 31,
	  offsetof(struct perf_opts, qp_timeout) },
	{ "-p", "--port", 0, 0, 65535, offsetof(struct perf_opts, port) },
	{ "--yield", NULL, 0, 1, 1000000000, offsetof(struct perf_opts, yield_every) },
};

static bool set_fault_seed(struct perf_opts *o, const char *opt, const char *v)
{
	char kv[PERF_OPT_LEN];
	long seed;

	if (!cli_long("perf", opt, v, 0, LONG_MAX, &seed))
		return false;
	snprintf(kv, sizeof(kv), "fault.seed=%ld", seed);
	return add_user_opt(o, opt, kv);
}

/* One option that takes a value; false (message printed) when bad. */
static bool set_value(struct perf_opts *o, const char *opt, const char *v)
{
	for (size_t i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++) {
		const struct perf_num_opt *n = &num_opts[i];

		if (is_opt(opt, n->short_name, n->long_name)) {
			o->set |= n->set;
			return cli_long("perf", opt, v, n->min, n->max,
					(long *)((char *)o + n->field));
		}
	}
	if (is_opt(opt, "-m", "--mtu")) {
		o->set |= PERF_SET_MTU;
		return set_mtu(o, v);
	}
	if (is_opt(opt, "--provider", NULL)) {
		o->provider = v;
		return true;
	}
	if (is_opt(opt, "-d", "--ib-dev")) {
		o->dev = v;
		return true;
	}
	if (is_opt(opt, "--timeout", NULL))
		return cli_double("perf", opt, v, 0.1, 86400, &o->timeout_s);
	if (is_opt(opt, "--wait", NULL))
		return cli_double("perf", opt, v, 0, 86400, &o->wait_s);
	if (is_opt(opt, "--opt", NULL))
		return add_user_opt(o, opt, v);
	if (is_opt(opt, "--drop", NULL) || is_opt(opt, "--dup", NULL) ||
	    is_opt(opt, "--reorder", NULL) || is_opt(opt, "--delay", NULL) ||
	    is_opt(opt, "--corrupt", NULL))
		return fault_alias(o, opt, v);
	if (is_opt(opt, "--fault-seed", NULL))
		return set_fault_seed(o, opt, v);
	fprintf(stderr, "loom perf: unknown option '%s' (try --help)\n", opt);
	return false;
}

static bool takes_value(const char *opt)
{
	static const char *const flags[] = { "-a", "--all", "--json", "-e", "--events", NULL };

	for (int i = 0; flags[i]; i++)
		if (!strcmp(opt, flags[i]))
			return false;
	return true;
}

static void set_flag(struct perf_opts *o, const char *opt)
{
	if (!strcmp(opt, "-a") || !strcmp(opt, "--all")) {
		o->sweep = true;
		o->set |= PERF_SET_SWEEP;
	} else if (!strcmp(opt, "--json")) {
		o->json = true;
	} else {
		o->events = true;
	}
}

/* Empty polls between two sched_yield()s of a wait loop.  Measured on a
 * 2-core machine, where a busy-polling application shares a core with
 * provider threads (medians of interleaved runs, noisy): udp receives in
 * the polling thread as well as in its device thread, and every empty
 * poll is a recvmmsg; yielding every 16 polls gives write_lat 8 us typical
 * under load with a shorter tail than every 8192 (p99 2-4 ms vs 5-10 ms);
 * shm makes progress in tp_cq_poll itself, and its latency wants the
 * caller to keep spinning (write_lat 0.4-0.7 us every 8192, bimodal 0.5 or
 * 120+ us every 1024, 5 us every 16), while its bandwidth wants the peer's
 * progress thread to get the core (64 KiB write_bw median ~8.5 GB/s every
 * 16 polls, ~3 GB/s every 1024).  rdma-core NICs progress in hardware:
 * spin, as perftest. */
static long default_yield(const struct perf_opts *o)
{
	if (!strcmp(o->provider, "udp") || !o->lat)
		return 16;
	return 8192;
}

/* Defaults that depend on the test, then the checks across options. */
static bool finish_opts(struct perf_opts *o)
{
	bool fault = false;

	if (!(o->set & PERF_SET_SIZE))
		o->size = o->verb == PERF_ATOMIC ? PERF_ATOMIC_BYTES : o->lat ? 2 : 65536;
	if (!(o->set & PERF_SET_ITERS))
		o->iters = o->verb == PERF_WRITE && !o->lat ? 5000 : 1000;
	if (!o->yield_every)
		o->yield_every = default_yield(o);
	if (o->verb == PERF_ATOMIC && o->size != PERF_ATOMIC_BYTES) {
		fprintf(stderr, "loom perf: -s: atomics move %d bytes, not %ld\n",
			PERF_ATOMIC_BYTES, o->size);
		return false;
	}
	if (o->server && o->port == 0) {
		fprintf(stderr, "loom perf: --port 0 is for a server (the client needs its port)\n");
		return false;
	}
	for (int i = 0; i < o->n_user_opts; i++)
		fault = fault || !strncmp(o->user_opts[i], "fault.", 6);
	if (fault && strcmp(o->provider, "udp")) {
		fprintf(stderr, "loom perf: fault injection (--drop, ..., --opt fault.*) needs "
				"--provider udp, not %s\n", o->provider);
		return false;
	}
	return true;
}

/* Print "loom perf: reason" for a usage error; returns 2 (the exit status). */
static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("loom perf: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

/* 0 ok, 2 usage error, -1 --help printed. */
static int parse_args(int argc, char **argv, struct perf_opts *o)
{
	bool have_test = false;

	*o = (struct perf_opts){ .provider = "udp", .tx_depth = 128, .mtu = 4096,
				 .qp_timeout = 14, .port = PERF_PORT_DEFAULT, .timeout_s = 20 };
	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *eq = NULL, name[32];
		const char *v;

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return -1;
		if (a[0] != '-' || !a[1]) {
			if (!have_test && parse_test(a, o))
				have_test = true;
			else if (!have_test)
				return 2;
			else if (!o->server)
				o->server = a;
			else
				return usage_err("unexpected argument '%s'", a);
			continue;
		}
		if (!strncmp(a, "--", 2) && (eq = strchr(a, '=')) && (size_t)(eq - a) < sizeof(name)) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
			a = name;
		}
		if (!takes_value(a)) {
			if (eq)
				return usage_err("%s takes no value", a);
			set_flag(o, a);
			continue;
		}
		v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
		if (!v)
			return usage_err("%s needs a value", a);
		if (!set_value(o, a, v))
			return 2;
	}
	if (!have_test)
		return usage_err("which test? (try --help)");
	return finish_opts(o) ? 0 : 2;
}

/* ---- negotiation: the client's parameters, checked against the server's ------------------- */

static struct perf_msg hello_of(const struct perf_opts *o)
{
	struct perf_msg m = { .type = PERF_MSG_HELLO, .size = (uint64_t)o->size,
			      .iters = (uint64_t)o->iters, .sweep = o->sweep,
			      .tx_depth = (uint32_t)o->tx_depth, .mtu = (uint32_t)o->mtu,
			      .qp_timeout = (uint32_t)o->qp_timeout, .set = o->set };

	snprintf(m.test, sizeof(m.test), "%s", perf_test_name(o->verb, o->lat));
	snprintf(m.provider, sizeof(m.provider), "%s", o->provider);
	return m;
}

/* Adopt the client's parameters; -EINVAL with the reason when the server
 * was started with a different test, provider or explicit value. */
static int adopt_hello(struct perf_opts *o, const struct perf_msg *h)
{
	struct { unsigned bit; const char *name; long mine, theirs; } v[] = {
		{ PERF_SET_SIZE, "-s", o->size, (long)h->size },
		{ PERF_SET_ITERS, "-n", o->iters, (long)h->iters },
		{ PERF_SET_SWEEP, "-a", o->sweep, h->sweep },
		{ PERF_SET_TX_DEPTH, "--tx-depth", o->tx_depth, h->tx_depth },
		{ PERF_SET_MTU, "--mtu", o->mtu, h->mtu },
		{ PERF_SET_QP_TIMEOUT, "--qp-timeout", o->qp_timeout, h->qp_timeout },
	};

	if (strcmp(h->test, perf_test_name(o->verb, o->lat)) || strcmp(h->provider, o->provider))
		return loom_err_set(EINVAL, "the server runs %s over %s, the client asked for %.16s "
				    "over %.16s", perf_test_name(o->verb, o->lat), o->provider,
				    h->test, h->provider);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if ((o->set & v[i].bit) && v[i].mine != v[i].theirs)
			return loom_err_set(EINVAL, "%s: the server has %ld, the client %ld",
					    v[i].name, v[i].mine, v[i].theirs);
	o->size = (long)h->size;
	o->iters = (long)h->iters;
	o->sweep = h->sweep;
	o->tx_depth = h->tx_depth;
	o->mtu = h->mtu;
	o->qp_timeout = h->qp_timeout;
	return 0;
}

/* ---- the run ------------------------------------------------------------------------- */

struct perf_run {
	struct perf_opts *o;
	struct perf_conn conn;
	struct perf_ep ep;
	struct perf_card me, peer;
	size_t max_size;
	int failed; /* steps that failed */
};

static size_t max_size_of(const struct perf_opts *o)
{
	return o->sweep && o->verb != PERF_ATOMIC ? PERF_SWEEP_MAX : (size_t)o->size;
}

static int send_card(struct perf_run *r, int status)
{
	struct perf_msg m = { .type = PERF_MSG_CARD, .status = status, .card = r->me };

	if (status)
		snprintf(m.err, sizeof(m.err), "%s", loom_err_msg());
	return perf_conn_send(&r->conn, &m);
}

static int recv_card(struct perf_run *r)
{
	struct perf_msg m;
	int err = perf_conn_recv(&r->conn, &m, PERF_MSG_CARD, PERF_CARD_TIMEOUT_MS);

	if (err)
		return err;
	if (m.status)
		return loom_err_set(ECONNABORTED, "the %s refused: %s",
				    r->o->server ? "server" : "client", m.err);
	r->peer = m.card;
	return 0;
}

static int server_connect(struct perf_run *r)
{
	struct perf_msg hello;
	int err = perf_conn_listen(&r->conn, (int)r->o->port,
				   perf_test_name(r->o->verb, r->o->lat));

	r->o->port = r->conn.port;
	if (!err)
		err = perf_conn_accept(&r->conn);
	if (!err)
		err = perf_conn_recv(&r->conn, &hello, PERF_MSG_HELLO, PERF_HELLO_TIMEOUT_MS);
	if (err)
		return err;
	err = adopt_hello(r->o, &hello);
	if (!err) {
		r->max_size = max_size_of(r->o);
		err = perf_ep_open(&r->ep, r->o, r->max_size, r->conn.local_ip);
	}
	if (err) {
		send_card(r, err);
		return err;
	}
	r->me = perf_ep_card(&r->ep);
	err = send_card(r, 0);
	return err ? err : recv_card(r);
}

static int client_connect(struct perf_run *r)
{
	struct perf_msg hello = hello_of(r->o);
	int err = perf_conn_connect(&r->conn, r->o->server, (int)r->o->port, r->o->wait_s);

	if (!err)
		err = perf_conn_send(&r->conn, &hello);
	if (!err)
		err = recv_card(r);
	if (err)
		return err;
	r->max_size = max_size_of(r->o);
	err = perf_ep_open(&r->ep, r->o, r->max_size, r->conn.local_ip);
	if (err) {
		send_card(r, err);
		return err;
	}
	r->me = perf_ep_card(&r->ep);
	return send_card(r, 0);
}

static uint64_t step_seed(uint64_t size)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_nsec << 20) ^ ((uint64_t)ts.tv_sec << 40) ^ (size << 2) ^
	       (uint64_t)getpid();
}

/* The step's results, in the chosen form; counters are the step's own. */
static void report_step(struct perf_run *r, const struct perf_result *res, const char *check)
{
	struct tp_counters now, d;

	tp_device_counters(r->ep.dev, &now);
	d = perf_counters_sub(&now, &r->ep.base);
	r->ep.base = now;
	if (r->o->json)
		perf_print_json(stdout, r->o, &r->ep, res, &d, check);
	else
		perf_print_row(stdout, r->o, res);
}

/* How long the client waits for the server's READY and CHECKED (quick
 * steps); the server waits for the client's messages as long as the side
 * channel lives, since they follow runs of any length. */
static int timeout_ms(const struct perf_opts *o)
{
	return (int)(o->timeout_s * 1000);
}

static int client_step(struct perf_run *r, uint64_t size)
{
	struct perf_step s = { .o = r->o, .ep = &r->ep, .conn = &r->conn, .peer = &r->peer,
			       .size = size, .iters = (uint64_t)r->o->iters,
			       .seed = step_seed(size) };
	struct perf_msg m = { .type = PERF_MSG_BEGIN, .size = size, .iters = s.iters,
			      .seed = s.seed };
	int err = perf_step_prepare_client(&s), check;

	if (!err)
		err = perf_conn_send(&r->conn, &m);
	if (!err)
		err = perf_conn_recv(&r->conn, &m, PERF_MSG_READY, timeout_ms(r->o));
	if (!err)
		err = perf_step_run_client(&s);
	if (err)
		return err;
	check = perf_step_check_client(&s);
	m = (struct perf_msg){ .type = PERF_MSG_DONE, .status = check, .res = s.res };
	if (check)
		snprintf(m.err, sizeof(m.err), "%s", loom_err_msg());
	if ((err = perf_conn_send(&r->conn, &m)))
		return err;
	if (check)
		return check;
	if ((err = perf_conn_recv(&r->conn, &m, PERF_MSG_CHECKED, timeout_ms(r->o))))
		return err;
	if (m.status)
		return loom_err_set(EIO, "the server: %s", m.err);
	report_step(r, &s.res, "ok");
	return 0;
}

static int server_step(struct perf_run *r)
{
	struct perf_step s = { .o = r->o, .ep = &r->ep, .conn = &r->conn, .peer = &r->peer };
	struct perf_msg m;
	int err = perf_conn_recv(&r->conn, &m, PERF_MSG_BEGIN, -1), check;

	if (err)
		return err;
	if (m.size == 0 || m.size > r->max_size || m.iters == 0)
		return loom_err_set(EPROTO, "the client asked for %llu x %llu bytes (max %zu)",
				    (unsigned long long)m.iters, (unsigned long long)m.size,
				    r->max_size);
	s.size = m.size;
	s.iters = m.iters;
	s.seed = m.seed;
	err = perf_step_prepare_server(&s);
	m = (struct perf_msg){ .type = PERF_MSG_READY };
	if (!err)
		err = perf_conn_send(&r->conn, &m);
	if (!err)
		err = perf_step_run_server(&s);
	if (!err)
		err = perf_conn_recv(&r->conn, &m, PERF_MSG_DONE, -1);
	if (err)
		return err;
	if (m.status)
		return loom_err_set(EIO, "the client: %s", m.err);
	s.res = m.res;
	check = perf_step_check_server(&s);
	m = (struct perf_msg){ .type = PERF_MSG_CHECKED, .status = check };
	if (check)
		snprintf(m.err, sizeof(m.err), "%s", loom_err_msg());
	err = perf_conn_send(&r->conn, &m);
	if (check || err)
		return check ? check : err;
	report_step(r, &s.res, "ok");
	return 0;
}

/* Every size of the run, then goodbye (BYE from the client, echoed). */
static int run_steps(struct perf_run *r)
{
	struct perf_msg m = { .type = PERF_MSG_BYE };
	uint64_t lo = r->o->sweep && r->o->verb != PERF_ATOMIC ? 2 : (uint64_t)r->o->size;
	uint64_t hi = r->o->sweep && r->o->verb != PERF_ATOMIC ? PERF_SWEEP_MAX : lo;
	int err = 0;

	for (uint64_t size = lo; size <= hi && !err; size *= 2)
		err = r->o->server ? client_step(r, size) : server_step(r);
	if (err)
		return err;
	if (r->o->server) {
		err = perf_conn_send(&r->conn, &m);
		return err ? err : perf_conn_recv(&r->conn, &m, PERF_MSG_BYE, 10000);
	}
	err = perf_conn_recv(&r->conn, &m, PERF_MSG_BYE, -1);
	return err ? err : perf_conn_send(&r->conn, &m);
}

/* A transport error often means the peer died or failed: if the side
 * channel says so within a moment, add what it says. */
static void explain_failure(struct perf_run *r, int err)
{
	char mine[512], peer[512];

	snprintf(mine, sizeof(mine), "%s", loom_err_msg());
	if (r->conn.fd < 0 || (err != -ETIMEDOUT && !strstr(mine, " completion ")))
		return; /* not a transport failure, or already the peer's news */
	if (!perf_conn_wait_check(&r->conn, 200)) {
		loom_err_set(err, "%s", mine);
		return;
	}
	snprintf(peer, sizeof(peer), "%s", loom_err_msg());
	loom_err_set(err, "%s; %s", mine, peer);
}

static int run(struct perf_opts *o)
{
	struct perf_run r = { .o = o };
	struct tp_counters total;
	int err;

	r.conn.fd = -1;
	err = o->server ? client_connect(&r) : server_connect(&r);
	if (!err)
		err = perf_ep_connect(&r.ep, o, &r.peer);
	if (!err && !o->json) {
		perf_print_banner(stdout, o, &r.ep, &r.me, &r.peer);
		perf_print_table_head(stdout, o);
	}
	if (!err)
		err = run_steps(&r);
	if (!err && !o->json) {
		tp_device_counters(r.ep.dev, &total); /* since the device was opened */
		perf_print_table_end(stdout, &total);
	}
	if (err) {
		explain_failure(&r, err);
		fprintf(stderr, "loom perf: %s\n", loom_err_msg());
		perf_conn_abort(&r.conn, loom_err_msg());
	}
	perf_ep_close(&r.ep);
	perf_conn_close(&r.conn);
	return err ? 1 : 0;
}

static int perf_main(int argc, char **argv)
{
	struct perf_opts o;
	int rc = parse_args(argc, argv, &o);

	if (rc < 0) {
		usage(stdout);
		return 0;
	}
	if (rc)
		return rc;
	return run(&o);
}

const struct loom_cmd loom_cmd_perf = {
	.name = "perf",
	.summary = "perftest for Loom's transport: write/read/send/atomic bandwidth and latency",
	.main = perf_main,
};
