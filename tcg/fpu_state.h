// x87, MMX and SSE architectural state of one vCPU (FpuState, a member of
// CpuState `fpu`), its register-level constants and small accessors.
// Handler-side checks live in tcg/simd_util.h.
//
//   FpuState f;                 // power-on: FCW 0x37f, MXCSR 0x1f80
//   SetMmxReg(&f, 0, 42);       // MM0 = 42, exponent bits all ones
//
// The x87 registers are kept as their 80-bit extended images (the bytes an
// FXSAVE stores), indexed by physical register R0..R7, so MMX registers
// alias their low 64 bits as on hardware (Intel SDM vol. 1, section 9.5).
#ifndef SKIFF_TCG_FPU_STATE_H_
#define SKIFF_TCG_FPU_STATE_H_

#include <cstdint>
#include <cstring>

namespace skiff::tcg {

inline constexpr uint64_t kCr0Em = 1u << 2;  // x87 emulation: #NM / #UD
inline constexpr uint64_t kCr0Ts = 1u << 3;  // task switched: #NM

struct alignas(16) Xmm {
  uint64_t lo = 0, hi = 0;
};

// MXCSR bits (Intel SDM vol. 1, section 10.2.3).
inline constexpr uint32_t kMxcsrFlags = 0x3f;  // IE DE ZE OE UE PE
inline constexpr uint32_t kMxcsrDaz = 1u << 6;
inline constexpr uint32_t kMxcsrMasks = 0x1f80;  // IM DM ZM OM UM PM
inline constexpr uint32_t kMxcsrFtz = 1u << 15;
// MXCSR_MASK reported by FXSAVE: every bit 0-15 is supported (DAZ too).
inline constexpr uint32_t kMxcsrMask = 0xffff;
inline constexpr uint32_t kMxcsrReset = 0x1f80;

// x87 status word (Intel SDM vol. 1, section 8.1.3).
inline constexpr uint16_t kFswIe = 1u << 0, kFswDe = 1u << 1, kFswZe = 1u << 2,
                          kFswOe = 1u << 3, kFswUe = 1u << 4, kFswPe = 1u << 5,
                          kFswSf = 1u << 6, kFswEs = 1u << 7, kFswC0 = 1u << 8,
                          kFswC1 = 1u << 9, kFswC2 = 1u << 10,
                          kFswC3 = 1u << 14, kFswB = 1u << 15;
inline constexpr uint16_t kFswCc = kFswC0 | kFswC1 | kFswC2 | kFswC3;
inline constexpr uint16_t kFcwReset = 0x37f;

struct FpuState {
  // Physical x87 registers R0..R7: bytes 0..9 are the 80-bit value
  // (little-endian significand then sign/exponent), 10..15 are zero.
  uint8_t st[8][16] = {};
  uint16_t fcw = kFcwReset;
  uint16_t fsw = 0;  // TOP lives in bits 11-13
  uint8_t ftw = 0;   // abridged tag: bit n set = R<n> not empty
  uint16_t fop = 0;  // last non-control opcode (11 bits)
  uint64_t fip = 0;  // last non-control instruction pointer
  uint64_t fdp = 0;  // last memory operand offset
  uint16_t fcs = 0, fds = 0;
  Xmm xmm[16];
  uint32_t mxcsr = kMxcsrReset;
};

inline void ResetFpuState(FpuState* f) { *f = FpuState(); }
// FNINIT (Intel SDM vol. 2, FINIT): leaves the registers' contents and SSE
// state alone.
inline void FninitState(FpuState* f) {
  f->fcw = kFcwReset;
  f->fsw = 0;
  f->ftw = 0;
  f->fop = 0;
  f->fip = f->fdp = 0;
  f->fcs = f->fds = 0;
}

// ---- x87 / MMX register file helpers ---------------------------------------

inline int FpuTop(const FpuState& f) { return (f.fsw >> 11) & 7; }
inline void SetFpuTop(FpuState* f, int top) {
  f->fsw = static_cast<uint16_t>((f->fsw & ~0x3800) | ((top & 7) << 11));
}
inline uint64_t MmxReg(const FpuState& f, int n) {
  uint64_t v;
  std::memcpy(&v, f.st[n & 7], 8);
  return v;
}
// Any MMX instruction (except EMMS) sets TOP=0 and tags all registers
// valid; a write also sets the exponent field to all ones (SDM vol. 1,
// section 9.5.1).
inline void MmxEnter(FpuState* f) {
  SetFpuTop(f, 0);
  f->ftw = 0xff;
}
inline void SetMmxReg(FpuState* f, int n, uint64_t v) {
  std::memcpy(f->st[n & 7], &v, 8);
  f->st[n & 7][8] = 0xff;
  f->st[n & 7][9] = 0xff;
}

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_FPU_STATE_H_
