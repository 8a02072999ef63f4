#include "vmm/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace skiff {
namespace {

// A JSON string literal (RFC 8259 section 7).
void AppendJsonString(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

}  // namespace

void MetricsRegistry::Add(std::string name, Source source) {
  absl::MutexLock lock(&mu_);
  groups_.emplace_back(std::move(name), std::move(source));
}

std::string MetricsRegistry::Snapshot(int64_t utc_timestamp_ms) const {
  std::string out = absl::StrCat("{\"utc_timestamp_ms\":", utc_timestamp_ms);
  absl::MutexLock lock(&mu_);
  MetricsGroup group;
  for (const auto& [name, source] : groups_) {
    group.clear();
    source(group);
    out += ',';
    AppendJsonString(out, name);
    out += ":{";
    for (size_t i = 0; i < group.size(); ++i) {
      if (i > 0) out += ',';
      AppendJsonString(out, group[i].first);
      absl::StrAppend(&out, ":", group[i].second);
    }
    out += '}';
  }
  out += '}';
  return out;
}

absl::StatusOr<std::unique_ptr<MetricsWriter>> MetricsWriter::Create(
    const std::string& path, const MetricsRegistry* registry, Options options) {
  if (path.empty()) return absl::InvalidArgumentError("metrics: empty path");
  // O_NONBLOCK: opening a FIFO without a reader fails (ENXIO) instead of
  // hanging, and a full FIFO never blocks a write.
  const int fd =
      ::open(path.c_str(),
             O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    if (err == ENXIO) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "metrics: %s is a FIFO with no reader (open it for reading first)",
          path));
    }
    return ErrnoStatus(absl::StrFormat("metrics: open %s", path), err);
  }
  std::unique_ptr<MetricsWriter> w(
      new MetricsWriter(UniqueFd(fd), registry, options));
  if (w->period_ > absl::ZeroDuration()) {
    w->thread_ =
        std::thread([raw = w.get(), hook = std::move(options.on_thread_start)] {
          raw->Loop(hook);
        });
  }
  return w;
}

MetricsWriter::MetricsWriter(UniqueFd fd, const MetricsRegistry* registry,
                             Options options)
    : registry_(registry), period_(options.period), fd_(std::move(fd)) {}

MetricsWriter::~MetricsWriter() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void MetricsWriter::Loop(std::function<void()> on_thread_start) {
  pthread_setname_np(pthread_self(), "metrics");
  if (on_thread_start) on_thread_start();
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
      mu_.AwaitWithTimeout(absl::Condition(&stopping), period_);
      if (stop_) return;
    }
    if (absl::Status st = Flush(); !st.ok()) {
      SKIFF_LOG(kWarn, "%s", std::string(st.message()));
    }
  }
}

absl::Status MetricsWriter::Flush() {
  std::string line = registry_->Snapshot(absl::ToUnixMillis(absl::Now()));
  line += '\n';
  absl::MutexLock lock(&mu_);
  // One write: lines from Flush and the thread never interleave, and a
  // FIFO reader sees whole lines (writes up to PIPE_BUF are atomic; longer
  // ones still come from one writer at a time).
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n =
        ::write(fd_.get(), line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && done == 0) {
      ++dropped_;
      return absl::OkStatus();
    }
    if (n < 0 && errno == EAGAIN) {
      // A partial line is already out: finish it rather than corrupt the
      // stream, waiting a bounded time for the reader. Rare (a line longer
      // than the free FIFO space).
      pollfd pfd = {fd_.get(), POLLOUT, 0};
      if (::poll(&pfd, 1, 1000) <= 0) {
        return absl::UnavailableError("metrics: FIFO reader stalled mid-line");
      }
      continue;
    }
    if (n < 0) return ErrnoStatus("metrics: write");
    done += static_cast<size_t>(n);
  }
  ++written_;
  return absl::OkStatus();
}

uint64_t MetricsWriter::lines_written() const {
  absl::MutexLock lock(&mu_);
  return written_;
}

uint64_t MetricsWriter::lines_dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

}  // namespace skiff
