#include "tools/bench/smaps.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace skiff::bench {
namespace {

struct Mapping {
  uint64_t size = 0;
  bool anonymous = false;
  bool tcg = false;  // one of skiff's interpreter caches
  uint64_t rss_kib = 0;
};

bool ParseHex(std::string_view s, uint64_t& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && ptr == s.data() + s.size();
}

std::vector<std::string_view> Fields(std::string_view line, size_t max) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size() && out.size() < max) {
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) break;
    if (out.size() + 1 == max) {  // the rest (a path may hold spaces)
      out.push_back(line.substr(i));
      break;
    }
    const size_t end = line.find(' ', i);
    out.push_back(
        line.substr(i, end == std::string_view::npos ? end : end - i));
    if (end == std::string_view::npos) break;
    i = end;
  }
  return out;
}

// "7f00-7f10 rw-p 00000000 00:00 0   [path]": a mapping header.
bool ParseHeader(std::string_view line, Mapping& m) {
  std::vector<std::string_view> f = Fields(line, 6);
  if (f.size() < 5) return false;
  const size_t dash = f[0].find('-');
  uint64_t start = 0;
  uint64_t end = 0;
  if (dash == std::string_view::npos ||
      !ParseHex(f[0].substr(0, dash), start) ||
      !ParseHex(f[0].substr(dash + 1), end) || end < start) {
    return false;
  }
  if (f[1].size() != 4) return false;
  m = Mapping{};
  m.size = end - start;
  const std::string_view path = f.size() > 5 ? f[5] : std::string_view();
  m.anonymous = (f[4] == "0" && (path.empty() || path.starts_with("[anon"))) ||
                path.starts_with("/memfd:");
  m.tcg = path.starts_with("/memfd:skiff-tcg-");
  return true;
}

}  // namespace

absl::StatusOr<SmapsUsage> ParseSmaps(std::string_view text,
                                      uint64_t guest_ram_bytes) {
  SmapsUsage usage;
  bool have_mapping = false;
  Mapping current;
  auto close_mapping = [&] {
    if (!have_mapping) return;
    ++usage.mappings;
    usage.total_rss_kib += current.rss_kib;
    if (current.anonymous && current.size == guest_ram_bytes) {
      ++usage.guest_ram_mappings;
      usage.guest_ram_rss_kib += current.rss_kib;
    } else if (current.tcg) {
      ++usage.tcg_mappings;
      usage.tcg_rss_kib += current.rss_kib;
    }
  };
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.empty()) continue;
    // Field lines are "Name:   value [kB]"; the name has no space.
    const size_t colon = line.find(':');
    const size_t space = line.find(' ');
    const bool field = colon != std::string_view::npos &&
                       (space == std::string_view::npos || colon < space);
    if (!field) {
      Mapping m;
      if (!ParseHeader(line, m)) {
        return absl::InvalidArgumentError(
            absl::StrCat("smaps line ", line_no, ": not a mapping header"));
      }
      close_mapping();
      current = m;
      have_mapping = true;
      continue;
    }
    if (line.substr(0, colon) != "Rss") continue;
    if (!have_mapping) {
      return absl::InvalidArgumentError(
          absl::StrCat("smaps line ", line_no, ": Rss before any mapping"));
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    uint64_t kib = 0;
    auto [ptr, ec] =
        std::from_chars(value.data(), value.data() + value.size(), kib);
    if (ec != std::errc() || ptr == value.data()) {
      return absl::InvalidArgumentError(
          absl::StrCat("smaps line ", line_no, ": bad Rss value"));
    }
    current.rss_kib = kib;
  }
  close_mapping();
  if (usage.mappings == 0) {
    return absl::InvalidArgumentError("smaps: no mappings");
  }
  usage.rss_beyond_guest_kib = usage.total_rss_kib - usage.guest_ram_rss_kib;
  return usage;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          size_t limit) {
  SKIFF_ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(path, O_RDONLY));
  std::string out;
  char buf[65536];
  while (out.size() < limit) {
    const ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(absl::StrCat("read ", path));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace skiff::bench
