#include "base/guest_clock.h"

#include "gtest/gtest.h"

namespace skiff {
namespace {

TEST(GuestClock, DefaultTscCountsNanoseconds) {
  ManualGuestClock clock;
  EXPECT_EQ(clock.tsc_hz(), GuestClock::kDefaultTscHz);
  clock.Advance(12345);
  EXPECT_EQ(clock.NowNs(), 12345u);
  EXPECT_EQ(clock.Tsc(), 12345u);
  EXPECT_EQ(clock.TscToNs(777), 777u);
}

TEST(GuestClock, ScalesToOtherFrequencies) {
  ManualGuestClock clock(2'500'000'000);
  clock.Advance(1000);
  EXPECT_EQ(clock.Tsc(), 2500u);
  EXPECT_EQ(clock.TscToNs(2500), 1000u);
  // Rounds up: a deadline is never converted to an earlier time.
  EXPECT_EQ(clock.TscToNs(2501), 1001u);
}

TEST(GuestClock, SaturatesInsteadOfOverflowing) {
  ManualGuestClock clock(4'000'000'000);
  EXPECT_EQ(clock.NsToTsc(UINT64_MAX), UINT64_MAX);
  ManualGuestClock slow(1'000'000);
  EXPECT_EQ(slow.TscToNs(UINT64_MAX), UINT64_MAX);
}

TEST(GuestClock, ManualAdvanceToNeverGoesBack) {
  ManualGuestClock clock;
  clock.AdvanceTo(500);
  clock.AdvanceTo(100);
  EXPECT_EQ(clock.NowNs(), 500u);
}

TEST(GuestClock, MonotonicStartsNearZeroAndNeverDecreases) {
  MonotonicGuestClock clock;
  uint64_t a = clock.NowNs();
  uint64_t b = clock.NowNs();
  EXPECT_LE(a, b);
}

TEST(GuestClock, WallClockAtZeroIsTheHostTimeByDefault) {
  ManualGuestClock clock;
  clock.Advance(5'000'000'000);
  // Some time after 2020 and 5 s before "now".
  EXPECT_GT(clock.WallClockAtZeroNs(), 1'577'836'800'000'000'000);
}

TEST(InstructionClock, TimeIsInstructionsPlusSkippedIdleTime) {
  InstructionClock clock;
  EXPECT_EQ(clock.NowNs(), 0u);
  clock.AddInstructions(1000);
  EXPECT_EQ(clock.NowNs(), 1000u);
  EXPECT_EQ(clock.Tsc(), 1000u);  // 1 GHz: one tick per instruction
  clock.SkipTo(5000);
  clock.SkipTo(10);  // the past: ignored
  clock.AddInstructions(1);
  EXPECT_EQ(clock.NowNs(), 5001u);
  EXPECT_EQ(clock.instructions(), 1001u);
  EXPECT_EQ(clock.skipped_ns(), 4000u);
}

TEST(InstructionClock, WallClockStartsAtAFixedEpoch) {
  InstructionClock clock;
  EXPECT_EQ(clock.WallClockAtZeroNs(), InstructionClock::kDefaultEpochUnixNs);
  clock.AddInstructions(123);
  EXPECT_EQ(clock.WallClockAtZeroNs(), InstructionClock::kDefaultEpochUnixNs);
  InstructionClock other(GuestClock::kDefaultTscHz, 42);
  EXPECT_EQ(other.WallClockAtZeroNs(), 42);
}

TEST(InstructionClock, DeadlineComesFromItsSource) {
  InstructionClock clock;
  EXPECT_EQ(clock.NextDeadlineNs(), UINT64_MAX);
  uint64_t deadline = 77;
  clock.set_deadline_source([&deadline] { return deadline; });
  EXPECT_EQ(clock.NextDeadlineNs(), 77u);
  deadline = 88;
  EXPECT_EQ(clock.NextDeadlineNs(), 88u);
}

}  // namespace
}  // namespace skiff
