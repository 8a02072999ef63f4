// A userspace local APIC, one per vCPU, for the interpreter backend (under
// KVM the kernel has its own). It is the vCPU's InterruptSource: the
// interpreter polls HasPendingInterrupt() between instructions and takes a
// vector with AcknowledgeInterrupt(). The guest programs it through the
// xAPIC page at 0xFEE00000 (Read/Write with the offset into the page; the
// VMM routes each vCPU's accesses to its own Lapic; relocating the page via
// IA32_APIC_BASE is not supported: the base bits of writes are ignored) or
// through x2APIC MSRs 0x800-0x8ff once IA32_APIC_BASE.EXTD is set, plus
// IA32_TSC_DEADLINE (0x6e0).
//
// Reference: Intel SDM vol. 3 chapter 10 "Advanced Programmable Interrupt
// Controller (APIC)" (chapter 11 in editions from 2023): 10.4 registers,
// 10.5 LVT and timer, 10.6 IPIs, 10.8 priority, acceptance and EOI, 10.12
// x2APIC.
//
//   ApicBus bus;
//   Lapic lapic0(0, bus, timers, cpus);
//   bus.AddLapic(&lapic0);
//   vcpu->SetInterruptSource(&lapic0);
//   lapic0.Write(0xf0, le32(0x1ff));        // SVR: software enable, 0xff
//   ... the interpreter: if (IF && lapic0.HasPendingInterrupt())
//         Deliver(lapic0.AcknowledgeInterrupt());
//
// The timer counts an APIC bus clock of kBusHz (1 GHz, like KVM's
// APIC_BUS_CYCLE_NS = 1): the interpreter may report it as the CPUID leaf
// 0x15 crystal so Linux skips calibrating it. Periodic timers are capped at
// kMinPeriodNs so a guest cannot make the timer thread spin.
//
// Thread-safety: all state is under one mutex. The vCPU thread calls
// HasPendingInterrupt/AcknowledgeInterrupt/Read/Write/ReadMsr/WriteMsr;
// other vCPUs, the IOAPIC, the PIC and the timer thread call Accept and
// SetLint0 concurrently. HasPendingInterrupt is one relaxed atomic load.
// Lock order: IOAPIC/PIC lock -> Lapic lock -> TimerQueue lock; CpuControl
// calls are made with the Lapic lock held. The Lapic never calls another
// Lapic, the IOAPIC or the PIC with its lock held.
#ifndef SKIFF_DEVICES_IRQCHIP_LAPIC_H_
#define SKIFF_DEVICES_IRQCHIP_LAPIC_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/vcpu_backend.h"
#include "devices/irqchip/apic_bus.h"
#include "devices/irqchip/cpu_control.h"
#include "devices/irqchip/timer_queue.h"

namespace skiff::devices {

// The 8259 PIC as seen from LINT0 in ExtINT mode: the INTA cycle.
class ExtIntSource {
 public:
  virtual ~ExtIntSource() = default;
  // Acknowledges the PIC's highest pending request and returns its vector
  // (a spurious IRQ 7 vector when none is pending any more).
  virtual int Acknowledge() = 0;
};

class Lapic : public InterruptSource {
 public:
  static constexpr uint64_t kBaseAddress = 0xFEE00000;
  static constexpr uint64_t kPageSize = 0x1000;
  static constexpr uint64_t kBusHz = 1'000'000'000;
  static constexpr uint64_t kMinPeriodNs = 10'000;
  static constexpr uint32_t kMsrApicBase = 0x1b;
  static constexpr uint32_t kMsrTscDeadline = 0x6e0;
  static constexpr uint32_t kMsrX2apicFirst = 0x800;
  static constexpr uint32_t kMsrX2apicLast = 0x8ff;
  // Version 0x14 (integrated APIC), 6 LVT entries (max LVT index 5).
  static constexpr uint32_t kApicVersion = 0x00050014;

  // `cpu` is the vCPU index and the APIC ID. The references must outlive
  // the Lapic. Starts in the power-on state (SDM 10.4.7.1): hardware
  // enabled, software disabled; LINT0 as ExtINT and LINT1 as NMI, what
  // firmware (and Firecracker, for direct boot) programs for virtual wire.
  Lapic(int cpu, const ApicBus& bus, TimerQueue& timers, CpuControl& cpus);
  ~Lapic() override;
  Lapic(const Lapic&) = delete;
  Lapic& operator=(const Lapic&) = delete;

  // Setup, before the vCPU runs: where ExtINT interrupts come from.
  void ConnectExtInt(ExtIntSource* pic) ABSL_LOCKS_EXCLUDED(mu_);

  // The xAPIC page. `offset` is into the 4 KiB page. Only aligned 32-bit
  // accesses to a register (offset % 16 == 0) do anything; others read 0.
  void Read(uint64_t offset, absl::Span<uint8_t> data) ABSL_LOCKS_EXCLUDED(mu_);
  void Write(uint64_t offset, absl::Span<const uint8_t> data)
      ABSL_LOCKS_EXCLUDED(mu_);
  // IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC MSRs (the latter only
  // in x2APIC mode). False: no such MSR or an invalid write (#GP).
  bool ReadMsr(uint32_t index, uint64_t& value) ABSL_LOCKS_EXCLUDED(mu_);
  bool WriteMsr(uint32_t index, uint64_t value) ABSL_LOCKS_EXCLUDED(mu_);

