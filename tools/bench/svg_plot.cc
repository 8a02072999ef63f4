#include "tools/bench/svg_plot.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/bench/stats.h"

namespace skiff::bench {
namespace {

constexpr int kPanelWidth = 470;
constexpr int kPanelHeight = 320;
constexpr int kColumns = 2;
constexpr int kTitleHeight = 40;
// Plot area inside a panel.
constexpr int kLeft = 60;
constexpr int kRight = 20;
constexpr int kTop = 40;
constexpr int kBottom = 50;
constexpr std::array<const char*, 6> kColors = {
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

std::string Num(double v) { return absl::StrFormat("%.1f", v); }

std::string TickLabel(double ms) {
  if (ms == std::floor(ms)) return absl::StrFormat("%.0f", ms);
  return absl::StrFormat("%g", ms);
}

void DrawPanel(const BenchReport& report, Phase phase, int x0, int y0,
               std::string& out) {
  const double pw = kPanelWidth - kLeft - kRight;
  const double ph = kPanelHeight - kTop - kBottom;
  const double ox = x0 + kLeft;
  const double oy = y0 + kTop + ph;  // origin: bottom-left of the plot area
  double max_ms = 0;
  for (const VmmResult& vmm : report.vmms) {
    for (double v : PhaseValues(vmm, phase))
      max_ms = std::max(max_ms, v / 1000);
  }
  const std::vector<double> ticks = NiceTicks(max_ms > 0 ? max_ms : 1, 5);
  const double x_max = ticks.back() > 0 ? ticks.back() : 1;
  auto sx = [&](double ms) { return ox + ms / x_max * pw; };
  auto sy = [&](double frac) { return oy - frac * ph; };

  absl::StrAppend(&out, "<g class=\"panel\" id=\"phase-",
                  std::string(PhaseName(phase)), "\">\n");
  absl::StrAppend(&out, "<text x=\"", Num(x0 + kPanelWidth / 2.0), "\" y=\"",
                  Num(y0 + 22),
                  "\" text-anchor=\"middle\" font-weight=\"bold\">",
                  XmlEscape(PhaseTitle(phase)), "</text>\n");
  // Axes.
  absl::StrAppend(&out, "<rect x=\"", Num(ox), "\" y=\"", Num(oy - ph),
                  "\" width=\"", Num(pw), "\" height=\"", Num(ph),
                  "\" fill=\"none\" stroke=\"#444\"/>\n");
  for (double t : ticks) {
    absl::StrAppend(&out, "<line x1=\"", Num(sx(t)), "\" y1=\"", Num(oy),
                    "\" x2=\"", Num(sx(t)), "\" y2=\"", Num(oy - ph),
                    "\" stroke=\"#ddd\"/>\n");
    absl::StrAppend(&out, "<text x=\"", Num(sx(t)), "\" y=\"", Num(oy + 16),
                    "\" text-anchor=\"middle\" font-size=\"11\">", TickLabel(t),
                    "</text>\n");
  }
  for (double f : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    absl::StrAppend(&out, "<line x1=\"", Num(ox), "\" y1=\"", Num(sy(f)),
                    "\" x2=\"", Num(ox + pw), "\" y2=\"", Num(sy(f)),
                    "\" stroke=\"#ddd\"/>\n");
    absl::StrAppend(&out, "<text x=\"", Num(ox - 6), "\" y=\"", Num(sy(f) + 4),
                    "\" text-anchor=\"end\" font-size=\"11\">",
                    absl::StrFormat("%.2f", f), "</text>\n");
  }
  absl::StrAppend(&out, "<text x=\"", Num(ox + pw / 2), "\" y=\"", Num(oy + 36),
                  "\" text-anchor=\"middle\" font-size=\"12\">"
                  "time since VMM spawn (ms)</text>\n");
  absl::StrAppend(&out, "<text x=\"", Num(x0 + 16), "\" y=\"", Num(oy - ph / 2),
                  "\" text-anchor=\"middle\" font-size=\"12\" "
                  "transform=\"rotate(-90 ",
                  Num(x0 + 16), " ", Num(oy - ph / 2),
                  ")\">fraction of boots</text>\n");
  // One step line per VMM, then its legend entry.
  for (size_t i = 0; i < report.vmms.size(); ++i) {
    const VmmResult& vmm = report.vmms[i];
    const char* color = kColors[i % kColors.size()];
    const std::vector<std::pair<double, double>> cdf =
        EmpiricalCdf(PhaseValues(vmm, phase));
    const double ly = oy - ph + 16 + 16 * static_cast<double>(i);
    std::string label;
    if (cdf.empty()) {
      label = absl::StrCat(vmm.name, ": unavailable");
    } else {
      const Summary s = Summarize(PhaseValues(vmm, phase));
      label = absl::StrFormat("%s (n=%d, p50 %.1f ms)", vmm.name,
                              static_cast<int>(s.count), s.p50 / 1000);
      std::string points =
          absl::StrCat(Num(sx(cdf[0].first / 1000)), ",", Num(sy(0)));
      double prev = 0;
      for (const auto& [us, frac] : cdf) {
        const double x = sx(us / 1000);
        absl::StrAppend(&points, " ", Num(x), ",", Num(sy(prev)), " ", Num(x),
                        ",", Num(sy(frac)));
        prev = frac;
      }
      absl::StrAppend(&out, "<polyline class=\"cdf\" data-vmm=\"",
                      XmlEscape(vmm.name), "\" fill=\"none\" stroke=\"", color,
                      "\" stroke-width=\"2\" points=\"", points, "\"/>\n");
    }
    absl::StrAppend(&out, "<rect x=\"", Num(ox + 8), "\" y=\"", Num(ly - 9),
                    "\" width=\"14\" height=\"10\" fill=\"", color, "\"/>\n");
    absl::StrAppend(&out, "<text class=\"legend\" x=\"", Num(ox + 26),
                    "\" y=\"", Num(ly), "\" font-size=\"11\">",
                    XmlEscape(label), "</text>\n");
  }
  absl::StrAppend(&out, "</g>\n");
}

}  // namespace

std::string XmlEscape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 forbids most control characters; bytes >= 0x80 could be
        // invalid UTF-8, so they go too.
        if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    }
  }
  return out;
}

