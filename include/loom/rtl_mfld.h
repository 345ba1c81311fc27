/*
 * rtl_mfld.h - the memory-facing logic die's RTL (rtl-models/mfld), simulated
 * by Verilator, behind a C API.
 *
 * The device (mfld_top.sv): registers as a chain of self-describing blocks,
 * a doorbell and a descriptor ring fetched by DMA from host memory (the
 * rtl_mfld_dma callbacks), a data mover that loads an engine's input
 * buffer image from the DRAM, runs the engine and stores its output buffer
 * back, completion records written by DMA, an interrupt line; the DRAM
 * stack as a timing model holding the data; the near-memory engines
 * (COMBINE, QUANT, DEQUANT, LOGFMT encode / decode, GATHER / SCATTER).
 * Tests: tests/rtl/test_mfld_dev.c (device), test_mfld_dram.c (DRAM),
 * test_mfld_engines.c and test_mfld_perm.c (engines, bit-exact with
 * kernels/).  Two test ports reach the engines (rtl_mfld_engine_run,
 * rtl_mfld_perm_run: input through a 32-bit port, one word per clock) and
 * the DRAM (rtl_mfld_dram_run) directly while no descriptor is served.
 *
 * Work units (len = elements, 1..128; byte layouts of the buffers):
 *   COMBINE     in:  k (1..16) FP32 weights at 0, row i (len BF16) at 64 + 256 i
 *               out: len BF16 = bf16(sum_i in order of RN(w_i * x_i)), FP32 accumulation
 *   QUANT       in:  len BF16               out: len E4M3 at 0, FP32 scale at 256
 *               (one 1x128 tile of quant_act_1x128; k = the scale mode:
 *               RTL_MFLD_QUANT_F32 or RTL_MFLD_QUANT_POW2, quant.h's values)
 *   DEQUANT     in:  len E4M3 at 0, FP32 scale at 256    out: len FP32
 *   LOGFMT_ENC  in:  len FP32               out: one tile, logfmt_tile_bytes(n)
 *   LOGFMT_DEC  in:  one tile               out: len FP32
 *   (LOGFMT n = nbits in 8..10.)
 *   GATHER      in:  idx (len int32) at 0, rows from 512     out: rows (see rtl_mfld_perm_run)
 *   SCATTER     the same layout; out: nrows rows
 * A descriptor names the same images in DRAM (struct rtl_mfld_desc).
 * NaN results of DEQUANT are the quiet NaN 0x7fc00000 (the C reference may
 * carry another payload); every other output is bit-exact.
 *
 * Instances are independent (one VerilatedContext each): several may live
 * in one process; one instance is not thread-safe.  Errors: negative errno
 * with a reason in loom_err_msg().
 */
#ifndef LOOM_RTL_MFLD_H
#define LOOM_RTL_MFLD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rtl_mfld;

enum rtl_mfld_flavour {
	RTL_MFLD_CHECKED = 0, /* assertions on: for tests */
	RTL_MFLD_FAST = 1,    /* -O3, no assertions: for experiments */
};

struct rtl_mfld_params {
	enum rtl_mfld_flavour flavour;
	const char *trace_path; /* FST waveform file, or NULL (default: none) */
};

enum rtl_mfld_engine {
	RTL_MFLD_ENG_COMBINE = 0,
	RTL_MFLD_ENG_QUANT = 1,
	RTL_MFLD_ENG_DEQUANT = 2,
	RTL_MFLD_ENG_LOGFMT_ENC = 3,
	RTL_MFLD_ENG_LOGFMT_DEC = 4,
	RTL_MFLD_ENG_GATHER = 5,  /* rtl_mfld_perm_run */
	RTL_MFLD_ENG_SCATTER = 6, /* rtl_mfld_perm_run */
};

/* QUANT's scale mode, passed as k (descriptor byte k, or rtl_mfld_engine_run's
 * k): the values of quant.h's enum quant_scale_mode */
#define RTL_MFLD_QUANT_F32 0  /* s = amax / 448 (QUANT_SCALE_F32) */
#define RTL_MFLD_QUANT_POW2 1 /* s = a power of two >= amax / 448 (QUANT_SCALE_POW2, UE8M0) */

#define RTL_MFLD_IB_BYTES 8192
#define RTL_MFLD_OB_BYTES 1024
#define RTL_MFLD_MAX_K 16
#define RTL_MFLD_MAX_LEN 128
#define RTL_MFLD_PERM_ROWS_AT 512  /* GATHER/SCATTER: rows' offset in the input buffer */
#define RTL_MFLD_PERM_MAX_ROWS 255

