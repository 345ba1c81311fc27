// mfld_eng_lfdec - LOGFMT decode: one packed LogFMT-n tile (n = 8..10) to FP32.
//
// logfmt.h "Decoding", integer only: lo/hi = RNE(log2 * 2^24) of the header,
// Q = 2^(n-1) - 2, E(K) = lo + floor(((hi - lo)(K - 1) + Q/2) / Q),
// m(K) = exp2_fx(E(K)), the sign bit ORed in; K = 0 is a signed zero.  A
// header that is not finite, has log2_min > log2_max or |log2| > 192 is
// rejected (err_o, nothing written), as logfmt_tile_decode does.
// One element per cycle after a header cycle.
// Input buffer: the tile (8 + 16 n bytes) at byte 0.  Output: (Len) FP32.
`ifndef MFLD_ENG_LFDEC_SV
`define MFLD_ENG_LFDEC_SV
`include "rtl-models/mfld/mfld_fp_pkg.sv"

module mfld_eng_lfdec import mfld_fp_pkg::*; #(
  parameter int unsigned IbBytes = 8192,
  parameter int unsigned ObBytes = 1024,
  localparam int unsigned IbAw = $clog2(IbBytes),
  localparam int unsigned ObAw = $clog2(ObBytes)
) (
  input  logic            clk_i,
  input  logic            rst_ni,
  input  logic            start_i,
  input  logic [7:0]      len_i,
  input  logic [3:0]      nbits_i,  // 8..10
  output logic            busy_o,
  output logic            done_o,
  output logic            err_o,    // with done_o: corrupt header or bad n
  output logic [IbAw-1:0] rd0_addr_o,
  input  logic [31:0]     rd0_data_i,
  output logic [IbAw-1:0] rd1_addr_o,
  input  logic [31:0]     rd1_data_i,
  output logic            wr_en_o,
  output logic [ObAw-1:0] wr_addr_o,
  output logic [31:0]     wr_data_o,
  output logic [3:0]      wr_be_o
);
  typedef enum logic [1:0] {StIdle, StHdr, StRun} state_e;
  state_e             st_q, st_d;
  logic [7:0]         e_q, e_d;
  logic signed [63:0] lo_q, lo_d, d_q, d_d;
  logic [15:0]        bitpos;
  logic [9:0]         code, top;
  logic [8:0]         k;
  logic [63:0]        q, a, quot;
  logic [31:0]        mag;  // bit 31 is 0: m(K) >= 0
  logic               hdr_ok, last_elem;

  function automatic logic hdr_valid(logic [31:0] lmin, logic [31:0] lmax);
    if (lmin[30:23] == 8'hff || lmax[30:23] == 8'hff) return 1'b0;
    if (f32_lt(lmax, lmin)) return 1'b0;
    return !f32_lt(lmin, 32'hc3400000) && !f32_lt(32'h43400000, lmax);  // +-192
  endfunction

  assign bitpos = 16'd64 + 16'(e_q) * 16'(nbits_i);
  assign rd0_addr_o = (st_q == StRun) ? IbAw'(bitpos[15:3]) : IbAw'(0);
  assign rd1_addr_o = IbAw'(4);
  assign top = 10'((11'd1 << (nbits_i - 4'd1)) - 11'd1);
  assign code = 10'((rd0_data_i >> bitpos[2:0]) & ((32'd1 << nbits_i) - 32'd1));
  assign k = 9'(code & top);
  assign q = 64'(top) - 64'd1;
  assign a = 64'(d_q) * (64'(k) - 64'd1) + (q >> 1);
  assign quot = a / q;
  assign mag = (k == 9'd0) ? 32'd0 : exp2_fx(lo_q + $signed(quot));
  assign hdr_ok = nbits_i >= 4'd8 && nbits_i <= 4'd10 && hdr_valid(rd0_data_i, rd1_data_i);
  assign last_elem = ({1'b0, e_q} + 9'd1) == {1'b0, len_i};

  always_comb begin
    st_d = st_q;
    e_d = e_q;
    lo_d = lo_q;
    d_d = d_q;
    done_o = 1'b0;
    err_o = 1'b0;
    unique case (st_q)
      StIdle: if (start_i) st_d = StHdr;
      StHdr: begin
        lo_d = fx_from_log2(rd0_data_i);
        d_d = fx_from_log2(rd1_data_i) - fx_from_log2(rd0_data_i);
        e_d = '0;
        if (hdr_ok) begin
          st_d = StRun;
        end else begin
          st_d = StIdle;
          done_o = 1'b1;
          err_o = 1'b1;
        end
      end
      StRun: begin
        e_d = e_q + 8'd1;
        if (last_elem) begin
          st_d = StIdle;
          done_o = 1'b1;
        end
      end
      default: st_d = StIdle;
    endcase
  end
  assign wr_en_o = st_q == StRun;
  assign wr_addr_o = ObAw'({e_q, 2'b00});
  assign wr_data_o = {code[nbits_i - 4'd1], mag[30:0]};
  assign wr_be_o = 4'b1111;
  logic unused_mag;
  assign unused_mag = mag[31];
  assign busy_o = st_q != StIdle;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      st_q <= StIdle;
      e_q <= '0;
      lo_q <= '0;
      d_q <= '0;
    end else begin
      st_q <= st_d;
      e_q <= e_d;
      lo_q <= lo_d;
      d_q <= d_d;
    end
  end
endmodule
`endif  // MFLD_ENG_LFDEC_SV
