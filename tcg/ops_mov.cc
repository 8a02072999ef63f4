// Data movement: MOV forms, MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMOVcc, SETcc,
// the stack (PUSH/POP/ENTER/LEAVE/PUSHF/POPF), LAHF/SAHF, XLAT and the
// flag instructions (CLC STC CMC CLD STD CLI STI).
#include "tcg/cpu.h"
#include "tcg/ops.h"
#include "tcg/ops_util.h"

namespace skiff::tcg {

ExecStatus OpMovRmR(Cpu& c, const Insn& i) {
  return c.WriteRm(i, i.opsize, c.GetR(i, i.opsize)) ? ExecStatus::kNext
                                                     : ExecStatus::kFault;
}

ExecStatus OpMovRRm(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!c.ReadRm(i, i.opsize, &v)) return ExecStatus::kFault;
  c.SetR(i, i.opsize, v);
  return ExecStatus::kNext;
}

ExecStatus OpMovRmImm(Cpu& c, const Insn& i) {
  if ((i.reg & 7) != 0) return c.Ud();
  return c.WriteRm(i, i.opsize, i.imm) ? ExecStatus::kNext : ExecStatus::kFault;
}

ExecStatus OpMovRegImm(Cpu& c, const Insn& i) {
  c.SetR(i, i.opsize, i.imm);
  return ExecStatus::kNext;
}

ExecStatus OpMovMoffs(Cpu& c, const Insn& i) {
  const uint64_t off = i.imm & SizeMask(i.addrsize);  // the moffs
  if ((i.op & 0xff) < 0xa2) {
    uint64_t v;
    if (!c.Read(i.seg, off, i.opsize, &v)) return ExecStatus::kFault;
    c.SetReg(kRax, i.opsize, v);
    return ExecStatus::kNext;
  }
  return c.Write(i.seg, off, i.opsize, c.Reg(kRax, i.opsize))
             ? ExecStatus::kNext
             : ExecStatus::kFault;
}

ExecStatus OpMovzx(Cpu& c, const Insn& i) {
  const int src = (i.op & 1) ? 2 : 1;
  uint64_t v;
  if (!c.ReadRm(i, src, &v)) return ExecStatus::kFault;
  c.SetR(i, i.opsize, v & SizeMask(src));
  return ExecStatus::kNext;
}

ExecStatus OpMovsx(Cpu& c, const Insn& i) {
  const int src = (i.op & 1) ? 2 : 1;
  uint64_t v;
  if (!c.ReadRm(i, src, &v)) return ExecStatus::kFault;
  c.SetR(i, i.opsize, SignExtend(v, src));
  return ExecStatus::kNext;
}

ExecStatus OpMovsxd(Cpu& c, const Insn& i) {
  if (c.s.code_bits != 64) return c.Ud();  // ARPL is not implemented
  const int src = i.opsize == 2 ? 2 : 4;
  uint64_t v;
  if (!c.ReadRm(i, src, &v)) return ExecStatus::kFault;
  c.SetR(i, i.opsize, SignExtend(v, src));
  return ExecStatus::kNext;
}

ExecStatus OpLea(Cpu& c, const Insn& i) {
  if (i.mod == 3) return c.Ud();
  c.SetR(i, i.opsize, c.EffAddr(i));
  return ExecStatus::kNext;
}

ExecStatus OpXchgRmR(Cpu& c, const Insn& i) {
  const uint64_t r = c.GetR(i, i.opsize);
  uint64_t old = 0;
  // XCHG with memory is always locked (Intel SDM vol. 2, XCHG).
  ExecStatus st = RmwRm(
      c, i, i.opsize,
      [&](uint64_t v) {
        old = v;
        return r;
      },
      /*atomic=*/true);
  if (st != ExecStatus::kNext) return st;
  c.SetR(i, i.opsize, old);
  return ExecStatus::kNext;
}

ExecStatus OpXchgAccReg(Cpu& c, const Insn& i) {
  if (i.reg == kRax) return ExecStatus::kNext;  // NOP, F3 90 PAUSE
  const uint64_t a = c.Reg(kRax, i.opsize);
  c.SetReg(kRax, i.opsize, c.Reg(i.reg, i.opsize));
  c.SetReg(i.reg, i.opsize, a);
  return ExecStatus::kNext;
}

