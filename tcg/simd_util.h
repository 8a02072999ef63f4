// Checks and operand helpers shared by the x87, MMX and SSE handlers:
// #NM for CR0.TS, #UD for CR0.EM or CR4.OSFXSR=0, 16-byte alignment #GP,
// 128-bit memory operands.
//
//   ExecStatus OpFoo(Cpu& c, const Insn& i) {
//     if (!SseAvailable(c)) return ExecStatus::kFault;
//     Xmm src;
//     if (!ReadXmmRm(c, i, /*aligned=*/true, &src)) return ExecStatus::kFault;
//     c.s.fpu.xmm[i.reg] = src;
//     return ExecStatus::kNext;
//   }
#ifndef SKIFF_TCG_SIMD_UTIL_H_
#define SKIFF_TCG_SIMD_UTIL_H_

#include <cstdint>
#include <cstring>

#include "base/x86_state.h"
#include "tcg/cpu.h"
#include "tcg/fpu_state.h"

namespace skiff::tcg {

// ---- Availability checks (Intel SDM vol. 3, section 2.5 and 13.1) -------

// x87 and MMX: #NM when CR0.EM or CR0.TS is set.
inline bool X87Available(Cpu& c) {
  if (c.s.cr0 & (kCr0Em | kCr0Ts)) {
    c.pending_fault = {kNm, false, 0};
    return false;
  }
  return true;
}
// MMX: #UD with CR0.EM (the MMX instructions are not emulable), #NM with TS.
inline bool MmxAvailable(Cpu& c) {
  if (c.s.cr0 & kCr0Em) {
    c.pending_fault = {kUd, false, 0};
    return false;
  }
  return X87Available(c);
}
// SSE/SSE2: #UD when CR0.EM=1 or CR4.OSFXSR=0, then #NM when CR0.TS=1.
inline bool SseAvailable(Cpu& c) {
  if ((c.s.cr0 & kCr0Em) || !(c.s.cr4 & kCr4Osfxsr)) {
    c.pending_fault = {kUd, false, 0};
    return false;
  }
  if (c.s.cr0 & kCr0Ts) {
    c.pending_fault = {kNm, false, 0};
    return false;
  }
  return true;
}

// ---- Memory operands -------------------------------------------------------

// Reads/writes 16 bytes at the ModRM memory operand. With `aligned`, a
// misaligned linear address raises #GP(0) (MOVAPS, MOVDQA and every legacy
// SSE memory operand except the unaligned moves; SDM vol. 1, 10.4.1.1).
inline bool ReadMem128(Cpu& c, const Insn& i, bool aligned, Xmm* out) {
  const uint64_t off = c.EffAddr(i);
  if (aligned && (c.Linear(i.seg, off) & 15)) {
    c.pending_fault = {kGp, true, 0};
    return false;
  }
  const uint64_t mask = SizeMask(i.addrsize);
  return c.Read(i.seg, off, 8, &out->lo) &&
         c.Read(i.seg, (off + 8) & mask, 8, &out->hi);
}
inline bool WriteMem128(Cpu& c, const Insn& i, bool aligned, const Xmm& v) {
  const uint64_t off = c.EffAddr(i);
  const uint64_t mask = SizeMask(i.addrsize);
  if (aligned && (c.Linear(i.seg, off) & 15)) {
    c.pending_fault = {kGp, true, 0};
    return false;
  }
  // Check both halves are writable before storing either (a fault must
  // leave memory untouched).
  uint64_t probe;
  if (!c.Read(i.seg, (off + 8) & mask, 8, &probe)) return false;
  if (!c.Write(i.seg, (off + 8) & mask, 8, v.hi)) return false;
  return c.Write(i.seg, off, 8, v.lo);
}

// The XMM register or 128-bit memory operand of ModRM.rm.
inline bool ReadXmmRm(Cpu& c, const Insn& i, bool aligned, Xmm* out) {
  if (i.mod == 3) {
    *out = c.s.fpu.xmm[i.rm];
    return true;
  }
  return ReadMem128(c, i, aligned, out);
}

// Reads/writes `len` (a multiple of 8) bytes at seg:off. WriteBlock first
// checks that the last byte is writable so a #PF on a second page leaves
// memory unchanged (blocks here are at most 512 bytes, at most two pages).
inline bool ReadBlock(Cpu& c, int seg, uint64_t off, uint64_t amask,
                      uint8_t* buf, int len) {
  for (int k = 0; k < len; k += 8) {
    uint64_t v;
    if (!c.Read(seg, (off + k) & amask, 8, &v)) return false;
    std::memcpy(buf + k, &v, 8);
  }
  return true;
}
inline bool WriteBlock(Cpu& c, int seg, uint64_t off, uint64_t amask,
                       const uint8_t* buf, int len) {
  uint64_t probe;
  const uint64_t last = (off + len - 1) & amask;
  if (!c.Read(seg, last, 1, &probe) || !c.Write(seg, last, 1, probe)) {
    return false;
  }
  for (int k = 0; k < len; k += 8) {
    uint64_t v;
    std::memcpy(&v, buf + k, 8);
    if (!c.Write(seg, (off + k) & amask, 8, v)) return false;
  }
  return true;
}

// ---- Mandatory prefixes and MXCSR exceptions ----------------------------

// The mandatory prefix selecting the SSE variant of a 0F opcode: F2/F3 win
// over 66 (Intel SDM vol. 2, section 2.1.2).
enum class Pfx : uint8_t { kNone, k66, kF3, kF2 };
inline Pfx MandatoryPrefix(const Insn& i) {
  if (i.rep == 0xf3) return Pfx::kF3;
  if (i.rep == 0xf2) return Pfx::kF2;
  return i.opsize_prefix ? Pfx::k66 : Pfx::kNone;
}

// Accumulates the exception flags an operation raised into MXCSR. An
// unmasked one faults (#XM with CR4.OSXMMEXCPT, else #UD; SDM vol. 1,
// section 11.5.2) and the caller must not write the destination.
inline bool SseCommit(Cpu& c, uint32_t raised) {
  raised &= kMxcsrFlags;
  uint32_t& m = c.s.fpu.mxcsr;
  m |= raised;
  if (raised & ~(m >> 7) & kMxcsrFlags) {
    c.pending_fault = {
        static_cast<uint8_t>((c.s.cr4 & kCr4Osxmmexcpt) ? kXm : kUd), false, 0};
    return false;
  }
  return true;
}

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_SIMD_UTIL_H_
