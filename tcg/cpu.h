// The interpreter's CPU: architectural state (CpuState), one pre-decoded
// instruction (Insn), the handler signature every opcode family implements,
// and Cpu, which ties state, software TLB and guest memory together and
// offers the operand/memory helpers handlers use.
//
//   ExecStatus OpFoo(Cpu& c, const Insn& i) {
//     uint64_t v;
//     if (!c.ReadRm(i, i.opsize, &v)) return ExecStatus::kFault;
//     c.SetReg(i.reg, i.opsize, v + 1);
//     return ExecStatus::kNext;
//   }
//
// Rules for handlers: RIP is the address of the current instruction while a
// handler runs; `c.next_rip` is the fall-through address and branches
// overwrite it. A handler that faults calls c.Fault(...) (or a memory helper
// that returned false did so already) and returns kFault before changing
// architectural state visibly (memory writes last).
#ifndef SKIFF_TCG_CPU_H_
#define SKIFF_TCG_CPU_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "base/guest_clock.h"
#include "base/guest_entropy.h"
#include "base/guest_memory.h"
#include "base/vcpu_backend.h"
#include "base/x86_state.h"
#include "tcg/flags.h"
#include "tcg/fpu_state.h"

namespace skiff::tcg {

class Cpu;
struct Insn;

enum class ExecStatus : uint8_t {
  kNext,       // continue at c.next_rip
  kFault,      // c.pending_fault describes an exception to deliver
  kHalt,       // HLT executed (RIP already advanced)
  kInternal,   // the interpreter cannot continue (c.internal_msg says why)
  kPair,       // a fused pair ran both instructions (ops_fast.h FuseWithJcc)
  kPairFault,  // a fused pair's second instruction faulted (pending_fault)
};

using Handler = ExecStatus (*)(Cpu& c, const Insn& i);

enum SegIndex : uint8_t { kEs = 0, kCs, kSs, kDs, kFs, kGs, kSegNone = 7 };
enum GprIndex : uint8_t {
  kRax = 0,
  kRcx,
  kRdx,
  kRbx,
  kRsp,
  kRbp,
  kRsi,
  kRdi,
};

// Exception vectors (Intel SDM vol. 3, table 6-1).
enum Vector : uint8_t {
  kDe = 0,
  kDb = 1,
  kNmi = 2,
  kBp = 3,
  kOf = 4,
  kBr = 5,
  kUd = 6,
  kNm = 7,
  kDf = 8,
  kTs = 10,
  kNp = 11,
  kStackFault = 12,
  kGp = 13,
  kPf = 14,
  kMf = 16,
  kAc = 17,
  kMc = 18,
  kXm = 19,
};

// One decoded instruction. Filled by Decode(); immutable afterwards, so it
// can be cached and shared by every execution of the same bytes.
//
// 32 bytes, checked below: blocks (block_cache.h) pack their Insns into a
// fixed-size arena, so every byte here is code the arena cannot hold, and
// the run loop walks these arrays instruction by instruction. Fields whose
// values need fewer bits are bit-fields; read them like the plain fields
// (`i.addrsize * 8`), but they have no address, so pass them by value.
struct Insn {
  Handler fn = nullptr;
  // Immediate, sign- or zero-extended as the op needs; for MOV A0-A3 the
  // moffs offset (up to 64 bits, zero-extended).
  uint64_t imm = 0;
  // A ModRM memory operand's displacement, sign-extended: x86 encodes at
  // most 32 bits of it (Intel SDM vol. 2, 2.2.1.3). The instructions with a
  // second immediate have no memory operand, so it shares the storage.
  union {
    int32_t disp = 0;
    uint16_t imm2;  // second immediate (ENTER level, far pointer selector)
  };
  uint16_t op = 0;       // map << 8 | opcode byte (map 0 one-byte, 1 0F, ...)
  uint8_t len = 0;       // instruction length in bytes (1..15)
  uint8_t opsize = 4;    // operand size in bytes: 1 (byte ops), 2, 4, 8
  uint8_t reg = 0;       // ModRM.reg with REX.R (or opcode low bits + REX.B)
  uint8_t rm = 0;        // ModRM.rm with REX.B (register when mod == 3)
  uint8_t base = 0xff;   // address base register, 0xff none
  uint8_t index = 0xff;  // address index register, 0xff none
  uint8_t seg = kDs;     // effective segment for the memory operand
  uint8_t rep = 0;       // 0, 0xf2 (REPNE) or 0xf3 (REP/REPE)
  uint8_t addrsize : 4 = 8;  // address size in bytes: 2, 4, 8
  uint8_t mod : 2 = 0;       // ModRM.mod; 3 means register operand
  uint8_t scale : 2 = 0;     // shift count for index
  bool lock : 1 = false;
  bool rex : 1 = false;  // any REX prefix (selects SPL..DIL for byte regs)
  bool rip_rel : 1 = false;
  bool opsize_prefix : 1 = false;  // 0x66 seen (mandatory prefix for SSE maps)
  bool has_modrm : 1 = false;