ExecStatus OpPushReg(Cpu& c, const Insn& i) {
  return c.Push(i.opsize, c.Reg(i.reg, i.opsize)) ? ExecStatus::kNext
                                                  : ExecStatus::kFault;
}

ExecStatus OpPopReg(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!c.Pop(i.opsize, &v)) return ExecStatus::kFault;
  c.SetReg(i.reg, i.opsize, v);
  return ExecStatus::kNext;
}

ExecStatus OpPushImm(Cpu& c, const Insn& i) {
  return c.Push(i.opsize, i.imm) ? ExecStatus::kNext : ExecStatus::kFault;
}

ExecStatus OpPopRm(Cpu& c, const Insn& i) {
  if ((i.reg & 7) != 0) return c.Ud();
  const uint64_t old_rsp = c.s.gpr[kRsp];
  uint64_t v;
  if (!c.Pop(i.opsize, &v)) return ExecStatus::kFault;
  if (!c.WriteRm(i, i.opsize, v)) {
    c.s.gpr[kRsp] = old_rsp;
    return ExecStatus::kFault;
  }
  return ExecStatus::kNext;
}

ExecStatus OpCmov(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!c.ReadRm(i, i.opsize, &v)) return ExecStatus::kFault;
  // A false 32-bit CMOV still zero-extends the destination in 64-bit mode.
  c.SetR(i, i.opsize, c.Cond(i.op & 15) ? v : c.GetR(i, i.opsize));
  return ExecStatus::kNext;
}

ExecStatus OpSetcc(Cpu& c, const Insn& i) {
  return c.WriteRm(i, 1, c.Cond(i.op & 15) ? 1 : 0) ? ExecStatus::kNext
                                                    : ExecStatus::kFault;
}

ExecStatus OpEnter(Cpu& c, const Insn& i) {
  const int size = i.opsize;
  const int level = i.imm2 & 31;
  const uint64_t old_rsp = c.s.gpr[kRsp], old_rbp = c.s.gpr[kRbp];
  auto fail = [&] {
    c.s.gpr[kRsp] = old_rsp;
    c.s.gpr[kRbp] = old_rbp;
    return ExecStatus::kFault;
  };
  if (!c.Push(size, c.Reg(kRbp, size))) return fail();
  const uint64_t frame = c.Sp();
  uint64_t rbp = c.Reg(kRbp, c.StackAddrSize());
  for (int k = 1; k < level; ++k) {
    rbp -= size;
    uint64_t v;
    if (!c.Read(kSs, rbp & SizeMask(c.StackAddrSize()), size, &v) ||
        !c.Push(size, v)) {
      return fail();
    }
  }
  if (level > 0 && !c.Push(size, frame)) return fail();
  const uint64_t new_sp = (c.Sp() - i.imm) & SizeMask(c.StackAddrSize());
  // Probe the lowest byte of the new frame like the hardware does.
  uint64_t probe;
  if (i.imm != 0 && !c.Read(kSs, new_sp, 1, &probe)) return fail();
  c.SetReg(kRbp, size, frame);
  c.SetSp(new_sp);
  return ExecStatus::kNext;
}

ExecStatus OpLeave(Cpu& c, const Insn& i) {
  const uint64_t old_rsp = c.s.gpr[kRsp];
  c.SetSp(c.Reg(kRbp, c.StackAddrSize()));
  uint64_t v;
  if (!c.Pop(i.opsize, &v)) {
    c.s.gpr[kRsp] = old_rsp;
    return ExecStatus::kFault;
  }
  c.SetReg(kRbp, i.opsize, v);
  return ExecStatus::kNext;
}

ExecStatus OpPushf(Cpu& c, const Insn& i) {
  const uint64_t f = c.Rflags() & ~(kFlagVm | kFlagRf);
  return c.Push(i.opsize, f) ? ExecStatus::kNext : ExecStatus::kFault;
}

