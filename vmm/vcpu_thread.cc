#include "vmm/vcpu_thread.h"

#include <pthread.h>
#include <sched.h>

#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace skiff {

VcpuThread::VcpuThread(std::unique_ptr<VcpuBackend> backend, VcpuIo& io,
                       devices::MachineControl& control, Options options)
    : index_(backend->index()),
      backend_(std::move(backend)),
      io_(io),
      control_(control),
      options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  halted_ = options_.start_halted;
}

VcpuThread::~VcpuThread() {
  Stop();
  Join();
}

absl::Status VcpuThread::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (running_ || thread_.joinable()) {
      return absl::FailedPreconditionError("vCPU thread already started");
    }
    running_ = true;
  }
  thread_ = std::thread([this] { Loop(); });
  if (!options_.affinity.empty()) return SetAffinity(options_.affinity);
  return absl::OkStatus();
}

void VcpuThread::Stop() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
  if (in_run_) backend_->Kick();
}

void VcpuThread::Join() {
  if (thread_.joinable()) thread_.join();
}

void VcpuThread::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
  if (in_run_) backend_->Kick();
  auto parked_or_gone = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return parked_ || !running_;
  };
  mu_.Await(absl::Condition(&parked_or_gone));
}

void VcpuThread::Resume() {
  absl::MutexLock lock(&mu_);
  paused_ = false;
}

bool VcpuThread::paused() const {
  absl::MutexLock lock(&mu_);
  return paused_;
}

void VcpuThread::Kick() {
  absl::MutexLock lock(&mu_);
  if (in_run_) backend_->Kick();
}

void VcpuThread::Wake() {
  absl::MutexLock lock(&mu_);
  halted_ = false;
  if (in_run_) backend_->Kick();
}

absl::Status VcpuThread::RunSync(std::function<absl::Status(VcpuBackend&)> fn) {
  absl::Notification done;
  absl::Status result;
  {
    absl::MutexLock lock(&mu_);
    if (!running_ || stop_) {
      return absl::FailedPreconditionError(
          absl::StrFormat("vcpu%d is not running", index_));
    }
    work_.push_back([&](VcpuBackend& b) {
      result = fn(b);
      done.Notify();
    });
    if (in_run_) backend_->Kick();
  }
  // The loop runs or drops every queued item before it ends, so this
  // always returns.
  done.WaitForNotification();
  return result;
}

absl::Status VcpuThread::SetAffinity(std::vector<int> cpus) {
  return RunSync([cpus = std::move(cpus)](VcpuBackend&) -> absl::Status {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpus.empty()) {
      for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &set);
    }
    for (int c : cpus) {
      if (c < 0 || c >= CPU_SETSIZE) {
        return absl::InvalidArgumentError(
            absl::StrFormat("host CPU %d is out of range", c));
      }
      CPU_SET(c, &set);
    }
    if (sched_setaffinity(0, sizeof(set), &set) < 0) {
      return ErrnoStatus("sched_setaffinity");
    }
    return absl::OkStatus();
  });
}

void VcpuThread::Loop() {
  std::string name = absl::StrFormat("vcpu%d", index_);
  pthread_setname_np(pthread_self(), name.c_str());

  for (;;) {
    std::deque<Work> work;
    {
      absl::MutexLock lock(&mu_);
      auto has_something = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || !work_.empty() || (!paused_ && !halted_);
      };
      parked_ = paused_;
      mu_.Await(absl::Condition(&has_something));
      parked_ = false;
      if (stop_) break;
      work.swap(work_);
      if (work.empty()) in_run_ = true;
    }
    if (!work.empty()) {
      for (Work& w : work) w(*backend_);
      continue;
    }
    absl::StatusOr<VcpuExit> exit = backend_->Run(io_);
    bool keep_going;
    {
      absl::MutexLock lock(&mu_);
      in_run_ = false;
    }
    exits_.fetch_add(1, std::memory_order_relaxed);
    if (!exit.ok()) {
      SKIFF_LOG(kError, "vcpu%d: %s", index_,
                std::string(exit.status().message()));
      control_.RequestStop(devices::StopReason::kError, kExitVmmError);
      keep_going = false;
    } else {
      keep_going = HandleExit(*exit);
    }
    if (!keep_going) break;
  }

  absl::MutexLock lock(&mu_);
  running_ = false;
  stop_ = true;
  // Work queued after the loop ended is run here so RunSync never hangs.
  while (!work_.empty()) {
    Work w = std::move(work_.front());
    work_.pop_front();
    mu_.Unlock();
    w(*backend_);
    mu_.Lock();
  }
}

bool VcpuThread::HandleExit(const VcpuExit& exit) {
  using Kind = VcpuExit::Kind;
  switch (exit.kind) {
    case Kind::kInterrupted:
    case Kind::kDebug:
      return true;
    case Kind::kHalt: {
      absl::MutexLock lock(&mu_);
      halted_ = true;
      return true;
    }
    case Kind::kReset:
      control_.RequestStop(devices::StopReason::kReset, 0);
      return false;
    case Kind::kPowerOff:
      control_.RequestStop(devices::StopReason::kPowerOff, 0);
      return false;
    case Kind::kShutdown:
      SKIFF_LOG(kError, "vcpu%d: guest shutdown (triple fault): %s", index_,
                DescribeVcpuExit(exit));
      control_.RequestStop(devices::StopReason::kShutdown, kExitGuestShutdown);
      return false;
    case Kind::kInternalError:
      SKIFF_LOG(kError, "vcpu%d: %s", index_, DescribeVcpuExit(exit));
      control_.RequestStop(devices::StopReason::kError, kExitBackendError);
      return false;
  }
  return true;
}

}  // namespace skiff
