// Linear-to-physical translation (Intel SDM vol. 3, chapter 4), the
// software TLB, and the slow paths of guest memory accesses: page-crossing
// accesses, accesses to non-RAM (MMIO through VcpuIo) and TLB misses.
#include <algorithm>

#include "tcg/cpu.h"
#include "tcg/flags.h"

namespace skiff::tcg {
namespace {

constexpr uint64_t kPteP = 1ull << 0;
constexpr uint64_t kPteRw = 1ull << 1;
constexpr uint64_t kPteUs = 1ull << 2;
constexpr uint64_t kPteA = 1ull << 5;
constexpr uint64_t kPteD = 1ull << 6;
constexpr uint64_t kPtePs = 1ull << 7;
constexpr uint64_t kPteG = 1ull << 8;
constexpr uint64_t kPteNx = 1ull << 63;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;
constexpr uint8_t kAllowAll = 0x3f;

// #PF error code bits (Intel SDM vol. 3, section 4.7).
constexpr uint32_t kPfP = 1, kPfW = 2, kPfU = 4, kPfRsvd = 8, kPfI = 16;

}  // namespace

uint64_t Cpu::EffAddr(const Insn& i) const {
  uint64_t a = static_cast<uint64_t>(i.disp);
  if (i.base != 0xff) a += s.gpr[i.base];
  if (i.index != 0xff) a += s.gpr[i.index] << i.scale;
  if (i.rip_rel) a += next_rip;
  return i.addrsize == 8 ? a : (a & SizeMask(i.addrsize));
}

bool Cpu::ReadPhys(uint64_t pa, int size, uint64_t* out) {
  uint64_t v = 0;
  absl::Span<uint8_t> span = memory_.TrySlice(GuestAddr(pa), size);
  if (!span.empty()) {
    std::memcpy(&v, span.data(), size);
  } else if (io != nullptr) {
    ExitBlock();  // the device may write guest RAM
    io->MmioRead(pa, absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), size));
  } else {
    v = ~0ull;
  }
  *out = v & SizeMask(size);
  return true;
}

uint64_t Cpu::ReadPte(uint64_t pa, int size) {
  const uint64_t off = pa - ram0_.start.value();
  if (off < ram0_.size && ram0_.size - off >= static_cast<uint64_t>(size)) {
    if (size == 8) {
      uint64_t v;
      std::memcpy(&v, ram0_.host + off, 8);
      return v;
    }
    uint32_t v;
    std::memcpy(&v, ram0_.host + off, 4);
    return v;
  }
  uint64_t v;
  ReadPhys(pa, size, &v);
  return v;
}

bool Cpu::WritePhys(uint64_t pa, int size, uint64_t v) {
  absl::Span<uint8_t> span = memory_.TrySlice(GuestAddr(pa), size);
  if (!span.empty()) {
    NoteCodeWrite(span.data(), size);
    std::memcpy(span.data(), &v, size);
  } else if (io != nullptr) {
    ExitBlock();  // the device may write guest RAM
    io->MmioWrite(pa,
                  absl::MakeConstSpan(reinterpret_cast<uint8_t*>(&v), size));
  }
  return true;
}

void Cpu::FlushTlb(bool include_global) {
  fetch_tag_ = ~0ull;
  if (include_global) BumpGlobalEpoch();
  if (include_global || nonglobal_link_) {
    ++tlb_epoch_;
    nonglobal_link_ = false;
    ExitBlock();  // no chained jump under the old translations
  }
  // Empties the entry at `idx` unless it is a global one that stays, which
  // goes on the global list.
  const auto flush = [&](uint16_t idx) {
    TlbEntry& e = tlb_[idx];
    if (e.tag[0] == ~0ull) return;
    if (include_global || !e.global()) {
      e = TlbEntry();
    } else {
      ListTlbEntry(tlb_global_, idx);
    }
  };
  if (tlb_overflow_) {
    // A full scan, which lists the global entries kept without duplicates.
    tlb_local_.n = tlb_global_.n = 0;
    tlb_overflow_ = false;
    for (int k = 0; k < kTlbSize; ++k) flush(static_cast<uint16_t>(k));
    return;
  }
  // A non-global entry may have become global since it was listed.
  for (int k = 0; k < tlb_local_.n; ++k) flush(tlb_local_.idx[k]);
  tlb_local_.n = 0;
  if (include_global) {
    for (int k = 0; k < tlb_global_.n; ++k) {
      tlb_[tlb_global_.idx[k]] = TlbEntry();
    }
    tlb_global_.n = 0;
    tlb_overflow_ = false;
  }
}

