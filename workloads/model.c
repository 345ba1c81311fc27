/*
 * model.c - the live workload's model (model.h): parameters, forward and
 * backward of one step on one rank, with the MoE blocks' experts reached
 * through expert-parallel dispatch/combine (ep.h) and the dense gradients
 * reduced through the communicator (comm.h).
 *
 * What is and is not here: layer arithmetic lives in nn.c (nn.h), routing
 * in kernels/router.c (the FP8 linear layers and routing on the model's
 * device instead when it has one, nn_device.h), communication in runtime/;
 * this file wires them into a decoder and keeps the determinism contract of
 * model.h (dense weight gradients per gradient chunk, expert gradients over
 * all of an expert's rows in global token order). The optimizer and the
 * loop are in train.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loom/comm.h"
#include "loom/ep.h"
#include "loom/err.h"
#include "loom/model.h"
#include "loom/moe.h"
#include "loom/nn.h"
#include "loom/nn_device.h"
#include "loom/rng.h"

struct model_config model_config_default(void)
{
	return (struct model_config){
		.vocab = 256,
		.d_model = 128,
		.n_layers = 2,
		.n_heads = 4,
		.seq_len = 64,
		.dense_layers = 1,
		.dense_hidden = 256,
		.n_experts = 8,
		.expert_hidden = 128,
		.shared_hidden = 128,
		.top_k = 2,
		.n_groups = 4,
		.topk_groups = 2,
		.routed_scale = 1.0f,
		.bias_update_speed = 0.001f,
		.rope_theta = 10000.0f,
		.norm_eps = 1e-5f,
		.precision = NN_FP8,
	};
}

struct moe_router_config model_router_config(const struct model_config *c)
{
	struct moe_router_config r =
		moe_router_config_default(c->n_experts, c->n_groups, c->topk_groups, c->top_k);
	r.routed_scaling_factor = c->routed_scale;
	r.bias_update_speed = c->bias_update_speed;
	return r;
}

int model_config_check(const struct model_config *c, int world)
{
	if (!c)
		return loom_err_set(EINVAL, "model: NULL config");
	if (c->vocab < 2 || c->d_model < 2 || c->n_layers < 1 || c->n_heads < 1 ||
	    c->seq_len < 2 || c->dense_hidden < 1 || c->expert_hidden < 1 ||
	    c->shared_hidden < 1 || c->n_experts < 1)
		return loom_err_set(EINVAL, "model: sizes must be positive (vocab >= 2, seq_len >= 2)");
	if (c->d_model % c->n_heads || (c->d_model / c->n_heads) % 2)
		return loom_err_set(EINVAL, "model: d_model %d / n_heads %d must be an even integer",
				    c->d_model, c->n_heads);
	if (c->dense_layers < 0 || c->dense_layers > c->n_layers)
		return loom_err_set(EINVAL, "model: dense_layers %d not in [0, n_layers %d]",
				    c->dense_layers, c->n_layers);
	if (world < 1 || c->n_experts % world)
		return loom_err_set(EINVAL, "model: %d experts cannot be split over %d ranks",
				    c->n_experts, world);
	if (!(c->rope_theta > 0) || !(c->norm_eps > 0))
		return loom_err_set(EINVAL, "model: rope_theta and norm_eps must be > 0");
	if (c->precision != NN_FP32 && c->precision != NN_BF16 && c->precision != NN_FP8)
		return loom_err_set(EINVAL, "model: unknown precision %d", (int)c->precision);
	struct moe_router_config r = model_router_config(c);
	int rc = moe_router_config_check(&r);
	return rc ? rc : 0;
}

/* ---- parameters ------------------------------------------------------- */

/* Offsets (floats) of one block's tensors. Dense FFN and the shared expert
 * use w1/w3/w2; expert_base is in the expert buffer. */
struct blk_off {
	size_t attn_norm, wq, wk, wv, wo, ffn_norm, w1, w3, w2, router;
	size_t expert_base;
	int moe, hid; /* hid: dense_hidden or shared_hidden */
};

struct model_priv {
	struct blk_off *blk;
	size_t embed, final_norm, head;
};

static int is_moe(const struct model_config *c, int l)
{
	return l >= c->dense_layers;
}

static size_t expert_stride(const struct model_config *c)
{
	return (size_t)3 * (size_t)c->expert_hidden * (size_t)c->d_model;
}

