#include "devices/bus.h"

#include <vector>

#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

class Recorder : public BusDevice {
 public:
  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i)
      data[i] = static_cast<uint8_t>(offset + i);
    last_offset = offset;
  }
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    last_offset = offset;
    written.assign(data.begin(), data.end());
  }
  uint64_t last_offset = ~0ull;
  std::vector<uint8_t> written;
};

TEST(Bus, DispatchesWithOffset) {
  Bus bus("pio");
  auto dev = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.Insert(dev, 0x3f8, 8).ok());
  uint8_t b[2];
  EXPECT_TRUE(bus.Read(0x3fd, absl::MakeSpan(b, 1)));
  EXPECT_EQ(dev->last_offset, 5u);
  EXPECT_EQ(b[0], 5);
  const uint8_t w[2] = {1, 2};
  EXPECT_TRUE(bus.Write(0x3fe, absl::MakeConstSpan(w)));
  EXPECT_EQ(dev->last_offset, 6u);
  EXPECT_EQ(dev->written, (std::vector<uint8_t>{1, 2}));
}

TEST(Bus, UnclaimedReadsAllOnes) {
  Bus bus("pio");
  auto dev = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.Insert(dev, 0x10, 4).ok());
  uint8_t b[4] = {};
  EXPECT_FALSE(bus.Read(0x20, absl::MakeSpan(b)));
  EXPECT_EQ(b[0], 0xff);
  // An access that runs past the end of a range is not claimed.
  EXPECT_FALSE(bus.Read(0x12, absl::MakeSpan(b)));
  EXPECT_FALSE(bus.Read(0xf, absl::MakeSpan(b, 1)));
  EXPECT_TRUE(bus.Read(0x13, absl::MakeSpan(b, 1)));
}

TEST(Bus, RejectsOverlapsAndBadRanges) {
  Bus bus("mmio");
  auto dev = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.Insert(dev, 0x1000, 0x100).ok());
  EXPECT_FALSE(bus.Insert(dev, 0x10ff, 1).ok());
  EXPECT_FALSE(bus.Insert(dev, 0xf00, 0x101).ok());
  EXPECT_FALSE(bus.Insert(dev, 0x1010, 0x10).ok());
  EXPECT_FALSE(bus.Insert(dev, 0x0, 0).ok());
  EXPECT_FALSE(bus.Insert(dev, ~0ull, 2).ok());
  EXPECT_TRUE(bus.Insert(dev, 0x1100, 0x100).ok());
  EXPECT_TRUE(bus.Insert(dev, 0xf00, 0x100).ok());
  EXPECT_TRUE(bus.Remove(0x1000).ok());
  EXPECT_FALSE(bus.Remove(0x1000).ok());
  EXPECT_TRUE(bus.Insert(dev, 0x1000, 0x100).ok());
}

}  // namespace
}  // namespace skiff::devices
