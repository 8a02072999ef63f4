#include "tcg/decoder.h"

#include <cstring>

namespace skiff::tcg {
namespace {

class Reader {
 public:
  Reader(const uint8_t* b, int avail) : b_(b), avail_(avail) {}
  bool Ok() const { return !overrun_; }
  int pos() const { return pos_; }
  uint64_t Take(int n) {
    if (pos_ + n > avail_ || pos_ + n > 15) {
      overrun_ = true;
      pos_ += n;
      return 0;
    }
    uint64_t v = 0;
    std::memcpy(&v, b_ + pos_, n);
    pos_ += n;
    return v;
  }

 private:
  const uint8_t* b_;
  int avail_;
  int pos_ = 0;
  bool overrun_ = false;
};

// 16-bit ModRM addressing (Intel SDM vol. 2, table 2-1).
constexpr uint8_t k16Base[8] = {kRbx, kRbx, kRbp, kRbp, 0xff, 0xff, kRbp, kRbx};
constexpr uint8_t k16Index[8] = {kRsi, kRdi, kRsi, kRdi,
                                 kRsi, kRdi, 0xff, 0xff};

}  // namespace

ExecStatus OpUd(Cpu& c, const Insn&) { return c.Ud(); }

DecodeResult Decode(const uint8_t* bytes, int avail, int code_bits, Insn* out) {
  Insn& i = *out;
  i = Insn();
  Reader r(bytes, avail);
  int seg_override = -1;
  bool addr_prefix = false;
  uint8_t rex = 0;
  uint8_t b;
  // Prefixes. A REX prefix counts only directly before the opcode.
  for (;;) {
    b = static_cast<uint8_t>(r.Take(1));
    if (!r.Ok()) break;
    if (code_bits == 64 && (b & 0xf0) == 0x40) {
      rex = b;
      continue;
    }
    bool prefix = true;
    switch (b) {
      case 0x26:
        seg_override = kEs;
        break;
      case 0x2e:
        seg_override = kCs;
        break;
      case 0x36:
        seg_override = kSs;
        break;
      case 0x3e:
        seg_override = kDs;
        break;
      case 0x64:
        seg_override = kFs;
        break;
      case 0x65:
        seg_override = kGs;
        break;
      case 0x66:
        i.opsize_prefix = true;
        break;
      case 0x67:
        addr_prefix = true;
        break;
      case 0xf0:
        i.lock = true;
        break;
      case 0xf2:
      case 0xf3:
        i.rep = b;
        break;
      default:
        prefix = false;
    }
    if (!prefix) break;
    rex = 0;
  }
  if (!r.Ok())
    return r.pos() > 15 ? DecodeResult::kTooLong : DecodeResult::kNeedMore;
  i.rex = rex != 0;
  const bool rex_w = rex & 8;
  const OpTable* table = &OneByteTable();
  uint16_t map = 0;
  if (b == 0x0f) {
    b = static_cast<uint8_t>(r.Take(1));
    table = &TwoByteTable();
    map = 1;
    if (b == 0x38 || b == 0x3a) {
      table = b == 0x38 ? &ThreeByte38Table() : &ThreeByte3ATable();
      map = b == 0x38 ? 2 : 3;
      b = static_cast<uint8_t>(r.Take(1));
    }
  }
  const OpEntry& e = (*table)[b];
  i.op = static_cast<uint16_t>(map << 8 | b);
  uint16_t f = e.flags;
  i.fn = e.fn ? e.fn : OpUd;
  if ((f & kOpNo64) && code_bits == 64) i.fn = OpUd;

  // Address size.
  if (code_bits == 64) {
    i.addrsize = addr_prefix ? 4 : 8;
  } else if (code_bits == 32) {
    i.addrsize = addr_prefix ? 2 : 4;
  } else {
    i.addrsize = addr_prefix ? 4 : 2;
  }

  // ModRM (needed before operand size for groups 3 and 5).
  uint8_t modrm = 0;
  if (f & kOpModrm) {
    i.has_modrm = true;
    modrm = static_cast<uint8_t>(r.Take(1));
    i.mod = modrm >> 6;
    i.reg = ((modrm >> 3) & 7) | ((rex & 4) << 1);
    i.rm = (modrm & 7) | ((rex & 1) << 3);
  } else {
    // Register encoded in the opcode's low bits (PUSH r, MOV r, imm, ...).
    i.reg = (b & 7) | ((rex & 1) << 3);
  }
  if ((f & kOpGroup5) && code_bits == 64) {
    const int reg = (modrm >> 3) & 7;
    if (reg == 2 || reg == 4) f |= kOpForce64;
    if (reg == 6) f |= kOpDef64;
  }

  // Operand size.
  if (f & kOpByte) {
    i.opsize = 1;
  } else if (code_bits == 64) {
    if (f & kOpForce64) {
      i.opsize = 8;
    } else if (rex_w) {
      i.opsize = 8;
    } else if (i.opsize_prefix) {
      i.opsize = 2;
    } else {
      i.opsize = (f & kOpDef64) ? 8 : 4;
    }
  } else {
    const bool big = code_bits == 32;
    i.opsize = (big != i.opsize_prefix) ? 4 : 2;
  }

  // Memory operand.
  if (i.has_modrm && i.mod != 3) {
    int def_seg = kDs;
    if (i.addrsize == 2) {
      const int rm = modrm & 7;
      if (i.mod == 0 && rm == 6) {
        i.disp = static_cast<int16_t>(r.Take(2));
      } else {
        i.base = k16Base[rm];
        i.index = k16Index[rm];
        if (i.base == kRbp) def_seg = kSs;
        if (i.mod == 1) i.disp = static_cast<int8_t>(r.Take(1));
        if (i.mod == 2) i.disp = static_cast<int16_t>(r.Take(2));
      }
    } else {
      int rm = modrm & 7;
      if (rm == 4) {
        const uint8_t sib = static_cast<uint8_t>(r.Take(1));
        i.scale = sib >> 6;
        const int idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
        if (idx != 4) i.index = static_cast<uint8_t>(idx);
        const int base = sib & 7;
        if (base == 5 && i.mod == 0) {
          i.disp = static_cast<int32_t>(r.Take(4));
        } else {
          i.base = static_cast<uint8_t>(base | ((rex & 1) << 3));
        }
      } else if (rm == 5 && i.mod == 0) {
        i.disp = static_cast<int32_t>(r.Take(4));
        if (code_bits == 64) i.rip_rel = true;
      } else {
        i.base = static_cast<uint8_t>(rm | ((rex & 1) << 3));
      }
      if (i.mod == 1) i.disp = static_cast<int8_t>(r.Take(1));
      if (i.mod == 2) i.disp = static_cast<int32_t>(r.Take(4));
      if (i.base == kRsp || i.base == kRbp) def_seg = kSs;
    }
    i.seg = static_cast<uint8_t>(def_seg);
  }
  if (seg_override >= 0) {
    // In 64-bit mode only FS and GS overrides have an effect; the others
    // keep the flat default (Linear() ignores their bases anyway).
    i.seg = static_cast<uint8_t>(seg_override);
  }
  if (f & kOpMoffs) {
    // Up to 64 bits, too wide for disp; MOV A0-A3 has no other immediate.
    i.imm = r.Take(i.addrsize);
  }

  // Immediates.
  const int zsize = i.opsize == 2 ? 2 : 4;
  bool group3_imm = (f & kOpGroup3) && ((modrm >> 3) & 7) < 2;
  if (f & kOpImm8) {
    i.imm = static_cast<uint64_t>(static_cast<int8_t>(r.Take(1)));
  } else if ((f & kOpImmZ) || (group3_imm && i.opsize != 1)) {
    i.imm = SignExtend(r.Take(zsize), zsize);
  } else if (group3_imm) {
    i.imm = r.Take(1);
  } else if (f & kOpImmV) {
    i.imm = r.Take(i.opsize);
  } else if (f & kOpImm16) {
    i.imm = r.Take(2);
  } else if (f & kOpFar) {
    i.imm = r.Take(zsize);
    i.imm2 = static_cast<uint16_t>(r.Take(2));
  } else if (f & kOpEnter) {
    i.imm = r.Take(2);
    i.imm2 = static_cast<uint16_t>(r.Take(1));
  }
  if (!r.Ok()) {
    return r.pos() > 15 ? DecodeResult::kTooLong : DecodeResult::kNeedMore;
  }
  i.len = static_cast<uint8_t>(r.pos());
  if (i.lock && (!(f & kOpLockable) || !i.is_mem())) i.fn = OpUd;
  return DecodeResult::kOk;
}

}  // namespace skiff::tcg
