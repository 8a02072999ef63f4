#include "devices/legacy/i8042.h"

#include <memory>
#include <vector>

#include "devices/bus.h"
#include "devices/legacy/offset_view.h"
#include "devices/testing/fakes.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

using testing::FakeIrqLine;
using testing::FakeMachineControl;

constexpr uint8_t kStrObf = 0x01, kStrSys = 0x04, kStrCmdDat = 0x08,
                  kStrKeylock = 0x10, kStrAuxData = 0x20;
constexpr uint8_t kCtrKbdInt = 0x01, kCtrSys = 0x04, kCtrKbdDis = 0x10,
                  kCtrAuxDis = 0x20, kCtrXlate = 0x40;

// Drives the controller through the pio bus at its real ports, as a guest.
class I8042Test : public ::testing::Test {
 protected:
  I8042Test() {
    EXPECT_TRUE(
        pio_.Insert(OffsetView::Make(i8042_, I8042::kDataOffset), 0x60, 1)
            .ok());
    EXPECT_TRUE(
        pio_.Insert(OffsetView::Make(i8042_, I8042::kCommandOffset), 0x64, 1)
            .ok());
  }

  uint8_t Status() { return In(0x64); }
  uint8_t In(uint16_t port) {
    uint8_t b = 0;
    EXPECT_TRUE(pio_.Read(port, absl::MakeSpan(&b, 1)));
    return b;
  }
  void Out(uint16_t port, uint8_t value) {
    EXPECT_TRUE(pio_.Write(port, absl::MakeConstSpan(&value, 1)));
  }
  // Linux's i8042_command() for a command with one reply.
  uint8_t Command(uint8_t command) {
    Out(0x64, command);
    EXPECT_TRUE(Status() & kStrObf) << "no reply to " << int{command};
    return In(0x60);
  }
  // Reads everything in the output buffer, like i8042_flush().
  std::vector<uint8_t> Drain() {
    std::vector<uint8_t> out;
    while ((Status() & kStrObf) && out.size() < 64) out.push_back(In(0x60));
    return out;
  }

  FakeIrqLine irq_;
  FakeMachineControl control_;
  std::shared_ptr<I8042> i8042_ = std::make_shared<I8042>(&irq_, control_);
  Bus pio_{"pio"};
};

TEST_F(I8042Test, StatusAfterReset) {
  EXPECT_EQ(Status(), kStrSys | kStrKeylock);
  EXPECT_TRUE(Drain().empty());
  // The command byte a BIOS leaves: translation, keyboard IRQ, no AUX.
  EXPECT_EQ(Command(0x20), kCtrKbdInt | kCtrSys | kCtrAuxDis | kCtrXlate);
  // The last write went to the command port.
  EXPECT_TRUE(Status() & kStrCmdDat);
}

TEST_F(I8042Test, ControllerSelfTestAndInterfaceTests) {
  EXPECT_EQ(Command(0xaa), 0x55);
  EXPECT_EQ(Command(0xab), 0x00);
  EXPECT_EQ(Command(0xa9), 0x00);
  EXPECT_TRUE(control_.calls().empty());
}

// i8042_controller_init(): read the CTR until two reads agree, then write
// it back with the keyboard disabled and its interrupt off.
TEST_F(I8042Test, ReadWriteCommandByte) {
  uint8_t ctr = Command(0x20);
  EXPECT_EQ(Command(0x20), ctr);
  ctr |= kCtrKbdDis;
  ctr &= ~kCtrKbdInt;
  Out(0x64, 0x60);
  Out(0x60, ctr);
  EXPECT_FALSE(Status() & kStrCmdDat);
  EXPECT_EQ(Command(0x20), ctr);
  // Disable/enable keyboard commands edit bit 4.
  Out(0x64, 0xae);
  EXPECT_EQ(Command(0x20) & kCtrKbdDis, 0);
  Out(0x64, 0xad);
  EXPECT_EQ(Command(0x20) & kCtrKbdDis, kCtrKbdDis);
}

