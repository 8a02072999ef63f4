#include "devices/legacy/debug_exit.h"

#include "devices/bus.h"
#include "devices/testing/fakes.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

using testing::FakeMachineControl;

class DebugExitTest : public ::testing::Test {
 protected:
  DebugExitTest() {
    EXPECT_TRUE(pio_.Insert(std::make_shared<DebugExit>(control_),
                            DebugExit::kDefaultPort, DebugExit::kDefaultLength)
                    .ok());
  }
  int ExitStatusOfWrite(absl::Span<const uint8_t> bytes) {
    size_t before = control_.calls().size();
    EXPECT_TRUE(pio_.Write(0xf4, bytes));
    auto calls = control_.calls();
    EXPECT_EQ(calls.size(), before + 1);
    if (calls.size() != before + 1) return -1;
    EXPECT_EQ(calls.back().reason, StopReason::kDebugExit);
    return calls.back().exit_status;
  }

  FakeMachineControl control_;
  Bus pio_{"pio"};
};

TEST_F(DebugExitTest, ExitCodes) {
  const uint8_t zero = 0, one = 1, x20 = 0x20;
  EXPECT_EQ(ExitStatusOfWrite(absl::MakeConstSpan(&zero, 1)), 1);
  EXPECT_EQ(ExitStatusOfWrite(absl::MakeConstSpan(&one, 1)), 3);
  EXPECT_EQ(ExitStatusOfWrite(absl::MakeConstSpan(&x20, 1)), 0x41);
}

TEST_F(DebugExitTest, WordAndDwordWrites) {
  const uint8_t word[] = {0x10, 0x00};
  EXPECT_EQ(ExitStatusOfWrite(word), 0x21);
  const uint8_t dword[] = {0x34, 0x12, 0x00, 0x00};
  EXPECT_EQ(ExitStatusOfWrite(dword), 0x2469);
  // The OS keeps the low 8 bits of what QEMU passes to exit().
  const uint8_t big[] = {0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(ExitStatusOfWrite(big) & 0xff, 0xff);
}

TEST_F(DebugExitTest, ReadsZero) {
  uint8_t b[4] = {1, 2, 3, 4};
  EXPECT_TRUE(pio_.Read(0xf4, absl::MakeSpan(b)));
  EXPECT_EQ(b[0] | b[1] | b[2] | b[3], 0);
  EXPECT_TRUE(control_.calls().empty());
}

TEST_F(DebugExitTest, OddSizeIgnored) {
  DebugExit dev(control_);
  const uint8_t three[] = {1, 2, 3};
  dev.Write(0, three);
  EXPECT_TRUE(control_.calls().empty());
}

TEST(DebugExitStatus, MatchesQemu) {
  EXPECT_EQ(DebugExit::ExitStatus(0), 1);
  EXPECT_EQ(DebugExit::ExitStatus(0x10), 0x21);
  EXPECT_EQ(DebugExit::ExitStatus(0x7f), 0xff);
  EXPECT_EQ(DebugExit::ExitStatus(0x80) & 0xff, 0x01);
}

}  // namespace
}  // namespace skiff::devices
