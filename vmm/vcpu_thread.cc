#include "vmm/vcpu_thread.h"

#include <pthread.h>
#include <sched.h>

#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "vmm/round_robin_thread.h"

namespace skiff {

VcpuThread::VcpuThread(std::unique_ptr<VcpuBackend> backend, VcpuIo& io,
                       devices::MachineControl& control, Options options)
    : index_(backend->index()),
      backend_(std::move(backend)),
      io_(io),
      control_(control),
      options_(std::move(options)) {
  absl::MutexLock lock(&mu_);
  halted_ = waiting_for_sipi_ = options_.wait_for_sipi;
}

VcpuThread::~VcpuThread() {
  Stop();
  Join();
}

absl::Status VcpuThread::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (running_ || thread_.joinable() || added_to_shared_) {
      return absl::FailedPreconditionError("vCPU thread already started");
    }
    if (options_.shared_thread != nullptr) {
      // Before running_: nothing else uses the backend yet.
      SKIFF_RETURN_IF_ERROR(
          backend_->SetTimeSlice(options_.shared_thread->slice_instructions()));
      running_ = true;
    } else {
      running_ = true;
    }
  }
  if (options_.shared_thread != nullptr) {
    added_to_shared_ = true;
    options_.shared_thread->Add(this);
    return absl::OkStatus();
  }
  thread_ = std::thread([this] { Loop(); });
  if (!options_.affinity.empty()) return SetAffinity(options_.affinity);
  return absl::OkStatus();
}

void VcpuThread::Stop() {
  absl::MutexLock lock(&mu_);
  stop_ = true;
  if (in_run_) backend_->Kick();
  NotifyShared();
}

void VcpuThread::Join() {
  if (options_.shared_thread != nullptr) {
    // The shared thread says when it is done with this object for good
    // (after FinishLoop returned), under its own lock.
    if (added_to_shared_) options_.shared_thread->WaitRemoved(this);
    added_to_shared_ = false;
    return;
  }
  if (thread_.joinable()) thread_.join();
}

void VcpuThread::NotifyShared() {
  if (options_.shared_thread != nullptr) options_.shared_thread->Notify();
}

void VcpuThread::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
  if (in_run_) backend_->Kick();
  NotifyShared();
  // A halted vCPU outside Run() is already blocked (or about to block) in
  // RunOnce: with paused_ set, no wake lets it back into the guest. Its
  // parked_ was computed before this pause, so it would never turn true.
  // The same holds for one blocked in that wait whose halt a Wake() ended
  // just before this pause (halted_ false, but its wait now sees paused_).
  auto parked_or_gone = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return parked_ || !running_ || (halted_ && !in_run_) || waiting_;
  };
  mu_.Await(absl::Condition(&parked_or_gone));
}

void VcpuThread::Resume() {
  absl::MutexLock lock(&mu_);
  paused_ = false;
  NotifyShared();
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
  ++wakes_;
  if (waiting_for_sipi_) return;
  halted_ = false;
  if (in_run_) backend_->Kick();
  NotifyShared();
}

void VcpuThread::Init() {
  absl::MutexLock lock(&mu_);
  waiting_for_sipi_ = halted_ = true;
  if (in_run_) backend_->Kick();
  NotifyShared();
}

void VcpuThread::StartUp(uint8_t vector) {
  absl::MutexLock lock(&mu_);
  if (!waiting_for_sipi_) return;
  waiting_for_sipi_ = false;
  work_.push_back([vector](VcpuBackend& b) {
    // The state after INIT and a start-up IPI (Intel SDM vol. 3, 9.1.1 and
    // 9.4.4): real mode, CS = vector << 8, IP = 0, flat 64 KiB segments.
    Sregs sregs;
    if (!b.GetSregs(sregs).ok()) return;
    auto real_segment = [](uint16_t selector, uint8_t type) {
      Segment seg{};
      seg.selector = selector;
      seg.base = static_cast<uint64_t>(selector) << 4;
      seg.limit = 0xffff;
      seg.type = type;
      seg.present = 1;
      seg.s = 1;
      return seg;
    };
    sregs.cs = real_segment(static_cast<uint16_t>(vector) << 8, 0xb);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = real_segment(0, 0x3);
    sregs.cr0 = kCr0Et | (1u << 29) | (1u << 30);  // ET, NW, CD
    sregs.cr2 = sregs.cr3 = sregs.cr4 = 0;
    sregs.efer = 0;
    sregs.gdt = {0, 0xffff};
    sregs.idt = {0, 0xffff};
    Regs regs{};
    regs.rflags = kRflagsReserved1;
    if (!b.SetSregs(sregs).ok() || !b.SetRegs(regs).ok() ||
        !b.ResetFpu().ok()) {
      SKIFF_LOG(kError, "vcpu%d: cannot enter the start-up state", b.index());
    }
  });
  halted_ = false;
  NotifyShared();
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
    NotifyShared();
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
  if (options_.on_thread_start) options_.on_thread_start();
  while (RunOnce(/*block=*/true) != StepResult::kDone) {
  }
  FinishLoop();
}

VcpuThread::StepResult VcpuThread::RunOnce(bool block) {
  std::deque<Work> work;
  uint64_t wakes_before = 0;
  {
    absl::MutexLock lock(&mu_);
    auto has_something = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stop_ || !work_.empty() || (!paused_ && !halted_);
    };
    parked_ = paused_;
    if (block) {
      waiting_ = true;
      mu_.Await(absl::Condition(&has_something));
      waiting_ = false;
    } else if (!stop_ && work_.empty() && (paused_ || halted_)) {
      return paused_ ? StepResult::kIdle : StepResult::kHalted;
    }
    parked_ = false;
    if (stop_) return StepResult::kDone;
    work.swap(work_);
    if (work.empty()) in_run_ = true;
    wakes_before = wakes_;
  }
  if (!work.empty()) {
    for (Work& w : work) w(*backend_);
    return StepResult::kRan;
  }
  absl::StatusOr<VcpuExit> exit = backend_->Run(io_);
  {
    absl::MutexLock lock(&mu_);
    in_run_ = false;
    if (exit.ok() && exit->kind == VcpuExit::Kind::kHalt &&
        wakes_ == wakes_before) {
      halted_ = true;
    }
  }
  exits_.fetch_add(1, std::memory_order_relaxed);
  if (!exit.ok()) {
    exit_counters_.failures.fetch_add(1, std::memory_order_relaxed);
    SKIFF_LOG(kError, "vcpu%d: %s", index_,
              std::string(exit.status().message()));
    control_.RequestStop(devices::StopReason::kError, kExitVmmError);
    return StepResult::kDone;
  }
  return HandleExit(*exit) ? StepResult::kRan : StepResult::kDone;
}

void VcpuThread::FinishLoop() {
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
  auto count = [](std::atomic<uint64_t>& c) {
    c.fetch_add(1, std::memory_order_relaxed);
  };
  switch (exit.kind) {
    case Kind::kInterrupted:
      count(exit_counters_.interrupted);
      break;
    case Kind::kDebug:
      count(exit_counters_.debug);
      break;
    case Kind::kHalt:
      count(exit_counters_.hlt);
      break;
    case Kind::kReset:
    case Kind::kPowerOff:
      count(exit_counters_.reset);
      break;
    case Kind::kShutdown:
      count(exit_counters_.shutdown);
      break;
    case Kind::kInternalError:
      count(exit_counters_.failures);
      break;
  }
  switch (exit.kind) {
    case Kind::kInterrupted:
    case Kind::kDebug:
    case Kind::kHalt:  // parked by Loop()
      return true;
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
