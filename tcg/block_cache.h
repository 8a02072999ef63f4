// Per-vCPU cache of basic blocks: runs of decoded instructions that start at
// a guest-physical address and end at a control transfer, an instruction
// that may change the mode/paging/IF (see EndsBlock in ops_fast.h), the end
// of the 4 KiB code page, or kMaxInsns. Hot instructions get specialised
// handlers at build time (ops_fast.h).
//
// A block keeps a copy of its guest bytes, so writes from anywhere (this
// vCPU, other vCPUs, devices, the VMM) can never execute stale decodes: on
// entry, a block is trusted when it was last checked at the current check
// epoch (TcgVcpu::CheckEpoch), else its bytes are compared with guest RAM
// once more. For a machine's sole vCPU on anonymous RAM the epoch is
// GuestMemory's write epoch, which every write that could change a block's
// bytes bumps (see Cpu::MarkCodePage); with several vCPUs, or RAM another
// process may map (a memfd, hugetlbfs), every entry compares. Writes by
// this vCPU *while* a block runs are caught by Cpu::NoteCodeWrite (the run
// loop leaves the block after the writing instruction).
//
// Blocks are packed into one arena at their real size and found through a
// set-associative index (8 ways, LRU). A full arena empties at once, as
// QEMU's translation cache does, which keeps blocks free of individual
// lifetimes: links from a block to the blocks that followed it (Block::Link)
// are plain pointers, valid for the arena's generation.
//
//   const Block* b = cache.Lookup(phys, 64, host, epoch);
//   if (b == nullptr) b = cache.Build(phys, 64, host, 4096 - (phys & 0xfff));
//
// A 64-bit block may end with an instruction that crosses into the next
// page when that page follows in guest-physical and host memory (kernel
// text does); its bytes are then compared as one run, and the run loop
// checks the next page's translation again whenever the TLB epoch or CPL
// changed (Block::spill_context).
#ifndef SKIFF_TCG_BLOCK_CACHE_H_
#define SKIFF_TCG_BLOCK_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

#include "tcg/cpu.h"

namespace skiff::tcg {

// A block lives in its cache's arena: this header, then the guest bytes,
// then `ninsn` decoded instructions.
struct Block {
  static constexpr int kMaxInsns = 32;
  static constexpr int kMaxBytes = 256;

  uint64_t key = ~0ull;  // guest-physical start | code_bits << 56
  uint16_t nbytes = 0;
  uint8_t ninsn = 0;
  // Ends with a near relative branch (Jcc, JMP rel, LOOP), which changes
  // nothing but RIP: when it (or a taken 64-bit Jcc inside the block) jumps
  // back to the block's own start, the run loop may re-enter the block
  // without a lookup (it is still checked: BlockCache::Current).
  bool branch_end = false;
  uint32_t insns_offset = 0;  // from the start of the header
  // The check epoch at which the bytes last equalled guest RAM.
  mutable uint64_t checked = ~0ull;

  // Where 64-bit code went after this block, so the next block is found
  // without translating RIP or searching the index. A link holds while the
  // TLB epoch (the global one for a page mapped global: LinkContext and
  // GlobalLinkContext) and CPL it was made under hold (the translation of `rip`
  // is then the one it was); the target is still checked (Current). Both ends
  // live in one arena, which empties as a whole.
  struct Link {
    uint64_t rip = ~0ull;
    uint64_t context = ~0ull;  // LinkContext() when made
    const Block* block = nullptr;
    const uint8_t* host = nullptr;
  };
  mutable Link links[2];
  mutable uint8_t next_link = 0;
  // Bytes of the last instruction that lie on the next page (64-bit code
  // only): the block was built where the next linear page mapped the next
  // physical page, and it holds while it still does, which was last seen
  // under LinkContext `spill_context`.
  uint8_t spill = 0;
  mutable uint64_t spill_context = ~0ull;
  // Entries while not compiled (BlockJit), and the compiled code: its
  // offset in the code space | 2 when compiled for CPL 3 | 1, or 0.
  mutable uint16_t runs = 0;
  mutable uint32_t native = 0;
  mutable uint64_t native_gen = 0;  // BlockJit::generation() of `native`

