// Linux end to end: the default microVM (scripts/prepare-guest) booted by the
// real `skiff run` under each backend: init reached, every vCPU online, a
// command typed on the serial console, and the exit status of the guest's
// poweroff and reboot. A backend or guest image this host lacks skips with
// the reason.
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/subprocess.h"
#include "tests/linux/linux_guest.h"

namespace skiff::testing {
namespace {

using ::testing::HasSubstr;

class LinuxBootTest : public LinuxGuestTest {};

TEST_P(LinuxBootTest, ReachesInitAndPowersOff) {
  ProcessResult r = Boot("skiff.check=boot skiff.exit=poweroff");
  EXPECT_THAT(r.out, HasSubstr("skiff-init: ready"));
  EXPECT_THAT(r.out, HasSubstr("skiff-init: check boot status 0"));
  EXPECT_THAT(r.out, HasSubstr("reboot: Power down"));
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("boot-timer: guest boot time"));
}

TEST_P(LinuxBootTest, RebootExitsZero) {
  ProcessResult r = Boot("skiff.check=boot skiff.exit=reboot");
  EXPECT_THAT(r.out, HasSubstr("reboot: Restarting system"));
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
}

TEST_P(LinuxBootTest, CheckStatusReachesTheHostThroughDebugExit) {
  // skiff.exit=debug writes the check's status to port 0xf4: a failing check
  // (a vCPU count the VM does not have) exits (status << 1) | 1.
  ProcessResult r = Boot("skiff.check=smp skiff.cpus=3 skiff.exit=debug");
  EXPECT_THAT(r.out, HasSubstr("smp: 1 online"));
  EXPECT_EQ(r.exit_status, (1 << 1) | 1) << r.out << r.err;
}

TEST_P(LinuxBootTest, SeesEveryVcpu) {
  // Eight vCPUs, each on its own host thread under tcg (more threads than
  // a 2-core CI machine has cores).
  ProcessResult r =
      Boot("skiff.check=smp skiff.cpus=8 skiff.exit=poweroff", {"--cpus", "8"});
  EXPECT_THAT(r.out, HasSubstr("smp: Brought up 1 node, 8 CPUs"));
  EXPECT_THAT(r.out, HasSubstr("smp: 8 online"));
  EXPECT_THAT(r.out, HasSubstr("skiff-init: check smp status 0"));
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
}

TEST_P(LinuxBootTest, NoKernelArgumentBootsTheDefaultShell) {
  // What a newcomer types: `skiff run`, then commands at the shell prompt.
  Subprocess p;
  ASSERT_TRUE(p.Start({SKIFF_BIN, "run", "--accel", GetParam()}).ok());
  ASSERT_TRUE(p.WaitForOutput("skiff# ", kBootTimeout))
      << "console:\n"
      << p.out() << "\nstderr:\n"
      << p.err();
  size_t mark = p.out().size();
  p.Write("echo answer=$((6*7)) cpus=$(grep -c ^processor /proc/cpuinfo)\n");
  EXPECT_TRUE(p.WaitForOutput("answer=42 cpus=1", absl::Seconds(60), mark))
      << p.out();
  p.Write("poweroff -f\n");
  ProcessResult r = p.Wait(absl::Seconds(60));
  EXPECT_FALSE(r.timed_out) << r.out;
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("booting the default microVM from"));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(" with ", GetParam(), " (")));
}

TEST_P(LinuxBootTest, DebianCloudKernelBootsWithItsModules) {
  const std::string dir = GuestDir() + "/debian";
  if (!FileExists(dir + "/vmlinuz") || !FileExists(dir + "/initramfs.cpio")) {
    GTEST_SKIP() << "no Debian kernel in " << dir
                 << " (scripts/prepare-guest --debian fetches it)";
  }
  ProcessResult r = RunProcess(
      {SKIFF_BIN, "run", "--accel", GetParam(), "--memory", "512M", "--kernel",
       dir + "/vmlinuz", "--initrd", dir + "/initramfs.cpio", "--cmdline",
       absl::StrCat(kBaseCmdline, " skiff.check=boot skiff.exit=poweroff")},
      absl::Seconds(300));
  EXPECT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("skiff-init: check boot status 0"));
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
}

INSTANTIATE_TEST_SUITE_P(Accel, LinuxBootTest, ::testing::Values("tcg", "kvm"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace skiff::testing
