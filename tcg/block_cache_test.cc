// Tests for BlockCache (block_cache.h): lookups that re-validate bytes, LRU
// sets, links, the arena starting over when full, and which instructions
// end a block (EndsBlock, ops_fast.h).
#include "tcg/block_cache.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "tcg/decoder.h"
#include "tcg/ops_fast.h"

namespace skiff::tcg {
namespace {

// A page of `nop; nop; ...; ret` blocks: every 8 bytes, 7 NOPs and a RET,
// so each 8-byte slot starts a separate 8-instruction block.
std::vector<uint8_t> BlockPage() {
  std::vector<uint8_t> page(4096, 0x90);
  for (size_t k = 7; k < page.size(); k += 8) page[k] = 0xc3;
  return page;
}

TEST(BlockCache, LookupFindsBuiltBlockWhileBytesMatch) {
  BlockCache cache;
  std::vector<uint8_t> page = BlockPage();
  EXPECT_EQ(cache.Lookup(0x1000, 64, page.data(), 1), nullptr);
  const Block* b = cache.Build(0x1000, 64, page.data(), 4096);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->ninsn, 8);
  EXPECT_EQ(b->nbytes, 8);
  EXPECT_EQ(cache.Lookup(0x1000, 64, page.data(), 1), b);
  EXPECT_EQ(cache.Lookup(0x1000, 32, page.data(), 1), nullptr);  // other mode
  page[3] = 0xcc;  // the guest rewrote the block
  EXPECT_EQ(cache.Lookup(0x1000, 64, page.data(), 2), nullptr);
}

// A block checked at an epoch is trusted at that epoch without a compare:
// the epoch's owner bumps it for every write that could change the bytes.
TEST(BlockCache, CheckedBlockIsTrustedUntilTheEpochMoves) {
  BlockCache cache;
  std::vector<uint8_t> page = BlockPage();
  const Block* b = cache.Build(0x1000, 64, page.data(), 4096);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(BlockCache::Current(*b, page.data(), 5));  // compared
  page[3] = 0xcc;  // a write nobody reported
  EXPECT_TRUE(BlockCache::Current(*b, page.data(), 5));
  EXPECT_FALSE(BlockCache::Current(*b, page.data(), 6));
  page[3] = 0x90;
  EXPECT_TRUE(BlockCache::Current(*b, page.data(), 7));
  EXPECT_EQ(b->checked, 7u);
}

// Ways hold a 13-bit tag of the key: keys in the same set can share it,
// and a lookup must still only find its own key.
TEST(BlockCache, KeysSharingATagStayApart) {
  BlockCache cache;
  std::vector<uint8_t> page = BlockPage();
  const uint64_t a = 0x1000;
  const auto slot = BlockCache::IndexSlot(a, 64);
  std::vector<uint64_t> twins;  // other block starts in a's set, a's tag
  for (uint64_t h = 1; twins.size() < 3 && h < (1ull << 32); ++h) {
    const uint64_t b = a + h * 8;
    if (BlockCache::IndexSlot(b, 64) == slot) twins.push_back(b);
  }
  ASSERT_EQ(twins.size(), 3u);
  ASSERT_NE(cache.Build(a, 64, page.data(), 4096), nullptr);
  for (uint64_t b : twins) {
    // The same tag as `a` and the same bytes: only the key tells them apart.
    const Block* built = cache.Build(b, 64, page.data(), 4096);
    ASSERT_NE(built, nullptr);
    EXPECT_EQ(cache.Lookup(b, 64, page.data(), 0), built);
    const Block* found_a = cache.Lookup(a, 64, page.data(), 0);
    ASSERT_NE(found_a, nullptr);
    EXPECT_EQ(found_a->key, a | 64ull << 56);
  }
  for (uint64_t b : twins) {
    const Block* found = cache.Lookup(b, 64, page.data(), 0);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->key, b | 64ull << 56);
  }
}

TEST(BlockCache, FullArenaStartsOverAndKeepsWorking) {
  BlockCache cache;
  std::vector<uint8_t> page = BlockPage();
  const uint64_t generation = cache.generation();
  // Far more blocks than the arena holds: distinct guest addresses, the
  // same bytes.
  const uint64_t blocks = 2 * BlockCache::kArenaBytes / sizeof(Insn) / 8 + 1;
  for (uint64_t n = 0; n < blocks; ++n) {
    const uint64_t phys = n * 8;
    const Block* b =
        cache.Build(phys, 64, page.data() + phys % 4096, 4096 - phys % 4096);
    ASSERT_NE(b, nullptr);
    ASSERT_EQ(cache.Lookup(phys, 64, page.data() + phys % 4096, 0), b);
    ASSERT_LE(cache.arena_used(), BlockCache::kArenaBytes);
  }
  EXPECT_GE(cache.generation(), generation + 2);
}

TEST(BlockCache, SetKeepsMostRecentlyUsedWays) {
  BlockCache cache;
  std::vector<uint8_t> page = BlockPage();
  // kSets * 8-byte steps: addresses far apart land in sets by hash, so
  // just check that many recent blocks stay findable.
  std::vector<const Block*> built;
  for (uint64_t n = 0; n < 64; ++n) {
    built.push_back(cache.Build(n * 8, 64, page.data() + n * 8, 4096 - n * 8));
  }
  for (uint64_t n = 0; n < 64; ++n) {
    EXPECT_EQ(cache.Lookup(n * 8, 64, page.data() + n * 8, 0), built[n]) << n;
  }
}

