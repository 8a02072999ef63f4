#include "devices/irqchip/lapic.h"

#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "base/guest_clock.h"
#include "devices/irqchip/apic_bus.h"
#include "devices/irqchip/fake_cpu_control.h"
#include "devices/irqchip/lapic_regs.h"
#include "devices/irqchip/timer_queue.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

using namespace apic;  // NOLINT(build/namespaces): register names

class RecordingEoi : public EoiListener {
 public:
  void OnEoi(uint8_t vector) override { vectors.push_back(vector); }
  std::vector<int> vectors;
};

class FakePic : public ExtIntSource {
 public:
  int Acknowledge() override {
    ++acks;
    return vector;
  }
  int vector = 0x28;
  int acks = 0;
};

class LapicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      lapics_.push_back(std::make_unique<Lapic>(i, bus_, timers_, cpus_));
      bus_.AddLapic(lapics_.back().get());
    }
    bus_.SetEoiListener(&eoi_);
  }

  Lapic& lapic(int cpu) { return *lapics_[cpu]; }
  uint32_t Get(int cpu, uint32_t reg) {
    uint8_t data[4];
    lapic(cpu).Read(reg, absl::MakeSpan(data));
    uint32_t value;
    std::memcpy(&value, data, 4);
    return value;
  }
  void Set(int cpu, uint32_t reg, uint32_t value) {
    uint8_t data[4];
    std::memcpy(data, &value, 4);
    lapic(cpu).Write(reg, absl::MakeConstSpan(data));
  }
  // What Linux's setup_local_APIC does first: SVR enable, spurious 0xff.
  void Enable(int cpu) { Set(cpu, kSvr, 0x1ff); }
  void SendFixed(int cpu, uint8_t vector, bool level = false) {
    ApicMessage m;
    m.vector = vector;
    m.destination = static_cast<uint32_t>(cpu);
    m.level_triggered = level;
    bus_.Deliver(m);
  }
  void Advance(uint64_t ns) {
    clock_.Advance(ns);
    timers_.RunDue(clock_.NowNs());
  }
  bool Isr(int cpu, int vector) {
    return (Get(cpu, kIsr + 0x10 * (vector / 32)) >> (vector % 32)) & 1;
  }

  ManualGuestClock clock_;
  TimerQueue timers_{clock_, TimerQueue::Mode::kManual};
  testing::FakeCpuControl cpus_;
  RecordingEoi eoi_;
  ApicBus bus_;
  std::vector<std::unique_ptr<Lapic>> lapics_;
};

TEST_F(LapicTest, PowerOnState) {
  EXPECT_EQ(Get(0, kId), 0u);
  EXPECT_EQ(Get(1, kId), 1u << 24);
  EXPECT_EQ(Get(0, kVersion), 0x00050014u);
  EXPECT_EQ(Get(0, kSvr), 0xffu);
  EXPECT_EQ(Get(0, kDfr), 0xffffffffu);
  EXPECT_EQ(Get(0, kLvtTimer), kMasked);
  EXPECT_EQ(Get(0, kLvtLint0), 0x700u);  // ExtINT: virtual wire
  EXPECT_EQ(Get(0, kLvtLint1), 0x400u);  // NMI
  uint64_t base = 0;
  ASSERT_TRUE(lapic(0).ReadMsr(Lapic::kMsrApicBase, base));
  EXPECT_EQ(base, 0xfee00900u);  // enabled, BSP
  ASSERT_TRUE(lapic(1).ReadMsr(Lapic::kMsrApicBase, base));
  EXPECT_EQ(base, 0xfee00800u);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), -1);
}

TEST_F(LapicTest, SoftwareDisabledApicDropsFixedInterrupts) {
  SendFixed(0, 0x30);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  Enable(0);
  SendFixed(0, 0x30);
  EXPECT_TRUE(lapic(0).HasPendingInterrupt());
  EXPECT_EQ(cpus_.wakes(), std::vector<int>{0});
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x30);
  EXPECT_TRUE(Isr(0, 0x30));
  EXPECT_EQ(Get(0, kPpr), 0x30u);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
}

