// mfld_api.cpp - the C API of include/loom/rtl_mfld.h over the verilated models.
//
// The models built are listed by the build in RTL_MODELS ("RTL_MODEL(config,
// flavour) ..."); each comes from its adapter (mfld_model.cpp).  This file
// drives pins cycle by cycle: inputs change while the clock is low, a cycle
// is a rising then a falling edge, outputs are read after the falling edge.
// The device's DMA request of a cycle is served (callbacks) just before that
// cycle's rising edge, so the device sees the answer in the same cycle (its
// host-link latency register delays it further inside);
// DRAM answers and REF commands are sampled after each falling edge.
// Not here: any Verilator type (the adapters hold them).
#include "loom/rtl_mfld.h"

#include "loom/err.h"
#include "mfld_model.h"

#include <cerrno>
#include <cstring>
#include <new>

RTL_MODELS

// the layouts mfld_ctrl.sv reads and writes
static_assert(sizeof(rtl_mfld_desc) == 64, "descriptor is 64 bytes");
static_assert(sizeof(rtl_mfld_comp) == 32, "completion is 32 bytes");

namespace {

struct model_entry {
	const char *config;
	const char *flavour;
	mfld_model *(*make)();
};

#undef RTL_MODEL
#define RTL_MODEL(c, f) {#c, #f, MFLD_FACTORY_NAME(c, f)},
const model_entry k_models[] = {RTL_MODELS};

const char *const k_flavour_names[] = {"checked", "fast"};

// engine cycles allowed per unit before -ETIMEDOUT (a LOGFMT tile needs < 1000)
constexpr uint64_t k_unit_timeout = 100000;

} // namespace

constexpr size_t k_ref_log = 64;
constexpr size_t k_cmd_log = 256;

struct rtl_mfld {
	mfld_model *model;
	mfld_pins pins;
	bool tracing;
	struct rtl_mfld_counters cnt;
	struct rtl_mfld_dram_timing timing;
	// the DRAM run in progress (rtl_mfld_dram_run): ops, count, oldest unanswered
	struct rtl_mfld_dram_op *ops;
	size_t n_ops, low, answered;
	bool *done;
	// the last REF cycles, a ring
	uint64_t ref_log[k_ref_log];
	size_t n_ref_log;
	// channel 0's last commands, a ring
	struct rtl_mfld_dram_cmd cmd_log[k_cmd_log];
	size_t n_cmd_log;
	struct rtl_mfld_dram_geometry geom; // read from the registers at create
	struct rtl_mfld_dma dma; // host memory callbacks (none: every DMA fails)
};

// The device's DMA request of this cycle, answered in the same cycle.
static void serve_dma(rtl_mfld *m)
{
	mfld_pins &p = m->pins;
	size_t n = p.dma_req_bytes > 64 ? 64 : p.dma_req_bytes;
	uint8_t buf[64] = {0};
	int rc = -1;
	if (p.dma_req_we) {
		memcpy(buf, p.dma_req_wdata, n);
		if (m->dma.write)
			rc = m->dma.write(m->dma.ctx, p.dma_req_addr, buf, n);
		m->cnt.dma_writes++;
	} else {
		if (m->dma.read)
			rc = m->dma.read(m->dma.ctx, p.dma_req_addr, buf, n);
		m->cnt.dma_reads++;
	}
	p.dma_rsp_valid = 1;
	p.dma_rsp_err = rc != 0;
	memcpy(p.dma_rsp_rdata, buf, sizeof(buf));
}

static void log_cmd(rtl_mfld *m, unsigned kind, unsigned bank)
{
	m->cmd_log[m->n_cmd_log++ % k_cmd_log] = {m->cnt.cycles, kind, bank};
}

