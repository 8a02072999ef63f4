// A Bus maps address ranges (ports or guest-physical MMIO addresses) to
// devices. Devices only register ranges and handle reads and writes at an
// offset into their range; they never see vCPU exits or the backend.
//
//   Bus pio;
//   SKIFF_RETURN_IF_ERROR(pio.Insert(serial, 0x3f8, 8));
//   uint8_t b;
//   pio.Read(0x3fd, absl::MakeSpan(&b, 1));   // serial->Read(5, ...)
//
// Thread-safety: Insert/Remove take the writer lock; Read/Write take the
// reader lock only to find the device, then call it unlocked, so a device
// guards its own state and vCPUs on different devices never contend.
#ifndef SKIFF_DEVICES_BUS_H_
#define SKIFF_DEVICES_BUS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace skiff::devices {

class BusDevice {
 public:
  virtual ~BusDevice() = default;
  // `offset` is relative to the start of the range the device was inserted
  // at. Reads must fill all of `data`.
  virtual void Read(uint64_t offset, absl::Span<uint8_t> data) = 0;
  virtual void Write(uint64_t offset, absl::Span<const uint8_t> data) = 0;
};

class Bus {
 public:
  explicit Bus(std::string name) : name_(std::move(name)) {}

  // Registers [base, base + len). Fails on an empty, wrapping or overlapping
  // range.
  absl::Status Insert(std::shared_ptr<BusDevice> device, uint64_t base,
                      uint64_t len) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Remove(uint64_t base) ABSL_LOCKS_EXCLUDED(mu_);

  // Return false when no device claims the whole access; reads then see
  // all-ones (what an unclaimed ISA or PCI read returns).
  bool Read(uint64_t addr, absl::Span<uint8_t> data) ABSL_LOCKS_EXCLUDED(mu_);
  bool Write(uint64_t addr, absl::Span<const uint8_t> data)
      ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& name() const { return name_; }

 private:
  struct Range {
    uint64_t len;
    std::shared_ptr<BusDevice> device;
  };
  // The device whose range holds [addr, addr + size), and the offset into it.
  std::shared_ptr<BusDevice> Find(uint64_t addr, uint64_t size,
                                  uint64_t& offset) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string name_;
  absl::Mutex mu_;
  std::map<uint64_t, Range> ranges_ ABSL_GUARDED_BY(mu_);  // keyed by base
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_BUS_H_
