// Specialised handlers for hot instruction forms (see ops_fast.h). Each one
// is a template instance fixed on operand size, ALU operation, condition
// code or addressing form, so it runs without the switches the generic
// handlers in ops_*.cc need. Effects, lazy-flag state and faults match the
// generic handlers exactly.
#include "tcg/ops_fast.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "tcg/flags.h"
#include "tcg/ops.h"
#include "tcg/ops_util.h"

namespace skiff::tcg {
namespace {

template <int kSize>
constexpr uint64_t kMask = kSize == 8 ? ~0ull : (1ull << (8 * kSize)) - 1;

template <int kSize>
inline void SetGpr(Cpu& c, int r, uint64_t v) {
  c.s.gpr[r] = v & kMask<kSize>;
}

// A register operand of kSize bytes as x86 reads and writes it: byte
// registers 4..7 are AH..BH without REX, 8- and 16-bit writes keep the
// other bits, a 32-bit write zero-extends. Reads of 16 bits and more return
// the whole register; the operation masks it.
template <int kSize>
inline uint64_t GetReg(const Cpu& c, int r, bool rex) {
  if constexpr (kSize == 1) {
    return c.Reg8(r, rex);
  } else {
    return c.s.gpr[r];
  }
}

template <int kSize>
inline void PutReg(Cpu& c, int r, bool rex, uint64_t v) {
  if constexpr (kSize == 1) {
    c.SetReg8(r, rex, v);
  } else if constexpr (kSize == 2) {
    c.s.gpr[r] = (c.s.gpr[r] & ~0xffffull) | (v & 0xffff);
  } else {
    SetGpr<kSize>(c, r, v);
  }
}

// ---- ALU ------------------------------------------------------------------

// kOp is the ModRM.reg ALU encoding (0 ADD 1 OR 4 AND 5 SUB 6 XOR 7 CMP);
// ADC/SBB stay generic. Same lazy state as Alu() in ops_arith.cc.
template <int kOp, int kSize>
inline uint64_t AluOp(Cpu& c, uint64_t a, uint64_t b) {
  constexpr uint64_t m = kMask<kSize>;
  a &= m;
  b &= m;
  uint64_t r;
  CcOp cc;
  if constexpr (kOp == 0) {
    r = (a + b) & m;
    cc = kCcAdd;
  } else if constexpr (kOp == 1) {
    r = a | b;
    cc = kCcLogic;
  } else if constexpr (kOp == 4) {
    r = a & b;
    cc = kCcLogic;
  } else if constexpr (kOp == 6) {
    r = a ^ b;
    cc = kCcLogic;
  } else {
    r = (a - b) & m;
    cc = kCcSub;
  }
  c.s.lazy = LazyFlags{r, a, b, 0, cc, static_cast<uint8_t>(kSize)};
  return r;
}

// rm(register) op= reg (00-3D odd forms with mod == 3).
template <int kOp, int kSize>
ExecStatus AluRmRReg(Cpu& c, const Insn& i) {
  const uint64_t r = AluOp<kOp, kSize>(c, c.s.gpr[i.rm], c.s.gpr[i.reg]);
  if constexpr (kOp != 7) SetGpr<kSize>(c, i.rm, r);
  return ExecStatus::kNext;
}

// reg op= rm(register).
template <int kOp, int kSize>
ExecStatus AluRRmReg(Cpu& c, const Insn& i) {
  const uint64_t r = AluOp<kOp, kSize>(c, c.s.gpr[i.reg], c.s.gpr[i.rm]);
  if constexpr (kOp != 7) SetGpr<kSize>(c, i.reg, r);
  return ExecStatus::kNext;
}

// rm(register) op= imm (80-83 with mod == 3).
template <int kOp, int kSize>
ExecStatus AluRmImmReg(Cpu& c, const Insn& i) {
  const uint64_t r = AluOp<kOp, kSize>(c, c.s.gpr[i.rm], i.imm);
  if constexpr (kOp != 7) SetGpr<kSize>(c, i.rm, r);
  return ExecStatus::kNext;
}

template <int kOp, int kSize>
ExecStatus AluAccImm(Cpu& c, const Insn& i) {
  const uint64_t r = AluOp<kOp, kSize>(c, c.s.gpr[kRax], i.imm);
  if constexpr (kOp != 7) SetGpr<kSize>(c, kRax, r);
  return ExecStatus::kNext;
}

template <int kSize>
ExecStatus TestRR(Cpu& c, const Insn& i) {
  AluOp<4, kSize>(c, c.s.gpr[i.rm], c.s.gpr[i.reg]);
  return ExecStatus::kNext;
}

template <int kSize>
ExecStatus TestAccImm(Cpu& c, const Insn& i) {
  AluOp<4, kSize>(c, c.s.gpr[kRax], i.imm);
  return ExecStatus::kNext;
}

// CF as Cpu::Cf() computes it for the common lazy states; -1 for the
// others (the caller then tail-calls the generic handler, which keeps the
// fast path free of calls and register saves).
inline int FastCf(const Cpu& c) {
  switch (c.s.lazy.op) {
    case kCcNone:
      return (c.s.rflags & kFlagCf) ? 1 : 0;
    case kCcLogic:
      return 0;
    case kCcInc:
    case kCcDec:
      return c.s.lazy.aux != 0;
    case kCcShift:
      return static_cast<int>(c.s.lazy.aux & 1);
    case kCcAdd:  // operands and result are stored masked to the size
      return c.s.lazy.res < c.s.lazy.a;
    case kCcSub:
      return c.s.lazy.a < c.s.lazy.b;
    default:
      return -1;
  }
}

// INC/DEC of a register; kReg false takes the register from the opcode
// (40-4F outside 64-bit mode), true from ModRM.rm (FF /0 /1).
template <bool kDec, int kSize, bool kModrm>
ExecStatus IncDecReg(Cpu& c, const Insn& i) {
  const int reg = kModrm ? i.rm : (i.op & 7);
  const int cf_or_slow = FastCf(c);
  if (cf_or_slow < 0) return kModrm ? OpGrp5(c, i) : OpIncDecReg(c, i);
  const uint64_t cf = static_cast<uint64_t>(cf_or_slow);
  const uint64_t a = c.s.gpr[reg] & kMask<kSize>;
  const uint64_t r = (kDec ? a - 1 : a + 1) & kMask<kSize>;
  c.s.lazy = LazyFlags{
      r, a, 1, cf, kDec ? kCcDec : kCcInc, static_cast<uint8_t>(kSize)};
  SetGpr<kSize>(c, reg, r);
  return ExecStatus::kNext;
}

// NOT and NEG of a register (F7 /2 /3 with mod == 3); NEG's lazy state as
// OpGrp3's.
template <bool kNeg, int kSize>
ExecStatus NotNegReg(Cpu& c, const Insn& i) {
  const uint64_t a = c.s.gpr[i.rm] & kMask<kSize>;
  uint64_t r;
  if constexpr (kNeg) {
    r = (0 - a) & kMask<kSize>;
    c.s.lazy = LazyFlags{r, 0, a, 0, kCcSub, static_cast<uint8_t>(kSize)};
  } else {
    r = ~a & kMask<kSize>;
  }
  SetGpr<kSize>(c, i.rm, r);
  return ExecStatus::kNext;
}

// ---- Shifts by a constant count ---------------------------------------------

// The flags Shift() in ops_shift.cc sets eagerly (CF, OF, SF ZF PF from
// the result, AF cleared), recorded lazily.
inline void SetShiftFlags(Cpu& c, uint64_t r, int size, uint64_t a, bool cf,
                          bool of) {
  c.s.lazy = LazyFlags{r,        a,
                       0,        (cf ? 1u : 0u) | (of ? 2u : 0u),
                       kCcShift, static_cast<uint8_t>(size)};
}

// kOp: 4 SHL/SAL, 5 SHR, 7 SAR, by `cnt` (1..bits-1).
template <int kOp, int kSize>
inline void ShiftReg(Cpu& c, const Insn& i, unsigned cnt) {
  constexpr int kBits = kSize * 8;
  const uint64_t a = c.s.gpr[i.rm] & kMask<kSize>;
  uint64_t r;
  bool cf, of;
  if constexpr (kOp == 4) {
    r = (a << cnt) & kMask<kSize>;
    cf = (a >> (kBits - cnt)) & 1;
    of = ((r >> (kBits - 1)) & 1) ^ cf;
  } else if constexpr (kOp == 5) {
    r = a >> cnt;
    cf = (a >> (cnt - 1)) & 1;
    of = (a >> (kBits - 1)) & 1;
  } else {
    const int64_t sa = static_cast<int64_t>(SignExtend(a, kSize));
    r = static_cast<uint64_t>(sa >> cnt) & kMask<kSize>;
    cf = (sa >> (cnt - 1)) & 1;
    of = false;
  }
  SetShiftFlags(c, r, kSize, a, cf, of);
  SetGpr<kSize>(c, i.rm, r);
}

// The count (1..bits-1) is in i.imm.
template <int kOp, int kSize>
ExecStatus ShiftRegImm(Cpu& c, const Insn& i) {
  ShiftReg<kOp, kSize>(c, i, static_cast<unsigned>(i.imm));
  return ExecStatus::kNext;
}

// D3: the count is CL. A zero count changes no flag (generic handler).
template <int kOp, int kSize>
ExecStatus ShiftRegCl(Cpu& c, const Insn& i) {
  const unsigned cnt = c.s.gpr[kRcx] & (kSize == 8 ? 63 : 31);
  if (cnt == 0) return OpGrp2(c, i);
  ShiftReg<kOp, kSize>(c, i, cnt);
  return ExecStatus::kNext;
}

// ROL/ROR by i.imm (1..bits-1): CF and OF as Shift() in ops_shift.cc sets
// them; the other flags keep their values.
template <bool kRor, int kSize>
ExecStatus RotateRegImm(Cpu& c, const Insn& i) {
  constexpr int kBits = kSize * 8;
  const unsigned n = static_cast<unsigned>(i.imm);
  const uint64_t a = c.s.gpr[i.rm] & kMask<kSize>;
  uint64_t r;
  bool cf, of;
  if constexpr (kRor) {
    r = ((a >> n) | (a << (kBits - n))) & kMask<kSize>;
    cf = (r >> (kBits - 1)) & 1;
    of = cf ^ ((r >> (kBits - 2)) & 1);
  } else {
    r = ((a << n) | (a >> (kBits - n))) & kMask<kSize>;
    cf = r & 1;
    of = ((r >> (kBits - 1)) & 1) ^ cf;
  }
  c.SetArith(kFlagCf | kFlagOf, (cf ? kFlagCf : 0) | (of ? kFlagOf : 0));
  SetGpr<kSize>(c, i.rm, r);
  return ExecStatus::kNext;
}

// BT r, imm8 (0F BA /4 with a register): CF only.
template <int kSize>
ExecStatus BtRegImm(Cpu& c, const Insn& i) {
  const unsigned bit = static_cast<unsigned>(i.imm) & (kSize * 8 - 1);
  c.SetArith(kFlagCf, ((c.s.gpr[i.rm] >> bit) & 1) ? kFlagCf : 0);
  return ExecStatus::kNext;
}

// IMUL r, r/m, imm (69, 6B) and IMUL r, r/m (0F AF) with a register
// source: flags as MulFlags() in ops_arith.cc sets them.
template <int kSize>
inline void ImulReg(Cpu& c, const Insn& i, uint64_t a, uint64_t b) {
  uint64_t lo;
  bool overflow;
  if constexpr (kSize == 8) {
    const s128 p = static_cast<s128>(static_cast<int64_t>(a)) *
                   static_cast<s128>(static_cast<int64_t>(b));
    lo = static_cast<uint64_t>(p);
    overflow = p != static_cast<s128>(static_cast<int64_t>(lo));
  } else {
    const int64_t p = static_cast<int64_t>(static_cast<int32_t>(a)) *
                      static_cast<int64_t>(static_cast<int32_t>(b));
    lo = static_cast<uint64_t>(p) & kMask<4>;
    overflow = p != static_cast<int64_t>(static_cast<int32_t>(lo));
  }
  SetGpr<kSize>(c, i.reg, lo);
  c.SetArith(kArithFlags,
             SzpFlags(lo, kSize) | (overflow ? kFlagCf | kFlagOf : 0));
}

template <int kSize>
ExecStatus Imul3Reg(Cpu& c, const Insn& i) {
  ImulReg<kSize>(c, i, c.s.gpr[i.rm], i.imm);
  return ExecStatus::kNext;
}

template <int kSize>
ExecStatus Imul2Reg(Cpu& c, const Insn& i) {
  ImulReg<kSize>(c, i, c.s.gpr[i.reg], c.s.gpr[i.rm]);
  return ExecStatus::kNext;
}

// ---- Moves ------------------------------------------------------------------

template <int kSize>
ExecStatus MovRmRReg(Cpu& c, const Insn& i) {
  SetGpr<kSize>(c, i.rm, c.s.gpr[i.reg]);
  return ExecStatus::kNext;
}

template <int kSize>
ExecStatus MovRRmReg(Cpu& c, const Insn& i) {
  SetGpr<kSize>(c, i.reg, c.s.gpr[i.rm]);
  return ExecStatus::kNext;
}

template <int kSize>
ExecStatus MovRegImm(Cpu& c, const Insn& i) {
  SetGpr<kSize>(c, i.reg, i.imm);
  return ExecStatus::kNext;
}

template <int kSize>
ExecStatus MovRmImmReg(Cpu& c, const Insn& i) {
  SetGpr<kSize>(c, i.rm, i.imm);
  return ExecStatus::kNext;
}

// MOVZX/MOVSX r32/r64, r8/r16 (0F B6 B7 BE BF with a register).
template <bool kSigned, int kSrc, int kDst>
ExecStatus ExtendReg(Cpu& c, const Insn& i) {
  const uint64_t v = GetReg<kSrc>(c, i.rm, i.rex) & kMask<kSrc>;
  SetGpr<kDst>(c, i.reg, kSigned ? SignExtend(v, kSrc) : v);
  return ExecStatus::kNext;
}

// CWDE / CDQE (98 with 32- and 64-bit operands).
template <int kSize>
ExecStatus Cbw(Cpu& c, const Insn&) {
  SetGpr<kSize>(c, kRax, SignExtend(c.s.gpr[kRax], kSize / 2));
  return ExecStatus::kNext;
}

// ---- 64-bit memory operands
// --------------------------------------------------- Only for 64-bit code
// and 64-bit addressing: the linear address is the effective address, plus
// the segment base for FS and GS (kEaSeg).

// EaForm (ops_fast.h): kEaSeg is any addressing form relative to FS or GS,
// whose base is added.

template <int kEa>
inline uint64_t Ea64(const Cpu& c, const Insn& i) {
  if constexpr (kEa == kEaBase) {
    return c.s.gpr[i.base] + static_cast<uint64_t>(i.disp);
  } else if constexpr (kEa == kEaRip) {
    return c.next_rip + static_cast<uint64_t>(i.disp);
  } else if constexpr (kEa == kEaSeg) {
    return c.s.seg[i.seg].base + c.EffAddr(i);
  } else {  // any base and index, not RIP-relative (EaFormOf)
    uint64_t a = static_cast<uint64_t>(i.disp);
    if (i.base != 0xff) a += c.s.gpr[i.base];
    if (i.index != 0xff) a += c.s.gpr[i.index] << i.scale;
    return a;
  }
}

// Non-canonical: #GP(0), or #SS(0) for SS-relative accesses (CheckLinear).
inline bool Canonical(Cpu& c, const Insn& i, uint64_t lin) {
  if (c.IsCanonical(lin)) return true;
  c.pending_fault = {static_cast<uint8_t>(i.seg == kSs ? kStackFault : kGp),
                     true, 0};
  return false;
}

template <int kSize, int kEa>
inline bool Load(Cpu& c, const Insn& i, uint64_t* v) {
  const uint64_t lin = Ea64<kEa>(c, i);
  // A hit is canonical (Cpu::ReadLinHit); only a miss needs the check.
  return c.ReadLinHit(lin, kSize, v) ||
         (Canonical(c, i, lin) && c.ReadLin(lin, kSize, v));
}

template <int kSize, int kEa>
inline bool Store(Cpu& c, const Insn& i, uint64_t v) {
  const uint64_t lin = Ea64<kEa>(c, i);
  return c.WriteLinHit(lin, kSize, v & kMask<kSize>) ||
         (Canonical(c, i, lin) && c.WriteLin(lin, kSize, v & kMask<kSize>));
}

// Read-modify-write of the memory operand through the host page of a TLB
// entry that already allows writing, as RmwRm does: `f` maps the old value
// to the new one (and may set flags). false, with nothing done, on a TLB
// miss, MMIO or an access across a page: the caller then runs the generic
// handler (page walk, a write fault, the device).
template <int kSize, int kEa, typename F>
inline bool RmwHit(Cpu& c, const Insn& i, F f) {
  const uint64_t lin = Ea64<kEa>(c, i);
  uint8_t* p = c.TlbHost(lin, kSize, kAccWrite);  // a hit is canonical
  if (p == nullptr) return false;
  uint64_t a = 0;
  std::memcpy(&a, p, kSize);
  const uint64_t r = f(a);
  c.NoteCodeWrite(p, kSize);
  std::memcpy(p, &r, kSize);
  return true;
}

// MOV loads and stores come in two halves: the whole instruction out of
// line (...Slow), and a handler that does the TLB hit alone and tail-calls
// the Slow half otherwise, so that the hit path needs no stack frame (no
// register saves, no stack slot for the value) around the slow path's call.
template <int kSize, int kEa>
[[gnu::noinline]] ExecStatus MovLoadSlow(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!Load<kSize, kEa>(c, i, &v)) return ExecStatus::kFault;
  PutReg<kSize>(c, i.reg, i.rex, v);
  return ExecStatus::kNext;
}

template <int kSize, int kEa>
ExecStatus MovLoad(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!c.ReadLinHit(Ea64<kEa>(c, i), kSize, &v)) [[unlikely]] {
    return MovLoadSlow<kSize, kEa>(c, i);
  }
  PutReg<kSize>(c, i.reg, i.rex, v);
  return ExecStatus::kNext;
}

