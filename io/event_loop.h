// EventLoop is skiff's I/O thread: one io_uring that waits on eventfds
// (queue notifications), TAP and signal fds, timers, and the block I/O of the
// device backends, and runs their callbacks one at a time.
//
//   SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<io::EventLoop> loop,
//                          io::EventLoop::Create());
//   io::EventLoop::FdId id = loop->AddReadable(notify.fd(), [&] {
//     notify.Consume();
//     device.ProcessQueue();
//   });
//   SKIFF_RETURN_IF_ERROR(loop->Start());       // thread "io"
//   loop->Post([&] { /* runs on the loop */ });  // from any thread
//   loop->Stop();                                 // from any thread; joins
//
// Thread rules. "Loop context" means: on the loop thread (inside a callback),
// or on the thread that owns the loop while it is not running (before
// Start()/Run(), after Stop()). The methods marked LOOP CONTEXT must only be
// called there; other threads use Post() (or RunAndWait()) to reach the loop.
// Every callback runs in loop context, one at a time, so device backends need
// no lock for state only the loop touches.
//
// Readable fds are edge-style: a callback runs after the fd became readable;
// it should drain the fd (read until EAGAIN). If it leaves data unread it may
// not be called again until new data arrives, so a device that stops reading
// (e.g. no guest RX buffers) retries by itself later.
//
// Callbacks of operations still in flight when the loop is destroyed are
// destroyed without being called; the destructor cancels the kernel side of
// them and waits for it first, so no I/O touches a buffer after the loop is
// gone.
#ifndef SKIFF_IO_EVENT_LOOP_H_
#define SKIFF_IO_EVENT_LOOP_H_

#include <liburing.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/event_fd.h"

namespace skiff::io {

class EventLoop {
 public:
  struct Options {
    // Submission queue entries. The completion queue gets four times as many
    // so that bursts of completions rarely overflow it.
    unsigned sq_entries = 256;
    // Name of the thread Start() creates (at most 15 characters).
    const char* thread_name = "io";
    // Runs first on the thread Start() creates (not in Run()), e.g. to
    // install its seccomp filter.
    std::function<void()> on_thread_start;
  };

  // Counters for metrics; readable from any thread.
  struct Stats {
    uint64_t iterations = 0;   // loop iterations (one submit+wait each)
    uint64_t completions = 0;  // CQEs processed
    uint64_t wakeups = 0;      // wakes through the Post() eventfd
    uint64_t posted = 0;       // closures run from Post()
    uint64_t sq_full = 0;      // submissions that found the SQ ring full
    uint64_t cq_overflow = 0;  // CQEs the kernel reports as dropped
  };

  using FdId = uint64_t;
  using TimerId = uint64_t;

  // Sets up the ring. Fails with one line when io_uring is unavailable, e.g.
  // "io_uring_queue_init: Operation not permitted (is
  // kernel.io_uring_disabled set?)".
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create(
      const Options& options);
  static absl::StatusOr<std::unique_ptr<EventLoop>> Create() {
    return Create(Options{});
  }

  // Stops the loop (joining its thread) and tears down the ring.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs the loop on a new thread. REQUIRES: not running.
  absl::Status Start();
  // Runs the loop on the calling thread until Stop(). Another thread's Stop()
  // only counts once Run() has begun; to be sure, Post() the Stop().
  void Run();
  // Asks the loop to return and, when it runs on its own thread (Start),
  // joins it. Any thread; from the loop thread itself it only asks. Posted
  // closures not yet run stay queued and run when the loop runs again.
  void Stop();
  // True on the thread currently running the loop.
  bool IsLoopThread() const;

  // Runs `fn` on the loop. Any thread; wakes the loop through an eventfd.
  void Post(absl::AnyInvocable<void()> fn) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `fn` in loop context and returns when it has finished: directly when
  // the caller is in loop context, else through Post. REQUIRES: the loop is
  // running, or the caller owns it (then `fn` runs inline).
  void RunAndWait(absl::AnyInvocable<void()> fn) ABSL_LOCKS_EXCLUDED(mu_);

