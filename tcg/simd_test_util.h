// Test helper for the x87/SSE tests: runs the same assembled code natively
// on the host CPU and under the interpreter and compares the results.
//
// A test body is position-independent nasm code that reads its inputs from
// and writes its outputs to the block at RDI (kBlockSize bytes; inputs
// below kOutOffset, outputs from there on). It may clobber RAX RCX RDX RSI
// R8-R11, XMM0-15, MXCSR and the x87 state, nothing else.
//
//   class FooTest : public NativeDiffTest {};
//   TEST_F(FooTest, Add) {
//     std::vector<uint8_t> in = ...;
//     CompareWithHost("movaps xmm0, [rdi]\naddps xmm0, [rdi+16]\n"
//                     "movaps [rdi+0x8000], xmm0", in, /*out_len=*/16);
//   }
#ifndef SKIFF_TCG_SIMD_TEST_UTIL_H_
#define SKIFF_TCG_SIMD_TEST_UTIL_H_

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tcg/testing/asm_fixture.h"

namespace skiff::tcg::testing {

inline constexpr uint64_t kBlockSize = 0x40000;
inline constexpr uint64_t kOutOffset = 0x8000;

// Guest prologue: CR4.OSFXSR and OSXMMEXCPT on, RDI = the data block.
inline constexpr char kSimdPrologue[] = R"(
    mov rax, cr4
    or eax, 0x600
    mov cr4, rax
    mov rdi, 0x20000
)";

class NativeDiffTest : public AsmTest {
 protected:
  // Runs `body` on the host and in the guest with `input` at the start of
  // the block; expects the first `out_len` output bytes to be identical.
  // `ignore` lists output byte ranges (offset, length) not compared.
  void CompareWithHost(
      const std::string& body, const std::vector<uint8_t>& input,
      size_t out_len,
      const std::vector<std::pair<size_t, size_t>>& ignore = {}) {
    ASSERT_LE(input.size(), kOutOffset);
    ASSERT_LE(out_len, kBlockSize - kOutOffset);
    // Native: save/restore MXCSR and FCW around the body; FNINIT leaves the
    // x87 stack empty as the ABI requires.
    auto native =
        Assemble("sub rsp, 8\nstmxcsr [rsp]\nfnstcw [rsp+4]\n" + body +
                 "\nfninit\nldmxcsr [rsp]\nfldcw [rsp+4]\nadd rsp, 8\nret\n");
    ASSERT_TRUE(native.ok()) << native.status();
    std::vector<uint8_t> host_block(kBlockSize, 0);
    std::memcpy(host_block.data(), input.data(), input.size());
    {
      void* mem = mmap(nullptr, 1 << 16, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      ASSERT_NE(mem, MAP_FAILED);
      ASSERT_LE(native->size(), 1u << 16);
      std::memcpy(mem, native->data(), native->size());
      ASSERT_EQ(mprotect(mem, 1 << 16, PROT_READ | PROT_EXEC), 0);
      // Align the block to 4 KiB like the guest's.
      std::vector<uint8_t> aligned(kBlockSize + 4096);
      uint8_t* blk =
          aligned.data() +
          ((4096 - (reinterpret_cast<uintptr_t>(aligned.data()) & 4095)) &
           4095);
      std::memcpy(blk, host_block.data(), kBlockSize);
      auto fn = reinterpret_cast<void (*)(uint8_t*)>(mem);
      fn(blk);
      std::memcpy(host_block.data(), blk, kBlockSize);
      munmap(mem, 1 << 16);
    }
    // Guest.
    auto span = m_->memory().TrySlice(GuestAddr(kDataAddr), kBlockSize);
    ASSERT_EQ(span.size(), kBlockSize);
    std::memset(span.data(), 0, kBlockSize);
    std::memcpy(span.data(), input.data(), input.size());
    Regs r = RunToHalt(std::string(kSimdPrologue) + body + "\nhlt\n");
    EXPECT_EQ(r.r14, 0u) << "guest took exception vector " << r.r14;
    // Guard against a body that wrote nothing (the comparison would pass).
    bool any = false;
    for (size_t k = 0; k < out_len; ++k) any |= host_block[kOutOffset + k] != 0;
    EXPECT_TRUE(any) << "the body wrote no output";
    int reported = 0;
    for (size_t k = 0; k < out_len; ++k) {
      bool skip = false;
      for (const auto& [off, len] : ignore) {
        if (k >= off && k < off + len) skip = true;
      }
      if (skip) continue;
      const uint8_t want = host_block[kOutOffset + k];
      const uint8_t got = span[kOutOffset + k];
      if (want != got && reported++ < 20) {
        ADD_FAILURE() << "output byte 0x" << std::hex << k << ": host 0x"
                      << int{want} << " guest 0x" << int{got};
      }
    }
  }
};

// Little-endian packing helpers for building input blocks.
inline void PutBytes(std::vector<uint8_t>* v, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  v->insert(v->end(), b, b + n);
}
template <typename T>
void Put(std::vector<uint8_t>* v, T x) {
  PutBytes(v, &x, sizeof(x));
}

}  // namespace skiff::tcg::testing

#endif  // SKIFF_TCG_SIMD_TEST_UTIL_H_
