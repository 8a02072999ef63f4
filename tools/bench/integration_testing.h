// What the skiff-bench integration tests share: finding programs on PATH,
// the skip reason when the cached default guest is missing, a fresh scratch
// directory, running a skiff-bench command line and reading the JSON it
// wrote, and a failed run's reason. Test-only (uses gtest's TempDir).
//
//   const std::string guest = CachedGuestDir();
//   if (std::string why = MissingGuestReason(guest); !why.empty()) {
//     GTEST_SKIP() << why;
//   }
//   const std::filesystem::path dir = FreshTestDir("bench_boot_integration");
//   int status = 0;
//   absl::StatusOr<JsonValue> v =
//       RunBenchForJson(cmd, (dir / "boot.json").string(), status);
#ifndef SKIFF_TOOLS_BENCH_INTEGRATION_TESTING_H_
#define SKIFF_TOOLS_BENCH_INTEGRATION_TESTING_H_

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "tools/bench/bench_flags.h"
#include "tools/bench/json_reader.h"
#include "tools/bench/smaps.h"

namespace skiff::bench {

// Whether an executable `name` is in a directory of $PATH.
inline bool OnPath(const std::string& name) {
  const char* path = getenv("PATH");
  if (path == nullptr) return false;
  std::string_view rest = path;
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) {
      return true;
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return false;
}

// The default guest directory under $HOME ("" when HOME is unset).
inline std::string CachedGuestDir() {
  const char* home = getenv("HOME");
  return home ? DefaultGuestDir(home) : "";
}

// Why the cached guest in `guest` cannot be booted, or "" when its vmlinux
// and initramfs.cpio are there.
inline std::string MissingGuestReason(const std::string& guest) {
  if (guest.empty() || access((guest + "/vmlinux").c_str(), R_OK) != 0 ||
      access((guest + "/initramfs.cpio").c_str(), R_OK) != 0) {
    return "no cached guest in " + guest + " (run scripts/prepare-guest)";
  }
  return "";
}

// An empty directory `name` under gtest's temporary directory.
inline std::filesystem::path FreshTestDir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs `cmd` (a skiff-bench command line writing JSON to `json_path`)
// through the shell, echoing it first, and returns the JSON it wrote. Sets
// `status` to system()'s status; an error when the command did not exit.
inline absl::StatusOr<JsonValue> RunBenchForJson(const std::string& cmd,
                                                 const std::string& json_path,
                                                 int& status) {
  std::printf("running: %s\n", cmd.c_str());
  std::fflush(stdout);
  status = std::system(cmd.c_str());
  if (!WIFEXITED(status)) {
    return absl::InternalError("skiff-bench did not exit: status " +
                               std::to_string(status));
  }
  absl::StatusOr<std::string> text = ReadSmallFile(json_path);
  if (!text.ok()) return text.status();
  return ParseJson(*text);
}

// Why one run in the JSON failed, for an assertion's message.
inline std::string RunFailure(const JsonValue& run) {
  return run.Find("failure")->string +
         " / console: " + run.Find("last_console_line")->string +
         " / stderr: " + run.Find("last_stderr_line")->string;
}

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_INTEGRATION_TESTING_H_
