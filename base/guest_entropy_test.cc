#include "base/guest_entropy.h"

#include <array>
#include <cstdint>
#include <set>

#include "gtest/gtest.h"

namespace skiff {
namespace {

TEST(GuestEntropy, DeterministicSequencesRepeatForOneSeed) {
  GuestEntropy a = GuestEntropy::Deterministic(7);
  GuestEntropy b = GuestEntropy::Deterministic(7);
  GuestEntropy c = GuestEntropy::Deterministic(8);
  EXPECT_TRUE(a.deterministic());
  bool differs_from_other_seed = false;
  // 100 values cross several buffer refills.
  for (int i = 0; i < 100; ++i) {
    uint64_t x, y, z;
    ASSERT_TRUE(a.Next64(&x));
    ASSERT_TRUE(b.Next64(&y));
    ASSERT_TRUE(c.Next64(&z));
    EXPECT_EQ(x, y) << i;
    differs_from_other_seed |= x != z;
  }
  EXPECT_TRUE(differs_from_other_seed);
}

TEST(GuestEntropy, HostValuesDoNotRepeat) {
  GuestEntropy rng = GuestEntropy::Host();
  EXPECT_FALSE(rng.deterministic());
  std::set<uint64_t> seen;
  for (int i = 0; i < 200; ++i) {
    uint64_t v;
    ASSERT_TRUE(rng.Next64(&v));
    seen.insert(v);
  }
  // 200 draws of 64 bits collide with probability about 2^-49.
  EXPECT_EQ(seen.size(), 200u);
}

TEST(GuestEntropy, FillsSpansLongerThanTheBuffer) {
  GuestEntropy rng = GuestEntropy::Host();
  std::array<uint8_t, 1000> out{};
  ASSERT_TRUE(rng.Fill(absl::MakeSpan(out)));
  // Each 8-byte word of the result is non-zero with overwhelming odds; a
  // tail left unfilled would read as zeros.
  for (size_t i = 0; i + 8 <= out.size(); i += 8) {
    uint64_t word = 0;
    for (size_t k = 0; k < 8; ++k) word |= uint64_t{out[i + k]} << (8 * k);
    EXPECT_NE(word, 0u) << "at byte " << i;
  }
  GuestEntropy d1 = GuestEntropy::Deterministic(1);
  GuestEntropy d2 = GuestEntropy::Deterministic(1);
  std::array<uint8_t, 1000> o1{}, o2{};
  ASSERT_TRUE(d1.Fill(absl::MakeSpan(o1).subspan(0, 3)));
  ASSERT_TRUE(d1.Fill(absl::MakeSpan(o1).subspan(3)));
  ASSERT_TRUE(d2.Fill(absl::MakeSpan(o2)));
  EXPECT_EQ(o1, o2);
}

}  // namespace
}  // namespace skiff
