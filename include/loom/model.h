/*
 * model.h - the live workload's language model: a small DeepSeek-V3-style
 * decoder (REFERENCE §2) trained in C, its experts sharded across ranks
 * (expert parallelism through ep.h) and its dense parameters replicated
 * (data parallelism, gradients all-reduced through comm.h).
 *
 * Structure: byte embedding (V = 256); n_layers blocks of
 *   x += Wo . attention(RoPE(Wq . norm(x)), RoPE(Wk . norm(x)), Wv . norm(x))
 *   x += FFN(norm(x))
 * where FFN is a dense SwiGLU in the first `dense_layers` blocks and a MoE
 * in the others: one shared SwiGLU expert plus n_experts routed SwiGLU
 * experts, the sigmoid router with the aux-loss-free bias and group-limited
 * top-k (moe.h); then a final RMSNorm, the output head and cross-entropy.
 * Attention is plain causal multi-head attention with RoPE (not MLA).
 *
 * Precision (nn.h): the linear layers of attention, dense FFN and experts
 * run in the chosen precision; the embedding, norms, router, attention core
 * and head stay in FP32 (BF16 GEMMs for router and head in bf16 mode).
 * Master weights, gradients and AdamW moments are FP32.
 *
 * Determinism: a step's global batch of B sequences is cut into C
 * "gradient chunks" of B / C consecutive sequences; with P ranks (P divides
 * C, C / P a power of two) rank r holds chunks [r C/P, (r+1) C/P). Dense
 * weight gradients are computed per chunk and summed as a balanced tree
 * over the C chunks (locally, then comm_allreduce_sum_f32), expert
 * gradients by the expert's owner over its rows in global token order, so
 * every parameter is bit-identical for any P, ranks_per_node and provider.
 */
#ifndef LOOM_MODEL_H
#define LOOM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "loom/moe.h"
#include "loom/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

struct comm;
struct ep;
struct nn_device;

struct model_config {
	int vocab;	   /* 256 (bytes) */
	int d_model;	   /* d */
	int n_layers;
	int n_heads;	   /* H, d % H == 0, d / H even (RoPE) */
	int seq_len;	   /* S */
	int dense_layers;  /* leading blocks with a dense FFN (>= 1 per [T]) */
	int dense_hidden;  /* their SwiGLU hidden size */
	int n_experts;	   /* routed experts E per MoE block */
	int expert_hidden; /* each routed expert's SwiGLU hidden size */
	int shared_hidden; /* the shared expert's hidden size */
	int top_k;
	int n_groups;	   /* expert groups for group-limited routing */
	int topk_groups;   /* groups a token may use */
	float routed_scale;
	float bias_update_speed; /* gamma */
	float rope_theta;
	float norm_eps;
	enum nn_precision precision;
};

struct model_config model_config_default(void);
/* The router settings of the MoE blocks (moe.h), from the model config. */
struct moe_router_config model_router_config(const struct model_config *c);

/* 0 or -EINVAL with the rule broken; world_size is the rank count (E % P). */
int model_config_check(const struct model_config *c, int world_size);

/* One parameter tensor of the flat buffers. */
struct model_tensor {
	char name[48];
	int expert;	 /* 0: in the dense (replicated) buffer; 1: in the expert buffer */
	int decay;	 /* 1: weight decay applies (matrices) */
	size_t offset;	 /* in floats, in its buffer */
	size_t count;
};

struct model {
	struct model_config cfg;
	int rank, world;	    /* expert shard of this rank */
	int n_local_experts;	    /* E / world */
	size_t n_dense, n_expert;   /* floats in each buffer */
	float *dense;		    /* replicated parameters */
	float *expert;		    /* this rank's experts, every MoE block */
	float *router_bias;	    /* (n_layers, E), model state, not trained by gradients */
	int n_tensors;
	struct model_tensor *tensors;
	/* NULL (model_create's default): every layer on the CPU (nn.h, moe.h).
	 * Else the FP8 linear layers and the routers' selection run on this
	 * device (nn_device.h); set by the caller, who owns it. */
	struct nn_device *device;
	void *priv; /* layout (model.c) */
};

/* Allocate and initialize from seed: every tensor from its own PRNG
 * stream (seed, tensor name, global expert index), so any world size gets
 * the same numbers. NULL + loom_err_msg() on failure. */
struct model *model_create(const struct model_config *cfg, int rank, int world, uint64_t seed);
void model_destroy(struct model *m);

/* The activations and gradients of one step on this rank. */
struct model_step;

/* chunks_local: gradient chunks this rank holds (C / P), each of
 * seqs_per_chunk sequences. */
struct model_step *model_step_create(const struct model *m, int chunks_local, int seqs_per_chunk);
void model_step_destroy(struct model_step *s);

/* Forward over this rank's tokens (chunks_local * seqs_per_chunk * S of
 * them, (T) tok and tgt), collective with the other ranks (EP) when ep is
 * non-NULL (a world of one may pass its 1-rank ep too). Writes the sum of
 * the per-token losses of each local chunk into chunk_loss (chunks_local,
 * summed in row order in FP64). Activations are always kept (the step
 * buffers are sized for them); train is informational today. */
int model_forward(struct model *m, struct model_step *s, struct ep *ep, const int32_t *tok,
		  const int32_t *tgt, int train, double *chunk_loss);

/* Backward of the last forward (train = 1). loss_scale multiplies every
 * token's loss (1 / global tokens for a mean). Leaves the dense gradient
 * reduced over the world (comm) in grad_dense (n_dense) and the local
 * experts' gradients in grad_expert (n_expert); expert_load (n_layers, E)
 * gets the global per-expert token counts of this step. */
int model_backward(struct model *m, struct model_step *s, struct ep *ep, struct comm *comm,
		   float loss_scale, float *grad_dense, float *grad_expert, int64_t *expert_load);

/* Timing of the last forward/backward on this rank, microseconds. */
struct model_step_times {
	double gemm_us;	 /* linear layers (nn_linear_*) */
	double ep_us;	 /* dispatch / combine and their backward */
	double reduce_us; /* gradient all-reduce */
	double other_us;
	uint64_t gemm_flops; /* 2 m n k summed over the linear layers */
};
void model_step_times(const struct model_step *s, struct model_step_times *t);
/* The EP calls of the last forward + backward, in order: returns their
 * number n; *rows points at n records of 2 P uint64: bytes this rank sent
 * to each rank intra-node, then inter-node (ep_traffic's last_*). */
int model_step_traffic(const struct model_step *s, const uint64_t **rows);

#ifdef __cplusplus
}
#endif
#endif
