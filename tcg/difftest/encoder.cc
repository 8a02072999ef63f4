#include "tcg/difftest/encoder.h"

#include <cstddef>

namespace skiff::tcg::difftest {
namespace {

bool FitsInt8(int32_t v) { return v >= -128 && v <= 127; }

}  // namespace

bool Encoder::HasRex(const EncInsn& i) {
  if (i.force_rex || i.size == 8) return true;
  if (i.opcode_reg >= 8) return true;
  if (i.has_modrm) {
    if (i.reg >= 8) return true;
    if (!i.rm.mem && i.rm.reg >= 8) return true;
    if (i.rm.mem && (i.rm.base >= 8 || i.rm.index >= 8)) return true;
  }
  return false;
}

void Encoder::Emit(const EncInsn& i) {
  std::vector<uint8_t>& b = *out_;
  if (i.lock) b.push_back(0xf0);
  if (i.size == 2) b.push_back(0x66);
  if (i.addr32) b.push_back(0x67);
  if (i.mandatory != 0) b.push_back(i.mandatory);
  if (HasRex(i)) {
    uint8_t rex = 0x40;
    if (i.size == 8) rex |= 8;
    if (i.has_modrm) {
      if (i.reg >= 8) rex |= 4;
      if (i.rm.mem) {
        if (i.rm.index >= 8) rex |= 2;
        if (i.rm.base >= 8) rex |= 1;
      } else if (i.rm.reg >= 8) {
        rex |= 1;
      }
    }
    if (i.opcode_reg >= 8) rex |= 1;
    b.push_back(rex);
  }
  for (std::size_t k = 0; k < i.opcode.size(); ++k) {
    uint8_t op = i.opcode[k];
    if (k + 1 == i.opcode.size() && i.opcode_reg >= 0) {
      op = static_cast<uint8_t>(op + (i.opcode_reg & 7));
    }
    b.push_back(op);
  }
  if (i.has_modrm) {
    const uint8_t reg = static_cast<uint8_t>((i.reg & 7) << 3);
    if (!i.rm.mem) {
      b.push_back(static_cast<uint8_t>(0xc0 | reg | (i.rm.reg & 7)));
    } else if (i.rm.base < 0) {
      // [index*scale + disp32] or [disp32]: SIB with base 101, mod 00.
      const int index = i.rm.index >= 0 ? (i.rm.index & 7) : 4;
      b.push_back(static_cast<uint8_t>(reg | 4));
      b.push_back(static_cast<uint8_t>((i.rm.scale << 6) | (index << 3) | 5));
      for (int k = 0; k < 4; ++k) {
        b.push_back(
            static_cast<uint8_t>(static_cast<uint32_t>(i.rm.disp) >> (8 * k)));
      }
    } else {
      const int base = i.rm.base & 7;
      uint8_t mod = 2;
      if (i.rm.disp == 0 && base != 5) {
        mod = 0;
      } else if (FitsInt8(i.rm.disp)) {
        mod = 1;
      }
      const bool sib = i.rm.index >= 0 || base == 4;
      b.push_back(static_cast<uint8_t>((mod << 6) | reg | (sib ? 4 : base)));
      if (sib) {
        const int index = i.rm.index >= 0 ? (i.rm.index & 7) : 4;
        b.push_back(
            static_cast<uint8_t>((i.rm.scale << 6) | (index << 3) | base));
      }
      if (mod == 1) b.push_back(static_cast<uint8_t>(i.rm.disp));
      if (mod == 2) {
        for (int k = 0; k < 4; ++k) {
          b.push_back(static_cast<uint8_t>(static_cast<uint32_t>(i.rm.disp) >>
                                           (8 * k)));
        }
      }
    }
  }
  for (int k = 0; k < i.imm_size; ++k) {
    b.push_back(static_cast<uint8_t>(i.imm >> (8 * k)));
  }
}

}  // namespace skiff::tcg::difftest
