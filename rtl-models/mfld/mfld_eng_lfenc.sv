// mfld_eng_lfenc - LOGFMT encode: one tile of FP32 to packed LogFMT-n (n = 8..10).
//
// logfmt.h, bit for bit: header log2_max = RN_f32(log2 amax), log2_min =
// max(RN_f32(log2 amin), log2_max - 32) over the non-zero |x| (mfld_log2;
// (0, 0) for an all-zero tile); the codebook m(1..TOP) by the decoder's own
// integer exp2; each code K = #{k < TOP : 2|x| >= m(k) + m(k+1)} found by a
// bisection over exact fixed-point sums (LSB 2^(Ea - 60), Ea = exponent of
// amax: every m(k) >= 2^(Ea - 33) is a multiple of it and 2|x| is compared
// after flooring, which decides ">=" against a multiple exactly); sign bit
// = sign of x (-0.0 keeps it); codes packed LSB-first after the 8 header
// bytes, unused slots (Len < 128) 0.  NaN or inf in the tile: err_o and
// nothing meaningful written (logfmt_encode returns -EINVAL).
// Cycles per tile: Len (scan) + 2 x 55 (logs) + TOP (codebook) + 128 + ~4.
// Input buffer: (Len) FP32 at byte 0.  Output: the tile (8 + 16 n bytes).
`ifndef MFLD_ENG_LFENC_SV
`define MFLD_ENG_LFENC_SV
`include "rtl-models/mfld/mfld_fp_pkg.sv"
`include "rtl-models/mfld/mfld_log2.sv"