  bool is_mem() const { return has_modrm && mod != 3; }
};
// Blocks' instruction arrays take two thirds of the arena room they took
// when every field had its own bytes (48).
static_assert(sizeof(Insn) == 32, "Insn grew: blocks per arena shrink");

// Lazily evaluated arithmetic flags: see flags.h.
struct CpuState {
  uint64_t gpr[16] = {};
  uint64_t rip = 0;
  // All RFLAGS bits except the six arithmetic ones while `lazy.op` is not
  // kCcNone; then those six are computed from `lazy`.
  uint64_t rflags = kRflagsReserved1;
  LazyFlags lazy;

  Segment seg[6] = {};  // ES CS SS DS FS GS, hidden parts unpacked
  Segment tr = {}, ldt = {};
  DescriptorTable gdt = {}, idt = {};
  uint64_t cr0 = kCr0Et, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0;
  uint64_t efer = 0;
  uint64_t apic_base = 0xfee00900;

  // MSRs kept as plain values (Intel SDM vol. 4).
  uint64_t star = 0, lstar = 0, cstar = 0, fmask = 0, kernel_gs_base = 0;
  uint64_t tsc_aux = 0, pat = 0x0007040600070406ull, misc_enable = 1;
  uint64_t tsc_deadline = 0, sysenter_cs = 0, sysenter_esp = 0,
           sysenter_eip = 0;
  int64_t tsc_offset = 0;
  // kvmclock MSRs (tcg/pvclock.h): the last values written.
  uint64_t kvm_system_time = 0, kvm_wall_clock = 0;
  uint64_t dr[8] = {0, 0, 0, 0, 0, 0, 0xffff0ff0, 0x400};
  int vcpu_index = 0;  // CPUID initial APIC ID

  // Derived from the above on every mode change (Cpu::UpdateMode).
  uint8_t cpl = 0;
  // TlbTagIndex(kind, cpl == 3) - kind: 3 at CPL 3, else 0, so that the
  // TLB fast path at the current privilege needs no compare.
  uint8_t user_tag = 0;
  uint8_t code_bits = 16;       // 16, 32 or 64: current code segment mode
  bool long_mode = false;       // EFER.LMA
  bool paging = false;          // CR0.PG
  bool protected_mode = false;  // CR0.PE

  // x87/MMX/SSE state (tcg/fpu_state.h); last, away from the hot fields.
  FpuState fpu;
};

// The interrupt controller hook is skiff::InterruptSource
// (base/vcpu_backend.h): polled between instructions when RFLAGS.IF=1 and no
// interrupt shadow (STI, MOV SS) is active.
using skiff::InterruptSource;

// Access kinds for permission checks; with the privilege they select a
// TlbEntry tag (TlbTagIndex).
enum AccessKind : uint8_t {
  kAccRead = 0,
  kAccWrite = 1,
  kAccExec = 2,
};
// Permission bits a page walk reports (Cpu::Walk): bit kind + 3 * user.
inline uint8_t AllowBit(AccessKind kind, bool user) {
  return static_cast<uint8_t>(1u << (kind + (user ? 3 : 0)));
}
inline int TlbTagIndex(AccessKind kind, bool user) {
  return kind + (user ? 3 : 0);
}

// A software TLB entry: one 4 KiB linear page, laid out the way QEMU's
// softmmu TLB is, so that a hit costs one compare: tag[TlbTagIndex(kind,
// user)] equals the linear page address exactly when the translation allows
// that access and the page is RAM. Its low 12 bits (zero in a page address)
// say why not otherwise:
//   kTlbMmio    the page is not RAM: every access takes the slow path,
//               which reaches the device (set in all six tags);
//   kTlbDenied  the cached translation does not allow this access (a
//               permission the page lacks, or a write to a page whose D bit
//               is clear, which must walk to set it): the slow path walks;
//   kTlbCode    (write tags only) the page holds decoded blocks
//               (Cpu::MarkCodePage): the slow path reports the write.
// An empty entry has every tag ~0, which no page address matches, with or
// without kTlbMmio cleared. Pages are canonical (Translate refuses others),
// so a hit implies a canonical address. So tag[k] & ~0xfff is the entry's page
// for any k of a filled entry.
struct TlbEntry {
  static constexpr uint64_t kTlbMmio = 1;
  static constexpr uint64_t kTlbDenied = 2;
  static constexpr uint64_t kTlbCode = 4;
  static constexpr uint64_t kTlbGlobal = 1;  // in `phys`

