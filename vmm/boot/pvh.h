// The PVH boot protocol's start_info (Xen's include/public/arch-x86/hvm/
// start_info.h, used by Linux's arch/x86/platform/pvh): a kernel with a
// XEN_ELFNOTE_PHYS32_ENTRY note is entered at that address in 32-bit
// protected mode with paging off and EBX pointing at hvm_start_info.
//
//   SKIFF_RETURN_IF_ERROR(WritePvhStartInfo(memory, info));
//   regs.rbx = kPvhStartInfoAddr;
#ifndef SKIFF_VMM_BOOT_PVH_H_
#define SKIFF_VMM_BOOT_PVH_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "base/guest_memory.h"
#include "vmm/boot/e820.h"

namespace skiff::boot {

inline constexpr uint32_t kPvhStartMagic = 0x336ec578;
inline constexpr uint32_t kPvhStartInfoVersion = 1;  // has the memmap

#pragma pack(push, 1)
struct alignas(8) HvmStartInfo {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;  // version >= 1
  uint32_t memmap_entries;
  uint32_t reserved;
};
struct alignas(8) HvmModlistEntry {
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};
struct alignas(8) HvmMemmapEntry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};
#pragma pack(pop)

static_assert(sizeof(HvmStartInfo) == 56);
static_assert(offsetof(HvmStartInfo, modlist_paddr) == 16);
static_assert(offsetof(HvmStartInfo, rsdp_paddr) == 32);
static_assert(offsetof(HvmStartInfo, memmap_paddr) == 40);
static_assert(offsetof(HvmStartInfo, memmap_entries) == 48);
static_assert(sizeof(HvmModlistEntry) == 32);
static_assert(sizeof(HvmMemmapEntry) == 24);

struct PvhInfo {
  uint64_t cmdline_addr = 0;
  std::optional<std::pair<uint64_t, uint64_t>> initrd;  // address, size
  std::optional<uint64_t> rsdp_addr;
  std::vector<E820Entry> e820;
};

// Writes hvm_start_info at kPvhStartInfoAddr, the initrd as module 0 at
// kPvhModlistAddr and the memory map at kPvhMemmapAddr (layout.h).
absl::Status WritePvhStartInfo(const GuestMemory& memory, const PvhInfo& info);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_PVH_H_
