# Loom - top-level build.  `make test` and `make run` are all a newcomer types:
# both install what is missing (make deps), build, then test or run.
#
# Out-of-tree: everything goes to $(BUILD) (build/ by default; build/asan for
# the sanitizer flavour).  Nothing generated lives in the source tree.

BUILD ?= build
CC ?= cc
CXX ?= c++
PYTHON ?= python3
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA_HOME ?= $(if $(NVCC),$(patsubst %/bin/nvcc,%,$(NVCC)),/usr/local/cuda)

# -ffp-contract=off: no FMA contraction, so C results are the same on every
# x86-64 and match the stated rounding of each kernel (numerics are the point).
OPT ?= -O3 -march=native -ffp-contract=off
SAN ?=
WARN := -Wall -Wextra -Werror
CPPFLAGS := -Iinclude -D_GNU_SOURCE -MMD -MP
CFLAGS := -std=c11 $(OPT) $(SAN) $(WARN) -g
CXXFLAGS := -std=c++17 $(OPT) $(SAN) $(WARN) -g
LDFLAGS := $(SAN)
LDLIBS := -lopenblas -lm -lpthread

# ---- sources -------------------------------------------------------------
KERNELS_SRC := $(wildcard kernels/*.c)
# driver/ (libloomdrv) goes into libloom_runtime.a: the runtime's dev provider
# uses the driver, the driver uses the device link (runtime/simlink).
RUNTIME_SRC := $(wildcard runtime/*.c runtime/*/*.c driver/*.c)
WORKLOADS_SRC := $(wildcard workloads/*.c)
TOOLS_SRC := $(wildcard tools/*.c)
TESTLIB_SRC := tests/lib/lt.c
TESTS_C_SRC := $(wildcard tests/*/test_*.c)
TESTS_CXX_SRC := $(wildcard tests/*/test_*.cpp)
TESTS_PY := $(wildcard tests/*/test_*.py)
BENCH_SRC := $(wildcard bench/*.c)
HELPERS_SRC := $(wildcard tests/*/helper_*.c)
CUDA_SRC := $(wildcard kernels/cuda/*.cu)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
KERNELS_LIB := $(BUILD)/lib/libloom_kernels.a
RUNTIME_LIB := $(if $(RUNTIME_SRC),$(BUILD)/lib/libloom_runtime.a)
WORKLOADS_LIB := $(if $(WORKLOADS_SRC),$(BUILD)/lib/libloom_workloads.a)
# Link order: a library before the ones it uses.
LIBS := $(WORKLOADS_LIB) $(RUNTIME_LIB) $(KERNELS_LIB)
LOOM := $(BUILD)/bin/loom
TEST_BINS := $(patsubst %.c,$(BUILD)/%,$(TESTS_C_SRC)) $(patsubst %.cpp,$(BUILD)/%,$(TESTS_CXX_SRC))
HELPER_BINS := $(patsubst %.c,$(BUILD)/%,$(HELPERS_SRC))
BENCH_BINS := $(patsubst bench/%.c,$(BUILD)/bin/%,$(BENCH_SRC))

# Fuzzing (clang + libFuzzer): the RoCE parsers' sources compiled straight
# into the target by clang, not the gcc-built library.  `make test` runs it
# for 20 s as a suite (tests/fuzz/run-fuzz.sh, which fails saying so where
# clang is missing); `make fuzz` for FUZZ_SECONDS, keeping its corpus.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 300
FUZZ_SRC := $(wildcard runtime/roce/roce_*.c) kernels/err.c
FUZZ_CFLAGS := -std=c11 -g -O1 -fno-omit-frame-pointer -Iinclude -D_GNU_SOURCE $(WARN) \
	-fno-sanitize-recover=all
FUZZ_BINS := $(BUILD)/fuzz/fuzz_roce_parse $(BUILD)/fuzz/gen_roce_seeds
FUZZ_SUITES := tests/fuzz/run-fuzz.sh

# CUDA targets when nvcc exists (mk/cuda.mk); GPU tests join `make test` and
# skip with a reason on machines without a GPU.  NO_CUDA=1 leaves them out.
ifneq ($(NVCC),)
ifeq ($(NO_CUDA),)
include mk/cuda.mk
endif
endif

# RTL models (Verilator): mk/rtl.mk builds them (RTL_LIBS, VERILATED_LIB).
# They link only into the programs that use them (tests/rtl/, RTL_USERS),
# not into every test: a model's C++ takes minutes to compile.
include mk/rtl.mk
RTL_USERS += $(filter $(BUILD)/tests/rtl/%,$(TEST_BINS))
$(RTL_USERS): $(RTL_LIBS) $(VERILATED_LIB)
$(RTL_USERS): LDLIBS += $(KERNELS_LIB) $(RTL_LDLIBS)
include mk/firmware.mk
# loom-emud (`loom emud`, tools/emud.c) runs the firmware built for the host.
$(LOOM): $(FW_OBJS)

.SECONDARY:
.PHONY: all deps test run bench test-asan cuda test-gpu bench-gpu clean help fuzz check-sass
.DEFAULT_GOAL := all

all: $(LOOM) $(TEST_BINS) $(HELPER_BINS) $(BENCH_BINS)

help:
	@echo "make test       install what is missing, build, run every test"
	@echo "make run        install what is missing, build, run the default experiment"
	@echo "make bench      build and run the benchmarks (tables with ratios)"
	@echo "make test-asan  every test built with AddressSanitizer + UBSan (in build/asan)"
	@echo "make cuda       build the CUDA targets (needs nvcc)"
	@echo "make check-sass check the CUDA kernels' SASS (QGMMA/UTMALDG in GEMMs, no local memory)"
	@echo "make fuzz       fuzz the RoCE packet parser for FUZZ_SECONDS (300) with libFuzzer"
	@echo "make deps       install missing Debian and PyPI packages"
	@echo "make clean      remove build/"

deps:
	@scripts/deps.sh

# ---- compile -------------------------------------------------------------
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(KERNELS_LIB): $(call obj,$(KERNELS_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

ifneq ($(RUNTIME_LIB),)
$(RUNTIME_LIB): $(call obj,$(RUNTIME_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
endif

ifneq ($(WORKLOADS_LIB),)
$(WORKLOADS_LIB): $(call obj,$(WORKLOADS_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
endif

$(LOOM): $(call obj,$(TOOLS_SRC)) $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/obj/tests/%.o: CPPFLAGS += -Itests/lib

# Tests link with the C++ driver: some hold oracles written in C++.
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(call obj,$(TESTLIB_SRC)) $(LIBS)
	@mkdir -p $(dir $@)
	$(CXX) $(LDFLAGS) $^ $(LDLIBS) -o $@

# C++ tests hold oracles from C++ headers (cuda_fp8.h's host code; no GPU).
# A missing header is not a reason to skip: the test is built to fail saying so.
CUDA_FP8_H := $(wildcard $(CUDA_HOME)/include/cuda_fp8.h)
$(BUILD)/obj/tests/%.o: tests/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CPPFLAGS) $(if $(CUDA_FP8_H),-isystem $(CUDA_HOME)/include,-DLOOM_NO_CUDA_FP8) \
		$(CXXFLAGS) -c $< -o $@

$(BUILD)/bin/%: $(BUILD)/obj/bench/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# ---- run -----------------------------------------------------------------
# With -j, `test: deps all` would compile while deps is still installing the
# compilers: when deps is to be made, every compile waits for it.
ifneq ($(filter deps test run bench test-asan test-gpu,$(MAKECMDGOALS)),)
$(call obj,$(KERNELS_SRC) $(RUNTIME_SRC) $(WORKLOADS_SRC) $(TOOLS_SRC) $(TESTLIB_SRC) $(TESTS_C_SRC) $(HELPERS_SRC) \
	$(BENCH_SRC)) $(patsubst %.cpp,$(BUILD)/obj/%.o,$(TESTS_CXX_SRC)) $(CUDA_OBJS) \
	$(patsubst %.cu,$(BUILD)/cuda/%.o,$(GPU_TESTS_SRC)): | deps
endif

test: deps all $(GPU_TEST_BINS) $(FUZZ_BINS)
	@scripts/run-tests.sh $(BUILD) $(TEST_BINS) $(GPU_TEST_BINS) $(TESTS_PY) $(FUZZ_SUITES)

# The default experiment: the live workload, 4 ranks over shm (two modelled
# nodes, two-hop EP), progress bar, summary, JSON line and a report in
# $(BUILD)/run/ (scripts/run-default.sh).  RUN_ARGS go to `loom train`.
run: deps $(LOOM)
	@scripts/run-default.sh $(BUILD) $(RUN_ARGS)

bench: deps all
	@for b in $(BENCH_BINS); do echo "== $$b"; $$b || exit 1; done

test-asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan RTL_MODELS_DIR=build/rtl \
		OPT="-O1 -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
		NO_CUDA=1 test

cuda:
ifeq ($(NVCC),)
	@echo "make cuda: nvcc not found (install the CUDA toolkit); CUDA targets not built"
else
	@$(MAKE) --no-print-directory $(CUDA_LIB) $(GPU_TEST_BINS) $(GPU_BENCH_BINS)
	@echo "make cuda: built $(CUDA_LIB), $(words $(GPU_TEST_BINS)) GPU test(s) and $(words $(GPU_BENCH_BINS)) GPU benchmark(s) for sm_90a"
endif

ifeq ($(CUDA_LIB),)
check-sass:
	@echo "make check-sass: no CUDA build (nvcc not found, or NO_CUDA set): nothing checked"; exit 1
endif

# On a machine with a GPU: the GPU suites (they skip, with the reason, without one),
# including tests/gpu/test_train_gpu.py (`loom train --device cuda` against the CPU).
test-gpu: deps cuda all
	@scripts/run-tests.sh $(BUILD) $(GPU_TEST_BINS) $(filter tests/gpu/%,$(TESTS_PY))

bench-gpu: cuda
	@set -e; for b in $(GPU_BENCH_BINS); do echo "== $$b"; $$b; done; \
	[ -n "$(GPU_BENCH_BINS)" ] || echo "make bench-gpu: no GPU benchmarks yet"

clean:
	rm -rf build

# ---- fuzz ----------------------------------------------------------------
# Without clang these are not built (and the fuzz suite fails saying so).
fuzz_link = @mkdir -p $(dir $@); if command -v $(FUZZ_CC) >/dev/null; then \
	echo "$(FUZZ_CC) $(FUZZ_CFLAGS) $(1) $(filter %.c,$^) -o $@"; \
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(1) $(filter %.c,$^) -o $@; \
	else echo "$(FUZZ_CC) not found: $@ not built"; fi
FUZZ_DEPS := $(FUZZ_SRC) include/loom/roce.h include/loom/err.h $(wildcard runtime/roce/*.h)
ifneq ($(filter deps test fuzz,$(MAKECMDGOALS)),)
$(FUZZ_BINS): | deps
endif

$(BUILD)/fuzz/fuzz_roce_parse: tests/fuzz/fuzz_roce_parse.c $(FUZZ_DEPS)
	$(call fuzz_link,-fsanitize=fuzzer -fsanitize=address -fsanitize=undefined)

$(BUILD)/fuzz/gen_roce_seeds: tests/fuzz/gen_roce_seeds.c $(FUZZ_DEPS)
	$(call fuzz_link,-fsanitize=address -fsanitize=undefined)

fuzz: deps $(FUZZ_BINS)
	@LOOM_BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_CORPUS=$(BUILD)/fuzz/corpus \
		tests/fuzz/run-fuzz.sh

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
