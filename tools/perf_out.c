/*
 * perf_out.c - statistics and output of `loom perf`: latency percentiles,
 * perftest's peak bandwidth, the perftest-style banner and tables, the
 * device counters, and the JSON lines.
 *
 * Units as perftest: MiB/sec (2^20 bytes per second), Mpps (10^6 messages
 * per second), usec.  Table headers are perftest's strings, so scripts that
 * read perftest output read ours.
 */
#include "perf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define RESULT_LINE "---------------------------------------------------------------------------------------\n"
#define BW_HEAD " #bytes     #iterations    BW peak[MiB/sec]    BW average[MiB/sec]   MsgRate[Mpps]\n"
#define LAT_HEAD " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    " \
	"t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] \n"
#define PEAK_WORK 4000000.0	/* (post, completion) pairs the peak search may try */

/* ---- statistics ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile p (0 < p <= 1) of n sorted samples. */
static double percentile(const double *sorted, uint64_t n, double p)
{
	uint64_t rank = (uint64_t)ceil(p * (double)n);

	return sorted[rank ? rank - 1 : 0];
}

void perf_lat_stats(double *us, uint64_t n, struct perf_result *r)
{
	double sum = 0, var = 0;

	qsort(us, n, sizeof(*us), cmp_double);
	for (uint64_t i = 0; i < n; i++)
		sum += us[i];
	r->t_avg = sum / (double)n;
	for (uint64_t i = 0; i < n; i++)
		var += (us[i] - r->t_avg) * (us[i] - r->t_avg);
	r->t_stdev = sqrt(var / (double)n);
	r->t_min = us[0];
	r->t_max = us[n - 1];
	r->t_typical = us[n / 2]; /* the median, as perftest's "typical" */
	r->t_p99 = percentile(us, n, 0.99);
	r->t_p999 = percentile(us, n, 0.999);
}

/* perftest's peak: min over posts i and signaled completions j >= i of
 * (t_done[j] - t_post[i]) / (j - i + 1), the time per message of the
 * fastest run of messages.  Posts are sampled with a stride that bounds the
 * work (perftest's "inc_accuracy"). */
double perf_bw_peak(const uint64_t *t_post_ns, const uint64_t *t_done_ns, const bool *signaled,
		    uint64_t n, uint64_t size)
{
	uint64_t *sig = malloc(n * sizeof(*sig)), nsig = 0, stride, first = 0;
	double best = INFINITY;

	if (!sig)
		return NAN;
	for (uint64_t j = 0; j < n; j++)
		if (signaled[j])
			sig[nsig++] = j;
	stride = (uint64_t)ceil((double)n * (double)nsig / PEAK_WORK);
	stride = stride ? stride : 1;
	for (uint64_t i = 0; i < n; i += stride) {
		while (first < nsig && sig[first] < i)
			first++;
		for (uint64_t k = first; k < nsig; k++) {
			uint64_t j = sig[k];
			double t = (double)(t_done_ns[j] - t_post_ns[i]) / (double)(j - i + 1);

			if (t > 0 && t < best)
				best = t;
		}
	}
	free(sig);
	return (double)size / best * 1e9 / (1 << 20);
}

/* ---- tables ------------------------------------------------------------------------- */

static const char *test_title(const struct perf_opts *o)
{
	static const char *const t[2][4] = {
		{ "RDMA_Write BW Test", "RDMA_Read BW Test", "Send BW Test",
		  "Atomic FETCH_AND_ADD BW Test" },
		{ "RDMA_Write Latency Test", "RDMA_Read Latency Test", "Send Latency Test",
		  "Atomic FETCH_AND_ADD Latency Test" },
	};
	return t[o->lat][o->verb];
}

static void print_card(FILE *f, const char *who, struct tp_device *dev, const struct perf_card *c)
{
	char addr[96];

	if (tp_addr_format(dev, &c->addr, addr, sizeof(addr)))
		snprintf(addr, sizeof(addr), "?");
	fprintf(f, " %-15s QPN 0x%04x PSN 0x%06x RKey 0x%08x VAddr 0x%014llx Addr %s\n", who,
		c->qpn, c->psn, c->rkey, (unsigned long long)c->vaddr, addr);
}

