// The guest's time base: one GuestClock per machine, shared by the
// userspace LAPIC timers, the PIT and the interpreter's RDTSC, so that all
// of them agree on what "now" is. Time starts at 0 when the clock is
// created. The TSC runs at a fixed, documented frequency (kDefaultTscHz, 1
// GHz, so guest TSC ticks and nanoseconds are the same number unless a
// different frequency is chosen) that the interpreter reports in CPUID leaves
// 0x15/0x16 so Linux need not calibrate it.
//
//   MonotonicGuestClock clock;                // CLOCK_MONOTONIC based
//   uint64_t tsc = clock.Tsc();               // what RDTSC returns
//   uint64_t when = clock.TscToNs(deadline);  // IA32_TSC_DEADLINE -> ns
//
//   ManualGuestClock fake;                    // tests, deterministic mode
//   fake.Advance(1'000'000);                  // 1 ms passes, instantly
//
// Thread-safety: all methods of both implementations are thread-safe.
#ifndef SKIFF_BASE_GUEST_CLOCK_H_
#define SKIFF_BASE_GUEST_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace skiff {

class GuestClock {
 public:
  // 1 GHz: the guest TSC counts nanoseconds. Any value from 1 MHz to 10 GHz
  // works; conversions use 128-bit intermediates.
  static constexpr uint64_t kDefaultTscHz = 1'000'000'000;

  explicit GuestClock(uint64_t tsc_hz = kDefaultTscHz);
  virtual ~GuestClock() = default;

  // Nanoseconds since the clock was created. Monotonic, never decreases.
  virtual uint64_t NowNs() const = 0;

  uint64_t tsc_hz() const { return tsc_hz_; }
  // The guest TSC now: NowNs() scaled to tsc_hz().
  uint64_t Tsc() const { return NsToTsc(NowNs()); }
  // Conversions between the two scales; saturate instead of overflowing.
  // TscToNs rounds up so a deadline converted to ns is never early.
  uint64_t NsToTsc(uint64_t ns) const;
  uint64_t TscToNs(uint64_t tsc) const;

 private:
  const uint64_t tsc_hz_;
};

// Real time: CLOCK_MONOTONIC, offset so the clock starts at 0.
class MonotonicGuestClock : public GuestClock {
 public:
  explicit MonotonicGuestClock(uint64_t tsc_hz = kDefaultTscHz);
  uint64_t NowNs() const override;

 private:
  const uint64_t start_ns_;
};

// Time that only moves when told to: for tests, and for a deterministic
// (instruction-counting) interpreter mode that advances it itself.
class ManualGuestClock : public GuestClock {
 public:
  explicit ManualGuestClock(uint64_t tsc_hz = kDefaultTscHz)
      : GuestClock(tsc_hz) {}
  uint64_t NowNs() const override {
    return now_ns_.load(std::memory_order_acquire);
  }
  void Advance(uint64_t ns) {
    now_ns_.fetch_add(ns, std::memory_order_acq_rel);
  }
  // Moves time forward to `ns`; ignored when `ns` is in the past.
  void AdvanceTo(uint64_t ns);

 private:
  std::atomic<uint64_t> now_ns_{0};
};

}  // namespace skiff

#endif  // SKIFF_BASE_GUEST_CLOCK_H_
