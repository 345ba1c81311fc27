// mesh_router - one input-buffered virtual-channel wormhole router of the
// System-on-Wafer mesh: five ports (local, north, east, south, west), NumVcs
// virtual channels per input port with BufDepth-flit buffers, credit-based
// flow control on every output VC.
//
// Per cycle, for the flit at the front of each input VC buffer:
//   RC  route computation (a head flit of an unrouted VC): XY, or west-first
//       adaptive (routing_i = 1): west if the destination is west, else among
//       the productive east/north/south ports the one with more free VCs;
//   VA  separable input-first VC allocation: each head picks a free output VC
//       of its port (round-robin per input VC), each output VC grants one
//       requester (round-robin);
//   SA  separable input-first switch allocation: each input port picks one
//       VC that has a flit, an output VC and a downstream credit
//       (round-robin), each output port grants one input port (round-robin);
//   ST  the winner leaves through the crossbar into the output register.
// RC, VA and SA of a flit happen in the cycle it reaches the buffer front, so
// a flit on in_flit_i in cycle t is on out_flit_o in cycle t + Stages at zero
// load: one cycle to be written into the buffer, one to be allocated and
// registered, and Stages - 2 further output register stages (deeper router
// pipelines, retimed to the output).
//
// An output VC is held from its head's VA until its tail leaves; an input VC
// is routed from its head's VA until its tail leaves (wormhole).  Credits
// for freed buffer slots go upstream registered, one cycle after the flit
// left.  Not modelled: speculation, lookahead routing, input speedup.
//
// Per-VC fields are unpacked arrays and cross-VC selections are static
// transposes of one-hot vectors, so the verilated model stays small.
//
// Link flit layout (LinkW bits): {head, tail, vc, data[FlitW-1:0]}; a head
// flit's data holds {src_y, src_x, dst_y, dst_x, msg_id[15:0], len[15:0]}
// from bit 0 up (see mesh_ni).  Port order: 0 local, 1 north (y-1),
// 2 east (x+1), 3 south (y+1), 4 west (x-1).
`ifndef MESH_ROUTER_SV
`define MESH_ROUTER_SV
`include "rtl-models/common/fifo.sv"
`include "rtl-models/common/credit_counter.sv"
`include "rtl-models/common/rr_arbiter.sv"
`include "rtl-models/common/delay_line.sv"

