#include "vmm/acpi/tables.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "vmm/boot/layout.h"

namespace skiff::acpi {
namespace {

constexpr uint64_t k4GiB = uint64_t{1} << 32;

struct PortRange {
  uint16_t base;
  uint16_t len;
  const char* what;
};
// Legacy ports skiff emulates or deliberately ignores; the PM block must not
// overlap them.
constexpr PortRange kLegacyPorts[] = {
    {0x20, 2, "master PIC"},    {0x40, 4, "PIT"},
    {0x60, 5, "i8042/port 61"}, {0x70, 2, "CMOS"},
    {0x80, 1, "POST"},          {0xa0, 2, "slave PIC"},
    {0xed, 1, "io delay"},      {0xf4, 4, "debug-exit"},
    {0x3f8, 8, "COM1"},         {0x4d0, 2, "ELCR"},
};

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

absl::Status Invalid(const std::string& msg) {
  return absl::InvalidArgumentError(absl::StrCat("acpi: ", msg));
}

absl::Status ValidateVirtio(const PlatformConfig& config) {
  if (config.virtio.size() > static_cast<size_t>(kMaxVirtioDevices)) {
    return Invalid(
        absl::StrFormat("%d virtio-mmio devices exceed the limit "
                        "of %d",
                        config.virtio.size(), kMaxVirtioDevices));
  }
  std::set<uint32_t> taken = {0, 2, config.irq0_gsi, kSciIrq};
  if (config.has_serial) taken.insert(kSerialIrq);
  if (config.has_i8042) taken.insert(kI8042Irq);
  if (config.has_rtc) taken.insert(kRtcIrq);
  std::set<uint32_t> seen;
  std::vector<std::pair<uint64_t, uint64_t>> windows;
  for (size_t i = 0; i < config.virtio.size(); ++i) {
    const VirtioMmioDevice& d = config.virtio[i];
    if (d.size == 0 || d.addr + d.size < d.addr) {
      return Invalid(absl::StrFormat(
          "virtio-mmio device %d window at 0x%x size 0x%x is empty or wraps", i,
          d.addr, d.size));
    }
    if (d.addr + d.size > k4GiB && d.addr < k4GiB) {
      return Invalid(absl::StrFormat(
          "virtio-mmio device %d window at 0x%x size 0x%x crosses 4 GiB", i,
          d.addr, d.size));
    }
    if (d.gsi >= kIoapicPins) {
      return Invalid(absl::StrFormat(
          "virtio-mmio device %d gsi %u is past the IOAPIC's %u pins", i, d.gsi,
          kIoapicPins));
    }
    if (taken.count(d.gsi)) {
      return Invalid(absl::StrFormat(
          "virtio-mmio device %d gsi %u is used by a legacy device (timer, "
          "cascade, SCI 9, COM1 4, i8042 1 or RTC 8)",
          i, d.gsi));
    }
    if (!config.virtio_level_triggered && !seen.insert(d.gsi).second) {
      return Invalid(absl::StrFormat(
          "virtio-mmio device %d shares edge-triggered gsi %u (only level "
          "GSIs can be shared)",
          i, d.gsi));
    }
    windows.emplace_back(d.addr, d.addr + d.size);
  }
  std::sort(windows.begin(), windows.end());
  for (size_t i = 1; i < windows.size(); ++i) {
    if (windows[i].first < windows[i - 1].second) {
      return Invalid(
          absl::StrFormat("virtio-mmio windows at 0x%x and 0x%x overlap",
                          windows[i - 1].first, windows[i].first));
    }
  }
  return absl::OkStatus();
}

// [start, end) minus the legacy hole the e820 builder always reserves.
std::vector<boot::E820Entry> OutsideLegacyHole(uint64_t start, uint64_t end) {
  std::vector<boot::E820Entry> out;
  auto add = [&](uint64_t a, uint64_t b) {
    if (a < b) out.push_back({a, b - a, boot::E820Type::kAcpi});
  };
  add(start, std::min(end, boot::kEbdaStart));
  add(std::max(start, boot::kHighMemStart), end);
  return out;
}

}  // namespace

absl::Status ValidatePlatformConfig(const PlatformConfig& config) {
  if (config.num_vcpus < 1 || config.num_vcpus > kMaxAcpiVcpus) {
    return Invalid(absl::StrFormat(
        "%d vCPUs: the MADT describes 1 to %d (8-bit xAPIC ids, the IOAPIC "
        "takes id num_vcpus)",
        config.num_vcpus, kMaxAcpiVcpus));
  }
  if (config.irq0_gsi != 0 && config.irq0_gsi != 2) {
    return Invalid(
        absl::StrFormat("irq0_gsi %u: must be 0 or 2", config.irq0_gsi));
  }
  if (config.s5_sleep_type > 7) {
    return Invalid(absl::StrFormat("S5 SLP_TYP %u does not fit 3 bits",
                                   config.s5_sleep_type));
  }
  uint32_t pm_end = uint32_t{config.pm_port_base} +
                    static_cast<uint32_t>(devices::AcpiPm::kPortCount);
  if (config.pm_port_base == 0 || pm_end > 0x10000) {
    return Invalid(absl::StrFormat("PM port base 0x%x is not a usable port",
                                   config.pm_port_base));
  }
  for (const PortRange& r : kLegacyPorts) {
    if (config.pm_port_base < r.base + r.len && r.base < pm_end) {
      return Invalid(
          absl::StrFormat("PM ports [0x%x, 0x%x) overlap the %s ports at 0x%x",
                          config.pm_port_base, pm_end, r.what, r.base));
    }
  }
  return ValidateVirtio(config);
}

absl::StatusOr<AcpiLayout> WriteAcpiTables(const GuestMemory& memory,
                                           const PlatformConfig& config,
                                           uint64_t base_addr) {
  SKIFF_RETURN_IF_ERROR(ValidatePlatformConfig(config));
  if (base_addr % 16 != 0 || base_addr == 0 || base_addr >= k4GiB) {
    return Invalid(absl::StrFormat(
        "table base 0x%x must be non-zero, 16-byte aligned and below 4 GiB",
        base_addr));
  }
  AcpiLayout layout;
  layout.start = base_addr;
  layout.rsdp_addr = base_addr;
  layout.xsdt_addr = AlignUp(base_addr + 36, 16);
  // Two tables in the XSDT: FADT and MADT (the DSDT and FACS hang off the
  // FADT).
  layout.facs_addr = AlignUp(layout.xsdt_addr + kSdtHeaderSize + 2 * 8, 64);
  Bytes facs = BuildFacs();
  layout.fadt_addr = AlignUp(layout.facs_addr + facs.size(), 16);
  // The FADT's size does not depend on the addresses in it.
  const uint64_t fadt_size = BuildFadt(config, 0, 0).size();
  layout.madt_addr = AlignUp(layout.fadt_addr + fadt_size, 16);
  SKIFF_ASSIGN_OR_RETURN(Bytes madt, BuildMadt(config));
  layout.dsdt_addr = AlignUp(layout.madt_addr + madt.size(), 16);
  SKIFF_ASSIGN_OR_RETURN(Bytes dsdt, BuildDsdt(config));
  layout.end = layout.dsdt_addr + dsdt.size();

  const uint64_t limit =
      base_addr < boot::kHighMemStart ? boot::kHighMemStart : k4GiB;
  if (layout.end > limit) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "acpi: tables for %d vCPUs and %d virtio devices need 0x%x bytes "
        "from 0x%x, past 0x%x",
        config.num_vcpus, config.virtio.size(), layout.end - base_addr,
        base_addr, limit));
  }
  if (!memory.Contains(GuestAddr(base_addr), layout.end - base_addr)) {
    return Invalid(absl::StrFormat(
        "tables [0x%x, 0x%x) are not inside one guest RAM region", base_addr,
        layout.end));
  }

  const uint64_t xsdt_entries[] = {layout.fadt_addr, layout.madt_addr};
  const Bytes xsdt = BuildXsdt(xsdt_entries);
  const Bytes fadt = BuildFadt(config, layout.facs_addr, layout.dsdt_addr);
  const Bytes rsdp = BuildRsdp(layout.xsdt_addr);
  SKIFF_RETURN_IF_ERROR(
      memory.Fill(GuestAddr(base_addr), 0, layout.end - base_addr));
  const std::pair<uint64_t, const Bytes*> writes[] = {
      {layout.rsdp_addr, &rsdp}, {layout.xsdt_addr, &xsdt},
      {layout.facs_addr, &facs}, {layout.fadt_addr, &fadt},
      {layout.madt_addr, &madt}, {layout.dsdt_addr, &dsdt},
  };
  for (const auto& [addr, bytes] : writes) {
    SKIFF_RETURN_IF_ERROR(memory.Write(GuestAddr(addr), *bytes));
  }
  layout.e820_reserved = OutsideLegacyHole(layout.start, layout.end);
  return layout;
}

}  // namespace skiff::acpi