void Cpu::FlushTlbPage(uint64_t lin) {
  fetch_tag_ = ~0ull;
  ++tlb_epoch_;
  if (GlobalLinked(lin)) BumpGlobalEpoch();
  nonglobal_link_ = false;
  ExitBlock();
  TlbEntry& e = tlb_[(lin >> 12) & (kTlbSize - 1)];
  if (e.page() == (lin & ~0xfffull)) e = TlbEntry();
}

void Cpu::UpdateMode() {
  const bool old_paging = s.paging;
  s.protected_mode = s.cr0 & kCr0Pe;
  s.paging = (s.cr0 & kCr0Pg) && s.protected_mode;
  s.long_mode = s.efer & kEferLma;
  if (s.long_mode && s.seg[kCs].l) {
    s.code_bits = 64;
  } else {
    s.code_bits = s.seg[kCs].db ? 32 : 16;
  }
  s.cpl = s.protected_mode ? (s.seg[kCs].selector & 3) : 0;
  s.user_tag = static_cast<uint8_t>(TlbTagIndex(kAccRead, s.cpl == 3));
  if (old_paging != s.paging) FlushTlb(true);
}

// Walks the page tables for `lin`. Sets A (and D for writes) bits as the
// hardware does, atomically, since other vCPUs share the tables.
bool Cpu::Walk(uint64_t lin, AccessKind kind, bool user, uint64_t* phys,
               uint8_t* allow, bool* global) {
  const bool nxe = s.efer & kEferNxe;
  auto fault = [&](uint32_t err) {
    if (kind == kAccWrite) err |= kPfW;
    if (user) err |= kPfU;
    if (kind == kAccExec && nxe) err |= kPfI;
    s.cr2 = lin;
    pending_fault = {kPf, true, err};
    return false;
  };
  int levels;
  int entry_size = 8;
  uint64_t table;
  if (s.long_mode) {
    levels = 4;
    table = s.cr3 & kAddrMask;
  } else if (s.cr4 & kCr4Pae) {
    // PAE: the PDPTE selected by bits 31:30 (loaded on use, not cached).
    const uint64_t pdpte =
        ReadPte((s.cr3 & 0xffffffe0) + ((lin >> 30) & 3) * 8, 8);
    if (!(pdpte & kPteP)) return fault(0);
    levels = 2;
    table = pdpte & kAddrMask;
  } else {
    levels = 2;
    entry_size = 4;
    table = s.cr3 & 0xfffff000;
  }
  bool rw = true, us = true, nx = false, g = false;
  uint64_t pa = 0;
  for (int level = levels; level >= 1; --level) {
    int shift = entry_size == 8 ? 12 + 9 * (level - 1) : 12 + 10 * (level - 1);
    uint64_t idx =
        entry_size == 8 ? (lin >> shift) & 511 : (lin >> shift) & 1023;
    const uint64_t ea = table + idx * entry_size;
    uint64_t pte = ReadPte(ea, entry_size);
    if (!(pte & kPteP)) return fault(0);
    if ((pte & kPteNx) && entry_size == 8 && !nxe) return fault(kPfP | kPfRsvd);
    rw = rw && (pte & kPteRw);
    us = us && (pte & kPteUs);
    if (entry_size == 8 && nxe && (pte & kPteNx)) nx = true;
    const bool large = level > 1 && (pte & kPtePs) &&
                       (level <= 3 || entry_size == 4) &&
                       (entry_size == 8 || (s.cr4 & (1u << 4)));
    if (level == 4 && (pte & kPtePs)) return fault(kPfP | kPfRsvd);
    // Set the accessed bit on every level and the dirty bit on the leaf.
    uint64_t set = kPteA;
    const bool leaf = large || level == 1;
    if (leaf && kind == kAccWrite) set |= kPteD;
    if ((pte & set) != set) {
      // Permission is checked before any bit is set, so only for the leaf.
      absl::Span<uint8_t> span = memory_.TrySlice(GuestAddr(ea), entry_size);
      if (!span.empty()) {
        bool ok = true;
        if (leaf) {
          const bool w_ok = user ? (rw && us) : (rw || !(s.cr0 & kCr0Wp));
          if (user && !us) ok = false;
          if (kind == kAccWrite && !w_ok) ok = false;
          if (kind == kAccExec && nx) ok = false;
        }
        if (ok) {
          if (IsCodePage(ea)) NoteCodePageWrite();
          NoteCodeWrite(span.data(), entry_size);
          if (entry_size == 8) {
            __atomic_fetch_or(reinterpret_cast<uint64_t*>(span.data()), set,
                              __ATOMIC_SEQ_CST);
          } else {
            __atomic_fetch_or(reinterpret_cast<uint32_t*>(span.data()),
                              static_cast<uint32_t>(set), __ATOMIC_SEQ_CST);
          }
          pte |= set;
        }
      }
    }
    if (leaf) {
      g = pte & kPteG;
      const uint64_t page_mask = (1ull << shift) - 1;
      uint64_t frame = entry_size == 8 ? (pte & kAddrMask) : (pte & 0xfffff000);
      if (large && entry_size == 4) {
        frame = (pte & 0xffc00000) | ((pte & 0x1fe000ull) << 19);
      }
      pa = (frame & ~page_mask) | (lin & page_mask);
      const bool dirty = pte & kPteD;
      uint8_t a = 0;
      a |= AllowBit(kAccRead, false);
      if ((rw || !(s.cr0 & kCr0Wp)) && dirty) a |= AllowBit(kAccWrite, false);
      if (!nx) a |= AllowBit(kAccExec, false);
      if (us) {
        a |= AllowBit(kAccRead, true);
        if (rw && dirty) a |= AllowBit(kAccWrite, true);
        if (!nx) a |= AllowBit(kAccExec, true);
      }
      // Re-check the access against the permissions (ignoring D).
      const uint8_t need = AllowBit(kind, user);
      uint8_t perm = a;
      if (kind == kAccWrite) {
        const bool w_ok = user ? (rw && us) : (rw || !(s.cr0 & kCr0Wp));
        if (w_ok) perm |= need;
      }
      if (!(perm & need)) return fault(kPfP);
      *phys = pa & ~0xfffull;
      *allow = a;
      *global = g && (s.cr4 & kCr4Pge);
      return true;
    }
    table = entry_size == 8 ? (pte & kAddrMask) : (pte & 0xfffff000);
  }
  return fault(0);
}

