// Internal to vmm/boot: what a format-specific loader (ELF, bzImage,
// multiboot) reports after placing a kernel in guest RAM, for loader.cc to
// finish the boot (command line, initrd, protocol tables, registers).
//
//   SKIFF_ASSIGN_OR_RETURN(LoadedKernel k, LoadElfKernel(memory, what, bytes,
//                                                        true));
#ifndef SKIFF_VMM_BOOT_LOADED_KERNEL_H_
#define SKIFF_VMM_BOOT_LOADED_KERNEL_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "vmm/boot/boot_params.h"
#include "vmm/boot/image_file.h"
#include "vmm/boot/layout.h"

namespace skiff::boot {

enum class EntryMode {
  kLinux64,    // 64-bit boot protocol: long mode, RSI = boot_params
  kPvh,        // 32-bit, paging off, EBX = hvm_start_info
  kMultiboot,  // 32-bit, paging off, EAX = 0x2BADB002, EBX = multiboot_info
};

struct LoadedKernel {
  EntryMode mode = EntryMode::kLinux64;
  std::string protocol;  // "elf64", "pvh", "bzimage", ...
  uint64_t entry = 0;
  uint64_t start = 0;  // guest-physical footprint of the kernel
  uint64_t end = 0;
  // kLinux64: the setup header to copy into boot_params.
  SetupHeader hdr = DefaultSetupHeader();
  uint64_t cmdline_max = kCmdlineMax;     // without the NUL
  uint64_t initrd_addr_max = UINT32_MAX;  // highest byte the initrd may use
};

// ELF vmlinux (ELF64) or PVH kernel (ELF64/ELF32 with the Xen note).
// With `prefer_pvh` an ELF with the note is entered through PVH. Only the
// headers and the loaded segments are read from `file`.
absl::StatusOr<LoadedKernel> LoadElfKernel(const GuestMemory& memory,
                                           const std::string& what,
                                           const ImageReader& file,
                                           bool prefer_pvh);
absl::StatusOr<LoadedKernel> LoadElfKernel(const GuestMemory& memory,
                                           const std::string& what,
                                           absl::Span<const uint8_t> bytes,
                                           bool prefer_pvh);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_LOADED_KERNEL_H_
