// mfld_log2 - RN_f32(log2(x)) of a positive finite binary32, iteratively.
//
// x = m 2^e with m in [1, 2); log2(m) by repeated squaring, one fraction bit
// per cycle for FracBits cycles (y <- y^2 with 62 fraction bits, truncated;
// a bit is 1 when y >= 2, then y <- y / 2).  e + log2(m) in fixed point is
// rounded once to binary32 with a sticky bit (log2(m) is irrational unless
// m = 1, when the result is exact).  The result equals logfmt.c's
// (float)log2((double)x) unless the exact log2 lies within ~2^-53 of a
// binary32 rounding boundary (logfmt.h allows an encoder to land on either
// side there: the tile is then different but equally valid).
`ifndef MFLD_LOG2_SV
`define MFLD_LOG2_SV
`include "rtl-models/mfld/mfld_fp_pkg.sv"

module mfld_log2 import mfld_fp_pkg::*; #(
  parameter int unsigned FracBits = 54,
  localparam int unsigned CntW = $clog2(FracBits + 1)
) (
  input  logic        clk_i,
  input  logic        rst_ni,
  input  logic        start_i,
  input  logic [31:0] x_i,
  output logic        done_o,  // one cycle; y_o valid from then until the next start
                               // (both registered: no path from x_i)
  output logic [31:0] y_o
);
  logic             busy_q, busy_d;
  logic [CntW-1:0]  cnt_q, cnt_d;
  logic [63:0]      y_q, y_d, l_q, l_d;
  logic signed [31:0] e_q, e_d;
  logic             exact_q, exact_d, done_q, done_d;
  logic [31:0]      res_q, res_d;
  logic [127:0]     sq;
  logic [63:0]      m0;
  int               e0;

  // fixed-point e * 2^FracBits + log2(m), rounded to binary32 (sticky unless exact)
  function automatic logic [31:0] to_f32(logic signed [31:0] e, logic [63:0] l, logic exact);
    logic signed [63:0] v;
    logic [63:0] mag;  // < 2^62: |e| <= 149
    v = ($signed(64'(e)) <<< FracBits) + $signed(l);
    if (v == 64'sd0) return 32'd0;
    if (exact) return f32_round_pack(v < 0, -int'(FracBits), v < 0 ? 64'(-v) : 64'(v));
    // truncation left the true value a little above v: |v| + 1/2 ulp when
    // positive, |v| - 1/2 ulp when negative (the odd LSB is the sticky bit)
    mag = v < 0 ? 64'(-v) - 64'd1 : 64'(v);
    return f32_round_pack(v < 0, -int'(FracBits) - 1, {mag[62:0], 1'b1} | {mag[63], 63'd0});
  endfunction

  always_comb begin
    f32_unpack(x_i, m0, e0);
    sq = {64'd0, y_q} * {64'd0, y_q};
    busy_d = busy_q;
    cnt_d = cnt_q;
    y_d = y_q;
    l_d = l_q;
    e_d = e_q;
    exact_d = exact_q;
    res_d = res_q;
    done_d = 1'b0;
    if (start_i) begin
      // normalize m to [2^23, 2^24) and hold it with 62 fraction bits
      busy_d = 1'b1;
      cnt_d = '0;
      y_d = (m0 << (clz64(m0) - 7'd40)) << 39;
      e_d = 32'(e0 + 63 - int'(clz64(m0)));
      exact_d = (m0 << clz64(m0)) == 64'h8000000000000000;
      l_d = '0;
    end else if (busy_q) begin
      if (32'(cnt_q) == FracBits) begin
        busy_d = 1'b0;
        done_d = 1'b1;
        res_d = to_f32(e_q, l_q, exact_q);
      end else begin
        cnt_d = cnt_q + 1'b1;
        if (sq[125]) begin  // y^2 >= 2
          l_d = {l_q[62:0], 1'b1};
          y_d = sq[126:63];
        end else begin
          l_d = {l_q[62:0], 1'b0};
          y_d = sq[125:62];
        end
      end
    end
  end
  assign y_o = res_q;
  assign done_o = done_q;
  logic unused_sq;
  assign unused_sq = ^{sq[127], sq[61:0]};

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      busy_q <= 1'b0;
      cnt_q <= '0;
      y_q <= '0;
      l_q <= '0;
      e_q <= '0;
      exact_q <= 1'b0;
      res_q <= '0;
      done_q <= 1'b0;
    end else begin
      busy_q <= busy_d;
      cnt_q <= cnt_d;
      y_q <= y_d;
      l_q <= l_d;
      e_q <= e_d;
      exact_q <= exact_d;
      res_q <= res_d;
      done_q <= done_d;
    end
  end
endmodule
`endif  // MFLD_LOG2_SV