void perf_print_banner(FILE *f, const struct perf_opts *o, const struct perf_ep *ep,
		       const struct perf_card *me, const struct perf_card *peer)
{
	fprintf(f, RESULT_LINE);
	fprintf(f, "                    %s\n", test_title(o));
	fprintf(f, " Provider        : %-12s Device         : %s\n", o->provider, ep->dev_name);
	fprintf(f, " Number of qps   : %-12d Transport type : %s\n", 1, o->provider);
	fprintf(f, " Connection type : %-12s Using SRQ      : OFF\n", "RC");
	if (!o->lat) {
		fprintf(f, " TX depth        : %ld\n", o->tx_depth);
		fprintf(f, " CQ Moderation   : %ld\n", o->tx_depth < 100 ? o->tx_depth : 100);
	}
	fprintf(f, " Mtu             : %ld[B]\n", o->mtu);
	fprintf(f, " Max inline data : %d[B]\n", ep->max_inline);
	fprintf(f, " Data ex. method : Ethernet (TCP port %ld)\n", o->port);
	for (int i = 0; i < o->n_user_opts; i++)
		fprintf(f, " Provider option : %s\n", o->user_opts[i]);
	fprintf(f, RESULT_LINE);
	print_card(f, "local address:", ep->dev, me);
	print_card(f, "remote address:", ep->dev, peer);
	fprintf(f, RESULT_LINE);
	fflush(f);
}

void perf_print_table_head(FILE *f, const struct perf_opts *o)
{
	fputs(o->lat ? LAT_HEAD : BW_HEAD, f);
	fflush(f);
}

void perf_print_row(FILE *f, const struct perf_opts *o, const struct perf_result *r)
{
	if (o->lat)
		fprintf(f, " %-7llu %-11llu %-14.2f %-14.2f %-16.2f %-14.2f %-15.2f %-22.2f %-.2f\n",
			(unsigned long long)r->size, (unsigned long long)r->iters, r->t_min,
			r->t_max, r->t_typical, r->t_avg, r->t_stdev, r->t_p99, r->t_p999);
	else
		fprintf(f, " %-10llu %-14llu %-19.2f %-21.2f %-.6f\n", (unsigned long long)r->size,
			(unsigned long long)r->iters, r->bw_peak_mib, r->bw_avg_mib,
			r->msg_rate_mpps);
	fflush(f);
}

void perf_print_table_end(FILE *f, const struct tp_counters *c)
{
	char rate[32] = "unlimited";

	fprintf(f, RESULT_LINE);
	fprintf(f, " Counters (this side): retransmits %llu, timeouts %llu, NAKs sent/received "
		   "%llu/%llu, RNR NAKs sent/received %llu/%llu, duplicates %llu\n",
		(unsigned long long)c->retransmits, (unsigned long long)c->timeouts,
		(unsigned long long)c->naks_sent, (unsigned long long)c->naks_received,
		(unsigned long long)c->rnr_naks_sent, (unsigned long long)c->rnr_naks_received,
		(unsigned long long)c->duplicates);
	fprintf(f, " Packets: tx %llu (%llu bytes), rx %llu (%llu bytes), ICRC errors %llu, "
		   "malformed %llu, P_Key violations %llu\n",
		(unsigned long long)c->tx_packets, (unsigned long long)c->tx_bytes,
		(unsigned long long)c->rx_packets, (unsigned long long)c->rx_bytes,
		(unsigned long long)c->icrc_errors, (unsigned long long)c->malformed,
		(unsigned long long)c->pkey_violations);
	fprintf(f, " Faults injected: dropped %llu, duplicated %llu, reordered %llu, delayed %llu, "
		   "corrupted %llu\n",
		(unsigned long long)c->fault_dropped, (unsigned long long)c->fault_duplicated,
		(unsigned long long)c->fault_reordered, (unsigned long long)c->fault_delayed,
		(unsigned long long)c->fault_corrupted);
	if (c->cc_rate_mbps)
		snprintf(rate, sizeof(rate), "%llu Mbit/s", (unsigned long long)c->cc_rate_mbps);
	fprintf(f, " Congestion: ECN-marked requests %llu, CNPs sent/received %llu/%llu, "
		   "rate cuts %llu, rate now %s; ECN marks injected %llu\n",
		(unsigned long long)c->ecn_marked, (unsigned long long)c->cnps_sent,
		(unsigned long long)c->cnps_received, (unsigned long long)c->cc_rate_cuts, rate,
		(unsigned long long)c->fault_marked);
	fprintf(f, RESULT_LINE);
	fflush(f);
}

/* ---- counters ------------------------------------------------------------------------ */

#define PERF_N_COUNTERS (sizeof(struct tp_counters) / sizeof(uint64_t))

