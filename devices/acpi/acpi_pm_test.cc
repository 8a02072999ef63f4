#include "devices/acpi/acpi_pm.h"

#include <memory>

#include "devices/bus.h"
#include "devices/testing/fakes.h"
#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

using testing::FakeMachineControl;

constexpr uint64_t kBase = AcpiPm::kDefaultPortBase;
constexpr uint64_t kCnt = kBase + AcpiPm::kPm1ControlOffset;
constexpr uint64_t kSts = kBase + AcpiPm::kPm1EventOffset;
constexpr uint64_t kEn = kSts + 2;

class AcpiPmTest : public ::testing::Test {
 protected:
  AcpiPmTest() {
    EXPECT_TRUE(pio_.Insert(std::make_shared<AcpiPm>(control_), kBase,
                            AcpiPm::kPortCount)
                    .ok());
  }
  uint16_t Read16(uint64_t port) {
    uint8_t b[2] = {0xaa, 0xaa};
    EXPECT_TRUE(pio_.Read(port, absl::MakeSpan(b)));
    return static_cast<uint16_t>(b[0] | (b[1] << 8));
  }
  void Write16(uint64_t port, uint16_t v) {
    const uint8_t b[2] = {static_cast<uint8_t>(v),
                          static_cast<uint8_t>(v >> 8)};
    EXPECT_TRUE(pio_.Write(port, b));
  }

  FakeMachineControl control_;
  Bus pio_{"pio"};
};

uint16_t SleepValue(int slp_typ, bool enable) {
  return static_cast<uint16_t>((slp_typ << AcpiPm::kSlpTypShift) |
                               (enable ? AcpiPm::kSlpEn : 0));
}

TEST_F(AcpiPmTest, SciEnAlwaysSet) {
  EXPECT_EQ(Read16(kCnt) & AcpiPm::kSciEn, AcpiPm::kSciEn);
  Write16(kCnt, 0);
  EXPECT_EQ(Read16(kCnt) & AcpiPm::kSciEn, AcpiPm::kSciEn);
  EXPECT_EQ(Read16(kSts), 0);
}

TEST_F(AcpiPmTest, S5PowersOffLikeAcpica) {
  // acpi_hw_legacy_sleep: SLP_TYP first, then SLP_TYP | SLP_EN.
  Write16(kCnt, SleepValue(AcpiPm::kS5SleepType, false) | AcpiPm::kSciEn);
  EXPECT_TRUE(control_.calls().empty());
  EXPECT_EQ((Read16(kCnt) & AcpiPm::kSlpTypMask) >> AcpiPm::kSlpTypShift,
            AcpiPm::kS5SleepType);
  Write16(kCnt, SleepValue(AcpiPm::kS5SleepType, true) | AcpiPm::kSciEn);
  auto calls = control_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].reason, StopReason::kPowerOff);
  EXPECT_EQ(calls[0].exit_status, 0);
  // SLP_EN is write-only.
  EXPECT_EQ(Read16(kCnt) & AcpiPm::kSlpEn, 0);
}

TEST_F(AcpiPmTest, ByteWritesOfControlRegister) {
  uint16_t v = SleepValue(AcpiPm::kS5SleepType, true);
  const uint8_t lo = static_cast<uint8_t>(v), hi = static_cast<uint8_t>(v >> 8);
  EXPECT_TRUE(pio_.Write(kCnt, absl::MakeConstSpan(&lo, 1)));
  EXPECT_TRUE(control_.calls().empty());
  EXPECT_TRUE(pio_.Write(kCnt + 1, absl::MakeConstSpan(&hi, 1)));
  ASSERT_EQ(control_.calls().size(), 1u);
  EXPECT_EQ(control_.calls()[0].reason, StopReason::kPowerOff);
}

TEST_F(AcpiPmTest, OtherSleepStatesIgnored) {
  for (int t : {0, 1, 2, 3, 4, 6, 7}) Write16(kCnt, SleepValue(t, true));
  EXPECT_TRUE(control_.calls().empty());
}

TEST_F(AcpiPmTest, EnableRegisterStoresKnownBits) {
  // ACPICA enables GBL_EN (bit 5) and checks that it sticks.
  Write16(kEn, 0xffff);
  EXPECT_EQ(Read16(kEn), AcpiPm::kPm1EnMask);
  Write16(kEn, 0x0020);
  EXPECT_EQ(Read16(kEn), 0x0020);
  // Writes of 1s to PM1_STS clear nothing and set nothing.
  Write16(kSts, 0xffff);
  EXPECT_EQ(Read16(kSts), 0);
  EXPECT_TRUE(control_.calls().empty());
}

TEST_F(AcpiPmTest, DwordAccessSpansStatusAndEnable) {
  const uint8_t b[4] = {0xff, 0xff, 0x20, 0x00};
  EXPECT_TRUE(pio_.Write(kSts, b));
  uint8_t r[4] = {};
  EXPECT_TRUE(pio_.Read(kSts, absl::MakeSpan(r)));
  EXPECT_EQ(r[0], 0);
  EXPECT_EQ(r[1], 0);
  EXPECT_EQ(r[2], 0x20);
  EXPECT_EQ(r[3], 0);
}

TEST_F(AcpiPmTest, UnalignedAccessDoesNotCrash) {
  AcpiPm pm(control_);
  uint8_t r[3];
  pm.Read(3, absl::MakeSpan(r));  // PM1_EN high byte, then PM1_CNT
  const uint8_t w[3] = {0xff, 0xff, 0xff};
  pm.Write(5, absl::MakeConstSpan(w, 1));  // PM1_CNT high byte: SLP_TYP 7
  EXPECT_TRUE(control_.calls().empty());
}

}  // namespace
}  // namespace skiff::devices
