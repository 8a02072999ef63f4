#include "vmm/boot/bzimage_loader.h"

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "base/status_macros.h"
#include "vmm/boot/decompress.h"
#include "vmm/boot/e820.h"
#include "vmm/boot/elf_file.h"
#include "vmm/boot/errors.h"
#include "vmm/boot/layout.h"

namespace skiff::boot {
namespace {

constexpr uint64_t kSectorSize = 512;
constexpr uint64_t kHeaderMagicOffset = 0x202;
constexpr uint64_t kHeaderEndMax = kSetupHeaderOffset + sizeof(SetupHeader);

uint64_t SetupSize(const SetupHeader& hdr) {
  // boot.rst: "If this field is 0, the real value is 4."
  uint64_t sects = hdr.setup_sects == 0 ? 4 : hdr.setup_sects;
  return (sects + 1) * kSectorSize;
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// The fast path; nullopt when the payload cannot be decoded on the host and
// the caller should use the 64-bit entry instead.
absl::StatusOr<std::optional<LoadedKernel>> LoadPayload(
    const GuestMemory& memory, const std::string& what, const SetupHeader& hdr,
    absl::Span<const uint8_t> pm_kernel, bool prefer_pvh) {
  if (hdr.version < 0x0208 || hdr.payload_length == 0) {
    const int version = hdr.version;  // no reference into a packed struct
    SKIFF_LOG(kInfo,
              "boot: %s has no payload fields (protocol 0x%04x); using the "
              "64-bit entry",
              what, version);
    return std::nullopt;
  }
  if (hdr.payload_offset > pm_kernel.size() ||
      hdr.payload_length > pm_kernel.size() - hdr.payload_offset) {
    return Invalid(what,
                   "payload [0x%x, +0x%x) extends past the end of the "
                   "protected-mode kernel (0x%x bytes)",
                   hdr.payload_offset, hdr.payload_length, pm_kernel.size());
  }
  absl::Span<const uint8_t> payload =
      pm_kernel.subspan(hdr.payload_offset, hdr.payload_length);
  Compression c = DetectCompression(payload);
  if (!CanDecompress(c)) {
    SKIFF_LOG(kInfo,
              "boot: %s payload compression=%s is not decoded on the host; "
              "using the 64-bit entry",
              what, CompressionName(c));
    return std::nullopt;
  }
  SKIFF_ASSIGN_OR_RETURN(std::vector<uint8_t> vmlinux,
                         Decompress(what, c, payload, memory.total_size()));
  const std::string inner =
      absl::StrCat(what, " (", CompressionName(c), " payload)");
  if (!IsElf(vmlinux)) {
    return Invalid(inner, "decompressed payload is not an ELF file");
  }
  SKIFF_ASSIGN_OR_RETURN(LoadedKernel k,
                         LoadElfKernel(memory, inner, vmlinux, prefer_pvh));
  if (k.mode == EntryMode::kLinux64) {
    k.hdr = hdr;
    k.protocol = "bzimage-payload-elf";
  }
  return k;
}

absl::StatusOr<LoadedKernel> Load64BitEntry(
    const GuestMemory& memory, const std::string& what, const SetupHeader& hdr,
    absl::Span<const uint8_t> pm_kernel) {
  if (hdr.version < 0x020c || !(hdr.xloadflags & kXlfKernel64)) {
    return Invalid(what,
                   "setup header version 0x%04x xloadflags 0x%x has no 64-bit "
                   "entry point (needs 2.12+ with XLF_KERNEL_64)",
                   hdr.version, hdr.xloadflags);
  }
  const uint64_t align = hdr.kernel_alignment;
  if (hdr.relocatable_kernel && !IsPowerOfTwo(align)) {
    return Invalid(what, "kernel_alignment 0x%x is not a power of two", align);
  }
  // init_size (2.10+) is the memory the kernel needs from its load address
  // to decompress and start itself; it covers the file itself.
  const uint64_t space = std::max<uint64_t>(
      pm_kernel.size(), hdr.version >= 0x020a ? hdr.init_size : 0);
  const uint64_t low_end = LowRamEnd(memory);
  auto fits = [&](uint64_t addr) {
    return addr >= kHighMemStart && addr <= low_end && space <= low_end - addr;
  };
  std::vector<uint64_t> candidates;
  if (hdr.version >= 0x020a) {
    candidates.push_back(uint64_t{hdr.pref_address});
  }
  if (hdr.relocatable_kernel) {
    candidates.push_back(AlignUp(kKernelDefaultAddr, align));
  } else if (hdr.version < 0x020a) {
    candidates.push_back(kKernelDefaultAddr);
  }
  std::optional<uint64_t> load;
  for (uint64_t c : candidates) {
    if (fits(c)) {
      load = c;
      break;
    }
  }
  if (!load) {
    std::string where = "nowhere (not relocatable, protocol < 2.10)";
    if (!candidates.empty()) {
      where = absl::StrFormat("0x%x", candidates[0]);
      if (candidates.size() > 1) {
        absl::StrAppend(&where, absl::StrFormat(" or 0x%x", candidates[1]));
      }
    }
    return Invalid(what,
                   "kernel needs %s (init_size) at %s, which does not fit in "
                   "low guest RAM (%s)",
                   HumanSize(space), where, HumanSize(low_end));
  }
  SKIFF_RETURN_IF_ERROR(memory.Write(GuestAddr(*load), pm_kernel));
  LoadedKernel k;
  k.mode = EntryMode::kLinux64;
  k.protocol = "bzimage";
  k.entry = *load + kBzImage64BitEntryOffset;
  k.start = *load;
  k.end = *load + space;
  k.hdr = hdr;
  k.hdr.code32_start = static_cast<uint32_t>(*load);
  return k;
}

}  // namespace

bool IsBzImage(absl::Span<const uint8_t> bytes) {
  uint32_t magic = 0;
  if (bytes.size() < kHeaderMagicOffset + 4) return false;
  std::memcpy(&magic, bytes.data() + kHeaderMagicOffset, 4);
  return magic == kSetupHeaderMagic;
}

absl::StatusOr<SetupHeader> ParseSetupHeader(const std::string& what,
                                             absl::Span<const uint8_t> bytes) {
  if (!IsBzImage(bytes)) return Invalid(what, "no \"HdrS\" setup header");
  // boot.rst: the header ends at 0x202 + the byte at 0x201 (the jump).
  uint64_t end = kHeaderMagicOffset + bytes[0x201];
  end = std::min(end, kHeaderEndMax);
  if (end > bytes.size()) {
    return Invalid(what, "setup header extends past end of file");
  }
  SetupHeader hdr{};
  std::memcpy(&hdr, bytes.data() + kSetupHeaderOffset,
              end - kSetupHeaderOffset);
  if (hdr.boot_flag != kBootFlag) {
    return Invalid(what, "setup header boot_flag 0x%04x is not 0xaa55",
                   hdr.boot_flag);
  }
  if (hdr.version < 0x0206) {
    return Invalid(what, "setup header version 0x%04x is older than 2.06",
                   hdr.version);
  }
  if (end < kSetupHeaderOffset + offsetof(SetupHeader, hardware_subarch)) {
    return Invalid(what, "setup header of %u bytes is too short for 2.06",
                   end - kSetupHeaderOffset);
  }
  if (!(hdr.loadflags & kLoadedHigh)) {
    return Invalid(what,
                   "kernel is a zImage (LOADED_HIGH clear); only bzImage is "
                   "supported");
  }
  if (SetupSize(hdr) >= bytes.size()) {
    return Invalid(what,
                   "setup code of %u sectors extends past end of file (%u "
                   "bytes)",
                   SetupSize(hdr) / kSectorSize, bytes.size());
  }
  return hdr;
}

absl::StatusOr<LoadedKernel> LoadBzImage(const GuestMemory& memory,
                                         const std::string& what,
                                         absl::Span<const uint8_t> bytes,
                                         bool fast_path, bool prefer_pvh) {
  SKIFF_ASSIGN_OR_RETURN(SetupHeader hdr, ParseSetupHeader(what, bytes));
  absl::Span<const uint8_t> pm_kernel = bytes.subspan(SetupSize(hdr));
  std::optional<LoadedKernel> k;
  if (fast_path) {
    SKIFF_ASSIGN_OR_RETURN(
        k, LoadPayload(memory, what, hdr, pm_kernel, prefer_pvh));
  }
  if (!k) {
    SKIFF_ASSIGN_OR_RETURN(k, Load64BitEntry(memory, what, hdr, pm_kernel));
  }
  k->cmdline_max = hdr.cmdline_size;
  k->initrd_addr_max =
      hdr.initrd_addr_max != 0 ? hdr.initrd_addr_max : kDefaultInitrdAddrMax;
  return *std::move(k);
}

}  // namespace skiff::boot