template <int kSize, int kEa>
[[gnu::noinline]] ExecStatus MovStoreSlow(Cpu& c, const Insn& i) {
  return Store<kSize, kEa>(c, i, GetReg<kSize>(c, i.reg, i.rex))
             ? ExecStatus::kNext
             : ExecStatus::kFault;
}

template <int kSize, int kEa>
ExecStatus MovStore(Cpu& c, const Insn& i) {
  if (!c.WriteLinHit(Ea64<kEa>(c, i), kSize,
                     GetReg<kSize>(c, i.reg, i.rex) & kMask<kSize>))
      [[unlikely]] {
    return MovStoreSlow<kSize, kEa>(c, i);
  }
  return ExecStatus::kNext;
}

template <int kSize, int kEa>
ExecStatus MovStoreImm(Cpu& c, const Insn& i) {
  return Store<kSize, kEa>(c, i, i.imm) ? ExecStatus::kNext
                                        : ExecStatus::kFault;
}

// reg op= [mem].
template <int kOp, int kSize, int kEa>
ExecStatus AluRMem(Cpu& c, const Insn& i) {
  uint64_t b;
  if (!Load<kSize, kEa>(c, i, &b)) return ExecStatus::kFault;
  const uint64_t r = AluOp<kOp, kSize>(c, GetReg<kSize>(c, i.reg, i.rex), b);
  if constexpr (kOp != 7) PutReg<kSize>(c, i.reg, i.rex, r);
  return ExecStatus::kNext;
}

