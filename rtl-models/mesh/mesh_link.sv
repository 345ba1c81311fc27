// mesh_link - the wire between two routers: Stages register stages each way
// for the flits (downstream) and the credits (upstream), so a link of
// latency Stages adds 2 * Stages cycles to the credit round trip.
`ifndef MESH_LINK_SV
`define MESH_LINK_SV
`include "rtl-models/common/delay_line.sv"

module mesh_link #(
  parameter int unsigned LinkW = 68,
  parameter int unsigned NumVcs = 2,
  parameter int unsigned Stages = 1
) (
  input  logic              clk_i,
  input  logic              rst_ni,
  input  logic              src_valid_i,
  input  logic [LinkW-1:0]  src_flit_i,
  output logic [NumVcs-1:0] src_credit_o,
  output logic              dst_valid_o,
  output logic [LinkW-1:0]  dst_flit_o,
  input  logic [NumVcs-1:0] dst_credit_i
);
  delay_line #(.Width(LinkW + 1), .Stages(Stages)) u_fwd (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .data_i ({src_valid_i, src_flit_i}),
    .data_o ({dst_valid_o, dst_flit_o})
  );
  delay_line #(.Width(NumVcs), .Stages(Stages)) u_back (
    .clk_i  (clk_i),
    .rst_ni (rst_ni),
    .data_i (dst_credit_i),
    .data_o (src_credit_o)
  );
endmodule
`endif  // MESH_LINK_SV
