#include "vmm/option_parser.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace skiff {
namespace {

constexpr int kMaxHostCpu = 4095;

absl::Status Bad(absl::string_view what, absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: '%s'", what, std::string(text)));
}

}  // namespace

absl::StatusOr<uint64_t> ParseSize(absl::string_view text,
                                   uint64_t default_unit) {
  absl::string_view digits = text;
  size_t n = 0;
  while (n < digits.size() && absl::ascii_isdigit(digits[n])) ++n;
  if (n == 0) return Bad("not a size", text);
  uint64_t value = 0;
  if (!absl::SimpleAtoi(digits.substr(0, n), &value)) {
    return Bad("size out of range", text);
  }
  std::string suffix = absl::AsciiStrToLower(text.substr(n));
  uint64_t unit = default_unit;
  if (!suffix.empty()) {
    static constexpr std::pair<const char*, uint64_t> kUnits[] = {
        {"b", 1},
        {"k", 1ull << 10},
        {"kb", 1ull << 10},
        {"kib", 1ull << 10},
        {"m", 1ull << 20},
        {"mb", 1ull << 20},
        {"mib", 1ull << 20},
        {"g", 1ull << 30},
        {"gb", 1ull << 30},
        {"gib", 1ull << 30},
        {"t", 1ull << 40},
        {"tb", 1ull << 40},
        {"tib", 1ull << 40}};
    auto it = std::find_if(std::begin(kUnits), std::end(kUnits),
                           [&](const auto& u) { return suffix == u.first; });
    if (it == std::end(kUnits)) return Bad("unknown size suffix", text);
    unit = it->second;
  }
  if (value > std::numeric_limits<uint64_t>::max() / unit) {
    return Bad("size out of range", text);
  }
  return value * unit;
}

absl::StatusOr<bool> ParseBool(absl::string_view text) {
  std::string t = absl::AsciiStrToLower(text);
  if (t == "on" || t == "true" || t == "yes" || t == "1") return true;
  if (t == "off" || t == "false" || t == "no" || t == "0") return false;
  return Bad("expected on or off", text);
}

absl::StatusOr<int64_t> ParseInt(absl::string_view text, int64_t min,
                                 int64_t max) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || text.empty() ||
      !(absl::ascii_isdigit(text[0]) || text[0] == '-')) {
    return Bad("not a number", text);
  }
  if (v < min || v > max) {
    return absl::InvalidArgumentError(
        absl::StrFormat("'%s' is outside %d..%d", std::string(text), min, max));
  }
  return v;
}

absl::StatusOr<std::vector<int>> ParseCpuList(absl::string_view text) {
  std::vector<int> cpus;
  for (absl::string_view piece : absl::StrSplit(text, '+')) {
    std::vector<absl::string_view> ends = absl::StrSplit(piece, '-');
    if (ends.size() > 2) return Bad("bad host CPU range", piece);
    auto lo = ParseInt(ends[0], 0, kMaxHostCpu);
    if (!lo.ok()) return Bad("bad host CPU", piece);
    int64_t hi = *lo;
    if (ends.size() == 2) {
      auto h = ParseInt(ends[1], 0, kMaxHostCpu);
      if (!h.ok() || *h < *lo) return Bad("bad host CPU range", piece);
      hi = *h;
    }
    for (int64_t c = *lo; c <= hi; ++c) cpus.push_back(static_cast<int>(c));
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  return cpus;
}

absl::StatusOr<KeyValueList> ParseKeyValueList(absl::string_view text) {
  KeyValueList out;
  if (text.empty()) return Bad("empty value", text);
  bool first = true;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    size_t eq = item.find('=');
    if (eq == absl::string_view::npos) {
      if (!first || item.empty()) return Bad("expected key=value", item);
      out.positional = std::string(item);
    } else {
      std::string key(item.substr(0, eq));
      if (key.empty()) return Bad("empty key", item);
      for (const auto& kv : out.items) {
        if (kv.first == key) return Bad("key given twice", key);
      }
      out.items.emplace_back(std::move(key), std::string(item.substr(eq + 1)));
    }
    first = false;
  }
  return out;
}

absl::StatusOr<CommandFlag> ReadCommandFlag(
    const std::vector<std::string>& args, size_t& i,
    absl::FunctionRef<bool(const std::string& name)> is_switch) {
  CommandFlag flag;
  flag.name = args[i];
  if (!absl::StartsWith(flag.name, "--")) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unexpected argument '%s'", flag.name));
  }
  if (size_t eq = flag.name.find('='); eq != std::string::npos) {
    flag.value = flag.name.substr(eq + 1);
    flag.name = flag.name.substr(0, eq);
    flag.has_value = true;
  } else if (!is_switch(flag.name)) {
    if (i + 1 >= args.size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s needs a value", flag.name));
    }
    flag.value = args[++i];
  }
  return flag;
}

}  // namespace skiff
