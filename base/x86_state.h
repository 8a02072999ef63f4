// Architectural x86-64 register state exchanged between the VMM and a vCPU
// backend. The layout is skiff's own; kvm/ converts to <linux/kvm.h> types
// and tcg/ keeps the same values in its CPU state.
//
//   Regs regs{};
//   regs.rip = entry; regs.rsi = boot_params; regs.rflags = kRflagsReserved1;
//   SKIFF_RETURN_IF_ERROR(vcpu.SetRegs(regs));
#ifndef SKIFF_BASE_X86_STATE_H_
#define SKIFF_BASE_X86_STATE_H_

#include <cstdint>

namespace skiff {

inline constexpr uint64_t kRflagsReserved1 = 1u << 1;  // always reads 1
inline constexpr uint64_t kRflagsIf = 1u << 9;

inline constexpr uint64_t kCr0Pe = 1u << 0;
inline constexpr uint64_t kCr0Mp = 1u << 1;
inline constexpr uint64_t kCr0Et = 1u << 4;
inline constexpr uint64_t kCr0Ne = 1u << 5;
inline constexpr uint64_t kCr0Wp = 1u << 16;
inline constexpr uint64_t kCr0Pg = 1u << 31;
inline constexpr uint64_t kCr4Pae = 1u << 5;
inline constexpr uint64_t kCr4Pge = 1u << 7;
inline constexpr uint64_t kCr4Osfxsr = 1u << 9;
inline constexpr uint64_t kCr4Osxmmexcpt = 1u << 10;
inline constexpr uint64_t kEferSce = 1u << 0;
inline constexpr uint64_t kEferLme = 1u << 8;
inline constexpr uint64_t kEferLma = 1u << 10;
inline constexpr uint64_t kEferNxe = 1u << 11;

struct Regs {
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint64_t rip, rflags;
};

// A segment register with its hidden (descriptor cache) part unpacked.
struct Segment {
  uint64_t base;
  uint32_t limit;  // byte granular: already scaled when g is set
  uint16_t selector;
  uint8_t type;  // 4-bit descriptor type
  uint8_t present, dpl, db, s, l, g, avl;
  uint8_t unusable;
};

struct DescriptorTable {
  uint64_t base;
  uint16_t limit;
};

struct Sregs {
  Segment cs, ds, es, fs, gs, ss;
  Segment tr, ldt;
  DescriptorTable gdt, idt;
  uint64_t cr0, cr2, cr3, cr4, cr8;
  uint64_t efer;
  uint64_t apic_base;
};

struct MsrEntry {
  uint32_t index;
  uint64_t value;
};

// MSR numbers used across layers (Intel SDM vol. 4, chapter 2).
inline constexpr uint32_t kMsrIa32Tsc = 0x10;
inline constexpr uint32_t kMsrIa32ApicBase = 0x1b;
inline constexpr uint32_t kMsrIa32MiscEnable = 0x1a0;
inline constexpr uint32_t kMsrIa32Pat = 0x277;
inline constexpr uint32_t kMsrIa32SysenterCs = 0x174;
inline constexpr uint32_t kMsrIa32SysenterEsp = 0x175;
inline constexpr uint32_t kMsrIa32SysenterEip = 0x176;
inline constexpr uint32_t kMsrIa32TscDeadline = 0x6e0;
inline constexpr uint32_t kMsrEfer = 0xc0000080;
inline constexpr uint32_t kMsrStar = 0xc0000081;
inline constexpr uint32_t kMsrLstar = 0xc0000082;
inline constexpr uint32_t kMsrCstar = 0xc0000083;
inline constexpr uint32_t kMsrSyscallMask = 0xc0000084;
inline constexpr uint32_t kMsrFsBase = 0xc0000100;
inline constexpr uint32_t kMsrGsBase = 0xc0000101;
inline constexpr uint32_t kMsrKernelGsBase = 0xc0000102;
inline constexpr uint32_t kMsrTscAux = 0xc0000103;

}  // namespace skiff

#endif  // SKIFF_BASE_X86_STATE_H_