TEST(BlockCache, LinksMatchRipAndContext) {
  BlockCache cache;
  std::vector<uint8_t> page = BlockPage();
  const Block* a = cache.Build(0, 64, page.data(), 4096);
  const Block* b = cache.Build(8, 64, page.data() + 8, 4088);
  const Block* c = cache.Build(16, 64, page.data() + 16, 4080);
  const uint64_t ctx = BlockCache::LinkContext(7, 0);
  EXPECT_EQ(BlockCache::FindLink(*a, 8, ctx), nullptr);
  BlockCache::AddLink(*a, 8, ctx, b, page.data() + 8);
  BlockCache::AddLink(*a, 16, ctx, c, page.data() + 16);
  ASSERT_NE(BlockCache::FindLink(*a, 8, ctx), nullptr);
  EXPECT_EQ(BlockCache::FindLink(*a, 8, ctx)->block, b);
  EXPECT_EQ(BlockCache::FindLink(*a, 16, ctx)->block, c);
  // Another TLB epoch or CPL: the translation may differ.
  EXPECT_EQ(BlockCache::FindLink(*a, 8, BlockCache::LinkContext(8, 0)),
            nullptr);
  EXPECT_EQ(BlockCache::FindLink(*a, 8, BlockCache::LinkContext(7, 3)),
            nullptr);
  // Relinking a RIP replaces its own link, not the other one.
  BlockCache::AddLink(*a, 8, BlockCache::LinkContext(8, 0), b, page.data() + 8);
  EXPECT_NE(BlockCache::FindLink(*a, 16, ctx), nullptr);
  // A third RIP replaces the older of the two.
  BlockCache::AddLink(*a, 24, ctx, c, page.data() + 24);
  EXPECT_NE(BlockCache::FindLink(*a, 24, ctx), nullptr);
  EXPECT_EQ(
      (BlockCache::FindLink(*a, 8, BlockCache::LinkContext(8, 0)) == nullptr) +
          (BlockCache::FindLink(*a, 16, ctx) == nullptr),
      1);
}

bool DecodedEndsBlock(std::vector<uint8_t> bytes) {
  Insn i;
  EXPECT_EQ(Decode(bytes.data(), static_cast<int>(bytes.size()), 64, &i),
            DecodeResult::kOk);
  return EndsBlock(i);
}

TEST(EndsBlock, PlainInstructionsContinueAndTheRestEnd) {
  EXPECT_FALSE(DecodedEndsBlock({0x48, 0x89, 0xd8}));        // mov rax, rbx
  EXPECT_FALSE(DecodedEndsBlock({0x83, 0xc0, 0x01}));        // add eax, 1
  EXPECT_FALSE(DecodedEndsBlock({0x48, 0x8d, 0x43, 0x08}));  // lea
  EXPECT_FALSE(DecodedEndsBlock({0x53}));                    // push rbx
  EXPECT_FALSE(DecodedEndsBlock({0x5b}));                    // pop rbx
  EXPECT_FALSE(DecodedEndsBlock({0x90}));                    // nop
  EXPECT_FALSE(DecodedEndsBlock({0xf8}));                    // clc
  EXPECT_FALSE(DecodedEndsBlock({0xff, 0x00}));              // inc dword [rax]
  EXPECT_FALSE(DecodedEndsBlock({0xff, 0x30}));              // push qword [rax]
  EXPECT_FALSE(DecodedEndsBlock({0x0f, 0xb1, 0x0b}));  // cmpxchg [rbx], ecx

  EXPECT_TRUE(DecodedEndsBlock({0xc3}));              // ret
  EXPECT_TRUE(DecodedEndsBlock({0xeb, 0x00}));        // jmp rel8
  EXPECT_TRUE(DecodedEndsBlock({0x75, 0x00}));        // jne rel8
  EXPECT_TRUE(DecodedEndsBlock({0xe8, 0, 0, 0, 0}));  // call rel32
  EXPECT_TRUE(DecodedEndsBlock({0xff, 0x10}));        // call [rax]
  EXPECT_TRUE(DecodedEndsBlock({0xff, 0xe0}));        // jmp rax
  EXPECT_TRUE(DecodedEndsBlock({0xfa}));              // cli
  EXPECT_TRUE(DecodedEndsBlock({0xfb}));              // sti
  EXPECT_TRUE(DecodedEndsBlock({0xee}));              // out dx, al
  EXPECT_TRUE(DecodedEndsBlock({0xf4}));              // hlt
  EXPECT_TRUE(DecodedEndsBlock({0x0f, 0x22, 0xd8}));  // mov cr3, rax
  EXPECT_TRUE(DecodedEndsBlock({0x48, 0xcf}));        // iretq
  EXPECT_TRUE(DecodedEndsBlock({0x8e, 0xd8}));        // mov ds, ax
}

}  // namespace
}  // namespace skiff::tcg
