// Identity-mapped x86-64 page tables for entering a kernel in long mode:
// one PML4, one PDPT and four page directories of 2 MiB pages mapping the
// first 4 GiB of guest-physical space onto itself (Intel SDM vol. 3A, 4.5).
// boot.rst's 64-bit protocol needs the kernel, boot_params and command line
// identity-mapped; 4 GiB covers every place skiff puts them.
//
//   SKIFF_RETURN_IF_ERROR(WriteIdentityPageTables(memory));
//   sregs.cr3 = kPml4Addr;
#ifndef SKIFF_VMM_BOOT_PAGE_TABLES_H_
#define SKIFF_VMM_BOOT_PAGE_TABLES_H_

#include <cstdint>

#include "absl/status/status.h"
#include "base/guest_memory.h"

namespace skiff::boot {

inline constexpr uint64_t kPtePresent = 1u << 0;
inline constexpr uint64_t kPteWritable = 1u << 1;
inline constexpr uint64_t kPtePageSize = 1u << 7;  // PS: 2 MiB page in a PDE
inline constexpr uint64_t kIdentityMappedBytes = 4ull << 30;

// Writes the tables at kPml4Addr, kPdptAddr and kPdAddr (layout.h).
absl::Status WriteIdentityPageTables(const GuestMemory& memory);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_PAGE_TABLES_H_
