#include "base/log.h"

#include <unistd.h>

#include <algorithm>
#include <string>

namespace skiff {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kWarn)};

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

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }
bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load() && level != LogLevel::kOff;
}

void LogMessage(LogLevel level, std::string_view message) {
  // One write(2) per line so lines from different threads never interleave.
  std::string line =
      absl::StrFormat("skiff: %s %s\n", LevelName(level), message);
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
