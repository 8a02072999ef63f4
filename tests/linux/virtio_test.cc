// Linux end to end with virtio devices: the default microVM booted by the
// real `skiff run` with --disk and --rng, checked from inside the guest
// against the host's view of the same files.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/subprocess.h"
#include "tests/linux/linux_guest.h"

namespace skiff::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A file under the test's temporary directory, removed at the end.
class TempImage {
 public:
  TempImage(const std::string& name, size_t size, uint32_t seed)
      : path_(absl::StrCat(::testing::TempDir(), "/", name, ".", getpid())) {
    std::mt19937 rng(seed);
    std::string data(size, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    std::ofstream(path_, std::ios::binary) << data;
  }
  ~TempImage() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::string Read() const {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
};

std::string HostSha256(const std::string& path) {
  ProcessResult r = RunProcess({"/usr/bin/sha256sum", path}, absl::Seconds(30));
  return r.out.substr(0, 64);
}

class VirtioLinuxTest : public LinuxGuestTest {};

TEST_P(VirtioLinuxTest, GuestChecksumOfADiskEqualsTheHosts) {
  TempImage disk("disk", 6 << 20, 1);
  // Both ways the guest may find the device: the ACPI DSDT (default) and
  // virtio_mmio.device= on the command line (added with acpi=off; such a
  // guest cannot power off through ACPI, so it reboots).
  for (const char* acpi : {"", "acpi=off skiff.exit=reboot"}) {
    ProcessResult r =
        Boot(absl::StrCat(acpi, " ", GuestScript("sha256sum /dev/vda")),
             {"--disk", absl::StrCat("path=", disk.path(), ",id=data0")});
    EXPECT_THAT(r.out,
                HasSubstr(absl::StrCat(HostSha256(disk.path()), "  /dev/vda")))
        << acpi << "\n"
        << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("check cmd64 status 0"));
    EXPECT_EQ(r.exit_status, 0);
  }
}

TEST_P(VirtioLinuxTest, GuestWritesLandInTheHostFile) {
  TempImage disk("rw", 4 << 20, 2);
  TempImage direct("direct", 4 << 20, 3);
  // Pattern at 1 MiB on each disk; the serial number is the --disk id.
  ProcessResult r = Boot(
      GuestScript("cat /sys/block/vda/serial; echo;"
                  "for d in vda vdb; do"
                  "  printf 'skiff-%s-was-here' $d |"
                  "    dd of=/dev/$d bs=512 seek=2048 conv=fsync 2>/dev/null"
                  "    || exit 1;"
                  "done; echo written"),
      {"--disk", absl::StrCat("path=", disk.path(), ",id=serial-abc"), "--disk",
       absl::StrCat("path=", direct.path(), ",direct=on")});
  EXPECT_THAT(r.out, HasSubstr("serial-abc"));
  EXPECT_THAT(r.out, HasSubstr("check cmd64 status 0")) << r.out << r.err;
  EXPECT_EQ(disk.Read().substr(1 << 20, 18), "skiff-vda-was-here");
  EXPECT_EQ(direct.Read().substr(1 << 20, 18), "skiff-vdb-was-here");
}

TEST_P(VirtioLinuxTest, ReadOnlyDiskRefusesWritesAndStaysUnchanged) {
  TempImage disk("ro", 2 << 20, 4);
  const std::string before = HostSha256(disk.path());
  ProcessResult r =
      Boot(GuestScript("cat /sys/block/vda/ro;"
                       "if echo x | dd of=/dev/vda conv=fsync 2>/dev/null;"
                       "then echo write-accepted; else echo write-refused; fi"),
           {"--disk", absl::StrCat("path=", disk.path(), ",readonly=on")});
  EXPECT_THAT(r.out, HasSubstr("write-refused")) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("write-accepted")));
  EXPECT_EQ(HostSha256(disk.path()), before);
}

TEST_P(VirtioLinuxTest, DataSurvivesKillRightAfterTheGuestsFsync) {
  TempImage disk("durable", 4 << 20, 5);
  Subprocess p;
  ASSERT_TRUE(
      p.Start(Argv(absl::StrCat(
                       kBaseCmdline, " ",
                       GuestScript("head -c 65536 /dev/zero | tr '\\0' D |"
                                   " dd of=/dev/vda bs=65536 seek=16"
                                   " conv=fsync 2>/dev/null &&"
                                   " echo fsync-returned; sleep 600")),
                   {"--disk", absl::StrCat("path=", disk.path())}))
          .ok());
  ASSERT_TRUE(p.WaitForOutput("fsync-returned", kBootTimeout))
      << p.out() << p.err();
  p.Kill(SIGKILL);
  ProcessResult r = p.Wait(absl::Seconds(30));
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_EQ(disk.Read().substr(1 << 20, 65536), std::string(65536, 'D'));
}

TEST_P(VirtioLinuxTest, RngFeedsTheGuestsHwrng) {
  ProcessResult r = Boot(
      GuestScript("cat /sys/class/misc/hw_random/rng_current;"
                  "n=$(dd if=/dev/hwrng bs=64 count=4 2>/dev/null | wc -c);"
                  "echo hwrng-bytes=$n; [ $n = 256 ]"),
      {"--rng"});
  EXPECT_THAT(r.out, HasSubstr("virtio_rng")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("hwrng-bytes=256"));
  EXPECT_THAT(r.out, HasSubstr("check cmd64 status 0"));
}

TEST_P(VirtioLinuxTest, MissingDiskIsOneClearError) {
  ProcessResult r = RunProcess(
      Argv(kBaseCmdline, {"--disk", "path=/nonexistent/disk.img,id=root"}),
      absl::Seconds(30));
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--disk id=root"));
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/disk.img"));
}

INSTANTIATE_TEST_SUITE_P(Accel, VirtioLinuxTest,
                         ::testing::Values("tcg", "kvm"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace skiff::testing
