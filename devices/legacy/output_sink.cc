#include "devices/legacy/output_sink.h"

#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/time/clock.h"
#include "base/log.h"

namespace skiff::devices {
namespace {

constexpr size_t kChunk = 256;
// Consecutive attempts without progress (poll says writable, write says
// EAGAIN) before giving up on this call.
constexpr int kMaxFruitlessAttempts = 16;

// Writes to a regular file never wait for a reader, so they need no poll(2):
// the serial console writes one byte per call, and a file sink then costs one
// syscall a byte instead of two.
bool IsRegularFile(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

void BufferSink::Write(absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  contents_.append(reinterpret_cast<const char*>(data.data()), data.size());
}

std::string BufferSink::contents() const {
  absl::MutexLock lock(&mu_);
  return contents_;
}

void BufferSink::Clear() {
  absl::MutexLock lock(&mu_);
  contents_.clear();
}

std::shared_ptr<FdSink> FdSink::Borrow(int fd, absl::Duration stall_timeout) {
  return std::shared_ptr<FdSink>(new FdSink(fd, stall_timeout));
}

FdSink::FdSink(UniqueFd fd, absl::Duration stall_timeout)
    : owned_(std::move(fd)),
      fd_(owned_.get()),
      regular_file_(IsRegularFile(fd_)),
      stall_timeout_(stall_timeout) {}

FdSink::FdSink(int fd, absl::Duration stall_timeout)
    : fd_(fd),
      regular_file_(IsRegularFile(fd)),
      stall_timeout_(stall_timeout) {}

void FdSink::Write(absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  size_t done = 0;
  if (!broken_) {
    const absl::Time deadline = absl::Now() + stall_timeout_;
    int fruitless = 0;
    while (done < data.size() && fruitless < kMaxFruitlessAttempts) {
      // A stalled fd gets a non-blocking probe only, so a stuck reader costs
      // the guest one poll(2) per write rather than the timeout each time.
      int timeout_ms = 0;
      if (!stalled_) {
        timeout_ms = static_cast<int>(std::max<int64_t>(
            0, absl::ToInt64Milliseconds(deadline - absl::Now())));
      }
      struct pollfd pfd = {fd_, POLLOUT, 0};
      int ready = regular_file_ ? 1 : ::poll(&pfd, 1, timeout_ms);
      if (ready < 0) {
        if (errno == EINTR) continue;
        ++fruitless;
        continue;
      }
      if (ready == 0) {
        stalled_ = true;
        break;
      }
      size_t len = std::min(kChunk, data.size() - done);
      ssize_t n = ::write(fd_, data.data() + done, len);
      if (n > 0) {
        done += static_cast<size_t>(n);
        stalled_ = false;
        fruitless = 0;
        continue;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        ++fruitless;
        continue;
      }
      // A hard error (or a zero-length write, which should not happen):
      // this fd will not take output again.
      int err = n < 0 ? errno : EIO;
      broken_ = true;
      SKIFF_LOG(kWarn, "output sink: write fd=%d failed: %s; dropping output",
                fd_, std::strerror(err));
      break;
    }
  }
  dropped_ += data.size() - done;
}

uint64_t FdSink::dropped_bytes() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

AsyncSink::AsyncSink(std::shared_ptr<OutputSink> inner, size_t limit,
                     absl::Duration stall_timeout)
    : inner_(std::move(inner)), limit_(limit), stall_timeout_(stall_timeout) {}

AsyncSink::~AsyncSink() { Stop(); }

void AsyncSink::Start(std::function<void()> on_thread_start) {
  absl::MutexLock start(&start_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (running_ || stopping_) return;
    running_ = true;
  }
  thread_ = std::thread([this, hook = std::move(on_thread_start)] {
    if (hook) hook();
    Loop();
  });
}

void AsyncSink::Loop() {
  std::string chunk;
  absl::MutexLock lock(&mu_);
  auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !waiting_.empty() || stopping_;
  };
  for (;;) {
    mu_.Await(absl::Condition(&work));
    if (waiting_.empty()) break;  // stopping, and nothing waits
    chunk.swap(waiting_);
    mu_.Unlock();
    inner_->Write(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(chunk.data()), chunk.size()));
    mu_.Lock();
    done_ += chunk.size();
    chunk.clear();
  }
  running_ = false;
}

void AsyncSink::Write(absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  if (!running_) {
    inner_->Write(data);
    return;
  }
  if (waiting_.size() + data.size() > limit_) {
    const size_t want = std::min(data.size(), limit_);
    auto room = [this, want]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return waiting_.size() + want <= limit_ || !running_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&room), stall_timeout_);
    if (!running_) {
      inner_->Write(data);
      return;
    }
  }
  const size_t fits =
      std::min(data.size(), limit_ - std::min(limit_, waiting_.size()));
  waiting_.append(reinterpret_cast<const char*>(data.data()), fits);
  taken_ += fits;
  dropped_ += data.size() - fits;
}

void AsyncSink::Flush() {
  absl::MutexLock lock(&mu_);
  const uint64_t target = taken_;
  auto passed = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return done_ >= target || !running_;
  };
  mu_.Await(absl::Condition(&passed));
}

void AsyncSink::Stop() {
  absl::MutexLock start(&start_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t AsyncSink::dropped_bytes() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

}  // namespace skiff::devices