// [mem] op= imm (80/81/83 with a memory operand) or [mem] op= reg (01, 09,
// 21, 29, 31, 39): CMP only reads; the others go through RmwHit.
template <int kOp, int kSize, int kEa, bool kImm>
ExecStatus AluMem(Cpu& c, const Insn& i) {
  const uint64_t b = kImm ? i.imm : GetReg<kSize>(c, i.reg, i.rex);
  if constexpr (kOp == 7) {
    uint64_t a;
    if (!Load<kSize, kEa>(c, i, &a)) return ExecStatus::kFault;
    AluOp<7, kSize>(c, a, b);
    return ExecStatus::kNext;
  } else {
    const auto step = [&](uint64_t a) { return AluOp<kOp, kSize>(c, a, b); };
    if (!RmwHit<kSize, kEa>(c, i, step)) {
      return kImm ? OpGrp1(c, i) : OpAluRmR(c, i);
    }
    return ExecStatus::kNext;
  }
}

// TEST [mem], reg (85 with a memory operand).
template <int kSize, int kEa>
ExecStatus TestMem(Cpu& c, const Insn& i) {
  uint64_t a;
  if (!Load<kSize, kEa>(c, i, &a)) return ExecStatus::kFault;
  AluOp<4, kSize>(c, a, GetReg<kSize>(c, i.reg, i.rex));
  return ExecStatus::kNext;
}

// TEST r, imm (F6/F7 /0 and /1 with a register).
template <int kSize>
ExecStatus TestRegImm(Cpu& c, const Insn& i) {
  AluOp<4, kSize>(c, GetReg<kSize>(c, i.rm, i.rex), i.imm);
  return ExecStatus::kNext;
}

// BTS BTR BTC [mem], imm8 (0F BA /5 /6 /7, kOp 1 2 3) through RmwHit;
// BT [mem], imm8 (/4, kOp 0) only reads. CF only.
template <int kOp, int kSize, int kEa>
ExecStatus BitMemImm(Cpu& c, const Insn& i) {
  const unsigned bit = static_cast<unsigned>(i.imm) & (kSize * 8 - 1);
  uint64_t v = 0;
  if constexpr (kOp == 0) {
    if (!Load<kSize, kEa>(c, i, &v)) return ExecStatus::kFault;
  } else {
    const uint64_t b = 1ull << bit;
    const auto step = [&](uint64_t a) {
      v = a;
      return kOp == 1 ? (a | b) : kOp == 2 ? (a & ~b) : (a ^ b);
    };
    if (!RmwHit<kSize, kEa>(c, i, step)) return OpGrp8(c, i);
  }
  c.SetArith(kFlagCf, ((v >> bit) & 1) ? kFlagCf : 0);
  return ExecStatus::kNext;
}

// TEST [mem], imm (F6/F7 /0 and /1 with a memory operand; byte too: the
// operand is memory, so no high-byte register).
template <int kSize, int kEa>
ExecStatus TestMemImm(Cpu& c, const Insn& i) {
  uint64_t a;
  if (!Load<kSize, kEa>(c, i, &a)) return ExecStatus::kFault;
  AluOp<4, kSize>(c, a, i.imm);
  return ExecStatus::kNext;
}

// INC/DEC [mem] (FF /0 /1) through RmwHit; the generic handler where
// FastCf cannot tell CF or RmwHit misses.
template <bool kDec, int kSize, int kEa>
ExecStatus IncDecMem(Cpu& c, const Insn& i) {
  const int cf_or_slow = FastCf(c);
  if (cf_or_slow < 0) return OpGrp5(c, i);
  const auto step = [&](uint64_t a) {
    const uint64_t r = (kDec ? a - 1 : a + 1) & kMask<kSize>;
    c.s.lazy = LazyFlags{r,
                         a,
                         1,
                         static_cast<uint64_t>(cf_or_slow),
                         kDec ? kCcDec : kCcInc,
                         static_cast<uint8_t>(kSize)};
    return r;
  };
  return RmwHit<kSize, kEa>(c, i, step) ? ExecStatus::kNext : OpGrp5(c, i);
}

// CMPXCHG [mem], r (0F B1), with or without LOCK: one host compare-and-swap
// on an aligned operand the TLB maps writable, as OpCmpxchg does; the
// generic handler otherwise (a miss, MMIO, a misaligned operand).
template <int kSize, int kEa>
ExecStatus CmpxchgMem(Cpu& c, const Insn& i) {
  using T = std::conditional_t<kSize == 8, uint64_t, uint32_t>;
  const uint64_t lin = Ea64<kEa>(c, i);
  uint8_t* p = c.TlbHost(lin, kSize, kAccWrite);  // a hit is canonical
  if (p == nullptr || (reinterpret_cast<uintptr_t>(p) & (kSize - 1)) != 0) {
    return OpCmpxchg(c, i);
  }
  const uint64_t acc = c.s.gpr[kRax] & kMask<kSize>;
  T expected = static_cast<T>(acc);
  c.NoteCodeWrite(p, kSize);
  __atomic_compare_exchange_n(reinterpret_cast<T*>(p), &expected,
                              static_cast<T>(c.s.gpr[i.reg]), false,
                              __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  const uint64_t old = expected;
  AluOp<7, kSize>(c, acc, old);
  if (old != acc) SetGpr<kSize>(c, kRax, old);
  return ExecStatus::kNext;
}

// MOVZX/MOVSX r32/r64, m8/m16 (0F B6 B7 BE BF with a memory operand).
template <bool kSigned, int kSrc, int kDst, int kEa>
ExecStatus ExtendMem(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!Load<kSrc, kEa>(c, i, &v)) return ExecStatus::kFault;
  SetGpr<kDst>(c, i.reg, kSigned ? SignExtend(v, kSrc) : v);
  return ExecStatus::kNext;
}

