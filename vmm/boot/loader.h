// skiff's direct-boot kernel loader: detects the kernel format by content,
// places kernel, initrd and command line in guest RAM, writes the protocol's
// boot structures (boot_params, PVH start_info or multiboot info), the GDT
// and, for long mode, identity page tables, and returns the register state
// vCPU 0 must start with. Layout: layout.h.
//
//   LoadOptions options;
//   options.kernel_path = "/x/bzImage";
//   options.initrd_path = "/x/initrd.cpio";
//   options.cmdline = "console=ttyS0 reboot=k panic=1";
//   SKIFF_ASSIGN_OR_RETURN(BootSetup boot, LoadKernel(memory, options));
//   SKIFF_RETURN_IF_ERROR(vcpu.SetSregs(boot.sregs));
//   SKIFF_RETURN_IF_ERROR(vcpu.SetRegs(boot.regs));
//
// Formats, tried in this order:
//   bzImage     "HdrS" at 0x202. Default: host-side decompression of the
//               payload (bzimage_fast_path) and the ELF inside loaded as
//               below ("bzimage-payload-elf", or "pvh"); else, or when the
//               payload's compression is not decoded on the host, the 64-bit
//               entry at load address + 0x200 ("bzimage").
//   ELF64       x86-64 vmlinux: PVH when it has the Xen PHYS32_ENTRY note and
//               prefer_pvh ("pvh"), else the 64-bit entry ("elf64").
//   multiboot   0x1BADB002 header in the first 8 KiB ("multiboot").
//   ELF32       with a PVH note ("pvh").
// Entry states:
//   64-bit      long mode, paging on with the identity map of the first
//               4 GiB, CS=0x10 (L=1), DS/ES/SS=0x18, RSI=kZeroPageAddr,
//               RSP=kBootStackTop, RFLAGS=0x2 (interrupts off).
//   pvh         32-bit protected mode, paging off, CS=0x08, data 0x18,
//               RBX=kPvhStartInfoAddr.
//   multiboot   as pvh, with RAX=0x2BADB002, RBX=kMultibootInfoAddr.
#ifndef SKIFF_VMM_BOOT_LOADER_H_
#define SKIFF_VMM_BOOT_LOADER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "base/x86_state.h"
#include "vmm/boot/e820.h"

namespace skiff::boot {

struct LoadOptions {
  std::string kernel_path;
  std::string initrd_path;  // empty: no initrd
  std::string cmdline;
  // Physical address of the ACPI RSDP, when the caller wrote ACPI tables.
  std::optional<uint64_t> rsdp_addr;
  // Ranges to list as non-RAM in the e820 map (ACPI tables, MP table area
  // outside the legacy hole, ...). Kernel and initrd never overlap them.
  std::vector<E820Entry> extra_reserved;
  // Enter an ELF with the Xen PHYS32_ENTRY note through PVH.
  bool prefer_pvh = true;
  // Decompress a bzImage's payload on the host and load the ELF inside.
  bool bzimage_fast_path = true;
};

struct BootSetup {
  Regs regs{};
  Sregs sregs{};
  // "elf64", "pvh", "bzimage", "bzimage-payload-elf" or "multiboot".
  std::string protocol;
  uint64_t entry = 0;
  uint64_t kernel_start = 0;
  uint64_t kernel_end = 0;
  std::optional<std::pair<uint64_t, uint64_t>> initrd;  // address, size
  std::vector<E820Entry> e820;  // the map given to the guest
};

// Reads options.kernel_path (and initrd_path) and boots from them. Files are
// refused before any host buffer is allocated when larger than guest RAM. An
// ELF vmlinux and the initrd are read straight into guest RAM (headers, then
// each segment); a bzImage or multiboot kernel is read whole first.
absl::StatusOr<BootSetup> LoadKernel(const GuestMemory& memory,
                                     const LoadOptions& options);

// As LoadKernel, with the kernel (and initrd, if any) given as bytes; the
// paths in `options` only name them in messages. For tests and fuzzers.
absl::StatusOr<BootSetup> LoadKernelFromBytes(
    const GuestMemory& memory, const LoadOptions& options,
    absl::Span<const uint8_t> kernel,
    std::optional<absl::Span<const uint8_t>> initrd);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_LOADER_H_
