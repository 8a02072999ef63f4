#include "tcg/decoder.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tcg/ops.h"

namespace skiff::tcg {
namespace {

Insn DecodeOk(std::vector<uint8_t> bytes, int bits = 64) {
  Insn i;
  EXPECT_EQ(Decode(bytes.data(), static_cast<int>(bytes.size()), bits, &i),
            DecodeResult::kOk);
  return i;
}

TEST(Decoder, RexAndModrmSib) {
  // mov r9, [r12 + r13*8 + 0x10]: 4f 8b 4c ec 10
  Insn i = DecodeOk({0x4f, 0x8b, 0x4c, 0xec, 0x10});
  EXPECT_EQ(i.len, 5);
  EXPECT_EQ(i.fn, &OpMovRRm);
  EXPECT_EQ(i.opsize, 8);
  EXPECT_EQ(i.reg, 9);
  EXPECT_EQ(i.base, 12);
  EXPECT_EQ(i.index, 13);
  EXPECT_EQ(i.scale, 3);
  EXPECT_EQ(i.disp, 0x10);
}

TEST(Decoder, RipRelativeAndImmediates) {
  // add dword [rip + 0x100], 0x12345678: 81 05 00 01 00 00 78 56 34 12
  Insn i = DecodeOk({0x81, 0x05, 0x00, 0x01, 0, 0, 0x78, 0x56, 0x34, 0x12});
  EXPECT_EQ(i.len, 10);
  EXPECT_TRUE(i.rip_rel);
  EXPECT_EQ(i.disp, 0x100);
  EXPECT_EQ(i.imm, 0x12345678u);
  // mov rax, imm64
  i = DecodeOk({0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(i.len, 10);
  EXPECT_EQ(i.imm, 0x0807060504030201u);
  // 66 prefix: mov ax, 0x1234
  i = DecodeOk({0x66, 0xb8, 0x34, 0x12});
  EXPECT_EQ(i.len, 4);
  EXPECT_EQ(i.opsize, 2);
}

TEST(Decoder, DefaultOperandSizes) {
  EXPECT_EQ(DecodeOk({0x50}).opsize, 8);        // push rax
  EXPECT_EQ(DecodeOk({0x66, 0x50}).opsize, 2);  // push ax
  EXPECT_EQ(DecodeOk({0x50}, 32).opsize, 4);
  EXPECT_EQ(DecodeOk({0x50}, 16).opsize, 2);
  EXPECT_EQ(DecodeOk({0xff, 0xd0}).opsize, 8);  // call rax
  EXPECT_EQ(DecodeOk({0x40}, 32).fn, &OpIncDecReg);
}

TEST(Decoder, SixteenBitAddressing) {
  // mov ax, [bp+di+4]: 8b 43 04
  Insn i = DecodeOk({0x8b, 0x43, 0x04}, 16);
  EXPECT_EQ(i.base, kRbp);
  EXPECT_EQ(i.index, kRdi);
  EXPECT_EQ(i.seg, kSs);
  EXPECT_EQ(i.addrsize, 2);
}

TEST(Decoder, OperandsOutsideTheDisplacement) {
  // mov rax, [0x8877665544332211]: the 64-bit moffs lands in imm.
  Insn i =
      DecodeOk({0x48, 0xa1, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88});
  EXPECT_EQ(i.len, 10);
  EXPECT_EQ(i.fn, &OpMovMoffs);
  EXPECT_EQ(i.imm, 0x8877665544332211u);
  EXPECT_FALSE(i.is_mem());
  // 67: mov [0x80000000], al: 32-bit moffs, zero-extended.
  i = DecodeOk({0x67, 0xa2, 0, 0, 0, 0x80});
  EXPECT_EQ(i.addrsize, 4);
  EXPECT_EQ(i.imm, 0x80000000u);
  // enter 0x1234, 3
  i = DecodeOk({0xc8, 0x34, 0x12, 0x03});
  EXPECT_EQ(i.imm, 0x1234u);
  EXPECT_EQ(i.imm2, 3);
  // jmp 0x0008:0x12345678 (32-bit code)
  i = DecodeOk({0xea, 0x78, 0x56, 0x34, 0x12, 0x08, 0x00}, 32);
  EXPECT_EQ(i.fn, &OpJmpFar);
  EXPECT_EQ(i.imm, 0x12345678u);
  EXPECT_EQ(i.imm2, 8);
  // mov eax, [rax - 0x80000000]: the most negative displacement.
  i = DecodeOk({0x8b, 0x80, 0, 0, 0, 0x80});
  EXPECT_EQ(i.disp, INT32_MIN);
}

TEST(Decoder, PackedFieldsKeepTheirValues) {
  // lock bts [r8 + r9*8 - 8], cx: f0 66 43 0f ab 4c c8 f8
  Insn i = DecodeOk({0xf0, 0x66, 0x43, 0x0f, 0xab, 0x4c, 0xc8, 0xf8});
  EXPECT_EQ(i.fn, &OpBt);
  EXPECT_TRUE(i.lock);
  EXPECT_TRUE(i.rex);
  EXPECT_TRUE(i.opsize_prefix);
  EXPECT_TRUE(i.has_modrm);
  EXPECT_FALSE(i.rip_rel);
  EXPECT_EQ(i.opsize, 2);
  EXPECT_EQ(i.addrsize, 8);
  EXPECT_EQ(i.mod, 1);
  EXPECT_EQ(i.scale, 3);
  EXPECT_EQ(i.base, 8);
  EXPECT_EQ(i.index, 9);
  EXPECT_EQ(i.disp, -8);
  EXPECT_TRUE(i.is_mem());
  // 67 in 64-bit code: 32-bit addressing; a register operand.
  i = DecodeOk({0x67, 0x89, 0xd8});
  EXPECT_EQ(i.addrsize, 4);
  EXPECT_EQ(i.mod, 3);
  EXPECT_FALSE(i.is_mem());
  // 67 in 16-bit code: 32-bit addressing.
  EXPECT_EQ(DecodeOk({0x67, 0x8b, 0x00}, 16).addrsize, 4);
}

TEST(Decoder, UnknownAndInvalidOpcodesDecodeToUd) {
  EXPECT_EQ(DecodeOk({0x0f, 0x0b}).fn, &OpUd);  // UD2
  EXPECT_EQ(DecodeOk({0x0f, 0xff}).fn, &OpUd);  // UD0
  EXPECT_EQ(DecodeOk({0x0f, 0x38, 0x00, 0xc0}).fn, &OpUd);
  EXPECT_EQ(DecodeOk({0x06}).fn, &OpUd);              // PUSH ES in 64-bit
  EXPECT_EQ(DecodeOk({0xf0, 0x89, 0xc0}).fn, &OpUd);  // LOCK on a register
}

TEST(Decoder, NeedMoreAndTooLong) {
  Insn i;
  const uint8_t partial[] = {0x48, 0xb8, 1, 2};
  EXPECT_EQ(Decode(partial, 4, 64, &i), DecodeResult::kNeedMore);
  std::vector<uint8_t> prefixes(15, 0x66);
  prefixes.push_back(0x90);
  EXPECT_EQ(Decode(prefixes.data(), 16, 64, &i), DecodeResult::kTooLong);
}

}  // namespace
}  // namespace skiff::tcg
