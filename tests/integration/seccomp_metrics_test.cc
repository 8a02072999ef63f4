// `skiff run --seccomp` and `--metrics` end to end with the tiny guests:
// the per-thread filters (enforce is the default) let a guest that uses
// ports, MMIO, interrupts and a second vCPU run to completion, every thread
// of a running skiff is confined, and a run with --metrics leaves parseable
// Firecracker-style JSON lines.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/subprocess.h"
#include "tests/integration/thread_seccomp.h"

namespace skiff::testing {
namespace {

using ::testing::HasSubstr;

std::string Guest(const std::string& name) {
  return absl::StrCat(SKIFF_GUEST_DIR, "/", name, ".elf");
}

ProcessResult RunGuest(const std::string& guest,
                       std::vector<std::string> extra) {
  std::vector<std::string> argv = {SKIFF_BIN, "run", "--kernel", Guest(guest),
                                   "--accel", "tcg", "--memory", "64M"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ProcessResult r = RunProcess(argv, absl::Seconds(60));
  EXPECT_FALSE(r.timed_out) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
  return r;
}

// A seccomp kill shows as SIGSYS; say so instead of a bare status.
void ExpectNotKilled(const ProcessResult& r) {
  EXPECT_EQ(r.term_signal, 0)
      << "killed by signal " << r.term_signal
      << (r.term_signal == 31 ? " (SIGSYS: a syscall outside a seccomp "
                                "allow-list; rerun with --seccomp log and "
                                "look at the audit log / dmesg)"
                              : "")
      << "\nstderr:\n"
      << r.err;
}

TEST(SeccompGuest, EnforceRunsGuestsThatUseEveryExitKind) {
  for (const char* guest : {"hello", "io_roundtrip", "irq"}) {
    ProcessResult r = RunGuest(guest, {"--seccomp", "enforce"});
    ExpectNotKilled(r);
    EXPECT_EQ(r.exit_status, 0) << guest << "\n" << r.out << r.err;
  }
  // Two vCPUs (INIT/SIPI from one vCPU thread to the other), and the
  // single-thread round-robin mode with its own "vcpus" thread.
  ProcessResult r = RunGuest("smp", {"--cpus", "2", "--seccomp", "enforce"});
  ExpectNotKilled(r);
  EXPECT_THAT(r.out, HasSubstr("ap up"));
  r = RunGuest("smp", {"--cpus", "2", "--tcg-threads", "single", "--seccomp",
                       "enforce"});
  ExpectNotKilled(r);
  EXPECT_THAT(r.out, HasSubstr("ap up"));
}

TEST(SeccompGuest, EveryThreadOfARunningVmIsFiltered) {
  // The smp guest with one vCPU waits 2 to 3 guest-visible seconds for an
  // AP that never comes, then exits 11: a VM that runs long enough to look
  // at, with every kind of thread skiff starts: vcpu0, the irqchip's
  // "timers" (tcg), the I/O loop (--rng), the console input (stdin is a
  // pipe) and output, "metrics", "api" (--api-socket) and the main thread.
  const std::string dir = ::testing::TempDir();
  const std::string sock = absl::StrCat(dir, "/skiff-threads-", getpid());
  const std::string metrics = sock + ".metrics";
  std::remove(sock.c_str());
  Subprocess p;
  ASSERT_TRUE(
      p.Start({SKIFF_BIN, "run", "--kernel", Guest("smp"), "--accel", "tcg",
               "--memory", "64M", "--cpus", "1", "--seccomp", "enforce",
               "--rng", "--metrics", metrics, "--api-socket", sock})
          .ok());
  // Threads confine themselves as they start, the main thread once all
  // exist; poll until that has happened (or the guest exits first).
  std::map<std::string, ThreadSeccomp> threads;
  bool all_filtered = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!all_filtered && absl::Now() < deadline) {
    threads = ThreadSeccompModes(p.pid());
    std::vector<std::string> names;
    all_filtered = !threads.empty();
    for (const auto& [tid, t] : threads) {
      names.push_back(t.name);
      if (t.mode != 2) all_filtered = false;
    }
    for (const char* want : {"vcpu0", "timers", "io", "console", "console-out",
                             "metrics", "api"}) {
      if (std::find(names.begin(), names.end(), want) == names.end()) {
        all_filtered = false;
      }
    }
    if (!all_filtered) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(all_filtered)
      << "threads (Seccomp 2 = filter): " << DescribeThreads(threads);
  ProcessResult r = p.Wait(absl::Seconds(60));
  ExpectNotKilled(r);
  EXPECT_EQ(r.exit_status, 11) << r.err;  // debug-exit 5: no AP came up
  std::remove(metrics.c_str());
}

TEST(SeccompGuest, LogAndOffModesRunToo) {
  for (const char* mode : {"log", "off"}) {
    ProcessResult r = RunGuest("hello", {"--seccomp", mode});
    ExpectNotKilled(r);
    EXPECT_EQ(r.exit_status, 0) << mode << "\n" << r.err;
  }
  ProcessResult r = RunGuest("hello", {"--seccomp", "strict"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("--seccomp"));
}

TEST(MetricsGuest, RunWritesParseableLineWithExitCounters) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/skiff-metrics-", getpid());
  std::remove(path.c_str());
  ProcessResult r = RunGuest("io_roundtrip", {"--metrics", path});
  ExpectNotKilled(r);
  ASSERT_EQ(r.exit_status, 0) << r.err;
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_FALSE(lines.empty()) << "no metrics line in " << path;
  // The last line is written at exit, after the guest's accesses.
  nlohmann::json j = nlohmann::json::parse(lines.back());
  EXPECT_GT(j["utc_timestamp_ms"].get<int64_t>(), 0);
  const nlohmann::json& vcpu = j["vcpu"];
  EXPECT_GT(vcpu["exits"].get<uint64_t>(), 0u) << lines.back();
  EXPECT_GT(vcpu["exit_io_out"].get<uint64_t>(), 0u) << lines.back();
  EXPECT_GT(vcpu["exit_mmio_read"].get<uint64_t>() +
                vcpu["exit_mmio_write"].get<uint64_t>(),
            0u)
      << lines.back();
  EXPECT_TRUE(j["vcpu0"].is_object());
  std::remove(path.c_str());
}

TEST(MetricsGuest, UnwritablePathIsAnError) {
  ProcessResult r = RunGuest("hello", {"--metrics", "/nonexistent-dir/m"});
  EXPECT_NE(r.exit_status, 0);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent-dir/m"));
}

}  // namespace
}  // namespace skiff::testing