TEST_F(LapicTest, SoftwareDisableMasksLvtEntries) {
  Enable(0);
  Set(0, kLvtTimer, 0x20);
  EXPECT_EQ(Get(0, kLvtTimer), 0x20u);
  Set(0, kSvr, 0xff);
  EXPECT_EQ(Get(0, kLvtTimer), 0x10020u);
  Set(0, kLvtTimer, 0x20);  // cannot unmask while disabled
  EXPECT_EQ(Get(0, kLvtTimer), 0x10020u);
}

TEST_F(LapicTest, TprMasksLowerPriorityClasses) {
  Enable(0);
  Set(0, kTpr, 0x50);
  EXPECT_EQ(Get(0, kPpr), 0x50u);
  SendFixed(0, 0x45);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  SendFixed(0, 0x5f);  // same class as TPR: still masked
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  SendFixed(0, 0x61);
  EXPECT_TRUE(lapic(0).HasPendingInterrupt());
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x61);
  EXPECT_EQ(Get(0, kPpr), 0x60u);
  Set(0, kTpr, 0);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());  // 0x61 in service
  Set(0, kEoi, 0);
  EXPECT_TRUE(lapic(0).HasPendingInterrupt());
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x5f);
  Set(0, kEoi, 0);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x45);
}

TEST_F(LapicTest, Cr8AliasesTprPriorityClass) {
  Enable(0);
  lapic(0).WriteCr8(0x5);
  EXPECT_EQ(Get(0, kTpr), 0x50u);
  SendFixed(0, 0x45);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  Set(0, kTpr, 0x3c);
  EXPECT_EQ(lapic(0).ReadCr8(), 0x3u);
  EXPECT_TRUE(lapic(0).HasPendingInterrupt());
}

TEST_F(LapicTest, HigherClassesPreemptAndEoiRetiresTheHighest) {
  Enable(0);
  SendFixed(0, 0x31);
  SendFixed(0, 0x52);
  SendFixed(0, 0x40);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x52);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());  // 0x40 < class 5
  SendFixed(0, 0x80);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x80);
  Set(0, kEoi, 0);
  EXPECT_FALSE(Isr(0, 0x80));
  EXPECT_TRUE(Isr(0, 0x52));
  Set(0, kEoi, 0);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x40);
  Set(0, kEoi, 0);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x31);
  Set(0, kEoi, 0);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), -1);
  EXPECT_TRUE(eoi_.vectors.empty());  // all edge-triggered
}

TEST_F(LapicTest, EoiOfLevelTriggeredVectorIsBroadcast) {
  Enable(0);
  SendFixed(0, 0x41, /*level=*/true);
  EXPECT_EQ(Get(0, kTmr + 0x20), 1u << 1);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x41);
  Set(0, kEoi, 0);
  EXPECT_EQ(eoi_.vectors, std::vector<int>{0x41});
}

TEST_F(LapicTest, IllegalVectorsSetEsr) {
  Enable(0);
  Set(0, kIcrLow, 0x00040005);  // self IPI, vector 5
  Set(0, kEsr, 0);
  EXPECT_EQ(Get(0, kEsr), kEsrSendIllegalVector);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  Set(0, kEsr, 0);
  EXPECT_EQ(Get(0, kEsr), 0u);
}

TEST_F(LapicTest, SelfIpi) {
  Enable(0);
  Set(0, kIcrLow, 0x00040040);  // shorthand self, fixed, vector 0x40
  EXPECT_EQ(Get(0, kIcrLow) & kDeliveryStatus, 0u);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x40);
  EXPECT_FALSE(lapic(1).HasPendingInterrupt());
}

TEST_F(LapicTest, FixedIpiToAnotherApicPhysical) {
  Enable(0);
  Enable(1);
  Set(0, kIcrHigh, 1u << 24);
  Set(0, kIcrLow, 0x000000f1);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  EXPECT_TRUE(lapic(1).HasPendingInterrupt());
  EXPECT_EQ(cpus_.wakes(), std::vector<int>{1});
  EXPECT_EQ(lapic(1).AcknowledgeInterrupt(), 0xf1);
}

