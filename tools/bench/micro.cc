#include "tools/bench/micro.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

extern char** environ;

namespace skiff::bench {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == ',' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// `"key": value` -> (key, value without quotes); false for other lines.
bool SplitPair(std::string_view line, std::string& key, std::string& value) {
  line = Trim(line);
  if (line.size() < 4 || line.front() != '"') return false;
  const size_t close = line.find('"', 1);
  if (close == std::string_view::npos || close + 1 >= line.size() ||
      line[close + 1] != ':') {
    return false;
  }
  key = std::string(line.substr(1, close - 1));
  std::string_view v = Trim(line.substr(close + 2));
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    v = v.substr(1, v.size() - 2);
  }
  value = std::string(v);
  return true;
}

std::optional<double> Number(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

std::string Rate(std::optional<double> v) {
  if (!v) return "-";
  if (*v >= 1e9) return absl::StrFormat("%.2fG", *v / 1e9);
  if (*v >= 1e6) return absl::StrFormat("%.2fM", *v / 1e6);
  if (*v >= 1e3) return absl::StrFormat("%.2fk", *v / 1e3);
  return absl::StrFormat("%.2f", *v);
}

}  // namespace

std::vector<std::string> FindBenchmarks(const std::string& build_dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(build_dir, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (it->is_directory(ec)) {
      if (name.ends_with(".p") || name.starts_with("meson-")) {
        it.disable_recursion_pending();
      }
      continue;
    }
    if (!name.ends_with("_benchmark") || !it->is_regular_file(ec)) continue;
    if (access(it->path().c_str(), X_OK) == 0)
      out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::vector<MicroResult>> ParseBenchmarkJson(
    std::string_view json) {
  std::vector<MicroResult> out;
  bool in_benchmarks = false;
  bool seen_array = false;
  std::string key;
  std::string value;
  while (!json.empty()) {
    const size_t nl = json.find('\n');
    const std::string_view line = json.substr(0, nl);
    json.remove_prefix(nl == std::string_view::npos ? json.size() : nl + 1);
    if (!in_benchmarks) {
      if (Trim(line).starts_with("\"benchmarks\"")) {
        in_benchmarks = true;
        seen_array = true;
      }
      continue;
    }
    if (Trim(line) == "]") {
      in_benchmarks = false;
      continue;
    }
    if (!SplitPair(line, key, value)) continue;
    if (key == "name") {
      out.push_back(MicroResult{.name = value});
      continue;
    }
    if (out.empty()) continue;
    MicroResult& r = out.back();
    if (key == "time_unit") {
      r.time_unit = value;
    } else if (key == "error_message") {
      r.error = value.empty() ? "error" : value;
    } else if (key == "real_time" || key == "cpu_time" ||
               key == "items_per_second" || key == "bytes_per_second") {
      const std::optional<double> v = Number(value);
      if (!v) {
        return absl::InvalidArgumentError(
            absl::StrCat("benchmark ", r.name, ": bad ", key));
      }
      if (key == "real_time") r.real_time = *v;
      if (key == "cpu_time") r.cpu_time = *v;
      if (key == "items_per_second") r.items_per_second = v;
      if (key == "bytes_per_second") r.bytes_per_second = v;
    }
  }
  if (!seen_array) {
    return absl::InvalidArgumentError(
        "not Google Benchmark JSON (no \"benchmarks\" array)");
  }
  return out;
}

std::string FormatMicroTable(const std::vector<MicroResult>& results) {
  std::string out = absl::StrFormat("%-20s %-46s %14s %10s %10s\n", "binary",
                                    "benchmark", "time", "items/s", "bytes/s");
  for (const MicroResult& r : results) {
    std::string name = r.name;
    if (name.size() > 46) name = name.substr(0, 43) + "...";
    if (!r.error.empty()) {
      absl::StrAppend(&out, absl::StrFormat("%-20s %-46s skipped: %s\n",
                                            r.executable, name, r.error));
      continue;
    }
    absl::StrAppend(&out, absl::StrFormat("%-20s %-46s %11.1f %-2s %10s %10s\n",
                                          r.executable, name, r.real_time,
                                          r.time_unit, Rate(r.items_per_second),
                                          Rate(r.bytes_per_second)));
  }
  return out;
}

absl::StatusOr<std::string> RunBenchmarkExecutable(const std::string& exe,
                                                   const std::string& filter) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  std::vector<std::string> args = {exe, "--benchmark_format=json"};
  if (!filter.empty()) args.push_back("--benchmark_filter=" + filter);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return ErrnoStatus(absl::StrCat("posix_spawn ", exe), rc);
  write_end.Reset();
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = read(read_end.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(
        absl::StrCat(exe, ": exited abnormally (status ", status, ")"));
  }
  return out;
}

}  // namespace skiff::bench