  uint64_t tag[6] = {~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull};
  // RAM: the host address of linear `lin` in this page is lin + addend.
  uintptr_t addend = 0;
  // Guest-physical page address, | kTlbGlobal for a global translation
  // (CR4.PGE and PTE.G), which a non-global flush keeps.
  uint64_t phys = 0;

  uint64_t page() const { return tag[0] & ~0xfffull; }
  uint64_t phys_page() const { return phys & ~0xfffull; }
  bool global() const { return phys & kTlbGlobal; }
  bool ram() const { return !(tag[0] & kTlbMmio); }
  // The host address of `lin` (in this page); RAM entries only.
  uint8_t* host(uint64_t lin) const {
    return reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(lin) + addend);
  }
};
static_assert(sizeof(TlbEntry) == 64, "one cache line per TLB entry");

// Direct-mapped; 1024 entries hold a booting kernel's working set (256
// walked the page tables four times as often).
inline constexpr int kTlbSize = 1024;

struct PendingFault {
  uint8_t vector = 0;
  bool has_error = false;
  uint32_t error = 0;
};

class DecodeCache;

class Cpu {
 public:
  Cpu(const GuestMemory& memory, DecodeCache* cache)
      : write_epoch_word(memory.write_epoch_word()),
        memory_(memory),
        cache_(cache) {
    if (!memory.regions().empty()) ram0_ = memory.regions().front();
  }

  // s.rip is the running instruction's address in Step and in 16/32-bit
  // blocks. In 64-bit blocks the run loop writes it only when a block ends
  // or an instruction does not return kNext; handlers that need their own
  // address call InsnRip().
  CpuState s;
  uint64_t next_rip = 0;
  // The address of the running instruction `i`, before it changed next_rip.
  uint64_t InsnRip(const Insn& i) const;
  PendingFault pending_fault;
  // Interrupt shadow: set by STI (when IF was 0) and MOV SS/POP SS; blocks
  // interrupt delivery until after the next instruction.
  bool shadow_next = false;
  bool shadow = false;
  const char* internal_msg = nullptr;
  // Block execution (block_cache.h): the host bytes of the running block
  // and the address of the end of its instruction array. A write by this
  // vCPU into those bytes (self-modifying code), or any MMIO access (a
  // device may write guest RAM), calls ExitBlock(): the run loop leaves the
  // block after the current instruction and re-validates.
  const uint8_t* code_lo = nullptr;
  const uint8_t* code_hi = nullptr;
  uintptr_t block_end = 0;
  void ExitBlock() { block_end = 0; }
  void NoteCodeWrite(const uint8_t* p, int size) {
    if (p < code_hi && p + size > code_lo) ExitBlock();
  }
  // Compiled blocks that jump into the next one (BlockJit::Chain) without
  // the run loop. A chained jump is taken only while chain_gen equals the
  // generation its patch was made under (the run loop starts a new one when
  // the write epoch or the TLB epoch moved; kChainOff: none is taken), or,
  // for a jump into a page the TLB maps global, chain_gen_global does (a
  // generation that outlives TLB epochs while the global epoch holds), the
  // write epoch (*write_epoch_word) still equals chain_epoch, neither
  // *kick nor, with IF=1, *irq_flag is set, and chain_left (instructions
  // the run may still retire) covers the next block. Chained blocks
  // subtract their instructions from chain_left; the block the chain ended
  // in is chain_block (nullptr: the first), entered at chain_rip. An exit
  // that could be chained but was not leaves its patch record's offset in
  // chain_exit (else 0) for the run loop to patch.
  static constexpr uint32_t kChainOff = ~0u;
  uint32_t chain_gen = kChainOff;
  uint32_t chain_gen_global = kChainOff;
  void StopChains() { chain_gen = chain_gen_global = kChainOff; }
  uint32_t chain_exit = 0;
  uint64_t chain_epoch = 0;
  uint64_t chain_left = 0;
  const void* chain_block = nullptr;
  uint64_t chain_rip = 0;
  const std::atomic<uint64_t>* write_epoch_word = nullptr;
  const std::atomic<bool>* irq_flag = nullptr;
  VcpuIo* io = nullptr;
  InterruptSource* irq = nullptr;
  // The machine's time base: RDTSC, IA32_TSC and the CPUID frequency
  // leaves follow it (set by TcgVcpu; never null while running).
  const GuestClock* clock = nullptr;
  // What RDRAND and RDSEED return (set by TcgVcpu; never null while
  // running).
  GuestEntropy* entropy = nullptr;
  const std::atomic<bool>* kick = nullptr;
  // Where a compiled block goes on without the run loop when its next RIP
  // is known only as it runs (a RET, after a handler, a taken branch run
  // by its handler): the block at that RIP, looked up by JumpCacheSlot(rip)
  // and taken under the chained jump's conditions while gen equals
  // chain_gen and cpl the CPL. The run loop fills it after an exit it
  // could not chain.
  struct JumpCacheEntry {
    uint32_t gen = 0;  // 0: empty
    uint32_t ninsn = 0;
    uint64_t rip = 0;
    const void* block = nullptr;
    const void* insns = nullptr;
    uint64_t code = 0;  // host address of the block's code after its prologue
    uint32_t cpl = 0;
    uint32_t unused = 0;
  };
  static constexpr size_t kJumpCacheSlots = 4096;
  static size_t JumpCacheSlot(uint64_t rip) {
    return (rip ^ (rip >> 9)) & (kJumpCacheSlots - 1);
  }
  JumpCacheEntry jump_cache[kJumpCacheSlots];