// MOVSXD r64, r/m32 (63 with REX.W).
ExecStatus MovsxdReg(Cpu& c, const Insn& i) {
  c.s.gpr[i.reg] = static_cast<uint64_t>(
      static_cast<int64_t>(static_cast<int32_t>(c.s.gpr[i.rm])));
  return ExecStatus::kNext;
}

template <int kEa>
ExecStatus MovsxdMem(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!Load<4, kEa>(c, i, &v)) return ExecStatus::kFault;
  c.s.gpr[i.reg] =
      static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(v)));
  return ExecStatus::kNext;
}

template <int kSize, int kEa>
ExecStatus Lea64(Cpu& c, const Insn& i) {
  SetGpr<kSize>(c, i.reg, Ea64<kEa>(c, i));
  return ExecStatus::kNext;
}

// ---- Stack and control transfer (64-bit code)
// -----------------------------------

inline bool Push64(Cpu& c, uint64_t v) {
  const uint64_t sp = c.s.gpr[kRsp] - 8;
  if (c.WriteLinHit(sp, 8, v)) {
    c.s.gpr[kRsp] = sp;
    return true;
  }
  if (!c.IsCanonical(sp)) {
    c.pending_fault = {kStackFault, true, 0};
    return false;
  }
  if (!c.WriteLin(sp, 8, v)) return false;
  c.s.gpr[kRsp] = sp;
  return true;
}

inline bool Pop64(Cpu& c, uint64_t* v) {
  const uint64_t sp = c.s.gpr[kRsp];
  if (c.ReadLinHit(sp, 8, v)) {
    c.s.gpr[kRsp] = sp + 8;
    return true;
  }
  if (!c.IsCanonical(sp)) {
    c.pending_fault = {kStackFault, true, 0};
    return false;
  }
  if (!c.ReadLin(sp, 8, v)) return false;
  c.s.gpr[kRsp] = sp + 8;
  return true;
}

// PUSH, POP, CALL and RET come in two halves, like MovLoad.
[[gnu::noinline]] ExecStatus PushReg64Slow(Cpu& c, const Insn& i) {
  return Push64(c, c.s.gpr[i.reg]) ? ExecStatus::kNext : ExecStatus::kFault;
}

ExecStatus PushReg64(Cpu& c, const Insn& i) {
  const uint64_t sp = c.s.gpr[kRsp] - 8;
  if (!c.WriteLinHit(sp, 8, c.s.gpr[i.reg])) [[unlikely]] {
    return PushReg64Slow(c, i);
  }
  c.s.gpr[kRsp] = sp;
  return ExecStatus::kNext;
}

[[gnu::noinline]] ExecStatus PopReg64Slow(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!Pop64(c, &v)) return ExecStatus::kFault;
  c.s.gpr[i.reg] = v;
  return ExecStatus::kNext;
}

ExecStatus PopReg64(Cpu& c, const Insn& i) {
  const uint64_t sp = c.s.gpr[kRsp];
  uint64_t v;
  if (!c.ReadLinHit(sp, 8, &v)) [[unlikely]]
    return PopReg64Slow(c, i);
  c.s.gpr[kRsp] = sp + 8;  // before the write: POP RSP loads RSP
  c.s.gpr[i.reg] = v;
  return ExecStatus::kNext;
}

ExecStatus PushImm64(Cpu& c, const Insn& i) {
  return Push64(c, i.imm) ? ExecStatus::kNext : ExecStatus::kFault;
}

inline ExecStatus Jump64(Cpu& c, uint64_t target) {
  if (!c.IsCanonical(target)) return c.Gp0();
  c.next_rip = target;
  return ExecStatus::kNext;
}

ExecStatus JmpRel64(Cpu& c, const Insn& i) {
  return Jump64(c, c.next_rip + i.imm);
}

[[gnu::noinline]] ExecStatus CallRel64Slow(Cpu& c, const Insn& i) {
  const uint64_t target = c.next_rip + i.imm;
  if (!c.IsCanonical(target)) return c.Gp0();
  if (!Push64(c, c.next_rip)) return ExecStatus::kFault;
  c.next_rip = target;
  return ExecStatus::kNext;
}

ExecStatus CallRel64(Cpu& c, const Insn& i) {
  const uint64_t target = c.next_rip + i.imm;
  const uint64_t sp = c.s.gpr[kRsp] - 8;
  if (!c.IsCanonical(target) || !c.WriteLinHit(sp, 8, c.next_rip))
      [[unlikely]] {
    return CallRel64Slow(c, i);
  }
  c.s.gpr[kRsp] = sp;
  c.next_rip = target;
  return ExecStatus::kNext;
}

[[gnu::noinline]] ExecStatus Ret64Slow(Cpu& c, const Insn&) {
  uint64_t target;
  const uint64_t old_rsp = c.s.gpr[kRsp];
  if (!Pop64(c, &target)) return ExecStatus::kFault;
  if (!c.IsCanonical(target)) {
    c.s.gpr[kRsp] = old_rsp;
    return c.Gp0();
  }
  c.next_rip = target;
  return ExecStatus::kNext;
}

ExecStatus Ret64(Cpu& c, const Insn& i) {
  const uint64_t sp = c.s.gpr[kRsp];
  uint64_t target;
  if (!c.ReadLinHit(sp, 8, &target) || !c.IsCanonical(target)) [[unlikely]] {
    return Ret64Slow(c, i);
  }
  c.s.gpr[kRsp] = sp + 8;
  c.next_rip = target;
  return ExecStatus::kNext;
}

// Condition `kCc` (Jcc encoding) with the common lazy states evaluated
// directly: ZF from the result, and after CMP/SUB or a logic op the
// unsigned/signed comparisons from the operands.
// -1: not one of those states (the caller falls back to generic OpJcc).
template <int kCc>
inline int FastCond(const Cpu& c) {
  const LazyFlags& lf = c.s.lazy;
  constexpr int kBase = kCc >> 1;
  bool r = false;
  if (lf.op == kCcNone) {
    return -1;
  } else if constexpr (kBase == 2) {  // Z (res is stored masked)
    r = lf.res == 0;
  } else if constexpr (kBase == 4) {  // S
    r = (lf.res >> (lf.size * 8 - 1)) & 1;
  } else if constexpr (kBase == 1 || kBase == 3 || kBase == 6 || kBase == 7) {
    const uint64_t a = lf.a, b = lf.b;  // stored masked
    if (lf.op == kCcSub) {
      const int sh = 64 - lf.size * 8;
      const int64_t sa = static_cast<int64_t>(a << sh) >> sh;
      const int64_t sb = static_cast<int64_t>(b << sh) >> sh;
      if constexpr (kBase == 1) r = a < b;     // B: CF
      if constexpr (kBase == 3) r = a <= b;    // BE: CF | ZF
      if constexpr (kBase == 6) r = sa < sb;   // L: SF != OF
      if constexpr (kBase == 7) r = sa <= sb;  // LE: ZF | SF != OF
    } else if (lf.op == kCcLogic) {
      const uint64_t res = lf.res;
      const bool sf = (res >> (lf.size * 8 - 1)) & 1;
      if constexpr (kBase == 1) r = false;     // CF = 0
      if constexpr (kBase == 3) r = res == 0;  // ZF
      if constexpr (kBase == 6) r = sf;        // OF = 0
      if constexpr (kBase == 7) r = res == 0 || sf;
    } else {
      return -1;
    }
  } else {
    return -1;
  }
  return ((kCc & 1) ? !r : r) ? 1 : 0;
}

// Blocks continue past a 64-bit Jcc (block_cache.cc): a taken branch
// ends the block with ExitBlock(), a not-taken one falls through into the
// rest of the block. Always inlined into the fused pairs (ThenJcc).
template <int kCc>
[[gnu::always_inline]] inline ExecStatus Jcc64(Cpu& c, const Insn& i) {
  const int taken = FastCond<kCc>(c);
  if (taken < 0) {
    const uint64_t fall = c.next_rip;
    const ExecStatus st = OpJcc(c, i);
    if (st != ExecStatus::kNext || c.next_rip != fall) c.ExitBlock();
    return st;
  }
  if (taken == 0) return ExecStatus::kNext;
  c.ExitBlock();
  return Jump64(c, c.next_rip + i.imm);
}

// SETcc r8 and CMOVcc r, r (32/64-bit); the generic condition evaluation
// where FastCond cannot tell.
template <int kCc>
inline bool CondOf(const Cpu& c) {
  const int r = FastCond<kCc>(c);
  return r < 0 ? c.Cond(kCc) : r != 0;
}