/* JSON names of struct tp_counters' fields, in declaration order. */
static const char *const counter_names[] = {
	"tx_packets", "rx_packets", "tx_bytes", "rx_bytes", "retransmits", "timeouts",
	"naks_sent", "naks_received", "rnr_naks_sent", "rnr_naks_received", "duplicates",
	"icrc_errors", "malformed", "pkey_violations", "fault_dropped", "fault_duplicated", "fault_reordered",
	"fault_delayed", "fault_corrupted", "fault_marked", "ecn_marked", "cnps_sent",
	"cnps_received", "cc_rate_cuts", "cc_rate_mbps",
};
_Static_assert(sizeof(counter_names) / sizeof(counter_names[0]) == PERF_N_COUNTERS,
	       "a name for every field of struct tp_counters");

struct tp_counters perf_counters_sub(const struct tp_counters *a, const struct tp_counters *b)
{
	uint64_t x[PERF_N_COUNTERS], y[PERF_N_COUNTERS];
	struct tp_counters d;

	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	for (size_t i = 0; i < PERF_N_COUNTERS; i++)
		x[i] -= y[i];
	memcpy(&d, x, sizeof(d));
	d.cc_rate_mbps = a->cc_rate_mbps; /* a gauge: the value now, not a difference */
	return d;
}

/* ---- JSON ----------------------------------------------------------------------------- */

static void json_kv_num(FILE *f, const char *k, double v)
{
	fprintf(f, ", \"%s\": ", k);
	cli_json_num(f, v);
}

static void json_params(FILE *f, const struct perf_opts *o, const struct perf_ep *ep)
{
	fprintf(f, "{\"command\": \"perf\", \"test\": \"%s\", \"role\": \"%s\", \"provider\": ",
		perf_test_name(o->verb, o->lat), o->server ? "client" : "server");
	cli_json_str(f, o->provider);
	fprintf(f, ", \"device\": ");
	cli_json_str(f, ep->dev_name);
	fprintf(f, ", \"server\": ");
	if (o->server)
		cli_json_str(f, o->server);
	else
		fputs("null", f);
	fprintf(f, ", \"port\": %ld, \"connection\": \"RC\", \"qps\": 1, \"tx_depth\": %ld, "
		   "\"cq_mod\": %ld, \"mtu\": %ld, \"qp_timeout\": %ld, \"max_inline\": %d, "
		   "\"events\": %s, \"yield_every\": %ld, \"sweep\": %s, \"opts\": [",
		o->port, o->lat ? (long)PERF_LAT_DEPTH : o->tx_depth,
		o->lat ? 1L : o->tx_depth < 100 ? o->tx_depth : 100, o->mtu, o->qp_timeout,
		ep->max_inline, o->events ? "true" : "false", o->yield_every,
		o->sweep ? "true" : "false");
	for (int i = 0; i < o->n_user_opts; i++) {
		fputs(i ? ", " : "", f);
		cli_json_str(f, o->user_opts[i]);
	}
	fputc(']', f);
}

static void json_results(FILE *f, const struct perf_opts *o, const struct perf_result *r)
{
	fprintf(f, ", \"bytes\": %llu, \"iterations\": %llu", (unsigned long long)r->size,
		(unsigned long long)r->iters);
	if (o->lat) {
		fprintf(f, ", \"latency\": \"%s\"", o->verb == PERF_WRITE || o->verb == PERF_SEND
							    ? "half round trip" : "round trip");
		json_kv_num(f, "t_min_us", r->t_min);
		json_kv_num(f, "t_max_us", r->t_max);
		json_kv_num(f, "t_typical_us", r->t_typical);
		json_kv_num(f, "t_avg_us", r->t_avg);
		json_kv_num(f, "t_stdev_us", r->t_stdev);
		json_kv_num(f, "t_p99_us", r->t_p99);
		json_kv_num(f, "t_p999_us", r->t_p999);
	} else {
		json_kv_num(f, "bw_peak_mib_s", r->bw_peak_mib);
		json_kv_num(f, "bw_avg_mib_s", r->bw_avg_mib);
		json_kv_num(f, "msg_rate_mpps", r->msg_rate_mpps);
	}
}

void perf_print_json(FILE *f, const struct perf_opts *o, const struct perf_ep *ep,
		     const struct perf_result *r, const struct tp_counters *step_counters,
		     const char *check)
{
	uint64_t c[PERF_N_COUNTERS];

	json_params(f, o, ep);
	json_results(f, o, r);
	fprintf(f, ", \"data_check\": ");
	cli_json_str(f, check);
	fprintf(f, ", \"counters\": {");
	memcpy(c, step_counters, sizeof(c));
	for (size_t i = 0; i < PERF_N_COUNTERS; i++)
		fprintf(f, "%s\"%s\": %llu", i ? ", " : "", counter_names[i],
			(unsigned long long)c[i]);
	fputs("}}\n", f);
	fflush(f);
}
