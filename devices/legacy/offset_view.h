// A BusDevice that forwards to another device with a fixed offset added, so
// one device can be inserted as several non-contiguous ranges and still tell
// them apart. Bus offsets are relative to each range's start, so inserting
// the same device twice would give both ranges offset 0.
//
//   auto i8042 = std::make_shared<I8042>(irq1.get(), control);
//   SKIFF_RETURN_IF_ERROR(pio.Insert(OffsetView::Make(i8042, 0), 0x60, 1));
//   SKIFF_RETURN_IF_ERROR(pio.Insert(OffsetView::Make(i8042, 4), 0x64, 1));
#ifndef SKIFF_DEVICES_LEGACY_OFFSET_VIEW_H_
#define SKIFF_DEVICES_LEGACY_OFFSET_VIEW_H_

#include <cstdint>
#include <memory>
#include <utility>

#include "devices/bus.h"

namespace skiff::devices {

// Stateless apart from constants, so it needs no lock; the target guards its
// own state.
class OffsetView : public BusDevice {
 public:
  OffsetView(std::shared_ptr<BusDevice> target, uint64_t offset)
      : target_(std::move(target)), offset_(offset) {}

  static std::shared_ptr<OffsetView> Make(std::shared_ptr<BusDevice> target,
                                          uint64_t offset) {
    return std::make_shared<OffsetView>(std::move(target), offset);
  }

  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    target_->Read(offset_ + offset, data);
  }
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    target_->Write(offset_ + offset, data);
  }

 private:
  const std::shared_ptr<BusDevice> target_;
  const uint64_t offset_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_LEGACY_OFFSET_VIEW_H_
