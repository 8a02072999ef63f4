#include "devices/irqchip/irqchip.h"

#include <cstring>
#include <memory>
#include <thread>
#include <utility>

#include "base/guest_clock.h"
#include "devices/bus.h"
#include "devices/irqchip/fake_cpu_control.h"
#include "devices/irqchip/lapic_regs.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

class IrqChipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto chip =
        UserspaceIrqChip::Create(2, clock_, cpus_, TimerQueue::Mode::kManual);
    ASSERT_TRUE(chip.ok()) << chip.status();
    chip_ = *std::move(chip);
    ASSERT_TRUE(chip_->Attach(pio_, mmio_).ok());
  }
  void TearDown() override { chip_.reset(); }

  void Out(uint16_t port, uint8_t value) {
    pio_.Write(port, absl::MakeConstSpan(&value, 1));
  }
  void Mmio32(uint64_t addr, uint32_t value) {
    uint8_t data[4];
    std::memcpy(data, &value, 4);
    ASSERT_TRUE(mmio_.Write(addr, absl::MakeConstSpan(data)));
  }
  uint32_t MmioRead32(uint64_t addr) {
    uint8_t data[4];
    EXPECT_TRUE(mmio_.Read(addr, absl::MakeSpan(data)));
    uint32_t value;
    std::memcpy(&value, data, 4);
    return value;
  }
  void Route(uint32_t pin, uint32_t low) {
    Mmio32(IoApic::kBaseAddress, 0x10 + 2 * pin + 1);
    Mmio32(IoApic::kBaseAddress + 0x10, 0);  // destination APIC 0
    Mmio32(IoApic::kBaseAddress, 0x10 + 2 * pin);
    Mmio32(IoApic::kBaseAddress + 0x10, low);
  }
  void SetLapic(int cpu, uint32_t reg, uint32_t value) {
    uint8_t data[4];
    std::memcpy(data, &value, 4);
    chip_->lapic(cpu).Write(reg, absl::MakeConstSpan(data));
  }
  void Advance(uint64_t ns) {
    clock_.Advance(ns);
    chip_->timers().RunDue(clock_.NowNs());
  }
  void InitPic() {
    for (auto [port, value] : {std::pair<uint16_t, uint8_t>{0x20, 0x11},
                               {0x21, 0x20},
                               {0x21, 0x04},
                               {0x21, 0x01},
                               {0xa0, 0x11},
                               {0xa1, 0x28},
                               {0xa1, 0x02},
                               {0xa1, 0x01},
                               {0x21, 0xfa},  // IRQ 0 and cascade open
                               {0xa1, 0xff}}) {
      Out(port, value);
    }
  }

  ManualGuestClock clock_;
  testing::FakeCpuControl cpus_;
  Bus pio_{"pio"};
  Bus mmio_{"mmio"};
  std::unique_ptr<UserspaceIrqChip> chip_;
};

TEST_F(IrqChipTest, RejectsBadConfigurations) {
  EXPECT_FALSE(UserspaceIrqChip::Create(0, clock_, cpus_).ok());
  EXPECT_FALSE(UserspaceIrqChip::Create(256, clock_, cpus_).ok());
  EXPECT_FALSE(chip_->CreateIrqLine(24).ok());
  EXPECT_FALSE(chip_->CreateIrqLine(2).ok());
  EXPECT_FALSE(chip_->Attach(pio_, mmio_).ok());  // already there
  EXPECT_EQ(chip_->num_cpus(), 2);
}

