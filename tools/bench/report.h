// Writers for a BenchReport: the human table printed on stdout and the JSON
// file (every run's raw numbers plus the summary). The SVG plot lives in
// svg_plot.h.
//
//   std::cout << FormatTable(report);
//   SKIFF_RETURN_IF_ERROR(WriteFile(path, ToJson(report)));
#ifndef SKIFF_TOOLS_BENCH_REPORT_H_
#define SKIFF_TOOLS_BENCH_REPORT_H_

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "tools/bench/results.h"

namespace skiff::bench {

// `s` as a JSON string literal, quotes included; bytes that are not
// printable ASCII are written as \u00XX so the file is valid UTF-8 JSON
// whatever the guest printed.
std::string JsonQuote(std::string_view s);

// The p50 of `phase` of vmms[a] divided by that of vmms[b]; nullopt when
// either has no samples or b's p50 is 0.
std::optional<double> P50Ratio(const VmmResult& a, const VmmResult& b,
                               Phase phase);

// min/p50/p90/p99/max (ms) per phase and VMM, RSS, failures, creation rate
// and, with two VMMs, ratios of p50s.
std::string FormatTable(const BenchReport& report);

std::string ToJson(const BenchReport& report);

// Writes `contents` to `path` (created or truncated).
absl::Status WriteFile(const std::string& path, std::string_view contents);

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_REPORT_H_
