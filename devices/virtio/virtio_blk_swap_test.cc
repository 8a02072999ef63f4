// VirtioBlk's life beside the guest's requests: swapping the backing file
// under requests in flight (SwapBackend, RefreshCapacity) and quiescing for
// a VM pause (VirtioMmio::Pause/Resume, VirtioBlk::WaitIdle).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "devices/testing/fakes.h"
#include "devices/virtio/testing/blk_guest.h"
#include "devices/virtio/testing/memory_block_backend.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_mmio.h"

namespace skiff::devices {
namespace {

using testing::BlkGuest;
using testing::FakeIrqLine;
using testing::MemoryBlockBackend;

constexpr uint64_t kEventIdx = uint64_t{1} << kVirtioRingFEventIdx;

// A disk of `size` bytes whose every byte is `fill`.
std::unique_ptr<MemoryBlockBackend> Disk(uint64_t size, uint8_t fill,
                                         bool deferred = false,
                                         bool read_only = false) {
  auto b = std::make_unique<MemoryBlockBackend>(size, read_only, deferred);
  std::fill(b->data().begin(), b->data().end(), fill);
  return b;
}

// A guest driving a virtio-blk disk that starts on `first`.
struct Guest : BlkGuest {
  explicit Guest(std::unique_ptr<MemoryBlockBackend> first,
                 VirtioBlk::Options options = {.serial = "d"})
      : BlkGuest(std::move(first), std::move(options), kEventIdx, 64) {}

