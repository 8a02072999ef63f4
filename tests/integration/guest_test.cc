// The tiny guests of tests/guests run through the real `skiff run` command
// under each backend: what they print on the serial console, and the exit
// status skiff ends with.
#include <algorithm>
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

INSTANTIATE_TEST_SUITE_P(Backends, GuestTest, ::testing::Values("kvm", "tcg"),
                         [](const auto& info) { return info.param; });

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
