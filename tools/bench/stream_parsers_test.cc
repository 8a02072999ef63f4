#include "tools/bench/stream_parsers.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace skiff::bench {
namespace {

TEST(StreamParsers, VcpuEntryLine) {
  EXPECT_EQ(
      ParseVcpuEntryLine("skiff: info vcpu0 first guest entry after_us=358320"),
      358320);
  EXPECT_EQ(ParseVcpuEntryLine(
                "skiff: info vcpu0 first guest entry cpu=0 after_us=7 x=1"),
            7);
  EXPECT_FALSE(ParseVcpuEntryLine("skiff: info vcpu0 first guest entry"));
  EXPECT_FALSE(
      ParseVcpuEntryLine("skiff: info vcpu0 first guest entry after_us=-3"));
  EXPECT_FALSE(
      ParseVcpuEntryLine("skiff: info vcpu0 first guest entry after_us=12ms"));
  EXPECT_FALSE(ParseVcpuEntryLine("guest: after_us=5"));
  EXPECT_FALSE(ParseVcpuEntryLine(
      "skiff: info vcpu0 first guest entry after_us=99999999999999999999999"));
}

TEST(StreamParsers, BootTimerLine) {
  EXPECT_EQ(ParseBootTimerLine("skiff: info boot-timer: guest boot time "
                               "wall_us=3134190 wall_ms=3134 cpu_us=2665865"),
            3134190);
  EXPECT_FALSE(ParseBootTimerLine("skiff: info boot-timer: cpu_us=5"));
}

TEST(StreamParsers, FindKeyValueNeedsWholeKey) {
  EXPECT_EQ(FindKeyValue("xwall_us=1 wall_us=2", "wall_us"), 2);
  EXPECT_EQ(FindKeyValue("wall_us=0", "wall_us"), 0);
  EXPECT_FALSE(FindKeyValue("wall_us", "wall_us"));
  EXPECT_FALSE(FindKeyValue("wall_us=", "wall_us"));
}

TEST(LineSplitter, SplitsAcrossChunksAndStripsCr) {
  std::vector<std::string> lines;
  LineSplitter s([&](std::string_view l) { lines.emplace_back(l); });
  s.Feed("ab");
  s.Feed("c\r\nde");
  s.Feed("f\n\ng");
  s.Finish();
  EXPECT_EQ(lines, (std::vector<std::string>{"abc", "def", "", "g"}));
}

TEST(LineSplitter, BoundsLongLines) {
  std::vector<std::string> lines;
  LineSplitter s([&](std::string_view l) { lines.emplace_back(l); });
  s.Feed(std::string(LineSplitter::kMaxLine * 2 + 5, 'x'));
  s.Feed("\n");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].size(), LineSplitter::kMaxLine);
  EXPECT_EQ(lines[2].size(), 5u);
}

TEST(ConsoleWatcher, RecordsMilestones) {
  ConsoleWatcher w;
  EXPECT_FALSE(w.first_byte_us());
  w.Feed("[    0.000000] Linux ver", 100);
  EXPECT_EQ(w.first_byte_us(), 100);
  EXPECT_FALSE(w.first_line_us());
  w.Feed("sion 6.1\n[    1.0] more\nskiff-init: rea", 200);
  EXPECT_EQ(w.first_line_us(), 200);
  EXPECT_FALSE(w.init_us());
  w.Feed("dy\r\n", 300);
  EXPECT_EQ(w.init_us(), 300);
  w.Feed("skiff-init: ready\n", 400);
  EXPECT_EQ(w.init_us(), 300);
  EXPECT_EQ(w.last_line(), "skiff-init: ready");
}

TEST(ConsoleWatcher, UnterminatedReadyCountsAtFinish) {
  ConsoleWatcher w;
  w.Feed("skiff-init: ready", 10);
  EXPECT_FALSE(w.init_us());
  w.Finish(20);
  EXPECT_EQ(w.init_us(), 20);
}

TEST(StderrWatcher, ParsesSkiffLog) {
  StderrWatcher w;
  w.Feed("skiff: info accel=tcg reason=\"--accel tcg\"\nskiff: info vcpu0 ");
  w.Feed(
      "first guest entry after_us=1234\nskiff: info boot-timer: guest "
      "boot time wall_us=99 wall_ms=0\nskiff: error oops\n");
  EXPECT_EQ(w.vcpu0_entry_us(), 1234);
  EXPECT_EQ(w.boot_timer_us(), 99);
  EXPECT_EQ(w.last_line(), "skiff: error oops");
}

}  // namespace
}  // namespace skiff::bench