TEST_F(LapicTest, LogicalFlatAndClusterDestinations) {
  for (int i = 0; i < 3; ++i) {
    Enable(i);
    Set(i, kLdr, (1u << i) << 24);  // Linux flat: bit per CPU
  }
  Set(0, kIcrHigh, 0x06u << 24);  // CPUs 1 and 2
  Set(0, kIcrLow, kLogical | 0x50);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  EXPECT_TRUE(lapic(1).HasPendingInterrupt());
  EXPECT_TRUE(lapic(2).HasPendingInterrupt());

  // Cluster model: cluster 1, member bit 0 is CPU 2 only.
  for (int i = 0; i < 3; ++i) Set(i, kDfr, 0x0fffffff);
  Set(2, kLdr, 0x11u << 24);
  Set(1, kLdr, 0x21u << 24);
  Set(0, kIcrHigh, 0x11u << 24);
  Set(0, kIcrLow, kLogical | 0x60);
  EXPECT_EQ(lapic(2).AcknowledgeInterrupt(), 0x60);
  EXPECT_EQ(lapic(1).AcknowledgeInterrupt(), 0x50);  // not 0x60
}

TEST_F(LapicTest, BroadcastShorthands) {
  for (int i = 0; i < 3; ++i) Enable(i);
  Set(1, kIcrLow, (3u << kShorthandShift) | 0x70);  // all excluding self
  EXPECT_TRUE(lapic(0).HasPendingInterrupt());
  EXPECT_FALSE(lapic(1).HasPendingInterrupt());
  EXPECT_TRUE(lapic(2).HasPendingInterrupt());
  Set(1, kIcrLow, (2u << kShorthandShift) | 0x71);  // all including self
  EXPECT_EQ(lapic(1).AcknowledgeInterrupt(), 0x71);
}

TEST_F(LapicTest, InitAndStartupIpisReachCpuControl) {
  Enable(0);
  Enable(1);
  SendFixed(1, 0x40);
  // Linux's wakeup_secondary_cpu_via_init: INIT assert, INIT de-assert,
  // then two start-up IPIs with the trampoline page.
  Set(0, kIcrHigh, 1u << 24);
  Set(0, kIcrLow, 0x0000c500);  // INIT, level, assert
  EXPECT_EQ(cpus_.inits(), std::vector<int>{1});
  EXPECT_EQ(Get(1, kSvr), 0xffu);  // INIT reset the target's registers
  EXPECT_FALSE(lapic(1).HasPendingInterrupt());
  Set(0, kIcrLow, 0x00008500);  // INIT de-assert: ignored
  EXPECT_EQ(cpus_.inits().size(), 1u);
  Set(0, kIcrLow, 0x00000699);  // start-up, vector 0x99
  Set(0, kIcrLow, 0x00000699);
  auto starts = cpus_.starts();
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_EQ(starts[0], (std::pair<int, uint8_t>{1, 0x99}));
}

TEST_F(LapicTest, NmiIpiIsPendingRegardlessOfPriority) {
  Enable(1);
  Set(0, kIcrHigh, 1u << 24);
  Set(0, kIcrLow, 0x00000400);
  EXPECT_TRUE(lapic(1).HasPendingNmi());
  EXPECT_TRUE(lapic(1).TakePendingNmi());
  EXPECT_FALSE(lapic(1).TakePendingNmi());
}

TEST_F(LapicTest, OneShotTimerAndCurrentCount) {
  Enable(0);
  Set(0, kTimerDivide, 0xb);  // divide by 1
  Set(0, kLvtTimer, 0x20);
  Set(0, kTimerInitialCount, 1000);
  EXPECT_EQ(Get(0, kTimerCurrentCount), 1000u);
  Advance(400);
  EXPECT_EQ(Get(0, kTimerCurrentCount), 600u);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  Advance(600);
  EXPECT_EQ(Get(0, kTimerCurrentCount), 0u);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x20);
  Set(0, kEoi, 0);
  Advance(100'000);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());  // one shot only
  EXPECT_EQ(timers_.pending(), 0u);
}

