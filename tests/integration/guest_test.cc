// The tiny guests of tests/guests run through the real `skiff run` command
// under each backend: what they print on the serial console, and the exit
// status skiff ends with.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/subprocess.h"

namespace skiff::testing {
namespace {

using ::testing::HasSubstr;

std::string Guest(const std::string& name) {
  return absl::StrCat(SKIFF_GUEST_DIR, "/", name, ".elf");
}

class GuestTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "kvm" &&
        !absl::StrContains(ProbeOutput(SKIFF_BIN), "kvm=usable")) {
      std::string first_line =
          ProbeOutput(SKIFF_BIN).substr(0, ProbeOutput(SKIFF_BIN).find('\n'));
      GTEST_SKIP() << "KVM is not usable on this host: " << first_line;
    }
  }

  ProcessResult Run(const std::string& guest,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {SKIFF_BIN,    "run",     "--kernel",
                                     Guest(guest), "--accel", GetParam(),
                                     "--memory",   "64M"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ProcessResult r = RunProcess(argv, absl::Seconds(60));
    EXPECT_FALSE(r.timed_out) << "stdout:\n" << r.out << "\nstderr:\n" << r.err;
    return r;
  }
};

TEST_P(GuestTest, HelloPrintsAndResetExitsZero) {
  ProcessResult r = Run("hello");
  EXPECT_THAT(r.out, HasSubstr("hello from a skiff guest"));
  EXPECT_EQ(r.exit_status, 0) << r.err;
}

TEST_P(GuestTest, DebugExitCodeBecomesExitStatus) {
  ProcessResult r = Run("exit_code");
  EXPECT_EQ(r.exit_status, (0x2a << 1) | 1) << r.err;
}

TEST_P(GuestTest, TripleFaultIsAFailure) {
  ProcessResult r = Run("triple_fault");
  EXPECT_EQ(r.exit_status, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("triple fault"));
}

TEST_P(GuestTest, BootParamsCarryCommandLineAndE820) {
  ProcessResult r = Run("boot_params", {"--cmdline", "skiff-test marker=42"});
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("cmdline=skiff-test marker=42"));
  EXPECT_THAT(r.out, HasSubstr("hdrs=yes"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("e820=0+[3-9]"));
}

TEST_P(GuestTest, PortAndMmioRoundTrips) {
  ProcessResult r = Run("io_roundtrip", {"--log-level", "info"});
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("io ok"));
  EXPECT_THAT(r.err, HasSubstr("boot-timer"));
}

TEST_P(GuestTest, SerialToFile) {
  std::string path = absl::StrCat(::testing::TempDir(), "/serial-", GetParam());
  ProcessResult r = Run("hello", {"--serial", "file=" + path});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("hello from")));
  FILE* f = fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buf[256] = {};
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  EXPECT_THAT(std::string(buf, n), HasSubstr("hello from a skiff guest"));
}

TEST_P(GuestTest, BreakpointAtCpl0) {
  ProcessResult r = Run("breakpoint");
  if (GetParam() == "kvm" &&
      !absl::StrContains(ProbeOutput(SKIFF_BIN), "linux=yes")) {
    // A shadow-paging KVM cannot emulate INT3 at CPL0: skiff must say so
    // with the exit reason, RIP and the instruction bytes.
    EXPECT_EQ(r.exit_status, 6) << r.err;
    EXPECT_THAT(r.err, HasSubstr("internal error"));
    EXPECT_THAT(r.err, HasSubstr("insn=cc"));
    return;
  }
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("breakpoint ok"));
}

TEST_P(GuestTest, DeviceInterruptReachesTheGuest) {
  ProcessResult r = Run("irq");
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("irq4 ok"));
}

TEST_P(GuestTest, SecondVcpuStartsWithInitAndSipi) {
  ProcessResult r = Run("smp", {"--cpus", "2"});
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("ap up"));
}

TEST_P(GuestTest, SipiToAMissingVcpuStartsNothing) {
  ProcessResult r = Run("smp", {"--cpus", "1"});
  EXPECT_EQ(r.exit_status, (5 << 1) | 1) << r.out << r.err;
}

TEST_P(GuestTest, MinimalVirtqueueDriverReadsADisk) {
  // Under KVM the guest's QueueNotify write is an ioeventfd; under tcg a
  // bus write: the same driver must work on both.
  const std::string image =
      absl::StrCat(::testing::TempDir(), "/virtio_blk_guest.", getpid());
  {
    std::string data(1 << 20, '\0');
    data.replace(0, 8, "SKIFFBLK");
    std::ofstream(image, std::ios::binary) << data;
  }
  ProcessResult r = Run("virtio_blk", {"--disk", "path=" + image});
  ::unlink(image.c_str());
  // "SKIFFBLK" read as a little-endian qword.
  EXPECT_THAT(r.out, HasSubstr("blk sector0=4b4c424646494b53")) << r.err;
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
}

