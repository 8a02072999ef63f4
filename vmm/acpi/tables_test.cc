#include "vmm/acpi/tables.h"

#include <cstring>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vmm/boot/e820.h"
#include "vmm/boot/layout.h"

namespace skiff::acpi {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMemSize = 64 << 20;

uint16_t U16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b[off] | (b[off + 1] << 8));
}
uint32_t U32(const Bytes& b, size_t off) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | b[off + i];
  return v;
}
uint64_t U64(const Bytes& b, size_t off) {
  return U32(b, off) | (uint64_t{U32(b, off + 4)} << 32);
}
std::string Sig(const Bytes& b, size_t off = 0, size_t n = 4) {
  return std::string(b.begin() + off, b.begin() + off + n);
}

std::unique_ptr<GuestMemory> Memory() {
  auto m = GuestMemory::Create(GuestMemory::X86Layout(kMemSize), {});
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

Bytes ReadBack(const GuestMemory& m, uint64_t addr, size_t n) {
  Bytes b(n);
  EXPECT_TRUE(m.Read(GuestAddr(addr), absl::MakeSpan(b)).ok());
  return b;
}

// Reads a whole SDT from guest memory, checking header length and checksum.
Bytes ReadSdt(const GuestMemory& m, uint64_t addr, const std::string& sig) {
  Bytes hdr = ReadBack(m, addr, kSdtHeaderSize);
  EXPECT_EQ(Sig(hdr), sig);
  uint32_t len = U32(hdr, 4);
  EXPECT_GE(len, kSdtHeaderSize);
  Bytes t = ReadBack(m, addr, len);
  EXPECT_TRUE(ChecksumOk(t)) << sig;
  EXPECT_EQ(Sig(t, 10, 6), "SKIFF ");
  return t;
}

PlatformConfig TwoVirtio() {
  PlatformConfig c;
  c.num_vcpus = 4;
  c.virtio = {{0xd0000000, 0x1000, 5}, {0xd0001000, 0x1000, 16}};
  return c;
}

TEST(AcpiTables, WalkFromRsdpLikeAnOs) {
  auto mem = Memory();
  ASSERT_NE(mem, nullptr);
  PlatformConfig config = TwoVirtio();
  absl::StatusOr<AcpiLayout> layout =
      WriteAcpiTables(*mem, config, boot::kAcpiTablesAddr);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->rsdp_addr, boot::kAcpiTablesAddr);
  EXPECT_LE(layout->end, boot::kHighMemStart);
  EXPECT_TRUE(layout->e820_reserved.empty());

  // RSDP: both checksums, revision 2, XSDT pointer.
  Bytes rsdp = ReadBack(*mem, layout->rsdp_addr, 36);
  EXPECT_EQ(Sig(rsdp, 0, 8), "RSD PTR ");
  EXPECT_TRUE(ChecksumOk(absl::MakeConstSpan(rsdp.data(), 20)));
  EXPECT_TRUE(ChecksumOk(rsdp));
  EXPECT_EQ(rsdp[15], 2);
  EXPECT_EQ(U32(rsdp, 20), 36u);
  EXPECT_EQ(U64(rsdp, 24), layout->xsdt_addr);

  Bytes xsdt = ReadSdt(*mem, layout->xsdt_addr, "XSDT");
  ASSERT_EQ(xsdt.size(), kSdtHeaderSize + 16);
  EXPECT_EQ(U64(xsdt, 36), layout->fadt_addr);
  EXPECT_EQ(U64(xsdt, 44), layout->madt_addr);

  Bytes fadt = ReadSdt(*mem, layout->fadt_addr, "FACP");
  ASSERT_EQ(fadt.size(), 276u);
  EXPECT_EQ(fadt[8], 6);                         // revision
  EXPECT_EQ(U32(fadt, 36), layout->facs_addr);   // FIRMWARE_CTRL
  EXPECT_EQ(U32(fadt, 40), layout->dsdt_addr);   // DSDT
  EXPECT_EQ(U16(fadt, 46), 9);                   // SCI_INT
  EXPECT_EQ(U32(fadt, 48), 0u);                  // SMI_CMD
  EXPECT_EQ(U32(fadt, 56), 0x600u);              // PM1a_EVT_BLK
  EXPECT_EQ(U32(fadt, 64), 0x604u);              // PM1a_CNT_BLK
  EXPECT_EQ(fadt[88], 4);                        // PM1_EVT_LEN
  EXPECT_EQ(fadt[89], 2);                        // PM1_CNT_LEN
  EXPECT_EQ(U16(fadt, 109) & 0x2, 0x2);          // 8042
  EXPECT_EQ(U16(fadt, 109) & 0x4, 0x4);          // no VGA
  EXPECT_EQ(U16(fadt, 109) & 0x20, 0);           // CMOS RTC present
  EXPECT_EQ(U32(fadt, 112) & 0x1, 0x1u);         // WBINVD
  EXPECT_EQ(U32(fadt, 112) & 0x30, 0x30u);       // no fixed buttons
  EXPECT_EQ(U32(fadt, 112) & (1 << 20), 0u);     // not HW-reduced
  EXPECT_EQ(U64(fadt, 132), layout->facs_addr);  // X_FIRMWARE_CTRL
  EXPECT_EQ(U64(fadt, 140), layout->dsdt_addr);  // X_DSDT
  EXPECT_EQ(fadt[148], 1);                       // X_PM1a_EVT_BLK: I/O
  EXPECT_EQ(fadt[149], 32);
  EXPECT_EQ(U64(fadt, 152), 0x600u);
  EXPECT_EQ(fadt[173], 16);  // X_PM1a_CNT_BLK width
  EXPECT_EQ(U64(fadt, 176), 0x604u);

  Bytes facs = ReadBack(*mem, layout->facs_addr, 64);
  EXPECT_EQ(layout->facs_addr % 64, 0u);
  EXPECT_EQ(Sig(facs), "FACS");
  EXPECT_EQ(U32(facs, 4), 64u);

  Bytes madt = ReadSdt(*mem, layout->madt_addr, "APIC");
  EXPECT_EQ(U32(madt, 36), 0xfee00000u);
  EXPECT_EQ(U32(madt, 40), 1u);  // PCAT_COMPAT
  int lapics = 0, ioapics = 0, isos = 0, nmis = 0;
  bool sci_level = false, irq0_to_2 = false, gsi5_level = false;
  for (size_t off = 44; off < madt.size();) {
    uint8_t type = madt[off], len = madt[off + 1];
    ASSERT_GE(len, 2);
    ASSERT_LE(off + len, madt.size());
    switch (type) {
      case 0:
        EXPECT_EQ(madt[off + 3], lapics);  // APIC id
        EXPECT_EQ(U32(madt, off + 4), 1u);
        ++lapics;
        break;
      case 1:
        EXPECT_EQ(madt[off + 2], config.num_vcpus);
        EXPECT_EQ(U32(madt, off + 4), 0xfec00000u);
        EXPECT_EQ(U32(madt, off + 8), 0u);
        ++ioapics;
        break;
      case 2:
        ++isos;
        if (madt[off + 3] == 0 && U32(madt, off + 4) == 2) irq0_to_2 = true;
        if (madt[off + 3] == 9 && U16(madt, off + 8) == 0xd) sci_level = true;
        if (madt[off + 3] == 5 && U16(madt, off + 8) == 0xd) gsi5_level = true;
        break;
      case 4:
        EXPECT_EQ(madt[off + 5], 1);  // LINT1
        ++nmis;
        break;
      default:
        ADD_FAILURE() << "unexpected MADT entry type " << int{type};
    }
    off += len;
  }
  EXPECT_EQ(lapics, 4);
  EXPECT_EQ(ioapics, 1);
  EXPECT_EQ(isos, 3);
  EXPECT_EQ(nmis, 1);
  EXPECT_TRUE(irq0_to_2);
  EXPECT_TRUE(sci_level);
  EXPECT_TRUE(gsi5_level);

  Bytes dsdt = ReadSdt(*mem, layout->dsdt_addr, "DSDT");
  std::string text(dsdt.begin(), dsdt.end());
  EXPECT_THAT(text, HasSubstr("LNRO0005"));
  EXPECT_THAT(text, HasSubstr("_S5_"));
  EXPECT_THAT(text, HasSubstr("COM1"));
  EXPECT_THAT(text, HasSubstr("V001"));
}

