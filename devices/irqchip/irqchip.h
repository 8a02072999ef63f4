// The userspace interrupt controllers and timers of one machine, for the
// interpreter backend (KVM has them in the kernel): a TimerQueue thread, one
// Lapic per vCPU, the IOAPIC, the 8259 PIC pair and the 8254 PIT, wired
// like a PC: ISA IRQs go to both the PIC and the IOAPIC pin of the same
// number, except the PIT's IRQ 0, which reaches IOAPIC pin 2 (the interrupt
// source override the MADT declares; QEMU's routing). The PIC's INTR drives
// LINT0 of vCPU 0.
//
//   SKIFF_ASSIGN_OR_RETURN(auto chip,
//       UserspaceIrqChip::Create(num_cpus, clock, cpu_control));
//   SKIFF_RETURN_IF_ERROR(chip->Attach(pio_bus, mmio_bus));
//   for (int i = 0; i < num_cpus; ++i)
//     SKIFF_RETURN_IF_ERROR(vcpu[i]->SetInterruptSource(&chip->lapic(i)));
//   SKIFF_ASSIGN_OR_RETURN(auto com1_irq, chip->CreateIrqLine(4));
//   // vCPU i's accesses to [Lapic::kBaseAddress, +Lapic::kPageSize) go to
//   // chip->lapic(i).Read/Write, its unknown MSRs to lapic(i).ReadMsr/
//   // WriteMsr.
//
// Lifetime: the chip must outlive every IrqLine it created and every use
// of the buses it attached to (the buses hold its devices, but they point
// back into the chip). The GuestClock and CpuControl must outlive it.
#ifndef SKIFF_DEVICES_IRQCHIP_IRQCHIP_H_
#define SKIFF_DEVICES_IRQCHIP_IRQCHIP_H_

#include <array>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/guest_clock.h"
#include "base/vcpu_backend.h"
#include "devices/bus.h"
#include "devices/irqchip/apic_bus.h"
#include "devices/irqchip/cpu_control.h"
#include "devices/irqchip/ioapic.h"
#include "devices/irqchip/lapic.h"
#include "devices/irqchip/pic.h"
#include "devices/irqchip/pit.h"
#include "devices/irqchip/timer_queue.h"

namespace skiff::devices {

class UserspaceIrqChip {
 public:
  // xAPIC physical IDs are 8 bits and 0xff is broadcast.
  static constexpr int kMaxCpus = 255;
  // GSIs: the IOAPIC's pins.
  static constexpr uint32_t kNumGsis = IoApic::kPins;

  // `timer_mode` kManual is for tests and a deterministic interpreter mode
  // that calls timers().RunDue itself. `on_timer_thread_start` runs first
  // on the "timers" thread (kThread mode): its seccomp filter.
  static absl::StatusOr<std::unique_ptr<UserspaceIrqChip>> Create(
      int num_cpus, GuestClock& clock, CpuControl& cpus,
      TimerQueue::Mode timer_mode = TimerQueue::Mode::kThread,
      std::function<void()> on_timer_thread_start = nullptr);
  ~UserspaceIrqChip();
  UserspaceIrqChip(const UserspaceIrqChip&) = delete;
  UserspaceIrqChip& operator=(const UserspaceIrqChip&) = delete;

  // Inserts the IOAPIC (MMIO 0xFEC00000, 4 KiB), the PIC (ports 0x20-0x21,
  // 0xA0-0xA1), the ELCR (0x4D0-0x4D1), the PIT (0x40-0x43) and port B
  // (0x61). The LAPIC page is per vCPU and not on the shared bus.
  absl::Status Attach(Bus& pio, Bus& mmio);

  // The line for `gsi` (< 24, not 2): drives PIC input `gsi` when < 16 and
  // IOAPIC pin `gsi`; GSI 0 is ISA IRQ 0 and drives IOAPIC pin 2 instead.
  // Several lines for one GSI are OR-ed (shared level interrupts).
  absl::StatusOr<std::unique_ptr<IrqLine>> CreateIrqLine(uint32_t gsi);

  int num_cpus() const { return static_cast<int>(lapics_.size()); }
  // REQUIRES: 0 <= cpu < num_cpus().
  Lapic& lapic(int cpu) { return *lapics_[cpu]; }
  IoApic& ioapic() { return *ioapic_; }
  Pic& pic() { return *pic_; }
  Pit& pit() { return *pit_; }
  TimerQueue& timers() { return *timers_; }

 private:
  class Line;
  UserspaceIrqChip(int num_cpus, GuestClock& clock, CpuControl& cpus,
                   TimerQueue::Mode timer_mode,
                   std::function<void()> on_timer_thread_start);
  // A line (whose level is `line_level`, guarded by lines_mu_) is driven
  // to `asserted`: recompute the OR for `gsi` and forward changes.
  void SetLineLevel(uint32_t gsi, bool& line_level, bool asserted)
      ABSL_LOCKS_EXCLUDED(lines_mu_);

  // Declared first, destroyed last: everything below may hold timers.
  std::unique_ptr<TimerQueue> timers_;
  ApicBus apic_bus_;
  std::vector<std::unique_ptr<Lapic>> lapics_;
  std::shared_ptr<IoApic> ioapic_;
  std::shared_ptr<Pic> pic_;
  std::unique_ptr<IrqLine> pit_line_;
  std::shared_ptr<Pit> pit_;

  // Orders level changes on one GSI and counts its asserted lines.
  // Lock order: line -> PIC / IOAPIC -> Lapic.
  absl::Mutex lines_mu_;
  std::array<int, kNumGsis> asserted_ ABSL_GUARDED_BY(lines_mu_){};
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_IRQCHIP_IRQCHIP_H_
