// credit_counter - free slots of a downstream buffer of Depth entries.
//
// Starts full (Depth credits) out of reset; take_i spends one (a flit was
// sent), give_i returns one (the downstream buffer freed a slot).  Both in
// one cycle leave the count unchanged.  avail_o: at least one credit.
// Spending with no credit or returning more than Depth is a protocol error
// caught by the assertions of the checked build.
`ifndef CREDIT_COUNTER_SV
`define CREDIT_COUNTER_SV

module credit_counter #(
  parameter int unsigned Depth = 4,
  localparam int unsigned CountW = $clog2(Depth + 1)
) (
  input  logic              clk_i,
  // The assertions sample rst_ni synchronously (disable iff); flops reset asynchronously.
  /* verilator lint_off SYNCASYNCNET */
  input  logic              rst_ni,
  /* verilator lint_on SYNCASYNCNET */
  input  logic              take_i,
  input  logic              give_i,
  output logic              avail_o,
  output logic [CountW-1:0] count_o
);
  logic [CountW-1:0] count_q, count_d;

  assign avail_o = (count_q != '0);
  assign count_o = count_q;
  assign count_d = count_q - CountW'(take_i) + CountW'(give_i);

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) count_q <= CountW'(Depth);
    else         count_q <= count_d;
  end

`ifndef SYNTHESIS
  a_take_none: assert property (@(posedge clk_i) disable iff (!rst_ni) !(take_i && !avail_o))
    else $error("credit_counter: spent a credit it did not have");
  a_give_over: assert property (@(posedge clk_i) disable iff (!rst_ni)
                                !(give_i && !take_i && 32'(count_q) == Depth))
    else $error("credit_counter: more credits returned than the buffer holds");
`endif
endmodule
`endif  // CREDIT_COUNTER_SV
