#include "devices/virtio/virtio_mmio.h"

#include <gtest/gtest.h>

#include <memory>

#include "devices/testing/fakes.h"
#include "devices/virtio/testing/virtio_driver.h"

namespace skiff::devices {
namespace {

using testing::FakeIrqLine;
using testing::VirtioMmioDriver;

constexpr uint64_t kVersion1 = uint64_t{1} << kVirtioFVersion1;

// Records what the transport asks of it.
class FakeDevice : public VirtioDevice {
 public:
  uint32_t device_id() const override { return 42; }
  uint64_t device_features() const override { return features; }
  uint16_t num_queues() const override { return 2; }
  uint16_t max_queue_size() const override { return 64; }
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) override {
    for (size_t i = 0; i < data.size(); ++i) {
      data[i] = static_cast<uint8_t>(0x10 + offset + i);
    }
  }
  void WriteConfig(uint64_t offset, absl::Span<const uint8_t> data) override {
    last_config_write = {offset, data.size()};
  }
  absl::Status Activate(const GuestMemory&, uint64_t f,
                        std::vector<std::optional<Virtqueue>> q,
                        VirtioInterrupt* irq) override {
    ++activations;
    negotiated = f;
    queues = std::move(q);
    interrupt = irq;
    return activate_result;
  }
  void Reset() override {
    ++resets;
    queues.clear();
    interrupt = nullptr;
  }
  absl::Status ProcessQueue(uint32_t queue) override {
    processed.push_back(queue);
    return process_result;
  }

