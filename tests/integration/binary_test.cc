// The skiff binary is one static position-independent executable
// (tools/meson.build): no interpreter, no shared library, and an ELF type
// the kernel loads at a random address. A dependency that slipped back to
// a shared library would add its pages to every VMM's RSS. Where lld links
// it, its code follows tools/skiff.order, which keeps what a VMM runs on as
// few pages as possible.
#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <string>
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

#ifdef SKIFF_ORDER
// The addresses of the binary's function symbols, from its .symtab.
std::map<std::string, uint64_t> FunctionAddresses(int fd,
                                                  const Elf64_Ehdr& ehdr) {
  std::map<std::string, uint64_t> out;
  std::vector<Elf64_Shdr> shdrs(ehdr.e_shnum);
  const auto bytes = static_cast<ssize_t>(sizeof(Elf64_Shdr) * shdrs.size());
  if (::pread(fd, shdrs.data(), static_cast<size_t>(bytes),
              static_cast<off_t>(ehdr.e_shoff)) != bytes) {
    return out;
  }
  for (const Elf64_Shdr& sh : shdrs) {
    if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= shdrs.size()) continue;
    const Elf64_Shdr& strtab = shdrs[sh.sh_link];
    std::vector<Elf64_Sym> syms(sh.sh_size / sizeof(Elf64_Sym));
    std::string names(strtab.sh_size, '\0');
    if (::pread(fd, syms.data(), syms.size() * sizeof(Elf64_Sym),
                static_cast<off_t>(sh.sh_offset)) < 0 ||
        ::pread(fd, names.data(), names.size(),
                static_cast<off_t>(strtab.sh_offset)) < 0) {
      return out;
    }
    for (const Elf64_Sym& sym : syms) {
      if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_name == 0 ||
          sym.st_name >= names.size()) {
        continue;
      }
      out[names.c_str() + sym.st_name] = sym.st_value;
    }
  }
  return out;
}
#endif

TEST_F(SkiffBinary, LaysOutItsCodeInTheListedOrder) {
#ifndef SKIFF_ORDER
  GTEST_SKIP() << "this build does not link skiff with lld, so its code is "
                  "not laid out by tools/skiff.order";
#else
  const std::map<std::string, uint64_t> functions =
      FunctionAddresses(fd_, ehdr_);
  ASSERT_FALSE(functions.empty()) << "no symbol table in " << SKIFF_BIN;
  // skiff's own functions each have a section of their own
  // (-ffunction-sections), so lld places them exactly in the listed order.
  std::ifstream order(SKIFF_ORDER);
  ASSERT_TRUE(order) << SKIFF_ORDER;
  std::vector<std::string> listed;
  for (std::string name; listed.size() < 20 && std::getline(order, name);) {
    if (name.rfind("_ZN5skiff", 0) == 0 && functions.count(name) != 0) {
      listed.push_back(name);
    }
  }
  ASSERT_EQ(listed.size(), 20u) << "tools/skiff.order names too few of "
                                   "skiff's functions: run "
                                   "scripts/update-skiff-order";
  for (size_t k = 1; k < listed.size(); ++k) {
    EXPECT_LT(functions.at(listed[k - 1]), functions.at(listed[k]))
        << listed[k - 1] << " and " << listed[k] << " are out of order";
  }
#endif
}

}  // namespace
