#include "tools/bench/blk_flags.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skiff::bench {
namespace {

using ::testing::HasSubstr;

TEST(BlkFlags, Defaults) {
  absl::StatusOr<BlkOptions> o = ParseBlkFlags({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->common.runs, 3);
  EXPECT_EQ(o->seconds, 5);
  EXPECT_EQ(o->qd, 32);
  EXPECT_EQ(o->size_bytes, 256ull << 20);
  EXPECT_TRUE(o->image.empty());
}

TEST(BlkFlags, ParsesOwnAndSharedFlags) {
  absl::StatusOr<BlkOptions> o =
      ParseBlkFlags({"--runs", "1", "--seconds=0.5", "--size", "16M", "--vmm",
                     "skiff", "--vmm=qemu", "--accel", "tcg", "--qd", "8",
                     "--image", "/x.img", "--json", "out.json"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->common.runs, 1);
  EXPECT_EQ(o->seconds, 0.5);
  EXPECT_EQ(o->size_bytes, 16ull << 20);
  EXPECT_EQ(o->qd, 8);
  EXPECT_EQ(o->image, "/x.img");
  EXPECT_EQ(o->common.accel, "tcg");
  EXPECT_EQ(o->common.json_path, "out.json");
  EXPECT_EQ(o->common.vmms, (std::vector<std::string>{"skiff", "qemu"}));
}

TEST(BlkFlags, RejectsBadValues) {
  EXPECT_THAT(ParseBlkFlags({"--seconds", "0"}).status().message(),
              HasSubstr("--seconds"));
  EXPECT_THAT(ParseBlkFlags({"--seconds", "abc"}).status().message(),
              HasSubstr("--seconds"));
  EXPECT_THAT(ParseBlkFlags({"--qd", "0"}).status().message(),
              HasSubstr("--qd"));
  EXPECT_THAT(ParseBlkFlags({"--qd", "300"}).status().message(),
              HasSubstr("--qd"));
  EXPECT_THAT(ParseBlkFlags({"--size"}).status().message(),
              HasSubstr("missing value"));
  EXPECT_THAT(ParseBlkFlags({"--parallel", "2"}).status().message(),
              HasSubstr("not supported"));
  EXPECT_THAT(ParseBlkFlags({"--svg=x.svg"}).status().message(),
              HasSubstr("not supported"));
  EXPECT_THAT(ParseBlkFlags({"--vmm", "xen"}).status().message(),
              HasSubstr("--vmm"));
  EXPECT_THAT(ParseBlkFlags({"--bogus"}).status().message(),
              HasSubstr("unknown flag"));
}

TEST(BlkFlags, HelpIsSeen) {
  absl::StatusOr<BlkOptions> o = ParseBlkFlags({"--help"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->common.help);
  EXPECT_THAT(BlkUsage(), HasSubstr("--seconds"));
}

TEST(ParseImageSize, UnitsAndLimits) {
  EXPECT_EQ(*ParseImageSize("16M"), 16ull << 20);
  EXPECT_EQ(*ParseImageSize("1g"), 1ull << 30);
  EXPECT_EQ(*ParseImageSize("2048K"), 2ull << 20);
  EXPECT_EQ(*ParseImageSize("1048576"), 1ull << 20);
  EXPECT_FALSE(ParseImageSize("").ok());
  EXPECT_FALSE(ParseImageSize("M").ok());
  EXPECT_FALSE(ParseImageSize("0").ok());
  EXPECT_FALSE(ParseImageSize("1000K").ok());  // not a multiple of 1 MiB
  EXPECT_FALSE(ParseImageSize("2T").ok());
  EXPECT_FALSE(ParseImageSize("2048G").ok());  // past 1 TiB
  EXPECT_FALSE(ParseImageSize("-1M").ok());
  EXPECT_FALSE(ParseImageSize("99999999999999999999G").ok());
}

TEST(BlkFlags, ResolveChecksTheImage) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "blk_flags_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  for (const char* name : {"vmlinux", "initramfs.cpio"}) {
    std::ofstream(dir / name) << "x";
  }
  HostFacts host{.home = "", .self_dir = dir.string(), .have_kvm = false};
  BlkOptions o;
  o.common.kernel = (dir / "vmlinux").string();
  o.common.initrd = (dir / "initramfs.cpio").string();
  o.image = (dir / "missing.img").string();
  EXPECT_THAT(ResolveBlkDefaults(o, host).message(), HasSubstr("no such file"));

  const std::filesystem::path small = dir / "small.img";
  std::ofstream(small) << "tiny";
  o.image = small.string();
  EXPECT_THAT(ResolveBlkDefaults(o, host).message(), HasSubstr("1 MiB"));

  const std::filesystem::path big = dir / "big.img";
  std::ofstream(big).close();
  std::filesystem::resize_file(big, 1 << 20);
  o.image = big.string();
  EXPECT_TRUE(ResolveBlkDefaults(o, host).ok());
  EXPECT_EQ(o.common.accel, "tcg");
  EXPECT_EQ(o.common.vmms, std::vector<std::string>{"skiff"});
}

}  // namespace
}  // namespace skiff::bench
