// Shared by the Linux end-to-end tests: a gtest fixture, parameterized by
// backend ("tcg", "kvm"), that boots the default microVM (scripts/
// prepare-guest) through the real `skiff run`, and skips with the reason
// when this host lacks the guest images or a KVM that can run Linux.
//
//   class MyTest : public LinuxGuestTest {};
//   TEST_P(MyTest, Works) {
//     ProcessResult r = Boot(GuestScript("echo hi"), {"--rng"});
//     EXPECT_THAT(r.out, HasSubstr("hi"));
//   }
//   INSTANTIATE_TEST_SUITE_P(Accel, MyTest, ::testing::Values("tcg", "kvm"),
//                            [](const auto& info) { return info.param; });
#ifndef SKIFF_TESTS_LINUX_LINUX_GUEST_H_
#define SKIFF_TESTS_LINUX_LINUX_GUEST_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/integration/subprocess.h"

namespace skiff::testing {

inline constexpr char kBaseCmdline[] =
    "console=ttyS0 reboot=k panic=-1 pci=off";
// Generous: a loaded 2-core CI machine boots in seconds, not minutes.
inline constexpr absl::Duration kBootTimeout = absl::Seconds(120);

bool FileExists(const std::string& path);
// $SKIFF_CACHE/default (see vmm/default_guest.h).
std::string GuestDir();
// "skiff.cmd64=<base64>": the guest's init runs `script` as its check and
// prints "skiff-init: check cmd64 status N".
std::string GuestScript(const std::string& script);

class LinuxGuestTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;

  // skiff run --accel <param> --memory 256M --kernel/--initrd <default
  // guest> --cmdline <cmdline> <extra...>
  std::vector<std::string> Argv(const std::string& cmdline,
                                std::vector<std::string> extra = {}) const;
  // Runs to completion: kBaseCmdline plus `knobs`, powering off at the end
  // unless `knobs` says otherwise.
  ProcessResult Boot(const std::string& knobs,
                     std::vector<std::string> extra = {});
};

}  // namespace skiff::testing

#endif  // SKIFF_TESTS_LINUX_LINUX_GUEST_H_
