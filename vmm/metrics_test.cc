#include "vmm/metrics.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace skiff {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string base = dir != nullptr ? dir : "/tmp";
  return base + "/skiff_metrics_" + std::to_string(getpid()) + "_" + name;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(MetricsRegistry, SnapshotIsOneJsonObjectWithGroups) {
  MetricsRegistry registry;
  uint64_t exits = 7;
  registry.Add("vcpu", [&](MetricsGroup& g) {
    g.emplace_back("exits", exits);
    g.emplace_back("exit_hlt", 2);
  });
  registry.Add("empty", [](MetricsGroup&) {});
  registry.Add("we\"ird\n", [](MetricsGroup& g) { g.emplace_back("x", 1); });
  std::string line = registry.Snapshot(1234);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["utc_timestamp_ms"], 1234);
  EXPECT_EQ(j["vcpu"]["exits"], 7);
  EXPECT_EQ(j["vcpu"]["exit_hlt"], 2);
  EXPECT_TRUE(j["empty"].is_object());
  EXPECT_EQ(j["we\"ird\n"]["x"], 1);
  exits = 9;  // sources are read at each snapshot
  EXPECT_EQ(nlohmann::json::parse(registry.Snapshot(1))["vcpu"]["exits"], 9);
}

TEST(MetricsWriter, FlushAppendsOneLinePerCall) {
  const std::string path = TempPath("file");
  unlink(path.c_str());
  MetricsRegistry registry;
  uint64_t n = 0;
  registry.Add("g", [&](MetricsGroup& g) { g.emplace_back("n", ++n); });
  MetricsWriter::Options options;
  options.period = absl::ZeroDuration();  // on demand only
  auto writer = MetricsWriter::Create(path, &registry, options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Flush().ok());
  ASSERT_TRUE((*writer)->Flush().ok());
  EXPECT_EQ((*writer)->lines_written(), 2u);
  std::vector<std::string> lines = ReadLines(path);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["g"]["n"], 1);
  EXPECT_EQ(nlohmann::json::parse(lines[1])["g"]["n"], 2);
  EXPECT_GT(nlohmann::json::parse(lines[1])["utc_timestamp_ms"], 0);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  unlink(path.c_str());
}

TEST(MetricsWriter, FifoNeedsAReaderAndNeverBlocks) {
  const std::string path = TempPath("fifo");
  unlink(path.c_str());
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  MetricsRegistry registry;
  registry.Add("big", [](MetricsGroup& g) {
    for (int i = 0; i < 100; ++i) g.emplace_back("c" + std::to_string(i), i);
  });
  MetricsWriter::Options options;
  options.period = absl::ZeroDuration();
  auto no_reader = MetricsWriter::Create(path, &registry, options);
  ASSERT_FALSE(no_reader.ok());
  EXPECT_THAT(std::string(no_reader.status().message()), HasSubstr("reader"));

  int reader = open(path.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  auto writer = MetricsWriter::Create(path, &registry, options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Flush().ok());
  char buf[4096];
  ssize_t got = read(reader, buf, sizeof(buf));
  ASSERT_GT(got, 0);
  std::string line(buf, static_cast<size_t>(got));
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(nlohmann::json::parse(line)["big"]["c99"], 99);
  // Nobody reads: the pipe fills, and lines are dropped, not blocked on.
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE((*writer)->Flush().ok());
  EXPECT_GT((*writer)->lines_dropped(), 0u);
  close(reader);
  unlink(path.c_str());
}

TEST(MetricsWriter, PeriodicThreadWritesAndStops) {
  const std::string path = TempPath("periodic");
  unlink(path.c_str());
  MetricsRegistry registry;
  registry.Add("g", [](MetricsGroup& g) { g.emplace_back("x", 1); });
  MetricsWriter::Options options;
  options.period = absl::Milliseconds(1);
  bool hook_ran = false;
  options.on_thread_start = [&hook_ran] { hook_ran = true; };
  auto writer = MetricsWriter::Create(path, &registry, options);
  ASSERT_TRUE(writer.ok()) << writer.status();
  // No timing assertion: wait for the first periodic line, however long.
  while ((*writer)->lines_written() == 0) absl::SleepFor(absl::Milliseconds(1));
  writer->reset();  // joins the thread
  EXPECT_TRUE(hook_ran);
  EXPECT_FALSE(ReadLines(path).empty());
  unlink(path.c_str());
}

TEST(MetricsWriter, BadPathIsAnError) {
  MetricsRegistry registry;
  EXPECT_FALSE(MetricsWriter::Create("", &registry).ok());
  EXPECT_FALSE(MetricsWriter::Create("/nonexistent-dir/m", &registry).ok());
}

}  // namespace
}  // namespace skiff
