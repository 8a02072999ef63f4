#include "devices/legacy/i8042.h"

namespace skiff::devices {
namespace {

// Status register bits (Linux i8042.h I8042_STR_*).
constexpr uint8_t kStrObf = 0x01;
constexpr uint8_t kStrSys = 0x04;      // system flag, mirrors CTR bit 2
constexpr uint8_t kStrCmdDat = 0x08;   // last write was a command
constexpr uint8_t kStrKeylock = 0x10;  // 1 = keyboard not inhibited
constexpr uint8_t kStrAuxData = 0x20;  // output buffer holds AUX data

// Command byte bits (I8042_CTR_*).
constexpr uint8_t kCtrKbdInt = 0x01;
constexpr uint8_t kCtrAuxInt = 0x02;
constexpr uint8_t kCtrSys = 0x04;
constexpr uint8_t kCtrKbdDis = 0x10;
constexpr uint8_t kCtrAuxDis = 0x20;
constexpr uint8_t kCtrXlate = 0x40;
// What a BIOS leaves behind: keyboard interrupt and translation on, POST
// passed, AUX disabled (SeaBIOS writes the same, plus SYS from self-test).
constexpr uint8_t kCtrDefault = kCtrKbdInt | kCtrSys | kCtrAuxDis | kCtrXlate;

// Output port: bit 0 is the CPU reset line (active low), bit 1 the A20 gate.
// The other bits read as QEMU's (0xcc).
constexpr uint8_t kOutReset = 0x01;
constexpr uint8_t kOutputPortDefault = 0xcf;

// Controller commands (port 0x64).
constexpr uint8_t kCmdReadRam = 0x20;   // 0x20-0x3f
constexpr uint8_t kCmdWriteRam = 0x60;  // 0x60-0x7f
constexpr uint8_t kCmdAuxDisable = 0xa7;
constexpr uint8_t kCmdAuxEnable = 0xa8;
constexpr uint8_t kCmdAuxTest = 0xa9;
constexpr uint8_t kCmdSelfTest = 0xaa;
constexpr uint8_t kCmdKbdTest = 0xab;
constexpr uint8_t kCmdKbdDisable = 0xad;
constexpr uint8_t kCmdKbdEnable = 0xae;
constexpr uint8_t kCmdReadOutputPort = 0xd0;
constexpr uint8_t kCmdWriteOutputPort = 0xd1;
constexpr uint8_t kCmdWriteKbdOutput = 0xd2;
constexpr uint8_t kCmdWriteAuxOutput = 0xd3;  // Linux's AUX_LOOP
constexpr uint8_t kCmdWriteAux = 0xd4;
constexpr uint8_t kCmdPulseOutputPort = 0xf0;  // 0xf0-0xff; 0xfe = reset

constexpr uint8_t kSelfTestOk = 0x55;
constexpr uint8_t kInterfaceTestOk = 0x00;

// Keyboard commands and replies (atkbd.c ATKBD_CMD_* / ATKBD_RET_*).
constexpr uint8_t kKbdSetLeds = 0xed;
constexpr uint8_t kKbdEcho = 0xee;
constexpr uint8_t kKbdScanSet = 0xf0;
constexpr uint8_t kKbdGetId = 0xf2;
constexpr uint8_t kKbdSetRate = 0xf3;
constexpr uint8_t kKbdEnable = 0xf4;
constexpr uint8_t kKbdResetDisable = 0xf5;
constexpr uint8_t kKbdResetEnable = 0xf6;
constexpr uint8_t kKbdReset = 0xff;
constexpr uint8_t kKbdAck = 0xfa;
constexpr uint8_t kKbdBatOk = 0xaa;
// An MF2 keyboard identifies as 0xab 0x83; the controller translates 0x83 to
// 0x41 when translation is on (what QEMU's keyboard sends then).
constexpr uint8_t kKbdId0 = 0xab;
constexpr uint8_t kKbdId1 = 0x83;
constexpr uint8_t kKbdId1Translated = 0x41;

constexpr size_t kControllerQueueLimit = 16;
constexpr size_t kKeyboardQueueLimit = 32;

// Ctrl, Alt, keypad Del pressed, then released in reverse order.
constexpr uint8_t kCtrlAltDelSet2[] = {0x14, 0x11, 0x71, 0xf0, 0x71,
                                       0xf0, 0x11, 0xf0, 0x14};
constexpr uint8_t kCtrlAltDelSet1[] = {0x1d, 0x38, 0x53, 0xd3, 0xb8, 0x9d};

}  // namespace

I8042::I8042(IrqLine* kbd_irq, MachineControl& control)
    : kbd_irq_(kbd_irq), control_(control), output_port_(kOutputPortDefault) {
  ram_[0] = kCtrDefault;
}

void I8042::Read(uint64_t offset, absl::Span<uint8_t> data) {
  if (data.empty()) return;
  absl::MutexLock lock(&mu_);
  uint8_t value = 0xff;
  if (offset == kDataOffset) {
    value = ReadData();
  } else if (offset == kCommandOffset) {
    value = ReadStatus();
  }
  data[0] = value;
  for (size_t i = 1; i < data.size(); ++i) data[i] = 0xff;
}

void I8042::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (data.empty()) return;
  bool reset = false;
  {
    absl::MutexLock lock(&mu_);
    if (offset == kDataOffset) {
      reset = WriteData(data[0]);
    } else if (offset == kCommandOffset) {
      reset = WriteCommand(data[0]);
    }
  }
  if (reset) control_.RequestStop(StopReason::kReset, 0);
}

