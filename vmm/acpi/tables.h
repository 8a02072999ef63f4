// The ACPI tables skiff writes for a firmware-less x86 boot (ACPI 6.4
// chapter 5): RSDP (revision 2) -> XSDT -> FADT (-> FACS, DSDT) and MADT.
// They describe the platform the VMM built: vCPUs (local APICs), one IOAPIC,
// the legacy ISA devices, the ACPI PM registers used for power-off
// (devices/acpi/acpi_pm.h) and the virtio-mmio devices (LNRO0005), so Linux
// finds them without a virtio_mmio.device= command line.
//
//   PlatformConfig config;
//   config.num_vcpus = 2;
//   config.virtio.push_back({0xd0000000, 0x1000, 5});
//   SKIFF_ASSIGN_OR_RETURN(AcpiLayout acpi,
//       WriteAcpiTables(memory, config, boot::kAcpiTablesAddr));
//   options.rsdp_addr = acpi.rsdp_addr;           // boot_params / PVH
//   options.extra_reserved = acpi.e820_reserved;  // empty below 1 MiB
//
// The RSDP is written at `base_addr`: at 0xe0000 (kAcpiTablesAddr) an OS
// that scans the BIOS area [0xe0000, 0x100000) finds it even when no
// rsdp_addr is passed. The other tables follow it; everything must fit in
// one RAM region, and below 1 MiB must end by 1 MiB (the kernel's default
// load address). Addresses in the tables are 32-bit where the format only
// has 32-bit fields (FADT FIRMWARE_CTRL/DSDT), so base_addr must be below
// 4 GiB.
//
// Interrupt routing the tables promise (the VMM must wire it so):
//   IRQ0 (PIT)  -> GSI irq0_gsi (default 2: the PIT on IOAPIC pin 2, as on
//                  PC hardware and QEMU; KVM's default routing puts GSI 0 on
//                  pin 0, so either install that route or set irq0_gsi = 0)
//   IRQ1 i8042, IRQ4 COM1, IRQ8 RTC: ISA default (edge, active-high)
//   IRQ9 SCI    -> GSI 9, level, active-high (never asserted by AcpiPm)
//   virtio      -> its gsi: level/active-high by default (the line follows
//                  InterruptStatus != 0, virtio 1.2 section 4.2.2; QEMU
//                  microvm does the same), or edge/active-high when the VMM
//                  injects edges (irqfd without resample, as Firecracker
//                  does). Level GSIs below 16 also get a MADT interrupt
//                  source override: Linux sets ISA IRQs 0-15 up as edge
//                  (MPS default) before it reads any _CRS, and the
//                  override makes the pin level from the start.
#ifndef SKIFF_VMM_ACPI_TABLES_H_
#define SKIFF_VMM_ACPI_TABLES_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "devices/acpi/acpi_pm.h"
#include "vmm/acpi/sdt.h"
#include "vmm/boot/e820.h"

namespace skiff::acpi {

// xAPIC ids are 8 bits and 0xff is the broadcast id; the IOAPIC takes id
// num_vcpus, so at most 254 vCPUs.
inline constexpr int kMaxAcpiVcpus = 254;
// Device names are V000-V0FF (DSDT) and _UIDs 0-255.
inline constexpr int kMaxVirtioDevices = 256;
// Pins of the IOAPIC (KVM's in-kernel one and skiff's userspace one).
inline constexpr uint32_t kIoapicPins = 24;
inline constexpr uint64_t kLocalApicAddr = 0xfee00000;
inline constexpr uint64_t kIoapicAddr = 0xfec00000;
inline constexpr uint32_t kSciIrq = 9;
inline constexpr uint32_t kSerialIrq = 4;
inline constexpr uint32_t kI8042Irq = 1;
inline constexpr uint32_t kRtcIrq = 8;

struct VirtioMmioDevice {
  uint64_t addr = 0;
  uint64_t size = 0x1000;
  uint32_t gsi = 0;
};

struct PlatformConfig {
  int num_vcpus = 1;
  std::vector<VirtioMmioDevice> virtio;
  // How virtio GSIs are driven: true for a level line (IrqLine::SetLevel
  // following InterruptStatus), false for edges (irqfd). Several devices may
  // share a level GSI (Linux's virtio_mmio requests IRQF_SHARED); edge GSIs
  // must be distinct.
  bool virtio_level_triggered = true;
  bool has_serial = true;  // 8250 COM1 at 0x3f8, IRQ 4
  bool has_i8042 = true;   // i8042 at 0x60/0x64, IRQ 1
  bool has_rtc = true;     // CMOS RTC at 0x70/0x71, IRQ 8
  uint16_t pm_port_base = devices::AcpiPm::kDefaultPortBase;
  uint8_t s5_sleep_type = devices::AcpiPm::kS5SleepType;
  // The GSI the PIT's IRQ0 arrives on: 2 or 0 (see the header comment).
  uint32_t irq0_gsi = 2;
};

// Where each table landed (guest-physical addresses).
struct AcpiLayout {
  uint64_t rsdp_addr = 0;
  uint64_t xsdt_addr = 0;
  uint64_t fadt_addr = 0;
  uint64_t facs_addr = 0;
  uint64_t madt_addr = 0;
  uint64_t dsdt_addr = 0;
  // [start, end): every byte written.
  uint64_t start = 0;
  uint64_t end = 0;
  // The part of [start, end) the e820 map does not already reserve (the
  // legacy hole [0x9fc00, 1 MiB) always is), as E820Type::kAcpi: pass as
  // boot::LoadOptions::extra_reserved. Empty for tables at 0xe0000.
  std::vector<boot::E820Entry> e820_reserved;
};

// Checks the configuration alone: vCPU count, GSIs in range and not taken
// by a legacy device, virtio windows below 4 GiB... (as InvalidArgument).
absl::Status ValidatePlatformConfig(const PlatformConfig& config);

// Writes every table at `base_addr` (16-byte aligned, below 4 GiB).
absl::StatusOr<AcpiLayout> WriteAcpiTables(const GuestMemory& memory,
                                           const PlatformConfig& config,
                                           uint64_t base_addr);

// The individual tables, complete and checksummed (for tests and for the
// writer above). Each takes the addresses it points at.
Bytes BuildRsdp(uint64_t xsdt_addr);
Bytes BuildXsdt(absl::Span<const uint64_t> table_addrs);
Bytes BuildFacs();
Bytes BuildFadt(const PlatformConfig& config, uint64_t facs_addr,
                uint64_t dsdt_addr);
absl::StatusOr<Bytes> BuildMadt(const PlatformConfig& config);
absl::StatusOr<Bytes> BuildDsdt(const PlatformConfig& config);

}  // namespace skiff::acpi

#endif  // SKIFF_VMM_ACPI_TABLES_H_
