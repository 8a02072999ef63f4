#include "tools/bench/blk_bench.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "tools/bench/report.h"
#include "tools/bench/stats.h"

namespace skiff::bench {
namespace {

constexpr std::string_view kIobenchPrefix = "skiff-iobench ";

std::string BsText(uint64_t bs) {
  if (bs % (1 << 20) == 0) return absl::StrCat(bs >> 20, "M");
  if (bs % 1024 == 0) return absl::StrCat(bs >> 10, "K");
  return absl::StrCat(bs);
}

// The value of ` key=` in `line` as a finite, non-negative double.
std::optional<double> FindDouble(std::string_view line, std::string_view key) {
  const std::string needle = absl::StrCat(" ", std::string(key), "=");
  const size_t at = line.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(at + needle.size());
  rest = rest.substr(0, rest.find(' '));
  const std::string s(rest);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) {
    return std::nullopt;
  }
  return v;
}

// Replaces the value following `flag` in argv (the kernel command line).
void ReplaceAfter(std::vector<std::string>& argv, std::string_view flag,
                  const std::string& value) {
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag) {
      argv[i + 1] = value;
      return;
    }
  }
}

}  // namespace

std::vector<BlkWorkload> DefaultBlkWorkloads(const BlkOptions& o) {
  return {
      BlkWorkload{.name = absl::StrCat("randread-4k-qd", o.qd),
                  .mode = "randread",
                  .bs = 4096,
                  .qd = o.qd},
      BlkWorkload{
          .name = "seqread-1m-qd1", .mode = "seqread", .bs = 1 << 20, .qd = 1},
  };
}

std::string GuestScript(const std::vector<BlkWorkload>& workloads,
                        double seconds) {
  std::string s = "rc=0\n";
  for (const BlkWorkload& w : workloads) {
    absl::StrAppend(&s, "skiff-iobench ", w.mode, " /dev/vda --bs ",
                    BsText(w.bs), " --qd ", w.qd, " --seconds ",
                    absl::StrFormat("%g", seconds), " || rc=1\n");
  }
  absl::StrAppend(&s, "exit $rc\n");
  return s;
}

std::string BlkCmdline(const BlkOptions& o,
                       const std::vector<BlkWorkload>& workloads,
                       std::string_view extra) {
  // Base64 keeps the script one word: the init decodes skiff.cmd64= with
  // busybox base64 -d (guest/initramfs/init).
  std::string s = absl::StrCat(
      kBaseCmdline,
      " skiff.cmd64=", absl::Base64Escape(GuestScript(workloads, o.seconds)),
      " skiff.exit=reboot");
  if (!extra.empty()) absl::StrAppend(&s, " ", std::string(extra));
  if (!o.common.append.empty()) absl::StrAppend(&s, " ", o.common.append);
  return s;
}

VmmSpec SkiffBlkSpec(const BlkOptions& o, const std::string& image,
                     const std::vector<BlkWorkload>& workloads) {
  VmmSpec s = SkiffSpec(o.common);
  ReplaceAfter(s.argv, "--cmdline", BlkCmdline(o, workloads, ""));
  s.argv.push_back("--disk");
  s.argv.push_back(absl::StrCat("path=", image, ",direct=on"));
  return s;
}

VmmSpec QemuBlkSpec(const BlkOptions& o, const std::string& image,
                    const std::vector<BlkWorkload>& workloads,
                    std::optional<int64_t> tsc_khz) {
  VmmSpec s = QemuSpec(o.common, tsc_khz);
  ReplaceAfter(
      s.argv, "-append",
      BlkCmdline(o, workloads,
                 tsc_khz ? absl::StrCat("tsc_early_khz=", *tsc_khz) : ""));
  // QEMU's -drive splits on commas: a comma in the path is written twice.
  std::string escaped;
  for (char c : image) {
    escaped += c;
    if (c == ',') escaped += ',';
  }
  s.argv.insert(s.argv.end(),
                {"-drive",
                 absl::StrCat("file=", escaped,
                              ",format=raw,if=none,id=d0,aio=io_uring,"
                              "cache=none"),
                 "-device", "virtio-blk-device,drive=d0"});
  return s;
}

