// VcpuThread runs one vCPU on its own host thread, named vcpu<N>: it loops
// on VcpuBackend::Run, turns exits into machine events, and runs work that
// other threads queue for it (register access, pausing, CPU affinity)
// between two Run() calls, so the backend is only ever used on its thread.
// With Options::shared_thread, the vCPU instead takes turns with the other
// vCPUs of that RoundRobinThread (vmm/round_robin_thread.h) on one host
// thread; the interface and its guarantees are the same.
//
//   VcpuThread vcpu(std::move(backend), io, machine);
//   SKIFF_RETURN_IF_ERROR(vcpu.Start());
//   SKIFF_RETURN_IF_ERROR(vcpu.RunSync([](VcpuBackend& b) {
//     Regs r; return b.GetRegs(r);
//   }));
//   vcpu.Stop();  // also done by the destructor
#ifndef SKIFF_VMM_VCPU_THREAD_H_
#define SKIFF_VMM_VCPU_THREAD_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "base/vcpu_backend.h"
#include "devices/machine_control.h"

namespace skiff {

// Exit statuses of skiff's own failures are even, so that they never collide
// with the odd statuses a guest produces through the debug-exit port.
inline constexpr int kExitUsage = 2;
inline constexpr int kExitGuestShutdown = 4;
inline constexpr int kExitBackendError = 6;
inline constexpr int kExitVmmError = 8;

class RoundRobinThread;

class VcpuThread {
 public:
  struct Options {
    // Start waiting for a start-up IPI (an application processor under a
    // backend that does not model that wait itself).
    bool wait_for_sipi = false;
    std::vector<int> affinity;  // host CPUs; empty = any (own thread only)
    // Run on this shared host thread instead of an own one (--tcg-threads
    // single). The backend must support VcpuBackend::SetTimeSlice.
    std::shared_ptr<RoundRobinThread> shared_thread;
    // Runs first on the vCPU's own thread (not with a shared thread, which
    // has its own hook), e.g. to install its seccomp filter.
    std::function<void()> on_thread_start;
  };

  VcpuThread(std::unique_ptr<VcpuBackend> backend, VcpuIo& io,
             devices::MachineControl& control, Options options);
  ~VcpuThread();
  VcpuThread(const VcpuThread&) = delete;
  VcpuThread& operator=(const VcpuThread&) = delete;

  int index() const { return index_; }

  absl::Status Start();
  // Makes the loop end soon. Idempotent; any thread.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  void Join();

  // Returns once the vCPU is parked outside Run(). Any thread but its own.
  void Pause() ABSL_LOCKS_EXCLUDED(mu_);
  void Resume() ABSL_LOCKS_EXCLUDED(mu_);
  bool paused() const ABSL_LOCKS_EXCLUDED(mu_);

  // Makes Run() return so the loop looks at its work and state. Any thread.
  void Kick() ABSL_LOCKS_EXCLUDED(mu_);
  // Ends a halt: an interrupt may now be pending for the vCPU. Any thread.
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);

  // INIT: the vCPU stops and waits for a start-up IPI. Any thread.
  void Init() ABSL_LOCKS_EXCLUDED(mu_);
  // Start-up IPI: a vCPU waiting for one starts in real mode at physical
  // address vector << 12; otherwise ignored, as on hardware. Any thread.
  void StartUp(uint8_t vector) ABSL_LOCKS_EXCLUDED(mu_);

  // Runs `fn` on the vCPU thread between two Run() calls and returns its
  // result. Fails if the thread is not running. Any thread but its own (and,
  // with a shared thread, not from any vCPU sharing it).
  absl::Status RunSync(std::function<absl::Status(VcpuBackend&)> fn)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Pins the vCPU thread to `cpus` (empty: all CPUs). Takes effect while
  // running. With a shared thread this pins the shared thread.
  absl::Status SetAffinity(std::vector<int> cpus);

  uint64_t exits() const { return exits_.load(std::memory_order_relaxed); }

  // Run() results by kind, for metrics (port and MMIO accesses are counted
  // by the vCPU's BusIo). Relaxed atomics: read from any thread.
  struct ExitCounters {
    std::atomic<uint64_t> hlt{0};
    std::atomic<uint64_t> interrupted{0};  // kicks, signals, time slices
    std::atomic<uint64_t> debug{0};
    std::atomic<uint64_t> reset{0};  // reset or power-off
    std::atomic<uint64_t> shutdown{0};
    std::atomic<uint64_t> failures{0};  // backend errors, internal errors
  };
  const ExitCounters& exit_counters() const { return exit_counters_; }

 private:
  friend class RoundRobinThread;
  using Work = std::function<void(VcpuBackend&)>;
  enum class StepResult { kRan, kIdle, kHalted, kDone };

  void Loop();
  // One turn of the loop: queued work or one Run() and its exit. With
  // `block`, waits until there is something to do; otherwise returns at
  // once kIdle (paused) or kHalted (halted or waiting for SIPI, not paused).
  // kDone: the loop is over, call FinishLoop().
  StepResult RunOnce(bool block) ABSL_LOCKS_EXCLUDED(mu_);
  // Marks the vCPU stopped and runs the work queued meanwhile.
  void FinishLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Tells the shared thread (if any) that this vCPU may have work.
  void NotifyShared() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Handles one exit; false ends the loop.
  bool HandleExit(const VcpuExit& exit);

  // Constant after construction.
  const int index_;
  const std::unique_ptr<VcpuBackend> backend_;
  VcpuIo& io_;
  devices::MachineControl& control_;
  const Options options_;

  mutable absl::Mutex mu_;
  std::deque<Work> work_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool parked_ ABSL_GUARDED_BY(mu_) = false;
  // The thread is blocked in RunOnce's wait (not in the guest).
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;
  bool halted_ ABSL_GUARDED_BY(mu_) = false;
  bool waiting_for_sipi_ ABSL_GUARDED_BY(mu_) = false;
  // Counts Wake() calls, so a wake that races with the guest's HLT is not
  // lost: a halt only parks the vCPU if no wake came during that Run().
  uint64_t wakes_ ABSL_GUARDED_BY(mu_) = 0;
  bool in_run_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> exits_{0};
  ExitCounters exit_counters_;
  std::thread thread_;            // owner: the thread calling Start/Join
  bool added_to_shared_ = false;  // owner: the thread calling Start/Join
};

}  // namespace skiff

#endif  // SKIFF_VMM_VCPU_THREAD_H_
