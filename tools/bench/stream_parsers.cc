#include "tools/bench/stream_parsers.h"

#include <limits>

namespace skiff::bench {
namespace {

constexpr size_t kMaxKeptLine = 240;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string Kept(std::string_view line) {
  return std::string(line.substr(0, kMaxKeptLine));
}

}  // namespace

std::optional<int64_t> FindKeyValue(std::string_view line,
                                    std::string_view key) {
  size_t pos = 0;
  while ((pos = line.find(key, pos)) != std::string_view::npos) {
    const bool at_word = pos == 0 || line[pos - 1] == ' ';
    const size_t eq = pos + key.size();
    if (at_word && eq < line.size() && line[eq] == '=') {
      size_t i = eq + 1;
      if (i >= line.size() || line[i] < '0' || line[i] > '9') {
        return std::nullopt;
      }
      int64_t value = 0;
      for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
        const int digit = line[i] - '0';
        if (value > (std::numeric_limits<int64_t>::max() - digit) / 10) {
          return std::nullopt;
        }
        value = value * 10 + digit;
      }
      if (i < line.size() && line[i] != ' ') return std::nullopt;
      return value;
    }
    pos = eq;
  }
  return std::nullopt;
}

std::optional<int64_t> ParseVcpuEntryLine(std::string_view line) {
  constexpr std::string_view kPrefix = "skiff: info vcpu0 first guest entry ";
  if (!StartsWith(line, kPrefix)) return std::nullopt;
  return FindKeyValue(line.substr(kPrefix.size()), "after_us");
}

std::optional<int64_t> ParseBootTimerLine(std::string_view line) {
  constexpr std::string_view kPrefix = "skiff: info boot-timer: ";
  if (!StartsWith(line, kPrefix)) return std::nullopt;
  return FindKeyValue(line.substr(kPrefix.size()), "wall_us");
}

void LineSplitter::Feed(std::string_view chunk) {
  while (!chunk.empty()) {
    const size_t nl = chunk.find('\n');
    const size_t take = nl == std::string_view::npos ? chunk.size() : nl;
    const size_t room = kMaxLine - pending_.size();
    if (take > room) {
      // Too long: deliver a full piece and keep going with the rest.
      pending_.append(chunk.substr(0, room));
      chunk.remove_prefix(room);
      Emit(pending_);
      pending_.clear();
      continue;
    }
    pending_.append(chunk.substr(0, take));
    if (nl == std::string_view::npos) return;
    Emit(pending_);
    pending_.clear();
    chunk.remove_prefix(nl + 1);
  }
}

void LineSplitter::Finish() {
  if (pending_.empty()) return;
  Emit(pending_);
  pending_.clear();
}

void LineSplitter::Emit(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  callback_(line);
}

ConsoleWatcher::ConsoleWatcher()
    : splitter_([this](std::string_view line) { OnLine(line); }) {}

void ConsoleWatcher::Feed(std::string_view chunk, int64_t now_us) {
  if (chunk.empty()) return;
  now_us_ = now_us;
  if (!first_byte_us_) first_byte_us_ = now_us;
  bytes_ += chunk.size();
  splitter_.Feed(chunk);
}

void ConsoleWatcher::Finish(int64_t now_us) {
  now_us_ = now_us;
  splitter_.Finish();
}

void ConsoleWatcher::OnLine(std::string_view line) {
  if (!first_line_us_) first_line_us_ = now_us_;
  if (!init_us_ && line.find(kInitReadyMarker) != std::string_view::npos) {
    init_us_ = now_us_;
  }
  if (!line.empty()) last_line_ = Kept(line);
}

StderrWatcher::StderrWatcher()
    : splitter_([this](std::string_view line) { OnLine(line); }) {}

void StderrWatcher::Feed(std::string_view chunk) { splitter_.Feed(chunk); }

void StderrWatcher::Finish() { splitter_.Finish(); }

void StderrWatcher::OnLine(std::string_view line) {
  if (!vcpu0_entry_us_) vcpu0_entry_us_ = ParseVcpuEntryLine(line);
  if (!boot_timer_us_) boot_timer_us_ = ParseBootTimerLine(line);
  if (!line.empty()) last_line_ = Kept(line);
}

}  // namespace skiff::bench