TEST_F(LapicTest, PeriodicTimerWithDivider) {
  Enable(0);
  Set(0, kTimerDivide, 0x3);  // divide by 16
  Set(0, kLvtTimer, 0x20000 | 0xec);
  Set(0, kTimerInitialCount, 1000);  // 16 us per period
  Advance(8000);
  EXPECT_EQ(Get(0, kTimerCurrentCount), 500u);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  for (int i = 0; i < 3; ++i) {
    Advance(i == 0 ? 8000 : 16000);
    ASSERT_EQ(lapic(0).AcknowledgeInterrupt(), 0xec) << i;
    Set(0, kEoi, 0);
  }
  Set(0, kTimerInitialCount, 0);  // stops it
  Advance(100'000);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
}

TEST_F(LapicTest, PeriodicTimerHasAMinimumPeriod) {
  Enable(0);
  Set(0, kTimerDivide, 0xb);
  Set(0, kLvtTimer, 0x20000 | 0x30);
  Set(0, kTimerInitialCount, 1);  // 1 ns asked for
  Advance(Lapic::kMinPeriodNs - 1);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  Advance(1);
  EXPECT_TRUE(lapic(0).HasPendingInterrupt());
  // One RunDue over a long stretch fires once, not once per missed period.
  ASSERT_EQ(lapic(0).AcknowledgeInterrupt(), 0x30);
  clock_.Advance(1'000'000'000);
  EXPECT_EQ(timers_.RunDue(clock_.NowNs()), 1);
}

TEST_F(LapicTest, MaskedTimerRaisesNothing) {
  Enable(0);
  Set(0, kTimerDivide, 0xb);
  Set(0, kLvtTimer, kMasked | 0x20);
  Set(0, kTimerInitialCount, 100);
  Advance(100);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
}

TEST_F(LapicTest, TscDeadlineTimer) {
  Enable(0);
  uint64_t value = 1;
  // Outside TSC-deadline mode the MSR reads 0 and ignores writes.
  EXPECT_TRUE(lapic(0).WriteMsr(Lapic::kMsrTscDeadline, 5000));
  EXPECT_TRUE(lapic(0).ReadMsr(Lapic::kMsrTscDeadline, value));
  EXPECT_EQ(value, 0u);

  Set(0, kLvtTimer, 0x40000 | 0xef);
  Advance(1000);
  ASSERT_TRUE(lapic(0).WriteMsr(Lapic::kMsrTscDeadline, clock_.Tsc() + 5000));
  EXPECT_TRUE(lapic(0).ReadMsr(Lapic::kMsrTscDeadline, value));
  EXPECT_EQ(value, 6000u);
  Set(0, kTimerInitialCount, 77);  // ignored in this mode
  EXPECT_EQ(Get(0, kTimerInitialCount), 0u);
  Advance(4999);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  Advance(1);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0xef);
  EXPECT_TRUE(lapic(0).ReadMsr(Lapic::kMsrTscDeadline, value));
  EXPECT_EQ(value, 0u);

  // Writing 0 disarms; leaving the mode disarms too.
  ASSERT_TRUE(lapic(0).WriteMsr(Lapic::kMsrTscDeadline, clock_.Tsc() + 10));
  ASSERT_TRUE(lapic(0).WriteMsr(Lapic::kMsrTscDeadline, 0));
  Advance(100);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), -1);
  ASSERT_TRUE(lapic(0).WriteMsr(Lapic::kMsrTscDeadline, clock_.Tsc() + 10));
  Set(0, kLvtTimer, 0xef);
  Advance(100);
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), -1);
}

TEST_F(LapicTest, OnlyAlignedDwordAccessesDoAnything) {
  Enable(0);
  uint8_t byte = 0xaa;
  lapic(0).Read(kSvr, absl::MakeSpan(&byte, 1));
  EXPECT_EQ(byte, 0);
  uint8_t word[4] = {0, 0, 0, 0};
  lapic(0).Write(kTpr + 4, absl::MakeConstSpan(word));
  lapic(0).Write(0x2000, absl::MakeConstSpan(word));
  EXPECT_EQ(Get(0, kSvr), 0x1ffu);
}

