// A small leveled logger: one line per event on stderr, formatted as
// "skiff: <level> <message>", with key=value fields in the message.
// RateLimiter bounds how often a guest-triggerable event can be logged.
//
//   SKIFF_LOG(kWarn, "virtio-blk: bad descriptor index=%u", idx);
//   if (limiter_.Allow()) SKIFF_LOG(kWarn, ...);
//
// The level threshold is process-wide (it configures the process's stderr,
// not any VM), so it is the one piece of global state the logger keeps.
#ifndef SKIFF_BASE_LOG_H_
#define SKIFF_BASE_LOG_H_

#include <atomic>
#include <cstdint>
#include <string_view>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace skiff {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool LogEnabled(LogLevel level);
void LogMessage(LogLevel level, std::string_view message);

// Allows at most `burst` events, refilled at `per_second` events a second.
// Thread-safe.
class RateLimiter {
 public:
  explicit RateLimiter(double per_second = 1.0, double burst = 10.0)
      : per_second_(per_second), burst_(burst) {}
  bool Allow();
  // Events refused since the last allowed one.
  uint64_t suppressed() const { return suppressed_.load(); }

 private:
  const double per_second_;
  const double burst_;
  std::atomic<int64_t> last_ns_{0};
  std::atomic<double> tokens_{-1.0};
  std::atomic<uint64_t> suppressed_{0};
};

}  // namespace skiff

#define SKIFF_LOG(level, ...)                              \
  do {                                                     \
    if (::skiff::LogEnabled(::skiff::LogLevel::level)) {   \
      ::skiff::LogMessage(::skiff::LogLevel::level,        \
                          ::absl::StrFormat(__VA_ARGS__)); \
    }                                                      \
  } while (false)

#endif  // SKIFF_BASE_LOG_H_
