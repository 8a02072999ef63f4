#include "devices/irqchip/pit.h"

#include <memory>

#include "base/guest_clock.h"
#include "devices/bus.h"
#include "devices/irqchip/timer_queue.h"
#include "devices/testing/fakes.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

// ns for `ticks` input clocks, rounded up as the Pit does.
uint64_t Ns(uint64_t ticks) {
  return (ticks * 1'000'000'000 + Pit::kHz - 1) / Pit::kHz;
}

class PitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pio_.Insert(pit_, Pit::kBasePort, Pit::kPorts).ok());
    ASSERT_TRUE(
        pio_.Insert(std::make_shared<SpeakerPort>(pit_), SpeakerPort::kPort, 1)
            .ok());
  }
  void Out(uint16_t port, uint8_t value) {
    pio_.Write(port, absl::MakeConstSpan(&value, 1));
  }
  uint8_t In(uint16_t port) {
    uint8_t value = 0;
    pio_.Read(port, absl::MakeSpan(&value, 1));
    return value;
  }
  void Advance(uint64_t ns) {
    clock_.Advance(ns);
    timers_.RunDue(clock_.NowNs());
  }
  // Linux's i8253 clockevent in periodic mode: mode 2, LSB then MSB.
  void Program0(uint8_t control, uint16_t count) {
    Out(0x43, control);
    Out(0x40, count & 0xff);
    Out(0x40, count >> 8);
  }

  ManualGuestClock clock_;
  TimerQueue timers_{clock_, TimerQueue::Mode::kManual};
  testing::FakeIrqLine irq0_;
  std::shared_ptr<Pit> pit_ = std::make_shared<Pit>(&irq0_, timers_);
  Bus pio_{"pio"};
};

TEST_F(PitTest, Mode2RaisesPeriodicEdges) {
  constexpr uint16_t kLatch = 1193;  // HZ=1000
  Program0(0x34, kLatch);
  EXPECT_EQ(irq0_.rising_edges(), 0);
  Advance(Ns(kLatch) - 1);
  EXPECT_EQ(irq0_.rising_edges(), 0);
  Advance(1);
  EXPECT_EQ(irq0_.rising_edges(), 1);
  EXPECT_FALSE(irq0_.level());  // a pulse, not a held level
  for (int i = 0; i < 4; ++i) Advance(Ns(kLatch));
  EXPECT_EQ(irq0_.rising_edges(), 5);
  // A new control word stops the counter until a count is written.
  Out(0x43, 0x34);
  Advance(10 * Ns(kLatch));
  EXPECT_EQ(irq0_.rising_edges(), 5);
}

TEST_F(PitTest, Mode3SquareWaveAlsoTicks) {
  Program0(0x36, 11932);  // 10 ms
  Advance(Ns(11932));
  Advance(Ns(11932));
  EXPECT_EQ(irq0_.rising_edges(), 2);
}

TEST_F(PitTest, PeriodicTicksAreCappedAtTheMinimumPeriod) {
  Program0(0x34, 2);  // ~1.7 us asked for
  Advance(Pit::kMinPeriodNs - 1);
  EXPECT_EQ(irq0_.rising_edges(), 0);
  Advance(1);
  EXPECT_EQ(irq0_.rising_edges(), 1);
  // The count read back is still exact.
  Out(0x43, 0x00);
  uint16_t count = In(0x40);
  count |= static_cast<uint16_t>(In(0x40) << 8);
  EXPECT_GE(count, 1);
  EXPECT_LE(count, 2);
}

TEST_F(PitTest, Mode0OneShotHoldsItsOutputHigh) {
  Program0(0x30, 100);
  EXPECT_FALSE(irq0_.level());
  Advance(Ns(100));
  EXPECT_TRUE(irq0_.level());
  Advance(Ns(100000));
  EXPECT_EQ(irq0_.rising_edges(), 1);
  Out(0x43, 0x30);  // new control word: OUT low again
  EXPECT_FALSE(irq0_.level());
}

TEST_F(PitTest, Mode4StrobePulsesOnce) {
  Program0(0x38, 500);  // Linux's oneshot clockevent mode
  Advance(Ns(500));
  Advance(Ns(100000));
  EXPECT_EQ(irq0_.rising_edges(), 1);
  EXPECT_FALSE(irq0_.level());
}

