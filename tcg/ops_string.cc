// String instructions MOVS STOS LODS CMPS SCAS INS OUTS, with REP, REPE and
// REPNE (Intel SDM vol. 2, REP/REPE/REPNE). A repeated instruction runs at
// most kStringBatch iterations per call; if rCX is not yet zero the handler
// leaves RIP on the instruction (next_rip = rip) so the main loop can poll
// Kick() and interrupts between batches, then re-executes it.
#include "tcg/cpu.h"
#include "tcg/ops.h"
#include "tcg/ops_util.h"

namespace skiff::tcg {
namespace {

constexpr int kStringBatch = 4096;

// Iterates `body` (returns false on fault) honouring REP prefixes. For
// CMPS/SCAS `cond` says whether REPE/REPNE terminate by ZF.
template <typename Body>
ExecStatus Repeat(Cpu& c, const Insn& i, bool cond, Body body) {
  const int as = i.addrsize;
  if (i.rep == 0) return body() ? ExecStatus::kNext : ExecStatus::kFault;
  for (int n = 0; n < kStringBatch; ++n) {
    uint64_t count = c.Reg(kRcx, as);
    if (count == 0) return ExecStatus::kNext;
    if (!body()) return ExecStatus::kFault;
    c.SetReg(kRcx, as, count - 1);
    if (cond) {
      const bool zf = c.Cond(4);
      if (i.rep == 0xf3 && !zf) return ExecStatus::kNext;
      if (i.rep == 0xf2 && zf) return ExecStatus::kNext;
    }
  }
  if (c.Reg(kRcx, as) != 0) c.next_rip = c.s.rip;
  return ExecStatus::kNext;
}

int64_t Step(const Cpu& c, int size) {
  return (c.Rflags() & kFlagDf) ? -size : size;
}

void Advance(Cpu& c, int reg, int as, int64_t step) {
  c.SetReg(reg, as, c.Reg(reg, as) + static_cast<uint64_t>(step));
}

}  // namespace

ExecStatus OpMovs(Cpu& c, const Insn& i) {
  const int size = i.opsize, as = i.addrsize;
  const int64_t step = Step(c, size);
  return Repeat(c, i, false, [&] {
    uint64_t v;
    if (!c.Read(i.seg, c.Reg(kRsi, as), size, &v) ||
        !c.Write(kEs, c.Reg(kRdi, as), size, v)) {
      return false;
    }
    Advance(c, kRsi, as, step);
    Advance(c, kRdi, as, step);
    return true;
  });
}

ExecStatus OpStos(Cpu& c, const Insn& i) {
  const int size = i.opsize, as = i.addrsize;
  const int64_t step = Step(c, size);
  const uint64_t v = c.Reg(kRax, size);
  return Repeat(c, i, false, [&] {
    if (!c.Write(kEs, c.Reg(kRdi, as), size, v)) return false;
    Advance(c, kRdi, as, step);
    return true;
  });
}

ExecStatus OpLods(Cpu& c, const Insn& i) {
  const int size = i.opsize, as = i.addrsize;
  const int64_t step = Step(c, size);
  return Repeat(c, i, false, [&] {
    uint64_t v;
    if (!c.Read(i.seg, c.Reg(kRsi, as), size, &v)) return false;
    c.SetReg(kRax, size, v);
    Advance(c, kRsi, as, step);
    return true;
  });
}

ExecStatus OpCmps(Cpu& c, const Insn& i) {
  const int size = i.opsize, as = i.addrsize;
  const int64_t step = Step(c, size);
  return Repeat(c, i, true, [&] {
    uint64_t a, b;
    if (!c.Read(i.seg, c.Reg(kRsi, as), size, &a) ||
        !c.Read(kEs, c.Reg(kRdi, as), size, &b)) {
      return false;
    }
    Alu(c, 7, size, a, b);
    Advance(c, kRsi, as, step);
    Advance(c, kRdi, as, step);
    return true;
  });
}

ExecStatus OpScas(Cpu& c, const Insn& i) {
  const int size = i.opsize, as = i.addrsize;
  const int64_t step = Step(c, size);
  return Repeat(c, i, true, [&] {
    uint64_t b;
    if (!c.Read(kEs, c.Reg(kRdi, as), size, &b)) return false;
    Alu(c, 7, size, c.Reg(kRax, size), b);
    Advance(c, kRdi, as, step);
    return true;
  });
}

ExecStatus OpIns(Cpu& c, const Insn& i) {
  const int size = i.opsize == 8 ? 4 : i.opsize, as = i.addrsize;
  const int64_t step = Step(c, size);
  const uint16_t port = static_cast<uint16_t>(c.s.gpr[kRdx]);
  if (ExecStatus st = CheckIoPermission(c, port, size); st != ExecStatus::kNext)
    return st;
  return Repeat(c, i, false, [&] {
    uint8_t* h;
    // Check the destination before the port read has side effects.
    if (!c.HostPtrForRmw(kEs, c.Reg(kRdi, as), size, &h)) return false;
    if (!c.Write(kEs, c.Reg(kRdi, as), size, PortIn(c, port, size))) {
      return false;
    }
    Advance(c, kRdi, as, step);
    return true;
  });
}

ExecStatus OpOuts(Cpu& c, const Insn& i) {
  const int size = i.opsize == 8 ? 4 : i.opsize, as = i.addrsize;
  const int64_t step = Step(c, size);
  const uint16_t port = static_cast<uint16_t>(c.s.gpr[kRdx]);
  if (ExecStatus st = CheckIoPermission(c, port, size); st != ExecStatus::kNext)
    return st;
  return Repeat(c, i, false, [&] {
    uint64_t v;
    if (!c.Read(i.seg, c.Reg(kRsi, as), size, &v)) return false;
    PortOut(c, port, size, v);
    Advance(c, kRsi, as, step);
    return true;
  });
}

}  // namespace skiff::tcg
