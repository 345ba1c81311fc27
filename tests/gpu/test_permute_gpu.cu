/*
 * test_permute_gpu.cu - the GPU permutation plan, permute, unpermute and
 * weighted combine (moe_cuda.h) against kernels/permute.c, bit for bit:
 * every plan array, every byte of permuted / unpermuted rows of several
 * element types and widths (FP32 hidden rows, 7-byte e4m3 rows, 1x128
 * scale rows), and every combined FP32 value with and without weights.
 * Routings are fresh random numbers per case (lt_seed) with unused (-1)
 * slots and skewed expert loads; aligns 1, 3 and 128.  Outputs are
 * poisoned before every launch.
 *
 * Needs a CUDA device; without one the GPU cases are skipped.  The
 * argument checks run everywhere.
 */
#include "lt.h"
#include "gpu_check.h"
#include "loom/err.h"
#include "loom/moe.h"
#include "loom/moe_cuda.h"
#include "loom/rng.h"

#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

static void random_topk(struct loom_rng *r, int32_t *idx, int n, int e)
{
	for (int i = 0; i < n; i++)
		idx[i] = loom_rng_uniform(r) < 0.1 ? -1
			 : (int32_t)(loom_rng_u32(r) % (uint32_t)((loom_rng_u32(r) & 1) ? e : (e + 1) / 2));
}

/* Download n int32 from d and compare with want. */
static void check_i32(struct lt *t, const char *what, const int32_t *d, const int32_t *want, size_t n)
{
	std::vector<int32_t> got(n);

	if (n == 0 || !cuda_ok(t, cudaMemcpy(got.data(), d, n * 4, cudaMemcpyDeviceToHost), what))
		return;
	for (size_t i = 0, bad = 0; i < n && bad < 5; i++)
		if (got[i] != want[i] && ++bad)
			lt_fail(t, __FILE__, __LINE__, "%s[%zu]: %d vs %d", what, i, got[i], want[i]);
}

static void check_plan(struct lt *t, const struct moe_cuda_plan *g, const struct moe_permute_plan *c)
{
	LT_CHECK(t, g->num_rows == c->num_rows, "num_rows %d vs %d", g->num_rows, c->num_rows);
	if (g->num_rows != c->num_rows)
		return;
	check_i32(t, "expert_count", g->expert_count, c->expert_count, c->num_experts);
	check_i32(t, "expert_offset", g->expert_offset, c->expert_offset, c->num_experts + 1);
	check_i32(t, "expert_of_row", g->expert_of_row, c->expert_of_row, c->num_rows);
	check_i32(t, "src_of_row", g->src_of_row, c->src_of_row, c->num_rows);
	check_i32(t, "row_of_src", g->row_of_src, c->row_of_src, (size_t)c->num_tokens * c->top_k);
}

/* Rows of row_bytes through permute then unpermute, GPU vs CPU. */
static void check_rows(struct lt *t, const struct moe_cuda_plan *g, const struct moe_permute_plan *c,
		       size_t row_bytes, struct loom_rng *r)
{
	size_t n_in = (size_t)c->num_tokens * row_bytes, n_perm = (size_t)c->num_rows * row_bytes;
	size_t n_un = (size_t)c->num_tokens * c->top_k * row_bytes;
	std::vector<unsigned char> x(n_in), perm(n_perm), un(n_un), got(n_perm > n_un ? n_perm : n_un);
	unsigned char *d_x = NULL, *d_p = NULL, *d_u = NULL;

	for (size_t i = 0; i < n_in; i++)
		x[i] = (unsigned char)loom_rng_u32(r);
	LT_CHECK(t, moe_permute(c, x.data(), row_bytes, perm.data()) == 0, "%s", loom_err_msg());
	LT_CHECK(t, moe_unpermute(c, perm.data(), row_bytes, un.data()) == 0, "%s", loom_err_msg());
	if (!cuda_ok(t, cudaMalloc(&d_x, n_in), "malloc") ||
	    !cuda_ok(t, cudaMalloc(&d_p, n_perm + 1), "malloc") ||
	    !cuda_ok(t, cudaMalloc(&d_u, n_un), "malloc") ||
	    !cuda_ok(t, cudaMemcpy(d_x, x.data(), n_in, cudaMemcpyHostToDevice), "H2D") ||
	    !cuda_ok(t, cudaMemset(d_p, 0xff, n_perm + 1), "poison") ||
	    !cuda_ok(t, cudaMemset(d_u, 0xff, n_un), "poison"))
		goto out;
	LT_CHECK(t, moe_cuda_permute(g, d_x, row_bytes, d_p, NULL) == 0, "%s", loom_err_msg());
	LT_CHECK(t, moe_cuda_unpermute(g, d_p, row_bytes, d_u, NULL) == 0, "%s", loom_err_msg());
	if (!cuda_ok(t, cudaGetLastError(), "launch") || !cuda_ok(t, cudaDeviceSynchronize(), "kernel") ||
	    !cuda_ok(t, cudaMemcpy(got.data(), d_p, n_perm, cudaMemcpyDeviceToHost), "D2H"))
		goto out;
	LT_CHECK(t, memcmp(got.data(), perm.data(), n_perm) == 0, "permute rows of %zu bytes", row_bytes);
	if (!cuda_ok(t, cudaMemcpy(got.data(), d_u, n_un, cudaMemcpyDeviceToHost), "D2H"))
		goto out;
	LT_CHECK(t, memcmp(got.data(), un.data(), n_un) == 0, "unpermute rows of %zu bytes", row_bytes);
out:
	cudaFree(d_x);
	cudaFree(d_p);
	cudaFree(d_u);
}

