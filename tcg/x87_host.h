// x87 operations executed on the host FPU (the host is x86-64, whose x87
// unit computes the same 80-bit extended results as the guest's): each
// call loads the guest's control word (with every exception masked, so the
// host never traps), runs one instruction on operands in 80-bit form and
// returns the host status word, whose exception flags, C0-C3 and the C1
// round-up bit are therefore bit-exact with hardware. The host x87 stack is
// left as it was found and the host control word is restored.
//
//   F80 out[3];
//   uint16_t sw = HostX87(X87Op::kAdd, fcw, st0, st1, out);  // out[0]=st0+st1
#ifndef SKIFF_TCG_X87_HOST_H_
#define SKIFF_TCG_X87_HOST_H_

#include <cstdint>

namespace skiff::tcg {

struct F80 {
  uint8_t b[10] = {};
};

// Operations on ST0 (= in0) and ST1 (= in1). Results: out[0] is the new
// ST0, out[1] the new ST1, out[2] the new ST2 (see X87OpOutputs).
enum class X87Op : uint8_t {
  // st0 = st0 op st1
  kAdd,
  kMul,
  kSub,
  kSubr,
  kDiv,
  kDivr,
  kPrem,
  kPrem1,
  kScale,
  // st0 = f(st0)
  kSqrt,
  kRndint,
  kChs,
  kAbs,
  kF2xm1,
  kSin,
  kCos,
  // compare st0 with st1 (C0 C2 C3), st0 with 0, classify st0
  kCom,
  kUcom,
  kTst,
  kXam,
  // st1 = f(st1, st0), pop: one output (the new st0)
  kYl2x,
  kYl2xp1,
  kPatan,
  // push: three outputs
  kPtan,
  kSincos,
  kXtract,
};

// How the register stack changes: -1 pops one, 0 keeps, +1 pushes.
int X87OpStackDelta(X87Op op);

uint16_t HostX87(X87Op op, uint16_t fcw, const F80& in0, const F80& in1,
                 F80 out[3]);

// Loads a 4/8-byte float (FLD m32/m64) or a 2/4/8-byte integer (FILD).
uint16_t HostLoadFloat(int size, uint64_t bits, uint16_t fcw, F80* out);
uint16_t HostLoadInt(int size, uint64_t bits, uint16_t fcw, F80* out);
// FST m32/m64; FIST m16/32/64 (`trunc`: FISTTP).
uint16_t HostStoreFloat(int size, const F80& in, uint16_t fcw, uint64_t* bits);
uint16_t HostStoreInt(int size, bool trunc, const F80& in, uint16_t fcw,
                      uint64_t* bits);
// FLD1 FLDL2T FLDL2E FLDPI FLDLG2 FLDLN2 FLDZ: `k` is the low 3 bits of
// the D9 E8-EE opcode (0..6); the rounded constants follow FCW.RC.
uint16_t HostLoadConst(int k, uint16_t fcw, F80* out);

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_X87_HOST_H_
