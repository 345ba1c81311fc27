/*
 * comm_coll.c - the collectives of include/loom/comm.h on top of the
 * exchange engine (comm_xchg.c): alltoallv (world or group), allgather,
 * barrier, the deterministic f32 allreduce and the exact i64 one, and the
 * balanced-tree sum.  Not here: transport, flow control, connection setup.
 *
 * Allreduce.  n elements are cut into size segments (segment j: elements
 * [j*(n/size) + min(j, n%size), ...), the first n%size one longer).  A
 * reduce-scatter (one alltoallv) brings every rank's segment j to rank j,
 * which adds the size contributions with comm_tree_sum_f32 in rank order;
 * an allgather (a second alltoallv) spreads the sums.  Each element is
 * summed once, by one rank, so every rank ends with the same bits.  The
 * tree is comm_tree_sum_f32's for every size: adjacent pairs level by
 * level, an odd last contribution passing up a level unchanged, which for
 * a power of two is the balanced tree ((r0 + r1) + (r2 + r3)) + ...
 *
 * Arguments.  A call rejected for its arguments (-EINVAL) sent nothing and
 * leaves the communicator usable; any later error breaks it.
 */
#include <stdlib.h>
#include <string.h>

#include "comm_int.h"
#include "loom/err.h"

/* ---- the balanced tree ----------------------------------------------------- */

#define TREE_BLOCK 256	 /* floats per block: the stack below stays in L1 */
#define TREE_LEVELS 32	 /* nparts < 2^31 */

/* Sum parts[0 .. nparts-1] (elements [i0, i0 + m)) into out.  A stack of
 * partial sums, merged while the top two cover equally many parts, then
 * right to left at the end: that is exactly the level-by-level pairing of
 * adjacent parts with an odd last one passing up (the tests check it
 * against a literal level-by-level sum). */
static void tree_block(float *out, const float *const *parts, int nparts, size_t i0, size_t m)
{
	float stack[TREE_LEVELS][TREE_BLOCK];
	int width[TREE_LEVELS], top = 0;

	for (int k = 0; k < nparts; k++) {
		memcpy(stack[top], parts[k] + i0, m * sizeof(float));
		width[top++] = 1;
		while (top >= 2 && width[top - 1] == width[top - 2]) {
			for (size_t i = 0; i < m; i++)
				stack[top - 2][i] += stack[top - 1][i];
			width[top - 2] *= 2;
			top--;
		}
	}
	while (top >= 2) {
		for (size_t i = 0; i < m; i++)
			stack[top - 2][i] += stack[top - 1][i];
		top--;
	}
	memcpy(out + i0, stack[0], m * sizeof(float));
}

void comm_tree_sum_f32(float *out, const float *const *parts, int nparts, size_t n)
{
	if (!out || !parts || nparts < 1)
		return;
	for (size_t i0 = 0; i0 < n; i0 += TREE_BLOCK)
		tree_block(out, parts, nparts, i0, n - i0 < TREE_BLOCK ? n - i0 : TREE_BLOCK);
}

/* ---- groups and arguments --------------------------------------------------- */

/* Our position in g (world when g is NULL), or -EINVAL. */
static int group_check(const struct comm *c, const struct comm_group *g, int *n_out)
{
	int pos = -1;

	if (!g) {
		*n_out = c->size;
		return c->rank;
	}
	if (g->n < 1 || g->n > c->size || !g->ranks)
		return loom_err_set(EINVAL, "comm: group of %d ranks (%p) in a world of %d", g->n,
				    (const void *)g->ranks, c->size);
	for (int i = 0; i < g->n; i++) {
		if (g->ranks[i] < 0 || g->ranks[i] >= c->size ||
		    (i && g->ranks[i] <= g->ranks[i - 1]))
			return loom_err_set(EINVAL, "comm: group: ranks[%d] = %d is out of range or "
					    "not increasing", i, g->ranks[i]);
		if (g->ranks[i] == c->rank)
			pos = i;
	}
	if (pos < 0)
		return loom_err_set(EINVAL, "comm: group: rank %d is not a member", c->rank);
	*n_out = g->n;
	return pos;
}

static int span_check(const char *what, int j, const void *buf, size_t count, size_t off)
{
	if (count && !buf)
		return loom_err_set(EINVAL, "comm: alltoallv: %s[%d] = %zu bytes from a NULL "
				    "buffer", what, j, count);
	if (off > SIZE_MAX - count || count > ((size_t)1 << 62))
		return loom_err_set(EINVAL, "comm: alltoallv: %s[%d]: offset %zu + %zu bytes "
				    "overflows", what, j, off, count);
	return 0;
}