// Outputs of the cycle that begins now (cnt.cycles): DRAM answers, REFs and
// channel 0's commands.
static void sample(rtl_mfld *m)
{
	const mfld_pins &p = m->pins;
	if (p.dram_ref)
		m->ref_log[m->n_ref_log++ % k_ref_log] = m->cnt.cycles;
	if (p.dram_cmd0 & 1)
		log_cmd(m, RTL_MFLD_CMD_ACT, p.dram_cmd0_rbank);
	if (p.dram_cmd0 & 2)
		log_cmd(m, RTL_MFLD_CMD_PRE, p.dram_cmd0_rbank);
	if (p.dram_cmd0 & 4)
		log_cmd(m, RTL_MFLD_CMD_REF, p.dram_cmd0_rbank);
	if (p.dram_cmd0 & 8)
		log_cmd(m, p.dram_cmd0 & 16 ? RTL_MFLD_CMD_WR : RTL_MFLD_CMD_RD, p.dram_cmd0_cbank);
	for (int c = 0; c < MFLD_DRAM_CH; c++) {
		uint16_t tag = m->pins.dram_resp_tag[c];
		if (!m->pins.dram_resp_valid[c] || !m->ops || (tag & 0x8000))
			continue; /* bit 15: the data mover's */
		size_t i = m->low + ((tag - (uint16_t)m->low) & 0x7fff);
		if (i >= m->n_ops || m->done[i])
			continue; /* not ours (cannot happen while one run owns the port) */
		struct rtl_mfld_dram_op *op = &m->ops[i];
		op->t_resp = m->cnt.cycles;
		if (!op->write)
			memcpy(op->data, m->pins.dram_resp_rdata[c], sizeof(op->data));
		m->done[i] = true;
		m->answered++;
		while (m->low < m->n_ops && m->done[m->low])
			m->low++;
	}
}

static void tick(rtl_mfld *m)
{
	if (m->pins.dma_req_valid && m->pins.rst_n)
		serve_dma(m);
	m->pins.clk = 1;
	m->model->eval(m->pins);
	if (m->tracing)
		m->model->trace_dump(2 * m->cnt.cycles + 1);
	m->pins.clk = 0;
	m->model->eval(m->pins);
	m->cnt.cycles++;
	if (m->tracing)
		m->model->trace_dump(2 * m->cnt.cycles);
	m->pins.dma_rsp_valid = 0;
	m->pins.mmio_we = 0;
	sample(m);
	m->cnt.dram_act = m->pins.dram_n_act;
	m->cnt.dram_pre = m->pins.dram_n_pre;
	m->cnt.dram_cas = m->pins.dram_n_cas;
	m->cnt.dram_ref = m->pins.dram_n_ref;
}

static void mmio_write(rtl_mfld *m, uint32_t off, uint32_t v)
{
	m->pins.mmio_we = 1;
	m->pins.mmio_addr = (uint16_t)off;
	m->pins.mmio_wdata = v;
	tick(m);
}

static uint32_t mmio_read(rtl_mfld *m, uint32_t off)
{
	m->pins.mmio_addr = (uint16_t)off;
	m->model->eval(m->pins);
	return m->pins.mmio_rdata;
}

// the DRAM blocks' timing registers from m->timing (17 writes, 17 cycles)
static void drive_timing(rtl_mfld *m)
{
	const rtl_mfld_dram_timing &t = m->timing;
	const uint32_t v[] = {t.t_rcd, t.t_cl, t.t_rp, t.t_ras, t.t_burst, t.t_rfc, t.t_refi,
			      t.refresh != RTL_MFLD_REFRESH_OFF ? 1u : 0u};
	const uint32_t v2[] = {t.t_rrd, t.t_faw, t.t_wr, t.t_rtp, t.t_wtr, t.t_rtw,
			       t.refresh == RTL_MFLD_REFRESH_PER_BANK ? 1u : 0u, t.t_rfcpb, t.t_refipb};
	for (uint32_t i = 0; i < 8; i++)
		mmio_write(m, RTL_MFLD_REG_DRAM + RTL_MFLD_DRAM_T_RCD + 4 * i, v[i]);
	for (uint32_t i = 0; i < 9; i++)
		mmio_write(m, RTL_MFLD_REG_DRAM2 + RTL_MFLD_DRAM2_T_RRD + 4 * i, v2[i]);
}

