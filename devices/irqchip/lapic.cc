#include "devices/irqchip/lapic.h"

#include <bit>
#include <cstring>

#include "devices/irqchip/lapic_regs.h"

namespace skiff::devices {

using namespace apic;  // NOLINT(build/namespaces): register names

namespace {

// Writable bits of each LVT register (SDM figure 10-8): timer, thermal,
// perf, LINT0, LINT1, error. Delivery status and remote IRR are read-only.
constexpr std::array<uint32_t, 6> kLvtWritable = {0x700ff, 0x107ff, 0x107ff,
                                                  0x1a7ff, 0x1a7ff, 0x100ff};

int Highest(const std::array<uint32_t, 8>& bits) {
  for (int i = 7; i >= 0; --i) {
    if (bits[i] != 0) return i * 32 + 31 - std::countl_zero(bits[i]);
  }
  return -1;
}
bool TestBit(const std::array<uint32_t, 8>& bits, int v) {
  return (bits[v / 32] >> (v % 32)) & 1;
}
void SetBit(std::array<uint32_t, 8>& bits, int v) {
  bits[v / 32] |= 1u << (v % 32);
}
void ClearBit(std::array<uint32_t, 8>& bits, int v) {
  bits[v / 32] &= ~(1u << (v % 32));
}

uint32_t LvtMode(uint32_t lvt) {
  return (lvt & kDeliveryModeMask) >> kDeliveryModeShift;
}

}  // namespace

Lapic::Lapic(int cpu, const ApicBus& bus, TimerQueue& timers, CpuControl& cpus)
    : cpu_(cpu), bus_(bus), timers_(timers), cpus_(cpus) {
  absl::MutexLock lock(&mu_);
  apic_base_ = kBaseAddress | kApicBaseEnable | (cpu == 0 ? kApicBaseBsp : 0);
  ResetLocked();
}

Lapic::~Lapic() {
  TimerQueue::Id id;
  {
    absl::MutexLock lock(&mu_);
    dying_ = true;
    id = timer_id_;
  }
  timers_.Cancel(id);
  // A callback cancelled without waiting may still be running; it sees
  // dying_ and returns without touching anything else.
  timers_.WaitForRunningCallback();
}

void Lapic::ConnectExtInt(ExtIntSource* pic) {
  absl::MutexLock lock(&mu_);
  pic_ = pic;
  UpdatePendingLocked();
}

bool Lapic::x2apic_mode() const {
  absl::MutexLock lock(&mu_);
  return (apic_base_ & kApicBaseExtd) != 0;
}

// Power-on and INIT state (SDM 10.4.7.1, 10.4.7.3): everything cleared and
// masked except the APIC ID and IA32_APIC_BASE.
void Lapic::ResetLocked() {
  StopTimerLocked();
  tpr_ = 0;
  ldr_ = 0;
  dfr_ = 0xffffffff;
  svr_ = 0xff;
  isr_ = {};
  tmr_ = {};
  irr_ = {};
  esr_ = 0;
  esr_pending_ = 0;
  icr_low_ = 0;
  icr_high_ = 0;
  lvt_.fill(kMasked);
  // Virtual wire, as firmware leaves it: PIC interrupts arrive through
  // LINT0 before the guest sets up its APIC, and LINT1 carries NMI.
  lvt_[kLvtIndexLint0] = static_cast<uint32_t>(DeliveryMode::kExtInt)
                         << kDeliveryModeShift;
  lvt_[kLvtIndexLint1] = static_cast<uint32_t>(DeliveryMode::kNmi)
                         << kDeliveryModeShift;
  initial_count_ = 0;
  divide_config_ = 0;
  tsc_deadline_ = 0;
  UpdatePendingLocked();
}

bool Lapic::HardwareEnabled() const {
  return (apic_base_ & kApicBaseEnable) != 0;
}
bool Lapic::SoftwareEnabled() const { return (svr_ & kSvrEnable) != 0; }

uint32_t Lapic::Ldr() const {
  if (apic_base_ & kApicBaseExtd) {
    // SDM 10.12.10.2: derived from the x2APIC ID.
    uint32_t id = static_cast<uint32_t>(cpu_);
    return ((id >> 4) << 16) | (1u << (id & 0xf));
  }
  return ldr_;
}

// SDM 10.8.3.1: PPR is TPR unless the in-service class is higher.
uint32_t Lapic::Ppr() const {
  int isrv = Highest(isr_);
  uint32_t isr_class = isrv < 0 ? 0 : static_cast<uint32_t>(isrv) & 0xf0;
  return (tpr_ & 0xf0) >= isr_class ? tpr_ & 0xff : isr_class;
}

// The PIC is heard when LINT0 is unmasked ExtINT, and also when the APIC
// is hardware-disabled (then LINT0 is a plain INTR pin; SDM 10.4.3).
bool Lapic::ExtIntPending() const {
  if (pic_ == nullptr || !lint0_level_) return false;
  if (!HardwareEnabled()) return true;
  uint32_t lvt = lvt_[kLvtIndexLint0];
  return (lvt & kMasked) == 0 &&
         LvtMode(lvt) == static_cast<uint32_t>(DeliveryMode::kExtInt);
}

void Lapic::UpdatePendingLocked() {
  bool pending = ExtIntPending();
  if (!pending) {
    int v = Highest(irr_);
    pending = v >= 0 && (static_cast<uint32_t>(v) & 0xf0) > (Ppr() & 0xf0);
  }
  bool was = maybe_pending_.exchange(pending, std::memory_order_relaxed);
  if (pending && !was) cpus_.Wake(cpu_);
}

void Lapic::RequestLocked(uint8_t vector, bool level_triggered) {
  if (vector < 16) {
    // SDM 10.5.3: vectors 0-15 are illegal.
    esr_pending_ |= kEsrReceiveIllegalVector;
    return;
  }
  SetBit(irr_, vector);
  if (level_triggered) {
    SetBit(tmr_, vector);
  } else {
    ClearBit(tmr_, vector);
  }
  UpdatePendingLocked();
}

void Lapic::RaiseNmiLocked() {
  nmi_pending_.store(true, std::memory_order_release);
  cpus_.Wake(cpu_);
}

int Lapic::AcknowledgeInterrupt() {
  ExtIntSource* pic = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (ExtIntPending()) {
      pic = pic_;
    } else {
      int v = Highest(irr_);
      if (v < 0 || (static_cast<uint32_t>(v) & 0xf0) <= (Ppr() & 0xf0)) {
        UpdatePendingLocked();
        return -1;
      }
      ClearBit(irr_, v);
      SetBit(isr_, v);
      UpdatePendingLocked();
      return v;
    }
  }
  // The INTA cycle goes to the PIC without our lock: the PIC calls back
  // into SetLint0 with its own lock held.
  return pic->Acknowledge();
}

