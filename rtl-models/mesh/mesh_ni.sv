// mesh_ni - network interface of one mesh endpoint: packetizes messages from
// a valid/ready stream into wormhole packets, and reassembles packets
// arriving from the router into messages on a second stream.
//
// Message stream (both directions), one FlitW-bit beat per cycle:
//   beat 0, the header:  [15:0] length in bytes, [31:16] message id,
//                        [32 +: XW] dst_x, then dst_y (YW), src_x, src_y;
//   beats 1..n: payload, n = ceil(length / (FlitW/8)), little-endian bytes.
// On injection the source fields are ignored and filled in from x_i/y_i; on
// ejection they tell where the message came from and ej_last_o marks its
// final beat.  A packet is the header as head flit plus one body flit per
// payload beat, the last one the tail (a zero-length message is a single
// head-and-tail flit).
//
// Injection: beats go into an InjDepth-flit injection queue; the sender
// takes a packet at a time, puts its head on a router-local VC that has a
// credit (round-robin) and follows it on that VC as credits allow.
// Ejection: one BufDepth-flit buffer per VC (the router holds the credits
// for them); a whole packet is streamed out of one VC buffer before the next
// VC is chosen (round-robin), so messages come out contiguous while packets
// on other VCs keep arriving into their buffers.  ej_valid_o never depends
// on ej_ready_i, nor inj_ready_o on inj_valid_i.
//
// Counters (cnt_o, 32-bit, wrapping): 0 packets injected, 1 flits injected,
// 2 packets ejected, 3 flits ejected, 4 injection stall cycles (a flit
// waiting in the queue with no credit or no free VC).
`ifndef MESH_NI_SV
`define MESH_NI_SV
`include "rtl-models/common/fifo.sv"
`include "rtl-models/common/credit_counter.sv"
`include "rtl-models/common/rr_arbiter.sv"

module mesh_ni #(
  parameter int unsigned K = 4,
  parameter int unsigned L = 4,
  parameter int unsigned NumVcs = 2,
  parameter int unsigned FlitW = 64,
  parameter int unsigned BufDepth = 8,
  parameter int unsigned InjDepth = 4,
  localparam int unsigned XW = (K > 1) ? $clog2(K) : 1,
  localparam int unsigned YW = (L > 1) ? $clog2(L) : 1,
  localparam int unsigned VcW = (NumVcs > 1) ? $clog2(NumVcs) : 1,
  localparam int unsigned LinkW = FlitW + VcW + 2,
  localparam int unsigned NumCnt = 5
) (
  input  logic                         clk_i,
  // The assertions sample rst_ni synchronously (disable iff); flops reset asynchronously.
  /* verilator lint_off SYNCASYNCNET */
  input  logic                         rst_ni,
  /* verilator lint_on SYNCASYNCNET */
  input  logic [XW-1:0]                x_i,
  input  logic [YW-1:0]                y_i,
  input  logic                         inj_valid_i,
  output logic                         inj_ready_o,
  input  logic [FlitW-1:0]             inj_data_i,
  output logic                         ej_valid_o,
  input  logic                         ej_ready_i,
  output logic [FlitW-1:0]             ej_data_o,
  output logic                         ej_last_o,
  output logic                         out_valid_o,
  output logic [LinkW-1:0]             out_flit_o,
  input  logic [NumVcs-1:0]            out_credit_i,
  input  logic                         in_valid_i,
  input  logic [LinkW-1:0]             in_flit_i,
  output logic [NumVcs-1:0]            in_credit_o,
  output logic [NumCnt-1:0][31:0]      cnt_o
);
  localparam int unsigned BufW = FlitW + 2;
  localparam int unsigned ByteW = $clog2(FlitW / 8);
  localparam int unsigned BeatW = 17 - ByteW;
  localparam int unsigned SrcLsb = 32 + XW + YW;

  // ---- packetizer ----------------------------------------------------------
  logic [BeatW-1:0] beats_left_q, beats_left_d, hdr_beats;
  logic             inj_fire, q_push, q_full;
  logic [BufW-1:0]  q_in;

  assign inj_ready_o = !q_full;
  assign inj_fire    = inj_valid_i && inj_ready_o;
  assign hdr_beats   = BeatW'((17'(inj_data_i[15:0]) + 17'(FlitW / 8 - 1)) >> ByteW);

  always_comb begin
    beats_left_d = beats_left_q;
    q_push       = inj_fire;
    q_in         = {1'b0, beats_left_q == BeatW'(1), inj_data_i};
    if (beats_left_q == '0) begin
      q_in = {1'b1, hdr_beats == '0, inj_data_i};
      q_in[SrcLsb +: XW + YW] = {y_i, x_i};
    end
    if (inj_fire) beats_left_d = (beats_left_q == '0) ? hdr_beats : beats_left_q - 1'b1;
  end

  // ---- injection queue and sender ------------------------------------------
  logic             q_valid, q_pop;
  logic [BufW-1:0]  q_front;
  logic [$clog2(InjDepth+1)-1:0] unused_q_count;

  fifo #(.Width(BufW), .Depth(InjDepth)) u_injq (
    .clk_i   (clk_i),
    .rst_ni  (rst_ni),
    .push_i  (q_push),
    .data_i  (q_in),
    .pop_i   (q_pop),
    .valid_o (q_valid),
    .data_o  (q_front),
    .full_o  (q_full),
    .count_o (unused_q_count)
  );

  logic              send_active_q, send_active_d;
  logic [VcW-1:0]    send_vc_q, send_vc_d, pick_vc, vc;
  logic [NumVcs-1:0] cred_avail, cred_take, pick_gnt;
  logic              q_head, q_tail;

  assign q_head = q_front[BufW-1];
  assign q_tail = q_front[BufW-2];

  for (genvar v = 0; v < NumVcs; v++) begin : g_cred
    logic [$clog2(BufDepth+1)-1:0] unused_count;
    credit_counter #(.Depth(BufDepth)) u_cred (
      .clk_i   (clk_i),
      .rst_ni  (rst_ni),
      .take_i  (cred_take[v]),
      .give_i  (out_credit_i[v]),
      .avail_o (cred_avail[v]),
      .count_o (unused_count)
    );
  end

  rr_arbiter #(.N(NumVcs)) u_vc_arb (
    .clk_i     (clk_i),
    .rst_ni    (rst_ni),
    .req_i     ((q_valid && q_head && !send_active_q) ? cred_avail : '0),
    .advance_i (q_pop),
    .gnt_o     (pick_gnt),
    .idx_o     (pick_vc)
  );

  always_comb begin
    vc            = send_active_q ? send_vc_q : pick_vc;
    q_pop         = q_valid && (send_active_q ? cred_avail[send_vc_q] : |pick_gnt);
    cred_take     = '0;
    cred_take[vc] = q_pop;
    send_active_d = q_pop ? !q_tail : send_active_q;
    send_vc_d     = q_pop ? vc : send_vc_q;
  end

  // ---- ejection buffers and reassembly ---------------------------------------
  logic [NumVcs-1:0]            e_valid, e_pop, e_gnt;
  logic [BufW-1:0]              e_front [NumVcs];
  logic                         ej_active_q, ej_active_d, ej_fire, ej_head;
  logic [VcW-1:0]               ej_vc_q, ej_vc_d, e_pick, e_sel;

  for (genvar v = 0; v < NumVcs; v++) begin : g_ej
    logic unused_full;
    logic [$clog2(BufDepth+1)-1:0] unused_count;
    fifo #(.Width(BufW), .Depth(BufDepth)) u_ejq (
      .clk_i   (clk_i),
      .rst_ni  (rst_ni),
      .push_i  (in_valid_i && 32'(in_flit_i[FlitW +: VcW]) == v),
      .data_i  ({in_flit_i[LinkW-1], in_flit_i[LinkW-2], in_flit_i[FlitW-1:0]}),
      .pop_i   (e_pop[v]),
      .valid_o (e_valid[v]),
      .data_o  (e_front[v]),
      .full_o  (unused_full),
      .count_o (unused_count)
    );
  end

  rr_arbiter #(.N(NumVcs)) u_ej_arb (
    .clk_i     (clk_i),
    .rst_ni    (rst_ni),
    .req_i     (ej_active_q ? '0 : e_valid),
    .advance_i (ej_fire && !ej_active_q),
    .gnt_o     (e_gnt),
    .idx_o     (e_pick)
  );

  always_comb begin
    e_sel         = ej_active_q ? ej_vc_q : e_pick;
    ej_valid_o    = ej_active_q ? e_valid[ej_vc_q] : |e_gnt;
    ej_data_o     = e_front[e_sel][FlitW-1:0];
    ej_last_o     = e_front[e_sel][BufW-2];
    ej_head       = e_front[e_sel][BufW-1];
    ej_fire       = ej_valid_o && ej_ready_i;
    e_pop         = '0;
    e_pop[e_sel]  = ej_fire;
    ej_active_d   = ej_fire ? !ej_last_o : ej_active_q;
    ej_vc_d       = ej_fire ? e_sel : ej_vc_q;
  end

  // ---- registers -------------------------------------------------------------
  logic                   out_valid_q;
  logic [LinkW-1:0]       out_flit_q;
  logic [NumVcs-1:0]      in_credit_q;
  logic [NumCnt-1:0][31:0] cnt_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      beats_left_q  <= '0;
      send_active_q <= 1'b0;
      send_vc_q     <= '0;
      ej_active_q   <= 1'b0;
      ej_vc_q       <= '0;
      out_valid_q   <= 1'b0;
      out_flit_q    <= '0;
      in_credit_q   <= '0;
      cnt_q         <= '0;
    end else begin
      beats_left_q  <= beats_left_d;
      send_active_q <= send_active_d;
      send_vc_q     <= send_vc_d;
      ej_active_q   <= ej_active_d;
      ej_vc_q       <= ej_vc_d;
      out_valid_q   <= q_pop;
      out_flit_q    <= {q_head, q_tail, vc, q_front[FlitW-1:0]};
      in_credit_q   <= e_pop;
      cnt_q[0]      <= cnt_q[0] + 32'(q_pop && q_head);
      cnt_q[1]      <= cnt_q[1] + 32'(q_pop);
      cnt_q[2]      <= cnt_q[2] + 32'(ej_fire && ej_last_o);
      cnt_q[3]      <= cnt_q[3] + 32'(ej_fire);
      cnt_q[4]      <= cnt_q[4] + 32'(q_valid && !q_pop);
    end
  end

  assign out_valid_o = out_valid_q;
  assign out_flit_o  = out_flit_q;
  assign in_credit_o = in_credit_q;
  assign cnt_o       = cnt_q;

`ifndef SYNTHESIS
  a_body_first: assert property (@(posedge clk_i) disable iff (!rst_ni)
                                 !(q_valid && !send_active_q && !q_head))
    else $error("mesh_ni (%0d,%0d): body flit without a packet", x_i, y_i);
  a_ej_order: assert property (@(posedge clk_i) disable iff (!rst_ni)
                               !(ej_valid_o && !ej_active_q && !ej_head))
    else $error("mesh_ni (%0d,%0d): ejection VC front is not a head flit", x_i, y_i);
`endif
endmodule
`endif  // MESH_NI_SV
