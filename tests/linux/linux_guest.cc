#include "tests/linux/linux_guest.h"

#include <sys/stat.h>

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "vmm/default_guest.h"

namespace skiff::testing {

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string GuestDir() {
  return DefaultGuestDir([](const char* name) { return std::getenv(name); });
}

std::string GuestScript(const std::string& script) {
  return absl::StrCat("skiff.cmd64=", absl::Base64Escape(script));
}

void LinuxGuestTest::SetUp() {
  if (!FileExists(GuestDir() + "/vmlinux") ||
      !FileExists(GuestDir() + "/initramfs.cpio")) {
    GTEST_SKIP() << "no default guest in " << GuestDir()
                 << " (scripts/setup or scripts/prepare-guest builds it)";
  }
  if (GetParam() == "kvm") {
    const std::string probe = ProbeOutput(SKIFF_BIN);
    if (!absl::StrContains(probe, "linux=yes")) {
      GTEST_SKIP() << "this host's KVM cannot run Linux: "
                   << probe.substr(0, probe.find('\n'));
    }
  }
}

std::vector<std::string> LinuxGuestTest::Argv(
    const std::string& cmdline, std::vector<std::string> extra) const {
  std::vector<std::string> argv = {SKIFF_BIN,   "run",
                                   "--accel",   GetParam(),
                                   "--memory",  "256M",
                                   "--kernel",  GuestDir() + "/vmlinux",
                                   "--initrd",  GuestDir() + "/initramfs.cpio",
                                   "--cmdline", cmdline};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

ProcessResult LinuxGuestTest::Boot(const std::string& knobs,
                                   std::vector<std::string> extra) {
  std::string cmdline = absl::StrCat(kBaseCmdline, " ", knobs);
  if (!absl::StrContains(knobs, "skiff.exit=")) {
    absl::StrAppend(&cmdline, " skiff.exit=poweroff");
  }
  ProcessResult r = RunProcess(Argv(cmdline, std::move(extra)), kBootTimeout);
  EXPECT_FALSE(r.timed_out) << "console:\n" << r.out << "\nstderr:\n" << r.err;
  return r;
}

}  // namespace skiff::testing
