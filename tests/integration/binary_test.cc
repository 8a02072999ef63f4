// The skiff binary is one static position-independent executable
// (tools/meson.build): no interpreter, no shared library, and an ELF type
// the kernel loads at a random address. A dependency that slipped back to
// a shared library would add its pages to every VMM's RSS.
#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace {

class SkiffBinary : public ::testing::Test {
 protected:
  void SetUp() override {
#if !SKIFF_STATIC
    GTEST_SKIP() << "this build links skiff dynamically (fuzzing build: the "
                    "sanitizer runtimes cannot be linked statically)";
#endif
    fd_ = ::open(SKIFF_BIN, O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd_, 0) << SKIFF_BIN;
    ASSERT_EQ(::pread(fd_, &ehdr_, sizeof(ehdr_), 0),
              static_cast<ssize_t>(sizeof(ehdr_)));
    ASSERT_EQ(std::memcmp(ehdr_.e_ident, ELFMAG, SELFMAG), 0);
    ASSERT_EQ(ehdr_.e_ident[EI_CLASS], ELFCLASS64);
    ASSERT_EQ(ehdr_.e_phentsize, sizeof(Elf64_Phdr));
    phdrs_.resize(ehdr_.e_phnum);
    const auto bytes = static_cast<ssize_t>(sizeof(Elf64_Phdr) * phdrs_.size());
    ASSERT_EQ(::pread(fd_, phdrs_.data(), static_cast<size_t>(bytes),
                      static_cast<off_t>(ehdr_.e_phoff)),
              bytes);
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
  }

  int fd_ = -1;
  Elf64_Ehdr ehdr_{};
  std::vector<Elf64_Phdr> phdrs_;
};

TEST_F(SkiffBinary, IsPositionIndependent) { EXPECT_EQ(ehdr_.e_type, ET_DYN); }

TEST_F(SkiffBinary, HasNoInterpreterAndNoSharedLibraries) {
  for (const Elf64_Phdr& ph : phdrs_) {
    EXPECT_NE(ph.p_type, static_cast<Elf64_Word>(PT_INTERP));
    if (ph.p_type != PT_DYNAMIC) continue;
    std::vector<Elf64_Dyn> dyn(ph.p_filesz / sizeof(Elf64_Dyn));
    const auto bytes = static_cast<ssize_t>(sizeof(Elf64_Dyn) * dyn.size());
    ASSERT_EQ(::pread(fd_, dyn.data(), static_cast<size_t>(bytes),
                      static_cast<off_t>(ph.p_offset)),
              bytes);
    for (const Elf64_Dyn& d : dyn) {
      if (d.d_tag == DT_NULL) break;
      EXPECT_NE(d.d_tag, DT_NEEDED) << "skiff needs a shared library";
    }
  }
}

}  // namespace
