#include "devices/legacy/debug_exit.h"

#include <algorithm>

namespace skiff::devices {

void DebugExit::Read(uint64_t, absl::Span<uint8_t> data) {
  std::fill(data.begin(), data.end(), uint8_t{0});
}

void DebugExit::Write(uint64_t, absl::Span<const uint8_t> data) {
  if (data.size() != 1 && data.size() != 2 && data.size() != 4) {
    // QEMU's valid access sizes are 1 to 4; 3 cannot come from an OUT.
    if (log_limiter_.Allow()) {
      SKIFF_LOG(kWarn, "debug-exit: ignored write size=%zu", data.size());
    }
    return;
  }
  uint32_t value = 0;
  for (size_t i = 0; i < data.size(); ++i)
    value |= uint32_t{data[i]} << (8 * i);
  control_.RequestStop(StopReason::kDebugExit, ExitStatus(value));
}

int DebugExit::ExitStatus(uint32_t value) {
  // QEMU computes this in 64 bits and passes it to exit(int); the low 32
  // bits survive that conversion, the low 8 the process exit.
  return static_cast<int>(static_cast<uint32_t>((uint64_t{value} << 1) | 1));
}

}  // namespace skiff::devices
