// RSDP, XSDT, FACS, FADT and MADT: the fixed-layout tables of tables.h.
#include <set>

#include "base/status_macros.h"
#include "vmm/acpi/sdt.h"
#include "vmm/acpi/tables.h"

namespace skiff::acpi {
namespace {

// FADT (ACPI 6.4 section 5.2.9, table 5.9) values.
constexpr uint8_t kFadtRevision = 6;  // the ACPI 6.0+ 276-byte layout
constexpr uint8_t kFadtMinorRevision = 0;
// Preferred_PM_Profile: 0 "Unspecified" (no desktop/server power policy).
constexpr uint8_t kPmProfileUnspecified = 0;
// P_LVL2_LAT > 100 and P_LVL3_LAT > 1000 say "C2/C3 not supported".
constexpr uint16_t kNoC2Latency = 101;
constexpr uint16_t kNoC3Latency = 1001;
constexpr uint8_t kCmosCenturyIndex = 0x32;  // devices/legacy/cmos_rtc.h
// IAPC_BOOT_ARCH (table 5.10).
constexpr uint16_t kBootArchLegacyDevices = 1 << 0;
constexpr uint16_t kBootArch8042 = 1 << 1;
constexpr uint16_t kBootArchVgaNotPresent = 1 << 2;
constexpr uint16_t kBootArchMsiNotSupported = 1 << 3;
constexpr uint16_t kBootArchCmosRtcNotPresent = 1 << 5;
// Fixed feature flags (table 5.11).
constexpr uint32_t kFlagWbinvd = 1 << 0;
constexpr uint32_t kFlagProcC1 = 1 << 2;
constexpr uint32_t kFlagPwrButton = 1 << 4;  // no fixed power button
constexpr uint32_t kFlagSlpButton = 1 << 5;  // no fixed sleep button
constexpr uint32_t kFlagFixRtc = 1 << 6;     // no RTC_STS wake status

// MADT (section 5.2.12).
constexpr uint8_t kMadtRevision = 5;
constexpr uint32_t kMadtPcatCompat = 1 << 0;  // dual 8259s present
constexpr uint8_t kMadtLocalApic = 0;
constexpr uint8_t kMadtIoApic = 1;
constexpr uint8_t kMadtIntSourceOverride = 2;
constexpr uint8_t kMadtLocalApicNmi = 4;
// MPS INTI flags (table 5.26): polarity bits 0-1, trigger mode bits 2-3.
constexpr uint16_t kIntiActiveHigh = 0x1;
constexpr uint16_t kIntiEdge = 0x1 << 2;
constexpr uint16_t kIntiLevel = 0x3 << 2;
constexpr uint8_t kAllProcessors = 0xff;

constexpr uint8_t kXsdtRevision = 1;
constexpr uint8_t kRsdpRevision = 2;
constexpr size_t kRsdpSize = 36;
constexpr size_t kRsdpV1Size = 20;
constexpr uint32_t kFacsSize = 64;
constexpr uint32_t kFacsVersion = 2;

void PutIso(TableWriter& t, uint8_t irq, uint32_t gsi, uint16_t flags) {
  t.U8(kMadtIntSourceOverride);
  t.U8(10);
  t.U8(0);  // bus: ISA
  t.U8(irq);
  t.U32(gsi);
  t.U16(flags);
}

}  // namespace

Bytes BuildRsdp(uint64_t xsdt_addr) {
  // Section 5.2.5.3.
  TableWriter t;
  t.Chars("RSD PTR ", 8);
  t.U8(0);  // checksum of the first 20 bytes
  t.Chars(kOemId, 6);
  t.U8(kRsdpRevision);
  t.U32(0);  // RsdtAddress: no RSDT, revision 2 OSes use the XSDT
  t.U32(kRsdpSize);
  t.U64(xsdt_addr);
  t.U8(0);  // extended checksum
  t.Zeros(3);
  Bytes b = t.Take();
  b[8] = Checksum(absl::MakeConstSpan(b.data(), kRsdpV1Size));
  b[32] = Checksum(b);
  return b;
}

Bytes BuildXsdt(absl::Span<const uint64_t> table_addrs) {
  TableWriter t = BeginSdt("XSDT", kXsdtRevision, "SKIFFXSD");
  for (uint64_t a : table_addrs) t.U64(a);
  return FinishSdt(std::move(t));
}

Bytes BuildFacs() {
  // Section 5.2.10: no checksum; 64-byte aligned by the writer. Needed by a
  // FADT that is not HW_REDUCED_ACPI (the global lock lives here).
  TableWriter t;
  t.Chars("FACS", 4);
  t.U32(kFacsSize);
  t.U32(0);  // hardware signature
  t.U32(0);  // firmware waking vector: S3 is not supported
  t.U32(0);  // global lock
  t.U32(0);  // flags: no S4BIOS, no 64-bit wake
  t.U64(0);  // X firmware waking vector
  t.U8(kFacsVersion);
  t.Zeros(3);
  t.U32(0);  // OSPM flags
  t.Zeros(24);
  return t.Take();
}

Bytes BuildFadt(const PlatformConfig& config, uint64_t facs_addr,
                uint64_t dsdt_addr) {
  using devices::AcpiPm;
  const uint64_t evt = config.pm_port_base + AcpiPm::kPm1EventOffset;
  const uint64_t cnt = config.pm_port_base + AcpiPm::kPm1ControlOffset;
  TableWriter t = BeginSdt("FACP", kFadtRevision, "SKIFFFAC");
  t.U32(static_cast<uint32_t>(facs_addr));  // FIRMWARE_CTRL
  t.U32(static_cast<uint32_t>(dsdt_addr));  // DSDT
  t.U8(0);                                  // reserved (was INT_MODEL)
  t.U8(kPmProfileUnspecified);
  t.U16(static_cast<uint16_t>(kSciIrq));
  // SMI_CMD 0: no SMM, the platform is always in ACPI mode (SCI_EN is 1),
  // so ACPI_ENABLE/ACPI_DISABLE/S4BIOS_REQ/PSTATE_CNT are 0 too.
  t.U32(0);
  t.U8(0);
  t.U8(0);
  t.U8(0);
  t.U8(0);
  t.U32(static_cast<uint32_t>(evt));  // PM1a_EVT_BLK
  t.U32(0);                           // PM1b_EVT_BLK
  t.U32(static_cast<uint32_t>(cnt));  // PM1a_CNT_BLK
  t.U32(0);                           // PM1b_CNT_BLK
  t.U32(0);                           // PM2_CNT_BLK
  t.U32(0);  // PM_TMR_BLK: optional since ACPI 5.0A; Linux then uses TSC/HPET
  t.U32(0);  // GPE0_BLK
  t.U32(0);  // GPE1_BLK
  t.U8(AcpiPm::kPm1EventLength);
  t.U8(AcpiPm::kPm1ControlLength);
  t.U8(0);  // PM2_CNT_LEN
  t.U8(0);  // PM_TMR_LEN
  t.U8(0);  // GPE0_BLK_LEN
  t.U8(0);  // GPE1_BLK_LEN
  t.U8(0);  // GPE1_BASE
  t.U8(0);  // CST_CNT
  t.U16(kNoC2Latency);
  t.U16(kNoC3Latency);
  t.U16(0);  // FLUSH_SIZE
  t.U16(0);  // FLUSH_STRIDE
  t.U8(0);   // DUTY_OFFSET
  t.U8(0);   // DUTY_WIDTH
  t.U8(0);   // DAY_ALRM
  t.U8(0);   // MON_ALRM
  t.U8(config.has_rtc ? kCmosCenturyIndex : 0);
  uint16_t boot_arch = kBootArchVgaNotPresent | kBootArchMsiNotSupported;
  if (config.has_serial || config.has_i8042 || config.has_rtc) {
    boot_arch |= kBootArchLegacyDevices;
  }
  if (config.has_i8042) boot_arch |= kBootArch8042;
  if (!config.has_rtc) boot_arch |= kBootArchCmosRtcNotPresent;
  t.U16(boot_arch);
  t.U8(0);  // reserved
  t.U32(kFlagWbinvd | kFlagProcC1 | kFlagPwrButton | kFlagSlpButton |
        kFlagFixRtc);
  PutNullGas(t);  // RESET_REG: not supported (no RESET_REG_SUP flag)
  t.U8(0);        // RESET_VALUE
  t.U16(0);       // ARM_BOOT_ARCH
  t.U8(kFadtMinorRevision);
  t.U64(facs_addr);  // X_FIRMWARE_CTRL
  t.U64(dsdt_addr);  // X_DSDT
  PutGas(t, GasSpace::kSystemIo, AcpiPm::kPm1EventLength * 8, GasAccess::kWord,
         evt);    // X_PM1a_EVT_BLK
  PutNullGas(t);  // X_PM1b_EVT_BLK
  PutGas(t, GasSpace::kSystemIo, AcpiPm::kPm1ControlLength * 8,
         GasAccess::kWord, cnt);  // X_PM1a_CNT_BLK
  PutNullGas(t);                  // X_PM1b_CNT_BLK
  PutNullGas(t);                  // X_PM2_CNT_BLK
  PutNullGas(t);                  // X_PM_TMR_BLK
  PutNullGas(t);                  // X_GPE0_BLK
  PutNullGas(t);                  // X_GPE1_BLK
  PutNullGas(t);                  // SLEEP_CONTROL_REG (HW-reduced only)
  PutNullGas(t);                  // SLEEP_STATUS_REG
  t.Chars("SKIFF", 8, '\0');      // hypervisor vendor identity
  return FinishSdt(std::move(t));
}

absl::StatusOr<Bytes> BuildMadt(const PlatformConfig& config) {
  SKIFF_RETURN_IF_ERROR(ValidatePlatformConfig(config));
  TableWriter t = BeginSdt("APIC", kMadtRevision, "SKIFFAPC");
  t.U32(static_cast<uint32_t>(kLocalApicAddr));
  t.U32(kMadtPcatCompat);
  for (int i = 0; i < config.num_vcpus; ++i) {
    t.U8(kMadtLocalApic);
    t.U8(8);
    t.U8(static_cast<uint8_t>(i));  // ACPI processor UID
    t.U8(static_cast<uint8_t>(i));  // APIC id
    t.U32(1);                       // enabled
  }
  t.U8(kMadtIoApic);
  t.U8(12);
  t.U8(static_cast<uint8_t>(config.num_vcpus));  // IOAPIC id
  t.U8(0);
  t.U32(static_cast<uint32_t>(kIoapicAddr));
  t.U32(0);  // GSI base
  if (config.irq0_gsi != 0) {
    PutIso(t, 0, config.irq0_gsi, kIntiActiveHigh | kIntiEdge);
  }
  PutIso(t, kSciIrq, kSciIrq, kIntiActiveHigh | kIntiLevel);
  if (config.virtio_level_triggered) {
    std::set<uint32_t> level_isa;
    for (const VirtioMmioDevice& d : config.virtio) {
      if (d.gsi < 16) level_isa.insert(d.gsi);
    }
    for (uint32_t gsi : level_isa) {
      PutIso(t, static_cast<uint8_t>(gsi), gsi, kIntiActiveHigh | kIntiLevel);
    }
  }
  t.U8(kMadtLocalApicNmi);
  t.U8(6);
  t.U8(kAllProcessors);
  t.U16(0);  // flags: conforming
  t.U8(1);   // LINT1
  return FinishSdt(std::move(t));
}

}  // namespace skiff::acpi
