#include "vmm/machine_controller.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace skiff {

absl::StatusOr<std::unique_ptr<MachineController>> MachineController::Create(
    Options options) {
  SKIFF_ASSIGN_OR_RETURN(EventFd request, EventFd::Create());
  return std::unique_ptr<MachineController>(
      new MachineController(std::move(options), std::move(request)));
}

VmConfig MachineController::Effective(const VmConfig& config) const {
  VmConfig vm = config;
  if (options_.accel) vm.accel = *options_.accel;
  if (options_.seccomp) vm.seccomp = *options_.seccomp;
  if (options_.serial) vm.serial = *options_.serial;
  absl::MutexLock lock(&mu_);
  if (!metrics_path_.empty()) vm.metrics_path = metrics_path_;
  return vm;
}

absl::Status MachineController::Start(const VmConfig& config) {
  VmConfig vm = Effective(config);
  absl::MutexLock lock(&mu_);
  if (stopped_ || cancel_status_.has_value()) {
    return absl::FailedPreconditionError("the microVM has already stopped");
  }
  if (machine_ != nullptr || start_request_.has_value()) {
    return absl::FailedPreconditionError("the microVM is already started");
  }
  start_request_ = std::move(vm);
  start_result_.reset();
  request_.Signal();
  auto answered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return start_result_.has_value();
  };
  mu_.Await(absl::Condition(&answered));
  absl::Status result = *start_result_;
  start_result_.reset();
  return result;
}

void MachineController::Cancel(int exit_status) {
  absl::MutexLock lock(&mu_);
  if (!cancel_status_.has_value()) cancel_status_ = exit_status;
  request_.Signal();
}

int MachineController::Run(int signal_fd) {
  std::unique_ptr<Machine> machine;
  while (machine == nullptr) {
    pollfd fds[2] = {{request_.fd(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (::poll(fds, signal_fd >= 0 ? 2 : 1, -1) < 0) continue;
    if (signal_fd >= 0 && fds[1].revents != 0) {
      signalfd_siginfo info;
      if (::read(signal_fd, &info, sizeof(info)) == sizeof(info)) {
        SKIFF_LOG(kInfo, "received signal %d before the microVM started",
                  info.ssi_signo);
        absl::MutexLock lock(&mu_);
        stopped_ = true;
        if (start_request_.has_value()) {  // its caller must not wait forever
          start_request_.reset();
          start_result_ = absl::CancelledError("shutting down");
        }
        return 0;
      }
    }
    if (fds[0].revents == 0) continue;
    request_.Consume();
    VmConfig config;
    {
      absl::MutexLock lock(&mu_);
      if (cancel_status_.has_value()) {
        stopped_ = true;
        if (start_request_.has_value()) {
          start_request_.reset();
          start_result_ = absl::CancelledError("shutting down");
        }
        return *cancel_status_;
      }
      if (!start_request_.has_value()) continue;
      config = *std::move(start_request_);
      start_request_.reset();
    }
    // Created and started outside mu_: lifecycle calls must not wait on a
    // boot, and Start()'s caller waits on start_result_ anyway.
    absl::Status status;
    auto created = Machine::Create(config, options_.machine);
    if (created.ok()) {
      status = (*created)->Start();
      if (status.ok()) machine = *std::move(created);
    } else {
      status = created.status();
    }
    absl::MutexLock lock(&mu_);
    if (machine != nullptr) machine_ = machine.get();
    start_result_ = status;
    if (!status.ok()) {
      SKIFF_LOG(kWarn, "InstanceStart failed: %s",
                OneLine(std::string(status.message())));
    }
  }
  SKIFF_LOG(kInfo, "microVM running accel=%s",
            std::string(machine->backend_name()));
  // From here this thread only waits for the VM and tears it down.
  if (absl::Status st = machine->ConfineVmmThread(); !st.ok()) {
    SKIFF_LOG(kError, "seccomp: %s", OneLine(std::string(st.message())));
    machine->RequestStop(devices::StopReason::kError, kExitVmmError);
  }
  if (options_.on_started) options_.on_started();
  const int status = machine->WaitForStop(signal_fd);
  {
    absl::MutexLock lock(&mu_);
    machine_ = nullptr;
    stopped_ = true;
  }
  machine.reset();
  return status;
}

void MachineController::Attach(Machine* machine) {
  absl::MutexLock lock(&mu_);
  machine_ = machine;
}

void MachineController::Detach() {
  absl::MutexLock lock(&mu_);
  machine_ = nullptr;
  stopped_ = true;
}

absl::StatusOr<Machine*> MachineController::Running() {
  if (machine_ == nullptr) {
    return absl::FailedPreconditionError(
        stopped_ ? "the microVM has stopped" : "the microVM is not running");
  }
  return machine_;
}

absl::Status MachineController::Pause() {
  absl::MutexLock lock(&mu_);
  SKIFF_ASSIGN_OR_RETURN(Machine * m, Running());
  m->Pause();
  return absl::OkStatus();
}

absl::Status MachineController::Resume() {
  absl::MutexLock lock(&mu_);
  SKIFF_ASSIGN_OR_RETURN(Machine * m, Running());
  m->Resume();
  return absl::OkStatus();
}

absl::Status MachineController::SendCtrlAltDel() {
  absl::MutexLock lock(&mu_);
  SKIFF_ASSIGN_OR_RETURN(Machine * m, Running());
  return m->SendCtrlAltDel();
}

absl::Status MachineController::FlushMetrics() {
  absl::MutexLock lock(&mu_);
  SKIFF_ASSIGN_OR_RETURN(Machine * m, Running());
  return m->FlushMetrics();
}

absl::Status MachineController::UpdateDrivePath(const std::string& drive_id,
                                                const std::string& path) {
  absl::MutexLock lock(&mu_);
  SKIFF_ASSIGN_OR_RETURN(Machine * m, Running());
  return m->UpdateDrivePath(drive_id, path);
}

absl::Status MachineController::ConfigureLogger(const api::FcLogger& logger) {
  if (!logger.log_path.empty()) {
    if (!options_.allow_log_redirect) {
      return absl::FailedPreconditionError(
          "log_path: logs go to stderr for a VM started by skiff run");
    }
    // O_NONBLOCK only for the open: a FIFO without a reader fails (ENXIO)
    // instead of hanging the API, as Firecracker's logger does.
    UniqueFd fd(::open(logger.log_path.c_str(),
                       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK,
                       0600));
    if (!fd.valid()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "log_path %s: %s", logger.log_path, std::strerror(errno)));
    }
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    // base/log writes to fd 2: point it at the log file.
    if (::dup2(fd.get(), STDERR_FILENO) < 0) {
      return absl::InternalError(
          absl::StrFormat("log_path: dup2: %s", std::strerror(errno)));
    }
  }
  SetLogLevel(logger.log_level());
  return absl::OkStatus();
}

absl::Status MachineController::ConfigureMetrics(
    const api::FcMetrics& metrics) {
  if (metrics.metrics_path.empty()) {
    return absl::InvalidArgumentError("metrics_path: empty");
  }
  absl::MutexLock lock(&mu_);
  // Applied to the VmConfig at InstanceStart (VmConfig::metrics_path).
  metrics_path_ = metrics.metrics_path;
  return absl::OkStatus();
}

}  // namespace skiff
