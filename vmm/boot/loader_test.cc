#include "vmm/boot/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "vmm/boot/boot_params.h"
#include "vmm/boot/boot_test_util.h"
#include "vmm/boot/errors.h"
#include "vmm/boot/image_file.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/test_images.h"

namespace skiff::boot {
namespace {

using ::testing::HasSubstr;
using namespace ::skiff::boot::testing;  // NOLINT

constexpr uint64_t kMem = 64 << 20;

TEST(Loader, LoadsKernelAndInitrdFromFiles) {
  TempDir dir;
  auto mem = TestMemory(kMem);
  LoadOptions o = Options(dir.Write("vmlinux", BuildElf(VmlinuxSpec())));
  std::vector<uint8_t> initrd = Bytes(0x10001, 8);
  o.initrd_path = dir.Write("initrd", initrd);
  auto boot = LoadKernel(*mem, o);
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->protocol, "elf64");
  ASSERT_TRUE(boot->initrd.has_value());
  EXPECT_EQ(boot->initrd->first, AlignDown(kMem - 0x10001, 4096));
  EXPECT_EQ(ReadGuest(*mem, boot->initrd->first, initrd.size()), initrd);
  auto p = ReadGuestObj<BootParams>(*mem, kZeroPageAddr);
  EXPECT_EQ(Val(p.hdr.ramdisk_image), boot->initrd->first);
  EXPECT_EQ(Val(p.hdr.ramdisk_size), 0x10001u);
}

// A kernel read from a file, whether a range at a time (ELF vmlinux) or
// whole (the other formats), boots exactly as the same bytes in memory.
TEST(Loader, EveryFormatLoadsFromAFileAsFromBytes) {
  const std::vector<uint8_t> vmlinux = BuildElf(VmlinuxSpec());
  ElfSpec pvh = VmlinuxSpec();
  pvh.pvh_entry = 0x1000100;
  BzImageSpec bz;
  bz.payload = WithSize(Gzip(vmlinux), static_cast<uint32_t>(vmlinux.size()));
  const struct {
    const char* name;
    std::vector<uint8_t> bytes;
    const char* protocol;
  } kernels[] = {
      {"vmlinux", vmlinux, "elf64"},
      {"pvh", BuildElf(pvh), "pvh"},
      {"bzImage", BuildBzImage(bz), "bzimage-payload-elf"},
      {"multiboot", BuildMultibootAout(AoutSpec{}), "multiboot"},
  };
  TempDir dir;
  for (const auto& k : kernels) {
    SCOPED_TRACE(k.name);
    std::vector<uint8_t> initrd = Bytes(0x3001, 5);
    LoadOptions o = Options(dir.Write(k.name, k.bytes));
    o.initrd_path = dir.Write("initrd", initrd);
    auto from_file_mem = TestMemory(kMem);
    auto from_file = LoadKernel(*from_file_mem, o);
    ASSERT_TRUE(from_file.ok()) << from_file.status();
    auto from_bytes_mem = TestMemory(kMem);
    auto from_bytes = LoadKernelFromBytes(*from_bytes_mem, o, k.bytes,
                                          absl::MakeConstSpan(initrd));
    ASSERT_TRUE(from_bytes.ok()) << from_bytes.status();
    EXPECT_EQ(from_file->protocol, k.protocol);
    EXPECT_EQ(from_file->protocol, from_bytes->protocol);
    EXPECT_EQ(from_file->regs.rip, from_bytes->regs.rip);
    EXPECT_EQ(from_file->kernel_start, from_bytes->kernel_start);
    EXPECT_EQ(from_file->kernel_end, from_bytes->kernel_end);
    ASSERT_EQ(from_file->initrd, from_bytes->initrd);
    ASSERT_TRUE(from_file->initrd.has_value());
    EXPECT_EQ(
        ReadGuest(*from_file_mem, from_file->initrd->first, initrd.size()),
        initrd);
    // Boot structures and the kernel.
    EXPECT_TRUE(ReadGuest(*from_file_mem, 0, from_file->kernel_end) ==
                ReadGuest(*from_bytes_mem, 0, from_file->kernel_end));
  }
}

TEST(Loader, ImageReaderChecksRangesAndNoticesAShrunkFile) {
  const std::vector<uint8_t> data = Bytes(0x3000, 7);
  TempDir dir;
  const std::string path = dir.Write("image", data);
  auto file = OpenImageFile("kernel " + path, path);
  ASSERT_TRUE(file.ok()) << file.status();
  const ImageReader from_file("kernel " + path, *file);
  const ImageReader from_bytes("kernel /x", data);
  for (const ImageReader* r : {&from_file, &from_bytes}) {
    EXPECT_EQ(r->size(), 0x3000u);
    std::vector<uint8_t> out(0x10);
    ASSERT_TRUE(r->Read(0x2ff0, absl::MakeSpan(out)).ok());
    EXPECT_EQ(out, std::vector<uint8_t>(data.end() - 0x10, data.end()));
    EXPECT_THAT(r->Read(0x2ff1, absl::MakeSpan(out)).message(),
                HasSubstr("read of 16 bytes at 0x2ff1 is past the end of the "
                          "12288-byte image"));
    EXPECT_THAT(r->Read(~uint64_t{0}, absl::MakeSpan(out)).message(),
                HasSubstr("past the end"));
    EXPECT_FALSE(r->InRange(0x10, ~uint64_t{0}));
  }
  ASSERT_EQ(::truncate(path.c_str(), 0x1000), 0);
  std::vector<uint8_t> out(0x100);
  EXPECT_THAT(from_file.Read(0x2000, absl::MakeSpan(out)).message(),
              HasSubstr("kernel " + path +
                        ": file shrank while being read (0 of 256 bytes at "
                        "offset 0x2000)"));
}

TEST(Loader, FileErrorsNameTheFile) {
  TempDir dir;
  auto mem = TestMemory(kMem);
  LoadOptions o = Options("/nonexistent/vmlinux");
  EXPECT_THAT(LoadKernel(*mem, o).status().message(),
              HasSubstr("kernel /nonexistent/vmlinux: cannot open"));
  o.kernel_path = dir.Write("empty", {});
  EXPECT_THAT(LoadKernel(*mem, o).status().message(),
              HasSubstr("empty: file is empty"));
  o.kernel_path = dir.Write("huge", std::vector<uint8_t>(kMem + 1, 0));
  EXPECT_THAT(LoadKernel(*mem, o).status().message(),
              HasSubstr("file is larger than guest RAM (64 MiB)"));
  o.kernel_path = dir.Write("junk", Bytes(10000, 1));
  EXPECT_THAT(LoadKernel(*mem, o).status().message(),
              HasSubstr("junk: not a bzImage, ELF or multiboot kernel"));
  o.kernel_path = dir.Write("vmlinux", BuildElf(VmlinuxSpec()));
  o.initrd_path = "/nonexistent/initrd";
  EXPECT_THAT(LoadKernel(*mem, o).status().message(),
              HasSubstr("initrd /nonexistent/initrd: cannot open"));
  o.initrd_path = "/";
  EXPECT_THAT(LoadKernel(*mem, o).status().message(),
              HasSubstr("initrd /: not a regular file"));
}

TEST(Loader, InitrdThatDoesNotFitIsRefused) {
  TempDir dir;
  auto mem = TestMemory(kMem);
  LoadOptions o = Options(dir.Write("vmlinux", BuildElf(VmlinuxSpec())));
  o.initrd_path = dir.Write("big", std::vector<uint8_t>(50 << 20, 1));
  auto boot = LoadKernel(*mem, o);
  EXPECT_THAT(boot.status().message(),
              HasSubstr("initrd " + o.initrd_path +
                        ": 50 MiB does not fit below 0xffffffff above the "
                        "kernel's end 0x1205000"));
}

TEST(Loader, CommandLineChecks) {
  auto mem = TestMemory(kMem);
  std::vector<uint8_t> k = BuildElf(VmlinuxSpec());
  LoadOptions o = Options("/x/vmlinux");
  o.cmdline = std::string(kCmdlineMax, 'x');
  EXPECT_TRUE(LoadKernelFromBytes(*mem, o, k, std::nullopt).ok());
  EXPECT_EQ(ReadCString(*mem, kCmdlineAddr).size(), kCmdlineMax);
  o.cmdline.push_back('y');
  EXPECT_THAT(
      LoadKernelFromBytes(*mem, o, k, std::nullopt).status().message(),
      HasSubstr("command line of 4096 bytes exceeds the limit of 4095"));
  o.cmdline = std::string("a\0b", 3);
  EXPECT_THAT(LoadKernelFromBytes(*mem, o, k, std::nullopt).status().message(),
              HasSubstr("command line contains a NUL byte"));
}

TEST(Loader, KernelMayNotOverlapReservedRanges) {
  auto mem = TestMemory(kMem);
  LoadOptions o = Options("/x/vmlinux");
  o.extra_reserved.push_back({0x1201000, 0x1000, E820Type::kAcpi});
  auto boot =
      LoadKernelFromBytes(*mem, o, BuildElf(VmlinuxSpec()), std::nullopt);
  EXPECT_THAT(boot.status().message(),
              HasSubstr("overlaps reserved [0x1201000, 0x1202000)"));
}

TEST(Loader, ReservedRangeMayNotCoverBootStructures) {
  auto mem = TestMemory(kMem);
  LoadOptions o = Options("/x/vmlinux");
  o.extra_reserved.push_back({0x7000, 0x1000, E820Type::kAcpi});
  auto boot =
      LoadKernelFromBytes(*mem, o, BuildElf(VmlinuxSpec()), std::nullopt);
  EXPECT_THAT(boot.status().message(),
              HasSubstr("overlaps the boot structures"));
}

TEST(Loader, InitrdSkipsReservedRangeAtTopOfRam) {
  auto mem = TestMemory(kMem);
  LoadOptions o = Options("/x/vmlinux");
  o.extra_reserved.push_back({kMem - 0x10000, 0x10000, E820Type::kAcpi});
  std::vector<uint8_t> initrd = Bytes(0x2000, 1);
  auto boot = LoadKernelFromBytes(*mem, o, BuildElf(VmlinuxSpec()),
                                  absl::MakeConstSpan(initrd));
  ASSERT_TRUE(boot.ok()) << boot.status();
  EXPECT_EQ(boot->initrd->first, kMem - 0x10000 - 0x2000);
  auto p = ReadGuestObj<BootParams>(*mem, kZeroPageAddr);
  EXPECT_EQ(p.e820_entries, 4);
  EXPECT_EQ(p.e820_table[3].type, 3u);
}

TEST(Loader, LargeGuestGetsHighRamInE820) {
  auto mem = TestMemory(5ull << 30);
  std::vector<uint8_t> initrd = Bytes(0x2000, 1);
  auto boot =
      LoadKernelFromBytes(*mem, Options("/x/vmlinux"), BuildElf(VmlinuxSpec()),
                          absl::MakeConstSpan(initrd));
  ASSERT_TRUE(boot.ok()) << boot.status();
  // initrd at the top of low RAM, never above 4 GiB.
  EXPECT_EQ(boot->initrd->first, 0xc0000000u - 0x2000);
  auto p = ReadGuestObj<BootParams>(*mem, kZeroPageAddr);
  ASSERT_EQ(p.e820_entries, 4);
  EXPECT_EQ(uint64_t{p.e820_table[3].addr}, 4ull << 30);
  EXPECT_EQ(uint64_t{p.e820_table[3].size}, 2ull << 30);
}

TEST(Loader, TinyGuestIsRefused) {
  auto mem = TestMemory(1 << 20);
  auto boot = LoadKernelFromBytes(*mem, Options("/x/vmlinux"),
                                  BuildElf(VmlinuxSpec()), std::nullopt);
  EXPECT_THAT(boot.status().message(), HasSubstr("at least 2 MiB"));
}

// Loads a real kernel when SKIFF_TEST_KERNEL names one (e.g. Debian's
// /boot/vmlinuz-*): both bzImage paths, with and without PVH.
TEST(Loader, RealKernelFromEnvironment) {
  const char* path = std::getenv("SKIFF_TEST_KERNEL");
  if (path == nullptr) GTEST_SKIP() << "SKIFF_TEST_KERNEL is not set";
  for (bool fast : {true, false}) {
    for (bool pvh : {true, false}) {
      auto mem = TestMemory(256 << 20);
      LoadOptions o = Options(path);
      o.bzimage_fast_path = fast;
      o.prefer_pvh = pvh;
      auto boot = LoadKernel(*mem, o);
      ASSERT_TRUE(boot.ok()) << boot.status();
      EXPECT_GE(boot->kernel_start, 0x100000u);
      EXPECT_GT(boot->kernel_end, boot->kernel_start);
      std::cout << "fast=" << fast << " pvh=" << pvh
                << " protocol=" << boot->protocol << std::hex << " entry=0x"
                << boot->entry << "\n";
    }
  }
}

}  // namespace
}  // namespace skiff::boot
