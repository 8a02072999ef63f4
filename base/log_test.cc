#include "base/log.h"

#include "gtest/gtest.h"

namespace skiff {
namespace {

TEST(RateLimiter, AllowsBurstThenSuppresses) {
  RateLimiter limiter(/*per_second=*/0.001, /*burst=*/3);
  EXPECT_TRUE(limiter.Allow());
  EXPECT_TRUE(limiter.Allow());
  EXPECT_TRUE(limiter.Allow());
  EXPECT_FALSE(limiter.Allow());
  EXPECT_FALSE(limiter.Allow());
  EXPECT_EQ(limiter.suppressed(), 2u);
}

TEST(Log, LevelThreshold) {
  LogLevel saved = GetLogLevel();
  SetLogLevel(LogLevel::kWarn);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  SetLogLevel(LogLevel::kOff);
  EXPECT_FALSE(LogEnabled(LogLevel::kError));
  SetLogLevel(saved);
}

}  // namespace
}  // namespace skiff
