/*
 * noc.c - `loom noc`: latency against offered load of the System-on-Wafer
 * mesh RTL (include/loom/rtl_mesh.h), measured BookSim-style.
 *
 * Each node generates messages of --len bytes by a Bernoulli process (one
 * message with probability rate / F per cycle, F flits per message, so the
 * offered load is `rate` flits per node per cycle) into an unbounded source
 * queue, destinations from --pattern.  A measurement: warm-up (--warmup
 * cycles), then --samples sample periods of --sample cycles in which the
 * messages created are tagged and the flits delivered counted (accepted
 * throughput), then a drain that keeps injecting until every tagged message
 * has arrived.  Latency = delivery cycle - creation cycle (source queueing
 * included); network latency = delivery - acceptance by the NI.  A rate is
 * unstable (past saturation) when the drain does not finish within
 * 10 x samples x sample cycles, or the accepted throughput falls below 95% of
 * the offered load.  --sweep raises the rate in steps of --step until it is
 * unstable or the average latency passes 3x the zero-load latency (the
 * latency at the first rate), and reports the last stable rate as the
 * saturation point, also as a fraction of the bisection bound 4b/max(K, L)
 * (b = one flit per cycle per channel).
 *
 * Not here: the mesh (rtl-models/mesh) and the patterns (rtl_mesh_pattern_dst).
 */
#include "cli.h"

#include "loom/err.h"
#include "loom/rng.h"
#include "loom/rtl_mesh.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOC_MAX_POINTS 100

struct noc_opts {
	long k, l;
	enum rtl_mesh_pattern pattern;
	enum rtl_mesh_routing routing;
	enum rtl_mesh_flavour flavour;
	double rate, step;
	bool sweep, json;
	long len, warmup, sample, samples;
	unsigned long seed;
	const char *plot;
};

struct noc_point {
	double offered;		/* flits / node / cycle */
	double accepted;
	double lat_avg, lat_max, net_avg;	/* cycles */
	uint64_t messages;	/* tagged messages measured */
	bool stable;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loom noc [--mesh KxL] [--pattern P] (--rate R | --sweep) [options]\n\n"
		"Latency against offered load of the mesh RTL (warm-up, sample periods, drain).\n\n"
		"  --mesh KxL        mesh size, a built one (%s); default 4x4\n"
		"  --pattern P       uniform | transpose | bitcomp | hotspot | alltoall (uniform)\n"
		"  --rate R          offered load, flits per node per cycle (0, 1]\n"
		"  --sweep           raise the rate by --step (0.05) until saturation\n"
		"  --routing A       xy | adaptive (west-first); default xy\n"
		"  --flavour F       fast | checked (assertions on); default fast\n"
		"  --len BYTES       payload bytes per message (64)\n"
		"  --warmup C        warm-up cycles (2000)\n"
		"  --sample C        cycles per sample period (2000)\n"
		"  --samples N       sample periods (3)\n"
		"  --seed S          traffic seed (1)\n"
		"  --plot FILE.svg   draw latency against offered load with gnuplot\n"
		"  --json            one JSON object instead of the table\n",
		rtl_mesh_built_configs());
}

static bool set_opt(struct noc_opts *o, const char *opt, const char *v)
{
	long x;
	if (!strcmp(opt, "--mesh")) {
		char *end;
		o->k = strtol(v, &end, 10);
		if (*end != 'x' || (o->l = strtol(end + 1, &end, 10), *end) || o->k < 1 || o->l < 1) {
			fprintf(stderr, "loom noc: --mesh: '%s' is not KxL\n", v);
			return false;
		}
	} else if (!strcmp(opt, "--pattern")) {
		int p = rtl_mesh_pattern_parse(v);
		if (p < 0) {
			fprintf(stderr, "loom noc: --pattern: %s\n", loom_err_msg());
			return false;
		}
		o->pattern = (enum rtl_mesh_pattern)p;
	} else if (!strcmp(opt, "--routing")) {
		if (strcmp(v, "xy") && strcmp(v, "adaptive") && strcmp(v, "west-first")) {
			fprintf(stderr, "loom noc: --routing: '%s' is not xy or adaptive\n", v);
			return false;
		}
		o->routing = strcmp(v, "xy") ? RTL_MESH_WEST_FIRST : RTL_MESH_XY;
	} else if (!strcmp(opt, "--flavour")) {
		if (strcmp(v, "fast") && strcmp(v, "checked")) {
			fprintf(stderr, "loom noc: --flavour: '%s' is not fast or checked\n", v);
			return false;
		}
		o->flavour = strcmp(v, "fast") ? RTL_MESH_CHECKED : RTL_MESH_FAST;
	} else if (!strcmp(opt, "--rate")) {
		return cli_double("noc", opt, v, 1e-4, 1.0, &o->rate);
	} else if (!strcmp(opt, "--step")) {
		return cli_double("noc", opt, v, 1e-3, 0.5, &o->step);
	} else if (!strcmp(opt, "--len")) {
		return cli_long("noc", opt, v, 8, 65535, &o->len);
	} else if (!strcmp(opt, "--warmup")) {
		return cli_long("noc", opt, v, 0, 100000000, &o->warmup);
	} else if (!strcmp(opt, "--sample")) {
		return cli_long("noc", opt, v, 10, 100000000, &o->sample);
	} else if (!strcmp(opt, "--samples")) {
		return cli_long("noc", opt, v, 1, 1000, &o->samples);
	} else if (!strcmp(opt, "--seed")) {
		if (!cli_long("noc", opt, v, 0, LONG_MAX, &x))
			return false;
		o->seed = (unsigned long)x;
	} else if (!strcmp(opt, "--plot")) {
		o->plot = v;
	} else {
		fprintf(stderr, "loom noc: unknown option '%s' (try --help)\n", opt);
		return false;
	}
	return true;
}

