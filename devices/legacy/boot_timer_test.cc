#include "devices/legacy/boot_timer.h"

#include <vector>

#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

struct Event {
  absl::Duration wall;
  absl::Duration cpu;
};

class BootTimerTest : public ::testing::Test {
 protected:
  void WriteByte(uint64_t offset, uint8_t value) {
    timer_.Write(offset, absl::MakeConstSpan(&value, 1));
  }

  const absl::Time start_ = absl::FromUnixSeconds(1'700'000'000);
  absl::Time now_ = start_ + absl::Milliseconds(125);
  absl::Duration cpu_ = absl::Milliseconds(40);
  std::vector<Event> events_;
  BootTimer timer_{start_,
                   [this](absl::Duration wall, absl::Duration cpu) {
                     events_.push_back({wall, cpu});
                   },
                   [this] { return now_; }, [this] { return cpu_; }};
};

TEST_F(BootTimerTest, FiresOnMagicByteOnly) {
  WriteByte(0, 122);
  WriteByte(0, 0);
  WriteByte(1, 123);  // wrong offset
  const uint8_t wide[] = {123, 0, 0, 0};
  timer_.Write(0, wide);  // wrong size
  EXPECT_TRUE(events_.empty());
  EXPECT_EQ(timer_.events(), 0u);

  WriteByte(0, 123);
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0].wall, absl::Milliseconds(125));
  EXPECT_EQ(events_[0].cpu, absl::Milliseconds(40));
  EXPECT_EQ(timer_.events(), 1u);
}

TEST_F(BootTimerTest, RepeatedEventsAllRecorded) {
  WriteByte(0, 123);
  now_ += absl::Seconds(1);
  WriteByte(0, 123);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(events_[1].wall, absl::Milliseconds(1125));
  EXPECT_EQ(timer_.events(), 2u);
}

TEST_F(BootTimerTest, ReadsZero) {
  uint8_t b[4] = {9, 9, 9, 9};
  timer_.Read(0, absl::MakeSpan(b));
  EXPECT_EQ(b[0] | b[1] | b[2] | b[3], 0);
}

TEST(BootTimer, DefaultClocksAndNoCallback) {
  BootTimer timer(absl::Now(), nullptr);
  uint8_t magic = BootTimer::kMagic;
  timer.Write(0, absl::MakeConstSpan(&magic, 1));
  EXPECT_EQ(timer.events(), 1u);
  EXPECT_GT(BootTimer::ProcessCpuTime(), absl::ZeroDuration());
}

}  // namespace
}  // namespace skiff::devices
