#include "vmm/boot/page_tables.h"

#include <gtest/gtest.h>

#include "vmm/boot/gdt.h"
#include "vmm/boot/layout.h"

namespace skiff::boot {
namespace {

constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;

// Walks PML4 -> PDPT -> PD (2 MiB page) as the MMU would (SDM vol. 3A 4.5).
std::optional<uint64_t> Translate(const GuestMemory& mem, uint64_t cr3,
                                  uint64_t va) {
  uint64_t table = cr3 & kAddrMask;
  for (int level = 3; level >= 1; --level) {
    int shift = 12 + 9 * level;
    uint64_t index = (va >> shift) & 0x1ff;
    auto entry = mem.ReadObj<uint64_t>(GuestAddr(table + index * 8));
    if (!entry.ok() || !(*entry & kPtePresent)) return std::nullopt;
    if (level == 1) {
      if (!(*entry & kPtePageSize)) return std::nullopt;
      return (*entry & 0x000fffffffe00000ull) | (va & 0x1fffff);
    }
    if (*entry & kPtePageSize) return std::nullopt;  // no 1 GiB pages here
    table = *entry & kAddrMask;
  }
  return std::nullopt;
}

TEST(PageTables, IdentityMapsFirstFourGiB) {
  auto mem = GuestMemory::Create(GuestMemory::X86Layout(32 << 20), {});
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(WriteIdentityPageTables(**mem).ok());
  Sregs sregs = LongModeSregs();
  for (uint64_t va :
       {0x0ull, 0x7000ull, 0x100000ull, 0x1234567ull, 0x3fffffffull,
        0x40000000ull, 0xbfffffffull, 0xfee00000ull, 0xffffffffull}) {
    auto pa = Translate(**mem, sregs.cr3, va);
    ASSERT_TRUE(pa.has_value()) << std::hex << va;
    EXPECT_EQ(*pa, va);
  }
  EXPECT_FALSE(Translate(**mem, sregs.cr3, 0x100000000ull).has_value());
}

TEST(Gdt, DescriptorsAreFlat) {
  auto mem = GuestMemory::Create(GuestMemory::X86Layout(32 << 20), {});
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(WriteGdt(**mem).ok());
  auto gdt =
      (*mem)->ReadObj<std::array<uint64_t, kGdtEntries>>(GuestAddr(kGdtAddr));
  ASSERT_TRUE(gdt.ok());
  EXPECT_EQ((*gdt)[0], 0u);
  // The well-known encodings: 32-bit code, 64-bit code, data (flat, G=1).
  EXPECT_EQ((*gdt)[kCode32Selector / 8], 0x00cf9b000000ffffull);
  EXPECT_EQ((*gdt)[kCode64Selector / 8], 0x00af9b000000ffffull);
  EXPECT_EQ((*gdt)[kDataSelector / 8], 0x00cf93000000ffffull);
  EXPECT_EQ((*gdt)[kTssSelector / 8], 0x00008b0000000067ull);
}

TEST(Gdt, LongModeSregsMatchBootProtocol) {
  Sregs s = LongModeSregs();
  EXPECT_EQ(s.cs.selector, 0x10);  // boot.rst __BOOT_CS
  EXPECT_EQ(s.cs.l, 1);
  EXPECT_EQ(s.cs.db, 0);
  EXPECT_EQ(s.ds.selector, 0x18);  // boot.rst __BOOT_DS
  EXPECT_EQ(s.ss.selector, 0x18);
  EXPECT_EQ(s.es.selector, 0x18);
  EXPECT_TRUE(s.cr0 & kCr0Pe);
  EXPECT_TRUE(s.cr0 & kCr0Pg);
  EXPECT_TRUE(s.cr4 & kCr4Pae);
  EXPECT_EQ(s.efer, kEferLme | kEferLma);
  EXPECT_EQ(s.cr3, kPml4Addr);
  EXPECT_EQ(s.gdt.base, kGdtAddr);
  EXPECT_EQ(s.gdt.limit, kGdtEntries * 8 - 1);
  EXPECT_EQ(s.apic_base, 0xfee00900u);
}

TEST(Gdt, ProtectedModeSregsHavePagingOff) {
  Sregs s = ProtectedModeSregs();
  EXPECT_EQ(s.cs.selector, kCode32Selector);
  EXPECT_EQ(s.cs.db, 1);
  EXPECT_EQ(s.cs.l, 0);
  EXPECT_EQ(s.cs.limit, 0xffffffffu);
  EXPECT_TRUE(s.cr0 & kCr0Pe);
  EXPECT_FALSE(s.cr0 & kCr0Pg);
  EXPECT_EQ(s.efer, 0u);
  EXPECT_EQ(s.cr4, 0u);
}

}  // namespace
}  // namespace skiff::boot
