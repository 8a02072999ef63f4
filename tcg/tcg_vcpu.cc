#include "tcg/tcg_vcpu.h"

#include <algorithm>
#include <new>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/named_mapping.h"
#include "tcg/cpuid_msr.h"
#include "tcg/decoder.h"
#include "tcg/interrupts.h"

namespace skiff::tcg {
namespace {

// Regs order <-> x86 register numbers.
constexpr int kRegsOrder[16] = {kRax, kRbx, kRcx, kRdx, kRsi, kRdi, kRsp, kRbp,
                                8,    9,    10,   11,   12,   13,   14,   15};

Segment ResetSegment(uint16_t sel, uint64_t base, uint8_t type) {
  Segment s{};
  s.selector = sel;
  s.base = base;
  s.limit = 0xffff;
  s.type = type;
  s.s = 1;
  s.present = 1;
  return s;
}

}  // namespace

void* TcgVcpu::operator new(size_t size) {
  void* p = MapNamed("skiff-tcg-vcpu", size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void TcgVcpu::operator delete(void* p, size_t size) { UnmapNamed(p, size); }

TcgVcpu::TcgVcpu(const GuestMemory& memory, int index,
                 const std::atomic<uint64_t>* code_epoch, bool writes_reported)
    : index_(index),
      code_epoch_(code_epoch),
      writes_reported_(writes_reported),
      cpu_(memory, &cache_) {
  cpu_.clock = &own_clock_;
  cpu_.entropy = &entropy_;
  // Power-on state (Intel SDM vol. 3, table 9-1).
  CpuState& s = cpu_.s;
  s.seg[kCs] = ResetSegment(0xf000, 0xffff0000, 0xb);
  for (int seg : {kEs, kSs, kDs, kFs, kGs}) {
    s.seg[seg] = ResetSegment(0, 0, 3);
  }
  s.tr = ResetSegment(0, 0, 0xb);
  s.tr.s = 0;
  s.ldt = ResetSegment(0, 0, 2);
  s.ldt.s = 0;
  s.gdt.limit = s.idt.limit = 0xffff;
  s.rip = 0xfff0;
  s.gpr[kRdx] = 0x600;
  s.cr0 = 0x60000010;
  s.vcpu_index = index;
  if (index == 0)
    s.apic_base |= 1u << 8;  // BSP
  else
    s.apic_base &= ~(1ull << 8);
  cpu_.kick = &kick_;
  cpu_.UpdateMode();
}

VcpuExit TcgVcpu::InternalError(const char* message) {
  VcpuExit exit;
  exit.kind = VcpuExit::Kind::kInternalError;
  exit.reason = 1;
  exit.rip = cpu_.Linear(kCs, cpu_.s.rip);
  exit.message = message;
  uint64_t phys;
  uint8_t buf[16];
  const int n = cpu_.FetchPage(exit.rip, buf, 15, &phys);
  if (n > 0) {
    std::copy(buf, buf + n, exit.insn.begin());
    exit.insn_len = static_cast<uint8_t>(n);
  }
  return exit;
}

// Fetches and decodes the instruction at RIP. Returns false with
// pending_fault set (#PF, #GP) or with *out == nullptr when the code is not
// in RAM.
bool TcgVcpu::Fetch(Insn* scratch, const Insn** out) {
  CpuState& s = cpu_.s;
  const uint64_t lin = cpu_.Linear(kCs, s.rip);
  uint8_t buf[16];
  uint64_t phys;
  const int n = cpu_.FetchPage(lin, buf, 15, &phys);
  *out = nullptr;
  if (n == 0) return false;
  if (n < 0) return true;
  if (const Insn* hit = cache_.Lookup(phys, s.code_bits, buf, n)) {
    *out = hit;
    return true;
  }
  DecodeResult r = Decode(buf, n, s.code_bits, scratch);
  if (r == DecodeResult::kNeedMore) {
    // The instruction continues on the next page: fetch it (which may #PF
    // on that page) and decode from the joined bytes. Not cached.
    uint64_t phys2;
    const int m = cpu_.FetchPage(lin + n, buf + n, 15 - n, &phys2);
    if (m == 0) return false;
    if (m < 0) return true;
    r = Decode(buf, n + m, s.code_bits, scratch);
    if (r == DecodeResult::kOk) {
      *out = scratch;
      return true;
    }
  }
  if (r != DecodeResult::kOk) {
    cpu_.pending_fault = {kGp, true, 0};  // longer than 15 bytes
    return false;
  }
  cache_.Insert(phys, s.code_bits, *scratch, buf);
  *out = scratch;
  return true;
}

inline bool TcgVcpu::Step(VcpuExit* exit) {
  Cpu& c = cpu_;
  CpuState& s = c.s;
  const Insn* insn = nullptr;
  // Fast path: same code page as the last fetch and a cache hit.
  const uint8_t* host;
  uint64_t phys;
  if (c.FastFetch(c.Linear(kCs, s.rip), &host, &phys)) {
    insn = cache_.Lookup16(phys, s.code_bits, host);
  }
  if (insn == nullptr && !Fetch(&scratch_, &insn)) {
    if (!DeliverFault(c)) {
      exit->kind = VcpuExit::Kind::kShutdown;
      return false;
    }
    return true;
  }
  if (insn == nullptr) {
    *exit = InternalError("instruction fetch outside RAM");
    return false;
  }
  c.next_rip = s.rip + insn->len;
  if (s.code_bits != 64) c.next_rip &= s.code_bits == 32 ? 0xffffffff : 0xffff;
  const ExecStatus st = insn->fn(c, *insn);
  ++retired_;
  if (icount_ != nullptr) icount_->AddInstructions(1);
  c.shadow = c.shadow_next;
  c.shadow_next = false;
  return Finish(st, exit);
}

inline bool TcgVcpu::Finish(ExecStatus st, VcpuExit* exit) {
  Cpu& c = cpu_;
  switch (st) {
    case ExecStatus::kNext:
      c.s.rip = c.next_rip;
      return true;
    case ExecStatus::kFault:
      if (!DeliverFault(c)) {
        exit->kind = VcpuExit::Kind::kShutdown;
        return false;
      }
      return true;
    case ExecStatus::kHalt:
      c.s.rip = c.next_rip;
      // An interrupt already pending (e.g. raised while an STI shadow held
      // it back) ends the halt at once, as on hardware; parking the vCPU
      // would wait for a wake-up that already happened.
      if (c.irq != nullptr && (c.s.rflags & kRflagsIf) &&
          c.irq->HasPendingInterrupt()) {
        return true;
      }
      exit->kind = VcpuExit::Kind::kHalt;
      return false;
    case ExecStatus::kInternal:
      *exit = InternalError(c.internal_msg ? c.internal_msg : "internal");
      return false;
    case ExecStatus::kPair:  // only fused handlers in blocks return these
    case ExecStatus::kPairFault:
      *exit = InternalError("a fused instruction pair ran outside a block");
      return false;
  }
  return true;
}

namespace {

// Runs the instructions of one block from `*in` until one does not return
// kNext, the block (or the instruction limit) ends, or c.ExitBlock() was
// called. Per instruction: an indirect call and two checks. In 64-bit mode
// only the last instruction of a block can change RIP (EndsBlock), or one
// that calls ExitBlock (a taken Jcc), so RIP is read back from next_rip only
// when the block ends: the next instruction's RIP does not wait for a store
// to reach a load (a boot's CPU time 6% lower). s.rip, too, is written only
// when the block is left (one store less per instruction); handlers find
// their own address with Cpu::InsnRip. In 16/32-bit mode IP can also wrap
// around within the block, which ends it, and s.rip follows every
// instruction.
template <bool k64>
inline ExecStatus ExecBlock(Cpu& c, const Insn*& in, uint64_t& rip,
                            uint64_t ip_mask) {
  CpuState& s = c.s;
  for (;;) {
    if (!k64) s.rip = rip;
    rip += in->len;  // from here on, the fall-through address
    c.next_rip = k64 ? rip : (rip & ip_mask);
    const ExecStatus st = in->fn(c, *in);
    if (st != ExecStatus::kNext) [[unlikely]] {
      if (st != ExecStatus::kPair) {
        // The instruction's own address, or its fused Jcc's.
        s.rip = st == ExecStatus::kPairFault ? rip : rip - in->len;
        ++in;
        return st == ExecStatus::kPairFault ? ExecStatus::kFault : st;
      }
      ++in;
      rip += in->len;  // a fused pair (64-bit only) ran the next one too
    }
    ++in;
    if (reinterpret_cast<uintptr_t>(in) >= c.block_end) {
      rip = c.next_rip;
      return ExecStatus::kNext;
    }
    if (!k64 && c.next_rip != rip) {
      rip = c.next_rip;
      return ExecStatus::kNext;
    }
  }
}

// The longest x86 instruction.
constexpr int kMaxInsnBytes = 15;

}  // namespace

// The block at RIP through the TLB and the index, built if missing, and
// linked from `prev` (when it may be); nullptr when only Step can go on (a
// fetch fault, code outside RAM, an instruction that crosses into a page
// that does not follow it).
// Out of line: it keeps the hot loop's registers free.
const Block* TcgVcpu::FindBlock(const Block* prev, uint64_t context,
                                uint64_t epoch, const uint8_t** host) {
  Cpu& c = cpu_;
  CpuState& s = c.s;
  const uint64_t generation = blocks_.generation();
  uint64_t phys;
  const uint64_t lin = c.Linear(kCs, s.rip);
  if (!c.FetchHostViaTlb(lin, host, &phys)) {
    // A code TLB miss: walk here and go on with blocks. A fault (or code
    // outside RAM) is left to Step, which fetches again and raises it.
    uint8_t byte;
    if (c.FetchPage(lin, &byte, 1, &phys) <= 0 ||
        !c.FetchHostViaTlb(lin, host, &phys)) {
      return nullptr;
    }
  }
  const Block* b = blocks_.Lookup(phys, s.code_bits, *host, epoch);
  const int avail = static_cast<int>(4096 - (phys & 0xfff));
  if (b == nullptr) {
    // Only a block that may reach the page's end can spill over it.
    const bool spill = s.code_bits == 64 && avail <= Block::kMaxBytes &&
                       NextPageFollows(lin, phys, *host);
    b = blocks_.Build(phys, s.code_bits, *host, avail,
                      spill ? kMaxInsnBytes - 1 : 0);
    if (b == nullptr) return nullptr;
    if (generation != blocks_.generation()) {
      c.ForgetCodePages();
      jit_.Reset();
    }
    // An unmarked page would take writes without a report.
    if (writes_reported_ &&
        (!c.MarkCodePage(phys) ||
         (b->spill != 0 && !c.MarkCodePage(phys + avail)))) {
      writes_reported_ = false;
      c.StopChains();
    }
    b->spill_context = context;
  } else if (b->spill != 0 && b->spill_context != context) {
    if (!NextPageFollows(lin, phys, *host)) return nullptr;
    b->spill_context = context;
  }
  // A Build that emptied the cache killed `prev`.
  if (prev != nullptr && generation == blocks_.generation()) {
    // A block that takes bytes from the next page also relies on that
    // page's translation, which need not be global.
    if (b->spill == 0 && c.CodeTlbGlobal(lin)) {
      c.NoteGlobalLink(lin);
      BlockCache::AddLink(
          *prev, s.rip,
          BlockCache::GlobalLinkContext(c.global_tlb_epoch(), s.cpl), b, *host);
    } else {
      c.NoteNonGlobalLink();
      BlockCache::AddLink(*prev, s.rip, context, b, *host);
    }
  }
  return b;
}

// Whether the linear page after `lin`'s (whose byte is guest-physical
// `phys`, at `host`) is executable here and maps the next guest-physical
// page, which follows in host memory. Probing it leaves no fault behind; a
// translation that is not global makes the next CR3 load move the TLB epoch, as
// a link does.
bool TcgVcpu::NextPageFollows(uint64_t lin, uint64_t phys,
                              const uint8_t* host) {
  Cpu& c = cpu_;
  const uint64_t next = (lin | 0xfff) + 1;
  const uint8_t* next_host;
  uint64_t next_phys;
  if (!c.FetchHostViaTlb(next, &next_host, &next_phys)) {
    const uint64_t cr2 = c.s.cr2;
    const PendingFault fault = c.pending_fault;
    uint8_t byte;
    const bool mapped = c.FetchPage(next, &byte, 1, &next_phys) > 0 &&
                        c.FetchHostViaTlb(next, &next_host, &next_phys);
    c.s.cr2 = cr2;
    c.pending_fault = fault;
    if (!mapped) return false;
  }
  const uint64_t off = lin & 0xfff;
  if (next_phys != phys - off + 4096 || next_host != host - off + 4096) {
    return false;
  }
  if (!c.CodeTlbGlobal(next)) c.NoteNonGlobalLink();
  return true;
}

void TcgVcpu::SetJitThreshold(uint32_t threshold) {
  if (threshold != kJitOff && writes_reported_ && jit_.Map()) {
    jit_threshold_ = threshold;
    return;
  }
  jit_threshold_ = kJitOff;
  cpu_.StopChains();
  blocks_.Clear();  // no block keeps code that goes away
  cpu_.ForgetCodePages();
  jit_.Unmap();
}

void TcgVcpu::Compile(const Block& b) {
  BlockJit::Fn f = jit_.Compile(cpu_, b, cpu_.s.cpl);
  if (f == nullptr) {
    // The code space is full: start it over. The blocks stay; the hot ones
    // are compiled again as they next run (their counts are past the
    // threshold).
    jit_.Reset();
    f = jit_.Compile(cpu_, b, cpu_.s.cpl);
    if (f == nullptr) {
      b.runs = 0;
      return;
    }
  }
  b.native = jit_.OffsetOf(f) | (cpu_.s.cpl == 3 ? 2 : 0) | 1;
  b.native_gen = jit_.generation();
}

// The hot loop: block after block while nothing needs the run loop (kick,
// instruction limit, a pending interrupt with IF=1, an interrupt shadow).
// Per block: a link or index lookup and an epoch compare (a byte compare
// against guest RAM after the epoch moved).
int TcgVcpu::RunBlocks(VcpuExit* exit) {
  Cpu& c = cpu_;
  CpuState& s = c.s;
  const Block* b = nullptr;
  const uint8_t* host = nullptr;
  // The block that ran last. Only FindBlock can empty the cache (a Build),
  // and then `prev` is replaced by the block it returns, so `prev` is alive
  // whenever it is read.
  const Block* prev = nullptr;
  // RIP stays in a register from block to block; s.rip follows it.
  uint64_t rip = s.rip;
  // Polled after every block with RFLAGS.IF=1: the source's own flag, else
  // one that is always set, so that HasPendingInterrupt() is asked.
  static constexpr std::atomic<bool> kAsk{true};
  static constexpr std::atomic<bool> kNoSource{false};
  const std::atomic<bool>* irq_flag = &kNoSource;
  if (c.irq != nullptr) {
    irq_flag = c.irq->pending_flag();
    if (irq_flag == nullptr) irq_flag = &kAsk;
  }
  // Compiled blocks jump into each other (BlockJit::Chain) except under
  // --icount, whose limit a device access may lower inside a block.
  const bool chaining =
      jit_threshold_ != kJitOff && writes_reported_ && icount_ == nullptr;
  c.irq_flag = irq_flag;
  if (!chaining) c.StopChains();
  // The exit of the last compiled block that could be chained to the next
  // one (its record, and the RIP its block ran at). Its code is of the
  // generation chain_jit_gen_ names from the loop's top on.
  uint32_t chain_record = 0;
  uint64_t chain_from = 0;
  // Whether the last compiled block left without a record to patch.
  bool jump_fill = false;
  for (;;) {
    const uint64_t epoch = CheckEpoch();
    const bool all_stale = c.chain_gen_global == Cpu::kChainOff ||
                           epoch != c.chain_epoch ||
                           c.global_tlb_epoch() != chain_global_epoch_ ||
                           jit_.generation() != chain_jit_gen_;
    if (chaining && (all_stale || c.chain_gen == Cpu::kChainOff ||
                     c.tlb_epoch() != chain_tlb_epoch_)) {
      // Every patch and jump cache entry made so far may be stale (those
      // into pages mapped global only when all_stale): start a generation.
      c.chain_gen = NextChainGen();
      if (all_stale) {
        c.chain_gen_global = NextChainGen();
        chain_global_epoch_ = c.global_tlb_epoch();
      }
      c.chain_epoch = epoch;
      chain_tlb_epoch_ = c.tlb_epoch();
      chain_jit_gen_ = jit_.generation();
    }
    if (b == nullptr || !BlockCache::Current(*b, host, epoch)) {
      b = nullptr;
      const bool linkable = prev != nullptr && s.code_bits == 64;
      const uint64_t context = BlockCache::LinkContext(c.tlb_epoch(), s.cpl);
      if (linkable) {
        if (const Block::Link* l = BlockCache::FindLink(
                *prev, rip, context,
                BlockCache::GlobalLinkContext(c.global_tlb_epoch(), s.cpl));
            l != nullptr && BlockCache::Current(*l->block, l->host, epoch)) {
          b = l->block;
          host = l->host;
        }
      }
      if (b == nullptr) {
        b = FindBlock(linkable ? prev : nullptr, context, epoch, &host);
        if (b == nullptr) return 0;
      }
    }
    if (chain_record != 0 || jump_fill) {
      // The previous block's exit led here: patch it to jump straight in,
      // or, for an exit whose RIP is known only as it runs, let the jump
      // cache lead here.
      const uint32_t native = Native(*b);
      if (chaining && native != 0 && s.code_bits == 64 &&
          (native & 2) == (s.cpl == 3 ? 2u : 0u) && BlockJit::Runs(rip)) {
        // A jump into a page mapped global holds while its translation
        // does: an INVLPG of the page ends it (NoteGlobalLink). Not for a
        // block that takes bytes from the next page (as links).
        uint32_t gen = c.chain_gen;
        if (b->spill == 0 && c.CodeTlbGlobal(rip)) {
          c.NoteGlobalLink(rip);
          gen = c.chain_gen_global;
        }
        if (gen == Cpu::kChainOff) {
          // Chaining stopped in this pass (FindBlock).
        } else if (chain_record == 0) {
          c.jump_cache[Cpu::JumpCacheSlot(rip)] = {
              .gen = gen,
              .ninsn = b->ninsn,
              .rip = rip,
              .block = b,
              .insns = b->insns(),
              .code = jit_.ChainEntry(native),
              .cpl = s.cpl};
        } else if (chain_jit_gen_ == jit_.generation()) {
          jit_.Chain(chain_record, gen, chain_from, *b);
        }
      }
      chain_record = 0;
      jump_fill = false;
    }
    prev = b;
    uint64_t start = rip;
    const Insn* first = b->insns();
    const Insn* in = first;
    const Insn* end = in + b->ninsn;
    // Re-read each block: a device access (--icount) may lower it.
    if (limit_ - retired_ < b->ninsn) {
      end = in + (limit_ - retired_);  // exact instruction limit
    }
    c.code_lo = host;
    c.code_hi = host + b->nbytes;
    c.block_end = reinterpret_cast<uintptr_t>(end);
    ExecStatus st;
    bool chained = false;
    if (s.code_bits == 64) {
      const uint32_t cpl_bit = s.cpl == 3 ? 2 : 0;
      if (Native(*b) == 0 && ++b->runs >= jit_threshold_ && writes_reported_) {
        Compile(*b);
      }
      const uint32_t native = Native(*b);
      if (native != 0 && (native & 2) == cpl_bit && end == first + b->ninsn &&
          writes_reported_ && BlockJit::Runs(rip)) {
        const uint64_t left = limit_ - retired_;
        c.chain_left = left;
        c.chain_block = nullptr;
        c.chain_exit = 0;
        const uint64_t r = jit_.At(native & ~15u)(&c, rip, first);
        if (c.chain_block != nullptr) {
          // It ended in a block it jumped to: go on from that one.
          retired_ += left - c.chain_left;
          b = static_cast<const Block*>(c.chain_block);
          prev = b;
          first = b->insns();
          start = c.chain_rip;
          chained = true;
        }
        const unsigned count = static_cast<unsigned>(r >> 8);
        in = first + count;
        st = static_cast<ExecStatus>(r & 0xff);
        if (st == ExecStatus::kNext) {
          rip = c.next_rip;
          if (c.chain_exit != 0) {
            chain_record = c.chain_exit;
            chain_from = start;
          } else {
            jump_fill = chaining;
          }
        } else {
          // The stopping instruction's address, as ExecBlock leaves it.
          uint64_t at = start;
          for (unsigned k = 0; k + 1 < count; ++k) at += first[k].len;
          s.rip = at;
        }
      } else {
        st = ExecBlock<true>(c, in, rip, ~0ull);
      }
    } else {
      st = ExecBlock<false>(c, in, rip,
                            s.code_bits == 32 ? 0xffffffffull : 0xffffull);
    }
    const bool ended_early = in < first + b->ninsn;
    const uint64_t n = static_cast<uint64_t>(in - first);
    retired_ += n;
    if (icount_ != nullptr) icount_->AddInstructions(n);
    c.code_hi = nullptr;
    // Only the last instruction of a block can set an interrupt shadow
    // (EndsBlock), and blocks start only without one.
    const bool shadow = c.shadow_next;
    if (shadow) [[unlikely]] {
      c.shadow = true;
      c.shadow_next = false;
    }
    if (st != ExecStatus::kNext) return Finish(st, exit) ? 1 : -1;
    s.rip = rip;
    if (shadow || kick_.load(std::memory_order_relaxed) || retired_ >= limit_ ||
        ((s.rflags & kRflagsIf) && irq_flag->load(std::memory_order_relaxed) &&
         c.irq->HasPendingInterrupt())) {
      return 1;
    }
    // A loop that is one block: re-enter it without the lookup. Only a
    // relative branch ran last (the block's last instruction, or a taken
    // Jcc that left it early: nothing else can leave mid-block with RIP at
    // the block's start), so the translation and mode are unchanged.
    // (A chain's last block was entered at a host address not at hand.)
    if (chained || !((b->branch_end || ended_early) && rip == start)) {
      b = nullptr;
    }
  }
}

void TcgVcpu::ClampLimitToDeadline() {
  const uint64_t now = icount_->NowNs();
  const uint64_t deadline = icount_->NextDeadlineNs();
  // 1 ns per instruction (base/guest_clock.h InstructionClock).
  const uint64_t budget = deadline > now ? deadline - now : 1;
  const uint64_t at = budget > ~retired_ ? ~0ull : retired_ + budget;
  if (at < limit_) limit_ = at;
}

absl::StatusOr<VcpuExit> TcgVcpu::Run(VcpuIo& io) {
  Cpu& c = cpu_;
  c.io = &io;
  if (code_epoch_ != nullptr) {
    const uint64_t epoch = code_epoch_->load(std::memory_order_acquire);
    if (epoch != seen_epoch_) {
      cache_.Clear();
      blocks_.Clear();
      c.ForgetCodePages();
      jit_.Reset();
      seen_epoch_ = epoch;
    }
  }
  limit_ = insn_limit_ ? retired_ + insn_limit_ : kNoLimit;
  if (icount_ != nullptr) {
    icount_io_.inner = &io;
    c.io = &icount_io_;
    ClampLimitToDeadline();
  }
  VcpuExit exit;
  for (;;) {
    if (kick_.load(std::memory_order_relaxed)) {
      kick_.store(false, std::memory_order_relaxed);
      exit.kind = VcpuExit::Kind::kInterrupted;
      break;
    }
    if (retired_ >= limit_) {
      exit.kind = VcpuExit::Kind::kInterrupted;
      break;
    }
    // IF is never lazy: read it without materialising the flags.
    if (c.irq != nullptr && !c.shadow && (c.s.rflags & kRflagsIf) &&
        c.irq->HasPendingInterrupt()) {
      const int vector = c.irq->AcknowledgeInterrupt();
      if (vector >= 0 &&
          !DeliverEvent(c, static_cast<uint8_t>(vector), false, 0, false,
                        c.s.rip) &&
          !DeliverFault(c)) {
        exit.kind = VcpuExit::Kind::kShutdown;
        break;
      }
    }
    if (!c.shadow && blocks_enabled_) {
      // A block runs without interrupt checks, so not in a shadow: the
      // instruction after STI / MOV SS runs alone, then interrupts are
      // polled again.
      const int r = RunBlocks(&exit);
      if (r > 0) continue;
      if (r < 0) break;
    }
    if (!Step(&exit)) break;
  }
  c.io = nullptr;
  return exit;
}

absl::Status TcgVcpu::GetRegs(Regs& regs) {
  uint64_t* out = &regs.rax;
  for (int k = 0; k < 16; ++k) out[k] = cpu_.s.gpr[kRegsOrder[k]];
  regs.rip = cpu_.s.rip;
  regs.rflags = cpu_.Rflags();
  return absl::OkStatus();
}

absl::Status TcgVcpu::SetRegs(const Regs& regs) {
  const uint64_t* in = &regs.rax;
  for (int k = 0; k < 16; ++k) cpu_.s.gpr[kRegsOrder[k]] = in[k];
  cpu_.s.rip = regs.rip;
  cpu_.SetRflagsRaw(regs.rflags);
  return absl::OkStatus();
}

absl::Status TcgVcpu::GetSregs(Sregs& sregs) {
  const CpuState& s = cpu_.s;
  sregs.es = s.seg[kEs];
  sregs.cs = s.seg[kCs];
  sregs.ss = s.seg[kSs];
  sregs.ds = s.seg[kDs];
  sregs.fs = s.seg[kFs];
  sregs.gs = s.seg[kGs];
  sregs.tr = s.tr;
  sregs.ldt = s.ldt;
  sregs.gdt = s.gdt;
  sregs.idt = s.idt;
  sregs.cr0 = s.cr0;
  sregs.cr2 = s.cr2;
  sregs.cr3 = s.cr3;
  sregs.cr4 = s.cr4;
  sregs.cr8 = s.cr8;
  sregs.efer = s.efer;
  sregs.apic_base = s.apic_base;
  return absl::OkStatus();
}

absl::Status TcgVcpu::SetSregs(const Sregs& sregs) {
  CpuState& s = cpu_.s;
  if ((sregs.efer & kEferLma) && !(sregs.cr0 & kCr0Pg)) {
    return absl::InvalidArgumentError("tcg: EFER.LMA set without CR0.PG");
  }
  s.seg[kEs] = sregs.es;
  s.seg[kCs] = sregs.cs;
  s.seg[kSs] = sregs.ss;
  s.seg[kDs] = sregs.ds;
  s.seg[kFs] = sregs.fs;
  s.seg[kGs] = sregs.gs;
  s.tr = sregs.tr;
  s.ldt = sregs.ldt;
  s.gdt = sregs.gdt;
  s.idt = sregs.idt;
  s.cr0 = sregs.cr0;
  s.cr2 = sregs.cr2;
  s.cr3 = sregs.cr3;
  s.cr4 = sregs.cr4;
  s.cr8 = sregs.cr8;
  s.efer = sregs.efer;
  s.apic_base = sregs.apic_base;
  cpu_.UpdateMode();
  cpu_.FlushTlb(true);
  return absl::OkStatus();
}

absl::Status TcgVcpu::SetMsrs(absl::Span<const MsrEntry> msrs) {
  for (const MsrEntry& m : msrs) {
    if (!WriteMsr(cpu_, m.index, m.value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tcg: cannot write MSR 0x", absl::Hex(m.index),
                       " value 0x", absl::Hex(m.value)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> TcgVcpu::GetMsr(uint32_t index) {
  uint64_t v;
  if (!ReadMsr(cpu_, index, &v)) {
    return absl::NotFoundError(
        absl::StrCat("tcg: unknown MSR 0x", absl::Hex(index)));
  }
  return v;
}

absl::Status TcgVcpu::ResetFpu() {
  ResetFpuState(&cpu_.s.fpu);  // FCW 0x37f, MXCSR 0x1f80, tags empty
  return absl::OkStatus();
}

}  // namespace skiff::tcg
