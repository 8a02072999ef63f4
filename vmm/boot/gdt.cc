#include "vmm/boot/gdt.h"

#include <array>

#include "base/status_macros.h"
#include "vmm/boot/layout.h"

namespace skiff::boot {
namespace {

// Descriptor types (SDM vol. 3A, table 3-1), with the accessed bit set so the
// CPU never needs to write the GDT.
constexpr uint8_t kTypeCodeExecReadAccessed = 0xb;
constexpr uint8_t kTypeDataReadWriteAccessed = 0x3;
constexpr uint8_t kTypeTss64Busy = 0xb;
constexpr uint32_t kTssLimit = 0x67;

Segment FlatSegment(uint16_t selector, uint8_t type, bool code64) {
  Segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = type;
  s.present = 1;
  s.dpl = 0;
  s.s = 1;
  s.l = code64 ? 1 : 0;
  s.db = code64 ? 0 : 1;  // D must be 0 when L is 1 (SDM 3.4.5)
  s.g = 1;
  return s;
}

Segment Code32() {
  return FlatSegment(kCode32Selector, kTypeCodeExecReadAccessed, false);
}
Segment Code64() {
  return FlatSegment(kCode64Selector, kTypeCodeExecReadAccessed, true);
}
Segment Data() {
  return FlatSegment(kDataSelector, kTypeDataReadWriteAccessed, false);
}
Segment Tss() {
  Segment s{};
  s.selector = kTssSelector;
  s.limit = kTssLimit;
  s.type = kTypeTss64Busy;
  s.present = 1;
  return s;
}

Sregs CommonSregs() {
  Sregs sregs{};
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = Data();
  sregs.tr = Tss();
  sregs.ldt.type = 2;  // LDT, marked unusable: no LDT is loaded
  sregs.ldt.unusable = 1;
  sregs.gdt = {kGdtAddr, kGdtEntries * 8 - 1};
  sregs.idt = {kIdtAddr, 7};
  sregs.apic_base = kApicBaseDefault;
  return sregs;
}

}  // namespace

uint64_t EncodeDescriptor(const Segment& seg) {
  // The limit field is 20 bits; with G set it counts 4 KiB pages.
  uint64_t limit = seg.g ? (seg.limit >> 12) : seg.limit;
  uint64_t d = 0;
  d |= limit & 0xffff;
  d |= (seg.base & 0xffffff) << 16;
  d |= static_cast<uint64_t>(seg.type & 0xf) << 40;
  d |= static_cast<uint64_t>(seg.s & 1) << 44;
  d |= static_cast<uint64_t>(seg.dpl & 3) << 45;
  d |= static_cast<uint64_t>(seg.present & 1) << 47;
  d |= ((limit >> 16) & 0xf) << 48;
  d |= static_cast<uint64_t>(seg.avl & 1) << 52;
  d |= static_cast<uint64_t>(seg.l & 1) << 53;
  d |= static_cast<uint64_t>(seg.db & 1) << 54;
  d |= static_cast<uint64_t>(seg.g & 1) << 55;
  d |= ((seg.base >> 24) & 0xff) << 56;
  return d;
}

absl::Status WriteGdt(const GuestMemory& memory) {
  std::array<uint64_t, kGdtEntries> gdt{};
  gdt[kCode32Selector / 8] = EncodeDescriptor(Code32());
  gdt[kCode64Selector / 8] = EncodeDescriptor(Code64());
  gdt[kDataSelector / 8] = EncodeDescriptor(Data());
  // A 64-bit TSS descriptor's second half holds base[63:32]: zero here.
  gdt[kTssSelector / 8] = EncodeDescriptor(Tss());
  SKIFF_RETURN_IF_ERROR(memory.WriteObj(GuestAddr(kGdtAddr), gdt));
  return memory.WriteObj(GuestAddr(kIdtAddr), uint64_t{0});
}

Sregs LongModeSregs() {
  Sregs sregs = CommonSregs();
  sregs.cs = Code64();
  sregs.cr0 = kCr0Pe | kCr0Et | kCr0Pg;
  sregs.cr3 = kPml4Addr;
  sregs.cr4 = kCr4Pae;
  sregs.efer = kEferLme | kEferLma;
  return sregs;
}

Sregs ProtectedModeSregs() {
  Sregs sregs = CommonSregs();
  sregs.cs = Code32();
  sregs.cr0 = kCr0Pe | kCr0Et;
  return sregs;
}

}  // namespace skiff::boot
