// SSE/SSE2 floating point: arithmetic (ADD SUB MUL DIV MIN MAX SQRT RCP
// RSQRT), logic, CMPxx, (U)COMISx, conversions, SHUFPS/PD, UNPCKxPx.
//
// Every floating-point operation runs as the same instruction on the host
// (the host is x86-64, so SSE2 is always there) with the guest's MXCSR
// loaded into the host MXCSR: rounding (RC), DAZ, FTZ, NaN propagation and
// the exception flags are then bit-exact with hardware by construction.
// The host MXCSR is loaded with every exception masked and restored inside
// the same asm statement, so the compiler cannot move other floating-point
// code into the window and the host never traps. Raised flags are folded
// into the guest MXCSR by SseCommit, which turns unmasked ones into #XM/#UD
// (in that case the destination is left unchanged, for every lane).
#include <cstring>

#include "tcg/cpu.h"
#include "tcg/fpu_state.h"
#include "tcg/ops_simd.h"
#include "tcg/simd_util.h"

namespace skiff::tcg {
namespace {

constexpr ExecStatus kNext = ExecStatus::kNext;
constexpr ExecStatus kFault = ExecStatus::kFault;

typedef long long V2 __attribute__((vector_size(16)));

V2 ToV(const Xmm& x) {
  return V2{static_cast<long long>(x.lo), static_cast<long long>(x.hi)};
}
Xmm FromV(V2 v) {
  return Xmm{static_cast<uint64_t>(v[0]), static_cast<uint64_t>(v[1])};
}

// The host MXCSR for an operation: the guest's control bits, flags clear,
// all exceptions masked.
uint32_t HostMxcsr(uint32_t guest) {
  return (guest & ~kMxcsrFlags) | kMxcsrMasks;
}

// dst = op(dst, src) on the host; returns the raised MXCSR flags.
using BinFn = uint32_t (*)(Xmm* d, const Xmm& s, uint32_t mxcsr);

#define SKIFF_SSE_BIN(Name, insn)                                    \
  uint32_t Name(Xmm* d, const Xmm& s, uint32_t mxcsr) {              \
    V2 x = ToV(*d);                                                  \
    const V2 y = ToV(s);                                             \
    uint32_t saved, out;                                             \
    asm volatile("stmxcsr %[saved]\n\tldmxcsr %[m]\n\t" insn         \
                 " %[y], %[x]\n\tstmxcsr %[out]\n\tldmxcsr %[saved]" \
                 : [x] "+x"(x), [saved] "=m"(saved), [out] "=m"(out) \
                 : [y] "x"(y), [m] "m"(mxcsr));                      \
    *d = FromV(x);                                                   \
    return out;                                                      \
  }

#define SKIFF_SSE_FAMILY(Op, op)  \
  SKIFF_SSE_BIN(Op##Ps, #op "ps") \
  SKIFF_SSE_BIN(Op##Pd, #op "pd") \
  SKIFF_SSE_BIN(Op##Ss, #op "ss") \
  SKIFF_SSE_BIN(Op##Sd, #op "sd")

SKIFF_SSE_FAMILY(Add, add)
SKIFF_SSE_FAMILY(Sub, sub)
SKIFF_SSE_FAMILY(Mul, mul)
SKIFF_SSE_FAMILY(Div, div)
SKIFF_SSE_FAMILY(Min, min)
SKIFF_SSE_FAMILY(Max, max)
SKIFF_SSE_FAMILY(Sqrt, sqrt)
SKIFF_SSE_BIN(RsqrtPs, "rsqrtps")
SKIFF_SSE_BIN(RsqrtSs, "rsqrtss")
SKIFF_SSE_BIN(RcpPs, "rcpps")
SKIFF_SSE_BIN(RcpSs, "rcpss")
SKIFF_SSE_BIN(CvtPs2Pd, "cvtps2pd")
SKIFF_SSE_BIN(CvtPd2Ps, "cvtpd2ps")
SKIFF_SSE_BIN(CvtSs2Sd, "cvtss2sd")
SKIFF_SSE_BIN(CvtSd2Ss, "cvtsd2ss")
SKIFF_SSE_BIN(CvtDq2Ps, "cvtdq2ps")
SKIFF_SSE_BIN(CvtPs2Dq, "cvtps2dq")
SKIFF_SSE_BIN(CvttPs2Dq, "cvttps2dq")
SKIFF_SSE_BIN(CvtDq2Pd, "cvtdq2pd")
SKIFF_SSE_BIN(CvtPd2Dq, "cvtpd2dq")
SKIFF_SSE_BIN(CvttPd2Dq, "cvttpd2dq")

// CMPxx with the predicate as an immediate: one instantiation per imm8.
template <int kImm>
uint32_t CmpPs(Xmm* d, const Xmm& s, uint32_t mxcsr) {
  V2 x = ToV(*d);
  const V2 y = ToV(s);
  uint32_t saved, out;
  asm volatile(
      "stmxcsr %[saved]\n\tldmxcsr %[m]\n\tcmpps %[imm], %[y], "
      "%[x]\n\tstmxcsr %[out]\n\tldmxcsr %[saved]"
      : [x] "+x"(x), [saved] "=m"(saved), [out] "=m"(out)
      : [y] "x"(y), [m] "m"(mxcsr), [imm] "i"(kImm));
  *d = FromV(x);
  return out;
}
template <int kImm>
uint32_t CmpPd(Xmm* d, const Xmm& s, uint32_t mxcsr) {
  V2 x = ToV(*d);
  const V2 y = ToV(s);
  uint32_t saved, out;
  asm volatile(
      "stmxcsr %[saved]\n\tldmxcsr %[m]\n\tcmppd %[imm], %[y], "
      "%[x]\n\tstmxcsr %[out]\n\tldmxcsr %[saved]"
      : [x] "+x"(x), [saved] "=m"(saved), [out] "=m"(out)
      : [y] "x"(y), [m] "m"(mxcsr), [imm] "i"(kImm));
  *d = FromV(x);
  return out;
}
template <int kImm>
uint32_t CmpSs(Xmm* d, const Xmm& s, uint32_t mxcsr) {
  V2 x = ToV(*d);
  const V2 y = ToV(s);
  uint32_t saved, out;
  asm volatile(
      "stmxcsr %[saved]\n\tldmxcsr %[m]\n\tcmpss %[imm], %[y], "
      "%[x]\n\tstmxcsr %[out]\n\tldmxcsr %[saved]"
      : [x] "+x"(x), [saved] "=m"(saved), [out] "=m"(out)
      : [y] "x"(y), [m] "m"(mxcsr), [imm] "i"(kImm));
  *d = FromV(x);
  return out;
}
template <int kImm>
uint32_t CmpSd(Xmm* d, const Xmm& s, uint32_t mxcsr) {
  V2 x = ToV(*d);
  const V2 y = ToV(s);
  uint32_t saved, out;
  asm volatile(
      "stmxcsr %[saved]\n\tldmxcsr %[m]\n\tcmpsd %[imm], %[y], "
      "%[x]\n\tstmxcsr %[out]\n\tldmxcsr %[saved]"
      : [x] "+x"(x), [saved] "=m"(saved), [out] "=m"(out)
      : [y] "x"(y), [m] "m"(mxcsr), [imm] "i"(kImm));
  *d = FromV(x);
  return out;
}
constexpr BinFn kCmp[4][8] = {
    {CmpPs<0>, CmpPs<1>, CmpPs<2>, CmpPs<3>, CmpPs<4>, CmpPs<5>, CmpPs<6>,
     CmpPs<7>},
    {CmpPd<0>, CmpPd<1>, CmpPd<2>, CmpPd<3>, CmpPd<4>, CmpPd<5>, CmpPd<6>,
     CmpPd<7>},
    {CmpSs<0>, CmpSs<1>, CmpSs<2>, CmpSs<3>, CmpSs<4>, CmpSs<5>, CmpSs<6>,
     CmpSs<7>},
    {CmpSd<0>, CmpSd<1>, CmpSd<2>, CmpSd<3>, CmpSd<4>, CmpSd<5>, CmpSd<6>,
     CmpSd<7>},
};

// Index into the [ps, pd, ss, sd] tables.
int Form(Pfx p) {
  switch (p) {
    case Pfx::kNone:
      return 0;
    case Pfx::k66:
      return 1;
    case Pfx::kF3:
      return 2;
    default:
      return 3;
  }
}

// The source operand: full XMM register, or memory of `size` bytes (16:
// aligned 128-bit; 4/8: a scalar placed in the low lane, upper lanes zero,
// which the scalar instructions never read).
bool ReadSrc(Cpu& c, const Insn& i, int size, Xmm* out) {
  if (i.mod == 3) {
    *out = c.s.fpu.xmm[i.rm];
    return true;
  }
  if (size == 16) return ReadMem128(c, i, true, out);
  *out = Xmm{};
  return c.Read(i.seg, c.EffAddr(i), size, &out->lo);
}
int SrcSize(Pfx p) { return p == Pfx::kF3 ? 4 : p == Pfx::kF2 ? 8 : 16; }

// Runs `fn` on xmm[reg] and `src` and commits the result unless an
// unmasked exception was raised.
ExecStatus Apply(Cpu& c, const Insn& i, BinFn fn, const Xmm& src) {
  Xmm d = c.s.fpu.xmm[i.reg];
  const uint32_t raised = fn(&d, src, HostMxcsr(c.s.fpu.mxcsr));
  if (!SseCommit(c, raised)) return kFault;
  c.s.fpu.xmm[i.reg] = d;
  return kNext;
}

}  // namespace

ExecStatus OpSseArith(Cpu& c, const Insn& i) {
  static constexpr BinFn kFns[16][4] = {
      {},
      {SqrtPs, SqrtPd, SqrtSs, SqrtSd},      // 51
      {RsqrtPs, nullptr, RsqrtSs, nullptr},  // 52
      {RcpPs, nullptr, RcpSs, nullptr},      // 53
      {},
      {},
      {},
      {},
      {AddPs, AddPd, AddSs, AddSd},  // 58
      {MulPs, MulPd, MulSs, MulSd},  // 59
      {},
      {},
      {SubPs, SubPd, SubSs, SubSd},  // 5C
      {MinPs, MinPd, MinSs, MinSd},  // 5D
      {DivPs, DivPd, DivSs, DivSd},  // 5E
      {MaxPs, MaxPd, MaxSs, MaxSd},  // 5F
  };
  const Pfx p = MandatoryPrefix(i);
  const BinFn fn = kFns[i.op & 0xf][Form(p)];
  if (fn == nullptr) return c.Ud();
  if (!SseAvailable(c)) return kFault;
  Xmm src;
  if (!ReadSrc(c, i, SrcSize(p), &src)) return kFault;
  return Apply(c, i, fn, src);
}

ExecStatus OpSseLogic(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  if (p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  if (!SseAvailable(c)) return kFault;
  Xmm s;
  if (!ReadXmmRm(c, i, true, &s)) return kFault;
  Xmm& d = c.s.fpu.xmm[i.reg];
  switch (i.op & 0xff) {
    case 0x54:
      d = Xmm{d.lo & s.lo, d.hi & s.hi};
      break;
    case 0x55:
      d = Xmm{~d.lo & s.lo, ~d.hi & s.hi};
      break;
    case 0x56:
      d = Xmm{d.lo | s.lo, d.hi | s.hi};
      break;
    default:
      d = Xmm{d.lo ^ s.lo, d.hi ^ s.hi};
      break;
  }
  return kNext;
}

ExecStatus OpSseCmp(Cpu& c, const Insn& i) {
  // The legacy (non-VEX) encoding uses imm8[2:0] only (SDM vol. 2, CMPPS).
  const Pfx p = MandatoryPrefix(i);
  if (!SseAvailable(c)) return kFault;
  Xmm src;
  if (!ReadSrc(c, i, SrcSize(p), &src)) return kFault;
  return Apply(c, i, kCmp[Form(p)][i.imm & 7], src);
}

ExecStatus OpSseComi(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  if (p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  if (!SseAvailable(c)) return kFault;
  const bool dbl = p == Pfx::k66;
  Xmm src;
  if (!ReadSrc(c, i, dbl ? 8 : 4, &src)) return kFault;
  const V2 x = ToV(c.s.fpu.xmm[i.reg]);
  const V2 y = ToV(src);
  const uint32_t m = HostMxcsr(c.s.fpu.mxcsr);
  uint32_t saved, out;
  bool zf, pf, cf;
  const bool ordered = (i.op & 0xff) == 0x2f;
#define SKIFF_COMI(insn)                                           \
  asm volatile("stmxcsr %[saved]\n\tldmxcsr %[m]\n\t" insn         \
               " %[y], %[x]\n\tstmxcsr %[out]\n\tldmxcsr %[saved]" \
               : "=@ccz"(zf), "=@ccp"(pf),                         \
                 "=@ccc"(cf), [saved] "=m"(saved), [out] "=m"(out) \
               : [x] "x"(x), [y] "x"(y), [m] "m"(m))
  if (dbl) {
    if (ordered) {
      SKIFF_COMI("comisd");
    } else {
      SKIFF_COMI("ucomisd");
    }
  } else if (ordered) {
    SKIFF_COMI("comiss");
  } else {
    SKIFF_COMI("ucomiss");
  }
#undef SKIFF_COMI
  if (!SseCommit(c, out)) return kFault;
  c.SetArith(kArithFlags,
             (zf ? kFlagZf : 0) | (pf ? kFlagPf : 0) | (cf ? kFlagCf : 0));
  return kNext;
}

ExecStatus OpSseCvtSi2F(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  FpuState& f = c.s.fpu;
  if (p == Pfx::kNone || p == Pfx::k66) {
    // CVTPI2PS / CVTPI2PD xmm, mm/m64: two int32 lanes.
    if (!SseAvailable(c)) return kFault;
    uint64_t v;
    if (i.mod == 3) {
      if (!MmxAvailable(c)) return kFault;
      v = MmxReg(f, i.rm);
      MmxEnter(&f);
    } else if (!c.Read(i.seg, c.EffAddr(i), 8, &v)) {
      return kFault;
    }
    Xmm t{v, 0};
    if (p == Pfx::k66) {
      // Exact conversion, no flags: writes all 128 bits.
      CvtDq2Pd(&t, Xmm{v, 0}, HostMxcsr(f.mxcsr));
      f.xmm[i.reg] = t;
      return kNext;
    }
    const uint32_t raised = CvtDq2Ps(&t, Xmm{v, 0}, HostMxcsr(f.mxcsr));
    if (!SseCommit(c, raised)) return kFault;
    f.xmm[i.reg].lo = t.lo;
    return kNext;
  }
  if (!SseAvailable(c)) return kFault;
  const int size = i.opsize == 8 ? 8 : 4;
  uint64_t v;
  if (!c.ReadRm(i, size, &v)) return kFault;
  V2 x = ToV(f.xmm[i.reg]);
  const uint32_t m = HostMxcsr(f.mxcsr);
  uint32_t saved, out;
#define SKIFF_CVTSI(insn, mod)                                      \
  asm volatile("stmxcsr %[saved]\n\tldmxcsr %[m]\n\t" insn " %" mod \
               "[r], %[x]\n\tstmxcsr %[out]\n\tldmxcsr %[saved]"    \
               : [x] "+x"(x), [saved] "=m"(saved), [out] "=m"(out)  \
               : [r] "r"(v), [m] "m"(m))
  if (p == Pfx::kF3) {
    if (size == 8) {
      SKIFF_CVTSI("cvtsi2ssq", "q");
    } else {
      SKIFF_CVTSI("cvtsi2ssl", "k");
    }
  } else if (size == 8) {
    SKIFF_CVTSI("cvtsi2sdq", "q");
  } else {
    SKIFF_CVTSI("cvtsi2sdl", "k");
  }
#undef SKIFF_CVTSI
  if (!SseCommit(c, out)) return kFault;
  f.xmm[i.reg] = FromV(x);
  return kNext;
}

ExecStatus OpSseCvtF2Si(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  const bool trunc = (i.op & 0xff) == 0x2c;
  FpuState& f = c.s.fpu;
  if (!SseAvailable(c)) return kFault;
  if (p == Pfx::kNone || p == Pfx::k66) {
    // CVT(T)PS2PI / CVT(T)PD2PI mm, xmm/m: two int32 lanes into an MMX reg.
    Xmm src;
    if (i.mod == 3) {
      src = f.xmm[i.rm];
    } else if (p == Pfx::k66) {
      if (!ReadMem128(c, i, true, &src)) return kFault;
    } else {
      src = Xmm{};
      if (!c.Read(i.seg, c.EffAddr(i), 8, &src.lo)) return kFault;
    }
    if (!MmxAvailable(c)) return kFault;
    Xmm t{};
    BinFn fn = p == Pfx::k66 ? (trunc ? CvttPd2Dq : CvtPd2Dq)
                             : (trunc ? CvttPs2Dq : CvtPs2Dq);
    if (!SseCommit(c, fn(&t, src, HostMxcsr(f.mxcsr)))) return kFault;
    SetMmxReg(&f, i.reg, t.lo);
    MmxEnter(&f);
    return kNext;
  }
  Xmm src;
  if (!ReadSrc(c, i, p == Pfx::kF3 ? 4 : 8, &src)) return kFault;
  const int size = i.opsize == 8 ? 8 : 4;
  const V2 x = ToV(src);
  const uint32_t m = HostMxcsr(f.mxcsr);
  uint64_t r = 0;
  uint32_t saved, out;
#define SKIFF_CVT2SI(insn, mod)                                           \
  asm volatile("stmxcsr %[saved]\n\tldmxcsr %[m]\n\t" insn " %[x], %" mod \
               "[r]\n\tstmxcsr %[out]\n\tldmxcsr %[saved]"                \
               : [r] "+r"(r), [saved] "=m"(saved), [out] "=m"(out)        \
               : [x] "x"(x), [m] "m"(m))
  const int sel = (p == Pfx::kF2 ? 4 : 0) | (trunc ? 2 : 0) | (size == 8);
  switch (sel) {
    case 0:
      SKIFF_CVT2SI("cvtss2si", "k");
      break;
    case 1:
      SKIFF_CVT2SI("cvtss2si", "q");
      break;
    case 2:
      SKIFF_CVT2SI("cvttss2si", "k");
      break;
    case 3:
      SKIFF_CVT2SI("cvttss2si", "q");
      break;
    case 4:
      SKIFF_CVT2SI("cvtsd2si", "k");
      break;
    case 5:
      SKIFF_CVT2SI("cvtsd2si", "q");
      break;
    case 6:
      SKIFF_CVT2SI("cvttsd2si", "k");
      break;
    default:
      SKIFF_CVT2SI("cvttsd2si", "q");
      break;
  }
#undef SKIFF_CVT2SI
  if (!SseCommit(c, out)) return kFault;
  c.SetReg(i.reg, size, r);
  return kNext;
}

ExecStatus OpSseCvtF2F(Cpu& c, const Insn& i) {
  static constexpr BinFn kFns[4] = {CvtPs2Pd, CvtPd2Ps, CvtSs2Sd, CvtSd2Ss};
  const Pfx p = MandatoryPrefix(i);
  if (!SseAvailable(c)) return kFault;
  // CVTPS2PD reads 64 bits (unaligned); CVTPD2PS an aligned m128.
  const int size = p == Pfx::kNone ? 8 : SrcSize(p);
  Xmm src;
  if (!ReadSrc(c, i, size, &src)) return kFault;
  return Apply(c, i, kFns[Form(p)], src);
}

ExecStatus OpSseCvtDq(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  BinFn fn;
  int size = 16;
  if ((i.op & 0xff) == 0x5b) {
    if (p == Pfx::kF2) return c.Ud();
    fn = p == Pfx::kNone ? CvtDq2Ps : p == Pfx::k66 ? CvtPs2Dq : CvttPs2Dq;
  } else {  // 0F E6
    if (p == Pfx::kNone) return c.Ud();
    fn = p == Pfx::k66 ? CvttPd2Dq : p == Pfx::kF2 ? CvtPd2Dq : CvtDq2Pd;
    if (p == Pfx::kF3) size = 8;  // CVTDQ2PD xmm, xmm/m64
  }
  if (!SseAvailable(c)) return kFault;
  Xmm src;
  if (!ReadSrc(c, i, size, &src)) return kFault;
  return Apply(c, i, fn, src);
}

ExecStatus OpSseShuf(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  if (p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  if (!SseAvailable(c)) return kFault;
  Xmm s;
  if (!ReadXmmRm(c, i, true, &s)) return kFault;
  Xmm& d = c.s.fpu.xmm[i.reg];
  const unsigned imm = static_cast<unsigned>(i.imm);
  if (p == Pfx::k66) {
    d = Xmm{(imm & 1) ? d.hi : d.lo, (imm & 2) ? s.hi : s.lo};
    return kNext;
  }
  uint32_t a[4], b[4], r[4];
  std::memcpy(a, &d, 16);
  std::memcpy(b, &s, 16);
  r[0] = a[imm & 3];
  r[1] = a[(imm >> 2) & 3];
  r[2] = b[(imm >> 4) & 3];
  r[3] = b[(imm >> 6) & 3];
  std::memcpy(&d, r, 16);
  return kNext;
}

ExecStatus OpSseUnpck(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  if (p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  if (!SseAvailable(c)) return kFault;
  Xmm s;
  if (!ReadXmmRm(c, i, true, &s)) return kFault;
  Xmm& d = c.s.fpu.xmm[i.reg];
  const bool high = (i.op & 0xff) == 0x15;
  if (p == Pfx::k66) {
    d = high ? Xmm{d.hi, s.hi} : Xmm{d.lo, s.lo};
    return kNext;
  }
  const uint64_t a = high ? d.hi : d.lo;
  const uint64_t b = high ? s.hi : s.lo;
  d = Xmm{(a & 0xffffffff) | (b << 32), (a >> 32) | (b & ~0xffffffffull)};
  return kNext;
}

}  // namespace skiff::tcg
