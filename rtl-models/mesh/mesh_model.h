/*
 * mesh_model.h - what mesh_api.cpp (the C API) needs from one verilated
 * mesh model: an ops table per built model (size x flavour), filled by
 * mesh_model.cpp, which is compiled once per model.  Internal to
 * rtl-models/mesh; the public API is include/loom/rtl_mesh.h.
 *
 * Ports are handed over as byte pointers into Verilator's port storage:
 * every port is a little-endian integer (CData .. QData) or an array of
 * 32-bit words (VlWide), so bit i is byte i / 8, bit i % 8 either way.
 */
#ifndef LOOM_RTL_MESH_MODEL_H
#define LOOM_RTL_MESH_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct mesh_port {
	uint8_t *p;
	size_t bytes;		/* storage size, >= ceil(bits / 8) */
};

struct mesh_ports {
	struct mesh_port clk, rst_n, routing;
	struct mesh_port inj_valid, inj_ready, inj_data;	/* (N), (N), (N, flit_bits) */
	struct mesh_port ej_valid, ej_ready, ej_data, ej_last;
	struct mesh_port cnt_node, cnt_sel, cnt;
};

struct mesh_model_ops {
	const char *config;	/* "4x4" */
	const char *flavour;	/* "checked" | "fast" */
	int k, l, vcs, flit_bits, buf_depth, inj_depth, router_stages, link_stages;
	/* A model with its own VerilatedContext; trace_path NULL = no trace.
	 * NULL on failure with a reason in err. */
	void *(*create)(const char *trace_path, char *err, size_t err_len);
	void (*destroy)(void *inst);
	/* Evaluate after inputs changed (a clock edge or not), dump a trace
	 * sample and advance simulated time by one step; -EIO once an assertion
	 * failed.  eval_comb: settle combinational outputs only (no time). */
	int (*eval)(void *inst);
	void (*eval_comb)(void *inst);
	void (*ports)(void *inst, struct mesh_ports *out);
};

#endif
