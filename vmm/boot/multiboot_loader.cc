#include "vmm/boot/multiboot_loader.h"

#include <cstring>
#include <string_view>

#include "base/log.h"
#include "base/status_macros.h"
#include "vmm/boot/elf_file.h"
#include "vmm/boot/elf_loader.h"
#include "vmm/boot/errors.h"
#include "vmm/boot/layout.h"

namespace skiff::boot {
namespace {

constexpr uint64_t kModuleStringAddr = kMultibootLoaderNameAddr + 0x80;
constexpr std::string_view kLoaderName = "skiff";
constexpr std::string_view kModuleString = "initrd";
// Requirement bits (0-15) skiff understands; spec 3.1.2 says a loader must
// refuse a kernel asking for any other.
constexpr uint32_t kKnownRequirements =
    kMultibootPageAlignModules | kMultibootMemoryInfo | kMultibootVideoMode;

absl::Status WriteString(const GuestMemory& memory, uint64_t addr,
                         std::string_view s) {
  std::vector<uint8_t> bytes(s.begin(), s.end());
  bytes.push_back(0);
  return memory.Write(GuestAddr(addr), bytes);
}

absl::StatusOr<LoadedKernel> LoadAout(const GuestMemory& memory,
                                      const std::string& what,
                                      absl::Span<const uint8_t> bytes,
                                      uint64_t header_offset,
                                      const MultibootHeader& h) {
  if (h.load_addr > h.header_addr ||
      h.header_addr - h.load_addr > header_offset) {
    return Invalid(what,
                   "multiboot header_addr 0x%x and load_addr 0x%x place the "
                   "image before the start of the file",
                   h.header_addr, h.load_addr);
  }
  const uint64_t file_offset = header_offset - (h.header_addr - h.load_addr);
  const uint64_t file_left = bytes.size() - file_offset;
  uint64_t load_end = h.load_end_addr != 0 ? h.load_end_addr
                                           : uint64_t{h.load_addr} + file_left;
  if (load_end < h.load_addr) {
    return Invalid(what, "multiboot load_end_addr 0x%x is below load_addr 0x%x",
                   h.load_end_addr, h.load_addr);
  }
  const uint64_t load_size = load_end - h.load_addr;
  if (load_size > file_left) {
    return Invalid(what,
                   "multiboot load_end_addr 0x%x extends past end of file",
                   load_end);
  }
  uint64_t bss_end = h.bss_end_addr != 0 ? h.bss_end_addr : load_end;
  if (bss_end < load_end) {
    return Invalid(what,
                   "multiboot bss_end_addr 0x%x is below load_end_addr 0x%x",
                   bss_end, load_end);
  }
  if (h.load_addr < kHighMemStart) {
    return Invalid(what,
                   "multiboot load_addr 0x%x is below 1 MiB, where skiff keeps "
                   "boot structures",
                   h.load_addr);
  }
  if (!memory.Contains(GuestAddr(h.load_addr), bss_end - h.load_addr)) {
    return Invalid(what,
                   "multiboot image [0x%x, 0x%x) is outside guest RAM (%s)",
                   h.load_addr, bss_end, HumanSize(memory.total_size()));
  }
  if (h.entry_addr < h.load_addr || h.entry_addr >= load_end) {
    return Invalid(what,
                   "multiboot entry_addr 0x%x is outside the loaded image "
                   "[0x%x, 0x%x)",
                   h.entry_addr, h.load_addr, load_end);
  }
  SKIFF_RETURN_IF_ERROR(memory.Write(GuestAddr(h.load_addr),
                                     bytes.subspan(file_offset, load_size)));
  SKIFF_RETURN_IF_ERROR(
      memory.Fill(GuestAddr(load_end), 0, bss_end - load_end));
  LoadedKernel k;
  k.entry = h.entry_addr;
  k.start = h.load_addr;
  k.end = bss_end;
  return k;
}

absl::StatusOr<LoadedKernel> LoadElf(const GuestMemory& memory,
                                     const std::string& what,
                                     absl::Span<const uint8_t> bytes) {
  if (!IsElf(bytes)) {
    return Invalid(what,
                   "multiboot kernel without the a.out kludge (flag bit 16) "
                   "is not an ELF file");
  }
  SKIFF_ASSIGN_OR_RETURN(ElfImage elf, ParseElf(what, bytes));
  SKIFF_ASSIGN_OR_RETURN(LoadedElf loaded,
                         LoadElfSegments(memory, what, elf, bytes));
  if (loaded.entry > UINT32_MAX) {
    return Invalid(what, "multiboot entry point 0x%x is above 4 GiB",
                   loaded.entry);
  }
  LoadedKernel k;
  k.entry = loaded.entry;
  k.start = loaded.start;
  k.end = loaded.end;
  return k;
}

}  // namespace

std::optional<uint64_t> FindMultibootHeader(absl::Span<const uint8_t> bytes) {
  const uint64_t limit =
      std::min<uint64_t>(bytes.size(), kMultibootSearchBytes);
  for (uint64_t off = 0; off + 12 <= limit; off += 4) {
    uint32_t w[3];
    std::memcpy(w, bytes.data() + off, sizeof(w));
    if (w[0] == kMultibootHeaderMagic &&
        static_cast<uint32_t>(w[0] + w[1] + w[2]) == 0) {
      return off;
    }
  }
  return std::nullopt;
}

absl::StatusOr<LoadedKernel> LoadMultiboot(const GuestMemory& memory,
                                           const std::string& what,
                                           absl::Span<const uint8_t> bytes,
                                           uint64_t header_offset) {
  MultibootHeader h{};
  const uint64_t avail = bytes.size() - header_offset;
  std::memcpy(&h, bytes.data() + header_offset,
              std::min<uint64_t>(avail, sizeof(h)));
  const uint32_t unknown = h.flags & 0xffff & ~kKnownRequirements;
  if (unknown != 0) {
    return Invalid(what, "multiboot header requires unsupported features 0x%x",
                   unknown);
  }
  if (h.flags & kMultibootVideoMode) {
    SKIFF_LOG(kInfo, "boot: %s asks for a video mode; skiff has no display",
              what);
  }
  LoadedKernel k;
  if (h.flags & kMultibootAoutKludge) {
    if (avail < sizeof(h)) {
      return Invalid(what, "multiboot header at 0x%x is truncated",
                     header_offset);
    }
    SKIFF_ASSIGN_OR_RETURN(k, LoadAout(memory, what, bytes, header_offset, h));
  } else {
    SKIFF_ASSIGN_OR_RETURN(k, LoadElf(memory, what, bytes));
  }
  k.mode = EntryMode::kMultiboot;
  k.protocol = "multiboot";
  k.initrd_addr_max = UINT32_MAX;
  return k;
}

absl::Status WriteMultibootInfo(const GuestMemory& memory,
                                const MultibootBootInfo& info) {
  MultibootInfo mbi{};
  mbi.flags = kMbiMem | kMbiCmdline | kMbiMmap | kMbiLoaderName;
  for (const E820Entry& e : info.e820) {
    if (e.type != E820Type::kRam) continue;
    if (e.addr == 0) mbi.mem_lower = static_cast<uint32_t>(e.size >> 10);
    if (e.addr == kHighMemStart) {
      mbi.mem_upper =
          static_cast<uint32_t>(std::min<uint64_t>(e.size >> 10, UINT32_MAX));
    }
  }
  if (info.cmdline_addr > UINT32_MAX) {
    return absl::InvalidArgumentError("multiboot: command line above 4 GiB");
  }
  mbi.cmdline = static_cast<uint32_t>(info.cmdline_addr);
  if (info.initrd) {
    auto [addr, size] = *info.initrd;
    if (addr + size > UINT32_MAX) {
      return absl::InvalidArgumentError("multiboot: initrd above 4 GiB");
    }
    MultibootModule mod{static_cast<uint32_t>(addr),
                        static_cast<uint32_t>(addr + size),
                        static_cast<uint32_t>(kModuleStringAddr), 0};
    SKIFF_RETURN_IF_ERROR(memory.WriteObj(GuestAddr(kMultibootModsAddr), mod));
    SKIFF_RETURN_IF_ERROR(
        WriteString(memory, kModuleStringAddr, kModuleString));
    mbi.flags |= kMbiMods;
    mbi.mods_count = 1;
    mbi.mods_addr = kMultibootModsAddr;
  }
  if (info.e820.size() > static_cast<size_t>(kMaxE820Entries)) {
    return absl::InvalidArgumentError("multiboot: too many mmap entries");
  }
  for (size_t i = 0; i < info.e820.size(); ++i) {
    MultibootMmapEntry e{sizeof(MultibootMmapEntry) - 4, info.e820[i].addr,
                         info.e820[i].size,
                         static_cast<uint32_t>(info.e820[i].type)};
    SKIFF_RETURN_IF_ERROR(memory.WriteObj(
        GuestAddr(kMultibootMmapAddr + i * sizeof(MultibootMmapEntry)), e));
  }
  mbi.mmap_addr = kMultibootMmapAddr;
  mbi.mmap_length =
      static_cast<uint32_t>(info.e820.size() * sizeof(MultibootMmapEntry));
  SKIFF_RETURN_IF_ERROR(
      WriteString(memory, kMultibootLoaderNameAddr, kLoaderName));
  mbi.boot_loader_name = kMultibootLoaderNameAddr;
  return memory.WriteObj(GuestAddr(kMultibootInfoAddr), mbi);
}

}  // namespace skiff::boot
