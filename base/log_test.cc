#include "base/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace skiff {
namespace {

TEST(RateLimiter, AllowsBurstThenSuppresses) {
  RateLimiter limiter(/*per_second=*/0.001, /*burst=*/3);
  EXPECT_TRUE(limiter.Allow());
  EXPECT_TRUE(limiter.Allow());
  EXPECT_TRUE(limiter.Allow());
  EXPECT_FALSE(limiter.Allow());
  EXPECT_FALSE(limiter.Allow());
  EXPECT_EQ(limiter.suppressed(), 2u);
}

TEST(Log, LevelThreshold) {
  LogLevel saved = GetLogLevel();
  SetLogLevel(LogLevel::kWarn);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  SetLogLevel(LogLevel::kOff);
  EXPECT_FALSE(LogEnabled(LogLevel::kError));
  SetLogLevel(saved);
}

// JOURNAL_STREAM as systemd sets it for the file `fd` is open on.
std::string JournalStreamFor(int fd) {
  struct stat st;
  EXPECT_EQ(fstat(fd, &st), 0);
  return absl::StrCat(static_cast<uint64_t>(st.st_dev), ":",
                      static_cast<uint64_t>(st.st_ino));
}

TEST(LogFormat, JournalOnlyWhenTheStreamIsTheFd) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const std::string matching = JournalStreamFor(p[1]);
  EXPECT_EQ(DetectLogFormat(matching.c_str(), p[1]), LogFormat::kJournal);
  // Inherited by a process whose stderr went elsewhere: plain.
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(DetectLogFormat(matching.c_str(), fileno(file)), LogFormat::kPlain);
  const std::string file_stream = JournalStreamFor(fileno(file));
  EXPECT_EQ(DetectLogFormat(file_stream.c_str(), fileno(file)),
            LogFormat::kJournal);
  // Unset, malformed, or a closed fd: plain.
  EXPECT_EQ(DetectLogFormat(nullptr, p[1]), LogFormat::kPlain);
  for (const char* bad : {"", "12", "12:", ":34", "a:b", "1:2:3", "-1:5"}) {
    EXPECT_EQ(DetectLogFormat(bad, p[1]), LogFormat::kPlain) << bad;
  }
  std::fclose(file);
  close(p[0]);
  close(p[1]);
  EXPECT_EQ(DetectLogFormat(matching.c_str(), p[1]), LogFormat::kPlain);
}

TEST(LogFormat, JournalLinesStartWithTheSyslogPriority) {
  EXPECT_EQ(FormatLogLine(LogFormat::kPlain, LogLevel::kWarn, "x=1"),
            "skiff: warn x=1\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kJournal, LogLevel::kError, "e"),
            "<3>skiff: error e\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kJournal, LogLevel::kWarn, "w"),
            "<4>skiff: warn w\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kJournal, LogLevel::kInfo, "i"),
            "<6>skiff: info i\n");
  EXPECT_EQ(FormatLogLine(LogFormat::kJournal, LogLevel::kDebug, "d"),
            "<7>skiff: debug d\n");
}

TEST(LogFormat, PrefixFollowsTheProcessFormat) {
  LogFormat saved = GetLogFormat();
  SetLogFormat(LogFormat::kJournal);
  EXPECT_STREQ(LogPriorityPrefix(LogLevel::kError), "<3>");
  SetLogFormat(LogFormat::kPlain);
  EXPECT_STREQ(LogPriorityPrefix(LogLevel::kError), "");
  SetLogFormat(saved);
}

TEST(LogFormat, LinesWrittenToAJournalFdCarryThePriority) {
  // LogMessage writes to stderr: point stderr at a file for the duration.
  std::FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  fflush(stderr);
  const int saved_stderr = dup(STDERR_FILENO);
  ASSERT_GE(saved_stderr, 0);
  ASSERT_EQ(dup2(fileno(file), STDERR_FILENO), STDERR_FILENO);
  const LogFormat saved_format = GetLogFormat();
  const LogLevel saved_level = GetLogLevel();
  const std::string stream = JournalStreamFor(STDERR_FILENO);
  SetLogFormat(DetectLogFormat(stream.c_str(), STDERR_FILENO));
  SetLogLevel(LogLevel::kDebug);
  SKIFF_LOG(kWarn, "disk=%s stalled", "vda");
  SKIFF_LOG(kDebug, "tick");
  SetLogLevel(saved_level);
  SetLogFormat(saved_format);
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  std::string written(256, '\0');
  ssize_t n = pread(fileno(file), written.data(), written.size(), 0);
  ASSERT_GT(n, 0);
  written.resize(static_cast<size_t>(n));
  EXPECT_EQ(written, "<4>skiff: warn disk=vda stalled\n<7>skiff: debug tick\n");
  std::fclose(file);
}

}  // namespace
}  // namespace skiff