  // InterruptSource, vCPU thread only.
  bool HasPendingInterrupt() override {
    return maybe_pending_.load(std::memory_order_relaxed);
  }
  const std::atomic<bool>* pending_flag() const override {
    return &maybe_pending_;
  }
  int AcknowledgeInterrupt() override ABSL_LOCKS_EXCLUDED(mu_);
  // NMIs (IPIs, LINT1, IOAPIC) are not gated by RFLAGS.IF: the interpreter
  // polls this separately. True (once) if an NMI was pending.
  bool TakePendingNmi() {
    return nmi_pending_.exchange(false, std::memory_order_acq_rel);
  }
  bool HasPendingNmi() const {
    return nmi_pending_.load(std::memory_order_relaxed);
  }

  // CR8 is an alias of TPR bits 7:4 in 64-bit mode (SDM 10.8.6.1); the
  // interpreter's MOV to/from CR8 calls these on the vCPU thread.
  uint64_t ReadCr8() const ABSL_LOCKS_EXCLUDED(mu_);
  void WriteCr8(uint64_t value) ABSL_LOCKS_EXCLUDED(mu_);

  // The LINT0 pin, driven by the PIC's INTR output on vCPU 0.
  IrqLine& lint0() { return lint0_line_; }

  // From the ApicBus.
  bool MatchesDestination(uint32_t destination, bool logical,
                          bool x2apic_format) const ABSL_LOCKS_EXCLUDED(mu_);
  void Accept(const ApicMessage& message) ABSL_LOCKS_EXCLUDED(mu_);

  int cpu() const { return cpu_; }
  bool x2apic_mode() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class Lint0Line : public IrqLine {
   public:
    explicit Lint0Line(Lapic* lapic) : lapic_(lapic) {}
    void SetLevel(bool asserted) override { lapic_->SetLint0(asserted); }

   private:
    Lapic* const lapic_;
  };
  using Bitmap = std::array<uint32_t, 8>;
  // Work to do after dropping the lock: messages to other APICs, EOIs.
  struct Deferred {
    std::optional<ApicMessage> ipi;
    int eoi_vector = -1;
  };

  void SetLint0(bool level) ABSL_LOCKS_EXCLUDED(mu_);
  void ResetLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t ReadRegister(uint32_t reg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteRegister(uint32_t reg, uint32_t value, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunDeferred(const Deferred& deferred) ABSL_LOCKS_EXCLUDED(mu_);
  void WriteLvt(int index, uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteSvr(uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Eoi(Deferred& deferred) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ApicMessage IcrMessage(uint64_t icr) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Validates an ICR write and queues the IPI it sends.
  void SendIcrLocked(uint64_t icr, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t Ppr() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t Ldr() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SoftwareEnabled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HardwareEnabled() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool ExtIntPending() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts `vector` in the IRR (fixed delivery). Wakes the vCPU.
  void RequestLocked(uint8_t vector, bool level_triggered)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RaiseNmiLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Recomputes maybe_pending_; wakes the vCPU when it becomes true.
  void UpdatePendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Timer (lapic_timer.cc).
  int TimerMode() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartTimerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopTimerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmLocked(uint64_t deadline_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TimerFired(uint64_t generation) ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t CurrentCountLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteTscDeadlineLocked(uint64_t tsc) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // x2APIC (lapic_x2apic.cc).
  bool ReadX2apicMsr(uint32_t index, uint64_t& value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WriteX2apicMsr(uint32_t index, uint64_t value, Deferred& deferred)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WriteApicBase(uint64_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const int cpu_;
  const ApicBus& bus_;
  TimerQueue& timers_;
  CpuControl& cpus_;
  Lint0Line lint0_line_{this};

  std::atomic<bool> maybe_pending_{false};
  std::atomic<bool> nmi_pending_{false};

  mutable absl::Mutex mu_;
  ExtIntSource* pic_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t apic_base_ ABSL_GUARDED_BY(mu_);
  uint32_t tpr_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t ldr_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t dfr_ ABSL_GUARDED_BY(mu_) = 0xffffffff;
  uint32_t svr_ ABSL_GUARDED_BY(mu_) = 0xff;
  Bitmap isr_ ABSL_GUARDED_BY(mu_){};
  Bitmap tmr_ ABSL_GUARDED_BY(mu_){};
  Bitmap irr_ ABSL_GUARDED_BY(mu_){};
  uint32_t esr_ ABSL_GUARDED_BY(mu_) = 0;          // as last latched
  uint32_t esr_pending_ ABSL_GUARDED_BY(mu_) = 0;  // since the last write
  uint32_t icr_low_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t icr_high_ ABSL_GUARDED_BY(mu_) = 0;
  // Timer, thermal, perf, LINT0, LINT1, error (registers 0x320-0x370).
  std::array<uint32_t, 6> lvt_ ABSL_GUARDED_BY(mu_){};
  bool lint0_level_ ABSL_GUARDED_BY(mu_) = false;

  uint32_t initial_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t divide_config_ ABSL_GUARDED_BY(mu_) = 0;
  // One-shot/periodic: when the count was loaded, the divisor latched then,
  // and whether it runs. TSC-deadline: the armed deadline (0: disarmed).
  bool timer_running_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t timer_start_ns_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t timer_divisor_ ABSL_GUARDED_BY(mu_) = 2;
  uint64_t timer_expiry_ns_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t tsc_deadline_ ABSL_GUARDED_BY(mu_) = 0;
  // The scheduled callback; a callback whose generation is stale does
  // nothing (it was cancelled without waiting, under mu_).
  TimerQueue::Id timer_id_ ABSL_GUARDED_BY(mu_) = TimerQueue::kNoTimer;
  uint64_t timer_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool dying_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_IRQCHIP_LAPIC_H_