static size_t add_tensor(struct model *m, const char *name, int expert, int decay, size_t count)
{
	struct model_tensor *t = &m->tensors[m->n_tensors++];
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->expert = expert;
	t->decay = decay;
	t->count = count;
	if (expert) {
		t->offset = m->n_expert;
		m->n_expert += count;
	} else {
		t->offset = m->n_dense;
		m->n_dense += count;
	}
	return t->offset;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

/* Fill a tensor: "norm" weights with 1, everything else N(0, std) from a
 * stream keyed by (seed, name) alone. */
static void init_tensor(float *p, size_t n, const char *name, uint64_t seed, double std, int ones)
{
	if (ones) {
		for (size_t i = 0; i < n; i++)
			p[i] = 1.0f;
		return;
	}
	struct loom_rng r;
	loom_rng_init(&r, seed ^ name_hash(name));
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(std * loom_rng_normal(&r));
}

static void layout(struct model *m, struct model_priv *pv)
{
	const struct model_config *c = &m->cfg;
	size_t d = (size_t)c->d_model, E = (size_t)c->n_experts, V = (size_t)c->vocab;
	char nm[48];
	pv->embed = add_tensor(m, "embed", 0, 0, V * d);
	for (int l = 0; l < c->n_layers; l++) {
		struct blk_off *b = &pv->blk[l];
		b->moe = is_moe(c, l);
		b->hid = b->moe ? c->shared_hidden : c->dense_hidden;
		size_t h = (size_t)b->hid;
		const char *f = b->moe ? "shared" : "ffn";
		snprintf(nm, sizeof(nm), "l%d.attn_norm", l), b->attn_norm = add_tensor(m, nm, 0, 0, d);
		snprintf(nm, sizeof(nm), "l%d.wq", l), b->wq = add_tensor(m, nm, 0, 1, d * d);
		snprintf(nm, sizeof(nm), "l%d.wk", l), b->wk = add_tensor(m, nm, 0, 1, d * d);
		snprintf(nm, sizeof(nm), "l%d.wv", l), b->wv = add_tensor(m, nm, 0, 1, d * d);
		snprintf(nm, sizeof(nm), "l%d.wo", l), b->wo = add_tensor(m, nm, 0, 1, d * d);
		snprintf(nm, sizeof(nm), "l%d.ffn_norm", l), b->ffn_norm = add_tensor(m, nm, 0, 0, d);
		snprintf(nm, sizeof(nm), "l%d.%s.w1", l, f), b->w1 = add_tensor(m, nm, 0, 1, h * d);
		snprintf(nm, sizeof(nm), "l%d.%s.w3", l, f), b->w3 = add_tensor(m, nm, 0, 1, h * d);
		snprintf(nm, sizeof(nm), "l%d.%s.w2", l, f), b->w2 = add_tensor(m, nm, 0, 1, d * h);
		if (b->moe) {
			snprintf(nm, sizeof(nm), "l%d.router", l);
			b->router = add_tensor(m, nm, 0, 0, E * d);
			size_t he = (size_t)c->expert_hidden;
			b->expert_base = m->n_expert;
			for (int j = 0; j < m->n_local_experts; j++) {
				int e = m->rank * m->n_local_experts + j;
				snprintf(nm, sizeof(nm), "l%d.e%d.w1", l, e), add_tensor(m, nm, 1, 1, he * d);
				snprintf(nm, sizeof(nm), "l%d.e%d.w3", l, e), add_tensor(m, nm, 1, 1, he * d);
				snprintf(nm, sizeof(nm), "l%d.e%d.w2", l, e), add_tensor(m, nm, 1, 1, d * he);
			}
		}
	}
	pv->final_norm = add_tensor(m, "final_norm", 0, 0, d);
	pv->head = add_tensor(m, "head", 0, 1, V * d);
}

struct model *model_create(const struct model_config *cfg, int rank, int world, uint64_t seed)
{
	if (model_config_check(cfg, world))
		return NULL;
	if (rank < 0 || rank >= world) {
		loom_err_set(EINVAL, "model: rank %d not in [0, %d)", rank, world);
		return NULL;
	}
	struct model *m = calloc(1, sizeof(*m));
	struct model_priv *pv = calloc(1, sizeof(*pv));
	if (!m || !pv)
		goto oom;
	m->cfg = *cfg;
	m->rank = rank;
	m->world = world;
	m->n_local_experts = cfg->n_experts / world;
	pv->blk = calloc((size_t)cfg->n_layers, sizeof(*pv->blk));
	int max_t = 3 + cfg->n_layers * (10 + 3 * m->n_local_experts);
	m->tensors = calloc((size_t)max_t, sizeof(*m->tensors));
	if (!pv->blk || !m->tensors)
		goto oom;
	layout(m, pv);
	m->dense = calloc(m->n_dense, sizeof(float));
	m->expert = calloc(m->n_expert ? m->n_expert : 1, sizeof(float));
	m->router_bias = calloc((size_t)cfg->n_layers * (size_t)cfg->n_experts, sizeof(float));
	if (!m->dense || !m->expert || !m->router_bias)
		goto oom;
	/* GPT-2 style: std 0.02, output projections scaled by 1/sqrt(2 L). */
	double std = 0.02, std_out = 0.02 / sqrt(2.0 * cfg->n_layers);
	for (int i = 0; i < m->n_tensors; i++) {
		struct model_tensor *t = &m->tensors[i];
		float *p = (t->expert ? m->expert : m->dense) + t->offset;
		int ones = strstr(t->name, "norm") != NULL;
		int out = strstr(t->name, ".wo") || strstr(t->name, ".w2");
		init_tensor(p, t->count, t->name, seed, out ? std_out : std, ones);
	}
	m->priv = pv;
	return m;
oom:
	if (pv)
		free(pv->blk);
	free(pv);
	if (m)
		m->priv = NULL;
	model_destroy(m);
	loom_err_set(ENOMEM, "model: out of memory");
	return NULL;
}

void model_destroy(struct model *m)
{
	if (!m)
		return;
	struct model_priv *pv = m->priv;
	if (pv)
		free(pv->blk);
	free(pv);
	free(m->dense);
	free(m->expert);
	free(m->router_bias);
	free(m->tensors);
	free(m);
}

/* ---- one step's activations ------------------------------------------- */

struct blk_act {
	float *x_in, *h1, *rstd1, *q, *k, *v, *o, *lse, *x_mid, *h2, *rstd2;
	float *g, *u, *a;		 /* dense FFN or shared expert (T, hid) */
	float *logits, *aff, *topk_w;	 /* MoE: (T, E), (T, E), (T, k) */
	int32_t *topk_idx;		 /* (T, k) */
	struct ep_handle *h;		 /* MoE: this step's dispatch */
	struct ep_recv recv;
	float *eg, *eu, *ea, *ey;	 /* expert rows (R, he), (R, d) */
};

struct model_step {
	const struct model *m;
	int chunks, spc, T;		 /* local chunks, sequences per chunk, tokens */
	struct blk_act *b;
	float *xf, *hf, *rstdf, *logits; /* final norm, head */
	int32_t *tok, *tgt;
	float **gchunk;			 /* (chunks) dense gradient of each chunk */
	/* backward scratch */
	float *dx, *dxm, *dh, *dt, *dq, *dk, *dv, *dhid1, *dhid2, *dhid3, *dlog, *dgw, *dlr;
	struct model_step_times tm;
	uint64_t *tlog;			 /* (max_ops, 2 P): each EP call's intra, inter bytes */
	int tlog_n, tlog_max;
};

/* Record the traffic of the EP call just made (for the fabric model). */
static void log_traffic(struct model_step *s, struct ep *ep)
{
	struct ep_traffic t;
	int P = s->m->world;
	if (s->tlog_n >= s->tlog_max || ep_traffic(ep, &t) < 0)
		return;
	uint64_t *row = s->tlog + (size_t)s->tlog_n++ * 2 * P;
	memcpy(row, t.last_intra, (size_t)P * sizeof(uint64_t));
	memcpy(row + P, t.last_inter, (size_t)P * sizeof(uint64_t));
}

int model_step_traffic(const struct model_step *s, const uint64_t **rows)
{
	*rows = s->tlog;
	return s->tlog_n;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static float *fa(size_t n)
{
	return malloc((n ? n : 1) * sizeof(float));
}

static void free_expert_rows(struct blk_act *a)
{
	free(a->eg), free(a->eu), free(a->ea), free(a->ey);
	a->eg = a->eu = a->ea = a->ey = NULL;
	ep_handle_free(a->h);
	a->h = NULL;
	memset(&a->recv, 0, sizeof(a->recv));
}

void model_step_destroy(struct model_step *s)
{
	if (!s)
		return;
	if (s->b) {
		for (int l = 0; l < s->m->cfg.n_layers; l++) {
			struct blk_act *a = &s->b[l];
			free_expert_rows(a);
			float *p[] = { a->x_in, a->h1, a->rstd1, a->q, a->k, a->v, a->o, a->lse,
				       a->x_mid, a->h2, a->rstd2, a->g, a->u, a->a, a->logits,
				       a->aff, a->topk_w };
			for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
				free(p[i]);
			free(a->topk_idx);
		}
		free(s->b);
	}
	if (s->gchunk)
		for (int c = 0; c < s->chunks; c++)
			free(s->gchunk[c]);
	free(s->gchunk);
	float *p[] = { s->xf, s->hf, s->rstdf, s->logits, s->dx, s->dxm, s->dh, s->dt, s->dq,
		       s->dk, s->dv, s->dhid1, s->dhid2, s->dhid3, s->dlog, s->dgw, s->dlr };
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++)
		free(p[i]);
	free(s->tok), free(s->tgt);
	free(s->tlog);
	free(s);
}

struct model_step *model_step_create(const struct model *m, int chunks_local, int seqs_per_chunk)
{
	if (!m || chunks_local < 1 || seqs_per_chunk < 1) {
		loom_err_set(EINVAL, "model: step needs >= 1 chunk of >= 1 sequence");
		return NULL;
	}
	const struct model_config *c = &m->cfg;
	struct model_step *s = calloc(1, sizeof(*s));
	if (!s)
		goto oom;
	s->m = m;
	s->chunks = chunks_local;
	s->spc = seqs_per_chunk;
	s->T = chunks_local * seqs_per_chunk * c->seq_len;
	size_t T = (size_t)s->T, d = (size_t)c->d_model, E = (size_t)c->n_experts;
	size_t k = (size_t)c->top_k, H = (size_t)c->n_heads, V = (size_t)c->vocab;
	size_t hid = (size_t)(c->dense_hidden > c->shared_hidden ? c->dense_hidden
								: c->shared_hidden);
	s->b = calloc((size_t)c->n_layers, sizeof(*s->b));
	if (!s->b)
		goto oom;
	for (int l = 0; l < c->n_layers; l++) {
		struct blk_act *a = &s->b[l];
		size_t h = (size_t)(is_moe(c, l) ? c->shared_hidden : c->dense_hidden);
		a->x_in = fa(T * d), a->h1 = fa(T * d), a->rstd1 = fa(T), a->q = fa(T * d);
		a->k = fa(T * d), a->v = fa(T * d), a->o = fa(T * d), a->lse = fa(T * H);
		a->x_mid = fa(T * d), a->h2 = fa(T * d), a->rstd2 = fa(T);
		a->g = fa(T * h), a->u = fa(T * h), a->a = fa(T * h);
		if (!a->x_in || !a->h1 || !a->rstd1 || !a->q || !a->k || !a->v || !a->o ||
		    !a->lse || !a->x_mid || !a->h2 || !a->rstd2 || !a->g || !a->u || !a->a)
			goto oom;
		if (is_moe(c, l)) {
			a->logits = fa(T * E), a->aff = fa(T * E), a->topk_w = fa(T * k);
			a->topk_idx = malloc(T * k * sizeof(int32_t) + 1);
			if (!a->logits || !a->aff || !a->topk_w || !a->topk_idx)
				goto oom;
		}
	}
	s->xf = fa(T * d), s->hf = fa(T * d), s->rstdf = fa(T), s->logits = fa(T * V);
	s->tok = malloc(T * sizeof(int32_t)), s->tgt = malloc(T * sizeof(int32_t));
	s->dx = fa(T * d), s->dxm = fa(T * d), s->dh = fa(T * d), s->dt = fa(T * d);
	s->dq = fa(T * d), s->dk = fa(T * d), s->dv = fa(T * d);
	s->dhid1 = fa(T * hid), s->dhid2 = fa(T * hid), s->dhid3 = fa(T * hid);
	s->dlog = fa(T * V), s->dgw = fa(T * k), s->dlr = fa(T * E);
	s->gchunk = calloc((size_t)chunks_local, sizeof(float *));
	s->tlog_max = 4 * c->n_layers;
	s->tlog = calloc((size_t)s->tlog_max * 2 * (size_t)m->world, sizeof(uint64_t));
	if (!s->tlog)
		goto oom;
	if (!s->xf || !s->hf || !s->rstdf || !s->logits || !s->tok || !s->tgt || !s->dx ||
	    !s->dxm || !s->dh || !s->dt || !s->dq || !s->dk || !s->dv || !s->dhid1 ||
	    !s->dhid2 || !s->dhid3 || !s->dlog || !s->dgw || !s->dlr || !s->gchunk)
		goto oom;
	for (int ch = 0; ch < chunks_local; ch++)
		if (!(s->gchunk[ch] = fa(m->n_dense)))
			goto oom;
	return s;
oom:
	model_step_destroy(s);
	loom_err_set(ENOMEM, "model: out of memory for a step of %d tokens",
		     chunks_local * seqs_per_chunk * c->seq_len);
	return NULL;
}

void model_step_times(const struct model_step *s, struct model_step_times *t)
{
	*t = s->tm;
}

/* ---- timed wrappers ----------------------------------------------------- */

/* nn_linear_forward / _backward and moe_router_forward, on the model's
 * device (model.h) for FP8 layers and routing when it has one. */
static int lin_fwd(const struct model *m, enum nn_precision p, int T, int in, int out,
		   const float *x, const float *w, float *y)
{
	if (m->device && p == NN_FP8)
		return m->device->ops->linear_fp8_forward(m->device, T, in, out, x, w, y);
	return nn_linear_forward(p, T, in, out, x, w, y);
}

static int lin_bwd(const struct model *m, enum nn_precision p, int T, int in, int out,
		   const float *x, const float *w, const float *dy, float *dx, float *dw)
{
	if (m->device && p == NN_FP8)
		return m->device->ops->linear_fp8_backward(m->device, T, in, out, x, w, dy, dx,
							   dw);
	return nn_linear_backward(p, T, in, out, x, w, dy, dx, dw);
}

static int route(const struct model *m, const struct moe_router_config *rc, int T,
		 const float *logits, const float *bias, int32_t *idx, float *wt, float *aff)
{
	if (m->device)
		return m->device->ops->router_forward(m->device, rc, T, logits, bias, idx, wt, aff);
	return moe_router_forward(rc, T, logits, bias, idx, wt, aff);
}

static int lin_f(struct model_step *s, enum nn_precision p, int T, int in, int out,
		 const float *x, const float *w, float *y)
{
	if (T == 0)
		return 0;
	double t0 = now_us();
	int rc = lin_fwd(s->m, p, T, in, out, x, w, y);
	s->tm.gemm_us += now_us() - t0;
	s->tm.gemm_flops += 2ull * (uint64_t)T * (uint64_t)in * (uint64_t)out;
	return rc;
}

/* dx over all T rows (if dx), and the weight gradient: either direct into
 * dw over all rows (experts) or, with goff != SIZE_MAX, per gradient chunk
 * into gchunk[c] + goff (dense). */
static int lin_b(struct model_step *s, enum nn_precision p, int T, int in, int out,
		 const float *x, const float *w, const float *dy, float *dx, float *dw,
		 size_t goff)
{
	double t0 = now_us();
	int rc = 0;
	if (T == 0) {
		if (dw)
			memset(dw, 0, (size_t)in * (size_t)out * sizeof(float));
		return 0;
	}
	if (dx)
		rc = lin_bwd(s->m, p, T, in, out, x, w, dy, dx, NULL);
	if (!rc && dw)
		rc = lin_bwd(s->m, p, T, in, out, x, w, dy, NULL, dw);
	if (!rc && goff != SIZE_MAX) {
		int tc = T / s->chunks;
		for (int c = 0; c < s->chunks && !rc; c++)
			rc = lin_bwd(s->m, p, tc, in, out, x + (size_t)c * tc * in, w,
				     dy + (size_t)c * tc * out, NULL, s->gchunk[c] + goff);
	}
	s->tm.gemm_us += now_us() - t0;
	s->tm.gemm_flops += 4ull * (uint64_t)T * (uint64_t)in * (uint64_t)out;
	return rc;
}

/* RMSNorm backward: dx over all rows, dw per chunk. */
static int norm_b(struct model_step *s, int T, int d, const float *x, const float *w,
		  const float *rstd, const float *dy, float *dx, size_t goff)
{
	int rc = nn_rmsnorm_backward(T, d, x, w, rstd, dy, dx, NULL);
	int tc = T / s->chunks;
	for (int c = 0; c < s->chunks && !rc; c++)
		rc = nn_rmsnorm_backward(tc, d, x + (size_t)c * tc * d, w, rstd + (size_t)c * tc,
					 dy + (size_t)c * tc * d, NULL, s->gchunk[c] + goff);
	return rc;
}

static enum nn_precision hi_prec(const struct model_config *c)
{
	return c->precision == NN_BF16 ? NN_BF16 : NN_FP32;
}

#define TRY(x)                   \
	do {                     \
		int rc_ = (x);   \
		if (rc_ < 0)     \
			return rc_; \
	} while (0)

/* ---- forward ------------------------------------------------------------ */

static int ffn_forward(struct model_step *s, const struct blk_off *b, struct blk_act *a,
		       const float *W, float *y)
{
	const struct model_config *c = &s->m->cfg;
	int T = s->T, d = c->d_model, h = b->hid;
	TRY(lin_f(s, c->precision, T, d, h, a->h2, W + b->w1, a->g));
	TRY(lin_f(s, c->precision, T, d, h, a->h2, W + b->w3, a->u));
	TRY(nn_swiglu_forward(T, h, a->g, a->u, a->a));
	return lin_f(s, c->precision, T, h, d, a->a, W + b->w2, y);
}

static int moe_forward(struct model *m, struct model_step *s, struct ep *ep, int l,
		       struct blk_act *a, float *routed)
{
	const struct model_config *c = &m->cfg;
	struct model_priv *pv = m->priv;
	const struct blk_off *b = &pv->blk[l];
	int T = s->T, d = c->d_model, he = c->expert_hidden, E = c->n_experts;
	struct moe_router_config rc = model_router_config(c);
	TRY(lin_f(s, NN_FP32, T, d, E, a->h2, m->dense + b->router, a->logits));
	TRY(route(m, &rc, T, a->logits, m->router_bias + (size_t)l * E, a->topk_idx, a->topk_w,
		  a->aff));
	free_expert_rows(a);
	double t0 = now_us();
	int err = ep_dispatch(ep, T, a->h2, a->topk_idx, a->topk_w, &a->h, &a->recv);
	s->tm.ep_us += now_us() - t0;
	log_traffic(s, ep);
	if (err < 0)
		return err;
	size_t R = (size_t)a->recv.num_rows;
	a->eg = fa(R * he), a->eu = fa(R * he), a->ea = fa(R * he), a->ey = fa(R * d);
	if (!a->eg || !a->eu || !a->ea || !a->ey)
		return loom_err_set(ENOMEM, "model: out of memory for %zu expert rows", R);
	for (int j = 0; j < m->n_local_experts; j++) {
		int r0 = a->recv.expert_offset[j], n = a->recv.expert_offset[j + 1] - r0;
		const float *W = m->expert + b->expert_base + (size_t)j * expert_stride(c);
		const float *x = a->recv.x + (size_t)r0 * d;
		float *g = a->eg + (size_t)r0 * he, *u = a->eu + (size_t)r0 * he;
		float *ea = a->ea + (size_t)r0 * he;
		TRY(lin_f(s, c->precision, n, d, he, x, W, g));
		TRY(lin_f(s, c->precision, n, d, he, x, W + (size_t)he * d, u));
		if (n)
			TRY(nn_swiglu_forward(n, he, g, u, ea));
		TRY(lin_f(s, c->precision, n, he, d, ea, W + 2 * (size_t)he * d,
			  a->ey + (size_t)r0 * d));
	}
	t0 = now_us();
	err = ep_combine(ep, a->h, a->ey, routed);
	s->tm.ep_us += now_us() - t0;
	log_traffic(s, ep);
	return err;
}

static int block_forward(struct model *m, struct model_step *s, struct ep *ep, int l,
			 const float *x, float *x_out)
{
	const struct model_config *c = &m->cfg;
	struct model_priv *pv = m->priv;
	const struct blk_off *b = &pv->blk[l];
	struct blk_act *a = &s->b[l];
	const float *W = m->dense;
	int T = s->T, d = c->d_model, H = c->n_heads, Dh = d / H, S = c->seq_len;
	size_t n = (size_t)T * d;
	enum nn_precision p = c->precision;
	if (a->x_in != x)
		memcpy(a->x_in, x, n * sizeof(float));
	TRY(nn_rmsnorm_forward(T, d, c->norm_eps, a->x_in, W + b->attn_norm, a->h1, a->rstd1));
	TRY(lin_f(s, p, T, d, d, a->h1, W + b->wq, a->q));
	TRY(lin_f(s, p, T, d, d, a->h1, W + b->wk, a->k));
	TRY(lin_f(s, p, T, d, d, a->h1, W + b->wv, a->v));
	TRY(nn_rope(T, S, H, Dh, c->rope_theta, 0, a->q));
	TRY(nn_rope(T, S, H, Dh, c->rope_theta, 0, a->k));
	TRY(nn_attention_forward(T / S, S, H, Dh, a->q, a->k, a->v, a->o, a->lse));
	TRY(lin_f(s, p, T, d, d, a->o, W + b->wo, s->dt));
	nn_add(a->x_mid, a->x_in, s->dt, (long)n);
	TRY(nn_rmsnorm_forward(T, d, c->norm_eps, a->x_mid, W + b->ffn_norm, a->h2, a->rstd2));
	TRY(ffn_forward(s, b, a, W, s->dt));
	nn_add(x_out, a->x_mid, s->dt, (long)n);
	if (b->moe) {
		TRY(moe_forward(m, s, ep, l, a, s->dt));
		nn_add(x_out, x_out, s->dt, (long)n);
	}
	return 0;
}

int model_forward(struct model *m, struct model_step *s, struct ep *ep, const int32_t *tok,
		  const int32_t *tgt, int train, double *chunk_loss)
{
	if (!m || !s || !tok || !tgt || !chunk_loss)
		return loom_err_set(EINVAL, "model: forward: NULL argument");
	const struct model_config *c = &m->cfg;
	struct model_priv *pv = m->priv;
	int T = s->T, d = c->d_model, V = c->vocab;
	(void)train;
	memset(&s->tm, 0, sizeof(s->tm));
	s->tlog_n = 0;
	double t0 = now_us();
	for (int t = 0; t < T; t++)
		if (tok[t] < 0 || tok[t] >= V || tgt[t] < 0 || tgt[t] >= V)
			return loom_err_set(EINVAL, "model: token %d at row %d outside [0, %d)",
					    tok[t] < 0 || tok[t] >= V ? tok[t] : tgt[t], t, V);
	memcpy(s->tok, tok, (size_t)T * sizeof(int32_t));
	memcpy(s->tgt, tgt, (size_t)T * sizeof(int32_t));
	TRY(nn_embedding_forward(T, V, d, tok, m->dense + pv->embed, s->b[0].x_in));
	for (int l = 0; l < c->n_layers; l++) {
		float *out = l + 1 < c->n_layers ? s->b[l + 1].x_in : s->xf;
		TRY(block_forward(m, s, ep, l, s->b[l].x_in, out));
	}
	TRY(nn_rmsnorm_forward(T, d, c->norm_eps, s->xf, m->dense + pv->final_norm, s->hf,
			       s->rstdf));
	TRY(lin_f(s, hi_prec(c), T, d, V, s->hf, m->dense + pv->head, s->logits));
	float *loss = s->dlog; /* (T) scratch */
	TRY(nn_cross_entropy_forward(T, V, s->logits, tgt, loss));
	int tc = T / s->chunks;
	for (int ch = 0; ch < s->chunks; ch++) {
		double sum = 0;
		for (int t = 0; t < tc; t++)
			sum += loss[(size_t)ch * tc + t];
		chunk_loss[ch] = sum;
	}
	s->tm.other_us = now_us() - t0 - s->tm.gemm_us - s->tm.ep_us;
	return 0;
}

/* ---- backward ----------------------------------------------------------- */

/* dh (T, d) = gradient of h2 from the dense FFN / shared expert, given
 * dy (T, d); weight gradients per chunk. */
static int ffn_backward(struct model_step *s, const struct blk_off *b, struct blk_act *a,
			const float *W, const float *dy, float *dh)
{
	const struct model_config *c = &s->m->cfg;
	int T = s->T, d = c->d_model, h = b->hid;
	enum nn_precision p = c->precision;
	float *da = s->dhid1, *dg = s->dhid2, *du = s->dhid3;
	TRY(lin_b(s, p, T, h, d, a->a, W + b->w2, dy, da, NULL, b->w2));
	TRY(nn_swiglu_backward(T, h, a->g, a->u, da, dg, du));
	TRY(lin_b(s, p, T, d, h, a->h2, W + b->w1, dg, dh, NULL, b->w1));
	TRY(lin_b(s, p, T, d, h, a->h2, W + b->w3, du, s->dt, NULL, b->w3));
	nn_add(dh, dh, s->dt, (long)T * d);
	return 0;
}

/* Routed experts and router: adds the gradient of h2 into dh. */
static int moe_backward(struct model *m, struct model_step *s, struct ep *ep, int l,
			const float *dy, float *dh, float *grad_expert)
{
	const struct model_config *c = &m->cfg;
	struct model_priv *pv = m->priv;
	const struct blk_off *b = &pv->blk[l];
	struct blk_act *a = &s->b[l];
	int T = s->T, d = c->d_model, he = c->expert_hidden, E = c->n_experts;
	enum nn_precision p = c->precision;
	size_t R = (size_t)a->recv.num_rows;
	float *gy = fa(R * d), *drows = fa(R * d), *dea = fa(R * he), *deg = fa(R * he),
	      *deu = fa(R * he);
	int err = 0;
	if (!gy || !drows || !dea || !deg || !deu) {
		err = loom_err_set(ENOMEM, "model: out of memory for %zu expert rows", R);
		goto out;
	}
	double t0 = now_us();
	err = ep_combine_backward(ep, a->h, dy, gy, s->dgw);
	s->tm.ep_us += now_us() - t0;
	log_traffic(s, ep);
	if (err < 0)
		goto out;
	for (int j = 0; j < m->n_local_experts && !err; j++) {
		int r0 = a->recv.expert_offset[j], n = a->recv.expert_offset[j + 1] - r0;
		size_t eo = b->expert_base + (size_t)j * expert_stride(c);
		const float *W = m->expert + eo;
		float *G = grad_expert + eo;
		const float *x = a->recv.x + (size_t)r0 * d;
		size_t rh = (size_t)r0 * he, rd = (size_t)r0 * d;
		err = lin_b(s, p, n, he, d, a->ea + rh, W + 2 * (size_t)he * d, gy + rd, dea + rh,
			    G + 2 * (size_t)he * d, SIZE_MAX);
		if (!err && n)
			err = nn_swiglu_backward(n, he, a->eg + rh, a->eu + rh, dea + rh, deg + rh,
						 deu + rh);
		if (!err)
			err = lin_b(s, p, n, d, he, x, W, deg + rh, drows + rd, G, SIZE_MAX);
		if (!err)
			err = lin_b(s, p, n, d, he, x, W + (size_t)he * d, deu + rh, gy + rd,
				    G + (size_t)he * d, SIZE_MAX);
		if (!err)
			nn_add(drows + rd, drows + rd, gy + rd, (long)n * d);
	}
	if (err < 0)
		goto out;
	t0 = now_us();
	err = ep_dispatch_backward(ep, a->h, drows, s->dq); /* dq: (T, d) scratch */
	s->tm.ep_us += now_us() - t0;
	log_traffic(s, ep);
	if (err < 0)
		goto out;
	nn_add(dh, dh, s->dq, (long)T * d);
	/* Router: gate weights' gradient -> logits -> h2 and the router weight. */
	struct moe_router_config rc = model_router_config(c);
	err = moe_router_backward(&rc, T, a->logits, a->topk_idx, s->dgw, s->dlr);
	if (!err)
		err = lin_b(s, NN_FP32, T, d, E, a->h2, m->dense + b->router, s->dlr, s->dq, NULL,
			    b->router);
	if (!err)
		nn_add(dh, dh, s->dq, (long)T * d);
out:
	free(gy), free(drows), free(dea), free(deg), free(deu);
	return err;
}

/* dx: in = gradient of the block's output, out = gradient of its input. */
static int block_backward(struct model *m, struct model_step *s, struct ep *ep, int l,
			  float *dx, float *grad_expert)
{
	const struct model_config *c = &m->cfg;
	struct model_priv *pv = m->priv;
	const struct blk_off *b = &pv->blk[l];
	struct blk_act *a = &s->b[l];
	const float *W = m->dense;
	int T = s->T, d = c->d_model, H = c->n_heads, Dh = d / H, S = c->seq_len;
	long n = (long)T * d;
	enum nn_precision p = c->precision;
	/* FFN half: x_out = x_mid + ffn(norm(x_mid)) [+ routed] */
	TRY(ffn_backward(s, b, a, W, dx, s->dh));
	if (b->moe)
		TRY(moe_backward(m, s, ep, l, dx, s->dh, grad_expert));
	TRY(norm_b(s, T, d, a->x_mid, W + b->ffn_norm, a->rstd2, s->dh, s->dxm, b->ffn_norm));
	nn_add(s->dxm, s->dxm, dx, n); /* dL/dx_mid */
	/* Attention half: x_mid = x_in + Wo attn(...) */
	TRY(lin_b(s, p, T, d, d, a->o, W + b->wo, s->dxm, s->dt, NULL, b->wo));
	TRY(nn_attention_backward(T / S, S, H, Dh, a->q, a->k, a->v, a->o, a->lse, s->dt, s->dq,
				  s->dk, s->dv));
	TRY(nn_rope(T, S, H, Dh, c->rope_theta, 1, s->dq));
	TRY(nn_rope(T, S, H, Dh, c->rope_theta, 1, s->dk));
	TRY(lin_b(s, p, T, d, d, a->h1, W + b->wq, s->dq, s->dh, NULL, b->wq));
	TRY(lin_b(s, p, T, d, d, a->h1, W + b->wk, s->dk, s->dt, NULL, b->wk));
	nn_add(s->dh, s->dh, s->dt, n);
	TRY(lin_b(s, p, T, d, d, a->h1, W + b->wv, s->dv, s->dt, NULL, b->wv));
	nn_add(s->dh, s->dh, s->dt, n);
	TRY(norm_b(s, T, d, a->x_in, W + b->attn_norm, a->rstd1, s->dh, dx, b->attn_norm));
	nn_add(dx, dx, s->dxm, n);
	return 0;
}

int model_backward(struct model *m, struct model_step *s, struct ep *ep, struct comm *comm,
		   float loss_scale, float *grad_dense, float *grad_expert, int64_t *expert_load)
{
	if (!m || !s || !comm || !grad_dense || !grad_expert || !expert_load)
		return loom_err_set(EINVAL, "model: backward: NULL argument");
	const struct model_config *c = &m->cfg;
	struct model_priv *pv = m->priv;
	int T = s->T, d = c->d_model, V = c->vocab, E = c->n_experts;
	double t0 = now_us(), g0 = s->tm.gemm_us, e0 = s->tm.ep_us;
	for (int ch = 0; ch < s->chunks; ch++)
		memset(s->gchunk[ch], 0, m->n_dense * sizeof(float));
	memset(grad_expert, 0, m->n_expert * sizeof(float));
	TRY(nn_cross_entropy_backward(T, V, s->logits, s->tgt, loss_scale, s->dlog));
	TRY(lin_b(s, hi_prec(c), T, d, V, s->hf, m->dense + pv->head, s->dlog, s->dh, NULL,
		  pv->head));
	TRY(norm_b(s, T, d, s->xf, m->dense + pv->final_norm, s->rstdf, s->dh, s->dx,
		   pv->final_norm));
	for (int l = c->n_layers - 1; l >= 0; l--)
		TRY(block_backward(m, s, ep, l, s->dx, grad_expert));
	int tc = T / s->chunks;
	for (int ch = 0; ch < s->chunks; ch++)
		TRY(nn_embedding_backward(tc, V, d, s->tok + (size_t)ch * tc,
					  s->dx + (size_t)ch * tc * d, s->gchunk[ch] + pv->embed));
	/* Dense gradients: tree over local chunks, then over ranks (model.h). */
	double r0 = now_us();
	comm_tree_sum_f32(grad_dense, (const float *const *)s->gchunk, s->chunks, m->n_dense);
	TRY(comm_allreduce_sum_f32(comm, grad_dense, m->n_dense));
	/* Expert loads of every MoE block, summed over the world. */
	memset(expert_load, 0, (size_t)c->n_layers * E * sizeof(int64_t));
	struct moe_router_config rc = model_router_config(c);
	for (int l = 0; l < c->n_layers; l++)
		if (is_moe(c, l))
			TRY(moe_router_count_load(&rc, T, s->b[l].topk_idx,
						  expert_load + (size_t)l * E, NULL));
	TRY(comm_allreduce_sum_i64(comm, expert_load, (size_t)c->n_layers * E));
	s->tm.reduce_us += now_us() - r0;
	s->tm.other_us += now_us() - t0 - (s->tm.gemm_us - g0) - (s->tm.ep_us - e0) -
			  (now_us() - r0);
	return 0;
}
