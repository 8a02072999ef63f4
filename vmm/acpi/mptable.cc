#include "vmm/acpi/mptable.h"

#include <set>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "vmm/acpi/tables.h"

namespace skiff::acpi {
namespace {

// MP spec 1.4 section 4.1 and 4.2.
constexpr uint8_t kSpecRev = 4;
constexpr size_t kFloatingPointerSize = 16;
constexpr size_t kConfigHeaderSize = 44;
constexpr size_t kChecksumOffsetFloating = 10;
constexpr size_t kConfigLengthOffset = 4;
constexpr size_t kConfigChecksumOffset = 7;
constexpr size_t kEntryCountOffset = 34;

// Entry types (section 4.3, table 4-3) and sizes.
constexpr uint8_t kProcessor = 0;
constexpr uint8_t kBus = 1;
constexpr uint8_t kIoApic = 2;
constexpr uint8_t kIoInterrupt = 3;
constexpr uint8_t kLocalInterrupt = 4;
constexpr size_t kProcessorSize = 20;
constexpr size_t kOtherEntrySize = 8;

constexpr uint8_t kCpuEnabled = 1 << 0;
constexpr uint8_t kCpuBootstrap = 1 << 1;
// CPU signature: family 6 (the stepping/model fields are informational).
constexpr uint32_t kCpuSignature = 0x600;
// Feature flags (CPUID.1:EDX): FPU (bit 0) and APIC (bit 9).
constexpr uint32_t kCpuFeatures = (1 << 0) | (1 << 9);
constexpr uint8_t kIoApicEnabled = 1;
// Interrupt types (table 4-9).
constexpr uint8_t kIntInt = 0;
constexpr uint8_t kIntNmi = 1;
constexpr uint8_t kIntExtInt = 3;
constexpr uint16_t kFlagsConforming = 0;
constexpr uint8_t kIsaBusId = 0;
constexpr uint8_t kAllLapics = 0xff;

size_t TableSize(const MpTableConfig& c, int isa_entries) {
  return kFloatingPointerSize + kConfigHeaderSize +
         kProcessorSize * static_cast<size_t>(c.num_vcpus) +
         kOtherEntrySize * (2 + isa_entries + c.extra_irqs.size() + 2);
}

}  // namespace

absl::StatusOr<Bytes> BuildMpTable(const MpTableConfig& config, uint64_t addr) {
  if (config.num_vcpus < 1 || config.num_vcpus > kMaxMpTableVcpus) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mptable: %d vCPUs: the 1 KiB EBDA holds 1 to %d (use ACPI alone "
        "for more)",
        config.num_vcpus, kMaxMpTableVcpus));
  }
  if (config.irq0_pin != 0 && config.irq0_pin != 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mptable: irq0_pin %u: must be 0 or 2", config.irq0_pin));
  }
  std::set<uint8_t> extra;
  for (uint8_t irq : config.extra_irqs) {
    if (irq < 16 || irq >= kIoapicPins || !extra.insert(irq).second) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "mptable: extra irq %u must be a distinct GSI in 16-%u", irq,
          kIoapicPins - 1));
    }
  }
  // Pin 2 takes IRQ0, so the cascade IRQ2 is left out.
  const int isa_entries = config.irq0_pin == 2 ? 15 : 16;
  const size_t total = TableSize(config, isa_entries);
  if (total > kMpTableAreaSize) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "mptable: %d bytes for %d vCPUs and %d extra IRQs exceed the %d-byte "
        "EBDA",
        total, config.num_vcpus, config.extra_irqs.size(), kMpTableAreaSize));
  }
  if (addr + total > (uint64_t{1} << 32) || addr + total < addr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mptable: address 0x%x is not below 4 GiB", addr));
  }
  const uint8_t ioapic_id = static_cast<uint8_t>(config.num_vcpus);

  TableWriter t;
  // Floating pointer structure (section 4.1).
  t.Chars("_MP_", 4);
  t.U32(static_cast<uint32_t>(addr + kFloatingPointerSize));
  t.U8(1);  // length in 16-byte units
  t.U8(kSpecRev);
  t.U8(0);  // checksum
  t.U8(0);  // feature 1: a configuration table is present
  t.U8(0);  // feature 2: no IMCR, virtual wire mode
  t.Zeros(3);

  // Configuration table header (section 4.2).
  const size_t base = t.size();
  t.Chars("PCMP", 4);
  t.U16(0);  // base table length, filled in below
  t.U8(kSpecRev);
  t.U8(0);  // checksum
  t.Chars("SKIFF", 8);
  t.Chars("MICROVM", 12);
  t.U32(0);  // OEM table pointer
  t.U16(0);  // OEM table size
  t.U16(0);  // entry count, filled in below
  t.U32(static_cast<uint32_t>(kLocalApicAddr));
  t.U16(0);  // extended table length
  t.U8(0);   // extended table checksum
  t.U8(0);
  uint16_t entries = 0;

  for (int i = 0; i < config.num_vcpus; ++i) {
    t.U8(kProcessor);
    t.U8(static_cast<uint8_t>(i));
    t.U8(kMpLapicVersion);
    t.U8(kCpuEnabled | (i == 0 ? kCpuBootstrap : 0));
    t.U32(kCpuSignature);
    t.U32(kCpuFeatures);
    t.Zeros(8);
    ++entries;
  }
  t.U8(kBus);
  t.U8(kIsaBusId);
  t.Chars("ISA", 6);
  ++entries;
  t.U8(kIoApic);
  t.U8(ioapic_id);
  t.U8(kMpIoapicVersion);
  t.U8(kIoApicEnabled);
  t.U32(static_cast<uint32_t>(kIoapicAddr));
  ++entries;
  auto io_int = [&](uint8_t irq, uint8_t pin) {
    t.U8(kIoInterrupt);
    t.U8(kIntInt);
    t.U16(kFlagsConforming);
    t.U8(kIsaBusId);
    t.U8(irq);
    t.U8(ioapic_id);
    t.U8(pin);
    ++entries;
  };
  for (uint8_t irq = 0; irq < 16; ++irq) {
    if (irq == 0) {
      io_int(0, config.irq0_pin);
    } else if (irq == 2 && config.irq0_pin == 2) {
      continue;
    } else {
      io_int(irq, irq);
    }
  }
  for (uint8_t irq : config.extra_irqs) io_int(irq, irq);
  auto local_int = [&](uint8_t type, uint8_t dest, uint8_t lint) {
    t.U8(kLocalInterrupt);
    t.U8(type);
    t.U16(kFlagsConforming);
    t.U8(kIsaBusId);
    t.U8(0);
    t.U8(dest);
    t.U8(lint);
    ++entries;
  };
  local_int(kIntExtInt, 0, 0);
  local_int(kIntNmi, kAllLapics, 1);

  const size_t config_len = t.size() - base;
  t.PutU16At(base + kConfigLengthOffset, static_cast<uint16_t>(config_len));
  t.PutU16At(base + kEntryCountOffset, entries);
  Bytes out = t.Take();
  out[base + kConfigChecksumOffset] =
      Checksum(absl::MakeConstSpan(out.data() + base, config_len));
  out[kChecksumOffsetFloating] =
      Checksum(absl::MakeConstSpan(out.data(), kFloatingPointerSize));
  return out;
}

absl::Status WriteMpTable(const GuestMemory& memory,
                          const MpTableConfig& config, uint64_t addr) {
  SKIFF_ASSIGN_OR_RETURN(Bytes table, BuildMpTable(config, addr));
  if (addr % 16 != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mptable: address 0x%x is not 16-byte aligned", addr));
  }
  return memory.Write(GuestAddr(addr), table);
}

absl::Status WriteMpTable(const GuestMemory& memory, int num_vcpus,
                          uint64_t addr) {
  MpTableConfig config;
  config.num_vcpus = num_vcpus;
  return WriteMpTable(memory, config, addr);
}

}  // namespace skiff::acpi