TEST_F(IrqChipTest, Gsi4ThroughIoApicToLapic0) {
  auto line = chip_->CreateIrqLine(4);
  ASSERT_TRUE(line.ok());
  SetLapic(0, apic::kSvr, 0x1ff);
  Route(4, 0x8000 | 0x34);  // level, like Linux for a level ISA source
  (*line)->SetLevel(true);
  EXPECT_TRUE(chip_->lapic(0).HasPendingInterrupt());
  EXPECT_EQ(chip_->lapic(0).AcknowledgeInterrupt(), 0x34);
  (*line)->SetLevel(false);
  SetLapic(0, apic::kEoi, 0);
  EXPECT_EQ(chip_->ioapic().redirection(4) & (1u << 14), 0u);
  EXPECT_FALSE(chip_->lapic(0).HasPendingInterrupt());
  EXPECT_FALSE(chip_->lapic(1).HasPendingInterrupt());
  EXPECT_EQ(cpus_.wakes(), std::vector<int>{0});
}

TEST_F(IrqChipTest, SharedLinesAreOred) {
  auto a = chip_->CreateIrqLine(5);
  auto b = chip_->CreateIrqLine(5);
  ASSERT_TRUE(a.ok() && b.ok());
  SetLapic(0, apic::kSvr, 0x1ff);
  Route(5, 0x8000 | 0x35);
  (*a)->SetLevel(true);
  (*b)->SetLevel(true);
  (*a)->SetLevel(false);
  EXPECT_EQ(chip_->lapic(0).AcknowledgeInterrupt(), 0x35);
  SetLapic(0, apic::kEoi, 0);
  // b still holds the pin: redelivered after EOI.
  EXPECT_EQ(chip_->lapic(0).AcknowledgeInterrupt(), 0x35);
  (*b)->SetLevel(false);
  SetLapic(0, apic::kEoi, 0);
  EXPECT_FALSE(chip_->lapic(0).HasPendingInterrupt());
}

TEST_F(IrqChipTest, PitThroughThePicAndLint0) {
  InitPic();
  Out(0x43, 0x34);
  Out(0x40, 0xa9);
  Out(0x40, 0x04);  // 1193: 1 ms
  Advance(1'000'000);
  ASSERT_TRUE(chip_->lapic(0).HasPendingInterrupt());
  EXPECT_EQ(chip_->lapic(0).AcknowledgeInterrupt(), 0x20);
  Out(0x20, 0x20);
  EXPECT_FALSE(chip_->lapic(0).HasPendingInterrupt());
}

TEST_F(IrqChipTest, PitReachesIoApicPin2) {
  SetLapic(0, apic::kSvr, 0x1ff);
  Route(2, 0x30);
  Out(0x43, 0x34);
  Out(0x40, 0xa9);
  Out(0x40, 0x04);
  Advance(1'000'000);
  EXPECT_EQ(chip_->lapic(0).AcknowledgeInterrupt(), 0x30);
  SetLapic(0, apic::kEoi, 0);
  Advance(1'000'000);
  EXPECT_EQ(chip_->lapic(0).AcknowledgeInterrupt(), 0x30);
}

TEST_F(IrqChipTest, IoApicVersionOverMmio) {
  Mmio32(IoApic::kBaseAddress, 1);
  EXPECT_EQ(MmioRead32(IoApic::kBaseAddress + 0x10), IoApic::kVersion);
}

TEST_F(IrqChipTest, RealTimerThreadRunsLapicTimers) {
  // Timer thread mode with the real clock: a 1-bus-cycle one-shot fires
  // promptly; wait for the wake-up rather than for time.
  MonotonicGuestClock clock;
  testing::FakeCpuControl cpus;
  auto chip = UserspaceIrqChip::Create(1, clock, cpus);
  ASSERT_TRUE(chip.ok());
  Lapic& lapic = (*chip)->lapic(0);
  uint8_t data[4];
  auto set = [&](uint32_t reg, uint32_t value) {
    std::memcpy(data, &value, 4);
    lapic.Write(reg, absl::MakeConstSpan(data));
  };
  set(apic::kSvr, 0x1ff);
  set(apic::kTimerDivide, 0xb);
  set(apic::kLvtTimer, 0x40);
  set(apic::kTimerInitialCount, 1);
  while (!lapic.HasPendingInterrupt()) {
    std::this_thread::yield();
  }
  EXPECT_EQ(lapic.AcknowledgeInterrupt(), 0x40);
}

