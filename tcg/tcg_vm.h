// TcgVm: the interpreter's VmBackend. Creates TcgVcpus over a GuestMemory
// (which must outlive the VM and its vCPUs) and interrupt lines.
//
//   SKIFF_ASSIGN_OR_RETURN(auto vm, tcg::TcgVm::Create(*memory, {.num_vcpus =
//   2})); SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<VcpuBackend> vcpu0,
//   vm->CreateVcpu(0)); SKIFF_ASSIGN_OR_RETURN(auto irq4,
//   vm->CreateIrqLine(4));
//
// Interrupt lines: until the userspace interrupt controller exists, a line
// only records its level (TcgIrqLine::level()) and delivers nothing.
#ifndef SKIFF_TCG_TCG_VM_H_
#define SKIFF_TCG_TCG_VM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/guest_clock.h"
#include "base/guest_memory.h"
#include "base/vcpu_backend.h"

namespace skiff::tcg {

struct TcgOptions {
  int num_vcpus = 1;
  // Hot 64-bit blocks compiled to host code (tcg/jit.h), where the vCPU
  // may (the machine's sole vCPU on anonymous RAM).
  bool jit = true;
  // The machine's time base for RDTSC (not owned; must outlive the VM and
  // its vCPUs). Null: the VM creates its own MonotonicGuestClock, shared by
  // all its vCPUs.
  const GuestClock* clock = nullptr;
};

// A GSI input that records its level. Thread-safe.
class TcgIrqLine : public IrqLine {
 public:
  explicit TcgIrqLine(uint32_t gsi) : gsi_(gsi) {}
  void SetLevel(bool asserted) override {
    level_.store(asserted, std::memory_order_release);
  }
  bool level() const { return level_.load(std::memory_order_acquire); }
  uint32_t gsi() const { return gsi_; }

 private:
  const uint32_t gsi_;
  std::atomic<bool> level_{false};
};

class TcgVm : public VmBackend {
 public:
  static absl::StatusOr<std::unique_ptr<TcgVm>> Create(
      const GuestMemory& memory, const TcgOptions& options);

  std::string_view name() const override { return "tcg"; }
  // Each index in [0, num_vcpus) can be created once.
  absl::StatusOr<std::unique_ptr<VcpuBackend>> CreateVcpu(int index) override;
  // Returns a TcgIrqLine (see the file comment: it delivers nothing yet).
  absl::StatusOr<std::unique_ptr<IrqLine>> CreateIrqLine(uint32_t gsi) override;

  // Replaces the clock of vCPUs created from now on (see TcgOptions::clock).
  void SetGuestClock(const GuestClock& clock) override {
    absl::MutexLock lock(&mu_);
    clock_ = &clock;
  }

  // Drops every vCPU's decoded-instruction cache at its next Run(). Not
  // needed for correctness (cached decodes are re-checked against guest RAM
  // after every reported write; GuestMemory::NoteWrite) but cheap; call it
  // after loading new code.
  void InvalidateCode() { code_epoch_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  TcgVm(const GuestMemory& memory, const TcgOptions& options)
      : memory_(memory),
        options_(options),
        clock_(options.clock != nullptr ? options.clock : &own_clock_),
        created_(static_cast<size_t>(options.num_vcpus), false) {}

  const GuestMemory& memory_;
  const TcgOptions options_;
  std::atomic<uint64_t> code_epoch_{0};
  const MonotonicGuestClock own_clock_;
  absl::Mutex mu_;
  const GuestClock* clock_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> created_ ABSL_GUARDED_BY(mu_);
};

}  // namespace skiff::tcg

#endif  // SKIFF_TCG_TCG_VM_H_