uint64_t Lapic::ReadCr8() const {
  absl::MutexLock lock(&mu_);
  return (tpr_ >> 4) & 0xf;
}

void Lapic::WriteCr8(uint64_t value) {
  absl::MutexLock lock(&mu_);
  tpr_ = static_cast<uint32_t>(value & 0xf) << 4;
  UpdatePendingLocked();
}

void Lapic::SetLint0(bool level) {
  absl::MutexLock lock(&mu_);
  bool rising = level && !lint0_level_;
  lint0_level_ = level;
  uint32_t lvt = lvt_[kLvtIndexLint0];
  if (rising && HardwareEnabled() && (lvt & kMasked) == 0) {
    switch (static_cast<DeliveryMode>(LvtMode(lvt))) {
      case DeliveryMode::kFixed:
        RequestLocked(lvt & kVectorMask, false);
        break;
      case DeliveryMode::kNmi:
        RaiseNmiLocked();
        break;
      default:
        break;
    }
  }
  UpdatePendingLocked();
}

bool Lapic::MatchesDestination(uint32_t destination, bool logical,
                               bool x2apic_format) const {
  absl::MutexLock lock(&mu_);
  const bool x2apic = (apic_base_ & kApicBaseExtd) != 0;
  const uint32_t broadcast = x2apic_format ? 0xffffffff : 0xff;
  if (destination == broadcast) return true;
  if (!logical) return destination == static_cast<uint32_t>(cpu_);
  if (x2apic) {
    // SDM 10.12.10.2: cluster in bits 31:16, a bitmap of 16 in 15:0.
    if (!x2apic_format) return false;
    uint32_t ldr = Ldr();
    return (destination >> 16) == (ldr >> 16) &&
           (destination & ldr & 0xffff) != 0;
  }
  uint32_t dest = destination & 0xff;
  uint32_t logical_id = ldr_ >> 24;
  if ((dfr_ >> 28) == 0xf) return (dest & logical_id) != 0;  // flat
  // Cluster: cluster number in 7:4, members bitmap in 3:0 (SDM 10.6.2.2).
  return (dest >> 4) == (logical_id >> 4) && (dest & logical_id & 0xf) != 0;
}

