// Drives the whole userspace irqchip (LAPICs, IOAPIC, PIC, PIT, timers)
// with guest-controlled register accesses and device line changes decoded
// from the fuzz input, with time advanced by the input too. Checks: no
// crash or sanitizer report, acknowledged vectors are in range, and no
// RunDue call runs more than one callback per timer, i.e. a guest cannot
// program the timers into spinning the timer thread.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "base/guest_clock.h"
#include "devices/bus.h"
#include "devices/irqchip/fake_cpu_control.h"
#include "devices/irqchip/irqchip.h"

namespace skiff::devices {
namespace {

constexpr int kCpus = 3;

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Next() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint64_t NextN(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
      v |= static_cast<uint64_t>(Next()) << (8 * i);
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

void Check(bool ok) {
  if (!ok) std::abort();
}

constexpr uint16_t kPorts[] = {0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1,
                               0x40, 0x41, 0x42, 0x43, 0x61};

void Run(Input& in) {
  ManualGuestClock clock;
  testing::FakeCpuControl cpus;
  auto created =
      UserspaceIrqChip::Create(kCpus, clock, cpus, TimerQueue::Mode::kManual);
  Check(created.ok());
  std::unique_ptr<UserspaceIrqChip> chip = *std::move(created);
  Bus pio("pio");
  Bus mmio("mmio");
  Check(chip->Attach(pio, mmio).ok());
  std::vector<std::unique_ptr<IrqLine>> lines;
  for (uint32_t gsi = 0; gsi < UserspaceIrqChip::kNumGsis; ++gsi) {
    auto line = chip->CreateIrqLine(gsi);
    lines.push_back(line.ok() ? *std::move(line) : nullptr);
  }

  uint8_t buf[8];
  int ops = 0;
  while (!in.empty() && ops++ < 4096) {
    const uint8_t op = in.Next();
    const int cpu = in.Next() % kCpus;
    const size_t size = 1 + in.Next() % 8;
    switch (op % 12) {
      case 0: {
        uint16_t port = kPorts[in.Next() % std::size(kPorts)];
        uint64_t v = in.NextN(4);
        std::memcpy(buf, &v, 4);
        pio.Write(port, absl::MakeConstSpan(buf, size > 4 ? 1 : size));
        break;
      }
      case 1: {
        uint16_t port = kPorts[in.Next() % std::size(kPorts)];
        pio.Read(port, absl::MakeSpan(buf, size > 4 ? 1 : size));
        break;
      }
      case 2: {
        uint64_t offset = in.Next() & 0x7f;
        uint64_t v = in.NextN(8);
        std::memcpy(buf, &v, 8);
        mmio.Write(IoApic::kBaseAddress + offset,
                   absl::MakeConstSpan(buf, size));
        break;
      }
      case 3:
        mmio.Read(IoApic::kBaseAddress + (in.Next() & 0x7f),
                  absl::MakeSpan(buf, size));
        break;
      case 4: {
        // Mostly real registers, sometimes anything in the page.
        uint64_t offset =
            in.Next() & 1 ? (in.Next() & 0x3f) << 4 : in.NextN(2) & 0xfff;
        uint64_t v = in.NextN(4);
        std::memcpy(buf, &v, 4);
        chip->lapic(cpu).Write(offset, absl::MakeConstSpan(buf, size));
        break;
      }
      case 5: {
        uint64_t offset = (in.Next() & 0x3f) << 4;
        chip->lapic(cpu).Read(offset, absl::MakeSpan(buf, size));
        break;
      }
      case 6: {
        uint8_t pick = in.Next();
        uint32_t index = pick < 16   ? Lapic::kMsrApicBase
                         : pick < 64 ? Lapic::kMsrTscDeadline
                                     : 0x800u + in.Next();
        uint64_t value = in.NextN(8);
        if (index == Lapic::kMsrTscDeadline)
          value = clock.Tsc() + (value & 0xfffff);
        chip->lapic(cpu).WriteMsr(index, value);
        break;
      }
      case 7: {
        uint64_t value;
        chip->lapic(cpu).ReadMsr(0x800u + in.Next(), value);
        break;
      }
      case 8: {
        uint32_t gsi = in.Next() % UserspaceIrqChip::kNumGsis;
        if (lines[gsi] != nullptr) lines[gsi]->SetLevel(in.Next() & 1);
        break;
      }
      case 9: {
        Lapic& lapic = chip->lapic(cpu);
        if (lapic.HasPendingInterrupt()) {
          int vector = lapic.AcknowledgeInterrupt();
          Check(vector >= -1 && vector < 256);
        }
        lapic.TakePendingNmi();
        break;
      }
      case 10: {
        clock.Advance(in.NextN(3));
        int ran = chip->timers().RunDue(clock.NowNs());
        Check(ran <= kCpus + 1);
        break;
      }
      default: {
        int vector = chip->pic().Acknowledge();
        Check(vector >= 0 && vector < 256);
        break;
      }
    }
  }
  lines.clear();
  chip.reset();
}

}  // namespace
}  // namespace skiff::devices

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  skiff::devices::Input in(data, size);
  skiff::devices::Run(in);
  return 0;
}
