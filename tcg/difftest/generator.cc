#include "tcg/difftest/generator.h"

#include <cpuid.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "base/guest_memory.h"
#include "tcg/cpu.h"
#include "tcg/cpuid_msr.h"
#include "tcg/difftest/encoder.h"

namespace skiff::tcg::difftest {

Features CommonFeatures() {
  Features host, interp;
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d)) host.popcnt = c & (1u << 23);
  if (__get_cpuid(0x80000001, &a, &b, &c, &d)) host.lzcnt = c & (1u << 5);
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) host.tzcnt = b & (1u << 3);
  auto mem = GuestMemory::Create({{GuestAddr(0), 4096}}, {});
  if (mem.ok()) {
    Cpu cpu(**mem, nullptr);
    interp.popcnt = Cpuid(cpu, 1, 0).ecx & (1u << 23);
    interp.lzcnt = Cpuid(cpu, 0x80000001, 0).ecx & (1u << 5);
    interp.tzcnt = Cpuid(cpu, 7, 0).ebx & (1u << 3);
  }
  return Features{host.popcnt && interp.popcnt, host.lzcnt && interp.lzcnt,
                  host.tzcnt && interp.tzcnt};
}

namespace {

// Flags read by condition code `cc` (Jcc/SETcc/CMOVcc order).
uint32_t CondFlags(int cc) {
  static constexpr uint32_t kReads[8] = {kOf, kCf, kZf,       kCf | kZf,
                                         kSf, kPf, kSf | kOf, kZf | kSf | kOf};
  return kReads[(cc >> 1) & 7];
}

class Gen {
 public:
  Gen(uint64_t seed, const GeneratorOptions& options, Snippet* s)
      : rng_(seed), o_(options), s_(*s), enc_(&s->code) {}

  void Run() {
    const int n = o_.min_insns +
                  static_cast<int>(rng_.Below(
                      static_cast<uint32_t>(o_.max_insns - o_.min_insns + 1)));
    while (s_.instructions < n && s_.code.size() < kMaxCodeSize - 200) {
      OneTemplate();
    }
    s_.final_undef = undef_;
  }

 private:
  // ---- Bookkeeping --------------------------------------------------------
  // Call before emitting an instruction that reads `reads`.
  void Reads(uint32_t reads) {
    if (reads & undef_) {
      // CMP r64, r64 defines all six arithmetic flags.
      Emit({.size = 8,
            .opcode = {0x39},
            .reg = Src(),
            .rm = Operand::Reg(Src())},
           0, kStatusFlags, 0);
    }
  }
  void Emit(const EncInsn& insn, uint32_t reads, uint32_t defines,
            uint32_t undefines) {
    Reads(reads);
    s_.boundaries.push_back({static_cast<uint32_t>(s_.code.size()), undef_});
    enc_.Emit(insn);
    ++s_.instructions;
    undef_ = (undef_ & ~defines) | undefines;
  }

  // ---- Operand choice -----------------------------------------------------
  int Src() { return static_cast<int>(rng_.Below(16)); }
  // A register the snippet may write: never RBX (data base) or RSP.
  int Dst() {
    for (;;) {
      const int r = static_cast<int>(rng_.Below(16));
      if (r != kRbx && r != kRsp) return r;
    }
  }
  // Byte registers: without REX, 4..7 are AH CH DH BH, so the written
  // register is r - 4; BL/BH and SPL are excluded as destinations.
  int Byte(bool rex, bool dst) {
    for (;;) {
      const int r = static_cast<int>(rng_.Below(rex ? 16 : 8));
      if (!dst) return r;
      if (rex && r != kRbx && r != kRsp) return r;
      if (!rex && r != 3 && r != 7) return r;
    }
  }
  int Reg(int size, bool rex, bool dst) {
    if (size == 1) return Byte(rex, dst);
    return dst ? Dst() : Src();
  }
  int Size() {
    static constexpr int kSizes[4] = {1, 2, 4, 8};
    return kSizes[rng_.Below(4)];
  }
  int SizeNoByte() {
    static constexpr int kSizes[3] = {2, 4, 8};
    return kSizes[rng_.Below(3)];
  }
  Operand Mem(int size) {
    const uint32_t k = rng_.Below(100);
    if (k < 45) return Operand::Mem(kRbx, static_cast<int8_t>(rng_.Next()));
    if (k < 75) {
      return Operand::Mem(kRbx,
                          static_cast<int32_t>(rng_.Below(0x3e00)) - 0x1f00);
    }
    if (k < 97) {
      return Operand::Mem(kRsp, static_cast<int32_t>(rng_.Below(0x780)) - 0x80);
    }
    // Straddling either end of the data area: #PF on both sides.
    const int32_t end = static_cast<int32_t>(kDataSize - kRbxOffset);
    return rng_.Chance(50)
               ? Operand::Mem(kRbx,
                              end - 1 - static_cast<int32_t>(rng_.Below(size)))
               : Operand::Mem(kRbx, -static_cast<int32_t>(kRbxOffset) - 1);
  }
  uint64_t Imm() {
    switch (rng_.Below(4)) {
      case 0:
        return rng_.Below(4);
      case 1:
        return rng_.Chance(50) ? 0x7f : 0x80;
      default:
        return rng_.Next();
    }
  }
  static int ImmSize(int size) { return size == 8 ? 4 : size; }

