// MachineController is the real api::VmController: it runs the Machine the
// Firecracker-style API (or a --config-file) describes, and forwards the
// API's lifecycle calls (pause, resume, Ctrl-Alt-Del) to it.
//
// The Machine is created, started, waited for and destroyed on the thread
// that calls Run() (the process's main thread, which owns the signalfd); the
// API thread's Start() hands it the VmConfig and waits for the outcome.
//
//   MachineController controller({.machine = machine_options});
//   FirecrackerApi api(&controller);
//   ... HttpServer serving api.Handle on its own thread ...
//   int status = controller.Run(signal_fd);  // InstanceStart .. guest stop
//
// For `skiff run --api-socket`, the front end creates the Machine itself and
// lends it: controller.Attach(machine.get()); ... machine->WaitForStop(fd);
// controller.Detach(); before destroying it.
#ifndef SKIFF_VMM_MACHINE_CONTROLLER_H_
#define SKIFF_VMM_MACHINE_CONTROLLER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "api/firecracker_api.h"
#include "base/event_fd.h"
#include "vmm/machine.h"
#include "vmm/vm_config.h"

namespace skiff {

class MachineController : public api::VmController {
 public:
  struct Options {
    Machine::Options machine;
    // Process-level settings (flags of `skiff fc`) that override what the
    // API's VmConfig says.
    std::optional<Accel> accel;
    std::optional<SeccompMode> seccomp;
    std::optional<SerialConfig> serial;
    // PUT /logger with a log_path redirects the process's stderr there, as
    // Firecracker's logger does; false refuses it (an attached `skiff run`).
    bool allow_log_redirect = true;
    // Runs on the Run() thread once the VM runs (e.g. sd_notify READY=1).
    std::function<void()> on_started;
  };

  static absl::StatusOr<std::unique_ptr<MachineController>> Create(
      Options options);

  // api::VmController. Start is called from another thread than Run's.
  absl::Status Start(const VmConfig& config) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Pause() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Resume() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status SendCtrlAltDel() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status FlushMetrics() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status UpdateDrivePath(const std::string& drive_id,
                               const std::string& path) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ConfigureLogger(const api::FcLogger& logger) override;
  absl::Status ConfigureMetrics(const api::FcMetrics& metrics) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Waits for a Start() (or Cancel()), builds and starts the Machine, runs
  // it until it stops, destroys it and returns its exit status. A signal on
  // `signal_fd` (a signalfd, or -1) before the VM starts returns 0 (nothing
  // to stop); once it runs, signals are Machine::WaitForStop's. Call once.
  int Run(int signal_fd) ABSL_LOCKS_EXCLUDED(mu_);
  // Makes a Run() still waiting for Start() return `exit_status` (e.g. a
  // --config-file whose VM failed to start). Any thread.
  void Cancel(int exit_status) ABSL_LOCKS_EXCLUDED(mu_);

  // Controls `machine` (not owned; already started) until Detach().
  void Attach(Machine* machine) ABSL_LOCKS_EXCLUDED(mu_);
  void Detach() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  MachineController(Options options, EventFd request)
      : options_(std::move(options)), request_(std::move(request)) {}
  // The VmConfig the Machine gets: `config` plus the process-level options.
  VmConfig Effective(const VmConfig& config) const ABSL_LOCKS_EXCLUDED(mu_);
  // The running machine or an error saying why there is none.
  absl::StatusOr<Machine*> Running() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  const EventFd request_;  // Start() or Cancel() for Run()

  mutable absl::Mutex mu_;
  // Lifecycle calls hold mu_ while they use machine_, so Run() clears it
  // (under mu_) before the Machine goes away.
  Machine* machine_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<VmConfig> start_request_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> start_result_ ABSL_GUARDED_BY(mu_);
  std::optional<int> cancel_status_ ABSL_GUARDED_BY(mu_);
  std::string metrics_path_ ABSL_GUARDED_BY(mu_);
};

}  // namespace skiff

#endif  // SKIFF_VMM_MACHINE_CONTROLLER_H_
