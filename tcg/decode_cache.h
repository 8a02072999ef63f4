// A per-vCPU cache of decoded instructions keyed by guest-physical address
// and code size. Every hit is re-validated against the instruction bytes
// just fetched, so writes from anywhere (this vCPU, other vCPUs, the VMM
// writing guest RAM directly, DMA) can never execute stale decodes: there is
// nothing to invalidate for correctness. Clear() exists to drop memory or
// for a future cache that skips re-validation (block chaining with per-page
// write generations).
//
//   const Insn* hit = cache.Lookup(phys, 64, bytes, avail);
//   if (hit == nullptr) { Decode(...); cache.Insert(phys, 64, insn); }
#ifndef SKIFF_TCG_DECODE_CACHE_H_
#define SKIFF_TCG_DECODE_CACHE_H_

#include <cstdint>
#include <cstring>
#include <vector>

#include "tcg/cpu.h"

namespace skiff::tcg {

class DecodeCache {
 public:
  // Direct mapped. It serves only what blocks do not (instructions that
  // cross a page, single-stepping after an interrupt or a fault), so it is
  // kept small: 1024 entries of 72 bytes.
  static constexpr int kEntries = 1024;

  DecodeCache() : entries_(kEntries) {}

  // The cached decode of the instruction at `phys`, if its bytes equal the
  // first bytes of `bytes` (`avail` of them are valid).
  const Insn* Lookup(uint64_t phys, int code_bits, const uint8_t* bytes,
                     int avail) const {
    const Entry& e = entries_[Index(phys)];
    if (e.key != Key(phys, code_bits) || e.insn.len > avail ||
        std::memcmp(e.bytes, bytes, e.insn.len) != 0) {
      return nullptr;
    }
    return &e.insn;
  }
  // As Lookup, with 16 readable bytes at `bytes` (the fetch fast path).
  const Insn* Lookup16(uint64_t phys, int code_bits,
                       const uint8_t* bytes) const {
    const Entry& e = entries_[Index(phys)];
    if (e.key != Key(phys, code_bits)) return nullptr;
    uint64_t a[2], b[2];
    std::memcpy(a, bytes, 16);
    std::memcpy(b, e.bytes, 16);
    const int len = e.insn.len;
    const uint64_t m0 = len >= 8 ? ~0ull : ((1ull << (len * 8)) - 1);
    const uint64_t m1 = len <= 8 ? 0 : ((1ull << ((len - 8) * 8)) - 1);
    if (((a[0] ^ b[0]) & m0) != 0 || ((a[1] ^ b[1]) & m1) != 0) {
      return nullptr;
    }
    return &e.insn;
  }
  // `bytes` holds the instruction's insn.len bytes.
  void Insert(uint64_t phys, int code_bits, const Insn& insn,
              const uint8_t* bytes) {
    Entry& e = entries_[Index(phys)];
    e.key = Key(phys, code_bits);
    e.insn = insn;
    std::memset(e.bytes, 0, sizeof(e.bytes));
    std::memcpy(e.bytes, bytes, insn.len);
  }
  void Clear() {
    for (Entry& e : entries_) e.key = ~0ull;
  }

 private:
  struct Entry {
    uint64_t key = ~0ull;
    Insn insn;
    uint8_t bytes[16] = {};  // the instruction's bytes (insn.len of them)
  };
  static uint64_t Key(uint64_t phys, int code_bits) {
    return phys | (static_cast<uint64_t>(code_bits) << 56);
  }
  static size_t Index(uint64_t phys) {
    return static_cast<size_t>((phys ^ (phys >> 13)) & (kEntries - 1));
  }
  std::vector<Entry> entries_;
};

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_DECODE_CACHE_H_