static void check_combine(struct lt *t, const struct moe_cuda_plan *g, const struct moe_permute_plan *c,
			  int h, bool weighted, struct loom_rng *r)
{
	size_t ny = (size_t)c->num_rows * h, no = (size_t)c->num_tokens * h;
	size_t nw = (size_t)c->num_tokens * c->top_k;
	std::vector<float> y(ny), w(nw), out(no), got(no);
	float *d_y = NULL, *d_w = NULL, *d_o = NULL;

	for (size_t i = 0; i < ny; i++)
		y[i] = (float)loom_rng_normal(r);
	for (size_t i = 0; i < nw; i++)
		w[i] = (float)loom_rng_uniform(r);
	LT_CHECK(t, moe_combine_f32(c, y.data(), h, weighted ? w.data() : NULL, out.data()) == 0, "");
	if (!cuda_ok(t, cudaMalloc(&d_y, ny * 4 + 4), "malloc") || !cuda_ok(t, cudaMalloc(&d_w, nw * 4), "malloc") ||
	    !cuda_ok(t, cudaMalloc(&d_o, no * 4), "malloc") ||
	    !cuda_ok(t, cudaMemcpy(d_y, y.data(), ny * 4, cudaMemcpyHostToDevice), "H2D") ||
	    !cuda_ok(t, cudaMemcpy(d_w, w.data(), nw * 4, cudaMemcpyHostToDevice), "H2D") ||
	    !cuda_ok(t, cudaMemset(d_o, 0xff, no * 4), "poison"))
		goto out;
	LT_CHECK(t, moe_cuda_combine_f32(g, d_y, h, weighted ? d_w : NULL, d_o, NULL) == 0, "%s",
		 loom_err_msg());
	if (!cuda_ok(t, cudaGetLastError(), "launch") || !cuda_ok(t, cudaDeviceSynchronize(), "kernel") ||
	    !cuda_ok(t, cudaMemcpy(got.data(), d_o, no * 4, cudaMemcpyDeviceToHost), "D2H"))
		goto out;
	for (size_t i = 0, bad = 0; i < no && bad < 5; i++)
		if (memcmp(&got[i], &out[i], 4) && ++bad)
			lt_fail(t, __FILE__, __LINE__, "combine h=%d weighted=%d out[%zu]: %a vs %a", h,
				weighted, i, (double)got[i], (double)out[i]);
out:
	cudaFree(d_y);
	cudaFree(d_w);
	cudaFree(d_o);
}

/* wide: bytes of the widest row type and the combine's hidden size, kept
 * so that the padded buffers stay around 100 MB. */
static void run_case(struct lt *t, int tokens, int k, int e, int align, bool upload, int wide)
{
	struct loom_rng r;
	std::vector<int32_t> idx((size_t)tokens * k);
	int32_t *d_idx = NULL;
	struct moe_cuda_plan g = {};
	struct moe_permute_plan *c;

	loom_rng_init(&r, lt_seed(t) ^ (uint64_t)(tokens * 977 + e * 13 + align));
	random_topk(&r, idx.data(), (int)idx.size(), e);
	c = moe_permute_plan_create(tokens, k, e, idx.data(), align);
	LT_CHECK(t, c != NULL, "%s", loom_err_msg());
	if (!c || !cuda_ok(t, cudaMalloc(&d_idx, idx.size() * 4), "malloc") ||
	    !cuda_ok(t, cudaMemcpy(d_idx, idx.data(), idx.size() * 4, cudaMemcpyHostToDevice), "H2D"))
		goto out;
	if (upload)
		LT_CHECK(t, moe_cuda_plan_upload(&g, c, NULL) == 0, "%s", loom_err_msg());
	else
		LT_CHECK(t, moe_cuda_plan_build(&g, tokens, k, e, d_idx, align, NULL) == 0, "%s",
			 loom_err_msg());
	if (!g.mem)
		goto out;
	check_plan(t, &g, c);
	for (size_t rb : { (size_t)wide, (size_t)7, (size_t)56 * 4, (size_t)12, (size_t)1 })
		check_rows(t, &g, c, rb, &r);
	check_combine(t, &g, c, wide, true, &r);
	check_combine(t, &g, c, 129, false, &r);
out:
	moe_cuda_plan_free(&g);
	moe_permute_plan_destroy(c);
	cudaFree(d_idx);
}