struct rtl_mfld_counters {
	uint64_t cycles;       /* clock cycles since create */
	uint64_t units;        /* engine units finished (rejected ones included) */
	uint64_t units_failed; /* units the engine rejected (NaN/inf to LOGFMT, bad header) */
	uint64_t engine_cycles; /* cycles spent with an engine running */
	/* DRAM commands since reset, all channels */
	uint64_t dram_act, dram_pre, dram_cas, dram_ref;
	uint64_t dma_reads, dma_writes; /* host memory accesses of the device */
};

/*
 * The DRAM stack (mfld_dram*.sv): RTL_MFLD_DRAM_CHANNELS pseudo-channels of
 * RTL_MFLD_DRAM_BANKS banks, 1 KiB rows, 32-byte bursts, holding
 * RTL_MFLD_DRAM_BYTES of data (the default build's geometry: mk/rtl.mk's
 * RTL_MFLD_DRAM selects another; rtl_mfld_dram_geometry reports the
 * model's).  Address map (byte address a, burst b = a / 32): channel = the
 * low log2(channels) bits of b, then bank, column (burst in the row), row.
 * One clock = one DRAM command clock: HBM3 at 6.4 Gb/s per pin has tCK =
 * 0.625 ns (1.6 GHz); a 32-bit pseudo-channel moves 4 bits per pin per
 * clock, so a BL8 burst (32 bytes) takes tBurst = 2 clocks and the peak is
 * channels * 32 / tBurst bytes per clock (51.2 GB/s for the two modelled
 * pseudo-channels; a stack has 32).  All-bank refresh takes tRFC of every
 * tREFI, so the sustainable peak of a long stream is at most
 * peak * (1 - tRFC / tREFI).
 * Default timings (cycles of 0.625 ns, rounded up):
 *   tRCD = tRP = 16 ns -> 26, read latency tCL 16 ns -> 26, tRAS 33 ns ->
 *   53, tREFI 3.9 us -> 6240, tRFC (all-bank, 16 Gb die) 350 ns -> 560:
 *   JEDEC JESD238 HBM3 minimums as tabulated by open simulators;
 *   tRRD 2 ns -> 4, tFAW 15 ns -> 24, tWR 8 ns -> 13, tRTP 2 ns -> 4,
 *   tWTR 3 ns -> 5, tRTW 3 ns -> 5, tRFCpb 160 ns -> 256: Ramulator 2.0's
 *   HBM3 preset (HBM3_2Gbps, nRRDS, nFAW, nWR, nRTPS, nWTRS, nRTW, nRFCSB
 *   at its tCK of 1 ns); tREFIpb = tREFI / banks = 390 (every bank once per
 *   tREFI, as REFpb requires).
 * Model conventions: tWR and tWTR count from the end of the WR's data
 * burst (no write latency is modelled): PRE >= WR + tBurst + tWR, RD >= WR
 * + tBurst + tWTR; PRE >= RD + tRTP; WR >= RD + tRTW (bus turnaround);
 * ACT >= ACT + tRRD, at most 4 ACTs in any tFAW window (per channel); no
 * bank groups.
 */
#define RTL_MFLD_DRAM_CHANNELS 2
#define RTL_MFLD_DRAM_BANKS 16
#define RTL_MFLD_DRAM_ROW_BYTES 1024
#define RTL_MFLD_DRAM_BURST_BYTES 32
#define RTL_MFLD_DRAM_ROWS 32 /* per bank */
#define RTL_MFLD_DRAM_BYTES                                                                   \
	((uint64_t)RTL_MFLD_DRAM_CHANNELS * RTL_MFLD_DRAM_BANKS * RTL_MFLD_DRAM_ROWS *          \
	 RTL_MFLD_DRAM_ROW_BYTES)

/* The geometry of a model (its build's RTL_MFLD_DRAM settings). */
struct rtl_mfld_dram_geometry {
	unsigned channels, banks, row_bytes, rows; /* rows per bank */
	uint64_t bytes;				   /* the whole stack */
};
int rtl_mfld_dram_geometry(const struct rtl_mfld *m, struct rtl_mfld_dram_geometry *g);

enum rtl_mfld_refresh {
	RTL_MFLD_REFRESH_OFF = 0,      /* no refresh (for latency experiments) */
	RTL_MFLD_REFRESH_ALL_BANK = 1, /* REFab: tRFC of every tREFI, all banks */
	RTL_MFLD_REFRESH_PER_BANK = 2, /* REFpb: one bank every tREFIpb, it alone tRFCpb */
};

