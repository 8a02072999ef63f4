#include "tcg/flags.h"

#include "gtest/gtest.h"

namespace skiff::tcg {
namespace {

TEST(LazyFlags, SubBorrowAndOverflow) {
  LazyFlags lf{static_cast<uint64_t>(0x80 - 1) & 0xff, 0x80, 1, 0, kCcSub, 1};
  const uint64_t f = ComputeArithFlags(lf);
  EXPECT_TRUE(f & kFlagOf);
  EXPECT_FALSE(f & kFlagCf);
  EXPECT_TRUE(f & kFlagAf);
}

TEST(LazyFlags, ConditionsAfterCompare) {
  // cmp 3, 5 (32-bit): below, less, not equal.
  LazyFlags lf{static_cast<uint64_t>(3 - 5) & 0xffffffff, 3, 5, 0, kCcSub, 4};
  EXPECT_TRUE(EvalCond(2, 0, lf));    // B
  EXPECT_TRUE(EvalCond(12, 0, lf));   // L
  EXPECT_TRUE(EvalCond(5, 0, lf));    // NE
  EXPECT_FALSE(EvalCond(15, 0, lf));  // G
}

TEST(LazyFlags, IncKeepsCarry) {
  LazyFlags lf{0, 0xffffffff, 1, 1, kCcInc, 4};
  const uint64_t f = ComputeArithFlags(lf);
  EXPECT_TRUE(f & kFlagCf);
  EXPECT_TRUE(f & kFlagZf);
}

}  // namespace
}  // namespace skiff::tcg