void Lapic::Accept(const ApicMessage& message) {
  switch (message.mode) {
    case DeliveryMode::kFixed:
    case DeliveryMode::kLowestPriority: {
      absl::MutexLock lock(&mu_);
      // A software-disabled APIC drops fixed interrupts (as KVM does).
      if (!HardwareEnabled() || !SoftwareEnabled()) return;
      RequestLocked(message.vector, message.level_triggered);
      return;
    }
    case DeliveryMode::kNmi: {
      absl::MutexLock lock(&mu_);
      RaiseNmiLocked();
      return;
    }
    case DeliveryMode::kInit: {
      {
        absl::MutexLock lock(&mu_);
        ResetLocked();
      }
      cpus_.InitCpu(cpu_);
      return;
    }
    case DeliveryMode::kStartup:
      cpus_.StartCpu(cpu_, message.vector);
      return;
    case DeliveryMode::kSmi:
    case DeliveryMode::kExtInt:
      // No SMM. ExtINT through the IOAPIC is only Linux's last-resort
      // timer routing (check_timer()); the PIC reaches vCPU 0 via LINT0.
      return;
  }
}

void Lapic::Read(uint64_t offset, absl::Span<uint8_t> data) {
  uint32_t value = 0;
  if (data.size() == 4 && offset % 16 == 0 && offset < kPageSize) {
    absl::MutexLock lock(&mu_);
    // In x2APIC mode the MMIO page is not decoded (SDM 10.12.1.2).
    if ((apic_base_ & kApicBaseExtd) == 0) {
      value = ReadRegister(static_cast<uint32_t>(offset));
    }
  }
  std::memset(data.data(), 0, data.size());
  if (data.size() == 4) std::memcpy(data.data(), &value, 4);  // x86: LE
}

void Lapic::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (data.size() != 4 || offset % 16 != 0 || offset >= kPageSize) return;
  uint32_t value;
  std::memcpy(&value, data.data(), 4);
  Deferred deferred;
  {
    absl::MutexLock lock(&mu_);
    if (apic_base_ & kApicBaseExtd) return;
    WriteRegister(static_cast<uint32_t>(offset), value, deferred);
  }
  RunDeferred(deferred);
}

void Lapic::RunDeferred(const Deferred& deferred) {
  if (deferred.ipi.has_value()) bus_.Deliver(*deferred.ipi);
  if (deferred.eoi_vector >= 0) {
    bus_.BroadcastEoi(static_cast<uint8_t>(deferred.eoi_vector));
  }
}

uint32_t Lapic::ReadRegister(uint32_t reg) {
  if (reg >= kIsr && reg < kIsr + 0x80) return isr_[(reg - kIsr) / 16];
  if (reg >= kTmr && reg < kTmr + 0x80) return tmr_[(reg - kTmr) / 16];
  if (reg >= kIrr && reg < kIrr + 0x80) return irr_[(reg - kIrr) / 16];
  if (reg >= kLvtTimer && reg <= kLvtError) {
    return lvt_[(reg - kLvtTimer) / 16];
  }
  switch (reg) {
    case kId:
      return (apic_base_ & kApicBaseExtd) ? static_cast<uint32_t>(cpu_)
                                          : static_cast<uint32_t>(cpu_) << 24;
    case kVersion:
      return kApicVersion;
    case kTpr:
      return tpr_;
    case kPpr:
      return Ppr();
    case kLdr:
      return Ldr();
    case kDfr:
      return dfr_;
    case kSvr:
      return svr_;
    case kEsr:
      return esr_;
    case kIcrLow:
      return icr_low_;  // delivery status always idle: sends are instant
    case kIcrHigh:
      return icr_high_;
    case kTimerInitialCount:
      return initial_count_;
    case kTimerCurrentCount:
      return CurrentCountLocked();
    case kTimerDivide:
      return divide_config_;
    default:
      return 0;  // APR, RRD, EOI, CMCI and reserved offsets
  }
}