// m->timing and m->geom from the registers (after reset: the build's values)
static void read_dram_regs(rtl_mfld *m)
{
	rtl_mfld_dram_timing &t = m->timing;
	unsigned *v[] = {&t.t_rcd, &t.t_cl, &t.t_rp, &t.t_ras, &t.t_burst, &t.t_rfc, &t.t_refi};
	unsigned *v2[] = {&t.t_rrd, &t.t_faw, &t.t_wr, &t.t_rtp, &t.t_wtr, &t.t_rtw};
	for (uint32_t i = 0; i < 7; i++)
		*v[i] = mmio_read(m, RTL_MFLD_REG_DRAM + RTL_MFLD_DRAM_T_RCD + 4 * i);
	for (uint32_t i = 0; i < 6; i++)
		*v2[i] = mmio_read(m, RTL_MFLD_REG_DRAM2 + RTL_MFLD_DRAM2_T_RRD + 4 * i);
	bool on = mmio_read(m, RTL_MFLD_REG_DRAM + RTL_MFLD_DRAM_T_RCD + 28);
	bool pb = mmio_read(m, RTL_MFLD_REG_DRAM2 + RTL_MFLD_DRAM2_T_RRD + 24);
	t.refresh = !on ? RTL_MFLD_REFRESH_OFF : pb ? RTL_MFLD_REFRESH_PER_BANK
						    : RTL_MFLD_REFRESH_ALL_BANK;
	t.t_rfcpb = mmio_read(m, RTL_MFLD_REG_DRAM2 + RTL_MFLD_DRAM2_T_RRD + 28);
	t.t_refipb = mmio_read(m, RTL_MFLD_REG_DRAM2 + RTL_MFLD_DRAM2_T_RRD + 32);
	uint32_t g = mmio_read(m, RTL_MFLD_REG_DRAM + RTL_MFLD_DRAM_GEOMETRY);
	m->geom.channels = g & 0xff;
	m->geom.banks = (g >> 8) & 0xff;
	m->geom.bytes = (uint64_t)1 << ((g >> 16) & 0xff);
	m->geom.row_bytes = mmio_read(m, RTL_MFLD_REG_DRAM2 + RTL_MFLD_DRAM2_ROW_BYTES);
	m->geom.rows = mmio_read(m, RTL_MFLD_REG_DRAM2 + RTL_MFLD_DRAM2_ROW_BYTES + 4);
}

static void reset_pins(rtl_mfld *m);

static void idle_inputs(rtl_mfld *m)
{
	m->pins.ib_we = 0;
	m->pins.start = 0;
	m->pins.dram_req_valid = 0;
}

extern "C" struct rtl_mfld *rtl_mfld_create(const struct rtl_mfld_params *params)
{
	rtl_mfld_params def = {RTL_MFLD_CHECKED, nullptr};
	const rtl_mfld_params *p = params ? params : &def;

	/* read as an int: a C caller may pass any value, which C++ may not load as the enum */
	int fl;
	memcpy(&fl, &p->flavour, sizeof(fl));
	if (fl != RTL_MFLD_CHECKED && fl != RTL_MFLD_FAST) {
		loom_err_set(EINVAL, "rtl_mfld: unknown flavour %d", fl);
		return nullptr;
	}
	const char *want = k_flavour_names[fl];
	const model_entry *e = nullptr;
	for (const model_entry &me : k_models)
		if (!strcmp(me.flavour, want))
			e = &me;
	if (!e) {
		loom_err_set(ENOENT, "rtl_mfld: the %s flavour is not built", want);
		return nullptr;
	}
	rtl_mfld *m = new (std::nothrow) rtl_mfld();
	if (!m) {
		loom_err_set(ENOMEM, "rtl_mfld: out of memory");
		return nullptr;
	}
	m->model = e->make();
	if (p->trace_path) {
		if (m->model->trace_open(p->trace_path)) {
			loom_err_set(EIO, "rtl_mfld: cannot open trace file %s", p->trace_path);
			delete m->model;
			delete m;
			return nullptr;
		}
		m->tracing = true;
	}
	reset_pins(m);
	read_dram_regs(m); /* the build's reset values */
	rtl_mfld_reset(m);
	return m;
}

extern "C" void rtl_mfld_destroy(struct rtl_mfld *m)
{
	if (!m)
		return;
	delete m->model;
	delete m;
}

// reset held for 4 cycles; counters and logs cleared, cycles go on
static void reset_pins(rtl_mfld *m)
{
	uint64_t cycles = m->cnt.cycles;
	idle_inputs(m);
	m->pins.rst_n = 0;
	m->model->eval(m->pins);
	for (int i = 0; i < 4; i++)
		tick(m);
	m->pins.rst_n = 1;
	tick(m);
	m->cnt = {};
	m->cnt.cycles = cycles + 5;
	m->n_ref_log = 0;
	m->n_cmd_log = 0;
}

