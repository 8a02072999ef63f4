#include "tools/bench/report.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace skiff::bench {
namespace {

std::string Ms(double us) { return absl::StrFormat("%.1f", us / 1000.0); }

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  return absl::StrFormat("%.6g", v);
}

template <typename T>
std::string JsonOptional(const std::optional<T>& v) {
  if (!v) return "null";
  return absl::StrCat(*v);
}

std::string SummaryJson(const Summary& s) {
  if (s.count == 0) return "null";
  return absl::StrCat(
      "{\"count\": ", s.count, ", \"min\": ", JsonNumber(s.min),
      ", \"p50\": ", JsonNumber(s.p50), ", \"p90\": ", JsonNumber(s.p90),
      ", \"p99\": ", JsonNumber(s.p99), ", \"max\": ", JsonNumber(s.max),
      ", \"mean\": ", JsonNumber(s.mean), "}");
}

std::string RunJson(const BootRun& r) {
  return absl::StrCat(
      "{\"index\": ", r.index, ", \"ok\": ", r.ok ? "true" : "false",
      ", \"failure\": ", JsonQuote(r.failure),
      ", \"exit_code\": ", JsonOptional(r.exit_code),
      ", \"signal\": ", JsonOptional(r.signal),
      ", \"guest_entry_us\": ", JsonOptional(r.guest_entry_us),
      ", \"first_byte_us\": ", JsonOptional(r.first_byte_us),
      ", \"console_us\": ", JsonOptional(r.console_us),
      ", \"init_us\": ", JsonOptional(r.init_us),
      ", \"exit_us\": ", JsonOptional(r.exit_us),
      ", \"boot_timer_us\": ", JsonOptional(r.boot_timer_us),
      ", \"rss_kib\": ", JsonOptional(r.rss_kib),
      ", \"total_rss_kib\": ", JsonOptional(r.total_rss_kib),
      ", \"tcg_rss_kib\": ", JsonOptional(r.tcg_rss_kib),
      ", \"last_console_line\": ", JsonQuote(r.last_console_line),
      ", \"last_stderr_line\": ", JsonQuote(r.last_stderr_line), "}");
}

// Failure reasons with counts, "timeout x2; exit status 1 x1".
std::map<std::string, int> FailureCounts(const VmmResult& vmm) {
  std::map<std::string, int> counts;
  for (const BootRun& r : vmm.runs) {
    if (!r.ok) ++counts[r.failure];
  }
  return counts;
}

}  // namespace

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

std::optional<double> P50Ratio(const VmmResult& a, const VmmResult& b,
                               Phase phase) {
  const Summary sa = Summarize(PhaseValues(a, phase));
  const Summary sb = Summarize(PhaseValues(b, phase));
  if (sa.count == 0 || sb.count == 0 || sb.p50 <= 0) return std::nullopt;
  return sa.p50 / sb.p50;
}

