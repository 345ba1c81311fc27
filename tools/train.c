/*
 * train.c - `loom train`: train the live workload (workloads/train.c).
 *
 * Launch: with --ranks N > 1 and no job around it, `loom train` is the
 * launcher: it forks N rank processes on this machine that meet through
 * the TCP bootstrap (rank 0 listens on a free port) and talk only through
 * the chosen transport provider; it waits for them, and when a rank dies it
 * reports which and how, gives the others a grace period to fail on their
 * own (they detect the dead peer) and then kills what is left. Started by
 * `mpirun` (or with LOOM_WORLD_SIZE set, tcp bootstrap), each process is one
 * rank of that job and --ranks is ignored.
 *
 * --device cuda: each rank opens its GPU (rank modulo the GPU count) after
 * the fork and hands it to the model (nn_device.h); a rank without a usable
 * GPU fails (exit 1, the CUDA error named), never falls back to the CPU.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "loom/bootstrap.h"
#include "loom/err.h"
#include "loom/nn_device.h"
#include "loom/train.h"

#define GRACE_S 15 /* after a rank dies, how long the others get to notice */

static void usage(FILE *f)
{
	struct train_opts d = train_opts_default();
	struct model_config m = d.model;
	fprintf(f,
		"usage: loom train [OPTIONS]\n\n"
		"Train the live workload: a small DeepSeek-V3-style MoE language model on\n"
		"tiny Shakespeare (bytes), experts sharded over ranks (expert parallelism),\n"
		"dense weights replicated (data parallelism), all traffic through Loom's\n"
		"transport. Results are bit-identical for any rank count and provider.\n\n"
		"launch:\n"
		"  --ranks N            rank processes on this machine (default 1); under\n"
		"                       mpirun each process is one rank instead\n"
		"  --ranks-per-node R   ranks per (modelled) node (default: all on one)\n"
		"  --two-hop            node-limited two-hop dispatch/combine (default when\n"
		"                       R < N); --one-hop to turn it off\n"
		"  --provider P         transport: shm (default), udp, ibverbs\n"
		"  --fabric NAME        timing model charged per step (default h800)\n"
		"  --combine-logfmt N   combine in LogFMT-N (8..16) instead of BF16\n"
		"training:\n"
		"  --precision P        fp32 | bf16 | fp8 (default fp8: [T]'s recipe)\n"
		"  --device D           cpu (default) | cuda: the FP8 GEMMs (Fprop, Dgrad,\n"
		"                       Wgrad), the 1x128 activation quantization and the\n"
		"                       routers' top-k on a Hopper GPU (sm_90a; operands\n"
		"                       copied per call), the rest on the CPU; GEMM outputs\n"
		"                       are BF16, so losses match cpu closely, not bit for\n"
		"                       bit. No usable GPU: exit 1 naming the CUDA error\n"
		"  --steps N            optimizer steps (default %d)\n"
		"  --batch B            sequences per step, global (default %d)\n"
		"  --chunks C           gradient chunks (default %d); N must divide C\n"
		"  --lr X               peak learning rate (default %g), --warmup N (%d)\n"
		"  --seed N             initialization and data order (default %llu)\n"
		"  --eval-every N       validation every N steps (default %d; 0 = at the end)\n"
		"  --eval-windows N     validation windows of seq-len bytes (default %d)\n"
		"  --ckpt-dir DIR       checkpoints there; --ckpt-every N steps\n"
		"  --resume             continue from DIR's latest checkpoint (bit-identical)\n"
		"  --data FILE          corpus (default ../shared/data/tinyshakespeare.txt\n"
		"                       beside the checkout, or $LOOM_DATA); size and hash checked\n"
		"model:\n"
		"  --d-model N (%d) --layers N (%d) --heads N (%d) --seq-len N (%d)\n"
		"  --dense-layers N (%d) --dense-hidden N (%d)\n"
		"  --experts N (%d) --expert-hidden N (%d) --shared-hidden N (%d)\n"
		"  --top-k N (%d) --groups N (%d) --topk-groups N (%d)\n"
		"output:\n"
		"  --metrics FILE       JSON lines, one per step (append)\n"
		"  --progress bar|plain progress display (default: bar on a terminal)\n"
		"  --quiet              no progress\n"
		"  --json               end with one JSON object (steps, train_loss, val_loss,\n"
		"                       tokens_per_s, ranks, precision, device, provider,\n"
		"                       comm_us_per_step, ...)\n"
		"testing:\n"
		"  --stop-after N       stop after N steps of this run (checkpoint first)\n"
		"  --kill-rank R:S      rank R kills itself (SIGKILL) after step S\n",
		d.steps, d.batch, d.chunks, d.lr, d.warmup, (unsigned long long)d.seed,
		d.eval_every, d.eval_windows, m.d_model, m.n_layers, m.n_heads, m.seq_len,
		m.dense_layers, m.dense_hidden, m.n_experts, m.expert_hidden, m.shared_hidden,
		m.top_k, m.n_groups, m.topk_groups);
}

