// Linux under --icount (deterministic interpreter, tcg only): the default
// microVM booted twice to its boot check and powered off prints the same
// console output, timestamps included, and retires the same number of
// instructions. Virtio devices are left out: their I/O completes on the
// event-loop thread at host speed, which --icount does not cover.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/subprocess.h"
#include "tests/linux/linux_guest.h"

namespace skiff::testing {
namespace {

using ::testing::HasSubstr;

class LinuxIcountTest : public LinuxGuestTest {
 protected:
  static std::string IcountLine(const std::string& err) {
    const size_t at = err.find("icount instructions=");
    if (at == std::string::npos) return "";
    return err.substr(at, err.find('\n', at) - at);
  }
};

TEST_P(LinuxIcountTest, TwoBootsSameConsoleAndInstructionCount) {
  const std::string knobs = "skiff.check=boot skiff.exit=poweroff";
  ProcessResult a = Boot(knobs, {"--icount"});
  ProcessResult b = Boot(knobs, {"--icount"});
  EXPECT_THAT(a.out, HasSubstr("skiff-init: check boot status 0"));
  EXPECT_EQ(a.exit_status, 0) << a.out << a.err;
  EXPECT_THAT(a.err, ::testing::ContainsRegex("icount instructions=[1-9]"));
  EXPECT_EQ(IcountLine(a.err), IcountLine(b.err));
  EXPECT_EQ(a.out, b.out);
}

TEST_P(LinuxIcountTest, TwoVcpusAreDeterministicToo) {
  const std::string knobs = "skiff.check=smp skiff.cpus=2 skiff.exit=poweroff";
  ProcessResult a = Boot(knobs, {"--icount", "--cpus", "2"});
  ProcessResult b = Boot(knobs, {"--icount", "--cpus", "2"});
  EXPECT_THAT(a.out, HasSubstr("skiff-init: check smp status 0"));
  EXPECT_EQ(a.exit_status, 0) << a.out << a.err;
  EXPECT_EQ(IcountLine(a.err), IcountLine(b.err));
  EXPECT_EQ(a.out, b.out);
}

// --icount is interpreter-only: "tcg" is the only backend to run it on.
INSTANTIATE_TEST_SUITE_P(Accel, LinuxIcountTest, ::testing::Values("tcg"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace skiff::testing
