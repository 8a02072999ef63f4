// Translation of hot 64-bit blocks (block_cache.h) into host x86-64 code.
//
// A block that has run often enough is compiled into one host function.
// The common instruction forms (FastForm in ops_fast.h: register moves and
// ALU operations, LEA, loads, stores and ALU operations with memory through
// the TLB, PUSH/POP, JMP, CALL, RET and Jcc) become host instructions of
// the same effect, lazy-flag record included; everything
// else, and every TLB miss, calls the instruction's own handler, so that
// faults, MMIO and page walks keep the interpreter's code. Lazy-flag
// records that the next instruction replaces before anything could read
// them are not stored.
//
// The code lives in one mapping of a memfd, writable at one address and
// executable at another (never both), made before the seccomp filter. It
// empties with the block cache. A page mapped at both addresses counts
// twice in the process's RSS, so the writable view keeps only the pages
// written since code last grew by kReleaseBytes (ReleaseWritten).
//
// An exit whose target is known when compiling (a taken inline Jcc, JMP or
// CALL rel32, or the fall-through after an inline form) can be chained:
// once the block it reaches is compiled, the run loop patches the exit to
// jump straight into that block's code (Chain), under the checks that
// Cpu::chain_gen describes.
//
//   BlockJit jit;
//   if (!jit.Map()) ...;  // before the seccomp filter
//   BlockJit::Fn f = jit.Compile(cpu, block, cpu.s.cpl);  // nullptr: full
//   if (f != nullptr && BlockJit::Runs(rip)) r = f(&cpu, rip);
#ifndef SKIFF_TCG_JIT_H_
#define SKIFF_TCG_JIT_H_

#include <cstddef>
#include <cstdint>

#include "absl/container/flat_hash_map.h"
#include "tcg/block_cache.h"
#include "tcg/cpu.h"

namespace skiff::tcg {

class BlockJit {
 public:
  // Compiled code: runs the block from its first instruction with the
  // block's guest start address `rip` and its instructions `insns`
  // (Block::insns). Returns status | count << 8: the
  // ExecStatus of the instruction that stopped it (kNext when the block ran
  // to its end or left after instruction count-1, with c.next_rip where to
  // go on) and how many instructions ran (the stopping one included).
  using Fn = uint64_t (*)(Cpu* c, uint64_t rip, const Insn* insns);

  static constexpr size_t kCodeBytes = 2u << 20;

  BlockJit() = default;
  ~BlockJit() { Unmap(); }
  BlockJit(const BlockJit&) = delete;
  BlockJit& operator=(const BlockJit&) = delete;

  // Whether compiled code may run from `rip`: its relative branches reach
  // RIP ± 2^31 without a canonical check, which holds when RIP is at least
  // 2^32 from the non-canonical hole.
  static bool Runs(uint64_t rip) {
    constexpr uint64_t kHalf = (1ull << 47) - (1ull << 32);
    return rip + kHalf <= 2 * kHalf;
  }
  // Makes the code mapping (or keeps the one made); false when it cannot.
  bool Map();
  void Unmap();
  // Host code for `b` at CPL `cpl` (its TLB tags), or nullptr when the
  // code space is full until the next Reset.
  Fn Compile(const Cpu& c, const Block& b, int cpl);
  // Makes the chainable exit whose patch record is at `record`
  // (Cpu::chain_exit) jump straight into `to`'s compiled code from now on,
  // while Cpu::chain_gen is `gen` and the block it leaves runs at `rip`.
  // The caller checked that `to` is current and compiled for the CPL, and
  // that its RIP passes Runs().
  void Chain(uint32_t record, uint32_t gen, uint64_t rip, const Block& to);
  // The host address a chained jump into code at `native` (Block::native)
  // lands on: past the prologue.
  uint64_t ChainEntry(uint32_t native) const {
    return reinterpret_cast<uintptr_t>(rx_) + (native & ~15u) + prologue_;
  }
  // Forgets all code (the block cache emptied, or the code space is full):
  // code compiled before belongs to an older generation().
  void Reset() {
    used_ = kSharedBytes;
    ++generation_;
    ReleaseWritten();
  }
  // 64 bits: it never wraps round to a generation a block still holds.
  uint64_t generation() const { return generation_; }
  uint32_t OffsetOf(Fn f) const {
    return static_cast<uint32_t>(reinterpret_cast<const uint8_t*>(f) - rx_);
  }
  Fn At(uint32_t offset) const { return reinterpret_cast<Fn>(rx_ + offset); }

 private:
  // After a block's code, one per chainable exit: what its chained jump
  // checks, and where that jump's displacement is (code-space offsets).
  struct ChainRecord {
    uint32_t gen;    // Cpu::chain_gen when patched; 0 until then
    uint32_t ninsn;  // the target block's instructions
    uint64_t rip;    // the RIP of the block the exit leaves
    uint64_t block;  // the target Block
    uint64_t insns;  // its instructions
    uint32_t jump;   // the rel32 of the chained jump
    uint32_t unused;
  };
  static_assert(sizeof(ChainRecord) == 40);

  // Code every block uses, made once at the start of the code space:
  // the epilogue, the paths that leave after a handler, the chained
  // jump's checks, and a thunk per handler that calls it (Thunk).
  static constexpr size_t kSharedBytes = 64u << 10;
  void MakeShared(const Cpu& c);
  // The offset of the thunk that calls `h` for a block, or 0 when the
  // shared space is full. A branch's thunk (`branch`: its handler calls
  // ExitBlock only when it jumps) goes on through the jump cache when the
  // branch is taken.
  uint32_t Thunk(const Cpu& c, Handler h, bool branch = false);
  size_t shared_used_ = 0;  // 0: not made yet
  uint32_t epilogue_ = 0, leave_status_ = 0, leave_after_ = 0, chain_check_ = 0,
           jump_check_ = 0, handler_jump_check_ = 0, leave_jump_ = 0;
  absl::flat_hash_map<Handler, uint32_t> thunks_, branch_thunks_;

  // Unmaps the writable view's pages (the memfd keeps their contents; the
  // next write to one maps it again) and maps the next kReleaseBytes. Each
  // release costs page-table updates and a TLB flush: at 64 KiB, a boot
  // took 4% longer on a shadow-paging host; at 256 KiB, no longer.
  static constexpr size_t kReleaseBytes = 256u << 10;
  void ReleaseWritten();

  uint8_t* rw_ = nullptr;
  uint8_t* rx_ = nullptr;
  size_t used_ = 0;
  size_t released_ = 0;  // used_ at the last ReleaseWritten
  // Bytes of every block's prologue: a chained jump lands after it.
  size_t prologue_ = 0;
  uint64_t generation_ = 1;
};

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_JIT_H_
