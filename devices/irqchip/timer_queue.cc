#include "devices/irqchip/timer_queue.h"

#include <pthread.h>

#include <cstdint>
#include <limits>
#include <utility>

#include "absl/time/time.h"

namespace skiff::devices {
namespace {

// RunDue bound: a callback that keeps scheduling already-due timers cannot
// make one RunDue call loop forever.
constexpr int kMaxCallbacksPerRun = 1024;

}  // namespace

TimerQueue::TimerQueue(GuestClock& clock, Mode mode,
                       std::function<void()> on_thread_start)
    : clock_(clock) {
  if (mode == Mode::kThread) {
    thread_ = std::thread(
        [this, hook = std::move(on_thread_start)] { ThreadMain(hook); });
  }
}

TimerQueue::~TimerQueue() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    wake_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

TimerQueue::Id TimerQueue::Schedule(uint64_t deadline_ns,
                                    std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  Id id = next_id_++;
  bool earliest = queue_.empty() || deadline_ns < queue_.begin()->first;
  auto it = queue_.emplace(deadline_ns, Entry{id, std::move(callback)});
  by_id_[id] = it;
  if (earliest) wake_.Signal();
  return id;
}

bool TimerQueue::RemoveLocked(Id id) {
  auto found = by_id_.find(id);
  if (found == by_id_.end()) return false;
  queue_.erase(found->second);
  by_id_.erase(found);
  return true;
}

bool TimerQueue::CancelNoWait(Id id) {
  if (id == kNoTimer) return false;
  absl::MutexLock lock(&mu_);
  return RemoveLocked(id);
}

bool TimerQueue::Cancel(Id id) {
  if (id == kNoTimer) return false;
  absl::MutexLock lock(&mu_);
  bool removed = RemoveLocked(id);
  // A callback cancelling its own timer would wait for itself.
  while (running_ == id && running_thread_ != std::this_thread::get_id()) {
    callback_done_.Wait(&mu_);
  }
  return removed;
}

void TimerQueue::WaitForRunningCallback() {
  absl::MutexLock lock(&mu_);
  while (running_ != kNoTimer &&
         running_thread_ != std::this_thread::get_id()) {
    callback_done_.Wait(&mu_);
  }
}

int TimerQueue::RunDue(uint64_t now_ns) {
  int ran = 0;
  while (ran < kMaxCallbacksPerRun) {
    std::function<void()> callback;
    {
      absl::MutexLock lock(&mu_);
      if (stop_ || queue_.empty() || queue_.begin()->first > now_ns) break;
      auto it = queue_.begin();
      running_ = it->second.id;
      running_thread_ = std::this_thread::get_id();
      callback = std::move(it->second.callback);
      by_id_.erase(it->second.id);
      queue_.erase(it);
    }
    callback();
    ++ran;
    absl::MutexLock lock(&mu_);
    running_ = kNoTimer;
    callback_done_.SignalAll();
  }
  return ran;
}

uint64_t TimerQueue::NextDeadline() const {
  absl::MutexLock lock(&mu_);
  return queue_.empty() ? std::numeric_limits<uint64_t>::max()
                        : queue_.begin()->first;
}

size_t TimerQueue::pending() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void TimerQueue::ThreadMain(const std::function<void()>& on_thread_start) {
  pthread_setname_np(pthread_self(), "timers");
  if (on_thread_start) on_thread_start();
  mu_.Lock();
  while (!stop_) {
    uint64_t now = clock_.NowNs();
    if (!queue_.empty() && queue_.begin()->first <= now) {
      mu_.Unlock();
      RunDue(now);
      mu_.Lock();
      continue;
    }
    if (queue_.empty()) {
      wake_.Wait(&mu_);
    } else {
      // Guest ns run at host speed for a real clock. A manual clock only
      // moves when told to, so waits are capped to notice that too.
      uint64_t wait = queue_.begin()->first - now;
      constexpr uint64_t kMaxWaitNs = 100'000'000;
      if (wait > kMaxWaitNs) wait = kMaxWaitNs;
      wake_.WaitWithTimeout(&mu_,
                            absl::Nanoseconds(static_cast<int64_t>(wait)));
    }
  }
  mu_.Unlock();
}

}  // namespace skiff::devices
