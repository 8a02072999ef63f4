// Packed-integer instructions in both their MMX (no prefix, mm registers
// aliased on the x87 file) and SSE2 (66 prefix, xmm) forms: PADD/PSUB
// (plain, saturating), PCMPEQ/PCMPGT, logic, shifts, unpacks, packs,
// multiplies, PMIN/PMAX, PAVG, PSADBW, PSHUF*, PMOVMSKB, PINSRW/PEXTRW,
// MOVQ mm, EMMS, MASKMOVQ/MASKMOVDQU (Intel SDM vol. 2).
//
// Integer results do not depend on MXCSR, so they are computed with the
// SSE2 intrinsics on the host. MMX forms run the same 128-bit operation on
// operands held in the low 64 bits; unpack-high and pack need the operand
// layout adjusted, see PackedOp below.
#include <emmintrin.h>

#include <array>
#include <cstring>

#include "tcg/cpu.h"
#include "tcg/fpu_state.h"
#include "tcg/ops_simd.h"
#include "tcg/simd_util.h"

namespace skiff::tcg {
namespace {

constexpr ExecStatus kNext = ExecStatus::kNext;
constexpr ExecStatus kFault = ExecStatus::kFault;

__m128i Load(const Xmm& x) {
  return _mm_set_epi64x(static_cast<long long>(x.hi),
                        static_cast<long long>(x.lo));
}
Xmm Store(__m128i v) {
  Xmm x;
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&x), v);
  return x;
}

using IntFn = __m128i (*)(__m128i a, __m128i b);

enum class Kind : uint8_t {
  kNone,      // not an instruction handled here: #UD
  kElem,      // lane-wise: the MMX form is the low half of the XMM one
  kUnpackHi,  // MMX form: high half of the corresponding unpack-low
  kPack,      // MMX form: pack(a:b, a:b), low half
  kXmmOnly,   // PUNPCKLQDQ/HQDQ: no MMX form
};

struct PackedOp {
  IntFn fn = nullptr;
  IntFn mmx_fn = nullptr;  // for kUnpackHi: the unpack-low
  Kind kind = Kind::kNone;
};

#define SKIFF_F(expr) +[](__m128i a, __m128i b) -> __m128i { return expr; }

