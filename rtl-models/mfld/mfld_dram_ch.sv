// mfld_dram_ch - one DRAM pseudo-channel: timing model and the data it holds.
//
// A controller and its DRAM in one: requests (one 32-byte burst each) wait
// in a queue of QDepth; each cycle the channel may issue one row command
// (ACT, PRE or REF, on the row command bus) and one column command (RD or
// WR, on the column bus), as HBM's separate row / column interfaces allow.
//   column: only the oldest request (in order); its bank must hold its row
//           open, tRCD after the ACT, tBurst (= tCCD) after the last CAS;
//           a RD tWTR after the end of the last WR's data (WR + tBurst +
//           tWTR), a WR tRTW after the last RD (bus turnaround).
//   row:    look-ahead over the whole queue: the oldest request whose bank
//           is not already claimed by an older request gets a PRE (another
//           row open; tRAS after its ACT, tRTP after its last RD, tWR after
//           the end of its last WR's data) or an ACT (bank closed; tRP
//           after its PRE, tRFC after a REF; tRRD after the channel's last
//           ACT and at most four ACTs in any tFAW window).  Open-page policy.
//   refresh: all-bank (ref_pb_i = 0): every tREFI a refresh is due: no more
//           ACTs, open banks are precharged, then REF; banks reopen tRFC
//           later.  Per-bank (ref_pb_i = 1, HBM3's REFpb): every tREFIpb one
//           bank, round-robin, is precharged and refreshed; only it waits
//           tRFCpb, the others keep serving.
// A read's data (and a write's acknowledgement) comes out tCL cycles after
// its CAS, in order, without back-pressure.  A write's data lands in the
// array at its WR.  Not modelled: bank groups (tRRD_L, tCCD_L), write
// latency (tCWL: tWR and tWTR count from the end of the WR's burst),
// tRREFD, power-down.  Timings are inputs in cycles (CSRs of the device),
// so they can change between experiments; every one must be >= 1.
// Address of a burst inside the channel: {row, col, bank} (bank lowest, so
// a stream spreads over all banks; see mfld_dram for the channel bit).
// ev_*_o report this cycle's commands (with the banks of the row and the
// column command) for counters and command traces.
`ifndef MFLD_DRAM_CH_SV
`define MFLD_DRAM_CH_SV

