#include "devices/virtio/virtio_rng.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "devices/testing/fakes.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_mmio.h"

namespace skiff::devices {
namespace {

using testing::FakeIrqLine;
using testing::VirtioMmioDriver;

struct Guest {
  Guest() {
    auto m = GuestMemory::Create({{GuestAddr(0), 1 << 20}}, {});
    EXPECT_TRUE(m.ok());
    mem = std::move(*m);
    mmio =
        std::make_unique<VirtioMmio>(*mem, std::make_unique<VirtioRng>(), &irq);
    driver = std::make_unique<VirtioMmioDriver>(*mem, *mmio, GuestAddr(0x1000));
    EXPECT_TRUE(driver->Negotiate(driver->DeviceFeatures()).ok());
    auto q = driver->SetupQueue(0, 16);
    EXPECT_TRUE(q.ok());
    queue = *q;
    driver->DriverOk();
  }
  std::unique_ptr<GuestMemory> mem;
  FakeIrqLine irq;
  std::unique_ptr<VirtioMmio> mmio;
  std::unique_ptr<VirtioMmioDriver> driver;
  testing::DriverQueue* queue = nullptr;
};

TEST(VirtioRng, IsAnEntropyDevice) {
  Guest g;
  EXPECT_EQ(g.driver->Read32(kMmioDeviceId), kVirtioIdRng);
  EXPECT_EQ(g.driver->Config<uint32_t>(0), 0u);
}

TEST(VirtioRng, FillsWritableBuffers) {
  Guest g;
  GuestAddr a = g.driver->Alloc(256);
  GuestAddr b = g.driver->Alloc(256);
  int head = g.queue->Add({{a, 256, true}, {b, 256, true}});
  g.driver->Notify(0);
  auto used = g.queue->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->id, static_cast<uint32_t>(head));
  EXPECT_EQ(used->len, 512u);
  std::vector<uint8_t> bytes(512);
  ASSERT_TRUE(g.mem->Read(a, absl::MakeSpan(bytes)).ok());
  int zeroes = 0;
  for (uint8_t v : bytes) zeroes += v == 0;
  EXPECT_LT(zeroes, 64);  // 512 random bytes are not mostly zero
  EXPECT_EQ(g.irq.rising_edges(), 1);
}

TEST(VirtioRng, ReadableOnlyChainGetsZeroBytes) {
  Guest g;
  g.queue->Add({{g.driver->Alloc(16), 16, false}});
  g.driver->Notify(0);
  auto used = g.queue->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, 0u);
}

TEST(VirtioRng, LargeRequestsAreCapped) {
  Guest g;
  GuestAddr a = g.driver->Alloc(VirtioRng::kMaxBytesPerRequest + 4096);
  g.queue->Add({{a, VirtioRng::kMaxBytesPerRequest + 4096, true}});
  g.driver->Notify(0);
  auto used = g.queue->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, VirtioRng::kMaxBytesPerRequest);
}

TEST(VirtioRng, MalformedRingNeedsReset) {
  Guest g;
  g.queue->WriteDesc(0, {0xfff0'0000, 16, kVirtqDescFWrite, 0});
  g.queue->PushAvail(0);
  g.driver->Notify(0);
  EXPECT_TRUE(g.driver->status() & kStatusNeedsReset);
}

}  // namespace
}  // namespace skiff::devices
