// The command line of `skiff run`: flag parsing into a VmConfig and the
// help text. Pure functions; the front end prints the error and exits 2.
//
//   auto parsed = ParseRunFlags({"--kernel", "vmlinux", "--cpus", "2"});
//   if (!parsed.ok()) { fprintf(stderr, "skiff: %s\n", ...); return 2; }
#ifndef SKIFF_VMM_RUN_FLAGS_H_
#define SKIFF_VMM_RUN_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/log.h"
#include "vmm/vm_config.h"

namespace skiff {

struct RunFlags {
  VmConfig config;
  bool help = false;
  LogLevel log_level = LogLevel::kWarn;
  // --api-socket: serve the Firecracker-compatible API there (empty: none).
  std::string api_socket;
  // --shutdown-timeout: how long SIGTERM's Ctrl-Alt-Del may take.
  absl::Duration shutdown_timeout = absl::Seconds(10);
};

// `args` excludes the program name and the "run" word.
absl::StatusOr<RunFlags> ParseRunFlags(const std::vector<std::string>& args);

const char* RunHelpText();

}  // namespace skiff

#endif  // SKIFF_VMM_RUN_FLAGS_H_
