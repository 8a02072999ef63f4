// Shifts and rotates (Intel SDM vol. 2, SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR,
// SHLD, SHRD), bit tests (BT BTS BTR BTC), bit scans (BSF BSR, LZCNT) and
// POPCNT, BSWAP. Flags are computed eagerly: their rules depend on the
// count. TZCNT is not advertised, so F3 0F BC executes as BSF like CPUs
// without BMI1.
#include "tcg/cpu.h"
#include "tcg/ops.h"
#include "tcg/ops_util.h"

namespace skiff::tcg {
namespace {

uint64_t Msb(uint64_t v, int size) { return (v >> (size * 8 - 1)) & 1; }

// Computes op (0 ROL 1 ROR 2 RCL 3 RCR 4 SHL 5 SHR 6 SAL 7 SAR) on `a` by
// an already masked, non-zero `cnt`; updates flags.
uint64_t Shift(Cpu& c, int op, int size, uint64_t a, unsigned cnt) {
  const int bits = size * 8;
  const uint64_t m = SizeMask(size);
  a &= m;
  uint64_t r = 0;
  // Only RCL and RCR read a flag (CF); every op sets CF and OF.
  bool cf = (op == 2 || op == 3) && c.Cf();
  bool of = false;
  bool szp = false;
  switch (op) {
    case 0: {  // ROL
      const unsigned n = cnt % bits;
      r = n ? ((a << n) | (a >> (bits - n))) & m : a;
      cf = r & 1;
      of = Msb(r, size) ^ cf;
      break;
    }
    case 1: {  // ROR
      const unsigned n = cnt % bits;
      r = n ? ((a >> n) | (a << (bits - n))) & m : a;
      cf = Msb(r, size);
      of = Msb(r, size) ^ ((r >> (bits - 2)) & 1);
      break;
    }
    case 2: {  // RCL: rotate through CF, (bits + 1)-bit rotation
      const unsigned n = size < 4 ? cnt % (bits + 1) : cnt;
      r = a;
      for (unsigned k = 0; k < n; ++k) {
        const bool out = Msb(r, size);
        r = ((r << 1) | (cf ? 1 : 0)) & m;
        cf = out;
      }
      of = Msb(r, size) ^ cf;
      break;
    }
    case 3: {  // RCR
      const unsigned n = size < 4 ? cnt % (bits + 1) : cnt;
      r = a;
      of = Msb(r, size) ^ cf;
      for (unsigned k = 0; k < n; ++k) {
        const bool out = r & 1;
        r = (r >> 1) | ((cf ? 1ull : 0) << (bits - 1));
        cf = out;
      }
      break;
    }
    case 4:
    case 6: {  // SHL/SAL
      const u128 w = static_cast<u128>(a) << cnt;
      r = static_cast<uint64_t>(w) & m;
      cf = static_cast<uint64_t>(w >> bits) & 1;
      of = Msb(r, size) ^ cf;
      szp = true;
      break;
    }
    case 5:  // SHR
      r = cnt >= 64 ? 0 : a >> cnt;
      cf = (a >> (cnt - 1)) & 1;
      of = Msb(a, size);
      szp = true;
      break;
    default: {  // SAR
      const int64_t sa = static_cast<int64_t>(SignExtend(a, size));
      r = static_cast<uint64_t>(sa >> (cnt > 63 ? 63 : cnt)) & m;
      cf = (sa >> (cnt - 1 > 63 ? 63 : cnt - 1)) & 1;
      of = false;
      szp = true;
    }
  }
  uint64_t mask = kFlagCf | kFlagOf;
  uint64_t f = (cf ? kFlagCf : 0) | (of ? kFlagOf : 0);
  if (szp) {
    mask = kArithFlags;
    f |= SzpFlags(r, size);
  }
  c.SetArith(mask, f);
  return r;
}

// A shift, rotate or double shift whose masked count is 0: flags and value
// are unchanged, but it is still a read-modify-write. A 32-bit register
// destination is written, so bits 63:32 are cleared as by any 32-bit
// register write (Intel SDM vol. 1, 3.4.1.1), and a memory operand is
// checked for writing (#PF with W=1), as hardware does.
ExecStatus ShiftByZero(Cpu& c, const Insn& i, int size) {
  if (i.mod == 3) {
    if (size == 4) c.SetReg(i.rm, 4, c.Reg(i.rm, 4));
    return ExecStatus::kNext;
  }
  uint8_t* host;
  return c.HostPtrForRmw(i.seg, c.EffAddr(i), size, &host) ? ExecStatus::kNext
                                                           : ExecStatus::kFault;
}

}  // namespace

ExecStatus OpGrp2(Cpu& c, const Insn& i) {
  const int size = i.opsize;
  unsigned cnt;
  const int opb = i.op & 0xff;
  if (opb == 0xc0 || opb == 0xc1) {
    cnt = static_cast<unsigned>(i.imm);
  } else if (opb == 0xd0 || opb == 0xd1) {
    cnt = 1;
  } else {
    cnt = static_cast<unsigned>(c.s.gpr[kRcx]);
  }
  cnt &= size == 8 ? 63 : 31;
  const int op = i.reg & 7;
  if (cnt == 0) return ShiftByZero(c, i, size);
  return RmwRm(c, i, size,
               [&](uint64_t a) { return Shift(c, op, size, a, cnt); });
}

namespace {

ExecStatus DoubleShift(Cpu& c, const Insn& i, bool left) {
  const int size = i.opsize;
  const int bits = size * 8;
  unsigned cnt = (i.op & 1) ? static_cast<unsigned>(c.s.gpr[kRcx])
                            : static_cast<unsigned>(i.imm);
  cnt &= size == 8 ? 63 : 31;
  if (cnt == 0) return ShiftByZero(c, i, size);
  const uint64_t src = c.GetR(i, size);
  return RmwRm(c, i, size, [&](uint64_t a) {
    const uint64_t m = SizeMask(size);
    a &= m;
    uint64_t r;
    bool cf;
    if (left) {
      const u128 v = (static_cast<u128>(a) << bits) | (src & m);
      const u128 sh = v << cnt;
      r = static_cast<uint64_t>(sh >> bits) & m;
      // The last bit shifted out of the destination (undefined for
      // counts above the operand size, which only 16-bit forms allow).
      cf = cnt <= static_cast<unsigned>(bits) ? (a >> (bits - cnt)) & 1 : 0;
    } else {
      const u128 v = (static_cast<u128>(src & m) << bits) | a;
      r = static_cast<uint64_t>(v >> cnt) & m;
      cf = static_cast<uint64_t>(v >> (cnt - 1)) & 1;
    }
    const bool of = Msb(r, size) != Msb(a, size);
    c.SetArith(kArithFlags,
               SzpFlags(r, size) | (cf ? kFlagCf : 0) | (of ? kFlagOf : 0));
    return r;
  });
}

// op: 0 BT, 1 BTS, 2 BTR, 3 BTC.
ExecStatus BitOp(Cpu& c, const Insn& i, int op, uint64_t offset, bool by_reg) {
  const int size = i.opsize;
  const int bits = size * 8;
  const unsigned bit = static_cast<unsigned>(offset) & (bits - 1);
  bool cf = false;
  auto update = [&](uint64_t v) {
    cf = (v >> bit) & 1;
    const uint64_t b = 1ull << bit;
    return op == 1 ? (v | b) : op == 2 ? (v & ~b) : (v ^ b);
  };
  ExecStatus st;
  if (i.mod == 3) {
    uint64_t v;
    c.ReadRm(i, size, &v);  // a register: cannot fault
    if (op == 0) {
      cf = (v >> bit) & 1;
      st = ExecStatus::kNext;
    } else {
      st = RmwRm(c, i, size, update);
    }
  } else {
    uint64_t off = c.EffAddr(i);
    if (by_reg) {
      // A register bit offset addresses memory beyond the operand (signed,
      // Intel SDM vol. 2, BT): up to 2^60 bytes away, so it is added here
      // rather than folded into the 32-bit displacement.
      const int64_t so = static_cast<int64_t>(SignExtend(offset, size));
      const int64_t words = so >> (bits == 64 ? 6 : bits == 32 ? 5 : 4);
      off = (off + static_cast<uint64_t>(words * size)) & SizeMask(i.addrsize);
    }
    if (op == 0) {
      uint64_t v;
      if (!c.Read(i.seg, off, size, &v)) return ExecStatus::kFault;
      cf = (v >> bit) & 1;
      st = ExecStatus::kNext;
    } else {
      st = RmwMem(c, i.seg, off, size, update, i.lock);
    }
  }
  if (st == ExecStatus::kNext) c.SetArith(kFlagCf, cf ? kFlagCf : 0);
  return st;
}

}  // namespace

ExecStatus OpShld(Cpu& c, const Insn& i) { return DoubleShift(c, i, true); }
ExecStatus OpShrd(Cpu& c, const Insn& i) { return DoubleShift(c, i, false); }

ExecStatus OpBt(Cpu& c, const Insn& i) {
  int op;
  switch (i.op & 0xff) {
    case 0xa3:
      op = 0;
      break;
    case 0xab:
      op = 1;
      break;
    case 0xb3:
      op = 2;
      break;
    default:
      op = 3;
  }
  if (op == 0 && i.lock) return c.Ud();
  return BitOp(c, i, op, c.GetR(i, i.opsize), true);
}

ExecStatus OpGrp8(Cpu& c, const Insn& i) {
  const int sub = i.reg & 7;
  if (sub < 4 || (sub == 4 && i.lock)) return c.Ud();
  return BitOp(c, i, sub - 4, i.imm & 0xff, false);
}

ExecStatus OpBsf(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!c.ReadRm(i, i.opsize, &v)) return ExecStatus::kFault;
  v &= SizeMask(i.opsize);
  if (v == 0) {
    c.SetArith(kArithFlags, kFlagZf);
  } else {
    c.SetR(i, i.opsize, static_cast<uint64_t>(__builtin_ctzll(v)));
    c.SetArith(kArithFlags, 0);
  }
  return ExecStatus::kNext;
}

