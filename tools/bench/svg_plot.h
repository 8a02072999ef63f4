// Draws a BenchReport as a standalone SVG a browser can open: one panel per
// boot phase, each holding the empirical CDF of that phase's times, one
// step line per VMM, with labelled axes and a legend.
//
//   SKIFF_RETURN_IF_ERROR(WriteFile("boot.svg", RenderCdfSvg(report)));
#ifndef SKIFF_TOOLS_BENCH_SVG_PLOT_H_
#define SKIFF_TOOLS_BENCH_SVG_PLOT_H_

#include <string>
#include <string_view>
#include <vector>

#include "tools/bench/results.h"

namespace skiff::bench {

// `s` with &, <, >, " and ' escaped, and control bytes dropped, for XML text
// and attribute values.
std::string XmlEscape(std::string_view s);

// About `count` evenly spaced "nice" tick values (1, 2 or 5 times a power of
// ten apart) covering [0, max].
std::vector<double> NiceTicks(double max, int count);

std::string RenderCdfSvg(const BenchReport& report);

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_SVG_PLOT_H_
