// Declarations of the x87 (ops_x87*.cc), MMX/SSE/SSE2 (ops_sse*.cc) and
// FXSAVE/MXCSR handlers; decoder_tables.cc places them in the opcode maps.
//
//   ExecStatus st = OpSseMovUps(cpu, insn);  // 0F 10 with any prefix
#ifndef SKIFF_TCG_OPS_SIMD_H_
#define SKIFF_TCG_OPS_SIMD_H_

#include "tcg/cpu.h"

namespace skiff::tcg {

#define SKIFF_TCG_OP(name) ExecStatus name(Cpu& c, const Insn& i)

// ops_sse.cc: moves, FXSAVE/FXRSTOR, LDMXCSR/STMXCSR.
SKIFF_TCG_OP(OpSseMovLoad);     // 0F 10 28 6F: MOVUPS/UPD/SS/SD/APS/APD/DQA/DQU
SKIFF_TCG_OP(OpSseMovStore);    // 0F 11 29 7F 2B E7: stores, MOVNT*
SKIFF_TCG_OP(OpSseMovLowHigh);  // 0F 12 13 16 17: MOVLPS/HPS/LPD/HPD/HLPS/LHPS
SKIFF_TCG_OP(OpSseMovd);        // 0F 6E 7E D6: MOVD/MOVQ forms
SKIFF_TCG_OP(OpSseMovmsk);      // 0F 50: MOVMSKPS/PD
SKIFF_TCG_OP(OpMovnti);         // 0F C3
SKIFF_TCG_OP(OpGrp15Simd);  // 0F AE: FXSAVE FXRSTOR LDMXCSR STMXCSR + fences

// ops_sse_fp.cc: floating-point arithmetic, compares, conversions.
SKIFF_TCG_OP(OpSseArith);    // 0F 51-53 58-5F: SQRT RSQRT RCP ADD MUL SUB ...
SKIFF_TCG_OP(OpSseLogic);    // 0F 54-57: ANDPS ANDNPS ORPS XORPS (+PD)
SKIFF_TCG_OP(OpSseCmp);      // 0F C2: CMPPS/PD/SS/SD
SKIFF_TCG_OP(OpSseComi);     // 0F 2E 2F: (U)COMISS/SD
SKIFF_TCG_OP(OpSseCvtSi2F);  // 0F 2A: CVTSI2SS/SD, CVTPI2PS/PD
SKIFF_TCG_OP(OpSseCvtF2Si);  // 0F 2C 2D: CVT(T)SS2SI/SD2SI, CVT(T)PS2PI/PD2PI
SKIFF_TCG_OP(OpSseCvtF2F);   // 0F 5A: CVTPS2PD CVTPD2PS CVTSS2SD CVTSD2SS
SKIFF_TCG_OP(OpSseCvtDq);    // 0F 5B E6: CVTDQ2PS CVT(T)PS2DQ CVTDQ2PD ...
SKIFF_TCG_OP(OpSseShuf);     // 0F C6: SHUFPS/PD
SKIFF_TCG_OP(OpSseUnpck);    // 0F 14 15: UNPCKLPS/HPS/LPD/HPD

// ops_sse_int.cc: packed integer (MMX and SSE2 forms).
SKIFF_TCG_OP(OpPackedInt);  // 0F 60-6D 74-76 D1-FE (not D6 D7 E6 E7 F7)
SKIFF_TCG_OP(OpPshuf);      // 0F 70: PSHUFW/PSHUFD/PSHUFHW/PSHUFLW
SKIFF_TCG_OP(OpPshiftImm);  // 0F 71 72 73: shift groups by imm8
SKIFF_TCG_OP(OpPmovmskb);   // 0F D7
SKIFF_TCG_OP(OpPinsrw);     // 0F C4
SKIFF_TCG_OP(OpPextrw);     // 0F C5
SKIFF_TCG_OP(OpMovqMmx);    // 0F 6F 7F without prefix: MOVQ mm forms
SKIFF_TCG_OP(OpEmms);       // 0F 77
SKIFF_TCG_OP(OpMaskmov);    // 0F F7: MASKMOVQ / MASKMOVDQU

// ops_x87.cc / ops_x87_arith.cc: the x87 escape opcodes D8-DF, FWAIT.
SKIFF_TCG_OP(OpX87);    // D8-DF
SKIFF_TCG_OP(OpFwait);  // 9B

#undef SKIFF_TCG_OP

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_OPS_SIMD_H_
