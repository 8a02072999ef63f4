// Test-only helpers shared by the loader tests: guest memory, reading
// structures back, and the usual option set.
//
//   auto mem = TestMemory(64 << 20);
//   auto boot = LoadKernelFromBytes(*mem, Options("/x/vmlinux"), bytes, {});
#ifndef SKIFF_VMM_BOOT_BOOT_TEST_UTIL_H_
#define SKIFF_VMM_BOOT_BOOT_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "base/guest_memory.h"
#include "vmm/boot/loader.h"

namespace skiff::boot::testing {

inline std::unique_ptr<GuestMemory> TestMemory(uint64_t size) {
  auto mem = GuestMemory::Create(GuestMemory::X86Layout(size), {});
  EXPECT_TRUE(mem.ok()) << mem.status();
  return mem.ok() ? std::move(*mem) : nullptr;
}

inline LoadOptions Options(const std::string& kernel) {
  LoadOptions o;
  o.kernel_path = kernel;
  o.cmdline = "console=ttyS0 panic=1";
  return o;
}

inline std::vector<uint8_t> ReadGuest(const GuestMemory& mem, uint64_t addr,
                                      uint64_t len) {
  std::vector<uint8_t> out(len);
  EXPECT_TRUE(mem.Read(GuestAddr(addr), absl::MakeSpan(out)).ok());
  return out;
}

inline std::string ReadCString(const GuestMemory& mem, uint64_t addr) {
  std::string s;
  for (uint64_t a = addr;; ++a) {
    auto c = mem.ReadObj<char>(GuestAddr(a));
    if (!c.ok() || *c == 0) break;
    s.push_back(*c);
  }
  return s;
}

// A copy of a (possibly misaligned) packed-struct field, so gtest's
// reference parameters never bind to it.
template <typename T>
T Val(T value) {
  return value;
}

template <typename T>
T ReadGuestObj(const GuestMemory& mem, uint64_t addr) {
  auto v = mem.ReadObj<T>(GuestAddr(addr));
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : T{};
}

}  // namespace skiff::boot::testing

#endif  // SKIFF_VMM_BOOT_BOOT_TEST_UTIL_H_
