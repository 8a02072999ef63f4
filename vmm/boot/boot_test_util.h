// Test-only helpers shared by the loader tests: guest memory, reading
// structures back, the usual option set, and files in a temporary directory.
//
//   auto mem = TestMemory(64 << 20);
//   auto boot = LoadKernelFromBytes(*mem, Options("/x/vmlinux"), bytes, {});
#ifndef SKIFF_VMM_BOOT_BOOT_TEST_UTIL_H_
#define SKIFF_VMM_BOOT_BOOT_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
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

// A file in a fresh temporary directory, removed with it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "/skiff-boot-XXXXXX";
    path_ = ::mkdtemp(pattern.data()) ? pattern : "";
  }
  ~TempDir() {
    for (const std::string& f : files_) ::unlink(f.c_str());
    ::rmdir(path_.c_str());
  }
  std::string Write(const std::string& name, const std::vector<uint8_t>& data) {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(data.data()), data.size());
    files_.push_back(p);
    return p;
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

}  // namespace skiff::boot::testing

#endif  // SKIFF_VMM_BOOT_BOOT_TEST_UTIL_H_