// i8042_check_aux(): the loop test passes (the reply carries AUXDATA), the
// AUX interface disables but never enables, so Linux concludes there is no
// AUX port without its 250 ms IRQ 12 wait.
TEST_F(I8042Test, AuxProbeFindsNoAuxPortQuickly) {
  Out(0x64, 0xd3);
  Out(0x60, 0x5a);
  EXPECT_EQ(Status() & (kStrObf | kStrAuxData), kStrObf | kStrAuxData);
  EXPECT_FALSE(irq_.level());  // AUX data never raises the keyboard IRQ
  EXPECT_EQ(In(0x60), 0x5a);
  Out(0x64, 0xa7);
  EXPECT_TRUE(Command(0x20) & kCtrAuxDis);
  Out(0x64, 0xa8);
  EXPECT_TRUE(Command(0x20) & kCtrAuxDis);
  // Writing the CTR can neither enable it nor its interrupt (bit 1).
  Out(0x64, 0x60);
  Out(0x60, 0x47);
  EXPECT_EQ(Command(0x20), 0x65);
}

TEST_F(I8042Test, ResetCommandStopsMachine) {
  Out(0x64, 0xfe);
  auto calls = control_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].reason, StopReason::kReset);
  EXPECT_EQ(calls[0].exit_status, 0);
  // 0xff pulses nothing.
  Out(0x64, 0xff);
  EXPECT_EQ(control_.calls().size(), 1u);
}

TEST_F(I8042Test, OutputPortResetBit) {
  EXPECT_EQ(Command(0xd0) & 0x03, 0x03);  // not in reset, A20 on
  Out(0x64, 0xd1);
  Out(0x60, 0x03);
  EXPECT_TRUE(control_.calls().empty());
  Out(0x64, 0xd1);
  Out(0x60, 0x02);
  ASSERT_EQ(control_.calls().size(), 1u);
  EXPECT_EQ(control_.calls()[0].reason, StopReason::kReset);
}

TEST_F(I8042Test, WriteKeyboardOutputBuffer) {
  Out(0x64, 0xd2);
  Out(0x60, 0x42);
  EXPECT_EQ(Status() & (kStrObf | kStrAuxData), kStrObf);
  EXPECT_TRUE(irq_.level());
  EXPECT_EQ(In(0x60), 0x42);
  EXPECT_FALSE(irq_.level());
}

// atkbd_probe()/atkbd_activate(): every byte is acknowledged through IRQ 1,
// one interrupt edge per byte.
TEST_F(I8042Test, KeyboardCommands) {
  Out(0x60, 0xf5);  // ATKBD_CMD_RESET_DIS
  EXPECT_EQ(irq_.rising_edges(), 1);
  EXPECT_EQ(Drain(), std::vector<uint8_t>{0xfa});

  irq_.ClearHistory();
  Out(0x60, 0xf2);  // ATKBD_CMD_GETID; translated second byte
  EXPECT_EQ(Drain(), (std::vector<uint8_t>{0xfa, 0xab, 0x41}));
  EXPECT_EQ(irq_.rising_edges(), 3);

  Out(0x60, 0xed);  // SETLEDS + parameter: two ACKs
  EXPECT_EQ(Drain(), std::vector<uint8_t>{0xfa});
  Out(0x60, 0x00);
  EXPECT_EQ(Drain(), std::vector<uint8_t>{0xfa});
  Out(0x60, 0xf3);  // SETREP + parameter
  Out(0x60, 0x20);
  EXPECT_EQ(Drain(), (std::vector<uint8_t>{0xfa, 0xfa}));
  Out(0x60, 0xf4);  // ENABLE
  EXPECT_EQ(Drain(), std::vector<uint8_t>{0xfa});
  Out(0x60, 0xff);  // RESET_BAT
  EXPECT_EQ(Drain(), (std::vector<uint8_t>{0xfa, 0xaa}));
  Out(0x60, 0xee);  // ECHO
  EXPECT_EQ(Drain(), std::vector<uint8_t>{0xee});
  Out(0x60, 0x99);  // anything else
  EXPECT_EQ(Drain(), std::vector<uint8_t>{0xfa});
  EXPECT_FALSE(irq_.level());
}

