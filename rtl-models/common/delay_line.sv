// delay_line - Stages register stages of Width bits (Stages = 0: a wire).
//
// Models pipeline registers and link latency: data_i in cycle t appears on
// data_o in cycle t + Stages.  Registers reset to zero, so a valid bit
// carried in the data never shows a stale value after reset.
`ifndef DELAY_LINE_SV
`define DELAY_LINE_SV

module delay_line #(
  parameter int unsigned Width = 1,
  parameter int unsigned Stages = 1
) (
  input  logic             clk_i,
  input  logic             rst_ni,
  input  logic [Width-1:0] data_i,
  output logic [Width-1:0] data_o
);
  if (Stages == 0) begin : g_wire
    logic unused_clk_rst;
    assign unused_clk_rst = clk_i ^ rst_ni;
    assign data_o = data_i;
  end else begin : g_regs
    logic [Width-1:0] stage_q [Stages];
    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        for (int unsigned i = 0; i < Stages; i++) stage_q[i] <= '0;
      end else begin
        stage_q[0] <= data_i;
        for (int unsigned i = 1; i < Stages; i++) stage_q[i] <= stage_q[i-1];
      end
    end
    assign data_o = stage_q[Stages-1];
  end
endmodule
`endif  // DELAY_LINE_SV
