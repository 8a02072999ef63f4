#include "vmm/default_guest.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skiff {
namespace {

using ::testing::HasSubstr;

std::function<const char*(const char*)> Env(
    const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(DefaultGuestDir, FollowsTheCacheRules) {
  EXPECT_EQ(DefaultGuestDir(Env({{"SKIFF_CACHE", "/c"}, {"HOME", "/h"}})),
            "/c/default");
  EXPECT_EQ(DefaultGuestDir(Env({{"XDG_CACHE_HOME", "/x"}, {"HOME", "/h"}})),
            "/x/skiff/default");
  EXPECT_EQ(DefaultGuestDir(Env({{"HOME", "/h"}})), "/h/.cache/skiff/default");
  EXPECT_EQ(DefaultGuestDir(Env({{"SKIFF_CACHE", ""}, {"HOME", "/h"}})),
            "/h/.cache/skiff/default");
}

class UseDefaultGuestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skiff-default-guest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    unlink((dir_ + "/vmlinux").c_str());
    unlink((dir_ + "/initramfs.cpio").c_str());
    rmdir(dir_.c_str());
  }
  void Touch(const std::string& name) { std::ofstream(dir_ + "/" + name); }
  std::string dir_;
};

TEST_F(UseDefaultGuestTest, FillsKernelAndInitrd) {
  Touch("vmlinux");
  Touch("initramfs.cpio");
  VmConfig config;
  ASSERT_TRUE(UseDefaultGuest(dir_, config).ok());
  EXPECT_EQ(config.kernel_path, dir_ + "/vmlinux");
  EXPECT_EQ(config.initrd_path, dir_ + "/initramfs.cpio");
}

TEST_F(UseDefaultGuestTest, KeepsAnInitrdFromTheCommandLine) {
  Touch("vmlinux");
  Touch("initramfs.cpio");
  VmConfig config;
  config.initrd_path = "/mine.cpio";
  ASSERT_TRUE(UseDefaultGuest(dir_, config).ok());
  EXPECT_EQ(config.initrd_path, "/mine.cpio");
}

TEST_F(UseDefaultGuestTest, MissingGuestSaysHowToGetIt) {
  Touch("vmlinux");
  VmConfig config;
  absl::Status st = UseDefaultGuest(dir_, config);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(st.message(), HasSubstr("initramfs.cpio"));
  EXPECT_THAT(st.message(), HasSubstr("scripts/setup"));
  EXPECT_TRUE(config.kernel_path.empty());
}

}  // namespace
}  // namespace skiff
