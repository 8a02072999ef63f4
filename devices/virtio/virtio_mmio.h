// VirtioMmio is the virtio-mmio transport, register layout version 2
// (virtio 1.2 §4.2.2), as a 0x200-byte BusDevice: magic, version, IDs,
// feature negotiation with selectors, the queue registers, QueueNotify,
// InterruptStatus/ACK, the device status state machine (§2.1, §3.1.1) and the
// device's configuration space at 0x100. VIRTIO_F_VERSION_1 is always
// offered and required (no legacy interface).
//
//   auto blk = std::make_shared<VirtioMmio>(*mem, std::move(virtio_blk),
//                                           irq_line);
//   // Raw pointer: capturing the shared_ptr would make a cycle.
//   blk->set_notify([loop, dev = blk.get()](uint32_t q) {
//     loop->Post([dev, q] { dev->ProcessQueue(q); });
//   });
//   SKIFF_RETURN_IF_ERROR(mmio_bus.Insert(blk, 0xd000'0000,
//                                         VirtioMmio::kSize));
//   // Linux finds it via "virtio_mmio.device=512@0xd0000000:5" or ACPI.
//
// Interrupts: on a used-buffer or configuration notification the transport
// sets the matching InterruptStatus bit and Pulse()s the IrqLine (an edge,
// like an irqfd); the driver reads InterruptStatus and writes InterruptACK.
//
// Guest errors: a malformed ring found by ProcessQueue, or a queue the
// driver enabled with an invalid layout, sets DEVICE_NEEDS_RESET (§2.1.2)
// and sends a configuration-change interrupt; the guest must reset the
// device. Register accesses that are not 32-bit and aligned (§4.2.2.2) read
// zero and are ignored when written.
//
// Pause: while the VM is paused, notifications are remembered rather than
// processed (Pause/Resume), so no device writes guest memory.
//
// Thread-safety: Read/Write come from vCPU threads and are serialized by
// mu_; ProcessQueue, Pause and Resume run on the event loop without mu_ (see
// virtio_device.h). Lock order: mu_ -> device lock -> IrqLine; pause_mu_ is
// never held while calling out.
#ifndef SKIFF_DEVICES_VIRTIO_VIRTIO_MMIO_H_
#define SKIFF_DEVICES_VIRTIO_VIRTIO_MMIO_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "base/log.h"
#include "base/vcpu_backend.h"
#include "devices/bus.h"
#include "devices/virtio/virtio_device.h"

namespace skiff::devices {

// Register offsets of §4.2.2 (also linux/virtio_mmio.h).
enum VirtioMmioReg : uint64_t {
  kMmioMagicValue = 0x000,
  kMmioVersion = 0x004,
  kMmioDeviceId = 0x008,
  kMmioVendorId = 0x00c,
  kMmioDeviceFeatures = 0x010,
  kMmioDeviceFeaturesSel = 0x014,
  kMmioDriverFeatures = 0x020,
  kMmioDriverFeaturesSel = 0x024,
  kMmioQueueSel = 0x030,
  kMmioQueueNumMax = 0x034,
  kMmioQueueNum = 0x038,
  kMmioQueueReady = 0x044,
  kMmioQueueNotify = 0x050,
  kMmioInterruptStatus = 0x060,
  kMmioInterruptAck = 0x064,
  kMmioStatus = 0x070,
  kMmioQueueDescLow = 0x080,
  kMmioQueueDescHigh = 0x084,
  kMmioQueueDriverLow = 0x090,
  kMmioQueueDriverHigh = 0x094,
  kMmioQueueDeviceLow = 0x0a0,
  kMmioQueueDeviceHigh = 0x0a4,
  kMmioShmSel = 0x0ac,
  kMmioShmLenLow = 0x0b0,
  kMmioShmLenHigh = 0x0b4,
  kMmioShmBaseLow = 0x0b8,
  kMmioShmBaseHigh = 0x0bc,
  kMmioQueueReset = 0x0c0,
  kMmioConfigGeneration = 0x0fc,
  kMmioConfig = 0x100,
};

// Device status bits (§2.1).
inline constexpr uint32_t kStatusAcknowledge = 1;
inline constexpr uint32_t kStatusDriver = 2;
inline constexpr uint32_t kStatusDriverOk = 4;
inline constexpr uint32_t kStatusFeaturesOk = 8;
inline constexpr uint32_t kStatusNeedsReset = 0x40;
inline constexpr uint32_t kStatusFailed = 0x80;

// InterruptStatus bits (§4.2.2).
inline constexpr uint32_t kInterruptUsedBuffer = 1;
inline constexpr uint32_t kInterruptConfigChange = 2;

inline constexpr uint32_t kVirtioMmioMagic = 0x74726976;  // "virt"

class VirtioMmio : public BusDevice, private VirtioInterrupt {
 public:
  static constexpr uint64_t kSize = 0x200;
  static constexpr uint32_t kVendorId = 0x46494b53;  // "SKIF"