static void test_plan_and_rows_match_reference(struct lt *t)
{
	if (!have_gpu(t))
		return;
	run_case(t, 512, 8, 64, 128, false, 2048);	/* <= 12224 rows */
	run_case(t, 300, 6, 64, 1, false, 7168);
	run_case(t, 37, 3, 5, 3, false, 7168);
	run_case(t, 1, 1, 1, 1, false, 7168);
	run_case(t, 4096, 8, 32, 1, false, 1024);
	run_case(t, 64, 8, 256, 128, false, 1024);	/* mostly padding */
}

static void test_uploaded_plan_matches_reference(struct lt *t)
{
	if (!have_gpu(t))
		return;
	run_case(t, 300, 6, 64, 128, true, 2048);
}

static void test_plan_rejects_bad_index(struct lt *t)
{
	int32_t idx[6] = { 0, 1, -1, 3, 4, 2 }, *d_idx = NULL;
	struct moe_cuda_plan g = {};

	if (!have_gpu(t))
		return;
	if (!cuda_ok(t, cudaMalloc(&d_idx, sizeof(idx)), "malloc") ||
	    !cuda_ok(t, cudaMemcpy(d_idx, idx, sizeof(idx), cudaMemcpyHostToDevice), "H2D"))
		goto out;
	LT_CHECK(t, moe_cuda_plan_build(&g, 3, 2, 4, d_idx, 1, NULL) == -EINVAL, "index 4 of 4");
	LT_CHECK(t, strstr(loom_err_msg(), "topk_idx[4]") != NULL, "%s", loom_err_msg());
	LT_CHECK(t, g.mem == NULL, "plan freed on error");
	idx[1] = -2;
	if (!cuda_ok(t, cudaMemcpy(d_idx, idx, sizeof(idx), cudaMemcpyHostToDevice), "H2D"))
		goto out;
	LT_CHECK(t, moe_cuda_plan_build(&g, 3, 2, 5, d_idx, 1, NULL) == -EINVAL, "index -2");
	LT_CHECK(t, strstr(loom_err_msg(), "topk_idx[1]") != NULL, "%s", loom_err_msg());
out:
	cudaFree(d_idx);
}

static void test_bad_args_rejected(struct lt *t)
{
	/* Checked on the host before any CUDA call: runs without a GPU. */
	struct moe_cuda_plan g = {};
	const int32_t *idx = (const int32_t *)16;

	LT_CHECK(t, moe_cuda_plan_build(&g, 4, 2, 8, NULL, 1, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_plan_build(&g, 0, 2, 8, idx, 1, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_plan_build(&g, 4, 2, 8, idx, 0, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_plan_build(&g, 1 << 20, 1 << 12, 8, idx, 1, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_plan_build(NULL, 4, 2, 8, idx, 1, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_plan_upload(&g, NULL, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_permute(&g, idx, 4, (void *)16, NULL) == -EINVAL, "empty plan");
	LT_CHECK(t, moe_cuda_permute(NULL, idx, 4, (void *)16, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_unpermute(&g, NULL, 4, (void *)16, NULL) == -EINVAL, "");
	LT_CHECK(t, moe_cuda_combine_f32(&g, (const float *)16, 0, NULL, (float *)16, NULL) == -EINVAL, "");
	moe_cuda_plan_free(&g);
	moe_cuda_plan_free(NULL);
}

static const struct lt_case cases[] = {
	LT_CASE(test_bad_args_rejected),
	LT_CASE(test_plan_and_rows_match_reference),
	LT_CASE(test_uploaded_plan_matches_reference),
	LT_CASE(test_plan_rejects_bad_index),
};

int main(int argc, char **argv) { return lt_main(argc, argv, cases, LT_N(cases)); }
