#include "vmm/round_robin_thread.h"

#include <pthread.h>

#include <algorithm>

#include "vmm/vcpu_thread.h"

namespace skiff {

RoundRobinThread::RoundRobinThread(uint64_t slice_instructions)
    : slice_instructions_(slice_instructions) {}

RoundRobinThread::~RoundRobinThread() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void RoundRobinThread::Add(VcpuThread* vcpu) {
  absl::MutexLock lock(&mu_);
  vcpus_.push_back(vcpu);
  ++events_;
  if (!started_) {
    started_ = true;
    thread_ = std::thread([this] { Loop(); });
  }
}

void RoundRobinThread::Notify() {
  absl::MutexLock lock(&mu_);
  ++events_;
}

void RoundRobinThread::WaitRemoved(VcpuThread* vcpu) {
  absl::MutexLock lock(&mu_);
  auto removed = [this, vcpu]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::find(removed_.begin(), removed_.end(), vcpu) != removed_.end();
  };
  mu_.Await(absl::Condition(&removed));
  removed_.erase(std::find(removed_.begin(), removed_.end(), vcpu));
}

uint64_t RoundRobinThread::turns() const {
  absl::MutexLock lock(&mu_);
  return turns_;
}

void RoundRobinThread::Loop() {
  pthread_setname_np(pthread_self(), "vcpus");
  std::vector<VcpuThread*> vcpus;
  for (;;) {
    uint64_t seen;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      vcpus = vcpus_;
      seen = events_;
    }
    // A vCPU in `vcpus` cannot be destroyed during this pass: its Join
    // waits for WaitRemoved, which only this thread satisfies.
    uint64_t ran = 0;
    for (VcpuThread* v : vcpus) {
      switch (v->RunOnce(/*block=*/false)) {
        case VcpuThread::StepResult::kRan:
          ++ran;
          break;
        case VcpuThread::StepResult::kIdle:
          break;
        case VcpuThread::StepResult::kDone: {
          {
            absl::MutexLock lock(&mu_);
            vcpus_.erase(std::find(vcpus_.begin(), vcpus_.end(), v));
          }
          v->FinishLoop();
          absl::MutexLock lock(&mu_);
          removed_.push_back(v);
          break;
        }
      }
    }
    absl::MutexLock lock(&mu_);
    turns_ += ran;
    if (ran == 0) {
      // Every vCPU was idle: sleep until one may have work. An event after
      // `seen` was read (a Wake racing with the pass) ends the wait at once.
      auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || events_ != seen;
      };
      mu_.Await(absl::Condition(&changed));
    }
  }
}

}  // namespace skiff
