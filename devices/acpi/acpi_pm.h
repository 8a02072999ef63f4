// The ACPI fixed-hardware power-management registers skiff's FADT points at
// (ACPI 6.4 section 4.8): the PM1a event block (PM1_STS, PM1_EN: 2 + 2
// bytes) and the PM1a control block (PM1_CNT: 2 bytes), so that a guest's
// "poweroff" (Linux: acpi_power_off -> acpi_enter_sleep_state(S5)) stops the
// VM. There is no PM timer, no GPE block and no SMI command port: the
// machine is always in ACPI mode (SCI_EN reads 1), as the FADT says with
// SMI_CMD = 0.
//
//   auto pm = std::make_shared<AcpiPm>(control);
//   SKIFF_RETURN_IF_ERROR(pio.Insert(pm, AcpiPm::kDefaultPortBase,
//                                    AcpiPm::kPortCount));
//
// Port base: 0x600, the PMBASE QEMU's ICH9 (q35) and microvm machines use
// and the one SeaBIOS programs for PIIX4; it is clear of every legacy PC
// port skiff emulates or ignores (0x20/0xa0 PICs, 0x40-0x43 PIT, 0x60-0x64
// i8042, 0x70-0x71 CMOS, 0x80 POST, 0xed delay, 0xf4 debug-exit, 0x3f8
// COM1, 0x4d0 ELCR). Layout (offsets into the range):
//   0  PM1_STS  (16 bits, write-1-to-clear; no event ever sets a bit)
//   2  PM1_EN   (16 bits, read/write; stored only: no SCI is raised)
//   4  PM1_CNT  (16 bits: SCI_EN bit 0 reads 1, SLP_TYP bits 10-12,
//                SLP_EN bit 13 write-only)
// Writing SLP_EN with SLP_TYP == kS5SleepType (the value of the DSDT's _S5
// package) requests a power-off; other sleep types are ignored (logged at a
// limited rate): skiff implements no S1-S4.
//
// Thread-safety: the registers are guarded by a mutex; MachineControl is
// called without it.
#ifndef SKIFF_DEVICES_ACPI_ACPI_PM_H_
#define SKIFF_DEVICES_ACPI_ACPI_PM_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/log.h"
#include "devices/bus.h"
#include "devices/machine_control.h"

namespace skiff::devices {

class AcpiPm : public BusDevice {
 public:
  static constexpr uint16_t kDefaultPortBase = 0x600;
  static constexpr uint64_t kPm1EventOffset = 0;    // PM1a_EVT_BLK
  static constexpr uint64_t kPm1EventLength = 4;    // FADT PM1_EVT_LEN
  static constexpr uint64_t kPm1ControlOffset = 4;  // PM1a_CNT_BLK
  static constexpr uint64_t kPm1ControlLength = 2;  // FADT PM1_CNT_LEN
  static constexpr uint64_t kPortCount = 6;
  // The SLP_TYP value the DSDT's \_S5 package names for soft-off.
  static constexpr uint8_t kS5SleepType = 5;

  // PM1_CNT bits (ACPI 6.4 table 4.16).
  static constexpr uint16_t kSciEn = 1 << 0;
  static constexpr uint16_t kBmRld = 1 << 1;
  static constexpr int kSlpTypShift = 10;
  static constexpr uint16_t kSlpTypMask = 7 << kSlpTypShift;
  static constexpr uint16_t kSlpEn = 1 << 13;
  // PM1_EN bits that exist on this platform (ACPI 6.4 table 4.14): TMR_EN,
  // GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN, PCIEXP_WAKE_DIS. ACPICA checks that
  // GBL_EN sticks before it trusts the global lock hardware.
  static constexpr uint16_t kPm1EnMask = 0x4721;

  // `control` must outlive the device.
  explicit AcpiPm(MachineControl& control) : control_(control) {}

  void Read(uint64_t offset, absl::Span<uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The value of the 16-bit register at `reg_offset` (0, 2 or 4).
  uint16_t ReadRegister(uint64_t reg_offset) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies a write of `value` to the bytes of the register at `reg_offset`
  // selected by `byte_mask` (bit 0: low byte, bit 1: high byte). Returns the
  // sleep type to enter, or -1.
  int WriteRegister(uint64_t reg_offset, uint16_t value, unsigned byte_mask)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  MachineControl& control_;
  RateLimiter log_limiter_;
  mutable absl::Mutex mu_;
  uint16_t pm1_en_ ABSL_GUARDED_BY(mu_) = 0;
  uint16_t pm1_cnt_ ABSL_GUARDED_BY(mu_) = kSciEn;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_ACPI_ACPI_PM_H_
