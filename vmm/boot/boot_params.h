// Linux x86 boot protocol structures (Documentation/x86/boot.rst,
// Documentation/x86/zero-page.rst): the setup header found at offset 0x1f1 of
// a bzImage and the 4 KiB boot_params ("zero page") the 64-bit entry reads
// through RSI. skiff's own packed definitions; every offset is checked below
// against the kernel's documented layout.
//
//   BootParams params{};
//   params.hdr = header;                 // copied from the bzImage
//   SKIFF_RETURN_IF_ERROR(FillBootParams(params, info));
//   SKIFF_RETURN_IF_ERROR(memory.WriteObj(GuestAddr(kZeroPageAddr), params));
#ifndef SKIFF_VMM_BOOT_BOOT_PARAMS_H_
#define SKIFF_VMM_BOOT_BOOT_PARAMS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "vmm/boot/e820.h"

namespace skiff::boot {

inline constexpr uint32_t kSetupHeaderMagic = 0x53726448;  // "HdrS"
inline constexpr uint16_t kBootFlag = 0xaa55;
inline constexpr uint64_t kSetupHeaderOffset = 0x1f1;

// loadflags (boot.rst "Details of header fields").
inline constexpr uint8_t kLoadedHigh = 1u << 0;
inline constexpr uint8_t kCanUseHeap = 1u << 7;
// xloadflags (2.12+).
inline constexpr uint16_t kXlfKernel64 = 1u << 0;
inline constexpr uint16_t kXlfCanBeLoadedAbove4G = 1u << 1;

inline constexpr uint8_t kTypeOfLoaderUndefined = 0xff;

#pragma pack(push, 1)
struct SetupHeader {
  uint8_t setup_sects;
  uint16_t root_flags;
  uint32_t syssize;
  uint16_t ram_size;
  uint16_t vid_mode;
  uint16_t root_dev;
  uint16_t boot_flag;
  uint16_t jump;
  uint32_t header;
  uint16_t version;
  uint32_t realmode_swtch;
  uint16_t start_sys_seg;
  uint16_t kernel_version;
  uint8_t type_of_loader;
  uint8_t loadflags;
  uint16_t setup_move_size;
  uint32_t code32_start;
  uint32_t ramdisk_image;
  uint32_t ramdisk_size;
  uint32_t bootsect_kludge;
  uint16_t heap_end_ptr;
  uint8_t ext_loader_ver;
  uint8_t ext_loader_type;
  uint32_t cmd_line_ptr;
  uint32_t initrd_addr_max;
  uint32_t kernel_alignment;
  uint8_t relocatable_kernel;
  uint8_t min_alignment;
  uint16_t xloadflags;
  uint32_t cmdline_size;
  uint32_t hardware_subarch;
  uint64_t hardware_subarch_data;
  uint32_t payload_offset;
  uint32_t payload_length;
  uint64_t setup_data;
  uint64_t pref_address;
  uint32_t init_size;
  uint32_t handover_offset;
  uint32_t kernel_info_offset;
};

struct BootE820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
};

// alignas: keeps the (naturally aligned) fields aligned in a local copy.
struct alignas(8) BootParams {
  uint8_t screen_info[0x40];
  uint8_t apm_bios_info[0x14];
  uint8_t pad2[4];
  uint64_t tboot_addr;
  uint8_t ist_info[0x10];
  uint64_t acpi_rsdp_addr;
  uint8_t pad3[8];
  uint8_t hd0_info[16];
  uint8_t hd1_info[16];
  uint8_t sys_desc_table[0x10];
  uint8_t olpc_ofw_header[0x10];
  uint32_t ext_ramdisk_image;
  uint32_t ext_ramdisk_size;
  uint32_t ext_cmd_line_ptr;
  uint8_t pad4[112];
  uint32_t cc_blob_address;
  uint8_t edid_info[0x80];
  uint8_t efi_info[0x20];
  uint32_t alt_mem_k;
  uint32_t scratch;
  uint8_t e820_entries;
  uint8_t eddbuf_entries;
  uint8_t edd_mbr_sig_buf_entries;
  uint8_t kbd_status;
  uint8_t secure_boot;
  uint8_t pad5[2];
  uint8_t sentinel;
  uint8_t pad6[1];
  SetupHeader hdr;
  uint8_t pad7[0x290 - 0x1f1 - sizeof(SetupHeader)];
  uint32_t edd_mbr_sig_buffer[16];
  BootE820Entry e820_table[128];
  uint8_t pad8[48];
  uint8_t eddbuf[6 * 82];
  uint8_t pad9[276];
};
#pragma pack(pop)

