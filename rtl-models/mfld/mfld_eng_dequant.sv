// mfld_eng_dequant - DEQUANT: one 1x128 tile of E4M3 with its FP32 scale to FP32.
//
// out[e] = RN_f32(e4m3_to_f32(q[e]) * s), kernels/quant.c's dequant_row; a
// NaN result is the quiet NaN 0x7fc00000 (the C code propagates a payload).
// One element per cycle.  Input buffer: (Len) E4M3 at byte 0, s at byte 256.
// Output: (Len) FP32 at byte 0.
`ifndef MFLD_ENG_DEQUANT_SV
`define MFLD_ENG_DEQUANT_SV
`include "rtl-models/mfld/mfld_fp_pkg.sv"

module mfld_eng_dequant import mfld_fp_pkg::*; #(
  parameter int unsigned IbBytes = 8192,
  parameter int unsigned ObBytes = 1024,
  localparam int unsigned IbAw = $clog2(IbBytes),
  localparam int unsigned ObAw = $clog2(ObBytes)
) (
  input  logic            clk_i,
  input  logic            rst_ni,
  input  logic            start_i,
  input  logic [7:0]      len_i,
  output logic            busy_o,
  output logic            done_o,
  output logic [IbAw-1:0] rd0_addr_o,
  input  logic [31:0]     rd0_data_i,
  output logic [IbAw-1:0] rd1_addr_o,
  input  logic [31:0]     rd1_data_i,
  output logic            wr_en_o,
  output logic [ObAw-1:0] wr_addr_o,
  output logic [31:0]     wr_data_o,
  output logic [3:0]      wr_be_o
);
  logic       busy_q, busy_d;
  logic [7:0] e_q, e_d;
  logic       last_elem;

  assign rd0_addr_o = IbAw'(e_q);
  assign rd1_addr_o = IbAw'(256);
  logic unused_rd0;
  assign unused_rd0 = ^rd0_data_i[31:8];
  assign last_elem = ({1'b0, e_q} + 9'd1) == {1'b0, len_i};
  assign wr_en_o = busy_q;
  assign wr_addr_o = ObAw'({e_q, 2'b00});
  assign wr_data_o = f32_mul(e4m3_to_f32(rd0_data_i[7:0]), rd1_data_i);
  assign wr_be_o = 4'b1111;
  assign done_o = busy_q && last_elem;
  assign busy_o = busy_q;

  always_comb begin
    busy_d = busy_q;
    e_d = e_q + 8'd1;
    if (start_i) begin
      busy_d = 1'b1;
      e_d = '0;
    end else if (busy_q && last_elem) begin
      busy_d = 1'b0;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      busy_q <= 1'b0;
      e_q <= '0;
    end else begin
      busy_q <= busy_d;
      e_q <= e_d;
    end
  end
endmodule
`endif  // MFLD_ENG_DEQUANT_SV