  const GuestMemory& memory() const { return memory_; }
  DecodeCache* cache() const { return cache_; }

  // ---- Registers -------------------------------------------------------
  uint64_t Reg(int r, int size) const {
    switch (size) {
      case 1:
        return Reg8(r, true);
      case 2:
        return s.gpr[r] & 0xffff;
      case 4:
        return s.gpr[r] & 0xffffffff;
      default:
        return s.gpr[r];
    }
  }
  // Byte register: without REX, 4..7 are AH CH DH BH.
  uint64_t Reg8(int r, bool rex) const {
    if (!rex && r >= 4 && r < 8) return (s.gpr[r - 4] >> 8) & 0xff;
    return s.gpr[r] & 0xff;
  }
  void SetReg8(int r, bool rex, uint64_t v) {
    if (!rex && r >= 4 && r < 8) {
      s.gpr[r - 4] = (s.gpr[r - 4] & ~0xff00ull) | ((v & 0xff) << 8);
    } else {
      s.gpr[r] = (s.gpr[r] & ~0xffull) | (v & 0xff);
    }
  }
  // Writes with x86-64 semantics: 32-bit writes zero the upper half.
  void SetReg(int r, int size, uint64_t v) {
    switch (size) {
      case 1:
        SetReg8(r, true, v);
        break;
      case 2:
        s.gpr[r] = (s.gpr[r] & ~0xffffull) | (v & 0xffff);
        break;
      case 4:
        s.gpr[r] = v & 0xffffffff;
        break;
      default:
        s.gpr[r] = v;
    }
  }
  // Register operands of a decoded instruction (byte regs honour REX).
  uint64_t GetR(const Insn& i, int size) const {
    return size == 1 ? Reg8(i.reg, i.rex) : Reg(i.reg, size);
  }
  void SetR(const Insn& i, int size, uint64_t v) {
    if (size == 1) {
      SetReg8(i.reg, i.rex, v);
    } else {
      SetReg(i.reg, size, v);
    }
  }

  // ---- Flags -------------------------------------------------------------
  uint64_t Rflags() const { return MaterializeFlags(s.rflags, s.lazy); }
  void SetRflagsRaw(uint64_t v) {
    s.rflags = v | kRflagsReserved1;
    s.lazy.op = kCcNone;
  }
  // Sets the arithmetic flags in `mask` to `bits` (eagerly). Replacing all
  // six needs no lazy evaluation of the old ones: s.rflags holds the rest.
  void SetArith(uint64_t mask, uint64_t bits) {
    const uint64_t f = mask == kArithFlags ? s.rflags : Rflags();
    SetRflagsRaw((f & ~mask) | (bits & mask));
  }
  bool Cf() const { return LazyCf(s.rflags, s.lazy); }
  bool Cond(int cc) const { return EvalCond(cc, s.rflags, s.lazy); }
  void SetLazy(CcOp op, int size, uint64_t res, uint64_t a, uint64_t b,
               uint64_t aux = 0) {
    s.lazy = LazyFlags{res, a, b, aux, op, static_cast<uint8_t>(size)};
  }

  // ---- Faults -------------------------------------------------------------
  ExecStatus Fault(uint8_t vector) {
    pending_fault = {vector, false, 0};
    return ExecStatus::kFault;
  }
  ExecStatus Fault(uint8_t vector, uint32_t error) {
    pending_fault = {vector, true, error};
    return ExecStatus::kFault;
  }
  ExecStatus Gp0() { return Fault(kGp, 0); }
  ExecStatus Ud() { return Fault(kUd); }
  ExecStatus Internal(const char* msg) {
    internal_msg = msg;
    return ExecStatus::kInternal;
  }