ExecStatus OpPopf(Cpu& c, const Insn& i) {
  uint64_t v;
  if (!c.Pop(i.opsize, &v)) return ExecStatus::kFault;
  const uint64_t old = c.Rflags();
  uint64_t mask = kArithFlags | kFlagTf | kFlagDf | kFlagNt | kFlagAc |
                  kFlagId | kFlagIf | kFlagIopl;
  const uint64_t iopl = (old & kFlagIopl) >> 12;
  if (c.s.protected_mode && c.s.cpl > 0) mask &= ~kFlagIopl;
  if (c.s.protected_mode && c.s.cpl > iopl) mask &= ~kFlagIf;
  if (i.opsize == 2) mask &= 0xffff;
  const uint64_t nf = (old & ~mask) | (v & mask);
  c.SetRflagsRaw(nf);
  return ExecStatus::kNext;
}

ExecStatus OpSahf(Cpu& c, const Insn&) {
  const uint64_t ah = (c.s.gpr[kRax] >> 8) & 0xff;
  c.SetArith(kFlagSf | kFlagZf | kFlagAf | kFlagPf | kFlagCf, ah);
  return ExecStatus::kNext;
}

ExecStatus OpLahf(Cpu& c, const Insn&) {
  const uint64_t f = (c.Rflags() & 0xd5) | 2;
  c.s.gpr[kRax] = (c.s.gpr[kRax] & ~0xff00ull) | (f << 8);
  return ExecStatus::kNext;
}

ExecStatus OpXlat(Cpu& c, const Insn& i) {
  const uint64_t off =
      (c.s.gpr[kRbx] + (c.s.gpr[kRax] & 0xff)) & SizeMask(i.addrsize);
  uint64_t v;
  if (!c.Read(i.seg, off, 1, &v)) return ExecStatus::kFault;
  c.SetReg8(kRax, false, v);
  return ExecStatus::kNext;
}

ExecStatus OpNop(Cpu&, const Insn&) { return ExecStatus::kNext; }

ExecStatus OpFlagOp(Cpu& c, const Insn& i) {
  uint64_t f = c.Rflags();
  const uint64_t iopl = (f & kFlagIopl) >> 12;
  switch (i.op & 0xff) {
    case 0xf5:
      f ^= kFlagCf;
      break;
    case 0xf8:
      f &= ~kFlagCf;
      break;
    case 0xf9:
      f |= kFlagCf;
      break;
    case 0xfa:
    case 0xfb:
      if (c.s.protected_mode && c.s.cpl > iopl) return c.Gp0();
      if ((i.op & 0xff) == 0xfa) {
        f &= ~kFlagIf;
      } else {
        // STI: interrupts stay blocked until after the next instruction.
        if (!(f & kFlagIf)) c.shadow_next = true;
        f |= kFlagIf;
      }
      break;
    case 0xfc:
      f &= ~kFlagDf;
      break;
    default:
      f |= kFlagDf;
      break;
  }
  c.SetRflagsRaw(f);
  return ExecStatus::kNext;
}

ExecStatus OpPusha(Cpu& c, const Insn& i) {
  const int size = i.opsize;
  const uint64_t old_rsp = c.s.gpr[kRsp];
  const uint64_t sp_value = c.Reg(kRsp, size);
  for (int r = kRax; r <= kRdi; ++r) {
    if (!c.Push(size, r == kRsp ? sp_value : c.Reg(r, size))) {
      c.s.gpr[kRsp] = old_rsp;
      return ExecStatus::kFault;
    }
  }
  return ExecStatus::kNext;
}

ExecStatus OpPopa(Cpu& c, const Insn& i) {
  const int size = i.opsize;
  const uint64_t old_rsp = c.s.gpr[kRsp];
  uint64_t v[8];
  for (int r = kRdi; r >= kRax; --r) {
    if (!c.Pop(size, &v[r])) {
      c.s.gpr[kRsp] = old_rsp;
      return ExecStatus::kFault;
    }
  }
  for (int r = kRax; r <= kRdi; ++r) {
    if (r != kRsp) c.SetReg(r, size, v[r]);  // the popped SP is discarded
  }
  return ExecStatus::kNext;
}

}  // namespace skiff::tcg
