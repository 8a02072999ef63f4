// System instructions: HLT, IN/OUT, CPUID, RDTSC(P), RDMSR/WRMSR, MOV to and
// from control/debug registers, descriptor-table loads and stores, LTR/LLDT,
// INVLPG, SWAPGS, segment-register moves and pushes, fences.
#include <atomic>

#include "tcg/cpu.h"
#include "tcg/cpuid_msr.h"
#include "tcg/ops.h"
#include "tcg/ops_util.h"
#include "tcg/segments.h"

namespace skiff::tcg {
namespace {

bool Cpl0(const Cpu& c) { return c.s.cpl == 0; }

bool ApicMsr(uint32_t index) {
  return index == kMsrIa32TscDeadline || index == kMsrIa32ApicBase;
}

// CR4 bits this model accepts: VME..OSXMMEXCPT (0-10) minus VME/PVI.
constexpr uint64_t kCr4Allowed = 0x7fc;

ExecStatus WriteCr0(Cpu& c, uint64_t v) {
  CpuState& s = c.s;
  if (v >> 32) return c.Gp0();
  v |= kCr0Et;
  if ((v & kCr0Pg) && !(v & kCr0Pe)) return c.Gp0();
  const bool pg_on = (v & kCr0Pg) && !(s.cr0 & kCr0Pg);
  const bool pg_off = !(v & kCr0Pg) && (s.cr0 & kCr0Pg);
  if (pg_on && (s.efer & kEferLme)) {
    // Long mode activation (Intel SDM vol. 3, section 9.8.5).
    if (!(s.cr4 & kCr4Pae)) return c.Gp0();
    s.efer |= kEferLma;
  }
  if (pg_off && s.long_mode) {
    if (s.code_bits == 64) return c.Gp0();
    s.efer &= ~kEferLma;
  }
  if ((v ^ s.cr0) & (kCr0Pg | kCr0Wp | kCr0Pe)) c.FlushTlb(true);
  s.cr0 = v;
  c.UpdateMode();
  return ExecStatus::kNext;
}

}  // namespace

ExecStatus OpHlt(Cpu& c, const Insn&) {
  if (!Cpl0(c)) return c.Gp0();
  return ExecStatus::kHalt;
}

ExecStatus CheckIoPermission(Cpu& c, uint16_t port, int size) {
  if (!c.s.protected_mode) return ExecStatus::kNext;
  if (c.s.cpl <= ((c.Rflags() & kFlagIopl) >> 12)) return ExecStatus::kNext;
  // The bitmap starts at the 16-bit offset at TSS+0x66; two bytes are read
  // so an access spanning a byte boundary is covered, and both must lie
  // within the TSS limit. A 16-bit TSS (type 1/3) has no bitmap.
  const Segment& tr = c.s.tr;
  if (tr.type != 9 && tr.type != 11) return c.Gp0();
  if (tr.limit < 0x67) return c.Gp0();
  uint64_t map_base = 0;
  if (!c.ReadLin(tr.base + 0x66, 2, &map_base, false))
    return ExecStatus::kFault;
  const uint64_t offset = map_base + port / 8;
  if (offset + 1 > tr.limit) return c.Gp0();
  uint64_t bits = 0;
  if (!c.ReadLin(tr.base + offset, 2, &bits, false)) return ExecStatus::kFault;
  const uint64_t mask = ((1u << size) - 1) << (port & 7);
  return (bits & mask) == 0 ? ExecStatus::kNext : c.Gp0();
}

ExecStatus OpIn(Cpu& c, const Insn& i) {
  const int size = i.opsize == 8 ? 4 : i.opsize;
  const int opb = i.op & 0xff;
  const uint16_t port = opb >= 0xec ? static_cast<uint16_t>(c.s.gpr[kRdx])
                                    : static_cast<uint16_t>(i.imm & 0xff);
  if (ExecStatus st = CheckIoPermission(c, port, size); st != ExecStatus::kNext)
    return st;
  c.SetReg(kRax, size, PortIn(c, port, size));
  return ExecStatus::kNext;
}

ExecStatus OpOut(Cpu& c, const Insn& i) {
  const int size = i.opsize == 8 ? 4 : i.opsize;
  const int opb = i.op & 0xff;
  const uint16_t port = opb >= 0xec ? static_cast<uint16_t>(c.s.gpr[kRdx])
                                    : static_cast<uint16_t>(i.imm & 0xff);
  if (ExecStatus st = CheckIoPermission(c, port, size); st != ExecStatus::kNext)
    return st;
  PortOut(c, port, size, c.Reg(kRax, size));
  return ExecStatus::kNext;
}

ExecStatus OpCpuid(Cpu& c, const Insn&) {
  const CpuidResult r = Cpuid(c, static_cast<uint32_t>(c.s.gpr[kRax]),
                              static_cast<uint32_t>(c.s.gpr[kRcx]));
  c.s.gpr[kRax] = r.eax;
  c.s.gpr[kRbx] = r.ebx;
  c.s.gpr[kRcx] = r.ecx;
  c.s.gpr[kRdx] = r.edx;
  return ExecStatus::kNext;
}

ExecStatus OpRdtsc(Cpu& c, const Insn&) {
  // CR4.TSD restricts RDTSC to CPL 0.
  if ((c.s.cr4 & (1u << 2)) && c.s.cpl != 0) return c.Gp0();
  const uint64_t t = ReadTsc(c);
  c.s.gpr[kRax] = t & 0xffffffff;
  c.s.gpr[kRdx] = t >> 32;
  return ExecStatus::kNext;
}

ExecStatus OpRdmsr(Cpu& c, const Insn&) {
  if (!Cpl0(c)) return c.Gp0();
  const uint32_t index = static_cast<uint32_t>(c.s.gpr[kRcx]);
  uint64_t v = 0;
  // IA32_TSC_DEADLINE and IA32_APIC_BASE belong to the local APIC when one
  // is attached (the first arms its timer); the interpreter's own copies
  // only serve machines without one. MSRs the interpreter does not know
  // (x2APIC) go to the VMM.
  const bool apic_first = ApicMsr(index) && c.io != nullptr;
  if (!(apic_first && c.io->MsrRead(index, v)) && !ReadMsr(c, index, &v) &&
      !(c.io != nullptr && c.io->MsrRead(index, v))) {
    return c.Gp0();
  }
  c.s.gpr[kRax] = v & 0xffffffff;
  c.s.gpr[kRdx] = v >> 32;
  return ExecStatus::kNext;
}

ExecStatus OpWrmsr(Cpu& c, const Insn&) {
  if (!Cpl0(c)) return c.Gp0();
  const uint64_t v = (c.s.gpr[kRdx] << 32) | (c.s.gpr[kRax] & 0xffffffff);
  const uint32_t index = static_cast<uint32_t>(c.s.gpr[kRcx]);
  // See OpRdmsr for the order.
  const bool apic_first = ApicMsr(index) && c.io != nullptr;
  if (!(apic_first && c.io->MsrWrite(index, v)) && !WriteMsr(c, index, v) &&
      !(c.io != nullptr && c.io->MsrWrite(index, v))) {
    return c.Gp0();
  }
  return ExecStatus::kNext;
}

ExecStatus OpMovCr(Cpu& c, const Insn& i) {
  if (!Cpl0(c)) return c.Gp0();
  const int size = c.s.code_bits == 64 ? 8 : 4;
  const int cr = i.reg;
  CpuState& s = c.s;
  if ((i.op & 0xff) == 0x20) {
    uint64_t v;
    switch (cr) {
      case 0:
        v = s.cr0;
        break;
      case 2:
        v = s.cr2;
        break;
      case 3:
        v = s.cr3;
        break;
      case 4:
        v = s.cr4;
        break;
      case 8:
        v = s.cr8;
        break;
      default:
        return c.Ud();
    }
    c.SetReg(i.rm, size, v);
    return ExecStatus::kNext;
  }
  const uint64_t v = c.Reg(i.rm, size);
  switch (cr) {
    case 0:
      return WriteCr0(c, v);
    case 2:
      s.cr2 = v;
      return ExecStatus::kNext;
    case 3:
      s.cr3 = v;
      c.FlushTlb(false);
      return ExecStatus::kNext;
    case 4:
      if (v & ~kCr4Allowed) return c.Gp0();
      if (s.long_mode && !(v & kCr4Pae)) return c.Gp0();
      s.cr4 = v;
      c.FlushTlb(true);
      return ExecStatus::kNext;
    case 8:
      if (v & ~0xfull) return c.Gp0();
      s.cr8 = v;
      return ExecStatus::kNext;
    default:
      return c.Ud();
  }
}

ExecStatus OpMovDr(Cpu& c, const Insn& i) {
  if (!Cpl0(c)) return c.Gp0();
  int dr = i.reg;
  if (dr == 4 || dr == 5) dr += 2;  // aliases of DR6/DR7 (CR4.DE = 0)
  if (dr > 7) return c.Ud();
  const int size = c.s.code_bits == 64 ? 8 : 4;
  if ((i.op & 0xff) == 0x21) {
    c.SetReg(i.rm, size, c.s.dr[dr]);
  } else {
    // Breakpoints are stored but never fire.
    c.s.dr[dr] = c.Reg(i.rm, size);
  }
  return ExecStatus::kNext;
}

ExecStatus OpClts(Cpu& c, const Insn&) {
  if (!Cpl0(c)) return c.Gp0();
  c.s.cr0 &= ~(1ull << 3);
  return ExecStatus::kNext;
}

ExecStatus OpWbinvd(Cpu& c, const Insn&) {
  return Cpl0(c) ? ExecStatus::kNext : c.Gp0();
}

// VERR/VERW (Intel SDM vol. 2B): whether the segment `sel` names may be read
// (VERR) or written (VERW) at the current privilege. A selector outside its
// table or naming a system descriptor just answers no; only reading the
// descriptor can fault. Linux's MDS mitigation executes VERW on every return
// to user mode. Returns false with a fault pending.
bool VerifySegment(Cpu& c, uint16_t sel, bool write, bool* ok) {
  *ok = false;
  if ((sel & 0xfffc) == 0) return true;
  const bool ldt = (sel & 4) != 0;
  if (ldt && c.s.ldt.unusable) return true;
  const uint64_t base = ldt ? c.s.ldt.base : c.s.gdt.base;
  const uint64_t limit = ldt ? c.s.ldt.limit : c.s.gdt.limit;
  if ((sel & 0xfff8u) + 7u > limit) return true;
  uint64_t lo = 0;
  if (!c.ReadLin(base + (sel & 0xfff8), 8, &lo, false)) return false;
  const Segment seg = SegmentFromDescriptor(lo, sel);
  if (!seg.s) return true;
  const bool code = (seg.type & 8) != 0;
  const bool conforming = code && (seg.type & 4) != 0;
  if (!conforming) {
    const uint32_t rpl = sel & 3;
    const uint32_t cpl = c.s.cpl;
    if (seg.dpl < (rpl > cpl ? rpl : cpl)) return true;
  }
  if (write) {
    *ok = !code && (seg.type & 2) != 0;
  } else {
    *ok = !code || (seg.type & 2) != 0;
  }
  return true;
}

ExecStatus OpGrp6(Cpu& c, const Insn& i) {
  const int sub = i.reg & 7;
  if (!c.s.protected_mode) return c.Ud();
  switch (sub) {
    case 0:    // SLDT
    case 1: {  // STR
      const uint16_t sel = sub == 0 ? c.s.ldt.selector : c.s.tr.selector;
      return c.WriteRm(i, i.mod == 3 ? i.opsize : 2, sel) ? ExecStatus::kNext
                                                          : ExecStatus::kFault;
    }
    case 2:
    case 3: {  // LLDT, LTR
      if (!Cpl0(c)) return c.Gp0();
      uint64_t sel;
      if (!c.ReadRm(i, 2, &sel)) return ExecStatus::kFault;
      if ((sel & 0xfffc) == 0) {
        if (sub == 3) return c.Gp0();
        c.s.ldt = Segment{};
        c.s.ldt.unusable = 1;
        return ExecStatus::kNext;
      }
      if (sel & 4) return c.Fault(kGp, static_cast<uint32_t>(sel & 0xfffc));
      uint64_t lo, hi = 0;
      if (!ReadDescriptor(c, static_cast<uint16_t>(sel), &lo,
                          c.s.long_mode ? &hi : nullptr)) {
        return ExecStatus::kFault;
      }
      Segment seg = SegmentFromDescriptor(lo, static_cast<uint16_t>(sel));
      // LLDT needs an LDT (type 2), LTR an available TSS (type 9 or 1).
      const bool type_ok =
          sub == 2 ? seg.type == 2 : (seg.type == 9 || seg.type == 1);
      if (seg.s || !type_ok) {
        return c.Fault(kGp, static_cast<uint32_t>(sel & 0xfffc));
      }
      if (!seg.present)
        return c.Fault(kNp, static_cast<uint32_t>(sel & 0xfffc));
      if (c.s.long_mode) seg.base |= (hi & 0xffffffff) << 32;
      if (sub == 2) {
        c.s.ldt = seg;
        return ExecStatus::kNext;
      }
      // Mark the TSS busy in the GDT (type bit 1).
      const uint64_t addr = c.s.gdt.base + (sel & 0xfff8);
      if (!c.WriteLin(addr + 5, 1, ((lo >> 40) & 0xff) | 2, false)) {
        return ExecStatus::kFault;
      }
      seg.type |= 2;
      c.s.tr = seg;
      return ExecStatus::kNext;
    }
    case 4:    // VERR
    case 5: {  // VERW
      uint64_t sel;
      if (!c.ReadRm(i, 2, &sel)) return ExecStatus::kFault;
      bool ok = false;
      if (!VerifySegment(c, static_cast<uint16_t>(sel), sub == 5, &ok)) {
        return ExecStatus::kFault;
      }
      c.SetArith(kFlagZf, ok ? kFlagZf : 0);
      return ExecStatus::kNext;
    }
    default:
      return c.Ud();
  }
}

ExecStatus OpGrp7(Cpu& c, const Insn& i) {
  const int sub = i.reg & 7;
  CpuState& s = c.s;
  if (i.mod == 3) {
    const uint8_t modrm = static_cast<uint8_t>(0xc0 | (sub << 3) | (i.rm & 7));
    if (modrm == 0xf8) {  // SWAPGS
      if (s.code_bits != 64) return c.Ud();
      if (!Cpl0(c)) return c.Gp0();
      const uint64_t t = s.seg[kGs].base;
      s.seg[kGs].base = s.kernel_gs_base;
      s.kernel_gs_base = t;
      return ExecStatus::kNext;
    }
    if (modrm == 0xf9) {  // RDTSCP
      const uint64_t t = ReadTsc(c);
      s.gpr[kRax] = t & 0xffffffff;
      s.gpr[kRdx] = t >> 32;
      s.gpr[kRcx] = s.tsc_aux & 0xffffffff;
      return ExecStatus::kNext;
    }
    if (modrm == 0xc1 || modrm == 0xd9) {  // VMCALL, VMMCALL
      // KVM's hypercall ABI (Documentation/virt/kvm/x86/hypercalls.rst),
      // offered with kvmclock (pvclock.h): no hypercall is implemented, so
      // every call fails as KVM fails an unknown one, -KVM_ENOSYS (-1000),
      // or -KVM_EPERM (-1) outside CPL 0. Linux probes some (ptp_kvm) and
      // treats ENOSYS as "not available".
      s.gpr[kRax] = Cpl0(c) ? static_cast<uint64_t>(-1000) : ~0ull;
      return ExecStatus::kNext;
    }
    if (sub == 4) {  // SMSW r
      c.SetReg(i.rm, i.opsize, s.cr0 & SizeMask(i.opsize));
      return ExecStatus::kNext;
    }
    if (sub == 6) {  // LMSW r
      if (!Cpl0(c)) return c.Gp0();
      const uint64_t v = c.Reg(i.rm, 2);
      // LMSW sets PE but cannot clear it; it changes MP EM TS only.
      return WriteCr0(c, (s.cr0 & ~0xeull) | (v & 0xf) | (s.cr0 & kCr0Pe));
    }
    return c.Ud();
  }
  const uint64_t off = c.EffAddr(i);
  const uint64_t amask = SizeMask(i.addrsize);
  const int base_size = s.code_bits == 64 ? 8 : 4;
  switch (sub) {
    case 0:
    case 1: {  // SGDT, SIDT
      const DescriptorTable& t = sub == 0 ? s.gdt : s.idt;
      if (!c.Write(i.seg, off, 2, t.limit) ||
          !c.Write(i.seg, (off + 2) & amask, base_size, t.base)) {
        return ExecStatus::kFault;
      }
      return ExecStatus::kNext;
    }
    case 2:
    case 3: {  // LGDT, LIDT
      if (!Cpl0(c)) return c.Gp0();
      uint64_t limit, base;
      if (!c.Read(i.seg, off, 2, &limit) ||
          !c.Read(i.seg, (off + 2) & amask, base_size, &base)) {
        return ExecStatus::kFault;
      }
      if (s.code_bits != 64 && i.opsize == 2) base &= 0xffffff;
      if (s.code_bits == 64 && !c.IsCanonical(base)) return c.Gp0();
      DescriptorTable& t = sub == 2 ? s.gdt : s.idt;
      t.base = base;
      t.limit = static_cast<uint16_t>(limit);
      return ExecStatus::kNext;
    }
    case 4:  // SMSW m16
      return c.Write(i.seg, off, 2, s.cr0) ? ExecStatus::kNext
                                           : ExecStatus::kFault;
    case 6: {  // LMSW m16
      if (!Cpl0(c)) return c.Gp0();
      uint64_t v;
      if (!c.Read(i.seg, off, 2, &v)) return ExecStatus::kFault;
      return WriteCr0(c, (s.cr0 & ~0xeull) | (v & 0xf) | (s.cr0 & kCr0Pe));
    }
    case 7:  // INVLPG
      if (!Cpl0(c)) return c.Gp0();
      c.FlushTlbPage(c.Linear(i.seg, off));
      return ExecStatus::kNext;
    default:
      return c.Ud();
  }
}

ExecStatus OpGrp15(Cpu& c, const Insn& i) {
  const int sub = i.reg & 7;
  if (i.rep == 0 && !i.opsize_prefix) {
    if (i.mod == 3 && sub >= 5) {  // LFENCE MFENCE SFENCE
      std::atomic_thread_fence(std::memory_order_seq_cst);
      return ExecStatus::kNext;
    }
    if (i.mod != 3 && sub == 7) {  // CLFLUSH: caches are coherent here
      uint64_t v;
      return c.Read(i.seg, c.EffAddr(i), 1, &v) ? ExecStatus::kNext
                                                : ExecStatus::kFault;
    }
  }
  // FXSAVE FXRSTOR LDMXCSR STMXCSR XSAVE...: not implemented yet.
  return c.Ud();
}

ExecStatus OpMovSegRm(Cpu& c, const Insn& i) {
  const int seg = i.reg & 7;
  if (seg == kCs || seg > kGs) return c.Ud();
  uint64_t sel;
  if (!c.ReadRm(i, 2, &sel)) return ExecStatus::kFault;
  if (!LoadDataSegment(c, seg, static_cast<uint16_t>(sel))) {
    return ExecStatus::kFault;
  }
  if (seg == kSs) c.shadow_next = true;  // MOV SS interrupt shadow
  return ExecStatus::kNext;
}

ExecStatus OpMovRmSeg(Cpu& c, const Insn& i) {
  const int seg = i.reg & 7;
  if (seg > kGs) return c.Ud();
  const uint16_t sel = c.s.seg[seg].selector;
  return c.WriteRm(i, i.mod == 3 ? i.opsize : 2, sel) ? ExecStatus::kNext
                                                      : ExecStatus::kFault;
}

namespace {
int SegOfPushPop(const Insn& i) {
  if ((i.op >> 8) == 1) return (i.op & 0xff) < 0xa8 ? kFs : kGs;
  return (i.op >> 3) & 3;
}
}  // namespace

ExecStatus OpPushSeg(Cpu& c, const Insn& i) {
  return c.Push(i.opsize, c.s.seg[SegOfPushPop(i)].selector)
             ? ExecStatus::kNext
             : ExecStatus::kFault;
}

ExecStatus OpPopSeg(Cpu& c, const Insn& i) {
  const int seg = SegOfPushPop(i);
  const uint64_t old_rsp = c.s.gpr[kRsp];
  uint64_t sel;
  if (!c.Pop(i.opsize, &sel)) return ExecStatus::kFault;
  if (!LoadDataSegment(c, seg, static_cast<uint16_t>(sel))) {
    c.s.gpr[kRsp] = old_rsp;
    return ExecStatus::kFault;
  }
  if (seg == kSs) c.shadow_next = true;
  return ExecStatus::kNext;
}

}  // namespace skiff::tcg