static int a2av_args(const void *send, const size_t *sc, const size_t *so, const void *recv,
		     const size_t *rc, const size_t *ro, int n)
{
	if (!sc || !so || !rc || !ro)
		return loom_err_set(EINVAL, "comm: alltoallv: NULL count or offset array");
	for (int j = 0; j < n; j++) {
		int err = span_check("send", j, send, sc[j], so[j]);

		err = err ? err : span_check("recv", j, recv, rc[j], ro[j]);
		if (err)
			return err;
	}
	return 0;
}

/* ---- alltoallv, the base of everything ------------------------------------------ */

/* Begin an operation: usable?  Counts the call. */
static int op_begin(struct comm *c, enum comm_op op, double *t0)
{
	*t0 = comm_now_us();
	if (!c)
		return loom_err_set(EINVAL, "comm: %s: NULL communicator", comm_op_name(op));
	c->op = op;
	return comm_check_usable(c);
}

static int op_end(struct comm *c, double t0, int rc)
{
	c->st.ops++;
	c->st.busy_us += comm_now_us() - t0;
	return rc;
}

/* alltoallv over group g (arguments checked), as operation c->op. */
static int a2av_run(struct comm *c, const struct comm_group *g, int n, int me, const void *send,
		    const size_t *sc, const size_t *so, void *recv, const size_t *rc,
		    const size_t *ro)
{
	c->blame = -1;
	if (sc[me] != rc[me])
		return comm_break(c, EPROTO, "comm: %s: rank %d sends itself %zu bytes but "
				  "expects %zu", comm_op_name(c->op), c->rank, sc[me], rc[me]);
	if (sc[me])
		memmove((uint8_t *)recv + ro[me], (const uint8_t *)send + so[me], sc[me]);
	c->st.bytes_local += sc[me];
	/* Peers in the pairwise order: position me + 1, me + 2, ... */
	for (int i = 1; i < n; i++) {
		int j = (me + i) % n;
		int r = g ? g->ranks[j] : j;

		c->xf[i - 1] = (struct comm_xfer){
			.p = &c->peers[r], .src = (const uint8_t *)send + so[j],
			.send_bytes = sc[j], .dst = (uint8_t *)recv + ro[j], .recv_bytes = rc[j],
		};
	}
	return comm_xchg_run(c, c->xf, n - 1);
}

int comm_alltoallv(struct comm *c, const struct comm_group *g, const void *send,
		   const size_t *send_count, const size_t *send_off, void *recv,
		   const size_t *recv_count, const size_t *recv_off)
{
	double t0;
	int rc = op_begin(c, COMM_OP_ALLTOALLV, &t0), n = 0, me;

	if (rc)
		return rc;
	me = group_check(c, g, &n);
	if (me < 0)
		return me;
	rc = a2av_args(send, send_count, send_off, recv, recv_count, recv_off, n);
	if (rc)
		return rc;
	rc = a2av_run(c, g, n, me, send, send_count, send_off, recv, recv_count, recv_off);
	return op_end(c, t0, rc);
}

/* ---- allgather and barrier ---------------------------------------------------- */

/* Everyone's len bytes into all (world); counts arrays of c->size. */
static int gather_run(struct comm *c, const void *mine, void *all, size_t len)
{
	size_t *a = calloc(4 * (size_t)c->size, sizeof(size_t));
	size_t *sc = a, *so = a + c->size, *rcnt = a + 2 * c->size, *ro = a + 3 * c->size;
	int rc;

	c->blame = -1;
	if (!a)
		return comm_break(c, ENOMEM, "comm: %s: out of memory", comm_op_name(c->op));
	for (int j = 0; j < c->size; j++) {
		sc[j] = rcnt[j] = len;
		so[j] = 0;
		ro[j] = (size_t)j * len;
	}
	rc = a2av_run(c, NULL, c->size, c->rank, mine, sc, so, all, rcnt, ro);
	free(a);
	return rc;
}

int comm_allgather(struct comm *c, const void *mine, void *all, size_t len)
{
	double t0;
	int rc = op_begin(c, COMM_OP_ALLGATHER, &t0);

	if (rc)
		return rc;
	if (len && (!mine || !all))
		return loom_err_set(EINVAL, "comm: allgather: NULL buffer for %zu bytes", len);
	if (len > SIZE_MAX / (size_t)c->size)
		return loom_err_set(EINVAL, "comm: allgather: %zu bytes x %d ranks overflows", len,
				    c->size);
	return op_end(c, t0, gather_run(c, mine, all, len));
}

