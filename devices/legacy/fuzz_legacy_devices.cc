// Drives the legacy devices with guest-controlled register accesses decoded
// from the fuzz input, checking the interrupt lines stay consistent with the
// registers that report them. Every access a guest can make is covered: any
// offset in (and past) each range, any size from 1 to 8 bytes, any value,
// interleaved with host-side input and key injection.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "absl/time/time.h"
#include "devices/legacy/boot_timer.h"
#include "devices/legacy/cmos_rtc.h"
#include "devices/legacy/debug_exit.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/output_sink.h"
#include "devices/legacy/serial_8250.h"
#include "devices/testing/fakes.h"

namespace skiff::devices {
namespace {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Next() { return pos_ < size_ ? data_[pos_++] : 0; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace
}  // namespace skiff::devices

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::devices;
  testing::FakeIrqLine serial_irq, kbd_irq;
  testing::FakeMachineControl control;
  // Small input limit so overruns are reachable.
  Serial8250 serial(&serial_irq, std::make_shared<NullSink>(), 16);
  I8042 i8042(&kbd_irq, control);
  const absl::Time epoch = absl::FromUnixSeconds(1'700'000'000);
  CmosRtc rtc(512 << 20, 0, [epoch] { return epoch; });
  DebugExit debug_exit(control);
  BootTimer boot_timer(
      epoch, nullptr, [epoch] { return epoch; },
      [] { return absl::ZeroDuration(); });
  BusDevice* devices[] = {&serial, &i8042, &rtc, &debug_exit, &boot_timer};

  Input in(data, size);
  while (!in.empty()) {
    uint8_t op = in.Next();
    uint8_t buf[8];
    size_t len = (op >> 5) % 8 + 1;
    uint64_t offset = in.Next() % 10;
    switch (op & 0x07) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4: {
        BusDevice* dev = devices[op & 0x07];
        if (op & 0x08) {
          for (size_t i = 0; i < len; ++i) buf[i] = in.Next();
          dev->Write(offset, absl::MakeConstSpan(buf, len));
        } else {
          dev->Read(offset, absl::MakeSpan(buf, len));
        }
        break;
      }
      case 5:
        for (size_t i = 0; i < len; ++i) buf[i] = in.Next();
        serial.QueueInput(absl::MakeConstSpan(buf, len));
        break;
      case 6:
        i8042.InjectCtrlAltDel();
        break;
      default:
        break;
    }
    // IRQ 1 is high exactly while keyboard data waits and may interrupt;
    // reading the status has no side effects.
    uint8_t status;
    i8042.Read(I8042::kCommandOffset, absl::MakeSpan(&status, 1));
    if (kbd_irq.level()) Check((status & 0x01) && !(status & 0x20));
    // IRQ 4 is high exactly while IIR reports an interrupt (reading IIR
    // acknowledges THRE, which the fuzzer may as well exercise).
    if (op & 0x10) {
      bool level = serial_irq.level();
      uint8_t iir;
      serial.Read(2, absl::MakeSpan(&iir, 1));
      Check(level == !(iir & 0x01));
    }
  }
  return 0;
}