std::vector<double> NiceTicks(double max, int count) {
  if (!(max > 0) || !std::isfinite(max) || count < 1) return {0, 1};
  const double raw = max / count;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (int i = 0; ticks.empty() || ticks.back() < max; ++i) {
    ticks.push_back(step * i);
  }
  return ticks;
}

std::string RenderCdfSvg(const BenchReport& report) {
  const int rows =
      (static_cast<int>(kAllPhases.size()) + kColumns - 1) / kColumns;
  const int width = kPanelWidth * kColumns;
  const int height = kTitleHeight + kPanelHeight * rows;
  std::string out = absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"",
      width, "\" height=\"", height, "\" viewBox=\"0 0 ", width, " ", height,
      "\" font-family=\"sans-serif\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  absl::StrAppend(
      &out, "<text x=\"", width / 2,
      "\" y=\"26\" text-anchor=\"middle\" "
      "font-size=\"16\" font-weight=\"bold\">",
      XmlEscape(absl::StrFormat(
          "skiff-bench boot: CDF of boot phases (%d runs per VMM, %d in "
          "parallel, accel %s)",
          report.config.runs, report.config.parallel, report.config.accel)),
      "</text>\n");
  for (size_t i = 0; i < kAllPhases.size(); ++i) {
    const int col = static_cast<int>(i) % kColumns;
    const int row = static_cast<int>(i) / kColumns;
    DrawPanel(report, kAllPhases[i], col * kPanelWidth,
              kTitleHeight + row * kPanelHeight, out);
  }
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

}  // namespace skiff::bench
