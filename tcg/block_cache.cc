#include "tcg/block_cache.h"

#include <algorithm>
#include <new>

#include "base/named_mapping.h"
#include "tcg/decoder.h"
#include "tcg/ops.h"
#include "tcg/ops_fast.h"

namespace skiff::tcg {
namespace {

constexpr size_t AlignUp(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

}  // namespace

BlockCache::BlockCache() {
  // Made here rather than on the first Build: a memfd cannot be made once
  // the seccomp filter is in place.
  auto* mem =
      static_cast<std::byte*>(MapNamed("skiff-tcg-blocks", kMappingBytes));
  if (mem == nullptr) return;
  sets_ = reinterpret_cast<Set*>(mem);  // zero-filled: every way empty
  arena_ = mem + kIndexBytes;
}

BlockCache::~BlockCache() { UnmapNamed(sets_, kMappingBytes); }

const Block* BlockCache::Build(uint64_t phys, int code_bits,
                               const uint8_t* host, int avail, int spill) {
  if (sets_ == nullptr) return nullptr;
  int pos = 0, n = 0;
  bool branch_end = false;
  while (n < Block::kMaxInsns) {
    Insn& insn = scratch_[n];
    if (Decode(host + pos, avail + spill - pos, code_bits, &insn) !=
            DecodeResult::kOk ||
        pos + insn.len > Block::kMaxBytes) {
      break;  // crosses the page, too long, or the block is full
    }
    const bool last = EndsBlock(insn) && !JccContinuesBlock(insn, code_bits);
    branch_end = insn.fn == OpJcc || insn.fn == OpJmpRel || insn.fn == OpLoop;
    insn.fn = SpecializeHandler(&insn, code_bits);
    pos += insn.len;
    ++n;
    if (last || pos >= avail) break;
  }
  if (n == 0) return nullptr;
  for (int k = 0; k + 1 < n; ++k) {
    if (const Handler f = FuseWithJcc(scratch_[k], scratch_[k + 1])) {
      scratch_[k].fn = f;
    }
  }

  const size_t insns_offset =
      AlignUp(sizeof(Block) + static_cast<size_t>(pos), alignof(Insn));
  const size_t size = AlignUp(
      insns_offset + sizeof(Insn) * static_cast<size_t>(n), alignof(Block));
  if (kArenaBytes - used_ < size) Clear();
  std::byte* at = arena_ + used_;
  used_ += size;
  Block* b =
      new (at) Block{.key = Key(phys, code_bits),
                     .nbytes = static_cast<uint16_t>(pos),
                     .ninsn = static_cast<uint8_t>(n),
                     .branch_end = branch_end,
                     .insns_offset = static_cast<uint32_t>(insns_offset),
                     .spill = static_cast<uint8_t>(std::max(pos - avail, 0))};
  std::memcpy(at + sizeof(Block), host, static_cast<size_t>(pos));
  Insn* insns = reinterpret_cast<Insn*>(at + insns_offset);
  for (int k = 0; k < n; ++k) new (&insns[k]) Insn(scratch_[k]);
  // Into the front of the set, replacing a stale block at the same start,
  // or else the least recently used way.
  Way* set = sets_[SetIndex(phys)].ways;
  const uint32_t tag = Tag(b->key);
  int w = 0;
  while (w < kWays - 1 &&
         !(set[w].tag == tag && At(set[w].unit)->key == b->key)) {
    ++w;
  }
  const size_t offset = static_cast<size_t>(at - arena_);
  MoveToFront(
      set, w,
      Way{.unit = static_cast<uint32_t>(offset / alignof(Block)), .tag = tag});
  return b;
}

void BlockCache::Clear() {
  if (sets_ == nullptr) return;
  // With no block built since the last Clear, every way is still empty
  // (only Build fills one), and the index's pages stay untouched.
  if (used_ != 0) std::fill_n(sets_, kSets, Set{});
  used_ = 0;
  ++generation_;
}

}  // namespace skiff::tcg