TEST(AcpiTables, LegacyDevicesFollowConfig) {
  PlatformConfig c;
  c.has_i8042 = false;
  c.has_rtc = false;
  c.has_serial = false;
  Bytes fadt = BuildFadt(c, 0x1000, 0x2000);
  EXPECT_TRUE(ChecksumOk(fadt));
  EXPECT_EQ(U16(fadt, 109) & 0x2, 0);      // no 8042
  EXPECT_EQ(U16(fadt, 109) & 0x20, 0x20);  // no CMOS RTC
  EXPECT_EQ(fadt[108], 0);                 // no century register
  absl::StatusOr<Bytes> dsdt = BuildDsdt(c);
  ASSERT_TRUE(dsdt.ok());
  std::string text(dsdt->begin(), dsdt->end());
  EXPECT_THAT(text, ::testing::Not(HasSubstr("COM1")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("PS2K")));
  EXPECT_THAT(text, HasSubstr("_S5_"));
}

TEST(AcpiTables, HighBaseIsReservedInE820) {
  auto mem = Memory();
  ASSERT_NE(mem, nullptr);
  const uint64_t base = kMemSize - 0x10000;
  absl::StatusOr<AcpiLayout> layout = WriteAcpiTables(*mem, TwoVirtio(), base);
  ASSERT_TRUE(layout.ok()) << layout.status();
  ASSERT_EQ(layout->e820_reserved.size(), 1u);
  EXPECT_EQ(layout->e820_reserved[0].addr, base);
  EXPECT_EQ(layout->e820_reserved[0].end(), layout->end);
  EXPECT_EQ(layout->e820_reserved[0].type, boot::E820Type::kAcpi);
  // The loader's e820 builder accepts it.
  EXPECT_TRUE(boot::BuildE820Map(*mem, layout->e820_reserved).ok());
}

