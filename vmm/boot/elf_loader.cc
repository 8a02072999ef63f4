#include "vmm/boot/elf_loader.h"

#include <algorithm>

#include "base/status_macros.h"
#include "vmm/boot/errors.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loaded_kernel.h"

namespace skiff::boot {

absl::StatusOr<uint64_t> TranslateEntry(const std::string& what,
                                        const ElfImage& elf, uint64_t addr,
                                        const char* name) {
  for (const ElfSegment& s : elf.loads) {
    if (addr >= s.paddr && addr - s.paddr < s.memsz) return addr;
  }
  for (const ElfSegment& s : elf.loads) {
    if (addr >= s.vaddr && addr - s.vaddr < s.memsz) {
      return s.paddr + (addr - s.vaddr);
    }
  }
  return Invalid(what, "%s 0x%x is not inside any loadable segment", name,
                 addr);
}

absl::StatusOr<LoadedElf> LoadElfSegments(const GuestMemory& memory,
                                          const std::string& what,
                                          const ElfImage& elf,
                                          absl::Span<const uint8_t> bytes) {
  return LoadElfSegments(memory, what, elf, ImageReader(what, bytes));
}

absl::StatusOr<LoadedElf> LoadElfSegments(const GuestMemory& memory,
                                          const std::string& what,
                                          const ElfImage& elf,
                                          const ImageReader& file) {
  LoadedElf out;
  out.start = UINT64_MAX;
  // Validate everything before writing anything, so a refused kernel leaves
  // guest RAM untouched.
  for (const ElfSegment& s : elf.loads) {
    if (s.paddr < kHighMemStart) {
      return Invalid(what,
                     "program header %d loads at 0x%x, below 1 MiB where skiff "
                     "keeps boot structures",
                     s.index, s.paddr);
    }
    if (!memory.Contains(GuestAddr(s.paddr), s.memsz)) {
      return Invalid(what,
                     "program header %d [0x%x, 0x%x) is outside guest RAM "
                     "(%s)",
                     s.index, s.paddr, s.paddr + s.memsz,
                     HumanSize(memory.total_size()));
    }
    out.start = std::min(out.start, s.paddr);
    out.end = std::max(out.end, s.paddr + s.memsz);
  }
  SKIFF_ASSIGN_OR_RETURN(out.entry,
                         TranslateEntry(what, elf, elf.entry, "entry point"));
  for (const ElfSegment& s : elf.loads) {
    // ParseElf checked offset + filesz against the file and filesz <= memsz;
    // the loop above checked that [paddr, paddr + memsz) is guest RAM.
    SKIFF_ASSIGN_OR_RETURN(absl::Span<uint8_t> dst,
                           memory.Slice(GuestAddr(s.paddr), s.filesz));
    SKIFF_RETURN_IF_ERROR(file.Read(s.offset, dst));
    SKIFF_RETURN_IF_ERROR(
        memory.Fill(GuestAddr(s.paddr + s.filesz), 0, s.memsz - s.filesz));
  }
  return out;
}

}  // namespace skiff::boot

namespace skiff::boot {

absl::StatusOr<LoadedKernel> LoadElfKernel(const GuestMemory& memory,
                                           const std::string& what,
                                           absl::Span<const uint8_t> bytes,
                                           bool prefer_pvh) {
  return LoadElfKernel(memory, what, ImageReader(what, bytes), prefer_pvh);
}

absl::StatusOr<LoadedKernel> LoadElfKernel(const GuestMemory& memory,
                                           const std::string& what,
                                           const ImageReader& file,
                                           bool prefer_pvh) {
  SKIFF_ASSIGN_OR_RETURN(ElfImage elf, ParseElf(what, file));
  LoadedKernel k;
  const bool pvh = elf.pvh_entry.has_value() && (prefer_pvh || !elf.is64);
  if (!pvh && !elf.is64) {
    return Invalid(what,
                   "ELF32 kernel has neither a multiboot header nor a Xen "
                   "PHYS32_ENTRY (PVH) note");
  }
  if (pvh) {
    SKIFF_ASSIGN_OR_RETURN(
        uint64_t entry,
        TranslateEntry(what, elf, *elf.pvh_entry, "PVH entry point"));
    if (entry > UINT32_MAX) {
      return Invalid(what, "PVH entry point 0x%x is above 4 GiB", entry);
    }
    k.mode = EntryMode::kPvh;
    k.protocol = "pvh";
    k.entry = entry;
  } else {
    k.mode = EntryMode::kLinux64;
    k.protocol = "elf64";
  }
  SKIFF_ASSIGN_OR_RETURN(LoadedElf loaded,
                         LoadElfSegments(memory, what, elf, file));
  if (!pvh) k.entry = loaded.entry;
  k.start = loaded.start;
  k.end = loaded.end;
  return k;
}

}  // namespace skiff::boot