bool Cpu::Translate(uint64_t lin, AccessKind kind, bool user, TlbEntry** out) {
  // Callers check first and raise #GP or #SS; refusing here as well keeps
  // every TLB tag canonical, which the fast paths rely on (ops_fast.cc).
  if (!IsCanonical(lin)) {
    pending_fault = {kGp, true, 0};
    return false;
  }
  constexpr uint64_t kCode = TlbEntry::kTlbCode;
  const int tag = TlbTagIndex(kind, user);
  if (TlbEntry* hit = TlbHit(lin, kind, user)) {
    if (hit->tag[tag] & kCode) NoteCodePageWrite();
    *out = hit;
    return true;
  }
  const uint16_t idx = static_cast<uint16_t>((lin >> 12) & (kTlbSize - 1));
  TlbEntry& e = tlb_[idx];
  const uint64_t page = lin & ~0xfffull;
  uint64_t phys;
  uint8_t allow;
  bool global = false;
  if (!s.paging) {
    phys = s.long_mode ? page : (page & 0xffffffff);
    allow = kAllowAll;
  } else if (!Walk(lin, kind, user, &phys, &allow, &global)) {
    return false;
  }
  absl::Span<uint8_t> span = memory_.TrySlice(GuestAddr(phys), 4096);
  const uint64_t base = page | (span.empty() ? TlbEntry::kTlbMmio : 0);
  const uint64_t denied = ~static_cast<uint64_t>(allow);
  // Listed already: a non-global entry that stays non-global; any entry
  // in use that becomes global (a global flush visits both lists).
  const bool was_used = e.tag[0] != ~0ull;
  if (!global && (!was_used || e.global())) {
    ListTlbEntry(tlb_local_, idx);
  } else if (global && !was_used) {
    ListTlbEntry(tlb_global_, idx);
  }
  for (int k = 0; k < 6; ++k) {
    static_assert(TlbEntry::kTlbDenied == 2, "allow bit k clear -> bit 1");
    e.tag[k] = base | (((denied >> k) & 1) << 1);
  }
  e.addend = span.empty() ? 0
                          : reinterpret_cast<uintptr_t>(span.data()) -
                                static_cast<uintptr_t>(page);
  e.phys = phys | (global ? TlbEntry::kTlbGlobal : 0);
  if (!span.empty() && IsCodePage(phys)) {
    e.tag[TlbTagIndex(kAccWrite, false)] |= kCode;
    e.tag[TlbTagIndex(kAccWrite, true)] |= kCode;
    if (kind == kAccWrite) NoteCodePageWrite();
  }
  *out = &e;
  return true;
}

bool Cpu::MarkCodePage(uint64_t phys) {
  if (memory_.IsCodePage(phys)) return true;
  if (!memory_.MarkCodePage(phys)) return false;
  // Translations filled before the mark, under any linear address.
  const uint64_t page = phys & ~0xfffull;
  ForEachTlbEntry([page](TlbEntry& e) {
    if (e.ram() && e.phys_page() == page) {
      e.tag[TlbTagIndex(kAccWrite, false)] |= TlbEntry::kTlbCode;
      e.tag[TlbTagIndex(kAccWrite, true)] |= TlbEntry::kTlbCode;
    }
  });
  return true;
}

