// mfld_model.h - what the C API (mfld_api.cpp) sees of one verilated model.
//
// Each flavour of the logic die is verilated with its own prefix; an
// adapter (mfld_model.cpp, compiled once per model) wraps it behind this
// interface, so the glue holds no Verilator type.  Pins are copied in, the
// model evaluated, pins copied out.  Not thread-safe; one context each.
#ifndef LOOM_MFLD_MODEL_H
#define LOOM_MFLD_MODEL_H

#include <cstdint>

// pseudo-channels (mfld_top's DramCh): the pins have room for the most a
// build allows (mk/rtl.mk: RTL_MFLD_DRAM's CHANNELS, 2 or 4); the channels
// a model lacks stay idle
constexpr int MFLD_DRAM_CH = 4;

struct mfld_pins {
	// inputs
	uint8_t clk, rst_n;
	uint8_t ib_we, ib_be;
	uint32_t ib_addr, ib_wdata, ob_addr;
	uint8_t start, op, k, len, nbits, nrows;
	uint16_t row_words;
	// MMIO, DMA answers
	uint8_t mmio_we;
	uint16_t mmio_addr;
	uint32_t mmio_wdata;
	uint8_t dma_rsp_valid, dma_rsp_err;
	uint32_t dma_rsp_rdata[16];
	// DRAM test port
	uint8_t dram_req_valid, dram_req_we;
	uint16_t dram_req_tag;
	uint32_t dram_req_addr; // burst address
	uint32_t dram_req_wdata[8];
	// outputs
	uint32_t ob_rdata;
	uint8_t busy, done, err;
	uint8_t dram_req_ready, dram_ref;
	uint8_t dram_cmd0, dram_cmd0_rbank, dram_cmd0_cbank; // {WR, CAS, REF, PRE, ACT}, banks
	uint32_t mmio_rdata;
	uint8_t irq, dev_busy;
	uint8_t dma_req_valid, dma_req_we, dma_req_bytes;
	uint64_t dma_req_addr;
	uint32_t dma_req_wdata[16];
	uint8_t dram_resp_valid[MFLD_DRAM_CH], dram_resp_we[MFLD_DRAM_CH];
	uint16_t dram_resp_tag[MFLD_DRAM_CH];
	uint32_t dram_resp_rdata[MFLD_DRAM_CH][8];
	uint32_t dram_n_act, dram_n_pre, dram_n_cas, dram_n_ref;
};

class mfld_model {
public:
	virtual ~mfld_model() {}
	virtual void eval(mfld_pins &p) = 0;
	// FST trace: open (0 or -errno), one sample at time t, close (also on delete)
	virtual int trace_open(const char *path) = 0;
	virtual void trace_dump(uint64_t t) = 0;
};

// One factory per built model, defined by its adapter.
#define MFLD_FACTORY_NAME2(c, f) mfld_model_new_##c##_##f
#define MFLD_FACTORY_NAME(c, f) MFLD_FACTORY_NAME2(c, f)
#define RTL_MODEL(c, f) mfld_model *MFLD_FACTORY_NAME(c, f)();

#endif
