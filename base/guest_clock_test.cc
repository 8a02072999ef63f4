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

}  // namespace
}  // namespace skiff