  // LOOP CONTEXT. Calls `on_readable` whenever `fd` becomes readable, until
  // RemoveFd. The fd must stay open until then. Uses a multishot poll where
  // the kernel has it (5.13+), a re-armed one-shot poll otherwise.
  FdId AddReadable(int fd, absl::AnyInvocable<void()> on_readable);
  // LOOP CONTEXT. The callback is destroyed now and never called again.
  // Unknown ids are ignored.
  void RemoveFd(FdId id);

  // LOOP CONTEXT. Calls `fn` after `delay`, and then every `delay` when
  // `periodic` (IORING_OP_TIMEOUT, CLOCK_MONOTONIC).
  TimerId AddTimer(absl::Duration delay, bool periodic,
                   absl::AnyInvocable<void()> fn);
  // LOOP CONTEXT. The callback is destroyed now and never called again.
  void CancelTimer(TimerId id);

  // LOOP CONTEXT. The low-level seam for backends: `prep` fills an SQE
  // (io_uring_prep_*; it must not touch user_data), `done` gets the CQE's
  // result (bytes or -errno). The SQE goes to the kernel at the end of the
  // current loop iteration (one io_uring_submit for everything queued), or
  // earlier if the SQ ring fills up. Buffers the SQE points to must stay
  // valid until `done` runs. Single-shot operations only (no multishot
  // opcodes); `done` runs exactly once, unless the loop is destroyed first.
  void Submit(absl::FunctionRef<void(io_uring_sqe*)> prep,
              absl::AnyInvocable<void(int32_t res)> done);
  // LOOP CONTEXT. Hands queued SQEs to the kernel now. Rarely needed: the
  // loop does this once per iteration.
  void Flush();

  Stats stats() const;

 private:
  struct Op;
  struct FdWatch;
  struct Timer;

  explicit EventLoop(const Options& options);
  io_uring_sqe* GetSqe();
  int SubmitPending(unsigned wait_nr);
  void ParkCompletions();
  void RunIteration();
  void Dispatch(uint64_t user_data, int32_t res, uint32_t flags);
  void ArmPoll(FdId id);
  void ArmTimer(TimerId id);
  void OnWake() ABSL_LOCKS_EXCLUDED(mu_);
  Op* NewOp();
  void FreeOp(Op* op);
  void CancelAllAndDrain();

  const Options options_;

  // Constant after Create.
  io_uring ring_{};
  bool ring_ready_ = false;
  bool multishot_poll_ = true;  // cleared when the kernel refuses it
  std::unique_ptr<EventFd> wake_;

  // Owner/loop thread only.
  std::thread thread_;
  absl::flat_hash_map<FdId, std::unique_ptr<FdWatch>> fds_;
  absl::flat_hash_map<TimerId, std::unique_ptr<Timer>> timers_;
  uint64_t next_id_ = 1;
  std::vector<std::unique_ptr<Op>> op_pool_;  // owns every Op
  std::vector<Op*> free_ops_;
  uint64_t ops_in_flight_ = 0;  // Submit() ops not yet completed
  // CQEs taken off a full ring by Submit; dispatched by the next iteration.
  struct ParkedCqe {
    uint64_t user_data;
    int32_t res;
    uint32_t flags;
  };
  std::vector<ParkedCqe> parked_;
  FdId wake_id_ = 0;

  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<std::thread::id> loop_thread_{};

  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> posted_ ABSL_GUARDED_BY(mu_);
  bool wake_pending_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> iterations_{0};
  std::atomic<uint64_t> completions_{0};
  std::atomic<uint64_t> wakeups_{0};
  std::atomic<uint64_t> posted_count_{0};
  std::atomic<uint64_t> sq_full_{0};
  std::atomic<uint64_t> cq_overflow_{0};
};

}  // namespace skiff::io

#endif  // SKIFF_IO_EVENT_LOOP_H_
