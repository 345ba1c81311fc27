// mfld_ctrl - the logic die's control: registers, descriptor ring, data mover.
//
// Registers (32-bit, byte offsets) are a chain of self-describing blocks:
// word 0 of a block = {type[31:16], version[15:0]}, word 1 = offset of the
// next block (0 ends the chain); software walks the chain from 0.
//   0x000 device  (type 1): +0x08 magic 0x4d464c44, +0x0c opcodes (bit mask)
//   0x040 queue   (type 2): +0x08/0c ring base lo/hi (host), +0x10 log2
//         entries (0..12), +0x14/18 completion ring base lo/hi, +0x1c
//         doorbell (write: descriptors posted, free-running; read: last
//         accepted), +0x20 head (consumed), +0x24 completions written,
//         +0x28 irq status (write 1 to clear: bit 0 completion, bit 1
//         error completion), +0x2c irq enable, +0x30 control (bit 0 run),
//         +0x34 host-link latency (cycles added to each DMA access, 0..4095)
//   0x080 dram    (type 3): +0x08 geometry {log2 bytes, banks, channels},
//         +0x0c tRCD, +0x10 tCL, +0x14 tRP, +0x18 tRAS, +0x1c tBurst,
//         +0x20 tRFC, +0x24 tREFI, +0x28 refresh on, +0x2c..0x38 ACT, PRE,
//         CAS, REF commands
//   0x0c0 engines (type 4): +0x08 opcodes, +0x0c input / +0x10 output
//         buffer bytes, +0x14 descriptors done, +0x18 error completions
//   0x100 dram2   (type 5): +0x08 tRRD, +0x0c tFAW, +0x10 tWR, +0x14 tRTP,
//         +0x18 tWTR, +0x1c tRTW, +0x20 refresh mode (0 all-bank, 1
//         per-bank), +0x24 tRFCpb, +0x28 tREFIpb, +0x2c row bytes, +0x30
//         rows per bank
// The timing registers reset to the build's values (mfld_top parameters).
// Descriptor (64 bytes, little-endian words): w0 = {flags, nbits, k, op}
// (k: COMBINE rows, QUANT scale mode 0 FP32 / 1 POW2),
// w1 = {row words[24:16], rows[15:8], len[7:0]}, w2 src DRAM byte address,
// w3 input bytes, w4 dst address, w5 output bytes, w6..7 user tag.  The
// input image (the engine's input buffer layout) is read from DRAM into the
// input buffer, the engine runs, the output buffer is written to DRAM.
// Completion (32 bytes, at completion ring slot = completions written mod
// entries): w0..1 user tag, w2 status (Comp* below), w3 descriptor index
// (the doorbell value for an overrun), w4..5 cycles from fetch to record.
// A doorbell that posts more than the ring holds (or moves backwards) is
// ignored and answered by an overrun completion.  Host memory is reached by
// one-beat DMA (up to 64 bytes) answered by the host in the cycle it is
// asked for and seen by the device the host-link latency later (register
// +0x34, reset to DmaLatency); a failed completion write is dropped.  One
// descriptor at a time: fetch, check, load, run, store, complete.  Not
// here: chaining several units in one descriptor, MSI-style interrupts.
`ifndef MFLD_CTRL_SV
`define MFLD_CTRL_SV
`include "rtl-models/mfld/mfld_pkg.sv"

module mfld_ctrl import mfld_pkg::*; #(
  parameter int unsigned IbBytes = 8192,
  parameter int unsigned ObBytes = 1024,
  parameter int unsigned DramCh = 2,
  parameter int unsigned DramBanks = 16,
  parameter int unsigned DramRowBursts = 32,
  parameter int unsigned DramRows = 32,
  parameter int unsigned DramAw = 15,  // burst address bits
  // reset values of the DRAM timing registers (mfld_top)
  parameter int unsigned TRcd = 26,
  parameter int unsigned TCl = 26,
  parameter int unsigned TRp = 26,
  parameter int unsigned TRas = 53,
  parameter int unsigned TBurst = 2,
  parameter int unsigned TRfc = 560,
  parameter int unsigned TRefi = 6240,
  parameter int unsigned TRrd = 4,
  parameter int unsigned TFaw = 24,
  parameter int unsigned TWr = 13,
  parameter int unsigned TRtp = 4,
  parameter int unsigned TWtr = 5,
  parameter int unsigned TRtw = 5,
  parameter int unsigned TRfcPb = 256,
  parameter int unsigned TRefiPb = 390,
  parameter bit          RefPerBank = 1'b0,
  parameter int unsigned DmaLatency = 0,   // host-link cycles added to each DMA access
  localparam int unsigned IbAw = $clog2(IbBytes),
  localparam int unsigned ObAw = $clog2(ObBytes)
) (
  input  logic                      clk_i,
  input  logic                      rst_ni,
  // MMIO
  input  logic                      mmio_we_i,
  input  logic [11:0]               mmio_addr_i,
  input  logic [31:0]               mmio_wdata_i,
  output logic [31:0]               mmio_rdata_o,
  output logic                      irq_o,
  // DMA to host memory
  output logic                      dma_req_valid_o,
  output logic                      dma_req_we_o,
  output logic [63:0]               dma_req_addr_o,
  output logic [6:0]                dma_req_bytes_o,
  output logic [511:0]              dma_req_wdata_o,
  input  logic                      dma_rsp_valid_i,
  input  logic                      dma_rsp_err_i,
  input  logic [511:0]              dma_rsp_rdata_i,
  // DRAM timings and counters
  output logic [7:0]                t_rcd_o,
  output logic [7:0]                t_cl_o,
  output logic [7:0]                t_rp_o,
  output logic [7:0]                t_ras_o,
  output logic [7:0]                t_burst_o,
  output logic [11:0]               t_rfc_o,
  output logic [15:0]               t_refi_o,
  output logic                      ref_en_o,
  output logic [7:0]                t_rrd_o,
  output logic [7:0]                t_faw_o,
  output logic [7:0]                t_wr_o,
  output logic [7:0]                t_rtp_o,
  output logic [7:0]                t_wtr_o,
  output logic [7:0]                t_rtw_o,
  output logic                      ref_pb_o,
  output logic [11:0]               t_rfcpb_o,
  output logic [15:0]               t_refipb_o,
  input  logic [3:0][31:0]          dram_n_i,  // ACT, PRE, CAS, REF
  // DRAM port of the data mover (tags with bit 15 set are its own)
  output logic                      busy_o,
  output logic                      dram_req_valid_o,
  input  logic                      dram_req_ready_i,
  output logic                      dram_req_we_o,
  output logic [DramAw-1:0]         dram_req_addr_o,
  output logic [255:0]              dram_req_wdata_o,
  output logic [15:0]               dram_req_tag_o,
  input  logic [DramCh-1:0]         dram_resp_valid_i,
  input  logic [DramCh-1:0]         dram_resp_we_i,
  input  logic [DramCh-1:0][15:0]   dram_resp_tag_i,
  input  logic [DramCh-1:0][255:0]  dram_resp_rdata_i,
  // engines
  output logic                      eng_start_o,
  output logic [2:0]                eng_op_o,
  output logic [4:0]                eng_k_o,
  output logic [7:0]                eng_len_o,
  output logic [3:0]                eng_nbits_o,
  output logic [8:0]                eng_row_words_o,
  output logic [7:0]                eng_nrows_o,
  input  logic                      eng_done_i,
  input  logic                      eng_err_i,
  output logic [DramCh-1:0]         ibw_we_o,      // one input-buffer write per channel
  output logic [DramCh-1:0][IbAw-6:0] ibw_addr_o,
  output logic [DramCh-1:0][255:0]  ibw_data_o,
  output logic [ObAw-6:0]           obw_addr_o,
  input  logic [255:0]              obw_rdata_i
);
  localparam logic [32:0] DramBytes = 33'(1) << (DramAw + 5);

  // completion status of a descriptor (rtl_mfld.h RTL_MFLD_ST_*)
  localparam logic [7:0] CompOk       = 8'd0;
  localparam logic [7:0] CompBadOp    = 8'd1;  // unknown opcode
  localparam logic [7:0] CompBadAddr  = 8'd2;  // DRAM address unaligned or out of range
  localparam logic [7:0] CompBadLen   = 8'd3;  // length 0, not whole bursts, or above a buffer
  localparam logic [7:0] CompEngine   = 8'd4;  // the engine rejected the unit
  localparam logic [7:0] CompOverrun  = 8'd5;  // doorbell past the ring's free space
  localparam logic [7:0] CompBadParam = 8'd6;  // k, len, nbits, row words or rows out of range
  localparam logic [7:0] CompDmaErr   = 8'd7;  // the descriptor fetch failed

  localparam logic [31:0] OpMask = 32'h7f;

  typedef enum logic [2:0] {
    StIdle, StFetch, StCheck, StLoad, StRun, StStore, StComp
  } state_e;

  // ---- registers ----
  logic [63:0]  ring_q, comp_base_q;
  logic [3:0]   ring_log2_q;
  logic [31:0]  tail_q, head_q, ncomp_q, ndone_q, nerr_q;
  logic [1:0]   irq_st_q, irq_en_q;
  logic         run_q;
  logic [7:0]   t_rcd_q, t_cl_q, t_rp_q, t_ras_q, t_burst_q;
  logic [11:0]  t_rfc_q;
  logic [15:0]  t_refi_q;
  logic         ref_en_q;
  // the second DRAM block: timings of the array and the bus, refresh mode
  logic [7:0]   t_x_q [6];    // tRRD, tFAW, tWR, tRTP, tWTR, tRTW
  logic [7:0]   t_x_d [6];
  logic         ref_pb_q, ref_pb_d;
  logic [11:0]  t_rfcpb_q, t_rfcpb_d;
  logic [15:0]  t_refipb_q, t_refipb_d;
  logic         ovr_q;
  logic [31:0]  ovr_val_q;
  // ---- the descriptor in flight ----
  state_e       st_q, st_d;
  logic [511:0] desc_q;
  logic [7:0]   status_q, status_d;
  logic [31:0]  cyc_q, idx_q;
  logic [8:0]   n_issue_q, n_got_q;   // bursts asked / answered
  logic         started_q;

  logic [31:0] w [16];
  for (genvar i = 0; i < 16; i++) begin : g_w
    assign w[i] = desc_q[32*i +: 32];
  end
  logic [7:0]  d_op, d_k, d_nbits, d_len, d_nrows;
  logic [8:0]  d_row_words;
  logic [31:0] d_src, d_in, d_dst, d_out;
  assign d_op = w[0][7:0];
  assign d_k = w[0][15:8];
  assign d_nbits = w[0][23:16];
  assign d_len = w[1][7:0];
  assign d_nrows = w[1][15:8];
  assign d_row_words = w[1][24:16];
  assign d_src = w[2];
  assign d_in = w[3];
  assign d_dst = w[4];
  assign d_out = w[5];
  logic [8:0] nb_in, nb_out;  // bursts
  assign nb_in = 9'(d_in[31:5]);
  assign nb_out = 9'(d_out[31:5]);

  // ---- checks of a fetched descriptor ----
  logic [7:0] check;
  always_comb begin
    check = CompOk;
    if (!eng_op_known(d_op)) begin
      check = CompBadOp;
    end else if (d_in == '0 || d_out == '0 || d_in[4:0] != '0 || d_out[4:0] != '0 ||
                 d_in > 32'(IbBytes) || d_out > 32'(ObBytes)) begin
      check = CompBadLen;
    end else if (d_src[4:0] != '0 || d_dst[4:0] != '0 ||
                 33'(d_src) + 33'(d_in) > DramBytes || 33'(d_dst) + 33'(d_out) > DramBytes) begin
      check = CompBadAddr;
    end else if (d_len == '0 || d_len > 8'd128 ||
                 (d_op == 8'(EngCombine) && (d_k == '0 || d_k > 8'd16)) ||
                 (d_op == 8'(EngQuant) && d_k > 8'd1) ||
                 ((d_op == 8'(EngLfEnc) || d_op == 8'(EngLfDec)) &&
                  (d_nbits < 8'd8 || d_nbits > 8'd10)) ||
                 ((d_op == 8'(EngGather) || d_op == 8'(EngScatter)) &&
                  (d_row_words == '0 || d_row_words > 9'd256 || d_nrows == '0))) begin
      check = CompBadParam;
    end
  end

  // ---- DMA ----
  logic [511:0] comp_rec;
  assign comp_rec = {256'd0, 96'd0, cyc_q, idx_q, 24'd0, status_q, w[7], w[6]};
  // The host link: the host answers a request in the cycle it is made (the
  // read data or the write acknowledgement); the answer reaches the FSM
  // dma_lat_q cycles later (0: at once), the request staying off the link
  // meanwhile.  Every DMA access (descriptor fetch, completion write) so
  // costs dma_lat_q cycles more.
  logic [11:0]  dma_lat_q, dma_lat_d, dma_cnt_q, dma_cnt_d;
  logic         dma_out_q, dma_out_d;  // an answer on its way back
  logic [511:0] dma_data_q, dma_data_d;
  logic         dma_err_q, dma_err_d;
  logic         rsp_valid, rsp_err;
  logic [511:0] rsp_rdata;
  always_comb begin
    dma_out_d = dma_out_q;
    dma_cnt_d = (dma_cnt_q == '0) ? '0 : dma_cnt_q - 12'd1;
    dma_data_d = dma_data_q;
    dma_err_d = dma_err_q;
    rsp_valid = 1'b0;
    rsp_err = dma_rsp_err_i;
    rsp_rdata = dma_rsp_rdata_i;
    if (dma_out_q) begin
      rsp_valid = dma_cnt_q == '0;
      rsp_err = dma_err_q;
      rsp_rdata = dma_data_q;
      if (rsp_valid) dma_out_d = 1'b0;
    end else if (dma_rsp_valid_i && dma_lat_q == '0) begin
      rsp_valid = 1'b1;
    end else if (dma_rsp_valid_i) begin
      dma_out_d = 1'b1;
      dma_cnt_d = dma_lat_q - 12'd1;
      dma_data_d = dma_rsp_rdata_i;
      dma_err_d = dma_rsp_err_i;
    end
  end
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      dma_out_q <= 1'b0;
      dma_cnt_q <= '0;
      dma_err_q <= 1'b0;
    end else begin
      dma_out_q <= dma_out_d;
      dma_cnt_q <= dma_cnt_d;
      dma_err_q <= dma_err_d;
    end
  end
  always_ff @(posedge clk_i) dma_data_q <= dma_data_d;  // guarded by dma_out_q

  assign dma_req_valid_o = (st_q == StFetch || st_q == StComp) && !dma_out_q;
  assign dma_req_we_o = st_q == StComp;
  assign dma_req_addr_o = (st_q == StComp)
      ? comp_base_q + 64'({ncomp_q & ((32'd1 << ring_log2_q) - 32'd1), 5'd0})
      : ring_q + 64'({head_q & ((32'd1 << ring_log2_q) - 32'd1), 6'd0});
  assign dma_req_bytes_o = (st_q == StComp) ? 7'd32 : 7'd64;
  assign dma_req_wdata_o = comp_rec;

  // ---- data mover: DRAM <-> buffers ----
  logic [8:0] nb_now;
  logic       ask, mine [DramCh];
  logic [8:0] got;
  assign nb_now = (st_q == StLoad) ? nb_in : nb_out;
  assign ask = (st_q == StLoad || st_q == StStore) && n_issue_q != nb_now;
  assign dram_req_valid_o = ask;
  assign dram_req_we_o = st_q == StStore;
  assign dram_req_addr_o = DramAw'(((st_q == StLoad) ? d_src[31:5] : d_dst[31:5]) +
                                   27'(n_issue_q));
  assign dram_req_tag_o = {1'b1, 6'd0, n_issue_q};
  assign obw_addr_o = (ObAw-5)'(n_issue_q);
  assign dram_req_wdata_o = obw_rdata_i;
  always_comb begin
    got = '0;
    for (int c = 0; c < DramCh; c++) begin
      mine[c] = dram_resp_valid_i[c] && dram_resp_tag_i[c][15];
      if (mine[c]) got = got + 9'd1;
    end
  end
  for (genvar c = 0; c < DramCh; c++) begin : g_ibw
    assign ibw_we_o[c] = st_q == StLoad && mine[c];
    assign ibw_addr_o[c] = (IbAw-5)'(dram_resp_tag_i[c][8:0]);
    assign ibw_data_o[c] = dram_resp_rdata_i[c];
  end
  logic unused_resp;
  assign unused_resp = ^dram_resp_we_i;

  assign eng_start_o = st_q == StRun && !started_q;
  assign eng_op_o = d_op[2:0];
  assign eng_k_o = d_k[4:0];
  assign eng_len_o = d_len;
  assign eng_nbits_o = d_nbits[3:0];
  assign eng_row_words_o = d_row_words;
  assign eng_nrows_o = d_nrows;

  // ---- the descriptor FSM ----
  always_comb begin
    st_d = st_q;
    status_d = status_q;
    unique case (st_q)
      StIdle: begin
        if (ovr_q) begin
          st_d = StComp;
          status_d = CompOverrun;
        end else if (run_q && tail_q != head_q) begin
          st_d = StFetch;
          status_d = CompOk;
        end
      end
      StFetch: if (rsp_valid) begin
        st_d = rsp_err ? StComp : StCheck;
        status_d = rsp_err ? CompDmaErr : CompOk;
      end
      StCheck: begin
        status_d = check;
        st_d = (check == CompOk) ? StLoad : StComp;
      end
      StLoad: if (n_got_q + got == nb_in) st_d = StRun;
      StRun: if (started_q && eng_done_i) begin
        st_d = eng_err_i ? StComp : StStore;
        status_d = eng_err_i ? CompEngine : CompOk;
      end
      StStore: if (n_got_q + got == nb_out) st_d = StComp;
      StComp: if (rsp_valid) st_d = StIdle;
      default: st_d = StIdle;
    endcase
  end
  assign busy_o = st_q != StIdle;

  // descriptor, counters of the mover
  logic [511:0] desc_d;
  logic [31:0]  cyc_d, idx_d;
  logic [8:0]   n_issue_d, n_got_d;
  logic         started_d;
  always_comb begin
    desc_d = desc_q;
    if (st_q == StFetch && rsp_valid) desc_d = rsp_err ? '0 : rsp_rdata;
    cyc_d = (st_q == StIdle) ? 32'd1 : cyc_q + 32'd1;
    idx_d = (st_q == StIdle) ? (ovr_q ? ovr_val_q : head_q) : idx_q;
    n_issue_d = n_issue_q + 9'((ask && dram_req_ready_i) ? 1 : 0);
    n_got_d = n_got_q + got;
    if (st_d != st_q) begin
      n_issue_d = '0;
      n_got_d = '0;
    end
    started_d = st_q == StRun;
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      st_q <= StIdle;
      status_q <= CompOk;
      desc_q <= '0;
      cyc_q <= '0;
      idx_q <= '0;
      n_issue_q <= '0;
      n_got_q <= '0;
      started_q <= 1'b0;
    end else begin
      st_q <= st_d;
      status_q <= status_d;
      desc_q <= desc_d;
      cyc_q <= cyc_d;
      idx_q <= idx_d;
      n_issue_q <= n_issue_d;
      n_got_q <= n_got_d;
      started_q <= started_d;
    end
  end

  // ---- register writes, doorbell, completion bookkeeping ----
  logic [31:0] posted;
  assign posted = mmio_wdata_i - head_q;
  logic comp_done;
  assign comp_done = st_q == StComp && rsp_valid;

  logic [63:0] ring_d;
  logic [63:0] comp_base_d;
  logic [3:0] ring_log2_d;
  logic [31:0] tail_d;
  logic [31:0] head_d;
  logic [31:0] ncomp_d;
  logic [31:0] ndone_d;
  logic [31:0] nerr_d;
  logic [1:0] irq_st_d;
  logic [1:0] irq_en_d;
  logic       run_d;
  logic       ovr_d;
  logic [31:0] ovr_val_d;
  logic [7:0] t_rcd_d;
  logic [7:0] t_cl_d;
  logic [7:0] t_rp_d;
  logic [7:0] t_ras_d;
  logic [7:0] t_burst_d;
  logic [11:0] t_rfc_d;
  logic [15:0] t_refi_d;
  logic       ref_en_d;
  always_comb begin
    ring_d = ring_q;
    comp_base_d = comp_base_q;
    ring_log2_d = ring_log2_q;
    tail_d = tail_q;
    head_d = head_q;
    ncomp_d = ncomp_q;
    ndone_d = ndone_q;
    nerr_d = nerr_q;
    irq_st_d = irq_st_q;
    irq_en_d = irq_en_q;
    run_d = run_q;
    ovr_d = ovr_q;
    ovr_val_d = ovr_val_q;
    t_rcd_d = t_rcd_q;
    t_cl_d = t_cl_q;
    t_rp_d = t_rp_q;
    t_ras_d = t_ras_q;
    t_burst_d = t_burst_q;
    t_rfc_d = t_rfc_q;
    t_refi_d = t_refi_q;
    ref_en_d = ref_en_q;
    dma_lat_d = dma_lat_q;
    for (int i = 0; i < 6; i++) t_x_d[i] = t_x_q[i];
    ref_pb_d = ref_pb_q;
    t_rfcpb_d = t_rfcpb_q;
    t_refipb_d = t_refipb_q;
    if (comp_done) begin
      ncomp_d = ncomp_q + 32'd1;
      irq_st_d = irq_st_q | {status_q != CompOk, 1'b1};
      if (status_q == CompOverrun) ovr_d = 1'b0;
      else head_d = head_q + 32'd1;
      if (status_q == CompOk) ndone_d = ndone_q + 32'd1;
      else nerr_d = nerr_q + 32'd1;
    end
    if (mmio_we_i) begin
      unique case (mmio_addr_i)
        12'h048: ring_d[31:0] = mmio_wdata_i;
        12'h04c: ring_d[63:32] = mmio_wdata_i;
        12'h050: ring_log2_d = (mmio_wdata_i > 32'd12) ? 4'd12 : mmio_wdata_i[3:0];
        12'h054: comp_base_d[31:0] = mmio_wdata_i;
        12'h058: comp_base_d[63:32] = mmio_wdata_i;
        12'h05c: begin
          if (posted > (32'd1 << ring_log2_q) || posted < tail_q - head_q) begin
            ovr_d = 1'b1;
            ovr_val_d = mmio_wdata_i;
          end else begin
            tail_d = mmio_wdata_i;
          end
        end
        12'h068: irq_st_d = irq_st_d & ~mmio_wdata_i[1:0];
        12'h06c: irq_en_d = mmio_wdata_i[1:0];
        12'h070: run_d = mmio_wdata_i[0];
        12'h074: dma_lat_d = mmio_wdata_i[11:0];
        12'h08c: t_rcd_d = mmio_wdata_i[7:0];
        12'h090: t_cl_d = mmio_wdata_i[7:0];
        12'h094: t_rp_d = mmio_wdata_i[7:0];
        12'h098: t_ras_d = mmio_wdata_i[7:0];
        12'h09c: t_burst_d = mmio_wdata_i[7:0];
        12'h0a0: t_rfc_d = mmio_wdata_i[11:0];
        12'h0a4: t_refi_d = mmio_wdata_i[15:0];
        12'h0a8: ref_en_d = mmio_wdata_i[0];
        12'h108: t_x_d[0] = mmio_wdata_i[7:0];
        12'h10c: t_x_d[1] = mmio_wdata_i[7:0];
        12'h110: t_x_d[2] = mmio_wdata_i[7:0];
        12'h114: t_x_d[3] = mmio_wdata_i[7:0];
        12'h118: t_x_d[4] = mmio_wdata_i[7:0];
        12'h11c: t_x_d[5] = mmio_wdata_i[7:0];
        12'h120: ref_pb_d = mmio_wdata_i[0];
        12'h124: t_rfcpb_d = mmio_wdata_i[11:0];
        12'h128: t_refipb_d = mmio_wdata_i[15:0];
        default: ;
      endcase
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      ring_q <= '0;
      comp_base_q <= '0;
      ring_log2_q <= '0;
      tail_q <= '0;
      head_q <= '0;
      ncomp_q <= '0;
      ndone_q <= '0;
      nerr_q <= '0;
      irq_st_q <= '0;
      irq_en_q <= '0;
      run_q <= 1'b0;
      ovr_q <= 1'b0;
      ovr_val_q <= '0;
      t_rcd_q <= 8'(TRcd);
      t_cl_q <= 8'(TCl);
      t_rp_q <= 8'(TRp);
      t_ras_q <= 8'(TRas);
      t_burst_q <= 8'(TBurst);
      t_rfc_q <= 12'(TRfc);
      t_refi_q <= 16'(TRefi);
      ref_en_q <= 1'b1;
      dma_lat_q <= 12'(DmaLatency);
      t_x_q[0] <= 8'(TRrd);
      t_x_q[1] <= 8'(TFaw);
      t_x_q[2] <= 8'(TWr);
      t_x_q[3] <= 8'(TRtp);
      t_x_q[4] <= 8'(TWtr);
      t_x_q[5] <= 8'(TRtw);
      ref_pb_q <= RefPerBank;
      t_rfcpb_q <= 12'(TRfcPb);
      t_refipb_q <= 16'(TRefiPb);
    end else begin
      ring_q <= ring_d;
      comp_base_q <= comp_base_d;
      ring_log2_q <= ring_log2_d;
      tail_q <= tail_d;
      head_q <= head_d;
      ncomp_q <= ncomp_d;
      ndone_q <= ndone_d;
      nerr_q <= nerr_d;
      irq_st_q <= irq_st_d;
      irq_en_q <= irq_en_d;
      run_q <= run_d;
      ovr_q <= ovr_d;
      ovr_val_q <= ovr_val_d;
      t_rcd_q <= t_rcd_d;
      t_cl_q <= t_cl_d;
      t_rp_q <= t_rp_d;
      t_ras_q <= t_ras_d;
      t_burst_q <= t_burst_d;
      t_rfc_q <= t_rfc_d;
      t_refi_q <= t_refi_d;
      ref_en_q <= ref_en_d;
      dma_lat_q <= dma_lat_d;
      for (int i = 0; i < 6; i++) t_x_q[i] <= t_x_d[i];
      ref_pb_q <= ref_pb_d;
      t_rfcpb_q <= t_rfcpb_d;
      t_refipb_q <= t_refipb_d;
    end
  end

  assign irq_o = |(irq_st_q & irq_en_q);
  assign t_rcd_o = t_rcd_q;
  assign t_cl_o = t_cl_q;
  assign t_rp_o = t_rp_q;
  assign t_ras_o = t_ras_q;
  assign t_burst_o = t_burst_q;
  assign t_rfc_o = t_rfc_q;
  assign t_refi_o = t_refi_q;
  assign ref_en_o = ref_en_q;
  assign t_rrd_o = t_x_q[0];
  assign t_faw_o = t_x_q[1];
  assign t_wr_o = t_x_q[2];
  assign t_rtp_o = t_x_q[3];
  assign t_wtr_o = t_x_q[4];
  assign t_rtw_o = t_x_q[5];
  assign ref_pb_o = ref_pb_q;
  assign t_rfcpb_o = t_rfcpb_q;
  assign t_refipb_o = t_refipb_q;

  // ---- register reads ----
  always_comb begin
    unique case (mmio_addr_i)
      12'h000: mmio_rdata_o = {16'd1, 16'd1};
      12'h004: mmio_rdata_o = 32'h040;
      12'h008: mmio_rdata_o = 32'h4d464c44;
      12'h00c: mmio_rdata_o = OpMask;
      12'h040: mmio_rdata_o = {16'd2, 16'd1};
      12'h044: mmio_rdata_o = 32'h080;
      12'h048: mmio_rdata_o = ring_q[31:0];
      12'h04c: mmio_rdata_o = ring_q[63:32];
      12'h050: mmio_rdata_o = 32'(ring_log2_q);
      12'h054: mmio_rdata_o = comp_base_q[31:0];
      12'h058: mmio_rdata_o = comp_base_q[63:32];
      12'h05c: mmio_rdata_o = tail_q;
      12'h060: mmio_rdata_o = head_q;
      12'h064: mmio_rdata_o = ncomp_q;
      12'h068: mmio_rdata_o = 32'(irq_st_q);
      12'h06c: mmio_rdata_o = 32'(irq_en_q);
      12'h070: mmio_rdata_o = 32'(run_q);
      12'h074: mmio_rdata_o = 32'(dma_lat_q);
      12'h080: mmio_rdata_o = {16'd3, 16'd1};
      12'h084: mmio_rdata_o = 32'h0c0;
      12'h088: mmio_rdata_o = {8'd0, 8'(DramAw + 5), 8'(DramBanks), 8'(DramCh)};
      12'h08c: mmio_rdata_o = 32'(t_rcd_q);
      12'h090: mmio_rdata_o = 32'(t_cl_q);
      12'h094: mmio_rdata_o = 32'(t_rp_q);
      12'h098: mmio_rdata_o = 32'(t_ras_q);
      12'h09c: mmio_rdata_o = 32'(t_burst_q);
      12'h0a0: mmio_rdata_o = 32'(t_rfc_q);
      12'h0a4: mmio_rdata_o = 32'(t_refi_q);
      12'h0a8: mmio_rdata_o = 32'(ref_en_q);
      12'h0ac: mmio_rdata_o = dram_n_i[0];
      12'h0b0: mmio_rdata_o = dram_n_i[1];
      12'h0b4: mmio_rdata_o = dram_n_i[2];
      12'h0b8: mmio_rdata_o = dram_n_i[3];
      12'h0c0: mmio_rdata_o = {16'd4, 16'd1};
      12'h0c4: mmio_rdata_o = 32'h100;
      12'h0c8: mmio_rdata_o = OpMask;
      12'h0cc: mmio_rdata_o = 32'(IbBytes);
      12'h0d0: mmio_rdata_o = 32'(ObBytes);
      12'h0d4: mmio_rdata_o = ndone_q;
      12'h0d8: mmio_rdata_o = nerr_q;
      12'h100: mmio_rdata_o = {16'd5, 16'd1};
      12'h104: mmio_rdata_o = 32'h0;
      12'h108: mmio_rdata_o = 32'(t_x_q[0]);
      12'h10c: mmio_rdata_o = 32'(t_x_q[1]);
      12'h110: mmio_rdata_o = 32'(t_x_q[2]);
      12'h114: mmio_rdata_o = 32'(t_x_q[3]);
      12'h118: mmio_rdata_o = 32'(t_x_q[4]);
      12'h11c: mmio_rdata_o = 32'(t_x_q[5]);
      12'h120: mmio_rdata_o = 32'(ref_pb_q);
      12'h124: mmio_rdata_o = 32'(t_rfcpb_q);
      12'h128: mmio_rdata_o = 32'(t_refipb_q);
      12'h12c: mmio_rdata_o = 32'(DramRowBursts * 32);
      12'h130: mmio_rdata_o = 32'(DramRows);
      default: mmio_rdata_o = '0;
    endcase
  end
endmodule
`endif  // MFLD_CTRL_SV