/* 0 ok, 1 after printing help, 2 after printing a usage error. */
static int parse_args(int argc, char **argv, struct noc_opts *o)
{
	*o = (struct noc_opts){ .k = 4, .l = 4, .flavour = RTL_MESH_FAST, .step = 0.05, .len = 64,
				.warmup = 2000, .sample = 2000, .samples = 3, .seed = 1 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq = strchr(a, '=');
		char opt[32];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		}
		if (!strcmp(a, "--json") || !strcmp(a, "--sweep")) {
			*(a[2] == 'j' ? &o->json : &o->sweep) = true;
			continue;
		}
		if (eq && (size_t)(eq - a) < sizeof(opt)) {
			snprintf(opt, sizeof(opt), "%.*s", (int)(eq - a), a);
			if (!set_opt(o, opt, eq + 1))
				return 2;
			continue;
		}
		if (strncmp(a, "--", 2) || i + 1 >= argc) {
			fprintf(stderr, "loom noc: %s '%s' (try --help)\n",
				strncmp(a, "--", 2) ? "unexpected argument" : "missing value for", a);
			return 2;
		}
		if (!set_opt(o, a, argv[++i]))
			return 2;
	}
	if (!o->sweep == !(o->rate > 0)) {
		fprintf(stderr, "loom noc: give exactly one of --rate R and --sweep (try --help)\n");
		return 2;
	}
	if (o->pattern == RTL_MESH_TRANSPOSE && o->k != o->l) {
		fprintf(stderr, "loom noc: --pattern transpose needs a square mesh, not %ldx%ld\n", o->k, o->l);
		return 2;
	}
	return 0;
}

/* ---- one measurement ------------------------------------------------------ */

struct noc_run {
	struct rtl_mesh *m;
	const struct noc_opts *o;
	struct loom_rng rng;
	int n;
	uint64_t seq;			/* messages generated, all nodes */
	uint64_t tag_lo, tag_hi;	/* creation cycles measured: [lo, hi) */
	uint8_t *payload;
};

/* Bernoulli arrivals for one cycle at every node; the creation cycle is the
 * API's inject_cycle. */
static int noc_generate(struct noc_run *r, double p_msg)
{
	for (int s = 0; s < r->n; s++) {
		if (loom_rng_uniform(&r->rng) >= p_msg)
			continue;
		int d = rtl_mesh_pattern_dst(r->o->pattern, (int)r->o->k, (int)r->o->l, s, r->seq,
					     loom_rng_u64(&r->rng));
		if (d < 0)
			return d;
		int rc = rtl_mesh_inject(r->m, s, d, (uint16_t)r->seq++, r->payload, (size_t)r->o->len);
		if (rc)
			return rc;
	}
	return 0;
}

/* Count deliveries: tagged latencies and flits accepted inside [lo, hi). */
static void noc_collect(struct noc_run *r, struct noc_point *pt, double *lat_sum, double *net_sum,
			uint64_t *flits)
{
	struct rtl_mesh_msg msg;
	uint64_t f = 1 + ((uint64_t)r->o->len + 7) / 8;
	for (int i = 0; i < r->n; i++)
		while (rtl_mesh_poll(r->m, i, &msg) == 1) {
			if (msg.deliver_cycle >= r->tag_lo && msg.deliver_cycle < r->tag_hi)
				*flits += f;
			if (msg.inject_cycle < r->tag_lo || msg.inject_cycle >= r->tag_hi)
				continue;
			double lat = (double)(msg.deliver_cycle - msg.inject_cycle);
			*lat_sum += lat;
			*net_sum += (double)(msg.deliver_cycle - msg.accept_cycle);
			pt->lat_max = fmax(pt->lat_max, lat);
			pt->messages++;
		}
}

