#include "devices/virtio/virtio_rng.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace skiff::devices {
namespace {

// Fills up to `len` bytes at `p`; returns how many were filled.
size_t FillRandom(uint8_t* p, size_t len) {
  size_t done = 0;
  while (done < len) {
    const ssize_t n = ::getrandom(p + done, len - done, GRND_NONBLOCK);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // EAGAIN: the host pool is not seeded yet
    }
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace

uint64_t VirtioRng::device_features() const {
  return (uint64_t{1} << kVirtioRingFIndirectDesc) |
         (uint64_t{1} << kVirtioRingFEventIdx);
}

void VirtioRng::ReadConfig(uint64_t offset, absl::Span<uint8_t> data) {
  (void)offset;
  std::memset(data.data(), 0, data.size());
}

absl::Status VirtioRng::Activate(const GuestMemory& mem, uint64_t features,
                                 std::vector<std::optional<Virtqueue>> queues,
                                 VirtioInterrupt* interrupt) {
  (void)mem;
  (void)features;
  if (queues.empty() || !queues[0].has_value()) {
    return absl::FailedPreconditionError("virtio-rng: requestq not enabled");
  }
  absl::MutexLock lock(&mu_);
  queue_ = std::move(queues[0]);
  interrupt_ = interrupt;
  broken_ = false;
  return absl::OkStatus();
}

void VirtioRng::Reset() {
  absl::MutexLock lock(&mu_);
  queue_.reset();
  interrupt_ = nullptr;
  broken_ = false;
}

absl::Status VirtioRng::ProcessQueue(uint32_t queue) {
  absl::MutexLock lock(&mu_);
  if (queue != 0 || !queue_.has_value() || broken_) return absl::OkStatus();
  absl::Status error;
  for (;;) {
    absl::StatusOr<bool> got = queue_->Pop(chain_);
    if (!got.ok()) {
      errors_.fetch_add(1, std::memory_order_relaxed);
      broken_ = true;
      error = got.status();
      break;
    }
    if (!*got) {
      if (!queue_->EnableNotification()) break;
      continue;
    }
    // §5.4.6: the device fills the device-writable buffers; readable ones
    // carry nothing for it and are ignored.
    size_t written = 0;
    for (const iovec& v : chain_.writable) {
      const size_t want =
          std::min<size_t>(v.iov_len, kMaxBytesPerRequest - written);
      const size_t got_bytes =
          FillRandom(static_cast<uint8_t*>(v.iov_base), want);
      written += got_bytes;
      if (got_bytes < want || written == kMaxBytesPerRequest) break;
    }
    requests_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(written, std::memory_order_relaxed);
    if (written <
        std::min<uint64_t>(chain_.writable_bytes, kMaxBytesPerRequest)) {
      errors_.fetch_add(1, std::memory_order_relaxed);
    }
    queue_->AddUsed(chain_.head, static_cast<uint32_t>(written));
  }
  if (queue_->PublishUsed() && interrupt_ != nullptr) {
    interrupt_->SignalUsed(0);
  }
  return error;
}

void VirtioRng::AppendMetrics(
    std::vector<std::pair<std::string, uint64_t>>& out) const {
  out.emplace_back("requests", requests_.load(std::memory_order_relaxed));
  out.emplace_back("bytes", bytes_.load(std::memory_order_relaxed));
  out.emplace_back("errors", errors_.load(std::memory_order_relaxed));
}

}  // namespace skiff::devices
