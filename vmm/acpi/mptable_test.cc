#include "vmm/acpi/mptable.h"

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vmm/boot/layout.h"

namespace skiff::acpi {
namespace {

using ::testing::HasSubstr;

struct Parsed {
  int processors = 0;
  int bsp_count = 0;
  std::vector<uint8_t> apic_ids;
  std::string bus_type;
  int ioapic_id = -1;
  uint32_t ioapic_addr = 0;
  std::map<int, int> irq_to_pin;  // ISA IRQ -> IOAPIC pin
  int extint_lint = -1;
  int nmi_lint = -1;
  uint32_t config_len = 0;
};

std::unique_ptr<GuestMemory> Memory() {
  auto m = GuestMemory::Create(GuestMemory::X86Layout(16 << 20), {});
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

Bytes Read(const GuestMemory& m, uint64_t addr, size_t n) {
  Bytes b(n);
  EXPECT_TRUE(m.Read(GuestAddr(addr), absl::MakeSpan(b)).ok());
  return b;
}
uint16_t U16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b[off] | (b[off + 1] << 8));
}
uint32_t U32(const Bytes& b, size_t off) {
  return b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) |
         (uint32_t{b[off + 3]} << 24);
}

// Linux arch/x86/kernel/mpparse.c: smp_scan_config() over the EBDA's first
// KiB, then smp_check_mpc() and the smp_read_mpc() entry walk.
std::optional<Parsed> ParseLikeLinux(const GuestMemory& m) {
  Bytes area = Read(m, boot::kEbdaStart, 1024);
  std::optional<size_t> mpf;
  for (size_t off = 0; off + 16 <= area.size(); off += 16) {
    Bytes f(area.begin() + off, area.begin() + off + 16);
    if (std::string(f.begin(), f.begin() + 4) == "_MP_" && f[8] == 1 &&
        ChecksumOk(f) && (f[9] == 1 || f[9] == 4)) {
      mpf = off;
      break;
    }
  }
  if (!mpf) return std::nullopt;
  uint32_t physptr = U32(area, *mpf + 4);
  if (area[*mpf + 11] != 0) return std::nullopt;  // feature1: table follows
  Bytes hdr = Read(m, physptr, 44);
  if (std::string(hdr.begin(), hdr.begin() + 4) != "PCMP") return std::nullopt;
  Parsed p;
  p.config_len = U16(hdr, 4);
  Bytes mpc = Read(m, physptr, p.config_len);
  if (!ChecksumOk(mpc)) return std::nullopt;
  if (mpc[6] != 1 && mpc[6] != 4) return std::nullopt;
  if (U32(mpc, 36) == 0) return std::nullopt;  // no local APIC address
  int entries = 0;
  for (size_t off = 44; off < mpc.size();) {
    ++entries;
    switch (mpc[off]) {
      case 0:
        if (mpc[off + 3] & 1) {
          ++p.processors;
          p.apic_ids.push_back(mpc[off + 1]);
          if (mpc[off + 3] & 2) ++p.bsp_count;
        }
        off += 20;
        break;
      case 1:
        p.bus_type = std::string(mpc.begin() + off + 2, mpc.begin() + off + 8);
        off += 8;
        break;
      case 2:
        p.ioapic_id = mpc[off + 1];
        p.ioapic_addr = U32(mpc, off + 4);
        off += 8;
        break;
      case 3:
        if (mpc[off + 6] != p.ioapic_id) return std::nullopt;
        p.irq_to_pin[mpc[off + 5]] = mpc[off + 7];
        off += 8;
        break;
      case 4:
        if (mpc[off + 1] == 3) p.extint_lint = mpc[off + 7];
        if (mpc[off + 1] == 1) p.nmi_lint = mpc[off + 7];
        off += 8;
        break;
      default:
        return std::nullopt;  // "Unknown MP table entry type"
    }
    if (off > mpc.size()) return std::nullopt;
  }
  if (entries != U16(mpc, 34)) return std::nullopt;
  return p;
}

