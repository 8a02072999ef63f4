#include "base/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace skiff {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kPlain)};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      break;
  }
  return "off";
}

// sd-daemon.h's SD_ERR, SD_WARNING, SD_INFO and SD_DEBUG (the syslog(3)
// priorities LOG_ERR 3, LOG_WARNING 4, LOG_INFO 6, LOG_DEBUG 7).
const char* JournalPrefix(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "<7>";
    case LogLevel::kInfo:
      return "<6>";
    case LogLevel::kWarn:
      return "<4>";
    case LogLevel::kError:
    case LogLevel::kOff:
      break;
  }
  return "<3>";
}

}  // namespace

LogFormat DetectLogFormat(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return LogFormat::kPlain;
  std::vector<absl::string_view> parts =
      absl::StrSplit(absl::string_view(journal_stream), ':');
  uint64_t dev = 0, ino = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &dev) ||
      !absl::SimpleAtoi(parts[1], &ino)) {
    return LogFormat::kPlain;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return LogFormat::kPlain;
  return st.st_dev == dev && st.st_ino == ino ? LogFormat::kJournal
                                              : LogFormat::kPlain;
}

void InitLogFormat() {
  SetLogFormat(DetectLogFormat(std::getenv("JOURNAL_STREAM"), STDERR_FILENO));
}

void SetLogFormat(LogFormat format) {
  g_format.store(static_cast<int>(format));
}
LogFormat GetLogFormat() { return static_cast<LogFormat>(g_format.load()); }

const char* LogPriorityPrefix(LogLevel level) {
  return GetLogFormat() == LogFormat::kJournal ? JournalPrefix(level) : "";
}

std::string FormatLogLine(LogFormat format, LogLevel level,
                          std::string_view message) {
  return absl::StrFormat(
      "%sskiff: %s %s\n",
      format == LogFormat::kJournal ? JournalPrefix(level) : "",
      LevelName(level), message);
}

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }
bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load() && level != LogLevel::kOff;
}

void LogMessage(LogLevel level, std::string_view message) {
  // One write(2) per line so lines from different threads never interleave.
  std::string line = FormatLogLine(GetLogFormat(), level, message);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
}

bool RateLimiter::Allow() {
  int64_t now = absl::GetCurrentTimeNanos();
  int64_t last = last_ns_.exchange(now);
  double tokens = tokens_.load();
  if (tokens < 0) tokens = burst_;
  if (last != 0) {
    tokens = std::min(burst_, tokens + (now - last) * 1e-9 * per_second_);
  }
  if (tokens >= 1.0) {
    tokens_.store(tokens - 1.0);
    return true;
  }
  tokens_.store(tokens);
  suppressed_.fetch_add(1);
  return false;
}

}  // namespace skiff