  // An r/m operand: a register (destination rules when `dst`) or memory.
  // Sets .rm and .force_rex on `i` for byte operands.
  void RmOperand(EncInsn& i, bool dst, int mem_percent = 40) {
    if (rng_.Chance(static_cast<uint32_t>(mem_percent))) {
      i.rm = Mem(i.size);
    } else {
      i.rm = Operand::Reg(Reg(i.size, i.force_rex, dst));
    }
  }
  EncInsn Base(int size) {
    EncInsn i;
    i.size = size;
    i.force_rex = size == 1 && rng_.Chance(60);
    return i;
  }
  // LOCK only goes on memory-destination RMW forms; sometimes also on a
  // register form, which must #UD on both sides.
  void MaybeLock(EncInsn& i) {
    if ((i.rm.mem && rng_.Chance(20)) || rng_.Chance(1)) i.lock = true;
  }
  uint8_t Count() {
    static constexpr uint8_t kCounts[] = {0,  1,  2,  3,  7,  8,  9,  15, 16,
                                          17, 31, 32, 33, 63, 64, 65, 127};
    return rng_.Chance(70) ? kCounts[rng_.Below(sizeof(kCounts))]
                           : static_cast<uint8_t>(rng_.Next());
  }

  // ---- Templates ------------------------------------------------------------
  void Alu();
  void Test();
  void IncDecNegNot();
  void MulDiv();
  void Imul();
  void Shift();
  void ShiftDouble();
  void BitTest();
  void BitScan();
  void Mov();
  void MovExtend();
  void Lea();
  void Exchange();
  void CmovSetcc();
  void Misc();
  void Stack();
  void String();
  void Cmpxchg8b16b();

  void OneTemplate() {
    struct Entry {
      int weight;
      void (Gen::*fn)();
    };
    static constexpr Entry kTable[] = {
        {20, &Gen::Alu},        {4, &Gen::Test},      {5, &Gen::IncDecNegNot},
        {5, &Gen::MulDiv},      {3, &Gen::Imul},      {10, &Gen::Shift},
        {3, &Gen::ShiftDouble}, {4, &Gen::BitTest},   {4, &Gen::BitScan},
        {8, &Gen::Mov},         {4, &Gen::MovExtend}, {4, &Gen::Lea},
        {4, &Gen::Exchange},    {6, &Gen::CmovSetcc}, {5, &Gen::Misc},
        {5, &Gen::Stack},       {4, &Gen::String},    {1, &Gen::Cmpxchg8b16b},
    };
    int total = 0;
    for (const Entry& e : kTable) total += e.weight;
    int pick = static_cast<int>(rng_.Below(static_cast<uint32_t>(total)));
    for (const Entry& e : kTable) {
      if (pick < e.weight) {
        (this->*e.fn)();
        return;
      }
      pick -= e.weight;
    }
  }

