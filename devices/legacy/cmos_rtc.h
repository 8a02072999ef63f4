// The MC146818-compatible CMOS RTC and NVRAM of a PC: index port 0x70 (bit 7
// masks NMI) and data port 0x71, 128 bytes of CMOS. The clock registers
// (0x00-0x09, century 0x32) follow an injected clock (UTC) plus whatever
// offset the guest set; the memory-size bytes are filled as QEMU's pc.c does.
//
//   auto rtc = std::make_shared<CmosRtc>(layout.ram_below_4g,
//                                        layout.ram_above_4g);
//   SKIFF_RETURN_IF_ERROR(pio.Insert(rtc, 0x70, 2));
//
// Encoding follows register B: BCD unless DM (bit 2) is set, 24-hour when
// bit 1 is set (the default, 0x02, is 24-hour BCD as QEMU resets it), else
// 12-hour with bit 7 of the hour meaning PM. While SET (bit 7) is on, the
// clock registers hold what the guest wrote; clearing SET makes them the new
// time (Linux's mc146818_set_time() does exactly that sequence). Register A
// never shows update-in-progress, D always reports valid RAM and time.
//
// Not emulated: periodic, alarm and update-ended interrupts (IRQ 8 is never
// raised; register C reads 0). Linux only needs them for /dev/rtc alarms and
// RTC_UIE; reading and setting the time works without.
//
// References: Motorola MC146818A datasheet; Linux drivers/rtc/rtc-mc146818-
// lib.c; QEMU hw/rtc/mc146818rtc.c and hw/i386/pc.c pc_cmos_init().
//
// Thread-safety: state is guarded by one mutex; the clock is called under it.
#ifndef SKIFF_DEVICES_LEGACY_CMOS_RTC_H_
#define SKIFF_DEVICES_LEGACY_CMOS_RTC_H_

#include <array>
#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "devices/bus.h"

namespace skiff::devices {

class CmosRtc : public BusDevice {
 public:
  static constexpr uint64_t kIndexOffset = 0;  // port 0x70
  static constexpr uint64_t kDataOffset = 1;   // port 0x71

  using Clock = std::function<absl::Time()>;

  // `ram_below_4g` and `ram_above_4g` are the guest RAM bytes below and
  // above the 4 GiB boundary (the layout's split around the 32-bit MMIO
  // hole). `clock` gives the host's current time; tests inject a fixed one.
  CmosRtc(uint64_t ram_below_4g, uint64_t ram_above_4g,
          Clock clock = &absl::Now);

  void Read(uint64_t offset, absl::Span<uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Whether the guest has masked NMIs through bit 7 of the index port.
  bool nmi_masked() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  uint8_t ReadData() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteData(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Time GuestNow() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes `t` into the clock registers in the current encoding.
  void LatchTime(absl::Time t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The time the clock registers hold, in the current encoding.
  absl::Time RegistersTime() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint8_t Encode(int value) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int Decode(uint8_t value) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Clock clock_;

  mutable absl::Mutex mu_;
  std::array<uint8_t, 128> cmos_ ABSL_GUARDED_BY(mu_) = {};
  uint8_t index_ ABSL_GUARDED_BY(mu_) = 0;
  bool nmi_masked_ ABSL_GUARDED_BY(mu_) = false;
  // Guest time minus host time, after the guest set the clock.
  absl::Duration offset_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_LEGACY_CMOS_RTC_H_