struct rtl_mfld_dram_timing {
	/* cycles: t_rcd, t_cl, t_rp, t_ras, t_burst in 1..255, t_rfc in 1..4095,
	 * t_refi in 2..65535 and > t_rfc */
	unsigned t_rcd, t_cl, t_rp, t_ras, t_burst, t_rfc, t_refi;
	int refresh; /* enum rtl_mfld_refresh */
	/* cycles, 1..255: ACT to ACT, four-activate window, write recovery,
	 * read to precharge, write to read, read to write */
	unsigned t_rrd, t_faw, t_wr, t_rtp, t_wtr, t_rtw;
	/* per-bank refresh: t_rfcpb in 1..4095, t_refipb in 2..65535 and > t_rfcpb */
	unsigned t_rfcpb, t_refipb;
};
/* the default build's reset values (rtl_mfld_dram_get_timing after create
 * gives a model's) */
#define RTL_MFLD_DRAM_TIMING_DEFAULT \
	{ 26, 26, 26, 53, 2, 560, 6240, RTL_MFLD_REFRESH_ALL_BANK, 4, 24, 13, 4, 5, 5, 256, 390 }

/* Timings (the DRAM blocks' registers) take effect at once; change them only
 * while the DRAM is idle.  rtl_mfld_reset keeps them. */
int rtl_mfld_dram_set_timing(struct rtl_mfld *m, const struct rtl_mfld_dram_timing *t);
int rtl_mfld_dram_get_timing(const struct rtl_mfld *m, struct rtl_mfld_dram_timing *t);

/* Channel 0's command trace: the last (up to 256) commands, oldest first.
 * A row command (ACT, PRE, REF) and a column command (RD, WR) may share a
 * cycle; the row command is listed first. */
enum rtl_mfld_dram_cmd_kind {
	RTL_MFLD_CMD_ACT = 0,
	RTL_MFLD_CMD_PRE = 1,
	RTL_MFLD_CMD_REF = 2, /* all-bank: bank 0; per-bank: the refreshed bank */
	RTL_MFLD_CMD_RD = 3,
	RTL_MFLD_CMD_WR = 4,
};
struct rtl_mfld_dram_cmd {
	uint64_t cycle;
	unsigned kind; /* enum rtl_mfld_dram_cmd_kind */
	unsigned bank;
};
/* Writes up to max of the newest commands into cmds; returns how many. */
size_t rtl_mfld_dram_cmd_log(const struct rtl_mfld *m, struct rtl_mfld_dram_cmd *cmds,
			     size_t max);

/* One burst access through the DRAM's test port (served while the device
 * serves no descriptor; -EBUSY otherwise). */
struct rtl_mfld_dram_op {
	uint64_t addr;	  /* byte address, a multiple of 32, below the geometry's bytes */
	int write;	  /* 1: write data; 0: read into data */
	uint8_t data[32];
	uint64_t t_req;	  /* out: cycle the port accepted it */
	uint64_t t_resp;  /* out: cycle its data (or write acknowledgement) came back */
};

/*
 * Issue ops[0..n) in order, one per cycle as the port accepts them, and run
 * until every one has answered.  The latency of an op is t_resp - t_req:
 * tCL + 1 for a row hit, tRCD + tCL + 1 for a closed bank, tRP + tRCD +
 * tCL + 1 for a row miss (the + 1: the cycle in the controller's queue),
 * when nothing else is queued and no refresh intervenes.  -EINVAL: bad
 * address; -ETIMEDOUT: no progress for 10^6 cycles.
 */
int rtl_mfld_dram_run(struct rtl_mfld *m, struct rtl_mfld_dram_op *ops, size_t n);

/* The cycles of the last (up to 64) REF commands of channel 0, oldest first;
 * returns how many were written to cycles (at most max). */
size_t rtl_mfld_dram_refresh_log(const struct rtl_mfld *m, uint64_t *cycles, size_t max);

/* NULL params: checked flavour, no trace.  NULL on failure (reason set). */
struct rtl_mfld *rtl_mfld_create(const struct rtl_mfld_params *params);
void rtl_mfld_destroy(struct rtl_mfld *m);
/* Reset held for a few cycles; counters except cycles are cleared. */
int rtl_mfld_reset(struct rtl_mfld *m);
/* Run n clock cycles with idle inputs. */
int rtl_mfld_step(struct rtl_mfld *m, uint64_t n);
int rtl_mfld_counters(const struct rtl_mfld *m, struct rtl_mfld_counters *c);

