/*
 * train.c - the training loop of the live workload (train.h): data,
 * optimizer, schedule, validation, checkpoints, metrics and the modelled
 * communication time, around the model of model.c.
 *
 * Not here: process launch (tools/train.c), layer arithmetic (nn.c),
 * collectives (runtime/comm, runtime/ep).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loom/bootstrap.h"
#include "loom/ckpt.h"
#include "loom/comm.h"
#include "loom/data.h"
#include "loom/ep.h"
#include "loom/err.h"
#include "loom/fabric.h"
#include "loom/model.h"
#include "loom/moe.h"
#include "loom/progress.h"
#include "loom/train.h"

struct train_opts train_opts_default(void)
{
	return (struct train_opts){
		.model = model_config_default(),
		.steps = 600,
		.batch = 16,
		.chunks = 4,
		.lr = 3e-3,
		.min_lr_frac = 0.1,
		.weight_decay = 0.1,
		.beta1 = 0.9,
		.beta2 = 0.95,
		.adam_eps = 1e-8,
		.clip = 1.0,
		.warmup = 30,
		.eval_every = 100,
		.eval_windows = 128,
		.ckpt_every = 0,
		.seed = 1,
		.provider = "shm",
		.fabric = "h800",
		.progress_tty = -1,
	};
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Everything one rank holds while training. */
struct trainer {
	const struct train_opts *o;
	struct comm *comm;
	struct ep *ep;
	struct model *m;
	struct model_step *step, *eval;
	struct data_set ds;
	struct fabric *fab;
	int rank, P, C, cl;	   /* rank, world, chunks, chunks per rank */
	float *gd, *ge;		   /* gradients: dense, expert */
	float *md, *vd, *me, *ve;  /* AdamW moments */
	int64_t *load;		   /* (n_layers, E) */
	int32_t *tok, *tgt;
	int done;		   /* steps completed */
	double comm_model_us;	   /* summed over this run's steps */
	double comm_wall_us, gemm_us, gemm_flops, ep_us, reduce_us;
	double *step_ms;
	int nsteps_run;
};

static double lr_at(const struct train_opts *o, int step)
{
	if (step < o->warmup)
		return o->lr * (step + 1) / o->warmup;
	double t = o->steps > o->warmup ? (double)(step - o->warmup) / (o->steps - o->warmup) : 1;
	if (t > 1)
		t = 1;
	double lo = o->lr * o->min_lr_frac;
	return lo + 0.5 * (o->lr - lo) * (1 + cos(M_PI * t));
}

static void adamw(float *w, const float *g, float *mo, float *vo, size_t n, double lr,
		  double wd, const struct train_opts *o, int t, float gscale)
{
	double b1 = o->beta1, b2 = o->beta2;
	double c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t);
	float lrf = (float)lr, wdf = (float)(lr * wd);
	float fb1 = (float)b1, fb2 = (float)b2, eps = (float)o->adam_eps;
	float ic1 = (float)(1 / c1), ic2 = (float)(1 / c2);
	for (size_t i = 0; i < n; i++) {
		float gi = g[i] * gscale;
		mo[i] = fb1 * mo[i] + (1 - fb1) * gi;
		vo[i] = fb2 * vo[i] + (1 - fb2) * gi * gi;
		float mh = mo[i] * ic1, vh = vo[i] * ic2;
		w[i] -= lrf * mh / (sqrtf(vh) + eps) + wdf * w[i];
	}
}

static void optimizer_step(struct trainer *tr, double lr, float gscale)
{
	struct model *m = tr->m;
	int t = tr->done + 1;
	for (int i = 0; i < m->n_tensors; i++) {
		struct model_tensor *ts = &m->tensors[i];
		double wd = ts->decay ? tr->o->weight_decay : 0;
		if (ts->expert)
			adamw(m->expert + ts->offset, tr->ge + ts->offset, tr->me + ts->offset,
			      tr->ve + ts->offset, ts->count, lr, wd, tr->o, t, gscale);
		else
			adamw(m->dense + ts->offset, tr->gd + ts->offset, tr->md + ts->offset,
			      tr->vd + ts->offset, ts->count, lr, wd, tr->o, t, gscale);
	}
}

/* Where (MoE layer l, global expert e) starts in an all-gather of every
 * rank's per-rank block of per_rank elements, each rank holding its
 * n_local_experts experts of every layer, unit elements per expert. */
