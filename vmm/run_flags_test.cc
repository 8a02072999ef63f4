#include "vmm/run_flags.h"

#include "gtest/gtest.h"

namespace skiff {
namespace {

TEST(ParseRunFlags, FullCommandLine) {
  auto f = ParseRunFlags({"--kernel", "vmlinux", "--initrd=initrd.img",
                          "--cmdline", "console=ttyS0", "--cpus",
                          "2,affinity=0:1", "--memory", "1G", "--accel", "tcg",
                          "--serial", "file=/tmp/out", "--log-level", "info"});
  ASSERT_TRUE(f.ok()) << f.status();
  const VmConfig& c = f->config;
  EXPECT_EQ(c.kernel_path, "vmlinux");
  EXPECT_EQ(c.initrd_path, "initrd.img");
  EXPECT_EQ(c.cmdline, "console=ttyS0");
  EXPECT_TRUE(c.cmdline_set);
  EXPECT_EQ(c.vcpus, 2);
  ASSERT_EQ(c.affinity.size(), 2u);
  EXPECT_EQ(c.affinity[1], (std::vector<int>{1}));
  EXPECT_EQ(c.memory_bytes, 1ull << 30);
  EXPECT_EQ(c.accel, Accel::kTcg);
  EXPECT_EQ(c.serial.mode, SerialConfig::Mode::kFile);
  EXPECT_EQ(c.serial.path, "/tmp/out");
  EXPECT_EQ(f->log_level, LogLevel::kInfo);
}

TEST(ParseRunFlags, SerialSocket) {
  auto f = ParseRunFlags({"--kernel", "k", "--serial", "socket=/tmp/s.sock"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config.serial.mode, SerialConfig::Mode::kSocket);
  EXPECT_EQ(f->config.serial.path, "/tmp/s.sock");
  EXPECT_FALSE(ParseRunFlags({"--kernel", "k", "--serial", "socket="}).ok());
}

TEST(ParseRunFlags, Defaults) {
  auto f = ParseRunFlags({"--kernel", "k"});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->config.vcpus, 1);
  EXPECT_EQ(f->config.memory_bytes, 512ull << 20);
  EXPECT_EQ(f->config.accel, Accel::kAuto);
  EXPECT_EQ(f->config.serial.mode, SerialConfig::Mode::kStdio);
  EXPECT_FALSE(f->config.cmdline_set);
  EXPECT_FALSE(f->config.tcg_single_thread);  // multi
  EXPECT_TRUE(f->config.tcg_jit);
}

TEST(ParseRunFlags, TcgThreads) {
  auto f = ParseRunFlags({"--kernel", "k", "--tcg-threads", "single"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->config.tcg_single_thread);
  f = ParseRunFlags({"--kernel", "k", "--tcg-threads=multi"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_FALSE(f->config.tcg_single_thread);
  EXPECT_NE(std::string(RunHelpText()).find("--tcg-threads single|multi"),
            std::string::npos);
}

TEST(ParseRunFlags, TcgJit) {
  auto f = ParseRunFlags({"--kernel", "k", "--tcg-jit", "off"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_FALSE(f->config.tcg_jit);
  f = ParseRunFlags({"--kernel", "k", "--tcg-jit=on"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->config.tcg_jit);
  EXPECT_NE(std::string(RunHelpText()).find("--tcg-jit on|off"),
            std::string::npos);
}

TEST(ParseRunFlags, SeccompAndMetrics) {
  auto f = ParseRunFlags({"--kernel", "k"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config.seccomp, SeccompMode::kEnforce);
  EXPECT_TRUE(f->config.metrics_path.empty());
  f = ParseRunFlags({"--kernel", "k", "--seccomp", "log", "--metrics=/m"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config.seccomp, SeccompMode::kLog);
  EXPECT_EQ(f->config.metrics_path, "/m");
  f = ParseRunFlags({"--kernel", "k", "--seccomp=off"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config.seccomp, SeccompMode::kOff);
  f = ParseRunFlags({"--kernel", "k", "--seccomp", "strict"});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("--seccomp"), absl::string_view::npos);
  f = ParseRunFlags({"--kernel", "k", "--metrics", "/m"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config.metrics_period_s, 60);
  f = ParseRunFlags({"--kernel", "k", "--metrics", "/m,period=5"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config.metrics_path, "/m");
  EXPECT_EQ(f->config.metrics_period_s, 5);
  EXPECT_FALSE(ParseRunFlags({"--kernel", "k", "--metrics="}).ok());
  EXPECT_FALSE(
      ParseRunFlags({"--kernel", "k", "--metrics", "/m,every=1"}).ok());
  EXPECT_NE(std::string(RunHelpText()).find("--seccomp enforce|log|off"),
            std::string::npos);
}

TEST(ParseRunFlags, MemoryBareNumberIsMiB) {
  auto f = ParseRunFlags({"--kernel", "k", "--memory", "size=256,shared=on"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->config.memory_bytes, 256ull << 20);
  EXPECT_TRUE(f->config.memory_shared);
}

TEST(ParseRunFlags, NoKernelLeavesItToTheDefaultGuest) {
  auto f = ParseRunFlags({"--cpus", "2"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->config.kernel_path.empty());
  EXPECT_FALSE(ParseRunFlags({"--cpus", "0"}).ok());
}

TEST(ParseRunFlags, BadValuesGiveOneLineNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  for (const Case& c : std::vector<Case>{
           {{"--kernel", "k", "--cpus", "0"}, "--cpus"},
           {{"--kernel", "k", "--cpus", "65"}, "--cpus"},
           {{"--kernel", "k", "--cpus", "2,affinity=0"}, "affinity"},
           {{"--kernel", "k", "--cpus", "2,pin=0"}, "unknown key"},
           {{"--kernel", "k", "--memory", "1X"}, "--memory"},
           {{"--kernel", "k", "--memory", "1M"}, "--memory"},
           {{"--kernel", "k", "--accel", "hvf"}, "--accel"},
           {{"--kernel", "k", "--tcg-threads", "two"}, "--tcg-threads"},
           {{"--kernel", "k", "--tcg-jit", "yes"}, "--tcg-jit"},
           {{"--kernel", "k", "--serial", "tcp"}, "--serial"},
           {{"--kernel", "k", "--bogus", "1"}, "unknown flag"},
           {{"--kernel"}, "needs a value"},
           {{"kernel"}, "unexpected argument"},
           {{"--kernel", "k", "--accel", "kvm\nsecond line"}, "\\x0a"},
       }) {
    auto f = ParseRunFlags(c.args);
    ASSERT_FALSE(f.ok()) << c.needle;
    std::string msg(f.status().message());
    EXPECT_NE(msg.find(c.needle), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ParseRunFlags, HelpNeedsNothingElse) {
  auto f = ParseRunFlags({"--help"});
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->help);
  EXPECT_NE(std::string(RunHelpText()).find("--kernel"), std::string::npos);
}

}  // namespace
}  // namespace skiff
