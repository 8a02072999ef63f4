// The MSR interface of the local APIC: IA32_APIC_BASE, IA32_TSC_DEADLINE
// and x2APIC mode's registers at MSR 0x800 + (xAPIC offset >> 4) (Intel
// SDM vol. 3 section 10.12, table 10-6).
#include "devices/irqchip/lapic.h"
#include "devices/irqchip/lapic_regs.h"

namespace skiff::devices {

using namespace apic;  // NOLINT(build/namespaces): register names

bool Lapic::ReadMsr(uint32_t index, uint64_t& value) {
  absl::MutexLock lock(&mu_);
  if (index == kMsrApicBase) {
    value = apic_base_;
    return true;
  }
  if (index == kMsrTscDeadline) {
    value = TimerMode() == kTimerTscDeadline ? tsc_deadline_ : 0;
    return true;
  }
  if (index >= kMsrX2apicFirst && index <= kMsrX2apicLast &&
      (apic_base_ & kApicBaseExtd)) {
    return ReadX2apicMsr(index, value);
  }
  return false;
}

bool Lapic::WriteMsr(uint32_t index, uint64_t value) {
  Deferred deferred;
  bool ok = false;
  {
    absl::MutexLock lock(&mu_);
    if (index == kMsrApicBase) return WriteApicBase(value);
    if (index == kMsrTscDeadline) {
      WriteTscDeadlineLocked(value);
      return true;
    }
    if (index >= kMsrX2apicFirst && index <= kMsrX2apicLast &&
        (apic_base_ & kApicBaseExtd)) {
      ok = WriteX2apicMsr(index, value, deferred);
    }
  }
  RunDeferred(deferred);
  return ok;
}

bool Lapic::ReadX2apicMsr(uint32_t index, uint64_t& value) {
  uint32_t reg = (index - kMsrX2apicFirst) << 4;
  bool readable = (reg >= kIsr && reg < kEsr + 0x10) ||
                  (reg >= kLvtTimer && reg <= kTimerCurrentCount);
  switch (reg) {
    case kId:
    case kVersion:
    case kTpr:
    case kPpr:
    case kLdr:
    case kSvr:
    case kTimerDivide:
      readable = true;
      break;
    case kIcrLow:
      value = static_cast<uint64_t>(icr_high_) << 32 | icr_low_;
      return true;
    default:
      break;
  }
  if (!readable) return false;  // DFR, ICR high, EOI, self IPI, reserved
  value = ReadRegister(reg);
  return true;
}

bool Lapic::WriteX2apicMsr(uint32_t index, uint64_t value, Deferred& deferred) {
  uint32_t reg = (index - kMsrX2apicFirst) << 4;
  if (reg == kIcrLow) {
    // One 64-bit write; the destination is the full 32-bit x2APIC ID.
    icr_low_ = static_cast<uint32_t>(value) & ~kDeliveryStatus;
    icr_high_ = static_cast<uint32_t>(value >> 32);
    SendIcrLocked(static_cast<uint64_t>(icr_high_) << 32 | icr_low_, deferred);
    return true;
  }
  if (value >> 32) return false;  // reserved bits: #GP
  uint32_t v = static_cast<uint32_t>(value);
  switch (reg) {
    case kEoi:
    case kEsr:
      if (v != 0) return false;
      WriteRegister(reg, v, deferred);
      return true;
    case kSelfIpi: {
      ApicMessage self;
      self.vector = static_cast<uint8_t>(v & kVectorMask);
      self.shorthand = Shorthand::kSelf;
      self.source_cpu = cpu_;
      if (self.vector < 16) {
        esr_pending_ |= kEsrSendIllegalVector;
        return true;
      }
      deferred.ipi = self;
      return true;
    }
    case kTpr:
    case kSvr:
    case kTimerInitialCount:
    case kTimerDivide:
      WriteRegister(reg, v, deferred);
      return true;
    default:
      if (reg >= kLvtTimer && reg <= kLvtError) {
        WriteRegister(reg, v, deferred);
        return true;
      }
      return false;  // read-only or reserved
  }
}

// SDM 10.12.5: xAPIC -> x2APIC is allowed, x2APIC -> xAPIC only via
// disabled; EXTD without EN is invalid. Relocation is not supported: the
// base stays at 0xFEE00000 whatever the guest writes.
bool Lapic::WriteApicBase(uint64_t value) {
  const bool enable = (value & kApicBaseEnable) != 0;
  const bool extd = (value & kApicBaseExtd) != 0;
  const bool was_extd = (apic_base_ & kApicBaseExtd) != 0;
  if (extd && !enable) return false;
  if (was_extd && enable && !extd) return false;
  const bool was_enabled = HardwareEnabled();
  apic_base_ = kBaseAddress | (cpu_ == 0 ? kApicBaseBsp : 0) |
               (enable ? kApicBaseEnable : 0) | (extd ? kApicBaseExtd : 0);
  if (was_enabled && !enable) ResetLocked();
  UpdatePendingLocked();
  return true;
}

}  // namespace skiff::devices