constexpr std::array<PackedOp, 256> BuildOps() {
  std::array<PackedOp, 256> t{};
  auto e = [&t](int op, IntFn fn) { t[op] = {fn, nullptr, Kind::kElem}; };
  e(0x60, SKIFF_F(_mm_unpacklo_epi8(a, b)));
  e(0x61, SKIFF_F(_mm_unpacklo_epi16(a, b)));
  e(0x62, SKIFF_F(_mm_unpacklo_epi32(a, b)));
  t[0x63] = {SKIFF_F(_mm_packs_epi16(a, b)), nullptr, Kind::kPack};
  e(0x64, SKIFF_F(_mm_cmpgt_epi8(a, b)));
  e(0x65, SKIFF_F(_mm_cmpgt_epi16(a, b)));
  e(0x66, SKIFF_F(_mm_cmpgt_epi32(a, b)));
  t[0x67] = {SKIFF_F(_mm_packus_epi16(a, b)), nullptr, Kind::kPack};
  t[0x68] = {SKIFF_F(_mm_unpackhi_epi8(a, b)), SKIFF_F(_mm_unpacklo_epi8(a, b)),
             Kind::kUnpackHi};
  t[0x69] = {SKIFF_F(_mm_unpackhi_epi16(a, b)),
             SKIFF_F(_mm_unpacklo_epi16(a, b)), Kind::kUnpackHi};
  t[0x6a] = {SKIFF_F(_mm_unpackhi_epi32(a, b)),
             SKIFF_F(_mm_unpacklo_epi32(a, b)), Kind::kUnpackHi};
  t[0x6b] = {SKIFF_F(_mm_packs_epi32(a, b)), nullptr, Kind::kPack};
  t[0x6c] = {SKIFF_F(_mm_unpacklo_epi64(a, b)), nullptr, Kind::kXmmOnly};
  t[0x6d] = {SKIFF_F(_mm_unpackhi_epi64(a, b)), nullptr, Kind::kXmmOnly};
  e(0x74, SKIFF_F(_mm_cmpeq_epi8(a, b)));
  e(0x75, SKIFF_F(_mm_cmpeq_epi16(a, b)));
  e(0x76, SKIFF_F(_mm_cmpeq_epi32(a, b)));
  // Shifts by register use the low 64 bits of the count operand.
  e(0xd1, SKIFF_F(_mm_srl_epi16(a, b)));
  e(0xd2, SKIFF_F(_mm_srl_epi32(a, b)));
  e(0xd3, SKIFF_F(_mm_srl_epi64(a, b)));
  e(0xd4, SKIFF_F(_mm_add_epi64(a, b)));
  e(0xd5, SKIFF_F(_mm_mullo_epi16(a, b)));
  e(0xd8, SKIFF_F(_mm_subs_epu8(a, b)));
  e(0xd9, SKIFF_F(_mm_subs_epu16(a, b)));
  e(0xda, SKIFF_F(_mm_min_epu8(a, b)));
  e(0xdb, SKIFF_F(_mm_and_si128(a, b)));
  e(0xdc, SKIFF_F(_mm_adds_epu8(a, b)));
  e(0xdd, SKIFF_F(_mm_adds_epu16(a, b)));
  e(0xde, SKIFF_F(_mm_max_epu8(a, b)));
  e(0xdf, SKIFF_F(_mm_andnot_si128(a, b)));
  e(0xe0, SKIFF_F(_mm_avg_epu8(a, b)));
  e(0xe1, SKIFF_F(_mm_sra_epi16(a, b)));
  e(0xe2, SKIFF_F(_mm_sra_epi32(a, b)));
  e(0xe3, SKIFF_F(_mm_avg_epu16(a, b)));
  e(0xe4, SKIFF_F(_mm_mulhi_epu16(a, b)));
  e(0xe5, SKIFF_F(_mm_mulhi_epi16(a, b)));
  e(0xe8, SKIFF_F(_mm_subs_epi8(a, b)));
  e(0xe9, SKIFF_F(_mm_subs_epi16(a, b)));
  e(0xea, SKIFF_F(_mm_min_epi16(a, b)));
  e(0xeb, SKIFF_F(_mm_or_si128(a, b)));
  e(0xec, SKIFF_F(_mm_adds_epi8(a, b)));
  e(0xed, SKIFF_F(_mm_adds_epi16(a, b)));
  e(0xee, SKIFF_F(_mm_max_epi16(a, b)));
  e(0xef, SKIFF_F(_mm_xor_si128(a, b)));
  e(0xf1, SKIFF_F(_mm_sll_epi16(a, b)));
  e(0xf2, SKIFF_F(_mm_sll_epi32(a, b)));
  e(0xf3, SKIFF_F(_mm_sll_epi64(a, b)));
  e(0xf4, SKIFF_F(_mm_mul_epu32(a, b)));
  e(0xf5, SKIFF_F(_mm_madd_epi16(a, b)));
  e(0xf6, SKIFF_F(_mm_sad_epu8(a, b)));
  e(0xf8, SKIFF_F(_mm_sub_epi8(a, b)));
  e(0xf9, SKIFF_F(_mm_sub_epi16(a, b)));
  e(0xfa, SKIFF_F(_mm_sub_epi32(a, b)));
  e(0xfb, SKIFF_F(_mm_sub_epi64(a, b)));
  e(0xfc, SKIFF_F(_mm_add_epi8(a, b)));
  e(0xfd, SKIFF_F(_mm_add_epi16(a, b)));
  e(0xfe, SKIFF_F(_mm_add_epi32(a, b)));
  return t;
}
#undef SKIFF_F

