// mfld_eng_perm - GATHER / SCATTER: rows moved by an index list (token permutation).
//
// Rows are RowWords 32-bit words (any element type); the index list is Len
// int32 entries; -1 marks "no row".  NRows bounds the indices: an index
// outside [-1, NRows) rejects the unit (done with err, output unspecified).
//   GATHER   out row i = in row idx[i], or zeros for -1
//            (kernels/permute.c moe_unpermute with idx = row_of_src, and
//            moe_permute with idx = src_of_row / k)
//   SCATTER  out rows 0..NRows-1 zeroed, then out row idx[i] = in row i for
//            idx[i] >= 0 (moe_permute with in = token rows repeated k times
//            and idx = row_of_src: padding rows come out zero)
// Input buffer: idx (Len) int32 at byte 0, rows from byte 512.  Output
// buffer: rows from byte 0.  One word per cycle, plus one cycle per index
// read.  Not here: moving rows to and from DRAM (the data mover).
`ifndef MFLD_ENG_PERM_SV
`define MFLD_ENG_PERM_SV

module mfld_eng_perm #(
  parameter int unsigned IbBytes = 8192,
  parameter int unsigned ObBytes = 1024,
  localparam int unsigned IbAw = $clog2(IbBytes),
  localparam int unsigned ObAw = $clog2(ObBytes)
) (
  input  logic            clk_i,
  input  logic            rst_ni,
  input  logic            start_i,
  input  logic            scatter_i,  // 0: GATHER, 1: SCATTER
  input  logic [7:0]      len_i,      // index entries, 1..128
  input  logic [8:0]      row_words_i, // words per row, 1..256
  input  logic [7:0]      nrows_i,    // rows on the indexed side, 1..255
  output logic            busy_o,
  output logic            done_o,
  output logic            err_o,      // with done_o: an index out of range
  output logic [IbAw-1:0] rd0_addr_o,
  input  logic [31:0]     rd0_data_i,
  output logic [IbAw-1:0] rd1_addr_o,
  input  logic [31:0]     rd1_data_i,
  output logic            wr_en_o,
  output logic [ObAw-1:0] wr_addr_o,
  output logic [31:0]     wr_data_o,
  output logic [3:0]      wr_be_o
);
  typedef enum logic [1:0] {
    StIdle,
    StZero,  // SCATTER: clear the output rows
    StIdx,   // check idx[i]
    StMove   // move word w of row i
  } state_e;

  state_e      st_q, st_d;
  logic        scat_q, scat_d;
  logic [7:0]  i_q, i_d;
  logic [8:0]  w_q, w_d;
  logic [16:0] z_q, z_d;   // SCATTER clear: word index
  logic        err_d;
  logic [31:0] idx;
  logic        idx_none, idx_bad, last_i, last_w;
  logic [16:0] zero_words, idx_row_word, i_row_word;

  assign idx = rd0_data_i;
  assign idx_none = idx == 32'hffff_ffff;
  assign idx_bad = !idx_none && (idx[31] || idx[30:0] >= {23'd0, nrows_i});
  assign last_i = ({1'b0, i_q} + 9'd1) == {1'b0, len_i};
  assign last_w = ({1'b0, w_q} + 10'd1) == {1'b0, row_words_i};
  assign zero_words = 17'(nrows_i) * 17'(row_words_i);
  assign idx_row_word = 17'(idx[7:0]) * 17'(row_words_i) + 17'(w_q);
  assign i_row_word = 17'(i_q) * 17'(row_words_i) + 17'(w_q);

  assign rd0_addr_o = IbAw'({i_q, 2'b00});
  // GATHER reads row idx, SCATTER row i, both from byte 512
  assign rd1_addr_o = IbAw'(32'd512 + {13'd0, (scat_q ? i_row_word : idx_row_word), 2'b00});
  assign wr_be_o = 4'b1111;
  assign busy_o = st_q != StIdle;

  always_comb begin
    st_d = st_q;
    scat_d = scat_q;
    i_d = i_q;
    w_d = w_q;
    z_d = z_q;
    err_d = 1'b0;
    wr_en_o = 1'b0;
    wr_addr_o = '0;
    wr_data_o = '0;
    done_o = 1'b0;
    unique case (st_q)
      StIdle: ;
      StZero: begin
        wr_en_o = 1'b1;
        wr_addr_o = ObAw'({z_q, 2'b00});
        z_d = z_q + 17'd1;
        if (z_d == zero_words) st_d = StIdx;
      end
      StIdx: begin
        w_d = '0;
        if (idx_bad) begin
          done_o = 1'b1;
          err_d = 1'b1;
          st_d = StIdle;
        end else if (idx_none && scat_q) begin
          // SCATTER skips the entry
          i_d = i_q + 8'd1;
          if (last_i) begin
            done_o = 1'b1;
            st_d = StIdle;
          end
        end else begin
          st_d = StMove;
        end
      end
      StMove: begin
        wr_en_o = 1'b1;
        wr_addr_o = ObAw'({(scat_q ? idx_row_word : i_row_word), 2'b00});
        wr_data_o = (idx_none && !scat_q) ? 32'd0 : rd1_data_i;
        w_d = w_q + 9'd1;
        if (last_w) begin
          i_d = i_q + 8'd1;
          st_d = StIdx;
          if (last_i) begin
            done_o = 1'b1;
            st_d = StIdle;
          end
        end
      end
      default: st_d = StIdle;
    endcase
    if (start_i) begin
      st_d = scatter_i ? StZero : StIdx;
      scat_d = scatter_i;
      i_d = '0;
      w_d = '0;
      z_d = '0;
    end
  end
  assign err_o = err_d;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      st_q <= StIdle;
      scat_q <= 1'b0;
      i_q <= '0;
      w_q <= '0;
      z_q <= '0;
    end else begin
      st_q <= st_d;
      scat_q <= scat_d;
      i_q <= i_d;
      w_q <= w_d;
      z_q <= z_d;
    end
  end
endmodule
`endif  // MFLD_ENG_PERM_SV
