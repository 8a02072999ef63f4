// Integer arithmetic: the ALU group, INC/DEC, NEG/NOT, multiply and divide
// (#DE per Intel SDM vol. 2 DIV/IDIV), sign extension of the accumulator,
// XADD and CMPXCHG (locked forms are host atomics).
#include "tcg/cpu.h"
#include "tcg/ops.h"
#include "tcg/ops_util.h"

namespace skiff::tcg {

uint64_t Alu(Cpu& c, int op, int size, uint64_t a, uint64_t b) {
  const uint64_t m = SizeMask(size);
  a &= m;
  b &= m;
  uint64_t r;
  switch (op) {
    case 0:
      r = (a + b) & m;
      c.SetLazy(kCcAdd, size, r, a, b);
      return r;
    case 1:
      r = a | b;
      c.SetLazy(kCcLogic, size, r, a, b);
      return r;
    case 2: {
      const uint64_t cin = c.Cf();
      r = (a + b + cin) & m;
      c.SetLazy(kCcAdc, size, r, a, b, cin);
      return r;
    }
    case 3: {
      const uint64_t cin = c.Cf();
      r = (a - b - cin) & m;
      c.SetLazy(kCcSbb, size, r, a, b, cin);
      return r;
    }
    case 4:
      r = a & b;
      c.SetLazy(kCcLogic, size, r, a, b);
      return r;
    case 6:
      r = a ^ b;
      c.SetLazy(kCcLogic, size, r, a, b);
      return r;
    default:  // 5 SUB, 7 CMP
      r = (a - b) & m;
      c.SetLazy(kCcSub, size, r, a, b);
      return r;
  }
}

namespace {

ExecStatus AluToRm(Cpu& c, const Insn& i, int op, uint64_t b) {
  const int size = i.opsize;
  if (op == 7) {
    uint64_t a;
    if (!c.ReadRm(i, size, &a)) return ExecStatus::kFault;
    Alu(c, op, size, a, b);
    return ExecStatus::kNext;
  }
  if ((op == 2 || op == 3) && i.lock) {
    // ADC/SBB read CF inside f; under a CAS retry CF must be the original.
    const uint64_t saved_flags = c.Rflags();
    return RmwRm(c, i, size, [&](uint64_t a) {
      c.SetRflagsRaw(saved_flags);
      return Alu(c, op, size, a, b);
    });
  }
  return RmwRm(c, i, size, [&](uint64_t a) { return Alu(c, op, size, a, b); });
}

ExecStatus IncDec(Cpu& c, const Insn& i, int size, bool dec) {
  const uint64_t cf = c.Cf();
  return RmwRm(c, i, size, [&](uint64_t a) {
    const uint64_t r = (dec ? a - 1 : a + 1) & SizeMask(size);
    c.SetLazy(dec ? kCcDec : kCcInc, size, r, a, 1, cf);
    return r;
  });
}

}  // namespace

ExecStatus OpAluRmR(Cpu& c, const Insn& i) {
  return AluToRm(c, i, (i.op >> 3) & 7, c.GetR(i, i.opsize));
}

ExecStatus OpAluRRm(Cpu& c, const Insn& i) {
  uint64_t b;
  if (!c.ReadRm(i, i.opsize, &b)) return ExecStatus::kFault;
  const int op = (i.op >> 3) & 7;
  const uint64_t r = Alu(c, op, i.opsize, c.GetR(i, i.opsize), b);
  if (op != 7) c.SetR(i, i.opsize, r);
  return ExecStatus::kNext;
}

ExecStatus OpAluAccImm(Cpu& c, const Insn& i) {
  const int op = (i.op >> 3) & 7;
  const uint64_t r = Alu(c, op, i.opsize, c.Reg(kRax, i.opsize), i.imm);
  if (op != 7) c.SetReg(kRax, i.opsize, r);
  return ExecStatus::kNext;
}

ExecStatus OpGrp1(Cpu& c, const Insn& i) {
  return AluToRm(c, i, i.reg & 7, i.imm);
}

ExecStatus OpTestRmR(Cpu& c, const Insn& i) {
  uint64_t a;
  if (!c.ReadRm(i, i.opsize, &a)) return ExecStatus::kFault;
  Alu(c, 4, i.opsize, a, c.GetR(i, i.opsize));
  return ExecStatus::kNext;
}

ExecStatus OpTestAccImm(Cpu& c, const Insn& i) {
  Alu(c, 4, i.opsize, c.Reg(kRax, i.opsize), i.imm);
  return ExecStatus::kNext;
}

ExecStatus OpIncDecReg(Cpu& c, const Insn& i) {
  // 40-47 INC, 48-4f DEC (16/32-bit code only; REX in 64-bit mode).
  const int r = i.op & 7;
  const bool dec = i.op & 8;
  const uint64_t a = c.Reg(r, i.opsize);
  const uint64_t res = (dec ? a - 1 : a + 1) & SizeMask(i.opsize);
  c.SetLazy(dec ? kCcDec : kCcInc, i.opsize, res, a, 1, c.Cf());
  c.SetReg(r, i.opsize, res);
  return ExecStatus::kNext;
}

ExecStatus OpGrp4(Cpu& c, const Insn& i) {
  if ((i.reg & 7) > 1) return c.Ud();
  return IncDec(c, i, 1, i.reg & 1);
}

// FF /0 and /1 are handled here for OpGrp5 (ops_control.cc).
ExecStatus IncDecRm(Cpu& c, const Insn& i, bool dec) {
  return IncDec(c, i, i.opsize, dec);
}

namespace {

// Multiplication flags: CF = OF = `overflow`; SF ZF PF from the low half.
void MulFlags(Cpu& c, uint64_t lo, int size, bool overflow) {
  uint64_t f = SzpFlags(lo, size);
  if (overflow) f |= kFlagCf | kFlagOf;
  c.SetArith(kArithFlags, f);
}

int64_t SignedOf(uint64_t v, int size) {
  return static_cast<int64_t>(SignExtend(v, size));
}

ExecStatus Mul(Cpu& c, const Insn& i, bool is_signed) {
  const int size = i.opsize;
  uint64_t b;
  if (!c.ReadRm(i, size, &b)) return ExecStatus::kFault;
  const uint64_t a = c.Reg(kRax, size);
  const int bits = size * 8;
  if (!is_signed) {
    const u128 p = static_cast<u128>(a) * static_cast<u128>(b);
    const uint64_t lo = static_cast<uint64_t>(p) & SizeMask(size);
    const uint64_t hi = size == 8
                            ? static_cast<uint64_t>(p >> 64)
                            : static_cast<uint64_t>(p >> bits) & SizeMask(size);
    if (size == 1) {
      c.SetReg(kRax, 2, static_cast<uint64_t>(p));
    } else {
      c.SetReg(kRax, size, lo);
      c.SetReg(kRdx, size, hi);
    }
    MulFlags(c, lo, size, hi != 0);
  } else {
    const s128 p = static_cast<s128>(SignedOf(a, size)) *
                   static_cast<s128>(SignedOf(b, size));
    const uint64_t lo = static_cast<uint64_t>(p) & SizeMask(size);
    const uint64_t hi = size == 8
                            ? static_cast<uint64_t>(p >> 64)
                            : static_cast<uint64_t>(p >> bits) & SizeMask(size);
    if (size == 1) {
      c.SetReg(kRax, 2, static_cast<uint64_t>(p));
    } else {
      c.SetReg(kRax, size, lo);
      c.SetReg(kRdx, size, hi);
    }
    MulFlags(c, lo, size, p != static_cast<s128>(SignedOf(lo, size)));
  }
  return ExecStatus::kNext;
}

ExecStatus Div(Cpu& c, const Insn& i, bool is_signed) {
  const int size = i.opsize;
  uint64_t d;
  if (!c.ReadRm(i, size, &d)) return ExecStatus::kFault;
  d &= SizeMask(size);
  if (d == 0) return c.Fault(kDe);
  const int bits = size * 8;
  u128 n;
  if (size == 1) {
    n = c.Reg(kRax, 2);
  } else {
    n = (static_cast<u128>(c.Reg(kRdx, size)) << bits) | c.Reg(kRax, size);
  }
  uint64_t q, r;
  if (!is_signed) {
    const u128 qq = n / d;
    if (qq >> bits) return c.Fault(kDe);
    q = static_cast<uint64_t>(qq);
    r = static_cast<uint64_t>(n % d);
  } else {
    // Sign-extend the 2*bits-wide dividend.
    s128 sn = static_cast<s128>(n << (128 - 2 * bits)) >> (128 - 2 * bits);
    const s128 sd = SignedOf(d, size);
    if (sd == -1 && sn == -(static_cast<s128>(1) << (2 * bits - 1))) {
      return c.Fault(kDe);
    }
    const s128 qq = sn / sd;
    const s128 lim = static_cast<s128>(1) << (bits - 1);
    if (qq >= lim || qq < -lim) return c.Fault(kDe);
    q = static_cast<uint64_t>(qq);
    r = static_cast<uint64_t>(sn % sd);
  }
  if (size == 1) {
    c.SetReg(kRax, 2, (q & 0xff) | ((r & 0xff) << 8));
  } else {
    c.SetReg(kRax, size, q);
    c.SetReg(kRdx, size, r);
  }
  return ExecStatus::kNext;
}

}  // namespace

ExecStatus OpGrp3(Cpu& c, const Insn& i) {
  const int size = i.opsize;
  const int sub = i.reg & 7;
  if (i.lock && sub != 2 && sub != 3) return c.Ud();
  switch (sub) {
    case 0:
    case 1: {
      uint64_t a;
      if (!c.ReadRm(i, size, &a)) return ExecStatus::kFault;
      Alu(c, 4, size, a, i.imm);
      return ExecStatus::kNext;
    }
    case 2:
      return RmwRm(c, i, size, [](uint64_t a) { return ~a; });
    case 3:
      return RmwRm(c, i, size, [&](uint64_t a) {
        const uint64_t r = (0 - a) & SizeMask(size);
        c.SetLazy(kCcSub, size, r, 0, a);
        return r;
      });
    case 4:
      return Mul(c, i, false);
    case 5:
      return Mul(c, i, true);
    case 6:
      return Div(c, i, false);
    default:
      return Div(c, i, true);
  }
}

namespace {

ExecStatus ImulTo(Cpu& c, const Insn& i, uint64_t a, uint64_t b) {
  const int size = i.opsize;
  const s128 p = static_cast<s128>(SignedOf(a, size)) *
                 static_cast<s128>(SignedOf(b, size));
  const uint64_t lo = static_cast<uint64_t>(p) & SizeMask(size);
  c.SetR(i, size, lo);
  MulFlags(c, lo, size, p != static_cast<s128>(SignedOf(lo, size)));
  return ExecStatus::kNext;
}

}  // namespace

ExecStatus OpImul2(Cpu& c, const Insn& i) {
  uint64_t b;
  if (!c.ReadRm(i, i.opsize, &b)) return ExecStatus::kFault;
  return ImulTo(c, i, c.GetR(i, i.opsize), b);
}

ExecStatus OpImul3(Cpu& c, const Insn& i) {
  uint64_t a;
  if (!c.ReadRm(i, i.opsize, &a)) return ExecStatus::kFault;
  return ImulTo(c, i, a, i.imm);
}

ExecStatus OpCbw(Cpu& c, const Insn& i) {
  const int half = i.opsize / 2;
  c.SetReg(kRax, i.opsize, SignExtend(c.Reg(kRax, half), half));
  return ExecStatus::kNext;
}

ExecStatus OpCwd(Cpu& c, const Insn& i) {
  const uint64_t a = c.Reg(kRax, i.opsize);
  const bool neg = a >> (i.opsize * 8 - 1);
  c.SetReg(kRdx, i.opsize, neg ? ~0ull : 0);
  return ExecStatus::kNext;
}

ExecStatus OpXadd(Cpu& c, const Insn& i) {
  const int size = i.opsize;
  const uint64_t b = c.GetR(i, size);
  if (i.mod == 3) {
    // TEMP = SRC + DEST; SRC = DEST; DEST = TEMP (SDM vol. 2, XADD): with
    // the same register for both, the sum is what remains.
    uint64_t a;
    c.ReadRm(i, size, &a);
    const uint64_t sum = Alu(c, 0, size, a, b);
    c.SetR(i, size, a);
    c.WriteRm(i, size, sum);
    return ExecStatus::kNext;
  }
  uint64_t old = 0;
  ExecStatus st = RmwRm(c, i, size, [&](uint64_t a) {
    old = a;
    return Alu(c, 0, size, a, b);
  });
  if (st != ExecStatus::kNext) return st;
  c.SetR(i, size, old);
  return ExecStatus::kNext;
}

ExecStatus OpCmpxchg(Cpu& c, const Insn& i) {
  const int size = i.opsize;
  const uint64_t m = SizeMask(size);
  const uint64_t acc = c.Reg(kRax, size);
  const uint64_t src = c.GetR(i, size);
  uint64_t old = 0;
  if (i.mod == 3) {
    old = c.Reg(i.rm, size);
    if (size == 1) old = c.Reg8(i.rm, i.rex);
    if (old == acc) c.WriteRm(i, size, src);
  } else {
    const uint64_t off = c.EffAddr(i);
    uint8_t* h = nullptr;
    if (!c.HostPtrForRmw(i.seg, off, size, &h)) return ExecStatus::kFault;
    if (h != nullptr && (reinterpret_cast<uintptr_t>(h) & (size - 1)) == 0) {
      auto cas = [&](auto* p) {
        using T = std::remove_reference_t<decltype(*p)>;
        T expected = static_cast<T>(acc);
        __atomic_compare_exchange_n(p, &expected, static_cast<T>(src), false,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        old = expected;
      };
      switch (size) {
        case 1:
          cas(reinterpret_cast<uint8_t*>(h));
          break;
        case 2:
          cas(reinterpret_cast<uint16_t*>(h));
          break;
        case 4:
          cas(reinterpret_cast<uint32_t*>(h));
          break;
        default:
          cas(reinterpret_cast<uint64_t*>(h));
          break;
      }
    } else {
      if (!c.Read(i.seg, off, size, &old)) return ExecStatus::kFault;
      // The destination is written in both cases (Intel SDM CMPXCHG).
      if (!c.Write(i.seg, off, size, old == acc ? src : old)) {
        return ExecStatus::kFault;
      }
    }
  }
  old &= m;
  Alu(c, 7, size, acc, old);
  if (old != acc) c.SetReg(kRax, size, old);
  return ExecStatus::kNext;
}

namespace {

// 0F C7 /6 RDRAND r and /7 RDSEED r (Intel SDM vol. 2): CF=1 with a random
// value, or CF=0 and zero when none is available (the guest retries); OF,
// SF, ZF, AF and PF are cleared. Both draw on the vCPU's GuestEntropy,
// which already is a conditioned source, so they differ only in name.
ExecStatus RandomToReg(Cpu& c, const Insn& i) {
  // F3 0F C7 /7 is RDPID, which CPUID does not offer.
  if (i.rep != 0) return c.Ud();
  uint64_t v = 0;
  const bool ok = c.entropy->Next64(&v);
  c.SetReg(i.rm, i.opsize, ok ? v : 0);
  c.SetRflagsRaw((c.Rflags() & ~kArithFlags) | (ok ? kFlagCf : 0));
  return ExecStatus::kNext;
}

}  // namespace

ExecStatus OpGrp9(Cpu& c, const Insn& i) {
  if (i.mod == 3 && ((i.reg & 7) == 6 || (i.reg & 7) == 7)) {
    return RandomToReg(c, i);
  }
  // 0F C7 /1: CMPXCHG8B m64, or CMPXCHG16B m128 with REX.W.
  if ((i.reg & 7) != 1 || i.mod == 3) return c.Ud();
  const bool wide = i.opsize == 8;
  const uint64_t off = c.EffAddr(i);
  const uint64_t m = wide ? ~0ull : 0xffffffffull;
  const uint64_t eax = c.s.gpr[kRax] & m, edx = c.s.gpr[kRdx] & m;
  const uint64_t ebx = c.s.gpr[kRbx] & m, ecx = c.s.gpr[kRcx] & m;
  if (wide && (c.Linear(i.seg, off) & 15)) return c.Gp0();
  const int size = wide ? 16 : 8;
  uint8_t* h = nullptr;
  if (!c.HostPtrForRmw(i.seg, off, size, &h)) return ExecStatus::kFault;
  uint64_t lo, hi;
  bool equal;
  if (h != nullptr && (reinterpret_cast<uintptr_t>(h) & (size - 1)) == 0) {
    if (wide) {
      lo = eax;
      hi = edx;
      equal = HostCas16(h, &lo, &hi, ebx, ecx);
    } else {
      uint64_t expected = (edx << 32) | eax;
      equal = __atomic_compare_exchange_n(reinterpret_cast<uint64_t*>(h),
                                          &expected, (ecx << 32) | ebx, false,
                                          __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
      lo = expected & 0xffffffff;
      hi = expected >> 32;
    }
  } else {
    const int half = wide ? 8 : 4;
    if (!c.Read(i.seg, off, half, &lo) ||
        !c.Read(i.seg, off + half, half, &hi)) {
      return ExecStatus::kFault;
    }
    equal = lo == eax && hi == edx;
    if (!c.Write(i.seg, off, half, equal ? ebx : lo) ||
        !c.Write(i.seg, off + half, half, equal ? ecx : hi)) {
      return ExecStatus::kFault;
    }
  }
  const uint64_t f = c.Rflags();
  c.SetRflagsRaw(equal ? (f | kFlagZf) : (f & ~kFlagZf));
  if (!equal) {
    c.SetReg(kRax, wide ? 8 : 4, lo);
    c.SetReg(kRdx, wide ? 8 : 4, hi);
  }
  return ExecStatus::kNext;
}

}  // namespace skiff::tcg
