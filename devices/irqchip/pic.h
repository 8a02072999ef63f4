// The two cascaded 8259A programmable interrupt controllers of a PC: the
// master at ports 0x20/0x21 (IRQ 0-7) and the slave at 0xA0/0xA1 (IRQ
// 8-15) on the master's IR2, plus the edge/level control registers (ELCR)
// at 0x4D0/0x4D1. The master's INTR output drives LINT0 of vCPU 0's local
// APIC; the INTA cycle (Acknowledge) returns the vector.
//
//   auto pic = std::make_shared<Pic>(&lapic0.lint0());
//   lapic0.ConnectExtInt(pic.get());
//   SKIFF_RETURN_IF_ERROR(pio.Insert(
//       std::make_shared<PicPorts>(pic, PicPorts::kMaster), 0x20, 2));
//   SKIFF_RETURN_IF_ERROR(pio.Insert(
//       std::make_shared<PicPorts>(pic, PicPorts::kSlave), 0xa0, 2));
//   SKIFF_RETURN_IF_ERROR(pio.Insert(
//       std::make_shared<PicPorts>(pic, PicPorts::kElcr), 0x4d0, 2));
//   pic->SetIrq(4, true);
//
// Reference: the Intel 8259A datasheet (ICW1-4, OCW1-3, priority rotation,
// poll mode), the PIIX/ICH datasheets for the ELCR, Linux
// arch/x86/kernel/i8259.c (init_8259A, mask/EOI sequences), and the KVM
// and QEMU i8259 models whose edge/level and spurious IRQ 7 behaviour this
// follows. Single (non-cascaded) mode and the 8080/85 mode are not
// supported: ICW1 bits 1 and 2 are ignored.
//
// Thread-safety: one mutex. Lock order: Pic -> IrqLine (INTR, i.e. the
// Lapic). The Lapic calls Acknowledge without its own lock.
#ifndef SKIFF_DEVICES_IRQCHIP_PIC_H_
#define SKIFF_DEVICES_IRQCHIP_PIC_H_

#include <array>
#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/vcpu_backend.h"
#include "devices/bus.h"
#include "devices/irqchip/lapic.h"

namespace skiff::devices {

class Pic : public ExtIntSource {
 public:
  enum class Port {
    kMasterCommand,
    kMasterData,
    kSlaveCommand,
    kSlaveData,
    kElcrMaster,
    kElcrSlave
  };

  // `intr` (may be null) is the master's INTR output; must outlive the Pic.
  explicit Pic(IrqLine* intr) : intr_(intr) {}

  // Input IRQ 0-15 (ignored otherwise). Edge or level per the ELCR.
  void SetIrq(uint32_t irq, bool level) ABSL_LOCKS_EXCLUDED(mu_);
  // The INTA cycle: the vector of the highest-priority request, now in
  // service; a spurious IRQ 7 (or 15) vector when none is pending.
  int Acknowledge() override ABSL_LOCKS_EXCLUDED(mu_);

  uint8_t ReadPort(Port port) ABSL_LOCKS_EXCLUDED(mu_);
  void WritePort(Port port, uint8_t value) ABSL_LOCKS_EXCLUDED(mu_);

  // For tests: the INTR output level.
  bool intr() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Chip {
    uint8_t irr = 0;
    uint8_t imr = 0;
    uint8_t isr = 0;
    uint8_t last_irr = 0;      // input levels, for edge detection
    uint8_t priority_add = 0;  // rotation: the lowest-numbered priority
    uint8_t irq_base = 0;
    uint8_t elcr = 0;
    uint8_t elcr_mask = 0;
    uint8_t init_state = 0;  // 0 ready; 1-3 expecting ICW2-ICW4
    bool read_isr = false;
    bool poll = false;
    bool special_mask = false;
    bool auto_eoi = false;
    bool rotate_on_auto_eoi = false;
    bool special_fully_nested = false;
    bool init4 = false;
  };

  void SetIrqLocked(Chip& chip, int irq, bool level)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int HighestRequest(const Chip& chip, bool master) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Ack(Chip& chip, int irq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Update() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteCommand(int index, uint8_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteData(int index, uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint8_t Poll(int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  IrqLine* const intr_;

  mutable absl::Mutex mu_;
  // [0] master, [1] slave. ELCR masks: IRQ 0, 1, 2, 8 and 13 are always
  // edge (PIIX4 datasheet, ELCR1/ELCR2).
  std::array<Chip, 2> chips_ ABSL_GUARDED_BY(mu_) = [] {
    std::array<Chip, 2> chips{};
    chips[0].elcr_mask = 0xf8;
    chips[1].elcr_mask = 0xde;
    // Masked until the guest programs the PIC: with direct boot no
    // firmware did, and vector base 0 would alias CPU exceptions.
    chips[0].imr = 0xff;
    chips[1].imr = 0xff;
    return chips;
  }();
  bool intr_level_ ABSL_GUARDED_BY(mu_) = false;
};

// One of the Pic's port ranges as a bus device (each is two ports wide);
// 16-bit accesses reach both ports, low byte first.
class PicPorts : public BusDevice {
 public:
  enum Range { kMaster, kSlave, kElcr };
  PicPorts(std::shared_ptr<Pic> pic, Range range)
      : pic_(std::move(pic)), range_(range) {}
  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

 private:
  Pic::Port PortAt(uint64_t offset) const;
  const std::shared_ptr<Pic> pic_;
  const Range range_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_IRQCHIP_PIC_H_
