/*
 * logfmt.cu - LogFMT-nBit encode and decode (n = 8..16, 1x128 tiles) for
 * sm_90a.  Contract in include/loom/logfmt_cuda.h, format in
 * include/loom/logfmt.h; the CPU reference is kernels/logfmt.c.
 * Not yet run on a GPU: compiled and statically checked only
 * (docs/GPU_RESULTS.md); the arithmetic (logfmt.cuh) is tested on the CPU
 * against the reference.
 *
 * One warp per tile, four elements per lane (columns lane + 32 j, so loads
 * and stores are coalesced).  Encode: warp max / min of |x| for the header,
 * each lane searches its codes exactly (logfmt.cuh), the codes go through
 * the warp's 128-entry shared array, then each lane writes bytes of the
 * packed stream.  Decode: each lane unpacks and decodes its four codes
 * with the integer exp2.  Not here: fusion into a transport kernel.
 */
#include "loom/err.h"
#include "loom/logfmt_cuda.h"

#include "logfmt.cuh"

#include <cuda_runtime.h>

#define LF_WARPS 4
#define LF_PER_LANE (LF_TILE / 32)

struct lf_geom {
	int t, h, tiles_per_row, nbits, tile_bytes;
	long long tiles;
};

static __device__ float lf_warp_max(float v)
{
	for (int off = 16; off > 0; off /= 2)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
	return v;
}

static __device__ float lf_warp_min(float v)
{
	for (int off = 16; off > 0; off /= 2)
		v = fminf(v, __shfl_xor_sync(0xffffffffu, v, off));
	return v;
}

/* Load the lane's elements of tile g; returns the tile's length. */
static __device__ int lf_load(float *v, const float *x, const lf_geom &g, long long tile, int lane)
{
	int r = (int)(tile / g.tiles_per_row), c0 = (int)(tile % g.tiles_per_row) * LF_TILE;
	int len = g.h - c0 < LF_TILE ? g.h - c0 : LF_TILE;
	const float *row = x + (size_t)r * g.h + c0;

#pragma unroll
	for (int j = 0; j < LF_PER_LANE; j++) {
		int i = lane + 32 * j;
		v[j] = i < len ? row[i] : 0.0f;
	}
	return len;
}

/* Record a bad element / tile index (smallest wins). */
static __device__ void lf_report(unsigned long long *first_bad, unsigned long long i)
{
	if (first_bad)
		atomicMin(first_bad, i);
}

__global__ static void __launch_bounds__(LF_WARPS * 32)
k_logfmt_encode(uint8_t *dst, const float *x, lf_geom g, unsigned long long *first_bad)
{
	__shared__ uint16_t codes[LF_WARPS][LF_TILE];
	const int lane = threadIdx.x % 32, w = threadIdx.x / 32;
	const float inf = __uint_as_float(0x7f800000u);

	for (long long tile = (long long)blockIdx.x * LF_WARPS + w; tile < g.tiles;
	     tile += (long long)gridDim.x * LF_WARPS) {
		float v[LF_PER_LANE], amax = 0.0f, amin = inf;
		int len = lf_load(v, x, g, tile, lane), bad = LF_TILE;

#pragma unroll
		for (int j = 0; j < LF_PER_LANE; j++) {
			float a = fabsf(v[j]);
			if (!(a < inf) && lane + 32 * j < len)
				bad = min(bad, lane + 32 * j);
			amax = fmaxf(amax, a);
			amin = a != 0.0f ? fminf(amin, a) : amin;
		}
		for (int off = 16; off > 0; off /= 2)
			bad = min(bad, __shfl_xor_sync(0xffffffffu, bad, off));
		if (bad < LF_TILE) {
			long long r = tile / g.tiles_per_row;
			if (lane == 0)
				lf_report(first_bad, (unsigned long long)r * g.h +
					  (tile % g.tiles_per_row) * LF_TILE + bad);
			continue;
		}
		float lmin, lmax;
		lf_header(lf_warp_max(amax), lf_warp_min(amin), &lmin, &lmax);
		struct lf_codebook c = lf_codebook_init(lmin, lmax, g.nbits);
		/* unrolled: v[] must stay in registers */
#pragma unroll
		for (int j = 0; j < LF_PER_LANE; j++) {
			int i = lane + 32 * j;
			codes[w][i] = i < len ? (uint16_t)lf_encode_one(c, v[j], g.nbits) : 0;
		}
		__syncwarp();
		uint8_t *out = dst + tile * g.tile_bytes;
		if (lane < 2) {
			uint32_t u = cu_f32_bits(lane ? lmax : lmin);
			for (int b = 0; b < 4; b++)
				out[4 * lane + b] = (uint8_t)(u >> (8 * b));
		}
		for (int b = lane; b < 16 * g.nbits; b += 32)
			out[LF_HEADER_BYTES + b] = lf_pack_byte(codes[w], b, g.nbits);
		__syncwarp();
	}
}