extern "C" int rtl_mfld_reset(struct rtl_mfld *m)
{
	if (!m)
		return loom_err_set(EINVAL, "rtl_mfld_reset: NULL model");
	reset_pins(m);
	drive_timing(m); /* the registers came back at their reset values */
	return 0;
}

extern "C" int rtl_mfld_step(struct rtl_mfld *m, uint64_t n)
{
	if (!m)
		return loom_err_set(EINVAL, "rtl_mfld_step: NULL model");
	idle_inputs(m);
	for (uint64_t i = 0; i < n; i++)
		tick(m);
	return 0;
}

extern "C" int rtl_mfld_counters(const struct rtl_mfld *m, struct rtl_mfld_counters *c)
{
	if (!m || !c)
		return loom_err_set(EINVAL, "rtl_mfld_counters: NULL pointer");
	*c = m->cnt;
	return 0;
}

static int check_unit(int op, int k, int len, int nbits, size_t in_bytes,
		      size_t out_bytes)
{
	if (op < RTL_MFLD_ENG_COMBINE || op > RTL_MFLD_ENG_LOGFMT_DEC)
		return loom_err_set(EINVAL, "rtl_mfld_engine_run: unknown engine %d", op);
	if (len < 1 || len > RTL_MFLD_MAX_LEN)
		return loom_err_set(EINVAL, "rtl_mfld_engine_run: len=%d must be in 1..%d", len,
				    RTL_MFLD_MAX_LEN);
	if (op == RTL_MFLD_ENG_COMBINE && (k < 1 || k > RTL_MFLD_MAX_K))
		return loom_err_set(EINVAL, "rtl_mfld_engine_run: k=%d must be in 1..%d", k,
				    RTL_MFLD_MAX_K);
	if (op == RTL_MFLD_ENG_QUANT && k != RTL_MFLD_QUANT_F32 && k != RTL_MFLD_QUANT_POW2)
		return loom_err_set(EINVAL, "rtl_mfld_engine_run: QUANT scale mode k=%d must be %d "
				    "(FP32) or %d (POW2)", k, RTL_MFLD_QUANT_F32, RTL_MFLD_QUANT_POW2);
	if ((op == RTL_MFLD_ENG_LOGFMT_ENC || op == RTL_MFLD_ENG_LOGFMT_DEC) &&
	    (nbits < 8 || nbits > 10))
		return loom_err_set(EINVAL, "rtl_mfld_engine_run: nbits=%d must be in 8..10", nbits);
	if (in_bytes > RTL_MFLD_IB_BYTES || out_bytes > RTL_MFLD_OB_BYTES)
		return loom_err_set(EINVAL, "rtl_mfld_engine_run: %zu in / %zu out bytes exceed the "
				    "buffers (%d / %d)", in_bytes, out_bytes, RTL_MFLD_IB_BYTES,
				    RTL_MFLD_OB_BYTES);
	return 0;
}

// in[0..n) into the input buffer at byte at, one 32-bit word per cycle
static void load_input_at(rtl_mfld *m, size_t at, const uint8_t *in, size_t n)
{
	for (size_t a = 0; a < n; a += 4) {
		uint32_t w = 0;
		uint8_t be = 0;
		for (size_t b = 0; b < 4 && a + b < n; b++) {
			w |= (uint32_t)in[a + b] << (8 * b);
			be |= (uint8_t)(1u << b);
		}
		m->pins.ib_we = 1;
		m->pins.ib_addr = (uint32_t)(at + a);
		m->pins.ib_wdata = w;
		m->pins.ib_be = be;
		tick(m);
	}
	m->pins.ib_we = 0;
}

static void load_input(rtl_mfld *m, const uint8_t *in, size_t n)
{
	load_input_at(m, 0, in, n);
}

// the output buffer's words are combinational reads: no clock needed
static void read_output(rtl_mfld *m, uint8_t *out, size_t n)
{
	for (size_t a = 0; a < n; a += 4) {
		m->pins.ob_addr = (uint32_t)a;
		m->model->eval(m->pins);
		for (size_t b = 0; b < 4 && a + b < n; b++)
			out[a + b] = (uint8_t)(m->pins.ob_rdata >> (8 * b));
	}
}

