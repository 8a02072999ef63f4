// A small leveled logger: one line per event on stderr, formatted as
// "skiff: <level> <message>", with key=value fields in the message.
// RateLimiter bounds how often a guest-triggerable event can be logged.
//
//   int main() {
//     skiff::InitLogFormat();  // first, before any thread or seccomp
//     SKIFF_LOG(kWarn, "virtio-blk: bad descriptor index=%u", idx);
//     if (limiter_.Allow()) SKIFF_LOG(kWarn, ...);
//   }
//
// When stderr is connected to the systemd journal (JOURNAL_STREAM, see
// systemd.exec(5)), each line starts with its syslog priority as
// sd-daemon(3) defines it ("<3>" error, "<4>" warn, "<6>" info, "<7>"
// debug), which journald strips and stores as the entry's PRIORITY, so
// `journalctl -p warning` works. Lines never carry colour codes, on a
// terminal or not. The format is decided once by InitLogFormat, because
// filtered threads may not call fstat/getenv later.
//
// The level threshold and the format are process-wide (they configure the
// process's stderr, not any VM): the only global state the logger keeps.
#ifndef SKIFF_BASE_LOG_H_
#define SKIFF_BASE_LOG_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace skiff {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// kPlain: "skiff: warn message". kJournal: "<4>skiff: warn message".
enum class LogFormat { kPlain, kJournal };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool LogEnabled(LogLevel level);
void LogMessage(LogLevel level, std::string_view message);

// kJournal when `journal_stream` (the JOURNAL_STREAM value, "DEV:INODE" in
// decimal; may be null) names the file `fd` is open on, as sd-daemon(3)
// says to check: a child that inherited the variable but writes somewhere
// else keeps the plain format.
LogFormat DetectLogFormat(const char* journal_stream, int fd);
// SetLogFormat(DetectLogFormat(getenv("JOURNAL_STREAM"), STDERR_FILENO)).
// Call once at startup, before threads start and seccomp filters go in.
void InitLogFormat();
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();
// The whole line LogMessage writes, newline included.
std::string FormatLogLine(LogFormat format, LogLevel level,
                          std::string_view message);
// What starts a line of `level` in the current format: "<3>" under the
// journal, "" otherwise. For messages written to stderr without the
// logger (e.g. the front end's fatal errors).
const char* LogPriorityPrefix(LogLevel level);

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
