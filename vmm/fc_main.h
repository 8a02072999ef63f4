// The Firecracker-compatible front end: `skiff fc` (or the skiff binary
// invoked as `firecracker`) serves Firecracker's REST API on a Unix socket
// and/or boots a --config-file, runs the microVM and exits with its status;
// plus the API server `skiff run --api-socket` attaches to a VM started from
// the command line.
//
//   skiff fc --api-sock /tmp/fc.sock            # then curl --unix-socket ...
//   skiff fc --no-api --config-file vm.json     # what skiff@.service runs
//
//   int main(...) { return FcMain(args, absl::Now()); }
//
// Signals: SIGTERM sends Ctrl-Alt-Del and waits --shutdown-timeout for the
// guest to reset (Machine::WaitForStop), SIGINT stops at once. Under systemd
// (NOTIFY_SOCKET set) READY=1 goes out once the VM runs and STOPPING=1 when
// it begins to stop.
#ifndef SKIFF_VMM_FC_MAIN_H_
#define SKIFF_VMM_FC_MAIN_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/firecracker_api.h"
#include "api/http_server.h"
#include "base/log.h"
#include "vmm/machine.h"
#include "vmm/machine_controller.h"
#include "vmm/vm_config.h"

namespace skiff {

struct FcFlags {
  std::string api_sock = "/run/firecracker.socket";  // Firecracker's default
  std::string config_file;
  bool no_api = false;
  bool boot_timer = false;  // accepted: skiff's boot-timer device is always on
  std::string id = "anonymous-instance";
  std::optional<Accel> accel;
  std::optional<SeccompMode> seccomp;
  std::optional<SerialConfig> serial;
  absl::Duration shutdown_timeout = absl::Seconds(10);
  LogLevel log_level = LogLevel::kWarn;
  bool help = false;
};

// `args` excludes the program name and the "fc" word.
absl::StatusOr<FcFlags> ParseFcFlags(const std::vector<std::string>& args);
const char* FcHelpText();

// The whole `skiff fc` process: returns its exit status.
int FcMain(const std::vector<std::string>& args, absl::Time process_start);

// skiff's exit status for a failure before the VM runs (vcpu_thread.h):
// bad input 2, anything else 8.
int ExitStatusForError(const absl::Status& status);

// `skiff run --api-socket PATH`: the same API, reporting the command-line VM
// as running, so only post-boot requests (pause, resume, Ctrl-Alt-Del, GET)
// apply. Destroy it before the Machine.
class AttachedApi {
 public:
  static absl::StatusOr<std::unique_ptr<AttachedApi>> Create(
      const std::string& socket_path, const VmConfig& config, Machine* machine);
  ~AttachedApi();

 private:
  AttachedApi() = default;

  std::unique_ptr<MachineController> controller_;
  std::unique_ptr<api::FirecrackerApi> api_;
  std::unique_ptr<api::HttpServer> server_;
};

}  // namespace skiff

#endif  // SKIFF_VMM_FC_MAIN_H_