TEST(AcpiTables, MaxConfigFitsBelowOneMiB) {
  auto mem = Memory();
  ASSERT_NE(mem, nullptr);
  PlatformConfig c;
  c.num_vcpus = kMaxAcpiVcpus;
  for (int i = 0; i < kMaxVirtioDevices; ++i) {
    c.virtio.push_back({0xd0000000 + 0x1000ull * i, 0x1000,
                        static_cast<uint32_t>(10 + i % 14)});
  }
  absl::StatusOr<AcpiLayout> layout =
      WriteAcpiTables(*mem, c, boot::kAcpiTablesAddr);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_LE(layout->end, boot::kHighMemStart);
}

TEST(AcpiTables, RefusesBadConfigs) {
  auto mem = Memory();
  ASSERT_NE(mem, nullptr);
  auto fails = [&](const PlatformConfig& c, const std::string& why) {
    absl::StatusOr<AcpiLayout> l =
        WriteAcpiTables(*mem, c, boot::kAcpiTablesAddr);
    EXPECT_FALSE(l.ok()) << why;
    if (!l.ok()) {
      EXPECT_THAT(std::string(l.status().message()), HasSubstr(why));
    }
  };
  PlatformConfig c;
  c.num_vcpus = 0;
  fails(c, "vCPUs");
  c.num_vcpus = kMaxAcpiVcpus + 1;
  fails(c, "vCPUs");
  c = PlatformConfig();
  c.virtio = {{0xd0000000, 0x1000, 4}};
  fails(c, "legacy device");
  c.virtio = {{0xd0000000, 0x1000, 9}};
  fails(c, "legacy device");
  c.virtio = {{0xd0000000, 0x1000, 24}};
  fails(c, "pins");
  c.virtio = {{0xd0000000, 0x1000, 5}, {0xd0000800, 0x1000, 6}};
  fails(c, "overlap");
  c.virtio = {{0xd0000000, 0, 5}};
  fails(c, "empty");
  c.virtio = {{0xfffff000, 0x2000, 5}};
  fails(c, "crosses 4 GiB");
  c.virtio = {{0xd0000000, 0x1000, 5}, {0xd0001000, 0x1000, 5}};
  c.virtio_level_triggered = false;
  fails(c, "shares edge-triggered");
  c = PlatformConfig();
  c.pm_port_base = 0x3f8;
  fails(c, "COM1");
  c.pm_port_base = 0xfffe;
  fails(c, "usable port");
  c = PlatformConfig();
  c.irq0_gsi = 3;
  fails(c, "irq0_gsi");

  // Base address problems.
  EXPECT_FALSE(WriteAcpiTables(*mem, PlatformConfig(), 0xe0008).ok());
  EXPECT_FALSE(WriteAcpiTables(*mem, PlatformConfig(), 0xfff00).ok());
  EXPECT_FALSE(WriteAcpiTables(*mem, PlatformConfig(), kMemSize).ok());
}

TEST(AcpiTables, SharedLevelGsiMarkedShared) {
  PlatformConfig c;
  c.virtio = {{0xd0000000, 0x1000, 20}, {0xd0001000, 0x1000, 20}};
  absl::StatusOr<Bytes> dsdt = BuildDsdt(c);
  ASSERT_TRUE(dsdt.ok()) << dsdt.status();
  // Extended Interrupt descriptor: consumer | level | high | shared = 0x09.
  const uint8_t shared_irq[] = {0x89, 0x06, 0x00, 0x09, 0x01, 20, 0, 0, 0};
  EXPECT_NE(std::search(dsdt->begin(), dsdt->end(), std::begin(shared_irq),
                        std::end(shared_irq)),
            dsdt->end());
}

TEST(AcpiTables, EdgeVirtioAndIrq0Identity) {
  PlatformConfig c;
  c.virtio = {{0xd0000000, 0x1000, 5}};
  c.virtio_level_triggered = false;
  c.irq0_gsi = 0;
  absl::StatusOr<Bytes> madt = BuildMadt(c);
  ASSERT_TRUE(madt.ok());
  // 1 LAPIC (8) + IOAPIC (12) + SCI override (10) + NMI (6).
  EXPECT_EQ(madt->size(), 44u + 8 + 12 + 10 + 6);
  absl::StatusOr<Bytes> dsdt = BuildDsdt(c);
  ASSERT_TRUE(dsdt.ok());
  const uint8_t edge_irq[] = {0x89, 0x06, 0x00, 0x03, 0x01, 5, 0, 0, 0};
  EXPECT_NE(std::search(dsdt->begin(), dsdt->end(), std::begin(edge_irq),
                        std::end(edge_irq)),
            dsdt->end());
}

}  // namespace
}  // namespace skiff::acpi