void Lapic::WriteRegister(uint32_t reg, uint32_t value, Deferred& deferred) {
  if (reg >= kLvtTimer && reg <= kLvtError) {
    WriteLvt(static_cast<int>((reg - kLvtTimer) / 16), value);
    return;
  }
  switch (reg) {
    case kTpr:
      tpr_ = value & 0xff;
      UpdatePendingLocked();
      break;
    case kEoi:
      Eoi(deferred);
      break;
    case kLdr:
      ldr_ = value & 0xff000000;
      break;
    case kDfr:
      dfr_ = value | 0x0fffffff;
      break;
    case kSvr:
      WriteSvr(value);
      break;
    case kEsr:
      // SDM 10.5.3: a write latches the errors seen since the last write.
      esr_ = esr_pending_;
      esr_pending_ = 0;
      break;
    case kIcrLow:
      icr_low_ = value & ~kDeliveryStatus;
      SendIcrLocked(static_cast<uint64_t>(icr_high_) << 32 | icr_low_,
                    deferred);
      break;
    case kIcrHigh:
      icr_high_ = value & 0xff000000;
      break;
    case kTimerInitialCount:
      if (TimerMode() == kTimerTscDeadline) break;  // SDM 10.5.4.1
      initial_count_ = value;
      StartTimerLocked();
      break;
    case kTimerDivide:
      divide_config_ = value & 0xb;
      break;
    default:
      // ID (read-only here: Linux never moves it), version, PPR, ISR, TMR,
      // IRR and reserved offsets.
      break;
  }
}

void Lapic::WriteSvr(uint32_t value) {
  // Bits 0-7 vector, 8 enable, 9 focus check. No EOI-broadcast
  // suppression (version bit 24 is clear).
  svr_ = value & 0x3ff;
  if (!SoftwareEnabled()) {
    // SDM 10.4.7.2: software disable masks every LVT entry.
    for (uint32_t& lvt : lvt_) lvt |= kMasked;
  }
  UpdatePendingLocked();
}

void Lapic::WriteLvt(int index, uint32_t value) {
  value &= kLvtWritable[index];
  if (!SoftwareEnabled()) value |= kMasked;
  if (index == kLvtIndexTimer) {
    int old_mode = TimerMode();
    lvt_[index] = value;
    int new_mode = TimerMode();
    // SDM 10.5.4.1: switching to or from TSC-deadline mode disarms.
    if ((old_mode == kTimerTscDeadline) != (new_mode == kTimerTscDeadline)) {
      StopTimerLocked();
      initial_count_ = 0;
      tsc_deadline_ = 0;
    }
    return;
  }
  lvt_[index] = value;
  if (index == kLvtIndexLint0) UpdatePendingLocked();
}

// SDM 10.8.5: EOI retires the highest in-service vector; a level-triggered
// one (TMR set) is broadcast so the IOAPIC clears its remote IRR.
void Lapic::Eoi(Deferred& deferred) {
  int v = Highest(isr_);
  if (v < 0) return;
  ClearBit(isr_, v);
  if (TestBit(tmr_, v)) deferred.eoi_vector = v;
  UpdatePendingLocked();
}

void Lapic::SendIcrLocked(uint64_t icr, Deferred& deferred) {
  ApicMessage message = IcrMessage(icr);
  switch (message.mode) {
    case DeliveryMode::kFixed:
    case DeliveryMode::kLowestPriority:
      if (message.vector < 16) {
        esr_pending_ |= kEsrSendIllegalVector;
        return;
      }
      break;
    case DeliveryMode::kInit:
      // "INIT level de-assert" (level-triggered, level 0) only resyncs
      // arbitration IDs (SDM 10.6.1); Linux still sends it after INIT.
      if ((icr & kLevelTrigger) && !(icr & kLevelAssert)) return;
      break;
    case DeliveryMode::kNmi:
    case DeliveryMode::kStartup:
      break;
    default:
      return;  // SMI, ExtINT and reserved encodings
  }
  deferred.ipi = message;
}

ApicMessage Lapic::IcrMessage(uint64_t icr) const {
  ApicMessage message;
  message.vector = icr & kVectorMask;
  message.mode = static_cast<DeliveryMode>((icr >> kDeliveryModeShift) & 7);
  message.logical = (icr & kLogical) != 0;
  message.level_triggered = (icr & kLevelTrigger) != 0;
  message.shorthand = static_cast<Shorthand>((icr >> kShorthandShift) & 3);
  message.source_cpu = cpu_;
  if (apic_base_ & kApicBaseExtd) {
    message.destination = static_cast<uint32_t>(icr >> 32);
    message.x2apic_format = true;
  } else {
    message.destination = static_cast<uint32_t>(icr >> 56);
  }
  return message;
}

}  // namespace skiff::devices
