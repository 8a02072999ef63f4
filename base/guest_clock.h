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
//   ManualGuestClock fake;                    // tests
//   fake.Advance(1'000'000);                  // 1 ms passes, instantly
//
//   InstructionClock icount;                  // --icount: time is the
//   icount.AddInstructions(500);              // instruction count, 1 ns
//   icount.SkipTo(icount.NextDeadlineNs());   // each; idle jumps ahead
//
// Thread-safety: all methods of both implementations are thread-safe.
#ifndef SKIFF_BASE_GUEST_CLOCK_H_
#define SKIFF_BASE_GUEST_CLOCK_H_

#include <atomic>
#include <cstdint>
#include <functional>

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

  // The Unix time in ns at which NowNs() was 0: what the guest's wall
  // clocks (kvmclock's wall clock, the CMOS RTC) add NowNs() to. By default
  // the host's CLOCK_REALTIME now minus NowNs().
  virtual int64_t WallClockAtZeroNs() const;

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

// Virtual time from the number of guest instructions retired, for the
// deterministic interpreter mode (--icount): each instruction is 1 ns of
// guest time, so at the default 1 GHz TSC one instruction is one TSC tick
// (QEMU's -icount shift=0 rate). When every vCPU is halted the machine
// jumps the clock to the next timer deadline (SkipTo) instead of waiting.
// The wall clock starts at a fixed epoch (kDefaultEpochUnixNs), not the
// host's time, so a guest reading the date sees the same thing every run.
//
// One writer: AddInstructions and SkipTo are called only by the thread that
// runs every vCPU (the round-robin thread); reads are thread-safe.
class InstructionClock : public GuestClock {
 public:
  // 2026-01-01T00:00:00Z.
  static constexpr int64_t kDefaultEpochUnixNs = 1'767'225'600'000'000'000;

  explicit InstructionClock(uint64_t tsc_hz = kDefaultTscHz,
                            int64_t epoch_unix_ns = kDefaultEpochUnixNs)
      : GuestClock(tsc_hz), epoch_unix_ns_(epoch_unix_ns) {}

  uint64_t NowNs() const override {
    // Both only grow, so the sum never goes backwards for any reader.
    return instructions_.load(std::memory_order_acquire) +
           skipped_ns_.load(std::memory_order_acquire);
  }
  int64_t WallClockAtZeroNs() const override { return epoch_unix_ns_; }

  // `n` more instructions retired. Single writer (see above): a plain load
  // and store, no locked read-modify-write on the interpreter's path.
  void AddInstructions(uint64_t n) {
    instructions_.store(instructions_.load(std::memory_order_relaxed) + n,
                        std::memory_order_release);
  }
  // Idle: moves time forward to `ns` without instructions; ignored when
  // `ns` is not in the future. Single writer.
  void SkipTo(uint64_t ns);

  uint64_t instructions() const {
    return instructions_.load(std::memory_order_acquire);
  }
  uint64_t skipped_ns() const {
    return skipped_ns_.load(std::memory_order_acquire);
  }

  // Where the next timer deadline comes from (the machine's timer queue):
  // the interpreter ends a run there so the timer fires at exactly that
  // instruction count. REQUIRES: set before any vCPU runs.
  void set_deadline_source(std::function<uint64_t()> source) {
    deadline_source_ = std::move(source);
  }
  // The earliest pending deadline (NowNs scale), or UINT64_MAX.
  uint64_t NextDeadlineNs() const;

 private:
  const int64_t epoch_unix_ns_;
  std::function<uint64_t()> deadline_source_;
  std::atomic<uint64_t> instructions_{0};
  std::atomic<uint64_t> skipped_ns_{0};
};

}  // namespace skiff

#endif  // SKIFF_BASE_GUEST_CLOCK_H_
