#include "kvm/x86_convert.h"

namespace skiff::kvm {

kvm_regs ToKvmRegs(const Regs& r) {
  kvm_regs k{};
  k.rax = r.rax;
  k.rbx = r.rbx;
  k.rcx = r.rcx;
  k.rdx = r.rdx;
  k.rsi = r.rsi;
  k.rdi = r.rdi;
  k.rsp = r.rsp;
  k.rbp = r.rbp;
  k.r8 = r.r8;
  k.r9 = r.r9;
  k.r10 = r.r10;
  k.r11 = r.r11;
  k.r12 = r.r12;
  k.r13 = r.r13;
  k.r14 = r.r14;
  k.r15 = r.r15;
  k.rip = r.rip;
  k.rflags = r.rflags;
  return k;
}

Regs FromKvmRegs(const kvm_regs& k) {
  Regs r{};
  r.rax = k.rax;
  r.rbx = k.rbx;
  r.rcx = k.rcx;
  r.rdx = k.rdx;
  r.rsi = k.rsi;
  r.rdi = k.rdi;
  r.rsp = k.rsp;
  r.rbp = k.rbp;
  r.r8 = k.r8;
  r.r9 = k.r9;
  r.r10 = k.r10;
  r.r11 = k.r11;
  r.r12 = k.r12;
  r.r13 = k.r13;
  r.r14 = k.r14;
  r.r15 = k.r15;
  r.rip = k.rip;
  r.rflags = k.rflags;
  return r;
}

kvm_segment ToKvmSegment(const Segment& s) {
  kvm_segment k{};
  k.base = s.base;
  k.limit = s.limit;
  k.selector = s.selector;
  k.type = s.type;
  k.present = s.present;
  k.dpl = s.dpl;
  k.db = s.db;
  k.s = s.s;
  k.l = s.l;
  k.g = s.g;
  k.avl = s.avl;
  k.unusable = s.unusable;
  return k;
}

Segment FromKvmSegment(const kvm_segment& k) {
  Segment s{};
  s.base = k.base;
  s.limit = k.limit;
  s.selector = k.selector;
  s.type = k.type;
  s.present = k.present;
  s.dpl = k.dpl;
  s.db = k.db;
  s.s = k.s;
  s.l = k.l;
  s.g = k.g;
  s.avl = k.avl;
  s.unusable = k.unusable;
  return s;
}

void ToKvmSregs(const Sregs& s, kvm_sregs& k) {
  k.cs = ToKvmSegment(s.cs);
  k.ds = ToKvmSegment(s.ds);
  k.es = ToKvmSegment(s.es);
  k.fs = ToKvmSegment(s.fs);
  k.gs = ToKvmSegment(s.gs);
  k.ss = ToKvmSegment(s.ss);
  k.tr = ToKvmSegment(s.tr);
  k.ldt = ToKvmSegment(s.ldt);
  k.gdt = kvm_dtable{};
  k.gdt.base = s.gdt.base;
  k.gdt.limit = s.gdt.limit;
  k.idt = kvm_dtable{};
  k.idt.base = s.idt.base;
  k.idt.limit = s.idt.limit;
  k.cr0 = s.cr0;
  k.cr2 = s.cr2;
  k.cr3 = s.cr3;
  k.cr4 = s.cr4;
  k.cr8 = s.cr8;
  k.efer = s.efer;
  k.apic_base = s.apic_base;
}

Sregs FromKvmSregs(const kvm_sregs& k) {
  Sregs s{};
  s.cs = FromKvmSegment(k.cs);
  s.ds = FromKvmSegment(k.ds);
  s.es = FromKvmSegment(k.es);
  s.fs = FromKvmSegment(k.fs);
  s.gs = FromKvmSegment(k.gs);
  s.ss = FromKvmSegment(k.ss);
  s.tr = FromKvmSegment(k.tr);
  s.ldt = FromKvmSegment(k.ldt);
  s.gdt = {k.gdt.base, k.gdt.limit};
  s.idt = {k.idt.base, k.idt.limit};
  s.cr0 = k.cr0;
  s.cr2 = k.cr2;
  s.cr3 = k.cr3;
  s.cr4 = k.cr4;
  s.cr8 = k.cr8;
  s.efer = k.efer;
  s.apic_base = k.apic_base;
  return s;
}

kvm_fpu PowerOnFpu() {
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  return fpu;
}

std::vector<MsrEntry> DefaultBootMsrs() {
  return {
      {kMsrIa32SysenterCs, 0},  {kMsrIa32SysenterEsp, 0},
      {kMsrIa32SysenterEip, 0}, {kMsrStar, 0},
      {kMsrCstar, 0},           {kMsrKernelGsBase, 0},
      {kMsrSyscallMask, 0},     {kMsrLstar, 0},
      {kMsrIa32Tsc, 0},         {kMsrIa32MiscEnable, kMiscEnableFastStrings},
  };
}

std::vector<MsrEntry> BestEffortBootMsrs() {
  return {{kMsrMtrrDefType, kMtrrDefTypeEnableWb}};
}

}  // namespace skiff::kvm
