#include "tcg/block_cache.h"

#include "tcg/decoder.h"
#include "tcg/ops.h"
#include "tcg/ops_fast.h"

namespace skiff::tcg {

const Block* BlockCache::Build(uint64_t phys, int code_bits,
                               const uint8_t* host, int avail) {
  if (blocks_ == nullptr) blocks_ = std::make_unique<Block[]>(kEntries);
  Block& b = blocks_[Index(phys)];
  b.key = ~0ull;
  int pos = 0, n = 0;
  b.branch_end = false;
  while (n < Block::kMaxInsns) {
    Insn& insn = b.insns[n];
    if (Decode(host + pos, avail - pos, code_bits, &insn) !=
            DecodeResult::kOk ||
        pos + insn.len > Block::kMaxBytes) {
      break;  // crosses the page, too long, or the block is full
    }
    const bool last = EndsBlock(insn) && !JccContinuesBlock(insn, code_bits);
    b.branch_end = insn.fn == OpJcc || insn.fn == OpJmpRel || insn.fn == OpLoop;
    insn.fn = SpecializeHandler(&insn, code_bits);
    pos += insn.len;
    ++n;
    if (last || pos >= avail) break;
  }
  if (n == 0) return nullptr;
  b.ninsn = static_cast<uint8_t>(n);
  b.nbytes = static_cast<uint16_t>(pos);
  std::memcpy(b.bytes, host, static_cast<size_t>(pos));
  b.key = Key(phys, code_bits);
  return &b;
}

void BlockCache::Clear() {
  if (blocks_ == nullptr) return;
  for (int k = 0; k < kEntries; ++k) blocks_[k].key = ~0ull;
}

}  // namespace skiff::tcg
