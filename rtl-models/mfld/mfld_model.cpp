// mfld_model.cpp - adapter of one verilated logic-die model (compiled once per
// model with -DRTL_PREFIX=V..., -DRTL_CONFIG=..., -DRTL_FLAVOUR=... and the
// DRAM's -DRTL_MFLD_CHANNELS=...; mk/rtl.mk).
// It owns the model's VerilatedContext and FST trace; nothing else.
#include "mfld_model.h"

#include <verilated.h>
#include <verilated_fst_c.h>

#include <memory>

#define MFLD_STR2(x) #x
#define MFLD_STR(x) MFLD_STR2(x)
#include MFLD_STR(RTL_PREFIX.h)

namespace {

class model_impl final : public mfld_model {
public:
	model_impl() : ctx_(new VerilatedContext), top_(new RTL_PREFIX(ctx_.get(), "mfld"))
	{
		ctx_->traceEverOn(true);
	}
	~model_impl() override
	{
		if (trace_)
			trace_->close();
		top_->final();
	}
	void eval(mfld_pins &p) override
	{
		top_->clk_i = p.clk;
		top_->rst_ni = p.rst_n;
		top_->ib_we_i = p.ib_we;
		top_->ib_be_i = p.ib_be;
		top_->ib_addr_i = p.ib_addr;
		top_->ib_wdata_i = p.ib_wdata;
		top_->ob_addr_i = p.ob_addr;
		top_->start_i = p.start;
		top_->op_i = p.op;
		top_->k_i = p.k;
		top_->len_i = p.len;
		top_->nbits_i = p.nbits;
		top_->row_words_i = p.row_words;
		top_->nrows_i = p.nrows;
		top_->mmio_we_i = p.mmio_we;
		top_->mmio_addr_i = p.mmio_addr;
		top_->mmio_wdata_i = p.mmio_wdata;
		top_->dma_rsp_valid_i = p.dma_rsp_valid;
		top_->dma_rsp_err_i = p.dma_rsp_err;
		for (int i = 0; i < 16; i++)
			top_->dma_rsp_rdata_i[i] = p.dma_rsp_rdata[i];
		top_->dram_req_valid_i = p.dram_req_valid;
		top_->dram_req_we_i = p.dram_req_we;
		top_->dram_req_addr_i = p.dram_req_addr;
		top_->dram_req_tag_i = p.dram_req_tag;
		for (int i = 0; i < 8; i++)
			top_->dram_req_wdata_i[i] = p.dram_req_wdata[i];
		top_->eval();
		p.ob_rdata = top_->ob_rdata_o;
		p.busy = top_->busy_o;
		p.done = top_->done_o;
		p.err = top_->err_o;
		p.dram_req_ready = top_->dram_req_ready_o;
		p.dram_ref = top_->dram_ref_o;
		p.dram_cmd0 = top_->dram_cmd0_o;
		p.dram_cmd0_rbank = top_->dram_cmd0_rbank_o;
		p.dram_cmd0_cbank = top_->dram_cmd0_cbank_o;
		p.mmio_rdata = top_->mmio_rdata_o;
		p.irq = top_->irq_o;
		p.dev_busy = top_->dev_busy_o;
		p.dma_req_valid = top_->dma_req_valid_o;
		p.dma_req_we = top_->dma_req_we_o;
		p.dma_req_bytes = top_->dma_req_bytes_o;
		p.dma_req_addr = top_->dma_req_addr_o;
		for (int i = 0; i < 16; i++)
			p.dma_req_wdata[i] = top_->dma_req_wdata_o[i];
		static_assert(RTL_MFLD_CHANNELS <= MFLD_DRAM_CH, "more channels than the pins hold");
		for (int c = 0; c < RTL_MFLD_CHANNELS; c++) {
			p.dram_resp_valid[c] = (top_->dram_resp_valid_o >> c) & 1;
			p.dram_resp_we[c] = (top_->dram_resp_we_o >> c) & 1;
			p.dram_resp_tag[c] = (uint16_t)(top_->dram_resp_tag_o >> (16 * c));
			for (int i = 0; i < 8; i++)
				p.dram_resp_rdata[c][i] = top_->dram_resp_rdata_o[8 * c + i];
		}
		p.dram_n_act = top_->dram_n_act_o;
		p.dram_n_pre = top_->dram_n_pre_o;
		p.dram_n_cas = top_->dram_n_cas_o;
		p.dram_n_ref = top_->dram_n_ref_o;
	}
	int trace_open(const char *path) override
	{
		trace_.reset(new VerilatedFstC);
		top_->trace(trace_.get(), 99);
		trace_->open(path);
		return trace_->isOpen() ? 0 : -1;
	}
	void trace_dump(uint64_t t) override
	{
		if (trace_)
			trace_->dump(t);
	}

private:
	std::unique_ptr<VerilatedContext> ctx_;
	std::unique_ptr<RTL_PREFIX> top_;
	std::unique_ptr<VerilatedFstC> trace_;
};

} // namespace

mfld_model *MFLD_FACTORY_NAME(RTL_CONFIG, RTL_FLAVOUR)()
{
	return new model_impl;
}
