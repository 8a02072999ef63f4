#include "kvm/x86_convert.h"

#include <algorithm>
#include <cstring>

#include "gtest/gtest.h"

namespace skiff::kvm {
namespace {

TEST(X86Convert, RegsRoundTrip) {
  static_assert(sizeof(Regs) == 18 * sizeof(uint64_t));
  uint64_t words[18];
  for (int i = 0; i < 18; ++i) words[i] = 0x1000 + i;
  Regs r;
  std::memcpy(&r, words, sizeof(r));
  kvm_regs k = ToKvmRegs(r);
  EXPECT_EQ(k.rax, 0x1000u);
  EXPECT_EQ(k.rbp, 0x1007u);
  EXPECT_EQ(k.r15, 0x100fu);
  EXPECT_EQ(k.rip, 0x1010u);
  EXPECT_EQ(k.rflags, 0x1011u);
  Regs back = FromKvmRegs(k);
  EXPECT_EQ(std::memcmp(&back, &r, sizeof(r)), 0);
}

Segment MakeSegment(uint64_t base, uint16_t selector) {
  Segment s{};
  s.base = base;
  s.limit = 0xfffff;
  s.selector = selector;
  s.type = 0xb;
  s.present = 1;
  s.dpl = 3;
  s.db = 0;
  s.s = 1;
  s.l = 1;
  s.g = 1;
  s.avl = 1;
  s.unusable = 0;
  return s;
}

TEST(X86Convert, SregsRoundTripKeepsInterruptBitmap) {
  Sregs s{};
  s.cs = MakeSegment(0x10, 0x8);
  s.ds = MakeSegment(0x20, 0x10);
  s.es = MakeSegment(0x30, 0x18);
  s.fs = MakeSegment(0x40, 0x20);
  s.gs = MakeSegment(0x50, 0x28);
  s.ss = MakeSegment(0x60, 0x30);
  s.tr = MakeSegment(0x70, 0x38);
  s.ldt = MakeSegment(0x80, 0x40);
  s.ldt.unusable = 1;
  s.gdt = {0x4000, 0x27};
  s.idt = {0x5000, 0xfff};
  s.cr0 = 0x80050033;
  s.cr2 = 0xdead;
  s.cr3 = 0x1000;
  s.cr4 = 0x20;
  s.cr8 = 5;
  s.efer = 0x500;
  s.apic_base = 0xfee00900;

  kvm_sregs k{};
  k.interrupt_bitmap[0] = 1u << 3;  // a pending external interrupt
  k.interrupt_bitmap[3] = 7;
  ToKvmSregs(s, k);
  EXPECT_EQ(k.interrupt_bitmap[0], 1u << 3);
  EXPECT_EQ(k.interrupt_bitmap[3], 7u);
  EXPECT_EQ(k.cs.base, 0x10u);
  EXPECT_EQ(k.cs.selector, 0x8);
  EXPECT_EQ(k.cs.l, 1);
  EXPECT_EQ(k.cs.dpl, 3);
  EXPECT_EQ(k.ldt.unusable, 1);
  EXPECT_EQ(k.gdt.base, 0x4000u);
  EXPECT_EQ(k.idt.limit, 0xfff);
  EXPECT_EQ(k.efer, 0x500u);
  EXPECT_EQ(k.apic_base, 0xfee00900u);

  Sregs back = FromKvmSregs(k);
  EXPECT_EQ(back.cs.base, s.cs.base);
  EXPECT_EQ(back.tr.selector, s.tr.selector);
  EXPECT_EQ(back.ss.avl, 1);
  EXPECT_EQ(back.ldt.unusable, 1);
  EXPECT_EQ(back.cr0, s.cr0);
  EXPECT_EQ(back.cr2, s.cr2);
  EXPECT_EQ(back.cr8, s.cr8);
  EXPECT_EQ(back.gdt.limit, s.gdt.limit);
  EXPECT_EQ(back.idt.base, s.idt.base);
}

TEST(X86Convert, SegmentFieldsAllCopied) {
  Segment s = MakeSegment(0xffff800000000000, 0x2b);
  s.limit = 0xffffffff;
  kvm_segment k = ToKvmSegment(s);
  EXPECT_EQ(k.base, s.base);
  EXPECT_EQ(k.limit, 0xffffffffu);
  EXPECT_EQ(k.selector, 0x2b);
  EXPECT_EQ(k.type, 0xb);
  EXPECT_EQ(k.avl, 1);
  EXPECT_EQ(k.padding, 0);
  Segment back = FromKvmSegment(k);
  EXPECT_EQ(back.base, s.base);
  EXPECT_EQ(back.g, 1);
}

TEST(X86Convert, PowerOnFpu) {
  kvm_fpu fpu = PowerOnFpu();
  EXPECT_EQ(fpu.fcw, 0x37f);
  EXPECT_EQ(fpu.mxcsr, 0x1f80u);
  EXPECT_EQ(fpu.fsw, 0);
  EXPECT_EQ(fpu.ftwx, 0);
}

TEST(X86Convert, DefaultBootMsrs) {
  std::vector<MsrEntry> msrs = DefaultBootMsrs();
  auto find = [&](uint32_t index) -> const MsrEntry* {
    auto it = std::find_if(msrs.begin(), msrs.end(),
                           [&](const MsrEntry& e) { return e.index == index; });
    return it == msrs.end() ? nullptr : &*it;
  };
  for (uint32_t zero :
       {kMsrIa32SysenterCs, kMsrIa32SysenterEsp, kMsrIa32SysenterEip, kMsrStar,
        kMsrLstar, kMsrCstar, kMsrSyscallMask, kMsrKernelGsBase, kMsrIa32Tsc}) {
    const MsrEntry* e = find(zero);
    ASSERT_NE(e, nullptr) << std::hex << zero;
    EXPECT_EQ(e->value, 0u) << std::hex << zero;
  }
  ASSERT_NE(find(kMsrIa32MiscEnable), nullptr);
  EXPECT_EQ(find(kMsrIa32MiscEnable)->value, 1u);
  EXPECT_EQ(find(kMsrMtrrDefType), nullptr);
  std::vector<MsrEntry> optional = BestEffortBootMsrs();
  ASSERT_EQ(optional.size(), 1u);
  EXPECT_EQ(optional[0].index, kMsrMtrrDefType);
  EXPECT_EQ(optional[0].value, 0x806u);
}

}  // namespace
}  // namespace skiff::kvm