  const uint8_t* bytes() const {
    return reinterpret_cast<const uint8_t*>(this + 1);
  }
  const Insn* insns() const {
    return reinterpret_cast<const Insn*>(
        reinterpret_cast<const std::byte*>(this) + insns_offset);
  }
};

class BlockCache {
 public:
  // Index sets of kWays (half a cache line each) and arena size: a Linux
  // guest's hot kernel paths fit, and the arena's pages only become
  // resident as blocks fill it. A full arena starts over empty. The arena
  // is all resident once a guest has booted, so its size is a trade: a boot
  // to init decodes about 26 MB of blocks, and at 3 MiB a boot took no
  // longer than at 4 MiB (2 MiB: 6% longer).
  static constexpr int kWays = 8;
  static constexpr size_t kSets = 4096;
  static constexpr size_t kArenaBytes = 3u << 20;

  BlockCache();
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // The cached block at `phys` if it is Current at `epoch` (`host` is the
  // host address of `phys`, inside one RAM page). A hit moves to the front
  // of its set, so the set's last way is the least recently used one.
  const Block* Lookup(uint64_t phys, int code_bits, const uint8_t* host,
                      uint64_t epoch) {
    if (sets_ == nullptr) return nullptr;
    const uint64_t key = Key(phys, code_bits);
    const uint32_t tag = Tag(key);
    Way* set = sets_[SetIndex(phys)].ways;
    for (int w = 0; w < kWays; ++w) {
      if (set[w].tag != tag) continue;
      const Way hit = set[w];
      const Block* b = At(hit.unit);
      if (b->key != key) continue;
      if (!Current(*b, host, epoch)) return nullptr;
      MoveToFront(set, w, hit);
      return b;
    }
    return nullptr;
  }
  // A link holds under the context it was made in: the CPL and the TLB
  // epoch (Cpu::tlb_epoch), or, for a link to a page the TLB maps global,
  // the global epoch (Cpu::global_tlb_epoch), which CR3 writes leave alone:
  // links between kernel blocks outlive the guest's context switches.
  static uint64_t LinkContext(uint64_t tlb_epoch, int cpl) {
    return tlb_epoch << 2 | static_cast<uint64_t>(cpl);
  }
  static uint64_t GlobalLinkContext(uint64_t global_epoch, int cpl) {
    return kGlobalLink | LinkContext(global_epoch, cpl);
  }
  // The block `from` linked to for `rip` under `context` or
  // `global_context`, or nullptr.
  static const Block::Link* FindLink(const Block& from, uint64_t rip,
                                     uint64_t context,
                                     uint64_t global_context = ~0ull) {
    for (const Block::Link& l : from.links) {
      if (l.rip == rip &&
          (l.context == context || l.context == global_context)) {
        return &l;
      }
    }
    return nullptr;
  }
  // Links `from` to `to` (at `host`) for `rip`, replacing a link for the
  // same `rip` or else the older one.
  static void AddLink(const Block& from, uint64_t rip, uint64_t context,
                      const Block* to, const uint8_t* host) {
    int k = from.links[1].rip == rip ? 1 : from.links[0].rip == rip ? 0 : -1;
    if (k < 0) {
      k = from.next_link;
      from.next_link ^= 1;
    }
    from.links[k] = {.rip = rip, .context = context, .block = to, .host = host};
  }
  // Bumped by every Clear: a Block pointer taken before is dead after.
  uint64_t generation() const { return generation_; }