TEST(MpTable, ParsesLikeLinux) {
  auto mem = Memory();
  ASSERT_NE(mem, nullptr);
  ASSERT_TRUE(WriteMpTable(*mem, 4, boot::kMpTableAddr).ok());
  std::optional<Parsed> p = ParseLikeLinux(*mem);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->processors, 4);
  EXPECT_EQ(p->bsp_count, 1);
  EXPECT_EQ(p->apic_ids, (std::vector<uint8_t>{0, 1, 2, 3}));
  EXPECT_EQ(p->bus_type, "ISA   ");
  EXPECT_EQ(p->ioapic_id, 4);
  EXPECT_EQ(p->ioapic_addr, 0xfec00000u);
  EXPECT_EQ(p->irq_to_pin.size(), 15u);
  EXPECT_EQ(p->irq_to_pin[0], 2);
  EXPECT_EQ(p->irq_to_pin.count(2), 0u);
  for (int irq = 1; irq < 16; ++irq) {
    if (irq != 2) {
      EXPECT_EQ(p->irq_to_pin[irq], irq);
    }
  }
  EXPECT_EQ(p->extint_lint, 0);
  EXPECT_EQ(p->nmi_lint, 1);
}

TEST(MpTable, Irq0IdentityAndExtraIrqs) {
  auto mem = Memory();
  ASSERT_NE(mem, nullptr);
  MpTableConfig c;
  c.num_vcpus = 2;
  c.irq0_pin = 0;
  c.extra_irqs = {16, 17, 23};
  ASSERT_TRUE(WriteMpTable(*mem, c, boot::kMpTableAddr).ok());
  std::optional<Parsed> p = ParseLikeLinux(*mem);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->irq_to_pin.size(), 19u);
  EXPECT_EQ(p->irq_to_pin[0], 0);
  EXPECT_EQ(p->irq_to_pin[2], 2);
  EXPECT_EQ(p->irq_to_pin[23], 23);
}

TEST(MpTable, FitsTheEbdaUpToTheCap) {
  auto mem = Memory();
  ASSERT_NE(mem, nullptr);
  absl::StatusOr<Bytes> t = BuildMpTable({kMaxMpTableVcpus}, 0x9fc00);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_LE(t->size(), kMpTableAreaSize);
  ASSERT_TRUE(WriteMpTable(*mem, kMaxMpTableVcpus, boot::kMpTableAddr).ok());
  std::optional<Parsed> p = ParseLikeLinux(*mem);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->processors, kMaxMpTableVcpus);
  EXPECT_EQ(p->ioapic_id, kMaxMpTableVcpus);
  EXPECT_LE(16 + p->config_len, kMpTableAreaSize);
}

TEST(MpTable, RefusesWhatDoesNotFit) {
  auto mem = Memory();
  ASSERT_NE(mem, nullptr);
  absl::Status s = WriteMpTable(*mem, kMaxMpTableVcpus + 1, boot::kMpTableAddr);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("EBDA"));
  EXPECT_FALSE(WriteMpTable(*mem, 0, boot::kMpTableAddr).ok());
  MpTableConfig c;
  c.num_vcpus = kMaxMpTableVcpus;
  c.extra_irqs = {16, 17, 18, 19, 20, 21, 22, 23};
  EXPECT_EQ(WriteMpTable(*mem, c, boot::kMpTableAddr).code(),
            absl::StatusCode::kResourceExhausted);
  c.num_vcpus = 1;
  c.extra_irqs = {15};
  EXPECT_FALSE(WriteMpTable(*mem, c, boot::kMpTableAddr).ok());
  c.extra_irqs = {16, 16};
  EXPECT_FALSE(WriteMpTable(*mem, c, boot::kMpTableAddr).ok());
  c.extra_irqs = {};
  c.irq0_pin = 1;
  EXPECT_FALSE(WriteMpTable(*mem, c, boot::kMpTableAddr).ok());
  // Outside guest RAM: an error, not a crash.
  EXPECT_FALSE(WriteMpTable(*mem, 1, 0xfff00000).ok());
  EXPECT_FALSE(WriteMpTable(*mem, 1, 0x9fc08).ok());
}

}  // namespace
}  // namespace skiff::acpi