/*
 * Run one unit on engine op: in_bytes of in into the input buffer at 0, run,
 * out_bytes of the output buffer into out.  k is used by COMBINE (rows) and
 * QUANT (scale mode), nbits by LOGFMT.  *cycles (may be NULL) gets the
 * engine's cycles for the unit.  -EINVAL: bad arguments (sizes above the
 * buffers, k, len or nbits out of range, a QUANT k other than a scale mode);
 * -EIO: the engine rejected the unit (LOGFMT_ENC: NaN or inf in the tile;
 * LOGFMT_DEC: corrupt header), out untouched; -ETIMEDOUT: no done;
 * -EBUSY: the device is serving a descriptor (also for rtl_mfld_perm_run).
 */
int rtl_mfld_engine_run(struct rtl_mfld *m, enum rtl_mfld_engine op, int k, int len, int nbits,
			const void *in, size_t in_bytes, void *out, size_t out_bytes,
			uint64_t *cycles);

/*
 * GATHER (scatter = 0) or SCATTER (scatter = 1) of rows by idx (n entries,
 * n in 1..128; -1 = no row).  row_bytes: a multiple of 4.
 *   GATHER:  rows (nrows, row_bytes) -> out (n, row_bytes);
 *            out[i] = rows[idx[i]], zeros for -1 (moe_unpermute with
 *            idx = row_of_src; moe_permute with idx = src_of_row / k).
 *   SCATTER: rows (n, row_bytes) -> out (nrows, row_bytes); out zeroed, then
 *            out[idx[i]] = rows[i] for idx[i] >= 0 (moe_permute with rows =
 *            each token's row k times and idx = row_of_src).
 * The rows must fit the buffers: 512 + input rows * row_bytes <= 8192,
 * output rows * row_bytes <= 1024, else -EINVAL.  An index outside
 * [-1, nrows): -EIO, out untouched.  *cycles as for rtl_mfld_engine_run.
 */
int rtl_mfld_perm_run(struct rtl_mfld *m, int scatter, int n, const int32_t *idx,
		      size_t row_bytes, int nrows, const void *rows, void *out, uint64_t *cycles);

/*
 * ---- the device: registers, descriptor ring, DMA, interrupt ----
 * Registers (rtl-models/mfld/mfld_ctrl.sv has the full map) are a chain of
 * blocks: word 0 = type << 16 | version, word 1 = offset of the next block
 * (0: last).  Software finds a block by walking the chain from offset 0;
 * the offsets below are where this build puts them.
 */
#define RTL_MFLD_MMIO_BYTES 4096
#define RTL_MFLD_BLK_DEVICE 1  /* +8 magic RTL_MFLD_MAGIC, +12 opcodes (bit mask) */
#define RTL_MFLD_BLK_QUEUE 2
#define RTL_MFLD_BLK_DRAM 3
#define RTL_MFLD_BLK_ENGINES 4 /* +8 opcodes, +12 / +16 buffer bytes, +20 done, +24 errors */
#define RTL_MFLD_MAGIC 0x4d464c44u
#define RTL_MFLD_REG_DEVICE 0x000
#define RTL_MFLD_REG_QUEUE 0x040
#define RTL_MFLD_REG_DRAM 0x080
#define RTL_MFLD_REG_ENGINES 0x0c0
/* queue block registers (offsets inside the block) */
#define RTL_MFLD_Q_RING_LO 0x08	 /* descriptor ring, host address */
#define RTL_MFLD_Q_RING_HI 0x0c
#define RTL_MFLD_Q_LOG2 0x10	 /* log2 of the ring's entries, 0..12 (both rings) */
#define RTL_MFLD_Q_COMP_LO 0x14	 /* completion ring, host address */
#define RTL_MFLD_Q_COMP_HI 0x18
#define RTL_MFLD_Q_DOORBELL 0x1c /* descriptors posted so far (free-running count) */
#define RTL_MFLD_Q_HEAD 0x20	 /* descriptors consumed so far */
#define RTL_MFLD_Q_NCOMP 0x24	 /* completions written so far */
#define RTL_MFLD_Q_IRQ_STATUS 0x28 /* bit 0 completion, bit 1 error completion; write 1 clears */
#define RTL_MFLD_Q_IRQ_ENABLE 0x2c
#define RTL_MFLD_Q_CTRL 0x30	 /* bit 0: serve the ring */
/* host-link latency: cycles each DMA access (descriptor fetch, completion
 * write) takes beyond the cycle the host answers in; 0..4095, reset 0 */
