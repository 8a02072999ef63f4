// The I/O APIC (Intel 82093AA, version 0x20 with the EOI register of later
// chipsets): 24 interrupt input pins, each with a redirection-table entry
// that turns an assertion into an APIC bus message to the local APICs.
// Memory-mapped at 0xFEC00000: IOREGSEL (0x00) selects an indirect
// register, IOWIN (0x10) reads/writes it, EOI (0x40) retires a vector.
//
//   auto ioapic = std::make_shared<IoApic>(apic_bus);
//   apic_bus.SetEoiListener(ioapic.get());
//   SKIFF_RETURN_IF_ERROR(mmio.Insert(ioapic, IoApic::kBaseAddress,
//                                     IoApic::kSize));
//   ioapic->SetPin(4, true);    // COM1 asserts GSI 4
//
// Reference: the 82093AA datasheet (section 3.2 registers, 3.2.4
// redirection table), Linux arch/x86/kernel/apic/io_apic.c, and KVM's
// arch/x86/kvm/ioapic.c for edge-while-masked and remote IRR behaviour.
// Pin levels are logical (asserted or not): the polarity bit is stored for
// the guest but does not invert the input, as in KVM.
//
// Thread-safety: one mutex; SetPin comes from device threads, register
// accesses from vCPUs, OnEoi from a vCPU's Lapic. Lock order: IoApic ->
// Lapic (delivery happens with the IoApic lock held); Lapics broadcast EOI
// without their own lock held.
#ifndef SKIFF_DEVICES_IRQCHIP_IOAPIC_H_
#define SKIFF_DEVICES_IRQCHIP_IOAPIC_H_

#include <array>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "devices/bus.h"
#include "devices/irqchip/apic_bus.h"

namespace skiff::devices {

class IoApic : public BusDevice, public EoiListener {
 public:
  static constexpr uint64_t kBaseAddress = 0xFEC00000;
  static constexpr uint64_t kSize = 0x1000;
  static constexpr uint32_t kPins = 24;
  // Version 0x20, maximum redirection entry 23.
  static constexpr uint32_t kVersion = 0x00170020;

  // `bus` must outlive the IoApic. All pins start masked.
  explicit IoApic(const ApicBus& bus) : bus_(bus) {}

  void Read(uint64_t offset, absl::Span<uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Drives input pin `pin` (ignored when >= kPins).
  void SetPin(uint32_t pin, bool asserted) ABSL_LOCKS_EXCLUDED(mu_);
  // A local APIC retired level-triggered `vector`.
  void OnEoi(uint8_t vector) override ABSL_LOCKS_EXCLUDED(mu_);

  // The 64-bit redirection entry of `pin`, for tests and debugging.
  uint64_t redirection(uint32_t pin) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  uint32_t ReadIndirect(uint32_t index) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteIndirect(uint32_t index, uint32_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Delivers `pin` if it is unmasked and has something to deliver.
  void Service(uint32_t pin) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EoiLocked(uint8_t vector) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ApicBus& bus_;

  mutable absl::Mutex mu_;
  uint32_t ioregsel_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t id_ ABSL_GUARDED_BY(mu_) = 0;  // bits 27:24 of register 0
  std::array<uint64_t, kPins> redirection_ ABSL_GUARDED_BY(mu_) = [] {
    std::array<uint64_t, kPins> entries;
    entries.fill(uint64_t{1} << 16);  // masked
    return entries;
  }();
  uint32_t levels_ ABSL_GUARDED_BY(mu_) = 0;  // current pin inputs
  // Edges seen but not yet delivered (e.g. while masked), per KVM.
  uint32_t edge_pending_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_IRQCHIP_IOAPIC_H_