template <int kCc>
ExecStatus SetccReg(Cpu& c, const Insn& i) {
  c.SetReg8(i.rm, i.rex, CondOf<kCc>(c) ? 1 : 0);
  return ExecStatus::kNext;
}

template <int kCc, int kSize>
ExecStatus CmovRR(Cpu& c, const Insn& i) {
  // A false 32-bit CMOV still zero-extends the destination.
  SetGpr<kSize>(c, i.reg, CondOf<kCc>(c) ? c.s.gpr[i.rm] : c.s.gpr[i.reg]);
  return ExecStatus::kNext;
}

// Byte registers: TEST r8, r8 (84), r8 op= imm8 (80 with mod 3) and
// AL op= imm8 (04 0C 24 2C 34 3C); AH..BH without REX.
ExecStatus TestRR8(Cpu& c, const Insn& i) {
  AluOp<4, 1>(c, c.Reg8(i.rm, i.rex), c.Reg8(i.reg, i.rex));
  return ExecStatus::kNext;
}

template <int kOp, int kReg>
ExecStatus AluReg8Imm(Cpu& c, const Insn& i) {
  const int r = kReg < 0 ? i.rm : kReg;
  const uint64_t v = AluOp<kOp, 1>(c, c.Reg8(r, i.rex), i.imm);
  if constexpr (kOp != 7) c.SetReg8(r, i.rex, v);
  return ExecStatus::kNext;
}

// ---- Selection
// ----------------------------------------------------------------

template <template <int, int> class F, int kSize>
Handler PickAlu(int op) {
  switch (op) {
    case 0:
      return F<0, kSize>::fn;
    case 1:
      return F<1, kSize>::fn;
    case 4:
      return F<4, kSize>::fn;
    case 5:
      return F<5, kSize>::fn;
    case 6:
      return F<6, kSize>::fn;
    case 7:
      return F<7, kSize>::fn;
    default:
      return nullptr;  // ADC, SBB: generic
  }
}
template <template <int, int> class F>
Handler PickAluSized(int op, int size) {
  if (size == 4) return PickAlu<F, 4>(op);
  if (size == 8) return PickAlu<F, 8>(op);
  return nullptr;
}

template <int kOp, int kSize>
struct AluRmRRegF {
  static constexpr Handler fn = AluRmRReg<kOp, kSize>;
};
template <int kOp, int kSize>
struct AluRRmRegF {
  static constexpr Handler fn = AluRRmReg<kOp, kSize>;
};
template <int kOp, int kSize>
struct AluRmImmRegF {
  static constexpr Handler fn = AluRmImmReg<kOp, kSize>;
};
template <int kOp, int kSize>
struct AluAccImmF {
  static constexpr Handler fn = AluAccImm<kOp, kSize>;
};
template <int kEa>
struct AluRMemBind {
  template <int kOp, int kSize>
  struct F {
    static constexpr Handler fn = AluRMem<kOp, kSize, kEa>;
  };
};

template <int kEa, bool kImm>
struct AluMemBind {
  template <int kOp, int kSize>
  struct F {
    static constexpr Handler fn = AluMem<kOp, kSize, kEa, kImm>;
  };
};

int EaFormOf(const Insn& i) {
  if (i.rip_rel) return kEaRip;
  if (i.base != 0xff && i.index == 0xff) return kEaBase;
  return kEaGeneric;
}

// The handler `pick` (a lambda templated on the EaForm) gives for a memory
// operand usable with Ea64: 64-bit code and addressing, no LOCK, and FS/GS
// (kEaSeg) only where `seg_base` allows. nullptr for any other operand.
template <typename Pick>
Handler ForMemForm(const Insn& i, int code_bits, bool seg_base, Pick pick,
                   bool lock_ok = false) {
  if (code_bits != 64 || !i.is_mem() || i.addrsize != 8 ||
      (i.lock && !lock_ok)) {
    return nullptr;
  }
  if (i.seg >= kFs) {
    return seg_base ? pick.template operator()<kEaSeg>() : nullptr;
  }
  switch (EaFormOf(i)) {
    case kEaBase:
      return pick.template operator()<kEaBase>();
    case kEaRip:
      return pick.template operator()<kEaRip>();
    default:
      return pick.template operator()<kEaGeneric>();
  }
}

// `pick` (a lambda templated on the operand size) for a byte, doubleword
// or quadword operand; nullptr for a word.
template <typename Pick>
Handler BySize148(int size, Pick pick) {
  switch (size) {
    case 1:
      return pick.template operator()<1>();
    case 4:
      return pick.template operator()<4>();
    case 8:
      return pick.template operator()<8>();
    default:
      return nullptr;
  }
}

template <int kEa, int kSize>
Handler PickMov(bool store, bool imm) {
  if (imm) return MovStoreImm<kSize, kEa>;
  if (store) return MovStore<kSize, kEa>;
  return MovLoad<kSize, kEa>;
}

Handler SpecializeMov(const Insn& i, int code_bits, bool store, bool imm) {
  return ForMemForm(i, code_bits, true, [&]<int kEa>() -> Handler {
    switch (i.opsize) {
      case 1:
        return PickMov<kEa, 1>(store, imm);
      case 2:
        return PickMov<kEa, 2>(store, imm);
      case 4:
        return PickMov<kEa, 4>(store, imm);
      default:
        return PickMov<kEa, 8>(store, imm);
    }
  });
}

// Byte, doubleword and quadword ALU forms with a memory operand.
template <template <int, int> class F>
Handler PickAluMemSized(int op, int size) {
  if (size == 1) return PickAlu<F, 1>(op);
  return PickAluSized<F>(op, size);
}

Handler SpecializeAluMem(const Insn& i, int code_bits, int op) {
  return ForMemForm(i, code_bits, true, [&]<int kEa>() {
    return PickAluMemSized<AluRMemBind<kEa>::template F>(op, i.opsize);
  });
}

// ALU and TEST forms with a memory destination (see AluMem, TestMem).
Handler SpecializeMemDst(const Insn& i, int code_bits, int op, bool imm) {
  return ForMemForm(i, code_bits, false, [&]<int kEa>() -> Handler {
    if (op < 0) {  // TEST [mem], reg
      return BySize148(
          i.opsize, []<int kSize>() -> Handler { return TestMem<kSize, kEa>; });
    }
    return imm ? PickAluMemSized<AluMemBind<kEa, true>::template F>(op,
                                                                    i.opsize)
               : PickAluMemSized<AluMemBind<kEa, false>::template F>(op,
                                                                     i.opsize);
  });
}

Handler SpecializeTestImm(const Insn& i, int code_bits) {
  if ((i.reg & 7) > 1) return nullptr;  // TEST only
  if (i.mod == 3) {
    return BySize148(i.opsize,
                     []<int kSize>() -> Handler { return TestRegImm<kSize>; });
  }
  return ForMemForm(i, code_bits, false, [&]<int kEa>() -> Handler {
    return BySize148(i.opsize, []<int kSize>() -> Handler {
      return TestMemImm<kSize, kEa>;
    });
  });
}

// MOVZX (0F B6 B7) and MOVSX (0F BE BF) into 32- and 64-bit registers.
template <bool kSigned>
Handler SpecializeExtend(const Insn& i, int code_bits) {
  const bool word = i.op & 1;
  const bool s8 = i.opsize == 8;
  if (i.opsize != 4 && !s8) return nullptr;
  if (i.mod == 3) {
    if (word) {
      return s8 ? ExtendReg<kSigned, 2, 8> : ExtendReg<kSigned, 2, 4>;
    }
    return s8 ? ExtendReg<kSigned, 1, 8> : ExtendReg<kSigned, 1, 4>;
  }
  return ForMemForm(i, code_bits, false, [&]<int kEa>() -> Handler {
    if (word) {
      return s8 ? ExtendMem<kSigned, 2, 8, kEa> : ExtendMem<kSigned, 2, 4, kEa>;
    }
    return s8 ? ExtendMem<kSigned, 1, 8, kEa> : ExtendMem<kSigned, 1, 4, kEa>;
  });
}

Handler SpecializeMovsxd(const Insn& i, int code_bits) {
  if (code_bits != 64 || i.opsize != 8) return nullptr;
  if (i.mod == 3) return MovsxdReg;
  return ForMemForm(i, code_bits, false,
                    [&]<int kEa>() -> Handler { return MovsxdMem<kEa>; });
}

