// A tiny guest-side virtio driver for tests, fuzzers and benchmarks: it lays
// out split virtqueues (virtio 1.2 §2.7) in a GuestMemory, negotiates through
// the virtio-mmio registers (§4.2.3) the way Linux's virtio_mmio.c does,
// posts descriptor chains and reads used entries back. It also gives raw ring
// access so tests can build malformed rings.
//
//   VirtioMmio dev(*mem, std::make_unique<VirtioRng>(), &irq);
//   VirtioMmioDriver drv(*mem, dev, GuestAddr(0x10000));
//   ASSERT_OK(drv.Negotiate(drv.DeviceFeatures()));
//   DriverQueue* q = *drv.SetupQueue(0, 16);
//   drv.DriverOk();
//   GuestAddr buf = drv.Alloc(64);
//   q->Add({{buf, 64, /*device_writable=*/true}});
//   drv.Notify(0);
//   std::optional<VirtqUsedElem> used = q->PopUsed();
//
// Not thread-safe; guest memory accesses are plain copies (the device under
// test runs synchronously in the caller's thread).
#ifndef SKIFF_DEVICES_VIRTIO_TESTING_VIRTIO_DRIVER_H_
#define SKIFF_DEVICES_VIRTIO_TESTING_VIRTIO_DRIVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "devices/bus.h"
#include "devices/virtio/virtqueue.h"

namespace skiff::devices::testing {

struct Buffer {
  GuestAddr addr;
  uint32_t len = 0;
  bool device_writable = false;
};

// The driver side of one split virtqueue laid out at `base`: descriptor
// table, then the avail ring, then the used ring (4-byte aligned).
class DriverQueue {
 public:
  DriverQueue(const GuestMemory& mem, GuestAddr base, uint16_t size);
  // Bytes the three areas take for `size` entries.
  static uint64_t Footprint(uint16_t size);

  Virtqueue::Layout layout() const { return layout_; }
  uint16_t size() const { return layout_.size; }
  uint16_t free_descriptors() const {
    return static_cast<uint16_t>(free_.size());
  }

  // Chains `bufs` through free descriptors and makes the chain available.
  // Returns the head, or -1 if there are not enough free descriptors.
  int Add(absl::Span<const Buffer> bufs);
  // One descriptor pointing at an indirect table written at `table`
  // (16 bytes per buffer). Returns the head or -1.
  int AddIndirect(absl::Span<const Buffer> bufs, GuestAddr table);
  // The next used element, freeing its descriptors; nullopt if none.
  std::optional<VirtqUsedElem> PopUsed();

  // Raw ring access, for building malformed rings.
  void WriteDesc(uint16_t index, const VirtqDesc& desc);
  // Puts `head` in the next avail slot and bumps avail->idx.
  void PushAvail(uint16_t head);
  void SetAvailIdx(uint16_t idx);
  uint16_t avail_idx() const;
  void SetAvailFlags(uint16_t flags);
  void SetUsedEvent(uint16_t idx);
  uint16_t avail_event() const;
  // Whether a driver that has just made entries [old, avail_idx()) available
  // must notify (§2.7.10 under EVENT_IDX, else used->flags NO_NOTIFY).
  bool NeedsNotify(uint16_t old, bool event_idx) const;
  uint16_t used_idx() const;

 private:
  const GuestMemory& mem_;
  Virtqueue::Layout layout_;
  std::vector<uint16_t> free_;
  std::map<uint16_t, std::vector<uint16_t>> in_flight_;  // head -> chain
  uint16_t next_avail_ = 0;
  uint16_t last_used_ = 0;
};

// Negotiation and queue setup through the virtio-mmio registers of `dev`,
// plus a bump allocator for queues and buffers starting at `heap`.
class VirtioMmioDriver {
 public:
  VirtioMmioDriver(const GuestMemory& mem, BusDevice& dev, GuestAddr heap);

  uint32_t Read32(uint64_t offset);
  void Write32(uint64_t offset, uint32_t value);

  uint64_t DeviceFeatures();
  // §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, write `features`,
  // FEATURES_OK and check that it stuck.
  absl::Status Negotiate(uint64_t features);
  // §4.2.3.2: selects queue `q`, checks QueueNumMax, lays the rings out in
  // the heap, writes their addresses and sets QueueReady.
  absl::StatusOr<DriverQueue*> SetupQueue(uint16_t q, uint16_t size);
  void DriverOk();
  uint32_t status() { return Read32(0x070); }
  void Notify(uint16_t q);
  // Reads InterruptStatus and acknowledges all of it.
  uint32_t AckInterrupts();
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> out);
  template <typename T>
  T Config(uint64_t offset) {
    T value{};
    ReadConfig(offset,
               absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
    return value;
  }

  // `size` bytes of zeroed guest RAM aligned to `align`.
  GuestAddr Alloc(uint64_t size, uint64_t align = 16);
  DriverQueue* queue(uint16_t q) {
    return q < queues_.size() ? queues_[q].get() : nullptr;
  }
  const GuestMemory& mem() const { return mem_; }

 private:
  const GuestMemory& mem_;
  BusDevice& dev_;
  GuestAddr heap_;
  std::vector<std::unique_ptr<DriverQueue>> queues_;
};

}  // namespace skiff::devices::testing

#endif  // SKIFF_DEVICES_VIRTIO_TESTING_VIRTIO_DRIVER_H_
