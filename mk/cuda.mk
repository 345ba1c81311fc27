# mk/cuda.mk - CUDA targets (included by the top-level Makefile when nvcc exists).
#
# Kernels in kernels/cuda/*.cu -> $(BUILD)/lib/libloom_cuda.a; GPU tests in
# tests/gpu/test_*.cu -> $(BUILD)/tests/gpu/.  Built for Hopper only
# (sm_90a).  The build fails on register spills, on ptxas warnings and on
# ptxas reporting serialized wgmma (an info line, so grepped from the log).

CUDA_ARCH := -gencode=arch=compute_90a,code=sm_90a
NVCCFLAGS := $(CUDA_ARCH) -O3 -std=c++17 -Iinclude -Itests/lib \
	-Xcompiler -Wall,-Wextra -Xptxas -v,-warn-spills,-warn-lmem-usage --Werror all-warnings \
	-ccbin $(CXX) -MMD -MP
CUDA_LDLIBS := -L$(CUDA_HOME)/lib64 -lcudart

CUDA_OBJS := $(patsubst %.cu,$(BUILD)/cuda/%.o,$(CUDA_SRC))
CUDA_LIB := $(BUILD)/lib/libloom_cuda.a
GPU_TESTS_SRC := $(wildcard tests/gpu/test_*.cu)
GPU_TEST_BINS := $(patsubst %.cu,$(BUILD)/%,$(GPU_TESTS_SRC))
# GPU benchmarks: bench/gpu/bench_*.cu -> $(BUILD)/bin/bench_*; they may use
# cuBLASLt (the baseline), never libcuda directly (driver entry points come
# through cudaGetDriverEntryPoint, so binaries start without a driver and
# report the missing GPU).
GPU_BENCH_SRC := $(wildcard bench/gpu/bench_*.cu)
GPU_BENCH_BINS := $(patsubst bench/gpu/%.cu,$(BUILD)/bin/%,$(GPU_BENCH_SRC))

# ptxas -v output goes to a log beside the object, for inspection.
$(BUILD)/cuda/%.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@ 2> $@.ptxas.log || { cat $@.ptxas.log; exit 1; }
	@! grep -q 'wgmma.mma_async instructions are serialized' $@.ptxas.log || \
		{ cat $@.ptxas.log; rm -f $@; echo "$<: ptxas serialized wgmma (see above)"; exit 1; }

$(CUDA_LIB): $(CUDA_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/gpu/%: $(BUILD)/cuda/tests/gpu/%.o $(CUDA_LIB) $(call obj,$(TESTLIB_SRC)) $(LIBS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(CUDA_LDLIBS) $(LDLIBS) -o $@

$(BUILD)/bin/bench_%: $(BUILD)/cuda/bench/gpu/bench_%.o $(CUDA_LIB) $(LIBS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(CUDA_LDLIBS) -lcublasLt $(LDLIBS) -o $@

# `loom train --device cuda`: the training path's CUDA device
# (workloads/nn_cuda.c) is compiled against the CUDA runtime API and `loom`
# links the kernels and cudart (never libcuda).  The kernels library comes
# after libloom_workloads in the link, so the C libraries it uses (err,
# quant, router checks) are named again after it.
$(BUILD)/obj/workloads/nn_cuda.o: CPPFLAGS += -DHAVE_CUDA -isystem $(CUDA_HOME)/include
$(LOOM): $(CUDA_LIB)
$(LOOM): LDLIBS += $(KERNELS_LIB) $(CUDA_LDLIBS) -lstdc++ -lm
# GPU tests of that device (tests/gpu/test_nn_cuda_gpu) pull nn_cuda.o from
# libloom_workloads, after libloom_cuda in their link: name it again.
$(GPU_TEST_BINS): LDLIBS += $(CUDA_LIB) $(KERNELS_LIB) $(CUDA_LDLIBS) -lm

# SASS checks (scripts/check-sass.sh): GEMM kernels hold QGMMA and UTMALDG,
# no kernel uses local memory, no ptxas log reports serialized wgmma.  Also
# run by `make test` as tests/gpu/test_check_sass.py.
check-sass: $(CUDA_LIB)
	@scripts/check-sass.sh $(BUILD)

# Header dependencies of the CUDA objects (nvcc -MMD writes x.d beside x.o).
-include $(shell find $(BUILD)/cuda -name '*.d' 2>/dev/null)
