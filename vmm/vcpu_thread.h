// VcpuThread runs one vCPU on its own host thread, named vcpu<N>: it loops
// on VcpuBackend::Run, turns exits into machine events, and runs work that
// other threads queue for it (register access, pausing, CPU affinity)
// between two Run() calls, so the backend is only ever used on its thread.
//
//   VcpuThread vcpu(std::move(backend), io, machine);
//   SKIFF_RETURN_IF_ERROR(vcpu.Start());
//   SKIFF_RETURN_IF_ERROR(vcpu.RunSync([](VcpuBackend& b) {
//     Regs r; return b.GetRegs(r);
//   }));
//   vcpu.Stop();  // also done by the destructor
#ifndef SKIFF_VMM_VCPU_THREAD_H_
#define SKIFF_VMM_VCPU_THREAD_H_

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

class VcpuThread {
 public:
  struct Options {
    // Start waiting for a start-up IPI (an application processor under a
    // backend that does not model that wait itself).
    bool wait_for_sipi = false;
    std::vector<int> affinity;  // host CPUs; empty = any
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
  // result. Fails if the thread is not running. Any thread but its own.
  absl::Status RunSync(std::function<absl::Status(VcpuBackend&)> fn)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Pins the vCPU thread to `cpus` (empty: all CPUs). Takes effect while
  // running.
  absl::Status SetAffinity(std::vector<int> cpus);

  uint64_t exits() const { return exits_.load(std::memory_order_relaxed); }

 private:
  using Work = std::function<void(VcpuBackend&)>;

  void Loop();
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
  bool halted_ ABSL_GUARDED_BY(mu_) = false;
  bool waiting_for_sipi_ ABSL_GUARDED_BY(mu_) = false;
  // Counts Wake() calls, so a wake that races with the guest's HLT is not
  // lost: a halt only parks the vCPU if no wake came during that Run().
  uint64_t wakes_ ABSL_GUARDED_BY(mu_) = 0;
  bool in_run_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> exits_{0};
  std::thread thread_;  // owner: the thread calling Start/Join
};

}  // namespace skiff

#endif  // SKIFF_VMM_VCPU_THREAD_H_
