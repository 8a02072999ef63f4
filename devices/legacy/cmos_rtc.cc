#include "devices/legacy/cmos_rtc.h"

#include <algorithm>
#include <cstdint>

#include "absl/time/civil_time.h"

namespace skiff::devices {
namespace {

// Clock registers (MC146818A figure 3).
constexpr uint8_t kSeconds = 0x00;
constexpr uint8_t kMinutes = 0x02;
constexpr uint8_t kHours = 0x04;
constexpr uint8_t kWeekday = 0x06;
constexpr uint8_t kDayOfMonth = 0x07;
constexpr uint8_t kMonth = 0x08;
constexpr uint8_t kYear = 0x09;
constexpr uint8_t kRegA = 0x0a;
constexpr uint8_t kRegB = 0x0b;
constexpr uint8_t kRegC = 0x0c;
constexpr uint8_t kRegD = 0x0d;
// The century byte: the IBM PC/AT location, which ACPI's FADT CENTURY
// field conventionally points at.
constexpr uint8_t kCentury = 0x32;

// Register A: divider 010 (32.768 kHz time base), rate 0110 (1024 Hz), the
// value QEMU resets to. Bit 7 (UIP) is read-only and always clear here, so
// readers never wait for an update cycle.
constexpr uint8_t kRegADefault = 0x26;
constexpr uint8_t kRegAUip = 0x80;
// Register B.
constexpr uint8_t kRegBSet = 0x80;
constexpr uint8_t kRegBBinary = 0x04;
constexpr uint8_t kRegB24Hour = 0x02;
// Register D: valid RAM and time. Linux checks bit 6 reads 0.
constexpr uint8_t kRegDVrt = 0x80;

constexpr uint8_t kHourPm = 0x80;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

bool IsClockRegister(uint8_t index) {
  switch (index) {
    case kSeconds:
    case kMinutes:
    case kHours:
    case kWeekday:
    case kDayOfMonth:
    case kMonth:
    case kYear:
    case kCentury:
      return true;
  }
  return false;
}

int PositiveMod(int64_t value, int64_t divisor) {
  return static_cast<int>(((value % divisor) + divisor) % divisor);
}

}  // namespace

CmosRtc::CmosRtc(uint64_t ram_below_4g, uint64_t ram_above_4g, Clock clock)
    : clock_(std::move(clock)) {
  absl::MutexLock lock(&mu_);
  cmos_[kRegA] = kRegADefault;
  cmos_[kRegB] = kRegB24Hour;
  cmos_[kRegD] = kRegDVrt;

  // Memory size, as QEMU's pc_cmos_init() writes it (SeaBIOS reads these).
  // Base memory in KiB, at most 640.
  uint64_t base_kib = std::min<uint64_t>(ram_below_4g / kKiB, 640);
  cmos_[0x15] = static_cast<uint8_t>(base_kib);
  cmos_[0x16] = static_cast<uint8_t>(base_kib >> 8);
  // Extended memory above 1 MiB in KiB, capped at 0xffff (about 64 MiB).
  uint64_t ext_kib =
      ram_below_4g > kMiB ? (ram_below_4g - kMiB) / kKiB : uint64_t{0};
  ext_kib = std::min<uint64_t>(ext_kib, 0xffff);
  cmos_[0x17] = cmos_[0x30] = static_cast<uint8_t>(ext_kib);
  cmos_[0x18] = cmos_[0x31] = static_cast<uint8_t>(ext_kib >> 8);
  // Memory between 16 MiB and 4 GiB in 64 KiB units, capped at 0xffff.
  uint64_t mid_64k = ram_below_4g > 16 * kMiB
                         ? (ram_below_4g - 16 * kMiB) / (64 * kKiB)
                         : uint64_t{0};
  mid_64k = std::min<uint64_t>(mid_64k, 0xffff);
  cmos_[0x34] = static_cast<uint8_t>(mid_64k);
  cmos_[0x35] = static_cast<uint8_t>(mid_64k >> 8);
  // Memory above 4 GiB in 64 KiB units, 24 bits.
  uint64_t high_64k = ram_above_4g / (64 * kKiB);
  cmos_[0x5b] = static_cast<uint8_t>(high_64k);
  cmos_[0x5c] = static_cast<uint8_t>(high_64k >> 8);
  cmos_[0x5d] = static_cast<uint8_t>(high_64k >> 16);
}

void CmosRtc::Read(uint64_t offset, absl::Span<uint8_t> data) {
  if (data.empty()) return;
  absl::MutexLock lock(&mu_);
  // The index port is write-only; reads float high, as in QEMU.
  data[0] = offset == kDataOffset ? ReadData() : 0xff;
  for (size_t i = 1; i < data.size(); ++i) data[i] = 0xff;
}

void CmosRtc::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (data.empty()) return;
  absl::MutexLock lock(&mu_);
  if (offset == kIndexOffset) {
    index_ = data[0] & 0x7f;
    nmi_masked_ = (data[0] & 0x80) != 0;
  } else if (offset == kDataOffset) {
    WriteData(data[0]);
  }
}

