#include "devices/irqchip/timer_queue.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "base/guest_clock.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

TEST(TimerQueue, RunsDueCallbacksInDeadlineOrder) {
  ManualGuestClock clock;
  TimerQueue queue(clock, TimerQueue::Mode::kManual);
  std::vector<int> order;
  queue.Schedule(300, [&] { order.push_back(3); });
  queue.Schedule(100, [&] { order.push_back(1); });
  queue.Schedule(200, [&] { order.push_back(2); });
  EXPECT_EQ(queue.NextDeadline(), 100u);
  EXPECT_EQ(queue.RunDue(99), 0);
  EXPECT_EQ(queue.RunDue(200), 2);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(queue.pending(), 1u);
  EXPECT_EQ(queue.RunDue(1000), 1);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(queue.NextDeadline(), UINT64_MAX);
}

TEST(TimerQueue, CancelledCallbackNeverRuns) {
  ManualGuestClock clock;
  TimerQueue queue(clock, TimerQueue::Mode::kManual);
  bool ran = false;
  TimerQueue::Id id = queue.Schedule(10, [&] { ran = true; });
  EXPECT_TRUE(queue.Cancel(id));
  EXPECT_FALSE(queue.Cancel(id));
  EXPECT_FALSE(queue.CancelNoWait(TimerQueue::kNoTimer));
  queue.RunDue(100);
  EXPECT_FALSE(ran);
}

TEST(TimerQueue, CallbacksMayRescheduleAndCancelThemselves) {
  ManualGuestClock clock;
  TimerQueue queue(clock, TimerQueue::Mode::kManual);
  int runs = 0;
  std::function<void()> periodic = [&] {
    ++runs;
    queue.Schedule(clock.NowNs() + 10, periodic);
  };
  queue.Schedule(10, periodic);
  for (int i = 1; i <= 5; ++i) {
    clock.AdvanceTo(10 * i);
    queue.RunDue(clock.NowNs());
  }
  EXPECT_EQ(runs, 5);

  TimerQueue::Id self = TimerQueue::kNoTimer;
  self = queue.Schedule(0, [&] { queue.Cancel(self); });  // must not hang
  queue.RunDue(clock.NowNs());
}

TEST(TimerQueue, RunDueIsBoundedAgainstSelfReschedulingLoops) {
  ManualGuestClock clock;
  TimerQueue queue(clock, TimerQueue::Mode::kManual);
  std::function<void()> again = [&] { queue.Schedule(0, again); };
  queue.Schedule(0, again);
  EXPECT_GT(queue.RunDue(0), 0);  // returns instead of looping forever
}

TEST(TimerQueue, ThreadRunsPastDeadlines) {
  // No timing assertion: the deadline is already due, so the thread runs
  // it as soon as it looks.
  MonotonicGuestClock clock;
  TimerQueue queue(clock, TimerQueue::Mode::kThread);
  absl::Notification done;
  queue.Schedule(0, [&] { done.Notify(); });
  done.WaitForNotification();
  // Cancel after it ran, and destruction with pending timers, are fine.
  queue.Schedule(UINT64_MAX, [] {});
}

TEST(TimerQueue, StartHookRunsOnTheTimerThreadBeforeAnyCallback) {
  MonotonicGuestClock clock;
  std::atomic<bool> hooked{false};
  std::thread::id hook_thread;
  absl::Notification done;
  bool hooked_before_callback = false;
  std::thread::id callback_thread;
  {
    TimerQueue queue(clock, TimerQueue::Mode::kThread, [&] {
      hook_thread = std::this_thread::get_id();
      hooked = true;
    });
    queue.Schedule(0, [&] {
      hooked_before_callback = hooked.load();
      callback_thread = std::this_thread::get_id();
      done.Notify();
    });
    done.WaitForNotification();
  }
  EXPECT_TRUE(hooked_before_callback);
  EXPECT_EQ(hook_thread, callback_thread);
  EXPECT_NE(hook_thread, std::this_thread::get_id());
}

TEST(TimerQueue, CancelWaitsForARunningCallback) {
  MonotonicGuestClock clock;
  TimerQueue queue(clock, TimerQueue::Mode::kThread);
  absl::Notification started;
  absl::Notification release;
  std::atomic<bool> finished{false};
  TimerQueue::Id id = queue.Schedule(0, [&] {
    started.Notify();
    release.WaitForNotification();
    finished = true;
  });
  started.WaitForNotification();
  std::thread releaser([&] { release.Notify(); });
  queue.Cancel(id);
  EXPECT_TRUE(finished);
  releaser.join();
}

}  // namespace
}  // namespace skiff::devices
