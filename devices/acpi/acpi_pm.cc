#include "devices/acpi/acpi_pm.h"

namespace skiff::devices {
namespace {

constexpr uint64_t kPm1StsOffset = 0;
constexpr uint64_t kPm1EnOffset = 2;
constexpr uint64_t kPm1CntOffset = AcpiPm::kPm1ControlOffset;
static_assert(kPm1EnOffset + 2 ==
              AcpiPm::kPm1EventOffset + AcpiPm::kPm1EventLength);

}  // namespace

uint16_t AcpiPm::ReadRegister(uint64_t reg_offset) const {
  switch (reg_offset) {
    case kPm1StsOffset:
      return 0;  // no fixed event is ever pending
    case kPm1EnOffset:
      return pm1_en_;
    case kPm1CntOffset:
      // SLP_EN and GBL_RLS are write-only and read as 0.
      return static_cast<uint16_t>((pm1_cnt_ | kSciEn) &
                                   (kSciEn | kBmRld | kSlpTypMask));
    default:
      return 0xffff;
  }
}

int AcpiPm::WriteRegister(uint64_t reg_offset, uint16_t value,
                          unsigned byte_mask) {
  uint16_t mask = static_cast<uint16_t>((byte_mask & 1 ? 0x00ff : 0) |
                                        (byte_mask & 2 ? 0xff00 : 0));
  switch (reg_offset) {
    case kPm1StsOffset:
      // Write-1-to-clear, and nothing is ever set.
      return -1;
    case kPm1EnOffset:
      pm1_en_ = static_cast<uint16_t>((pm1_en_ & ~mask) |
                                      (value & mask & kPm1EnMask));
      return -1;
    case kPm1CntOffset: {
      uint16_t stored = kBmRld | kSlpTypMask;
      pm1_cnt_ = static_cast<uint16_t>((pm1_cnt_ & ~(mask & stored)) |
                                       (value & mask & stored) | kSciEn);
      // SLP_EN is in the high byte: the sleep type is the one in PM1_CNT
      // after this write (ACPICA writes SLP_TYP first, then SLP_TYP|SLP_EN).
      if ((mask & kSlpEn) && (value & kSlpEn)) {
        return (pm1_cnt_ & kSlpTypMask) >> kSlpTypShift;
      }
      return -1;
    }
    default:
      return -1;
  }
}

void AcpiPm::Read(uint64_t offset, absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t byte = offset + i;
    uint16_t reg = ReadRegister(byte & ~uint64_t{1});
    data[i] = static_cast<uint8_t>(reg >> (8 * (byte & 1)));
  }
}

void AcpiPm::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  int sleep_type = -1;
  {
    absl::MutexLock lock(&mu_);
    // Group the bytes by 16-bit register so a word write of PM1_CNT is
    // applied at once (SLP_TYP and SLP_EN together).
    size_t i = 0;
    while (i < data.size()) {
      uint64_t reg = (offset + i) & ~uint64_t{1};
      uint16_t value = 0;
      unsigned byte_mask = 0;
      while (i < data.size() && ((offset + i) & ~uint64_t{1}) == reg) {
        unsigned idx = (offset + i) & 1;
        value = static_cast<uint16_t>(value | (data[i] << (8 * idx)));
        byte_mask |= 1u << idx;
        ++i;
      }
      int t = WriteRegister(reg, value, byte_mask);
      if (t >= 0) sleep_type = t;
    }
  }
  if (sleep_type < 0) return;
  if (sleep_type == kS5SleepType) {
    SKIFF_LOG(kInfo, "acpi-pm: guest requested S5 (soft-off)");
    control_.RequestStop(StopReason::kPowerOff, 0);
    return;
  }
  if (log_limiter_.Allow()) {
    SKIFF_LOG(kWarn,
              "acpi-pm: ignored sleep request slp_typ=%d (only S5 slp_typ=%d "
              "is implemented)",
              sleep_type, kS5SleepType);
  }
}

}  // namespace skiff::devices
