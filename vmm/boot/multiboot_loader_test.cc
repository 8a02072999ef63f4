#include "vmm/boot/multiboot_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm/boot/boot_test_util.h"
#include "vmm/boot/gdt.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/boot/test_images.h"

namespace skiff::boot {
namespace {

using ::testing::HasSubstr;
using namespace ::skiff::boot::testing;  // NOLINT

constexpr uint64_t kMem = 64 << 20;

void ExpectMultibootInfo(const GuestMemory& mem, const BootSetup& boot,
                         bool with_initrd) {
  EXPECT_EQ(boot.protocol, "multiboot");
  EXPECT_EQ(boot.regs.rax, 0x2badb002u);
  EXPECT_EQ(boot.regs.rbx, kMultibootInfoAddr);
  EXPECT_EQ(boot.sregs.cs.selector, kCode32Selector);
  EXPECT_FALSE(boot.sregs.cr0 & kCr0Pg);
  auto mbi = ReadGuestObj<MultibootInfo>(mem, kMultibootInfoAddr);
  EXPECT_TRUE(mbi.flags & kMbiMem);
  EXPECT_EQ(mbi.mem_lower, 639u);
  EXPECT_EQ(mbi.mem_upper, (kMem - 0x100000) / 1024);
  EXPECT_TRUE(mbi.flags & kMbiCmdline);
  EXPECT_EQ(ReadCString(mem, mbi.cmdline), "console=ttyS0 panic=1");
  EXPECT_EQ(ReadCString(mem, mbi.boot_loader_name), "skiff");
  ASSERT_TRUE(mbi.flags & kMbiMmap);
  ASSERT_EQ(mbi.mmap_length, 3 * sizeof(MultibootMmapEntry));
  auto e = ReadGuestObj<MultibootMmapEntry>(
      mem, mbi.mmap_addr + sizeof(MultibootMmapEntry));
  EXPECT_EQ(e.size, 20u);
  EXPECT_EQ(uint64_t{e.addr}, 0x9fc00u);
  EXPECT_EQ(e.type, 2u);
  if (with_initrd) {
    ASSERT_TRUE(mbi.flags & kMbiMods);
    ASSERT_EQ(mbi.mods_count, 1u);
    auto mod = ReadGuestObj<MultibootModule>(mem, mbi.mods_addr);
    EXPECT_EQ(mod.mod_start, boot.initrd->first);
    EXPECT_EQ(mod.mod_end, boot.initrd->first + boot.initrd->second);
  } else {
    EXPECT_FALSE(mbi.flags & kMbiMods);
  }
}

TEST(MultibootLoader, AoutKludge) {
  auto mem = TestMemory(kMem);
  ASSERT_TRUE(mem->Fill(GuestAddr(0x102000), 0xcc, 0x3000).ok());
  AoutSpec spec;
  std::vector<uint8_t> file = BuildMultibootAout(spec);
  std::vector<uint8_t> initrd = Bytes(0x2000, 4);
  auto boot = LoadKernelFromBytes(*mem, Options("/x/mb.bin"), file,
                                  absl::MakeConstSpan(initrd));
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->regs.rip, 0x100100u);
  EXPECT_EQ(boot->kernel_end, 0x105000u);
  EXPECT_EQ(ReadGuest(*mem, 0x100000, file.size()), file);
  EXPECT_EQ(ReadGuest(*mem, 0x102000, 0x3000), std::vector<uint8_t>(0x3000, 0));
  ExpectMultibootInfo(*mem, *boot, true);
}

TEST(MultibootLoader, AoutKludgeWithHeaderDeepInFile) {
  auto mem = TestMemory(kMem);
  AoutSpec spec;
  spec.header_offset = 0x1ff0;
  spec.code_size = 0x4000;
  spec.entry_offset = 0x3000;
  auto boot = LoadKernelFromBytes(*mem, Options("/x/mb.bin"),
                                  BuildMultibootAout(spec), std::nullopt);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->regs.rip, 0x103000u);
}

TEST(MultibootLoader, Elf32) {
  auto mem = TestMemory(kMem);
  ElfSpec spec;
  spec.is64 = false;
  spec.entry = 0x100010;
  spec.segments.push_back({0x100000, Bytes(0x1000, 1), 0x1000});
  spec.segments.push_back({0x101000, Bytes(0x100, 2), 0x2000});
  std::vector<uint8_t> file = BuildElf(spec);
  // The multiboot header sits in the first segment's data.
  MultibootHeader h{};
  h.magic = kMultibootHeaderMagic;
  h.flags = kMultibootPageAlignModules | kMultibootMemoryInfo;
  h.checksum = static_cast<uint32_t>(-(h.magic + h.flags));
  const uint64_t seg0 = file.size() - 0x1100;
  Put(file, seg0 + 0x20, h);
  auto boot =
      LoadKernelFromBytes(*mem, Options("/x/mb.elf"), file, std::nullopt);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->regs.rip, 0x100010u);
  EXPECT_EQ(boot->kernel_end, 0x103000u);
  EXPECT_EQ(ReadGuest(*mem, 0x101100, 0x1f00), std::vector<uint8_t>(0x1f00, 0));
  ExpectMultibootInfo(*mem, *boot, false);
}

