/*
 * comm.h - collective communication between the ranks of a job over the
 * transport (transport.h): what the live workload's expert and data
 * parallelism is built on.
 *
 * A communicator connects every pair of ranks with one RC queue pair of a
 * chosen provider ("shm", "udp", "ibverbs"; any provider of transport.h),
 * exchanging addresses and QP numbers through the bootstrap (bootstrap.h).
 * All operations are collective over the ranks named (the whole world, or
 * an explicit group of ranks for the two hops of expert-parallel dispatch),
 * blocking, and deterministic: the bytes every rank ends with depend only
 * on the inputs, never on timing, provider or scheduling.
 *
 * Not here: overlap with compute, non-blocking collectives, GPU memory.
 *
 * Failure: a dead peer, a transport error or a timeout ends the operation
 * with a negative errno and a message naming the peer and the operation
 * (loom_err_msg()); never a hang. After an error the communicator is broken:
 * every later call fails at once with -EPIPE (except -EINVAL for a call's
 * own arguments: such a call sent nothing and leaves it usable).
 *
 * Concurrency: a communicator is used by one thread at a time.
 */
#ifndef LOOM_COMM_H
#define LOOM_COMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct boot;
struct comm;

struct comm_opts {
	const char *provider;  /* transport provider; NULL = "shm" */
	const char *device;    /* device name; NULL = the provider's first */
	size_t chunk_bytes;    /* staging buffer per peer and direction; 0 = 4 MiB.
				* Larger messages are sent in pieces. */
	int timeout_ms;	       /* any single wait; <= 0 = 60000 */
};

/* Create the communicator of boot's job (collective over every rank of
 * boot). NULL on failure with the reason in loom_err_msg(). boot must
 * outlive the communicator. A world of one rank needs no transport at all
 * (no device is opened; every operation is a local copy). */
struct comm *comm_create(struct boot *boot, const struct comm_opts *opts);
/* Collective; always frees. 0, or the first error seen while closing. */
int comm_destroy(struct comm *c);

int comm_rank(const struct comm *c);
int comm_size(const struct comm *c);
const char *comm_provider(const struct comm *c); /* "shm", ... or "local" */

/* A group: ranks[0 .. n-1], strictly increasing, each in [0, size), the
 * caller among them. Every member calls with the same group. NULL group =
 * the whole world. Positions in the group index counts/offsets below. */
struct comm_group {
	int n;
	const int *ranks;
};

/* All-to-all with variable sizes, in bytes. For each position j of the
 * group: send_count[j] bytes from send + send_off[j] go to member j, which
 * receives them at its recv + recv_off[i] (i = our position) with
 * recv_count[i] == our send_count[j] (checked: a mismatch is -EPROTO).
 * The member's own part is a local memmove. Buffers are any host memory
 * (the communicator stages them through registered memory). */
int comm_alltoallv(struct comm *c, const struct comm_group *g, const void *send,
		   const size_t *send_count, const size_t *send_off, void *recv,
		   const size_t *recv_count, const size_t *recv_off);

/* Element-wise sum of n floats over the world, result in buf on every rank.
 * Deterministic and independent of the rank count in this sense: with P
 * ranks (a power of two), the result equals summing the P contributions as
 * a balanced binary tree in rank order, ((r0 + r1) + (r2 + r3)) + ..., so a
 * caller whose rank contributions are themselves balanced-tree sums of
 * equally many consecutive parts gets the same bits as one rank summing all
 * parts in one tree. Non-power-of-two P: the same tree as comm_tree_sum_f32
 * (adjacent pairs level by level, an odd last contribution passes up;
 * documented in comm_coll.c). Every rank ends with identical bits. */
int comm_allreduce_sum_f32(struct comm *c, float *buf, size_t n);
/* Exact sums of n int64 (counts, loads). */
int comm_allreduce_sum_i64(struct comm *c, int64_t *buf, size_t n);
/* Every rank's len bytes, in rank order, into all (size * len). */
int comm_allgather(struct comm *c, const void *mine, void *all, size_t len);
int comm_barrier(struct comm *c);

/* The balanced-tree sum used above, for callers that combine their own
 * parts the same way: parts[i] (n floats each, nparts >= 1) summed into out
 * as ((p0 + p1) + (p2 + p3)) + ... (pairing adjacent, level by level; an odd
 * last part passes up unchanged). out may alias parts[0]. */
void comm_tree_sum_f32(float *out, const float *const *parts, int nparts, size_t n);

/* Traffic and time since creation (or the last reset), this rank. */
struct comm_stats {
	uint64_t bytes_sent;	  /* to other ranks, over the transport */
	uint64_t bytes_local;	  /* own part of collectives, copied locally */
	uint64_t messages_sent;	  /* transport messages (pieces) */
	uint64_t ops;		  /* collective calls */
	double wait_us;		  /* time blocked waiting for peers' data or credits */
	double busy_us;		  /* total time inside collective calls */
};
int comm_stats_get(const struct comm *c, struct comm_stats *s);
void comm_stats_reset(struct comm *c);

#ifdef __cplusplus
}
#endif
#endif
