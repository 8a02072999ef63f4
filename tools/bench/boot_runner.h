// Runs boots of one VMM and times them: spawns the VMM with posix_spawn
// (console and stderr on pipes, stdin /dev/null), P at a time, and watches
// the pipes and a pidfd with poll(2). Times are microseconds from just
// before posix_spawn. RSS is sampled from /proc/<pid>/smaps the moment init
// is seen. Several VMMs take turns (RunInterleaved).
//
//   VmmSpec spec = SkiffSpec(options);
//   VmmResult r = RunBatch(spec, options.runs, options.parallel,
//                          options.timeout_s, nullptr);
#ifndef SKIFF_TOOLS_BENCH_BOOT_RUNNER_H_
#define SKIFF_TOOLS_BENCH_BOOT_RUNNER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tools/bench/bench_flags.h"
#include "tools/bench/results.h"

namespace skiff::bench {

// skiff's default kernel command line (vmm/) plus the init's knobs: run the
// "boot" check, then reboot, which both VMMs turn into a clean exit (skiff
// on reset; QEMU with -no-reboot). Power-off cannot be used: the microVM
// kernel runs without ACPI, so "poweroff -f" only halts the CPU.
inline constexpr char kBaseCmdline[] =
    "console=ttyS0 reboot=k panic=-1 pci=off nomodule";
inline constexpr char kInitKnobs[] = "skiff.check=boot skiff.exit=reboot";

struct VmmSpec {
  std::string name;
  std::vector<std::string> argv;
  uint64_t memory_bytes = 0;  // the guest-RAM mapping size to leave out of RSS
};

VmmSpec SkiffSpec(const BootOptions& options);
// `tsc_khz`: the host TSC rate for tsc_early_khz=, which QEMU TCG needs on a
// loaded host (see scripts/qemu-boot); nullopt leaves it out.
VmmSpec QemuSpec(const BootOptions& options, std::optional<int64_t> tsc_khz);

// "cpu MHz" of the first CPU in /proc/cpuinfo text, in kHz.
std::optional<int64_t> ParseCpuinfoKhz(std::string_view cpuinfo);

// Called after each finished boot: (finished, total, ok so far).
using ProgressFn = std::function<void(int done, int total, int ok)>;

// Runs `runs` boots of `spec`, at most `parallel` at a time. Boots that time
// out, exit non-zero or never reach init come back with ok=false and a
// reason; the batch itself does not fail.
VmmResult RunBatch(const VmmSpec& spec, int runs, int parallel,
                   double timeout_s, const ProgressFn& progress);

// Called after each wave: (index into specs, finished, total, ok so far).
using InterleavedProgressFn =
    std::function<void(size_t vmm, int done, int total, int ok)>;

// Runs `runs` boots of every VMM in `specs`, taking turns a wave of
// `parallel` boots at a time (the first VMM's wave, then the second's, ...),
// so that a change in the host's speed during the run reaches every VMM
// alike and their ratios stay comparable. A VMM's batch_seconds counts as
// one continuous batch of its boots would: each wave from its first spawn
// until its boots have exited, the last wave until its last init.
std::vector<VmmResult> RunInterleaved(const std::vector<VmmSpec>& specs,
                                      int runs, int parallel, double timeout_s,
                                      const InterleavedProgressFn& progress);

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_BOOT_RUNNER_H_
