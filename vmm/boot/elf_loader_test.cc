#include "vmm/boot/elf_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm/boot/boot_params.h"
#include "vmm/boot/boot_test_util.h"
#include "vmm/boot/gdt.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/boot/pvh.h"
#include "vmm/boot/test_images.h"

namespace skiff::boot {
namespace {

using ::testing::HasSubstr;
using namespace ::skiff::boot::testing;  // NOLINT

constexpr uint64_t kMem = 64 << 20;

TEST(ElfLoader, LoadsSegmentsZeroesBssAndEntersLongMode) {
  auto mem = TestMemory(kMem);
  // Dirty the bss first so zeroing is observable.
  ASSERT_TRUE(mem->Fill(GuestAddr(0x1200000), 0xcc, 0x5000).ok());
  ElfSpec spec = VmlinuxSpec();
  auto boot = LoadKernelFromBytes(*mem, Options("/x/vmlinux"), BuildElf(spec),
                                  std::nullopt);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->protocol, "elf64");
  EXPECT_EQ(boot->entry, 0x1000040u);
  EXPECT_EQ(boot->regs.rip, 0x1000040u);
  EXPECT_EQ(boot->regs.rsi, kZeroPageAddr);
  EXPECT_EQ(boot->regs.rflags, kRflagsReserved1);
  EXPECT_EQ(boot->sregs.cs.selector, kCode64Selector);
  EXPECT_EQ(boot->sregs.efer, kEferLme | kEferLma);
  EXPECT_EQ(boot->kernel_start, 0x1000000u);
  EXPECT_EQ(boot->kernel_end, 0x1205000u);
  EXPECT_EQ(ReadGuest(*mem, 0x1000000, 0x3000), spec.segments[0].data);
  EXPECT_EQ(ReadGuest(*mem, 0x1200000, 0x800), spec.segments[1].data);
  EXPECT_EQ(ReadGuest(*mem, 0x1200800, 0x4800),
            std::vector<uint8_t>(0x4800, 0));

  auto params = ReadGuestObj<BootParams>(*mem, kZeroPageAddr);
  EXPECT_EQ(Val(params.hdr.header), kSetupHeaderMagic);
  EXPECT_EQ(Val(params.hdr.boot_flag), kBootFlag);
  EXPECT_EQ(Val(params.hdr.type_of_loader), 0xff);
  EXPECT_EQ(Val(params.hdr.cmd_line_ptr), kCmdlineAddr);
  EXPECT_EQ(ReadCString(*mem, kCmdlineAddr), "console=ttyS0 panic=1");
  EXPECT_EQ(params.e820_entries, 3);
  EXPECT_EQ(params.e820_table[2].addr, 0x100000u);
  EXPECT_EQ(params.e820_table[2].size, kMem - 0x100000);
}

TEST(ElfLoader, TranslatesVirtualEntry) {
  auto mem = TestMemory(kMem);
  ElfSpec spec = VmlinuxSpec();
  for (SegmentSpec& s : spec.segments) s.vaddr = 0xffffffff80000000 + s.paddr;
  spec.entry = 0xffffffff81000010;
  auto boot = LoadKernelFromBytes(*mem, Options("/x/vmlinux"), BuildElf(spec),
                                  std::nullopt);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->entry, 0x1000010u);
}

