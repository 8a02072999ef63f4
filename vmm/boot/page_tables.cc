#include "vmm/boot/page_tables.h"

#include <array>

#include "base/status_macros.h"
#include "vmm/boot/layout.h"

namespace skiff::boot {

absl::Status WriteIdentityPageTables(const GuestMemory& memory) {
  constexpr int kEntries = 512;
  constexpr int kPds = kIdentityMappedBytes >> 30;  // one PD per GiB
  constexpr uint64_t kTableFlags = kPtePresent | kPteWritable;

  std::array<uint64_t, kEntries> table{};
  table[0] = kPdptAddr | kTableFlags;
  SKIFF_RETURN_IF_ERROR(memory.WriteObj(GuestAddr(kPml4Addr), table));

  table.fill(0);
  for (int i = 0; i < kPds; ++i) {
    table[i] = (kPdAddr + i * kPageSize) | kTableFlags;
  }
  SKIFF_RETURN_IF_ERROR(memory.WriteObj(GuestAddr(kPdptAddr), table));

  for (int pd = 0; pd < kPds; ++pd) {
    for (int i = 0; i < kEntries; ++i) {
      uint64_t phys =
          (static_cast<uint64_t>(pd) << 30) | (static_cast<uint64_t>(i) << 21);
      table[i] = phys | kTableFlags | kPtePageSize;
    }
    SKIFF_RETURN_IF_ERROR(
        memory.WriteObj(GuestAddr(kPdAddr + pd * kPageSize), table));
  }
  return absl::OkStatus();
}

}  // namespace skiff::boot