enum {
	O_RANKS = 256, O_RPN, O_TWOHOP, O_ONEHOP, O_PROVIDER, O_FABRIC, O_PREC, O_STEPS,
	O_BATCH, O_CHUNKS, O_LR, O_WARMUP, O_SEED, O_EVAL, O_EVALW, O_CKDIR, O_CKEVERY,
	O_RESUME, O_DATA, O_DM, O_LAYERS, O_HEADS, O_SEQ, O_DL, O_DH, O_EXP, O_EH, O_SH,
	O_TOPK, O_GROUPS, O_TG, O_LOGFMT, O_METRICS, O_PROGRESS, O_QUIET, O_JSON, O_STOP, O_KILL,
	O_DEVICE, O_HELP,
};

static const struct option longopts[] = {
	{ "ranks", 1, 0, O_RANKS }, { "ranks-per-node", 1, 0, O_RPN },
	{ "two-hop", 0, 0, O_TWOHOP }, { "one-hop", 0, 0, O_ONEHOP },
	{ "provider", 1, 0, O_PROVIDER }, { "fabric", 1, 0, O_FABRIC },
	{ "precision", 1, 0, O_PREC }, { "steps", 1, 0, O_STEPS }, { "batch", 1, 0, O_BATCH },
	{ "chunks", 1, 0, O_CHUNKS }, { "lr", 1, 0, O_LR }, { "warmup", 1, 0, O_WARMUP },
	{ "seed", 1, 0, O_SEED }, { "eval-every", 1, 0, O_EVAL },
	{ "eval-windows", 1, 0, O_EVALW }, { "ckpt-dir", 1, 0, O_CKDIR },
	{ "ckpt-every", 1, 0, O_CKEVERY }, { "resume", 0, 0, O_RESUME }, { "data", 1, 0, O_DATA },
	{ "d-model", 1, 0, O_DM }, { "layers", 1, 0, O_LAYERS }, { "heads", 1, 0, O_HEADS },
	{ "seq-len", 1, 0, O_SEQ }, { "dense-layers", 1, 0, O_DL },
	{ "dense-hidden", 1, 0, O_DH }, { "experts", 1, 0, O_EXP },
	{ "expert-hidden", 1, 0, O_EH }, { "shared-hidden", 1, 0, O_SH },
	{ "combine-logfmt", 1, 0, O_LOGFMT }, { "top-k", 1, 0, O_TOPK }, { "groups", 1, 0, O_GROUPS }, { "topk-groups", 1, 0, O_TG },
	{ "metrics", 1, 0, O_METRICS }, { "progress", 1, 0, O_PROGRESS },
	{ "quiet", 0, 0, O_QUIET }, { "json", 0, 0, O_JSON }, { "stop-after", 1, 0, O_STOP },
	{ "kill-rank", 1, 0, O_KILL }, { "device", 1, 0, O_DEVICE }, { "help", 0, 0, O_HELP },
	{ 0, 0, 0, 0 },
};

struct cli {
	struct train_opts o;
	int ranks, json, hop_set;
	int cuda; /* --device cuda */
};

/* --device: cpu or cuda; cuda in a build without CUDA is a usage error. */
static bool device_opt(struct cli *c, const char *v)
{
	if (!strcmp(v, "cpu")) {
		c->cuda = 0;
		return true;
	}
	if (strcmp(v, "cuda")) {
		fprintf(stderr, "loom train: --device: '%s' is not cpu or cuda\n", v);
		return false;
	}
	if (!nn_cuda_built()) {
		fprintf(stderr, "loom train: --device cuda: this loom was built without CUDA (nvcc "
				"not found at build time, or NO_CUDA=1); use --device cpu\n");
		return false;
	}
	c->cuda = 1;
	return true;
}

