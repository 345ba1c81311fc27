// mfld_eng_quant - QUANT: one 1x128 tile of BF16 to E4M3 with an FP32 scale.
//
// kernels/quant.c's rule, bit for bit, in either scale mode of quant.h
// (pow2_i, sampled at start: 0 QUANT_SCALE_F32, 1 QUANT_SCALE_POW2):
//   amax = max over the tile of the bits with the sign cleared (so a NaN
//          anywhere makes amax NaN);
//   s = 1.0 if amax == 0; NaN (0x7fc00000) if amax is NaN; inf if inf;
//       F32 mode: RN_f32(amax / 448) if that is >= FLT_MIN;
//       else (POW2 mode, and tiny F32 tiles) quant.c's pow2_scale: the
//       UE8M0 rounding up of RN_f32(amax / 448) to a power of two p (2^-127
//       for quotients <= 2^-127), doubled when amax > 448 p (exact);
//   q[e] = e4m3_sat(RN_f32(x[e] / s)).
// A pass for amax, one cycle for the scale, a pass for the quotients:
// 2 Len + 2 cycles per tile, in both modes.
// Input buffer: (Len) BF16 at byte 0.  Output: (Len) E4M3 at byte 0, the
// scale (FP32) at byte 256.
`ifndef MFLD_ENG_QUANT_SV
`define MFLD_ENG_QUANT_SV
`include "rtl-models/mfld/mfld_fp_pkg.sv"

module mfld_eng_quant import mfld_fp_pkg::*; #(
  parameter int unsigned IbBytes = 8192,
  parameter int unsigned ObBytes = 1024,
  localparam int unsigned IbAw = $clog2(IbBytes),
  localparam int unsigned ObAw = $clog2(ObBytes)
) (
  input  logic            clk_i,
  input  logic            rst_ni,
  input  logic            start_i,
  input  logic [7:0]      len_i,
  input  logic            pow2_i,   // scale mode: 1 QUANT_SCALE_POW2, 0 QUANT_SCALE_F32
  output logic            busy_o,
  output logic            done_o,
  output logic [IbAw-1:0] rd0_addr_o,
  input  logic [31:0]     rd0_data_i,
  output logic            wr_en_o,
  output logic [ObAw-1:0] wr_addr_o,
  output logic [31:0]     wr_data_o,
  output logic [3:0]      wr_be_o
);
  typedef enum logic [1:0] {StIdle, StAmax, StScale, StQuant} state_e;
  state_e      st_q, st_d;
  logic [7:0]  e_q, e_d;
  logic [31:0] amax_q, amax_d, s_q, s_d, x;
  logic        pow2_q, pow2_d;
  logic        last_elem;

  assign rd0_addr_o = IbAw'({e_q, 1'b0});
  assign x = {rd0_data_i[15:0], 16'd0};
  logic unused_rd0;
  assign unused_rd0 = ^rd0_data_i[31:16];
  assign last_elem = ({1'b0, e_q} + 9'd1) == {1'b0, len_i};

  // quant.c's pow2_scale(amax) of a finite amax > 0 (a BF16 magnitude, so
  // the power stays far below ue8m0's clamp at 2^127)
  function automatic logic [31:0] pow2_of(logic [31:0] amax);
    /* verilator lint_off UNUSEDSIGNAL */
    logic [31:0] q;  // positive: its sign bit is not read
    /* verilator lint_on UNUSEDSIGNAL */
    logic [8:0]  e;
    q = f32_div(amax, 32'h43e00000);  // 448
    // ue8m0_from_f32: the biased exponent, + 1 when a mantissa bit is set
    e = 9'(q[30:23]) + 9'(q[22:0] != '0);
    if (q[30:0] <= 31'h00400000) e = '0;  // <= 2^-127
    // 448 p = 1.75 * 2^(e - 119) (for e = 0 too: p = 2^-127), exact
    if (amax > {1'b0, 8'(e + 9'd8), 23'h600000}) e = e + 9'd1;
    return (e == '0) ? 32'h00400000 : {1'b0, e[7:0], 23'd0};
  endfunction

  // quant_scale_for_amax(amax, pow2 ? QUANT_SCALE_POW2 : QUANT_SCALE_F32)
  function automatic logic [31:0] scale_of(logic [31:0] amax, logic pow2);
    logic [31:0] s;
    if (amax == 32'd0) return 32'h3f800000;
    if (amax > 32'h7f800000) return F32QNaN;
    if (amax == 32'h7f800000) return F32Inf;
    s = f32_div(amax, 32'h43e00000);  // 448
    if (!pow2 && s >= 32'h00800000) return s;
    return pow2_of(amax);
  endfunction

  logic [31:0] scale;
  assign scale = scale_of(amax_q, pow2_q);

  always_comb begin
    st_d = st_q;
    e_d = e_q;
    amax_d = amax_q;
    s_d = s_q;
    pow2_d = pow2_q;
    wr_en_o = 1'b0;
    wr_addr_o = ObAw'(e_q);
    wr_data_o = {24'd0, e4m3_from_f32_sat(f32_div(x, s_q))};
    wr_be_o = 4'b0001;
    done_o = 1'b0;
    unique case (st_q)
      StIdle: if (start_i) begin
        st_d = StAmax;
        e_d = '0;
        amax_d = '0;
        pow2_d = pow2_i;
      end
      StAmax: begin
        if ({1'b0, x[30:0]} > amax_q) amax_d = {1'b0, x[30:0]};
        e_d = e_q + 8'd1;
        if (last_elem) begin
          st_d = StScale;
          e_d = '0;
        end
      end
      StScale: begin
        s_d = scale;
        st_d = StQuant;
      end
      StQuant: begin
        wr_en_o = 1'b1;
        e_d = e_q + 8'd1;
        if (last_elem) begin
          st_d = StIdle;
          done_o = 1'b1;
        end
      end
      default: st_d = StIdle;
    endcase
    // one write port: the scale is written in StScale (byte 256 is not a quotient's)
    if (st_q == StScale) begin
      wr_en_o = 1'b1;
      wr_addr_o = ObAw'(256);
      wr_data_o = scale;
      wr_be_o = 4'b1111;
    end
  end
  assign busy_o = st_q != StIdle;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      st_q <= StIdle;
      e_q <= '0;
      amax_q <= '0;
      s_q <= '0;
      pow2_q <= 1'b0;
    end else begin
      st_q <= st_d;
      e_q <= e_d;
      amax_q <= amax_d;
      s_q <= s_d;
      pow2_q <= pow2_d;
    end
  end
endmodule
`endif  // MFLD_ENG_QUANT_SV
