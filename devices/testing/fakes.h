// Test doubles for what devices are handed by the machine: an IrqLine that
// records every level it is driven to, and a MachineControl that records stop
// requests. Header-only so any device test can use them without a library.
//
//   FakeIrqLine irq;
//   FakeMachineControl control;
//   Serial8250 uart(&irq, sink);
//   ... drive the device ...
//   EXPECT_TRUE(irq.level());
//   EXPECT_EQ(control.calls().size(), 1u);
#ifndef SKIFF_DEVICES_TESTING_FAKES_H_
#define SKIFF_DEVICES_TESTING_FAKES_H_

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "base/vcpu_backend.h"
#include "devices/machine_control.h"

namespace skiff::devices::testing {

// Thread-safe. Starts deasserted, like a freshly created line.
class FakeIrqLine : public IrqLine {
 public:
  void SetLevel(bool asserted) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (asserted && !level_) ++rising_edges_;
    level_ = asserted;
    history_.push_back(asserted);
  }

  bool level() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return level_;
  }
  // Low-to-high transitions: what an edge-triggered controller pin would see.
  int rising_edges() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return rising_edges_;
  }
  // Every SetLevel() argument, in call order.
  std::vector<bool> history() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return history_;
  }
  // Forgets the history and edge count; keeps the level.
  void ClearHistory() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    history_.clear();
    rising_edges_ = 0;
  }

 private:
  mutable absl::Mutex mu_;
  bool level_ ABSL_GUARDED_BY(mu_) = false;
  int rising_edges_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<bool> history_ ABSL_GUARDED_BY(mu_);
};

// Thread-safe. Records every request, including ones after the first (a real
// MachineControl lets the first win; tests want to see them all).
class FakeMachineControl : public MachineControl {
 public:
  struct Call {
    StopReason reason;
    int exit_status;
  };

  void RequestStop(StopReason reason, int exit_status) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    calls_.push_back({reason, exit_status});
  }

  std::vector<Call> calls() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
};

}  // namespace skiff::devices::testing

#endif  // SKIFF_DEVICES_TESTING_FAKES_H_
