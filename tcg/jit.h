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
// empties with the block cache.
//
//   BlockJit jit;
//   if (!jit.Map()) ...;  // before the seccomp filter
//   BlockJit::Fn f = jit.Compile(cpu, block, cpu.s.cpl);  // nullptr: full
//   if (f != nullptr && BlockJit::Runs(rip)) r = f(&cpu, rip);
#ifndef SKIFF_TCG_JIT_H_
#define SKIFF_TCG_JIT_H_

#include <cstddef>
#include <cstdint>

#include "tcg/block_cache.h"
#include "tcg/cpu.h"

namespace skiff::tcg {

class BlockJit {
 public:
  // Compiled code: runs the block from its first instruction with the
  // block's guest start address `rip`. Returns status | count << 8: the
  // ExecStatus of the instruction that stopped it (kNext when the block ran
  // to its end or left after instruction count-1, with c.next_rip where to
  // go on) and how many instructions ran (the stopping one included).
  using Fn = uint64_t (*)(Cpu* c, uint64_t rip);

  static constexpr size_t kCodeBytes = 1u << 20;

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
  // Forgets all code (the block cache emptied).
  void Reset() { used_ = 0; }
  uint32_t OffsetOf(Fn f) const {
    return static_cast<uint32_t>(reinterpret_cast<const uint8_t*>(f) - rx_);
  }
  Fn At(uint32_t offset) const { return reinterpret_cast<Fn>(rx_ + offset); }

 private:
  uint8_t* rw_ = nullptr;
  uint8_t* rx_ = nullptr;
  size_t used_ = 0;
};

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_JIT_H_
