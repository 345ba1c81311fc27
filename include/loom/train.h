/*
 * train.h - the live workload's training loop (workloads/train.c): one
 * rank's part of `loom train`. Every rank of a job calls train_run with the
 * same options; rank 0 prints progress, writes metrics and the summary.
 *
 * Per step: the global batch (batch sequences of seq_len bytes, drawn from
 * (seed, step) alone) is cut into `chunks` gradient chunks (model.h), rank
 * r taking chunks [r C/P, (r+1) C/P); forward + backward (experts through
 * EP), dense gradients all-reduced, global-norm clipping, AdamW (FP32
 * master weights and moments; decay on matrices only), warmup + cosine
 * learning rate, then the routers' aux-loss-free bias step from the global
 * expert loads. Every collective is also charged on the fabric model
 * (fabric.h) to give the modelled communication time per step.
 * Validation loss every eval_every steps on eval_windows fixed windows of
 * the validation split. Checkpoints every ckpt_every steps (one file per
 * rank plus a "latest" record, each written atomically); resume continues
 * bit-identically.
 */
#ifndef LOOM_TRAIN_H
#define LOOM_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "loom/model.h"

#ifdef __cplusplus
extern "C" {
#endif

struct boot;
struct nn_device;

struct train_opts {
	struct model_config model;
	int steps;	     /* total optimizer steps */
	int batch;	     /* sequences per step, global */
	int chunks;	     /* gradient chunks C (0 = 4); P must divide C, C / P a power of 2 */
	double lr, min_lr_frac, weight_decay, beta1, beta2, adam_eps, clip;
	int warmup;	     /* steps of linear warmup */
	int eval_every;	     /* 0 = only at the end */
	int eval_windows;    /* validation windows of seq_len (multiple of C) */
	int ckpt_every;	     /* 0 = never */
	const char *ckpt_dir; /* NULL = no checkpoints */
	int resume;	     /* 1: continue from ckpt_dir's latest checkpoint */
	uint64_t seed;
	const char *data_path;	  /* NULL = data_default_path() */
	const char *metrics_path; /* JSON lines; NULL = none */
	const char *provider;	  /* transport provider (comm.h) */
	int ranks_per_node;	  /* 0 = all ranks one node */
	int two_hop;		  /* node-limited two-hop dispatch/combine */
	int combine_logfmt;	  /* 0: combine in BF16 (FP32 in fp32 runs); n in 8..16:
				   * combine rows in LogFMT-n ([P]) */
	const char *fabric;	  /* timing model name, "h800" */
	struct nn_device *device; /* NULL: CPU; else the model's device (model.h), the
				   * caller's: `loom train --device cuda` */
	int progress_tty;	  /* -1 detect, 0 plain lines, 1 bar */
	int quiet;		  /* no progress output */
	int stop_after;		  /* > 0: stop after this many steps of this run (tests) */
	int kill_rank, kill_step; /* kill_step > 0: rank kill_rank SIGKILLs itself after
				   * that step (fault injection for tests) */
};

/* Defaults of `loom train` (the default experiment of `make run`). */
struct train_opts train_opts_default(void);

struct train_result {
	int steps;		/* steps done in total (resumed ones included) */
	double train_loss;	/* mean loss of the last step */
	double val_loss;	/* last validation loss (NaN if none) */
	double tokens_per_s;	/* this run's trained tokens per wall second */
	double wall_s;
	double comm_us_per_step;      /* modelled on the fabric */
	double comm_wall_us_per_step; /* measured time in EP + all-reduce, rank 0 */
	double gemm_us_per_step, gemm_gflops; /* rank 0's linear layers */
	double ep_us_per_step;	      /* rank 0: in dispatch/combine (+ backward) */
	double reduce_us_per_step;    /* rank 0: gradient and load all-reduce */
	double wait_us_per_step;      /* rank 0: blocked waiting for peers (comm_stats) */
	double step_ms;		      /* wall per step, median */
	uint64_t param_digest;	      /* FNV-1a of every parameter's bits (all ranks) */
};

/* Run this rank's part. 0, or a negative errno with loom_err_msg(). */
int train_run(struct boot *boot, const struct train_opts *o, struct train_result *res);

/* Print the readable summary (rank 0). */
void train_print_summary(FILE *f, const struct train_opts *o, int ranks,
			 const struct train_result *r);

#ifdef __cplusplus
}
#endif
#endif