ExecStatus OpBsr(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!c.ReadRm(i, i.opsize, &v)) return ExecStatus::kFault;
  const int bits = i.opsize * 8;
  v &= SizeMask(i.opsize);
  if (i.rep == 0xf3) {  // LZCNT (CPUID 80000001h:ECX.ABM)
    const int n = v == 0 ? bits : __builtin_clzll(v) - (64 - bits);
    c.SetR(i, i.opsize, static_cast<uint64_t>(n));
    c.SetArith(kArithFlags, (v == 0 ? kFlagCf : 0) | (n == 0 ? kFlagZf : 0));
    return ExecStatus::kNext;
  }
  if (v == 0) {
    c.SetArith(kArithFlags, kFlagZf);
  } else {
    c.SetR(i, i.opsize, static_cast<uint64_t>(63 - __builtin_clzll(v)));
    c.SetArith(kArithFlags, 0);
  }
  return ExecStatus::kNext;
}

ExecStatus OpPopcnt(Cpu& c, const Insn& i) {
  if (i.rep != 0xf3) return c.Ud();
  uint64_t v;
  if (!c.ReadRm(i, i.opsize, &v)) return ExecStatus::kFault;
  v &= SizeMask(i.opsize);
  c.SetR(i, i.opsize, static_cast<uint64_t>(__builtin_popcountll(v)));
  c.SetArith(kArithFlags, v == 0 ? kFlagZf : 0);
  return ExecStatus::kNext;
}

ExecStatus OpBswap(Cpu& c, const Insn& i) {
  if (i.opsize == 8) {
    c.s.gpr[i.reg] = __builtin_bswap64(c.s.gpr[i.reg]);
  } else if (i.opsize == 4) {
    c.SetReg(i.reg, 4,
             __builtin_bswap32(static_cast<uint32_t>(c.s.gpr[i.reg])));
  } else {
    c.SetReg(i.reg, 2, 0);  // BSWAP r16 is undefined; zero like Intel CPUs
  }
  return ExecStatus::kNext;
}

}  // namespace skiff::tcg
