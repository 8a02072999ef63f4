// A bounds-checked reader for the ELF headers a kernel loader needs: the
// program headers (PT_LOAD, PT_NOTE) of an x86-64 ELF64 or i386 ELF32
// executable, and the Xen PHYS32_ENTRY note that marks a PVH entry point.
// Parses untrusted bytes; every offset and size is checked against the file.
// Only the ELF header, the program header table and PT_NOTE segments are
// read, so a file is parsed without reading it whole.
//
//   SKIFF_ASSIGN_OR_RETURN(ElfImage elf, ParseElf("kernel /x/vmlinux", bytes));
//   for (const ElfSegment& s : elf.loads) ...
#ifndef SKIFF_VMM_BOOT_ELF_FILE_H_
#define SKIFF_VMM_BOOT_ELF_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "vmm/boot/image_file.h"

namespace skiff::boot {

inline constexpr uint16_t kElfMachineI386 = 3;
inline constexpr uint16_t kElfMachineX8664 = 62;
// include/xen/interface/elfnote.h: XEN_ELFNOTE_PHYS32_ENTRY, owner "Xen".
inline constexpr uint32_t kXenElfNotePhys32Entry = 18;
// More program headers than any kernel has; bounds the parser's work.
inline constexpr int kMaxProgramHeaders = 128;
// More notes than any kernel has (vmlinux: about 100 bytes); bounds the
// host memory one PT_NOTE segment is read into.
inline constexpr uint64_t kMaxNoteBytes = 1u << 20;

struct ElfSegment {
  int index = 0;  // program header number, for messages
  uint64_t offset = 0;
  uint64_t vaddr = 0;
  uint64_t paddr = 0;
  uint64_t filesz = 0;
  uint64_t memsz = 0;
};

struct ElfImage {
  bool is64 = false;
  uint16_t machine = 0;
  uint64_t entry = 0;
  std::vector<ElfSegment> loads;  // PT_LOAD with memsz > 0
  std::optional<uint64_t> pvh_entry;
};

// True when `bytes` starts with the ELF magic.
bool IsElf(absl::Span<const uint8_t> bytes);

// Parses an ET_EXEC little-endian ELF. `what` prefixes error messages.
absl::StatusOr<ElfImage> ParseElf(const std::string& what,
                                  const ImageReader& image);
absl::StatusOr<ElfImage> ParseElf(const std::string& what,
                                  absl::Span<const uint8_t> bytes);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_ELF_FILE_H_