// 0F BA: BT r, imm8 and BT BTS BTR BTC [mem], imm8 (32- and 64-bit).
Handler SpecializeBitImm(const Insn& i, int code_bits) {
  const int op = (i.reg & 7) - 4;
  const bool s8 = i.opsize == 8;
  if (op < 0 || i.lock || (i.opsize != 4 && !s8)) return nullptr;
  if (i.mod == 3) {
    if (op != 0) return nullptr;
    return s8 ? BtRegImm<8> : BtRegImm<4>;
  }
  return ForMemForm(i, code_bits, false, [&]<int kEa>() -> Handler {
    switch (op) {
      case 0:
        return s8 ? BitMemImm<0, 8, kEa> : BitMemImm<0, 4, kEa>;
      case 1:
        return s8 ? BitMemImm<1, 8, kEa> : BitMemImm<1, 4, kEa>;
      case 2:
        return s8 ? BitMemImm<2, 8, kEa> : BitMemImm<2, 4, kEa>;
      default:
        return s8 ? BitMemImm<3, 8, kEa> : BitMemImm<3, 4, kEa>;
    }
  });
}

Handler SpecializeLea(const Insn& i, int code_bits) {
  if (code_bits != 64 || !i.is_mem() || i.addrsize != 8) return nullptr;
  const bool s8 = i.opsize == 8;
  if (i.opsize != 4 && !s8) return nullptr;
  switch (EaFormOf(i)) {
    case kEaBase:
      return s8 ? Lea64<8, kEaBase> : Lea64<4, kEaBase>;
    case kEaRip:
      return s8 ? Lea64<8, kEaRip> : Lea64<4, kEaRip>;
    default:
      return s8 ? Lea64<8, kEaGeneric> : Lea64<4, kEaGeneric>;
  }
}

template <int... kCc>
constexpr std::array<Handler, sizeof...(kCc)> SetccTable(
    std::integer_sequence<int, kCc...>) {
  return {SetccReg<kCc>...};
}
template <int kSize, int... kCc>
constexpr std::array<Handler, sizeof...(kCc)> CmovTable(
    std::integer_sequence<int, kCc...>) {
  return {CmovRR<kCc, kSize>...};
}
constexpr auto kSetcc = SetccTable(std::make_integer_sequence<int, 16>());
constexpr auto kCmov4 = CmovTable<4>(std::make_integer_sequence<int, 16>());
constexpr auto kCmov8 = CmovTable<8>(std::make_integer_sequence<int, 16>());

// A flag-setting instruction and the Jcc after it in one dispatch
// (FuseWithJcc). The Jcc keeps its own Insn right after the first one, so
// a block's instruction count is unchanged: the pair returns kPair when it
// ran both, and the run loop steps over the second (kPairFault when the
// second faulted, so that the fault is reported at its address). The first
// runs alone when the block ends after it (an instruction limit, an MMIO
// access or a write into the block's bytes, ExitBlock).
template <Handler kFirst, int kCc>
ExecStatus ThenJcc(Cpu& c, const Insn& i) {
  const ExecStatus st = kFirst(c, i);
  const Insn& j = (&i)[1];
  if (st != ExecStatus::kNext ||
      reinterpret_cast<uintptr_t>(&j) >= c.block_end) {
    return st;
  }
  c.next_rip += j.len;
  const ExecStatus sj = Jcc64<kCc>(c, j);
  if (sj == ExecStatus::kNext) return ExecStatus::kPair;
  return sj == ExecStatus::kFault ? ExecStatus::kPairFault : sj;
}

template <Handler kFirst, int... kCc>
constexpr std::array<Handler, 16> ThenJccTable(
    std::integer_sequence<int, kCc...>) {
  return {ThenJcc<kFirst, kCc>...};
}

// The instructions that most often come right before a Jcc in a Linux
// boot: TEST and CMP with register, immediate, and byte or dword memory
// operands.
struct FusedFirst {
  Handler first;
  std::array<Handler, 16> then_jcc;
};
template <Handler kFirst>
constexpr FusedFirst Fused() {
  return {kFirst, ThenJccTable<kFirst>(std::make_integer_sequence<int, 16>())};
}
constexpr FusedFirst kFusedFirst[] = {
    Fused<TestRR<8>>(),
    Fused<TestRR<4>>(),
    Fused<TestRR8>(),
    Fused<AluRmRReg<7, 8>>(),
    Fused<AluRmRReg<7, 4>>(),
    Fused<AluRmImmReg<7, 8>>(),
    Fused<AluRmImmReg<7, 4>>(),
    Fused<AluReg8Imm<7, -1>>(),
    Fused<TestRegImm<4>>(),
    Fused<AluMem<7, 1, 0, true>>(),
    Fused<AluMem<7, 4, 0, true>>(),
    Fused<TestMemImm<1, 0>>(),
};

template <int kReg>
struct AluReg8ImmBind {
  template <int kOp, int kSize>
  struct F {
    static constexpr Handler fn = AluReg8Imm<kOp, kReg>;
  };
};

constexpr Handler kJcc64[16] = {Jcc64<0>,  Jcc64<1>,  Jcc64<2>,  Jcc64<3>,
                                Jcc64<4>,  Jcc64<5>,  Jcc64<6>,  Jcc64<7>,
                                Jcc64<8>,  Jcc64<9>,  Jcc64<10>, Jcc64<11>,
                                Jcc64<12>, Jcc64<13>, Jcc64<14>, Jcc64<15>};

Handler SpecializeShift(Insn* i) {
  const int opb = i->op & 0xff;
  if (i->mod != 3 || (i->opsize != 4 && i->opsize != 8)) return nullptr;
  const int op = i->reg & 7;
  const bool s8 = i->opsize == 8;
  if (opb == 0xd3) {  // by CL: SHL SHR SAR
    if (op == 4 || op == 6) return s8 ? ShiftRegCl<4, 8> : ShiftRegCl<4, 4>;
    if (op == 5) return s8 ? ShiftRegCl<5, 8> : ShiftRegCl<5, 4>;
    if (op == 7) return s8 ? ShiftRegCl<7, 8> : ShiftRegCl<7, 4>;
    return nullptr;
  }
  unsigned cnt;
  if (opb == 0xc1) {
    cnt = static_cast<unsigned>(i->imm);
  } else if (opb == 0xd1) {
    cnt = 1;
  } else {
    return nullptr;
  }
  cnt &= s8 ? 63 : 31;
  if (cnt == 0) return nullptr;  // flags unchanged: generic
  Handler h;
  if (op == 0) {
    h = s8 ? RotateRegImm<false, 8> : RotateRegImm<false, 4>;
  } else if (op == 1) {
    h = s8 ? RotateRegImm<true, 8> : RotateRegImm<true, 4>;
  } else if (op == 4 || op == 6) {
    h = s8 ? ShiftRegImm<4, 8> : ShiftRegImm<4, 4>;
  } else if (op == 5) {
    h = s8 ? ShiftRegImm<5, 8> : ShiftRegImm<5, 4>;
  } else if (op == 7) {
    h = s8 ? ShiftRegImm<7, 8> : ShiftRegImm<7, 4>;
  } else {
    return nullptr;
  }
  i->imm = cnt;  // only the specialised handler reads it (D1 has none)
  return h;
}