  // Whether guest memory at `host` still holds the block's bytes: known
  // when the block was checked at check epoch `epoch` (read before the
  // compare, so that a write racing with it moves the epoch on), else
  // compared.
  static bool Current(const Block& b, const uint8_t* host, uint64_t epoch) {
    if (b.checked == epoch) return true;
    if (!SameBytes(b.bytes(), host, b.nbytes)) return false;
    b.checked = epoch;
    return true;
  }

  // Decodes a new block from `host` (`avail` bytes up to the end of the
  // page, and `spill` more after it that the last instruction may take,
  // which then ends the block) and files it under `phys`. nullptr when not
  // even the first instruction decodes within those (an instruction
  // crossing the page with no spill, or over-long): the caller executes it
  // one at a time. May empty the cache first, so earlier Block pointers are
  // dead after a Build.
  const Block* Build(uint64_t phys, int code_bits, const uint8_t* host,
                     int avail, int spill = 0);

  void Clear();
  // The index set and tag of the block at `phys` (for tests).
  static std::pair<size_t, uint32_t> IndexSlot(uint64_t phys, int code_bits) {
    return {SetIndex(phys), Tag(Key(phys, code_bits))};
  }
  // Arena bytes in use (for tests and benchmarks).
  size_t arena_used() const { return used_; }

 private:
  static constexpr uint64_t kGlobalLink = 1ull << 63;
  static uint64_t Key(uint64_t phys, int code_bits) {
    return phys | (static_cast<uint64_t>(code_bits) << 56);
  }
  static size_t SetIndex(uint64_t phys) {
    // Fibonacci hashing: code addresses cluster, the top bits spread them.
    return static_cast<size_t>((phys * 0x9e3779b97f4a7c15ull) >> 52) &
           (kSets - 1);
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

  // A way holds a 13-bit tag of the block's key and the block's place in
  // the arena, in units of alignof(Block): 4 bytes, so a set of 8 ways is
  // half a cache line, and the index has room for about three times the
  // blocks the arena holds (with 4 ways of 8 bytes, a boot built 19% more
  // blocks: those the index dropped while they were still in the arena). A
  // tag match is confirmed against the key in the block's header, which
  // validation reads next anyway. Tags are odd, so an empty way (0) never
  // matches.
  struct Way {
    uint32_t unit : 19 = 0;
    uint32_t tag : 13 = 0;
  };
  static_assert(kArenaBytes / alignof(Block) <= (1u << 19),
                "a way's unit field reaches the whole arena");
  struct alignas(kWays * sizeof(Way)) Set {
    Way ways[kWays];
  };
  static uint32_t Tag(uint64_t key) {
    // Bits of the hash below those SetIndex takes.
    return (static_cast<uint32_t>((key * 0x9e3779b97f4a7c15ull) >> 39) &
            0x1fff) |
           1;
  }
  const Block* At(uint32_t unit) const {
    return reinterpret_cast<const Block*>(arena_ +
                                          size_t{unit} * alignof(Block));
  }
  // Puts `way` first in `set`, shifting ways [0, w) down one; way w (the
  // old place of `way`, or the one to evict) is overwritten.
  static void MoveToFront(Way* set, int w, const Way& way) {
    for (; w > 0; --w) set[w] = set[w - 1];
    set[0] = way;
  }

  // One mapping named "skiff-tcg-blocks" (base/named_mapping.h): the index,
  // then the arena. Its pages become resident as blocks fill them, so a
  // vCPU that never runs blocks costs nothing. nullptr when it could not be
  // mapped: then no block is built.
  static constexpr size_t kIndexBytes = kSets * sizeof(Set);
  static constexpr size_t kMappingBytes = kIndexBytes + kArenaBytes;
  Set* sets_ = nullptr;
  std::byte* arena_ = nullptr;
  size_t used_ = 0;
  uint64_t generation_ = 0;
  // Decode scratch: a block is decoded here, then copied to the arena at
  // its real size.
  Insn scratch_[Block::kMaxInsns];
};

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_BLOCK_CACHE_H_
