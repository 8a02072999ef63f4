// The 8254 programmable interval timer: three 16-bit counters clocked at
// 1.193182 MHz behind ports 0x40-0x42 (counter data) and 0x43 (control
// word), plus system control port B at 0x61 (SpeakerPort), which gates
// counter 2 and reads back its output. Counter 0's output raises ISA IRQ 0
// through an IrqLine; counter 2 has no timer at all: its count and output
// are computed from the GuestClock when read, which is what Linux's PIT
// TSC calibration (arch/x86/kernel/tsc.c, pit_calibrate_tsc and
// quick_pit_calibrate) polls. Counter 1 (DRAM refresh) counts but drives
// nothing.
//
//   auto pit = std::make_shared<Pit>(irq0.get(), timers);
//   SKIFF_RETURN_IF_ERROR(pio.Insert(pit, Pit::kBasePort, 4));
//   SKIFF_RETURN_IF_ERROR(pio.Insert(std::make_shared<SpeakerPort>(pit),
//                                    SpeakerPort::kPort, 1));
//
// Reference: the Intel 8254 datasheet (control word, modes 0-5, counter
// latch and read-back commands, read/write sequencing) and QEMU's
// hw/timer/i8254.c. Supported: modes 0, 2, 3, 4 drive IRQ 0 (modes 1 and
// 5 need a gate edge channel 0 never sees); BCD counting is not (the bit is
// stored and reported, the count stays binary). IRQ 0 ticks faster than
// kMinPeriodNs are slowed to it so a guest cannot make the timer thread
// spin; counts read back are exact.
//
// Thread-safety: one mutex. Lock order: Pit -> IrqLine (-> PIC, IOAPIC ->
// Lapic), Pit -> TimerQueue. Shutdown() (or destruction) must happen
// before the TimerQueue is destroyed.
#ifndef SKIFF_DEVICES_IRQCHIP_PIT_H_
#define SKIFF_DEVICES_IRQCHIP_PIT_H_

#include <array>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/vcpu_backend.h"
#include "devices/bus.h"
#include "devices/irqchip/timer_queue.h"

namespace skiff::devices {

class Pit : public BusDevice {
 public:
  static constexpr uint64_t kHz = 1'193'182;
  static constexpr uint16_t kBasePort = 0x40;
  static constexpr uint64_t kPorts = 4;
  static constexpr uint64_t kMinPeriodNs = 10'000;

  // `irq0` (may be null) and `timers` must outlive the Pit (or Shutdown()).
  Pit(IrqLine* irq0, TimerQueue& timers);
  ~Pit() override;
  Pit(const Pit&) = delete;
  Pit& operator=(const Pit&) = delete;

  // Offsets 0-2 are the counters, 3 the control word. 8-bit registers;
  // wider accesses touch consecutive ports.
  void Read(uint64_t offset, absl::Span<uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Port 0x61: bit 0 counter 2 gate, bit 1 speaker data enable, bits 2-3
  // stored, bit 4 refresh toggle (flips every 15.085 us), bit 5 counter 2
  // output.
  uint8_t ReadPortB() ABSL_LOCKS_EXCLUDED(mu_);
  void WritePortB(uint8_t value) ABSL_LOCKS_EXCLUDED(mu_);

  // Cancels counter 0's timer for good; later programming is accepted but
  // raises no IRQ. Waits for a running callback (see TimerQueue::Cancel).
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Read/write sequencing states (QEMU's RW_STATE_*).
  enum RwState : uint8_t { kLsb = 1, kMsb = 2, kWord0 = 3, kWord1 = 4 };
  struct Channel {
    uint32_t count = 0x10000;  // reload value; 0 written means 65536
    uint8_t mode = 3;
    uint8_t rw_mode = kWord0;
    uint8_t read_state = kWord0;
    uint8_t write_state = kWord0;
    uint8_t write_latch = 0;
    bool bcd = false;
    uint16_t latched_count = 0;
    uint8_t count_latched = 0;  // an RwState, or 0 when not latched
    bool status_latched = false;
    uint8_t status = 0;
    bool null_count = true;  // control word written, count not loaded
    bool gate = true;
    uint64_t load_ns = 0;      // when counting (re)started
    uint64_t gate_low_ns = 0;  // when the gate last fell
  };

  uint64_t Ticks(const Channel& c, uint64_t now) const;
  uint16_t Count(const Channel& c, uint64_t now) const;
  bool Output(const Channel& c, uint64_t now) const;
  uint8_t ReadChannel(Channel& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteChannel(int index, uint8_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteControl(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LatchCount(Channel& c, uint64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoadCount(int index, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetGate2(bool gate) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Counter 0's IRQ timer.
  void StopIrqTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmIrqTimer(uint64_t deadline_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void IrqTimerFired(uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t TicksToNs(uint64_t ticks) const;

  // Constant after construction.
  IrqLine* const irq0_;
  TimerQueue& timers_;

  mutable absl::Mutex mu_;
  std::array<Channel, 3> channels_ ABSL_GUARDED_BY(mu_);
  uint8_t port_b_ ABSL_GUARDED_BY(mu_) = 0;  // bits 0-3 as written
  uint64_t next_tick_ns_ ABSL_GUARDED_BY(mu_) = 0;
  TimerQueue::Id timer_id_ ABSL_GUARDED_BY(mu_) = TimerQueue::kNoTimer;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

// System control port B (0x61) as a bus device.
class SpeakerPort : public BusDevice {
 public:
  static constexpr uint16_t kPort = 0x61;
  explicit SpeakerPort(std::shared_ptr<Pit> pit) : pit_(std::move(pit)) {}
  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

 private:
  const std::shared_ptr<Pit> pit_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_IRQCHIP_PIT_H_