TEST(ElfLoader, PvhNoteSelectsPvh) {
  for (int desc : {4, 8}) {
    auto mem = TestMemory(kMem);
    ElfSpec spec = VmlinuxSpec();
    spec.pvh_entry = 0x1000100;
    spec.pvh_desc_size = desc;
    LoadOptions o = Options("/x/vmlinux");
    o.rsdp_addr = 0xe0000;
    std::vector<uint8_t> initrd = Bytes(0x3000, 5);
    auto boot = LoadKernelFromBytes(*mem, o, BuildElf(spec),
                                    absl::MakeConstSpan(initrd));
    ASSERT_TRUE(boot.ok()) << boot.status();
    EXPECT_EQ(boot->protocol, "pvh");
    EXPECT_EQ(boot->regs.rip, 0x1000100u);
    EXPECT_EQ(boot->regs.rbx, kPvhStartInfoAddr);
    EXPECT_EQ(boot->sregs.cs.selector, kCode32Selector);
    EXPECT_FALSE(boot->sregs.cr0 & kCr0Pg);
    auto si = ReadGuestObj<HvmStartInfo>(*mem, kPvhStartInfoAddr);
    EXPECT_EQ(si.magic, 0x336ec578u);
    EXPECT_EQ(si.version, 1u);
    EXPECT_EQ(si.cmdline_paddr, kCmdlineAddr);
    EXPECT_EQ(si.rsdp_paddr, 0xe0000u);
    ASSERT_EQ(si.nr_modules, 1u);
    auto mod = ReadGuestObj<HvmModlistEntry>(*mem, si.modlist_paddr);
    ASSERT_TRUE(boot->initrd.has_value());
    EXPECT_EQ(mod.paddr, boot->initrd->first);
    EXPECT_EQ(mod.size, 0x3000u);
    EXPECT_EQ(ReadGuest(*mem, mod.paddr, mod.size), initrd);
    ASSERT_EQ(si.memmap_entries, 3u);
    auto last = ReadGuestObj<HvmMemmapEntry>(
        *mem, si.memmap_paddr + 2 * sizeof(HvmMemmapEntry));
    EXPECT_EQ(last.addr, 0x100000u);
    EXPECT_EQ(last.type, 1u);
  }
}

TEST(ElfLoader, PvhCanBeDeclined) {
  auto mem = TestMemory(kMem);
  ElfSpec spec = VmlinuxSpec();
  spec.pvh_entry = 0x1000100;
  LoadOptions o = Options("/x/vmlinux");
  o.prefer_pvh = false;
  auto boot = LoadKernelFromBytes(*mem, o, BuildElf(spec), std::nullopt);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->protocol, "elf64");
  EXPECT_EQ(boot->regs.rip, 0x1000040u);
}

TEST(ElfLoader, Elf32WithPvhNote) {
  auto mem = TestMemory(kMem);
  ElfSpec spec = VmlinuxSpec();
  spec.is64 = false;
  spec.pvh_entry = 0x1000200;
  spec.pvh_desc_size = 4;
  auto boot = LoadKernelFromBytes(*mem, Options("/x/k32"), BuildElf(spec),
                                  std::nullopt);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->protocol, "pvh");
  EXPECT_EQ(boot->regs.rip, 0x1000200u);
}

struct BadCase {
  const char* name;
  void (*mutate)(ElfSpec&, std::vector<uint8_t>&);
  const char* message;
};

