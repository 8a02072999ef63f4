#include "tcg/decoder.h"

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
