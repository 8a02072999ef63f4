#include "devices/legacy/cmos_rtc.h"

#include "absl/time/civil_time.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kGiB = 1024 * kMiB;

class FakeClock {
 public:
  absl::Time now = absl::FromCivil(absl::CivilSecond(2024, 2, 29, 23, 59, 58),
                                   absl::UTCTimeZone());
  CmosRtc::Clock AsClock() {
    return [this] { return now; };
  }
};

uint8_t ReadCmos(CmosRtc& rtc, uint8_t index) {
  rtc.Write(CmosRtc::kIndexOffset, absl::MakeConstSpan(&index, 1));
  uint8_t b = 0;
  rtc.Read(CmosRtc::kDataOffset, absl::MakeSpan(&b, 1));
  return b;
}

void WriteCmos(CmosRtc& rtc, uint8_t index, uint8_t value) {
  rtc.Write(CmosRtc::kIndexOffset, absl::MakeConstSpan(&index, 1));
  rtc.Write(CmosRtc::kDataOffset, absl::MakeConstSpan(&value, 1));
}

TEST(CmosRtc, TimeInBcdByDefault) {
  FakeClock clock;
  CmosRtc rtc(512 * kMiB, 0, clock.AsClock());
  EXPECT_EQ(ReadCmos(rtc, 0x0b), 0x02);  // 24-hour, BCD
  EXPECT_EQ(ReadCmos(rtc, 0x00), 0x58);
  EXPECT_EQ(ReadCmos(rtc, 0x02), 0x59);
  EXPECT_EQ(ReadCmos(rtc, 0x04), 0x23);
  EXPECT_EQ(ReadCmos(rtc, 0x06), 0x05);  // Thursday (Sunday = 1)
  EXPECT_EQ(ReadCmos(rtc, 0x07), 0x29);
  EXPECT_EQ(ReadCmos(rtc, 0x08), 0x02);
  EXPECT_EQ(ReadCmos(rtc, 0x09), 0x24);
  EXPECT_EQ(ReadCmos(rtc, 0x32), 0x20);
  // The clock moves with the host's.
  clock.now += absl::Seconds(3);
  EXPECT_EQ(ReadCmos(rtc, 0x00), 0x01);
  EXPECT_EQ(ReadCmos(rtc, 0x07), 0x01);
  EXPECT_EQ(ReadCmos(rtc, 0x08), 0x03);
}

TEST(CmosRtc, StatusRegisters) {
  FakeClock clock;
  CmosRtc rtc(512 * kMiB, 0, clock.AsClock());
  EXPECT_EQ(ReadCmos(rtc, 0x0a), 0x26);  // UIP clear
  EXPECT_EQ(ReadCmos(rtc, 0x0c), 0x00);
  EXPECT_EQ(ReadCmos(rtc, 0x0d), 0x80);  // VRT; bit 6 clear as Linux checks
  // UIP, C and D are read-only.
  WriteCmos(rtc, 0x0a, 0xa6);
  EXPECT_EQ(ReadCmos(rtc, 0x0a), 0x26);
  WriteCmos(rtc, 0x0d, 0x00);
  EXPECT_EQ(ReadCmos(rtc, 0x0d), 0x80);
}

TEST(CmosRtc, BinaryAnd12HourModes) {
  FakeClock clock;
  CmosRtc rtc(512 * kMiB, 0, clock.AsClock());
  WriteCmos(rtc, 0x0b, 0x06);  // binary, 24-hour
  EXPECT_EQ(ReadCmos(rtc, 0x00), 58);
  EXPECT_EQ(ReadCmos(rtc, 0x04), 23);
  EXPECT_EQ(ReadCmos(rtc, 0x09), 24);
  EXPECT_EQ(ReadCmos(rtc, 0x32), 20);
  WriteCmos(rtc, 0x0b, 0x04);  // binary, 12-hour: 11 PM
  EXPECT_EQ(ReadCmos(rtc, 0x04), 0x80 | 11);
  WriteCmos(rtc, 0x0b, 0x00);  // BCD, 12-hour
  EXPECT_EQ(ReadCmos(rtc, 0x04), 0x91);
  clock.now += absl::Seconds(2);  // midnight is 12 AM
  EXPECT_EQ(ReadCmos(rtc, 0x04), 0x12);
}

// mc146818_set_time(): set SET, write the fields, clear SET.
TEST(CmosRtc, GuestSetsTime) {
  FakeClock clock;
  CmosRtc rtc(512 * kMiB, 0, clock.AsClock());
  WriteCmos(rtc, 0x0b, 0x82);
  WriteCmos(rtc, 0x00, 0x30);
  WriteCmos(rtc, 0x02, 0x15);
  WriteCmos(rtc, 0x04, 0x08);
  WriteCmos(rtc, 0x07, 0x01);
  WriteCmos(rtc, 0x08, 0x01);
  WriteCmos(rtc, 0x09, 0x99);
  WriteCmos(rtc, 0x32, 0x19);
  // Frozen while SET.
  clock.now += absl::Seconds(5);
  EXPECT_EQ(ReadCmos(rtc, 0x00), 0x30);
  WriteCmos(rtc, 0x0b, 0x02);
  EXPECT_EQ(ReadCmos(rtc, 0x09), 0x99);
  EXPECT_EQ(ReadCmos(rtc, 0x32), 0x19);
  EXPECT_EQ(ReadCmos(rtc, 0x04), 0x08);
  clock.now += absl::Seconds(10);
  EXPECT_EQ(ReadCmos(rtc, 0x00), 0x40);
  EXPECT_EQ(ReadCmos(rtc, 0x02), 0x15);
}

