/*
 * gemm_fp8_ptx.cuh - inline-PTX wrappers the Hopper FP8 GEMM kernel uses
 * (sm_90a only): mbarriers, TMA tensor loads, wgmma fences / commit / wait,
 * the m64n128k32 e4m3 wgmma and setmaxnreg.  Device code only; the
 * arithmetic that can be checked on a CPU is in gemm_fp8_layout.cuh.
 * Not yet run on a GPU.
 */
#ifndef LOOM_GEMM_FP8_PTX_CUH
#define LOOM_GEMM_FP8_PTX_CUH

#include <stdint.h>

__device__ static inline uint32_t smem_u32(const void *p)
{
	return (uint32_t)__cvta_generic_to_shared(p);
}

/* ---- mbarrier (PTX ISA "mbarrier") ---------------------------------- */
__device__ static inline void mbar_init(uint32_t bar, uint32_t count)
{
	asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(bar), "r"(count) : "memory");
}

/* Make the initialized barriers visible to the async (TMA) proxy. */
__device__ static inline void mbar_init_fence(void)
{
	asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

__device__ static inline void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes)
{
	asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar),
		     "r"(bytes)
		     : "memory");
}

__device__ static inline void mbar_arrive(uint32_t bar)
{
	asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(bar) : "memory");
}

/* Spin until the phase with the given parity has completed. */
__device__ static inline void mbar_wait(uint32_t bar, uint32_t parity)
{
	uint32_t done;

	do {
		asm volatile("{\n"
			     ".reg .pred p;\n"
			     "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
			     "selp.u32 %0, 1, 0, p;\n"
			     "}\n"
			     : "=r"(done)
			     : "r"(bar), "r"(parity)
			     : "memory");
	} while (!done);
}

/* ---- TMA (cp.async.bulk.tensor) ------------------------------------- */
__device__ static inline void tma_prefetch_desc(const void *tmap)
{
	asm volatile("prefetch.tensormap [%0];" ::"l"((uint64_t)tmap) : "memory");
}

/* Load box (x, y) of a 2-D tensor map into shared memory at dst; the bytes
 * complete a transaction on mbarrier bar. */
__device__ static inline void tma_load_2d(uint32_t dst, const void *tmap, uint32_t bar, int x,
					  int y)
{
	asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
		     " [%0], [%1, {%3, %4}], [%2];" ::"r"(dst),
		     "l"((uint64_t)tmap), "r"(bar), "r"(x), "r"(y)
		     : "memory");
}

/* ---- warpgroup MMA -------------------------------------------------- */
__device__ static inline void wgmma_fence(void)
{
	asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
}

__device__ static inline void wgmma_commit(void)
{
	asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
}

__device__ static inline void wgmma_wait_all(void)
{
	asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
}

/* Keep the compiler from moving accumulator accesses across the async MMA
 * (the register is "used and redefined" here). */
__device__ static inline void wgmma_fence_operand(float &r)
{
	asm volatile("" : "+f"(r)::"memory");
}

/* One wgmma.mma_async m64n128k32 e4m3 x e4m3 -> f32 (PTX ISA "wgmma"): the
 * warpgroup's d (64 registers per thread, fragment of gemm_acc_row/col) =
 * A (64 x 32) B (128 x 32)^T, plus d when scale_d != 0.  Both operands come
 * from shared memory through descriptors (gemm_smem_desc); the operand
 * negation immediates (imm-scale-a/b) are 1.  */
__device__ static inline void wgmma_m64n128k32(float *d, uint64_t desc_a, uint64_t desc_b,
					       int scale_d)
{
	asm volatile("{\n"
		     ".reg .pred p;\n"
		     "setp.ne.b32 p, %66, 0;\n"
		     "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {"
		     "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
		     "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
		     "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
		     "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
		     "}, %64, %65, p, 1, 1;\n"
		     "}\n"
		     :
		     "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
		     "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
		     "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
		     "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
		     "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
		     "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
		     "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
		     "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
		     : "l"(desc_a), "l"(desc_b), "r"(scale_d));
}

/* ---- register reallocation between warpgroups ----------------------- */
template <uint32_t REGS> __device__ static inline void regs_dealloc(void)
{
	asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(REGS));
}

template <uint32_t REGS> __device__ static inline void regs_alloc(void)
{
	asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(REGS));
}

#endif