__global__ static void __launch_bounds__(LF_WARPS * 32)
k_logfmt_decode(float *x, const uint8_t *src, lf_geom g, unsigned long long *first_bad)
{
	const int lane = threadIdx.x % 32, w = threadIdx.x / 32;

	for (long long tile = (long long)blockIdx.x * LF_WARPS + w; tile < g.tiles;
	     tile += (long long)gridDim.x * LF_WARPS) {
		const uint8_t *in = src + tile * g.tile_bytes;
		uint32_t h0 = in[0] | in[1] << 8 | in[2] << 16 | (uint32_t)in[3] << 24;
		uint32_t h1 = in[4] | in[5] << 8 | in[6] << 16 | (uint32_t)in[7] << 24;
		float lmin = cu_f32_from_bits(h0), lmax = cu_f32_from_bits(h1);

		if (!lf_header_valid(lmin, lmax)) {
			if (lane == 0)
				lf_report(first_bad, (unsigned long long)tile);
			continue;
		}
		struct lf_codebook c = lf_codebook_init(lmin, lmax, g.nbits);
		int r = (int)(tile / g.tiles_per_row), c0 = (int)(tile % g.tiles_per_row) * LF_TILE;
		int len = g.h - c0 < LF_TILE ? g.h - c0 : LF_TILE;
		float *row = x + (size_t)r * g.h + c0;
		for (int j = 0; j < LF_PER_LANE; j++) {
			int i = lane + 32 * j;
			if (i < len)
				row[i] = lf_decode_one(c, lf_unpack_code(in + LF_HEADER_BYTES, i, g.nbits),
						       g.nbits);
		}
	}
}

static int lf_setup(lf_geom *g, const void *dst, const void *src, int t, int h, int nbits,
		    const char *fn)
{
	if (!dst || !src)
		return loom_err_set(EINVAL, "logfmt_cuda: %s: NULL pointer", fn);
	if (t <= 0 || h <= 0)
		return loom_err_set(EINVAL, "logfmt_cuda: %s: t=%d h=%d must be > 0", fn, t, h);
	if (nbits < 8 || nbits > 16)
		return loom_err_set(EINVAL, "logfmt_cuda: %s: nbits=%d must be in 8..16", fn, nbits);
	g->t = t;
	g->h = h;
	g->nbits = nbits;
	g->tiles_per_row = h / LF_TILE + (h % LF_TILE != 0);
	g->tile_bytes = LF_HEADER_BYTES + LF_TILE / 8 * nbits;
	g->tiles = (long long)t * g->tiles_per_row;
	return 0;
}

static unsigned lf_grid(long long tiles)
{
	long long b = (tiles + LF_WARPS - 1) / LF_WARPS;
	return (unsigned)(b < 132 * 16 ? b : 132 * 16);
}

static int lf_start(unsigned long long *first_bad, cudaStream_t s, const char *fn)
{
	cudaError_t e = first_bad ? cudaMemsetAsync(first_bad, 0xff, sizeof(*first_bad), s)
				  : cudaSuccess;

	return e == cudaSuccess ? 0 : loom_err_set(EIO, "logfmt_cuda: %s: %s", fn,
						    cudaGetErrorString(e));
}

static int lf_finish(const char *fn)
{
	cudaError_t e = cudaGetLastError();

	return e == cudaSuccess ? 0 : loom_err_set(EIO, "logfmt_cuda: %s: launch: %s", fn,
						    cudaGetErrorString(e));
}

extern "C" int logfmt_cuda_encode(uint8_t *dst, const float *x, int t, int h, int nbits,
				  unsigned long long *first_bad, void *stream)
{
	lf_geom g;
	int err = lf_setup(&g, dst, x, t, h, nbits, "encode");

	if (err || (err = lf_start(first_bad, (cudaStream_t)stream, "encode")))
		return err;
	k_logfmt_encode<<<lf_grid(g.tiles), LF_WARPS * 32, 0, (cudaStream_t)stream>>>(dst, x, g,
										    first_bad);
	return lf_finish("encode");
}

extern "C" int logfmt_cuda_decode(float *x, const uint8_t *src, int t, int h, int nbits,
				  unsigned long long *first_bad, void *stream)
{
	lf_geom g;
	int err = lf_setup(&g, x, src, t, h, nbits, "decode");

	if (err || (err = lf_start(first_bad, (cudaStream_t)stream, "decode")))
		return err;
	k_logfmt_decode<<<lf_grid(g.tiles), LF_WARPS * 32, 0, (cudaStream_t)stream>>>(x, src, g,
										    first_bad);
	return lf_finish("decode");
}
