// The Intel MultiProcessor Specification 1.4 table (chapter 4): a floating
// pointer structure and a configuration table listing the processors, the
// ISA bus, the IOAPIC and how ISA IRQs reach it. Linux reads it
// (arch/x86/kernel/mpparse.c) when it has no ACPI MADT (acpi=off, or a
// kernel built without ACPI); with ACPI tables present the MADT wins.
//
//   SKIFF_RETURN_IF_ERROR(WriteMpTable(memory, /*num_vcpus=*/2,
//                                      boot::kMpTableAddr));
//
// Everything goes in the 1 KiB EBDA at 0x9fc00 (boot::kMpTableAddr), the
// second place Linux's smp_scan_config() looks, and already reserved in the
// e820 map, so nothing else needs passing to the loader. That caps the vCPU
// count at kMaxMpTableVcpus (20 bytes per processor entry); past it the
// write fails and the VMM should rely on ACPI alone.
//
// Interrupt assignments: ISA IRQ0 -> IOAPIC pin irq0_pin (2, as on PC
// hardware and in the MADT's override; then ISA IRQ2, the cascade, is not
// listed), every other ISA IRQ to the pin of the same number, all
// "conforming" (edge, active-high). ExtINT on LINT0 of the BSP, NMI on
// LINT1 of every CPU.
#ifndef SKIFF_VMM_ACPI_MPTABLE_H_
#define SKIFF_VMM_ACPI_MPTABLE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/guest_memory.h"
#include "vmm/acpi/sdt.h"

namespace skiff::acpi {

inline constexpr uint64_t kMpTableAreaSize = 1024;  // the EBDA's first KiB
inline constexpr int kMaxMpTableVcpus = 40;
inline constexpr uint8_t kMpIoapicVersion = 0x11;  // KVM's IOAPIC version
inline constexpr uint8_t kMpLapicVersion = 0x14;   // integrated xAPIC

struct MpTableConfig {
  int num_vcpus = 1;
  // IOAPIC pin of ISA IRQ0 (the PIT): 2, or 0 with KVM's default routing.
  uint8_t irq0_pin = 2;
  // GSIs 16-23 to list as ISA IRQs n -> pin n (as Firecracker does), so a
  // kernel without ACPI maps them for virtio_mmio.device= devices. Each
  // costs 8 bytes of the 1 KiB.
  std::vector<uint8_t> extra_irqs;
};

// The table's bytes, with `addr` the guest-physical address it will live
// at (the floating pointer's physptr points just past itself).
absl::StatusOr<Bytes> BuildMpTable(const MpTableConfig& config, uint64_t addr);

absl::Status WriteMpTable(const GuestMemory& memory,
                          const MpTableConfig& config, uint64_t addr);
absl::Status WriteMpTable(const GuestMemory& memory, int num_vcpus,
                          uint64_t addr);

}  // namespace skiff::acpi

#endif  // SKIFF_VMM_ACPI_MPTABLE_H_
