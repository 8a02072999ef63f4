// A CpuControl for tests that records every call.
//
//   FakeCpuControl cpus;
//   Lapic lapic(..., cpus);
//   ... send an INIT IPI ...
//   EXPECT_EQ(cpus.inits(), std::vector<int>{1});
#ifndef SKIFF_DEVICES_IRQCHIP_FAKE_CPU_CONTROL_H_
#define SKIFF_DEVICES_IRQCHIP_FAKE_CPU_CONTROL_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "devices/irqchip/cpu_control.h"

namespace skiff::devices::testing {

// Thread-safe.
class FakeCpuControl : public CpuControl {
 public:
  void Wake(int cpu) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    wakes_.push_back(cpu);
  }
  void InitCpu(int cpu) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    inits_.push_back(cpu);
  }
  void StartCpu(int cpu, uint8_t vector) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    starts_.emplace_back(cpu, vector);
  }

  std::vector<int> wakes() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return wakes_;
  }
  std::vector<int> inits() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return inits_;
  }
  std::vector<std::pair<int, uint8_t>> starts() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return starts_;
  }
  void Clear() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    wakes_.clear();
    inits_.clear();
    starts_.clear();
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<int> wakes_ ABSL_GUARDED_BY(mu_);
  std::vector<int> inits_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<int, uint8_t>> starts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace skiff::devices::testing

#endif  // SKIFF_DEVICES_IRQCHIP_FAKE_CPU_CONTROL_H_
