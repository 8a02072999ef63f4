#include "tools/bench/bench_flags.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace skiff::bench {
namespace {

TEST(BenchFlags, Defaults) {
  absl::StatusOr<BootOptions> o = ParseBootFlags({});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->runs, 5);
  EXPECT_EQ(o->parallel, 1);
  EXPECT_TRUE(o->vmms.empty());
  EXPECT_EQ(o->qemu_path, "qemu-system-x86_64");
}

TEST(BenchFlags, ParsesEveryFlag) {
  absl::StatusOr<BootOptions> o =
      ParseBootFlags({"--runs",       "7",
                      "--parallel=2", "--accel",
                      "tcg",          "--vmm",
                      "skiff",        "--vmm=qemu",
                      "--json",       "a.json",
                      "--svg",        "a.svg",
                      "--kernel",     "/k",
                      "--initrd",     "/i",
                      "--skiff",      "/s",
                      "--qemu",       "/q",
                      "--timeout",    "2.5",
                      "--memory",     "256",
                      "--append",     "quiet loglevel=0"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->runs, 7);
  EXPECT_EQ(o->parallel, 2);
  EXPECT_EQ(o->accel, "tcg");
  EXPECT_EQ(o->vmms, (std::vector<std::string>{"skiff", "qemu"}));
  EXPECT_EQ(o->json_path, "a.json");
  EXPECT_EQ(o->svg_path, "a.svg");
  EXPECT_EQ(o->kernel, "/k");
  EXPECT_EQ(o->initrd, "/i");
  EXPECT_EQ(o->skiff_path, "/s");
  EXPECT_EQ(o->qemu_path, "/q");
  EXPECT_DOUBLE_EQ(o->timeout_s, 2.5);
  EXPECT_EQ(o->memory_mib, 256u);
  EXPECT_EQ(o->append, "quiet loglevel=0");
}

TEST(BenchFlags, ErrorsAreOneLine) {
  const std::vector<std::vector<std::string>> bad = {
      {"--runs", "0"},
      {"--runs", "x"},
      {"--runs"},
      {"--parallel", "-1"},
      {"--accel", "hvf"},
      {"--vmm", "firecracker"},
      {"--vmm", "qemu", "--vmm", "qemu"},
      {"--timeout", "0"},
      {"--timeout", "nan"},
      {"--bogus", "1"},
      {"positional"},
      {"--kernel", "/k"},
      {"--memory", "1"},
      {"--runs", "1\n2"},
  };
  for (const auto& args : bad) {
    absl::StatusOr<BootOptions> o = ParseBootFlags(args);
    ASSERT_FALSE(o.ok()) << args[0];
    EXPECT_EQ(o.status().message().find('\n'), std::string::npos) << o.status();
    EXPECT_FALSE(o.status().message().empty());
  }
}

TEST(BenchFlags, Help) {
  absl::StatusOr<BootOptions> o = ParseBootFlags({"--help"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->help);
  EXPECT_NE(BootUsage().find("--parallel"), std::string::npos);
}

TEST(BenchFlags, MicroFlags) {
  absl::StatusOr<MicroOptions> o = ParseMicroFlags({"--filter", "BM_.*"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->filter, "BM_.*");
  EXPECT_FALSE(ParseMicroFlags({"--runs", "1"}).ok());
}

class ResolveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = std::filesystem::path(::testing::TempDir()) / "bench_flags_home";
    std::filesystem::remove_all(home_);
    std::filesystem::create_directories(home_);
  }
  void MakeGuest() {
    const auto dir = std::filesystem::path(DefaultGuestDir(home_.string()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "vmlinux") << "k";
    std::ofstream(dir / "initramfs.cpio") << "i";
  }
  std::filesystem::path home_;
};

TEST_F(ResolveTest, MissingCachedGuestPointsAtPrepareGuest) {
  BootOptions o;
  absl::Status s = ResolveBootDefaults(o, HostFacts{.home = home_.string()});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("scripts/prepare-guest"), std::string::npos);
}

TEST_F(ResolveTest, FillsDefaults) {
  MakeGuest();
  BootOptions o;
  ASSERT_TRUE(ResolveBootDefaults(
                  o, HostFacts{.home = home_.string(), .have_kvm = false})
                  .ok());
  EXPECT_EQ(o.accel, "tcg");
  EXPECT_EQ(o.vmms, std::vector<std::string>{"skiff"});
  EXPECT_EQ(o.kernel, DefaultGuestDir(home_.string()) + "/vmlinux");
  EXPECT_EQ(o.skiff_path, "skiff");
  BootOptions k;
  ASSERT_TRUE(ResolveBootDefaults(
                  k, HostFacts{.home = home_.string(), .have_kvm = true})
                  .ok());
  EXPECT_EQ(k.accel, "kvm");
}

TEST_F(ResolveTest, FindsSkiffNextToBench) {
  MakeGuest();
  const auto bench_dir = home_ / "build" / "tools" / "bench";
  std::filesystem::create_directories(bench_dir);
  std::ofstream(home_ / "build" / "tools" / "skiff") << "x";
  BootOptions o;
  ASSERT_TRUE(ResolveBootDefaults(o, HostFacts{.home = home_.string(),
                                               .self_dir = bench_dir.string()})
                  .ok());
  EXPECT_EQ(o.skiff_path, bench_dir.string() + "/../skiff");
}

TEST_F(ResolveTest, ExplicitMissingKernelFails) {
  BootOptions o;
  o.kernel = (home_ / "nope").string();
  o.initrd = (home_ / "nope2").string();
  absl::Status s = ResolveBootDefaults(o, HostFacts{.home = home_.string()});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("nope"), std::string::npos);
}

}  // namespace
}  // namespace skiff::bench
