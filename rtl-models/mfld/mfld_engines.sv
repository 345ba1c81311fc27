// mfld_engines - the near-memory engines around their two scratchpads.
//
// The input buffer (IB, IbBytes) holds one work unit (a tile, or k row
// chunks and their weights), the engine selected by op_i streams through it
// one element per cycle and writes the output buffer (OB, ObBytes).  The
// buffer layouts of each op are in the engine's file.  A port of 32-bit
// words (byte enables, any byte address) fills IB and drains OB for the
// engine tests (the C API drives it); the data mover uses a burst port
// (NumWr 32-byte IB writes and one 32-byte OB read per cycle).
// GATHER and SCATTER share one engine (mfld_eng_perm).  Not here: DRAM,
// descriptors.
`ifndef MFLD_ENGINES_SV
`define MFLD_ENGINES_SV
`include "rtl-models/mfld/mfld_pkg.sv"
`include "rtl-models/mfld/mfld_eng_combine.sv"
`include "rtl-models/mfld/mfld_eng_quant.sv"
`include "rtl-models/mfld/mfld_eng_dequant.sv"
`include "rtl-models/mfld/mfld_eng_lfenc.sv"
`include "rtl-models/mfld/mfld_eng_lfdec.sv"
`include "rtl-models/mfld/mfld_eng_perm.sv"

module mfld_engines import mfld_pkg::*; #(
  parameter int unsigned IbBytes = 8192,
  parameter int unsigned ObBytes = 1024,
  parameter int unsigned NumWr = 2,   // burst write ports (one per DRAM channel)
  localparam int unsigned IbAw = $clog2(IbBytes),
  localparam int unsigned ObAw = $clog2(ObBytes)
) (
  input  logic            clk_i,
  input  logic            rst_ni,
  // buffer port
  input  logic            ib_we_i,
  input  logic [IbAw-1:0] ib_addr_i,
  input  logic [31:0]     ib_wdata_i,
  input  logic [3:0]      ib_be_i,
  input  logic [ObAw-1:0] ob_addr_i,
  output logic [31:0]     ob_rdata_o,
  // burst port of the data mover: NumWr 32-byte writes a cycle, one read
  input  logic [NumWr-1:0]           ibw_we_i,
  input  logic [NumWr-1:0][IbAw-6:0] ibw_addr_i,   // burst index
  input  logic [NumWr-1:0][255:0]    ibw_data_i,
  input  logic [ObAw-6:0]            obw_addr_i,   // burst index
  output logic [255:0]               obw_rdata_o,
  // command
  input  logic            start_i,
  input  logic [2:0]      op_i,     // eng_op_e
  input  logic [4:0]      k_i,      // COMBINE rows, 1..16; QUANT scale mode (1: POW2)
  input  logic [7:0]      len_i,    // elements, 1..128
  input  logic [3:0]      nbits_i,  // LOGFMT n, 8..10
  input  logic [8:0]      row_words_i, // GATHER/SCATTER row, 32-bit words, 1..256
  input  logic [7:0]      nrows_i,  // GATHER/SCATTER rows on the indexed side
  output logic            busy_o,
  output logic            done_o,   // one cycle when the unit is finished
  output logic            err_o     // with done_o: the unit was rejected
);
  localparam int unsigned NumEng = 6;  // SCATTER runs on GATHER's slot
  logic [7:0]      ib_q [IbBytes];
  logic [7:0]      ob_q [ObBytes];
  logic [IbAw-1:0] rd0_addr [NumEng];
  logic [IbAw-1:0] rd1_addr [NumEng];
  logic [31:0]     rd0_data, rd1_data;
  logic            wr_en [NumEng];
  logic [ObAw-1:0] wr_addr [NumEng];
  logic [31:0]     wr_data [NumEng];
  logic [3:0]      wr_be [NumEng];
  logic [NumEng-1:0] busy, done, start;
  logic            err_dec, err_enc, err_perm;
  logic [2:0]      op_q, sel;

  function automatic logic [31:0] ib_word(logic [IbAw-1:0] a);
    return {ib_q[a + IbAw'(3)], ib_q[a + IbAw'(2)], ib_q[a + IbAw'(1)], ib_q[a]};
  endfunction

  // the engine that runs is the one started last (op_q), its ports win
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) op_q <= '0;
    else if (start_i) op_q <= op_i;
  end
  assign sel = (op_q == EngScatter) ? EngGather : op_q;
  assign rd0_data = ib_word(rd0_addr[sel]);
  assign rd1_data = ib_word(rd1_addr[sel]);
  for (genvar i = 0; i < NumEng; i++) begin : g_start
    assign start[i] = start_i && op_i == 3'(i);
  end
  assign rd1_addr[EngQuant] = '0;
  assign rd1_addr[EngLfEnc] = '0;

  mfld_eng_combine #(.IbBytes(IbBytes), .ObBytes(ObBytes)) u_combine (
    .clk_i, .rst_ni, .start_i(start[EngCombine]), .k_i, .len_i,
    .busy_o(busy[EngCombine]), .done_o(done[EngCombine]),
    .rd0_addr_o(rd0_addr[EngCombine]), .rd0_data_i(rd0_data),
    .rd1_addr_o(rd1_addr[EngCombine]), .rd1_data_i(rd1_data),
    .wr_en_o(wr_en[EngCombine]), .wr_addr_o(wr_addr[EngCombine]),
    .wr_data_o(wr_data[EngCombine]), .wr_be_o(wr_be[EngCombine])
  );
  mfld_eng_quant #(.IbBytes(IbBytes), .ObBytes(ObBytes)) u_quant (
    .clk_i, .rst_ni, .start_i(start[EngQuant]), .len_i, .pow2_i(k_i == 5'd1),
    .busy_o(busy[EngQuant]), .done_o(done[EngQuant]),
    .rd0_addr_o(rd0_addr[EngQuant]), .rd0_data_i(rd0_data),
    .wr_en_o(wr_en[EngQuant]), .wr_addr_o(wr_addr[EngQuant]),
    .wr_data_o(wr_data[EngQuant]), .wr_be_o(wr_be[EngQuant])
  );
  mfld_eng_dequant #(.IbBytes(IbBytes), .ObBytes(ObBytes)) u_dequant (
    .clk_i, .rst_ni, .start_i(start[EngDequant]), .len_i,
    .busy_o(busy[EngDequant]), .done_o(done[EngDequant]),
    .rd0_addr_o(rd0_addr[EngDequant]), .rd0_data_i(rd0_data),
    .rd1_addr_o(rd1_addr[EngDequant]), .rd1_data_i(rd1_data),
    .wr_en_o(wr_en[EngDequant]), .wr_addr_o(wr_addr[EngDequant]),
    .wr_data_o(wr_data[EngDequant]), .wr_be_o(wr_be[EngDequant])
  );
  mfld_eng_lfenc #(.IbBytes(IbBytes), .ObBytes(ObBytes)) u_lfenc (
    .clk_i, .rst_ni, .start_i(start[EngLfEnc]), .len_i, .nbits_i,
    .busy_o(busy[EngLfEnc]), .done_o(done[EngLfEnc]), .err_o(err_enc),
    .rd0_addr_o(rd0_addr[EngLfEnc]), .rd0_data_i(rd0_data),
    .wr_en_o(wr_en[EngLfEnc]), .wr_addr_o(wr_addr[EngLfEnc]),
    .wr_data_o(wr_data[EngLfEnc]), .wr_be_o(wr_be[EngLfEnc])
  );
  mfld_eng_lfdec #(.IbBytes(IbBytes), .ObBytes(ObBytes)) u_lfdec (
    .clk_i, .rst_ni, .start_i(start[EngLfDec]), .len_i, .nbits_i,
    .busy_o(busy[EngLfDec]), .done_o(done[EngLfDec]), .err_o(err_dec),
    .rd0_addr_o(rd0_addr[EngLfDec]), .rd0_data_i(rd0_data),
    .rd1_addr_o(rd1_addr[EngLfDec]), .rd1_data_i(rd1_data),
    .wr_en_o(wr_en[EngLfDec]), .wr_addr_o(wr_addr[EngLfDec]),
    .wr_data_o(wr_data[EngLfDec]), .wr_be_o(wr_be[EngLfDec])
  );

  mfld_eng_perm #(.IbBytes(IbBytes), .ObBytes(ObBytes)) u_perm (
    .clk_i, .rst_ni, .start_i(start[EngGather] || (start_i && op_i == EngScatter)),
    .scatter_i(op_i == EngScatter), .len_i, .row_words_i, .nrows_i,
    .busy_o(busy[EngGather]), .done_o(done[EngGather]), .err_o(err_perm),
    .rd0_addr_o(rd0_addr[EngGather]), .rd0_data_i(rd0_data),
    .rd1_addr_o(rd1_addr[EngGather]), .rd1_data_i(rd1_data),
    .wr_en_o(wr_en[EngGather]), .wr_addr_o(wr_addr[EngGather]),
    .wr_data_o(wr_data[EngGather]), .wr_be_o(wr_be[EngGather])
  );

  assign busy_o = |busy;
  assign done_o = |done;
  assign err_o = (done[EngLfEnc] && err_enc) || (done[EngLfDec] && err_dec) ||
                 (done[EngGather] && err_perm);

  always_ff @(posedge clk_i) begin
    for (int p = 0; p < NumWr; p++) begin
      if (ibw_we_i[p]) begin
        for (int b = 0; b < 32; b++) ib_q[{ibw_addr_i[p], 5'(b)}] <= ibw_data_i[p][8*b +: 8];
      end
    end
    if (ib_we_i) begin
      for (int b = 0; b < 4; b++) begin
        if (ib_be_i[b]) ib_q[ib_addr_i + IbAw'(b)] <= ib_wdata_i[8*b +: 8];
      end
    end
    if (wr_en[sel]) begin
      for (int b = 0; b < 4; b++) begin
        if (wr_be[sel][b]) ob_q[wr_addr[sel] + ObAw'(b)] <= wr_data[sel][8*b +: 8];
      end
    end
  end
  for (genvar b = 0; b < 32; b++) begin : g_obw
    assign obw_rdata_o[8*b +: 8] = ob_q[{obw_addr_i, 5'(b)}];
  end
  assign ob_rdata_o = {ob_q[ob_addr_i + ObAw'(3)], ob_q[ob_addr_i + ObAw'(2)],
                       ob_q[ob_addr_i + ObAw'(1)], ob_q[ob_addr_i]};
endmodule
`endif  // MFLD_ENGINES_SV
