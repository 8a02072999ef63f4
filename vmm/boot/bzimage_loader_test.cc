#include "vmm/boot/bzimage_loader.h"

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

constexpr uint64_t kMem = 128 << 20;

struct Codec {
  const char* name;
  std::vector<uint8_t> (*compress)(const std::vector<uint8_t>&);
};
const Codec kCodecs[] = {
    {"gzip", Gzip}, {"xz", Xz}, {"lz4", Lz4Legacy}, {"zstd", Zstd}};

std::vector<uint8_t> Payload(const Codec& codec, const ElfSpec& spec) {
  std::vector<uint8_t> elf = BuildElf(spec);
  return WithSize(codec.compress(elf), static_cast<uint32_t>(elf.size()));
}

TEST(BzImageLoader, FastPathLoadsThePayloadElf) {
  for (const Codec& codec : kCodecs) {
    SCOPED_TRACE(codec.name);
    auto mem = TestMemory(kMem);
    ElfSpec spec = VmlinuxSpec();
    BzImageSpec bz;
    bz.payload = Payload(codec, spec);
    LoadOptions o = Options("/x/bzImage");
    o.rsdp_addr = 0xe0000;
    std::vector<uint8_t> initrd = Bytes(0x5000, 3);
    auto boot = LoadKernelFromBytes(*mem, o, BuildBzImage(bz),
                                    absl::MakeConstSpan(initrd));
    ASSERT_TRUE(boot.ok()) << boot.status();
    EXPECT_EQ(boot->protocol, "bzimage-payload-elf");
    EXPECT_EQ(boot->regs.rip, spec.entry);
    EXPECT_EQ(boot->regs.rsi, kZeroPageAddr);
    EXPECT_EQ(boot->sregs.cs.selector, kCode64Selector);
    EXPECT_EQ(ReadGuest(*mem, 0x1000000, 0x3000), spec.segments[0].data);
    EXPECT_EQ(ReadGuest(*mem, 0x1200800, 0x100),
              std::vector<uint8_t>(0x100, 0));

    auto p = ReadGuestObj<BootParams>(*mem, kZeroPageAddr);
    EXPECT_EQ(Val(p.hdr.version), 0x020f);
    EXPECT_EQ(Val(p.hdr.type_of_loader), 0xff);
    EXPECT_EQ(Val(p.hdr.loadflags) & (kLoadedHigh | kCanUseHeap),
              kLoadedHigh | kCanUseHeap);
    EXPECT_EQ(Val(p.hdr.cmd_line_ptr), kCmdlineAddr);
    EXPECT_EQ(Val(p.hdr.cmdline_size), 2047u);  // the kernel's, kept
    EXPECT_EQ(Val(p.hdr.hardware_subarch), 0u);
    EXPECT_EQ(p.acpi_rsdp_addr, 0xe0000u);
    ASSERT_TRUE(boot->initrd.has_value());
    EXPECT_EQ(Val(p.hdr.ramdisk_image), boot->initrd->first);
    EXPECT_EQ(Val(p.hdr.ramdisk_size), 0x5000u);
    EXPECT_EQ(p.ext_ramdisk_image, 0u);
    // Top of low RAM, page aligned.
    EXPECT_EQ(boot->initrd->first, kMem - 0x5000);
    EXPECT_EQ(ReadGuest(*mem, boot->initrd->first, 0x5000), initrd);
    EXPECT_EQ(p.e820_entries, 3);
  }
}

TEST(BzImageLoader, FastPathWithPvhNote) {
  auto mem = TestMemory(kMem);
  ElfSpec spec = VmlinuxSpec();
  spec.pvh_entry = 0x1000080;
  BzImageSpec bz;
  bz.payload = Payload(kCodecs[3], spec);
  auto boot = LoadKernelFromBytes(*mem, Options("/x/bzImage"), BuildBzImage(bz),
                                  std::nullopt);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->protocol, "pvh");
  EXPECT_EQ(boot->regs.rip, 0x1000080u);
  EXPECT_EQ(boot->regs.rbx, kPvhStartInfoAddr);
  EXPECT_EQ(ReadGuestObj<HvmStartInfo>(*mem, kPvhStartInfoAddr).magic,
            kPvhStartMagic);
}