// Start op on what the input buffer holds, wait for done, read out_bytes back.
static int run_unit(rtl_mfld *m, int op, uint8_t *out, size_t out_bytes, uint64_t *cycles)
{
	m->pins.start = 1;
	m->pins.op = (uint8_t)op;
	tick(m);
	m->pins.start = 0;
	m->model->eval(m->pins); /* outputs as they are without start */
	uint64_t n = 1;
	while (!m->pins.done && n < k_unit_timeout) {
		tick(m);
		n++;
	}
	if (!m->pins.done)
		return loom_err_set(ETIMEDOUT, "rtl_mfld: engine %d gave no done in %llu cycles", op,
				    (unsigned long long)n);
	bool err = m->pins.err;
	tick(m); /* the done cycle's last write lands on this edge */
	m->cnt.units++;
	m->cnt.engine_cycles += n;
	if (cycles)
		*cycles = n;
	if (err) {
		m->cnt.units_failed++;
		const char *why = op == RTL_MFLD_ENG_LOGFMT_ENC ? "NaN or inf in the tile"
				: op == RTL_MFLD_ENG_LOGFMT_DEC ? "corrupt header"
								: "index out of range";
		return loom_err_set(EIO, "rtl_mfld: engine %d rejected the unit (%s)", op, why);
	}
	read_output(m, out, out_bytes);
	return 0;
}

extern "C" int rtl_mfld_engine_run(struct rtl_mfld *m, enum rtl_mfld_engine op_in, int k,
				   int len, int nbits, const void *in, size_t in_bytes, void *out,
				   size_t out_bytes, uint64_t *cycles)
{
	int op; /* as an int: C callers may pass any value (see rtl_mfld_create) */
	memcpy(&op, &op_in, sizeof(op));
	if (!m || (in_bytes && !in) || (out_bytes && !out))
		return loom_err_set(EINVAL, "rtl_mfld_engine_run: NULL pointer");
	int rc = check_unit(op, k, len, nbits, in_bytes, out_bytes);
	if (rc)
		return rc;
	if (m->pins.dev_busy)
		return loom_err_set(EBUSY, "rtl_mfld_engine_run: the device is serving a descriptor");
	load_input(m, (const uint8_t *)in, in_bytes);
	m->pins.k = (uint8_t)(op == RTL_MFLD_ENG_COMBINE || op == RTL_MFLD_ENG_QUANT ? k : 0);
	m->pins.len = (uint8_t)(len & 0xff); /* 128 fits in 8 bits */
	m->pins.nbits = (uint8_t)nbits;
	return run_unit(m, op, (uint8_t *)out, out_bytes, cycles);
}

extern "C" int rtl_mfld_perm_run(struct rtl_mfld *m, int scatter, int n, const int32_t *idx,
				 size_t row_bytes, int nrows, const void *rows, void *out,
				 uint64_t *cycles)
{
	if (!m || !idx || !rows || !out)
		return loom_err_set(EINVAL, "rtl_mfld_perm_run: NULL pointer");
	if (m->pins.dev_busy)
		return loom_err_set(EBUSY, "rtl_mfld_perm_run: the device is serving a descriptor");
	if (n < 1 || n > RTL_MFLD_MAX_LEN || nrows < 1 || nrows > RTL_MFLD_PERM_MAX_ROWS)
		return loom_err_set(EINVAL, "rtl_mfld_perm_run: n=%d must be in 1..%d, nrows=%d in "
				    "1..%d", n, RTL_MFLD_MAX_LEN, nrows, RTL_MFLD_PERM_MAX_ROWS);
	size_t in_rows = scatter ? (size_t)n : (size_t)nrows;
	size_t out_rows = scatter ? (size_t)nrows : (size_t)n;
	if (row_bytes < 4 || row_bytes % 4 || row_bytes > RTL_MFLD_OB_BYTES ||
	    RTL_MFLD_PERM_ROWS_AT + in_rows * row_bytes > RTL_MFLD_IB_BYTES ||
	    out_rows * row_bytes > RTL_MFLD_OB_BYTES)
		return loom_err_set(EINVAL, "rtl_mfld_perm_run: row_bytes=%zu (a multiple of 4) with "
				    "%zu in / %zu out rows does not fit the buffers", row_bytes,
				    in_rows, out_rows);
	load_input(m, (const uint8_t *)idx, 4 * (size_t)n);
	load_input_at(m, RTL_MFLD_PERM_ROWS_AT, (const uint8_t *)rows, in_rows * row_bytes);
	m->pins.len = (uint8_t)n;
	m->pins.row_words = (uint16_t)(row_bytes / 4);
	m->pins.nrows = (uint8_t)nrows;
	return run_unit(m, scatter ? RTL_MFLD_ENG_SCATTER : RTL_MFLD_ENG_GATHER, (uint8_t *)out,
			out_rows * row_bytes, cycles);
}

