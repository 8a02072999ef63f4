// Loads a Linux bzImage (Documentation/x86/boot.rst). Two ways:
//  - fast path (default): the compressed payload (payload_offset/_length,
//    protocol 2.08+) is decompressed on the host and the vmlinux ELF inside
//    is loaded at its physical addresses, entered through PVH when it has
//    the Xen note and PVH is preferred, else at its 64-bit entry with
//    boot_params built from the bzImage's setup header;
//  - 64-bit entry: the protected-mode kernel is copied to pref_address (or
//    1 MiB rounded up to kernel_alignment when relocatable) and entered at
//    load address + 0x200, where the kernel's own decompressor runs
//    (protocol 2.12+ with XLF_KERNEL_64). Used when the fast path is off or
//    the payload's compression cannot be decoded on the host.
//
//   if (IsBzImage(bytes)) {
//     SKIFF_ASSIGN_OR_RETURN(LoadedKernel k,
//                            LoadBzImage(memory, what, bytes, true, true));
//   }
#ifndef SKIFF_VMM_BOOT_BZIMAGE_LOADER_H_
#define SKIFF_VMM_BOOT_BZIMAGE_LOADER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "vmm/boot/boot_params.h"
#include "vmm/boot/loaded_kernel.h"

namespace skiff::boot {

// Offset of the 64-bit entry from the protected-mode kernel's load address.
inline constexpr uint64_t kBzImage64BitEntryOffset = 0x200;

// True when the file carries "HdrS" at 0x202 (boot.rst "The real-mode kernel
// header").
bool IsBzImage(absl::Span<const uint8_t> bytes);

// Reads and validates the setup header: boot_flag, version >= 2.06,
// LOADED_HIGH, setup code inside the file.
absl::StatusOr<SetupHeader> ParseSetupHeader(const std::string& what,
                                             absl::Span<const uint8_t> bytes);

absl::StatusOr<LoadedKernel> LoadBzImage(const GuestMemory& memory,
                                         const std::string& what,
                                         absl::Span<const uint8_t> bytes,
                                         bool fast_path, bool prefer_pvh);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_BZIMAGE_LOADER_H_
