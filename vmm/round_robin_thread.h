// RoundRobinThread runs several vCPUs on one host thread, named "vcpus"
// (--tcg-threads single): each in turn runs for a time slice of at most
// slice_instructions() guest instructions (VcpuBackend::SetTimeSlice), or
// until it halts, traps to the VMM or is kicked. A halted, paused or
// SIPI-waiting vCPU is skipped until woken; when every vCPU is idle the
// thread sleeps until one of them gets something to do.
//
//   auto shared = std::make_shared<RoundRobinThread>();
//   VcpuThread::Options o;
//   o.shared_thread = shared;
//   VcpuThread v0(std::move(backend0), io0, machine, o);
//   VcpuThread v1(std::move(backend1), io1, machine, o);
//   SKIFF_RETURN_IF_ERROR(v0.Start());  // the first Start starts the thread
//   SKIFF_RETURN_IF_ERROR(v1.Start());
//
// VcpuThreads drive it (Add, Notify, WaitRemoved); each holds a shared_ptr,
// so it lives until the last of them is destroyed.
//
// Thread-safety: all methods are thread-safe. Lock order: VcpuThread's lock
// -> this lock; the shared thread holds neither while it runs a vCPU.
#ifndef SKIFF_VMM_ROUND_ROBIN_THREAD_H_
#define SKIFF_VMM_ROUND_ROBIN_THREAD_H_

#include <cstdint>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace skiff {

class VcpuThread;

class RoundRobinThread {
 public:
  // About 0.3 ms of guest time at 300 MIPS: short enough that a vCPU
  // spinning on another (IPI, lock) yields soon, long enough that switching
  // costs nothing measurable.
  static constexpr uint64_t kDefaultSliceInstructions = 100'000;

  explicit RoundRobinThread(
      uint64_t slice_instructions = kDefaultSliceInstructions);
  // Stops and joins the thread. Every VcpuThread added must be gone.
  ~RoundRobinThread();
  RoundRobinThread(const RoundRobinThread&) = delete;
  RoundRobinThread& operator=(const RoundRobinThread&) = delete;

  uint64_t slice_instructions() const { return slice_instructions_; }

  // For VcpuThread. Adds a started vCPU (starts the thread on first use).
  void Add(VcpuThread* vcpu) ABSL_LOCKS_EXCLUDED(mu_);
  // Something changed for some vCPU (wake, work, stop, resume).
  void Notify() ABSL_LOCKS_EXCLUDED(mu_);
  // Returns once the thread has finished `vcpu` and will not touch it again.
  void WaitRemoved(VcpuThread* vcpu) ABSL_LOCKS_EXCLUDED(mu_);

  // Turns taken so far (a vCPU running guest code or its queued work).
  uint64_t turns() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();

  const uint64_t slice_instructions_;

  mutable absl::Mutex mu_;
  std::vector<VcpuThread*> vcpus_ ABSL_GUARDED_BY(mu_);
  std::vector<VcpuThread*> removed_ ABSL_GUARDED_BY(mu_);
  uint64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t turns_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;

  std::thread thread_;  // started under mu_ by the first Add
};

}  // namespace skiff

#endif  // SKIFF_VMM_ROUND_ROBIN_THREAD_H_
