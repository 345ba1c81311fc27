// mfld_dram - the DRAM stack the logic die faces: NumCh pseudo-channels
// (mfld_dram_ch) behind one request port, with event counters.
//
// Addresses are in 32-byte bursts; the lowest bit picks the channel, so a
// sequential stream alternates channels and both buses stay busy; the rest
// is the channel's {row, col, bank}.  One request per cycle is accepted
// (enough for the peak of two channels at tBurst = 2: one burst per cycle);
// each channel answers on its own response port, in its own order, with no
// back-pressure (the requester keeps room for what it asked).
`ifndef MFLD_DRAM_SV
`define MFLD_DRAM_SV
`include "rtl-models/mfld/mfld_dram_ch.sv"

module mfld_dram #(
  parameter int unsigned NumCh = 2,
  parameter int unsigned NumBanks = 16,
  parameter int unsigned RowBursts = 32,
  parameter int unsigned NumRows = 32,
  parameter int unsigned TagW = 16,
  localparam int unsigned ChW = $clog2(NumCh),
  localparam int unsigned ChAw = $clog2(NumBanks) + $clog2(RowBursts) + $clog2(NumRows),
  localparam int unsigned Aw = ChAw + ChW
) (
  input  logic                        clk_i,
  input  logic                        rst_ni,
  input  logic [7:0]                  t_rcd_i,
  input  logic [7:0]                  t_cl_i,
  input  logic [7:0]                  t_rp_i,
  input  logic [7:0]                  t_ras_i,
  input  logic [7:0]                  t_burst_i,
  input  logic [11:0]                 t_rfc_i,
  input  logic [15:0]                 t_refi_i,
  input  logic                        ref_en_i,
  input  logic [7:0]                  t_rrd_i,
  input  logic [7:0]                  t_faw_i,
  input  logic [7:0]                  t_wr_i,
  input  logic [7:0]                  t_rtp_i,
  input  logic [7:0]                  t_wtr_i,
  input  logic [7:0]                  t_rtw_i,
  input  logic                        ref_pb_i,
  input  logic [11:0]                 t_rfcpb_i,
  input  logic [15:0]                 t_refipb_i,
  input  logic                        req_valid_i,
  output logic                        req_ready_o,
  input  logic                        req_we_i,
  input  logic [Aw-1:0]               req_addr_i,
  input  logic [255:0]                req_wdata_i,
  input  logic [TagW-1:0]             req_tag_i,
  output logic [NumCh-1:0]            resp_valid_o,
  output logic [NumCh-1:0]            resp_we_o,
  output logic [NumCh-1:0][TagW-1:0]  resp_tag_o,
  output logic [NumCh-1:0][255:0]     resp_rdata_o,
  output logic                        ref_o,      // a REF this cycle (channel 0)
  // channel 0's commands this cycle, for command traces: {WR, CAS, REF, PRE, ACT}
  // and the banks of the row command and of the CAS
  output logic [4:0]                  cmd0_o,
  output logic [$clog2(NumBanks)-1:0] cmd0_rbank_o,
  output logic [$clog2(NumBanks)-1:0] cmd0_cbank_o,
  output logic [31:0]                 n_act_o,    // commands issued since reset, all channels
  output logic [31:0]                 n_pre_o,
  output logic [31:0]                 n_cas_o,
  output logic [31:0]                 n_ref_o
);
  logic [NumCh-1:0] ready, ev_act, ev_pre, ev_cas, ev_ref;
  // only channel 0's command trace leaves the module
  /* verilator lint_off UNUSEDSIGNAL */
  logic [NumCh-1:0] ev_wr;
  logic [NumCh-1:0][$clog2(NumBanks)-1:0] ev_rbank, ev_cbank;
  /* verilator lint_on UNUSEDSIGNAL */
  logic [ChW-1:0]   ch;
  logic [31:0]      n_act_q, n_pre_q, n_cas_q, n_ref_q, n_act_d, n_pre_d, n_cas_d, n_ref_d;

  assign ch = req_addr_i[ChW-1:0];
  assign req_ready_o = ready[ch];

  for (genvar c = 0; c < NumCh; c++) begin : g_ch
    mfld_dram_ch #(
      .NumBanks(NumBanks), .RowBursts(RowBursts), .NumRows(NumRows), .TagW(TagW)
    ) u_ch (
      .clk_i, .rst_ni, .t_rcd_i, .t_cl_i, .t_rp_i, .t_ras_i, .t_burst_i, .t_rfc_i, .t_refi_i,
      .ref_en_i, .t_rrd_i, .t_faw_i, .t_wr_i, .t_rtp_i, .t_wtr_i, .t_rtw_i, .ref_pb_i,
      .t_rfcpb_i, .t_refipb_i,
      .req_valid_i(req_valid_i && ch == ChW'(c)), .req_ready_o(ready[c]),
      .req_we_i, .req_addr_i(req_addr_i[Aw-1:ChW]), .req_wdata_i, .req_tag_i,
      .resp_valid_o(resp_valid_o[c]), .resp_we_o(resp_we_o[c]), .resp_tag_o(resp_tag_o[c]),
      .resp_rdata_o(resp_rdata_o[c]),
      .ev_act_o(ev_act[c]), .ev_pre_o(ev_pre[c]), .ev_cas_o(ev_cas[c]), .ev_ref_o(ev_ref[c]),
      .ev_wr_o(ev_wr[c]), .ev_rbank_o(ev_rbank[c]), .ev_cbank_o(ev_cbank[c])
    );
  end

  function automatic logic [31:0] popcnt(logic [NumCh-1:0] v);
    logic [31:0] n;
    n = '0;
    for (int i = 0; i < NumCh; i++) n = n + 32'(v[i]);
    return n;
  endfunction

  assign n_act_d = n_act_q + popcnt(ev_act);
  assign n_pre_d = n_pre_q + popcnt(ev_pre);
  assign n_cas_d = n_cas_q + popcnt(ev_cas);
  assign n_ref_d = n_ref_q + popcnt(ev_ref);
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      n_act_q <= '0;
      n_pre_q <= '0;
      n_cas_q <= '0;
      n_ref_q <= '0;
    end else begin
      n_act_q <= n_act_d;
      n_pre_q <= n_pre_d;
      n_cas_q <= n_cas_d;
      n_ref_q <= n_ref_d;
    end
  end
  assign ref_o = ev_ref[0];
  assign cmd0_o = {ev_wr[0], ev_cas[0], ev_ref[0], ev_pre[0], ev_act[0]};
  assign cmd0_rbank_o = ev_rbank[0];
  assign cmd0_cbank_o = ev_cbank[0];
  assign n_act_o = n_act_q;
  assign n_pre_o = n_pre_q;
  assign n_cas_o = n_cas_q;
  assign n_ref_o = n_ref_q;
endmodule
`endif  // MFLD_DRAM_SV
