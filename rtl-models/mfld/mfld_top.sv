// mfld_top - the memory-facing logic die: near-memory engines and the DRAM
// stack they face.
//
// The device: registers, descriptor ring and data mover (mfld_ctrl), the
// engines (mfld_engines) and the DRAM (mfld_dram).  Beside the device's own
// ports (MMIO, interrupt, DMA) two test ports reach the engines' buffers and
// the DRAM directly; they are served while no descriptor is (dev_busy_o
// low; the data mover owns engines and DRAM while it works).  Test-port DRAM
// tags are 15 bits (bit 15 marks the data mover's).
`ifndef MFLD_TOP_SV
`define MFLD_TOP_SV
`include "rtl-models/mfld/mfld_pkg.sv"
`include "rtl-models/mfld/mfld_ctrl.sv"
`include "rtl-models/mfld/mfld_engines.sv"
`include "rtl-models/mfld/mfld_dram.sv"

module mfld_top import mfld_pkg::*; #(
  parameter int unsigned IbBytes = 8192,
  parameter int unsigned ObBytes = 1024,
  parameter int unsigned DramCh = 2,
  parameter int unsigned DramBanks = 16,
  parameter int unsigned DramRowBursts = 32,
  parameter int unsigned DramRows = 32,
  // reset values of the DRAM timing registers (cycles of tCK = 0.625 ns;
  // sources in include/loom/rtl_mfld.h)
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
  // host-link latency (cycles added to each DMA access): the queue block's
  // register resets to it
  parameter int unsigned DmaLatency = 0,
  localparam int unsigned IbAw = $clog2(IbBytes),
  localparam int unsigned ObAw = $clog2(ObBytes),
  localparam int unsigned DramAw = $clog2(DramCh) + $clog2(DramBanks) + $clog2(DramRowBursts) +
                                   $clog2(DramRows)
) (
  input  logic                     clk_i,
  input  logic                     rst_ni,
  // engines
  input  logic                     ib_we_i,
  input  logic [IbAw-1:0]          ib_addr_i,
  input  logic [31:0]              ib_wdata_i,
  input  logic [3:0]               ib_be_i,
  input  logic [ObAw-1:0]          ob_addr_i,
  output logic [31:0]              ob_rdata_o,
  input  logic                     start_i,
  input  logic [2:0]               op_i,
  input  logic [4:0]               k_i,
  input  logic [7:0]               len_i,
  input  logic [3:0]               nbits_i,
  input  logic [8:0]               row_words_i,
  input  logic [7:0]               nrows_i,
  output logic                     busy_o,
  output logic                     done_o,
  output logic                     err_o,
  // MMIO, interrupt, DMA to host memory
  input  logic                     mmio_we_i,
  input  logic [11:0]              mmio_addr_i,
  input  logic [31:0]              mmio_wdata_i,
  output logic [31:0]              mmio_rdata_o,
  output logic                     irq_o,
  output logic                     dma_req_valid_o,
  output logic                     dma_req_we_o,
  output logic [63:0]              dma_req_addr_o,
  output logic [6:0]               dma_req_bytes_o,
  output logic [511:0]             dma_req_wdata_o,
  input  logic                     dma_rsp_valid_i,
  input  logic                     dma_rsp_err_i,
  input  logic [511:0]             dma_rsp_rdata_i,
  output logic                     dev_busy_o,   // a descriptor is being served
  // DRAM test port (served while no descriptor is)
  input  logic                     dram_req_valid_i,
  output logic                     dram_req_ready_o,
  input  logic                     dram_req_we_i,
  input  logic [DramAw-1:0]        dram_req_addr_i,
  input  logic [255:0]             dram_req_wdata_i,
  input  logic [14:0]              dram_req_tag_i,
  output logic [DramCh-1:0]        dram_resp_valid_o,
  output logic [DramCh-1:0]        dram_resp_we_o,
  output logic [DramCh-1:0][15:0]  dram_resp_tag_o,
  output logic [DramCh-1:0][255:0] dram_resp_rdata_o,
  output logic                     dram_ref_o,
  output logic [4:0]               dram_cmd0_o,     // channel 0: {WR, CAS, REF, PRE, ACT}
  output logic [$clog2(DramBanks)-1:0] dram_cmd0_rbank_o,
  output logic [$clog2(DramBanks)-1:0] dram_cmd0_cbank_o,
  output logic [31:0]              dram_n_act_o,
  output logic [31:0]              dram_n_pre_o,
  output logic [31:0]              dram_n_cas_o,
  output logic [31:0]              dram_n_ref_o
);
  logic [7:0]  t_rcd, t_cl, t_rp, t_ras, t_burst;
  logic [11:0] t_rfc;
  logic [15:0] t_refi;
  logic        ref_en, busy;
  logic [7:0]  t_rrd, t_faw, t_wr, t_rtp, t_wtr, t_rtw;
  logic [11:0] t_rfcpb;
  logic [15:0] t_refipb;
  logic        ref_pb;
  logic [3:0][31:0] dram_n;
  // the data mover's side of the DRAM and engines
  logic              m_req_valid, m_req_we, req_ready;
  logic [DramAw-1:0] m_req_addr;
  logic [255:0]      m_req_wdata;
  logic [15:0]       m_req_tag;
  logic              m_start;
  logic [2:0]        m_op;
  logic [4:0]        m_k;
  logic [7:0]        m_len, m_nrows;
  logic [3:0]        m_nbits;
  logic [8:0]        m_row_words;
  logic [DramCh-1:0]        ibw_we;
  logic [DramCh-1:0][IbAw-6:0] ibw_addr;
  logic [DramCh-1:0][255:0] ibw_data;
  logic [ObAw-6:0]   obw_addr;
  logic [255:0]      obw_rdata;

  mfld_ctrl #(
    .IbBytes(IbBytes), .ObBytes(ObBytes), .DramCh(DramCh), .DramBanks(DramBanks),
    .DramRowBursts(DramRowBursts), .DramRows(DramRows), .DramAw(DramAw),
    .TRcd(TRcd), .TCl(TCl), .TRp(TRp), .TRas(TRas), .TBurst(TBurst), .TRfc(TRfc),
    .TRefi(TRefi), .TRrd(TRrd), .TFaw(TFaw), .TWr(TWr), .TRtp(TRtp), .TWtr(TWtr), .TRtw(TRtw),
    .TRfcPb(TRfcPb), .TRefiPb(TRefiPb), .RefPerBank(RefPerBank), .DmaLatency(DmaLatency)
  ) u_ctrl (
    .clk_i, .rst_ni, .mmio_we_i, .mmio_addr_i, .mmio_wdata_i, .mmio_rdata_o, .irq_o,
    .dma_req_valid_o, .dma_req_we_o, .dma_req_addr_o, .dma_req_bytes_o, .dma_req_wdata_o,
    .dma_rsp_valid_i, .dma_rsp_err_i, .dma_rsp_rdata_i,
    .t_rcd_o(t_rcd), .t_cl_o(t_cl), .t_rp_o(t_rp), .t_ras_o(t_ras), .t_burst_o(t_burst),
    .t_rfc_o(t_rfc), .t_refi_o(t_refi), .ref_en_o(ref_en),
    .t_rrd_o(t_rrd), .t_faw_o(t_faw), .t_wr_o(t_wr), .t_rtp_o(t_rtp), .t_wtr_o(t_wtr),
    .t_rtw_o(t_rtw), .ref_pb_o(ref_pb), .t_rfcpb_o(t_rfcpb), .t_refipb_o(t_refipb),
    .dram_n_i(dram_n),
    .busy_o(busy), .dram_req_valid_o(m_req_valid), .dram_req_ready_i(req_ready),
    .dram_req_we_o(m_req_we), .dram_req_addr_o(m_req_addr), .dram_req_wdata_o(m_req_wdata),
    .dram_req_tag_o(m_req_tag), .dram_resp_valid_i(dram_resp_valid_o),
    .dram_resp_we_i(dram_resp_we_o), .dram_resp_tag_i(dram_resp_tag_o),
    .dram_resp_rdata_i(dram_resp_rdata_o),
    .eng_start_o(m_start), .eng_op_o(m_op), .eng_k_o(m_k), .eng_len_o(m_len),
    .eng_nbits_o(m_nbits), .eng_row_words_o(m_row_words), .eng_nrows_o(m_nrows),
    .eng_done_i(done_o), .eng_err_i(err_o),
    .ibw_we_o(ibw_we), .ibw_addr_o(ibw_addr), .ibw_data_o(ibw_data),
    .obw_addr_o(obw_addr), .obw_rdata_i(obw_rdata)
  );
  assign dev_busy_o = busy;
  assign dram_n = {dram_n_ref_o, dram_n_cas_o, dram_n_pre_o, dram_n_act_o};
  assign dram_req_ready_o = !busy && req_ready;

  mfld_engines #(.IbBytes(IbBytes), .ObBytes(ObBytes), .NumWr(DramCh)) u_engines (
    .clk_i, .rst_ni, .ib_we_i, .ib_addr_i, .ib_wdata_i, .ib_be_i, .ob_addr_i, .ob_rdata_o,
    .ibw_we_i(ibw_we), .ibw_addr_i(ibw_addr), .ibw_data_i(ibw_data),
    .obw_addr_i(obw_addr), .obw_rdata_o(obw_rdata),
    .start_i(busy ? m_start : start_i), .op_i(busy ? m_op : op_i), .k_i(busy ? m_k : k_i),
    .len_i(busy ? m_len : len_i), .nbits_i(busy ? m_nbits : nbits_i),
    .row_words_i(busy ? m_row_words : row_words_i), .nrows_i(busy ? m_nrows : nrows_i),
    .busy_o, .done_o, .err_o
  );

  mfld_dram #(
    .NumCh(DramCh), .NumBanks(DramBanks), .RowBursts(DramRowBursts), .NumRows(DramRows),
    .TagW(16)
  ) u_dram (
    .clk_i, .rst_ni, .t_rcd_i(t_rcd), .t_cl_i(t_cl), .t_rp_i(t_rp), .t_ras_i(t_ras),
    .t_burst_i(t_burst), .t_rfc_i(t_rfc), .t_refi_i(t_refi), .ref_en_i(ref_en),
    .t_rrd_i(t_rrd), .t_faw_i(t_faw), .t_wr_i(t_wr), .t_rtp_i(t_rtp), .t_wtr_i(t_wtr),
    .t_rtw_i(t_rtw), .ref_pb_i(ref_pb), .t_rfcpb_i(t_rfcpb), .t_refipb_i(t_refipb),
    .req_valid_i(busy ? m_req_valid : dram_req_valid_i), .req_ready_o(req_ready),
    .req_we_i(busy ? m_req_we : dram_req_we_i),
    .req_addr_i(busy ? m_req_addr : dram_req_addr_i),
    .req_wdata_i(busy ? m_req_wdata : dram_req_wdata_i),
    .req_tag_i(busy ? m_req_tag : {1'b0, dram_req_tag_i}),
    .resp_valid_o(dram_resp_valid_o), .resp_we_o(dram_resp_we_o), .resp_tag_o(dram_resp_tag_o),
    .resp_rdata_o(dram_resp_rdata_o), .ref_o(dram_ref_o), .cmd0_o(dram_cmd0_o),
    .cmd0_rbank_o(dram_cmd0_rbank_o), .cmd0_cbank_o(dram_cmd0_cbank_o),
    .n_act_o(dram_n_act_o), .n_pre_o(dram_n_pre_o), .n_cas_o(dram_n_cas_o),
    .n_ref_o(dram_n_ref_o)
  );
endmodule
`endif  // MFLD_TOP_SV
