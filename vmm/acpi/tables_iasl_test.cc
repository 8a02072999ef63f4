// Runs ACPICA's disassembler on every generated table: iasl must accept
// each one and show the fields we meant to write.
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vmm/acpi/iasl_test_util.h"
#include "vmm/acpi/tables.h"

namespace skiff::acpi {
namespace {

using ::testing::HasSubstr;
using testing::IaslDisassemble;
using ::testing::Not;
using testing::TempDir;

#define SKIP_WITHOUT_IASL()                                              \
  if (!testing::IaslAvailable()) {                                       \
    GTEST_SKIP() << "iasl not installed (apt-get install acpica-tools)"; \
  }

int CountOccurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// iasl reports table problems in its output and the .dsl as "Error" or
// "Warning" lines (it still exits 0 for many of them).
void ExpectClean(const testing::IaslResult& r, const std::string& what) {
  // "****" starts the disassembler's own complaints about a table.
  for (const char* bad :
       {"Error", "Warning", "Invalid", "Incorrect checksum", "**** "}) {
    EXPECT_EQ(r.output.find(bad), std::string::npos)
        << what << ": iasl said \"" << bad << "\":\n"
        << r.output;
    size_t at = r.text.find(bad);
    EXPECT_EQ(at, std::string::npos)
        << what << ": disassembly says \"" << bad << "\" at:\n"
        << r.text.substr(
               at == std::string::npos ? 0 : (at > 400 ? at - 400 : 0), 800);
  }
}

PlatformConfig SampleConfig() {
  PlatformConfig c;
  c.num_vcpus = 3;
  c.virtio = {{0xd0000000, 0x1000, 5},
              {0xd0001000, 0x1000, 16},
              {0x100000000ull, 0x1000, 17}};
  return c;
}

TEST(AcpiTablesIasl, DsdtDisassembles) {
  SKIP_WITHOUT_IASL();
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  absl::StatusOr<Bytes> dsdt = BuildDsdt(SampleConfig());
  ASSERT_TRUE(dsdt.ok()) << dsdt.status();
  auto r = IaslDisassemble(dir, "dsdt", *dsdt);
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectClean(*r, "DSDT");
  EXPECT_THAT(r->text, HasSubstr("\"LNRO0005\""));
  EXPECT_EQ(CountOccurrences(r->text, "\"LNRO0005\""), 3);
  EXPECT_THAT(r->text, HasSubstr("EisaId (\"PNP0501\")"));
  EXPECT_THAT(r->text, HasSubstr("EisaId (\"PNP0303\")"));
  EXPECT_THAT(r->text, HasSubstr("_S5_"));
  EXPECT_THAT(r->text, HasSubstr("0x03F8"));
  EXPECT_THAT(r->text, HasSubstr("IRQNoFlags ()\n                    {4}"));
  EXPECT_THAT(r->text, HasSubstr("Memory32Fixed (ReadWrite,\n"));
  EXPECT_THAT(r->text, HasSubstr("0xD0001000"));
  EXPECT_THAT(r->text, HasSubstr("QWordMemory (ResourceConsumer"));
  EXPECT_THAT(r->text,
              HasSubstr("Interrupt (ResourceConsumer, Level, ActiveHigh, "
                        "Exclusive, ,, )"));
  EXPECT_THAT(r->text, HasSubstr("0x00000011,"));  // GSI 17

  // Round trip: the disassembly compiles back to the same bytecode.
  absl::StatusOr<Bytes> again = testing::IaslCompile(dir, "again", r->text);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_GT(again->size(), kSdtHeaderSize);
  EXPECT_EQ(Bytes(again->begin() + kSdtHeaderSize, again->end()),
            Bytes(dsdt->begin() + kSdtHeaderSize, dsdt->end()));
}

TEST(AcpiTablesIasl, FixedTablesDisassemble) {
  SKIP_WITHOUT_IASL();
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  PlatformConfig c = SampleConfig();

  auto fadt = IaslDisassemble(dir, "facp", BuildFadt(c, 0xe0040, 0xe1000));
  ASSERT_TRUE(fadt.ok()) << fadt.status();
  ExpectClean(*fadt, "FADT");
  EXPECT_THAT(fadt->text, HasSubstr("Fixed ACPI Description Table"));
  EXPECT_THAT(fadt->text, HasSubstr("PM1A Event Block Address : 00000600"));
  EXPECT_THAT(fadt->text, HasSubstr("PM1A Control Block Address : 00000604"));
  EXPECT_THAT(fadt->text, HasSubstr("SCI Interrupt : 0009"));
  EXPECT_THAT(fadt->text, HasSubstr("DSDT Address : 000E1000"));
  EXPECT_THAT(fadt->text, HasSubstr("8042 Present on ports 60/64 (V2) : 1"));
  EXPECT_THAT(fadt->text, HasSubstr("Hardware Reduced (V5) : 0"));

  absl::StatusOr<Bytes> madt_bytes = BuildMadt(c);
  ASSERT_TRUE(madt_bytes.ok());
  auto madt = IaslDisassemble(dir, "apic", *madt_bytes);
  ASSERT_TRUE(madt.ok()) << madt.status();
  ExpectClean(*madt, "MADT");
  // 3 local APICs, 1 IOAPIC, 3 overrides (IRQ0, SCI, level GSI 5), 1 NMI.
  EXPECT_EQ(CountOccurrences(madt->text, "Subtable Type"), 8);
  EXPECT_EQ(CountOccurrences(madt->text, "Processor Local APIC]"), 3);
  EXPECT_EQ(CountOccurrences(madt->text, "Interrupt Source Override]"), 3);
  EXPECT_THAT(madt->text, HasSubstr("Address : FEC00000"));
  EXPECT_THAT(madt->text, HasSubstr("Local Apic Address : FEE00000"));

  auto xsdt = IaslDisassemble(dir, "xsdt", BuildXsdt({{0xe0100, 0xe0200}}));
  ASSERT_TRUE(xsdt.ok()) << xsdt.status();
  ExpectClean(*xsdt, "XSDT");
  EXPECT_THAT(xsdt->text, HasSubstr("00000000000E0200"));

  auto facs = IaslDisassemble(dir, "facs", BuildFacs());
  ASSERT_TRUE(facs.ok()) << facs.status();
  ExpectClean(*facs, "FACS");

  // iasl 20200925 does not disassemble a bare RSDP file ("does not contain
  // a valid ACPI table"); tables_test.cc checks it field by field.
}

// ACPICA's own interpreter loads the whole set (FADT, FACS, DSDT, MADT),
// builds the namespace and evaluates \_S5 and a _CRS, as Linux's ACPICA
// would at boot and at power-off.
TEST(AcpiTablesIasl, AcpiExecLoadsAndEvaluates) {
  if (!testing::AcpiExecAvailable()) {
    GTEST_SKIP() << "acpiexec not installed (apt-get install acpica-tools)";
  }
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  PlatformConfig c = SampleConfig();
  absl::StatusOr<Bytes> dsdt = BuildDsdt(c);
  absl::StatusOr<Bytes> madt = BuildMadt(c);
  ASSERT_TRUE(dsdt.ok() && madt.ok());
  absl::StatusOr<std::string> out =
      testing::AcpiExec(dir,
                        {{"dsdt", *dsdt},
                         {"facp", BuildFadt(c, 0xe0040, 0xe1000)},
                         {"facs", BuildFacs()},
                         {"apic", *madt}},
                        "evaluate \\_S5; evaluate \\_SB.V000._CRS");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(*out, HasSubstr("1 ACPI AML tables successfully acquired"));
  EXPECT_THAT(*out, HasSubstr("[Package] Contains 4 Elements"));
  EXPECT_THAT(*out, HasSubstr("[Integer] = 0000000000000005"));
  // Memory32Fixed at 0xd0000000 and the level interrupt on GSI 5.
  EXPECT_THAT(*out, HasSubstr("86 09 00 01 00 00 00 D0 00 10 00 00 89 06"));
  EXPECT_THAT(*out, HasSubstr("No outstanding allocations"));
  for (const char* bad : {"Error", "ERROR", "Exception", "AE_NOT_FOUND"}) {
    EXPECT_EQ(out->find(bad), std::string::npos) << bad << "\n" << *out;
  }
}

// Random configurations across the whole allowed range all produce tables
// that iasl accepts. A fixed seed keeps it reproducible; a handful of cases
// keeps it fast.
TEST(AcpiTablesIasl, RandomConfigsAccepted) {
  SKIP_WITHOUT_IASL();
  std::mt19937 rng(20261123);
  for (int round = 0; round < 6; ++round) {
    PlatformConfig c;
    c.num_vcpus = std::uniform_int_distribution<int>(1, kMaxAcpiVcpus)(rng);
    if (round == 0) c.num_vcpus = kMaxAcpiVcpus;
    int n = std::uniform_int_distribution<int>(0, 32)(rng);
    if (round == 0) n = 32;
    c.has_i8042 = rng() % 2;
    c.has_serial = rng() % 2;
    c.has_rtc = rng() % 2;
    c.irq0_gsi = rng() % 2 ? 2 : 0;
    for (int i = 0; i < n; ++i) {
      // Level GSIs 5-7 and 10-23 (shared when n exceeds them).
      static constexpr uint32_t kFree[] = {5,  6,  7,  10, 11, 12, 13, 14, 15,
                                           16, 17, 18, 19, 20, 21, 22, 23};
      c.virtio.push_back(
          {0xd0000000ull + 0x1000ull * i, 0x1000, kFree[rng() % 17]});
    }
    SCOPED_TRACE(absl::StrFormat("round %d: %d vCPUs, %d virtio", round,
                                 c.num_vcpus, n));
    TempDir dir;
    ASSERT_TRUE(dir.ok());
    absl::StatusOr<Bytes> dsdt = BuildDsdt(c);
    ASSERT_TRUE(dsdt.ok()) << dsdt.status();
    auto d = IaslDisassemble(dir, "dsdt", *dsdt);
    ASSERT_TRUE(d.ok()) << d.status();
    ExpectClean(*d, "DSDT");
    EXPECT_EQ(CountOccurrences(d->text, "\"LNRO0005\""), n);
    absl::StatusOr<Bytes> madt_bytes = BuildMadt(c);
    ASSERT_TRUE(madt_bytes.ok());
    auto m = IaslDisassemble(dir, "apic", *madt_bytes);
    ASSERT_TRUE(m.ok()) << m.status();
    ExpectClean(*m, "MADT");
    EXPECT_EQ(CountOccurrences(m->text, "Processor Local APIC]"), c.num_vcpus);
    auto f = IaslDisassemble(dir, "facp", BuildFadt(c, 0xe0040, 0xe1000));
    ASSERT_TRUE(f.ok()) << f.status();
    ExpectClean(*f, "FADT");
  }
}

}  // namespace
}  // namespace skiff::acpi
