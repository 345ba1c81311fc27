# mk/rtl.mk - the RTL build flow (included by the top-level Makefile).
#
# Every RTL top T (listed in RTL_TOPS) is verilated once per configuration C
# of RTL_<T>_CONFIGS and per flavour F:
#   checked  --assert, for tests;
#   fast     -O3 --x-assign fast --x-initial fast --no-assert, for experiments;
# both -Wall (a warning stops the build: no UNOPTFLAT) and --trace-fst (FST
# waveforms, off until a model instance asks for them).  Each model gets the
# prefix V<T>_<C>_<F>, so all of them link into one program, and lives in
# $(BUILD)/rtl/<T>-<C>-<F>/.  Verilator's generated makefile compiles it
# (V..__ALL.a); an adapter file, compiled once per model with
# -DRTL_PREFIX=V<T>_<C>_<F> -DRTL_CONFIG=<C> -DRTL_FLAVOUR=<F> plus
# RTL_<T>_DEFS_<C>, wraps it; the glue (RTL_<T>_GLUE) gets the list of built
# models as -DRTL_MODELS="RTL_MODEL(C,F) ..." and is the C API.  All of it is
# archived into $(BUILD)/lib/libloom_rtl_<T>.a.  Verilator's runtime goes
# once into $(BUILD)/lib/libloom_verilated.a.
#
# A top is added by setting, before the generic part below:
#   RTL_TOPS += T
#   RTL_T_TOP      top module name          RTL_T_SRC      .sv files (order-free)
#   RTL_T_CONFIGS  configuration names      RTL_T_GFLAGS_C -G parameters of config C
#   RTL_T_ADAPTER  per-model .cpp           RTL_T_GLUE     C API .cpp
#   RTL_T_DEFS_C   (optional) -D flags for the adapter of config C
#
# Sanitizers: the generated model code and Verilator's runtime are built
# without $(SAN) (they are large, generated, and slow to instrument); the
# glue, the adapters and the tests that call them are instrumented.
#
# Every .sv file `include`s what it uses by its path from the repository
# root, under an include guard, so no search path is given (-y/-I) and each
# file lints on its own from the root: `verilator --lint-only -Wall FILE`, as
# the lint suite (tests/rtl/test_rtl_lint.py) checks for every file.

VERILATOR ?= verilator
# Verilated models and Verilator's runtime are compiled without $(SAN), so
# the sanitizer build (make test-asan) reuses the plain build's
# (RTL_MODELS_DIR=build/rtl) instead of compiling them again.
RTL_MODELS_DIR ?= $(BUILD)/rtl
VERILATOR_ROOT ?= $(or $(shell $(VERILATOR) --getenv VERILATOR_ROOT 2>/dev/null),/usr/share/verilator)
VL_INC := $(VERILATOR_ROOT)/include
RTL_CXX_OPT ?= -O2
# Split output into small functions and files: gcc's time grows faster than
# linearly with function size (10x faster builds than Verilator's defaults).
RTL_VFLAGS := --cc -Wall --trace-fst --flatten --output-split 30000 --output-split-cfuncs 300
RTL_VFLAGS_checked := --assert
RTL_VFLAGS_fast := -O3 --x-assign fast --x-initial fast --no-assert
RTL_FLAVOURS := checked fast
# Verilator's runtime and generated code: its own warnings are not ours.
RTL_GEN_CXXFLAGS := -std=c++17 $(RTL_CXX_OPT) -g0 -w -faligned-new -fcf-protection=none \
	-isystem $(VL_INC) -isystem $(VL_INC)/vltstd \
	-DVM_COVERAGE=0 -DVM_SC=0 -DVM_TRACE=1 -DVM_TRACE_FST=1 -DVM_TRACE_VCD=0
RTL_LDLIBS := -lz -latomic -lstdc++

# ---- the mesh (rtl-models/mesh) -----------------------------------------
# Mesh sizes built, as KxL; each is a separate model (parameters are
# compile-time).  `make bench` builds 8x8 too, for bench_noc (its compile
# takes about four times the 4x4's; tests need only 4x4).  Shared
# parameters of every size:
ifneq ($(filter bench,$(MAKECMDGOALS)),)
RTL_MESH_CONFIGS ?= 4x4 8x8
endif
RTL_MESH_CONFIGS ?= 4x4
RTL_MESH_VCS ?= 2
RTL_MESH_FLIT_BITS ?= 64
RTL_MESH_BUF_DEPTH ?= 8
RTL_MESH_INJ_DEPTH ?= 4
RTL_MESH_ROUTER_STAGES ?= 2
RTL_MESH_LINK_STAGES ?= 1

