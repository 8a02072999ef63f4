// Declarations of every instruction handler, grouped by the ops_*.cc file
// that defines it. decoder_tables.cc places them in the opcode maps.
//
//   ExecStatus st = OpAluRmR(cpu, insn);
#ifndef SKIFF_TCG_OPS_H_
#define SKIFF_TCG_OPS_H_

#include "tcg/cpu.h"

namespace skiff::tcg {

#define SKIFF_TCG_OP(name) ExecStatus name(Cpu& c, const Insn& i)

// ops_arith.cc: ADD..CMP, INC/DEC, NEG/NOT, MUL/IMUL/DIV/IDIV, CBW..CQO.
SKIFF_TCG_OP(OpAluRmR);      // 00 01 08 09 ... (rm op= reg)
SKIFF_TCG_OP(OpAluRRm);      // 02 03 ...      (reg op= rm)
SKIFF_TCG_OP(OpAluAccImm);   // 04 05 ...
SKIFF_TCG_OP(OpGrp1);        // 80 81 83
SKIFF_TCG_OP(OpIncDecReg);   // 40-4f outside 64-bit mode
SKIFF_TCG_OP(OpGrp3);        // F6 F7: TEST NOT NEG MUL IMUL DIV IDIV
SKIFF_TCG_OP(OpGrp4);        // FE: INC/DEC rm8
SKIFF_TCG_OP(OpImul2);       // 0F AF
SKIFF_TCG_OP(OpImul3);       // 69 6B
SKIFF_TCG_OP(OpCbw);         // 98
SKIFF_TCG_OP(OpCwd);         // 99
SKIFF_TCG_OP(OpTestRmR);     // 84 85
SKIFF_TCG_OP(OpTestAccImm);  // A8 A9
SKIFF_TCG_OP(OpXadd);        // 0F C0 C1
SKIFF_TCG_OP(OpCmpxchg);     // 0F B0 B1
SKIFF_TCG_OP(OpGrp9);        // 0F C7: CMPXCHG8B/16B, RDRAND, RDSEED

// ops_shift.cc: shifts, rotates, SHLD/SHRD, bit tests and scans.
SKIFF_TCG_OP(OpGrp2);    // C0 C1 D0-D3
SKIFF_TCG_OP(OpShld);    // 0F A4 A5
SKIFF_TCG_OP(OpShrd);    // 0F AC AD
SKIFF_TCG_OP(OpBt);      // 0F A3 AB B3 BB (BT BTS BTR BTC by register)
SKIFF_TCG_OP(OpGrp8);    // 0F BA (by immediate)
SKIFF_TCG_OP(OpBsf);     // 0F BC (TZCNT with F3)
SKIFF_TCG_OP(OpBsr);     // 0F BD (LZCNT with F3)
SKIFF_TCG_OP(OpPopcnt);  // F3 0F B8
SKIFF_TCG_OP(OpBswap);   // 0F C8-CF

// ops_mov.cc: data movement and the stack.
SKIFF_TCG_OP(OpMovRmR);      // 88 89
SKIFF_TCG_OP(OpMovRRm);      // 8A 8B
SKIFF_TCG_OP(OpMovRmImm);    // C6 C7
SKIFF_TCG_OP(OpMovRegImm);   // B0-BF
SKIFF_TCG_OP(OpMovMoffs);    // A0-A3
SKIFF_TCG_OP(OpMovzx);       // 0F B6 B7
SKIFF_TCG_OP(OpMovsx);       // 0F BE BF
SKIFF_TCG_OP(OpMovsxd);      // 63
SKIFF_TCG_OP(OpLea);         // 8D
SKIFF_TCG_OP(OpXchgRmR);     // 86 87
SKIFF_TCG_OP(OpXchgAccReg);  // 90-97 (90: NOP, F3 90: PAUSE)
SKIFF_TCG_OP(OpPushReg);     // 50-57
SKIFF_TCG_OP(OpPopReg);      // 58-5F
SKIFF_TCG_OP(OpPushImm);     // 68 6A
SKIFF_TCG_OP(OpPopRm);       // 8F
SKIFF_TCG_OP(OpCmov);        // 0F 40-4F
SKIFF_TCG_OP(OpSetcc);       // 0F 90-9F
SKIFF_TCG_OP(OpEnter);       // C8
SKIFF_TCG_OP(OpLeave);       // C9
SKIFF_TCG_OP(OpPushf);       // 9C
SKIFF_TCG_OP(OpPopf);        // 9D
SKIFF_TCG_OP(OpSahf);        // 9E
SKIFF_TCG_OP(OpLahf);        // 9F
SKIFF_TCG_OP(OpXlat);        // D7
SKIFF_TCG_OP(OpNop);         // 0F 1F, 0F 18-1E hints, fences
SKIFF_TCG_OP(OpFlagOp);      // F5 F8-FD: CMC CLC STC CLI STI CLD STD
SKIFF_TCG_OP(OpPusha);       // 60 (not in 64-bit mode)
SKIFF_TCG_OP(OpPopa);        // 61 (not in 64-bit mode)

// ops_control.cc: branches, calls, LOOP, Jcc.
SKIFF_TCG_OP(OpJcc);      // 70-7F, 0F 80-8F
SKIFF_TCG_OP(OpJmpRel);   // E9 EB
SKIFF_TCG_OP(OpCallRel);  // E8
SKIFF_TCG_OP(OpRet);      // C2 C3
SKIFF_TCG_OP(OpLoop);     // E0-E3
SKIFF_TCG_OP(OpGrp5);     // FF: INC DEC CALL CALLF JMP JMPF PUSH
SKIFF_TCG_OP(OpJmpFar);   // EA
SKIFF_TCG_OP(OpCallFar);  // 9A
SKIFF_TCG_OP(OpRetFar);   // CA CB

// ops_string.cc: MOVS STOS LODS CMPS SCAS INS OUTS with REP.
SKIFF_TCG_OP(OpMovs);
SKIFF_TCG_OP(OpStos);
SKIFF_TCG_OP(OpLods);
SKIFF_TCG_OP(OpCmps);
SKIFF_TCG_OP(OpScas);
SKIFF_TCG_OP(OpIns);
SKIFF_TCG_OP(OpOuts);

// ops_system.cc: privileged and system instructions.
SKIFF_TCG_OP(OpHlt);
SKIFF_TCG_OP(OpIn);   // E4 E5 EC ED
SKIFF_TCG_OP(OpOut);  // E6 E7 EE EF
SKIFF_TCG_OP(OpCpuid);
SKIFF_TCG_OP(OpRdtsc);
SKIFF_TCG_OP(OpRdmsr);
SKIFF_TCG_OP(OpWrmsr);
SKIFF_TCG_OP(OpMovCr);  // 0F 20 22
SKIFF_TCG_OP(OpMovDr);  // 0F 21 23
SKIFF_TCG_OP(OpClts);
SKIFF_TCG_OP(OpGrp6);      // 0F 00: SLDT STR LLDT LTR VERR VERW
SKIFF_TCG_OP(OpGrp7);      // 0F 01: SGDT SIDT LGDT LIDT SMSW LMSW INVLPG...
SKIFF_TCG_OP(OpGrp15);     // 0F AE: fences, CLFLUSH; FXSAVE etc. #UD
SKIFF_TCG_OP(OpWbinvd);    // 0F 08 09
SKIFF_TCG_OP(OpMovSegRm);  // 8E
SKIFF_TCG_OP(OpMovRmSeg);  // 8C
SKIFF_TCG_OP(OpPushSeg);   // 06 0E 16 1E 0F A0 0F A8
SKIFF_TCG_OP(OpPopSeg);    // 07 17 1F 0F A1 0F A9

// interrupts.cc: software interrupts, IRET, SYSCALL/SYSRET.
SKIFF_TCG_OP(OpInt);      // CD
SKIFF_TCG_OP(OpInt3);     // CC
SKIFF_TCG_OP(OpInt1);     // F1
SKIFF_TCG_OP(OpIret);     // CF
SKIFF_TCG_OP(OpSyscall);  // 0F 05
SKIFF_TCG_OP(OpSysret);   // 0F 07

#undef SKIFF_TCG_OP

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_OPS_H_