static size_t gathered_expert_at(const struct model *m, int l, int e, size_t per_rank,
				 size_t unit)
{
	int nle = m->n_local_experts;

	return (size_t)(e / nle) * per_rank + ((size_t)l * nle + e % nle) * unit;
}

/* Global gradient norm, the same bits on every rank for any P: the dense
 * part is replicated; the expert part is summed per (layer, expert) in
 * global expert order after an all-gather. */
static int grad_norm(struct trainer *tr, double *norm)
{
	struct model *m = tr->m;
	int nle = m->n_local_experts, L = m->cfg.n_layers;
	double dense = 0;
	for (size_t i = 0; i < m->n_dense; i++)
		dense += (double)tr->gd[i] * tr->gd[i];
	int nmoe = L - m->cfg.dense_layers;
	size_t per = (size_t)nmoe * nle;
	double *mine = calloc(per ? per : 1, sizeof(double));
	double *all = calloc(per * tr->P + 1, sizeof(double));
	if (!mine || !all) {
		free(mine), free(all);
		return loom_err_set(ENOMEM, "train: out of memory");
	}
	size_t stride = 3 * (size_t)m->cfg.expert_hidden * m->cfg.d_model;
	for (size_t i = 0; i < per; i++) {
		const float *g = tr->ge + i * stride;
		double s = 0;
		for (size_t k = 0; k < stride; k++)
			s += (double)g[k] * g[k];
		mine[i] = s;
	}
	int rc = comm_allgather(tr->comm, mine, all, per * sizeof(double));
	double ex = 0;
	for (int l = 0; l < nmoe && !rc; l++)
		for (int e = 0; e < m->cfg.n_experts; e++)
			ex += all[gathered_expert_at(m, l, e, per, 1)];
	free(mine), free(all);
	*norm = sqrt(dense + ex);
	return rc;
}

/* Modelled time of this step's collectives on the fabric. */
static int charge_fabric(struct trainer *tr, double *us)
{
	const uint64_t *rows;
	int P = tr->P, n = model_step_traffic(tr->step, &rows);
	int R = tr->o->ranks_per_node > 0 ? tr->o->ranks_per_node : P;
	size_t per = (size_t)n * 2 * P;
	uint64_t *all = malloc((per * P + 1) * sizeof(uint64_t));
	uint64_t *mat = malloc(((size_t)P * P + 1) * sizeof(uint64_t));
	uint64_t *mat2 = malloc(((size_t)P * P + 1) * sizeof(uint64_t));
	int rc = all && mat && mat2 ? 0 : loom_err_set(ENOMEM, "train: out of memory");
	if (!rc && per)
		rc = comm_allgather(tr->comm, rows, all, per * sizeof(uint64_t));
	double t = 0;
	for (int op = 0; op < n && !rc; op++) {
		for (int s = 0; s < P; s++) {
			const uint64_t *r = all + (size_t)s * per + (size_t)op * 2 * P;
			for (int d = 0; d < P; d++) {
				mat[(size_t)s * P + d] = r[d];	   /* intra */
				mat2[(size_t)s * P + d] = r[P + d]; /* inter */
			}
		}
		double a = 0, b = 0;
		if (tr->o->two_hop) {
			a = fabric_alltoall_us(tr->fab, P, R, mat2);
			b = fabric_alltoall_us(tr->fab, P, R, mat);
		} else {
			for (size_t i = 0; i < (size_t)P * P; i++)
				mat[i] += mat2[i];
			a = fabric_alltoall_us(tr->fab, P, R, mat);
		}
		if (a < 0 || b < 0)
			rc = (int)(a < 0 ? a : b); /* the model refused (message set) */
		t += a + b;
	}
	if (!rc && P > 1) {
		double a = fabric_allreduce_us(tr->fab, P, R,
					       (uint64_t)tr->m->n_dense * sizeof(float));
		if (a < 0)
			rc = (int)a;
		t += a;
	}
	free(all), free(mat), free(mat2);
	*us = t;
	return rc;
}

/* Mean loss of C chunk sums (every rank's, all-gathered), summed in chunk
 * order: the same bits for any P. */
static int global_loss(struct trainer *tr, const double *mine, long tokens, double *loss)
{
	double all[256];
	int rc = comm_allgather(tr->comm, mine, all, (size_t)tr->cl * sizeof(double));
	double s = 0;
	for (int c = 0; c < tr->C; c++)
		s += all[c];
	*loss = s / (double)tokens;
	return rc;
}

