// mfld_eng_combine - COMBINE: the weighted sum of k BF16 rows, FP32 accumulation.
//
// For each element e < Len:  acc = +0.0f; for i = 0..K-1 in order:
//   acc = RN_f32(acc + RN_f32(w[i] * bf16_to_f32(x_i[e])))      (no FMA)
// out[e] = bf16_from_f32(acc) (RNE, NaN -> 0x7fff).  That is the C loop
// `float acc = 0; acc += w[i] * x[i];` built with -ffp-contract=off, then
// fp8.h's bf16_from_f32: bit-exact with it for every input, NaN and inf
// included.  One multiply-add per cycle (K cycles per element).
// Input buffer: w (K) FP32 at byte 0, row i (Len) BF16 at byte 64 + 256 i.
// Output buffer: (Len) BF16 at byte 0.  Not here: fetching rows from DRAM.
`ifndef MFLD_ENG_COMBINE_SV
`define MFLD_ENG_COMBINE_SV
`include "rtl-models/mfld/mfld_fp_pkg.sv"

module mfld_eng_combine import mfld_fp_pkg::*; #(
  parameter int unsigned IbBytes = 8192,
  parameter int unsigned ObBytes = 1024,
  localparam int unsigned IbAw = $clog2(IbBytes),
  localparam int unsigned ObAw = $clog2(ObBytes)
) (
  input  logic            clk_i,
  input  logic            rst_ni,
  input  logic            start_i,
  input  logic [4:0]      k_i,    // 1..16 rows
  input  logic [7:0]      len_i,  // 1..128 elements
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
  logic        busy_q, busy_d;
  logic [7:0]  e_q, e_d;
  logic [4:0]  i_q, i_d;
  logic [31:0] acc_q, acc_d;
  logic        last_row, last_elem;

  assign rd0_addr_o = IbAw'({i_q, 2'b00});
  assign rd1_addr_o = IbAw'(32'd64 + {19'd0, i_q, 8'd0} + {23'd0, e_q, 1'b0});
  logic unused_rd1;
  assign unused_rd1 = ^rd1_data_i[31:16];
  assign last_row = ({1'b0, i_q} + 6'd1) == {1'b0, k_i};
  assign last_elem = ({1'b0, e_q} + 9'd1) == {1'b0, len_i};

  always_comb begin
    busy_d = busy_q;
    e_d = e_q;
    i_d = i_q;
    acc_d = f32_add((i_q == 5'd0) ? 32'd0 : acc_q, f32_mul(rd0_data_i, {rd1_data_i[15:0], 16'd0}));
    wr_en_o = 1'b0;
    done_o = 1'b0;
    if (start_i) begin
      busy_d = 1'b1;
      e_d = '0;
      i_d = '0;
    end else if (busy_q) begin
      if (last_row) begin
        wr_en_o = 1'b1;
        i_d = '0;
        e_d = e_q + 8'd1;
        if (last_elem) begin
          busy_d = 1'b0;
          done_o = 1'b1;
        end
      end else begin
        i_d = i_q + 5'd1;
      end
    end
  end
  assign wr_addr_o = ObAw'({e_q, 1'b0});
  assign wr_data_o = {16'd0, bf16_from_f32(acc_d)};
  assign wr_be_o = 4'b0011;
  assign busy_o = busy_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      busy_q <= 1'b0;
      e_q <= '0;
      i_q <= '0;
      acc_q <= '0;
    end else begin
      busy_q <= busy_d;
      e_q <= e_d;
      i_q <= i_d;
      acc_q <= acc_d;
    end
  end
endmodule
`endif  // MFLD_ENG_COMBINE_SV
