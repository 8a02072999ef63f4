// The PS/2 controller (Intel 8042) as far as a microVM needs it: the CPU
// reset line (command 0xFE, or clearing bit 0 of the output port), enough of
// the controller and of an attached keyboard for Linux's i8042 and atkbd
// drivers to probe without timeouts, and Ctrl-Alt-Del injection.
//
// The device answers at two offsets: kDataOffset (port 0x60) and
// kCommandOffset (status/command, port 0x64). Ports 0x61-0x63 belong to
// others (0x61 is the PIT/speaker port), so insert two one-byte views:
//
//   auto i8042 = std::make_shared<I8042>(irq1.get(), control);
//   SKIFF_RETURN_IF_ERROR(pio.Insert(OffsetView::Make(i8042, 0), 0x60, 1));
//   SKIFF_RETURN_IF_ERROR(pio.Insert(OffsetView::Make(i8042, 4), 0x64, 1));
//   ... API thread: i8042->InjectCtrlAltDel();
//
// There is no AUX (mouse) device. Its interface stays disabled whatever the
// guest writes (command byte bit 5 reads back 1 after 0xA8), which makes
// Linux's i8042_check_aux() give up at its bit-assignment test instead of
// waiting 250 ms for an IRQ 12 test interrupt.
//
// References: Linux drivers/input/serio/i8042.c and i8042.h (the probe
// sequence and bit names), drivers/input/keyboard/atkbd.c (keyboard probe),
// the IBM PS/2 Hardware Interface Technical Reference (controller commands),
// QEMU hw/input/pckbd.c (behaviour where the references are vague).
//
// Thread-safety: state is guarded by one mutex. Lock order: device lock ->
// IrqLine. MachineControl::RequestStop is called without the lock.
#ifndef SKIFF_DEVICES_LEGACY_I8042_H_
#define SKIFF_DEVICES_LEGACY_I8042_H_

#include <array>
#include <cstdint>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/log.h"
#include "base/vcpu_backend.h"
#include "devices/bus.h"
#include "devices/machine_control.h"

namespace skiff::devices {

class I8042 : public BusDevice {
 public:
  static constexpr uint64_t kDataOffset = 0;     // port 0x60
  static constexpr uint64_t kCommandOffset = 4;  // port 0x64

  // `kbd_irq` (GSI 1) may be null: the guest can then only poll, and Linux's
  // atkbd, which waits for interrupts, will time out. `control` must outlive
  // the device.
  I8042(IrqLine* kbd_irq, MachineControl& control);

  void Read(uint64_t offset, absl::Span<uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Queues the key presses and releases of Ctrl, Alt and keypad Del and
  // raises IRQ 1. Linux's default keymap maps Ctrl-Alt-KP_Delete, like
  // Ctrl-Alt-Delete, to "Boot" (ctrl_alt_del(): reboot, or SIGINT to init
  // when ctrl-alt-del is soft). The codes are the set-2 codes Firecracker
  // sends (0x14 0x11 0x71) plus releases (0xF0 xx), or, when the guest left
  // translation on in the command byte (bit 6, the PC default that Linux
  // keeps; atkbd then reads set 1), what the controller would translate them
  // to: 0x1D 0x38 0x53 0xD3 0xB8 0x9D. Returns false, dropping the keys, when
  // the keyboard is disabled (0xF5) or its buffer is full. Thread-safe.
  bool InjectCtrlAltDel() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct OutByte {
    uint8_t value;
    bool aux;
  };

  uint8_t ReadStatus() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint8_t ReadData() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Return true when the write pulsed the CPU reset line.
  bool WriteCommand(uint8_t command) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WriteData(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KeyboardWrite(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetCommandByte(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void QueueController(uint8_t value, bool aux = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void QueueKeyboard(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the next pending byte into the output buffer if it is empty, then
  // drives IRQ 1 to match.
  void FillOutputBuffer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateIrq() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool translating() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  IrqLine* const kbd_irq_;
  MachineControl& control_;

  absl::Mutex mu_;
  // Controller RAM; byte 0 is the command byte (CTR).
  std::array<uint8_t, 32> ram_ ABSL_GUARDED_BY(mu_) = {};
  uint8_t output_port_ ABSL_GUARDED_BY(mu_);
  // Controller command waiting for its parameter on port 0x60, or 0.
  uint8_t pending_command_ ABSL_GUARDED_BY(mu_) = 0;
  // Whether the last write went to port 0x64 (status bit 3).
  bool last_write_command_ ABSL_GUARDED_BY(mu_) = false;

  // The output buffer the guest reads at port 0x60.
  uint8_t obuf_ ABSL_GUARDED_BY(mu_) = 0;
  bool obf_ ABSL_GUARDED_BY(mu_) = false;
  bool obuf_aux_ ABSL_GUARDED_BY(mu_) = false;
  // Controller replies, ahead of keyboard bytes.
  std::deque<OutByte> controller_queue_ ABSL_GUARDED_BY(mu_);
  // Bytes the keyboard has sent; held while the keyboard interface is
  // disabled (command byte bit 4), as a keyboard with an inhibited clock
  // buffers them.
  std::deque<uint8_t> keyboard_queue_ ABSL_GUARDED_BY(mu_);

  // Keyboard state.
  bool scanning_ ABSL_GUARDED_BY(mu_) = true;
  // Keyboard command waiting for its parameter byte, or 0.
  uint8_t keyboard_pending_ ABSL_GUARDED_BY(mu_) = 0;

  bool irq_level_ ABSL_GUARDED_BY(mu_) = false;
  RateLimiter log_limiter_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_LEGACY_I8042_H_