  // ---- Memory -------------------------------------------------------------
  // Effective (offset) address of the ModRM memory operand.
  uint64_t EffAddr(const Insn& i) const;
  // Linear address for seg:offset, with address-size wrap already applied
  // to `off` by the caller. Only FS/GS bases apply in 64-bit mode.
  uint64_t Linear(int seg, uint64_t off) const {
    if (s.code_bits == 64 && seg < kFs) return off;
    uint64_t lin = s.seg[seg].base + off;
    return s.code_bits == 64 ? lin : (lin & 0xffffffff);
  }
  bool IsCanonical(uint64_t lin) const {
    return static_cast<uint64_t>((static_cast<int64_t>(lin << 16) >> 16)) ==
           lin;
  }

  // Reads/writes `size` (1..8) bytes at a linear address. `user` says
  // whether the access is checked with user privilege (CPL 3, not an
  // implicit supervisor access such as a descriptor table read). Returns
  // false with pending_fault set on #PF/#GP.
  bool ReadLin(uint64_t lin, int size, uint64_t* out, bool user) {
    return ReadLinTag(lin, size, out, TlbTagIndex(kAccRead, user));
  }
  bool WriteLin(uint64_t lin, int size, uint64_t v, bool user) {
    return WriteLinTag(lin, size, v, TlbTagIndex(kAccWrite, user));
  }
  // The same at the current privilege level (user when CPL is 3).
  bool ReadLin(uint64_t lin, int size, uint64_t* out) {
    return ReadLinTag(lin, size, out, kAccRead + s.user_tag);
  }
  bool WriteLin(uint64_t lin, int size, uint64_t v) {
    return WriteLinTag(lin, size, v, kAccWrite + s.user_tag);
  }
  // Only the TLB-hit half of those: the access is done and true returned
  // when the TLB maps it; false, with nothing done and no fault, otherwise.
  // Tags only ever hold canonical pages (Translate), so a hit needs no
  // canonical check: callers make it on the way to the slow path.
  bool ReadLinHit(uint64_t lin, int size, uint64_t* out) {
    return ReadHitTag(lin, size, out, kAccRead + s.user_tag);
  }
  bool WriteLinHit(uint64_t lin, int size, uint64_t v) {
    return WriteHitTag(lin, size, v, kAccWrite + s.user_tag);
  }
  // seg:off accesses at the current privilege level.
  bool Read(int seg, uint64_t off, int size, uint64_t* out) {
    uint64_t lin = Linear(seg, off);
    if (!CheckLinear(seg, lin)) return false;
    return ReadLin(lin, size, out);
  }
  bool Write(int seg, uint64_t off, int size, uint64_t v) {
    uint64_t lin = Linear(seg, off);
    if (!CheckLinear(seg, lin)) return false;
    return WriteLin(lin, size, v);
  }
  // Non-canonical linear addresses raise #GP (or #SS for the stack).
  bool CheckLinear(int seg, uint64_t lin) {
    if (s.code_bits == 64 && !IsCanonical(lin)) {
      pending_fault = {static_cast<uint8_t>(seg == kSs ? kStackFault : kGp),
                       true, 0};
      return false;
    }
    return true;
  }

  // The ModRM operand (register or memory) of size `size`.
  bool ReadRm(const Insn& i, int size, uint64_t* out) {
    if (i.mod == 3) {
      *out = size == 1 ? Reg8(i.rm, i.rex) : Reg(i.rm, size);
      return true;
    }
    return Read(i.seg, EffAddr(i), size, out);
  }
  bool WriteRm(const Insn& i, int size, uint64_t v) {
    if (i.mod == 3) {
      if (size == 1) {
        SetReg8(i.rm, i.rex, v);
      } else {
        SetReg(i.rm, size, v);
      }
      return true;
    }
    return Write(i.seg, EffAddr(i), size, v);
  }
  // For LOCK: the host pointer of a RAM operand that does not cross a page,
  // or nullptr (then the access is done non-atomically; MMIO or split).
  // Checks write permission (and faults) like a write.
  bool HostPtrForRmw(int seg, uint64_t off, int size, uint8_t** host);

  // Stack at the current stack-address size.
  int StackAddrSize() const {
    if (s.code_bits == 64) return 8;
    return s.seg[kSs].db ? 4 : 2;
  }
  uint64_t Sp() const { return Reg(kRsp, StackAddrSize()); }
  void SetSp(uint64_t v) { SetReg(kRsp, StackAddrSize(), v); }
  bool Push(int size, uint64_t v);
  bool Pop(int size, uint64_t* v);  // does not change RSP on fault

  // Masks an IP-relative target to the current code size.
  uint64_t MaskIp(uint64_t ip, int opsize) const {
    if (s.code_bits == 64 && opsize == 8) return ip;
    return opsize == 2 ? (ip & 0xffff) : (ip & 0xffffffff);
  }

