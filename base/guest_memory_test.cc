#include "base/guest_memory.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace skiff {
namespace {

std::unique_ptr<GuestMemory> MakeMemory(
    std::vector<GuestMemory::RegionSpec> specs,
    GuestMemory::Options options = {}) {
  auto mem = GuestMemory::Create(std::move(specs), options);
  EXPECT_TRUE(mem.ok()) << mem.status();
  return std::move(*mem);
}

TEST(GuestMemory, X86LayoutSplitsAroundMmioGap) {
  auto small = GuestMemory::X86Layout(512ull << 20);
  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(small[0].start.value(), 0u);
  EXPECT_EQ(small[0].size, 512ull << 20);

  auto big = GuestMemory::X86Layout(4ull << 30);
  ASSERT_EQ(big.size(), 2u);
  EXPECT_EQ(big[0].size, kX86MmioGapStart);
  EXPECT_EQ(big[1].start.value(), kX86MmioGapEnd);
  EXPECT_EQ(big[0].size + big[1].size, 4ull << 30);
}

TEST(GuestMemory, ReadWriteRoundTrip) {
  auto mem = MakeMemory({{GuestAddr(0), 1 << 20}});
  ASSERT_TRUE(
      mem->WriteObj<uint64_t>(GuestAddr(0x1000), 0x1122334455667788).ok());
  auto v = mem->ReadObj<uint64_t>(GuestAddr(0x1000));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0x1122334455667788u);
  EXPECT_EQ(mem->total_size(), 1u << 20);
}

TEST(GuestMemory, WritesToCodePagesMoveTheWriteEpoch) {
  auto mem = MakeMemory({{GuestAddr(0), 1 << 20}});
  const uint64_t start = mem->write_epoch();
  // No page holds code: writes leave the epoch alone.
  ASSERT_TRUE(mem->WriteObj<uint32_t>(GuestAddr(0x1000), 1).ok());
  ASSERT_TRUE(mem->Fill(GuestAddr(0x2000), 0xcc, 16).ok());
  EXPECT_EQ(mem->write_epoch(), start);
  const uint64_t marks = mem->code_marks();
  ASSERT_TRUE(mem->MarkCodePage(0x2fff));
  EXPECT_GT(mem->code_marks(), marks);
  EXPECT_TRUE(mem->IsCodePage(0x2000));
  EXPECT_FALSE(mem->IsCodePage(0x1000));
  EXPECT_FALSE(mem->HoldsCode(GuestAddr(0x1000), 0x1000));
  EXPECT_TRUE(mem->HoldsCode(GuestAddr(0x1ffc), 8));  // straddles into it
  ASSERT_TRUE(mem->WriteObj<uint32_t>(GuestAddr(0x1000), 2).ok());
  EXPECT_EQ(mem->write_epoch(), start);
  ASSERT_TRUE(mem->Fill(GuestAddr(0x1ff8), 0xcc, 16).ok());
  EXPECT_EQ(mem->write_epoch(), start + 1);
  ASSERT_TRUE(mem->WriteObj<uint32_t>(GuestAddr(0x2800), 3).ok());
  EXPECT_EQ(mem->write_epoch(), start + 2);
  mem->NoteWrite();  // unknown range: always
  EXPECT_EQ(mem->write_epoch(), start + 3);
  mem->ForgetCodePages();
  EXPECT_FALSE(mem->IsCodePage(0x2000));
  ASSERT_TRUE(mem->WriteObj<uint32_t>(GuestAddr(0x2800), 4).ok());
  EXPECT_EQ(mem->write_epoch(), start + 3);
  // Outside RAM's span, and ranges that run past its end or wrap.
  EXPECT_FALSE(mem->MarkCodePage(1 << 20));
  ASSERT_TRUE(mem->MarkCodePage((1 << 20) - 4096));
  EXPECT_TRUE(mem->HoldsCode(GuestAddr(0xff000), ~0ull));
  EXPECT_FALSE(mem->HoldsCode(GuestAddr(1 << 20), 4096));
  EXPECT_FALSE(mem->HoldsCode(GuestAddr(0xff000), 0));
}

TEST(GuestMemory, RefusesOutOfBoundsAndOverflow) {
  auto mem = MakeMemory({{GuestAddr(0), 1 << 20}});
  uint8_t buf[16];
  EXPECT_FALSE(mem->Read(GuestAddr((1 << 20) - 8), absl::MakeSpan(buf)).ok());
  EXPECT_TRUE(mem->Read(GuestAddr((1 << 20) - 16), absl::MakeSpan(buf)).ok());
  EXPECT_FALSE(mem->Read(GuestAddr(std::numeric_limits<uint64_t>::max() - 4),
                         absl::MakeSpan(buf))
                   .ok());
  EXPECT_FALSE(
      mem->Slice(GuestAddr(8), std::numeric_limits<uint64_t>::max()).ok());
  EXPECT_TRUE(mem->TrySlice(GuestAddr(1 << 20), 1).empty());
  EXPECT_FALSE(mem->Contains(GuestAddr(1 << 20), 1));
  EXPECT_TRUE(mem->Contains(GuestAddr(0), 1 << 20));
}

TEST(GuestMemory, RefusesAccessStraddlingRegions) {
  auto mem = MakeMemory({{GuestAddr(0), 0x1000}, {GuestAddr(0x1000), 0x1000}});
  uint8_t buf[8];
  EXPECT_FALSE(mem->Read(GuestAddr(0xffc), absl::MakeSpan(buf)).ok());
  EXPECT_TRUE(mem->Read(GuestAddr(0x1000), absl::MakeSpan(buf)).ok());
}

TEST(GuestMemory, RejectsBadLayouts) {
  GuestMemory::Options o;
  EXPECT_FALSE(GuestMemory::Create({}, o).ok());
  EXPECT_FALSE(GuestMemory::Create({{GuestAddr(0), 100}}, o).ok());
  EXPECT_FALSE(GuestMemory::Create({{GuestAddr(0x10), 0x1000}}, o).ok());
  EXPECT_FALSE(GuestMemory::Create(
                   {{GuestAddr(0), 0x2000}, {GuestAddr(0x1000), 0x1000}}, o)
                   .ok());
}

TEST(GuestMemory, MemfdBacking) {
  GuestMemory::Options o;
  o.memfd = true;
  auto mem = MakeMemory({{GuestAddr(0x100000), 0x10000}}, o);
  EXPECT_GE(mem->regions()[0].fd, 0);
  ASSERT_TRUE(mem->Fill(GuestAddr(0x100000), 0xab, 0x10000).ok());
  auto v = mem->ReadObj<uint8_t>(GuestAddr(0x10ffff));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0xab);
  EXPECT_FALSE(mem->ReadObj<uint8_t>(GuestAddr(0xfffff)).ok());
}

}  // namespace
}  // namespace skiff
