// The local APIC timer (Intel SDM vol. 3 section 10.5.4): one-shot and
// periodic modes counting the APIC bus clock divided by the divide
// configuration, and TSC-deadline mode (10.5.4.1). The current count is
// computed from the GuestClock, not ticked; expiries are TimerQueue
// callbacks.
#include <algorithm>

#include "devices/irqchip/lapic.h"
#include "devices/irqchip/lapic_regs.h"

namespace skiff::devices {

using namespace apic;  // NOLINT(build/namespaces): register names

namespace {

static_assert(Lapic::kBusHz == 1'000'000'000,
              "the timer arithmetic below assumes one bus cycle per ns");

}  // namespace

int Lapic::TimerMode() const {
  int mode = static_cast<int>((lvt_[kLvtIndexTimer] >> kTimerModeShift) & 3);
  return mode == 3 ? kTimerOneShot : mode;  // 3 is reserved
}

void Lapic::StopTimerLocked() {
  timers_.CancelNoWait(timer_id_);
  timer_id_ = TimerQueue::kNoTimer;
  ++timer_generation_;
  timer_running_ = false;
}

void Lapic::ArmLocked(uint64_t deadline_ns) {
  timers_.CancelNoWait(timer_id_);
  uint64_t generation = ++timer_generation_;
  timer_expiry_ns_ = deadline_ns;
  timer_id_ = timers_.Schedule(deadline_ns,
                               [this, generation] { TimerFired(generation); });
}

// Writing the initial count (re)starts one-shot and periodic timers; 0
// stops them.
void Lapic::StartTimerLocked() {
  StopTimerLocked();
  if (initial_count_ == 0) return;
  // Divide configuration bits 0, 1 and 3 (SDM figure 10-10): 0b111 is 1,
  // otherwise 2 << value.
  uint32_t v = ((divide_config_ & 8) >> 1) | (divide_config_ & 3);
  timer_divisor_ = uint64_t{1} << ((v + 1) & 7);
  timer_start_ns_ = timers_.clock().NowNs();
  timer_running_ = true;
  uint64_t period = uint64_t{initial_count_} * timer_divisor_;
  if (TimerMode() == kTimerPeriodic) period = std::max(period, kMinPeriodNs);
  ArmLocked(timer_start_ns_ + period);
}

void Lapic::TimerFired(uint64_t generation) {
  absl::MutexLock lock(&mu_);
  if (dying_ || generation != timer_generation_) return;
  timer_id_ = TimerQueue::kNoTimer;
  uint32_t lvt = lvt_[kLvtIndexTimer];
  if ((lvt & kMasked) == 0) RequestLocked(lvt & kVectorMask, false);
  switch (TimerMode()) {
    case kTimerTscDeadline:
      tsc_deadline_ = 0;  // SDM 10.5.4.1: reads 0 once it has fired
      break;
    case kTimerPeriodic: {
      if (!timer_running_) break;
      uint64_t period =
          std::max(uint64_t{initial_count_} * timer_divisor_, kMinPeriodNs);
      uint64_t next = timer_expiry_ns_ + period;
      // Behind by more than a period (a stalled host): drop the missed
      // ticks rather than firing them back to back.
      uint64_t now = timers_.clock().NowNs();
      if (next <= now) next = now + period;
      ArmLocked(next);
      break;
    }
    default:
      timer_running_ = false;
      break;
  }
}

uint32_t Lapic::CurrentCountLocked() const {
  if (!timer_running_ || TimerMode() == kTimerTscDeadline ||
      initial_count_ == 0) {
    return 0;
  }
  uint64_t now = timers_.clock().NowNs();
  uint64_t ticks =
      (now > timer_start_ns_ ? now - timer_start_ns_ : 0) / timer_divisor_;
  if (TimerMode() == kTimerPeriodic) {
    return initial_count_ - static_cast<uint32_t>(ticks % initial_count_);
  }
  return ticks >= initial_count_
             ? 0
             : initial_count_ - static_cast<uint32_t>(ticks);
}

void Lapic::WriteTscDeadlineLocked(uint64_t tsc) {
  // Ignored outside TSC-deadline mode (SDM 10.5.4.1).
  if (TimerMode() != kTimerTscDeadline) return;
  StopTimerLocked();
  tsc_deadline_ = tsc;
  if (tsc == 0) return;  // disarm
  ArmLocked(timers_.clock().TscToNs(tsc));
}

}  // namespace skiff::devices
