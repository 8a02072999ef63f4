#include "vmm/acpi/aml.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vmm/acpi/iasl_test_util.h"

namespace skiff::acpi::aml {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

Bytes B(const Aml& a) {
  EXPECT_TRUE(a.ok()) << a.status();
  return a.bytes();
}

TEST(Aml, Integers) {
  EXPECT_THAT(B(Integer(0)), ElementsAre(0x00));
  EXPECT_THAT(B(Integer(1)), ElementsAre(0x01));
  EXPECT_THAT(B(Ones()), ElementsAre(0xff));
  EXPECT_THAT(B(Integer(0x12)), ElementsAre(0x0a, 0x12));
  EXPECT_THAT(B(Integer(0x1234)), ElementsAre(0x0b, 0x34, 0x12));
  EXPECT_THAT(B(Integer(0x12345678)),
              ElementsAre(0x0c, 0x78, 0x56, 0x34, 0x12));
  EXPECT_THAT(B(Integer(0x123456789)),
              ElementsAre(0x0e, 0x89, 0x67, 0x45, 0x23, 0x01, 0, 0, 0));
  EXPECT_THAT(B(Byte(0)), ElementsAre(0x0a, 0x00));
  EXPECT_THAT(B(Word(1)), ElementsAre(0x0b, 0x01, 0x00));
  EXPECT_THAT(B(DWord(0xff)), ElementsAre(0x0c, 0xff, 0, 0, 0));
  EXPECT_THAT(B(QWord(2)), ElementsAre(0x0e, 2, 0, 0, 0, 0, 0, 0, 0));
}

TEST(Aml, Strings) {
  EXPECT_THAT(B(String("ab")), ElementsAre(0x0d, 'a', 'b', 0x00));
  EXPECT_THAT(B(String("")), ElementsAre(0x0d, 0x00));
  EXPECT_FALSE(String(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(String("\xe9").ok());
}

TEST(Aml, EisaId) {
  // ACPI 6.4 section 19.6.35 example values as iasl encodes them.
  EXPECT_THAT(B(EisaId("PNP0501")), ElementsAre(0x0c, 0x41, 0xd0, 0x05, 0x01));
  EXPECT_THAT(B(EisaId("PNP0303")), ElementsAre(0x0c, 0x41, 0xd0, 0x03, 0x03));
  EXPECT_THAT(B(EisaId("PNP0A03")), ElementsAre(0x0c, 0x41, 0xd0, 0x0a, 0x03));
  EXPECT_FALSE(EisaId("pnp0501").ok());
  EXPECT_FALSE(EisaId("PNP050").ok());
  EXPECT_FALSE(EisaId("PNP05G1").ok());
}

TEST(Aml, NameStrings) {
  EXPECT_THAT(B(Path("_SB")), ElementsAre('_', 'S', 'B', '_'));
  EXPECT_THAT(B(Path("\\_SB.PCI0")),
              ElementsAre('\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'));
  EXPECT_THAT(B(Path("A.B.C")), ElementsAre(0x2f, 3, 'A', '_', '_', '_', 'B',
                                            '_', '_', '_', 'C', '_', '_', '_'));
  EXPECT_THAT(B(Path("^^FOO")), ElementsAre('^', '^', 'F', 'O', 'O', '_'));
  EXPECT_THAT(B(Path("\\")), ElementsAre('\\', 0x00));
  // PrefixPath NullName: the parent scope itself (section 20.2.2).
  EXPECT_THAT(B(Path("^")), ElementsAre('^', 0x00));
  for (const char* bad :
       {"", "abc", "TOOLONG", "1ABC", "A..B", "A.", ".A", "A B", "\\^A"}) {
    EXPECT_FALSE(NameString::Parse(bad).ok()) << bad;
  }
  absl::StatusOr<NameString> ok = NameString::Parse("V01F");
  ASSERT_TRUE(ok.ok());
  EXPECT_THAT(B(Path(*ok)), ElementsAre('V', '0', '1', 'F'));
}

TEST(Aml, PkgLengthBoundaries) {
  auto enc = [](size_t n) {
    absl::StatusOr<Bytes> b = EncodePkgLength(n);
    EXPECT_TRUE(b.ok());
    return b.ok() ? *b : Bytes{};
  };
  EXPECT_THAT(enc(0), ElementsAre(0x01));
  EXPECT_THAT(enc(62), ElementsAre(0x3f));
  // 63 + 2 = 65 = 0x41: low nibble in byte 0, the rest in byte 1.
  EXPECT_THAT(enc(63), ElementsAre(0x41, 0x04));
  EXPECT_THAT(enc(4093), ElementsAre(0x4f, 0xff));
  EXPECT_THAT(enc(4094), ElementsAre(0x81, 0x00, 0x01));
  EXPECT_THAT(enc((1 << 20) - 4), ElementsAre(0x8f, 0xff, 0xff));
  EXPECT_THAT(enc((1 << 20) - 3), ElementsAre(0xc1, 0x00, 0x00, 0x01));
  EXPECT_THAT(enc((1 << 28) - 5), ElementsAre(0xcf, 0xff, 0xff, 0xff));
  EXPECT_FALSE(EncodePkgLength((1 << 28) - 4).ok());
}

TEST(Aml, ResourceDescriptors) {
  EXPECT_THAT(B(IrqNoFlags(4)), ElementsAre(0x22, 0x10, 0x00));
  EXPECT_THAT(B(IrqNoFlags(12)), ElementsAre(0x22, 0x00, 0x10));
  EXPECT_FALSE(IrqNoFlags(16).ok());
  EXPECT_THAT(B(Io(0x3f8, 0x3f8, 1, 8)),
              ElementsAre(0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08));
  EXPECT_THAT(B(Memory32Fixed(true, 0xd0000000, 0x1000)),
              ElementsAre(0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00,
                          0x10, 0x00, 0x00));
  EXPECT_THAT(B(ExtendedInterrupt(5, {})),
              ElementsAre(0x89, 0x06, 0x00, 0x01, 0x01, 0x05, 0, 0, 0));
  EXPECT_THAT(B(ExtendedInterrupt(
                  17, {.edge = true, .active_low = true, .shared = true})),
              ElementsAre(0x89, 0x06, 0x00, 0x0f, 0x01, 17, 0, 0, 0));
  EXPECT_EQ(B(QWordMemory(true, 1ull << 32, 0x1000)).size(), 46u);
  EXPECT_FALSE(QWordMemory(true, 0, 0).ok());
  EXPECT_FALSE(QWordMemory(true, ~0ull, 2).ok());
  // Buffer(PkgLength 8, BufferSize 5, IRQ, End Tag).
  EXPECT_THAT(
      B(ResourceTemplate({IrqNoFlags(4)})),
      ElementsAre(0x11, 0x08, 0x0a, 0x05, 0x22, 0x10, 0x00, 0x79, 0x00));
}

TEST(Aml, NamedObjects) {
  EXPECT_THAT(B(Name("_UID", Zero())),
              ElementsAre(0x08, '_', 'U', 'I', 'D', 0x00));
  EXPECT_THAT(B(Package({Integer(5), Zero()})),
              ElementsAre(0x12, 0x05, 0x02, 0x0a, 0x05, 0x00));
  EXPECT_THAT(
      B(Method("_STA", 0, false, {Return(Integer(0x0f))})),
      ElementsAre(0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f));
  EXPECT_THAT(B(Method("FOO", 2, true, {})),
              ElementsAre(0x14, 0x06, 'F', 'O', 'O', '_', 0x0a));
  EXPECT_THAT(B(Device("COM1", {})),
              ElementsAre(0x5b, 0x82, 0x05, 'C', 'O', 'M', '1'));
  EXPECT_THAT(B(Scope("\\", {})), ElementsAre(0x10, 0x03, '\\', 0x00));
  EXPECT_FALSE(Method("FOO", 8, false, {}).ok());
}

TEST(Aml, LongBodiesUseMultiBytePkgLength) {
  AmlList many;
  for (int i = 0; i < 40; ++i) many.push_back(Integer(0x1234));  // 120 bytes
  Bytes dev = B(Device("BIG", many));
  // 4 name bytes + 120 = 124 (+2 PkgLength bytes = 126 = 0x7e).
  EXPECT_THAT(Bytes(dev.begin(), dev.begin() + 4),
              ElementsAre(0x5b, 0x82, 0x4e, 0x07));
  EXPECT_EQ(dev.size(), 2u + 2u + 124u);
}

TEST(Aml, ErrorsAreSticky) {
  Aml dev = Device("DEV", {Name("_CRS", ResourceTemplate({IrqNoFlags(20)}))});
  EXPECT_FALSE(dev.ok());
  EXPECT_THAT(std::string(dev.status().message()), HasSubstr("IRQNoFlags"));
  EXPECT_TRUE(dev.bytes().empty());
  Aml body;
  body.Append(Zero());
  body.Append(dev);
  body.Append(One());
  EXPECT_FALSE(body.Finish().ok());
  AmlList big(256, Zero());
  EXPECT_FALSE(Package(big).ok());
  big.pop_back();
  EXPECT_TRUE(Package(big).ok());
}

// The same definitions written in ASL and compiled by iasl must produce the
// same bytecode as the builder.
TEST(Aml, MatchesIaslCompiler) {
  if (!testing::IaslAvailable()) {
    GTEST_SKIP() << "iasl not installed (apt-get install acpica-tools)";
  }
  testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string asl = R"(
DefinitionBlock ("", "DSDT", 2, "SKIFF ", "SKIFFDSD", 1)
{
    Name (\_S5, Package () { 0x05, Zero, Zero, Zero })
    Scope (\_SB)
    {
        Device (COM1)
        {
            Name (_HID, EisaId ("PNP0501"))
            Name (_UID, Zero)
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08)
                IRQNoFlags () {4}
            })
            Method (_STA, 0, NotSerialized)
            {
                Return (0x0F)
            }
        }
        Device (V000)
        {
            Name (_HID, "LNRO0005")
            Name (_UID, 0x1F)
            Name (_CRS, ResourceTemplate ()
            {
                Memory32Fixed (ReadWrite, 0xD0000000, 0x00001000)
                Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) {5}
                Interrupt (ResourceConsumer, Edge, ActiveLow, Shared) {23}
                QWordMemory (ResourceConsumer, PosDecode, MinFixed, MaxFixed,
                    NonCacheable, ReadWrite, 0x0, 0x100000000, 0x100000FFF,
                    0x0, 0x1000)
            })
        }
        Name (BIG, 0x123456789)
        Name (WRD, 0x1234)
        Name (STR, "hello")
    }
}
)";
  absl::StatusOr<Bytes> compiled = testing::IaslCompile(dir, "ref", asl);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  ASSERT_GT(compiled->size(), 36u);
  Bytes expected(compiled->begin() + 36, compiled->end());

  Aml ours;
  ours.Append(Name("\\_S5", Package({Integer(5), Zero(), Zero(), Zero()})));
  ours.Append(Scope(
      "\\_SB",
      {
          Device("COM1",
                 {
                     Name("_HID", EisaId("PNP0501")),
                     Name("_UID", Zero()),
                     Name("_CRS", ResourceTemplate(
                                      {Io(0x3f8, 0x3f8, 1, 8), IrqNoFlags(4)})),
                     Method("_STA", 0, false, {Return(Integer(0x0f))}),
                 }),
          Device("V000",
                 {
                     Name("_HID", String("LNRO0005")),
                     Name("_UID", Integer(0x1f)),
                     Name("_CRS", ResourceTemplate({
                                      Memory32Fixed(true, 0xd0000000, 0x1000),
                                      ExtendedInterrupt(5, {}),
                                      ExtendedInterrupt(23, {.edge = true,
                                                             .active_low = true,
                                                             .shared = true}),
                                      QWordMemory(true, 1ull << 32, 0x1000),
                                  })),
                 }),
          Name("BIG", Integer(0x123456789)),
          Name("WRD", Integer(0x1234)),
          Name("STR", String("hello")),
      }));
  absl::StatusOr<Bytes> got = ours.Finish();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(*got, ElementsAreArray(expected));
}

}  // namespace
}  // namespace skiff::acpi::aml
