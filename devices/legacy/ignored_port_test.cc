#include "devices/legacy/ignored_port.h"

#include <memory>

#include "devices/bus.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

TEST(IgnoredPort, ClaimsPortsQuietly) {
  Bus pio("pio");
  auto ignored = std::make_shared<IgnoredPort>();
  ASSERT_TRUE(pio.Insert(ignored, 0x80, 1).ok());
  ASSERT_TRUE(pio.Insert(ignored, 0xed, 1).ok());
  const uint8_t post = 0x42;
  EXPECT_TRUE(pio.Write(0x80, absl::MakeConstSpan(&post, 1)));
  EXPECT_TRUE(pio.Write(0xed, absl::MakeConstSpan(&post, 1)));
  uint8_t b = 0;
  EXPECT_TRUE(pio.Read(0x80, absl::MakeSpan(&b, 1)));
  EXPECT_EQ(b, 0xff);
}

TEST(IgnoredPort, CustomReadValue) {
  IgnoredPort zero(0x00);
  uint8_t b[2] = {1, 1};
  zero.Read(0, absl::MakeSpan(b));
  EXPECT_EQ(b[0], 0);
  EXPECT_EQ(b[1], 0);
}

}  // namespace
}  // namespace skiff::devices