bool I8042::InjectCtrlAltDel() {
  absl::MutexLock lock(&mu_);
  absl::Span<const uint8_t> keys = translating()
                                       ? absl::MakeConstSpan(kCtrlAltDelSet1)
                                       : absl::MakeConstSpan(kCtrlAltDelSet2);
  if (!scanning_ || keyboard_queue_.size() + keys.size() > kKeyboardQueueLimit)
    return false;
  keyboard_queue_.insert(keyboard_queue_.end(), keys.begin(), keys.end());
  FillOutputBuffer();
  return true;
}

uint8_t I8042::ReadStatus() {
  uint8_t status = kStrKeylock;
  if (obf_) status |= kStrObf;
  if (obf_ && obuf_aux_) status |= kStrAuxData;
  if (ram_[0] & kCtrSys) status |= kStrSys;
  if (last_write_command_) status |= kStrCmdDat;
  return status;
}

uint8_t I8042::ReadData() {
  // An empty buffer reads its last value, as on real controllers.
  uint8_t value = obuf_;
  if (obf_) {
    obf_ = false;
    // Drop the line before a following byte raises it again, so an
    // edge-triggered IOAPIC pin sees one edge per byte (i8042_interrupt()
    // reads one byte per interrupt).
    UpdateIrq();
    FillOutputBuffer();
  }
  return value;
}

bool I8042::WriteCommand(uint8_t command) {
  last_write_command_ = true;
  pending_command_ = 0;  // a new command abandons one waiting for data
  if (command >= kCmdReadRam && command < kCmdReadRam + 0x20) {
    QueueController(ram_[command & 0x1f]);
    return false;
  }
  if (command >= kCmdWriteRam && command < kCmdWriteRam + 0x20) {
    pending_command_ = command;
    return false;
  }
  if (command >= kCmdPulseOutputPort) {
    // Pulse the output-port bits whose mask bit is 0 low for ~6 us; only
    // bit 0, the reset line, does anything here. 0xfe is what Linux's
    // reboot=k path (arch/x86/kernel/reboot.c, BOOT_KBD) writes.
    return (command & kOutReset) == 0;
  }
  switch (command) {
    case kCmdAuxDisable:
      SetCommandByte(ram_[0] | kCtrAuxDis);
      break;
    case kCmdAuxEnable:
      // No AUX device: the interface stays disabled (see the header).
      break;
    case kCmdAuxTest:
    case kCmdKbdTest:
      QueueController(kInterfaceTestOk);
      break;
    case kCmdSelfTest:
      SetCommandByte(ram_[0] | kCtrSys);
      QueueController(kSelfTestOk);
      break;
    case kCmdKbdDisable:
      SetCommandByte(ram_[0] | kCtrKbdDis);
      break;
    case kCmdKbdEnable:
      SetCommandByte(ram_[0] & ~kCtrKbdDis);
      break;
    case kCmdReadOutputPort:
      QueueController(output_port_);
      break;
    case kCmdWriteOutputPort:
    case kCmdWriteKbdOutput:
    case kCmdWriteAuxOutput:
    case kCmdWriteAux:
      pending_command_ = command;
      break;
    default:
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kDebug, "i8042: ignored controller command=0x%02x", command);
      }
      break;
  }
  return false;
}