TEST(ElfLoader, RefusesMalformedFiles) {
  const BadCase cases[] = {
      {"segment past end of file",
       [](ElfSpec&, std::vector<uint8_t>& f) { f.resize(f.size() - 0x100); },
       "program header 1 extends past end of file"},
      {"truncated header",
       [](ElfSpec&, std::vector<uint8_t>& f) { f.resize(40); },
       "ELF header is truncated"},
      {"phdrs past end",
       [](ElfSpec&, std::vector<uint8_t>& f) {
         f.resize(sizeof(Elf64_Ehdr) + 10);
       },
       "program header table extends past end of file"},
      {"filesz > memsz",
       [](ElfSpec&, std::vector<uint8_t>& f) {
         Put(f, sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_memsz),
             uint64_t{0x10});
       },
       "program header 0 has p_filesz 0x3000 larger than p_memsz 0x10"},
      {"below 1 MiB",
       [](ElfSpec& s, std::vector<uint8_t>& f) {
         s.segments[0].paddr = 0x8000;
         s.segments[0].vaddr = 0x8000;
         f = BuildElf(s);
       },
       "program header 0 loads at 0x8000, below 1 MiB"},
      {"outside RAM",
       [](ElfSpec& s, std::vector<uint8_t>& f) {
         s.segments[1].memsz = 0x10000000;
         f = BuildElf(s);
       },
       "program header 1 [0x1200000, 0x11200000) is outside guest RAM"},
      {"huge memsz wraps",
       [](ElfSpec&, std::vector<uint8_t>& f) {
         Put(f,
             sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) +
                 offsetof(Elf64_Phdr, p_memsz),
             ~uint64_t{0});
       },
       "program header 1 wraps around"},
      {"entry outside",
       [](ElfSpec& s, std::vector<uint8_t>& f) {
         s.entry = 0x5000000;
         f = BuildElf(s);
       },
       "entry point 0x5000000 is not inside any loadable segment"},
      {"wrong machine",
       [](ElfSpec&, std::vector<uint8_t>& f) {
         Put(f, offsetof(Elf64_Ehdr, e_machine), uint16_t{183});
       },
       "ELF64 machine 183 is not x86-64"},
      {"not exec",
       [](ElfSpec&, std::vector<uint8_t>& f) {
         Put(f, offsetof(Elf64_Ehdr, e_type), uint16_t{ET_DYN});
       },
       "not an executable"},
      {"too many phdrs",
       [](ElfSpec&, std::vector<uint8_t>& f) {
         Put(f, offsetof(Elf64_Ehdr, e_phnum), uint16_t{5000});
       },
       "5000 program headers exceed"},
      {"bad pvh entry",
       [](ElfSpec& s, std::vector<uint8_t>& f) {
         s.pvh_entry = 0x7000000;
         f = BuildElf(s);
       },
       "PVH entry point 0x7000000 is not inside any loadable segment"},
      {"note overruns",
       [](ElfSpec& s, std::vector<uint8_t>& f) {
         s.pvh_entry = 0x1000100;
         f = BuildElf(s);
         Put(f, sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr) + 4,
             uint32_t{0x1000});  // descsz of the note
       },
       "note in program header 0 extends past its segment"},
      {"notes over the limit",
       [](ElfSpec& s, std::vector<uint8_t>& f) {
         s.pvh_entry = 0x1000100;
         f = BuildElf(s);
         Put(f, sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, p_filesz),
             uint64_t{kMaxNoteBytes + 1});
         f.resize(f.size() + kMaxNoteBytes + 1);
       },
       "program header 0 has 0x100001 bytes of notes, more than the limit of "
       "0x100000"},
  };
  TempDir dir;
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    ElfSpec spec = VmlinuxSpec();
    std::vector<uint8_t> file = BuildElf(spec);
    c.mutate(spec, file);
    // From bytes in memory and from a file read a range at a time.
    auto mem = TestMemory(kMem);
    auto boot =
        LoadKernelFromBytes(*mem, Options("/x/vmlinux"), file, std::nullopt);
    ASSERT_FALSE(boot.ok());
    EXPECT_THAT(boot.status().message(), HasSubstr("kernel /x/vmlinux: "));
    EXPECT_THAT(boot.status().message(), HasSubstr(c.message));
    const std::string path = dir.Write("vmlinux", file);
    boot = LoadKernel(*TestMemory(kMem), Options(path));
    ASSERT_FALSE(boot.ok());
    EXPECT_THAT(boot.status().message(), HasSubstr("kernel " + path + ": "));
    EXPECT_THAT(boot.status().message(), HasSubstr(c.message));
  }
}

TEST(ElfLoader, RefusesElf32WithoutNoteOrMultiboot) {
  auto mem = TestMemory(kMem);
  ElfSpec spec = VmlinuxSpec();
  spec.is64 = false;
  auto boot =
      LoadKernelFromBytes(*mem, Options("/x/k"), BuildElf(spec), std::nullopt);
  EXPECT_THAT(boot.status().message(),
              HasSubstr("neither a multiboot header nor a Xen"));
}

}  // namespace
}  // namespace skiff::boot