static bool int_opt(const char *opt, const char *v, long min, long max, int *out)
{
	long l;
	if (!cli_long("train", opt, v, min, max, &l))
		return false;
	*out = (int)l;
	return true;
}

static bool set_opt(struct cli *c, int id, const char *name, const char *v)
{
	struct train_opts *o = &c->o;
	struct model_config *m = &o->model;
	double x;
	long l;
	switch (id) {
	case O_RANKS: return int_opt(name, v, 1, 256, &c->ranks);
	case O_RPN: return int_opt(name, v, 1, 256, &o->ranks_per_node);
	case O_TWOHOP: o->two_hop = 1, c->hop_set = 1; return true;
	case O_ONEHOP: o->two_hop = 0, c->hop_set = 1; return true;
	case O_PROVIDER: o->provider = v; return true;
	case O_FABRIC: o->fabric = v; return true;
	case O_PREC:
		if (nn_precision_parse(v, &m->precision)) {
			fprintf(stderr, "loom train: --precision: '%s' is not fp32, bf16 or fp8\n", v);
			return false;
		}
		return true;
	case O_STEPS: return int_opt(name, v, 1, 100000000, &o->steps);
	case O_BATCH: return int_opt(name, v, 1, 65536, &o->batch);
	case O_CHUNKS: return int_opt(name, v, 1, 256, &o->chunks);
	case O_LR:
		if (!cli_double("train", name, v, 1e-9, 10, &x))
			return false;
		o->lr = x;
		return true;
	case O_WARMUP: return int_opt(name, v, 0, 100000000, &o->warmup);
	case O_SEED:
		if (!cli_long("train", name, v, 0, LONG_MAX, &l))
			return false;
		o->seed = (uint64_t)l;
		return true;
	case O_EVAL: return int_opt(name, v, 0, 100000000, &o->eval_every);
	case O_EVALW: return int_opt(name, v, 1, 100000, &o->eval_windows);
	case O_CKDIR: o->ckpt_dir = v; return true;
	case O_CKEVERY: return int_opt(name, v, 0, 100000000, &o->ckpt_every);
	case O_RESUME: o->resume = 1; return true;
	case O_DATA: o->data_path = v; return true;
	case O_DM: return int_opt(name, v, 2, 8192, &m->d_model);
	case O_LAYERS: return int_opt(name, v, 1, 256, &m->n_layers);
	case O_HEADS: return int_opt(name, v, 1, 256, &m->n_heads);
	case O_SEQ: return int_opt(name, v, 2, 65536, &m->seq_len);
	case O_DL: return int_opt(name, v, 0, 256, &m->dense_layers);
	case O_DH: return int_opt(name, v, 1, 65536, &m->dense_hidden);
	case O_EXP: return int_opt(name, v, 1, 4096, &m->n_experts);
	case O_EH: return int_opt(name, v, 1, 65536, &m->expert_hidden);
	case O_SH: return int_opt(name, v, 1, 65536, &m->shared_hidden);
	case O_TOPK: return int_opt(name, v, 1, 4096, &m->top_k);
	case O_GROUPS: return int_opt(name, v, 1, 4096, &m->n_groups);
	case O_TG: return int_opt(name, v, 1, 4096, &m->topk_groups);
	case O_LOGFMT: return int_opt(name, v, 8, 16, &o->combine_logfmt);
	case O_METRICS: o->metrics_path = v; return true;
	case O_PROGRESS:
		if (strcmp(v, "bar") && strcmp(v, "plain")) {
			fprintf(stderr, "loom train: --progress: '%s' is not bar or plain\n", v);
			return false;
		}
		o->progress_tty = !strcmp(v, "bar");
		return true;
	case O_QUIET: o->quiet = 1; return true;
	case O_JSON: c->json = 1; return true;
	case O_STOP: return int_opt(name, v, 1, 100000000, &o->stop_after);
	case O_DEVICE: return device_opt(c, v);
	case O_KILL:
		if (sscanf(v, "%d:%d", &o->kill_rank, &o->kill_step) != 2 || o->kill_rank < 0 ||
		    o->kill_step < 1) {
			fprintf(stderr, "loom train: --kill-rank: want RANK:STEP, got '%s'\n", v);
			return false;
		}
		return true;
	}
	return false;
}