module mesh_router #(
  parameter int unsigned K = 4,
  parameter int unsigned L = 4,
  parameter int unsigned NumVcs = 2,
  parameter int unsigned FlitW = 64,
  parameter int unsigned BufDepth = 8,
  parameter int unsigned Stages = 2,
  localparam int unsigned XW = (K > 1) ? $clog2(K) : 1,
  localparam int unsigned YW = (L > 1) ? $clog2(L) : 1,
  localparam int unsigned VcW = (NumVcs > 1) ? $clog2(NumVcs) : 1,
  localparam int unsigned LinkW = FlitW + VcW + 2,
  localparam int unsigned NumPorts = 5
) (
  input  logic              clk_i,
  // The assertions sample rst_ni synchronously (disable iff); flops reset asynchronously.
  /* verilator lint_off SYNCASYNCNET */
  input  logic              rst_ni,
  /* verilator lint_on SYNCASYNCNET */
  input  logic [XW-1:0]     x_i,
  input  logic [YW-1:0]     y_i,
  input  logic              routing_i,
  input  logic              in_valid_i   [NumPorts],
  input  logic [LinkW-1:0]  in_flit_i    [NumPorts],
  output logic [NumVcs-1:0] in_credit_o  [NumPorts],
  output logic              out_valid_o  [NumPorts],
  output logic [LinkW-1:0]  out_flit_o   [NumPorts],
  input  logic [NumVcs-1:0] out_credit_i [NumPorts],
  output logic [31:0]       cnt_flits_o  [NumPorts],
  output logic [31:0]       cnt_stalls_o [NumPorts]
);
  localparam int unsigned NumIvc = NumPorts * NumVcs;
  localparam int unsigned PortW = 3;
  localparam int unsigned BufW = FlitW + 2;
  localparam int unsigned CredW = $clog2(BufDepth + 1);
  localparam logic [PortW-1:0] PLocal = 3'd0, PNorth = 3'd1, PEast = 3'd2, PSouth = 3'd3,
                               PWest = 3'd4;

  // Registered so that no router logic hangs off a top-level input.
  logic routing_q;

  // ---- per input VC: buffer, route, VC request ------------------------------
  logic [NumIvc-1:0]   buf_valid, buf_head, buf_tail, deq;
  logic [BufW-1:0]     front [NumIvc];
  logic [NumIvc-1:0]   ivc_active_q, va_req, va_gnt, sa_req, tail_out;
  logic [PortW-1:0]    ivc_port_q [NumIvc];
  logic [VcW-1:0]      ivc_ovc_q  [NumIvc];
  logic [PortW-1:0]    rc_port    [NumIvc];
  logic [PortW-1:0]    cur_port   [NumIvc];
  logic [VcW-1:0]      cur_ovc    [NumIvc];
  logic [VcW-1:0]      va_in_vc   [NumIvc];
  logic [NumIvc-1:0]   va_want    [NumIvc];  // [input VC] one-hot output VC wanted
  logic [NumPorts-1:0] cur_oh     [NumIvc];  // [input VC] one-hot port of a waiting flit

  // ---- per output port / VC ---------------------------------------------------
  logic [NumVcs-1:0]   ovc_busy_q [NumPorts];
  logic [NumVcs-1:0]   ovc_avail  [NumPorts];
  logic [NumVcs-1:0]   ovc_take   [NumPorts];
  logic [NumVcs-1:0]   ovc_free   [NumPorts];
  logic [NumIvc-1:0]   va_out_gnt [NumIvc];  // [output VC] one-hot input VC granted
  logic [$clog2(NumVcs+1)-1:0] free_vcs [NumPorts];

  for (genvar o = 0; o < NumPorts; o++) begin : g_free
    always_comb begin
      free_vcs[o] = '0;
      for (int unsigned w = 0; w < NumVcs; w++)
        free_vcs[o] += {{($clog2(NumVcs+1)-1){1'b0}}, !ovc_busy_q[o][w]};
    end
  end

  for (genvar i = 0; i < NumIvc; i++) begin : g_ivc
    localparam int unsigned P = i / NumVcs;
    localparam int unsigned V = i % NumVcs;
    logic unused_full;
    logic [CredW-1:0] unused_count;
    logic [XW-1:0] dx;
    logic [YW-1:0] dy;
    logic [PortW-1:0] yport;
    logic [NumVcs-1:0] free_mask, va_in_gnt;

    fifo #(.Width(BufW), .Depth(BufDepth)) u_buf (
      .clk_i   (clk_i),
      .rst_ni  (rst_ni),
      .push_i  (in_valid_i[P] && (32'(in_flit_i[P][FlitW +: VcW]) == V)),
      .data_i  ({in_flit_i[P][LinkW-1], in_flit_i[P][LinkW-2], in_flit_i[P][FlitW-1:0]}),
      .pop_i   (deq[i]),
      .valid_o (buf_valid[i]),
      .data_o  (front[i]),
      .full_o  (unused_full),
      .count_o (unused_count)
    );
    assign buf_head[i] = front[i][BufW-1];
    assign buf_tail[i] = front[i][BufW-2];

    // RC.  West-first: once no west hop is left, east and the y direction
    // are both productive; take the port with more free output VCs.
    assign dx = front[i][32 +: XW];
    assign dy = front[i][32+XW +: YW];
    assign yport = (dy > y_i) ? PSouth : (dy < y_i) ? PNorth : PLocal;
    always_comb begin
      if (dx < x_i)       rc_port[i] = PWest;
      else if (dx == x_i) rc_port[i] = yport;
      else if (!routing_q || yport == PLocal) rc_port[i] = PEast;
      else rc_port[i] = (free_vcs[yport] > free_vcs[PEast]) ? yport : PEast;
    end

    // VA input stage: a free VC of the routed port, round-robin.
    assign va_req[i] = buf_valid[i] && buf_head[i] && !ivc_active_q[i];
    assign free_mask = va_req[i] ? ~ovc_busy_q[rc_port[i]] : '0;
    rr_arbiter #(.N(NumVcs)) u_va_arb (
      .clk_i     (clk_i),
      .rst_ni    (rst_ni),
      .req_i     (free_mask),
      .advance_i (va_gnt[i]),
      .gnt_o     (va_in_gnt),
      .idx_o     (va_in_vc[i])
    );
    assign va_want[i] = (va_in_gnt != '0) ? (NumIvc'(1) << (32'(rc_port[i]) * NumVcs + 32'(va_in_vc[i])))
                                          : '0;
    always_comb begin
      va_gnt[i] = 1'b0;
      for (int unsigned j = 0; j < NumIvc; j++) va_gnt[i] |= va_out_gnt[j][i];
    end

    // SA request: routed (or routed this cycle) and a credit downstream.
    assign cur_port[i] = ivc_active_q[i] ? ivc_port_q[i] : rc_port[i];
    assign cur_ovc[i]  = ivc_active_q[i] ? ivc_ovc_q[i] : va_in_vc[i];
    assign sa_req[i]   = buf_valid[i] && (ivc_active_q[i] || va_gnt[i]) &&
                         ovc_avail[cur_port[i]][cur_ovc[i]];
    assign cur_oh[i]   = buf_valid[i] ? (NumPorts'(1) << cur_port[i]) : '0;
    assign tail_out[i] = deq[i] && buf_tail[i];

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        ivc_active_q[i] <= 1'b0;
        ivc_port_q[i]   <= '0;
        ivc_ovc_q[i]    <= '0;
      end else begin
        ivc_active_q[i] <= (ivc_active_q[i] || va_gnt[i]) && !tail_out[i];
        if (va_gnt[i]) begin
          ivc_port_q[i] <= rc_port[i];
          ivc_ovc_q[i]  <= va_in_vc[i];
        end
      end
    end
  end

  // ---- VA output stage: each output VC grants one requester, round-robin ------
  for (genvar j = 0; j < NumIvc; j++) begin : g_ovc
    localparam int unsigned O = j / NumVcs;
    localparam int unsigned W = j % NumVcs;
    logic [NumIvc-1:0] req;
    logic [$clog2(NumIvc)-1:0] unused_idx;
    logic [CredW-1:0] unused_cred;

    always_comb begin
      for (int unsigned i = 0; i < NumIvc; i++) req[i] = va_want[i][j];
    end
    rr_arbiter #(.N(NumIvc)) u_arb (
      .clk_i     (clk_i),
      .rst_ni    (rst_ni),
      .req_i     (req),
      .advance_i (1'b1),
      .gnt_o     (va_out_gnt[j]),
      .idx_o     (unused_idx)
    );
    credit_counter #(.Depth(BufDepth)) u_cred (
      .clk_i   (clk_i),
      .rst_ni  (rst_ni),
      .take_i  (ovc_take[O][W]),
      .give_i  (out_credit_i[O][W]),
      .avail_o (ovc_avail[O][W]),
      .count_o (unused_cred)
    );
    // Held from its head's VA until its tail leaves.
    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) ovc_busy_q[O][W] <= 1'b0;
      else         ovc_busy_q[O][W] <= (ovc_busy_q[O][W] || va_out_gnt[j] != '0) && !ovc_free[O][W];
    end
  end

  // ---- SA: each input port picks a VC, each output port an input port ---------
  logic [NumVcs-1:0]   sa_in_gnt  [NumPorts];
  logic [VcW-1:0]      sa_in_vc   [NumPorts];
  logic [NumPorts-1:0] sa_want    [NumPorts];  // [input port] one-hot output wanted
  logic [NumPorts-1:0] sa_out_gnt [NumPorts];  // [output] one-hot input port granted
  logic [PortW-1:0]    sa_out_idx [NumPorts];
  logic [NumPorts-1:0] sa_win;

  for (genvar p = 0; p < NumPorts; p++) begin : g_sa_in
    rr_arbiter #(.N(NumVcs)) u_arb (
      .clk_i     (clk_i),
      .rst_ni    (rst_ni),
      .req_i     (sa_req[p*NumVcs +: NumVcs]),
      .advance_i (sa_win[p]),
      .gnt_o     (sa_in_gnt[p]),
      .idx_o     (sa_in_vc[p])
    );
    assign sa_want[p] = (sa_in_gnt[p] != '0) ? (NumPorts'(1) << cur_port[p*NumVcs + 32'(sa_in_vc[p])])
                                             : '0;
    always_comb begin
      sa_win[p] = 1'b0;
      for (int unsigned o = 0; o < NumPorts; o++) sa_win[p] |= sa_out_gnt[o][p];
    end
    for (genvar v = 0; v < NumVcs; v++) begin : g_deq
      assign deq[p*NumVcs+v] = sa_win[p] && sa_in_gnt[p][v];
    end
  end

  // ---- ST: the winner of each output port into its output register ------------
  logic              out_valid_q [NumPorts];
  logic [LinkW-1:0]  out_flit_q  [NumPorts];
  logic [31:0]       cnt_flits_q [NumPorts], cnt_stalls_q [NumPorts];

  for (genvar o = 0; o < NumPorts; o++) begin : g_out
    logic [NumPorts-1:0] req;
    logic [$clog2(NumIvc)-1:0] win;
    logic                want, st_valid;

    always_comb begin
      for (int unsigned p = 0; p < NumPorts; p++) req[p] = sa_want[p][o];
      want = 1'b0;
      for (int unsigned i = 0; i < NumIvc; i++) want |= cur_oh[i][o];
    end
    rr_arbiter #(.N(NumPorts)) u_arb (
      .clk_i     (clk_i),
      .rst_ni    (rst_ni),
      .req_i     (req),
      .advance_i (1'b1),
      .gnt_o     (sa_out_gnt[o]),
      .idx_o     (sa_out_idx[o])
    );
    assign st_valid = (sa_out_gnt[o] != '0);
    assign win = $clog2(NumIvc)'(32'(sa_out_idx[o]) * NumVcs + 32'(sa_in_vc[sa_out_idx[o]]));
    assign ovc_take[o] = st_valid ? (NumVcs'(1) << cur_ovc[win]) : '0;
    assign ovc_free[o] = (st_valid && front[win][BufW-2]) ? (NumVcs'(1) << cur_ovc[win]) : '0;

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        out_valid_q[o]  <= 1'b0;
        out_flit_q[o]   <= '0;
        in_credit_o[o]  <= '0;
        cnt_flits_q[o]  <= '0;
        cnt_stalls_q[o] <= '0;
      end else begin
        out_valid_q[o]  <= st_valid;
        out_flit_q[o]   <= {front[win][BufW-1:BufW-2], cur_ovc[win], front[win][FlitW-1:0]};
        in_credit_o[o]  <= deq[o*NumVcs +: NumVcs];
        cnt_flits_q[o]  <= cnt_flits_q[o] + 32'(st_valid);
        cnt_stalls_q[o] <= cnt_stalls_q[o] + 32'(want && !st_valid);
      end
    end

    delay_line #(.Width(LinkW + 1), .Stages(Stages - 2)) u_pipe (
      .clk_i  (clk_i),
      .rst_ni (rst_ni),
      .data_i ({out_valid_q[o], out_flit_q[o]}),
      .data_o ({out_valid_o[o], out_flit_o[o]})
    );
    assign cnt_flits_o[o]  = cnt_flits_q[o];
    assign cnt_stalls_o[o] = cnt_stalls_q[o];
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) routing_q <= 1'b0;
    else         routing_q <= routing_i;
  end

  logic unused_bits;
  assign unused_bits = ^{front[0][FlitW-1:32+XW+YW], front[0][31:0], buf_tail};

`ifndef SYNTHESIS
  for (genvar i = 0; i < NumIvc; i++) begin : g_assert
    a_body_unrouted: assert property (@(posedge clk_i) disable iff (!rst_ni)
                                      !(buf_valid[i] && !ivc_active_q[i] && !buf_head[i]))
      else $error("mesh_router (%0d,%0d): body flit at the front of unrouted VC %0d", x_i, y_i, i);
  end
`endif
  if (Stages < 2) begin : g_bad_stages
    $error("mesh_router: Stages must be >= 2");
  end
  if (FlitW < 32 + 2 * (XW + YW) || FlitW % 32 != 0) begin : g_bad_flitw
    $error("mesh_router: FlitW must be a multiple of 32 holding a head flit");
  end
endmodule
`endif  // MESH_ROUTER_SV
