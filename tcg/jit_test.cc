// Tests for BlockJit's code mapping (jit.h). What compiled code does is
// tested differentially against the interpreter in tcg_block_test.cc.
#include "tcg/jit.h"

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "base/guest_memory.h"
#include "gtest/gtest.h"

namespace skiff::tcg {
namespace {

// Resident KiB of this process's mapping of the code memfd with
// permissions `perms` ("rw-s" or "r-xs"), or -1 when there is none.
long CodeViewRssKib(const std::string& perms) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_view = false;
  while (std::getline(smaps, line)) {
    if (line.find("skiff-tcg-code") != std::string::npos) {
      in_view = line.find(" " + perms + " ") != std::string::npos;
    } else if (in_view && line.rfind("Rss:", 0) == 0) {
      return std::stol(line.substr(4));
    }
  }
  return -1;
}

// A page of `add eax, 1` (compiled inline) ending in RET.
std::vector<uint8_t> CodePage() {
  std::vector<uint8_t> page(4096, 0x90);
  for (size_t k = 0; k < 20; ++k) {
    page[3 * k] = 0x83;
    page[3 * k + 1] = 0xc0;
    page[3 * k + 2] = 0x01;
  }
  page[60] = 0xc3;
  return page;
}

// Code is written through one view of the memfd and run from another. A
// page mapped in both counts twice in RSS, so the writable view keeps only
// what was written since code last grew by 256 KiB, and what is about to
// be; what was written stays in the memfd.
TEST(BlockJit, WritableViewKeepsOnlyRecentCode) {
  auto memory = GuestMemory::Create(GuestMemory::X86Layout(1 << 20), {});
  ASSERT_TRUE(memory.ok());
  auto cpu = std::make_unique<Cpu>(**memory, nullptr);
  BlockCache cache;
  const std::vector<uint8_t> page = CodePage();
  const Block* b = cache.Build(0x10000, 64, page.data(), 4096);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->ninsn, 21);

  BlockJit jit;
  ASSERT_TRUE(jit.Map());
  BlockJit::Fn first = jit.Compile(*cpu, *b, 0);
  ASSERT_NE(first, nullptr);
  uint8_t first_code[64];
  std::memcpy(first_code, reinterpret_cast<const void*>(first), 64);
  BlockJit::Fn last = first;
  while (jit.OffsetOf(last) < (3u << 19)) {
    last = jit.Compile(*cpu, *b, 0);
    ASSERT_NE(last, nullptr);
  }
  const long written = CodeViewRssKib("rw-s");
  ASSERT_GE(written, 0);
  EXPECT_LE(written, 2 * (256 + 4));
  EXPECT_EQ(std::memcmp(first_code, reinterpret_cast<const void*>(first), 64),
            0);

  jit.Reset();
  EXPECT_LE(CodeViewRssKib("rw-s"), 256 + 4);
  BlockJit::Fn again = jit.Compile(*cpu, *b, 0);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(jit.OffsetOf(again), jit.OffsetOf(first));
  EXPECT_EQ(std::memcmp(first_code, reinterpret_cast<const void*>(again), 64),
            0);
}

}  // namespace
}  // namespace skiff::tcg
