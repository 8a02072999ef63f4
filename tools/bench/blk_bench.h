// `skiff-bench blk`: block I/O inside the guest, skiff side by side with
// QEMU on the same image, kernel and accelerator. This file holds the pure
// parts: the workloads, the guest script (run by the init through
// skiff.cmd64), the VMM command lines, the parser for skiff-iobench's result
// line, and the table/JSON writers. blk_runner.h boots the VMs.
//
//   std::vector<BlkWorkload> w = DefaultBlkWorkloads(options);
//   VmmSpec spec = SkiffBlkSpec(options, image, w, std::nullopt);
//   std::optional<IobenchResult> r = ParseIobenchLine(console_line);
//   std::cout << FormatBlkTable(report);
#ifndef SKIFF_TOOLS_BENCH_BLK_BENCH_H_
#define SKIFF_TOOLS_BENCH_BLK_BENCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/bench/blk_flags.h"
#include "tools/bench/boot_runner.h"

namespace skiff::bench {

// One skiff-iobench invocation inside the guest.
struct BlkWorkload {
  std::string name;  // table row and JSON key, e.g. "randread-4k-qd32"
  std::string mode;  // "randread", "seqread"
  uint64_t bs = 0;
  int qd = 1;
};

// randread 4 KiB at --qd, then seqread 1 MiB at QD 1.
std::vector<BlkWorkload> DefaultBlkWorkloads(const BlkOptions& options);

// The shell script the guest runs: one skiff-iobench per workload on
// /dev/vda, each for `seconds`; its status is non-zero if any failed.
std::string GuestScript(const std::vector<BlkWorkload>& workloads,
                        double seconds);

// The kernel command line: skiff's default, the script as skiff.cmd64, and
// skiff.exit=reboot (both VMMs exit on the guest's reset; see
// kInitKnobs for why not power-off), then `extra`, then options.append.
std::string BlkCmdline(const BlkOptions& options,
                       const std::vector<BlkWorkload>& workloads,
                       std::string_view extra);

// The boot command lines with the image attached: skiff with --disk
// path=IMG,direct=on; QEMU with -drive
// format=raw,aio=io_uring,cache=none on a virtio-blk-device (cache=none is
// O_DIRECT too, so neither goes through the host page cache).
VmmSpec SkiffBlkSpec(const BlkOptions& options, const std::string& image,
                     const std::vector<BlkWorkload>& workloads);
VmmSpec QemuBlkSpec(const BlkOptions& options, const std::string& image,
                    const std::vector<BlkWorkload>& workloads,
                    std::optional<int64_t> tsc_khz);

// "skiff-iobench randread iops=12345 mbps=48.2 ios=61725 seconds=5.000 ..."
struct IobenchResult {
  std::string mode;
  double iops = 0;
  double mbps = 0;  // 10^6 bytes per second
  uint64_t ios = 0;
  double seconds = 0;
};
// nullopt unless `line` contains such a result (the console may prefix it
// with kernel output on the same line).
std::optional<IobenchResult> ParseIobenchLine(std::string_view line);

// One boot: a result per workload that printed one (in workload order).
struct BlkRun {
  int index = 0;
  bool ok = false;
  std::string failure;  // why !ok, one line
  std::vector<std::optional<IobenchResult>> results;
  int64_t wall_us = 0;  // spawn to exit
  std::string last_console_line;
  std::string last_stderr_line;
};

struct BlkVmmResult {
  std::string name;
  std::vector<std::string> command;
  std::vector<BlkRun> runs;
};

struct BlkReport {
  int runs = 0;
  double seconds = 0;
  std::string accel;
  std::string kernel;
  std::string initrd;
  std::string image;
  uint64_t image_bytes = 0;
  uint64_t memory_mib = 0;
  std::vector<BlkWorkload> workloads;
  std::vector<BlkVmmResult> vmms;
};

// Values of workload `w` over the successful runs: IOPS or MB/s.
std::vector<double> BlkValues(const BlkVmmResult& vmm, size_t w, bool mbps);

// min/p50/max IOPS and MB/s per workload and VMM, failures and, with two
// VMMs, vmms[0]/vmms[1] of the p50s.
std::string FormatBlkTable(const BlkReport& report);
std::string BlkToJson(const BlkReport& report);

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_BLK_BENCH_H_