// Every lock path at once: IPIs both ways, LAPIC and PIT timers on the
// timer thread, a level line through the IOAPIC and an edge line through
// the PIC to LINT0, EOIs to both. Passes if nothing deadlocks.
TEST(IrqChipStress, ConcurrentTrafficDoesNotDeadlock) {
  MonotonicGuestClock clock;
  testing::FakeCpuControl cpus;
  auto created = UserspaceIrqChip::Create(2, clock, cpus);
  ASSERT_TRUE(created.ok());
  UserspaceIrqChip& chip = **created;
  Bus pio("pio");
  Bus mmio("mmio");
  ASSERT_TRUE(chip.Attach(pio, mmio).ok());
  auto out = [&](uint16_t port, uint8_t value) {
    pio.Write(port, absl::MakeConstSpan(&value, 1));
  };
  auto mmio32 = [&](uint64_t addr, uint32_t value) {
    uint8_t data[4];
    std::memcpy(data, &value, 4);
    mmio.Write(addr, absl::MakeConstSpan(data));
  };
  auto set = [](Lapic& lapic, uint32_t reg, uint32_t value) {
    uint8_t data[4];
    std::memcpy(data, &value, 4);
    lapic.Write(reg, absl::MakeConstSpan(data));
  };
  for (auto [port, value] : {std::pair<uint16_t, uint8_t>{0x20, 0x11},
                             {0x21, 0x20},
                             {0x21, 0x04},
                             {0x21, 0x01},
                             {0xa0, 0x11},
                             {0xa1, 0x28},
                             {0xa1, 0x02},
                             {0xa1, 0x01},
                             {0x21, 0xf6},  // IRQ 0, 3 and cascade open
                             {0xa1, 0xff}}) {
    out(port, value);
  }
  mmio32(IoApic::kBaseAddress, 0x10 + 2 * 4 + 1);
  mmio32(IoApic::kBaseAddress + 0x10, 1u << 24);
  mmio32(IoApic::kBaseAddress, 0x10 + 2 * 4);
  mmio32(IoApic::kBaseAddress + 0x10, 0x8000 | 0x44);
  for (int cpu = 0; cpu < 2; ++cpu) {
    set(chip.lapic(cpu), apic::kSvr, 0x1ff);
    set(chip.lapic(cpu), apic::kTimerDivide, 0xb);
    set(chip.lapic(cpu), apic::kLvtTimer, 0x20000 | (0x30 + cpu));
    set(chip.lapic(cpu), apic::kTimerInitialCount, 1);
  }
  out(0x43, 0x34);
  out(0x40, 2);
  out(0x40, 0);

  constexpr int kIterations = 20000;
  auto vcpu = [&](int cpu) {
    Lapic& lapic = chip.lapic(cpu);
    for (int i = 0; i < kIterations; ++i) {
      set(lapic, apic::kIcrHigh, static_cast<uint32_t>(1 - cpu) << 24);
      set(lapic, apic::kIcrLow, 0x50 + cpu);
      if (!lapic.HasPendingInterrupt()) continue;
      int vector = lapic.AcknowledgeInterrupt();
      if (vector >= 0x20 && vector < 0x30) {
        out(0x20, 0x20);
      } else if (vector >= 0) {
        set(lapic, apic::kEoi, 0);
      }
    }
  };
  std::thread vcpu0(vcpu, 0);
  std::thread vcpu1(vcpu, 1);
  auto line4 = chip.CreateIrqLine(4);
  auto line3 = chip.CreateIrqLine(3);
  ASSERT_TRUE(line4.ok() && line3.ok());
  for (int i = 0; i < kIterations; ++i) {
    (*line4)->SetLevel(i & 1);
    (*line3)->Pulse();
  }
  vcpu0.join();
  vcpu1.join();
}

}  // namespace
}  // namespace skiff::devices
