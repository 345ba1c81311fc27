// mfld_pkg - constants shared by the logic die's modules and its C API
// (include/loom/rtl_mfld.h repeats the values visible to software).
`ifndef MFLD_PKG_SV
`define MFLD_PKG_SV

package mfld_pkg;
  // engine selector of mfld_engines (op_i)
  typedef enum logic [2:0] {
    EngCombine = 3'd0,
    EngQuant   = 3'd1,
    EngDequant = 3'd2,
    EngLfEnc   = 3'd3,
    EngLfDec   = 3'd4,
    EngGather  = 3'd5,
    EngScatter = 3'd6
  } eng_op_e;

  // a descriptor's opcode byte names an engine
  function automatic logic eng_op_known(logic [7:0] op);
    return op <= 8'(EngScatter);
  endfunction
endpackage
`endif  // MFLD_PKG_SV