bool I8042::WriteData(uint8_t value) {
  last_write_command_ = false;
  uint8_t command = pending_command_;
  pending_command_ = 0;
  if (command >= kCmdWriteRam && command < kCmdWriteRam + 0x20) {
    if (command == kCmdWriteRam) {
      SetCommandByte(value);
    } else {
      ram_[command & 0x1f] = value;
    }
    return false;
  }
  switch (command) {
    case kCmdWriteOutputPort:
      // A20 (bit 1) is not emulated: guest RAM is always fully addressable.
      output_port_ = value;
      return (value & kOutReset) == 0;
    case kCmdWriteKbdOutput:
      QueueController(value);
      return false;
    case kCmdWriteAuxOutput:
      QueueController(value, /*aux=*/true);
      return false;
    case kCmdWriteAux:
      return false;  // no AUX device to receive it
    default:
      break;
  }
  // A byte for the keyboard. Sending it re-enables the keyboard interface
  // (QEMU's pckbd does the same; Linux relies on neither behaviour).
  SetCommandByte(ram_[0] & ~kCtrKbdDis);
  KeyboardWrite(value);
  return false;
}

void I8042::KeyboardWrite(uint8_t value) {
  if (keyboard_pending_ != 0) {
    uint8_t command = keyboard_pending_;
    keyboard_pending_ = 0;
    QueueKeyboard(kKbdAck);
    if (command == kKbdScanSet && value == 0) {
      // Report set 2, translated when translation is on.
      QueueKeyboard(translating() ? kKbdId1Translated : 0x02);
    }
    // Other sets are not supported: the keyboard keeps sending set 2,
    // which Linux never asks to change.
    return;
  }
  switch (value) {
    case kKbdSetLeds:
    case kKbdSetRate:
    case kKbdScanSet:
      keyboard_pending_ = value;
      QueueKeyboard(kKbdAck);
      break;
    case kKbdEcho:
      QueueKeyboard(kKbdEcho);
      break;
    case kKbdGetId:
      QueueKeyboard(kKbdAck);
      QueueKeyboard(kKbdId0);
      QueueKeyboard(translating() ? kKbdId1Translated : kKbdId1);
      break;
    case kKbdEnable:
      // Enabling clears the keyboard's buffer (PS/2 reference, 0xF4).
      keyboard_queue_.clear();
      scanning_ = true;
      QueueKeyboard(kKbdAck);
      break;
    case kKbdResetDisable:
      keyboard_queue_.clear();
      scanning_ = false;
      QueueKeyboard(kKbdAck);
      break;
    case kKbdResetEnable:
      keyboard_queue_.clear();
      scanning_ = true;
      QueueKeyboard(kKbdAck);
      break;
    case kKbdReset:
      keyboard_queue_.clear();
      scanning_ = true;
      QueueKeyboard(kKbdAck);
      QueueKeyboard(kKbdBatOk);
      break;
    default:
      QueueKeyboard(kKbdAck);
      break;
  }
}

void I8042::SetCommandByte(uint8_t value) {
  // There is no AUX device, so its interface is disabled and cannot
  // interrupt, whatever the guest asks for.
  ram_[0] = static_cast<uint8_t>((value | kCtrAuxDis) & ~kCtrAuxInt);
  // Enabling the keyboard interface or its interrupt may release bytes.
  FillOutputBuffer();
}

void I8042::QueueController(uint8_t value, bool aux) {
  if (controller_queue_.size() < kControllerQueueLimit)
    controller_queue_.push_back({value, aux});
  FillOutputBuffer();
}

void I8042::QueueKeyboard(uint8_t value) {
  if (keyboard_queue_.size() < kKeyboardQueueLimit)
    keyboard_queue_.push_back(value);
  FillOutputBuffer();
}

void I8042::FillOutputBuffer() {
  if (!obf_) {
    if (!controller_queue_.empty()) {
      obuf_ = controller_queue_.front().value;
      obuf_aux_ = controller_queue_.front().aux;
      controller_queue_.pop_front();
      obf_ = true;
    } else if (!keyboard_queue_.empty() && !(ram_[0] & kCtrKbdDis)) {
      obuf_ = keyboard_queue_.front();
      obuf_aux_ = false;
      keyboard_queue_.pop_front();
      obf_ = true;
    }
  }
  UpdateIrq();
}

void I8042::UpdateIrq() {
  bool level = obf_ && !obuf_aux_ && (ram_[0] & kCtrKbdInt);
  if (level == irq_level_) return;
  irq_level_ = level;
  if (kbd_irq_ != nullptr) kbd_irq_->SetLevel(level);
}

bool I8042::translating() const { return (ram_[0] & kCtrXlate) != 0; }

}  // namespace skiff::devices
