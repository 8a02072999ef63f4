#include "tools/bench/stats.h"

#include "gtest/gtest.h"

namespace skiff::bench {
namespace {

TEST(Stats, EmptyHasZeroCount) {
  EXPECT_EQ(Summarize({}).count, 0u);
  EXPECT_TRUE(EmpiricalCdf({}).empty());
}

TEST(Stats, SingleValueIsEveryPercentile) {
  const Summary s = Summarize({42});
  EXPECT_EQ(s.count, 1u);
  EXPECT_DOUBLE_EQ(s.min, 42);
  EXPECT_DOUBLE_EQ(s.p50, 42);
  EXPECT_DOUBLE_EQ(s.p99, 42);
  EXPECT_DOUBLE_EQ(s.max, 42);
}

TEST(Stats, InterpolatesBetweenClosestRanks) {
  // numpy.percentile([1, 2, 3, 4], q): 50 -> 2.5, 90 -> 3.7, 99 -> 3.97.
  const Summary s = Summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.p50, 2.5);
  EXPECT_NEAR(s.p90, 3.7, 1e-12);
  EXPECT_NEAR(s.p99, 3.97, 1e-12);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
}

TEST(Stats, OddCountMedianIsMiddle) {
  std::vector<double> v;
  for (int i = 100; i >= 0; --i) v.push_back(i);
  const Summary s = Summarize(v);
  EXPECT_DOUBLE_EQ(s.p50, 50);
  EXPECT_DOUBLE_EQ(s.p90, 90);
  EXPECT_DOUBLE_EQ(s.p99, 99);
}

TEST(Stats, PercentileClampsQ) {
  const std::vector<double> sorted = {1, 2, 3};
  EXPECT_DOUBLE_EQ(PercentileSorted(sorted, -5), 1);
  EXPECT_DOUBLE_EQ(PercentileSorted(sorted, 500), 3);
  EXPECT_DOUBLE_EQ(PercentileSorted({}, 50), 0);
}

TEST(Stats, EmpiricalCdfIsSortedAndEndsAtOne) {
  const auto cdf = EmpiricalCdf({30, 10, 20, 40});
  ASSERT_EQ(cdf.size(), 4u);
  EXPECT_DOUBLE_EQ(cdf[0].first, 10);
  EXPECT_DOUBLE_EQ(cdf[0].second, 0.25);
  EXPECT_DOUBLE_EQ(cdf[3].first, 40);
  EXPECT_DOUBLE_EQ(cdf[3].second, 1.0);
}

}  // namespace
}  // namespace skiff::bench
