// The data skiff-bench collects: one BootRun per boot, grouped per VMM, plus
// the configuration of the whole run. Plain values shared by the runner and
// the writers (table, JSON, SVG).
//
//   BenchReport report;
//   report.vmms.push_back(VmmResult{.name = "skiff"});
//   std::optional<double> t = PhaseValue(run, Phase::kInit);
#ifndef SKIFF_TOOLS_BENCH_RESULTS_H_
#define SKIFF_TOOLS_BENCH_RESULTS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/bench/stats.h"

namespace skiff::bench {

// Milestones of one boot, each timed from just before the VMM was spawned.
enum class Phase {
  kGuestEntry,  // vCPU 0 first enters the guest (skiff's log; not QEMU)
  kConsole,     // the first complete console line (the kernel's banner)
  kInit,        // "skiff-init: ready" on the console
  kExit,        // the VMM process exited
};
inline constexpr std::array<Phase, 4> kAllPhases = {
    Phase::kGuestEntry, Phase::kConsole, Phase::kInit, Phase::kExit};

// "guest_entry", "console", "init", "exit": JSON keys and table rows.
std::string_view PhaseName(Phase phase);
// A longer label for plots.
std::string_view PhaseTitle(Phase phase);

struct BootRun {
  int index = 0;
  bool ok = false;
  std::string failure;           // why !ok, one line
  std::optional<int> exit_code;  // the VMM's exit status, when it exited
  std::optional<int> signal;     // the signal that ended it, if any
  std::optional<int64_t> guest_entry_us;
  std::optional<int64_t> first_byte_us;
  std::optional<int64_t> console_us;
  std::optional<int64_t> init_us;
  std::optional<int64_t> exit_us;
  std::optional<int64_t> boot_timer_us;  // skiff's own boot-timer figure
  std::optional<uint64_t> rss_kib;       // VMM RSS beyond guest RAM
  std::optional<uint64_t> total_rss_kib;
  // The part of rss_kib in skiff's interpreter caches (tools/bench/smaps.h),
  // when it has any.
  std::optional<uint64_t> tcg_rss_kib;
  std::string last_console_line;
  std::string last_stderr_line;
};

struct VmmResult {
  std::string name;                  // "skiff" or "qemu"
  std::vector<std::string> command;  // argv of one boot
  std::vector<BootRun> runs;
  // Seconds from the first spawn of this VMM's batch to the last init seen.
  double batch_seconds = 0;
};

struct BenchConfig {
  int runs = 0;
  int parallel = 1;
  std::string accel;
  std::string kernel;
  std::string initrd;
  uint64_t memory_mib = 0;
  double timeout_s = 0;
};

struct BenchReport {
  BenchConfig config;
  std::vector<VmmResult> vmms;
};

// The value of `phase` in a run (microseconds), if it was observed.
std::optional<double> PhaseValue(const BootRun& run, Phase phase);
// Values of `phase` over the successful runs of `vmm`.
std::vector<double> PhaseValues(const VmmResult& vmm, Phase phase);
// RSS beyond guest RAM (KiB), and its part in skiff's interpreter caches,
// over the successful runs that sampled it.
std::vector<double> RssValues(const VmmResult& vmm);
std::vector<double> TcgRssValues(const VmmResult& vmm);
int OkCount(const VmmResult& vmm);
// Fully booted VMs (init reached) per second with the configured parallelism;
// 0 when nothing booted.
double CreationRate(const VmmResult& vmm);

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_RESULTS_H_
