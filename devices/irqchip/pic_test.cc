#include "devices/irqchip/pic.h"

#include <memory>

#include "devices/bus.h"
#include "devices/testing/fakes.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

class PicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pio_.Insert(std::make_shared<PicPorts>(pic_, PicPorts::kMaster),
                            0x20, 2)
                    .ok());
    ASSERT_TRUE(
        pio_.Insert(std::make_shared<PicPorts>(pic_, PicPorts::kSlave), 0xa0, 2)
            .ok());
    ASSERT_TRUE(
        pio_.Insert(std::make_shared<PicPorts>(pic_, PicPorts::kElcr), 0x4d0, 2)
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
  // Linux arch/x86/kernel/i8259.c init_8259A(0).
  void InitLikeLinux(uint8_t icw4 = 0x01) {
    Out(0x21, 0xff);
    Out(0xa1, 0xff);
    Out(0x20, 0x11);  // ICW1: edge, cascade, ICW4 follows
    Out(0x21, 0x20);  // ICW2: vectors 0x20-0x27
    Out(0x21, 0x04);  // ICW3: slave on IR2
    Out(0x21, icw4);  // ICW4: 8086 mode, normal EOI
    Out(0xa0, 0x11);
    Out(0xa1, 0x28);
    Out(0xa1, 0x02);
    Out(0xa1, icw4);
    Out(0x21, 0xff);  // masks restored: all masked
    Out(0xa1, 0xff);
  }
  uint8_t Isr(uint16_t command_port) {
    Out(command_port, 0x0b);  // OCW3: read ISR
    uint8_t isr = In(command_port);
    Out(command_port, 0x0a);  // back to IRR
    return isr;
  }

  testing::FakeIrqLine intr_;
  std::shared_ptr<Pic> pic_ = std::make_shared<Pic>(&intr_);
  Bus pio_{"pio"};
};

TEST_F(PicTest, LinuxInitSequenceAndMaskReadback) {
  InitLikeLinux();
  EXPECT_EQ(In(0x21), 0xff);
  EXPECT_EQ(In(0xa1), 0xff);
  Out(0x21, 0xfb);  // unmask cascade
  EXPECT_EQ(In(0x21), 0xfb);
  EXPECT_FALSE(intr_.level());
}

TEST_F(PicTest, MaskedRequestWaitsThenAcknowledgeAndEoi) {
  InitLikeLinux();
  pic_->SetIrq(1, true);
  EXPECT_FALSE(intr_.level());
  EXPECT_EQ(In(0x20), 0x02);  // IRR
  Out(0x21, 0xfd);
  EXPECT_TRUE(intr_.level());
  EXPECT_EQ(pic_->Acknowledge(), 0x21);
  EXPECT_FALSE(intr_.level());
  EXPECT_EQ(Isr(0x20), 0x02);
  Out(0x20, 0x20);  // non-specific EOI
  EXPECT_EQ(Isr(0x20), 0x00);
  EXPECT_FALSE(intr_.level());  // edge: no new request
}

TEST_F(PicTest, PriorityAndSpecificEoi) {
  InitLikeLinux();
  Out(0x21, 0x00);
  pic_->SetIrq(3, true);
  pic_->SetIrq(1, true);
  EXPECT_EQ(pic_->Acknowledge(), 0x21);
  EXPECT_FALSE(intr_.level());  // IRQ 3 is lower priority than IRQ 1
  pic_->SetIrq(0, true);
  EXPECT_TRUE(intr_.level());  // IRQ 0 is higher
  EXPECT_EQ(pic_->Acknowledge(), 0x20);
  Out(0x20, 0x60);  // specific EOI, IRQ 0
  Out(0x20, 0x61);  // specific EOI, IRQ 1
  EXPECT_TRUE(intr_.level());
  EXPECT_EQ(pic_->Acknowledge(), 0x23);
}

TEST_F(PicTest, CascadeThroughTheSlave) {
  InitLikeLinux();
  Out(0x21, 0xfb);
  Out(0xa1, 0xef);  // unmask IRQ 12
  pic_->SetIrq(12, true);
  EXPECT_TRUE(intr_.level());
  EXPECT_EQ(pic_->Acknowledge(), 0x2c);
  EXPECT_EQ(Isr(0x20), 0x04);
  EXPECT_EQ(Isr(0xa0), 0x10);
  Out(0xa0, 0x20);
  Out(0x20, 0x20);
  EXPECT_EQ(Isr(0x20), 0x00);
  EXPECT_EQ(Isr(0xa0), 0x00);
}

TEST_F(PicTest, SpuriousInterruptsWhenNothingIsPending) {
  InitLikeLinux();
  EXPECT_EQ(pic_->Acknowledge(), 0x27);
  EXPECT_EQ(Isr(0x20), 0x00);  // spurious IRQ 7 sets no ISR bit
}

TEST_F(PicTest, LevelTriggeredPerElcr) {
  InitLikeLinux();
  Out(0x4d0, 0xff);
  EXPECT_EQ(In(0x4d0), 0xf8);  // IRQ 0-2 are always edge
  Out(0x4d1, 0xff);
  EXPECT_EQ(In(0x4d1), 0xde);  // IRQ 8 and 13 too
  Out(0x21, 0xfb);
  Out(0xa1, 0xf7);  // unmask IRQ 11
  pic_->SetIrq(11, true);
  EXPECT_EQ(pic_->Acknowledge(), 0x2b);
  Out(0xa0, 0x20);
  Out(0x20, 0x20);
  EXPECT_TRUE(intr_.level());  // still asserted
  pic_->SetIrq(11, false);
  EXPECT_FALSE(intr_.level());
}

TEST_F(PicTest, AutoEoi) {
  InitLikeLinux(0x03);
  Out(0x21, 0xf7);
  pic_->SetIrq(3, true);
  EXPECT_EQ(pic_->Acknowledge(), 0x23);
  EXPECT_EQ(Isr(0x20), 0x00);
}

TEST_F(PicTest, PollMode) {
  InitLikeLinux();
  Out(0x21, 0x00);
  pic_->SetIrq(5, true);
  Out(0x20, 0x0c);  // OCW3: poll
  EXPECT_EQ(In(0x20), 0x85);
  EXPECT_EQ(Isr(0x20), 0x20);
  Out(0x20, 0x0c);
  EXPECT_EQ(In(0x20), 0x00);
}

TEST_F(PicTest, WideAccessesSplitIntoPorts) {
  InitLikeLinux();
  uint8_t both[2];
  pio_.Read(0x20, absl::MakeSpan(both));
  EXPECT_EQ(both[1], 0xff);  // IMR at 0x21
  pic_->SetIrq(42, true);    // out of range: ignored
}

}  // namespace
}  // namespace skiff::devices