RTL_TOPS += mesh
RTL_mesh_TOP := mesh_top
RTL_mesh_SRC := $(wildcard rtl-models/common/*.sv) $(wildcard rtl-models/mesh/*.sv)
RTL_mesh_CONFIGS := $(RTL_MESH_CONFIGS)
RTL_mesh_ADAPTER := rtl-models/mesh/mesh_model.cpp
RTL_mesh_GLUE := rtl-models/mesh/mesh_api.cpp
rtl_mesh_k = $(word 1,$(subst x, ,$(1)))
rtl_mesh_l = $(word 2,$(subst x, ,$(1)))
rtl_mesh_params = K=$(call rtl_mesh_k,$(1)) L=$(call rtl_mesh_l,$(1)) NumVcs=$(RTL_MESH_VCS) \
	FlitW=$(RTL_MESH_FLIT_BITS) BufDepth=$(RTL_MESH_BUF_DEPTH) InjDepth=$(RTL_MESH_INJ_DEPTH) \
	RouterStages=$(RTL_MESH_ROUTER_STAGES) LinkStages=$(RTL_MESH_LINK_STAGES)
$(foreach c,$(RTL_mesh_CONFIGS),$(eval RTL_mesh_GFLAGS_$(c) := $(addprefix -G,$(call rtl_mesh_params,$(c)))))
$(foreach c,$(RTL_mesh_CONFIGS),$(eval RTL_mesh_DEFS_$(c) := \
	$(foreach kv,$(call rtl_mesh_params,$(c)),-DRTL_MESH_$(kv))))

# ---- the logic die (rtl-models/mfld) ---------------------------------------
# One configuration; packages first (they are imported by the modules).  The
# top is the whole device (registers, descriptor ring, data mover, DRAM,
# engines); its test ports keep the engine and DRAM tests direct.
#
# Its DRAM, in one place: RTL_MFLD_DRAM holds NAME=VALUE words that override
# the defaults below (e.g. make RTL_MFLD_DRAM="CHANNELS=4 BANKS=32 T_RCD=30";
# the model is re-verilated when they change):
#   CHANNELS      pseudo-channels, 2 or 4        BANKS     per channel, 2..128 (a power of two)
#   ROW_BYTES     row size, 64..32768 (a power of two)      ROWS  rows per bank (a power of two)
#   BUS_BITS, BURST_LENGTH   a pseudo-channel's data pins and burst length: a burst
#                 is the data path's 32 bytes (BUS_BITS * BURST_LENGTH = 256) and holds
#                 the bus BURST_LENGTH / 4 clocks (4 beats a clock, HBM3) unless T_BURST says
#   T_RCD T_CL T_RP T_RAS T_BURST T_RFC T_REFI T_RRD T_FAW T_WR T_RTP T_WTR T_RTW
#   T_RFCPB T_REFIPB     reset values of the timing registers, in clocks (0.625 ns);
#                 defaults and their sources: include/loom/rtl_mfld.h
#   REFRESH       all-bank or per-bank (the refresh mode the registers reset to)
# Tests (tests/rtl/test_mfld_*) check the default geometry and skip DRAM
# cases built for another.
RTL_MFLD_DRAM ?=
RTL_MFLD_DRAM_DEFAULTS := CHANNELS=2 BANKS=16 ROW_BYTES=1024 ROWS=32 BUS_BITS=32 BURST_LENGTH=8 \
	T_RCD=26 T_CL=26 T_RP=26 T_RAS=53 T_RFC=560 T_REFI=6240 T_RRD=4 T_FAW=24 T_WR=13 \
	T_RTP=4 T_WTR=5 T_RTW=5 T_RFCPB=256 T_REFIPB=390 REFRESH=all-bank
rtl_mfld_kv = $(lastword $(patsubst $(1)=%,%,$(filter $(1)=%,$(RTL_MFLD_DRAM_DEFAULTS) \
	$(RTL_MFLD_DRAM))))
rtl_mfld_bad := $(filter-out $(addsuffix =%,$(foreach w,$(RTL_MFLD_DRAM_DEFAULTS) T_BURST=, \
	$(firstword $(subst =, ,$(w))))),$(RTL_MFLD_DRAM))
ifneq ($(strip $(rtl_mfld_bad)),)
$(error RTL_MFLD_DRAM: unknown setting(s) $(rtl_mfld_bad); see mk/rtl.mk)
endif
ifneq ($(shell echo $$(($(call rtl_mfld_kv,BUS_BITS) * $(call rtl_mfld_kv,BURST_LENGTH)))),256)
$(error RTL_MFLD_DRAM: BUS_BITS * BURST_LENGTH must be 256 (a 32-byte burst))
endif
ifeq ($(filter $(call rtl_mfld_kv,CHANNELS),2 4),)
$(error RTL_MFLD_DRAM: CHANNELS must be 2 or 4)
endif
RTL_MFLD_T_BURST := $(or $(call rtl_mfld_kv,T_BURST),$(shell echo \
	$$(($(call rtl_mfld_kv,BURST_LENGTH) / 4))))
RTL_mfld_PARAMS := DramCh=$(call rtl_mfld_kv,CHANNELS) DramBanks=$(call rtl_mfld_kv,BANKS) \
	DramRowBursts=$(shell echo $$(($(call rtl_mfld_kv,ROW_BYTES) / 32))) \
	DramRows=$(call rtl_mfld_kv,ROWS) TRcd=$(call rtl_mfld_kv,T_RCD) TCl=$(call rtl_mfld_kv,T_CL) \
	TRp=$(call rtl_mfld_kv,T_RP) TRas=$(call rtl_mfld_kv,T_RAS) TBurst=$(RTL_MFLD_T_BURST) \
	TRfc=$(call rtl_mfld_kv,T_RFC) TRefi=$(call rtl_mfld_kv,T_REFI) TRrd=$(call rtl_mfld_kv,T_RRD) \
	TFaw=$(call rtl_mfld_kv,T_FAW) TWr=$(call rtl_mfld_kv,T_WR) TRtp=$(call rtl_mfld_kv,T_RTP) \
	TWtr=$(call rtl_mfld_kv,T_WTR) TRtw=$(call rtl_mfld_kv,T_RTW) \
	TRfcPb=$(call rtl_mfld_kv,T_RFCPB) TRefiPb=$(call rtl_mfld_kv,T_REFIPB) \
	RefPerBank=$(if $(filter per-bank,$(call rtl_mfld_kv,REFRESH)),1,0)

RTL_TOPS += mfld
RTL_mfld_TOP := mfld_top
RTL_mfld_SRC := rtl-models/mfld/mfld_pkg.sv rtl-models/mfld/mfld_fp_pkg.sv \
	$(filter-out %_pkg.sv,$(wildcard rtl-models/mfld/*.sv))
RTL_mfld_CONFIGS := base
RTL_mfld_GFLAGS_base := $(addprefix -G,$(RTL_mfld_PARAMS))
RTL_mfld_DEFS_base := -DRTL_MFLD_CHANNELS=$(call rtl_mfld_kv,CHANNELS)
RTL_mfld_ADAPTER := rtl-models/mfld/mfld_model.cpp
RTL_mfld_GLUE := rtl-models/mfld/mfld_api.cpp

# ---- generic part ----------------------------------------------------------
VERILATED_LIB := $(BUILD)/lib/libloom_verilated.a
VERILATED_SRC := verilated verilated_threads verilated_fst_c
VERILATED_OBJS := $(patsubst %,$(RTL_MODELS_DIR)/runtime/%.o,$(VERILATED_SRC))

$(RTL_MODELS_DIR)/runtime/%.o: $(VL_INC)/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(RTL_GEN_CXXFLAGS) -c $< -o $@

$(VERILATED_LIB): $(VERILATED_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The library: the glue and adapters plus every object of the models' archives.
rtl_archive = rm -f $@ && ar rcs $@ $(filter %.o,$^) && for a in $(filter %.a,$^); do \
	d=$$(dirname $$a); ar t $$a | sed "s|^|$$d/|" | xargs ar rcs $@; done

rtl_dir = $(RTL_MODELS_DIR)/$(1)-$(2)-$(3)
# A model is re-verilated when its sources or its verilator flags change (not
# on every edit of this file): rtl_flags_update(FILE, FLAGS) rewrites FILE
# at parse time only when FLAGS differ from what it holds.
rtl_flags_update = $(shell mkdir -p $(dir $(1)) && { [ -f $(1) ] && [ "$$(cat $(1))" = '$(strip $(2))' ] || \
	printf '%s\n' '$(strip $(2))' > $(1); })
rtl_prefix = V$(1)_$(2)_$(3)

# rtl_model(T, C, F): verilate, compile, adapt one model.
define rtl_model
RTL_VCMD_$(1)_$(2)_$(3) := $(RTL_VFLAGS) $(RTL_VFLAGS_$(3)) $(RTL_$(1)_GFLAGS_$(2)) $(RTL_$(1)_SRC)
$$(call rtl_flags_update,$(RTL_MODELS_DIR)/$(1)-$(2)-$(3).vflags,$$(RTL_VCMD_$(1)_$(2)_$(3)))
$(call rtl_dir,$(1),$(2),$(3))/$(call rtl_prefix,$(1),$(2),$(3)).mk: $(RTL_$(1)_SRC) \
		$(RTL_MODELS_DIR)/$(1)-$(2)-$(3).vflags
	@rm -rf $$(dir $$@) && mkdir -p $$(dir $$@)
	$(VERILATOR) $(RTL_VFLAGS) $(RTL_VFLAGS_$(3)) $(RTL_$(1)_GFLAGS_$(2)) \
		--top-module $(RTL_$(1)_TOP) --prefix $(call rtl_prefix,$(1),$(2),$(3)) \
		--Mdir $$(dir $$@) $(RTL_$(1)_SRC)

$(call rtl_dir,$(1),$(2),$(3))/$(call rtl_prefix,$(1),$(2),$(3))__ALL.a: \
		$(call rtl_dir,$(1),$(2),$(3))/$(call rtl_prefix,$(1),$(2),$(3)).mk
	+$(MAKE) --no-print-directory -s -C $$(dir $$@) -f $(call rtl_prefix,$(1),$(2),$(3)).mk \
		$(call rtl_prefix,$(1),$(2),$(3))__ALL.a VERILATOR_ROOT=$(VERILATOR_ROOT) \
		CXX="$(CXX)" OPT_FAST="$(RTL_CXX_OPT)" OPT_SLOW="-O0" OPT_GLOBAL="-O1"

$(BUILD)/rtl/obj/$(1)-$(2)-$(3).o: $(RTL_$(1)_ADAPTER) \
		$(call rtl_dir,$(1),$(2),$(3))/$(call rtl_prefix,$(1),$(2),$(3)).mk
	@mkdir -p $$(dir $$@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -isystem $(VL_INC) -isystem $(VL_INC)/vltstd \
		-isystem $(call rtl_dir,$(1),$(2),$(3)) -DVM_TRACE=1 -DVM_TRACE_FST=1 \
		-DRTL_PREFIX=$(call rtl_prefix,$(1),$(2),$(3)) -DRTL_CONFIG=$(2) -DRTL_FLAVOUR=$(3) \
		$(RTL_$(1)_DEFS_$(2)) -c $$< -o $$@

RTL_$(1)_PARTS += $(BUILD)/rtl/obj/$(1)-$(2)-$(3).o
RTL_$(1)_ARCHIVES += $(call rtl_dir,$(1),$(2),$(3))/$(call rtl_prefix,$(1),$(2),$(3))__ALL.a
RTL_$(1)_MODELS += RTL_MODEL($(2),$(3))
RTL_STAMPS += $(call rtl_dir,$(1),$(2),$(3))/$(call rtl_prefix,$(1),$(2),$(3)).mk
endef

# rtl_top(T): its models, its glue, its library.
define rtl_top
$(foreach c,$(RTL_$(1)_CONFIGS),$(foreach f,$(RTL_FLAVOURS),$(eval $(call rtl_model,$(1),$(c),$(f)))))

# the glue is rebuilt when the list of models changes (RTL_MESH_CONFIGS)
$$(call rtl_flags_update,$(BUILD)/rtl/obj/$(1)_api.models,$$(RTL_$(1)_MODELS))
$(BUILD)/rtl/obj/$(1)_api.o: $(RTL_$(1)_GLUE) mk/rtl.mk $(BUILD)/rtl/obj/$(1)_api.models
	@mkdir -p $$(dir $$@)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -DRTL_MODELS="$$(RTL_$(1)_MODELS)" -c $$< -o $$@

$(BUILD)/lib/libloom_rtl_$(1).a: $(BUILD)/rtl/obj/$(1)_api.o $$(RTL_$(1)_PARTS) $$(RTL_$(1)_ARCHIVES)
	@mkdir -p $$(dir $$@)
	$$(rtl_archive)

RTL_LIBS += $(BUILD)/lib/libloom_rtl_$(1).a
endef

$(foreach t,$(RTL_TOPS),$(eval $(call rtl_top,$(t))))

ifneq ($(filter deps test run bench test-asan,$(MAKECMDGOALS)),)
$(RTL_STAMPS) $(VERILATED_OBJS): | deps
endif

.PHONY: rtl
rtl: $(RTL_LIBS) $(VERILATED_LIB)

# Programs besides tests/rtl/ that link the RTL libraries (the Makefile adds
# RTL_LIBS, VERILATED_LIB, kernels again for loom_err_set, and RTL_LDLIBS).
RTL_USERS += $(LOOM) $(BUILD)/bin/bench_noc
-include $(shell find $(BUILD)/rtl/obj -name '*.d' 2>/dev/null)
