#include "vmm/round_robin_thread.h"

#include <pthread.h>

#include <algorithm>
#include <limits>

#include "vmm/vcpu_thread.h"

namespace skiff {

RoundRobinThread::RoundRobinThread(uint64_t slice_instructions)
    : slice_instructions_(slice_instructions) {}

RoundRobinThread::RoundRobinThread(uint64_t slice_instructions, Icount icount)
    : slice_instructions_(slice_instructions), icount_(icount) {}

void RoundRobinThread::SetThreadStartHook(std::function<void()> hook) {
  absl::MutexLock lock(&mu_);
  on_thread_start_ = std::move(hook);
}

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
  ++added_;
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
  ++joining_;
  mu_.Await(absl::Condition(&removed));
  --joining_;
  removed_.erase(std::find(removed_.begin(), removed_.end(), vcpu));
}

uint64_t RoundRobinThread::turns() const {
  absl::MutexLock lock(&mu_);
  return turns_;
}

void RoundRobinThread::FireDueTimers() {
  icount_.timers->RunDue(icount_.clock->NowNs());
}

void RoundRobinThread::Loop() {
  pthread_setname_np(pthread_self(), "vcpus");
  std::function<void()> hook;
  {
    absl::MutexLock lock(&mu_);
    hook = on_thread_start_;
  }
  if (hook) hook();
  const bool icount = icount_.clock != nullptr && icount_.timers != nullptr;
  std::vector<VcpuThread*> vcpus;
  for (;;) {
    uint64_t seen;
    {
      absl::MutexLock lock(&mu_);
      if (icount) {
        // The same turns every run: none before every vCPU is here (or
        // the machine is going away and some vCPU must be finished).
        auto all_added = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stop_ || added_ >= icount_.vcpus || joining_ > 0;
        };
        mu_.Await(absl::Condition(&all_added));
      }
      if (stop_) return;
      vcpus = vcpus_;
      seen = events_;
    }
    // A vCPU in `vcpus` cannot be destroyed during this pass: its Join
    // waits for WaitRemoved, which only this thread satisfies. Nor can the
    // clock and timers (--icount) while some vCPU is not removed yet.
    uint64_t ran = 0;
    int live = 0;
    bool all_halted = true;  // and none paused
    for (VcpuThread* v : vcpus) {
      if (icount) FireDueTimers();
      switch (v->RunOnce(/*block=*/false)) {
        case VcpuThread::StepResult::kRan:
          ++ran;
          ++live;
          break;
        case VcpuThread::StepResult::kIdle:
          all_halted = false;
          ++live;
          break;
        case VcpuThread::StepResult::kHalted:
          ++live;
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
    uint64_t next_deadline = std::numeric_limits<uint64_t>::max();
    if (icount && live > 0) {
      FireDueTimers();
      if (ran == 0 && all_halted)
        next_deadline = icount_.timers->NextDeadline();
    }
    bool skip = false;
    {
      absl::MutexLock lock(&mu_);
      turns_ += ran;
      if (ran == 0) {
        // Every vCPU halted and a timer pending (--icount): the guest waits
        // for that timer, so time jumps to it. Not when a Wake came during
        // the pass: a vCPU has something to do now.
        skip = next_deadline != std::numeric_limits<uint64_t>::max() &&
               !stop_ && events_ == seen;
        if (!skip) {
          // Every vCPU was idle: sleep until one may have work. An event
          // after `seen` was read (a Wake racing with the pass) ends the
          // wait at once.
          auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return stop_ || events_ != seen;
          };
          mu_.Await(absl::Condition(&changed));
        }
      }
    }
    if (skip) {
      // Only this thread moves the clock and fires the timers, and a vCPU
      // not removed yet keeps both alive (see above).
      icount_.clock->SkipTo(next_deadline);
      FireDueTimers();
    }
  }
}

}  // namespace skiff
