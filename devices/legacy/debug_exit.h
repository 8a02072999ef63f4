// A QEMU isa-debug-exit compatible port: a guest write of value v stops the
// VM with exit status (v << 1) | 1, so a test guest reports pass or fail
// through the VMM's exit status. Accesses of 1, 2 or 4 bytes (little-endian)
// at any offset of the range count, as in QEMU (hw/misc/debugexit.c); reads
// return 0, as QEMU's do. Like QEMU, the status is not truncated here: the OS
// keeps its low 8 bits when the process exits (write 0x20 -> 0x41 -> 65).
//
//   auto exit_port = std::make_shared<DebugExit>(control);
//   SKIFF_RETURN_IF_ERROR(pio.Insert(exit_port, 0xf4, 4));
//
// QEMU's own default is iobase=0x501 iosize=2; test kernels conventionally
// pass iobase=0xf4,iosize=0x04, which is what skiff emulates.
//
// Thread-safety: no mutable state; MachineControl is thread-safe.
#ifndef SKIFF_DEVICES_LEGACY_DEBUG_EXIT_H_
#define SKIFF_DEVICES_LEGACY_DEBUG_EXIT_H_

#include <cstdint>

#include "absl/types/span.h"
#include "base/log.h"
#include "devices/bus.h"
#include "devices/machine_control.h"

namespace skiff::devices {

class DebugExit : public BusDevice {
 public:
  static constexpr uint16_t kDefaultPort = 0xf4;
  static constexpr uint64_t kDefaultLength = 4;

  // `control` must outlive the device.
  explicit DebugExit(MachineControl& control) : control_(control) {}

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // The exit status a write of `value` produces.
  static int ExitStatus(uint32_t value);

 private:
  MachineControl& control_;
  RateLimiter log_limiter_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_LEGACY_DEBUG_EXIT_H_
