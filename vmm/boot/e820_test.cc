#include "vmm/boot/e820.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm/boot/layout.h"

namespace skiff::boot {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = 1ull << 30;

std::unique_ptr<GuestMemory> Memory(uint64_t size) {
  auto mem = GuestMemory::Create(GuestMemory::X86Layout(size), {});
  EXPECT_TRUE(mem.ok()) << mem.status();
  return std::move(*mem);
}

E820Entry Ram(uint64_t a, uint64_t e) { return {a, e - a, E820Type::kRam}; }
E820Entry Rsv(uint64_t a, uint64_t e) {
  return {a, e - a, E820Type::kReserved};
}

TEST(E820, SmallRam) {
  auto mem = Memory(64 * kMiB);
  auto map = BuildE820Map(*mem, {});
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(*map, ElementsAre(Ram(0, 0x9fc00), Rsv(0x9fc00, 0x100000),
                                Ram(0x100000, 64 * kMiB)));
  EXPECT_EQ(LowRamEnd(*mem), 64 * kMiB);
}

TEST(E820, ExactlyThreeGiB) {
  auto mem = Memory(3 * kGiB);
  auto map = BuildE820Map(*mem, {});
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(*map, ElementsAre(Ram(0, 0x9fc00), Rsv(0x9fc00, 0x100000),
                                Ram(0x100000, 3 * kGiB)));
}

TEST(E820, AboveThreeGiBGoesToFourGiB) {
  auto mem = Memory(5 * kGiB);
  auto map = BuildE820Map(*mem, {});
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(*map,
              ElementsAre(Ram(0, 0x9fc00), Rsv(0x9fc00, 0x100000),
                          Ram(0x100000, 3 * kGiB), Ram(4 * kGiB, 6 * kGiB)));
  EXPECT_EQ(LowRamEnd(*mem), 3 * kGiB);
}

TEST(E820, ExtraReservedRangesAreCarvedOut) {
  auto mem = Memory(64 * kMiB);
  auto map = BuildE820Map(*mem, {{0x3000000, 0x10000, E820Type::kAcpi},
                                 {0xfee00000, 0x1000, E820Type::kReserved}});
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_THAT(*map, ElementsAre(Ram(0, 0x9fc00), Rsv(0x9fc00, 0x100000),
                                Ram(0x100000, 0x3000000),
                                E820Entry{0x3000000, 0x10000, E820Type::kAcpi},
                                Ram(0x3010000, 64 * kMiB),
                                Rsv(0xfee00000, 0xfee01000)));
}

TEST(E820, RejectsBadExtraRanges) {
  auto mem = Memory(64 * kMiB);
  EXPECT_THAT(
      BuildE820Map(*mem, {{0x1000000, 0, E820Type::kAcpi}}).status().message(),
      HasSubstr("empty"));
  EXPECT_THAT(BuildE820Map(*mem, {{0xa0000, 0x1000, E820Type::kAcpi}})
                  .status()
                  .message(),
              HasSubstr("overlap"));
  EXPECT_THAT(BuildE820Map(*mem, {{0x1000000, 0x1000, E820Type::kRam}})
                  .status()
                  .message(),
              HasSubstr("RAM"));
  std::vector<E820Entry> many;
  for (int i = 0; i < 200; ++i) {
    many.push_back({0x200000 + i * 0x2000ull, 0x1000, E820Type::kReserved});
  }
  EXPECT_THAT(BuildE820Map(*mem, many).status().message(), HasSubstr("exceed"));
}

}  // namespace
}  // namespace skiff::boot