static int evaluate(struct trainer *tr, double *val)
{
	const struct model_config *mc = &tr->m->cfg;
	int S = mc->seq_len, W = tr->o->eval_windows, per = W / tr->C;
	int first = tr->rank * tr->cl * per, count = tr->cl * per;
	size_t T = (size_t)count * S;
	int32_t *tok = malloc(T * sizeof(int32_t)), *tgt = malloc(T * sizeof(int32_t));
	double cl[256];
	int rc = tok && tgt ? 0 : loom_err_set(ENOMEM, "train: out of memory");
	if (!rc)
		rc = data_val_batch(&tr->ds, S, first, count, tok, tgt);
	if (!rc)
		rc = model_forward(tr->m, tr->eval, tr->ep, tok, tgt, 0, cl);
	if (!rc)
		rc = global_loss(tr, cl, (long)W * S, val);
	free(tok), free(tgt);
	return rc;
}

/* ---- checkpoints ------------------------------------------------------ */

/* What must match to resume (bit-identical continuation). */
struct ckpt_meta {
	struct model_config model;
	int world, batch, chunks;
	uint64_t seed;
	int step;
};

/* Zeroed first: the record is compared with memcmp, padding included. */
static void ckpt_meta_fill(struct ckpt_meta *meta, const struct trainer *tr, int step)
{
	memset(meta, 0, sizeof(*meta));
	meta->model = tr->m->cfg;
	meta->world = tr->P;
	meta->batch = tr->o->batch;
	meta->chunks = tr->C;
	meta->seed = tr->o->seed;
	meta->step = step;
}

static void ckpt_path(char *buf, size_t len, const char *dir, int step, int rank)
{
	snprintf(buf, len, "%s/step%08d.rank%d.ckpt", dir, step, rank);
}

static int save_ckpt(struct trainer *tr)
{
	const struct train_opts *o = tr->o;
	struct model *m = tr->m;
	char path[4096];
	if (tr->rank == 0 && mkdir(o->ckpt_dir, 0777) && errno != EEXIST)
		return loom_err_set(errno, "train: mkdir %s: %s", o->ckpt_dir, strerror(errno));
	int rc = comm_barrier(tr->comm);
	if (rc)
		return rc;
	struct ckpt_meta meta;
	ckpt_meta_fill(&meta, tr, tr->done);
	ckpt_path(path, sizeof(path), o->ckpt_dir, tr->done, tr->rank);
	struct ckpt_writer *w = ckpt_write_begin(path);
	if (!w)
		return -EIO;
	size_t nb = (size_t)m->cfg.n_layers * m->cfg.n_experts * sizeof(float);
	size_t d = m->n_dense * sizeof(float), e = m->n_expert * sizeof(float);
	if ((rc = ckpt_write_blob(w, "meta", &meta, sizeof(meta))) ||
	    (rc = ckpt_write_blob(w, "dense", m->dense, d)) ||
	    (rc = ckpt_write_blob(w, "expert", m->expert, e)) ||
	    (rc = ckpt_write_blob(w, "router_bias", m->router_bias, nb)) ||
	    (rc = ckpt_write_blob(w, "adam_m_dense", tr->md, d)) ||
	    (rc = ckpt_write_blob(w, "adam_v_dense", tr->vd, d)) ||
	    (rc = ckpt_write_blob(w, "adam_m_expert", tr->me, e)) ||
	    (rc = ckpt_write_blob(w, "adam_v_expert", tr->ve, e))) {
		ckpt_write_abort(w);
		return rc;
	}
	if ((rc = ckpt_write_commit(w)))
		return rc;
	if ((rc = comm_barrier(tr->comm)))
		return rc;
	if (tr->rank == 0) {
		/* "latest": the step whose files all exist, written atomically. */
		char tmp[4200], fin[4200];
		snprintf(fin, sizeof(fin), "%s/latest", o->ckpt_dir);
		snprintf(tmp, sizeof(tmp), "%s/latest.tmp.%d", o->ckpt_dir, (int)getpid());
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d %d\n", tr->done, tr->P) < 0 || fflush(f) ||
		    fsync(fileno(f)) || fclose(f) || rename(tmp, fin)) {
			int e2 = errno;
			unlink(tmp);
			return loom_err_set(e2 ? e2 : EIO, "train: writing %s: %s", fin,
					    strerror(e2 ? e2 : EIO));
		}
	}
	return comm_barrier(tr->comm);
}