std::optional<IobenchResult> ParseIobenchLine(std::string_view line) {
  const size_t at = line.find(kIobenchPrefix);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(at + kIobenchPrefix.size());
  IobenchResult r;
  r.mode = std::string(rest.substr(0, rest.find(' ')));
  if (r.mode.empty() || r.mode.find('=') != std::string::npos) {
    return std::nullopt;
  }
  // FindDouble wants " key=": keep the space before the first key.
  rest = rest.substr(r.mode.size());
  const std::optional<double> iops = FindDouble(rest, "iops");
  const std::optional<double> mbps = FindDouble(rest, "mbps");
  const std::optional<double> ios = FindDouble(rest, "ios");
  const std::optional<double> seconds = FindDouble(rest, "seconds");
  if (!iops || !mbps || !ios || !seconds || *ios > 1e18) return std::nullopt;
  r.iops = *iops;
  r.mbps = *mbps;
  r.ios = static_cast<uint64_t>(*ios);
  r.seconds = *seconds;
  return r;
}

std::vector<double> BlkValues(const BlkVmmResult& vmm, size_t w, bool mbps) {
  std::vector<double> out;
  for (const BlkRun& run : vmm.runs) {
    if (!run.ok || w >= run.results.size() || !run.results[w]) continue;
    out.push_back(mbps ? run.results[w]->mbps : run.results[w]->iops);
  }
  return out;
}

