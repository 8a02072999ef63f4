// A minimal 64-bit environment for probes and tests: a small GuestMemory at
// guest-physical 0 with identity-mapped page tables, a flat GDT, an IDT and
// a stack, and the sregs/regs that enter long mode at CPL0 directly (no
// real-mode trampoline). It only uses the VcpuBackend interface, so the same
// setup drives KVM and the interpreter.
//
//   SKIFF_ASSIGN_OR_RETURN(auto mem, CreateTinyGuestMemory());
//   SKIFF_RETURN_IF_ERROR(WriteLongModeTables(*mem));
//   SKIFF_RETURN_IF_ERROR(mem->Write(GuestAddr(kTinyCode), code));
//   SKIFF_RETURN_IF_ERROR(SetIdtGate(*mem, 3, kTinyCode + 0x100));
//   SKIFF_RETURN_IF_ERROR(EnterLongMode(vcpu, kTinyCode, kTinyStackTop));
//
// Layout (guest-physical = linear):
//   0x1000 PML4, 0x2000 PDPT, 0x3000 PD: the first 1 GiB identity-mapped
//          with 2 MiB pages, so MMIO just above the RAM is addressable.
//   0x4000 GDT: 0 null, 0x08 64-bit code, 0x10 data, 0x18 TSS (2 slots)
//   0x5000 IDT: 256 16-byte gates, all not-present until SetIdtGate
//   0x5800 TSS (0x68 bytes, zero: no stack switch at CPL0)
//   0x6000 code (kTinyCode), stack below 0x10000 (kTinyStackTop)
#ifndef SKIFF_KVM_TINY_GUEST_H_
#define SKIFF_KVM_TINY_GUEST_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/guest_memory.h"
#include "base/vcpu_backend.h"

namespace skiff::kvm {

inline constexpr uint64_t kTinyPml4 = 0x1000;
inline constexpr uint64_t kTinyPdpt = 0x2000;
inline constexpr uint64_t kTinyPd = 0x3000;
inline constexpr uint64_t kTinyGdt = 0x4000;
inline constexpr uint64_t kTinyIdt = 0x5000;
inline constexpr uint64_t kTinyTss = 0x5800;
inline constexpr uint64_t kTinyCode = 0x6000;
inline constexpr uint64_t kTinyStackTop = 0x10000;
inline constexpr uint64_t kTinyMemSize = 0x10000;
// First guest-physical address above the tiny guest's RAM; still mapped by
// its page tables, so accesses there are MMIO.
inline constexpr uint64_t kTinyMmioBase = 0x100000;

inline constexpr uint16_t kTinyCodeSelector = 0x08;
inline constexpr uint16_t kTinyDataSelector = 0x10;
inline constexpr uint16_t kTinyTssSelector = 0x18;

// kTinyMemSize bytes of RAM at guest-physical 0.
absl::StatusOr<std::unique_ptr<GuestMemory>> CreateTinyGuestMemory();

// Page tables, GDT, TSS and an empty IDT at the addresses above.
absl::Status WriteLongModeTables(const GuestMemory& memory);

// A 64-bit interrupt gate (type 0xE, DPL 0, present, IST 0) for `vector`.
absl::Status SetIdtGate(const GuestMemory& memory, int vector,
                        uint64_t handler);

// The sregs of 64-bit mode at CPL0 with the tables above (paging, PAE,
// EFER.LME/LMA), starting from `base` for fields the caller may not know
// (e.g. what the backend reports after reset).
Sregs LongModeSregs(const Sregs& base);

// Sets sregs and regs: RIP = rip, RSP = rsp, RFLAGS = 2 (interrupts off).
absl::Status EnterLongMode(VcpuBackend& vcpu, uint64_t rip, uint64_t rsp);

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_TINY_GUEST_H_
