// mesh_top - a K x L System-on-Wafer mesh: one mesh_router and one mesh_ni
// per node, neighbouring routers joined by mesh_link.  Node n sits at
// x = n % K (columns, east = x+1), y = n / K (rows, south = y+1).
//
// Every endpoint's message streams (see mesh_ni) are top-level ports packed
// by node: node n's beat is inj_data_i[n].  routing_i selects the routing
// algorithm at run time: 0 dimension-order XY, 1 west-first adaptive (both
// deadlock-free without VC restrictions).  Counters are read through a
// select: cnt_o = counter cnt_sel_i of node cnt_node_i, where 0..4 are the
// NI counters (packets in, flits in, packets out, flits out, injection
// stalls), 5..9 the router's flits sent per output port and 10..14 its stall
// cycles per output port (port order local, north, east, south, west).
//
// Zero-load latency, from the cycle a message's header beat is accepted on
// inj to the cycle its last beat leaves on ej, for h hops and F flits:
//   3 + (h + 1) * RouterStages + h * LinkStages + (F - 1).
`ifndef MESH_TOP_SV
`define MESH_TOP_SV
`include "rtl-models/mesh/mesh_router.sv"
`include "rtl-models/mesh/mesh_ni.sv"
`include "rtl-models/mesh/mesh_link.sv"

module mesh_top #(
  parameter int unsigned K = 4,
  parameter int unsigned L = 4,
  parameter int unsigned NumVcs = 2,
  parameter int unsigned FlitW = 64,
  parameter int unsigned BufDepth = 8,
  parameter int unsigned InjDepth = 4,
  parameter int unsigned RouterStages = 2,
  parameter int unsigned LinkStages = 1,
  localparam int unsigned N = K * L,
  localparam int unsigned NodeW = (N > 1) ? $clog2(N) : 1,
  localparam int unsigned XW = (K > 1) ? $clog2(K) : 1,
  localparam int unsigned YW = (L > 1) ? $clog2(L) : 1,
  localparam int unsigned VcW = (NumVcs > 1) ? $clog2(NumVcs) : 1,
  localparam int unsigned LinkW = FlitW + VcW + 2
) (
  input  logic                      clk_i,
  input  logic                      rst_ni,
  input  logic                      routing_i,
  input  logic [N-1:0]              inj_valid_i,
  output logic [N-1:0]              inj_ready_o,
  input  logic [N-1:0][FlitW-1:0]   inj_data_i,
  output logic [N-1:0]              ej_valid_o,
  input  logic [N-1:0]              ej_ready_i,
  output logic [N-1:0][FlitW-1:0]   ej_data_o,
  output logic [N-1:0]              ej_last_o,
  input  logic [NodeW-1:0]          cnt_node_i,
  input  logic [3:0]                cnt_sel_i,
  output logic [31:0]               cnt_o
);
  localparam int unsigned NumPorts = 5;

  logic              r_in_valid   [N][NumPorts];
  logic [LinkW-1:0]  r_in_flit    [N][NumPorts];
  logic [NumVcs-1:0] r_in_credit  [N][NumPorts];
  logic              r_out_valid  [N][NumPorts];
  logic [LinkW-1:0]  r_out_flit   [N][NumPorts];
  logic [NumVcs-1:0] r_out_credit [N][NumPorts];
  logic [31:0]       cnt_all      [N][16];

  for (genvar n = 0; n < N; n++) begin : g_node
    localparam int unsigned X = n % K;
    localparam int unsigned Y = n / K;
    logic [4:0][31:0] ni_cnt;
    logic [31:0]      r_flits  [NumPorts];
    logic [31:0]      r_stalls [NumPorts];

    mesh_router #(
      .K        (K),
      .L        (L),
      .NumVcs   (NumVcs),
      .FlitW    (FlitW),
      .BufDepth (BufDepth),
      .Stages   (RouterStages)
    ) u_router (
      .clk_i        (clk_i),
      .rst_ni       (rst_ni),
      .x_i          (XW'(X)),
      .y_i          (YW'(Y)),
      .routing_i    (routing_i),
      .in_valid_i   (r_in_valid[n]),
      .in_flit_i    (r_in_flit[n]),
      .in_credit_o  (r_in_credit[n]),
      .out_valid_o  (r_out_valid[n]),
      .out_flit_o   (r_out_flit[n]),
      .out_credit_i (r_out_credit[n]),
      .cnt_flits_o  (r_flits),
      .cnt_stalls_o (r_stalls)
    );

    mesh_ni #(
      .K        (K),
      .L        (L),
      .NumVcs   (NumVcs),
      .FlitW    (FlitW),
      .BufDepth (BufDepth),
      .InjDepth (InjDepth)
    ) u_ni (
      .clk_i        (clk_i),
      .rst_ni       (rst_ni),
      .x_i          (XW'(X)),
      .y_i          (YW'(Y)),
      .inj_valid_i  (inj_valid_i[n]),
      .inj_ready_o  (inj_ready_o[n]),
      .inj_data_i   (inj_data_i[n]),
      .ej_valid_o   (ej_valid_o[n]),
      .ej_ready_i   (ej_ready_i[n]),
      .ej_data_o    (ej_data_o[n]),
      .ej_last_o    (ej_last_o[n]),
      .out_valid_o  (r_in_valid[n][0]),
      .out_flit_o   (r_in_flit[n][0]),
      .out_credit_i (r_in_credit[n][0]),
      .in_valid_i   (r_out_valid[n][0]),
      .in_flit_i    (r_out_flit[n][0]),
      .in_credit_o  (r_out_credit[n][0]),
      .cnt_o        (ni_cnt)
    );

    for (genvar c = 0; c < 5; c++) begin : g_cnt
      assign cnt_all[n][c]      = ni_cnt[c];
      assign cnt_all[n][5 + c]  = r_flits[c];
      assign cnt_all[n][10 + c] = r_stalls[c];
    end
    assign cnt_all[n][15] = '0;

    // Input port P of this router is fed by neighbour M's output port Opp.
    for (genvar p = 1; p < NumPorts; p++) begin : g_port
      localparam bit Has = (p == 1) ? (Y > 0) : (p == 2) ? (X < K - 1) :
                           (p == 3) ? (Y < L - 1) : (X > 0);
      localparam int unsigned M = (p == 1) ? n - K : (p == 2) ? n + 1 : (p == 3) ? n + K : n - 1;
      localparam int unsigned Opp = (p + 1) % 4 + 1;  // N<->S, E<->W
      if (Has) begin : g_link
        mesh_link #(
          .LinkW  (LinkW),
          .NumVcs (NumVcs),
          .Stages (LinkStages)
        ) u_link (
          .clk_i        (clk_i),
          .rst_ni       (rst_ni),
          .src_valid_i  (r_out_valid[M][Opp]),
          .src_flit_i   (r_out_flit[M][Opp]),
          .src_credit_o (r_out_credit[M][Opp]),
          .dst_valid_o  (r_in_valid[n][p]),
          .dst_flit_o   (r_in_flit[n][p]),
          .dst_credit_i (r_in_credit[n][p])
        );
      end else begin : g_edge
        logic unused_edge;
        assign r_in_valid[n][p]   = 1'b0;
        assign r_in_flit[n][p]    = '0;
        assign r_out_credit[n][p] = '0;
        assign unused_edge = ^{r_out_valid[n][p], r_out_flit[n][p], r_in_credit[n][p]};
      end
    end
  end

  // A node number past the last node reads zero.
  assign cnt_o = (32'(cnt_node_i) < N) ? cnt_all[cnt_node_i] [cnt_sel_i] : '0;
endmodule
`endif  // MESH_TOP_SV
