# mk/firmware.mk - the device firmware (firmware/*.c), included by the
# top-level Makefile after TEST_BINS is known.
#
# On the host the firmware is compiled with the project's flags and linked
# into its tests (tests/firmware/) and, later, into loom-emud; it is not in
# a library because nothing else may call it.  `make firmware`
# cross-compiles it for the control core (rv32imc, ilp32, -Os,
# freestanding, picolibc), fails on any warning, links it with no start
# files so an undefined symbol fails the build, and prints its size.  It
# skips, saying why, where the cross compiler is missing.  `make test` runs
# the same through tests/firmware/test_fw_cross.py.

FW_SRC := $(wildcard firmware/*.c)
FW_OBJS := $(call obj,$(FW_SRC))
FW_TESTS := $(filter $(BUILD)/tests/firmware/%,$(TEST_BINS))
$(FW_TESTS): $(FW_OBJS)
# firmware headers are included as "firmware/fw.h" from the tests
$(BUILD)/obj/tests/firmware/%.o: CPPFLAGS += -I.

FW_CROSS_CC ?= riscv64-unknown-elf-gcc
FW_CROSS_SIZE ?= $(patsubst %gcc,%size,$(FW_CROSS_CC))
FW_CROSS_FLAGS := -std=c11 -march=rv32imc -mabi=ilp32 -Os -ffreestanding -ffunction-sections \
	-fdata-sections --specs=picolibc.specs -Iinclude $(WARN)
FW_CROSS_DIR := $(BUILD)/firmware-rv32
FW_CROSS_OBJS := $(patsubst firmware/%.c,$(FW_CROSS_DIR)/%.o,$(FW_SRC))
FW_CROSS_ELF := $(FW_CROSS_DIR)/loom-fw.elf
FW_HAVE_CROSS := $(shell command -v $(FW_CROSS_CC) 2>/dev/null)

.PHONY: firmware
ifeq ($(FW_HAVE_CROSS),)
firmware:
	@echo "make firmware: skipped: $(FW_CROSS_CC) not found (make deps installs gcc-riscv64-unknown-elf and picolibc-riscv64-unknown-elf)"
else
firmware: $(FW_CROSS_ELF)
	@echo "make firmware: rv32imc code size of $(FW_CROSS_ELF) (bytes):"
	@$(FW_CROSS_SIZE) $(FW_CROSS_ELF)
	@printf '#include "fw.h"\nstruct fw fw_state;\n' | $(FW_CROSS_CC) $(FW_CROSS_FLAGS) \
		-Ifirmware -x c -c - -o $(FW_CROSS_DIR)/state.o
	@echo "make firmware: state (struct fw, owned by the caller): \
	$$((0x$$($(patsubst %gcc,%nm,$(FW_CROSS_CC)) -S $(FW_CROSS_DIR)/state.o | awk '/fw_state/ { print $$2 }'))) bytes"

$(FW_CROSS_DIR)/%.o: firmware/%.c $(wildcard firmware/*.h) include/loom/devif.h include/loom/rtl_mfld.h
	@mkdir -p $(dir $@)
	$(FW_CROSS_CC) $(FW_CROSS_FLAGS) -c $< -o $@

# No start files: the emulator or a boot ROM calls fw_init / fw_step.
# Every exported entry is kept as a root so --gc-sections drops only dead code.
$(FW_CROSS_ELF): $(FW_CROSS_OBJS)
	$(FW_CROSS_CC) $(FW_CROSS_FLAGS) -nostartfiles -Wl,--gc-sections -Wl,-e,fw_step \
		-Wl,-u,fw_init -Wl,-u,fw_bar_read -Wl,-u,fw_bar_write -Wl,-u,fw_why \
		-Wl,--fatal-warnings $^ -o $@
endif

# test_fw_rtl runs the firmware on the logic die's RTL: it links the RTL
# libraries (as the Makefile does for RTL_USERS).
FW_RTL_TESTS := $(filter $(BUILD)/tests/firmware/test_fw_rtl,$(TEST_BINS))
$(FW_RTL_TESTS): $(RTL_LIBS) $(VERILATED_LIB)
$(FW_RTL_TESTS): LDLIBS += $(KERNELS_LIB) $(RTL_LDLIBS)