  // ---- Paging -------------------------------------------------------------
  // Translates a linear address for `kind`; fills a TLB entry. False with
  // pending_fault (#PF) on failure.
  bool Translate(uint64_t lin, AccessKind kind, bool user, TlbEntry** out);
  // The TLB entry for `lin` when it is cached and allows `kind` with
  // `user`'s privilege, RAM or not; nullptr when only a page walk can tell.
  TlbEntry* TlbHit(uint64_t lin, AccessKind kind, bool user) {
    TlbEntry& e = tlb_[(lin >> 12) & (kTlbSize - 1)];
    if ((e.tag[TlbTagIndex(kind, user)] &
         ~(TlbEntry::kTlbMmio | TlbEntry::kTlbCode)) != (lin & ~0xfffull)) {
      return nullptr;
    }
    return &e;
  }
  // The host address of the `size` (>= 1) bytes at `lin` when the TLB
  // already maps them for `kind` with `user`'s privilege, all in one page of
  // RAM; nullptr when only the slow path (a walk, a fault, MMIO, an access
  // split across pages) can do the access.
  uint8_t* TlbHost(uint64_t lin, uint64_t size, AccessKind kind, bool user) {
    const TlbEntry& e = tlb_[(lin >> 12) & (kTlbSize - 1)];
    return TlbMatch(e, lin, size, TlbTagIndex(kind, user)) ? e.host(lin)
                                                           : nullptr;
  }
  // The same at the current privilege level.
  uint8_t* TlbHost(uint64_t lin, uint64_t size, AccessKind kind) {
    const TlbEntry& e = tlb_[(lin >> 12) & (kTlbSize - 1)];
    return TlbMatch(e, lin, size, kind + s.user_tag) ? e.host(lin) : nullptr;
  }
  // TlbHost for a write at the current privilege level that also serves a
  // page holding blocks, after reporting the write (for a run of writes).
  uint8_t* TlbHostForWrite(uint64_t lin, uint64_t size) {
    const TlbEntry& e = tlb_[(lin >> 12) & (kTlbSize - 1)];
    const uint64_t tag = e.tag[kAccWrite + s.user_tag];
    const uint64_t page = (lin + size - 1) & ~0xfffull;
    if (tag == (page | TlbEntry::kTlbCode)) {
      NoteCodePageWrite();
    } else if (tag != page) {
      return nullptr;
    }
    return e.host(lin);
  }

  // ---- Pages holding decoded blocks ---------------------------------------
  // The block cache trusts a block checked at the current GuestMemory write
  // epoch (block_cache.h). So that this holds for this vCPU's own writes,
  // the pages blocks were decoded from are marked here; the TLB's write
  // tags of a marked page carry kTlbCode, which sends every write to it
  // through a slow path that bumps the epoch (NoteCodePageWrite). The marks
  // are GuestMemory's, so that devices' writes to other pages leave the
  // epoch alone. Only for a machine's sole vCPU (TcgVcpu's
  // writes_reported): another vCPU's TLB would not know the mark. False
  // when the page cannot be marked (no memory for the bitmap): then writes
  // to it go unreported.
  bool MarkCodePage(uint64_t phys);
  // Drops every mark (when the block cache empties).
  void ForgetCodePages();
  bool IsCodePage(uint64_t phys) const { return memory_.IsCodePage(phys); }
  // A write to a page holding blocks: they are checked again, and the
  // running block (or chain of compiled blocks) ends after it.
  void NoteCodePageWrite() {
    memory_.NoteWrite();
    ExitBlock();
  }
  void FlushTlb(bool include_global);
  // The TLB's entries (the block compiler reads them from host code).
  const TlbEntry* tlb_entries() const { return tlb_.data(); }
  void FlushTlbPage(uint64_t lin);

  // Physical-address access for page walks and MMIO routing.
  bool ReadPhys(uint64_t pa, int size, uint64_t* out);
  bool WritePhys(uint64_t pa, int size, uint64_t v);

  // ---- Mode ---------------------------------------------------------------
  // Recomputes the derived CpuState fields; flushes the TLB if needed.
  void UpdateMode();

  // Instruction fetch: copies up to `max` bytes at linear `lin` into buf;
  // returns how many bytes are available from the first page (at least 1)
  // or 0 with pending_fault set. Sets *host to the RAM pointer of lin.
  int FetchPage(uint64_t lin, uint8_t* buf, int max, uint64_t* phys);

