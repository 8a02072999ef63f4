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
// Deterministic mode (--icount, with an Icount): guest time is the
// InstructionClock the vCPUs count into. Turns begin once all Icount::vcpus
// vCPUs were added, in the order they were added; before each turn the
// timers due at the clock's time fire here (the TimerQueue is kManual), and
// a turn ends at the next deadline (the vCPU backend reads it from the
// clock). When every vCPU is halted (none paused) and a timer is pending,
// the clock jumps to its deadline instead of the thread sleeping. Same
// guest, same inputs: same turns, same instruction count.
//
//   RoundRobinThread::Icount ic{.clock = &clock, .timers = &timers,
//                               .vcpus = 2};
//   auto shared = std::make_shared<RoundRobinThread>(
//       RoundRobinThread::kDefaultSliceInstructions, ic);
//
// Thread-safety: all methods are thread-safe. Lock order: VcpuThread's lock
// -> this lock; the shared thread holds neither while it runs a vCPU.
#ifndef SKIFF_VMM_ROUND_ROBIN_THREAD_H_
#define SKIFF_VMM_ROUND_ROBIN_THREAD_H_

#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "base/guest_clock.h"
#include "devices/irqchip/timer_queue.h"

namespace skiff {

class VcpuThread;

class RoundRobinThread {
 public:
  // About 0.3 ms of guest time at 300 MIPS: short enough that a vCPU
  // spinning on another (IPI, lock) yields soon, long enough that switching
  // costs nothing measurable.
  static constexpr uint64_t kDefaultSliceInstructions = 100'000;

  // --icount (see the file comment). Both pointers must outlive every
  // VcpuThread using this thread; `timers` must be in kManual mode.
  struct Icount {
    InstructionClock* clock = nullptr;
    devices::TimerQueue* timers = nullptr;
    int vcpus = 1;  // turns begin once this many vCPUs were added
  };

  explicit RoundRobinThread(
      uint64_t slice_instructions = kDefaultSliceInstructions);
  RoundRobinThread(uint64_t slice_instructions, Icount icount);
  // Stops and joins the thread. Every VcpuThread added must be gone.
  ~RoundRobinThread();
  RoundRobinThread(const RoundRobinThread&) = delete;
  RoundRobinThread& operator=(const RoundRobinThread&) = delete;

  uint64_t slice_instructions() const { return slice_instructions_; }

  // `hook` runs first on the shared thread, e.g. to install its seccomp
  // filter. Call before the first Add.
  void SetThreadStartHook(std::function<void()> hook) ABSL_LOCKS_EXCLUDED(mu_);

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
  // --icount: fires the timers due at the clock's time.
  void FireDueTimers();

  const uint64_t slice_instructions_;
  const Icount icount_;  // clock null: not deterministic

  mutable absl::Mutex mu_;
  std::vector<VcpuThread*> vcpus_ ABSL_GUARDED_BY(mu_);
  std::vector<VcpuThread*> removed_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_thread_start_ ABSL_GUARDED_BY(mu_);
  int added_ ABSL_GUARDED_BY(mu_) = 0;
  int joining_ ABSL_GUARDED_BY(mu_) = 0;  // callers in WaitRemoved
  uint64_t events_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t turns_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;

  std::thread thread_;  // started under mu_ by the first Add
};

}  // namespace skiff

#endif  // SKIFF_VMM_ROUND_ROBIN_THREAD_H_