module mfld_eng_lfenc import mfld_fp_pkg::*; #(
  parameter int unsigned IbBytes = 8192,
  parameter int unsigned ObBytes = 1024,
  localparam int unsigned IbAw = $clog2(IbBytes),
  localparam int unsigned ObAw = $clog2(ObBytes)
) (
  input  logic            clk_i,
  input  logic            rst_ni,
  input  logic            start_i,
  input  logic [7:0]      len_i,
  input  logic [3:0]      nbits_i,
  output logic            busy_o,
  output logic            done_o,
  output logic            err_o,
  output logic [IbAw-1:0] rd0_addr_o,
  input  logic [31:0]     rd0_data_i,
  output logic            wr_en_o,
  output logic [ObAw-1:0] wr_addr_o,
  output logic [31:0]     wr_data_o,
  output logic [3:0]      wr_be_o
);
  typedef enum logic [3:0] {
    StIdle, StScan, StLogMax, StLogMin, StClamp, StHdr0, StHdr1, StCb, StEnc
  } state_e;
  state_e             st_q, st_d;
  logic [7:0]         e_q, e_d;
  logic [9:0]         k_q, k_d;
  logic [31:0]        amax_q, amax_d, amin_q, amin_d, lmax_q, lmax_d, lmin_q, lmin_d;
  logic signed [63:0] lo_q, lo_d, d_q, d_d;
  logic signed [31:0] ea_q, ea_d;
  logic [63:0]        mfx_q [512];
  logic [23:0]        acc_q, acc_d, acc_new;
  logic [4:0]         nb_q, nb_d;
  logic [15:0]        ptr_q, ptr_d;
  logic               log_start, log_done;
  logic [31:0]        log_x, log_y, floor_min, x, m_k;
  logic [9:0]         top, code;
  logic [63:0]        q, a, x2;
  logic [4:0]         nb_new;
  logic               last_elem;

  // floor(v * 2^s / 2^(ea - 60)) for finite v >= 0 (s = 1 doubles it)
  function automatic logic [63:0] to_fx(logic [31:0] v, logic signed [31:0] ea, int s);
    logic [63:0] m;
    int e, sh;
    if (v[30:0] == 31'd0) return 64'd0;
    f32_unpack(v, m, e);
    sh = e - int'(ea) + 60 + s;
    if (sh >= 0) return m << sh;
    if (sh <= -64) return 64'd0;
    return m >> (-sh);
  endfunction

  mfld_log2 u_log2 (
    .clk_i,
    .rst_ni,
    .start_i(log_start),
    .x_i    (log_x),
    .done_o (log_done),
    .y_o    (log_y)
  );

  assign top = 10'((11'd1 << (nbits_i - 4'd1)) - 11'd1);
  assign q = 64'(top) - 64'd1;
  assign a = 64'(d_q) * (64'(k_q) - 64'd1) + (q >> 1);
  assign m_k = exp2_fx(lo_q + $signed(a / q));
  assign rd0_addr_o = IbAw'({e_q, 2'b00});
  assign x = rd0_data_i;
  assign floor_min = f32_add(lmax_q, 32'hc2000000);  // log2_max - 32
  assign x2 = to_fx({1'b0, x[30:0]}, ea_q, 1);
  assign last_elem = ({1'b0, e_q} + 9'd1) == {1'b0, len_i};

  // K = #{k < top : x2 >= mfx[k] + mfx[k + 1]} by bisection (<= 9 steps)
  always_comb begin
    logic [9:0] lo, hi, mid;
    lo = '0;
    hi = top;
    for (int s = 0; s < 9; s++) begin
      mid = (lo + hi) >> 1;
      if (lo < hi) begin
        if (x2 >= mfx_q[mid[8:0]] + mfx_q[9'(mid + 10'd1)]) lo = mid + 10'd1;
        else hi = mid;
      end
    end
    code = (e_q < len_i) ? (10'(x[31]) << (nbits_i - 4'd1)) | lo : 10'd0;
  end
  assign acc_new = acc_q | (24'(code) << nb_q);
  assign nb_new = nb_q + 5'(nbits_i);

  always_comb begin
    logic [63:0] m;
    int e;
    st_d = st_q;
    e_d = e_q;
    k_d = k_q;
    amax_d = amax_q;
    amin_d = amin_q;
    lmax_d = lmax_q;
    lmin_d = lmin_q;
    lo_d = lo_q;
    d_d = d_q;
    ea_d = ea_q;
    acc_d = acc_q;
    nb_d = nb_q;
    ptr_d = ptr_q;
    log_start = 1'b0;
    log_x = amax_q;
    wr_en_o = 1'b0;
    wr_addr_o = ObAw'(ptr_q);
    wr_data_o = {8'd0, acc_new};
    wr_be_o = 4'b0000;
    done_o = 1'b0;
    err_o = 1'b0;
    f32_unpack(amax_q, m, e);
    unique case (st_q)
      StIdle: if (start_i) begin
        st_d = StScan;
        e_d = '0;
        amax_d = '0;
        amin_d = F32Inf;
      end
      StScan: begin
        e_d = e_q + 8'd1;
        if (x[30:23] == 8'hff) begin
          st_d = StIdle;
          done_o = 1'b1;
          err_o = 1'b1;
        end else begin
          if ({1'b0, x[30:0]} > amax_q) amax_d = {1'b0, x[30:0]};
          if (x[30:0] != 31'd0 && {1'b0, x[30:0]} < amin_q) amin_d = {1'b0, x[30:0]};
          if (last_elem) begin
            if (nbits_i < 4'd8 || nbits_i > 4'd10) begin
              st_d = StIdle;
              done_o = 1'b1;
              err_o = 1'b1;
            end else if (amax_d == 32'd0) begin
              lmax_d = '0;
              lmin_d = '0;
              st_d = StClamp;
            end else begin
              st_d = StLogMax;
              log_start = 1'b1;
              log_x = amax_d;
            end
          end
        end
      end
      StLogMax: if (log_done) begin
        lmax_d = log_y;
        log_start = 1'b1;
        log_x = amin_q;
        st_d = StLogMin;
      end
      StLogMin: if (log_done) begin
        lmin_d = log_y;
        st_d = StClamp;
      end
      StClamp: begin
        if (amax_q != 32'd0 && f32_lt(lmin_q, floor_min)) lmin_d = floor_min;
        ea_d = (amax_q == 32'd0) ? 32'sd0 : 32'(e + 63 - int'(clz64(m)));
        st_d = StHdr0;
      end
      StHdr0: begin
        lo_d = fx_from_log2(lmin_q);
        d_d = fx_from_log2(lmax_q) - fx_from_log2(lmin_q);
        wr_en_o = 1'b1;
        wr_addr_o = ObAw'(0);
        wr_data_o = lmin_q;
        wr_be_o = 4'b1111;
        st_d = StHdr1;
        k_d = 10'd1;
      end
      StHdr1: begin
        wr_en_o = 1'b1;
        wr_addr_o = ObAw'(4);
        wr_data_o = lmax_q;
        wr_be_o = 4'b1111;
        st_d = StCb;
      end
      StCb: begin
        k_d = k_q + 10'd1;
        if (k_q == top) begin
          st_d = StEnc;
          e_d = '0;
          acc_d = '0;
          nb_d = '0;
          ptr_d = 16'd8;
        end
      end
      StEnc: begin
        e_d = e_q + 8'd1;
        wr_en_o = nb_new >= 5'd8;
        wr_be_o = (nb_new >= 5'd16) ? 4'b0011 : 4'b0001;
        if (nb_new >= 5'd16) begin
          acc_d = acc_new >> 16;
          nb_d = nb_new - 5'd16;
          ptr_d = ptr_q + 16'd2;
        end else if (nb_new >= 5'd8) begin
          acc_d = acc_new >> 8;
          nb_d = nb_new - 5'd8;
          ptr_d = ptr_q + 16'd1;
        end else begin
          acc_d = acc_new;
          nb_d = nb_new;
        end
        if (e_q == 8'd127) begin
          st_d = StIdle;
          done_o = 1'b1;
        end
      end
      default: st_d = StIdle;
    endcase
  end
  assign busy_o = st_q != StIdle;

  always_ff @(posedge clk_i) begin
    if (st_q == StHdr1) mfx_q[0] <= 64'd0;
    if (st_q == StCb) mfx_q[k_q[8:0]] <= to_fx(m_k, ea_q, 0);
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      st_q <= StIdle;
      e_q <= '0;
      k_q <= '0;
      amax_q <= '0;
      amin_q <= '0;
      lmax_q <= '0;
      lmin_q <= '0;
      lo_q <= '0;
      d_q <= '0;
      ea_q <= '0;
      acc_q <= '0;
      nb_q <= '0;
      ptr_q <= '0;
    end else begin
      st_q <= st_d;
      e_q <= e_d;
      k_q <= k_d;
      amax_q <= amax_d;
      amin_q <= amin_d;
      lmax_q <= lmax_d;
      lmin_q <= lmin_d;
      lo_q <= lo_d;
      d_q <= d_d;
      ea_q <= ea_d;
      acc_q <= acc_d;
      nb_q <= nb_d;
      ptr_q <= ptr_d;
    end
  end
endmodule
`endif  // MFLD_ENG_LFENC_SV
