// mfld_eng_quant - QUANT: one 1x128 tile of BF16 to E4M3 with an FP32 scale.
//
// kernels/quant.c's rule (QUANT_SCALE_F32), bit for bit:
//   amax = max over the tile of the bits with the sign cleared (so a NaN
//          anywhere makes amax NaN);
//   s = 1.0 if amax == 0; NaN (0x7fc00000) if amax is NaN; inf if inf;
//       else RN_f32(amax / 448) if that is >= FLT_MIN, otherwise the power
//       of two of quant.c's pow2_scale (2^-127 or 2^-126, doubled when
//       amax > 448 s);
//   q[e] = e4m3_sat(RN_f32(x[e] / s)).
// The POW2 scale mode of quant.h is not implemented (the device's QUANT is
// the FP32-scale recipe).  A pass for amax, one cycle for the scale, a pass
// for the quotients: 2 Len + 2 cycles per tile.
// Input buffer: (Len) BF16 at byte 0.  Output: (Len) E4M3 at byte 0, the
// scale (FP32) at byte 256.
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
  logic        last_elem;

  assign rd0_addr_o = IbAw'({e_q, 1'b0});
  assign x = {rd0_data_i[15:0], 16'd0};
  logic unused_rd0;
  assign unused_rd0 = ^rd0_data_i[31:16];
  assign last_elem = ({1'b0, e_q} + 9'd1) == {1'b0, len_i};

  // quant_scale_for_amax(amax, QUANT_SCALE_F32)
  function automatic logic [31:0] scale_of(logic [31:0] amax);
    logic [31:0] s, p;
    if (amax == 32'd0) return 32'h3f800000;
    if (amax > 32'h7f800000) return F32QNaN;
    if (amax == 32'h7f800000) return F32Inf;
    s = f32_div(amax, 32'h43e00000);  // 448
    if (s >= 32'h00800000) return s;
    // pow2_scale: ue8m0 of the subnormal quotient is 2^-127 (s <= 2^-127)
    // or 2^-126; doubled when amax > 448 * that power (0x04600000 / 0x04e00000)
    p = (s <= 32'h00400000) ? 32'h00400000 : 32'h00800000;
    if (amax > ((p == 32'h00400000) ? 32'h04600000 : 32'h04e00000)) p = p << 1;
    return p;
  endfunction

  always_comb begin
    st_d = st_q;
    e_d = e_q;
    amax_d = amax_q;
    s_d = s_q;
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
        s_d = scale_of(amax_q);
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
      wr_data_o = scale_of(amax_q);
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
    end else begin
      st_q <= st_d;
      e_q <= e_d;
      amax_q <= amax_d;
      s_q <= s_d;
    end
  end
endmodule