  uint64_t features = uint64_t{1} << 3;
  int activations = 0;
  int resets = 0;
  uint64_t negotiated = 0;
  std::vector<std::optional<Virtqueue>> queues;
  VirtioInterrupt* interrupt = nullptr;
  absl::Status activate_result;
  absl::Status process_result;
  std::vector<uint32_t> processed;
  std::pair<uint64_t, size_t> last_config_write{};
};

struct Fixture {
  Fixture() {
    auto m = GuestMemory::Create({{GuestAddr(0), 1 << 20}}, {});
    EXPECT_TRUE(m.ok());
    mem = std::move(*m);
    auto d = std::make_unique<FakeDevice>();
    dev = d.get();
    mmio = std::make_unique<VirtioMmio>(*mem, std::move(d), &irq);
    driver =
        std::make_unique<VirtioMmioDriver>(*mem, *mmio, GuestAddr(0x10000));
  }
  // Negotiates, sets up queue 0 and reaches DRIVER_OK.
  void Activate() {
    const int before = dev->activations;
    ASSERT_TRUE(driver->Negotiate(kVersion1 | dev->features).ok());
    ASSERT_TRUE(driver->SetupQueue(0, 16).ok());
    driver->DriverOk();
    ASSERT_EQ(dev->activations, before + 1);
  }
  std::unique_ptr<GuestMemory> mem;
  FakeIrqLine irq;
  FakeDevice* dev;
  std::unique_ptr<VirtioMmio> mmio;
  std::unique_ptr<VirtioMmioDriver> driver;
};

TEST(VirtioMmio, IdentityRegisters) {
  Fixture f;
  EXPECT_EQ(f.driver->Read32(kMmioMagicValue), 0x74726976u);
  EXPECT_EQ(f.driver->Read32(kMmioVersion), 2u);
  EXPECT_EQ(f.driver->Read32(kMmioDeviceId), 42u);
  EXPECT_EQ(f.driver->Read32(kMmioVendorId), VirtioMmio::kVendorId);
  EXPECT_EQ(f.driver->Read32(kMmioShmLenLow), 0xffffffffu);
  EXPECT_EQ(f.driver->Read32(kMmioShmLenHigh), 0xffffffffu);
}

TEST(VirtioMmio, FeaturesAlwaysOfferVersion1) {
  Fixture f;
  EXPECT_EQ(f.driver->DeviceFeatures(), kVersion1 | (1u << 3));
  f.driver->Write32(kMmioDeviceFeaturesSel, 2);
  EXPECT_EQ(f.driver->Read32(kMmioDeviceFeatures), 0u);
}

TEST(VirtioMmio, AcceptsASubsetOfTheOfferedFeatures) {
  Fixture f;
  EXPECT_TRUE(f.driver->Negotiate(kVersion1).ok());
  EXPECT_TRUE(f.driver->status() & kStatusFeaturesOk);
}

TEST(VirtioMmio, RefusesFeaturesNotOffered) {
  Fixture f;
  EXPECT_FALSE(f.driver->Negotiate(kVersion1 | (1u << 4)).ok());
  EXPECT_FALSE(f.driver->status() & kStatusFeaturesOk);
}

TEST(VirtioMmio, RefusesLegacyDrivers) {
  Fixture f;
  EXPECT_FALSE(f.driver->Negotiate(1u << 3).ok());
}

TEST(VirtioMmio, FeaturesFrozenAfterFeaturesOk) {
  Fixture f;
  f.Activate();
  f.driver->Write32(kMmioDriverFeaturesSel, 0);
  f.driver->Write32(kMmioDriverFeatures, 0xffffffff);
  EXPECT_EQ(f.dev->negotiated, kVersion1 | (1u << 3));
}

TEST(VirtioMmio, DriverOkActivatesTheEnabledQueues) {
  Fixture f;
  f.Activate();
  ASSERT_EQ(f.dev->queues.size(), 2u);
  ASSERT_TRUE(f.dev->queues[0].has_value());
  EXPECT_EQ(f.dev->queues[0]->size(), 16);
  EXPECT_FALSE(f.dev->queues[1].has_value());
  EXPECT_EQ(f.dev->negotiated, kVersion1 | (1u << 3));
  EXPECT_TRUE(f.driver->status() & kStatusDriverOk);
}

TEST(VirtioMmio, DriverOkWithoutFeaturesOkNeedsReset) {
  Fixture f;
  f.driver->Write32(kMmioStatus, kStatusAcknowledge | kStatusDriver);
  f.driver->Write32(kMmioStatus,
                    kStatusAcknowledge | kStatusDriver | kStatusDriverOk);
  EXPECT_EQ(f.dev->activations, 0);
  EXPECT_TRUE(f.driver->status() & kStatusNeedsReset);
  EXPECT_FALSE(f.driver->status() & kStatusDriverOk);
}

TEST(VirtioMmio, QueueNumMaxIsZeroPastTheLastQueue) {
  Fixture f;
  f.driver->Write32(kMmioQueueSel, 0);
  EXPECT_EQ(f.driver->Read32(kMmioQueueNumMax), 64u);
  f.driver->Write32(kMmioQueueSel, 2);
  EXPECT_EQ(f.driver->Read32(kMmioQueueNumMax), 0u);
  f.driver->Write32(kMmioQueueReady, 1);  // ignored, no crash
  EXPECT_EQ(f.driver->Read32(kMmioQueueReady), 0u);
}

TEST(VirtioMmio, QueueRegistersFrozenOnceReady) {
  Fixture f;
  f.Activate();
  f.driver->Write32(kMmioQueueSel, 0);
  const uint32_t desc = f.driver->Read32(kMmioQueueDescLow);
  f.driver->Write32(kMmioQueueDescLow, 0x5000);
  f.driver->Write32(kMmioQueueNum, 8);
  EXPECT_EQ(f.driver->Read32(kMmioQueueDescLow), desc);
  EXPECT_EQ(f.driver->Read32(kMmioQueueNum), 16u);
}

TEST(VirtioMmio, BadQueueLayoutNeedsReset) {
  Fixture f;
  ASSERT_TRUE(f.driver->Negotiate(kVersion1).ok());
  f.driver->Write32(kMmioQueueSel, 0);
  f.driver->Write32(kMmioQueueNum, 16);
  f.driver->Write32(kMmioQueueDescLow, 0xfff00000);  // outside RAM
  f.driver->Write32(kMmioQueueReady, 1);
  f.driver->DriverOk();
  EXPECT_EQ(f.dev->activations, 0);
  EXPECT_TRUE(f.driver->status() & kStatusNeedsReset);
  EXPECT_EQ(f.mmio->interrupt_status() & kInterruptConfigChange,
            kInterruptConfigChange);
  EXPECT_EQ(f.irq.rising_edges(), 1);
}

TEST(VirtioMmio, QueueLargerThanMaxNeedsReset) {
  Fixture f;
  ASSERT_TRUE(f.driver->Negotiate(kVersion1).ok());
  ASSERT_TRUE(f.driver->SetupQueue(0, 16).ok());
  // SetupQueue wrote 16; pretend the driver ignored QueueNumMax.
  f.driver->Write32(kMmioQueueSel, 1);
  f.driver->Write32(kMmioQueueNum, 128);
  f.driver->Write32(kMmioQueueReady, 1);
  f.driver->DriverOk();
  EXPECT_TRUE(f.driver->status() & kStatusNeedsReset);
}

TEST(VirtioMmio, QueueNotifyRunsProcessQueueInlineByDefault) {
  Fixture f;
  f.Activate();
  f.driver->Notify(0);
  f.driver->Notify(1);
  f.driver->Notify(7);  // no such queue: ignored
  EXPECT_EQ(f.dev->processed, (std::vector<uint32_t>{0, 1}));
}

TEST(VirtioMmio, QueueNotifyGoesToTheNotifyCallback) {
  Fixture f;
  std::vector<uint32_t> notified;
  f.mmio->set_notify([&](uint32_t q) { notified.push_back(q); });
  f.Activate();
  f.driver->Notify(1);
  EXPECT_EQ(notified, std::vector<uint32_t>{1});
  EXPECT_TRUE(f.dev->processed.empty());
  f.mmio->ProcessQueue(1);
  EXPECT_EQ(f.dev->processed, std::vector<uint32_t>{1});
}

TEST(VirtioMmio, QueueNotifyIgnoredBeforeDriverOk) {
  Fixture f;
  ASSERT_TRUE(f.driver->Negotiate(kVersion1).ok());
  f.driver->Notify(0);
  EXPECT_TRUE(f.dev->processed.empty());
}

TEST(VirtioMmio, ProcessQueueErrorNeedsReset) {
  Fixture f;
  f.Activate();
  f.dev->process_result = absl::DataLossError("bad ring");
  uint64_t epoch = f.mem->write_epoch();
  f.driver->Notify(0);
  EXPECT_TRUE(f.driver->status() & kStatusNeedsReset);
  EXPECT_TRUE(f.mmio->interrupt_status() & kInterruptConfigChange);
  // Buffers may hold unpublished writes (GuestMemory::NoteWrite).
  EXPECT_GT(f.mem->write_epoch(), epoch);
  // Further notifications are ignored until reset.
  f.driver->Notify(0);
  EXPECT_EQ(f.dev->processed.size(), 1u);
  // The driver cannot clear NEEDS_RESET except by resetting.
  f.driver->Write32(kMmioStatus, f.driver->status() & ~kStatusNeedsReset);
  EXPECT_TRUE(f.driver->status() & kStatusNeedsReset);
  epoch = f.mem->write_epoch();
  f.driver->Write32(kMmioStatus, 0);
  EXPECT_EQ(f.driver->status(), 0u);
  EXPECT_GT(f.mem->write_epoch(), epoch);  // as at NEEDS_RESET
}

TEST(VirtioMmio, UsedBufferInterruptAndAck) {
  Fixture f;
  f.Activate();
  ASSERT_NE(f.dev->interrupt, nullptr);
  f.dev->interrupt->SignalUsed(0);
  EXPECT_EQ(f.irq.rising_edges(), 1);
  EXPECT_FALSE(f.irq.level());  // an edge
  EXPECT_EQ(f.driver->Read32(kMmioInterruptStatus), kInterruptUsedBuffer);
  f.driver->Write32(kMmioInterruptAck, kInterruptUsedBuffer);
  EXPECT_EQ(f.driver->Read32(kMmioInterruptStatus), 0u);
}

TEST(VirtioMmio, ConfigInterruptBumpsGeneration) {
  Fixture f;
  f.Activate();
  const uint32_t gen = f.driver->Read32(kMmioConfigGeneration);
  f.dev->interrupt->SignalConfig();
  EXPECT_EQ(f.driver->Read32(kMmioConfigGeneration), gen + 1);
  EXPECT_EQ(f.driver->AckInterrupts(), kInterruptConfigChange);
}

TEST(VirtioMmio, ResetClearsEverything) {
  Fixture f;
  f.Activate();
  f.dev->interrupt->SignalUsed(0);
  f.driver->Write32(kMmioStatus, 0);
  EXPECT_GE(f.dev->resets, 2);  // construction and now
  EXPECT_EQ(f.driver->status(), 0u);
  EXPECT_EQ(f.mmio->interrupt_status(), 0u);
  f.driver->Write32(kMmioQueueSel, 0);
  EXPECT_EQ(f.driver->Read32(kMmioQueueReady), 0u);
  EXPECT_EQ(f.driver->Read32(kMmioQueueDescLow), 0u);
  // And it can be brought up again.
  f.Activate();
}

TEST(VirtioMmio, StatusBitsCannotBeCleared) {
  Fixture f;
  f.driver->Write32(kMmioStatus, kStatusAcknowledge | kStatusDriver);
  f.driver->Write32(kMmioStatus, kStatusAcknowledge);
  EXPECT_EQ(f.driver->status(), kStatusAcknowledge | kStatusDriver);
}

TEST(VirtioMmio, NarrowRegisterAccessesAreIgnored) {
  Fixture f;
  uint8_t b = 0xff;
  f.mmio->Read(kMmioMagicValue, absl::MakeSpan(&b, 1));
  EXPECT_EQ(b, 0);
  uint8_t w = kStatusAcknowledge;
  f.mmio->Write(kMmioStatus, absl::MakeConstSpan(&w, 1));
  EXPECT_EQ(f.driver->status(), 0u);
  uint32_t v = 0;
  f.mmio->Read(kMmioMagicValue + 2,
               absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), 4));
  EXPECT_EQ(v, 0u);
}

TEST(VirtioMmio, ConfigSpaceAnyWidth) {
  Fixture f;
  uint8_t buf[3];
  f.mmio->Read(kMmioConfig + 5, absl::MakeSpan(buf));
  EXPECT_EQ(buf[0], 0x15);
  EXPECT_EQ(buf[2], 0x17);
  const uint8_t w[2] = {1, 2};
  f.mmio->Write(kMmioConfig + 9, absl::MakeConstSpan(w));
  EXPECT_EQ(f.dev->last_config_write, (std::pair<uint64_t, size_t>{9, 2}));
}

TEST(VirtioMmio, ActivationErrorNeedsReset) {
  Fixture f;
  f.dev->activate_result = absl::FailedPreconditionError("no");
  ASSERT_TRUE(f.driver->Negotiate(kVersion1).ok());
  ASSERT_TRUE(f.driver->SetupQueue(0, 16).ok());
  f.driver->DriverOk();
  EXPECT_TRUE(f.driver->status() & kStatusNeedsReset);
}

}  // namespace
}  // namespace skiff::devices