  // Queues a one-sector read into a fresh buffer; returns the buffer (the
  // status byte follows it).
  GuestAddr PostRead(uint64_t sector) {
    GuestAddr hdr = driver->Alloc(16);
    EXPECT_TRUE(
        mem->WriteObj(hdr, VirtioBlkOutHdr{kVirtioBlkTIn, 0, sector}).ok());
    GuestAddr data = driver->Alloc(513);
    EXPECT_TRUE(mem->WriteObj<uint8_t>(data + 512, 0xee).ok());
    EXPECT_GE(queue->Add(
                  {{hdr, 16, false}, {data, 512, true}, {data + 512, 1, true}}),
              0);
    return data;
  }
  uint8_t Byte(GuestAddr a) { return *mem->ReadObj<uint8_t>(a); }
  uint8_t Status(GuestAddr data) { return Byte(data + 512); }
  int Used() {
    int n = 0;
    while (queue->PopUsed().has_value()) ++n;
    return n;
  }
};

TEST(VirtioBlk, SwapSendsNewRequestsToTheNewFileWhileOldOnesFinish) {
  Guest g(Disk(1 << 20, 0xaa, /*deferred=*/true));
  MemoryBlockBackend* old_disk = g.backend;
  GuestAddr before1 = g.PostRead(0);
  GuestAddr before2 = g.PostRead(7);
  g.driver->Notify(0);
  ASSERT_EQ(old_disk->pending(), 2u);

  ASSERT_TRUE(g.device->SwapBackend(Disk(2 << 20, 0xbb)).ok());
  EXPECT_EQ(g.device->retired_backends(), 1u);
  GuestAddr after = g.PostRead(3000);  // past the old end
  g.driver->Notify(0);
  EXPECT_EQ(g.Status(after), kVirtioBlkSOk);
  EXPECT_EQ(g.Byte(after), 0xbb);
  EXPECT_EQ(g.Used(), 1);
  EXPECT_EQ(g.device->in_flight(), 2u);

  // The requests that were in flight complete from the old file.
  old_disk->CompleteAll();
  EXPECT_EQ(g.Used(), 2);
  EXPECT_EQ(g.Status(before1), kVirtioBlkSOk);
  EXPECT_EQ(g.Byte(before1), 0xaa);
  EXPECT_EQ(g.Byte(before2), 0xaa);
  EXPECT_EQ(g.device->in_flight(), 0u);
  // The next pass destroys the idle old backend.
  g.driver->Notify(0);
  EXPECT_EQ(g.device->retired_backends(), 0u);
}

TEST(VirtioBlk, SwapWithDeferClosesTheOldFileAfterItsLastCompletion) {
  std::vector<absl::AnyInvocable<void()>> deferred;
  Guest g(Disk(1 << 20, 0xaa, /*deferred=*/true),
          {.serial = "d", .defer = [&](absl::AnyInvocable<void()> fn) {
             deferred.push_back(std::move(fn));
           }});
  MemoryBlockBackend* old_disk = g.backend;
  GuestAddr before = g.PostRead(0);
  g.driver->Notify(0);
  ASSERT_TRUE(g.device->SwapBackend(Disk(1 << 20, 0xbb)).ok());
  EXPECT_EQ(g.device->retired_backends(), 1u);
  EXPECT_TRUE(deferred.empty());

  // No queue pass follows: the last completion alone hands the old backend
  // to `defer`, which must not destroy it inside its own callback (under
  // ASan, touching old_disk here would catch that).
  old_disk->CompleteAll();
  EXPECT_EQ(old_disk->pending(), 0u);
  EXPECT_EQ(g.Byte(before), 0xaa);
  EXPECT_EQ(g.device->retired_backends(), 0u);
  ASSERT_EQ(deferred.size(), 1u);
  deferred[0]();
  GuestAddr after = g.PostRead(0);
  g.driver->Notify(0);
  EXPECT_EQ(g.Byte(after), 0xbb);
}

TEST(VirtioBlk, SecondSwapWhileTheFirstOldFileIsBusyRetiresBothCorrectly) {
  Guest g(Disk(1 << 20, 0xaa, /*deferred=*/true));
  MemoryBlockBackend* first = g.backend;
  GuestAddr before = g.PostRead(0);
  g.driver->Notify(0);
  ASSERT_TRUE(g.device->SwapBackend(Disk(1 << 20, 0xbb)).ok());
  // The second file took no request: it is dropped at once, although the
  // first one still has one in flight.
  ASSERT_TRUE(g.device->SwapBackend(Disk(1 << 20, 0xcc)).ok());
  EXPECT_EQ(g.device->retired_backends(), 1u);
  first->CompleteAll();
  EXPECT_EQ(g.Byte(before), 0xaa);
  GuestAddr after = g.PostRead(0);
  g.driver->Notify(0);
  EXPECT_EQ(g.Byte(after), 0xcc);
  EXPECT_EQ(g.device->retired_backends(), 0u);
}

TEST(VirtioBlk, SwapWithNothingInFlightDropsTheOldFileAtOnce) {
  Guest g(Disk(1 << 20, 1));
  ASSERT_TRUE(g.device->SwapBackend(Disk(1 << 20, 2)).ok());
  EXPECT_EQ(g.device->retired_backends(), 0u);
  GuestAddr data = g.PostRead(0);
  g.driver->Notify(0);
  EXPECT_EQ(g.Byte(data), 2);
}

TEST(VirtioBlk, SwapUpdatesCapacityAndRaisesAConfigChange) {
  Guest g(Disk(1 << 20, 0));
  EXPECT_EQ(g.driver->Config<uint64_t>(0), (1u << 20) / 512);
  const uint32_t generation = g.driver->Read32(kMmioConfigGeneration);
  const int edges = g.irq.rising_edges();
  ASSERT_TRUE(g.device->SwapBackend(Disk(3 << 20, 0)).ok());
  EXPECT_EQ(g.driver->Config<uint64_t>(0), (3u << 20) / 512);
  EXPECT_EQ(g.device->config().capacity, (3u << 20) / 512);
  EXPECT_NE(g.driver->Read32(kMmioConfigGeneration), generation);
  // virtio 1.2 §4.2.2: InterruptStatus bit 1, configuration change.
  EXPECT_TRUE(g.driver->Read32(kMmioInterruptStatus) & kInterruptConfigChange);
  EXPECT_GT(g.irq.rising_edges(), edges);
  // A read past the new end fails; one inside it works.
  GuestAddr past = g.PostRead((3u << 20) / 512);
  GuestAddr last = g.PostRead((3u << 20) / 512 - 1);
  g.driver->Notify(0);
  EXPECT_EQ(g.Status(past), kVirtioBlkSIoErr);
  EXPECT_EQ(g.Status(last), kVirtioBlkSOk);
}

TEST(VirtioBlk, RefreshCapacityPicksUpAResizedFile) {
  Guest g(Disk(1 << 20, 0));
  const uint32_t generation = g.driver->Read32(kMmioConfigGeneration);
  g.backend->data().resize(4 << 20);
  ASSERT_TRUE(g.device->RefreshCapacity().ok());
  EXPECT_EQ(g.driver->Config<uint64_t>(0), (4u << 20) / 512);
  EXPECT_NE(g.driver->Read32(kMmioConfigGeneration), generation);
}

TEST(VirtioBlk, SwapRefusesAReadOnlyMismatch) {
  Guest g(Disk(1 << 20, 5));
  EXPECT_FALSE(g.device
                   ->SwapBackend(Disk(1 << 20, 6, /*deferred=*/false,
                                      /*read_only=*/true))
                   .ok());
  GuestAddr data = g.PostRead(0);
  g.driver->Notify(0);
  EXPECT_EQ(g.Byte(data), 5);  // still the old file
  EXPECT_EQ(g.driver->Config<uint64_t>(0), (1u << 20) / 512);
}

TEST(VirtioBlk, SwapBeforeTheDriverStartsSendsNoInterrupt) {
  auto m = GuestMemory::Create({{GuestAddr(0), 1 << 20}}, {});
  ASSERT_TRUE(m.ok());
  FakeIrqLine irq;
  auto blk =
      std::make_unique<VirtioBlk>(Disk(1 << 20, 0), VirtioBlk::Options{});
  VirtioBlk* device = blk.get();
  VirtioMmio mmio(**m, std::move(blk), &irq);
  ASSERT_TRUE(device->SwapBackend(Disk(2 << 20, 0)).ok());
  EXPECT_EQ(device->config().capacity, (2u << 20) / 512);
  EXPECT_EQ(irq.rising_edges(), 0);
}

TEST(VirtioBlk, PausedTransportHoldsNotificationsUntilResume) {
  Guest g(Disk(1 << 20, 0x5a));
  g.mmio->Pause();
  EXPECT_TRUE(g.mmio->paused());
  GuestAddr data = g.PostRead(0);
  g.driver->Notify(0);
  // Not processed: guest memory untouched, nothing used.
  EXPECT_EQ(g.Status(data), 0xee);
  EXPECT_EQ(g.Byte(data), 0);
  EXPECT_EQ(g.Used(), 0);
  EXPECT_EQ(g.backend->ops().size(), 0u);
  g.mmio->Resume();
  EXPECT_FALSE(g.mmio->paused());
  EXPECT_EQ(g.Status(data), kVirtioBlkSOk);
  EXPECT_EQ(g.Byte(data), 0x5a);
  EXPECT_EQ(g.Used(), 1);
}

TEST(VirtioBlk, WaitIdleReturnsOnceInFlightRequestsArePublished) {
  Guest g(Disk(1 << 20, 0x77, /*deferred=*/true));
  GuestAddr a = g.PostRead(0);
  GuestAddr b = g.PostRead(1);
  g.driver->Notify(0);
  g.mmio->Pause();
  ASSERT_EQ(g.backend->pending(), 2u);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    g.device->WaitIdle();
    returned = true;
  });
  // Cannot return while both requests are in the backend.
  EXPECT_FALSE(returned.load());
  g.backend->CompleteAll();
  waiter.join();
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(g.Used(), 2);
  EXPECT_EQ(g.Status(a), kVirtioBlkSOk);
  EXPECT_EQ(g.Byte(b), 0x77);
  g.mmio->Resume();
}

TEST(VirtioBlk, WaitIdleWithNothingInFlightReturnsAtOnce) {
  Guest g(Disk(1 << 20, 0));
  g.mmio->Pause();
  g.device->WaitIdle();
  g.mmio->Resume();
}

}  // namespace
}  // namespace skiff::devices
