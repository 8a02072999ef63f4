// Fuzzes virtio-blk's backing-file swap and pause against requests in
// flight. The input interleaves well-formed requests (reads, writes and
// flushes a driver queues), what fuzz_virtio_blk does (guest RAM rewritten
// between notifications), swaps to new in-memory disks,
// completions of any live disk's held requests, the deferred closures that
// close retired disks, and transport pause/resume. Afterwards every disk
// completes what it holds: the device must then count no request in flight,
// and, with the defer hook, hold no retired disk, with every old disk
// destroyed and none destroyed inside its own completion callback.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "base/guest_memory.h"
#include "devices/testing/fakes.h"
#include "devices/virtio/testing/fuzz_setup.h"
#include "devices/virtio/testing/memory_block_backend.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_mmio.h"

namespace {

using namespace skiff;
using namespace skiff::devices;
using skiff::devices::testing::FuzzCheck;
using skiff::devices::testing::MemoryBlockBackend;

constexpr uint64_t kRam = 0x10000;
constexpr int kSlots = 8;
constexpr uint32_t kSlotData = 1024;

// Guest buffers for one well-formed request: header, data, status byte.
struct Slot {
  GuestAddr hdr, data, status;
};

// A disk that keeps a registry of the disks alive, so the fuzzer can
// complete the requests of any of them and see when the device drops one.
class TrackedDisk : public MemoryBlockBackend {
 public:
  TrackedDisk(uint64_t size, bool read_only, bool deferred,
              std::vector<TrackedDisk*>* live)
      : MemoryBlockBackend(size, read_only, deferred), live_(live) {
    live_->push_back(this);
  }
  ~TrackedDisk() override {
    // Never while one of its own completions runs.
    FuzzCheck(!completing_);
    live_->erase(std::find(live_->begin(), live_->end(), this));
  }
  void CompleteHeld() {
    completing_ = true;
    CompleteAll();
    completing_ = false;
  }

 private:
  std::vector<TrackedDisk*>* live_;
  bool completing_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  testing::BlkFuzzHeader header;
  if (!testing::TakeBlkFuzzHeader(data, size, &header)) return 0;
  GuestMemory& mem = testing::FuzzGuestRam<kRam>();
  const bool read_only = header.read_only();
  const uint16_t qsize = header.qsize;
  const bool use_defer = header.flags & 8;

  std::vector<TrackedDisk*> live;
  std::vector<absl::AnyInvocable<void()>> deferred;
  VirtioBlk::Options options{.serial = "fuzz", .queue_size = 64};
  if (use_defer) {
    options.defer = [&deferred](absl::AnyInvocable<void()> fn) {
      deferred.push_back(std::move(fn));
    };
  }
  auto first = std::make_unique<TrackedDisk>(64 * 1024, read_only,
                                             /*deferred=*/true, &live);
  auto blk = std::make_unique<VirtioBlk>(std::move(first), options);
  VirtioBlk* device = blk.get();
  testing::FakeIrqLine irq;
  VirtioMmio mmio(mem, std::move(blk), &irq);
  testing::VirtioMmioDriver driver(mem, mmio, GuestAddr(0x1000));
  testing::StartDriver(driver,
                       testing::DropRingFeatures(driver.DeviceFeatures(),
                                                 header.drop_event_idx(),
                                                 header.drop_indirect()),
                       {0}, qsize);

  Slot slots[kSlots];
  for (Slot& slot : slots) {
    slot = {driver.Alloc(sizeof(VirtioBlkOutHdr)), driver.Alloc(kSlotData),
            driver.Alloc(1)};
  }
  testing::DriverQueue* queue = driver.queue(0);
  FuzzCheck(queue != nullptr);

  auto run_deferred = [&deferred] {
    std::vector<absl::AnyInvocable<void()>> now;
    now.swap(deferred);
    for (auto& fn : now) fn();
  };
  bool paused = false;
  size_t pos = 0;
  while (pos < size) {
    const uint8_t op = data[pos++];
    switch (op % 7) {
      case 0: {  // [offset hi, offset lo, len, bytes...] into RAM, notify
        if (pos + 3 > size) return 0;
        const uint64_t at = (uint64_t{data[pos]} << 8 | data[pos + 1]) % kRam;
        const size_t n = std::min<size_t>(data[pos + 2], size - pos - 3);
        testing::PokeRam(mem, at, data + pos + 3, n);
        pos += 3 + n;
        driver.Notify(0);
        break;
      }
      case 1: {  // swap to a disk of 4 KiB..64 KiB, held or inline
        const uint64_t disk_size = static_cast<uint64_t>((op >> 3) % 16 + 1)
                                   << 12;
        const bool held = op & 0x80;
        FuzzCheck(device
                      ->SwapBackend(std::make_unique<TrackedDisk>(
                          disk_size, read_only, held, &live))
                      .ok());
        break;
      }
      case 2:  // complete what one live disk holds
        if (!live.empty()) live[(op >> 3) % live.size()]->CompleteHeld();
        break;
      case 3:
        run_deferred();
        break;
      case 4:
        if (!paused) mmio.Pause();
        paused = true;
        break;
      case 5:
        if (paused) mmio.Resume();
        paused = false;
        break;
      case 6: {  // a well-formed request: [slot and sector]
        if (pos >= size) return 0;
        const uint8_t arg = data[pos++];
        for (int k = 0; k < qsize && queue->PopUsed().has_value(); ++k) {
        }
        const Slot& slot = slots[arg % kSlots];
        const uint32_t type = (op & 0x08)   ? kVirtioBlkTOut
                              : (op & 0x10) ? kVirtioBlkTFlush
                                            : kVirtioBlkTIn;
        const uint32_t len = (op & 0x20) ? kSlotData : kSlotData / 2;
        FuzzCheck(
            mem.WriteObj(slot.hdr, VirtioBlkOutHdr{type, 0, uint64_t{arg} >> 3})
                .ok());
        if (type == kVirtioBlkTFlush) {
          queue->Add({{slot.hdr, sizeof(VirtioBlkOutHdr), false},
                      {slot.status, 1, true}});
        } else {
          queue->Add({{slot.hdr, sizeof(VirtioBlkOutHdr), false},
                      {slot.data, len, type == kVirtioBlkTIn},
                      {slot.status, 1, true}});
        }
        driver.Notify(0);
        break;
      }
    }
  }
  if (paused) mmio.Resume();
  // Drain: completions may publish, and a pass may submit what a resume
  // or a completion made room for; every disk is held or inline, so this
  // ends.
  for (int round = 0; round < 64 && device->in_flight() > 0; ++round) {
    const std::vector<TrackedDisk*> disks = live;
    for (TrackedDisk* d : disks) {
      if (std::find(live.begin(), live.end(), d) != live.end()) {
        d->CompleteHeld();
      }
    }
    run_deferred();
  }
  FuzzCheck(device->in_flight() == 0);
  run_deferred();
  if (use_defer) {
    FuzzCheck(device->retired_backends() == 0);
    FuzzCheck(live.size() == 1);
  }
  return 0;
}
