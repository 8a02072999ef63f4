// Order statistics for boot-time samples: min, percentiles and max of a set
// of values, with percentiles linearly interpolated between closest ranks
// (the definition numpy.percentile uses by default), plus the empirical CDF
// the SVG plot draws.
//
//   std::vector<double> init_us = {...};
//   Summary s = Summarize(init_us);
//   if (s.count > 0) printf("p50 %.0f us\n", s.p50);
#ifndef SKIFF_TOOLS_BENCH_STATS_H_
#define SKIFF_TOOLS_BENCH_STATS_H_

#include <cstddef>
#include <utility>
#include <vector>

namespace skiff::bench {

struct Summary {
  size_t count = 0;  // 0: the other fields are meaningless (all 0)
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
};

// The q-th percentile (q in [0, 100], clamped) of `sorted`, which must be in
// ascending order. REQUIRES: !sorted.empty().
double PercentileSorted(const std::vector<double>& sorted, double q);

// Summary of `values` in any order; count 0 when empty.
Summary Summarize(std::vector<double> values);

// Points of the empirical CDF of `values`: (value, fraction <= value), one
// per sample, in ascending order of value.
std::vector<std::pair<double, double>> EmpiricalCdf(std::vector<double> values);

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_STATS_H_