  // `mem`, `irq` (may be null: no interrupts) must outlive the transport.
  VirtioMmio(const GuestMemory& mem, std::unique_ptr<VirtioDevice> device,
             IrqLine* irq);
  ~VirtioMmio() override;

  // Called on the vCPU thread when the guest writes QueueNotify of an
  // active device. Set it before the guest runs; without one, the transport
  // calls ProcessQueue inline (tests, single-threaded use).
  void set_notify(absl::AnyInvocable<void(uint32_t queue)> notify) {
    notify_ = std::move(notify);
  }

  void Read(uint64_t offset, absl::Span<uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Runs the device's ProcessQueue(queue); on the device thread (event
  // loop). A guest error sets DEVICE_NEEDS_RESET.
  void ProcessQueue(uint32_t queue) ABSL_LOCKS_EXCLUDED(mu_);

  // Device quiesce for a VM pause, on the device thread: from Pause until
  // Resume, ProcessQueue only remembers which queues were notified, and the
  // device holds back host-side events (VirtioDevice::Pause). Resume
  // processes the remembered queues. Then device().WaitIdle() from another
  // thread waits for requests already in a backend.
  void Pause() ABSL_LOCKS_EXCLUDED(pause_mu_);
  void Resume() ABSL_LOCKS_EXCLUDED(pause_mu_);
  bool paused() const ABSL_LOCKS_EXCLUDED(pause_mu_);

  VirtioDevice& device() const { return *device_; }
  uint32_t status() const ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t interrupt_status() const { return interrupt_status_.load(); }

 private:
  struct QueueRegs {
    uint16_t num = 0;
    bool ready = false;
    uint64_t desc = 0;
    uint64_t driver = 0;
    uint64_t device = 0;
  };

  // VirtioInterrupt, handed to the device at Activate.
  void SignalUsed(uint32_t queue) override;
  void SignalConfig() override;

  uint32_t ReadRegister(uint64_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns the queue to notify, or -1.
  int64_t WriteRegister(uint64_t offset, uint32_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteStatus(uint32_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ResetLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Builds the enabled queues and activates the device.
  absl::Status ActivateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The selected queue's registers, or null for a selector past the end.
  QueueRegs* SelectedQueue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkNeedsReset(const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const GuestMemory& mem_;
  const std::unique_ptr<VirtioDevice> device_;
  IrqLine* const irq_;
  const uint64_t offered_features_;
  absl::AnyInvocable<void(uint32_t)> notify_;  // set before the guest runs

  // Lock-free so that the device can signal from any thread.
  std::atomic<uint32_t> interrupt_status_{0};
  std::atomic<uint32_t> config_generation_{0};
  RateLimiter log_limiter_;

  mutable absl::Mutex mu_;
  uint32_t status_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t device_features_sel_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t driver_features_sel_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t driver_features_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t queue_sel_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t shm_sel_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<QueueRegs> queues_ ABSL_GUARDED_BY(mu_);

  // Separate from mu_: ProcessQueue runs without mu_ (see above).
  mutable absl::Mutex pause_mu_;
  bool paused_ ABSL_GUARDED_BY(pause_mu_) = false;
  // [q]: queue q was notified while paused.
  std::vector<bool> held_queues_ ABSL_GUARDED_BY(pause_mu_);
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_VIRTIO_MMIO_H_
