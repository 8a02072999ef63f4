// Control transfer: Jcc, JMP, CALL, RET (near and far), LOOP/JrCXZ and the
// FF group. Near targets are masked to the operand size; RIP itself only
// changes when the handler returns kNext (the main loop copies next_rip).
#include "tcg/cpu.h"
#include "tcg/ops.h"
#include "tcg/ops_util.h"
#include "tcg/segments.h"

namespace skiff::tcg {

ExecStatus IncDecRm(Cpu& c, const Insn& i, bool dec);  // ops_arith.cc

namespace {

ExecStatus JumpTo(Cpu& c, const Insn& i, uint64_t target) {
  target = c.MaskIp(target, i.opsize);
  if (c.s.code_bits == 64 && !c.IsCanonical(target)) return c.Gp0();
  c.next_rip = target;
  return ExecStatus::kNext;
}

ExecStatus FarTransfer(Cpu& c, const Insn& i, uint16_t sel, uint64_t off,
                       bool call) {
  if (!c.s.protected_mode) {
    if (call && (!c.Push(i.opsize, c.s.seg[kCs].selector) ||
                 !c.Push(i.opsize, c.next_rip))) {
      return ExecStatus::kFault;
    }
    c.s.seg[kCs].selector = sel;
    c.s.seg[kCs].base = static_cast<uint64_t>(sel) << 4;
    c.next_rip = off & SizeMask(i.opsize);
    c.UpdateMode();
    return ExecStatus::kNext;
  }
  const uint16_t old_cs = c.s.seg[kCs].selector;
  const uint64_t old_rsp = c.s.gpr[kRsp];
  if (call && (!c.Push(i.opsize, old_cs) || !c.Push(i.opsize, c.next_rip))) {
    c.s.gpr[kRsp] = old_rsp;
    return ExecStatus::kFault;
  }
  if (!LoadCodeSegment(c, sel, c.s.cpl)) {
    c.s.gpr[kRsp] = old_rsp;
    return ExecStatus::kFault;
  }
  c.next_rip = c.s.code_bits == 64 ? off : (off & SizeMask(i.opsize));
  return ExecStatus::kNext;
}

}  // namespace

ExecStatus OpJcc(Cpu& c, const Insn& i) {
  if (!c.Cond(i.op & 15)) return ExecStatus::kNext;
  return JumpTo(c, i, c.next_rip + i.imm);
}

ExecStatus OpJmpRel(Cpu& c, const Insn& i) {
  return JumpTo(c, i, c.next_rip + i.imm);
}

ExecStatus OpCallRel(Cpu& c, const Insn& i) {
  const uint64_t target = c.MaskIp(c.next_rip + i.imm, i.opsize);
  if (c.s.code_bits == 64 && !c.IsCanonical(target)) return c.Gp0();
  if (!c.Push(i.opsize, c.next_rip)) return ExecStatus::kFault;
  c.next_rip = target;
  return ExecStatus::kNext;
}

ExecStatus OpRet(Cpu& c, const Insn& i) {
  uint64_t target;
  const uint64_t old_rsp = c.s.gpr[kRsp];
  if (!c.Pop(i.opsize, &target)) return ExecStatus::kFault;
  target = c.MaskIp(target, i.opsize);
  if (c.s.code_bits == 64 && !c.IsCanonical(target)) {
    c.s.gpr[kRsp] = old_rsp;
    return c.Gp0();
  }
  if ((i.op & 0xff) == 0xc2) c.SetSp(c.Sp() + i.imm);
  c.next_rip = target;
  return ExecStatus::kNext;
}

ExecStatus OpLoop(Cpu& c, const Insn& i) {
  const int as = i.addrsize;
  uint64_t count = c.Reg(kRcx, as);
  bool take;
  const int opb = i.op & 0xff;
  if (opb == 0xe3) {
    take = count == 0;
  } else {
    count = (count - 1) & SizeMask(as);
    c.SetReg(kRcx, as, count);
    take = count != 0;
    if (opb == 0xe0) take = take && !c.Cond(4);
    if (opb == 0xe1) take = take && c.Cond(4);
  }
  if (!take) return ExecStatus::kNext;
  return JumpTo(c, i, c.next_rip + i.imm);
}

ExecStatus OpGrp5(Cpu& c, const Insn& i) {
  const int sub = i.reg & 7;
  if (i.lock && sub > 1) return c.Ud();
  switch (sub) {
    case 0:
    case 1:
      return IncDecRm(c, i, sub == 1);
    case 2: {
      uint64_t target;
      if (!c.ReadRm(i, i.opsize, &target)) return ExecStatus::kFault;
      target = c.MaskIp(target, i.opsize);
      if (c.s.code_bits == 64 && !c.IsCanonical(target)) return c.Gp0();
      if (!c.Push(i.opsize, c.next_rip)) return ExecStatus::kFault;
      c.next_rip = target;
      return ExecStatus::kNext;
    }
    case 4: {
      uint64_t target;
      if (!c.ReadRm(i, i.opsize, &target)) return ExecStatus::kFault;
      return JumpTo(c, i, target);
    }
    case 3:
    case 5: {
      if (i.mod == 3) return c.Ud();
      const uint64_t off = c.EffAddr(i);
      uint64_t target, sel;
      if (!c.Read(i.seg, off, i.opsize, &target) ||
          !c.Read(i.seg, (off + i.opsize) & SizeMask(i.addrsize), 2, &sel)) {
        return ExecStatus::kFault;
      }
      return FarTransfer(c, i, static_cast<uint16_t>(sel), target, sub == 3);
    }
    case 6: {
      uint64_t v;
      if (!c.ReadRm(i, i.opsize, &v)) return ExecStatus::kFault;
      return c.Push(i.opsize, v) ? ExecStatus::kNext : ExecStatus::kFault;
    }
    default:
      return c.Ud();
  }
}

ExecStatus OpJmpFar(Cpu& c, const Insn& i) {
  return FarTransfer(c, i, i.imm2, i.imm, false);
}

ExecStatus OpCallFar(Cpu& c, const Insn& i) {
  return FarTransfer(c, i, i.imm2, i.imm, true);
}

ExecStatus OpRetFar(Cpu& c, const Insn& i) {
  const uint64_t old_rsp = c.s.gpr[kRsp];
  uint64_t ip, cs;
  if (!c.Pop(i.opsize, &ip) || !c.Pop(i.opsize, &cs)) {
    c.s.gpr[kRsp] = old_rsp;
    return ExecStatus::kFault;
  }
  const uint64_t extra = (i.op & 0xff) == 0xca ? i.imm : 0;
  if (!c.s.protected_mode) {
    c.s.seg[kCs].selector = static_cast<uint16_t>(cs);
    c.s.seg[kCs].base = (cs & 0xffff) << 4;
    c.SetSp(c.Sp() + extra);
    c.next_rip = ip & SizeMask(i.opsize);
    c.UpdateMode();
    return ExecStatus::kNext;
  }
  const int rpl = static_cast<int>(cs & 3);
  if (rpl < c.s.cpl) {
    c.s.gpr[kRsp] = old_rsp;
    return c.Fault(kGp, static_cast<uint32_t>(cs & 0xfffc));
  }
  uint64_t new_rsp = 0, new_ss = 0;
  const bool outer = rpl > c.s.cpl;
  if (outer) {
    c.SetSp(c.Sp() + extra);
    if (!c.Pop(i.opsize, &new_rsp) || !c.Pop(i.opsize, &new_ss)) {
      c.s.gpr[kRsp] = old_rsp;
      return ExecStatus::kFault;
    }
  }
  if (!LoadCodeSegment(c, static_cast<uint16_t>(cs), rpl)) {
    c.s.gpr[kRsp] = old_rsp;
    return ExecStatus::kFault;
  }
  if (outer) {
    // Outer-privilege return: the popped SS:RSP become the stack.
    if (!LoadDataSegment(c, kSs, static_cast<uint16_t>(new_ss))) {
      return ExecStatus::kFault;
    }
    c.s.gpr[kRsp] = new_rsp;
  } else {
    c.SetSp(c.Sp() + extra);
  }
  c.next_rip = ip & SizeMask(i.opsize);
  return ExecStatus::kNext;
}

}  // namespace skiff::tcg
