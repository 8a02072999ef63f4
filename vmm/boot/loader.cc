#include "vmm/boot/loader.h"

#include <algorithm>
#include <vector>

#include "base/status_macros.h"
#include "vmm/boot/boot_params.h"
#include "vmm/boot/bzimage_loader.h"
#include "vmm/boot/elf_file.h"
#include "vmm/boot/errors.h"
#include "vmm/boot/gdt.h"
#include "vmm/boot/image_file.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loaded_kernel.h"
#include "vmm/boot/multiboot_loader.h"
#include "vmm/boot/page_tables.h"
#include "vmm/boot/pvh.h"

namespace skiff::boot {
namespace {

constexpr uint64_t k4GiB = 1ull << 32;

std::string KernelWhat(const LoadOptions& o) {
  return o.kernel_path.empty() ? "kernel"
                               : absl::StrCat("kernel ", o.kernel_path);
}
std::string InitrdWhat(const LoadOptions& o) {
  return o.initrd_path.empty() ? "initrd"
                               : absl::StrCat("initrd ", o.initrd_path);
}

absl::StatusOr<LoadedKernel> DetectAndLoad(const GuestMemory& memory,
                                           const LoadOptions& options,
                                           const ImageReader& image) {
  const std::string what = KernelWhat(options);
  // What the file is follows from its first bytes: the bzImage header at
  // 0x1f1, the multiboot header in the first 8 KiB, the ELF identification.
  std::vector<uint8_t> probe(std::min(image.size(), kMultibootSearchBytes));
  SKIFF_RETURN_IF_ERROR(image.Read(0, absl::MakeSpan(probe)));
  const bool bzimage = IsBzImage(probe);
  std::optional<uint64_t> mb = FindMultibootHeader(probe);
  const bool elf64 = IsElf(probe) && probe.size() > 4 && probe[4] == 2;
  // A 64-bit ELF is a vmlinux unless it is plainly a multiboot kernel; it is
  // read from the file a segment at a time.
  if (!bzimage && elf64 && !mb) {
    return LoadElfKernel(memory, what, image, options.prefer_pvh);
  }
  // The other formats are parsed (or decompressed) from memory.
  HostBuffer storage;
  SKIFF_ASSIGN_OR_RETURN(absl::Span<const uint8_t> bytes, image.All(storage));
  if (bzimage) {
    return LoadBzImage(memory, what, bytes, options.bzimage_fast_path,
                       options.prefer_pvh);
  }
  if (elf64) {
    SKIFF_ASSIGN_OR_RETURN(ElfImage elf, ParseElf(what, bytes));
    if (elf.pvh_entry) {
      return LoadElfKernel(memory, what, bytes, options.prefer_pvh);
    }
  }
  if (mb) return LoadMultiboot(memory, what, bytes, *mb);
  if (IsElf(bytes)) return LoadElfKernel(memory, what, bytes, true);
  return Invalid(what, "not a bzImage, ELF or multiboot kernel");
}

// The highest page-aligned place for `size` bytes inside one usable e820
// range, below `limit` (exclusive) and at or above `floor`.
std::optional<uint64_t> PlaceHigh(const std::vector<E820Entry>& e820,
                                  uint64_t size, uint64_t floor,
                                  uint64_t limit) {
  for (auto it = e820.rbegin(); it != e820.rend(); ++it) {
    if (it->type != E820Type::kRam) continue;
    uint64_t top = std::min(it->end(), limit);
    uint64_t bottom = std::max(it->addr, floor);
    if (top <= bottom || size > top - bottom) continue;
    uint64_t addr = AlignDown(top - size, kPageSize);
    if (addr >= bottom) return addr;
  }
  return std::nullopt;
}

absl::Status CheckKernelPlacement(const std::string& what,
                                  const LoadedKernel& k,
                                  const std::vector<E820Entry>& e820) {
  if (k.end > k4GiB) {
    return Invalid(what,
                   "kernel [0x%x, 0x%x) is not below 4 GiB, where the boot "
                   "protocols can reach it",
                   k.start, k.end);
  }
  for (const E820Entry& e : e820) {
    if (e.type == E820Type::kRam || e.addr < kHighMemStart) continue;
    if (k.start < e.end() && e.addr < k.end) {
      return Invalid(what, "kernel [0x%x, 0x%x) overlaps reserved [0x%x, 0x%x)",
                     k.start, k.end, e.addr, e.end());
    }
  }
  return absl::OkStatus();
}

absl::Status WriteCmdline(const GuestMemory& memory, const std::string& what,
                          const std::string& cmdline, uint64_t max) {
  max = std::min<uint64_t>(max, kCmdlineAreaSize - 1);
  if (cmdline.size() > max) {
    return Invalid(what, "command line of %u bytes exceeds the limit of %u",
                   cmdline.size(), max);
  }
  if (cmdline.find('\0') != std::string::npos) {
    return Invalid(what, "command line contains a NUL byte");
  }
  std::vector<uint8_t> bytes(cmdline.begin(), cmdline.end());
  bytes.push_back(0);
  return memory.Write(GuestAddr(kCmdlineAddr), bytes);
}

absl::StatusOr<BootSetup> Boot(const GuestMemory& memory,
                               const LoadOptions& options,
                               const ImageReader& kernel,
                               const ImageReader* initrd) {
  const std::string what = KernelWhat(options);
  if (LowRamEnd(memory) < 2 * kHighMemStart) {
    return absl::InvalidArgumentError(
        "boot: guest RAM must start at address 0 and be at least 2 MiB");
  }
  for (const E820Entry& e : options.extra_reserved) {
    // layout.h: the boot structures occupy [kGdtAddr, end of the command
    // line area); a reserved range there would be overwritten.
    if (e.addr < kCmdlineAddr + kCmdlineAreaSize && kGdtAddr < e.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "boot: reserved range [0x%x, 0x%x) overlaps the boot structures at "
          "[0x%x, 0x%x)",
          e.addr, e.end(), kGdtAddr, kCmdlineAddr + kCmdlineAreaSize));
    }
  }
  SKIFF_ASSIGN_OR_RETURN(std::vector<E820Entry> e820,
                         BuildE820Map(memory, options.extra_reserved));
  SKIFF_ASSIGN_OR_RETURN(LoadedKernel k,
                         DetectAndLoad(memory, options, kernel));
  SKIFF_RETURN_IF_ERROR(CheckKernelPlacement(what, k, e820));
  SKIFF_RETURN_IF_ERROR(
      WriteCmdline(memory, what, options.cmdline, k.cmdline_max));

