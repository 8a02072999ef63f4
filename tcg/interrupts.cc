#include "tcg/interrupts.h"

#include "tcg/flags.h"
#include "tcg/ops.h"
#include "tcg/segments.h"

namespace skiff::tcg {
namespace {

bool Contributory(uint8_t v) {
  return v == kDe || v == kTs || v == kNp || v == kStackFault || v == kGp;
}

// Error code for a fault caused by IDT entry `vector` (IDT bit set, EXT for
// events not caused by software).
uint32_t IdtError(uint8_t vector, bool soft) {
  return (static_cast<uint32_t>(vector) << 3) | 2 | (soft ? 0 : 1);
}

bool FailWith(Cpu& c, uint8_t vector, uint32_t error) {
  c.pending_fault = {vector, true, error};
  return false;
}

bool DeliverReal(Cpu& c, uint8_t vector, uint64_t return_rip) {
  CpuState& s = c.s;
  if (vector * 4u + 3 > s.idt.limit) return FailWith(c, kGp, 0);
  uint64_t entry;
  if (!c.ReadLin(s.idt.base + vector * 4u, 4, &entry, false)) return false;
  const uint64_t sp0 = s.gpr[kRsp];
  if (!c.Push(2, c.Rflags()) || !c.Push(2, s.seg[kCs].selector) ||
      !c.Push(2, return_rip)) {
    s.gpr[kRsp] = sp0;
    return false;
  }
  c.SetRflagsRaw(c.Rflags() & ~(kFlagIf | kFlagTf | kFlagAc));
  s.seg[kCs].selector = static_cast<uint16_t>(entry >> 16);
  s.seg[kCs].base = (entry >> 16) << 4;
  s.rip = entry & 0xffff;
  c.UpdateMode();
  return true;
}

// Reads a stack pointer from the TSS at `offset` (RSPn, ISTn, ESP0...).
bool TssRead(Cpu& c, uint32_t offset, int size, uint64_t* v) {
  if (offset + size - 1 > c.s.tr.limit || c.s.tr.unusable) {
    return FailWith(c, kTs, c.s.tr.selector & 0xfffc);
  }
  return c.ReadLin(c.s.tr.base + offset, size, v, false);
}

bool DeliverProtected(Cpu& c, uint8_t vector, bool has_error, uint32_t error,
                      bool soft, uint64_t return_rip) {
  CpuState& s = c.s;
  const bool lm = s.long_mode;
  const uint32_t gate_size = lm ? 16 : 8;
  if (vector * gate_size + gate_size - 1 > s.idt.limit) {
    return FailWith(c, kGp, IdtError(vector, soft));
  }
  uint64_t lo, hi = 0;
  const uint64_t at = s.idt.base + vector * gate_size;
  if (!c.ReadLin(at, 8, &lo, false)) return false;
  if (lm && !c.ReadLin(at + 8, 8, &hi, false)) return false;
  const int type = (lo >> 40) & 0xf;
  const int gate_dpl = (lo >> 45) & 3;
  const bool present = (lo >> 47) & 1;
  const bool type_ok =
      lm ? (type == 0xe || type == 0xf)
         : (type == 0xe || type == 0xf || type == 6 || type == 7);
  if (!type_ok) return FailWith(c, kGp, IdtError(vector, soft));
  if (soft && gate_dpl < s.cpl) return FailWith(c, kGp, IdtError(vector, soft));
  if (!present) return FailWith(c, kNp, IdtError(vector, soft));
  const uint16_t sel = static_cast<uint16_t>(lo >> 16);
  uint64_t target = (lo & 0xffff) | (((lo >> 48) & 0xffff) << 16);
  if (lm) target |= (hi & 0xffffffff) << 32;
  const int gate_bits = lm ? 64 : (type & 8) ? 32 : 16;
  if (gate_bits == 16) target &= 0xffff;
  const int push = gate_bits / 8;

  if ((sel & 0xfffc) == 0) return FailWith(c, kGp, soft ? 0 : 1);
  uint64_t d;
  if (!ReadDescriptor(c, sel, &d, nullptr)) return false;
  const Segment cs = SegmentFromDescriptor(d, sel);
  if (!cs.s || !(cs.type & 8) || cs.dpl > s.cpl || (lm && !cs.l)) {
    return FailWith(c, kGp, (sel & 0xfffc) | (soft ? 0 : 1));
  }
  if (!cs.present) return FailWith(c, kNp, (sel & 0xfffc) | (soft ? 0 : 1));
  const int new_cpl = (cs.type & 4) ? s.cpl : cs.dpl;
  const int ist = lm ? static_cast<int>((lo >> 32) & 7) : 0;

  const uint64_t old_rflags = c.Rflags();
  const uint64_t old_rsp = s.gpr[kRsp];
  const Segment old_ss = s.seg[kSs];
  uint64_t rsp = old_rsp;
  uint64_t ss_sel = 0;
  bool stack_switch = new_cpl < s.cpl;
  Segment new_ss = old_ss;
  if (lm) {
    if (ist != 0) {
      if (!TssRead(c, 0x24 + 8 * (ist - 1), 8, &rsp)) return false;
    } else if (stack_switch) {
      if (!TssRead(c, 4 + 8 * new_cpl, 8, &rsp)) return false;
    }
    rsp &= ~15ull;  // IA-32e mode always aligns (SDM 6.14.2)
  } else if (stack_switch) {
    uint64_t esp, ss;
    if (!TssRead(c, 4 + 8 * new_cpl, 4, &esp) ||
        !TssRead(c, 8 + 8 * new_cpl, 2, &ss)) {
      return false;
    }
    uint64_t sd;
    if ((ss & 0xfffc) == 0) return FailWith(c, kTs, 0);
    if (!ReadDescriptor(c, static_cast<uint16_t>(ss), &sd, nullptr)) {
      return false;
    }
    new_ss = SegmentFromDescriptor(sd, static_cast<uint16_t>(ss));
    rsp = esp;
    ss_sel = ss;
  }
  // Build the frame at the new stack with supervisor rights, then commit.
  uint64_t frame[6];
  int n = 0;
  if (lm || stack_switch) {
    frame[n++] = old_ss.selector;
    frame[n++] = old_rsp;
  }
  frame[n++] = old_rflags;
  frame[n++] = s.seg[kCs].selector;
  frame[n++] = return_rip;
  if (has_error) frame[n++] = error;
  const uint64_t mask = lm ? ~0ull : (new_ss.db ? 0xffffffffull : 0xffffull);
  const uint64_t base = lm ? 0 : new_ss.base;
  uint64_t sp = rsp;
  for (int k = 0; k < n; ++k) {
    sp = (sp - push) & mask;
    const uint64_t lin = lm ? sp : ((base + sp) & 0xffffffff);
    if (lm && !c.IsCanonical(lin)) return FailWith(c, kStackFault, 0);
    if (!c.WriteLin(lin, push, frame[k], false)) {
      if (c.pending_fault.vector != kPf)
        c.pending_fault = {kStackFault, true, 0};
      return false;
    }
  }
  // Commit.
  Segment ncs = cs;
  ncs.selector = static_cast<uint16_t>((sel & 0xfffc) | new_cpl);
  s.seg[kCs] = ncs;
  if (lm) {
    if (stack_switch) LoadNullSs(c, new_cpl);
  } else if (stack_switch) {
    new_ss.selector = static_cast<uint16_t>(ss_sel);
    s.seg[kSs] = new_ss;
  }
  s.gpr[kRsp] = lm ? sp : ((s.gpr[kRsp] & ~mask) | sp);
  uint64_t f = old_rflags & ~(kFlagTf | kFlagNt | kFlagRf | kFlagVm);
  if (!(type & 1)) f &= ~kFlagIf;  // interrupt gate (not trap gate)
  c.SetRflagsRaw(f);
  s.rip = target;
  c.UpdateMode();
  return true;
}

}  // namespace

bool DeliverEvent(Cpu& c, uint8_t vector, bool has_error, uint32_t error,
                  bool soft, uint64_t return_rip) {
  if (!c.s.protected_mode) return DeliverReal(c, vector, return_rip);
  return DeliverProtected(c, vector, has_error, error, soft, return_rip);
}

bool DeliverFault(Cpu& c) {
  PendingFault f = c.pending_fault;
  for (int depth = 0; depth < 4; ++depth) {
    // Real mode has no error codes.
    const bool has_error = f.has_error && c.s.protected_mode;
    if (DeliverEvent(c, f.vector, has_error, f.error, false, c.s.rip)) {
      return true;
    }
    const PendingFault second = c.pending_fault;
    if (f.vector == kDf) return false;  // triple fault
    const bool df = (Contributory(f.vector) && Contributory(second.vector)) ||
                    (f.vector == kPf &&
                     (second.vector == kPf || Contributory(second.vector)));
    f = df ? PendingFault{kDf, true, 0} : second;
  }
  return false;
}

// ---- Instructions ------------------------------------------------------

namespace {

ExecStatus SoftInt(Cpu& c, uint8_t vector, bool soft) {
  if (!DeliverEvent(c, vector, false, 0, soft, c.next_rip)) {
    return ExecStatus::kFault;
  }
  c.next_rip = c.s.rip;
  return ExecStatus::kNext;
}

}  // namespace

ExecStatus OpInt(Cpu& c, const Insn& i) {
  return SoftInt(c, static_cast<uint8_t>(i.imm), true);
}
ExecStatus OpInt3(Cpu& c, const Insn&) { return SoftInt(c, kBp, true); }
ExecStatus OpInt1(Cpu& c, const Insn&) { return SoftInt(c, kDb, false); }

ExecStatus OpIret(Cpu& c, const Insn& i) {
  CpuState& s = c.s;
  const int size = i.opsize;
  const uint64_t old_rsp = s.gpr[kRsp];
  auto fail = [&] {
    s.gpr[kRsp] = old_rsp;
    return ExecStatus::kFault;
  };
  uint64_t ip, cs, fl;
  if (!c.Pop(size, &ip) || !c.Pop(size, &cs) || !c.Pop(size, &fl)) {
    return fail();
  }
  const uint64_t old = c.Rflags();
  if (!s.protected_mode) {
    s.seg[kCs].selector = static_cast<uint16_t>(cs);
    s.seg[kCs].base = (cs & 0xffff) << 4;
    uint64_t mask = size == 2 ? 0xffff : 0x257fd5;
    c.SetRflagsRaw((old & ~mask) | (fl & mask));
    c.next_rip = ip & SizeMask(size);
    c.UpdateMode();
    return ExecStatus::kNext;
  }
  if (fl & kFlagNt && !s.long_mode) return c.Internal("IRET task switch");
  const int rpl = static_cast<int>(cs & 3);
  if (rpl < s.cpl) {
    s.gpr[kRsp] = old_rsp;
    return c.Fault(kGp, static_cast<uint32_t>(cs & 0xfffc));
  }
  const bool pops_stack = s.code_bits == 64 || rpl > s.cpl;
  uint64_t new_rsp = 0, new_ss = 0;
  if (pops_stack && (!c.Pop(size, &new_rsp) || !c.Pop(size, &new_ss))) {
    return fail();
  }
  const int old_cpl = s.cpl;
  const Segment old_cs = s.seg[kCs];
  if (!LoadCodeSegment(c, static_cast<uint16_t>(cs), rpl)) return fail();
  if (pops_stack) {
    if (!LoadDataSegment(c, kSs, static_cast<uint16_t>(new_ss))) {
      s.seg[kCs] = old_cs;
      c.UpdateMode();
      return fail();
    }
    s.gpr[kRsp] = s.code_bits == 64 ? new_rsp
                                    : (s.seg[kSs].db ? (new_rsp & 0xffffffff)
                                                     : (new_rsp & 0xffff));
  }
  uint64_t mask = kArithFlags | kFlagTf | kFlagDf | kFlagNt | kFlagRf |
                  kFlagAc | kFlagId | kFlagIf | kFlagIopl;
  const uint64_t iopl = (old & kFlagIopl) >> 12;
  if (old_cpl > 0) mask &= ~kFlagIopl;
  if (old_cpl > static_cast<int>(iopl)) mask &= ~kFlagIf;
  if (size == 2) mask &= 0xffff;
  c.SetRflagsRaw((old & ~mask) | (fl & mask));
  c.next_rip = s.code_bits == 64 ? ip : (ip & SizeMask(size == 8 ? 4 : size));
  return ExecStatus::kNext;
}

ExecStatus OpSyscall(Cpu& c, const Insn&) {
  CpuState& s = c.s;
  if (!(s.efer & kEferSce) || !s.long_mode) return c.Ud();
  s.gpr[kRcx] = c.next_rip;
  s.gpr[11] = c.Rflags() & ~kFlagRf;
  const uint16_t sel = static_cast<uint16_t>((s.star >> 32) & 0xfffc);
  Segment cs{};
  cs.selector = sel;
  cs.limit = 0xffffffff;
  cs.type = 0xb;
  cs.s = 1;
  cs.present = 1;
  cs.l = 1;
  cs.g = 1;
  Segment ss{};
  ss.selector = static_cast<uint16_t>(sel + 8);
  ss.limit = 0xffffffff;
  ss.type = 3;
  ss.s = 1;
  ss.present = 1;
  ss.db = 1;
  ss.g = 1;
  const bool from64 = s.code_bits == 64;
  s.seg[kCs] = cs;
  s.seg[kSs] = ss;
  c.SetRflagsRaw(c.Rflags() & ~(s.fmask | kFlagRf));
  c.next_rip = from64 ? s.lstar : s.cstar;
  c.UpdateMode();
  return ExecStatus::kNext;
}

ExecStatus OpSysret(Cpu& c, const Insn& i) {
  CpuState& s = c.s;
  if (!(s.efer & kEferSce) || !s.long_mode) return c.Ud();
  if (s.cpl != 0) return c.Gp0();
  const bool to64 = i.opsize == 8;
  const uint64_t target = to64 ? s.gpr[kRcx] : (s.gpr[kRcx] & 0xffffffff);
  if (to64 && !c.IsCanonical(target)) return c.Gp0();
  const uint16_t base = static_cast<uint16_t>((s.star >> 48) & 0xfffc);
  Segment cs{};
  cs.selector = static_cast<uint16_t>((to64 ? base + 16 : base) | 3);
  cs.limit = 0xffffffff;
  cs.type = 0xb;
  cs.s = 1;
  cs.dpl = 3;
  cs.present = 1;
  cs.l = to64 ? 1 : 0;
  cs.db = to64 ? 0 : 1;
  cs.g = 1;
  Segment& ss = s.seg[kSs];
  ss.selector = static_cast<uint16_t>((base + 8) | 3);
  ss.dpl = 3;
  ss.unusable = 0;
  s.seg[kCs] = cs;
  c.SetRflagsRaw((s.gpr[11] & 0x3c7fd7) | kRflagsReserved1);
  c.next_rip = target;
  c.UpdateMode();
  return ExecStatus::kNext;
}

}  // namespace skiff::tcg