/* ---- DRAM ---------------------------------------------------------------- */

extern "C" int rtl_mfld_dram_set_timing(struct rtl_mfld *m, const struct rtl_mfld_dram_timing *t)
{
	if (!m || !t)
		return loom_err_set(EINVAL, "rtl_mfld_dram_set_timing: NULL pointer");
	const unsigned small[] = {t->t_rcd, t->t_cl, t->t_rp, t->t_ras, t->t_burst};
	for (unsigned v : small)
		if (v < 1 || v > 255)
			return loom_err_set(EINVAL, "rtl_mfld_dram_set_timing: tRCD, tCL, tRP, tRAS "
					    "and tBurst must be in 1..255 cycles (got %u)", v);
	if (t->t_rfc < 1 || t->t_rfc > 4095 || t->t_refi > 65535 || t->t_refi <= t->t_rfc)
		return loom_err_set(EINVAL, "rtl_mfld_dram_set_timing: tRFC=%u must be in 1..4095 "
				    "and below tREFI=%u (at most 65535)", t->t_rfc, t->t_refi);
	const unsigned more[] = {t->t_rrd, t->t_faw, t->t_wr, t->t_rtp, t->t_wtr, t->t_rtw};
	for (unsigned v : more)
		if (v < 1 || v > 255)
			return loom_err_set(EINVAL, "rtl_mfld_dram_set_timing: tRRD, tFAW, tWR, tRTP, "
					    "tWTR and tRTW must be in 1..255 cycles (got %u)", v);
	if (t->t_rfcpb < 1 || t->t_rfcpb > 4095 || t->t_refipb > 65535 ||
	    t->t_refipb <= t->t_rfcpb)
		return loom_err_set(EINVAL, "rtl_mfld_dram_set_timing: tRFCpb=%u must be in 1..4095 "
				    "and below tREFIpb=%u (at most 65535)", t->t_rfcpb, t->t_refipb);
	int rf;
	memcpy(&rf, &t->refresh, sizeof(rf));
	if (rf < RTL_MFLD_REFRESH_OFF || rf > RTL_MFLD_REFRESH_PER_BANK)
		return loom_err_set(EINVAL, "rtl_mfld_dram_set_timing: unknown refresh mode %d", rf);
	m->timing = *t;
	drive_timing(m);
	return 0;
}

extern "C" int rtl_mfld_dram_get_timing(const struct rtl_mfld *m, struct rtl_mfld_dram_timing *t)
{
	if (!m || !t)
		return loom_err_set(EINVAL, "rtl_mfld_dram_get_timing: NULL pointer");
	*t = m->timing;
	return 0;
}

// cycles without an accepted request or an answer before -ETIMEDOUT
constexpr uint64_t k_dram_stall = 1000000;

extern "C" int rtl_mfld_dram_run(struct rtl_mfld *m, struct rtl_mfld_dram_op *ops, size_t n)
{
	if (!m || (n && !ops))
		return loom_err_set(EINVAL, "rtl_mfld_dram_run: NULL pointer");
	for (size_t i = 0; i < n; i++)
		if (ops[i].addr % RTL_MFLD_DRAM_BURST_BYTES || ops[i].addr >= m->geom.bytes)
			return loom_err_set(EINVAL, "rtl_mfld_dram_run: op %zu: address 0x%llx is not "
					    "a 32-byte burst below %llu", i,
					    (unsigned long long)ops[i].addr,
					    (unsigned long long)m->geom.bytes);
	if (m->pins.dev_busy)
		return loom_err_set(EBUSY, "rtl_mfld_dram_run: the device is serving a descriptor");
	bool *done = new (std::nothrow) bool[n ? n : 1]();
	if (!done)
		return loom_err_set(ENOMEM, "rtl_mfld_dram_run: out of memory");
	m->ops = ops;
	m->n_ops = n;
	m->low = 0;
	m->answered = 0;
	m->done = done;
	size_t next = 0;
	uint64_t stall = 0;
	while (m->answered < n && stall < k_dram_stall) {
		size_t before = next + m->answered;
		if (next < n) {
			struct rtl_mfld_dram_op *op = &ops[next];
			m->pins.dram_req_valid = 1;
			m->pins.dram_req_we = op->write ? 1 : 0;
			m->pins.dram_req_addr = (uint32_t)(op->addr / RTL_MFLD_DRAM_BURST_BYTES);
			m->pins.dram_req_tag = (uint16_t)(next & 0x7fff);
			memcpy(m->pins.dram_req_wdata, op->data, sizeof(op->data));
			m->model->eval(m->pins);
			if (m->pins.dram_req_ready) {
				op->t_req = m->cnt.cycles;
				next++;
			}
		}
		tick(m);
		m->pins.dram_req_valid = 0;
		stall = (next + m->answered == before) ? stall + 1 : 0;
	}
	m->ops = nullptr;
	m->done = nullptr;
	delete[] done;
	if (m->answered < n)
		return loom_err_set(ETIMEDOUT, "rtl_mfld_dram_run: %zu of %zu ops unanswered after %llu "
				    "idle cycles", n - m->answered, n,
				    (unsigned long long)k_dram_stall);
	return 0;
}