static int noc_measure(struct noc_run *r, double rate, struct noc_point *pt)
{
	const struct noc_opts *o = r->o;
	struct rtl_mesh_info info;
	rtl_mesh_get_info(r->m, &info);
	double flits = 1.0 + (double)((o->len + info.flit_bits / 8 - 1) / (info.flit_bits / 8));
	double p_msg = rate / flits, lat_sum = 0, net_sum = 0;
	uint64_t acc_flits = 0, tagged = 0;
	int rc = rtl_mesh_reset(r->m);
	*pt = (struct noc_point){ .offered = rate };
	r->tag_lo = (uint64_t)o->warmup;
	r->tag_hi = r->tag_lo + (uint64_t)(o->sample * o->samples);
	uint64_t limit = r->tag_hi + 10 * (uint64_t)(o->sample * o->samples);
	while (!rc && rtl_mesh_cycles(r->m) < limit) {
		uint64_t c = rtl_mesh_cycles(r->m);
		if (c >= r->tag_lo && c < r->tag_hi)
			tagged -= r->seq;
		rc = noc_generate(r, p_msg);
		if (c >= r->tag_lo && c < r->tag_hi)
			tagged += r->seq;
		if (!rc)
			rc = rtl_mesh_step(r->m, 1);
		noc_collect(r, pt, &lat_sum, &net_sum, &acc_flits);
		if (c >= r->tag_hi && pt->messages == tagged)
			break;
	}
	if (rc == -EAGAIN)
		rc = 0;		/* source queue overflow: past saturation */
	if (rc)
		return rc;
	pt->accepted = (double)acc_flits / ((double)(r->tag_hi - r->tag_lo) * r->n);
	pt->stable = pt->messages == tagged && tagged > 0 && pt->accepted >= 0.95 * rate;
	pt->lat_avg = pt->messages ? lat_sum / (double)pt->messages : NAN;
	pt->net_avg = pt->messages ? net_sum / (double)pt->messages : NAN;
	return 0;
}

/* ---- output ----------------------------------------------------------------- */

static void print_table(const struct noc_opts *o, const struct noc_point *pts, int n, int sat, double bound)
{
	printf("mesh %ldx%ld, %s traffic, %s routing, %ld-byte messages, %s model\n", o->k, o->l,
	       rtl_mesh_pattern_name(o->pattern), o->routing == RTL_MESH_XY ? "xy" : "west-first", o->len,
	       o->flavour == RTL_MESH_FAST ? "fast" : "checked");
	printf("%10s %10s %12s %12s %12s %10s %s\n", "offered", "accepted", "latency avg", "latency max",
	       "network avg", "messages", "");
	for (int i = 0; i < n; i++)
		printf("%10.3f %10.3f %12.1f %12.0f %12.1f %10llu %s\n", pts[i].offered, pts[i].accepted,
		       pts[i].lat_avg, pts[i].lat_max, pts[i].net_avg, (unsigned long long)pts[i].messages,
		       pts[i].stable ? "" : "unstable");
	printf("(flits per node per cycle; latency in cycles from message creation)\n");
	if (sat >= 0)
		printf("saturation: %.3f flits/node/cycle offered, %.3f accepted = %.2f of the bisection bound 4b/%ld = %.3f\n",
		       pts[sat].offered, pts[sat].accepted, pts[sat].accepted / bound,
		       o->k > o->l ? o->k : o->l, bound);
	else if (o->sweep)
		printf("saturation: below the first rate measured\n");
}

static void print_json(const struct noc_opts *o, const struct noc_point *pts, int n, int sat, double bound)
{
	printf("{\"mesh\": \"%ldx%ld\", \"pattern\": ", o->k, o->l);
	cli_json_str(stdout, rtl_mesh_pattern_name(o->pattern));
	printf(", \"routing\": \"%s\", \"len_bytes\": %ld, \"flavour\": \"%s\", \"bound\": ",
	       o->routing == RTL_MESH_XY ? "xy" : "west-first", o->len,
	       o->flavour == RTL_MESH_FAST ? "fast" : "checked");
	cli_json_num(stdout, bound);
	printf(", \"points\": [");
	for (int i = 0; i < n; i++) {
		printf("%s{\"offered\": ", i ? ", " : "");
		cli_json_num(stdout, pts[i].offered);
		printf(", \"accepted\": ");
		cli_json_num(stdout, pts[i].accepted);
		printf(", \"latency_avg\": ");
		cli_json_num(stdout, pts[i].lat_avg);
		printf(", \"latency_max\": ");
		cli_json_num(stdout, pts[i].lat_max);
		printf(", \"network_latency_avg\": ");
		cli_json_num(stdout, pts[i].net_avg);
		printf(", \"messages\": %llu, \"stable\": %s}", (unsigned long long)pts[i].messages,
		       pts[i].stable ? "true" : "false");
	}
	printf("], \"saturation\": ");
	if (sat >= 0) {
		printf("{\"offered\": ");
		cli_json_num(stdout, pts[sat].offered);
		printf(", \"accepted\": ");
		cli_json_num(stdout, pts[sat].accepted);
		printf(", \"fraction_of_bound\": ");
		cli_json_num(stdout, pts[sat].accepted / bound);
		printf("}");
	} else {
		printf("null");
	}
	printf("}\n");
}