TEST(BzImageLoader, SixtyFourBitEntryWhenFastPathOff) {
  auto mem = TestMemory(kMem);
  BzImageSpec bz;
  bz.payload = Payload(kCodecs[0], VmlinuxSpec());
  std::vector<uint8_t> file = BuildBzImage(bz);
  LoadOptions o = Options("/x/bzImage");
  o.bzimage_fast_path = false;
  auto boot = LoadKernelFromBytes(*mem, o, file, std::nullopt);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->protocol, "bzimage");
  // pref_address 16 MiB fits: protected-mode kernel copied there.
  EXPECT_EQ(boot->kernel_start, 0x1000000u);
  EXPECT_EQ(boot->regs.rip, 0x1000200u);
  EXPECT_EQ(boot->kernel_end, 0x1000000u + 0x400000);  // init_size
  const uint64_t setup = (4 + 1) * 512;
  EXPECT_EQ(ReadGuest(*mem, 0x1000000, file.size() - setup),
            std::vector<uint8_t>(file.begin() + setup, file.end()));
  auto p = ReadGuestObj<BootParams>(*mem, kZeroPageAddr);
  EXPECT_EQ(Val(p.hdr.code32_start), 0x1000000u);
  EXPECT_EQ(Val(p.hdr.header), kSetupHeaderMagic);
}

TEST(BzImageLoader, UnsupportedCompressionFallsBackToSixtyFourBitEntry) {
  auto mem = TestMemory(kMem);
  BzImageSpec bz;
  bz.payload = {'B', 'Z', 'h', '9', 1, 2, 3, 4};
  auto boot = LoadKernelFromBytes(*mem, Options("/x/bzImage"), BuildBzImage(bz),
                                  std::nullopt);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->protocol, "bzimage");
}

TEST(BzImageLoader, RelocatableKernelMovesWhenPrefAddressDoesNotFit) {
  auto mem = TestMemory(32 << 20);
  BzImageSpec bz;
  bz.pref_address = 0x4000000;  // 64 MiB: past the end of RAM
  LoadOptions o = Options("/x/bzImage");
  o.bzimage_fast_path = false;
  auto boot = LoadKernelFromBytes(*mem, o, BuildBzImage(bz), std::nullopt);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->kernel_start, 0x200000u);  // 1 MiB aligned up to 2 MiB
  EXPECT_EQ(boot->regs.rip, 0x200200u);
}

TEST(BzImageLoader, CommandLineLimitComesFromHeader) {
  auto mem = TestMemory(kMem);
  BzImageSpec bz;
  bz.cmdline_size = 16;
  bz.payload = Payload(kCodecs[0], VmlinuxSpec());
  LoadOptions o = Options("/x/bzImage");
  o.cmdline = std::string(17, 'a');
  auto boot = LoadKernelFromBytes(*mem, o, BuildBzImage(bz), std::nullopt);
  EXPECT_THAT(boot.status().message(),
              HasSubstr("kernel /x/bzImage: command line of 17 bytes exceeds "
                        "the limit of 16"));
  o.cmdline = std::string(16, 'a');
  EXPECT_TRUE(
      LoadKernelFromBytes(*mem, o, BuildBzImage(bz), std::nullopt).ok());
}

TEST(BzImageLoader, InitrdHonoursInitrdAddrMax) {
  auto mem = TestMemory(kMem);
  BzImageSpec bz;
  bz.initrd_addr_max = 0x37ffffff / 16;  // ~56 MiB
  bz.payload = Payload(kCodecs[0], VmlinuxSpec());
  std::vector<uint8_t> initrd = Bytes(0x1234, 1);
  auto boot = LoadKernelFromBytes(*mem, Options("/x/bzImage"), BuildBzImage(bz),
                                  absl::MakeConstSpan(initrd));
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_LE(boot->initrd->first + boot->initrd->second,
            uint64_t{bz.initrd_addr_max} + 1);
  EXPECT_EQ(boot->initrd->first % 4096, 0u);

  std::vector<uint8_t> big(60 << 20, 1);
  auto refused = LoadKernelFromBytes(
      *mem, Options("/x/bzImage"), BuildBzImage(bz), absl::MakeConstSpan(big));
  EXPECT_THAT(refused.status().message(),
              HasSubstr("initrd: 60 MiB does not fit below 0x37fffff"));
}

