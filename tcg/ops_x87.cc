// The x87 FPU: escape opcodes D8-DF and FWAIT (Intel SDM vol. 1, chapter
// 8; vol. 2 for each instruction). Arithmetic runs on the host x87 through
// x87_host.h, so results, C0-C3 and exception flags match hardware.
//
// Simplifications (documented in README.md):
// * An unmasked exception sets its flag plus ES and B in FSW and leaves the
//   destination and stack unchanged (hardware still stores a biased result
//   for unmasked overflow/underflow/precision); the next waiting x87
//   instruction (or FWAIT) then raises #MF. CR0.NE=0 (legacy FERR#/IRQ 13
//   reporting) is treated like NE=1.
// * FBLD/FBSTP (packed BCD) raise #UD.
// * FIP/FDP hold the offset only (FCS/FDS are not tracked in 64-bit mode,
//   where FXSAVE64 stores offsets only anyway).
#include <cstring>

#include "tcg/cpu.h"
#include "tcg/fpu_state.h"
#include "tcg/ops_simd.h"
#include "tcg/simd_util.h"
#include "tcg/x87_host.h"

namespace skiff::tcg {
namespace {

constexpr ExecStatus kNext = ExecStatus::kNext;
constexpr ExecStatus kFault = ExecStatus::kFault;

// QNaN floating-point indefinite: the masked response to invalid operations.
constexpr F80 kIndefinite = {{0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff}};

int Phys(const FpuState& f, int i) { return (FpuTop(f) + i) & 7; }
bool Empty(const FpuState& f, int i) { return !(f.ftw & (1u << Phys(f, i))); }
F80 St(const FpuState& f, int i) {
  F80 v;
  std::memcpy(v.b, f.st[Phys(f, i)], 10);
  return v;
}
void SetSt(FpuState& f, int i, const F80& v) {
  std::memset(f.st[Phys(f, i)], 0, 16);
  std::memcpy(f.st[Phys(f, i)], v.b, 10);
  f.ftw |= static_cast<uint8_t>(1u << Phys(f, i));
}
void Pop(FpuState& f) {
  f.ftw &= static_cast<uint8_t>(~(1u << Phys(f, 0)));
  SetFpuTop(&f, FpuTop(f) + 1);
}
void PushSlot(FpuState& f) { SetFpuTop(&f, FpuTop(f) - 1); }

int Exponent(const F80& v) { return (v.b[8] | (v.b[9] << 8)) & 0x7fff; }

// Records exception flags `ex` (and C1 from `cc_c1`). Returns false when
// one of them is unmasked: then ES/B are set and the caller must not
// change the destination.
bool Raise(FpuState& f, uint16_t ex) {
  ex &= kFswIe | kFswDe | kFswZe | kFswOe | kFswUe | kFswPe | kFswSf;
  f.fsw |= ex;
  if (ex & ~f.fcw & 0x3f) {
    f.fsw |= kFswEs | kFswB;
    return false;
  }
  return true;
}
// Folds a host status word in: exception flags, and C1 (round-up) always;
// C0 C2 C3 when `cc` (compares, FPREM, FXAM).
bool Absorb(FpuState& f, uint16_t sw, bool cc) {
  const uint16_t keep = cc ? kFswCc : kFswC1;
  f.fsw = static_cast<uint16_t>((f.fsw & ~keep) | (sw & keep));
  return Raise(f, sw & 0x3f);
}
// Stack underflow (reading an empty register): #IS, C1 = 0.
bool Underflow(FpuState& f) {
  f.fsw &= static_cast<uint16_t>(~kFswC1);
  return Raise(f, kFswIe | kFswSf);
}

// The SDM's "check pending unmasked exceptions" step of every waiting
// instruction.
bool CheckPending(Cpu& c) {
  if (c.s.fpu.fsw & kFswEs) {
    c.pending_fault = {kMf, false, 0};
    return false;
  }
  return true;
}

// Pushes `v` (stack overflow when the slot is in use: #IS with C1 = 1,
// masked response the indefinite).
void Push(FpuState& f, const F80& v) {
  PushSlot(f);
  if (!Empty(f, 0)) {
    f.fsw |= kFswC1;
    if (!Raise(f, kFswIe | kFswSf)) {
      SetFpuTop(&f, FpuTop(f) + 1);
      return;
    }
    SetSt(f, 0, kIndefinite);
    return;
  }
  f.fsw &= static_cast<uint16_t>(~kFswC1);
  SetSt(f, 0, v);
}

uint16_t FullTagWord(const FpuState& f) {
  uint16_t tw = 0;
  for (int r = 0; r < 8; ++r) {
    int tag;
    if (!(f.ftw & (1u << r))) {
      tag = 3;
    } else {
      F80 v;
      std::memcpy(v.b, f.st[r], 10);
      uint64_t mant;
      std::memcpy(&mant, v.b, 8);
      const int e = Exponent(v);
      if (e == 0x7fff || (e != 0 && !(mant >> 63)) || (e == 0 && mant != 0)) {
        tag = 2;  // special: NaN, infinity, denormal, unsupported
      } else if (e == 0) {
        tag = 1;  // zero
      } else {
        tag = 0;
      }
    }
    tw = static_cast<uint16_t>(tw | (tag << (2 * r)));
  }
  return tw;
}

// ES (and B) summarise the unmasked pending exceptions after FLDCW,
// FLDENV, FRSTOR.
void UpdateEs(FpuState& f) {
  if (f.fsw & ~f.fcw & 0x3f) {
    f.fsw |= kFswEs | kFswB;
  } else {
    f.fsw &= static_cast<uint16_t>(~(kFswEs | kFswB));
  }
}

// FNSTENV/FLDENV image: 14 bytes with a 16-bit operand size, else 28
// (protected-mode layout, SDM vol. 1, figures 8-9/8-10).
int EnvSize(const Insn& i) { return i.opsize == 2 ? 14 : 28; }

void StoreEnv(Cpu& c, const Insn& i, uint8_t* buf) {
  const FpuState& f = c.s.fpu;
  const int w = i.opsize == 2 ? 2 : 4;
  uint64_t fields[7] = {
      f.fcw,
      f.fsw,
      FullTagWord(f),
      f.fip,
      static_cast<uint64_t>(f.fcs) | (static_cast<uint64_t>(f.fop) << 16),
      f.fdp,
      f.fds};
  if (w == 2) fields[4] = f.fcs;
  for (int k = 0; k < 7; ++k) {
    uint64_t v = fields[k];
    if (w == 4 && k < 3) v |= 0xffff0000;  // reserved, read as ones
    std::memcpy(buf + k * w, &v, w);
  }
}

void LoadEnv(FpuState& f, const Insn& i, const uint8_t* buf) {
  const int w = i.opsize == 2 ? 2 : 4;
  auto get = [&](int k) {
    uint64_t v = 0;
    std::memcpy(&v, buf + k * w, w);
    return v;
  };
  f.fcw = static_cast<uint16_t>(get(0));
  f.fsw = static_cast<uint16_t>(get(1));
  const uint16_t tw = static_cast<uint16_t>(get(2));
  f.ftw = 0;
  for (int r = 0; r < 8; ++r) {
    if (((tw >> (2 * r)) & 3) != 3) f.ftw |= static_cast<uint8_t>(1u << r);
  }
  f.fip = get(3);
  f.fcs = static_cast<uint16_t>(get(4));
  if (w == 4) f.fop = static_cast<uint16_t>((get(4) >> 16) & 0x7ff);
  f.fdp = get(5);
  f.fds = static_cast<uint16_t>(get(6));
  UpdateEs(f);
}

// Reads/writes small byte blocks (environment images, FNSAVE).
bool ReadBytes(Cpu& c, const Insn& i, uint64_t off, uint8_t* buf, int n) {
  for (int k = 0; k < n; ++k) {
    uint64_t v;
    if (!c.Read(i.seg, (off + k) & SizeMask(i.addrsize), 1, &v)) return false;
    buf[k] = static_cast<uint8_t>(v);
  }
  return true;
}
bool WriteBytes(Cpu& c, const Insn& i, uint64_t off, const uint8_t* buf,
                int n) {
  // Probe the last byte so a fault on a second page writes nothing.
  uint64_t probe;
  const uint64_t last = (off + n - 1) & SizeMask(i.addrsize);
  if (!c.Read(i.seg, last, 1, &probe) || !c.Write(i.seg, last, 1, probe)) {
    return false;
  }
  for (int k = 0; k < n; ++k) {
    if (!c.Write(i.seg, (off + k) & SizeMask(i.addrsize), 1, buf[k])) {
      return false;
    }
  }
  return true;
}

// Arithmetic index from ModRM.reg: 0 add 1 mul 2 com 3 comp 4 sub 5 subr
// 6 div 7 divr.
constexpr X87Op kArith[8] = {X87Op::kAdd, X87Op::kMul, X87Op::kCom,
                             X87Op::kCom, X87Op::kSub, X87Op::kSubr,
                             X87Op::kDiv, X87Op::kDivr};

// st(dst) = st(dst) op src, or a compare of st0 with src (reg 2/3).
ExecStatus Arith(Cpu& c, int reg, int dst, const F80& a, const F80& b,
                 int pops) {
  FpuState& f = c.s.fpu;
  F80 out[3];
  const uint16_t sw = HostX87(kArith[reg], f.fcw, a, b, out);
  if (reg == 2 || reg == 3) {
    Absorb(f, sw, true);
    f.fsw &= static_cast<uint16_t>(~kFswC1);
  } else if (Absorb(f, sw, false)) {
    SetSt(f, dst, out[0]);
  } else {
    return kNext;  // unmasked: no store, no pop
  }
  for (int k = 0; k < pops; ++k) Pop(f);
  return kNext;
}

ExecStatus StackArith(Cpu& c, int reg, int dst, int src, int pops) {
  FpuState& f = c.s.fpu;
  if (Empty(f, dst) || Empty(f, src)) {
    if (!Underflow(f)) return kNext;
    if (reg != 2 && reg != 3) SetSt(f, dst, kIndefinite);
    if (reg == 2 || reg == 3) f.fsw |= kFswC0 | kFswC2 | kFswC3;
    for (int k = 0; k < pops; ++k) Pop(f);
    return kNext;
  }
  return Arith(c, reg, dst, St(f, dst), St(f, src), pops);
}

// FUCOM/FUCOMP/FUCOMPP: st0 with st(r), no #IA for QNaN operands.
ExecStatus Ucom(Cpu& c, int r, int pops) {
  FpuState& f = c.s.fpu;
  if (Empty(f, 0) || Empty(f, r)) {
    if (!Underflow(f)) return kNext;
    f.fsw |= kFswC0 | kFswC2 | kFswC3;
  } else {
    F80 out[3];
    const uint16_t sw = HostX87(X87Op::kUcom, f.fcw, St(f, 0), St(f, r), out);
    if (!Absorb(f, sw, true)) return kNext;
    f.fsw &= static_cast<uint16_t>(~kFswC1);
  }
  for (int k = 0; k < pops; ++k) Pop(f);
  return kNext;
}

// EFLAGS from a host FCOM/FUCOM status word (FCOMI: ZF PF CF = C3 C2 C0).
void SetComiFlags(Cpu& c, uint16_t sw) {
  uint64_t fl = 0;
  if (sw & kFswC3) fl |= kFlagZf;
  if (sw & kFswC2) fl |= kFlagPf;
  if (sw & kFswC0) fl |= kFlagCf;
  c.SetArith(kArithFlags, fl);
}

ExecStatus Comi(Cpu& c, int i_reg, bool ordered, bool pop) {
  FpuState& f = c.s.fpu;
  uint16_t sw;
  if (Empty(f, 0) || Empty(f, i_reg)) {
    if (!Underflow(f)) return kNext;
    sw = kFswC0 | kFswC2 | kFswC3;
  } else {
    F80 out[3];
    sw = HostX87(ordered ? X87Op::kCom : X87Op::kUcom, f.fcw, St(f, 0),
                 St(f, i_reg), out);
    f.fsw &= static_cast<uint16_t>(~kFswC1);
    if (!Raise(f, sw & 0x3f)) return kNext;
  }
  SetComiFlags(c, sw);
  if (pop) Pop(f);
  return kNext;
}

// A one-operand op on ST0 (or ST0/ST1 pairs) run on the host.
ExecStatus Unary(Cpu& c, X87Op op, bool need_st1) {
  FpuState& f = c.s.fpu;
  const int delta = X87OpStackDelta(op);
  if (Empty(f, 0) || (need_st1 && Empty(f, 1))) {
    if (!Underflow(f)) return kNext;
    if (op == X87Op::kTst) {
      f.fsw |= kFswC0 | kFswC2 | kFswC3;
      return kNext;
    }
    if (delta < 0) {
      Pop(f);
      SetSt(f, 0, kIndefinite);
    } else {
      SetSt(f, 0, kIndefinite);
      if (delta > 0) Push(f, kIndefinite);
    }
    return kNext;
  }
  const F80 a = St(f, 0);
  if (op == X87Op::kPtan || op == X87Op::kSincos || op == X87Op::kSin ||
      op == X87Op::kCos) {
    // |x| >= 2^63: C2 = 1 and nothing else changes.
    const int e = Exponent(a);
    if (e != 0x7fff && e >= 0x3fff + 63) {
      f.fsw |= kFswC2;
      return kNext;
    }
  }
  if (delta > 0 && !Empty(f, 7)) {  // the push would overflow
    f.fsw |= kFswC1;
    Raise(f, kFswIe | kFswSf);
    return kNext;
  }
  F80 out[3];
  const F80 b = need_st1 ? St(f, 1) : F80{};
  const bool cc = op == X87Op::kPrem || op == X87Op::kPrem1 ||
                  op == X87Op::kTst || op == X87Op::kXam;
  const uint16_t sw = HostX87(op, f.fcw, a, b, out);
  if (op == X87Op::kSin || op == X87Op::kCos || op == X87Op::kPtan ||
      op == X87Op::kSincos) {
    f.fsw &= static_cast<uint16_t>(~kFswC2);
  }
  if (!Absorb(f, sw, cc)) return kNext;
  if (op == X87Op::kTst) return kNext;
  if (delta < 0) {
    Pop(f);
    SetSt(f, 0, out[0]);
  } else if (delta > 0) {
    SetSt(f, 0, out[1]);
    PushSlot(f);
    SetSt(f, 0, out[0]);
  } else {
    SetSt(f, 0, out[0]);
  }
  return kNext;
}

ExecStatus Fxam(Cpu& c) {
  FpuState& f = c.s.fpu;
  const F80 a = St(f, 0);
  uint16_t cc = (a.b[9] & 0x80) ? kFswC1 : 0;
  if (Empty(f, 0)) {
    cc |= kFswC3 | kFswC0;
  } else {
    F80 out[3];
    cc = HostX87(X87Op::kXam, f.fcw, a, F80{}, out) & kFswCc;
  }
  f.fsw = static_cast<uint16_t>((f.fsw & ~kFswCc) | cc);
  return kNext;
}

// ---- Memory operand forms --------------------------------------------------

// The memory source of D8/DA/DC/DE arithmetic, converted to 80 bits.
bool LoadArithSource(Cpu& c, const Insn& i, int opb, F80* out, bool* ok) {
  FpuState& f = c.s.fpu;
  const int size = opb == 0xd8 ? 4 : opb == 0xdc ? 8 : opb == 0xda ? 4 : 2;
  uint64_t bits;
  if (!c.Read(i.seg, c.EffAddr(i), size, &bits)) return false;
  const uint16_t sw = (opb == 0xd8 || opb == 0xdc)
                          ? HostLoadFloat(size, bits, f.fcw, out)
                          : HostLoadInt(size, bits, f.fcw, out);
  *ok = Raise(f, sw & 0x3f);
  return true;
}

ExecStatus MemArith(Cpu& c, const Insn& i, int opb) {
  FpuState& f = c.s.fpu;
  const int reg = i.reg & 7;
  F80 src;
  bool ok;
  if (!LoadArithSource(c, i, opb, &src, &ok)) return kFault;
  if (!ok) return kNext;
  if (Empty(f, 0)) {
    if (!Underflow(f)) return kNext;
    if (reg == 2 || reg == 3) {
      f.fsw |= kFswC0 | kFswC2 | kFswC3;
    } else {
      SetSt(f, 0, kIndefinite);
    }
    if (reg == 3) Pop(f);
    return kNext;
  }
  return Arith(c, reg, 0, St(f, 0), src, reg == 3 ? 1 : 0);
}

// FLD m32/m64/m80, FILD m16/m32/m64.
ExecStatus LoadPush(Cpu& c, const Insn& i, int size, bool integer) {
  FpuState& f = c.s.fpu;
  const uint64_t off = c.EffAddr(i);
  F80 v;
  if (size == 10) {
    uint64_t lo, hi;
    if (!c.Read(i.seg, off, 8, &lo) ||
        !c.Read(i.seg, (off + 8) & SizeMask(i.addrsize), 2, &hi)) {
      return kFault;
    }
    std::memcpy(v.b, &lo, 8);
    std::memcpy(v.b + 8, &hi, 2);
  } else {
    uint64_t bits;
    if (!c.Read(i.seg, off, size, &bits)) return kFault;
    const uint16_t sw = integer ? HostLoadInt(size, bits, f.fcw, &v)
                                : HostLoadFloat(size, bits, f.fcw, &v);
    if (!Raise(f, sw & 0x3f)) return kNext;
  }
  Push(f, v);
  return kNext;
}

// FST/FSTP m32/m64/m80, FIST/FISTP/FISTTP m16/m32/m64.
ExecStatus StoreMem(Cpu& c, const Insn& i, int size, bool integer, bool trunc,
                    bool pop) {
  FpuState& f = c.s.fpu;
  const uint64_t off = c.EffAddr(i);
  F80 v = St(f, 0);
  bool empty = Empty(f, 0);
  if (empty) {
    if (!Underflow(f)) return kNext;
    v = kIndefinite;
  }
  if (size == 10) {
    uint64_t lo, hi = 0;
    std::memcpy(&lo, v.b, 8);
    std::memcpy(&hi, v.b + 8, 2);
    uint64_t probe;
    const uint64_t off2 = (off + 8) & SizeMask(i.addrsize);
    if (!c.Read(i.seg, off2, 2, &probe) || !c.Write(i.seg, off2, 2, hi) ||
        !c.Write(i.seg, off, 8, lo)) {
      return kFault;
    }
    if (!empty) f.fsw &= static_cast<uint16_t>(~kFswC1);  // exact store
  } else {
    uint64_t bits;
    const uint16_t sw = integer ? HostStoreInt(size, trunc, v, f.fcw, &bits)
                                : HostStoreFloat(size, v, f.fcw, &bits);
    const uint16_t saved_fsw = f.fsw;
    if (!empty && !Absorb(f, sw, false)) return kNext;
    if (!c.Write(i.seg, off, size, bits)) {
      f.fsw = saved_fsw;
      return kFault;
    }
  }
  if (pop) Pop(f);
  return kNext;
}

ExecStatus FpuEnv(Cpu& c, const Insn& i, bool store, bool with_regs) {
  FpuState& f = c.s.fpu;
  const uint64_t off = c.EffAddr(i);
  const int env = EnvSize(i);
  const int n = env + (with_regs ? 80 : 0);
  uint8_t buf[28 + 80] = {};
  if (store) {
    StoreEnv(c, i, buf);
    if (with_regs) {
      for (int k = 0; k < 8; ++k)
        std::memcpy(buf + env + 10 * k, f.st[Phys(f, k)], 10);
    }
    if (!WriteBytes(c, i, off, buf, n)) return kFault;
    if (with_regs) {
      FninitState(&f);  // FNSAVE ends with an FNINIT
    } else {
      f.fcw |= 0x3f;  // FNSTENV masks all exceptions (SDM vol. 2, FSTENV)
    }
    return kNext;
  }
  if (!ReadBytes(c, i, off, buf, n)) return kFault;
  LoadEnv(f, i, buf);
  if (with_regs) {
    for (int k = 0; k < 8; ++k) {
      const int r = Phys(f, k);
      std::memset(f.st[r], 0, 16);
      std::memcpy(f.st[r], buf + env + 10 * k, 10);
    }
  }
  return kNext;
}

// Control instructions do not update FOP/FIP/FDP and do not check for
// pending exceptions (SDM vol. 1, section 8.1.8 and 8.6).
bool IsControl(int opb, const Insn& i) {
  const int reg = i.reg & 7;
  if (i.mod != 3) {
    return (opb == 0xd9 && reg >= 4) || (opb == 0xdd && (reg == 4 || reg >= 6));
  }
  const int modrm = 0xc0 | (reg << 3) | (i.rm & 7);
  return (opb == 0xdb && (modrm >= 0xe0 && modrm <= 0xe4)) ||
         (opb == 0xdf && modrm == 0xe0);
}

ExecStatus MemOp(Cpu& c, const Insn& i, int opb) {
  FpuState& f = c.s.fpu;
  const int reg = i.reg & 7;
  const uint64_t off = c.EffAddr(i);
  switch (opb) {
    case 0xd8:
    case 0xda:
    case 0xdc:
    case 0xde:
      return MemArith(c, i, opb);
    case 0xd9:
      switch (reg) {
        case 0:
          return LoadPush(c, i, 4, false);
        case 2:
        case 3:
          return StoreMem(c, i, 4, false, false, reg == 3);
        case 4:
          return FpuEnv(c, i, false, false);
        case 5: {  // FLDCW
          uint64_t v;
          if (!c.Read(i.seg, off, 2, &v)) return kFault;
          f.fcw = static_cast<uint16_t>(v);
          UpdateEs(f);
          return kNext;
        }
        case 6:
          return FpuEnv(c, i, true, false);
        case 7:  // FNSTCW
          return c.Write(i.seg, off, 2, f.fcw) ? kNext : kFault;
        default:
          return c.Ud();
      }
    case 0xdb:
      switch (reg) {
        case 0:
          return LoadPush(c, i, 4, true);
        case 1:
        case 2:
        case 3:
          return StoreMem(c, i, 4, true, reg == 1, reg != 2);
        case 5:
          return LoadPush(c, i, 10, false);
        case 7:
          return StoreMem(c, i, 10, false, false, true);
        default:
          return c.Ud();
      }
    case 0xdd:
      switch (reg) {
        case 0:
          return LoadPush(c, i, 8, false);
        case 1:
          return StoreMem(c, i, 8, true, true, true);
        case 2:
        case 3:
          return StoreMem(c, i, 8, false, false, reg == 3);
        case 4:
          return FpuEnv(c, i, false, true);
        case 6:
          return FpuEnv(c, i, true, true);
        case 7:  // FNSTSW m16
          return c.Write(i.seg, off, 2, f.fsw) ? kNext : kFault;
        default:
          return c.Ud();
      }
    default:  // 0xdf
      switch (reg) {
        case 0:
          return LoadPush(c, i, 2, true);
        case 1:
        case 2:
        case 3:
          return StoreMem(c, i, 2, true, reg == 1, reg != 2);
        case 5:
          return LoadPush(c, i, 8, true);
        case 7:
          return StoreMem(c, i, 8, true, false, true);
        default:
          return c.Ud();  // FBLD, FBSTP
      }
  }
}

ExecStatus Fcmov(Cpu& c, int cc, int src) {
  FpuState& f = c.s.fpu;
  if (Empty(f, src)) {
    if (!Underflow(f)) return kNext;
    if (c.Cond(cc)) SetSt(f, 0, kIndefinite);
    return kNext;
  }
  if (c.Cond(cc)) SetSt(f, 0, St(f, src));
  return kNext;
}

ExecStatus RegOp(Cpu& c, const Insn& i, int opb) {
  FpuState& f = c.s.fpu;
  const int reg = i.reg & 7;
  const int r = i.rm & 7;
  switch (opb) {
    case 0xd8:
      return StackArith(c, reg, 0, r, reg == 3 ? 1 : 0);
    case 0xdc:
      // DC/DE: st(i) = st(i) op st0, with SUB/SUBR and DIV/DIVR swapped
      // relative to D8 (SDM vol. 2, table A-10).
      return StackArith(c, reg >= 4 ? reg ^ 1 : reg,
                        reg == 2 || reg == 3 ? 0 : r,
                        reg == 2 || reg == 3 ? r : 0, reg == 3 ? 1 : 0);
    case 0xde:
      if (reg == 3) {  // FCOMPP (DE D9 only)
        if (r != 1) return c.Ud();
        return StackArith(c, 3, 0, 1, 2);
      }
      return StackArith(c, reg >= 4 ? reg ^ 1 : reg, reg == 2 ? 0 : r,
                        reg == 2 ? r : 0, 1);
    case 0xd9:
      switch (reg) {
        case 0: {  // FLD st(i)
          if (Empty(f, r)) {
            if (!Underflow(f)) return kNext;
            Push(f, kIndefinite);
            return kNext;
          }
          Push(f, St(f, r));
          return kNext;
        }
        case 1: {  // FXCH
          if (Empty(f, 0) || Empty(f, r)) {
            if (!Underflow(f)) return kNext;
            if (Empty(f, 0)) SetSt(f, 0, kIndefinite);
            if (Empty(f, r)) SetSt(f, r, kIndefinite);
          }
          const F80 a = St(f, 0);
          SetSt(f, 0, St(f, r));
          SetSt(f, r, a);
          f.fsw &= static_cast<uint16_t>(~kFswC1);
          return kNext;
        }
        case 2:  // FNOP
          return r == 0 ? kNext : c.Ud();
        case 4:
          switch (r) {
            case 0:
              return Unary(c, X87Op::kChs, false);
            case 1:
              return Unary(c, X87Op::kAbs, false);
            case 4:
              return Unary(c, X87Op::kTst, false);
            case 5:
              return Fxam(c);
            default:
              return c.Ud();
          }
        case 5: {  // constants
          if (r == 7) return c.Ud();
          F80 v;
          const uint16_t sw = HostLoadConst(r, f.fcw, &v);
          (void)sw;  // constant loads raise no exceptions
          Push(f, v);
          return kNext;
        }
        case 6: {
          static constexpr X87Op kOps[8] = {
              X87Op::kF2xm1,  X87Op::kYl2x,  X87Op::kPtan, X87Op::kPatan,
              X87Op::kXtract, X87Op::kPrem1, X87Op::kAdd,  X87Op::kAdd};
          if (r == 6 || r == 7) {  // FDECSTP, FINCSTP
            SetFpuTop(&f, FpuTop(f) + (r == 6 ? -1 : 1));
            f.fsw &= static_cast<uint16_t>(~kFswC1);
            return kNext;
          }
          const X87Op op = kOps[r];
          return Unary(c, op,
                       op != X87Op::kF2xm1 && op != X87Op::kPtan &&
                           op != X87Op::kXtract);
        }
        case 7: {
          static constexpr X87Op kOps[8] = {
              X87Op::kPrem,   X87Op::kYl2xp1, X87Op::kSqrt, X87Op::kSincos,
              X87Op::kRndint, X87Op::kScale,  X87Op::kSin,  X87Op::kCos};
          const X87Op op = kOps[r];
          return Unary(c, op,
                       op == X87Op::kPrem || op == X87Op::kYl2xp1 ||
                           op == X87Op::kScale);
        }
        default:
          return c.Ud();
      }
    case 0xda:
      if (reg < 4) {  // FCMOVB FCMOVE FCMOVBE FCMOVU
        static constexpr int kCc[4] = {2, 4, 6, 0xa};
        return Fcmov(c, kCc[reg], r);
      }
      if (reg == 5 && r == 1) return Ucom(c, 1, 2);  // FUCOMPP
      return c.Ud();
    case 0xdb:
      if (reg < 4) {  // FCMOVNB FCMOVNE FCMOVNBE FCMOVNU
        static constexpr int kCc[4] = {3, 5, 7, 0xb};
        return Fcmov(c, kCc[reg], r);
      }
      if (reg == 4) {
        switch (r) {
          case 0:  // FENI, FDISI, FSETPM: no-ops since the 80287
          case 1:
          case 4:
            return kNext;
          case 2:  // FNCLEX
            f.fsw &= static_cast<uint16_t>(~(0x3f | kFswSf | kFswEs | kFswB));
            return kNext;
          case 3:  // FNINIT
            FninitState(&f);
            return kNext;
          default:
            return c.Ud();
        }
      }
      if (reg == 5) return Comi(c, r, false, false);  // FUCOMI
      if (reg == 6) return Comi(c, r, true, false);   // FCOMI
      return c.Ud();
    case 0xdd:
      switch (reg) {
        case 0:  // FFREE
          f.ftw &= static_cast<uint8_t>(~(1u << Phys(f, r)));
          return kNext;
        case 2:  // FST st(i)
        case 3:  // FSTP st(i)
          if (Empty(f, 0)) {
            if (!Underflow(f)) return kNext;
            SetSt(f, r, kIndefinite);
          } else {
            SetSt(f, r, St(f, 0));
            f.fsw &= static_cast<uint16_t>(~kFswC1);
          }
          if (reg == 3) Pop(f);
          return kNext;
        case 4:  // FUCOM
        case 5:  // FUCOMP
          return Ucom(c, r, reg == 5 ? 1 : 0);
        default:
          return c.Ud();
      }
    default:           // 0xdf
      if (reg == 0) {  // FFREEP
        f.ftw &= static_cast<uint8_t>(~(1u << Phys(f, r)));
        Pop(f);
        return kNext;
      }
      if (reg == 4 && r == 0) {  // FNSTSW AX
        c.SetReg(kRax, 2, f.fsw);
        return kNext;
      }
      if (reg == 5) return Comi(c, r, false, true);  // FUCOMIP
      if (reg == 6) return Comi(c, r, true, true);   // FCOMIP
      return c.Ud();
  }
}

}  // namespace

ExecStatus OpX87(Cpu& c, const Insn& i) {
  if (!X87Available(c)) return kFault;
  const int opb = i.op & 0xff;
  const bool control = IsControl(opb, i);
  if (!control) {
    if (!CheckPending(c)) return kFault;
    FpuState& f = c.s.fpu;
    f.fop = static_cast<uint16_t>(((opb & 7) << 8) | (i.mod << 6) |
                                  ((i.reg & 7) << 3) | (i.rm & 7));
    f.fip = c.InsnRip(i);
    f.fcs = c.s.seg[kCs].selector;
    if (i.is_mem()) {
      f.fdp = c.EffAddr(i);
      f.fds = c.s.seg[i.seg < 6 ? int{i.seg} : int{kDs}].selector;
    }
  }
  return i.is_mem() ? MemOp(c, i, opb) : RegOp(c, i, opb);
}

ExecStatus OpFwait(Cpu& c, const Insn&) {
  // FWAIT: #NM only when both MP and TS are set (SDM vol. 3, table 2-2).
  if ((c.s.cr0 & kCr0Mp) && (c.s.cr0 & kCr0Ts)) return c.Fault(kNm);
  return CheckPending(c) ? kNext : kFault;
}

}  // namespace skiff::tcg