/* gnuplot draws the stable points; the data goes through a temporary file. */
static int plot_svg(const struct noc_opts *o, const struct noc_point *pts, int n)
{
	char data[] = "/tmp/loom_noc_XXXXXX";
	int fd = mkstemp(data);
	if (fd < 0)
		return loom_err_set(errno, "noc: temporary file: %s", strerror(errno));
	FILE *f = fdopen(fd, "w");
	for (int i = 0; f && i < n; i++)
		if (pts[i].stable)
			fprintf(f, "%g %g %g\n", pts[i].offered, pts[i].lat_avg, pts[i].net_avg);
	if (f)
		fclose(f);
	FILE *g = popen("gnuplot", "w");
	if (!g) {
		unlink(data);
		return loom_err_set(ENOENT, "noc: cannot run gnuplot");
	}
	fprintf(g, "set terminal svg size 800,500\nset output '%s'\n"
		   "set title 'mesh %ldx%ld, %s, %s routing'\nset xlabel 'offered load (flits/node/cycle)'\n"
		   "set ylabel 'latency (cycles)'\nset key top left\nset grid\n"
		   "plot '%s' using 1:2 with linespoints title 'message latency', "
		   "'%s' using 1:3 with linespoints title 'network latency'\n",
		o->plot, o->k, o->l, rtl_mesh_pattern_name(o->pattern), o->routing == RTL_MESH_XY ? "xy" : "west-first",
		data, data);
	int st = pclose(g);
	unlink(data);
	if (st != 0)
		return loom_err_set(EIO, "noc: gnuplot failed (status %d) writing %s", st, o->plot);
	return 0;
}

/* ---- main ---------------------------------------------------------------------- */

static int noc_points(struct noc_run *r, struct noc_point *pts, int *npts, int *sat)
{
	const struct noc_opts *o = r->o;
	*npts = 0;
	*sat = -1;
	for (double rate = o->sweep ? o->step : o->rate; rate <= 1.0 + 1e-9 && *npts < NOC_MAX_POINTS;
	     rate += o->step) {
		struct noc_point *pt = &pts[(*npts)++];
		int rc = noc_measure(r, rate, pt);
		if (rc)
			return rc;
		if (!o->sweep)
			break;
		if (!pt->stable || pt->lat_avg > 3 * pts[0].lat_avg)
			break;
		*sat = *npts - 1;
	}
	return 0;
}

static int noc_main(int argc, char **argv)
{
	struct noc_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc == 1 ? 0 : 2;
	struct rtl_mesh_params mp = { .k = (int)o.k, .l = (int)o.l, .flavour = o.flavour,
				      .routing = o.routing, .max_queued = 1u << 20 };
	struct noc_run r = { .o = &o, .m = rtl_mesh_create(&mp) };
	if (!r.m) {
		fprintf(stderr, "loom noc: %s\n", loom_err_msg());
		return 1;
	}
	r.n = (int)(o.k * o.l);
	r.payload = calloc(1, (size_t)o.len);
	loom_rng_init(&r.rng, o.seed);
	struct noc_point pts[NOC_MAX_POINTS];
	int npts = 0, sat = -1;
	rc = r.payload ? noc_points(&r, pts, &npts, &sat) : -ENOMEM;
	double bound = 4.0 / (double)(o.k > o.l ? o.k : o.l);
	if (!rc && o.json)
		print_json(&o, pts, npts, sat, bound);
	else if (!rc)
		print_table(&o, pts, npts, sat, bound);
	if (!rc && o.plot)
		rc = plot_svg(&o, pts, npts);
	if (rc)
		fprintf(stderr, "loom noc: %s\n", loom_err_msg());
	free(r.payload);
	rtl_mesh_destroy(r.m);
	return rc ? 1 : 0;
}

const struct loom_cmd loom_cmd_noc = {
	.name = "noc",
	.summary = "latency vs offered load of the mesh RTL (Verilator), BookSim-style",
	.main = noc_main,
};