  // The executable RAM page instructions are being fetched from: the host
  // pointer and guest-physical address of linear page `fetch_tag` (with bit
  // 0 set when filled at CPL 3). Reset by every TLB flush, so it can never
  // outlive the translation it came from.
  bool FastFetch(uint64_t lin, const uint8_t** host, uint64_t* phys) const {
    const uint64_t off = lin & 0xfff;
    if ((lin & ~0xfffull) + (s.cpl == 3 ? 1 : 0) != fetch_tag_ ||
        off > 4096 - 16) {
      return false;
    }
    *host = fetch_host_ + off;
    *phys = fetch_phys_ + off;
    return true;
  }
  // As FastFetch, for any offset in the page (blocks never cross a page).
  bool FetchHost(uint64_t lin, const uint8_t** host, uint64_t* phys) const {
    if ((lin & ~0xfffull) + (s.cpl == 3 ? 1 : 0) != fetch_tag_) return false;
    *host = fetch_host_ + (lin & 0xfff);
    *phys = fetch_phys_ + (lin & 0xfff);
    return true;
  }
  // As FetchHost, also for another page the TLB already maps executable:
  // that page becomes the fetch page. False when only a page walk could
  // tell (the caller then fetches through FetchPage, which may fault).
  bool FetchHostViaTlb(uint64_t lin, const uint8_t** host, uint64_t* phys) {
    if (FetchHost(lin, host, phys)) return true;
    const TlbEntry& e = tlb_[(lin >> 12) & (kTlbSize - 1)];
    if (!TlbMatch(e, lin, 1, kAccExec + s.user_tag)) return false;
    SetFetchPage(lin, e.host(lin), e.phys_page() + (lin & 0xfff));
    return FetchHost(lin, host, phys);
  }
  // Changes whenever a translation that a block link (block_cache.h) may
  // rely on may change: links made under one value are dead under another.
  // Every flush bumps it, except a flush that keeps global entries (a CR3
  // write) while every link made since the last bump leads to a page
  // mapped global: those translations outlive it. Linux switches CR3
  // thousands of times in a boot (text patching goes through a temporary
  // mm) while it runs kernel code from global pages.
  uint64_t tlb_epoch() const { return tlb_epoch_; }
  // Changes whenever a translation that a link to a page mapped global may
  // rely on may change: a flush of global entries, or an INVLPG of a page
  // such a link leads to (NoteGlobalLink). Those links hold across CR3
  // writes and INVLPGs of other pages (BlockCache::GlobalLinkContext), so
  // links between kernel blocks outlive the guest's context switches and
  // its flushes of user pages.
  uint64_t global_tlb_epoch() const { return global_epoch_; }
  // Called for each link made to a page the TLB maps global.
  void NoteGlobalLink(uint64_t lin) {
    const uint64_t bit = GlobalLinkBit(lin);
    global_linked_[bit / 64] |= 1ull << (bit % 64);
  }
  // Whether a link of the global kind may lead to the page of `lin`.
  bool GlobalLinked(uint64_t lin) const {
    const uint64_t bit = GlobalLinkBit(lin);
    return global_linked_[bit / 64] & (1ull << (bit % 64));
  }
  // Called for each link made to a page the TLB does not map global.
  void NoteNonGlobalLink() { nonglobal_link_ = true; }
  // Whether the TLB maps the code page of `lin` through a global
  // translation (false when the entry is gone).
  bool CodeTlbGlobal(uint64_t lin) const {
    const TlbEntry& e = tlb_[(lin >> 12) & (kTlbSize - 1)];
    return e.page() == (lin & ~0xfffull) && e.global();
  }
  void SetFetchPage(uint64_t lin, uint8_t* host, uint64_t phys) {
    fetch_tag_ = (lin & ~0xfffull) + (s.cpl == 3 ? 1 : 0);
    fetch_host_ = host - (lin & 0xfff);
    fetch_phys_ = phys - (lin & 0xfff);
  }

