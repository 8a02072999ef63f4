// SSE/SSE2 data movement (MOVAPS/UPS/SS/SD/..., MOVD/MOVQ, MOVLPS/HPS...,
// MOVMSKPS/PD, MOVNT*), FXSAVE/FXRSTOR and LDMXCSR/STMXCSR (Intel SDM
// vol. 2; FXSAVE layout: vol. 1, section 10.5.1, tables 10-2 and 10-3).
#include <cstring>

#include "tcg/cpu.h"
#include "tcg/fpu_state.h"
#include "tcg/ops.h"
#include "tcg/ops_simd.h"
#include "tcg/simd_util.h"

namespace skiff::tcg {
namespace {

constexpr ExecStatus kNext = ExecStatus::kNext;
constexpr ExecStatus kFault = ExecStatus::kFault;

bool ReadMem(Cpu& c, const Insn& i, int size, uint64_t* v) {
  return c.Read(i.seg, c.EffAddr(i), size, v);
}
bool WriteMem(Cpu& c, const Insn& i, int size, uint64_t v) {
  return c.Write(i.seg, c.EffAddr(i), size, v);
}

}  // namespace

ExecStatus OpSseMovLoad(Cpu& c, const Insn& i) {
  const int opb = i.op & 0xff;
  const Pfx p = MandatoryPrefix(i);
  if (opb == 0x6f && p == Pfx::kNone) return OpMovqMmx(c, i);
  if (!SseAvailable(c)) return kFault;
  Xmm& d = c.s.fpu.xmm[i.reg];
  if (opb == 0x10 && (p == Pfx::kF3 || p == Pfx::kF2)) {
    // MOVSS/MOVSD: register source merges, memory source zero-extends.
    const int size = p == Pfx::kF3 ? 4 : 8;
    if (i.mod == 3) {
      const Xmm s = c.s.fpu.xmm[i.rm];
      const uint64_t m = SizeMask(size);
      d.lo = (d.lo & ~m) | (s.lo & m);
      return kNext;
    }
    uint64_t v;
    if (!ReadMem(c, i, size, &v)) return kFault;
    d.lo = v;
    d.hi = 0;
    return kNext;
  }
  if ((opb == 0x28 && (p == Pfx::kF3 || p == Pfx::kF2)) ||
      (opb == 0x6f && p == Pfx::kF2)) {
    return c.Ud();
  }
  // 0F 28 and 66 0F 6F require alignment; 0F 10 and F3 0F 6F do not.
  const bool aligned = opb == 0x28 || (opb == 0x6f && p == Pfx::k66);
  Xmm v;
  if (!ReadXmmRm(c, i, aligned, &v)) return kFault;
  d = v;
  return kNext;
}

ExecStatus OpSseMovStore(Cpu& c, const Insn& i) {
  const int opb = i.op & 0xff;
  const Pfx p = MandatoryPrefix(i);
  if (p == Pfx::kNone && (opb == 0x7f || opb == 0xe7)) {
    if (opb == 0xe7 && !i.is_mem()) return c.Ud();  // MOVNTQ
    return OpMovqMmx(c, i);
  }
  if (!SseAvailable(c)) return kFault;
  const Xmm s = c.s.fpu.xmm[i.reg];
  if (opb == 0x11 && (p == Pfx::kF3 || p == Pfx::kF2)) {
    const int size = p == Pfx::kF3 ? 4 : 8;
    if (i.mod == 3) {
      Xmm& d = c.s.fpu.xmm[i.rm];
      const uint64_t m = SizeMask(size);
      d.lo = (d.lo & ~m) | (s.lo & m);
      return kNext;
    }
    return WriteMem(c, i, size, s.lo) ? kNext : kFault;
  }
  if (p == Pfx::kF2 || (p == Pfx::kF3 && opb != 0x7f)) return c.Ud();
  // MOVNTPS/PD/DQ are memory-only.
  if ((opb == 0x2b || opb == 0xe7) && !i.is_mem()) return c.Ud();
  if (opb == 0xe7 && p != Pfx::k66) return c.Ud();
  if (i.mod == 3) {
    c.s.fpu.xmm[i.rm] = s;
    return kNext;
  }
  const bool aligned = opb != 0x11 && !(opb == 0x7f && p == Pfx::kF3);
  return WriteMem128(c, i, aligned, s) ? kNext : kFault;
}

ExecStatus OpSseMovLowHigh(Cpu& c, const Insn& i) {
  const int opb = i.op & 0xff;
  const Pfx p = MandatoryPrefix(i);
  // F2/F3 forms are SSE3 (MOVDDUP, MOVSLDUP, MOVSHDUP): not implemented.
  if (p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  if (!SseAvailable(c)) return kFault;
  Xmm& d = c.s.fpu.xmm[i.reg];
  const bool high = opb == 0x16 || opb == 0x17;
  if (opb == 0x13 || opb == 0x17) {  // stores
    if (!i.is_mem()) return c.Ud();
    return WriteMem(c, i, 8, high ? d.hi : d.lo) ? kNext : kFault;
  }
  if (i.mod == 3) {
    if (p == Pfx::k66) return c.Ud();
    const Xmm s = c.s.fpu.xmm[i.rm];
    if (high) {
      d.hi = s.lo;  // MOVLHPS
    } else {
      d.lo = s.hi;  // MOVHLPS
    }
    return kNext;
  }
  uint64_t v;
  if (!ReadMem(c, i, 8, &v)) return kFault;
  (high ? d.hi : d.lo) = v;
  return kNext;
}

ExecStatus OpSseMovd(Cpu& c, const Insn& i) {
  const int opb = i.op & 0xff;
  const Pfx p = MandatoryPrefix(i);
  const int size = i.opsize == 8 ? 8 : 4;
  FpuState& f = c.s.fpu;
  if (opb == 0xd6) {
    if (p == Pfx::kNone) return c.Ud();
    if (!SseAvailable(c)) return kFault;
    if (p == Pfx::k66) {  // MOVQ xmm/m64, xmm
      const uint64_t v = f.xmm[i.reg].lo;
      if (i.mod == 3) {
        f.xmm[i.rm] = Xmm{v, 0};
        return kNext;
      }
      return WriteMem(c, i, 8, v) ? kNext : kFault;
    }
    if (i.mod != 3) return c.Ud();
    if (!MmxAvailable(c)) return kFault;
    if (p == Pfx::kF3) {  // MOVQ2DQ xmm, mm
      f.xmm[i.reg] = Xmm{MmxReg(f, i.rm), 0};
    } else {  // MOVDQ2Q mm, xmm
      SetMmxReg(&f, i.reg, f.xmm[i.rm].lo);
    }
    MmxEnter(&f);
    return kNext;
  }
  if (p == Pfx::kF2) return c.Ud();
  if (p == Pfx::kF3) {
    if (opb != 0x7e) return c.Ud();
    if (!SseAvailable(c)) return kFault;
    uint64_t v;  // MOVQ xmm, xmm/m64
    if (i.mod == 3) {
      v = f.xmm[i.rm].lo;
    } else if (!ReadMem(c, i, 8, &v)) {
      return kFault;
    }
    f.xmm[i.reg] = Xmm{v, 0};
    return kNext;
  }
  if (p == Pfx::k66) {
    if (!SseAvailable(c)) return kFault;
  } else if (!MmxAvailable(c)) {
    return kFault;
  }
  if (opb == 0x6e) {  // MOVD/MOVQ mm|xmm, r/m32|64
    uint64_t v;
    if (!c.ReadRm(i, size, &v)) return kFault;
    if (p == Pfx::k66) {
      f.xmm[i.reg] = Xmm{v, 0};
    } else {
      SetMmxReg(&f, i.reg, v);
      MmxEnter(&f);
    }
    return kNext;
  }
  // 0F 7E: MOVD/MOVQ r/m32|64, mm|xmm.
  const uint64_t v = p == Pfx::k66 ? f.xmm[i.reg].lo : MmxReg(f, i.reg);
  if (!c.WriteRm(i, size, v & SizeMask(size))) return kFault;
  if (p == Pfx::kNone) MmxEnter(&f);
  return kNext;
}

ExecStatus OpSseMovmsk(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  if (i.mod != 3 || p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  if (!SseAvailable(c)) return kFault;
  const Xmm s = c.s.fpu.xmm[i.rm];
  uint64_t m;
  if (p == Pfx::k66) {
    m = (s.lo >> 63) | ((s.hi >> 63) << 1);
  } else {
    m = ((s.lo >> 31) & 1) | ((s.lo >> 62) & 2) | (((s.hi >> 31) & 1) << 2) |
        (((s.hi >> 63) & 1) << 3);
  }
  c.SetReg(i.reg, i.opsize == 8 ? 8 : 4, m);
  return kNext;
}

ExecStatus OpMovnti(Cpu& c, const Insn& i) {
  if (!i.is_mem() || MandatoryPrefix(i) != Pfx::kNone) return c.Ud();
  const int size = i.opsize == 8 ? 8 : 4;
  return WriteMem(c, i, size, c.GetR(i, size)) ? kNext : kFault;
}

namespace {

// FXSAVE (Intel SDM vol. 1, table 10-2; REX.W: table 10-3). XMM8-15 are
// saved in 64-bit mode only. Reserved and "available" bytes (416-511) are
// not written.
ExecStatus Fxsave(Cpu& c, const Insn& i) {
  const FpuState& f = c.s.fpu;
  const uint64_t off = c.EffAddr(i);
  if (c.Linear(i.seg, off) & 15) return c.Gp0();
  uint8_t img[416] = {};
  auto put = [&img](int at, uint64_t v, int n) {
    std::memcpy(img + at, &v, n);
  };
  put(0, f.fcw, 2);
  put(2, f.fsw, 2);
  img[4] = f.ftw;
  put(6, f.fop, 2);
  if (i.opsize == 8) {
    put(8, f.fip, 8);
    put(16, f.fdp, 8);
  } else {
    put(8, f.fip, 4);
    put(12, f.fcs, 2);
    put(16, f.fdp, 4);
    put(20, f.fds, 2);
  }
  put(24, f.mxcsr, 4);
  put(28, kMxcsrMask, 4);
  const int top = FpuTop(f);
  for (int k = 0; k < 8; ++k) {
    std::memcpy(img + 32 + 16 * k, f.st[(top + k) & 7], 10);
  }
  const int nxmm = c.s.code_bits == 64 ? 16 : 8;
  for (int k = 0; k < nxmm; ++k) {
    put(160 + 16 * k, f.xmm[k].lo, 8);
    put(168 + 16 * k, f.xmm[k].hi, 8);
  }
  if (!WriteBlock(c, i.seg, off, SizeMask(i.addrsize), img, 160 + 16 * nxmm)) {
    return kFault;
  }
  return kNext;
}

ExecStatus Fxrstor(Cpu& c, const Insn& i) {
  FpuState& f = c.s.fpu;
  const uint64_t off = c.EffAddr(i);
  if (c.Linear(i.seg, off) & 15) return c.Gp0();
  const int nxmm = c.s.code_bits == 64 ? 16 : 8;
  uint8_t img[416];
  if (!ReadBlock(c, i.seg, off, SizeMask(i.addrsize), img, 160 + 16 * nxmm)) {
    return kFault;
  }
  auto get = [&img](int at, int n) {
    uint64_t v = 0;
    std::memcpy(&v, img + at, n);
    return v;
  };
  const uint32_t mxcsr = static_cast<uint32_t>(get(24, 4));
  if (mxcsr & ~kMxcsrMask) return c.Gp0();
  f.fcw = static_cast<uint16_t>(get(0, 2));
  f.fsw = static_cast<uint16_t>(get(2, 2));
  f.ftw = img[4];
  f.fop = static_cast<uint16_t>(get(6, 2) & 0x7ff);
  if (i.opsize == 8) {
    f.fip = get(8, 8);
    f.fdp = get(16, 8);
  } else {
    f.fip = get(8, 4);
    f.fcs = static_cast<uint16_t>(get(12, 2));
    f.fdp = get(16, 4);
    f.fds = static_cast<uint16_t>(get(20, 2));
  }
  f.mxcsr = mxcsr;
  const int top = FpuTop(f);
  for (int k = 0; k < 8; ++k) {
    std::memset(f.st[(top + k) & 7], 0, 16);
    std::memcpy(f.st[(top + k) & 7], img + 32 + 16 * k, 10);
  }
  for (int k = 0; k < nxmm; ++k) {
    f.xmm[k].lo = get(160 + 16 * k, 8);
    f.xmm[k].hi = get(168 + 16 * k, 8);
  }
  return kNext;
}

}  // namespace

ExecStatus OpGrp15Simd(Cpu& c, const Insn& i) {
  const int sub = i.reg & 7;
  if (MandatoryPrefix(i) != Pfx::kNone || i.mod == 3 || sub > 3) {
    // Fences, CLFLUSH; XSAVE* and the F3 forms stay #UD there.
    return OpGrp15(c, i);
  }
  if (sub <= 1) {
    // FXSAVE/FXRSTOR: #NM for CR0.TS or CR0.EM (SDM vol. 2, FXSAVE).
    if (c.s.cr0 & (kCr0Em | kCr0Ts)) return c.Fault(kNm);
    return sub == 0 ? Fxsave(c, i) : Fxrstor(c, i);
  }
  if (!SseAvailable(c)) return kFault;
  if (sub == 3) {  // STMXCSR
    return WriteMem(c, i, 4, c.s.fpu.mxcsr) ? kNext : kFault;
  }
  uint64_t v;  // LDMXCSR
  if (!ReadMem(c, i, 4, &v)) return kFault;
  if (v & ~static_cast<uint64_t>(kMxcsrMask)) return c.Gp0();
  c.s.fpu.mxcsr = static_cast<uint32_t>(v);
  return kNext;
}

}  // namespace skiff::tcg
