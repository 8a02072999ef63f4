// Parsers for what a VMM under benchmark writes: its serial console (the
// guest's output) and its stderr (skiff's log lines). Both arrive in
// arbitrary chunks from a pipe; the watchers split them into lines and note
// when each boot milestone first appeared.
//
//   ConsoleWatcher console;
//   console.Feed(chunk, now_us);          // as bytes arrive
//   console.Finish(now_us);               // at EOF
//   if (console.init_us()) ...            // "skiff-init: ready" seen at
//
//   StderrWatcher err;
//   err.Feed(chunk);
//   err.vcpu0_entry_us();   // from "skiff: info vcpu0 first guest entry ..."
#ifndef SKIFF_TOOLS_BENCH_STREAM_PARSERS_H_
#define SKIFF_TOOLS_BENCH_STREAM_PARSERS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace skiff::bench {

// What the guest init prints once it runs (guest/initramfs/init).
inline constexpr std::string_view kInitReadyMarker = "skiff-init: ready";

// The unsigned decimal value of `key=` in `line` ("... after_us=123 ..."),
// where the key starts the line or follows a space. nullopt when absent or
// not a number that fits in int64_t.
std::optional<int64_t> FindKeyValue(std::string_view line,
                                    std::string_view key);

// "skiff: info vcpu0 first guest entry after_us=<us>" -> us.
std::optional<int64_t> ParseVcpuEntryLine(std::string_view line);
// "skiff: info boot-timer: guest boot time wall_us=<us> ..." -> us.
std::optional<int64_t> ParseBootTimerLine(std::string_view line);

// Splits a byte stream into lines (without '\n' or a trailing '\r'). A line
// longer than kMaxLine is delivered in kMaxLine pieces, so a guest that never
// writes a newline cannot grow memory without bound.
class LineSplitter {
 public:
  static constexpr size_t kMaxLine = 64 * 1024;
  using Callback = std::function<void(std::string_view line)>;
  explicit LineSplitter(Callback callback) : callback_(std::move(callback)) {}

  void Feed(std::string_view chunk);
  // Delivers an unterminated last line, if any.
  void Finish();

 private:
  void Emit(std::string_view line);
  Callback callback_;
  std::string pending_;
};

// Milestones of the guest's console output, in microseconds on the caller's
// clock (the time passed with the chunk that completed them).
class ConsoleWatcher {
 public:
  ConsoleWatcher();
  ConsoleWatcher(const ConsoleWatcher&) = delete;
  ConsoleWatcher& operator=(const ConsoleWatcher&) = delete;

  void Feed(std::string_view chunk, int64_t now_us);
  void Finish(int64_t now_us);

  std::optional<int64_t> first_byte_us() const { return first_byte_us_; }
  // The first complete line (the kernel's banner, normally).
  std::optional<int64_t> first_line_us() const { return first_line_us_; }
  std::optional<int64_t> init_us() const { return init_us_; }
  uint64_t bytes() const { return bytes_; }
  // The last non-empty console line seen, for failure reports.
  const std::string& last_line() const { return last_line_; }

 private:
  void OnLine(std::string_view line);
  LineSplitter splitter_;
  int64_t now_us_ = 0;
  uint64_t bytes_ = 0;
  std::optional<int64_t> first_byte_us_;
  std::optional<int64_t> first_line_us_;
  std::optional<int64_t> init_us_;
  std::string last_line_;
};

// Values parsed from skiff's stderr log, plus its last line for failures.
class StderrWatcher {
 public:
  StderrWatcher();
  StderrWatcher(const StderrWatcher&) = delete;
  StderrWatcher& operator=(const StderrWatcher&) = delete;

  void Feed(std::string_view chunk);
  void Finish();

  std::optional<int64_t> vcpu0_entry_us() const { return vcpu0_entry_us_; }
  std::optional<int64_t> boot_timer_us() const { return boot_timer_us_; }
  const std::string& last_line() const { return last_line_; }

 private:
  void OnLine(std::string_view line);
  LineSplitter splitter_;
  std::optional<int64_t> vcpu0_entry_us_;
  std::optional<int64_t> boot_timer_us_;
  std::string last_line_;
};

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_STREAM_PARSERS_H_
