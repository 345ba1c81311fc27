// rr_arbiter - round-robin arbiter over N requesters.
//
// gnt_o is one-hot (or zero when nothing requests): the first requester at
// or after the priority pointer, wrapping around.  The pointer moves to the
// requester after the winner only when advance_i is high in that cycle (the
// grant was used), so an unused grant keeps its priority.  Combinational
// from req_i to gnt_o; the only state is the pointer.  Written as masks and
// a lowest-set-bit pick (no loop over a moving index) so that it stays small
// and fast when verilated.
`ifndef RR_ARBITER_SV
`define RR_ARBITER_SV

module rr_arbiter #(
  parameter int unsigned N = 4,
  localparam int unsigned IdxW = (N > 1) ? $clog2(N) : 1
) (
  input  logic            clk_i,
  input  logic            rst_ni,
  input  logic [N-1:0]    req_i,
  input  logic            advance_i,
  output logic [N-1:0]    gnt_o,
  output logic [IdxW-1:0] idx_o
);
  logic [IdxW-1:0] ptr_q, ptr_d;
  logic [N-1:0]    at_or_above, req_hi, pick;

  // Requests at or after the pointer win over those before it.
  assign at_or_above = ~((N'(1) << ptr_q) - N'(1));
  assign req_hi      = req_i & at_or_above;
  assign pick        = (req_hi != '0) ? req_hi : req_i;
  assign gnt_o       = pick & (~pick + N'(1));

  always_comb begin
    idx_o = '0;
    for (int unsigned b = 0; b < N; b++)
      if (gnt_o[b]) idx_o = IdxW'(b);
  end

  // Separate from the grant logic: advance_i may itself depend on gnt_o.
  always_comb begin
    ptr_d = ptr_q;
    if (advance_i && gnt_o != '0) ptr_d = (32'(idx_o) == N - 1) ? '0 : idx_o + 1'b1;
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) ptr_q <= '0;
    else         ptr_q <= ptr_d;
  end
endmodule
`endif  // RR_ARBITER_SV
