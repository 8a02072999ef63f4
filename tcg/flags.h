// Lazy evaluation of the six arithmetic RFLAGS bits (CF PF AF ZF SF OF).
// Arithmetic handlers record the operation, size, operands and result
// (Cpu::SetLazy); the flags are computed only when something reads them
// (Jcc, SETcc, PUSHF, ...). Instructions whose flag rules are irregular
// (shifts, MUL, BT) set the flags eagerly with Cpu::SetArith instead.
//
//   c.SetLazy(kCcAdd, 4, a + b, a, b);
//   if (c.Cond(kCondZ)) ...
#ifndef SKIFF_TCG_FLAGS_H_
#define SKIFF_TCG_FLAGS_H_

#include <cstdint>

namespace skiff::tcg {

inline constexpr uint64_t kFlagCf = 1u << 0;
inline constexpr uint64_t kFlagPf = 1u << 2;
inline constexpr uint64_t kFlagAf = 1u << 4;
inline constexpr uint64_t kFlagZf = 1u << 6;
inline constexpr uint64_t kFlagSf = 1u << 7;
inline constexpr uint64_t kFlagTf = 1u << 8;
inline constexpr uint64_t kFlagIf = 1u << 9;
inline constexpr uint64_t kFlagDf = 1u << 10;
inline constexpr uint64_t kFlagOf = 1u << 11;
inline constexpr uint64_t kFlagIopl = 3u << 12;
inline constexpr uint64_t kFlagNt = 1u << 14;
inline constexpr uint64_t kFlagRf = 1u << 16;
inline constexpr uint64_t kFlagVm = 1u << 17;
inline constexpr uint64_t kFlagAc = 1u << 18;
inline constexpr uint64_t kFlagId = 1u << 21;
inline constexpr uint64_t kArithFlags =
    kFlagCf | kFlagPf | kFlagAf | kFlagZf | kFlagSf | kFlagOf;

enum CcOp : uint8_t {
  kCcNone = 0,  // flags are in rflags already
  kCcAdd,       // res = a + b
  kCcAdc,       // res = a + b + aux (carry in)
  kCcSub,       // res = a - b (also CMP)
  kCcSbb,       // res = a - b - aux
  kCcLogic,     // AND OR XOR TEST: CF = OF = AF = 0
  kCcInc,       // res = a + 1, aux = preserved CF
  kCcDec,       // res = a - 1, aux = preserved CF
  kCcShift,     // SHL/SHR/SAR by a non-zero count: aux = CF | OF << 1, AF = 0
};

// Every producer stores `res` masked to `size` bytes, and for kCcSub and
// kCcLogic also `a` and `b`: the fast condition checks in ops_fast.cc read
// them without masking.
struct LazyFlags {
  uint64_t res = 0, a = 0, b = 0, aux = 0;
  CcOp op = kCcNone;
  uint8_t size = 4;
};

// The arithmetic flags described by `lf` (only the kArithFlags bits).
uint64_t ComputeArithFlags(const LazyFlags& lf);

inline uint64_t MaterializeFlags(uint64_t rflags, const LazyFlags& lf) {
  if (lf.op == kCcNone) return rflags;
  return (rflags & ~kArithFlags) | ComputeArithFlags(lf);
}

bool LazyCf(uint64_t rflags, const LazyFlags& lf);

// Condition codes in Jcc/SETcc/CMOVcc encoding order (0 O, 1 NO, 2 B, ...).
bool EvalCond(int cc, uint64_t rflags, const LazyFlags& lf);

inline bool Parity(uint64_t v) { return !__builtin_parity(v & 0xff); }

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_FLAGS_H_
