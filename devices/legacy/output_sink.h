// Where a character device's output goes: an OutputSink takes bytes the guest
// transmitted. FdSink writes to a file descriptor (stdout, a log file, a pty)
// without ever blocking the guest for long; NullSink discards; BufferSink
// keeps everything in memory (tests, scripted runs); AsyncSink hands bytes
// to another sink from a thread of its own.
//
//   auto console = std::make_shared<AsyncSink>(FdSink::Borrow(STDOUT_FILENO));
//   console->Start();
//   auto uart = std::make_shared<Serial8250>(irq4.get(), console);
//
//   SKIFF_ASSIGN_OR_RETURN(UniqueFd log, UniqueFd::Open(path, O_WRONLY ...));
//   auto sink = std::make_shared<FdSink>(std::move(log));
#ifndef SKIFF_DEVICES_LEGACY_OUTPUT_SINK_H_
#define SKIFF_DEVICES_LEGACY_OUTPUT_SINK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "base/unique_fd.h"

namespace skiff::devices {

// Implementations are thread-safe: one sink may be shared by several devices
// (a serial port and a virtio console on the same stdout) and called from
// several vCPU threads. Write() is best effort and must return in bounded
// time; devices call it while holding their own lock.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void Write(absl::Span<const uint8_t> data) = 0;
};

class NullSink : public OutputSink {
 public:
  void Write(absl::Span<const uint8_t>) override {}
};

// Collects all output in memory.
class BufferSink : public OutputSink {
 public:
  void Write(absl::Span<const uint8_t> data) override ABSL_LOCKS_EXCLUDED(mu_);
  std::string contents() const ABSL_LOCKS_EXCLUDED(mu_);
  void Clear() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::string contents_ ABSL_GUARDED_BY(mu_);
};

// Writes to a file descriptor, retrying EINTR and partial writes. Before each
// write to anything but a regular file it polls for POLLOUT for at most
// `stall_timeout`; when the reader does not drain in that time (a stopped
// terminal, a full pipe nobody reads) the rest of the data is dropped and
// counted, and later writes do not wait at all until the fd accepts data
// again. So a guest printing to a stuck console loses output instead of
// hanging its vCPU. Writes go out in chunks of at most 256 bytes, which a
// pipe or tty that polled writable accepts without blocking in practice.
//
// After a hard error (EPIPE, EIO, EBADF, ...) the sink logs once and drops
// everything from then on. The process must ignore SIGPIPE for EPIPE to be
// seen instead of the signal killing it (process policy, set in vmm/).
class FdSink : public OutputSink {
 public:
  static constexpr absl::Duration kDefaultStallTimeout =
      absl::Milliseconds(100);

  // Writes to `fd` without owning it (stdout); the caller keeps it open for
  // the sink's lifetime.
  static std::shared_ptr<FdSink> Borrow(
      int fd, absl::Duration stall_timeout = kDefaultStallTimeout);
  // Owns `fd` and closes it on destruction.
  explicit FdSink(UniqueFd fd,
                  absl::Duration stall_timeout = kDefaultStallTimeout);

  void Write(absl::Span<const uint8_t> data) override ABSL_LOCKS_EXCLUDED(mu_);

  // Bytes dropped because the fd stalled or failed.
  uint64_t dropped_bytes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Borrowing.
  FdSink(int fd, absl::Duration stall_timeout);

  // Constant after construction.
  const UniqueFd owned_;  // invalid when borrowed
  const int fd_;
  const bool regular_file_;  // skips the poll(2)
  const absl::Duration stall_timeout_;

  mutable absl::Mutex mu_;
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

// Takes output from the guest's threads into a buffer and passes it to
// `inner` from a writer thread of its own, so that a guest printing costs
// its vCPU a copy rather than system calls: the serial port sends one byte
// per write, and an FdSink spends a poll(2) and a write(2) on each, which
// on a host where a system call costs microseconds made printing the
// kernel's boot log a quarter of a boot. Bytes reach `inner` in the order
// they were written.
//
// While `limit` bytes wait, Write() waits for the writer to make room (an
// FdSink inner drains or drops within its stall timeout), for at most
// `stall_timeout`; what still does not fit is dropped and counted. Before
// Start() and after Stop(), Write() goes straight to `inner`.
class AsyncSink : public OutputSink {
 public:
  static constexpr size_t kDefaultLimit = 64 << 10;
  static constexpr absl::Duration kDefaultStallTimeout = absl::Seconds(1);

  explicit AsyncSink(std::shared_ptr<OutputSink> inner,
                     size_t limit = kDefaultLimit,
                     absl::Duration stall_timeout = kDefaultStallTimeout);
  ~AsyncSink() override;  // Stop()
  AsyncSink(const AsyncSink&) = delete;
  AsyncSink& operator=(const AsyncSink&) = delete;

  // Starts the writer thread; `on_thread_start` runs first on it (its
  // seccomp filter: write, poll, futex). Once only.
  void Start(std::function<void()> on_thread_start = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Returns once everything written before the call has been passed to
  // `inner` (or dropped).
  void Flush() ABSL_LOCKS_EXCLUDED(mu_);
  // Passes what waits to `inner` and ends the writer thread.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  void Write(absl::Span<const uint8_t> data) override ABSL_LOCKS_EXCLUDED(mu_);

  // Bytes dropped because the writer did not make room in time.
  uint64_t dropped_bytes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  const std::shared_ptr<OutputSink> inner_;
  const size_t limit_;
  const absl::Duration stall_timeout_;

  mutable absl::Mutex mu_;
  std::string waiting_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Bytes taken into waiting_, and passed on to `inner`, since Start()
  // (dropped bytes are in neither).
  uint64_t taken_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t done_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;  // started and joined under start_mu_
  absl::Mutex start_mu_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_LEGACY_OUTPUT_SINK_H_