std::string FormatBlkTable(const BlkReport& report) {
  std::string out = absl::StrFormat(
      "%-6s %-18s %4s %10s %10s %10s %9s %9s %9s\n", "vmm", "workload", "n",
      "iops min", "iops p50", "iops max", "MB/s min", "MB/s p50", "MB/s max");
  for (const BlkVmmResult& vmm : report.vmms) {
    for (size_t w = 0; w < report.workloads.size(); ++w) {
      const Summary iops = Summarize(BlkValues(vmm, w, false));
      const Summary mbps = Summarize(BlkValues(vmm, w, true));
      absl::StrAppend(
          &out,
          absl::StrFormat("%-6s %-18s %4d %10.0f %10.0f %10.0f %9.1f "
                          "%9.1f %9.1f\n",
                          vmm.name, report.workloads[w].name,
                          static_cast<int>(iops.count), iops.min, iops.p50,
                          iops.max, mbps.min, mbps.p50, mbps.max));
    }
  }
  for (const BlkVmmResult& vmm : report.vmms) {
    int ok = 0;
    for (const BlkRun& run : vmm.runs) {
      if (run.ok) {
        ++ok;
      } else {
        absl::StrAppend(&out,
                        absl::StrFormat("%-6s run %d failed: %s\n", vmm.name,
                                        run.index, run.failure));
      }
    }
    absl::StrAppend(&out, absl::StrFormat("%-6s ok %d/%d\n", vmm.name, ok,
                                          static_cast<int>(vmm.runs.size())));
  }
  if (report.vmms.size() == 2) {
    const BlkVmmResult& a = report.vmms[0];
    const BlkVmmResult& b = report.vmms[1];
    absl::StrAppend(&out,
                    absl::StrFormat("\nratio %s/%s of p50 (higher is better "
                                    "for %s):",
                                    a.name, b.name, a.name));
    for (size_t w = 0; w < report.workloads.size(); ++w) {
      const Summary sa = Summarize(BlkValues(a, w, false));
      const Summary sb = Summarize(BlkValues(b, w, false));
      if (sa.count == 0 || sb.count == 0 || sb.p50 <= 0) {
        absl::StrAppend(&out, " ", report.workloads[w].name, " n/a");
      } else {
        absl::StrAppend(&out,
                        absl::StrFormat(" %s %.2f", report.workloads[w].name,
                                        sa.p50 / sb.p50));
      }
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

namespace {

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  return absl::StrFormat("%.6g", v);
}

std::string SummaryJson(const std::vector<double>& values) {
  const Summary s = Summarize(values);
  if (s.count == 0) return "null";
  return absl::StrCat("{\"count\": ", s.count, ", \"min\": ", JsonNumber(s.min),
                      ", \"p50\": ", JsonNumber(s.p50),
                      ", \"max\": ", JsonNumber(s.max),
                      ", \"mean\": ", JsonNumber(s.mean), "}");
}

}  // namespace

std::string BlkToJson(const BlkReport& report) {
  std::string out = absl::StrCat(
      "{\n  \"benchmark\": \"blk\",\n  \"config\": {\"runs\": ", report.runs,
      ", \"seconds\": ", JsonNumber(report.seconds),
      ", \"accel\": ", JsonQuote(report.accel),
      ", \"kernel\": ", JsonQuote(report.kernel),
      ", \"initrd\": ", JsonQuote(report.initrd),
      ", \"image\": ", JsonQuote(report.image),
      ", \"image_bytes\": ", report.image_bytes,
      ", \"memory_mib\": ", report.memory_mib, "},\n  \"workloads\": [");
  for (size_t w = 0; w < report.workloads.size(); ++w) {
    const BlkWorkload& wl = report.workloads[w];
    absl::StrAppend(&out, w ? ", " : "", "{\"name\": ", JsonQuote(wl.name),
                    ", \"mode\": ", JsonQuote(wl.mode), ", \"bs\": ", wl.bs,
                    ", \"qd\": ", wl.qd, "}");
  }
  absl::StrAppend(&out, "],\n  \"vmms\": [\n");
  for (size_t v = 0; v < report.vmms.size(); ++v) {
    const BlkVmmResult& vmm = report.vmms[v];
    absl::StrAppend(&out, "    {\"name\": ", JsonQuote(vmm.name),
                    ", \"command\": [");
    for (size_t j = 0; j < vmm.command.size(); ++j) {
      absl::StrAppend(&out, j ? ", " : "", JsonQuote(vmm.command[j]));
    }
    absl::StrAppend(&out, "],\n     \"runs\": [");
    for (size_t r = 0; r < vmm.runs.size(); ++r) {
      const BlkRun& run = vmm.runs[r];
      absl::StrAppend(&out, r ? ",\n       " : "\n       ",
                      "{\"index\": ", run.index,
                      ", \"ok\": ", run.ok ? "true" : "false",
                      ", \"failure\": ", JsonQuote(run.failure),
                      ", \"wall_us\": ", run.wall_us, ", \"results\": {");
      bool first = true;
      for (size_t w = 0; w < run.results.size() && w < report.workloads.size();
           ++w) {
        if (!run.results[w]) continue;
        const IobenchResult& res = *run.results[w];
        absl::StrAppend(
            &out, first ? "" : ", ", JsonQuote(report.workloads[w].name),
            ": {\"iops\": ", JsonNumber(res.iops),
            ", \"mbps\": ", JsonNumber(res.mbps), ", \"ios\": ", res.ios,
            ", \"seconds\": ", JsonNumber(res.seconds), "}");
        first = false;
      }
      absl::StrAppend(
          &out, "}, \"last_console_line\": ", JsonQuote(run.last_console_line),
          ", \"last_stderr_line\": ", JsonQuote(run.last_stderr_line), "}");
    }
    absl::StrAppend(&out, "],\n     \"summary\": {");
    for (size_t w = 0; w < report.workloads.size(); ++w) {
      absl::StrAppend(&out, w ? ", " : "", JsonQuote(report.workloads[w].name),
                      ": {\"iops\": ", SummaryJson(BlkValues(vmm, w, false)),
                      ", \"mbps\": ", SummaryJson(BlkValues(vmm, w, true)),
                      "}");
    }
    absl::StrAppend(&out, "}}", v + 1 < report.vmms.size() ? "," : "", "\n");
  }
  absl::StrAppend(&out, "  ],\n  \"ratios_p50\": ");
  if (report.vmms.size() == 2) {
    absl::StrAppend(&out, "{\"numerator\": ", JsonQuote(report.vmms[0].name),
                    ", \"denominator\": ", JsonQuote(report.vmms[1].name));
    for (size_t w = 0; w < report.workloads.size(); ++w) {
      const Summary a = Summarize(BlkValues(report.vmms[0], w, false));
      const Summary b = Summarize(BlkValues(report.vmms[1], w, false));
      absl::StrAppend(&out, ", ", JsonQuote(report.workloads[w].name), ": ",
                      a.count && b.count && b.p50 > 0
                          ? JsonNumber(a.p50 / b.p50)
                          : std::string("null"));
    }
    absl::StrAppend(&out, "}");
  } else {
    absl::StrAppend(&out, "null");
  }
  absl::StrAppend(&out, "\n}\n");
  return out;
}

}  // namespace skiff::bench