TEST(CmosRtc, SingleFieldWriteWithoutSet) {
  FakeClock clock;
  CmosRtc rtc(512 * kMiB, 0, clock.AsClock());
  WriteCmos(rtc, 0x09, 0x25);  // year 2025; the rest keeps running
  EXPECT_EQ(ReadCmos(rtc, 0x09), 0x25);
  EXPECT_EQ(ReadCmos(rtc, 0x00), 0x58);
}

TEST(CmosRtc, GarbageTimeDoesNotCrash) {
  FakeClock clock;
  CmosRtc rtc(512 * kMiB, 0, clock.AsClock());
  WriteCmos(rtc, 0x0b, 0x80);
  for (uint8_t reg : {0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32})
    WriteCmos(rtc, reg, 0xff);
  WriteCmos(rtc, 0x0b, 0x00);
  for (uint8_t reg : {0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32})
    ReadCmos(rtc, reg);
}

TEST(CmosRtc, IndexPortAndNmiMask) {
  CmosRtc rtc(512 * kMiB, 0);
  uint8_t index = 0x80 | 0x40;
  rtc.Write(CmosRtc::kIndexOffset, absl::MakeConstSpan(&index, 1));
  EXPECT_TRUE(rtc.nmi_masked());
  uint8_t value = 0x5a;
  rtc.Write(CmosRtc::kDataOffset, absl::MakeConstSpan(&value, 1));
  EXPECT_EQ(ReadCmos(rtc, 0x40), 0x5a);  // NVRAM byte 0x40
  EXPECT_FALSE(rtc.nmi_masked());
  uint8_t b = 0;
  rtc.Read(CmosRtc::kIndexOffset, absl::MakeSpan(&b, 1));
  EXPECT_EQ(b, 0xff);
}

TEST(CmosRtc, MemorySize512MiB) {
  CmosRtc rtc(512 * kMiB, 0);
  // 640 KiB base memory.
  EXPECT_EQ(ReadCmos(rtc, 0x15), 0x80);
  EXPECT_EQ(ReadCmos(rtc, 0x16), 0x02);
  // 511 MiB above 1 MiB in KiB is above 0xffff: capped.
  EXPECT_EQ(ReadCmos(rtc, 0x17), 0xff);
  EXPECT_EQ(ReadCmos(rtc, 0x18), 0xff);
  EXPECT_EQ(ReadCmos(rtc, 0x30), 0xff);
  EXPECT_EQ(ReadCmos(rtc, 0x31), 0xff);
  // (512 - 16) MiB / 64 KiB = 7936 = 0x1f00.
  EXPECT_EQ(ReadCmos(rtc, 0x34), 0x00);
  EXPECT_EQ(ReadCmos(rtc, 0x35), 0x1f);
  EXPECT_EQ(ReadCmos(rtc, 0x5b), 0);
  EXPECT_EQ(ReadCmos(rtc, 0x5c), 0);
  EXPECT_EQ(ReadCmos(rtc, 0x5d), 0);
}

TEST(CmosRtc, MemorySize32MiB) {
  CmosRtc rtc(32 * kMiB, 0);
  // 31 MiB = 31744 KiB = 0x7c00.
  EXPECT_EQ(ReadCmos(rtc, 0x17), 0x00);
  EXPECT_EQ(ReadCmos(rtc, 0x18), 0x7c);
  // 16 MiB / 64 KiB = 256.
  EXPECT_EQ(ReadCmos(rtc, 0x34), 0x00);
  EXPECT_EQ(ReadCmos(rtc, 0x35), 0x01);
}

// 4 GiB of RAM with a 1 GiB hole below 4 GiB: 3 GiB below, 1 GiB above.
TEST(CmosRtc, MemorySize4GiB) {
  CmosRtc rtc(3 * kGiB, 1 * kGiB);
  // (3 GiB - 16 MiB) / 64 KiB = 48896 = 0xbf00.
  EXPECT_EQ(ReadCmos(rtc, 0x34), 0x00);
  EXPECT_EQ(ReadCmos(rtc, 0x35), 0xbf);
  // 1 GiB / 64 KiB = 16384 = 0x004000.
  EXPECT_EQ(ReadCmos(rtc, 0x5b), 0x00);
  EXPECT_EQ(ReadCmos(rtc, 0x5c), 0x40);
  EXPECT_EQ(ReadCmos(rtc, 0x5d), 0x00);
}

TEST(CmosRtc, MemoryBelow16MiBCapsAt0xffffUnits) {
  // Nearly 4 GiB below the boundary still fits 16 bits: (4G-16M)/64K =
  // 65280. Check the cap logic with a hypothetical larger value.
  CmosRtc rtc(4 * kGiB, 0);
  EXPECT_EQ(ReadCmos(rtc, 0x34), 0x00);
  EXPECT_EQ(ReadCmos(rtc, 0x35), 0xff);
}

}  // namespace
}  // namespace skiff::devices