 private:
  // Whether entry `e` (lin's slot) maps the `size` bytes at `lin`, all in
  // its page of RAM, for tag `tag` (TlbTagIndex). The tag is compared with
  // the page of the last byte: an access that crosses into the next page
  // cannot match (the next page has the next slot), as in QEMU's softmmu.
  static bool TlbMatch(const TlbEntry& e, uint64_t lin, uint64_t size,
                       int tag) {
    return e.tag[tag] == ((lin + size - 1) & ~0xfffull);
  }
  // ReadLin/WriteLin for tag kAccRead/kAccWrite + (user ? 3 : 0). A hit
  // does the access here; everything else goes to the slow path.
  bool ReadLinTag(uint64_t lin, int size, uint64_t* out, int tag) {
    return ReadHitTag(lin, size, out, tag) ||
           ReadLinSlow(lin, size, out, tag >= 3);
  }
  bool WriteLinTag(uint64_t lin, int size, uint64_t v, int tag) {
    return WriteHitTag(lin, size, v, tag) ||
           WriteLinSlow(lin, size, v, tag >= 3);
  }
  bool ReadHitTag(uint64_t lin, int size, uint64_t* out, int tag) {
    const TlbEntry& e = tlb_[(lin >> 12) & (kTlbSize - 1)];
    if (!TlbMatch(e, lin, static_cast<uint64_t>(size), tag)) return false;
    uint64_t v = 0;
    std::memcpy(&v, e.host(lin), size);
    *out = v;
    return true;
  }
  bool WriteHitTag(uint64_t lin, int size, uint64_t v, int tag) {
    const TlbEntry& e = tlb_[(lin >> 12) & (kTlbSize - 1)];
    if (!TlbMatch(e, lin, static_cast<uint64_t>(size), tag)) return false;
    uint8_t* p = e.host(lin);
    NoteCodeWrite(p, size);
    std::memcpy(p, &v, size);
    return true;
  }
  bool ReadLinSlow(uint64_t lin, int size, uint64_t* out, bool user);
  bool WriteLinSlow(uint64_t lin, int size, uint64_t v, bool user);
  bool Walk(uint64_t lin, AccessKind kind, bool user, uint64_t* phys,
            uint8_t* allow, bool* global);
  // A page-table entry of `size` (4 or 8) bytes: straight from the first
  // RAM region, where page tables live, else through ReadPhys.
  uint64_t ReadPte(uint64_t pa, int size);

  const GuestMemory& memory_;
  GuestMemory::Region ram0_;  // the first RAM region (ReadPte)
  DecodeCache* cache_;
  alignas(64) std::array<TlbEntry, kTlbSize> tlb_{};
  // The entries in use, so that flushes and code-page marks need not visit
  // all kTlbSize: every non-global entry in use is in the list for
  // non-global ones, which a CR3 write empties, and every entry in use is
  // in one of the two (some twice), unless tlb_overflow_.
  struct TlbList {
    std::array<uint16_t, kTlbSize> idx;
    int n = 0;
  };
  TlbList tlb_local_, tlb_global_;
  bool tlb_overflow_ = false;
  void ListTlbEntry(TlbList& l, uint16_t idx) {
    if (l.n < kTlbSize) {
      l.idx[l.n++] = idx;
    } else {
      tlb_overflow_ = true;
    }
  }
  // Calls f(entry) for every entry in use (and maybe some empty ones).
  template <typename F>
  void ForEachTlbEntry(F f) {
    if (tlb_overflow_) {
      for (TlbEntry& e : tlb_) f(e);
      return;
    }
    for (const TlbList* l : {&tlb_local_, &tlb_global_}) {
      for (int k = 0; k < l->n; ++k) f(tlb_[l->idx[k]]);
    }
  }
  uint64_t fetch_tag_ = ~0ull;
  uint64_t tlb_epoch_ = 0;
  uint64_t global_epoch_ = 0;
  bool nonglobal_link_ = false;  // a link to a non-global page since a bump
  // A filter of the pages global links lead to since the global epoch last
  // moved: 512 bits of hashed page numbers for each half of the address
  // space, so that the user pages a guest flushes never meet the kernel
  // pages it maps global.
  static uint64_t GlobalLinkBit(uint64_t lin) {
    return (lin >> 63) * 512 + (((lin >> 12) * 0x9e3779b97f4a7c15ull) >> 55);
  }
  void BumpGlobalEpoch() {
    ++global_epoch_;
    for (uint64_t& w : global_linked_) w = 0;
  }
  uint64_t global_linked_[16] = {};
  uint8_t* fetch_host_ = nullptr;
  uint64_t fetch_phys_ = 0;
};

inline uint64_t Cpu::InsnRip(const Insn& i) const {
  // In 64-bit mode the fall-through address is never masked.
  return s.code_bits == 64 ? next_rip - i.len : s.rip;
}

// ALU family used by several op files (ops_arith.cc): op is the ModRM.reg
// encoding (0 ADD, 1 OR, 2 ADC, 3 SBB, 4 AND, 5 SUB, 6 XOR, 7 CMP).
uint64_t Alu(Cpu& c, int op, int size, uint64_t a, uint64_t b);

inline uint64_t SizeMask(int size) {
  return size == 8 ? ~0ull : ((1ull << (size * 8)) - 1);
}
inline uint64_t SignExtend(uint64_t v, int size) {
  switch (size) {
    case 1:
      return static_cast<uint64_t>(
          static_cast<int64_t>(static_cast<int8_t>(v)));
    case 2:
      return static_cast<uint64_t>(
          static_cast<int64_t>(static_cast<int16_t>(v)));
    case 4:
      return static_cast<uint64_t>(
          static_cast<int64_t>(static_cast<int32_t>(v)));
    default:
      return v;
  }
}

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_CPU_H_
