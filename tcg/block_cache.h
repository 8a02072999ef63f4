// Per-vCPU cache of basic blocks: runs of decoded instructions that start at
// a guest-physical address and end at a control transfer, an instruction
// that may change the mode/paging/IF (see EndsBlock in ops_fast.h), the end
// of the 4 KiB code page, or kMaxInsns. Hot instructions get specialised
// handlers at build time (ops_fast.h).
//
// A block keeps a copy of its guest bytes and is validated on every entry
// with one compare against guest RAM, so writes from anywhere (this vCPU,
// other vCPUs, devices, the VMM) can never execute stale decodes. Writes by
// this vCPU *while* a block runs are caught by Cpu::NoteCodeWrite (the run
// loop leaves the block after the writing instruction).
//
//   const Block* b = cache.Lookup(phys, 64, host);
//   if (b == nullptr) b = cache.Build(phys, 64, host, 4096 - (phys & 0xfff));
#ifndef SKIFF_TCG_BLOCK_CACHE_H_
#define SKIFF_TCG_BLOCK_CACHE_H_

#include <cstdint>
#include <cstring>
#include <memory>

#include "tcg/cpu.h"

namespace skiff::tcg {

struct Block {
  static constexpr int kMaxInsns = 32;
  static constexpr int kMaxBytes = 256;

  uint64_t key = ~0ull;  // guest-physical start | code_bits << 56
  uint16_t nbytes = 0;
  uint8_t ninsn = 0;
  // Ends with a near relative branch (Jcc, JMP rel, LOOP), which changes
  // nothing but RIP: when it (or a taken 64-bit Jcc inside the block) jumps
  // back to the block's own start, the run loop may re-enter the block
  // without a lookup (it still re-validates the bytes).
  bool branch_end = false;
  uint8_t bytes[kMaxBytes];
  Insn insns[kMaxInsns];
};

class BlockCache {
 public:
  static constexpr int kEntries = 1024;  // direct mapped

  // The cached block at `phys` if its bytes still equal guest memory at
  // `host` (the host address of `phys`, inside one RAM page).
  const Block* Lookup(uint64_t phys, int code_bits, const uint8_t* host) const {
    if (blocks_ == nullptr) return nullptr;
    const Block& b = blocks_[Index(phys)];
    if (b.key != Key(phys, code_bits) || !Valid(b, host)) return nullptr;
    return &b;
  }
  // Whether guest memory at `host` still holds the block's bytes.
  static bool Valid(const Block& b, const uint8_t* host) {
    return SameBytes(b.bytes, host, b.nbytes);
  }

  // Decodes a new block from `host` (`avail` bytes up to the end of the
  // page) into the slot for `phys`. nullptr when not even the first
  // instruction decodes within the page (page-crossing or over-long
  // instruction): the caller executes it one at a time.
  const Block* Build(uint64_t phys, int code_bits, const uint8_t* host,
                     int avail);

  void Clear();

 private:
  static uint64_t Key(uint64_t phys, int code_bits) {
    return phys | (static_cast<uint64_t>(code_bits) << 56);
  }
  static size_t Index(uint64_t phys) {
    return static_cast<size_t>((phys ^ (phys >> 10) ^ (phys >> 20)) &
                               (kEntries - 1));
  }
  // memcmp for short runs: 8-byte words, the tail as one overlapping word.
  static bool SameBytes(const uint8_t* a, const uint8_t* b, int n) {
    if (n < 8) {
      if (n >= 4) {  // two overlapping 4-byte words
        uint32_t p, q, r, t;
        std::memcpy(&p, a, 4);
        std::memcpy(&q, b, 4);
        std::memcpy(&r, a + n - 4, 4);
        std::memcpy(&t, b + n - 4, 4);
        return p == q && r == t;
      }
      for (int k = 0; k < n; ++k) {
        if (a[k] != b[k]) return false;
      }
      return true;
    }
    uint64_t x, y;
    int k = 0;
    for (; k + 8 <= n; k += 8) {
      std::memcpy(&x, a + k, 8);
      std::memcpy(&y, b + k, 8);
      if (x != y) return false;
    }
    if (k == n) return true;
    std::memcpy(&x, a + n - 8, 8);
    std::memcpy(&y, b + n - 8, 8);
    return x == y;
  }

  std::unique_ptr<Block[]> blocks_;  // allocated on first Build
};

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_BLOCK_CACHE_H_
