// The DSDT of tables.h: \_S5 and the devices under \_SB.
#include <string>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "vmm/acpi/aml.h"
#include "vmm/acpi/sdt.h"
#include "vmm/acpi/tables.h"

namespace skiff::acpi {
namespace {

// Revision 2: integers are 64 bits (section 5.2.11.1).
constexpr uint8_t kDsdtRevision = 2;
constexpr uint16_t kSerialPort = 0x3f8;
constexpr uint8_t kSerialPorts = 8;

// How many virtio devices use each GSI, to mark shared ones.
std::vector<int> GsiUsers(const PlatformConfig& config) {
  std::vector<int> users(kIoapicPins, 0);
  for (const VirtioMmioDevice& d : config.virtio) {
    if (d.gsi < kIoapicPins) ++users[d.gsi];
  }
  return users;
}

aml::Aml VirtioDevice(const VirtioMmioDevice& d, int index, bool level,
                      bool shared) {
  absl::StatusOr<aml::NameString> name =
      aml::NameString::Parse(absl::StrFormat("V%03X", index));
  if (!name.ok()) return aml::Aml::Error(name.status());
  aml::Aml window;
  if (d.addr + d.size <= (uint64_t{1} << 32)) {
    window = aml::Memory32Fixed(true, static_cast<uint32_t>(d.addr),
                                static_cast<uint32_t>(d.size));
  } else {
    window = aml::QWordMemory(/*consumer=*/true, d.addr, d.size);
  }
  return aml::Device(
      *name,
      {
          // Linux's drivers/virtio/virtio_mmio.c matches "LNRO0005" in its
          // ACPI id table.
          aml::Name("_HID", aml::String("LNRO0005")),
          aml::Name("_UID", aml::Integer(static_cast<uint64_t>(index))),
          aml::Name("_CCA", aml::One()),  // DMA is cache-coherent
          aml::Name("_CRS", aml::ResourceTemplate(
                                {window, aml::ExtendedInterrupt(
                                             d.gsi, {.edge = !level,
                                                     .active_low = false,
                                                     .shared = shared})})),
      });
}

}  // namespace

absl::StatusOr<Bytes> BuildDsdt(const PlatformConfig& config) {
  SKIFF_RETURN_IF_ERROR(ValidatePlatformConfig(config));
  aml::AmlList sb;
  if (config.has_serial) {
    sb.push_back(aml::Device(
        "COM1", {
                    aml::Name("_HID", aml::EisaId("PNP0501")),  // 16550A UART
                    aml::Name("_UID", aml::Zero()),
                    aml::Name("_CRS", aml::ResourceTemplate(
                                          {aml::Io(kSerialPort, kSerialPort,
                                                   0x01, kSerialPorts),
                                           aml::IrqNoFlags(kSerialIrq)})),
                }));
  }
  if (config.has_i8042) {
    sb.push_back(aml::Device(
        "PS2K", {
                    aml::Name("_HID", aml::EisaId("PNP0303")),  // PS/2 keyboard
                    aml::Name("_CRS", aml::ResourceTemplate(
                                          {aml::Io(0x60, 0x60, 0x01, 1),
                                           aml::Io(0x64, 0x64, 0x01, 1),
                                           aml::IrqNoFlags(kI8042Irq)})),
                }));
  }
  if (config.has_rtc) {
    sb.push_back(aml::Device(
        "RTC", {
                   aml::Name("_HID", aml::EisaId("PNP0B00")),  // AT RTC
                   aml::Name("_CRS", aml::ResourceTemplate(
                                         {aml::Io(0x70, 0x70, 0x01, 2),
                                          aml::IrqNoFlags(kRtcIrq)})),
               }));
  }
  std::vector<int> users = GsiUsers(config);
  for (size_t i = 0; i < config.virtio.size(); ++i) {
    const VirtioMmioDevice& d = config.virtio[i];
    sb.push_back(VirtioDevice(d, static_cast<int>(i),
                              config.virtio_level_triggered, users[d.gsi] > 1));
  }

  aml::Aml body;
  // \_S5: SLP_TYP for PM1a and PM1b, then two reserved values (section
  // 7.4.2). The value is what AcpiPm treats as soft-off.
  body.Append(aml::Name(
      "\\_S5", aml::Package({aml::Integer(config.s5_sleep_type), aml::Zero(),
                             aml::Zero(), aml::Zero()})));
  body.Append(aml::Scope("\\_SB", sb));
  SKIFF_ASSIGN_OR_RETURN(aml::Bytes aml_bytes, body.Finish());

  TableWriter t = BeginSdt("DSDT", kDsdtRevision, "SKIFFDSD");
  t.Append(aml_bytes);
  return FinishSdt(std::move(t));
}

}  // namespace skiff::acpi