static int load_ckpt(struct trainer *tr)
{
	const struct train_opts *o = tr->o;
	struct model *m = tr->m;
	char path[4096];
	snprintf(path, sizeof(path), "%s/latest", o->ckpt_dir);
	FILE *f = fopen(path, "r");
	int step = -1, world = -1;
	if (!f)
		return loom_err_set(errno, "train: --resume: cannot open %s: %s", path,
				    strerror(errno));
	int n = fscanf(f, "%d %d", &step, &world);
	fclose(f);
	if (n != 2 || step < 0)
		return loom_err_set(EPROTO, "train: --resume: %s is malformed", path);
	if (world != tr->P)
		return loom_err_set(EINVAL, "train: --resume: checkpoint has %d ranks, this run %d",
				    world, tr->P);
	ckpt_path(path, sizeof(path), o->ckpt_dir, step, tr->rank);
	struct ckpt_reader *r = ckpt_open(path);
	if (!r)
		return -EPROTO;
	struct ckpt_meta meta, want;
	ckpt_meta_fill(&want, tr, step);
	size_t nb = (size_t)m->cfg.n_layers * m->cfg.n_experts * sizeof(float);
	size_t d = m->n_dense * sizeof(float), e = m->n_expert * sizeof(float);
	int rc = ckpt_read_blob(r, "meta", &meta, sizeof(meta));
	if (!rc && memcmp(&meta, &want, sizeof(meta)))
		rc = loom_err_set(EINVAL,
				  "train: --resume: %s was written with a different model, batch, "
				  "chunks, seed or rank count", path);
	if (!rc)
		rc = ckpt_read_blob(r, "dense", m->dense, d);
	if (!rc)
		rc = ckpt_read_blob(r, "expert", m->expert, e);
	if (!rc)
		rc = ckpt_read_blob(r, "router_bias", m->router_bias, nb);
	if (!rc)
		rc = ckpt_read_blob(r, "adam_m_dense", tr->md, d);
	if (!rc)
		rc = ckpt_read_blob(r, "adam_v_dense", tr->vd, d);
	if (!rc)
		rc = ckpt_read_blob(r, "adam_m_expert", tr->me, e);
	if (!rc)
		rc = ckpt_read_blob(r, "adam_v_expert", tr->ve, e);
	ckpt_close(r);
	if (!rc)
		tr->done = step;
	return rc;
}