/* 0 ok, 1 --help printed, 2 usage error. */
static int parse(int argc, char **argv, struct cli *c)
{
	*c = (struct cli){ .o = train_opts_default(), .ranks = 1 }; /* every flag off */
	optind = 1;
	opterr = 0;
	int id, idx = -1;
	while ((id = getopt_long(argc, argv, "", longopts, &idx)) != -1) {
		if (id == O_HELP) {
			usage(stdout);
			return 1;
		}
		if (id == '?') {
			fprintf(stderr, "loom train: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return 2;
		}
		const char *name = "option";
		for (const struct option *p = longopts; p->name; p++)
			if (p->val == id)
				name = p->name;
		char opt[64];
		snprintf(opt, sizeof(opt), "--%s", name);
		if (!set_opt(c, id, opt, optarg))
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "loom train: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	return 0;
}

static void print_json(const struct cli *c, int ranks, const struct train_result *r)
{
	FILE *f = stdout;
	fprintf(f, "{\"steps\":%d,\"train_loss\":", r->steps);
	cli_json_num(f, r->train_loss);
	fprintf(f, ",\"val_loss\":");
	cli_json_num(f, r->val_loss);
	fprintf(f, ",\"tokens_per_s\":");
	cli_json_num(f, r->tokens_per_s);
	fprintf(f, ",\"ranks\":%d,\"ranks_per_node\":%d,\"two_hop\":%s,\"precision\":", ranks,
		c->o.ranks_per_node ? c->o.ranks_per_node : ranks, c->o.two_hop ? "true" : "false");
	cli_json_str(f, nn_precision_name(c->o.model.precision));
	fprintf(f, ",\"device\":");
	cli_json_str(f, c->cuda ? "cuda" : "cpu");
	fprintf(f, ",\"provider\":");
	cli_json_str(f, ranks > 1 ? c->o.provider : "local");
	fprintf(f, ",\"fabric\":");
	cli_json_str(f, c->o.fabric);
	fprintf(f, ",\"comm_us_per_step\":");
	cli_json_num(f, r->comm_us_per_step);
	fprintf(f, ",\"comm_wall_us_per_step\":");
	cli_json_num(f, r->comm_wall_us_per_step);
	fprintf(f, ",\"gemm_ms_per_step\":");
	cli_json_num(f, r->gemm_us_per_step / 1e3);
	fprintf(f, ",\"ep_ms_per_step\":");
	cli_json_num(f, r->ep_us_per_step / 1e3);
	fprintf(f, ",\"reduce_ms_per_step\":");
	cli_json_num(f, r->reduce_us_per_step / 1e3);
	fprintf(f, ",\"wait_ms_per_step\":");
	cli_json_num(f, r->wait_us_per_step / 1e3);
	fprintf(f, ",\"step_ms\":");
	cli_json_num(f, r->step_ms);
	fprintf(f, ",\"wall_s\":");
	cli_json_num(f, r->wall_s);
	fprintf(f, ",\"gemm_gflops\":");
	cli_json_num(f, r->gemm_gflops);
	fprintf(f, ",\"param_digest\":\"%016llx\"}\n", (unsigned long long)r->param_digest);
}

/* A rank that cannot go on: say why, tell the others, exit status 1. */
static int rank_fail(struct boot *boot, int rank, const char *what)
{
	fprintf(stderr, "loom train: rank %d: %s%s\n", rank, what, loom_err_msg());
	boot_abort(boot, loom_err_msg());
	boot_finalize(boot);
	return 1;
}

/* This process is one rank of the job boot describes. */
static int run_rank(struct cli *c, struct boot *boot)
{
	int rank = boot_rank(boot), P = boot_world_size(boot);
	struct train_result r;
	if (!c->hop_set)
		c->o.two_hop = c->o.ranks_per_node > 0 && c->o.ranks_per_node < P;
	if (rank != 0)
		c->o.quiet = 1, c->o.metrics_path = NULL;
	if (c->cuda && !(c->o.device = nn_cuda_device_create(rank)))
		return rank_fail(boot, rank, "--device cuda: ");
	if (c->o.device && !c->o.quiet)
		fprintf(stderr, "loom train: device %s: FP8 GEMMs, activation quantization and "
				"routing there, the rest on the CPU\n", c->o.device->desc);
	int rc = train_run(boot, &c->o, &r);
	nn_device_destroy(c->o.device);
	c->o.device = NULL;
	if (rc)
		return rank_fail(boot, rank, "");
	if (rank == 0) {
		train_print_summary(stdout, &c->o, P, &r);
		if (c->json)
			print_json(c, P, &r);
		fflush(stdout);
	}
	return boot_finalize(boot) ? 1 : 0;
}

static int spawn(struct cli *c, int rank, int port, int port_fd, pid_t *pid)
{
	fflush(NULL);
	*pid = fork();
	if (*pid < 0) {
		fprintf(stderr, "loom train: fork: %s\n", strerror(errno));
		return -1;
	}
	if (*pid)
		return 0;
	struct boot_config bc = { .rank = rank, .world_size = c->ranks,
				  .master_addr = "127.0.0.1", .master_port = port };
	struct boot *b = boot_init_tcp(&bc);
	if (rank == 0) {
		int p = b ? boot_master_port(b) : -1;
		if (write(port_fd, &p, sizeof(p)) != sizeof(p))
			_exit(1);
		close(port_fd);
	}
	if (!b) {
		fprintf(stderr, "loom train: rank %d: %s\n", rank, loom_err_msg());
		_exit(1);
	}
	_exit(run_rank(c, b));
}

static const char *describe(int st, char *buf, size_t len)
{
	if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	return buf;
}

/* Fork the ranks, wait for all; 0 if every rank succeeded. */
static int launch(struct cli *c)
{
	int N = c->ranks, fds[2];
	pid_t pids[256];
	int status[256], alive = N, failed = 0;
	if (pipe(fds)) {
		fprintf(stderr, "loom train: pipe: %s\n", strerror(errno));
		return 1;
	}
	if (spawn(c, 0, 0, fds[1], &pids[0]))
		return 1;
	close(fds[1]);
	int port = -1;
	if (read(fds[0], &port, sizeof(port)) != sizeof(port) || port <= 0) {
		close(fds[0]);
		waitpid(pids[0], NULL, 0);
		fprintf(stderr, "loom train: rank 0 could not start the bootstrap\n");
		return 1;
	}
	close(fds[0]);
	for (int r = 1; r < N; r++)
		if (spawn(c, r, port, -1, &pids[r])) {
			for (int q = 0; q < r; q++)
				kill(pids[q], SIGKILL);
			return 1;
		}
	for (int r = 0; r < N; r++)
		status[r] = -1;
	time_t deadline = 0;
	while (alive) {
		int st;
		pid_t p = waitpid(-1, &st, deadline ? WNOHANG : 0);
		if (p < 0 && errno == EINTR)
			continue;
		if (p == 0) {
			if (time(NULL) > deadline) {
				for (int r = 0; r < N; r++)
					if (status[r] == -1) {
						fprintf(stderr, "loom train: rank %d still running %d s "
								"after a failure: killing it\n", r, GRACE_S);
						kill(pids[r], SIGKILL);
					}
				deadline = time(NULL) + 3600; /* reap */
			}
			struct timespec ts = { 0, 50 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			continue;
		}
		if (p < 0)
			break;
		for (int r = 0; r < N; r++)
			if (pids[r] == p) {
				status[r] = st;
				alive--;
				if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
					char b[96];
					fprintf(stderr, "loom train: rank %d %s\n", r,
						describe(st, b, sizeof(b)));
					if (!failed++)
						deadline = time(NULL) + GRACE_S;
				}
			}
	}
	return failed ? 1 : 0;
}

static int train_main(int argc, char **argv)
{
	struct cli c;
	int rc = parse(argc, argv, &c);
	if (rc)
		return rc == 1 ? 0 : 2;
	const char *ws = getenv("LOOM_WORLD_SIZE");
	if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || ws) {
		struct boot *b = boot_init_env();
		if (!b) {
			fprintf(stderr, "loom train: %s\n", loom_err_msg());
			return 1;
		}
		return run_rank(&c, b);
	}
	if (c.ranks == 1) {
		struct boot *b = boot_init_local();
		if (!b) {
			fprintf(stderr, "loom train: %s\n", loom_err_msg());
			return 1;
		}
		return run_rank(&c, b);
	}
	return launch(&c);
}

const struct loom_cmd loom_cmd_train = {
	.name = "train",
	.summary = "train the live MoE workload across ranks (expert + data parallel)",
	.main = train_main,
};