INSTANTIATE_TEST_SUITE_P(Backends, GuestTest, ::testing::Values("kvm", "tcg"),
                         [](const auto& info) { return info.param; });

// --icount: the same guest twice gives the same console output and the
// same instruction count (the "icount instructions=N" line at exit).
std::string IcountLine(const std::string& err) {
  const size_t at = err.find("icount instructions=");
  if (at == std::string::npos) return "";
  return err.substr(at, err.find('\n', at) - at);
}

class IcountGuestTest : public ::testing::TestWithParam<std::string> {};

TEST_P(IcountGuestTest, TwoRunsSameOutputAndInstructionCount) {
  std::vector<std::string> argv = {
      SKIFF_BIN,  "run",      "--kernel", Guest(GetParam()),
      "--icount", "--memory", "64M"};
  if (GetParam() == "smp") argv.insert(argv.end(), {"--cpus", "2"});
  ProcessResult a = RunProcess(argv, absl::Seconds(60));
  ProcessResult b = RunProcess(argv, absl::Seconds(60));
  ASSERT_FALSE(a.timed_out || b.timed_out) << a.err << b.err;
  EXPECT_EQ(a.exit_status, 0) << a.out << a.err;
  EXPECT_THAT(a.err, ::testing::ContainsRegex("icount instructions=[1-9]"));
  EXPECT_EQ(IcountLine(a.err), IcountLine(b.err));
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.exit_status, b.exit_status);
}

INSTANTIATE_TEST_SUITE_P(Guests, IcountGuestTest,
                         ::testing::Values("hello", "irq", "smp",
                                           "io_roundtrip", "lapic_timer"),
                         [](const auto& info) { return info.param; });

TEST(IcountGuest, HaltedTimeIsSkippedNotExecuted) {
  ProcessResult r =
      RunProcess({SKIFF_BIN, "run", "--kernel", Guest("lapic_timer"),
                  "--icount", "--memory", "64M"},
                 absl::Seconds(60));
  ASSERT_FALSE(r.timed_out) << r.err;
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  // Ten 1 ms ticks: the TSC (1 GHz) passed 10 ms of guest time...
  const size_t at = r.out.find("timer ok tsc=");
  ASSERT_NE(at, std::string::npos) << r.out << r.err;
  const uint64_t tsc = std::stoull(r.out.substr(at + 13, 16), nullptr, 16);
  EXPECT_GE(tsc, 10'000'000u);
  EXPECT_LT(tsc, 11'000'000u);
  // ...while the guest executed a few thousand instructions: the halts
  // were skipped, not spun through.
  const std::string line = IcountLine(r.err);
  ASSERT_FALSE(line.empty()) << r.err;
  const uint64_t n = std::stoull(line.substr(line.find('=') + 1));
  EXPECT_LT(n, 1'000'000u);
}

TEST(SkiffCli, IcountWithKvmIsRefused) {
  auto r = RunProcess({SKIFF_BIN, "run", "--kernel", Guest("hello"), "--icount",
                       "--accel", "kvm"},
                      absl::Seconds(10));
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("--icount"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(SkiffCli, BadFlagIsOneLineAndStatusTwo) {
  auto r =
      RunProcess({SKIFF_BIN, "run", "--kernel", Guest("hello"), "--cpus", "0"},
                 absl::Seconds(10));
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("--cpus"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(SkiffCli, MissingKernelNamesTheFile) {
  auto r = RunProcess(
      {SKIFF_BIN, "run", "--kernel", "/nonexistent/vmlinux", "--accel", "tcg"},
      absl::Seconds(10));
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/vmlinux"));
}

TEST(SkiffCli, GarbageKernelIsRefused) {
  std::string path = absl::StrCat(::testing::TempDir(), "/garbage-kernel");
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("this is not a kernel image at all", f);
  fclose(f);
  auto r = RunProcess({SKIFF_BIN, "run", "--kernel", path, "--accel", "tcg"},
                      absl::Seconds(10));
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr(path));
}

TEST(SkiffCli, HelpDocumentsEveryFlag) {
  auto r = RunProcess({SKIFF_BIN, "run", "--help"}, absl::Seconds(10));
  EXPECT_EQ(r.exit_status, 0);
  for (const char* flag : {"--kernel", "--initrd", "--cmdline", "--cpus",
                           "--memory", "--accel", "--serial"}) {
    EXPECT_THAT(r.out, HasSubstr(flag));
  }
}

}  // namespace
}  // namespace skiff::testing