TEST_F(LapicTest, X2apicMode) {
  uint64_t value = 0;
  EXPECT_FALSE(lapic(0).ReadMsr(0x802, value));  // not in x2APIC mode
  ASSERT_TRUE(lapic(0).WriteMsr(Lapic::kMsrApicBase, 0xfee00000 | 0xd00));
  ASSERT_TRUE(lapic(1).WriteMsr(Lapic::kMsrApicBase, 0xfee00000 | 0xc00));
  EXPECT_TRUE(lapic(0).x2apic_mode());
  ASSERT_TRUE(lapic(1).ReadMsr(0x802, value));
  EXPECT_EQ(value, 1u);
  ASSERT_TRUE(lapic(1).ReadMsr(0x80d, value));
  EXPECT_EQ(value, 2u);                          // cluster 0, bit 1
  EXPECT_FALSE(lapic(1).ReadMsr(0x80e, value));  // no DFR
  EXPECT_EQ(Get(1, kId), 0u);                    // MMIO page not decoded
  ASSERT_TRUE(lapic(0).WriteMsr(0x80f, 0x1ff));
  ASSERT_TRUE(lapic(1).WriteMsr(0x80f, 0x1ff));
  ASSERT_TRUE(lapic(0).WriteMsr(0x830, (uint64_t{1} << 32) | 0x55));
  EXPECT_EQ(lapic(1).AcknowledgeInterrupt(), 0x55);
  ASSERT_TRUE(lapic(0).WriteMsr(0x83f, 0x66));  // SELF IPI
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x66);
  EXPECT_FALSE(lapic(0).WriteMsr(0x80b, 1));  // EOI must be 0
  EXPECT_TRUE(lapic(0).WriteMsr(0x80b, 0));
  EXPECT_FALSE(lapic(0).WriteMsr(0x808, uint64_t{1} << 32));  // reserved
  // x2APIC -> xAPIC directly is invalid; via disabled it is fine.
  EXPECT_FALSE(lapic(0).WriteMsr(Lapic::kMsrApicBase, 0xfee00900));
  EXPECT_TRUE(lapic(0).WriteMsr(Lapic::kMsrApicBase, 0xfee00100));
  EXPECT_TRUE(lapic(0).WriteMsr(Lapic::kMsrApicBase, 0xfee00900));
  EXPECT_FALSE(lapic(0).x2apic_mode());
  EXPECT_EQ(Get(0, kSvr), 0xffu);  // the disable reset it
}

TEST_F(LapicTest, ExtIntThroughLint0) {
  FakePic pic;
  lapic(0).ConnectExtInt(&pic);
  lapic(0).lint0().SetLevel(true);
  // Virtual wire works before the guest enables its APIC.
  EXPECT_TRUE(lapic(0).HasPendingInterrupt());
  EXPECT_EQ(lapic(0).AcknowledgeInterrupt(), 0x28);
  EXPECT_EQ(pic.acks, 1);
  lapic(0).lint0().SetLevel(false);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  // Linux masks LINT0 once the IOAPIC takes over.
  Enable(0);
  Set(0, kLvtLint0, kMasked | 0x700);
  lapic(0).lint0().SetLevel(true);
  EXPECT_FALSE(lapic(0).HasPendingInterrupt());
  Set(0, kLvtLint0, 0x700);
  EXPECT_TRUE(lapic(0).HasPendingInterrupt());
}

TEST_F(LapicTest, DestroyedWithATimerArmed) {
  Enable(2);
  Set(2, kLvtTimer, 0x20000 | 0x30);
  Set(2, kTimerInitialCount, 100000);
  lapics_.pop_back();
  Advance(1'000'000);  // the cancelled timer must not run
  EXPECT_EQ(timers_.pending(), 0u);
}

}  // namespace
}  // namespace skiff::devices
