#include "devices/legacy/boot_timer.h"

#include <time.h>

#include <algorithm>

namespace skiff::devices {

absl::Duration BootTimer::ProcessCpuTime() {
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) {
    return absl::ZeroDuration();
  }
  return absl::DurationFromTimespec(ts);
}

BootTimer::BootTimer(absl::Time start, Callback on_boot, Clock now,
                     CpuClock cpu)
    : start_(start),
      on_boot_(std::move(on_boot)),
      now_(std::move(now)),
      cpu_(std::move(cpu)) {}

void BootTimer::Read(uint64_t, absl::Span<uint8_t> data) {
  std::fill(data.begin(), data.end(), uint8_t{0});
}

void BootTimer::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (offset != 0 || data.size() != 1 || data[0] != kMagic) return;
  const absl::Duration wall = now_() - start_;
  const absl::Duration cpu = cpu_();
  {
    absl::MutexLock lock(&mu_);
    ++events_;
  }
  // LogMessage directly, not SKIFF_LOG: the line is the point of the device
  // and must show at the default level. Rate-limited since the guest can
  // write as often as it likes.
  if (log_limiter_.Allow()) {
    LogMessage(LogLevel::kInfo,
               absl::StrFormat("boot-timer: guest boot time wall_us=%d "
                               "wall_ms=%d cpu_us=%d cpu_ms=%d",
                               absl::ToInt64Microseconds(wall),
                               absl::ToInt64Milliseconds(wall),
                               absl::ToInt64Microseconds(cpu),
                               absl::ToInt64Milliseconds(cpu)));
  }
  if (on_boot_) on_boot_(wall, cpu);
}

uint64_t BootTimer::events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

}  // namespace skiff::devices