#define RTL_MFLD_Q_LINK_LAT 0x34
/* dram block: +8 geometry {log2 bytes << 16 | banks << 8 | channels}, timings
 * from +12 in the order of struct rtl_mfld_dram_timing (+40 refresh on),
 * +44.. ACT, PRE, CAS, REF */
#define RTL_MFLD_DRAM_GEOMETRY 0x08
#define RTL_MFLD_DRAM_T_RCD 0x0c
/* dram2 block (type 5): +8.. tRRD, tFAW, tWR, tRTP, tWTR, tRTW, +32 refresh
 * mode (1 per-bank), +36 tRFCpb, +40 tREFIpb, +44 row bytes, +48 rows */
#define RTL_MFLD_BLK_DRAM2 5
#define RTL_MFLD_REG_DRAM2 0x100
#define RTL_MFLD_DRAM2_T_RRD 0x08
#define RTL_MFLD_DRAM2_ROW_BYTES 0x2c

/* Descriptor: 64 bytes in the ring (slot = index mod entries). */
struct rtl_mfld_desc {
	uint8_t op;	     /* enum rtl_mfld_engine */
	uint8_t k;	     /* COMBINE rows; QUANT scale mode (RTL_MFLD_QUANT_*) */
	uint8_t nbits;	     /* LOGFMT n */
	uint8_t flags;	     /* 0 */
	uint8_t len;	     /* elements / index entries, 1..128 */
	uint8_t nrows;	     /* GATHER / SCATTER rows on the indexed side */
	uint16_t row_words;  /* GATHER / SCATTER row size in 32-bit words */
	uint32_t src;	     /* DRAM byte address of the engine's input buffer image */
	uint32_t in_bytes;   /* its size: a multiple of 32, 32..8192 */
	uint32_t dst;	     /* DRAM byte address for the output buffer */
	uint32_t out_bytes;  /* a multiple of 32, 32..1024 */
	uint64_t tag;	     /* echoed in the completion */
	uint8_t reserved[32];
};

enum rtl_mfld_status {
	RTL_MFLD_ST_OK = 0,
	RTL_MFLD_ST_BAD_OPCODE = 1,
	RTL_MFLD_ST_BAD_ADDR = 2,  /* src/dst unaligned or past the DRAM */
	RTL_MFLD_ST_BAD_LEN = 3,   /* in/out bytes 0, not whole bursts, or above a buffer */
	RTL_MFLD_ST_ENGINE = 4,	   /* the engine rejected the unit (nothing stored) */
	RTL_MFLD_ST_OVERRUN = 5,   /* a doorbell posted more than the ring holds: ignored */
	RTL_MFLD_ST_BAD_PARAM = 6, /* k, len, nbits, row words or rows out of range */
	RTL_MFLD_ST_DMA = 7,	   /* the descriptor could not be fetched */
};

/* Completion: 32 bytes in the completion ring (slot = completions written
 * mod entries), written in order. */
struct rtl_mfld_comp {
	uint64_t tag;	  /* the descriptor's (0 for overrun / DMA errors) */
	uint32_t status;  /* enum rtl_mfld_status */
	uint32_t index;	  /* the descriptor's index; for an overrun the doorbell value */
	uint64_t cycles;  /* from fetch to completion */
	uint8_t reserved[8];
};

/* Host memory for the device's DMA: 0 or nonzero (an error the device
 * reports); at most 64 bytes a call; called from inside step / mmio calls,
 * in the cycle the device makes the request (the answer reaches the device
 * RTL_MFLD_Q_LINK_LAT cycles later). */
struct rtl_mfld_dma {
	int (*read)(void *ctx, uint64_t addr, void *dst, size_t n);
	int (*write)(void *ctx, uint64_t addr, const void *src, size_t n);
	void *ctx;
};

int rtl_mfld_set_dma(struct rtl_mfld *m, const struct rtl_mfld_dma *dma); /* NULL: none */
/* A register write takes one cycle; a read none (no read has side effects). */
int rtl_mfld_mmio_write(struct rtl_mfld *m, uint32_t off, uint32_t val);
int rtl_mfld_mmio_read(struct rtl_mfld *m, uint32_t off, uint32_t *val);
int rtl_mfld_irq(const struct rtl_mfld *m);  /* the interrupt line: 0 or 1 */
int rtl_mfld_busy(const struct rtl_mfld *m); /* 1 while a descriptor is served */

#ifdef __cplusplus
}
#endif
#endif
