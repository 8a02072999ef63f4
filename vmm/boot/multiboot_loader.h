// Multiboot v1 (the GNU Multiboot Specification 0.6.96): kernels with the
// 0x1BADB002 header in their first 8 KiB. Loaded either by the a.out kludge
// (header flag bit 16: load_addr, load_end_addr, bss_end_addr, entry_addr)
// or as an ELF32's PT_LOAD segments, and entered in 32-bit protected mode
// with paging off, EAX = 0x2BADB002 and EBX = the multiboot_info address.
//
//   if (auto off = FindMultibootHeader(bytes)) {
//     SKIFF_ASSIGN_OR_RETURN(LoadedKernel k,
//                            LoadMultiboot(memory, what, bytes, *off));
//   }
//   SKIFF_RETURN_IF_ERROR(WriteMultibootInfo(memory, info));
#ifndef SKIFF_VMM_BOOT_MULTIBOOT_LOADER_H_
#define SKIFF_VMM_BOOT_MULTIBOOT_LOADER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "vmm/boot/e820.h"
#include "vmm/boot/loaded_kernel.h"

namespace skiff::boot {

inline constexpr uint32_t kMultibootHeaderMagic = 0x1badb002;
inline constexpr uint32_t kMultibootBootloaderMagic = 0x2badb002;
inline constexpr uint64_t kMultibootSearchBytes = 8192;
// Header flags (spec 3.1.2).
inline constexpr uint32_t kMultibootPageAlignModules = 1u << 0;
inline constexpr uint32_t kMultibootMemoryInfo = 1u << 1;
inline constexpr uint32_t kMultibootVideoMode = 1u << 2;
inline constexpr uint32_t kMultibootAoutKludge = 1u << 16;
// multiboot_info flags (spec 3.3).
inline constexpr uint32_t kMbiMem = 1u << 0;
inline constexpr uint32_t kMbiCmdline = 1u << 2;
inline constexpr uint32_t kMbiMods = 1u << 3;
inline constexpr uint32_t kMbiMmap = 1u << 6;
inline constexpr uint32_t kMbiLoaderName = 1u << 9;

#pragma pack(push, 1)
struct alignas(4) MultibootHeader {
  uint32_t magic;
  uint32_t flags;
  uint32_t checksum;
  // Valid when flags has kMultibootAoutKludge.
  uint32_t header_addr;
  uint32_t load_addr;
  uint32_t load_end_addr;
  uint32_t bss_end_addr;
  uint32_t entry_addr;
};
struct alignas(4) MultibootInfo {
  uint32_t flags;
  uint32_t mem_lower;  // KiB from 0
  uint32_t mem_upper;  // KiB from 1 MiB to the first hole
  uint32_t boot_device;
  uint32_t cmdline;
  uint32_t mods_count;
  uint32_t mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length;
  uint32_t mmap_addr;
  uint32_t drives_length;
  uint32_t drives_addr;
  uint32_t config_table;
  uint32_t boot_loader_name;
  uint32_t apm_table;
  uint32_t vbe_control_info;
  uint32_t vbe_mode_info;
  uint16_t vbe_mode;
  uint16_t vbe_interface_seg;
  uint16_t vbe_interface_off;
  uint16_t vbe_interface_len;
  uint64_t framebuffer_addr;
  uint32_t framebuffer_pitch;
  uint32_t framebuffer_width;
  uint32_t framebuffer_height;
  uint8_t framebuffer_bpp;
  uint8_t framebuffer_type;
  uint8_t color_info[6];
};
struct alignas(4) MultibootModule {
  uint32_t mod_start;
  uint32_t mod_end;
  uint32_t string;
  uint32_t reserved;
};
struct alignas(4) MultibootMmapEntry {
  uint32_t size;  // of the rest of the entry: 20
  uint64_t addr;
  uint64_t len;
  uint32_t type;
};
#pragma pack(pop)

static_assert(sizeof(MultibootHeader) == 32);
static_assert(sizeof(MultibootInfo) == 116);
static_assert(offsetof(MultibootInfo, cmdline) == 16);
static_assert(offsetof(MultibootInfo, mods_addr) == 24);
static_assert(offsetof(MultibootInfo, mmap_length) == 44);
static_assert(offsetof(MultibootInfo, boot_loader_name) == 64);
static_assert(offsetof(MultibootInfo, vbe_mode) == 80);
static_assert(offsetof(MultibootInfo, framebuffer_addr) == 88);
static_assert(sizeof(MultibootModule) == 16);
static_assert(sizeof(MultibootMmapEntry) == 24);

// Offset of a valid header (magic, checksum) 4-byte aligned in the first
// 8 KiB, if any.
std::optional<uint64_t> FindMultibootHeader(absl::Span<const uint8_t> bytes);

absl::StatusOr<LoadedKernel> LoadMultiboot(const GuestMemory& memory,
                                           const std::string& what,
                                           absl::Span<const uint8_t> bytes,
                                           uint64_t header_offset);

struct MultibootBootInfo {
  uint64_t cmdline_addr = 0;
  std::optional<std::pair<uint64_t, uint64_t>> initrd;  // address, size
  std::vector<E820Entry> e820;
};

// Writes multiboot_info at kMultibootInfoAddr with mem_lower/mem_upper,
// cmdline, the initrd as module 0, the mmap and a loader name.
absl::Status WriteMultibootInfo(const GuestMemory& memory,
                                const MultibootBootInfo& info);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_MULTIBOOT_LOADER_H_