Handler Specialize(Insn* ip, int code_bits) {
  const Insn& i = *ip;
  const Handler fn = i.fn;
  const int size = i.opsize;
  const bool s4 = size == 4, s8 = size == 8;
  const bool reg = i.has_modrm && i.mod == 3;
  const bool b64 = code_bits == 64;
  if (fn == OpAluRmR) {
    if (reg) return PickAluSized<AluRmRRegF>((i.op >> 3) & 7, size);
    return SpecializeMemDst(i, code_bits, (i.op >> 3) & 7, false);
  }
  if (fn == OpAluRRm) {
    const int op = (i.op >> 3) & 7;
    if (reg) return PickAluSized<AluRRmRegF>(op, size);
    return SpecializeAluMem(i, code_bits, op);
  }
  if (fn == OpGrp1) {
    if (reg && size == 1 && !i.lock) {
      return PickAlu<AluReg8ImmBind<-1>::F, 1>(i.reg & 7);
    }
    if (reg && !i.lock) return PickAluSized<AluRmImmRegF>(i.reg & 7, size);
    return SpecializeMemDst(i, code_bits, i.reg & 7, true);
  }
  if (fn == OpAluAccImm) {
    if (size == 1) return PickAlu<AluReg8ImmBind<kRax>::F, 1>((i.op >> 3) & 7);
    return PickAluSized<AluAccImmF>((i.op >> 3) & 7, size);
  }
  if (fn == OpTestRmR) {
    if (!reg) return SpecializeMemDst(i, code_bits, -1, false);
    if (size == 1) return TestRR8;
    if (s4) return TestRR<4>;
    if (s8) return TestRR<8>;
    return nullptr;
  }
  if (fn == OpTestAccImm) {
    if (size == 1) return TestAccImm<1>;
    return s4 ? TestAccImm<4> : s8 ? TestAccImm<8> : nullptr;
  }
  if (fn == OpIncDecReg && s4) {
    return (i.op & 8) ? IncDecReg<true, 4, false> : IncDecReg<false, 4, false>;
  }
  if (fn == OpGrp5 && (i.reg & 7) <= 1 && (s4 || s8)) {
    const bool dec = i.reg & 1;
    if (!reg) {
      return ForMemForm(i, code_bits, false, [&]<int kEa>() -> Handler {
        if (s4) {
          return dec ? IncDecMem<true, 4, kEa> : IncDecMem<false, 4, kEa>;
        }
        return dec ? IncDecMem<true, 8, kEa> : IncDecMem<false, 8, kEa>;
      });
    }
    if (s4) return dec ? IncDecReg<true, 4, true> : IncDecReg<false, 4, true>;
    return dec ? IncDecReg<true, 8, true> : IncDecReg<false, 8, true>;
  }
  if (fn == OpCmpxchg && (s4 || s8)) {
    return ForMemForm(
        i, code_bits, false,
        [&]<int kEa>() -> Handler {
          return s4 ? CmpxchgMem<4, kEa> : CmpxchgMem<8, kEa>;
        },
        true);
  }
  if (fn == OpGrp2) return SpecializeShift(ip);
  if (fn == OpMovRmR) {
    if (reg) return s4 ? MovRmRReg<4> : s8 ? MovRmRReg<8> : nullptr;
    return SpecializeMov(i, code_bits, true, false);
  }
  if (fn == OpMovRRm) {
    if (reg) return s4 ? MovRRmReg<4> : s8 ? MovRRmReg<8> : nullptr;
    return SpecializeMov(i, code_bits, false, false);
  }
  if (fn == OpMovRegImm) return s4 ? MovRegImm<4> : s8 ? MovRegImm<8> : nullptr;
  if (fn == OpMovRmImm && (i.reg & 7) == 0) {
    if (reg) return s4 ? MovRmImmReg<4> : s8 ? MovRmImmReg<8> : nullptr;
    return SpecializeMov(i, code_bits, true, true);
  }
  if (fn == OpLea) return SpecializeLea(i, code_bits);
  if (fn == OpSetcc && reg) return kSetcc[i.op & 15];
  if (fn == OpCmov && reg) {
    if (s4) return kCmov4[i.op & 15];
    if (s8) return kCmov8[i.op & 15];
    return nullptr;
  }
  if (fn == OpGrp3 && reg && !i.lock && (s4 || s8) && (i.reg & 6) == 2) {
    if (i.reg & 1) return s4 ? NotNegReg<true, 4> : NotNegReg<true, 8>;
    return s4 ? NotNegReg<false, 4> : NotNegReg<false, 8>;
  }
  if (fn == OpGrp3) return SpecializeTestImm(i, code_bits);
  if (fn == OpMovzx) return SpecializeExtend<false>(i, code_bits);
  if (fn == OpMovsx) return SpecializeExtend<true>(i, code_bits);
  if (fn == OpGrp8) return SpecializeBitImm(i, code_bits);
  if (fn == OpImul3 && reg)
    return s4 ? Imul3Reg<4> : s8 ? Imul3Reg<8> : nullptr;
  if (fn == OpImul2 && reg)
    return s4 ? Imul2Reg<4> : s8 ? Imul2Reg<8> : nullptr;
  if (fn == OpCbw) return s4 ? Cbw<4> : s8 ? Cbw<8> : nullptr;
  if (fn == OpXchgAccReg && i.reg == kRax) return OpNop;  // NOP, PAUSE
  if (fn == OpMovsxd) return SpecializeMovsxd(i, code_bits);
  if (!b64) return nullptr;
  // 64-bit code only from here: near branches and stack with 64-bit
  // operands, no MaskIp.
  if (fn == OpPushReg && s8) return PushReg64;
  if (fn == OpPopReg && s8) return PopReg64;
  if (fn == OpPushImm && s8) return PushImm64;
  if (fn == OpJcc && s8) return kJcc64[i.op & 15];
  if (fn == OpJmpRel && s8) return JmpRel64;
  if (fn == OpCallRel && s8) return CallRel64;
  if (fn == OpRet && s8 && (i.op & 0xff) == 0xc3) return Ret64;
  return nullptr;
}

}  // namespace

Handler SpecializeHandler(Insn* i, int code_bits) {
  const Handler h = Specialize(i, code_bits);
  return h != nullptr ? h : i->fn;
}

Handler FuseWithJcc(const Insn& first, const Insn& next) {
  if (next.fn != kJcc64[next.op & 15]) return nullptr;
  for (const FusedFirst& f : kFusedFirst) {
    if (first.fn == f.first) return f.then_jcc[next.op & 15];
  }
  return nullptr;
}

