#include "base/guest_clock.h"

#include <time.h>

#include <limits>

namespace skiff {
namespace {

__extension__ using U128 = unsigned __int128;

constexpr uint64_t kNsPerSecond = 1'000'000'000;

uint64_t Saturate(U128 v) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  return v > kMax ? kMax : static_cast<uint64_t>(v);
}

uint64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * kNsPerSecond +
         static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

GuestClock::GuestClock(uint64_t tsc_hz) : tsc_hz_(tsc_hz == 0 ? 1 : tsc_hz) {}

uint64_t GuestClock::NsToTsc(uint64_t ns) const {
  if (tsc_hz_ == kNsPerSecond) return ns;
  return Saturate(static_cast<U128>(ns) * tsc_hz_ / kNsPerSecond);
}

uint64_t GuestClock::TscToNs(uint64_t tsc) const {
  if (tsc_hz_ == kNsPerSecond) return tsc;
  return Saturate((static_cast<U128>(tsc) * kNsPerSecond + tsc_hz_ - 1) /
                  tsc_hz_);
}

int64_t GuestClock::WallClockAtZeroNs() const {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  const int64_t now =
      static_cast<int64_t>(ts.tv_sec) * static_cast<int64_t>(kNsPerSecond) +
      ts.tv_nsec;
  return now - static_cast<int64_t>(NowNs());
}

MonotonicGuestClock::MonotonicGuestClock(uint64_t tsc_hz)
    : GuestClock(tsc_hz), start_ns_(MonotonicNs()) {}

uint64_t MonotonicGuestClock::NowNs() const {
  return MonotonicNs() - start_ns_;
}

void ManualGuestClock::AdvanceTo(uint64_t ns) {
  uint64_t cur = now_ns_.load(std::memory_order_acquire);
  while (cur < ns &&
         !now_ns_.compare_exchange_weak(cur, ns, std::memory_order_acq_rel)) {
  }
}

void InstructionClock::SkipTo(uint64_t ns) {
  const uint64_t now = NowNs();
  if (ns <= now) return;
  skipped_ns_.store(skipped_ns_.load(std::memory_order_relaxed) + (ns - now),
                    std::memory_order_release);
}

uint64_t InstructionClock::NextDeadlineNs() const {
  return deadline_source_ ? deadline_source_()
                          : std::numeric_limits<uint64_t>::max();
}

}  // namespace skiff
