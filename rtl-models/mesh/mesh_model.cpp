/*
 * mesh_model.cpp - one verilated mesh model behind struct mesh_model_ops.
 *
 * Compiled once per built model by mk/rtl.mk with RTL_PREFIX (the Verilator
 * class, e.g. Vmesh_4x4_checked), RTL_CONFIG (4x4), RTL_FLAVOUR (checked)
 * and the model's parameters as RTL_MESH_<Param>; defines the table
 * mesh_model_<config>_<flavour>.  Owns the VerilatedContext and the FST
 * trace of each instance.  No mesh behaviour lives here.
 */
#include "mesh_model.h"

#include <errno.h>
#include <stdio.h>

#include <verilated.h>
#include <verilated_fst_c.h>

#define MM_STR2(x) #x
#define MM_STR(x) MM_STR2(x)
#define MM_CAT5(a, b, c, d, e) a##b##c##d##e
#define MM_NAME(c, f) MM_CAT5(mesh_model_, c, _, f, )
#include MM_STR(RTL_PREFIX.h)

namespace {

struct inst {
	VerilatedContext *ctx;
	RTL_PREFIX *top;
	VerilatedFstC *tfp;
};

template <typename T> mesh_port port_of(T &v)
{
	return mesh_port{ reinterpret_cast<uint8_t *>(&v), sizeof(v) };
}

void *mm_create(const char *trace_path, char *err, size_t err_len)
{
	inst *in = new (std::nothrow) inst{};
	if (!in) {
		snprintf(err, err_len, "out of memory");
		return nullptr;
	}
	in->ctx = new VerilatedContext;
	in->ctx->fatalOnError(false);	/* a failed assertion is reported, not fatal */
	if (trace_path)
		in->ctx->traceEverOn(true);
	in->top = new RTL_PREFIX(in->ctx, "mesh");
	if (trace_path) {
		in->tfp = new VerilatedFstC;
		in->top->trace(in->tfp, 99);
		in->tfp->open(trace_path);
		if (!in->tfp->isOpen()) {
			snprintf(err, err_len, "cannot open trace file %s", trace_path);
			Verilated::threadContextp(in->ctx);
			delete in->tfp;
			delete in->top;
			delete in->ctx;
			delete in;
			return nullptr;
		}
	}
	return in;
}

void mm_destroy(void *p)
{
	inst *in = static_cast<inst *>(p);
	if (!in)
		return;
	/* Verilator's scope destructors find their context through the thread's
	 * current one, which may be another (or a deleted) instance's. */
	Verilated::threadContextp(in->ctx);
	in->top->final();
	if (in->tfp) {
		in->tfp->close();
		delete in->tfp;
	}
	delete in->top;
	delete in->ctx;
	delete in;
}

int mm_eval(void *p)
{
	inst *in = static_cast<inst *>(p);
	Verilated::threadContextp(in->ctx);	/* where $error reports go */
	in->top->eval();
	if (in->tfp)
		in->tfp->dump(in->ctx->time());
	in->ctx->timeInc(1);
	return in->ctx->gotError() ? -EIO : 0;
}

void mm_eval_comb(void *p)
{
	inst *in = static_cast<inst *>(p);
	Verilated::threadContextp(in->ctx);
	in->top->eval();
}

void mm_ports(void *p, mesh_ports *o)
{
	RTL_PREFIX *t = static_cast<inst *>(p)->top;
	o->clk = port_of(t->clk_i);
	o->rst_n = port_of(t->rst_ni);
	o->routing = port_of(t->routing_i);
	o->inj_valid = port_of(t->inj_valid_i);
	o->inj_ready = port_of(t->inj_ready_o);
	o->inj_data = port_of(t->inj_data_i);
	o->ej_valid = port_of(t->ej_valid_o);
	o->ej_ready = port_of(t->ej_ready_i);
	o->ej_data = port_of(t->ej_data_o);
	o->ej_last = port_of(t->ej_last_o);
	o->cnt_node = port_of(t->cnt_node_i);
	o->cnt_sel = port_of(t->cnt_sel_i);
	o->cnt = port_of(t->cnt_o);
}

} // namespace

extern "C" const mesh_model_ops MM_NAME(RTL_CONFIG, RTL_FLAVOUR);
extern "C" const mesh_model_ops MM_NAME(RTL_CONFIG, RTL_FLAVOUR) = {
	MM_STR(RTL_CONFIG),
	MM_STR(RTL_FLAVOUR),
	RTL_MESH_K,
	RTL_MESH_L,
	RTL_MESH_NumVcs,
	RTL_MESH_FlitW,
	RTL_MESH_BufDepth,
	RTL_MESH_InjDepth,
	RTL_MESH_RouterStages,
	RTL_MESH_LinkStages,
	mm_create,
	mm_destroy,
	mm_eval,
	mm_eval_comb,
	mm_ports,
};
