// The flat GDT skiff loads before entering a kernel, and the segment/control
// register state (skiff::Sregs) for the two entry modes skiff uses.
//
// GDT at kGdtAddr (selectors):
//   0x00 null
//   0x08 32-bit flat code   CS for PVH and multiboot (both leave the selector
//                           value unspecified; they need a 4 GiB flat 32-bit
//                           r/x segment)
//   0x10 64-bit flat code   __BOOT_CS of boot.rst's 64-bit protocol
//   0x18 flat data          __BOOT_DS (boot.rst), DS/ES/FS/GS/SS everywhere
//   0x20 TSS descriptor     (16 bytes) so TR holds a valid busy TSS, which
//                           VMX requires of guest state (SDM vol. 3C 26.3.1.2)
// Using 0x10/0x18 for the 64-bit protocol keeps to boot.rst word for word,
// although Linux's startup_64 only needs a flat 64-bit CS and flat data.
//
//   SKIFF_RETURN_IF_ERROR(WriteGdt(memory));
//   Sregs sregs = LongModeSregs();          // 64-bit boot protocol
//   Sregs sregs = ProtectedModeSregs();     // PVH, multiboot
#ifndef SKIFF_VMM_BOOT_GDT_H_
#define SKIFF_VMM_BOOT_GDT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "base/guest_memory.h"
#include "base/x86_state.h"

namespace skiff::boot {

inline constexpr uint16_t kCode32Selector = 0x08;
inline constexpr uint16_t kCode64Selector = 0x10;
inline constexpr uint16_t kDataSelector = 0x18;
inline constexpr uint16_t kTssSelector = 0x20;
inline constexpr int kGdtEntries = 6;  // the TSS descriptor takes two

// The default local APIC base MSR value: 0xfee00000, enabled, BSP. Sregs
// carries apic_base, so a zero here would disable the vCPU's APIC.
inline constexpr uint64_t kApicBaseDefault =
    0xfee00000 | (1u << 11) | (1u << 8);

// Packs a segment into its 8-byte GDT descriptor (SDM vol. 3A, 3.4.5).
uint64_t EncodeDescriptor(const Segment& segment);

// Writes the GDT at kGdtAddr and a zero IDT entry at kIdtAddr.
absl::Status WriteGdt(const GuestMemory& memory);

// Long mode with the identity page tables (page_tables.h): CR0 PE|ET|PG,
// CR4 PAE, EFER LME|LMA, CR3 kPml4Addr, CS 0x10 (L=1), data 0x18.
Sregs LongModeSregs();
// 32-bit protected mode, paging off: CR0 PE|ET, CS 0x08 (D=1), data 0x18,
// all flat 4 GiB.
Sregs ProtectedModeSregs();

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_GDT_H_