bool CmosRtc::nmi_masked() const {
  absl::MutexLock lock(&mu_);
  return nmi_masked_;
}

uint8_t CmosRtc::ReadData() {
  if (IsClockRegister(index_) && !(cmos_[kRegB] & kRegBSet)) {
    LatchTime(GuestNow());
  }
  return cmos_[index_];
}

void CmosRtc::WriteData(uint8_t value) {
  const uint8_t b = cmos_[kRegB];
  if (IsClockRegister(index_)) {
    if (b & kRegBSet) {
      cmos_[index_] = value;  // takes effect when SET is cleared
    } else {
      // Change one field of the running clock.
      LatchTime(GuestNow());
      cmos_[index_] = value;
      offset_ = RegistersTime() - clock_();
    }
    return;
  }
  switch (index_) {
    case kRegA:
      cmos_[kRegA] = value & ~kRegAUip;
      return;
    case kRegB:
      if (!(b & kRegBSet) && (value & kRegBSet)) {
        // Freeze the registers at the current time for the guest to edit.
        LatchTime(GuestNow());
      }
      cmos_[kRegB] = value;
      if ((b & kRegBSet) && !(value & kRegBSet)) {
        offset_ = RegistersTime() - clock_();
      }
      return;
    case kRegC:
    case kRegD:
      return;  // read-only
    default:
      cmos_[index_] = value;
      return;
  }
}

absl::Time CmosRtc::GuestNow() const { return clock_() + offset_; }

void CmosRtc::LatchTime(absl::Time t) {
  absl::CivilSecond civil = absl::ToCivilSecond(t, absl::UTCTimeZone());
  cmos_[kSeconds] = Encode(civil.second());
  cmos_[kMinutes] = Encode(civil.minute());
  int hour = civil.hour();
  if (cmos_[kRegB] & kRegB24Hour) {
    cmos_[kHours] = Encode(hour);
  } else {
    int hour12 = hour % 12 == 0 ? 12 : hour % 12;
    cmos_[kHours] = Encode(hour12) | (hour >= 12 ? kHourPm : 0);
  }
  // 1 = Sunday. absl's Weekday enumerates Monday first.
  int weekday =
      (static_cast<int>(absl::GetWeekday(absl::CivilDay(civil))) + 1) % 7 + 1;
  cmos_[kWeekday] = Encode(weekday);
  cmos_[kDayOfMonth] = Encode(civil.day());
  cmos_[kMonth] = Encode(civil.month());
  cmos_[kYear] = Encode(PositiveMod(civil.year(), 100));
  cmos_[kCentury] = Encode(PositiveMod(civil.year() / 100, 100));
}

absl::Time CmosRtc::RegistersTime() const {
  int hour;
  if (cmos_[kRegB] & kRegB24Hour) {
    hour = Decode(cmos_[kHours]);
  } else {
    bool pm = (cmos_[kHours] & kHourPm) != 0;
    hour = Decode(cmos_[kHours] & ~kHourPm) % 12 + (pm ? 12 : 0);
  }
  int64_t year = int64_t{Decode(cmos_[kCentury])} * 100 + Decode(cmos_[kYear]);
  // Out-of-range fields (a guest's garbage) normalise, e.g. month 13 is
  // January of the next year; they cannot fail.
  absl::CivilSecond civil(year, Decode(cmos_[kMonth]),
                          Decode(cmos_[kDayOfMonth]), hour,
                          Decode(cmos_[kMinutes]), Decode(cmos_[kSeconds]));
  return absl::FromCivil(civil, absl::UTCTimeZone());
}

uint8_t CmosRtc::Encode(int value) const {
  if (cmos_[kRegB] & kRegBBinary) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

int CmosRtc::Decode(uint8_t value) const {
  if (cmos_[kRegB] & kRegBBinary) return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

}  // namespace skiff::devices