std::string FormatTable(const BenchReport& report) {
  std::string out = absl::StrFormat(
      "skiff-bench boot: %d run(s) per VMM, %d in parallel, accel %s, %d MiB\n"
      "  kernel %s\n  initrd %s\n\n",
      report.config.runs, report.config.parallel, report.config.accel,
      static_cast<int>(report.config.memory_mib), report.config.kernel,
      report.config.initrd);
  absl::StrAppend(&out, absl::StrFormat("%-6s %-12s %5s %9s %9s %9s %9s %9s\n",
                                        "vmm", "phase (ms)", "n", "min", "p50",
                                        "p90", "p99", "max"));
  for (const VmmResult& vmm : report.vmms) {
    for (Phase phase : kAllPhases) {
      const Summary s = Summarize(PhaseValues(vmm, phase));
      const std::string name(PhaseName(phase));
      if (s.count == 0) {
        absl::StrAppend(&out, absl::StrFormat("%-6s %-12s %5d %9s\n", vmm.name,
                                              name, 0, "unavailable"));
        continue;
      }
      absl::StrAppend(
          &out,
          absl::StrFormat("%-6s %-12s %5d %9s %9s %9s %9s %9s\n", vmm.name,
                          name, static_cast<int>(s.count), Ms(s.min), Ms(s.p50),
                          Ms(s.p90), Ms(s.p99), Ms(s.max)));
    }
    const std::pair<const char*, Summary> memory[] = {
        {"rss (KiB)", Summarize(RssValues(vmm))},
        {"of it tcg", Summarize(TcgRssValues(vmm))}};
    for (const auto& [name, s] : memory) {
      if (s.count == 0) continue;
      absl::StrAppend(
          &out,
          absl::StrFormat("%-6s %-12s %5d %9.0f %9.0f %9.0f %9.0f %9.0f\n",
                          vmm.name, name, static_cast<int>(s.count), s.min,
                          s.p50, s.p90, s.p99, s.max));
    }
  }
  absl::StrAppend(&out, "\n");
  for (const VmmResult& vmm : report.vmms) {
    const int ok = OkCount(vmm);
    absl::StrAppend(
        &out, absl::StrFormat("%-6s ok %d/%d, creation rate %.3f VMs/s "
                              "(%d in parallel, %.2f s to the last init)\n",
                              vmm.name, ok, static_cast<int>(vmm.runs.size()),
                              CreationRate(vmm), report.config.parallel,
                              vmm.batch_seconds));
    for (const auto& [reason, count] : FailureCounts(vmm)) {
      absl::StrAppend(&out, absl::StrFormat("%-6s   failed x%d: %s\n", vmm.name,
                                            count, reason));
    }
  }
  if (report.vmms.size() == 2) {
    const VmmResult& a = report.vmms[0];
    const VmmResult& b = report.vmms[1];
    absl::StrAppend(&out,
                    absl::StrFormat("\nratio %s/%s of p50:", a.name, b.name));
    for (Phase phase : kAllPhases) {
      const std::optional<double> r = P50Ratio(a, b, phase);
      const std::string name(PhaseName(phase));
      if (r) {
        absl::StrAppend(&out, absl::StrFormat(" %s %.2f", name, *r));
      } else {
        absl::StrAppend(&out, absl::StrFormat(" %s n/a", name));
      }
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string ToJson(const BenchReport& report) {
  const BenchConfig& c = report.config;
  std::string out = absl::StrCat(
      "{\n  \"tool\": \"skiff-bench\",\n  \"config\": {\"runs\": ", c.runs,
      ", \"parallel\": ", c.parallel, ", \"accel\": ", JsonQuote(c.accel),
      ", \"kernel\": ", JsonQuote(c.kernel),
      ", \"initrd\": ", JsonQuote(c.initrd), ", \"memory_mib\": ", c.memory_mib,
      ", \"timeout_s\": ", JsonNumber(c.timeout_s), "},\n  \"vmms\": [");
  for (size_t i = 0; i < report.vmms.size(); ++i) {
    const VmmResult& vmm = report.vmms[i];
    absl::StrAppend(&out, i ? ",\n" : "\n",
                    "    {\"name\": ", JsonQuote(vmm.name),
                    ",\n     \"command\": [");
    for (size_t j = 0; j < vmm.command.size(); ++j) {
      absl::StrAppend(&out, j ? ", " : "", JsonQuote(vmm.command[j]));
    }
    absl::StrAppend(&out, "],\n     \"runs\": [");
    for (size_t j = 0; j < vmm.runs.size(); ++j) {
      absl::StrAppend(&out, j ? ",\n       " : "\n       ",
                      RunJson(vmm.runs[j]));
    }
    absl::StrAppend(
        &out, "],\n     \"summary\": {\"ok\": ", OkCount(vmm),
        ", \"failed\": ", static_cast<int>(vmm.runs.size()) - OkCount(vmm),
        ", \"failures\": {");
    bool first = true;
    for (const auto& [reason, count] : FailureCounts(vmm)) {
      absl::StrAppend(&out, first ? "" : ", ", JsonQuote(reason), ": ", count);
      first = false;
    }
    absl::StrAppend(
        &out, "}, \"batch_seconds\": ", JsonNumber(vmm.batch_seconds),
        ", \"creation_rate_per_s\": ", JsonNumber(CreationRate(vmm)),
        ", \"rss_kib\": ", SummaryJson(Summarize(RssValues(vmm))),
        ", \"tcg_rss_kib\": ", SummaryJson(Summarize(TcgRssValues(vmm))),
        ", \"phases_us\": {");
    for (size_t p = 0; p < kAllPhases.size(); ++p) {
      absl::StrAppend(
          &out, p ? ", " : "", "\"", std::string(PhaseName(kAllPhases[p])),
          "\": ", SummaryJson(Summarize(PhaseValues(vmm, kAllPhases[p]))));
    }
    absl::StrAppend(&out, "}}}");
  }
  absl::StrAppend(&out, "\n  ]");
  if (report.vmms.size() == 2) {
    absl::StrAppend(&out, ",\n  \"ratios_p50\": {\"numerator\": ",
                    JsonQuote(report.vmms[0].name),
                    ", \"denominator\": ", JsonQuote(report.vmms[1].name));
    for (Phase phase : kAllPhases) {
      const std::optional<double> r =
          P50Ratio(report.vmms[0], report.vmms[1], phase);
      absl::StrAppend(&out, ", \"", std::string(PhaseName(phase)),
                      "\": ", r ? JsonNumber(*r) : "null");
    }
    absl::StrAppend(&out, "}");
  }
  absl::StrAppend(&out, "\n}\n");
  return out;
}

absl::Status WriteFile(const std::string& path, std::string_view contents) {
  SKIFF_ASSIGN_OR_RETURN(
      UniqueFd fd, UniqueFd::Open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
  while (!contents.empty()) {
    const ssize_t n = write(fd.get(), contents.data(), contents.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(absl::StrCat("write ", path));
    }
    contents.remove_prefix(static_cast<size_t>(n));
  }
  if (close(fd.Release()) != 0)
    return ErrnoStatus(absl::StrCat("close ", path));
  return absl::OkStatus();
}

}  // namespace skiff::bench
