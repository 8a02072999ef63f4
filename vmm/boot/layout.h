// The guest-physical layout skiff uses for a direct (firmware-less) x86 boot:
// where each boot-time structure lives, and the fixed ranges of the e820 map.
// Every loader, the e820 builder and the platform-table code (MP table, ACPI)
// agree on these addresses, so they live in one place.
//
//   SKIFF_RETURN_IF_ERROR(memory.WriteObj(GuestAddr(kZeroPageAddr), params));
//   regs.rsi = kZeroPageAddr;
//
// Low memory (the first MiB), all inside the e820 "usable" range [0, 0x9fc00)
// except where noted. Linux reserves the first MiB for itself early
// (arch/x86/kernel/setup.c), so nothing here is overwritten before the kernel
// has read it.
//
//   0x00000 - 0x004ff  real-mode IVT and BIOS data area (left zero)
//   0x00500 - 0x0052f  GDT (kGdtAddr: null, code32, code64, data, TSS; gdt.h)
//   0x00540 - 0x00547  IDT (kIdtAddr, one zero entry: interrupts are off)
//   0x05000 - 0x05fff  multiboot info, modules, mmap, loader name
//   0x06000 - 0x06fff  PVH hvm_start_info, modlist, memmap
//   0x07000 - 0x07fff  boot_params, the Linux "zero page" (kZeroPageAddr)
//   0x08000 - 0x08fff  boot stack (kBootStackTop grows down from 0x8ff0)
//   0x09000 - 0x0efff  identity page tables: PML4, PDPT, 4 PDs (page_tables.h)
//   0x20000 - 0x2ffff  kernel command line (kCmdlineAddr, at most
//                      kCmdlineAreaSize bytes with its NUL)
//   0x9fc00 - 0x9ffff  EBDA: e820 reserved; the MP table goes here (later)
//   0xa0000 - 0xfffff  VGA hole + BIOS ROM: e820 reserved; the ACPI RSDP may
//                      go at 0xe0000 (kAcpiTablesAddr) where OSes scan for it
//
// Above 1 MiB:
//   kernel    at 1 MiB by default (kKernelDefaultAddr), at the ELF segments'
//             p_paddr, or at a bzImage's pref_address (aligned to
//             kernel_alignment, init_size bytes reserved)
//   initrd    page-aligned, as high as possible in low RAM below the kernel's
//             limit (bzImage initrd_addr_max, else the end of low RAM), and
//             above the kernel's end
//   RAM above kX86MmioGapStart (3 GiB) is mapped from 4 GiB
//             (GuestMemory::X86Layout) and listed as usable from there.
#ifndef SKIFF_VMM_BOOT_LAYOUT_H_
#define SKIFF_VMM_BOOT_LAYOUT_H_

#include <cstdint>

namespace skiff::boot {

inline constexpr uint64_t kPageSize = 0x1000;

inline constexpr uint64_t kGdtAddr = 0x500;
inline constexpr uint64_t kIdtAddr = 0x540;

inline constexpr uint64_t kMultibootInfoAddr = 0x5000;
inline constexpr uint64_t kMultibootModsAddr = 0x5100;
inline constexpr uint64_t kMultibootMmapAddr = 0x5200;  // up to 128 entries
inline constexpr uint64_t kMultibootLoaderNameAddr = 0x5f00;

inline constexpr uint64_t kPvhStartInfoAddr = 0x6000;
inline constexpr uint64_t kPvhModlistAddr = 0x6080;
inline constexpr uint64_t kPvhMemmapAddr = 0x6100;  // up to 128 entries

inline constexpr uint64_t kZeroPageAddr = 0x7000;
inline constexpr uint64_t kBootStackTop = 0x8ff0;

inline constexpr uint64_t kPml4Addr = 0x9000;
inline constexpr uint64_t kPdptAddr = 0xa000;
inline constexpr uint64_t kPdAddr = 0xb000;  // 4 consecutive PDs, to 0xefff

inline constexpr uint64_t kCmdlineAddr = 0x20000;
inline constexpr uint64_t kCmdlineAreaSize = 0x10000;
// Longest command line (without its NUL) for protocols that state no limit
// of their own (ELF, PVH, multiboot); a bzImage's cmdline_size applies
// otherwise. 4095 matches x86 Linux's COMMAND_LINE_SIZE of 2048 with room.
inline constexpr uint64_t kCmdlineMax = 4095;

// Legacy PC hole (e820 reserved): EBDA from 639 KiB, then VGA and BIOS ROM.
inline constexpr uint64_t kEbdaStart = 0x9fc00;
inline constexpr uint64_t kMpTableAddr = kEbdaStart;  // room for an MP table
inline constexpr uint64_t kAcpiTablesAddr = 0xe0000;  // RSDP scan area
inline constexpr uint64_t kHighMemStart = 0x100000;   // 1 MiB

inline constexpr uint64_t kKernelDefaultAddr = kHighMemStart;
// Linux's default initrd_addr_max (boot.rst: "assume 0x37FFFFFF" before 2.03).
inline constexpr uint64_t kDefaultInitrdAddrMax = 0x37ffffff;

// The most e820 entries boot_params (E820_MAX_ENTRIES_ZEROPAGE) can carry;
// the PVH and multiboot tables are sized to match.
inline constexpr int kMaxE820Entries = 128;

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_LAYOUT_H_