int comm_barrier(struct comm *c)
{
	double t0;
	int rc = op_begin(c, COMM_OP_BARRIER, &t0);
	uint8_t none = 0;

	if (rc)
		return rc;
	return op_end(c, t0, gather_run(c, &none, &none, 0));
}

/* ---- allreduce ------------------------------------------------------------------ */

static size_t seg_off(size_t n, int size, int j)
{
	size_t base = n / (size_t)size, rem = n % (size_t)size;

	return base * (size_t)j + ((size_t)j < rem ? (size_t)j : rem);
}

static size_t seg_len(size_t n, int size, int j)
{
	return seg_off(n, size, j + 1) - seg_off(n, size, j);
}

/* Sum the size contributions in tmp (size x m elements) into out; parts
 * is scratch for size pointers. */
typedef void (*comm_sum_fn)(void *out, const void *tmp, int size, size_t m, const void **parts);

static void sum_f32(void *out, const void *tmp, int size, size_t m, const void **parts)
{
	for (int r = 0; r < size; r++)
		parts[r] = (const float *)tmp + (size_t)r * m;
	comm_tree_sum_f32(out, (const float *const *)parts, size, m);
}

static void sum_i64(void *out, const void *tmp, int size, size_t m, const void **parts)
{
	const int64_t *t = tmp;
	int64_t *o = out;

	(void)parts;
	/* Unsigned adds: wrap-around is defined (two's complement), never UB. */
	for (size_t i = 0; i < m; i++) {
		uint64_t s = 0;

		for (int r = 0; r < size; r++)
			s += (uint64_t)t[(size_t)r * m + i];
		o[i] = (int64_t)s;
	}
}

/* Reduce-scatter, sum, allgather of n elements of esz bytes in buf. */
static int reduce_run(struct comm *c, void *buf, size_t n, size_t esz, comm_sum_fn sum)
{
	int P = c->size, me = c->rank, rc;
	size_t m = seg_len(n, P, me);
	size_t *a = calloc(4 * (size_t)P, sizeof(size_t));
	size_t *sc = a, *so = a + P, *rcnt = a + 2 * P, *ro = a + 3 * P;
	uint8_t *tmp = malloc(m * esz * (size_t)P + 1), *b = buf;
	const void **parts = malloc(sizeof(*parts) * (size_t)P);

	if (!a || !tmp || !parts) {
		free(a), free(tmp), free(parts);
		c->blame = -1;
		return comm_break(c, ENOMEM, "comm: %s: out of memory for %zu bytes",
				  comm_op_name(c->op), m * esz * (size_t)P);
	}
	for (int j = 0; j < P; j++) {
		sc[j] = seg_len(n, P, j) * esz;
		so[j] = seg_off(n, P, j) * esz;
		rcnt[j] = m * esz;
		ro[j] = (size_t)j * m * esz;
	}
	rc = a2av_run(c, NULL, P, me, buf, sc, so, tmp, rcnt, ro);
	if (!rc) {
		sum(b + so[me], tmp, P, m, parts);
		for (int j = 0; j < P; j++) {
			sc[j] = m * esz;
			so[j] = seg_off(n, P, me) * esz;
			rcnt[j] = seg_len(n, P, j) * esz;
			ro[j] = seg_off(n, P, j) * esz;
		}
		rc = a2av_run(c, NULL, P, me, buf, sc, so, buf, rcnt, ro);
	}
	free(a);
	free(tmp);
	free(parts);
	return rc;
}

static int reduce_call(struct comm *c, enum comm_op op, void *buf, size_t n, size_t esz,
		       comm_sum_fn sum)
{
	double t0;
	int rc = op_begin(c, op, &t0);

	if (rc)
		return rc;
	if (n && !buf)
		return loom_err_set(EINVAL, "comm: %s: NULL buffer for %zu elements",
				    comm_op_name(op), n);
	if (n > (SIZE_MAX / 2) / esz)
		return loom_err_set(EINVAL, "comm: %s: %zu elements overflow", comm_op_name(op), n);
	return op_end(c, t0, reduce_run(c, buf, n, esz, sum));
}

int comm_allreduce_sum_f32(struct comm *c, float *buf, size_t n)
{
	return reduce_call(c, COMM_OP_ALLREDUCE_F32, buf, n, sizeof(float), sum_f32);
}

int comm_allreduce_sum_i64(struct comm *c, int64_t *buf, size_t n)
{
	return reduce_call(c, COMM_OP_ALLREDUCE_I64, buf, n, sizeof(int64_t), sum_i64);
}