/* FNV-1a over every parameter's bits in a rank-independent order. */
static int param_digest(struct trainer *tr, uint64_t *out)
{
	struct model *m = tr->m;
	uint64_t h = 1469598103934665603ull;
	const uint8_t *p = (const uint8_t *)m->dense;
	for (size_t i = 0; i < m->n_dense * sizeof(float); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	size_t ne = m->n_expert;
	float *all = malloc((ne * tr->P + 1) * sizeof(float));
	if (!all)
		return loom_err_set(ENOMEM, "train: out of memory");
	int rc = comm_allgather(tr->comm, m->expert, all, ne * sizeof(float));
	size_t stride = 3 * (size_t)m->cfg.expert_hidden * m->cfg.d_model;
	for (int l = 0; l < m->cfg.n_layers - m->cfg.dense_layers && !rc; l++)
		for (int e = 0; e < m->cfg.n_experts; e++) {
			const uint8_t *q =
				(const uint8_t *)(all + gathered_expert_at(m, l, e, ne, stride));
			for (size_t i = 0; i < stride * sizeof(float); i++)
				h = (h ^ q[i]) * 1099511628211ull;
		}
	free(all);
	*out = h;
	return rc;
}

/* ---- the run ------------------------------------------------------------ */

static void trainer_free(struct trainer *tr)
{
	free(tr->gd), free(tr->ge), free(tr->md), free(tr->vd), free(tr->me), free(tr->ve);
	free(tr->load), free(tr->tok), free(tr->tgt), free(tr->step_ms);
	model_step_destroy(tr->step);
	model_step_destroy(tr->eval);
	model_destroy(tr->m);
	ep_destroy(tr->ep);
	if (tr->fab)
		fabric_destroy(tr->fab);
	data_free(&tr->ds);
	if (tr->comm)
		comm_destroy(tr->comm);
}

static int is_pow2(int x)
{
	return x > 0 && !(x & (x - 1));
}

static int check_opts(const struct train_opts *o, int P)
{
	int C = o->chunks ? o->chunks : 4;
	if (o->steps < 1 || o->batch < 1)
		return loom_err_set(EINVAL, "train: --steps and --batch must be >= 1");
	if (C < 1 || C > 256 || o->batch % C)
		return loom_err_set(EINVAL, "train: --batch %d must be a multiple of --chunks %d "
				    "(1..256)", o->batch, C);
	if (C % P || !is_pow2(C / P))
		return loom_err_set(EINVAL, "train: %d ranks must divide --chunks %d with a power of "
				    "two per rank (deterministic gradient tree)", P, C);
	if (o->eval_windows < C || o->eval_windows % C)
		return loom_err_set(EINVAL, "train: --eval-windows %d must be a positive multiple of "
				    "--chunks %d", o->eval_windows, C);
	if (o->ranks_per_node < 0 || (o->ranks_per_node && P % o->ranks_per_node))
		return loom_err_set(EINVAL, "train: --ranks-per-node %d does not divide %d ranks",
				    o->ranks_per_node, P);
	if (!(o->lr > 0) || o->warmup < 0 || !(o->beta1 >= 0 && o->beta1 < 1) ||
	    !(o->beta2 >= 0 && o->beta2 < 1))
		return loom_err_set(EINVAL, "train: bad optimizer settings (lr > 0, betas in [0,1))");
	if ((o->ckpt_every || o->resume) && !o->ckpt_dir)
		return loom_err_set(EINVAL, "train: --ckpt-every / --resume need --ckpt-dir");
	return model_config_check(&o->model, P);
}

static int trainer_init(struct trainer *tr, struct boot *boot, const struct train_opts *o)
{
	tr->o = o;
	tr->rank = boot_rank(boot);
	tr->P = boot_world_size(boot);
	int rc = check_opts(o, tr->P);
	if (rc)
		return rc;
	tr->C = o->chunks ? o->chunks : 4;
	tr->cl = tr->C / tr->P;
	rc = data_load(&tr->ds, o->data_path ? o->data_path : data_default_path(),
		       DATA_TINYSHAKESPEARE_SHA256, DATA_TINYSHAKESPEARE_BYTES, 0.1);
	if (rc)
		return rc;
	if (data_val_windows(&tr->ds, o->model.seq_len) < o->eval_windows)
		return loom_err_set(EINVAL, "train: the validation split has only %d windows of %d",
				    data_val_windows(&tr->ds, o->model.seq_len), o->model.seq_len);
	struct comm_opts co = { .provider = o->provider };
	if (!(tr->comm = comm_create(boot, &co)))
		return -EIO;
	struct ep_config ec = ep_config_default(o->model.n_experts, o->model.top_k,
						o->model.d_model);
	ec.ranks_per_node = o->ranks_per_node;
	ec.two_hop = o->two_hop;
	if (o->model.precision == NN_FP32)
		ec.dispatch_wire = ec.combine_wire = ec.grad_wire = EP_WIRE_F32;
	else if (o->model.precision == NN_BF16)
		ec.dispatch_wire = EP_WIRE_BF16;
	if (o->combine_logfmt) {
		ec.combine_wire = EP_WIRE_LOGFMT;
		ec.logfmt_bits = o->combine_logfmt;
	}
	if (!(tr->ep = ep_create(tr->comm, &ec)))
		return -EINVAL;
	if (!(tr->fab = fabric_create(o->fabric ? o->fabric : "h800")))
		return -EINVAL;
	if (!(tr->m = model_create(&o->model, tr->rank, tr->P, o->seed)))
		return -EINVAL;
	tr->m->device = o->device;
	int spc = o->batch / tr->C;
	if (!(tr->step = model_step_create(tr->m, tr->cl, spc)) ||
	    !(tr->eval = model_step_create(tr->m, tr->cl, o->eval_windows / tr->C)))
		return -ENOMEM;
	struct model *m = tr->m;
	size_t nd = m->n_dense, ne = m->n_expert ? m->n_expert : 1;
	size_t T = (size_t)tr->cl * spc * o->model.seq_len;
	tr->gd = calloc(nd, 4), tr->md = calloc(nd, 4), tr->vd = calloc(nd, 4);
	tr->ge = calloc(ne, 4), tr->me = calloc(ne, 4), tr->ve = calloc(ne, 4);
	tr->load = calloc((size_t)o->model.n_layers * o->model.n_experts, sizeof(int64_t));
	tr->tok = malloc(T * sizeof(int32_t)), tr->tgt = malloc(T * sizeof(int32_t));
	tr->step_ms = calloc((size_t)o->steps + 1, sizeof(double));
	if (!tr->gd || !tr->md || !tr->vd || !tr->ge || !tr->me || !tr->ve || !tr->load ||
	    !tr->tok || !tr->tgt || !tr->step_ms)
		return loom_err_set(ENOMEM, "train: out of memory");
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One optimizer step; *loss = the global mean training loss. */
static int train_step(struct trainer *tr, double *loss)
{
	const struct train_opts *o = tr->o;
	struct model *m = tr->m;
	int S = o->model.seq_len, spc = o->batch / tr->C;
	double cl[256];
	int rc = data_batch(&tr->ds, o->seed, (uint64_t)tr->done, o->batch, S,
			    tr->rank * tr->cl * spc, tr->cl * spc, tr->tok, tr->tgt);
	if (!rc)
		rc = model_forward(m, tr->step, tr->ep, tr->tok, tr->tgt, 1, cl);
	float scale = 1.0f / (float)((long)o->batch * S);
	if (!rc)
		rc = model_backward(m, tr->step, tr->ep, tr->comm, scale, tr->gd, tr->ge, tr->load);
	if (!rc)
		rc = global_loss(tr, cl, (long)o->batch * S, loss);
	double norm = 0;
	if (!rc)
		rc = grad_norm(tr, &norm);
	if (rc)
		return rc;
	if (!isfinite(*loss) || !isfinite(norm))
		return loom_err_set(ERANGE, "train: step %d: loss %g, gradient norm %g: diverged",
				    tr->done, *loss, norm);
	float gscale = o->clip > 0 && norm > o->clip ? (float)(o->clip / norm) : 1.0f;
	optimizer_step(tr, lr_at(o, tr->done), gscale);
	struct moe_router_config rcfg = model_router_config(&o->model);
	for (int l = o->model.dense_layers; l < o->model.n_layers; l++) {
		size_t off = (size_t)l * o->model.n_experts;
		rc = moe_router_bias_update(&rcfg, tr->load + off, m->router_bias + off);
		if (rc)
			return rc;
	}
	double us = 0;
	rc = charge_fabric(tr, &us);
	tr->comm_model_us += us;
	struct model_step_times tm;
	model_step_times(tr->step, &tm);
	tr->comm_wall_us += tm.ep_us + tm.reduce_us;
	tr->ep_us += tm.ep_us;
	tr->reduce_us += tm.reduce_us;
	tr->gemm_us += tm.gemm_us;
	tr->gemm_flops += (double)tm.gemm_flops;
	tr->done++;
	return rc;
}

int train_run(struct boot *boot, const struct train_opts *o, struct train_result *res)
{
	struct trainer tr = { 0 };
	memset(res, 0, sizeof(*res));
	res->val_loss = NAN;
	int rc = trainer_init(&tr, boot, o);
	if (!rc && o->resume)
		rc = load_ckpt(&tr);
	int lead = tr.rank == 0;
	struct progress *pg = NULL;
	struct metrics *mx = NULL;
	if (!rc && lead && !o->quiet)
		pg = progress_create(stderr, "train", o->steps, o->progress_tty, 5.0);
	if (!rc && lead && o->metrics_path && !(mx = metrics_open(o->metrics_path)))
		rc = -EIO;
	int first = tr.done;
	if (!rc && pg && first)
		progress_log(pg, "resumed at step %d from %s", first, o->ckpt_dir);
	double t0 = now_s(), loss = NAN;
	long toks = (long)o->batch * o->model.seq_len;
	while (!rc && tr.done < o->steps) {
		double s0 = now_s();
		rc = train_step(&tr, &loss);
		if (rc)
			break;
		tr.step_ms[tr.nsteps_run++] = (now_s() - s0) * 1e3;
		double el = now_s() - t0, tps = (double)toks * tr.nsteps_run / el;
		char extra[64] = "";
		int eval_now = (o->eval_every && tr.done % o->eval_every == 0) || tr.done == o->steps;
		if (eval_now) {
			rc = evaluate(&tr, &res->val_loss);
			if (rc)
				break;
			snprintf(extra, sizeof(extra), "val %.4f", res->val_loss);
		}
		if (pg)
			progress_update(pg, tr.done, loss, tps, extra[0] ? extra : NULL);
		if (mx) {
			char line[512];
			int n = snprintf(line, sizeof(line),
					 "{\"step\":%d,\"loss\":%.6f,\"lr\":%.6g,\"tokens_per_s\":%.1f,"
					 "\"step_ms\":%.2f", tr.done, loss, lr_at(o, tr.done - 1), tps,
					 tr.step_ms[tr.nsteps_run - 1]);
			if (eval_now)
				n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"val_loss\":%.6f",
					      res->val_loss);
			snprintf(line + n, sizeof(line) - (size_t)n, "}");
			metrics_write(mx, line);
		}
		if (o->ckpt_every && (tr.done % o->ckpt_every == 0 || tr.done == o->steps)) {
			rc = save_ckpt(&tr);
			if (!rc && pg)
				progress_log(pg, "checkpoint: step %d in %s", tr.done, o->ckpt_dir);
		}
		if (o->stop_after > 0 && tr.nsteps_run >= o->stop_after)
			break;
		if (o->kill_step > 0 && tr.done == o->kill_step && tr.rank == o->kill_rank)
			raise(SIGKILL); /* --kill-rank: a rank dying mid-run, for tests */
	}
	res->wall_s = now_s() - t0;
	if (!rc)
		rc = param_digest(&tr, &res->param_digest);
	if (pg)
		progress_finish(pg);
	if (mx)
		metrics_close(mx);
	res->steps = tr.done;
	res->train_loss = loss;
	if (tr.nsteps_run) {
		int n = tr.nsteps_run;
		res->tokens_per_s = (double)toks * n / res->wall_s;
		res->comm_us_per_step = tr.comm_model_us / n;
		res->comm_wall_us_per_step = tr.comm_wall_us / n;
		res->gemm_us_per_step = tr.gemm_us / n;
		res->ep_us_per_step = tr.ep_us / n;
		res->reduce_us_per_step = tr.reduce_us / n;
		struct comm_stats cs;
		if (tr.comm && !comm_stats_get(tr.comm, &cs))
			res->wait_us_per_step = cs.wait_us / n;
		res->gemm_gflops = tr.gemm_us > 0 ? tr.gemm_flops / tr.gemm_us * 1e-3 : 0;
		qsort(tr.step_ms, (size_t)n, sizeof(double), cmp_double);
		res->step_ms = tr.step_ms[n / 2];
	}
	trainer_free(&tr);
	return rc;
}

void train_print_summary(FILE *f, const struct train_opts *o, int ranks,
			 const struct train_result *r)
{
	if (ranks > 1)
		fprintf(f, "loom train: %d steps, %d ranks over %s, precision %s\n", r->steps, ranks,
			o->provider, nn_precision_name(o->model.precision));
	else
		fprintf(f, "loom train: %d steps, one process (no transport), precision %s\n",
			r->steps, nn_precision_name(o->model.precision));
	fprintf(f, "  train loss     %.4f nats/byte\n", r->train_loss);
	fprintf(f, "  val loss       %.4f nats/byte (uniform guess: 5.545)\n", r->val_loss);
	fprintf(f, "  throughput     %.0f tokens/s, %.1f ms/step (median), %.1f s wall\n",
		r->tokens_per_s, r->step_ms, r->wall_s);
	fprintf(f, "  linear layers  %.1f ms/step on rank 0 (%.2f GFLOP/s)\n",
		r->gemm_us_per_step / 1e3, r->gemm_gflops);
	fprintf(f, "  communication  %.1f ms/step measured here (dispatch/combine %.1f, all-reduce "
		   "%.1f, of which waiting for peers %.1f)\n", r->comm_wall_us_per_step / 1e3,
		r->ep_us_per_step / 1e3, r->reduce_us_per_step / 1e3, r->wait_us_per_step / 1e3);
	fprintf(f, "  modelled comm  %.2f us/step on %s (%d ranks as GPUs, %s)\n",
		r->comm_us_per_step, o->fabric ? o->fabric : "h800", ranks,
		o->two_hop ? "two-hop" : "one hop");
	fprintf(f, "  parameters     digest %016llx\n", (unsigned long long)r->param_digest);
}
