// `skiff-bench micro`: finds every Google Benchmark executable of a build
// tree (files named *_benchmark), runs each with --benchmark_format=json and
// condenses the results into one screen.
//
//   for (const std::string& exe : FindBenchmarks("build")) ...
//   SKIFF_ASSIGN_OR_RETURN(std::vector<MicroResult> r, ParseBenchmarkJson(j));
//   std::cout << FormatMicroTable(r);
#ifndef SKIFF_TOOLS_BENCH_MICRO_H_
#define SKIFF_TOOLS_BENCH_MICRO_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace skiff::bench {

struct MicroResult {
  std::string executable;  // basename of the benchmark binary
  std::string name;
  double real_time = 0;
  double cpu_time = 0;
  std::string time_unit;  // "ns", "us", "ms", "s"
  std::optional<double> items_per_second;
  std::optional<double> bytes_per_second;
  std::string error;  // set when the benchmark skipped itself or failed
};

// Executables named *_benchmark under `build_dir`, sorted; meson's private
// directories (*.p, meson-*) are skipped.
std::vector<std::string> FindBenchmarks(const std::string& build_dir);

// The entries of the "benchmarks" array of Google Benchmark's JSON output,
// which writes one "key": value pair per line.
absl::StatusOr<std::vector<MicroResult>> ParseBenchmarkJson(
    std::string_view json);

std::string FormatMicroTable(const std::vector<MicroResult>& results);

// Runs `exe` with --benchmark_format=json (and a filter when non-empty);
// returns its stdout. Fails when it cannot start or exits non-zero.
absl::StatusOr<std::string> RunBenchmarkExecutable(const std::string& exe,
                                                   const std::string& filter);

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_MICRO_H_
