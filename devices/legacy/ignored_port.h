// A device for ports Linux touches but skiff does not emulate, so they are
// claimed quietly instead of being logged as unhandled: port 0x80 (POST
// codes; Linux's outb_p() delays by writing it) and 0xed (io_delay=0xed).
// Writes are dropped; reads return a fixed byte (0xff by default, what an
// open ISA bus and QEMU's port 0x80 return).
//
//   auto ignored = std::make_shared<IgnoredPort>();
//   SKIFF_RETURN_IF_ERROR(pio.Insert(ignored, 0x80, 1));
//   SKIFF_RETURN_IF_ERROR(pio.Insert(ignored, 0xed, 1));
//
// Thread-safety: no mutable state.
#ifndef SKIFF_DEVICES_LEGACY_IGNORED_PORT_H_
#define SKIFF_DEVICES_LEGACY_IGNORED_PORT_H_

#include <algorithm>
#include <cstdint>

#include "absl/types/span.h"
#include "devices/bus.h"

namespace skiff::devices {

class IgnoredPort : public BusDevice {
 public:
  explicit IgnoredPort(uint8_t read_value = 0xff) : read_value_(read_value) {}

  void Read(uint64_t, absl::Span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), read_value_);
  }
  void Write(uint64_t, absl::Span<const uint8_t>) override {}

 private:
  const uint8_t read_value_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_LEGACY_IGNORED_PORT_H_
