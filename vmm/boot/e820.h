// The x86 e820 memory map skiff hands to the guest (through boot_params, the
// PVH memmap or the multiboot mmap), built from GuestMemory's regions.
//
//   SKIFF_ASSIGN_OR_RETURN(std::vector<E820Entry> map,
//                          BuildE820Map(memory, {{0xe0000, 0x20000,
//                                                 E820Type::kAcpi}}));
#ifndef SKIFF_VMM_BOOT_E820_H_
#define SKIFF_VMM_BOOT_E820_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/guest_memory.h"

namespace skiff::boot {

// ACPI 6.4 table 15.312 address range types (the same values e820, the PVH
// memmap and multiboot use).
enum class E820Type : uint32_t {
  kRam = 1,
  kReserved = 2,
  kAcpi = 3,
  kNvs = 4,
  kUnusable = 5,
};

struct E820Entry {
  uint64_t addr = 0;
  uint64_t size = 0;
  E820Type type = E820Type::kRam;
  uint64_t end() const { return addr + size; }
  bool operator==(const E820Entry&) const = default;
};

// The map for `memory`: usable [0, 0x9fc00), reserved [0x9fc00, 1 MiB),
// usable from 1 MiB to the end of each RAM region, and each `extra_reserved`
// range (e.g. ACPI tables) carved out of the usable ranges it overlaps and
// listed with its own type. Sorted by address, no overlaps. Fails when a
// reserved range is empty or wraps, or the map exceeds kMaxE820Entries.
absl::StatusOr<std::vector<E820Entry>> BuildE820Map(
    const GuestMemory& memory, const std::vector<E820Entry>& extra_reserved);

// The end of RAM that starts at guest-physical 0 (the "low RAM" below the
// 32-bit MMIO gap); 0 when no region starts at 0.
uint64_t LowRamEnd(const GuestMemory& memory);

std::string E820ToString(const std::vector<E820Entry>& map);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_E820_H_
