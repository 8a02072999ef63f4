// The opcode maps (Intel SDM vol. 2, appendix A). Empty entries raise #UD.
// x87 (D8-DF) and MMX/SSE/SSE2 (0F 10-17, 28-2F, 50-7F, C2-C6, D1-FE) point
// at handlers declared in ops_simd.h; 0F38 and 0F3A (SSSE3+) are empty.
#include "tcg/decoder.h"
#include "tcg/ops.h"
#include "tcg/ops_simd.h"

namespace skiff::tcg {
namespace {

constexpr uint16_t M = kOpModrm;
constexpr uint16_t B = kOpByte;
constexpr uint16_t L = kOpLockable;

constexpr OpTable BuildOneByte() {
  OpTable t{};
  auto set = [&t](int op, Handler fn, uint16_t flags) { t[op] = {fn, flags}; };
  for (int alu = 0; alu < 8; ++alu) {
    const int base = alu * 8;
    const uint16_t lk = alu == 7 ? 0 : L;  // CMP cannot be locked
    set(base + 0, OpAluRmR, M | B | lk);
    set(base + 1, OpAluRmR, M | lk);
    set(base + 2, OpAluRRm, M | B);
    set(base + 3, OpAluRRm, M);
    set(base + 4, OpAluAccImm, B | kOpImm8);
    set(base + 5, OpAluAccImm, kOpImmZ);
  }
  set(0x06, OpPushSeg, kOpNo64);
  set(0x07, OpPopSeg, kOpNo64);
  set(0x0e, OpPushSeg, kOpNo64);
  set(0x16, OpPushSeg, kOpNo64);
  set(0x17, OpPopSeg, kOpNo64);
  set(0x1e, OpPushSeg, kOpNo64);
  set(0x1f, OpPopSeg, kOpNo64);
  for (int r = 0; r < 16; ++r) set(0x40 + r, OpIncDecReg, 0);
  for (int r = 0; r < 8; ++r) {
    set(0x50 + r, OpPushReg, kOpDef64);
    set(0x58 + r, OpPopReg, kOpDef64);
    set(0x90 + r, OpXchgAccReg, 0);
    set(0xb0 + r, OpMovRegImm, B | kOpImm8);
    set(0xb8 + r, OpMovRegImm, kOpImmV);
  }
  set(0x60, OpPusha, kOpNo64);
  set(0x61, OpPopa, kOpNo64);
  set(0x63, OpMovsxd, M);
  set(0x68, OpPushImm, kOpDef64 | kOpImmZ);
  set(0x69, OpImul3, M | kOpImmZ);
  set(0x6a, OpPushImm, kOpDef64 | kOpImm8);
  set(0x6b, OpImul3, M | kOpImm8);
  set(0x6c, OpIns, B);
  set(0x6d, OpIns, 0);
  set(0x6e, OpOuts, B);
  set(0x6f, OpOuts, 0);
  for (int cc = 0; cc < 16; ++cc) set(0x70 + cc, OpJcc, kOpForce64 | kOpImm8);
  set(0x80, OpGrp1, M | B | kOpImm8 | L);
  set(0x81, OpGrp1, M | kOpImmZ | L);
  set(0x82, OpGrp1, M | B | kOpImm8 | L | kOpNo64);
  set(0x83, OpGrp1, M | kOpImm8 | L);
  set(0x84, OpTestRmR, M | B);
  set(0x85, OpTestRmR, M);
  set(0x86, OpXchgRmR, M | B | L);
  set(0x87, OpXchgRmR, M | L);
  set(0x88, OpMovRmR, M | B);
  set(0x89, OpMovRmR, M);
  set(0x8a, OpMovRRm, M | B);
  set(0x8b, OpMovRRm, M);
  set(0x8c, OpMovRmSeg, M);
  set(0x8d, OpLea, M);
  set(0x8e, OpMovSegRm, M);
  set(0x8f, OpPopRm, M | kOpDef64);
  set(0x98, OpCbw, 0);
  set(0x99, OpCwd, 0);
  set(0x9a, OpCallFar, kOpFar | kOpNo64);
  set(0x9c, OpPushf, kOpDef64);
  set(0x9d, OpPopf, kOpDef64);
  set(0x9e, OpSahf, 0);
  set(0x9f, OpLahf, 0);
  set(0xa0, OpMovMoffs, B | kOpMoffs);
  set(0xa1, OpMovMoffs, kOpMoffs);
  set(0xa2, OpMovMoffs, B | kOpMoffs);
  set(0xa3, OpMovMoffs, kOpMoffs);
  set(0xa4, OpMovs, B);
  set(0xa5, OpMovs, 0);
  set(0xa6, OpCmps, B);
  set(0xa7, OpCmps, 0);
  set(0xa8, OpTestAccImm, B | kOpImm8);
  set(0xa9, OpTestAccImm, kOpImmZ);
  set(0xaa, OpStos, B);
  set(0xab, OpStos, 0);
  set(0xac, OpLods, B);
  set(0xad, OpLods, 0);
  set(0xae, OpScas, B);
  set(0xaf, OpScas, 0);
  set(0xc0, OpGrp2, M | B | kOpImm8);
  set(0xc1, OpGrp2, M | kOpImm8);
  set(0xc2, OpRet, kOpForce64 | kOpImm16);
  set(0xc3, OpRet, kOpForce64);
  set(0xc6, OpMovRmImm, M | B | kOpImm8);
  set(0xc7, OpMovRmImm, M | kOpImmZ);
  set(0xc8, OpEnter, kOpDef64 | kOpEnter);
  set(0xc9, OpLeave, kOpDef64);
  set(0xca, OpRetFar, kOpImm16);
  set(0xcb, OpRetFar, 0);
  set(0xcc, OpInt3, 0);
  set(0xcd, OpInt, kOpImm8);
  set(0xcf, OpIret, 0);
  set(0xd0, OpGrp2, M | B);
  set(0xd1, OpGrp2, M);
  set(0xd2, OpGrp2, M | B);
  set(0xd3, OpGrp2, M);
  set(0xd7, OpXlat, 0);
  for (int op = 0xe0; op <= 0xe3; ++op) set(op, OpLoop, kOpForce64 | kOpImm8);
  set(0xe4, OpIn, B | kOpImm8);
  set(0xe5, OpIn, kOpImm8);
  set(0xe6, OpOut, B | kOpImm8);
  set(0xe7, OpOut, kOpImm8);
  set(0xe8, OpCallRel, kOpForce64 | kOpImmZ);
  set(0xe9, OpJmpRel, kOpForce64 | kOpImmZ);
  set(0xea, OpJmpFar, kOpFar | kOpNo64);
  set(0xeb, OpJmpRel, kOpForce64 | kOpImm8);
  set(0xec, OpIn, B);
  set(0xed, OpIn, 0);
  set(0xee, OpOut, B);
  set(0xef, OpOut, 0);
  set(0xf1, OpInt1, 0);
  set(0xf4, OpHlt, 0);
  set(0xf5, OpFlagOp, 0);
  set(0xf6, OpGrp3, M | B | kOpGroup3 | L);
  set(0xf7, OpGrp3, M | kOpGroup3 | L);
  for (int op = 0xf8; op <= 0xfd; ++op) set(op, OpFlagOp, 0);
  set(0xfe, OpGrp4, M | B | L);
  for (int op = 0xd8; op <= 0xdf; ++op) set(op, OpX87, M);  // ops_x87.cc
  set(0x9b, OpFwait, 0);
  set(0xff, OpGrp5, M | kOpGroup5 | L);
  return t;
}

constexpr OpTable BuildTwoByte() {
  OpTable t{};
  auto set = [&t](int op, Handler fn, uint16_t flags) { t[op] = {fn, flags}; };
  set(0x00, OpGrp6, M);
  set(0x01, OpGrp7, M);
  set(0x05, OpSyscall, 0);
  set(0x06, OpClts, 0);
  set(0x07, OpSysret, 0);
  set(0x08, OpWbinvd, 0);
  set(0x09, OpWbinvd, 0);
  set(0x0d, OpNop, M);                                      // PREFETCHW hint
  for (int op = 0x18; op <= 0x1f; ++op) set(op, OpNop, M);  // hints, ENDBR64
  set(0x20, OpMovCr, M);
  set(0x21, OpMovDr, M);
  set(0x22, OpMovCr, M);
  set(0x23, OpMovDr, M);
  set(0x30, OpWrmsr, 0);
  set(0x31, OpRdtsc, 0);
  set(0x32, OpRdmsr, 0);
  for (int cc = 0; cc < 16; ++cc) {
    set(0x40 + cc, OpCmov, M);
    set(0x80 + cc, OpJcc, kOpForce64 | kOpImmZ);
    set(0x90 + cc, OpSetcc, M | B);
  }
  set(0xa0, OpPushSeg, kOpDef64);
  set(0xa1, OpPopSeg, kOpDef64);
  set(0xa2, OpCpuid, 0);
  set(0xa3, OpBt, M);
  set(0xa4, OpShld, M | kOpImm8);
  set(0xa5, OpShld, M);
  set(0xa8, OpPushSeg, kOpDef64);
  set(0xa9, OpPopSeg, kOpDef64);
  set(0xab, OpBt, M | L);
  set(0xac, OpShrd, M | kOpImm8);
  set(0xad, OpShrd, M);
  set(0xae, OpGrp15Simd, M);  // FXSAVE..STMXCSR, else OpGrp15
  set(0xaf, OpImul2, M);
  set(0xb0, OpCmpxchg, M | B | L);
  set(0xb1, OpCmpxchg, M | L);
  set(0xb3, OpBt, M | L);
  set(0xb6, OpMovzx, M);
  set(0xb7, OpMovzx, M);
  set(0xb8, OpPopcnt, M);
  set(0xba, OpGrp8, M | kOpImm8 | L);
  set(0xbb, OpBt, M | L);
  set(0xbc, OpBsf, M);
  set(0xbd, OpBsr, M);
  set(0xbe, OpMovsx, M);
  set(0xbf, OpMovsx, M);
  set(0xc0, OpXadd, M | B | L);
  set(0xc1, OpXadd, M | L);
  set(0xc7, OpGrp9, M | L);
  for (int r = 0; r < 8; ++r) set(0xc8 + r, OpBswap, 0);
  // SSE/SSE2 and MMX (ops_sse*.cc); the handlers pick the form by the
  // mandatory prefix (none, 66, F3, F2).
  constexpr uint16_t I = kOpImm8;
  set(0x10, OpSseMovLoad, M);
  set(0x11, OpSseMovStore, M);
  for (int op : {0x12, 0x13, 0x16, 0x17}) set(op, OpSseMovLowHigh, M);
  set(0x14, OpSseUnpck, M);
  set(0x15, OpSseUnpck, M);
  set(0x28, OpSseMovLoad, M);
  set(0x29, OpSseMovStore, M);
  set(0x2a, OpSseCvtSi2F, M);
  set(0x2b, OpSseMovStore, M);
  set(0x2c, OpSseCvtF2Si, M);
  set(0x2d, OpSseCvtF2Si, M);
  set(0x2e, OpSseComi, M);
  set(0x2f, OpSseComi, M);
  set(0x50, OpSseMovmsk, M);
  for (int op = 0x51; op <= 0x5f; ++op) set(op, OpSseArith, M);
  for (int op = 0x54; op <= 0x57; ++op) set(op, OpSseLogic, M);
  set(0x5a, OpSseCvtF2F, M);
  set(0x5b, OpSseCvtDq, M);
  for (int op = 0x60; op <= 0x6d; ++op) set(op, OpPackedInt, M);
  set(0x6e, OpSseMovd, M);
  set(0x6f, OpSseMovLoad, M);
  set(0x70, OpPshuf, M | I);
  for (int op = 0x71; op <= 0x73; ++op) set(op, OpPshiftImm, M | I);
  for (int op = 0x74; op <= 0x76; ++op) set(op, OpPackedInt, M);
  set(0x77, OpEmms, 0);
  set(0x7e, OpSseMovd, M);
  set(0x7f, OpSseMovStore, M);
  set(0xc2, OpSseCmp, M | I);
  set(0xc3, OpMovnti, M);
  set(0xc4, OpPinsrw, M | I);
  set(0xc5, OpPextrw, M | I);
  set(0xc6, OpSseShuf, M | I);
  for (int op = 0xd1; op <= 0xfe; ++op) set(op, OpPackedInt, M);
  set(0xd6, OpSseMovd, M);
  set(0xd7, OpPmovmskb, M);
  set(0xe6, OpSseCvtDq, M);
  set(0xe7, OpSseMovStore, M);
  set(0xf7, OpMaskmov, M);
  return t;
}

constexpr OpTable kOneByte = BuildOneByte();
constexpr OpTable kTwoByte = BuildTwoByte();
constexpr OpTable kEmpty{};

}  // namespace

const OpTable& OneByteTable() { return kOneByte; }
const OpTable& TwoByteTable() { return kTwoByte; }
const OpTable& ThreeByte38Table() { return kEmpty; }
const OpTable& ThreeByte3ATable() { return kEmpty; }

}  // namespace skiff::tcg
