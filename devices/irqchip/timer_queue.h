// Runs callbacks at deadlines on the guest's clock (GuestClock ns). One
// queue per machine serves every LAPIC timer and the PIT. In kThread mode a
// host thread named "timers" waits for the earliest deadline and runs what
// is due; in kManual mode nothing runs until RunDue(now) is called, which is
// how tests drive time without sleeping and how a deterministic interpreter
// mode would drive it from its instruction count.
//
//   TimerQueue timers(clock, TimerQueue::Mode::kThread);
//   TimerQueue::Id id = timers.Schedule(clock.NowNs() + 1'000'000,
//                                       [] { /* 1 ms later */ });
//   timers.Cancel(id);  // no callback runs after this returns
//
// Callbacks run on the timer thread (or the RunDue caller), one at a time,
// in deadline order, with no queue lock held: they may Schedule, and may
// Cancel/CancelNoWait other timers.
//
// Lock order: callers may hold their own locks while calling Schedule and
// CancelNoWait (device lock -> queue lock). Cancel waits for a running
// callback to finish, so it must not be called while holding a lock that
// callback takes (a device cancels with CancelNoWait under its lock and
// checks a generation number in the callback; it calls Cancel unlocked in
// its destructor). Cancel from inside a callback does not wait.
#ifndef SKIFF_DEVICES_IRQCHIP_TIMER_QUEUE_H_
#define SKIFF_DEVICES_IRQCHIP_TIMER_QUEUE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "base/guest_clock.h"

namespace skiff::devices {

class TimerQueue {
 public:
  using Id = uint64_t;
  // Never returned by Schedule; Cancel(kNoTimer) does nothing.
  static constexpr Id kNoTimer = 0;
  enum class Mode { kThread, kManual };

  // `on_thread_start` (kThread mode) runs first on the timer thread, e.g.
  // to install its seccomp filter before any callback runs.
  TimerQueue(GuestClock& clock, Mode mode,
             std::function<void()> on_thread_start = nullptr);
  // Stops and joins the thread. Pending callbacks never run.
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Runs `callback` once at or after `deadline_ns` (GuestClock::NowNs
  // scale). A deadline in the past runs at the next opportunity.
  Id Schedule(uint64_t deadline_ns, std::function<void()> callback)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Removes a timer; when this returns its callback is not running and will
  // not run (see the lock-order note above). True if it was still pending.
  bool Cancel(Id id) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes a timer without waiting for a callback already running.
  bool CancelNoWait(Id id) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until no callback is running (returns at once when called from a
  // callback). With CancelNoWait and a "dying" flag the callbacks check,
  // this is how an owner of several timers makes sure none of its
  // callbacks is still running before it is destroyed. Same lock rule as
  // Cancel.
  void WaitForRunningCallback() ABSL_LOCKS_EXCLUDED(mu_);

  // Runs every callback due at `now_ns` (including ones they schedule that
  // are already due, up to a bound that keeps a misbehaving callback from
  // looping forever). Returns how many ran. Meant for kManual mode; in
  // kThread mode only the thread calls it.
  int RunDue(uint64_t now_ns) ABSL_LOCKS_EXCLUDED(mu_);

  // The earliest pending deadline, or UINT64_MAX.
  uint64_t NextDeadline() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t pending() const ABSL_LOCKS_EXCLUDED(mu_);

  GuestClock& clock() const { return clock_; }

 private:
  struct Entry {
    Id id;
    std::function<void()> callback;
  };
  using Queue = std::multimap<uint64_t, Entry>;

  void ThreadMain(const std::function<void()>& on_thread_start)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool RemoveLocked(Id id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  GuestClock& clock_;

  mutable absl::Mutex mu_;
  Queue queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Id, Queue::iterator> by_id_ ABSL_GUARDED_BY(mu_);
  Id next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // The timer whose callback is running now, and on which thread.
  Id running_ ABSL_GUARDED_BY(mu_) = kNoTimer;
  std::thread::id running_thread_ ABSL_GUARDED_BY(mu_);
  // Signalled when an earlier deadline appears or on stop (wakes the
  // thread), and when a callback returns (wakes Cancel).
  absl::CondVar wake_;
  absl::CondVar callback_done_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  // Last: started after everything above is constructed.
  std::thread thread_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_IRQCHIP_TIMER_QUEUE_H_