TEST(MultibootLoader, FindsHeaderOnlyWithValidChecksumAndAlignment) {
  std::vector<uint8_t> f(0x3000, 0);
  Put(f, 0x102, kMultibootHeaderMagic);  // misaligned
  EXPECT_FALSE(FindMultibootHeader(f).has_value());
  Put(f, 0x200, kMultibootHeaderMagic);
  Put(f, 0x204, uint32_t{0});
  Put(f, 0x208, uint32_t{1});  // bad checksum
  EXPECT_FALSE(FindMultibootHeader(f).has_value());
  Put(f, 0x208, static_cast<uint32_t>(-kMultibootHeaderMagic));
  EXPECT_EQ(FindMultibootHeader(f), 0x200u);
  std::vector<uint8_t> late(0x4000, 0);
  Put(late, 0x2000, kMultibootHeaderMagic);
  Put(late, 0x2008, static_cast<uint32_t>(-kMultibootHeaderMagic));
  EXPECT_FALSE(FindMultibootHeader(late).has_value());  // past 8 KiB
}

struct BadCase {
  const char* name;
  void (*mutate)(MultibootHeader&, std::vector<uint8_t>&);
  const char* message;
};

TEST(MultibootLoader, RefusesMalformedHeaders) {
  const BadCase cases[] = {
      {"unknown requirement",
       [](MultibootHeader& h, std::vector<uint8_t>&) { h.flags |= 1u << 5; },
       "requires unsupported features 0x20"},
      {"header before file start",
       [](MultibootHeader& h, std::vector<uint8_t>&) { h.load_addr -= 0x1000; },
       "place the image before the start of the file"},
      {"load end past file",
       [](MultibootHeader& h, std::vector<uint8_t>&) {
         h.load_end_addr += 0x10000;
       },
       "load_end_addr 0x112000 extends past end of file"},
      {"load end below load",
       [](MultibootHeader& h, std::vector<uint8_t>&) {
         h.load_end_addr = h.load_addr - 1;
       },
       "is below load_addr"},
      {"bss below load end",
       [](MultibootHeader& h, std::vector<uint8_t>&) {
         h.bss_end_addr = h.load_end_addr - 4;
       },
       "bss_end_addr 0x101ffc is below load_end_addr"},
      {"bss outside ram",
       [](MultibootHeader& h, std::vector<uint8_t>&) {
         h.bss_end_addr = 0xf0000000;
       },
       "is outside guest RAM"},
      {"below 1 MiB",
       [](MultibootHeader& h, std::vector<uint8_t>&) {
         h.load_addr = 0x1000;
         h.header_addr = 0x1040;
         h.load_end_addr = 0x3000;
         h.bss_end_addr = 0x3000;
         h.entry_addr = 0x1100;
       },
       "load_addr 0x1000 is below 1 MiB"},
      {"entry outside",
       [](MultibootHeader& h, std::vector<uint8_t>&) {
         h.entry_addr = 0x200000;
       },
       "entry_addr 0x200000 is outside the loaded image"},
      {"not elf without kludge",
       [](MultibootHeader& h, std::vector<uint8_t>&) {
         h.flags &= ~kMultibootAoutKludge;
       },
       "is not an ELF file"},
      {"truncated header",
       [](MultibootHeader&, std::vector<uint8_t>& f) { f.resize(0x40 + 16); },
       "multiboot header at 0x40 is truncated"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto mem = TestMemory(kMem);
    AoutSpec spec;
    std::vector<uint8_t> file = BuildMultibootAout(spec);
    MultibootHeader h;
    std::memcpy(&h, file.data() + spec.header_offset, sizeof(h));
    std::vector<uint8_t> tail;
    c.mutate(h, tail);
    h.checksum = static_cast<uint32_t>(-(h.magic + h.flags));
    Put(file, spec.header_offset, h);
    if (!tail.empty() || std::string(c.name) == "truncated header") {
      file.resize(spec.header_offset + 16);
    }
    auto boot =
        LoadKernelFromBytes(*mem, Options("/x/mb.bin"), file, std::nullopt);
    ASSERT_FALSE(boot.ok());
    EXPECT_THAT(boot.status().message(), HasSubstr("kernel /x/mb.bin: "));
    EXPECT_THAT(boot.status().message(), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace skiff::boot