  BootSetup boot;
  if (initrd != nullptr) {
    if (initrd->size() == 0) return Invalid(initrd->what(), "file is empty");
    // initrd_addr_max is the highest byte the initrd may occupy (boot.rst).
    const uint64_t limit = std::min<uint64_t>(k.initrd_addr_max, k4GiB - 1) + 1;
    std::optional<uint64_t> addr =
        PlaceHigh(e820, initrd->size(), AlignUp(k.end, kPageSize), limit);
    if (!addr) {
      return Invalid(initrd->what(),
                     "%s does not fit below 0x%x above the kernel's end 0x%x",
                     HumanSize(initrd->size()), limit - 1, k.end);
    }
    SKIFF_ASSIGN_OR_RETURN(absl::Span<uint8_t> dst,
                           memory.Slice(GuestAddr(*addr), initrd->size()));
    // Straight into guest RAM once placed: no host copy of the initrd.
    SKIFF_RETURN_IF_ERROR(initrd->Read(0, dst));
    boot.initrd = std::make_pair(*addr, initrd->size());
  }

  SKIFF_RETURN_IF_ERROR(WriteGdt(memory));
  boot.regs.rflags = kRflagsReserved1;
  boot.regs.rip = k.entry;
  switch (k.mode) {
    case EntryMode::kLinux64: {
      BootParams params{};
      params.hdr = k.hdr;
      BootParamsInfo info{kCmdlineAddr,
                          static_cast<uint32_t>(options.cmdline.size()),
                          boot.initrd, options.rsdp_addr, e820};
      SKIFF_RETURN_IF_ERROR(FillBootParams(params, info));
      SKIFF_RETURN_IF_ERROR(memory.WriteObj(GuestAddr(kZeroPageAddr), params));
      SKIFF_RETURN_IF_ERROR(WriteIdentityPageTables(memory));
      boot.sregs = LongModeSregs();
      boot.regs.rsi = kZeroPageAddr;
      boot.regs.rsp = boot.regs.rbp = kBootStackTop;
      break;
    }
    case EntryMode::kPvh:
      SKIFF_RETURN_IF_ERROR(WritePvhStartInfo(
          memory, {kCmdlineAddr, boot.initrd, options.rsdp_addr, e820}));
      boot.sregs = ProtectedModeSregs();
      boot.regs.rbx = kPvhStartInfoAddr;
      break;
    case EntryMode::kMultiboot:
      SKIFF_RETURN_IF_ERROR(
          WriteMultibootInfo(memory, {kCmdlineAddr, boot.initrd, e820}));
      boot.sregs = ProtectedModeSregs();
      boot.regs.rax = kMultibootBootloaderMagic;
      boot.regs.rbx = kMultibootInfoAddr;
      break;
  }
  boot.protocol = k.protocol;
  boot.entry = k.entry;
  boot.kernel_start = k.start;
  boot.kernel_end = k.end;
  boot.e820 = std::move(e820);
  return boot;
}

}  // namespace

absl::StatusOr<BootSetup> LoadKernelFromBytes(
    const GuestMemory& memory, const LoadOptions& options,
    absl::Span<const uint8_t> kernel,
    std::optional<absl::Span<const uint8_t>> initrd) {
  if (kernel.empty()) return Invalid(KernelWhat(options), "file is empty");
  const ImageReader image(KernelWhat(options), kernel);
  if (!initrd) return Boot(memory, options, image, nullptr);
  const ImageReader initrd_image(InitrdWhat(options), *initrd);
  return Boot(memory, options, image, &initrd_image);
}

absl::StatusOr<BootSetup> LoadKernel(const GuestMemory& memory,
                                     const LoadOptions& options) {
  const std::string kernel_what = KernelWhat(options);
  SKIFF_ASSIGN_OR_RETURN(OpenedImage file,
                         OpenImageFileWithin(kernel_what, options.kernel_path,
                                             memory.total_size(), "guest RAM"));
  const ImageReader kernel(kernel_what, file);
  if (options.initrd_path.empty()) {
    return Boot(memory, options, kernel, nullptr);
  }
  const std::string what = InitrdWhat(options);
  SKIFF_ASSIGN_OR_RETURN(OpenedImage initrd_file,
                         OpenImageFile(what, options.initrd_path));
  const ImageReader initrd(what, initrd_file);
  return Boot(memory, options, kernel, &initrd);
}

}  // namespace skiff::boot
