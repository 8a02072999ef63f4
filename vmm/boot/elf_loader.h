// Copies an ELF kernel's PT_LOAD segments into guest RAM at their physical
// addresses (p_paddr), zeroing the part of each segment past p_filesz (bss).
//
// Entry point: Linux's vmlinux is linked with ENTRY(phys_startup_64)
// (arch/x86/kernel/vmlinux.lds.S), so e_entry is already physical and lies in
// a segment's [p_paddr, p_paddr + p_memsz). Other kernels may give a virtual
// e_entry; when it falls inside a segment's virtual range it is translated
// through that segment (paddr + (entry - vaddr)).
//
//   SKIFF_ASSIGN_OR_RETURN(ElfImage elf, ParseElf(what, bytes));
//   SKIFF_ASSIGN_OR_RETURN(LoadedElf k, LoadElfSegments(memory, what, elf,
//                                                       bytes));
#ifndef SKIFF_VMM_BOOT_ELF_LOADER_H_
#define SKIFF_VMM_BOOT_ELF_LOADER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "vmm/boot/elf_file.h"
#include "vmm/boot/image_file.h"

namespace skiff::boot {

struct LoadedElf {
  uint64_t entry = 0;  // physical
  uint64_t start = 0;  // lowest p_paddr
  uint64_t end = 0;    // highest p_paddr + p_memsz
};

// Segments must lie in guest RAM at or above 1 MiB (skiff's boot structures
// live below). `file` (or `bytes`) must be what `elf` was parsed from; each
// segment is read from it straight into guest RAM.
absl::StatusOr<LoadedElf> LoadElfSegments(const GuestMemory& memory,
                                          const std::string& what,
                                          const ElfImage& elf,
                                          const ImageReader& file);
absl::StatusOr<LoadedElf> LoadElfSegments(const GuestMemory& memory,
                                          const std::string& what,
                                          const ElfImage& elf,
                                          absl::Span<const uint8_t> bytes);

// Translates `addr` (physical or virtual) to a physical address inside one of
// the segments, or fails naming `name` ("entry point", "PVH entry point").
absl::StatusOr<uint64_t> TranslateEntry(const std::string& what,
                                        const ElfImage& elf, uint64_t addr,
                                        const char* name);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_ELF_LOADER_H_
