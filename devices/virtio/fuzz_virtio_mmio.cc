// Fuzzes the virtio-mmio transport with guest-controlled register access
// sequences (any offset in the window, any width, any value) in front of a
// virtio-blk or virtio-rng device, with guest RAM also taken from the input.
// Checks that the status register never shows DRIVER_OK without
// FEATURES_OK and that nothing crashes or leaves guest RAM.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "base/guest_memory.h"
#include "devices/testing/fakes.h"
#include "devices/virtio/testing/fuzz_setup.h"
#include "devices/virtio/testing/memory_block_backend.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtio_rng.h"

namespace {

using namespace skiff;
using namespace skiff::devices;
using skiff::devices::testing::FuzzCheck;

constexpr uint64_t kRam = 0x10000;

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Next() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t Next32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{Next()} << (8 * i);
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  GuestMemory& mem = testing::FuzzGuestRam<kRam>();

  Input in(data, size);
  testing::FakeIrqLine irq;
  std::unique_ptr<VirtioDevice> dev;
  const uint8_t kind = in.Next();
  if (kind & 1) {
    dev = std::make_unique<VirtioRng>();
  } else {
    dev = std::make_unique<VirtioBlk>(
        std::make_unique<testing::MemoryBlockBackend>(64 * 1024, kind & 2,
                                                      kind & 4),
        VirtioBlk::Options{.serial = "fuzz", .queue_size = 64});
  }
  VirtioMmio mmio(mem, std::move(dev), &irq);
  while (!in.empty()) {
    const uint8_t op = in.Next();
    const uint64_t offset = (uint64_t{in.Next()} << 8 | in.Next()) % 0x200;
    const size_t width = size_t{1} << (op >> 6);  // 1, 2, 4 or 8
    uint8_t buf[8] = {};
    switch (op & 3) {
      case 0:
        mmio.Read(offset, absl::MakeSpan(buf, width));
        break;
      case 1: {
        // Mostly aligned 32-bit register writes, so the state machine is
        // reachable; the value often a small number.
        const uint64_t reg = offset & ~uint64_t{3};
        uint32_t v = (op & 4) ? in.Next32() : in.Next();
        std::memcpy(buf, &v, 4);
        mmio.Write(reg, absl::MakeConstSpan(buf, 4));
        break;
      }
      case 2:
        for (size_t i = 0; i < width; ++i) buf[i] = in.Next();
        mmio.Write(offset, absl::MakeConstSpan(buf, width));
        break;
      case 3: {
        // Guest RAM changes behind the device's back.
        const uint64_t at = (uint64_t{in.Next()} << 8 | in.Next()) % kRam;
        const uint8_t n = in.Next();
        for (uint8_t i = 0; i < n && at + i < kRam; ++i) {
          mem.regions()[0].host[at + i] = in.Next();
        }
        mmio.ProcessQueue(in.Next() % 3);
        break;
      }
    }
    const uint32_t status = mmio.status();
    FuzzCheck(!(status & kStatusDriverOk) || (status & kStatusFeaturesOk));
  }
  return 0;
}
