// VirtioRng is the virtio entropy device (virtio 1.2 §5.4): one request
// queue whose device-writable buffers it fills from getrandom(2). It has no
// feature bits of its own and no configuration space.
//
//   auto rng = std::make_shared<VirtioMmio>(*mem,
//                                           std::make_unique<VirtioRng>(),
//                                           irq);
//   SKIFF_RETURN_IF_ERROR(mmio_bus.Insert(rng, base, VirtioMmio::kSize));
//
// Each chain gets at most kMaxBytesPerRequest bytes (§5.4.6.1 lets the
// device write fewer bytes than the buffer holds; the used length says how
// many). getrandom is called with GRND_NONBLOCK, so an unseeded host pool
// gives short answers instead of stalling the event loop.
//
// Thread-safety: see virtio_device.h; mu_ guards the queue between
// Activate/Reset (vCPU threads) and ProcessQueue (event loop).
#ifndef SKIFF_DEVICES_VIRTIO_VIRTIO_RNG_H_
#define SKIFF_DEVICES_VIRTIO_VIRTIO_RNG_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "devices/virtio/virtio_device.h"

namespace skiff::devices {

class VirtioRng : public VirtioDevice {
 public:
  static constexpr uint32_t kMaxBytesPerRequest = 64 * 1024;

  uint32_t device_id() const override { return kVirtioIdRng; }
  uint64_t device_features() const override;
  uint16_t num_queues() const override { return 1; }
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) override;
  absl::Status Activate(const GuestMemory& mem, uint64_t features,
                        std::vector<std::optional<Virtqueue>> queues,
                        VirtioInterrupt* interrupt) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Reset() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ProcessQueue(uint32_t queue) override ABSL_LOCKS_EXCLUDED(mu_);
  // requests, bytes, errors (malformed rings, short fills).
  void AppendMetrics(
      std::vector<std::pair<std::string, uint64_t>>& out) const override;

 private:
  // Relaxed atomics, any thread.
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> errors_{0};

  absl::Mutex mu_;
  std::optional<Virtqueue> queue_ ABSL_GUARDED_BY(mu_);
  VirtioInterrupt* interrupt_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  DescriptorChain chain_ ABSL_GUARDED_BY(mu_);
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_VIRTIO_RNG_H_
