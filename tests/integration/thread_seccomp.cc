#include "tests/integration/thread_seccomp.h"

#include <dirent.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace skiff::testing {

std::map<std::string, ThreadSeccomp> ThreadSeccompModes(pid_t pid) {
  std::map<std::string, ThreadSeccomp> threads;
  const std::string dir = absl::StrCat("/proc/", pid, "/task");
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return threads;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream status(absl::StrCat(dir, "/", e->d_name, "/status"));
    ThreadSeccomp t;
    for (std::string line; std::getline(status, line);) {
      if (absl::StartsWith(line, "Name:")) t.name = line.substr(6);
      if (absl::StartsWith(line, "Seccomp:") &&
          !absl::SimpleAtoi(line.substr(9), &t.mode)) {
        t.mode = -1;
      }
    }
    if (t.mode >= 0) threads[e->d_name] = t;
  }
  closedir(d);
  return threads;
}

std::string DescribeThreads(
    const std::map<std::string, ThreadSeccomp>& threads) {
  std::vector<std::string> parts;
  for (const auto& [tid, t] : threads) {
    parts.push_back(absl::StrCat(t.name, "(", tid, ")=", t.mode));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace skiff::testing
