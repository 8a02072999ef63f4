#include "devices/irqchip/ioapic.h"

#include <cstring>
#include <memory>
#include <vector>

#include "base/guest_clock.h"
#include "devices/irqchip/apic_bus.h"
#include "devices/irqchip/fake_cpu_control.h"
#include "devices/irqchip/lapic.h"
#include "devices/irqchip/lapic_regs.h"
#include "devices/irqchip/timer_queue.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

constexpr uint64_t kRemoteIrr = 1u << 14;

class IoApicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) {
      lapics_.push_back(std::make_unique<Lapic>(i, bus_, timers_, cpus_));
      bus_.AddLapic(lapics_.back().get());
      SetLapic(i, apic::kSvr, 0x1ff);
    }
    bus_.SetEoiListener(&ioapic_);
  }

  void SetLapic(int cpu, uint32_t reg, uint32_t value) {
    uint8_t data[4];
    std::memcpy(data, &value, 4);
    lapics_[cpu]->Write(reg, absl::MakeConstSpan(data));
  }
  void Write32(uint64_t offset, uint32_t value) {
    uint8_t data[4];
    std::memcpy(data, &value, 4);
    ioapic_.Write(offset, absl::MakeConstSpan(data));
  }
  uint32_t Read32(uint64_t offset) {
    uint8_t data[4];
    ioapic_.Read(offset, absl::MakeSpan(data));
    uint32_t value;
    std::memcpy(&value, data, 4);
    return value;
  }
  // Linux's io_apic_read/io_apic_write: select, then the window.
  void WriteIndirect(uint32_t index, uint32_t value) {
    Write32(0x00, index);
    Write32(0x10, value);
  }
  uint32_t ReadIndirect(uint32_t index) {
    Write32(0x00, index);
    return Read32(0x10);
  }
  // Linux writes the high half first so the entry is never live with a
  // stale destination.
  void Route(uint32_t pin, uint32_t low, uint32_t destination) {
    WriteIndirect(0x10 + 2 * pin + 1, destination << 24);
    WriteIndirect(0x10 + 2 * pin, low);
  }
  Lapic& lapic(int cpu) { return *lapics_[cpu]; }
  void Eoi(int cpu) { SetLapic(cpu, apic::kEoi, 0); }

  ManualGuestClock clock_;
  TimerQueue timers_{clock_, TimerQueue::Mode::kManual};
  testing::FakeCpuControl cpus_;
  ApicBus bus_;
  std::vector<std::unique_ptr<Lapic>> lapics_;
  IoApic ioapic_{bus_};
};

TEST_F(IoApicTest, IdentificationRegisters) {
  EXPECT_EQ(ReadIndirect(0x01), 0x00170020u);
  WriteIndirect(0x00, 0x0a000000);
  EXPECT_EQ(ReadIndirect(0x00), 0x0a000000u);
  EXPECT_EQ(ReadIndirect(0x02), 0x0a000000u);
  WriteIndirect(0x01, 0);  // read-only
  EXPECT_EQ(ReadIndirect(0x01), 0x00170020u);
  EXPECT_EQ(ReadIndirect(0x10), 0x10000u);  // masked at reset
  EXPECT_EQ(ReadIndirect(0x80), 0u);        // past the table
}

TEST_F(IoApicTest, RedirectionEntryRoundTrip) {
  Route(9, 0x0000a9b1, 0xf3);  // every writable low bit but the mask
  EXPECT_EQ(ReadIndirect(0x10 + 18), 0xa9b1u);
  EXPECT_EQ(ReadIndirect(0x10 + 19), 0xf3000000u);
  EXPECT_EQ(ioapic_.redirection(9), 0xf30000000000a9b1u);
}

TEST_F(IoApicTest, EdgeTriggeredDelivery) {
  Route(4, 0x31, 0);
  ioapic_.SetPin(4, true);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x31);
  ioapic_.SetPin(4, true);  // no new edge
  Eoi(0);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  ioapic_.SetPin(4, false);
  ioapic_.SetPin(4, true);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x31);
  EXPECT_EQ(ioapic_.redirection(4) & kRemoteIrr, 0u);
  EXPECT_FALSE(lapic(1).HasPendingInterrupt());
}

TEST_F(IoApicTest, EdgeWhileMaskedIsDeliveredOnUnmask) {
  Route(3, 0x10000 | 0x33, 0);
  ioapic_.SetPin(3, true);
  ioapic_.SetPin(3, false);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  Route(3, 0x33, 0);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x33);
}

TEST_F(IoApicTest, LevelTriggeredRemoteIrrAndEoi) {
  Route(10, 0x8000 | 0x41, 1);
  ioapic_.SetPin(10, true);
  EXPECT_NE(ioapic_.redirection(10) & kRemoteIrr, 0u);
  EXPECT_EQ(lapic(1).AcknowledgeInterrupt(), 0x41);
  // Still asserted at EOI: delivered again.
  Eoi(1);
  EXPECT_NE(ioapic_.redirection(10) & kRemoteIrr, 0u);
  EXPECT_EQ(lapic(1).AcknowledgeInterrupt(), 0x41);
  ioapic_.SetPin(10, false);
  Eoi(1);
  EXPECT_EQ(ioapic_.redirection(10) & kRemoteIrr, 0u);
  EXPECT_FALSE(lapic(1).HasPendingInterrupt());
  // Remote IRR is read-only to the guest.
  Route(10, 0x8000 | kRemoteIrr | 0x41, 1);
  EXPECT_EQ(ioapic_.redirection(10) & kRemoteIrr, 0u);
}

TEST_F(IoApicTest, EoiRegisterClearsRemoteIrr) {
  Route(11, 0x8000 | 0x42, 0);
  ioapic_.SetPin(11, true);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x42);
  ioapic_.SetPin(11, false);
  Write32(0x40, 0x42);
  EXPECT_EQ(ioapic_.redirection(11) & kRemoteIrr, 0u);
}

TEST_F(IoApicTest, UnmaskingAnAssertedLevelPinDelivers) {
  Route(12, 0x10000 | 0x8000 | 0x43, 0);
  ioapic_.SetPin(12, true);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  Route(12, 0x8000 | 0x43, 0);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x43);
}

TEST_F(IoApicTest, LevelDeliveredToNobodyDoesNotWedge) {
  Route(13, 0x8000 | 0x44, 7);  // no APIC 7
  ioapic_.SetPin(13, true);
  EXPECT_EQ(ioapic_.redirection(13) & kRemoteIrr, 0u);
}

TEST_F(IoApicTest, LogicalDestination) {
  SetLapic(0, apic::kLdr, 0x01000000);
  SetLapic(1, apic::kLdr, 0x02000000);
  Route(5, 0x800 | 0x35, 0x02);  // logical, CPU 1's bit
  ioapic_.SetPin(5, true);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  EXPECT_EQ(lapic(1).AcknowledgeInterrupt(), 0x35);
}

TEST_F(IoApicTest, NmiDelivery) {
  Route(6, 0x400, 0);
  ioapic_.SetPin(6, true);
  EXPECT_TRUE(lapic(0).TakePendingNmi());
}

TEST_F(IoApicTest, OddAccessesAreHarmless) {
  uint8_t byte = 0x12;
  ioapic_.Write(0x00, absl::MakeConstSpan(&byte, 1));
  EXPECT_EQ(Read32(0x00), 0x12u);
  uint8_t wide[8] = {};
  ioapic_.Read(0x20, absl::MakeSpan(wide));
  ioapic_.SetPin(99, true);
  EXPECT_EQ(ioapic_.redirection(99), 0u);
}

}  // namespace
}  // namespace skiff::devices