struct BadCase {
  const char* name;
  void (*mutate)(BzImageSpec&, std::vector<uint8_t>&);
  const char* message;
  bool fast_path = true;
};

TEST(BzImageLoader, RefusesMalformedImages) {
  const BadCase cases[] = {
      {"old version",
       [](BzImageSpec& s, std::vector<uint8_t>& f) {
         s.version = 0x0201;
         f = BuildBzImage(s);
       },
       "setup header version 0x0201 is older than 2.06"},
      {"bad boot flag",
       [](BzImageSpec&, std::vector<uint8_t>& f) {
         Put(f, 0x1fe, uint16_t{0});
       },
       "boot_flag 0x0000 is not 0xaa55"},
      {"zImage",
       [](BzImageSpec&, std::vector<uint8_t>& f) {
         f[kSetupHeaderOffset + offsetof(SetupHeader, loadflags)] = 0;
       },
       "zImage"},
      {"header past end",
       [](BzImageSpec&, std::vector<uint8_t>& f) { f.resize(0x220); },
       "setup header extends past end of file"},
      {"setup past end",
       [](BzImageSpec& s, std::vector<uint8_t>& f) {
         s.setup_sects = 200;
         s.payload.clear();
         f = BuildBzImage(s);
         f.resize(0x1000);
       },
       "setup code of 201 sectors extends past end of file"},
      {"payload past end",
       [](BzImageSpec&, std::vector<uint8_t>& f) {
         Put(f, kSetupHeaderOffset + offsetof(SetupHeader, payload_length),
             uint32_t{0x1000000});
       },
       "payload [0x400, +0x1000000) extends past the end"},
      {"corrupt payload",
       [](BzImageSpec& s, std::vector<uint8_t>& f) {
         for (size_t i = 20; i < s.payload.size() - 8; i += 5) {
           s.payload[i] ^= 0xff;
         }
         f = BuildBzImage(s);
       },
       "gzip payload is corrupt"},
      {"truncated payload",
       [](BzImageSpec& s, std::vector<uint8_t>& f) {
         s.payload.resize(s.payload.size() / 2);
         f = BuildBzImage(s);
       },
       "gzip payload is truncated"},
      {"payload not elf",
       [](BzImageSpec& s, std::vector<uint8_t>& f) {
         s.payload = Gzip(Bytes(1000, 1));
         f = BuildBzImage(s);
       },
       "(gzip payload): decompressed payload is not an ELF file"},
      {"payload bomb",
       [](BzImageSpec& s, std::vector<uint8_t>& f) {
         s.payload = Zstd(std::vector<uint8_t>(200 << 20, 0));
         f = BuildBzImage(s);
       },
       "zstd payload decompresses to more than 128 MiB"},
      {"no 64-bit entry",
       [](BzImageSpec& s, std::vector<uint8_t>& f) {
         s.xloadflags = 0;
         f = BuildBzImage(s);
       },
       "has no 64-bit entry point", false},
      {"init_size too large",
       [](BzImageSpec& s, std::vector<uint8_t>& f) {
         s.init_size = 0xf0000000;
         f = BuildBzImage(s);
       },
       "does not fit in low guest RAM", false},
      {"bad alignment",
       [](BzImageSpec& s, std::vector<uint8_t>& f) {
         s.kernel_alignment = 0x300000;
         f = BuildBzImage(s);
       },
       "kernel_alignment 0x300000 is not a power of two", false},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.name);
    auto mem = TestMemory(kMem);
    BzImageSpec spec;
    spec.payload = Payload(kCodecs[0], VmlinuxSpec());
    std::vector<uint8_t> file = BuildBzImage(spec);
    c.mutate(spec, file);
    LoadOptions o = Options("/x/bzImage");
    o.bzimage_fast_path = c.fast_path;
    auto boot = LoadKernelFromBytes(*mem, o, file, std::nullopt);
    ASSERT_FALSE(boot.ok());
    EXPECT_THAT(boot.status().message(), HasSubstr("kernel /x/bzImage"));
    EXPECT_THAT(boot.status().message(), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace skiff::boot