module mfld_dram_ch #(
  parameter int unsigned NumBanks = 16,
  parameter int unsigned RowBursts = 32,   // 1 KiB rows of 32-byte bursts
  parameter int unsigned NumRows = 32,     // rows per bank
  parameter int unsigned QDepth = 16,
  parameter int unsigned RespDepth = 32,   // reads in flight (tCL / tBurst + 1 needed)
  parameter int unsigned TagW = 16,
  localparam int unsigned BankW = $clog2(NumBanks),
  localparam int unsigned ColW = $clog2(RowBursts),
  localparam int unsigned RowW = $clog2(NumRows),
  localparam int unsigned Aw = BankW + ColW + RowW,
  localparam int unsigned QW = $clog2(QDepth),
  localparam int unsigned RW = $clog2(RespDepth)
) (
  input  logic            clk_i,
  input  logic            rst_ni,
  // timings, cycles (all >= 1)
  input  logic [7:0]      t_rcd_i,
  input  logic [7:0]      t_cl_i,
  input  logic [7:0]      t_rp_i,
  input  logic [7:0]      t_ras_i,
  input  logic [7:0]      t_burst_i,
  input  logic [11:0]     t_rfc_i,
  input  logic [15:0]     t_refi_i,
  input  logic            ref_en_i,
  input  logic [7:0]      t_rrd_i,
  input  logic [7:0]      t_faw_i,
  input  logic [7:0]      t_wr_i,
  input  logic [7:0]      t_rtp_i,
  input  logic [7:0]      t_wtr_i,
  input  logic [7:0]      t_rtw_i,
  input  logic            ref_pb_i,     // 1: per-bank refresh (REFpb)
  input  logic [11:0]     t_rfcpb_i,
  input  logic [15:0]     t_refipb_i,
  // requests
  input  logic            req_valid_i,
  output logic            req_ready_o,
  input  logic            req_we_i,
  input  logic [Aw-1:0]   req_addr_i,   // burst address in the channel
  input  logic [255:0]    req_wdata_i,
  input  logic [TagW-1:0] req_tag_i,
  // responses (read data, or a write's acknowledgement)
  output logic            resp_valid_o,
  output logic            resp_we_o,
  output logic [TagW-1:0] resp_tag_o,
  output logic [255:0]    resp_rdata_o,
  // events of this cycle's commands, for counters and timelines
  output logic            ev_act_o,
  output logic            ev_pre_o,
  output logic            ev_cas_o,
  output logic            ev_ref_o,
  output logic            ev_wr_o,      // the CAS is a WR
  output logic [$clog2(NumBanks)-1:0] ev_rbank_o,  // bank of the row command
  output logic [$clog2(NumBanks)-1:0] ev_cbank_o   // bank of the CAS
);
  // ---- request queue (index 0 = oldest) ----
  logic            q_valid_q [QDepth];
  logic            q_we_q [QDepth];
  logic [Aw-1:0]   q_addr_q [QDepth];
  logic [255:0]    q_wdata_q [QDepth];
  logic [TagW-1:0] q_tag_q [QDepth];
  logic [QW:0]     q_cnt_q;

  // ---- bank state and wait counters (cycles until a command is allowed) ----
  logic [NumBanks-1:0] open_q;
  logic [RowW-1:0]     row_q [NumBanks];
  logic [11:0]         act_wait_q [NumBanks];
  logic [7:0]          cas_wait_q [NumBanks];
  logic [8:0]          pre_wait_q [NumBanks];
  logic [7:0]          ccd_wait_q;
  logic [15:0]         refi_cnt_q;
  logic                ref_pend_q;
  logic [7:0]          rrd_wait_q;         // until the next ACT (tRRD)
  logic [7:0]          faw_q [4];          // one per ACT of the last tFAW
  logic [8:0]          rd_wait_q;          // until a RD (tWTR)
  logic [7:0]          wr_wait_q;          // until a WR (tRTW)
  logic [BankW-1:0]    ref_bank_q;         // next bank of per-bank refresh

  // ---- response FIFO: {due cycle, we, tag, data} ----
  logic [31:0]     now_q;
  logic [31:0]     rf_due_q [RespDepth];
  logic            rf_we_q [RespDepth];
  logic [TagW-1:0] rf_tag_q [RespDepth];
  logic [255:0]    rf_data_q [RespDepth];
  logic [RW-1:0]   rf_wr_q, rf_rd_q;
  logic [RW:0]     rf_cnt_q;

  logic [255:0] mem_q [NumBanks * RowBursts * NumRows];

  // bank and row of each queued request
  logic [BankW-1:0] q_bank [QDepth];
  logic [RowW-1:0]  q_row [QDepth];
  for (genvar e = 0; e < QDepth; e++) begin : g_q_decode
    assign q_bank[e] = q_addr_q[e][BankW-1:0];
    assign q_row[e] = q_addr_q[e][Aw-1 -: RowW];
  end

  // ---- column command: the oldest request ----
  logic            do_cas;
  logic [BankW-1:0] h_bank;
  assign h_bank = q_bank[0];
  assign do_cas = q_valid_q[0] && open_q[h_bank] && row_q[h_bank] == q_row[0] &&
                  cas_wait_q[h_bank] == '0 && ccd_wait_q == '0 &&
                  (q_we_q[0] ? wr_wait_q == '0 : rd_wait_q == '0) &&
                  rf_cnt_q != (RW+1)'(RespDepth);

  // ---- row command choice ----
  logic            do_act, do_pre, do_ref;
  logic [BankW-1:0] rc_bank;
  logic [RowW-1:0]  rc_row;
  logic            act_ok;    // tRRD and tFAW allow an ACT now
  logic            pb_pend;   // a per-bank refresh of ref_bank_q is due
  always_comb begin
    act_ok = rrd_wait_q == '0 && (faw_q[0] == '0 || faw_q[1] == '0 || faw_q[2] == '0 ||
                                  faw_q[3] == '0);
  end
  assign pb_pend = ref_pend_q && ref_pb_i;
  always_comb begin
    logic [NumBanks-1:0] claimed;
    logic all_closed, all_act_ok;
    claimed = '0;
    do_act = 1'b0;
    do_pre = 1'b0;
    do_ref = 1'b0;
    rc_bank = '0;
    rc_row = '0;
    all_closed = open_q == '0;
    all_act_ok = 1'b1;
    for (int b = 0; b < NumBanks; b++) begin
      if (act_wait_q[b] != '0) all_act_ok = 1'b0;
    end
    if (ref_pend_q && !ref_pb_i) begin
      // close every open bank, then refresh them all
      if (all_closed) begin
        do_ref = all_act_ok;
      end else begin
        for (int b = NumBanks - 1; b >= 0; b--) begin
          if (open_q[b] && pre_wait_q[b] == '0 && !(do_cas && h_bank == BankW'(b))) begin
            do_pre = 1'b1;
            rc_bank = BankW'(b);
          end
        end
      end
    end else begin
      // per-bank refresh: close the bank, then refresh it
      if (pb_pend) begin
        rc_bank = ref_bank_q;
        // (not in the cycle of a CAS to it: tRTP / tWR start there)
        if (open_q[ref_bank_q]) do_pre = pre_wait_q[ref_bank_q] == '0 &&
                                         !(do_cas && h_bank == ref_bank_q);
        else do_ref = act_wait_q[ref_bank_q] == '0;
      end
      for (int e = 0; e < QDepth; e++) begin
        if (q_valid_q[e] && !claimed[q_bank[e]] && !do_act && !do_pre && !do_ref &&
            !(pb_pend && q_bank[e] == ref_bank_q)) begin
          if (!open_q[q_bank[e]] && act_wait_q[q_bank[e]] == '0 && act_ok) begin
            do_act = 1'b1;
            rc_bank = q_bank[e];
            rc_row = q_row[e];
          end else if (open_q[q_bank[e]] && row_q[q_bank[e]] != q_row[e] &&
                       pre_wait_q[q_bank[e]] == '0) begin
            do_pre = 1'b1;
            rc_bank = q_bank[e];
          end
        end
        if (q_valid_q[e]) claimed[q_bank[e]] = 1'b1;
      end
    end
  end

  // ---- queue: pop the head on CAS, push at the tail ----
  logic push;
  assign req_ready_o = q_cnt_q != (QW+1)'(QDepth) || do_cas;
  assign push = req_valid_i && req_ready_o;

  logic            q_valid_d [QDepth];
  logic            q_we_d [QDepth];
  logic [Aw-1:0]   q_addr_d [QDepth];
  logic [255:0]    q_wdata_d [QDepth];
  logic [TagW-1:0] q_tag_d [QDepth];
  logic [QW:0]     q_cnt_d;

  always_comb begin
    q_cnt_d = q_cnt_q;
    for (int e = 0; e < QDepth; e++) begin
      q_valid_d[e] = q_valid_q[e];
      q_we_d[e] = q_we_q[e];
      q_addr_d[e] = q_addr_q[e];
      q_wdata_d[e] = q_wdata_q[e];
      q_tag_d[e] = q_tag_q[e];
    end
    if (do_cas) begin
      for (int e = 0; e < QDepth - 1; e++) begin
        q_valid_d[e] = q_valid_q[e + 1];
        q_we_d[e] = q_we_q[e + 1];
        q_addr_d[e] = q_addr_q[e + 1];
        q_wdata_d[e] = q_wdata_q[e + 1];
        q_tag_d[e] = q_tag_q[e + 1];
      end
      q_valid_d[QDepth - 1] = 1'b0;
      q_cnt_d = q_cnt_d - 1'b1;
    end
    if (push) begin
      q_valid_d[QW'(q_cnt_d)] = 1'b1;
      q_we_d[QW'(q_cnt_d)] = req_we_i;
      q_addr_d[QW'(q_cnt_d)] = req_addr_i;
      q_wdata_d[QW'(q_cnt_d)] = req_wdata_i;
      q_tag_d[QW'(q_cnt_d)] = req_tag_i;
      q_cnt_d = q_cnt_d + 1'b1;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      q_cnt_q <= '0;
      for (int e = 0; e < QDepth; e++) q_valid_q[e] <= 1'b0;
    end else begin
      q_cnt_q <= q_cnt_d;
      for (int e = 0; e < QDepth; e++) q_valid_q[e] <= q_valid_d[e];
    end
  end
  // the payload needs no reset (q_valid_q guards it)
  always_ff @(posedge clk_i) begin
    for (int e = 0; e < QDepth; e++) begin
      q_we_q[e] <= q_we_d[e];
      q_addr_q[e] <= q_addr_d[e];
      q_wdata_q[e] <= q_wdata_d[e];
      q_tag_q[e] <= q_tag_d[e];
    end
  end

  // ---- bank timing ----
  logic [NumBanks-1:0] open_d;
  logic [RowW-1:0]     row_d [NumBanks];
  logic [11:0]         act_wait_d [NumBanks];
  logic [7:0]          cas_wait_d [NumBanks];
  logic [8:0]          pre_wait_d [NumBanks];
  logic [7:0]          ccd_wait_d;
  logic [15:0]         refi_cnt_d;
  logic                ref_pend_d;
  logic [7:0]          rrd_wait_d;
  logic [7:0]          faw_d [4];
  logic [8:0]          rd_wait_d;
  logic [7:0]          wr_wait_d;
  logic [BankW-1:0]    ref_bank_d;
  logic [15:0]         refi_period;
  assign refi_period = ref_pb_i ? t_refipb_i : t_refi_i;

  function automatic logic [7:0] dec8(logic [7:0] v);
    return (v == '0) ? v : v - 8'd1;
  endfunction
  function automatic logic [8:0] dec9(logic [8:0] v);
    return (v == '0) ? v : v - 9'd1;
  endfunction
  function automatic logic [8:0] max9(logic [8:0] a, logic [8:0] b);
    return (a > b) ? a : b;
  endfunction

  always_comb begin
    logic faw_set;
    faw_set = 1'b0;
    open_d = open_q;
    for (int b = 0; b < NumBanks; b++) begin
      row_d[b] = row_q[b];
      act_wait_d[b] = (act_wait_q[b] == '0) ? '0 : act_wait_q[b] - 12'd1;
      cas_wait_d[b] = dec8(cas_wait_q[b]);
      pre_wait_d[b] = dec9(pre_wait_q[b]);
    end
    ccd_wait_d = do_cas ? t_burst_i - 8'd1 : dec8(ccd_wait_q);
    rrd_wait_d = dec8(rrd_wait_q);
    rd_wait_d = dec9(rd_wait_q);
    wr_wait_d = dec8(wr_wait_q);
    for (int i = 0; i < 4; i++) faw_d[i] = dec8(faw_q[i]);
    ref_bank_d = ref_bank_q;
    if (do_act) begin
      open_d[rc_bank] = 1'b1;
      row_d[rc_bank] = rc_row;
      cas_wait_d[rc_bank] = t_rcd_i - 8'd1;
      pre_wait_d[rc_bank] = 9'(t_ras_i) - 9'd1;
      rrd_wait_d = t_rrd_i - 8'd1;
      // the ACT takes a free slot of the four-activate window
      for (int i = 0; i < 4; i++) begin
        if (!faw_set && faw_q[i] == '0) begin
          faw_d[i] = t_faw_i - 8'd1;
          faw_set = 1'b1;
        end
      end
    end
    if (do_cas) begin
      if (q_we_q[0]) begin
        // the write's data ends tBurst after the WR; tWR / tWTR count from there
        pre_wait_d[h_bank] = max9(pre_wait_d[h_bank], 9'(t_burst_i) + 9'(t_wr_i) - 9'd1);
        rd_wait_d = max9(rd_wait_d, 9'(t_burst_i) + 9'(t_wtr_i) - 9'd1);
      end else begin
        pre_wait_d[h_bank] = max9(pre_wait_d[h_bank], 9'(t_rtp_i) - 9'd1);
        wr_wait_d = (wr_wait_d > t_rtw_i - 8'd1) ? wr_wait_d : t_rtw_i - 8'd1;
      end
    end
    if (do_pre) begin
      open_d[rc_bank] = 1'b0;
      act_wait_d[rc_bank] = 12'(t_rp_i) - 12'd1;
    end
    ref_pend_d = ref_pend_q && !do_ref;
    if (do_ref && ref_pb_i) begin
      act_wait_d[rc_bank] = t_rfcpb_i - 12'd1;
      ref_bank_d = ref_bank_q + 1'b1;
    end else if (do_ref) begin
      for (int b = 0; b < NumBanks; b++) act_wait_d[b] = t_rfc_i - 12'd1;
    end
    // the refresh timer runs at a fixed period (no postponing)
    if (!ref_en_i) begin
      refi_cnt_d = '0;
    end else if (refi_cnt_q + 16'd1 >= refi_period) begin
      refi_cnt_d = '0;
      ref_pend_d = 1'b1;
    end else begin
      refi_cnt_d = refi_cnt_q + 16'd1;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      open_q <= '0;
      ccd_wait_q <= '0;
      refi_cnt_q <= '0;
      ref_pend_q <= 1'b0;
      rrd_wait_q <= '0;
      rd_wait_q <= '0;
      wr_wait_q <= '0;
      ref_bank_q <= '0;
      now_q <= '0;
      for (int i = 0; i < 4; i++) faw_q[i] <= '0;
      for (int b = 0; b < NumBanks; b++) begin
        row_q[b] <= '0;
        act_wait_q[b] <= '0;
        cas_wait_q[b] <= '0;
        pre_wait_q[b] <= '0;
      end
    end else begin
      open_q <= open_d;
      ccd_wait_q <= ccd_wait_d;
      refi_cnt_q <= refi_cnt_d;
      ref_pend_q <= ref_pend_d;
      rrd_wait_q <= rrd_wait_d;
      rd_wait_q <= rd_wait_d;
      wr_wait_q <= wr_wait_d;
      ref_bank_q <= ref_bank_d;
      now_q <= now_q + 32'd1;
      for (int i = 0; i < 4; i++) faw_q[i] <= faw_d[i];
      for (int b = 0; b < NumBanks; b++) begin
        row_q[b] <= row_d[b];
        act_wait_q[b] <= act_wait_d[b];
        cas_wait_q[b] <= cas_wait_d[b];
        pre_wait_q[b] <= pre_wait_d[b];
      end
    end
  end

  // ---- data: writes at WR, reads sampled at RD and returned tCL later ----
  always_ff @(posedge clk_i) begin
    if (do_cas && q_we_q[0]) mem_q[q_addr_q[0]] <= q_wdata_q[0];
    if (do_cas) begin
      rf_due_q[rf_wr_q] <= now_q + 32'(t_cl_i);
      rf_we_q[rf_wr_q] <= q_we_q[0];
      rf_tag_q[rf_wr_q] <= q_tag_q[0];
      rf_data_q[rf_wr_q] <= q_we_q[0] ? '0 : mem_q[q_addr_q[0]];
    end
  end

  assign resp_valid_o = rf_cnt_q != '0 && now_q >= rf_due_q[rf_rd_q];
  assign resp_we_o = rf_we_q[rf_rd_q];
  assign resp_tag_o = rf_tag_q[rf_rd_q];
  assign resp_rdata_o = rf_data_q[rf_rd_q];

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      rf_wr_q <= '0;
      rf_rd_q <= '0;
      rf_cnt_q <= '0;
    end else begin
      if (do_cas) rf_wr_q <= rf_wr_q + 1'b1;
      if (resp_valid_o) rf_rd_q <= rf_rd_q + 1'b1;
      rf_cnt_q <= rf_cnt_q + (RW+1)'(do_cas) - (RW+1)'(resp_valid_o);
    end
  end

  assign ev_act_o = do_act;
  assign ev_pre_o = do_pre;
  assign ev_cas_o = do_cas;
  assign ev_ref_o = do_ref;
  assign ev_wr_o = do_cas && q_we_q[0];
  assign ev_rbank_o = rc_bank;
  assign ev_cbank_o = h_bank;
endmodule
`endif  // MFLD_DRAM_CH_SV