static_assert(sizeof(SetupHeader) == 0x26c - 0x1f1);
static_assert(offsetof(SetupHeader, boot_flag) == 0x1fe - 0x1f1);
static_assert(offsetof(SetupHeader, header) == 0x202 - 0x1f1);
static_assert(offsetof(SetupHeader, version) == 0x206 - 0x1f1);
static_assert(offsetof(SetupHeader, type_of_loader) == 0x210 - 0x1f1);
static_assert(offsetof(SetupHeader, ramdisk_image) == 0x218 - 0x1f1);
static_assert(offsetof(SetupHeader, heap_end_ptr) == 0x224 - 0x1f1);
static_assert(offsetof(SetupHeader, cmd_line_ptr) == 0x228 - 0x1f1);
static_assert(offsetof(SetupHeader, initrd_addr_max) == 0x22c - 0x1f1);
static_assert(offsetof(SetupHeader, xloadflags) == 0x236 - 0x1f1);
static_assert(offsetof(SetupHeader, cmdline_size) == 0x238 - 0x1f1);
static_assert(offsetof(SetupHeader, payload_offset) == 0x248 - 0x1f1);
static_assert(offsetof(SetupHeader, pref_address) == 0x258 - 0x1f1);
static_assert(offsetof(SetupHeader, init_size) == 0x260 - 0x1f1);
static_assert(offsetof(SetupHeader, kernel_info_offset) == 0x268 - 0x1f1);
static_assert(sizeof(BootE820Entry) == 20);
static_assert(sizeof(BootParams) == 4096);
static_assert(offsetof(BootParams, acpi_rsdp_addr) == 0x070);
static_assert(offsetof(BootParams, ext_ramdisk_image) == 0x0c0);
static_assert(offsetof(BootParams, ext_cmd_line_ptr) == 0x0c8);
static_assert(offsetof(BootParams, cc_blob_address) == 0x13c);
static_assert(offsetof(BootParams, alt_mem_k) == 0x1e0);
static_assert(offsetof(BootParams, e820_entries) == 0x1e8);
static_assert(offsetof(BootParams, sentinel) == 0x1ef);
static_assert(offsetof(BootParams, hdr) == 0x1f1);
static_assert(offsetof(BootParams, edd_mbr_sig_buffer) == 0x290);
static_assert(offsetof(BootParams, e820_table) == 0x2d0);
static_assert(offsetof(BootParams, eddbuf) == 0xd00);

// What the loader decided, to be recorded in boot_params.
struct BootParamsInfo {
  uint64_t cmdline_addr = 0;
  uint32_t cmdline_size = 0;  // without the NUL, informational
  std::optional<std::pair<uint64_t, uint64_t>> initrd;  // address, size
  std::optional<uint64_t> rsdp_addr;
  std::vector<E820Entry> e820;
};

// A setup header for kernels that carry none (an ELF vmlinux entered at its
// 64-bit entry): what a bootloader would have copied, claiming protocol 2.15.
SetupHeader DefaultSetupHeader();

// Fills the loader-owned fields of `params` (params.hdr must already hold the
// kernel's setup header): type_of_loader, loadflags, heap_end_ptr,
// cmd_line_ptr, ramdisk_*, e820 table, acpi_rsdp_addr, hardware_subarch.
absl::Status FillBootParams(BootParams& params, const BootParamsInfo& info);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_BOOT_PARAMS_H_
