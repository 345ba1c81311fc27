// fifo - synchronous first-in first-out buffer of Depth entries of Width bits.
//
// Push and pop may happen in the same cycle (also when full: the pop frees
// the slot the push takes).  The head entry (data_o) is valid when valid_o is
// high; it is a register read, so an entry pushed in cycle t is visible at
// the head from cycle t+1.  Pushing into a full FIFO without popping or
// popping an empty one is a protocol error caught by the assertions of the
// checked build.  Not a clock-domain crossing FIFO.
`ifndef FIFO_SV
`define FIFO_SV

module fifo #(
  parameter int unsigned Width = 8,
  parameter int unsigned Depth = 4,
  localparam int unsigned PtrW = (Depth > 1) ? $clog2(Depth) : 1,
  localparam int unsigned CountW = $clog2(Depth + 1)
) (
  input  logic              clk_i,
  // The assertions sample rst_ni synchronously (disable iff); flops reset asynchronously.
  /* verilator lint_off SYNCASYNCNET */
  input  logic              rst_ni,
  /* verilator lint_on SYNCASYNCNET */
  input  logic              push_i,
  input  logic [Width-1:0]  data_i,
  input  logic              pop_i,
  output logic              valid_o,
  output logic [Width-1:0]  data_o,
  output logic              full_o,
  output logic [CountW-1:0] count_o
);
  logic [Width-1:0]  mem_q [Depth];
  logic [PtrW-1:0]   rd_q, rd_d, wr_q, wr_d;
  logic [CountW-1:0] count_q, count_d;

  function automatic logic [PtrW-1:0] ptr_next(logic [PtrW-1:0] p);
    return (32'(p) == Depth - 1) ? '0 : p + 1'b1;
  endfunction

  assign valid_o = (count_q != '0);
  assign full_o  = (32'(count_q) == Depth);
  assign data_o  = mem_q[rd_q];
  assign count_o = count_q;

  always_comb begin
    rd_d    = pop_i ? ptr_next(rd_q) : rd_q;
    wr_d    = push_i ? ptr_next(wr_q) : wr_q;
    count_d = count_q + CountW'(push_i) - CountW'(pop_i);
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      rd_q    <= '0;
      wr_q    <= '0;
      count_q <= '0;
    end else begin
      rd_q    <= rd_d;
      wr_q    <= wr_d;
      count_q <= count_d;
    end
  end

  // Storage has no reset: entries are only read after they were written.
  always_ff @(posedge clk_i) begin
    if (push_i) mem_q[wr_q] <= data_i;
  end

`ifndef SYNTHESIS
  a_pop_empty: assert property (@(posedge clk_i) disable iff (!rst_ni) !(pop_i && !valid_o))
    else $error("fifo: pop while empty");
  a_push_full: assert property (@(posedge clk_i) disable iff (!rst_ni) !(push_i && full_o && !pop_i))
    else $error("fifo: push while full");
`endif
endmodule
`endif  // FIFO_SV
