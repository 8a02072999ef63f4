// skiff-bench: boot-time and in-guest block I/O benchmarking of skiff side
// by side with QEMU microvm, and a runner for the tree's Google Benchmark
// micro-benchmarks.
//
//   skiff-bench boot --runs 10 --vmm skiff --vmm qemu --json b.json --svg b.svg
//   skiff-bench blk --runs 3 --vmm skiff --vmm qemu --json blk.json
//   skiff-bench micro --filter BM_Decode
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "tools/bench/bench_flags.h"
#include "tools/bench/blk_bench.h"
#include "tools/bench/blk_flags.h"
#include "tools/bench/blk_runner.h"
#include "tools/bench/boot_runner.h"
#include "tools/bench/micro.h"
#include "tools/bench/report.h"
#include "tools/bench/smaps.h"
#include "tools/bench/svg_plot.h"

namespace skiff::bench {
namespace {

constexpr int kExitUsage = 2;

int UsageError(const absl::Status& status) {
  std::fprintf(stderr, "skiff-bench: %s\n",
               OneLine(std::string(status.message())).c_str());
  return kExitUsage;
}

std::string TopUsage() {
  return "usage: skiff-bench boot|blk|micro [options] (--help for each)\n";
}

int Boot(const std::vector<std::string>& args) {
  absl::StatusOr<BootOptions> parsed = ParseBootFlags(args);
  if (!parsed.ok()) return UsageError(parsed.status());
  BootOptions o = *std::move(parsed);
  if (o.help) {
    std::cout << BootUsage();
    return 0;
  }
  if (absl::Status s = ResolveBootDefaults(o, CurrentHostFacts()); !s.ok()) {
    return UsageError(s);
  }
  std::optional<int64_t> khz;
  if (absl::StatusOr<std::string> cpuinfo = ReadSmallFile("/proc/cpuinfo");
      cpuinfo.ok()) {
    khz = ParseCpuinfoKhz(*cpuinfo);
  }
  BenchReport report;
  report.config = BenchConfig{.runs = o.runs,
                              .parallel = o.parallel,
                              .accel = o.accel,
                              .kernel = o.kernel,
                              .initrd = o.initrd,
                              .memory_mib = o.memory_mib,
                              .timeout_s = o.timeout_s};
  const bool tty = isatty(STDERR_FILENO) == 1;
  std::vector<VmmSpec> specs;
  for (const std::string& vmm : o.vmms) {
    specs.push_back(vmm == "qemu" ? QemuSpec(o, khz) : SkiffSpec(o));
  }
  InterleavedProgressFn progress;
  if (tty) {
    progress = [&specs](size_t vmm, int done, int total, int ok) {
      std::fprintf(stderr, "\r\033[Kskiff-bench: %s %d/%d booted (%d ok)",
                   specs[vmm].name.c_str(), done, total, ok);
      std::fflush(stderr);
    };
  }
  report.vmms =
      RunInterleaved(specs, o.runs, o.parallel, o.timeout_s, progress);
  if (tty) std::fprintf(stderr, "\r\033[K");
  std::cout << FormatTable(report);
  int rc = 0;
  if (!o.json_path.empty()) {
    if (absl::Status s = WriteFile(o.json_path, ToJson(report)); !s.ok()) {
      std::fprintf(stderr, "skiff-bench: %s\n",
                   OneLine(std::string(s.message())).c_str());
      rc = 1;
    }
  }
  if (!o.svg_path.empty()) {
    if (absl::Status s = WriteFile(o.svg_path, RenderCdfSvg(report)); !s.ok()) {
      std::fprintf(stderr, "skiff-bench: %s\n",
                   OneLine(std::string(s.message())).c_str());
      rc = 1;
    }
  }
  // Failed boots are reported above; they make the run fail too, so that a
  // CI job notices.
  for (const VmmResult& vmm : report.vmms) {
    if (OkCount(vmm) != static_cast<int>(vmm.runs.size())) rc = 1;
  }
  return rc;
}

std::optional<int64_t> HostTscKhz() {
  absl::StatusOr<std::string> cpuinfo = ReadSmallFile("/proc/cpuinfo");
  if (!cpuinfo.ok()) return std::nullopt;
  return ParseCpuinfoKhz(*cpuinfo);
}

int Blk(const std::vector<std::string>& args) {
  absl::StatusOr<BlkOptions> parsed = ParseBlkFlags(args);
  if (!parsed.ok()) return UsageError(parsed.status());
  BlkOptions o = *std::move(parsed);
  if (o.common.help) {
    std::cout << BlkUsage();
    return 0;
  }
  if (absl::Status s = ResolveBlkDefaults(o, CurrentHostFacts()); !s.ok()) {
    return UsageError(s);
  }
  TempImage temp;
  std::string image = o.image;
  if (image.empty()) {
    std::fprintf(stderr, "skiff-bench: writing a %llu MiB random image\n",
                 static_cast<unsigned long long>(o.size_bytes >> 20));
    absl::StatusOr<TempImage> made = CreateRandomImage(o.size_bytes);
    if (!made.ok()) return UsageError(made.status());
    temp = *std::move(made);
    image = temp.path();
  }
  std::error_code ec;
  const uint64_t image_bytes = std::filesystem::file_size(image, ec);
  const std::vector<BlkWorkload> workloads = DefaultBlkWorkloads(o);
  BlkReport report{
      .runs = o.common.runs,
      .seconds = o.seconds,
      .accel = o.common.accel,
      .kernel = o.common.kernel,
      .initrd = o.common.initrd,
      .image = o.image.empty() ? std::string("(temporary)") : image,
      .image_bytes = ec ? 0 : image_bytes,
      .memory_mib = o.common.memory_mib,
      .workloads = workloads};
  const std::optional<int64_t> khz = HostTscKhz();
  const bool tty = isatty(STDERR_FILENO) == 1;
  std::vector<VmmSpec> specs;
  for (const std::string& vmm : o.common.vmms) {
    specs.push_back(vmm == "qemu" ? QemuBlkSpec(o, image, workloads, khz)
                                  : SkiffBlkSpec(o, image, workloads));
    report.vmms.push_back(
        BlkVmmResult{.name = specs.back().name, .command = specs.back().argv});
  }
  // Runs alternate between the VMMs (skiff, qemu, skiff, qemu, ...) so that
  // a change in the host's load over the run hits both alike.
  for (int i = 0; i < o.common.runs; ++i) {
    for (size_t v = 0; v < specs.size(); ++v) {
      if (tty) {
        std::fprintf(stderr, "\r\033[Kskiff-bench: run %d/%d %s", i + 1,
                     o.common.runs, specs[v].name.c_str());
        std::fflush(stderr);
      }
      BlkRun run = RunBlkBoot(specs[v], workloads, o.common.timeout_s);
      run.index = i;
      report.vmms[v].runs.push_back(std::move(run));
    }
  }
  if (tty) std::fprintf(stderr, "\r\033[K");
  std::cout << FormatBlkTable(report);
  int rc = 0;
  if (!o.common.json_path.empty()) {
    if (absl::Status s = WriteFile(o.common.json_path, BlkToJson(report));
        !s.ok()) {
      std::fprintf(stderr, "skiff-bench: %s\n",
                   OneLine(std::string(s.message())).c_str());
      rc = 1;
    }
  }
  for (const BlkVmmResult& vmm : report.vmms) {
    for (const BlkRun& run : vmm.runs) {
      if (!run.ok) rc = 1;
    }
  }
  return rc;
}

int Micro(const std::vector<std::string>& args) {
  absl::StatusOr<MicroOptions> parsed = ParseMicroFlags(args);
  if (!parsed.ok()) return UsageError(parsed.status());
  MicroOptions o = *std::move(parsed);
  if (o.help) {
    std::cout << MicroUsage();
    return 0;
  }
  if (o.build_dir.empty()) {
    // build/tools/bench/skiff-bench: the build root is two levels up.
    const HostFacts host = CurrentHostFacts();
    o.build_dir =
        std::filesystem::path(host.self_dir).parent_path().parent_path();
  }
  const std::vector<std::string> exes = FindBenchmarks(o.build_dir);
  if (exes.empty()) {
    return UsageError(absl::NotFoundError(
        absl::StrCat("no *_benchmark executables under ", o.build_dir)));
  }
  std::vector<MicroResult> all;
  int rc = 0;
  for (const std::string& exe : exes) {
    std::fprintf(stderr, "skiff-bench: running %s\n", exe.c_str());
    absl::StatusOr<std::string> json = RunBenchmarkExecutable(exe, o.filter);
    absl::StatusOr<std::vector<MicroResult>> results =
        json.ok() ? ParseBenchmarkJson(*json)
                  : absl::StatusOr<std::vector<MicroResult>>(json.status());
    if (!results.ok()) {
      std::fprintf(stderr, "skiff-bench: %s\n",
                   OneLine(std::string(results.status().message())).c_str());
      rc = 1;
      continue;
    }
    const std::string base = std::filesystem::path(exe).filename().string();
    for (MicroResult& r : *results) {
      r.executable = base;
      all.push_back(std::move(r));
    }
  }
  std::cout << FormatMicroTable(all);
  return rc;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(TopUsage().c_str(), stderr);
    return kExitUsage;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  if (command == "boot") return Boot(args);
  if (command == "blk") return Blk(args);
  if (command == "micro") return Micro(args);
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << TopUsage();
    return 0;
  }
  return UsageError(absl::InvalidArgumentError(
      absl::StrCat("unknown command \"", OneLine(command),
                   "\" (expected boot, blk or micro)")));
}

}  // namespace
}  // namespace skiff::bench

int main(int argc, char** argv) { return skiff::bench::Main(argc, argv); }
