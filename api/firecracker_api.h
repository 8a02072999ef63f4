// FirecrackerApi answers Firecracker's REST endpoints (the subset that
// applies to skiff) with the same paths, JSON field names, status codes and
// {"fault_message": "..."} errors. It keeps the pre-boot configuration as
// an FcConfig and drives the VM through a VmController the front end
// implements (the real Machine, or a fake in tests).
//
//   class MyController : public VmController { ... };
//   MyController controller;
//   FirecrackerApi api(&controller, {.instance_id = "vm1"});
//   auto server = HttpServer::Create(path,
//       [&api](const HttpRequest& r) { return api.Handle(r); });
//
// With --config-file: Configure(ParseConfigFile(...)) then StartInstance().
#ifndef SKIFF_API_FIRECRACKER_API_H_
#define SKIFF_API_FIRECRACKER_API_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "api/fc_config.h"
#include "api/http_server.h"
#include "vmm/vm_config.h"

namespace skiff::api {

// What the API needs from the VM. Calls come from the API server thread,
// one at a time (FirecrackerApi serializes them). An error is reported to
// the client as 400 with the status message as fault_message.
class VmController {
 public:
  virtual ~VmController() = default;
  // InstanceStart: build and boot the VM; returns once it runs. Called at
  // most once successfully; after an error the API stays "Not started" and
  // may call Start again, so clean up what was built.
  virtual absl::Status Start(const VmConfig& config) = 0;
  // PATCH /vm {"state": "Paused"|"Resumed"}; only called while running /
  // paused respectively.
  virtual absl::Status Pause() = 0;
  virtual absl::Status Resume() = 0;
  // PUT /actions SendCtrlAltDel (running or paused).
  virtual absl::Status SendCtrlAltDel() = 0;
  // PUT /actions FlushMetrics (any time).
  virtual absl::Status FlushMetrics() = 0;
  // PATCH /drives/{id} with path_on_host after start: swap the backing
  // file of virtio-blk device `drive_id` (DiskConfig::id).
  virtual absl::Status UpdateDrivePath(const std::string& drive_id,
                                       const std::string& path) = 0;
  // PUT /logger and PUT /metrics (pre-boot): applied at once, as
  // Firecracker does, so later requests are logged there.
  virtual absl::Status ConfigureLogger(const FcLogger& logger) = 0;
  virtual absl::Status ConfigureMetrics(const FcMetrics& metrics) = 0;
};

struct ApiOptions {
  std::string instance_id = "anonymous-instance";  // Firecracker's default
  std::string version = "0.1.0";  // GET /version, GET / vmm_version
  std::string app_name = "skiff";
};

class FirecrackerApi {
 public:
  enum class State { kNotStarted, kRunning, kPaused };

  // `controller` must outlive the API.
  explicit FirecrackerApi(VmController* controller, ApiOptions options = {});

  // One request in, one response out; never throws. Thread-safe.
  HttpResponse Handle(const HttpRequest& request);

  // Replaces the pre-boot configuration (a --config-file), applying its
  // logger and metrics through the controller. Only before start.
  absl::Status Configure(const FcConfig& config);
  // PUT /actions {"action_type": "InstanceStart"}.
  absl::Status StartInstance();
  // For a VM the front end started itself (`skiff run --api-socket`): the
  // API reports it as running with this configuration (see
  // FcConfigFromVmConfig) and only post-boot requests apply. Only before
  // start.
  absl::Status AttachRunning(const FcConfig& config);

  State state() const;
  FcConfig config() const;

 private:
  HttpResponse Route(const HttpRequest& request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status StartLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PreBootOnly() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  HttpResponse GetInstanceInfo() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  HttpResponse PutBootSource(const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HttpResponse MachineConfig(const std::string& method, const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HttpResponse Drive(const std::string& method, const std::string& id,
                     const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HttpResponse Network(const std::string& method, const std::string& id,
                       const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HttpResponse PutVsock(const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HttpResponse PutEntropy(const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HttpResponse PutLogger(const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HttpResponse PutMetrics(const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HttpResponse PutActions(const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  HttpResponse PatchVm(const std::string& body)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  VmController* const controller_;
  const ApiOptions options_;

  mutable absl::Mutex mu_;
  FcConfig config_ ABSL_GUARDED_BY(mu_);
  State state_ ABSL_GUARDED_BY(mu_) = State::kNotStarted;
};

// "Not started" | "Running" | "Paused", as GET / reports it.
const char* StateName(FirecrackerApi::State state);

// A 400 (or other) response carrying {"fault_message": message}.
HttpResponse FaultResponse(int status, absl::string_view message);

}  // namespace skiff::api

#endif  // SKIFF_API_FIRECRACKER_API_H_
