#include "base/host_buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <utility>

#include "gtest/gtest.h"

namespace skiff {
namespace {

TEST(HostBuffer, IsWritableAndHugePageAligned) {
  auto buf = HostBuffer::Allocate(5 * kHugePageSize + 123);
  ASSERT_TRUE(buf.ok()) << buf.status();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buf->data()) % kHugePageSize, 0u);
  EXPECT_EQ(buf->size(), 5 * kHugePageSize + 123);
  buf->data()[0] = 1;
  buf->data()[buf->size() - 1] = 2;
  EXPECT_EQ(buf->span().back(), 2);
}

TEST(HostBuffer, MovesOwnership) {
  auto buf = HostBuffer::Allocate(4096);
  ASSERT_TRUE(buf.ok());
  uint8_t* p = buf->data();
  HostBuffer moved = std::move(*buf);
  EXPECT_EQ(moved.data(), p);
  EXPECT_EQ(buf->data(), nullptr);  // NOLINT(bugprone-use-after-move)
  HostBuffer other;
  other = std::move(moved);
  EXPECT_EQ(other.data(), p);
  EXPECT_EQ(other.size(), 4096u);
}

TEST(HostBuffer, EmptyAndImpossibleSizes) {
  auto empty = HostBuffer::Allocate(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->span().empty());
  auto huge = HostBuffer::Allocate(1ull << 62);
  EXPECT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(MapAnonymousHugeAligned, TrimsToTheRequestedRange) {
  const uint64_t size = 3 * kHugePageSize;
  void* p = MapAnonymousHugeAligned(size, MAP_PRIVATE);
  ASSERT_NE(p, MAP_FAILED);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHugePageSize, 0u);
  static_cast<uint8_t*>(p)[size - 1] = 7;
  EXPECT_EQ(::munmap(p, size), 0);
}

}  // namespace
}  // namespace skiff
