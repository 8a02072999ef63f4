// A Firecracker-compatible boot-timer device: when the guest writes the byte
// 123 at offset 0 (Firecracker's init for boot-time tests maps the page at
// the device's address through /dev/mem and stores it), it logs the wall and
// CPU time since the VMM started and calls a callback. Other writes, and
// accesses wider than a byte, are ignored as in Firecracker's
// devices/pseudo/boot_timer.rs; reads return zeros. Each such write is an
// event: a guest may signal more than once.
//
//   auto timer = std::make_shared<BootTimer>(process_start,
//       [&](absl::Duration wall, absl::Duration cpu) { metrics.Boot(wall); });
//   SKIFF_RETURN_IF_ERROR(mmio.Insert(timer, BootTimer::kDefaultAddress,
//                                     BootTimer::kLength));
//
// Firecracker places it at 0xc000_0000 (the start of its 32-bit MMIO gap;
// 0xd000_0000 in releases before its PCI work) with a 4 KiB range.
//
// Log line (one per event, always shown, rate-limited):
//   skiff: info boot-timer: guest boot time wall_us=... wall_ms=...
//   cpu_us=... cpu_ms=...
//
// Thread-safety: the event count is guarded by a mutex; the callback and the
// log run outside it, on the writing vCPU's thread.
#ifndef SKIFF_DEVICES_LEGACY_BOOT_TIMER_H_
#define SKIFF_DEVICES_LEGACY_BOOT_TIMER_H_

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "base/log.h"
#include "devices/bus.h"

namespace skiff::devices {

class BootTimer : public BusDevice {
 public:
  static constexpr uint64_t kDefaultAddress = 0xc000'0000;
  static constexpr uint64_t kLength = 0x1000;
  static constexpr uint8_t kMagic = 123;

  using Callback = std::function<void(absl::Duration wall, absl::Duration cpu)>;
  using Clock = std::function<absl::Time()>;
  using CpuClock = std::function<absl::Duration()>;

  // The CPU time the process has used (CLOCK_PROCESS_CPUTIME_ID).
  static absl::Duration ProcessCpuTime();

  // `start` is when the VMM started (wall clock). `on_boot` may be empty.
  // `now` and `cpu` are seams for tests.
  BootTimer(absl::Time start, Callback on_boot, Clock now = &absl::Now,
            CpuClock cpu = &BootTimer::ProcessCpuTime);

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t events() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Constant after construction.
  const absl::Time start_;
  const Callback on_boot_;
  const Clock now_;
  const CpuClock cpu_;

  mutable absl::Mutex mu_;
  uint64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  RateLimiter log_limiter_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_LEGACY_BOOT_TIMER_H_