const std::array<PackedOp, 256> kOps = BuildOps();

// The MMX source operand: mm register or m64 (no alignment requirement).
bool ReadMmxRm(Cpu& c, const Insn& i, uint64_t* v) {
  if (i.mod == 3) {
    *v = MmxReg(c.s.fpu, i.rm);
    return true;
  }
  return c.Read(i.seg, c.EffAddr(i), 8, v);
}

// Checks and fetches the operands shared by the packed-integer handlers:
// for the MMX form (`mmx`), a and b hold the 64-bit values in their low
// halves.
bool Operands(Cpu& c, const Insn& i, bool* mmx, Xmm* a, Xmm* b) {
  const Pfx p = MandatoryPrefix(i);
  if (p == Pfx::kF2 || p == Pfx::kF3) {
    c.pending_fault = {kUd, false, 0};
    return false;
  }
  *mmx = p == Pfx::kNone;
  if (*mmx) {
    if (!MmxAvailable(c)) return false;
    uint64_t v;
    if (!ReadMmxRm(c, i, &v)) return false;
    *a = Xmm{MmxReg(c.s.fpu, i.reg), 0};
    *b = Xmm{v, 0};
    return true;
  }
  if (!SseAvailable(c)) return false;
  *a = c.s.fpu.xmm[i.reg];
  return ReadXmmRm(c, i, true, b);
}

void WriteResult(Cpu& c, const Insn& i, bool mmx, const Xmm& r) {
  if (mmx) {
    SetMmxReg(&c.s.fpu, i.reg, r.lo);
    MmxEnter(&c.s.fpu);
  } else {
    c.s.fpu.xmm[i.reg] = r;
  }
}

Xmm ByteShift(const Xmm& v, int count, bool left) {
  uint8_t in[16], out[16] = {};
  std::memcpy(in, &v, 16);
  if (count < 16) {
    if (left) {
      std::memcpy(out + count, in, 16 - count);
    } else {
      std::memcpy(out, in + count, 16 - count);
    }
  }
  Xmm r;
  std::memcpy(&r, out, 16);
  return r;
}

}  // namespace

ExecStatus OpPackedInt(Cpu& c, const Insn& i) {
  const PackedOp& op = kOps[i.op & 0xff];
  if (op.kind == Kind::kNone) return c.Ud();
  if (op.kind == Kind::kXmmOnly && MandatoryPrefix(i) != Pfx::k66) {
    return c.Ud();
  }
  bool mmx;
  Xmm a, b;
  if (!Operands(c, i, &mmx, &a, &b)) return kFault;
  Xmm r;
  if (!mmx) {
    r = Store(op.fn(Load(a), Load(b)));
  } else if (op.kind == Kind::kUnpackHi) {
    r.lo = Store(op.mmx_fn(Load(a), Load(b))).hi;
  } else if (op.kind == Kind::kPack) {
    const __m128i ab = Load(Xmm{a.lo, b.lo});
    r = Store(op.fn(ab, ab));
  } else {
    r = Store(op.fn(Load(a), Load(b)));
  }
  WriteResult(c, i, mmx, r);
  return kNext;
}

ExecStatus OpPshuf(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  const unsigned imm = static_cast<unsigned>(i.imm);
  FpuState& f = c.s.fpu;
  auto shuf4 = [imm](uint64_t v) {  // four 16-bit words of v
    uint64_t r = 0;
    for (int k = 0; k < 4; ++k) {
      r |= ((v >> (16 * ((imm >> (2 * k)) & 3))) & 0xffff) << (16 * k);
    }
    return r;
  };
  if (p == Pfx::kNone) {  // PSHUFW mm, mm/m64, imm8
    if (!MmxAvailable(c)) return kFault;
    uint64_t v;
    if (!ReadMmxRm(c, i, &v)) return kFault;
    SetMmxReg(&f, i.reg, shuf4(v));
    MmxEnter(&f);
    return kNext;
  }
  if (!SseAvailable(c)) return kFault;
  Xmm s;
  if (!ReadXmmRm(c, i, true, &s)) return kFault;
  Xmm r = s;
  if (p == Pfx::k66) {  // PSHUFD
    uint32_t in[4], out[4];
    std::memcpy(in, &s, 16);
    for (int k = 0; k < 4; ++k) out[k] = in[(imm >> (2 * k)) & 3];
    std::memcpy(&r, out, 16);
  } else if (p == Pfx::kF3) {  // PSHUFHW
    r.hi = shuf4(s.hi);
  } else {  // PSHUFLW
    r.lo = shuf4(s.lo);
  }
  f.xmm[i.reg] = r;
  return kNext;
}

