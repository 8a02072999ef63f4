// String instructions MOVS STOS LODS CMPS SCAS INS OUTS, with REP, REPE and
// REPNE (Intel SDM vol. 2, REP/REPE/REPNE). A repeated instruction runs at
// most kStringBatch iterations per call; if rCX is not yet zero the handler
// leaves RIP on the instruction (next_rip = rip) so the main loop can poll
// Kick() and interrupts between batches, then re-executes it. REP MOVS and
// REP STOS (the guest's memcpy and memset) move whole runs of elements
// within one page of RAM at a time with a host memmove or fill; anything
// else (MMIO, a TLB miss, an element across a page) goes element by element.
#include <algorithm>
#include <cstring>

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
  if (c.Reg(kRcx, as) != 0) c.next_rip = c.InsnRip(i);
  return ExecStatus::kNext;
}

int64_t Step(const Cpu& c, int size) {
  return (c.Rflags() & kFlagDf) ? -size : size;
}

void Advance(Cpu& c, int reg, int as, int64_t step) {
  c.SetReg(reg, as, c.Reg(reg, as) + static_cast<uint64_t>(step));
}

// How many elements of `size` bytes, from the one at seg:`off` and moving
// down (DF=1) or up, lie in that element's page of RAM, which the TLB
// already maps for `kind`, without the offset wrapping at the address size
// `as`: at most `max`. Sets *first to the host address of the element at
// `off`. 0 when the element is not such RAM (the caller then takes the
// element-by-element path, which walks, faults or reaches MMIO as usual).
uint64_t PageRun(Cpu& c, int seg, uint64_t off, int as, int size, bool down,
                 uint64_t max, AccessKind kind, uint8_t** first) {
  const uint64_t lin = c.Linear(seg, off);
  if (c.s.code_bits == 64 && !c.IsCanonical(lin)) return 0;
  const uint64_t usize = static_cast<uint64_t>(size);
  uint8_t* host = kind == kAccWrite ? c.TlbHostForWrite(lin, usize)
                                    : c.TlbHost(lin, usize, kind);
  const uint64_t in_page = lin & 0xfff;
  const uint64_t mask = as == 8 ? ~0ull : as == 4 ? 0xffffffffull : 0xffffull;
  if (host == nullptr || mask - off < usize - 1) return 0;
  // Up: element k ends at in_page + (k + 1) * size <= 4096 and at offset
  // off + k * size + size - 1 <= mask. Down: it starts at or above the page
  // and at offset off - k * size >= 0.
  const uint64_t n = down ? std::min(in_page, off) / usize + 1
                          : std::min((4096 - in_page) / usize,
                                     (mask - off - (usize - 1)) / usize + 1);
  *first = host;
  return std::min(n, max);
}

// Runs REP MOVS (`is_movs`) or REP STOS of `v` for at most kStringBatch
// elements.
ExecStatus RepMoveOrStore(Cpu& c, const Insn& i, bool is_movs, uint64_t v) {
  const int size = i.opsize, as = i.addrsize;
  const int64_t step = Step(c, size);
  const bool down = step < 0;
  uint64_t budget = kStringBatch;
  while (budget > 0) {
    const uint64_t count = c.Reg(kRcx, as);
    if (count == 0) return ExecStatus::kNext;
    uint8_t* dst = nullptr;
    uint8_t* src = nullptr;
    uint64_t n = PageRun(c, kEs, c.Reg(kRdi, as), as, size, down,
                         std::min(count, budget), kAccWrite, &dst);
    if (n > 0 && is_movs) {
      n = PageRun(c, i.seg, c.Reg(kRsi, as), as, size, down, n, kAccRead, &src);
    }
    const uint64_t span = n * static_cast<uint64_t>(size);
    if (n > 0) {
      const uint64_t back = down ? span - static_cast<uint64_t>(size) : 0;
      dst -= back;
      if (is_movs) {
        src -= back;
        // Element by element, a copy towards the source's unread end
        // replicates what it writes; memmove does not, so such an overlap
        // goes the slow way.
        const bool overlap = dst < src + span && src < dst + span;
        if (overlap && (down ? dst < src : dst > src)) n = 0;
      }
    }
    if (n == 0) {
      if (is_movs) {
        uint64_t e;
        if (!c.Read(i.seg, c.Reg(kRsi, as), size, &e))
          return ExecStatus::kFault;
        v = e;
      }
      if (!c.Write(kEs, c.Reg(kRdi, as), size, v)) return ExecStatus::kFault;
      n = 1;
    } else if (is_movs) {
      std::memmove(dst, src, span);
      c.NoteCodeWrite(dst, static_cast<int>(span));
    } else {
      if (size == 1 || v == 0) {
        std::memset(dst, static_cast<int>(v & 0xff), span);
      } else {
        for (uint64_t k = 0; k < span; k += static_cast<uint64_t>(size)) {
          std::memcpy(dst + k, &v, static_cast<size_t>(size));
        }
      }
      c.NoteCodeWrite(dst, static_cast<int>(span));
    }
    const int64_t moved = step * static_cast<int64_t>(n);
    if (is_movs) Advance(c, kRsi, as, moved);
    Advance(c, kRdi, as, moved);
    c.SetReg(kRcx, as, count - n);
    budget -= n;
  }
  if (c.Reg(kRcx, as) != 0) c.next_rip = c.InsnRip(i);
  return ExecStatus::kNext;
}

}  // namespace

ExecStatus OpMovs(Cpu& c, const Insn& i) {
  if (i.rep != 0) return RepMoveOrStore(c, i, true, 0);
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
  const uint64_t v = c.Reg(kRax, size);
  if (i.rep != 0) return RepMoveOrStore(c, i, false, v);
  const int64_t step = Step(c, size);
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