void Cpu::ForgetCodePages() {
  if (!memory_.ForgetCodePages()) return;
  ForEachTlbEntry([](TlbEntry& e) {
    if (e.ram()) {
      e.tag[TlbTagIndex(kAccWrite, false)] &= ~TlbEntry::kTlbCode;
      e.tag[TlbTagIndex(kAccWrite, true)] &= ~TlbEntry::kTlbCode;
    }
  });
}

bool Cpu::ReadLinSlow(uint64_t lin, int size, uint64_t* out, bool user) {
  const uint64_t off = lin & 0xfff;
  TlbEntry* e;
  if (off + size <= 4096) {
    if (!Translate(lin, kAccRead, user, &e)) return false;
    if (e->ram()) {
      uint64_t v = 0;
      std::memcpy(&v, e->host(lin), size);
      *out = v;
      return true;
    }
    return ReadPhys(e->phys_page() + off, size, out);
  }
  // Split across two pages: translate both before reading either.
  const int first = static_cast<int>(4096 - off);
  uint64_t pa1, pa2;
  if (!Translate(lin, kAccRead, user, &e)) return false;
  pa1 = e->phys_page() + off;
  if (!Translate(lin + first, kAccRead, user, &e)) return false;
  pa2 = e->phys_page();
  uint64_t lo, hi;
  ReadPhys(pa1, first, &lo);
  ReadPhys(pa2, size - first, &hi);
  *out = lo | (hi << (first * 8));
  return true;
}

bool Cpu::WriteLinSlow(uint64_t lin, int size, uint64_t v, bool user) {
  const uint64_t off = lin & 0xfff;
  TlbEntry* e;
  if (off + size <= 4096) {
    if (!Translate(lin, kAccWrite, user, &e)) return false;
    if (e->ram()) {
      uint8_t* p = e->host(lin);
      NoteCodeWrite(p, size);
      std::memcpy(p, &v, size);
      return true;
    }
    return WritePhys(e->phys_page() + off, size, v);
  }
  const int first = static_cast<int>(4096 - off);
  uint64_t pa1, pa2;
  if (!Translate(lin, kAccWrite, user, &e)) return false;
  pa1 = e->phys_page() + off;
  if (!Translate(lin + first, kAccWrite, user, &e)) return false;
  pa2 = e->phys_page();
  WritePhys(pa1, first, v);
  WritePhys(pa2, size - first, v >> (first * 8));
  return true;
}

bool Cpu::HostPtrForRmw(int seg, uint64_t off, int size, uint8_t** host) {
  *host = nullptr;
  const uint64_t lin = Linear(seg, off);
  if (!CheckLinear(seg, lin)) return false;
  const bool user = s.cpl == 3;
  TlbEntry* e;
  if ((lin & 0xfff) + size > 4096) {
    // Split: check both pages are writable; the caller falls back to a
    // non-atomic read-modify-write (a split lock on real hardware).
    // A fault on the second page reports its first byte in CR2, as the
    // plain split accesses above do.
    if (!Translate(lin, kAccWrite, user, &e)) return false;
    return Translate(lin + (4096 - (lin & 0xfff)), kAccWrite, user, &e);
  }
  if (!Translate(lin, kAccWrite, user, &e)) return false;
  if (e->ram()) {
    *host = e->host(lin);
    NoteCodeWrite(*host, size);
  }
  return true;
}

bool Cpu::Push(int size, uint64_t v) {
  const uint64_t sp = (Sp() - size) & SizeMask(StackAddrSize());
  if (!Write(kSs, sp, size, v)) return false;
  SetSp(sp);
  return true;
}

bool Cpu::Pop(int size, uint64_t* v) {
  const uint64_t sp = Sp();
  if (!Read(kSs, sp, size, v)) return false;
  SetSp(sp + size);
  return true;
}

int Cpu::FetchPage(uint64_t lin, uint8_t* buf, int max, uint64_t* phys) {
  TlbEntry* e;
  // Translate raises #GP for a non-canonical RIP.
  if (!Translate(lin, kAccExec, s.cpl == 3, &e)) return 0;
  const uint64_t off = lin & 0xfff;
  const int n = static_cast<int>(std::min<uint64_t>(max, 4096 - off));
  *phys = e->phys_page() + off;
  if (!e->ram()) return -1;
  std::memcpy(buf, e->host(lin), n);
  SetFetchPage(lin, e->host(lin), *phys);
  return n;
}

}  // namespace skiff::tcg
