#include "vmm/option_parser.h"

#include "gtest/gtest.h"

namespace skiff {
namespace {

TEST(ParseSize, SuffixesAndDefaultUnit) {
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("512M"), 512ull << 20);
  EXPECT_EQ(*ParseSize("1G"), 1ull << 30);
  EXPECT_EQ(*ParseSize("2GiB"), 2ull << 30);
  EXPECT_EQ(*ParseSize("64k"), 64ull << 10);
  EXPECT_EQ(*ParseSize("256", 1ull << 20), 256ull << 20);
}

TEST(ParseSize, RejectsGarbageAndOverflow) {
  EXPECT_FALSE(ParseSize("").ok());
  EXPECT_FALSE(ParseSize("M").ok());
  EXPECT_FALSE(ParseSize("-1").ok());
  EXPECT_FALSE(ParseSize("12Q").ok());
  EXPECT_FALSE(ParseSize("1.5G").ok());
  EXPECT_FALSE(ParseSize("99999999999999999999").ok());
  EXPECT_FALSE(ParseSize("17179869184T").ok());
}

TEST(ParseCpuList, RangesAndJoins) {
  EXPECT_EQ(*ParseCpuList("3"), (std::vector<int>{3}));
  EXPECT_EQ(*ParseCpuList("0-2"), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(*ParseCpuList("4+0-1"), (std::vector<int>{0, 1, 4}));
  EXPECT_FALSE(ParseCpuList("2-1").ok());
  EXPECT_FALSE(ParseCpuList("a").ok());
  EXPECT_FALSE(ParseCpuList("1-2-3").ok());
  EXPECT_FALSE(ParseCpuList("0-99999").ok());
  EXPECT_FALSE(ParseCpuList("").ok());
}

TEST(ParseKeyValueList, PositionalAndItems) {
  auto kv = ParseKeyValueList("2,affinity=0:1");
  ASSERT_TRUE(kv.ok());
  EXPECT_EQ(kv->positional, "2");
  ASSERT_EQ(kv->items.size(), 1u);
  EXPECT_EQ(kv->items[0].first, "affinity");
  EXPECT_EQ(kv->items[0].second, "0:1");
  EXPECT_FALSE(ParseKeyValueList("a=1,a=2").ok());
  EXPECT_FALSE(ParseKeyValueList("a=1,b").ok());
  EXPECT_FALSE(ParseKeyValueList("=1").ok());
  EXPECT_FALSE(ParseKeyValueList("").ok());
}

TEST(ParseBool, Words) {
  EXPECT_TRUE(*ParseBool("on"));
  EXPECT_FALSE(*ParseBool("off"));
  EXPECT_FALSE(ParseBool("maybe").ok());
}

TEST(ReadCommandFlag, ValueSwitchAndErrors) {
  auto is_switch = [](const std::string& name) { return name == "--sw"; };
  std::vector<std::string> args = {"--a=1", "--b",      "2",
                                   "--sw",  "--sw=off", "x"};
  size_t i = 0;
  auto f = ReadCommandFlag(args, i, is_switch);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->name, "--a");
  EXPECT_EQ(f->value, "1");
  EXPECT_TRUE(f->has_value);
  f = ReadCommandFlag(args, ++i, is_switch);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->name, "--b");
  EXPECT_EQ(f->value, "2");
  EXPECT_FALSE(f->has_value);
  EXPECT_EQ(i, 2u);
  f = ReadCommandFlag(args, ++i, is_switch);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->name, "--sw");
  EXPECT_FALSE(f->has_value);
  EXPECT_EQ(i, 3u);
  f = ReadCommandFlag(args, ++i, is_switch);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->value, "off");
  EXPECT_TRUE(f->has_value);
  EXPECT_EQ(ReadCommandFlag(args, ++i, is_switch).status().message(),
            "unexpected argument 'x'");
  std::vector<std::string> last = {"--b"};
  i = 0;
  EXPECT_EQ(ReadCommandFlag(last, i, is_switch).status().message(),
            "--b needs a value");
}

}  // namespace
}  // namespace skiff
