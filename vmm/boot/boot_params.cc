#include "vmm/boot/boot_params.h"

#include "absl/strings/str_format.h"
#include "vmm/boot/layout.h"

namespace skiff::boot {

SetupHeader DefaultSetupHeader() {
  SetupHeader hdr{};
  hdr.boot_flag = kBootFlag;
  hdr.header = kSetupHeaderMagic;
  hdr.version = 0x020f;
  hdr.loadflags = kLoadedHigh;
  hdr.initrd_addr_max = kDefaultInitrdAddrMax;
  hdr.kernel_alignment = 0x200000;
  hdr.relocatable_kernel = 0;
  hdr.xloadflags = kXlfKernel64;
  hdr.cmdline_size = kCmdlineMax;
  return hdr;
}

absl::Status FillBootParams(BootParams& params, const BootParamsInfo& info) {
  SetupHeader& hdr = params.hdr;
  hdr.type_of_loader = kTypeOfLoaderUndefined;
  // The 64-bit entry never runs the real-mode setup code, but the heap end
  // is harmless and keeps the header as a 16-bit bootloader would leave it
  // (boot.rst: heap_end_ptr is relative to the start of setup, 0xde00 the
  // usual value when the setup code sits at 0x90000).
  hdr.loadflags |= kLoadedHigh | kCanUseHeap;
  hdr.heap_end_ptr = 0xde00;
  hdr.hardware_subarch = 0;  // default x86 PC
  hdr.hardware_subarch_data = 0;
  hdr.setup_data = 0;

  if (info.cmdline_addr > 0xffffffffull) {
    params.ext_cmd_line_ptr = static_cast<uint32_t>(info.cmdline_addr >> 32);
  }
  hdr.cmd_line_ptr = static_cast<uint32_t>(info.cmdline_addr);

  if (info.initrd) {
    auto [addr, size] = *info.initrd;
    hdr.ramdisk_image = static_cast<uint32_t>(addr);
    hdr.ramdisk_size = static_cast<uint32_t>(size);
    params.ext_ramdisk_image = static_cast<uint32_t>(addr >> 32);
    params.ext_ramdisk_size = static_cast<uint32_t>(size >> 32);
  } else {
    hdr.ramdisk_image = hdr.ramdisk_size = 0;
  }

  if (info.e820.size() > std::size(params.e820_table)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "boot_params: %d e820 entries exceed the zero page's %d",
        info.e820.size(), std::size(params.e820_table)));
  }
  params.e820_entries = static_cast<uint8_t>(info.e820.size());
  for (size_t i = 0; i < info.e820.size(); ++i) {
    params.e820_table[i] = {info.e820[i].addr, info.e820[i].size,
                            static_cast<uint32_t>(info.e820[i].type)};
  }
  // acpi_rsdp_addr sits in boot_params proper (zero-page.rst), not in the
  // setup header, so it needs no protocol version: kernels since 5.0 read it
  // and older ones ignore the field.
  params.acpi_rsdp_addr = info.rsdp_addr.value_or(0);
  return absl::OkStatus();
}

}  // namespace skiff::boot