ExecStatus OpPshiftImm(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  const int sub = i.reg & 7;
  const int opb = i.op & 0xff;
  if (i.mod != 3 || p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  const bool mmx = p == Pfx::kNone;
  // Valid: 71/72 with /2 /4 /6 (72 /4 is PSRAD; 71 /4 PSRAW); 73 with
  // /2 /6 and, XMM only, /3 /7 (PSRLDQ PSLLDQ). No PSRAQ.
  const bool ok =
      opb == 0x73 ? (sub == 2 || sub == 6 || ((sub == 3 || sub == 7) && !mmx))
                  : (sub == 2 || sub == 4 || sub == 6);
  if (!ok) return c.Ud();
  if (mmx ? !MmxAvailable(c) : !SseAvailable(c)) return kFault;
  FpuState& f = c.s.fpu;
  // The destination is ModRM.rm.
  const Xmm v = mmx ? Xmm{MmxReg(f, i.rm), 0} : f.xmm[i.rm];
  const int count = static_cast<int>(i.imm & 0xff);
  Xmm r;
  if (sub == 3 || sub == 7) {
    r = ByteShift(v, count, sub == 7);
  } else {
    const __m128i a = Load(v);
    const __m128i n = _mm_cvtsi32_si128(count);
    __m128i x;
    const int w = opb - 0x70;  // 1: words, 2: dwords, 3: qwords
    if (sub == 2) {
      x = w == 1   ? _mm_srl_epi16(a, n)
          : w == 2 ? _mm_srl_epi32(a, n)
                   : _mm_srl_epi64(a, n);
    } else if (sub == 4) {
      x = w == 1 ? _mm_sra_epi16(a, n) : _mm_sra_epi32(a, n);
    } else {
      x = w == 1   ? _mm_sll_epi16(a, n)
          : w == 2 ? _mm_sll_epi32(a, n)
                   : _mm_sll_epi64(a, n);
    }
    r = Store(x);
  }
  if (mmx) {
    SetMmxReg(&f, i.rm, r.lo);
    MmxEnter(&f);
  } else {
    f.xmm[i.rm] = r;
  }
  return kNext;
}

ExecStatus OpPmovmskb(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  if (i.mod != 3 || p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  const bool mmx = p == Pfx::kNone;
  if (mmx ? !MmxAvailable(c) : !SseAvailable(c)) return kFault;
  const Xmm v = mmx ? Xmm{MmxReg(c.s.fpu, i.rm), 0} : c.s.fpu.xmm[i.rm];
  uint64_t m = static_cast<uint32_t>(_mm_movemask_epi8(Load(v)));
  if (mmx) {
    m &= 0xff;
    MmxEnter(&c.s.fpu);
  }
  c.SetReg(i.reg, i.opsize == 8 ? 8 : 4, m);
  return kNext;
}

ExecStatus OpPinsrw(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  if (p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  const bool mmx = p == Pfx::kNone;
  if (mmx ? !MmxAvailable(c) : !SseAvailable(c)) return kFault;
  uint64_t w;
  if (i.mod == 3) {
    w = c.Reg(i.rm, 4) & 0xffff;
  } else if (!c.Read(i.seg, c.EffAddr(i), 2, &w)) {
    return kFault;
  }
  FpuState& f = c.s.fpu;
  if (mmx) {
    const int sh = 16 * static_cast<int>(i.imm & 3);
    const uint64_t v = (MmxReg(f, i.reg) & ~(0xffffull << sh)) | (w << sh);
    SetMmxReg(&f, i.reg, v);
    MmxEnter(&f);
    return kNext;
  }
  const int k = static_cast<int>(i.imm & 7);
  uint64_t& half = k < 4 ? f.xmm[i.reg].lo : f.xmm[i.reg].hi;
  const int sh = 16 * (k & 3);
  half = (half & ~(0xffffull << sh)) | (w << sh);
  return kNext;
}

ExecStatus OpPextrw(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  if (i.mod != 3 || p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  const bool mmx = p == Pfx::kNone;
  if (mmx ? !MmxAvailable(c) : !SseAvailable(c)) return kFault;
  FpuState& f = c.s.fpu;
  uint64_t w;
  if (mmx) {
    w = (MmxReg(f, i.rm) >> (16 * (i.imm & 3))) & 0xffff;
    MmxEnter(&f);
  } else {
    const int k = static_cast<int>(i.imm & 7);
    w = ((k < 4 ? f.xmm[i.rm].lo : f.xmm[i.rm].hi) >> (16 * (k & 3))) & 0xffff;
  }
  c.SetReg(i.reg, i.opsize == 8 ? 8 : 4, w);
  return kNext;
}

ExecStatus OpMovqMmx(Cpu& c, const Insn& i) {
  if (!MmxAvailable(c)) return kFault;
  FpuState& f = c.s.fpu;
  if ((i.op & 0xff) == 0x6f) {  // MOVQ mm, mm/m64
    uint64_t v;
    if (!ReadMmxRm(c, i, &v)) return kFault;
    SetMmxReg(&f, i.reg, v);
  } else if (i.mod == 3) {  // MOVQ mm/m64, mm (and MOVNTQ)
    SetMmxReg(&f, i.rm, MmxReg(f, i.reg));
  } else if (!c.Write(i.seg, c.EffAddr(i), 8, MmxReg(f, i.reg))) {
    return kFault;
  }
  MmxEnter(&f);
  return kNext;
}

ExecStatus OpEmms(Cpu& c, const Insn& i) {
  if (MandatoryPrefix(i) != Pfx::kNone) return c.Ud();
  if (!MmxAvailable(c)) return kFault;
  c.s.fpu.ftw = 0;  // all registers empty
  return kNext;
}

ExecStatus OpMaskmov(Cpu& c, const Insn& i) {
  const Pfx p = MandatoryPrefix(i);
  if (i.mod != 3 || p == Pfx::kF2 || p == Pfx::kF3) return c.Ud();
  const bool mmx = p == Pfx::kNone;
  if (mmx ? !MmxAvailable(c) : !SseAvailable(c)) return kFault;
  FpuState& f = c.s.fpu;
  const Xmm data = mmx ? Xmm{MmxReg(f, i.reg), 0} : f.xmm[i.reg];
  const Xmm mask = mmx ? Xmm{MmxReg(f, i.rm), 0} : f.xmm[i.rm];
  uint8_t d[16], m[16];
  std::memcpy(d, &data, 16);
  std::memcpy(m, &mask, 16);
  // DS:rDI (segment override allowed), address-size wrap. Bytes are stored
  // one at a time: a #PF part-way leaves the earlier bytes written, which
  // the SDM permits for this non-temporal store.
  const uint64_t base = c.Reg(kRdi, i.addrsize);
  const int n = mmx ? 8 : 16;
  for (int k = 0; k < n; ++k) {
    if (!(m[k] & 0x80)) continue;
    if (!c.Write(i.seg, (base + k) & SizeMask(i.addrsize), 1, d[k])) {
      return kFault;
    }
  }
  if (mmx) MmxEnter(&f);
  return kNext;
}

}  // namespace skiff::tcg
