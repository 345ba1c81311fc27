/*
 * bits.cuh - bit casts between floating-point values and their encodings,
 * the same on the GPU (intrinsics) and the CPU (memcpy), for the
 * __host__ __device__ arithmetic of the kernels' .cuh files (which the CPU
 * tests compile with g++).
 */
#ifndef LOOM_CUDA_BITS_CUH
#define LOOM_CUDA_BITS_CUH

#include <stdint.h>
#include <string.h>

#ifndef __CUDACC__
#ifndef __host__
#define __host__
#endif
#ifndef __device__
#define __device__
#endif
#endif

static __host__ __device__ inline uint32_t cu_f32_bits(float x)
{
#ifdef __CUDA_ARCH__
	return __float_as_uint(x);
#else
	uint32_t u;
	memcpy(&u, &x, sizeof(u));
	return u;
#endif
}

static __host__ __device__ inline float cu_f32_from_bits(uint32_t u)
{
#ifdef __CUDA_ARCH__
	return __uint_as_float(u);
#else
	float x;
	memcpy(&x, &u, sizeof(x));
	return x;
#endif
}

static __host__ __device__ inline uint64_t cu_f64_bits(double x)
{
#ifdef __CUDA_ARCH__
	return (uint64_t)__double_as_longlong(x);
#else
	uint64_t u;
	memcpy(&u, &x, sizeof(u));
	return u;
#endif
}

static __host__ __device__ inline double cu_f64_from_bits(uint64_t u)
{
#ifdef __CUDA_ARCH__
	return __longlong_as_double((long long)u);
#else
	double x;
	memcpy(&x, &u, sizeof(x));
	return x;
#endif
}

#endif