namespace {

// The specialised handlers whose effect the block compiler translates,
// each with its form.
absl::flat_hash_map<Handler, FastForm> TranslatedForms() {
  using K = FastForm::Kind;
  absl::flat_hash_map<Handler, FastForm> m;
  for (int size : {4, 8}) {
    const uint8_t sz = static_cast<uint8_t>(size);
    const bool s8 = size == 8;
    for (int op : {0, 1, 4, 5, 6, 7}) {
      const uint8_t o = static_cast<uint8_t>(op);
      m[PickAluSized<AluRmRRegF>(op, size)] = {K::kAluRmR, o, sz};
      m[PickAluSized<AluRRmRegF>(op, size)] = {K::kAluRRm, o, sz};
      m[PickAluSized<AluRmImmRegF>(op, size)] = {K::kAluRmImm, o, sz};
      m[PickAluSized<AluAccImmF>(op, size)] = {K::kAluAccImm, o, sz};
    }
    m[s8 ? TestRR<8> : TestRR<4>] = {K::kTestRR, 4, sz};
    m[s8 ? MovRmRReg<8> : MovRmRReg<4>] = {K::kMovRmR, 0, sz};
    m[s8 ? MovRRmReg<8> : MovRRmReg<4>] = {K::kMovRRm, 0, sz};
    m[s8 ? MovRegImm<8> : MovRegImm<4>] = {K::kMovRegImm, 0, sz};
    m[s8 ? MovRmImmReg<8> : MovRmImmReg<4>] = {K::kMovRmImm, 0, sz};
    m[s8 ? ShiftRegImm<4, 8> : ShiftRegImm<4, 4>] = {K::kShiftImm, 4, sz};
    m[s8 ? ShiftRegImm<5, 8> : ShiftRegImm<5, 4>] = {K::kShiftImm, 5, sz};
    m[s8 ? ShiftRegImm<7, 8> : ShiftRegImm<7, 4>] = {K::kShiftImm, 7, sz};
    m[s8 ? IncDecReg<false, 8, true> : IncDecReg<false, 4, true>] = {K::kIncDec,
                                                                     0, sz};
    m[s8 ? IncDecReg<true, 8, true> : IncDecReg<true, 4, true>] = {K::kIncDec,
                                                                   1, sz};
  }
  m[TestRR8] = {K::kTestRR, 4, 1};
  for (int size : {1, 4, 8}) {
    const uint8_t sz = static_cast<uint8_t>(size);
    m[size == 1   ? TestRegImm<1>
      : size == 4 ? TestRegImm<4>
                  : TestRegImm<8>] = {K::kTestImm, 0, sz};
    m[size == 1   ? TestAccImm<1>
      : size == 4 ? TestAccImm<4>
                  : TestAccImm<8>] = {K::kTestImm, 1, sz};
  }
  // Byte registers op= imm8: r8 (80 /op with a register), and AL.
  for (int op : {0, 1, 4, 5, 6, 7}) {
    const uint8_t o = static_cast<uint8_t>(op);
    m[PickAlu<AluReg8ImmBind<-1>::F, 1>(op)] = {K::kAluRmImm, o, 1};
    m[PickAlu<AluReg8ImmBind<kRax>::F, 1>(op)] = {K::kAluAccImm, o, 1};
  }
  // Memory operands in each addressing form Specialize gives them.
  const auto memory = [&]<int kEa>() {
    constexpr auto ea = static_cast<EaForm>(kEa);
    m[MovLoad<1, kEa>] = {K::kLoad, 0, 1, ea};
    m[MovLoad<2, kEa>] = {K::kLoad, 0, 2, ea};
    m[MovLoad<4, kEa>] = {K::kLoad, 0, 4, ea};
    m[MovLoad<8, kEa>] = {K::kLoad, 0, 8, ea};
    m[MovStore<1, kEa>] = {K::kStore, 0, 1, ea};
    m[MovStore<2, kEa>] = {K::kStore, 0, 2, ea};
    m[MovStore<4, kEa>] = {K::kStore, 0, 4, ea};
    m[MovStore<8, kEa>] = {K::kStore, 0, 8, ea};
    for (int size : {1, 4, 8}) {
      const uint8_t sz = static_cast<uint8_t>(size);
      for (int op : {0, 1, 4, 5, 6, 7}) {
        m[PickAluMemSized<AluRMemBind<kEa>::template F>(op, size)] = {
            K::kAluRMem, static_cast<uint8_t>(op), sz, ea};
      }
    }
    if constexpr (kEa != kEaSeg) {
      m[Lea64<4, kEa>] = {K::kLea, 0, 4, ea};
      m[Lea64<8, kEa>] = {K::kLea, 0, 8, ea};
      // MOVZX/MOVSX loads: op is the bytes read, | 4 when signed.
      m[ExtendMem<false, 1, 4, kEa>] = {K::kLoadExt, 1, 4, ea};
      m[ExtendMem<false, 1, 8, kEa>] = {K::kLoadExt, 1, 8, ea};
      m[ExtendMem<false, 2, 4, kEa>] = {K::kLoadExt, 2, 4, ea};
      m[ExtendMem<false, 2, 8, kEa>] = {K::kLoadExt, 2, 8, ea};
      m[ExtendMem<true, 1, 4, kEa>] = {K::kLoadExt, 1 | 4, 4, ea};
      m[ExtendMem<true, 1, 8, kEa>] = {K::kLoadExt, 1 | 4, 8, ea};
      m[ExtendMem<true, 2, 4, kEa>] = {K::kLoadExt, 2 | 4, 4, ea};
      m[ExtendMem<true, 2, 8, kEa>] = {K::kLoadExt, 2 | 4, 8, ea};
      // CMP and TEST that only read memory.
      m[AluMem<7, 1, kEa, false>] = {K::kCmpMemR, 7, 1, ea};
      m[AluMem<7, 4, kEa, false>] = {K::kCmpMemR, 7, 4, ea};
      m[AluMem<7, 8, kEa, false>] = {K::kCmpMemR, 7, 8, ea};
      m[TestMem<1, kEa>] = {K::kCmpMemR, 4, 1, ea};
      m[TestMem<4, kEa>] = {K::kCmpMemR, 4, 4, ea};
      m[TestMem<8, kEa>] = {K::kCmpMemR, 4, 8, ea};
      m[AluMem<7, 1, kEa, true>] = {K::kCmpMemImm, 7, 1, ea};
      m[AluMem<7, 4, kEa, true>] = {K::kCmpMemImm, 7, 4, ea};
      m[AluMem<7, 8, kEa, true>] = {K::kCmpMemImm, 7, 8, ea};
      m[TestMemImm<1, kEa>] = {K::kCmpMemImm, 4, 1, ea};
      m[TestMemImm<4, kEa>] = {K::kCmpMemImm, 4, 4, ea};
      m[TestMemImm<8, kEa>] = {K::kCmpMemImm, 4, 8, ea};
      // Read-modify-write: through a TLB entry that allows writing.
      for (int size : {1, 4, 8}) {
        const uint8_t sz = static_cast<uint8_t>(size);
        for (int op : {0, 1, 4, 5, 6}) {
          const uint8_t o = static_cast<uint8_t>(op);
          m[PickAluMemSized<AluMemBind<kEa, false>::template F>(op, size)] = {
              K::kAluMemR, o, sz, ea};
          m[PickAluMemSized<AluMemBind<kEa, true>::template F>(op, size)] = {
              K::kAluMemImm, o, sz, ea};
        }
      }
    }
  };
  memory.template operator()<kEaBase>();
  memory.template operator()<kEaRip>();
  memory.template operator()<kEaGeneric>();
  memory.template operator()<kEaSeg>();
  m[PushReg64] = {K::kPush, 0, 8};
  m[PopReg64] = {K::kPop, 0, 8};
  for (int cc = 0; cc < 16; ++cc) {
    m[kJcc64[cc]] = {K::kJcc, static_cast<uint8_t>(cc), 8};
  }
  m[JmpRel64] = {K::kJmpRel, 0, 8};
  m[CallRel64] = {K::kCallRel, 0, 8};
  m[Ret64] = {K::kRet, 0, 8};
  return m;
}

}  // namespace

HandlerFacts FactsOf(Handler h) {
  static const auto* const facts = [] {
    auto* m = new absl::flat_hash_map<Handler, HandlerFacts>;
    const absl::flat_hash_map<Handler, FastForm> forms = TranslatedForms();
    for (const auto& [handler, form] : forms) (*m)[handler] = {handler, form};
    for (const FusedFirst& f : kFusedFirst) {
      const auto it = forms.find(f.first);
      const FastForm form = it != forms.end() ? it->second : FastForm{};
      (*m)[f.first] = {f.first, form};
      for (Handler t : f.then_jcc) (*m)[t] = {f.first, form};
    }
    return m;
  }();
  const auto it = facts->find(h);
  return it != facts->end() ? it->second : HandlerFacts{h, {}};
}

bool JccContinuesBlock(const Insn& i, int code_bits) {
  return i.fn == OpJcc && code_bits == 64 && i.opsize == 8;
}

namespace {

// The handlers of instructions that never end a block: they change no
// mode, paging, segment, IF/TF or control flow and do no port I/O.
constexpr Handler kPlain[] = {
    OpAluRmR,     OpAluRRm, OpAluAccImm, OpGrp1,     OpIncDecReg, OpGrp3,
    OpGrp4,       OpImul2,  OpImul3,     OpCbw,      OpCwd,       OpTestRmR,
    OpTestAccImm, OpXadd,   OpCmpxchg,   OpGrp9,     OpGrp2,      OpShld,
    OpShrd,       OpBt,     OpGrp8,      OpBsf,      OpBsr,       OpPopcnt,
    OpBswap,      OpMovRmR, OpMovRRm,    OpMovRmImm, OpMovRegImm, OpMovMoffs,
    OpMovzx,      OpMovsx,  OpMovsxd,    OpLea,      OpXchgRmR,   OpXchgAccReg,
    OpPushReg,    OpPopReg, OpPushImm,   OpPopRm,    OpCmov,      OpSetcc,
    OpLeave,      OpPushf,  OpSahf,      OpLahf,     OpXlat,      OpNop,
};

// kPlain as an open-addressed hash set: EndsBlock runs for every decoded
// instruction, and a scan of kPlain cost more than decoding some of them.
class PlainHandlers {
 public:
  PlainHandlers() {
    for (Handler p : kPlain) {
      size_t k = Slot(p);
      while (slots_[k] != nullptr) k = (k + 1) % kSlots;
      slots_[k] = p;
    }
  }
  bool Contains(Handler fn) const {
    for (size_t k = Slot(fn); slots_[k] != nullptr; k = (k + 1) % kSlots) {
      if (slots_[k] == fn) return true;
    }
    return false;
  }

 private:
  static constexpr size_t kSlots = 128;  // under 40% full
  static_assert(std::size(kPlain) * 5 / 2 < kSlots);
  static size_t Slot(Handler fn) {
    return static_cast<size_t>(
               (reinterpret_cast<uintptr_t>(fn) * 0x9e3779b97f4a7c15ull) >>
               57) %
           kSlots;
  }
  Handler slots_[kSlots] = {};
};

}  // namespace

bool EndsBlock(const Insn& i) {
  static const PlainHandlers plain;
  const Handler fn = i.fn;
  if (plain.Contains(fn)) return false;
  if (fn == OpFlagOp) {
    const int opb = i.op & 0xff;
    return opb == 0xfa || opb == 0xfb;  // CLI/STI change IF
  }
  if (fn == OpGrp5) {
    const int sub = i.reg & 7;
    return !(sub == 0 || sub == 1 || sub == 6);  // INC DEC PUSH
  }
  return true;
}

}  // namespace skiff::tcg