  Rng rng_;
  const GeneratorOptions& o_;
  Snippet& s_;
  Encoder enc_;
  uint32_t undef_ = 0;
};

void Gen::Alu() {
  const int op =
      static_cast<int>(rng_.Below(8));  // ADD OR ADC SBB AND SUB XOR CMP
  const uint32_t reads = (op == 2 || op == 3) ? kCf : 0;
  const bool logic = op == 1 || op == 4 || op == 6;
  const uint32_t undef = logic ? kAf : 0;
  const uint32_t defines = kStatusFlags & ~undef;
  EncInsn i = Base(Size());
  const int byte = i.size == 1 ? 0 : 1;
  switch (rng_.Below(4)) {
    case 0:  // r/m, r
      i.opcode = {static_cast<uint8_t>(op * 8 + byte)};
      RmOperand(i, true);
      i.reg = Reg(i.size, i.force_rex, false);
      if (op != 7) MaybeLock(i);
      break;
    case 1:  // r, r/m
      i.opcode = {static_cast<uint8_t>(op * 8 + 2 + byte)};
      RmOperand(i, false);
      i.reg = Reg(i.size, i.force_rex, true);
      break;
    case 2: {  // r/m, imm (80/81/83)
      const bool imm8 = i.size != 1 && rng_.Chance(50);
      i.opcode = {static_cast<uint8_t>(i.size == 1 ? 0x80
                                       : imm8      ? 0x83
                                                   : 0x81)};
      i.reg = op;
      RmOperand(i, true);
      i.imm = Imm();
      i.imm_size = imm8 ? 1 : ImmSize(i.size);
      if (op != 7) MaybeLock(i);
      break;
    }
    default:  // AL/eAX, imm
      i.opcode = {static_cast<uint8_t>(op * 8 + 4 + byte)};
      i.has_modrm = false;
      i.imm = Imm();
      i.imm_size = ImmSize(i.size);
      break;
  }
  Emit(i, reads, defines, undef);
}

void Gen::Test() {
  EncInsn i = Base(Size());
  const int byte = i.size == 1 ? 0 : 1;
  if (rng_.Chance(50)) {
    i.opcode = {static_cast<uint8_t>(0x84 + byte)};
    RmOperand(i, false);
    i.reg = Reg(i.size, i.force_rex, false);
  } else {
    i.opcode = {static_cast<uint8_t>(0xf6 + byte)};
    i.reg = 0;
    RmOperand(i, false);
    i.imm = Imm();
    i.imm_size = ImmSize(i.size);
  }
  Emit(i, 0, kStatusFlags & ~kAf, kAf);
}

void Gen::IncDecNegNot() {
  EncInsn i = Base(Size());
  const int byte = i.size == 1 ? 0 : 1;
  switch (rng_.Below(4)) {
    case 0:
    case 1:  // INC / DEC: CF unchanged
      i.opcode = {static_cast<uint8_t>(0xfe + byte)};
      i.reg = static_cast<int>(rng_.Below(2));
      RmOperand(i, true);
      MaybeLock(i);
      Emit(i, 0, kStatusFlags & ~kCf, 0);
      break;
    case 2:  // NOT: no flags
      i.opcode = {static_cast<uint8_t>(0xf6 + byte)};
      i.reg = 2;
      RmOperand(i, true);
      MaybeLock(i);
      Emit(i, 0, 0, 0);
      break;
    default:  // NEG
      i.opcode = {static_cast<uint8_t>(0xf6 + byte)};
      i.reg = 3;
      RmOperand(i, true);
      MaybeLock(i);
      Emit(i, 0, kStatusFlags, 0);
      break;
  }
}

void Gen::MulDiv() {
  EncInsn i = Base(Size());
  i.opcode = {static_cast<uint8_t>(i.size == 1 ? 0xf6 : 0xf7)};
  const bool div = rng_.Chance(35);
  i.reg = div ? 6 + static_cast<int>(rng_.Below(2))
              : 4 + static_cast<int>(rng_.Below(2));
  if (div && rng_.Chance(60)) {
    // xor edx, edx (and sometimes ah) so that DIV mostly does not overflow.
    Emit({.size = 4, .opcode = {0x31}, .reg = kRdx, .rm = Operand::Reg(kRdx)},
         0, kStatusFlags & ~kAf, kAf);
  }
  RmOperand(i, false);
  // MUL/IMUL: CF OF defined, SF ZF AF PF undefined; DIV/IDIV: all
  // undefined (Intel SDM vol. 2, MUL/IMUL/DIV/IDIV "Flags Affected").
  if (div) {
    Emit(i, 0, 0, kStatusFlags);
  } else {
    Emit(i, 0, kCf | kOf, kSf | kZf | kAf | kPf);
  }
}

void Gen::Imul() {
  EncInsn i = Base(SizeNoByte());
  i.reg = Dst();
  RmOperand(i, false);
  switch (rng_.Below(3)) {
    case 0:
      i.opcode = {0x0f, 0xaf};
      break;
    case 1:
      i.opcode = {0x6b};
      i.imm = Imm();
      i.imm_size = 1;
      break;
    default:
      i.opcode = {0x69};
      i.imm = Imm();
      i.imm_size = ImmSize(i.size);
      break;
  }
  Emit(i, 0, kCf | kOf, kSf | kZf | kAf | kPf);
}

void Gen::Shift() {
  EncInsn i = Base(Size());
  int op = static_cast<int>(rng_.Below(7));
  if (op == 6) op = 7;  // SAR; /6 (SAL alias) is not generated
  i.reg = op;
  RmOperand(i, true);
  const int byte = i.size == 1 ? 0 : 1;
  const uint32_t form = rng_.Below(3);  // by 1, by imm8, by CL
  uint8_t count = form == 0 ? 1 : Count();
  switch (form) {
    case 0:
      i.opcode = {static_cast<uint8_t>(0xd0 + byte)};
      break;
    case 1:
      i.opcode = {static_cast<uint8_t>(0xc0 + byte)};
      i.imm = count;
      i.imm_size = 1;
      break;
    default:
      // MOV CL, imm8 so the count (and with it the flag rules) is known.
      Emit({.size = 1,
            .opcode = {0xb1},
            .has_modrm = false,
            .imm = count,
            .imm_size = 1},
           0, 0, 0);
      i.opcode = {static_cast<uint8_t>(0xd2 + byte)};
      break;
  }
  const int masked = count & (i.size == 8 ? 63 : 31);
  const uint32_t reads = (op == 2 || op == 3) ? kCf : 0;
  uint32_t defines = 0, undef = 0;
  if (masked != 0) {
    const uint32_t of_def = masked == 1 ? kOf : 0;
    const uint32_t of_undef = masked == 1 ? 0 : kOf;
    if (op <= 3) {  // rotates touch only CF and OF
      defines = kCf | of_def;
      undef = of_undef;
    } else {
      defines = kCf | kPf | kZf | kSf | of_def;
      undef = kAf | of_undef;
      // SHL/SHR: CF undefined when count >= operand width.
      if (op != 7 && masked >= i.size * 8) undef |= kCf;
    }
  }
  Emit(i, reads, defines & ~undef, undef);
}

void Gen::ShiftDouble() {
  EncInsn i = Base(SizeNoByte());
  const bool right = rng_.Chance(50);
  RmOperand(i, true);
  i.reg = Src();
  uint8_t count = Count();
  // A 16-bit SHLD/SHRD by more than 16 has an undefined result.
  if (i.size == 2 && (count & 31) > 16) count &= 15;
  if (rng_.Chance(50)) {
    i.opcode = {0x0f, static_cast<uint8_t>(right ? 0xac : 0xa4)};
    i.imm = count;
    i.imm_size = 1;
  } else {
    Emit({.size = 1,
          .opcode = {0xb1},
          .has_modrm = false,
          .imm = count,
          .imm_size = 1},
         0, 0, 0);
    i.opcode = {0x0f, static_cast<uint8_t>(right ? 0xad : 0xa5)};
  }
  const int masked = count & (i.size == 8 ? 63 : 31);
  uint32_t defines = 0, undef = 0;
  if (masked != 0) {
    defines = kCf | kPf | kZf | kSf | (masked == 1 ? kOf : 0);
    undef = kAf | (masked == 1 ? 0 : kOf);
  }
  Emit(i, 0, defines, undef);
}

void Gen::BitTest() {
  EncInsn i = Base(SizeNoByte());
  const int op = static_cast<int>(rng_.Below(4));  // BT BTS BTR BTC
  if (rng_.Chance(50)) {
    // Register bit offset: register destination only (a memory operand
    // would be addressed by the offset's high bits).
    static constexpr uint8_t kOps[4] = {0xa3, 0xab, 0xb3, 0xbb};
    i.opcode = {0x0f, kOps[op]};
    i.rm = Operand::Reg(op == 0 ? Src() : Dst());
    i.reg = Src();
  } else {
    i.opcode = {0x0f, 0xba};
    i.reg = 4 + op;
    RmOperand(i, op != 0);
    if (op != 0) MaybeLock(i);
    i.imm = rng_.Next() & 0xff;
    i.imm_size = 1;
  }
  // CF defined, ZF unchanged, OF SF AF PF undefined.
  Emit(i, 0, kCf, kOf | kSf | kAf | kPf);
}

void Gen::BitScan() {
  EncInsn i = Base(SizeNoByte());
  i.reg = Dst();
  RmOperand(i, false);
  const uint32_t k = rng_.Below(5);
  if (k == 2 && o_.features.popcnt) {
    i.mandatory = 0xf3;
    i.opcode = {0x0f, 0xb8};
    Emit(i, 0, kStatusFlags, 0);
  } else if (k == 3 && o_.features.lzcnt) {
    i.mandatory = 0xf3;
    i.opcode = {0x0f, 0xbd};
    Emit(i, 0, kCf | kZf, kOf | kSf | kAf | kPf);
  } else if (k == 4 && o_.features.tzcnt) {
    i.mandatory = 0xf3;
    i.opcode = {0x0f, 0xbc};
    Emit(i, 0, kCf | kZf, kOf | kSf | kAf | kPf);
  } else {
    // BSF/BSR: ZF defined, the rest undefined. A zero source leaves the
    // destination unchanged (AMD APM vol. 3; Intel says "undefined" but
    // does the same).
    i.opcode = {0x0f, static_cast<uint8_t>(k & 1 ? 0xbd : 0xbc)};
    Emit(i, 0, kZf, kCf | kOf | kSf | kAf | kPf);
  }
}

void Gen::Mov() {
  EncInsn i = Base(Size());
  const int byte = i.size == 1 ? 0 : 1;
  switch (rng_.Below(5)) {
    case 0:  // MOV r/m, r
      i.opcode = {static_cast<uint8_t>(0x88 + byte)};
      RmOperand(i, true);
      i.reg = Reg(i.size, i.force_rex, false);
      break;
    case 1:  // MOV r, r/m
      i.opcode = {static_cast<uint8_t>(0x8a + byte)};
      RmOperand(i, false);
      i.reg = Reg(i.size, i.force_rex, true);
      break;
    case 2:  // MOV r/m, imm
      i.opcode = {static_cast<uint8_t>(0xc6 + byte)};
      i.reg = 0;
      RmOperand(i, true);
      i.imm = Imm();
      i.imm_size = ImmSize(i.size);
      break;
    case 3:  // MOV r, imm (B0+r / B8+r, imm64 with REX.W)
      i.opcode = {static_cast<uint8_t>(i.size == 1 ? 0xb0 : 0xb8)};
      i.has_modrm = false;
      i.opcode_reg = Reg(i.size, i.force_rex, true);
      i.imm = Imm();
      i.imm_size = i.size;
      break;
    default: {  // MOV AL/eAX <-> moffs64 (A0-A3)
      const bool store = rng_.Chance(50);
      i.force_rex = false;
      i.opcode = {static_cast<uint8_t>((store ? 0xa2 : 0xa0) + byte)};
      i.has_modrm = false;
      i.imm = kDataBase + rng_.Below(static_cast<uint32_t>(kDataSize - 8));
      i.imm_size = 8;
      break;
    }
  }
  Emit(i, 0, 0, 0);
}

void Gen::MovExtend() {
  EncInsn i = Base(SizeNoByte());
  i.reg = Dst();
  if (rng_.Chance(15)) {
    i.size = 8;
    i.opcode = {0x63};  // MOVSXD r64, r/m32
    RmOperand(i, false);
  } else {
    const bool word = rng_.Chance(40);
    const bool sign = rng_.Chance(50);
    i.opcode = {0x0f, static_cast<uint8_t>((sign ? 0xbe : 0xb6) + word)};
    i.force_rex = rng_.Chance(50);
    if (rng_.Chance(40)) {
      i.rm = Mem(word ? 2 : 1);
    } else {
      i.rm = Operand::Reg(Src() & (i.force_rex ? 15 : 7));
    }
  }
  Emit(i, 0, 0, 0);
}

void Gen::Lea() {
  EncInsn i = Base(SizeNoByte());
  i.opcode = {0x8d};
  i.reg = Dst();
  int index = rng_.Chance(60) ? Src() : -1;
  if (index == kRsp) index = -1;
  const int base = rng_.Chance(90) ? Src() : -1;
  int32_t disp = static_cast<int32_t>(rng_.Next());
  if (rng_.Chance(50)) disp = static_cast<int8_t>(disp);
  i.rm = Operand::Mem(base, disp, index, static_cast<int>(rng_.Below(4)));
  i.addr32 = rng_.Chance(20);
  Emit(i, 0, 0, 0);
}

void Gen::Exchange() {
  EncInsn i = Base(Size());
  const int byte = i.size == 1 ? 0 : 1;
  switch (rng_.Below(4)) {
    case 0:  // XCHG r/m, r: both written
      i.opcode = {static_cast<uint8_t>(0x86 + byte)};
      RmOperand(i, true);
      i.reg = Reg(i.size, i.force_rex, true);
      Emit(i, 0, 0, 0);
      break;
    case 1:  // XCHG eAX, r (90+r; 90 itself is NOP, even with size 4)
      if (i.size == 1) i.size = 4;
      i.force_rex = false;
      i.opcode = {0x90};
      i.has_modrm = false;
      i.opcode_reg = Dst();
      Emit(i, 0, 0, 0);
      break;
    case 2:  // XADD
      i.opcode = {0x0f, static_cast<uint8_t>(0xc0 + byte)};
      RmOperand(i, true);
      i.reg = Reg(i.size, i.force_rex, true);
      MaybeLock(i);
      Emit(i, 0, kStatusFlags, 0);
      break;
    default:  // CMPXCHG (writes eAX or the destination)
      i.opcode = {0x0f, static_cast<uint8_t>(0xb0 + byte)};
      RmOperand(i, true);
      i.reg = Reg(i.size, i.force_rex, false);
      MaybeLock(i);
      Emit(i, 0, kStatusFlags, 0);
      break;
  }
}

void Gen::CmovSetcc() {
  const int cc = static_cast<int>(rng_.Below(16));
  if (rng_.Chance(50)) {
    EncInsn i = Base(SizeNoByte());
    i.opcode = {0x0f, static_cast<uint8_t>(0x40 + cc)};
    i.reg = Dst();
    RmOperand(i, false);
    Emit(i, CondFlags(cc), 0, 0);
  } else {
    EncInsn i = Base(1);
    i.opcode = {0x0f, static_cast<uint8_t>(0x90 + cc)};
    i.reg = 0;
    RmOperand(i, true);
    Emit(i, CondFlags(cc), 0, 0);
  }
}

void Gen::Misc() {
  EncInsn i = Base(SizeNoByte());
  i.has_modrm = false;
  switch (rng_.Below(12)) {
    case 0:
      i.opcode = {0x98};  // CBW/CWDE/CDQE
      Emit(i, 0, 0, 0);
      break;
    case 1:
      i.opcode = {0x99};  // CWD/CDQ/CQO
      Emit(i, 0, 0, 0);
      break;
    case 2:
      Emit({.size = 4, .opcode = {0x9f}, .has_modrm = false},
           kStatusFlags & ~kOf, 0, 0);  // LAHF
      break;
    case 3:
      Emit({.size = 4, .opcode = {0x9e}, .has_modrm = false}, 0,
           kStatusFlags & ~kOf, 0);  // SAHF
      break;
    case 4:
      Emit({.size = 4, .opcode = {0xf8}, .has_modrm = false}, 0, kCf,
           0);  // CLC
      break;
    case 5:
      Emit({.size = 4, .opcode = {0xf9}, .has_modrm = false}, 0, kCf,
           0);  // STC
      break;
    case 6:
      Emit({.size = 4, .opcode = {0xf5}, .has_modrm = false}, kCf, kCf,
           0);  // CMC
      break;
    case 7:
      Emit({.size = 4,
            .opcode = {static_cast<uint8_t>(rng_.Chance(50) ? 0xfc : 0xfd)},
            .has_modrm = false},
           0, 0, 0);  // CLD / STD
      break;
    case 8:
      Emit({.size = 4, .opcode = {0xd7}, .has_modrm = false}, 0, 0, 0);  // XLAT
      break;
    case 9: {  // BSWAP r32/r64 (the 16-bit form is undefined)
      EncInsn b;
      b.size = rng_.Chance(50) ? 4 : 8;
      b.opcode = {0x0f, 0xc8};
      b.has_modrm = false;
      b.opcode_reg = Dst();
      Emit(b, 0, 0, 0);
      break;
    }
    case 10: {  // multi-byte NOP with a memory operand (no access)
      EncInsn n;
      n.size = rng_.Chance(30) ? 2 : 4;
      n.opcode = {0x0f, 0x1f};
      n.reg = 0;
      n.rm = Operand::Mem(Src(), static_cast<int32_t>(rng_.Next()));
      Emit(n, 0, 0, 0);
      break;
    }
    default:
      Emit({.size = 4, .opcode = {0x90}, .has_modrm = false}, 0, 0, 0);
      break;
  }
}

void Gen::Stack() {
  EncInsn i;
  i.size = rng_.Chance(15) ? 2 : 4;  // PUSH/POP default to 64 bits
  switch (rng_.Below(7)) {
    case 0:
    case 1:
      i.opcode = {0x50};
      i.has_modrm = false;
      i.opcode_reg = Src();
      Emit(i, 0, 0, 0);
      break;
    case 2:
      i.opcode = {0x58};
      i.has_modrm = false;
      i.opcode_reg = Dst();
      Emit(i, 0, 0, 0);
      break;
    case 3: {
      const bool imm8 = rng_.Chance(50);
      i.opcode = {static_cast<uint8_t>(imm8 ? 0x6a : 0x68)};
      i.has_modrm = false;
      i.imm = Imm();
      i.imm_size = imm8 ? 1 : (i.size == 2 ? 2 : 4);
      Emit(i, 0, 0, 0);
      break;
    }
    case 4:  // PUSH m
      i.opcode = {0xff};
      i.reg = 6;
      i.rm = Mem(8);
      Emit(i, 0, 0, 0);
      break;
    case 5:  // POP m (the address uses RSP after the pop)
      i.opcode = {0x8f};
      i.reg = 0;
      i.rm = Mem(8);
      Emit(i, 0, 0, 0);
      break;
    default:  // PUSHF
      i.opcode = {0x9c};
      i.has_modrm = false;
      Emit(i, kStatusFlags, 0, 0);
      break;
  }
}

void Gen::String() {
  const int size = Size();
  const int kind = static_cast<int>(rng_.Below(5));  // MOVS CMPS STOS LODS SCAS
  static constexpr uint8_t kOps[5] = {0xa4, 0xa6, 0xaa, 0xac, 0xae};
  const bool rep = rng_.Chance(70);
  const uint32_t count = rng_.Chance(10) ? 0 : rng_.Below(41);
  auto lea = [this](int reg) {
    EncInsn l;
    l.size = 8;
    l.opcode = {0x8d};
    l.reg = reg;
    l.rm =
        Operand::Mem(kRbx, static_cast<int32_t>(rng_.Below(0x3000)) - 0x1800);
    Emit(l, 0, 0, 0);
  };
  if (kind != 2 && kind != 4) lea(kRsi);
  if (kind != 3) lea(kRdi);
  if (rep) {
    Emit({.size = 4,
          .opcode = {0xb9},
          .has_modrm = false,
          .imm = count,
          .imm_size = 4},
         0, 0, 0);  // mov ecx, count
  }
  EncInsn i;
  i.size = size;
  i.opcode = {static_cast<uint8_t>(kOps[kind] + (size == 1 ? 0 : 1))};
  i.has_modrm = false;
  const bool compares = kind == 1 || kind == 4;
  if (rep) i.mandatory = compares && rng_.Chance(50) ? 0xf2 : 0xf3;
  const uint32_t defines = compares && !(rep && count == 0) ? kStatusFlags : 0;
  Emit(i, 0, defines, 0);
}

void Gen::Cmpxchg8b16b() {
  EncInsn i;
  i.size = rng_.Chance(50) ? 4 : 8;
  i.opcode = {0x0f, 0xc7};
  i.reg = 1;
  // Aligned to 16 mostly: CMPXCHG16B #GPs on a misaligned operand.
  int32_t disp = (static_cast<int32_t>(rng_.Below(0x300)) - 0x180) * 16;
  if (rng_.Chance(10)) disp += 8;
  i.rm = Operand::Mem(kRbx, disp);
  MaybeLock(i);
  Emit(i, 0, kZf, 0);
}

}  // namespace

Snippet GenerateSnippet(uint64_t seed, uint64_t index,
                        const GeneratorOptions& options) {
  Rng mix(seed * 0x100000001b3ull ^ index);
  const uint64_t snippet_seed = mix.Next();
  Snippet s = MakeSnippet(absl::StrCat("random seed=", seed, " index=", index),
                          {}, snippet_seed);
  Gen gen(snippet_seed ^ 0x5eed, options, &s);
  gen.Run();
  return s;
}

}  // namespace skiff::tcg::difftest