TEST_F(I8042Test, GetIdUntranslated) {
  Out(0x64, 0x60);
  Out(0x60, kCtrKbdInt | kCtrSys);
  Out(0x60, 0xf2);
  EXPECT_EQ(Drain(), (std::vector<uint8_t>{0xfa, 0xab, 0x83}));
}

TEST_F(I8042Test, CtrlAltDelTranslatedToSet1) {
  ASSERT_TRUE(i8042_->InjectCtrlAltDel());
  EXPECT_TRUE(irq_.level());
  EXPECT_EQ(Drain(),
            (std::vector<uint8_t>{0x1d, 0x38, 0x53, 0xd3, 0xb8, 0x9d}));
  EXPECT_EQ(irq_.rising_edges(), 6);
  EXPECT_FALSE(irq_.level());
}

TEST_F(I8042Test, CtrlAltDelSet2WhenNotTranslating) {
  Out(0x64, 0x60);
  Out(0x60, kCtrKbdInt | kCtrSys);
  ASSERT_TRUE(i8042_->InjectCtrlAltDel());
  EXPECT_EQ(Drain(), (std::vector<uint8_t>{0x14, 0x11, 0x71, 0xf0, 0x71, 0xf0,
                                           0x11, 0xf0, 0x14}));
  EXPECT_EQ(irq_.rising_edges(), 9);
}

TEST_F(I8042Test, CtrlAltDelDroppedWhileKeyboardDisabled) {
  Out(0x60, 0xf5);
  Drain();
  EXPECT_FALSE(i8042_->InjectCtrlAltDel());
  EXPECT_TRUE(Drain().empty());
  Out(0x60, 0xf4);
  Drain();
  EXPECT_TRUE(i8042_->InjectCtrlAltDel());
}

TEST_F(I8042Test, KeyboardBytesHeldWhileInterfaceDisabled) {
  Out(0x64, 0xad);
  ASSERT_TRUE(i8042_->InjectCtrlAltDel());
  EXPECT_FALSE(Status() & kStrObf);
  EXPECT_FALSE(irq_.level());
  Out(0x64, 0xae);
  EXPECT_TRUE(irq_.level());
  EXPECT_EQ(Drain().size(), 6u);
}

TEST_F(I8042Test, NoInterruptWithoutKbdInt) {
  Out(0x64, 0x60);
  Out(0x60, kCtrSys | kCtrXlate);
  ASSERT_TRUE(i8042_->InjectCtrlAltDel());
  EXPECT_TRUE(Status() & kStrObf);
  EXPECT_FALSE(irq_.level());
  EXPECT_EQ(Drain().size(), 6u);
  EXPECT_EQ(irq_.rising_edges(), 0);
}

TEST_F(I8042Test, ControllerRepliesComeBeforeKeyboardBytes) {
  ASSERT_TRUE(i8042_->InjectCtrlAltDel());
  // The first scancode is already in the output buffer; the reply follows it
  // but overtakes the rest.
  Out(0x64, 0xaa);
  auto bytes = Drain();
  ASSERT_EQ(bytes.size(), 7u);
  EXPECT_EQ(bytes[0], 0x1d);
  EXPECT_EQ(bytes[1], 0x55);
}

TEST_F(I8042Test, WorksWithoutIrqLine) {
  FakeMachineControl control;
  I8042 i8042(nullptr, control);
  EXPECT_TRUE(i8042.InjectCtrlAltDel());
  uint8_t b = 0xfe;
  i8042.Write(I8042::kCommandOffset, absl::MakeConstSpan(&b, 1));
  EXPECT_EQ(control.calls().size(), 1u);
}

}  // namespace
}  // namespace skiff::devices
