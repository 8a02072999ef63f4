// VirtioDevice is what a virtio transport (virtio-mmio here) drives: a device
// type (blk, rng, ...) with its features, configuration space and queues.
// The transport owns the generic machinery of virtio 1.2 §2 and §3 (status,
// feature negotiation, queue registers, interrupts); a device only parses
// requests.
//
//   class MyDevice : public VirtioDevice { ... };
//   auto dev = std::make_shared<VirtioMmio>(mem, std::make_unique<MyDevice>(),
//                                           irq);
//   // Guest sets DRIVER_OK -> transport calls dev->Activate(...).
//   // Guest writes QueueNotify -> transport calls its notify callback, and
//   // the event loop calls VirtioMmio::ProcessQueue(q) -> ProcessQueue(q).
//
// Threading model:
// - Register accesses (ReadConfig, WriteConfig, Activate, Reset) arrive on
//   vCPU threads, serialized by the transport's lock.
// - ProcessQueue and the completions of the device's backend run on one
//   device thread (the event loop), never concurrently with each other.
// - Therefore a device guards the state both sides touch (its queues and
//   whether it is active) with its own mutex. Lock order: transport lock ->
//   device lock. A device must not call back into the transport while
//   holding its lock except through VirtioInterrupt, which takes no lock.
// - Queue notifications: the transport calls its `notify` callback (set by
//   the machine) on the vCPU thread that wrote QueueNotify; the machine turns
//   that into ProcessQueue on the event loop (under KVM an ioeventfd does the
//   same without a vCPU exit). With no callback set, the transport calls
//   ProcessQueue synchronously on the vCPU thread, which is what unit tests
//   and a single-threaded setup use.
#ifndef SKIFF_DEVICES_VIRTIO_VIRTIO_DEVICE_H_
#define SKIFF_DEVICES_VIRTIO_VIRTIO_DEVICE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "devices/virtio/virtqueue.h"

namespace skiff::devices {

// Device IDs of virtio 1.2 §5.
inline constexpr uint32_t kVirtioIdNet = 1;
inline constexpr uint32_t kVirtioIdBlock = 2;
inline constexpr uint32_t kVirtioIdConsole = 3;
inline constexpr uint32_t kVirtioIdRng = 4;
inline constexpr uint32_t kVirtioIdVsock = 19;

// How a device tells the driver about used buffers and configuration
// changes (§2.3). Implemented by the transport; lock-free and callable from
// any thread, including with the device's lock held.
class VirtioInterrupt {
 public:
  virtual ~VirtioInterrupt() = default;
  // A used-buffer notification for `queue`.
  virtual void SignalUsed(uint32_t queue) = 0;
  // A configuration-change notification; also bumps ConfigGeneration.
  virtual void SignalConfig() = 0;
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  // §5 device ID.
  virtual uint32_t device_id() const = 0;
  // Feature bits offered, device-specific and ring ones (INDIRECT_DESC,
  // EVENT_IDX). The transport adds VIRTIO_F_VERSION_1 itself.
  virtual uint64_t device_features() const = 0;
  virtual uint16_t num_queues() const = 0;
  // QueueNumMax for every queue.
  virtual uint16_t max_queue_size() const { return 256; }

  // Device configuration space (§4.2.2 offset 0x100 onwards). `offset` is
  // relative to its start; reads past its end must fill zeroes.
  virtual void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) = 0;
  virtual void WriteConfig(uint64_t offset, absl::Span<const uint8_t> data) {
    (void)offset;
    (void)data;
  }

  // The driver set DRIVER_OK. `queues[i]` is empty for a queue the driver
  // did not enable. `interrupt` outlives the activation (until Reset).
  // An error puts the transport into DEVICE_NEEDS_RESET.
  virtual absl::Status Activate(const GuestMemory& mem, uint64_t features,
                                std::vector<std::optional<Virtqueue>> queues,
                                VirtioInterrupt* interrupt) = 0;
  // The driver wrote 0 to Status: forget queues and negotiated state.
  // Requests still in flight in a backend complete into nothing.
  virtual void Reset() = 0;
  // Processes what the driver made available on `queue` (device thread).
  // An error (malformed ring) makes the transport set DEVICE_NEEDS_RESET;
  // the device should ignore that queue until Reset.
  virtual absl::Status ProcessQueue(uint32_t queue) = 0;

  // Pause/Resume (vmm's PATCH /vm Paused), device thread (event loop),
  // between ProcessQueue calls. While paused the transport holds back queue
  // notifications, and a device must not touch guest memory on host-side
  // events (received frames, vsock data): it remembers them instead, and
  // Resume delivers what waited (the host fd may not signal again).
  virtual void Pause() {}
  virtual void Resume() {}
  // Blocks until no request of this device is in flight in a backend and
  // every completion has been published to the guest. Called on another
  // thread than the device thread (which must keep running to complete
  // them), after Pause, so nothing new starts meanwhile.
  virtual void WaitIdle() {}

  // Metrics: appends this device's counters as (name, value) pairs, e.g.
  // ("read_bytes", 4096). Any thread, so read atomics (or take the
  // device's lock).
  virtual void AppendMetrics(
      std::vector<std::pair<std::string, uint64_t>>& out) const {
    (void)out;
  }
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_VIRTIO_DEVICE_H_