TEST_F(PitTest, CounterLatchFreezesTheReadValue) {
  Program0(0x34, 1000);
  Advance(Ns(100));
  Out(0x43, 0x00);  // latch counter 0
  Advance(Ns(300));
  uint16_t count = In(0x40);
  count |= static_cast<uint16_t>(In(0x40) << 8);
  EXPECT_EQ(count, 900);
  // Unlatched reads are live.
  count = In(0x40);
  count |= static_cast<uint16_t>(In(0x40) << 8);
  EXPECT_EQ(count, 600);
}

TEST_F(PitTest, ReadBackStatusAndCount) {
  Program0(0x34, 1000);
  Advance(Ns(10));
  Out(0x43, 0xc2);            // read-back: count and status of counter 0
  EXPECT_EQ(In(0x40), 0xb4);  // OUT high, LSB/MSB, mode 2, binary
  uint16_t count = In(0x40);
  count |= static_cast<uint16_t>(In(0x40) << 8);
  EXPECT_EQ(count, 990);
  Out(0x43, 0x34);
  Out(0x43, 0xe2);  // status only: null count set by the control word
  EXPECT_EQ(In(0x40) & 0x40, 0x40);
}

TEST_F(PitTest, LsbOnlyAndMsbOnlyAccess) {
  Out(0x43, 0x14);  // counter 0, LSB only, mode 2
  Out(0x40, 0x80);
  EXPECT_EQ(In(0x40), 0x80);
  Out(0x43, 0x24);  // MSB only
  Out(0x40, 0x02);
  EXPECT_EQ(In(0x40), 0x02);
  Advance(Ns(0x100));
  EXPECT_EQ(In(0x40), 0x01);
}

// Linux arch/x86/kernel/tsc.c pit_calibrate_tsc(): gate counter 2 on,
// speaker off, mode 0 with a 50 ms count, then poll port 0x61 bit 5.
TEST_F(PitTest, Channel2CalibrationLoop) {
  constexpr uint16_t kLatch = 1193182 / 20;
  Out(0x61, (In(0x61) & ~0x02) | 0x01);
  Out(0x43, 0xb0);
  Out(0x42, kLatch & 0xff);
  Out(0x42, kLatch >> 8);
  EXPECT_EQ(In(0x61) & 0x20, 0);
  clock_.Advance(Ns(kLatch) - 1000);
  EXPECT_EQ(In(0x61) & 0x20, 0);
  clock_.Advance(1000);
  EXPECT_EQ(In(0x61) & 0x20, 0x20);
  EXPECT_EQ(In(0x61) & 0x03, 0x01);
  EXPECT_EQ(irq0_.rising_edges(), 0);  // counter 2 raises no IRQ
}

// quick_pit_calibrate(): mode 0, count 0xffff, read LSB then MSB.
TEST_F(PitTest, Channel2CountsDownWhileGated) {
  Out(0x61, 0x01);
  Out(0x43, 0xb0);
  Out(0x42, 0xff);
  Out(0x42, 0xff);
  clock_.Advance(Ns(256 * 3));
  In(0x42);
  EXPECT_EQ(In(0x42), 0xfc);
}

TEST_F(PitTest, Channel2GateLowPausesMode0) {
  Out(0x61, 0x00);
  Out(0x43, 0xb0);
  Out(0x42, 100);
  Out(0x42, 0);
  clock_.Advance(Ns(1000));
  EXPECT_EQ(In(0x61) & 0x20, 0);  // never counted
  Out(0x61, 0x01);
  clock_.Advance(Ns(100));
  EXPECT_EQ(In(0x61) & 0x20, 0x20);
}

TEST_F(PitTest, RefreshBitToggles) {
  uint8_t a = In(0x61) & 0x10;
  clock_.Advance(15'085);
  uint8_t b = In(0x61) & 0x10;
  EXPECT_NE(a, b);
}

TEST_F(PitTest, ShutdownStopsTheIrqTimer) {
  Program0(0x34, 1193);
  pit_->Shutdown();
  Advance(Ns(1193) * 10);
  EXPECT_EQ(irq0_.rising_edges(), 0);
  EXPECT_EQ(timers_.pending(), 0u);
}

}  // namespace
}  // namespace skiff::devices
