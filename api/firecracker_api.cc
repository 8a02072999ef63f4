#include "api/firecracker_api.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/fc_json.h"
#include "base/status_macros.h"

namespace skiff::api {
namespace {

HttpResponse NoContent() { return HttpResponse{204, ""}; }

HttpResponse JsonResponse(const Json& j) {
  return HttpResponse{200, DumpJson(j)};
}

HttpResponse FromStatus(const absl::Status& status) {
  if (status.ok()) return NoContent();
  return FaultResponse(400, std::string(status.message()));
}

absl::StatusOr<Json> ParseBody(const std::string& body) {
  if (body.empty()) {
    return absl::InvalidArgumentError("request body is empty (expected JSON)");
  }
  return ParseJsonText(body);
}

HttpResponse MethodNotAllowed(const HttpRequest& request) {
  return FaultResponse(405, absl::StrCat(request.method, " ", request.path,
                                         ": method not allowed"));
}

// Firecracker resources skiff does not implement: a clear 400, not 404.
constexpr const char* kUnsupported[] = {
    "balloon", "mmds",   "snapshot", "cpu-config",
    "hotplug", "serial", "pmem",     "memory-hotplug"};

}  // namespace

const char* StateName(FirecrackerApi::State state) {
  switch (state) {
    case FirecrackerApi::State::kNotStarted:
      return "Not started";
    case FirecrackerApi::State::kRunning:
      return "Running";
    case FirecrackerApi::State::kPaused:
      return "Paused";
  }
  return "Unknown";
}

HttpResponse FaultResponse(int status, absl::string_view message) {
  Json j = {{"fault_message",
             OneLine(std::string_view(message.data(), message.size()))}};
  return HttpResponse{status, DumpJson(j)};
}

FirecrackerApi::FirecrackerApi(VmController* controller, ApiOptions options)
    : controller_(controller), options_(std::move(options)) {}

FirecrackerApi::State FirecrackerApi::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

FcConfig FirecrackerApi::config() const {
  absl::MutexLock lock(&mu_);
  return config_;
}

HttpResponse FirecrackerApi::Handle(const HttpRequest& request) {
  absl::MutexLock lock(&mu_);
  try {
    return Route(request);
  } catch (...) {
    // Every JSON access is type-checked first; this is the backstop that
    // keeps a library exception from becoming a crash.
    return FaultResponse(400, "invalid request");
  }
}

absl::Status FirecrackerApi::PreBootOnly() const {
  if (state_ != State::kNotStarted) {
    return absl::FailedPreconditionError(
        "the requested operation is not supported after starting the "
        "microVM");
  }
  return absl::OkStatus();
}

HttpResponse FirecrackerApi::Route(const HttpRequest& request) {
  const std::string& m = request.method;
  std::vector<std::string> parts = absl::StrSplit(request.path, '/');
  // "/a/b" splits into "", "a", "b"; anything not starting with '/' is
  // not a resource of ours.
  if (parts.empty() || !parts[0].empty()) {
    return FaultResponse(404, absl::StrCat("no resource at ", request.path));
  }
  parts.erase(parts.begin());
  const std::string& first = parts.empty() ? std::string() : parts[0];
  const size_t n = parts.size();

  if (n == 1 && first.empty()) {
    if (m != "GET") return MethodNotAllowed(request);
    return GetInstanceInfo();
  }
  if (n == 1 && first == "version") {
    if (m != "GET") return MethodNotAllowed(request);
    return JsonResponse({{"firecracker_version", options_.version}});
  }
  if (n == 1 && first == "boot-source") {
    if (m != "PUT") return MethodNotAllowed(request);
    return PutBootSource(request.body);
  }
  if (n == 1 && first == "machine-config") {
    if (m != "GET" && m != "PUT" && m != "PATCH") {
      return MethodNotAllowed(request);
    }
    return MachineConfig(m, request.body);
  }
  if ((first == "drives" || first == "network-interfaces") && n <= 2) {
    if (m != "PUT" && m != "PATCH") return MethodNotAllowed(request);
    if (n == 1 || parts[1].empty()) {
      return FaultResponse(400,
                           absl::StrCat(first, ": missing id in the path"));
    }
    if (!IsValidFcId(parts[1])) {
      return FaultResponse(
          400, absl::StrCat(first,
                            ": id in the path must be 1..64 characters "
                            "of A-Z, a-z, 0-9 and _"));
    }
    return first == "drives" ? Drive(m, parts[1], request.body)
                             : Network(m, parts[1], request.body);
  }
  if (n == 1 && first == "vsock") {
    if (m != "PUT") return MethodNotAllowed(request);
    return PutVsock(request.body);
  }
  if (n == 1 && first == "entropy") {
    if (m != "PUT") return MethodNotAllowed(request);
    return PutEntropy(request.body);
  }
  if (n == 1 && first == "logger") {
    if (m != "PUT") return MethodNotAllowed(request);
    return PutLogger(request.body);
  }
  if (n == 1 && first == "metrics") {
    if (m != "PUT") return MethodNotAllowed(request);
    return PutMetrics(request.body);
  }
  if (n == 1 && first == "actions") {
    if (m != "PUT") return MethodNotAllowed(request);
    return PutActions(request.body);
  }
  if (n == 1 && first == "vm") {
    if (m != "PATCH") return MethodNotAllowed(request);
    return PatchVm(request.body);
  }
  if (n == 2 && first == "vm" && parts[1] == "config") {
    if (m != "GET") return MethodNotAllowed(request);
    return JsonResponse(FcConfigToJson(config_));
  }
  for (const char* name : kUnsupported) {
    if (first == name) {
      return FaultResponse(
          400, absl::StrCat("/", first, " is not supported by skiff"));
    }
  }
  return FaultResponse(404, absl::StrCat("no resource at ", request.path));
}

HttpResponse FirecrackerApi::GetInstanceInfo() const {
  return JsonResponse({{"app_name", options_.app_name},
                       {"id", options_.instance_id},
                       {"state", StateName(state_)},
                       {"vmm_version", options_.version}});
}

HttpResponse FirecrackerApi::PutBootSource(const std::string& body) {
  if (absl::Status s = PreBootOnly(); !s.ok()) return FromStatus(s);
  absl::StatusOr<Json> j = ParseBody(body);
  if (!j.ok()) return FromStatus(j.status());
  absl::StatusOr<FcBootSource> b = ParseBootSource(*j);
  if (!b.ok()) return FromStatus(b.status());
  config_.boot_source = std::move(*b);
  return NoContent();
}

HttpResponse FirecrackerApi::MachineConfig(const std::string& method,
                                           const std::string& body) {
  if (method == "GET") {
    return JsonResponse(MachineConfigToJson(config_.machine_config));
  }
  if (absl::Status s = PreBootOnly(); !s.ok()) return FromStatus(s);
  absl::StatusOr<Json> j = ParseBody(body);
  if (!j.ok()) return FromStatus(j.status());
  absl::StatusOr<FcMachineConfig> mc =
      ParseMachineConfig(*j, method == "PATCH", config_.machine_config);
  if (!mc.ok()) return FromStatus(mc.status());
  config_.machine_config = *mc;
  return NoContent();
}

HttpResponse FirecrackerApi::Drive(const std::string& method,
                                   const std::string& id,
                                   const std::string& body) {
  absl::StatusOr<Json> j = ParseBody(body);
  if (!j.ok()) return FromStatus(j.status());
  if (method == "PUT") {
    if (absl::Status s = PreBootOnly(); !s.ok()) return FromStatus(s);
    absl::StatusOr<FcDrive> d = ParseDrive(*j);
    if (!d.ok()) return FromStatus(d.status());
    if (d->drive_id != id) {
      return FaultResponse(400, "drive_id: differs from the id in the path");
    }
    return FromStatus(AddDrive(config_, std::move(*d), /*replace=*/true));
  }
  absl::StatusOr<FcPartialDrive> p = ParsePartialDrive(*j);
  if (!p.ok()) return FromStatus(p.status());
  if (p->drive_id != id) {
    return FaultResponse(400, "drive_id: differs from the id in the path");
  }
  FcDrive* drive = nullptr;
  for (FcDrive& d : config_.drives) {
    if (d.drive_id == id) drive = &d;
  }
  if (drive == nullptr) {
    return FaultResponse(400, absl::StrCat("drive ", id, " is not configured"));
  }
  if (!p->path_on_host.has_value()) return NoContent();
  if (state_ != State::kNotStarted) {
    absl::Status s = controller_->UpdateDrivePath(id, *p->path_on_host);
    if (!s.ok()) return FromStatus(s);
  }
  drive->path_on_host = *p->path_on_host;
  return NoContent();
}

HttpResponse FirecrackerApi::Network(const std::string& method,
                                     const std::string& id,
                                     const std::string& body) {
  absl::StatusOr<Json> j = ParseBody(body);
  if (!j.ok()) return FromStatus(j.status());
  if (method == "PUT") {
    if (absl::Status s = PreBootOnly(); !s.ok()) return FromStatus(s);
    absl::StatusOr<FcNetworkInterface> n = ParseNetworkInterface(*j);
    if (!n.ok()) return FromStatus(n.status());
    if (n->iface_id != id) {
      return FaultResponse(400, "iface_id: differs from the id in the path");
    }
    return FromStatus(
        AddNetworkInterface(config_, std::move(*n), /*replace=*/true));
  }
  absl::StatusOr<std::string> p = ParsePartialNetworkInterface(*j);
  if (!p.ok()) return FromStatus(p.status());
  if (*p != id) {
    return FaultResponse(400, "iface_id: differs from the id in the path");
  }
  for (const FcNetworkInterface& n : config_.network_interfaces) {
    if (n.iface_id == id) return NoContent();  // nothing to change
  }
  return FaultResponse(
      400, absl::StrCat("network interface ", id, " is not configured"));
}

HttpResponse FirecrackerApi::PutVsock(const std::string& body) {
  if (absl::Status s = PreBootOnly(); !s.ok()) return FromStatus(s);
  absl::StatusOr<Json> j = ParseBody(body);
  if (!j.ok()) return FromStatus(j.status());
  absl::StatusOr<FcVsock> v = ParseVsock(*j);
  if (!v.ok()) return FromStatus(v.status());
  config_.vsock = std::move(*v);
  return NoContent();
}

HttpResponse FirecrackerApi::PutEntropy(const std::string& body) {
  if (absl::Status s = PreBootOnly(); !s.ok()) return FromStatus(s);
  absl::StatusOr<Json> j = ParseBody(body);
  if (!j.ok()) return FromStatus(j.status());
  if (absl::Status s = ParseEntropy(*j); !s.ok()) return FromStatus(s);
  config_.entropy = true;
  return NoContent();
}

HttpResponse FirecrackerApi::PutLogger(const std::string& body) {
  if (absl::Status s = PreBootOnly(); !s.ok()) return FromStatus(s);
  absl::StatusOr<Json> j = ParseBody(body);
  if (!j.ok()) return FromStatus(j.status());
  absl::StatusOr<FcLogger> l = ParseLogger(*j);
  if (!l.ok()) return FromStatus(l.status());
  if (absl::Status s = controller_->ConfigureLogger(*l); !s.ok()) {
    return FromStatus(s);
  }
  config_.logger = std::move(*l);
  return NoContent();
}

HttpResponse FirecrackerApi::PutMetrics(const std::string& body) {
  if (absl::Status s = PreBootOnly(); !s.ok()) return FromStatus(s);
  absl::StatusOr<Json> j = ParseBody(body);
  if (!j.ok()) return FromStatus(j.status());
  absl::StatusOr<FcMetrics> mt = ParseMetrics(*j);
  if (!mt.ok()) return FromStatus(mt.status());
  if (absl::Status s = controller_->ConfigureMetrics(*mt); !s.ok()) {
    return FromStatus(s);
  }
  config_.metrics = std::move(*mt);
  return NoContent();
}

HttpResponse FirecrackerApi::PutActions(const std::string& body) {
  absl::StatusOr<Json> j = ParseBody(body);
  if (!j.ok()) return FromStatus(j.status());
  if (!j->is_object()) return FaultResponse(400, "expected a JSON object");
  for (auto it = j->begin(); it != j->end(); ++it) {
    if (it.key() != "action_type") {
      return FaultResponse(400, absl::StrCat(it.key(), ": unknown field"));
    }
  }
  auto a = j->find("action_type");
  if (a == j->end() || a->is_null()) {
    return FaultResponse(400, "action_type: missing (required)");
  }
  if (!a->is_string())
    return FaultResponse(400, "action_type: expected a string");
  const std::string& action = a->get_ref<const std::string&>();
  if (action == "InstanceStart") return FromStatus(StartLocked());
  if (action == "SendCtrlAltDel") {
    if (state_ == State::kNotStarted) {
      return FaultResponse(400, "SendCtrlAltDel: the microVM is not running");
    }
    return FromStatus(controller_->SendCtrlAltDel());
  }
  if (action == "FlushMetrics") return FromStatus(controller_->FlushMetrics());
  return FaultResponse(400, absl::StrCat("action_type: \"", action,
                                         "\" is not one of InstanceStart, "
                                         "SendCtrlAltDel, FlushMetrics"));
}

HttpResponse FirecrackerApi::PatchVm(const std::string& body) {
  absl::StatusOr<Json> j = ParseBody(body);
  if (!j.ok()) return FromStatus(j.status());
  if (!j->is_object()) return FaultResponse(400, "expected a JSON object");
  for (auto it = j->begin(); it != j->end(); ++it) {
    if (it.key() != "state") {
      return FaultResponse(400, absl::StrCat(it.key(), ": unknown field"));
    }
  }
  auto s = j->find("state");
  if (s == j->end() || s->is_null()) {
    return FaultResponse(400, "state: missing (required)");
  }
  if (!s->is_string()) return FaultResponse(400, "state: expected a string");
  const std::string& want = s->get_ref<const std::string&>();
  if (want != "Paused" && want != "Resumed") {
    return FaultResponse(400, "state: expected \"Paused\" or \"Resumed\"");
  }
  if (state_ == State::kNotStarted) {
    return FaultResponse(400, "state: the microVM has not been started");
  }
  if (want == "Paused") {
    if (state_ == State::kPaused) return NoContent();
    if (absl::Status st = controller_->Pause(); !st.ok()) return FromStatus(st);
    state_ = State::kPaused;
  } else {
    if (state_ == State::kRunning) return NoContent();
    if (absl::Status st = controller_->Resume(); !st.ok())
      return FromStatus(st);
    state_ = State::kRunning;
  }
  return NoContent();
}

absl::Status FirecrackerApi::StartLocked() {
  if (state_ != State::kNotStarted) {
    return absl::FailedPreconditionError(
        "InstanceStart: the microVM is already running");
  }
  SKIFF_ASSIGN_OR_RETURN(VmConfig vm, config_.ToVmConfig());
  if (absl::Status s = controller_->Start(vm); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("InstanceStart: ", s.message()));
  }
  state_ = State::kRunning;
  return absl::OkStatus();
}

absl::Status FirecrackerApi::StartInstance() {
  absl::MutexLock lock(&mu_);
  return StartLocked();
}

absl::Status FirecrackerApi::AttachRunning(const FcConfig& config) {
  absl::MutexLock lock(&mu_);
  SKIFF_RETURN_IF_ERROR(PreBootOnly());
  config_ = config;
  state_ = State::kRunning;
  return absl::OkStatus();
}

absl::Status FirecrackerApi::Configure(const FcConfig& config) {
  absl::MutexLock lock(&mu_);
  SKIFF_RETURN_IF_ERROR(PreBootOnly());
  if (config.logger.has_value()) {
    SKIFF_RETURN_IF_ERROR(controller_->ConfigureLogger(*config.logger));
  }
  if (config.metrics.has_value()) {
    SKIFF_RETURN_IF_ERROR(controller_->ConfigureMetrics(*config.metrics));
  }
  config_ = config;
  return absl::OkStatus();
}

}  // namespace skiff::api