extern "C" size_t rtl_mfld_dram_refresh_log(const struct rtl_mfld *m, uint64_t *cycles, size_t max)
{
	if (!m || !cycles)
		return 0;
	size_t have = m->n_ref_log < k_ref_log ? m->n_ref_log : k_ref_log;
	if (max > have)
		max = have;
	for (size_t i = 0; i < max; i++)
		cycles[i] = m->ref_log[(m->n_ref_log - max + i) % k_ref_log];
	return max;
}

extern "C" size_t rtl_mfld_dram_cmd_log(const struct rtl_mfld *m, struct rtl_mfld_dram_cmd *cmds,
				       size_t max)
{
	if (!m || !cmds)
		return 0;
	size_t have = m->n_cmd_log < k_cmd_log ? m->n_cmd_log : k_cmd_log;
	if (max > have)
		max = have;
	for (size_t i = 0; i < max; i++)
		cmds[i] = m->cmd_log[(m->n_cmd_log - max + i) % k_cmd_log];
	return max;
}

extern "C" int rtl_mfld_dram_geometry(const struct rtl_mfld *m, struct rtl_mfld_dram_geometry *g)
{
	if (!m || !g)
		return loom_err_set(EINVAL, "rtl_mfld_dram_geometry: NULL pointer");
	*g = m->geom;
	return 0;
}

/* ---- device: MMIO, DMA, interrupt -------------------------------------- */

static int check_off(const char *fn, uint32_t off)
{
	if (off % 4 || off >= RTL_MFLD_MMIO_BYTES)
		return loom_err_set(EINVAL, "%s: offset 0x%x is not a register (aligned, below 0x%x)",
				    fn, off, RTL_MFLD_MMIO_BYTES);
	return 0;
}

extern "C" int rtl_mfld_mmio_write(struct rtl_mfld *m, uint32_t off, uint32_t val)
{
	if (!m)
		return loom_err_set(EINVAL, "rtl_mfld_mmio_write: NULL model");
	int rc = check_off("rtl_mfld_mmio_write", off);
	if (rc)
		return rc;
	idle_inputs(m);
	mmio_write(m, off, val);
	return 0;
}

extern "C" int rtl_mfld_mmio_read(struct rtl_mfld *m, uint32_t off, uint32_t *val)
{
	if (!m || !val)
		return loom_err_set(EINVAL, "rtl_mfld_mmio_read: NULL pointer");
	int rc = check_off("rtl_mfld_mmio_read", off);
	if (rc)
		return rc;
	m->pins.mmio_addr = (uint16_t)off;
	m->model->eval(m->pins);
	*val = m->pins.mmio_rdata;
	return 0;
}

extern "C" int rtl_mfld_set_dma(struct rtl_mfld *m, const struct rtl_mfld_dma *dma)
{
	if (!m)
		return loom_err_set(EINVAL, "rtl_mfld_set_dma: NULL model");
	m->dma = dma ? *dma : rtl_mfld_dma{};
	return 0;
}

extern "C" int rtl_mfld_irq(const struct rtl_mfld *m)
{
	return m && m->pins.irq ? 1 : 0;
}

extern "C" int rtl_mfld_busy(const struct rtl_mfld *m)
{
	return m && m->pins.dev_busy ? 1 : 0;
}
