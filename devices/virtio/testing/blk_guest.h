// BlkGuest is what the virtio-blk tests start from: 8 MiB of guest RAM, a
// VirtioBlk on an in-memory disk behind the MMIO transport, and a driver
// that has negotiated the device's features (less `drop_features`), set up
// queue 0 and set DRIVER_OK. Failures are gtest expectations.
//
//   BlkGuest g(std::make_unique<MemoryBlockBackend>(1 << 20),
//              {.serial = "d"}, /*drop_features=*/0, /*queue_size=*/64);
//   g.queue->Add(...);
//   g.driver->Notify(0);
#ifndef SKIFF_DEVICES_VIRTIO_TESTING_BLK_GUEST_H_
#define SKIFF_DEVICES_VIRTIO_TESTING_BLK_GUEST_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <utility>

#include "base/guest_memory.h"
#include "devices/testing/fakes.h"
#include "devices/virtio/testing/memory_block_backend.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_mmio.h"

namespace skiff::devices::testing {

struct BlkGuest {
  BlkGuest(std::unique_ptr<MemoryBlockBackend> disk, VirtioBlk::Options options,
           uint64_t drop_features, uint16_t queue_size) {
    auto m = GuestMemory::Create({{GuestAddr(0), 8 << 20}}, {});
    EXPECT_TRUE(m.ok());
    mem = std::move(*m);
    backend = disk.get();
    auto blk = std::make_unique<VirtioBlk>(std::move(disk), std::move(options));
    device = blk.get();
    mmio = std::make_unique<VirtioMmio>(*mem, std::move(blk), &irq);
    driver = std::make_unique<VirtioMmioDriver>(*mem, *mmio, GuestAddr(0x1000));
    features = driver->DeviceFeatures() & ~drop_features;
    EXPECT_TRUE(driver->Negotiate(features).ok());
    auto q = driver->SetupQueue(0, queue_size);
    EXPECT_TRUE(q.ok());
    queue = q.ok() ? *q : nullptr;
    driver->DriverOk();
  }

  std::unique_ptr<GuestMemory> mem;
  FakeIrqLine irq;
  MemoryBlockBackend* backend = nullptr;  // the disk the device started on
  VirtioBlk* device = nullptr;
  std::unique_ptr<VirtioMmio> mmio;
  std::unique_ptr<VirtioMmioDriver> driver;
  uint64_t features = 0;  // as negotiated
  DriverQueue* queue = nullptr;
};

}  // namespace skiff::devices::testing

#endif  // SKIFF_DEVICES_VIRTIO_TESTING_BLK_GUEST_H_
