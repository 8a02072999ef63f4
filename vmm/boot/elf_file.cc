#include "vmm/boot/elf_file.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/status_macros.h"
#include "vmm/boot/errors.h"

namespace skiff::boot {
namespace {

// Copies a T out of bytes[offset...], or nullopt when it would run past the
// end.
template <typename T>
std::optional<T> ReadAt(absl::Span<const uint8_t> bytes, uint64_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) {
    return std::nullopt;
  }
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

uint64_t Align4(uint64_t v) { return (v + 3) & ~uint64_t{3}; }

// Scans one PT_NOTE segment for Xen's PHYS32_ENTRY note. Note layout (ELF
// gABI "Note Section"): namesz, descsz, type, name padded to 4, desc padded
// to 4. Linux emits the descriptor with _ASM_PTR, so 8 bytes on x86-64 and 4
// on i386; both are accepted.
absl::Status ScanNotes(const std::string& what, int index,
                       absl::Span<const uint8_t> notes, ElfImage& image) {
  uint64_t pos = 0;
  while (notes.size() - pos >= 12) {
    uint32_t namesz = *ReadAt<uint32_t>(notes, pos);
    uint32_t descsz = *ReadAt<uint32_t>(notes, pos + 4);
    uint32_t type = *ReadAt<uint32_t>(notes, pos + 8);
    uint64_t name_off = pos + 12;
    uint64_t desc_off = name_off + Align4(namesz);
    uint64_t next = desc_off + Align4(descsz);
    if (next > notes.size()) {
      return Invalid(what, "note in program header %d extends past its segment",
                     index);
    }
    if (type == kXenElfNotePhys32Entry && namesz == 4 &&
        std::memcmp(notes.data() + name_off, "Xen", 4) == 0) {
      if (descsz == 4) {
        image.pvh_entry = *ReadAt<uint32_t>(notes, desc_off);
      } else if (descsz == 8) {
        image.pvh_entry = *ReadAt<uint64_t>(notes, desc_off);
      } else {
        return Invalid(what, "Xen PHYS32_ENTRY note has a %u-byte descriptor",
                       descsz);
      }
    }
    pos = next;
  }
  return absl::OkStatus();
}

struct Header {
  uint16_t type, machine, phentsize, phnum;
  uint64_t entry, phoff;
};

}  // namespace

bool IsElf(absl::Span<const uint8_t> bytes) {
  return bytes.size() >= SELFMAG &&
         std::memcmp(bytes.data(), ELFMAG, SELFMAG) == 0;
}

absl::StatusOr<ElfImage> ParseElf(const std::string& what,
                                  absl::Span<const uint8_t> bytes) {
  return ParseElf(what, ImageReader(what, bytes));
}

absl::StatusOr<ElfImage> ParseElf(const std::string& what,
                                  const ImageReader& file) {
  // The ELF header: 64 bytes at most; a shorter file is read whole.
  uint8_t head[sizeof(Elf64_Ehdr)];
  const absl::Span<uint8_t> bytes(
      head, std::min<uint64_t>(file.size(), sizeof(head)));
  SKIFF_RETURN_IF_ERROR(file.Read(0, bytes));
  if (!IsElf(bytes)) return Invalid(what, "not an ELF file");
  if (bytes.size() < EI_NIDENT) return Invalid(what, "ELF header is truncated");
  ElfImage image;
  const uint8_t elf_class = bytes[EI_CLASS];
  if (elf_class != ELFCLASS32 && elf_class != ELFCLASS64) {
    return Invalid(what, "unknown ELF class %d", elf_class);
  }
  image.is64 = elf_class == ELFCLASS64;
  if (bytes[EI_DATA] != ELFDATA2LSB) {
    return Invalid(what, "ELF file is not little-endian");
  }
  Header h;
  if (image.is64) {
    auto eh = ReadAt<Elf64_Ehdr>(bytes, 0);
    if (!eh) return Invalid(what, "ELF header is truncated");
    h = {eh->e_type,  eh->e_machine, eh->e_phentsize,
         eh->e_phnum, eh->e_entry,   eh->e_phoff};
  } else {
    auto eh = ReadAt<Elf32_Ehdr>(bytes, 0);
    if (!eh) return Invalid(what, "ELF header is truncated");
    h = {eh->e_type,  eh->e_machine, eh->e_phentsize,
         eh->e_phnum, eh->e_entry,   eh->e_phoff};
  }
  image.machine = h.machine;
  image.entry = h.entry;
  const uint16_t want_machine = image.is64 ? kElfMachineX8664 : kElfMachineI386;
  if (h.machine != want_machine) {
    return Invalid(what, "ELF%d machine %u is not %s", image.is64 ? 64 : 32,
                   h.machine, image.is64 ? "x86-64" : "i386");
  }
  if (h.type != ET_EXEC) {
    return Invalid(what, "ELF type %u is not an executable (ET_EXEC)", h.type);
  }
  const uint64_t phentsize =
      image.is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  if (h.phnum == 0) return Invalid(what, "ELF file has no program headers");
  if (h.phentsize != phentsize) {
    return Invalid(what, "ELF program header size %u, expected %u", h.phentsize,
                   phentsize);
  }
  if (h.phnum > kMaxProgramHeaders) {
    return Invalid(what, "%u program headers exceed the limit of %d", h.phnum,
                   kMaxProgramHeaders);
  }
  if (!file.InRange(h.phoff, phentsize * h.phnum)) {
    return Invalid(what, "program header table extends past end of file");
  }
  std::vector<uint8_t> table(phentsize * h.phnum);
  SKIFF_RETURN_IF_ERROR(file.Read(h.phoff, absl::MakeSpan(table)));
  const absl::Span<const uint8_t> phdrs(table);
  for (int i = 0; i < h.phnum; ++i) {
    uint64_t at = i * phentsize;
    uint32_t type;
    ElfSegment seg;
    seg.index = i;
    if (image.is64) {
      Elf64_Phdr ph = *ReadAt<Elf64_Phdr>(phdrs, at);
      type = ph.p_type;
      seg.offset = ph.p_offset;
      seg.vaddr = ph.p_vaddr;
      seg.paddr = ph.p_paddr;
      seg.filesz = ph.p_filesz;
      seg.memsz = ph.p_memsz;
    } else {
      Elf32_Phdr ph = *ReadAt<Elf32_Phdr>(phdrs, at);
      type = ph.p_type;
      seg.offset = ph.p_offset;
      seg.vaddr = ph.p_vaddr;
      seg.paddr = ph.p_paddr;
      seg.filesz = ph.p_filesz;
      seg.memsz = ph.p_memsz;
    }
    if (type != PT_LOAD && type != PT_NOTE) continue;
    if (!file.InRange(seg.offset, seg.filesz)) {
      return Invalid(what, "program header %d extends past end of file", i);
    }
    if (type == PT_NOTE) {
      if (seg.filesz > kMaxNoteBytes) {
        return Invalid(what,
                       "program header %d has 0x%x bytes of notes, more than "
                       "the limit of 0x%x",
                       i, seg.filesz, kMaxNoteBytes);
      }
      std::vector<uint8_t> notes(seg.filesz);
      SKIFF_RETURN_IF_ERROR(file.Read(seg.offset, absl::MakeSpan(notes)));
      SKIFF_RETURN_IF_ERROR(ScanNotes(what, i, notes, image));
      continue;
    }
    if (seg.filesz > seg.memsz) {
      return Invalid(what,
                     "program header %d has p_filesz 0x%x larger than p_memsz "
                     "0x%x",
                     i, seg.filesz, seg.memsz);
    }
    if (seg.paddr + seg.memsz < seg.paddr) {
      return Invalid(what, "program header %d wraps around the address space",
                     i);
    }
    if (seg.memsz > 0) image.loads.push_back(seg);
  }
  if (image.loads.empty()) {
    return Invalid(what, "ELF file has no loadable segments");
  }
  return image;
}

}  // namespace skiff::boot
