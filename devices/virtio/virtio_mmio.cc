#include "devices/virtio/virtio_mmio.h"

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace skiff::devices {

VirtioMmio::VirtioMmio(const GuestMemory& mem,
                       std::unique_ptr<VirtioDevice> device, IrqLine* irq)
    : mem_(mem),
      device_(std::move(device)),
      irq_(irq),
      offered_features_(device_->device_features() |
                        (uint64_t{1} << kVirtioFVersion1)) {
  absl::MutexLock lock(&mu_);
  ResetLocked();
}

VirtioMmio::~VirtioMmio() = default;

uint32_t VirtioMmio::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

void VirtioMmio::SignalUsed(uint32_t queue) {
  (void)queue;  // one interrupt line for every queue (§4.2.3.4)
  interrupt_status_.fetch_or(kInterruptUsedBuffer);
  if (irq_ != nullptr) irq_->Pulse();
}

void VirtioMmio::SignalConfig() {
  config_generation_.fetch_add(1);
  interrupt_status_.fetch_or(kInterruptConfigChange);
  if (irq_ != nullptr) irq_->Pulse();
}

void VirtioMmio::Read(uint64_t offset, absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  if (offset >= kMmioConfig) {
    // The configuration space allows any access width (§4.2.2.2).
    device_->ReadConfig(offset - kMmioConfig, data);
    return;
  }
  if (data.size() != 4 || offset % 4 != 0) {
    std::memset(data.data(), 0, data.size());
    if (log_limiter_.Allow()) {
      SKIFF_LOG(kWarn, "virtio-mmio: ignored read offset=0x%x size=%u", offset,
                data.size());
    }
    return;
  }
  const uint32_t value = ReadRegister(offset);
  std::memcpy(data.data(), &value, 4);
}

void VirtioMmio::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  int64_t notify_queue = -1;
  {
    absl::MutexLock lock(&mu_);
    if (offset >= kMmioConfig) {
      device_->WriteConfig(offset - kMmioConfig, data);
      return;
    }
    if (data.size() != 4 || offset % 4 != 0) {
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn, "virtio-mmio: ignored write offset=0x%x size=%u",
                  offset, data.size());
      }
      return;
    }
    uint32_t value;
    std::memcpy(&value, data.data(), 4);
    notify_queue = WriteRegister(offset, value);
  }
  // Outside the lock: the synchronous path re-enters the device, and a
  // notify callback may take the event loop's lock.
  if (notify_queue < 0) return;
  if (notify_) {
    notify_(static_cast<uint32_t>(notify_queue));
  } else {
    ProcessQueue(static_cast<uint32_t>(notify_queue));
  }
}

VirtioMmio::QueueRegs* VirtioMmio::SelectedQueue() {
  return queue_sel_ < queues_.size() ? &queues_[queue_sel_] : nullptr;
}

uint32_t VirtioMmio::ReadRegister(uint64_t offset) {
  const QueueRegs* q = SelectedQueue();
  switch (offset) {
    case kMmioMagicValue:
      return kVirtioMmioMagic;
    case kMmioVersion:
      return 2;
    case kMmioDeviceId:
      return device_->device_id();
    case kMmioVendorId:
      return kVendorId;
    case kMmioDeviceFeatures:
      return device_features_sel_ < 2
                 ? static_cast<uint32_t>(offered_features_ >>
                                         (32 * device_features_sel_))
                 : 0;
    case kMmioQueueNumMax:
      return q != nullptr ? device_->max_queue_size() : 0;
    case kMmioQueueNum:
      return q != nullptr ? q->num : 0;
    case kMmioQueueReady:
      return q != nullptr && q->ready ? 1 : 0;
    case kMmioInterruptStatus:
      return interrupt_status_.load();
    case kMmioStatus:
      return status_;
    case kMmioQueueDescLow:
      return q != nullptr ? static_cast<uint32_t>(q->desc) : 0;
    case kMmioQueueDescHigh:
      return q != nullptr ? static_cast<uint32_t>(q->desc >> 32) : 0;
    case kMmioQueueDriverLow:
      return q != nullptr ? static_cast<uint32_t>(q->driver) : 0;
    case kMmioQueueDriverHigh:
      return q != nullptr ? static_cast<uint32_t>(q->driver >> 32) : 0;
    case kMmioQueueDeviceLow:
      return q != nullptr ? static_cast<uint32_t>(q->device) : 0;
    case kMmioQueueDeviceHigh:
      return q != nullptr ? static_cast<uint32_t>(q->device >> 32) : 0;
    case kMmioShmLenLow:
    case kMmioShmLenHigh:
      // No shared memory regions: a length of -1 says so (§4.2.2).
      return 0xffffffff;
    case kMmioConfigGeneration:
      return config_generation_.load();
    default:
      // Write-only and reserved registers (QueueNotify, InterruptACK, the
      // selectors, DriverFeatures, SHMBase, QueueReset) read as zero.
      return 0;
  }
}

int64_t VirtioMmio::WriteRegister(uint64_t offset, uint32_t value) {
  QueueRegs* q = SelectedQueue();
  // §3.1.1: queues are set up before DRIVER_OK and left alone afterwards;
  // a ready queue is not reconfigured (§4.2.2.3).
  const bool queue_writable = q != nullptr && !q->ready &&
                              !(status_ & (kStatusDriverOk | kStatusFailed));
  auto set_low = [](uint64_t& reg, uint32_t v) {
    reg = (reg & ~uint64_t{0xffffffff}) | v;
  };
  auto set_high = [](uint64_t& reg, uint32_t v) {
    reg = (reg & 0xffffffff) | (uint64_t{v} << 32);
  };
  switch (offset) {
    case kMmioDeviceFeaturesSel:
      device_features_sel_ = value;
      break;
    case kMmioDriverFeatures:
      // Features are frozen once FEATURES_OK is set (§2.2.1 / §3.1.1).
      if (!(status_ & kStatusFeaturesOk) && driver_features_sel_ < 2) {
        if (driver_features_sel_ == 0) {
          set_low(driver_features_, value);
        } else {
          set_high(driver_features_, value);
        }
      }
      break;
    case kMmioDriverFeaturesSel:
      driver_features_sel_ = value;
      break;
    case kMmioQueueSel:
      queue_sel_ = value;
      break;
    case kMmioQueueNum:
      if (queue_writable) q->num = static_cast<uint16_t>(value);
      break;
    case kMmioQueueReady:
      // Writing 0 to a ready queue is a queue reset, which we do not offer
      // (VIRTIO_F_RING_RESET); before DRIVER_OK it simply disables it.
      if (q != nullptr && !(status_ & kStatusDriverOk)) q->ready = value & 1;
      break;
    case kMmioQueueNotify:
      // Without VIRTIO_F_NOTIFICATION_DATA the value is the queue index.
      if ((status_ & kStatusDriverOk) && !(status_ & kStatusNeedsReset) &&
          value < queues_.size()) {
        return value;
      }
      break;
    case kMmioInterruptAck:
      interrupt_status_.fetch_and(~value);
      break;
    case kMmioStatus:
      WriteStatus(value);
      break;
    case kMmioQueueDescLow:
      if (queue_writable) set_low(q->desc, value);
      break;
    case kMmioQueueDescHigh:
      if (queue_writable) set_high(q->desc, value);
      break;
    case kMmioQueueDriverLow:
      if (queue_writable) set_low(q->driver, value);
      break;
    case kMmioQueueDriverHigh:
      if (queue_writable) set_high(q->driver, value);
      break;
    case kMmioQueueDeviceLow:
      if (queue_writable) set_low(q->device, value);
      break;
    case kMmioQueueDeviceHigh:
      if (queue_writable) set_high(q->device, value);
      break;
    case kMmioShmSel:
      shm_sel_ = value;
      break;
    default:
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn, "virtio-mmio: write to read-only offset=0x%x", offset);
      }
      break;
  }
  return -1;
}

void VirtioMmio::WriteStatus(uint32_t value) {
  value &= 0xff;
  if (value == 0) {
    // §4.2.2.1: writing zero resets the device.
    ResetLocked();
    return;
  }
  // NEEDS_RESET is the device's to set; the driver cannot clear it.
  value = (value & ~kStatusNeedsReset) | (status_ & kStatusNeedsReset);
  if ((status_ & ~value) != 0) {
    // §2.1.1: the driver never clears a bit except by resetting.
    if (log_limiter_.Allow()) {
      SKIFF_LOG(kWarn, "virtio-mmio: status 0x%x clears bits of 0x%x", value,
                status_);
    }
    return;
  }
  const uint32_t added = value & ~status_;
  if (added & kStatusFeaturesOk) {
    // §3.1.1 steps 5-6: accept only a subset of what we offered, and only
    // modern drivers (VERSION_1). A refused FEATURES_OK reads back clear.
    const bool subset = (driver_features_ & ~offered_features_) == 0;
    const bool modern = (driver_features_ >> kVirtioFVersion1) & 1;
    if (!subset || !modern ||
        (value & (kStatusAcknowledge | kStatusDriver)) !=
            (kStatusAcknowledge | kStatusDriver)) {
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn,
                  "virtio-mmio: refused FEATURES_OK driver_features=0x%x "
                  "offered=0x%x",
                  driver_features_, offered_features_);
      }
      value &= ~kStatusFeaturesOk;
    }
  }
  if ((added & kStatusDriverOk) && !(value & kStatusFeaturesOk)) {
    // DRIVER_OK without negotiated features: the driver skipped a step.
    value &= ~kStatusDriverOk;
    status_ = value;
    MarkNeedsReset(
        absl::FailedPreconditionError("DRIVER_OK before FEATURES_OK"));
    return;
  }
  status_ = value;
  if ((added & kStatusDriverOk) && !(status_ & kStatusNeedsReset)) {
    if (absl::Status s = ActivateLocked(); !s.ok()) MarkNeedsReset(s);
  }
}

absl::Status VirtioMmio::ActivateLocked() {
  std::vector<std::optional<Virtqueue>> queues(queues_.size());
  for (size_t i = 0; i < queues_.size(); ++i) {
    const QueueRegs& r = queues_[i];
    if (!r.ready) continue;
    if (r.num > device_->max_queue_size()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("queue %u size %u above QueueNumMax %u", i, r.num,
                          device_->max_queue_size()));
    }
    SKIFF_ASSIGN_OR_RETURN(Virtqueue vq,
                           Virtqueue::Create(mem_,
                                             {.size = r.num,
                                              .desc = GuestAddr(r.desc),
                                              .avail = GuestAddr(r.driver),
                                              .used = GuestAddr(r.device)},
                                             driver_features_));
    queues[i].emplace(std::move(vq));
  }
  return device_->Activate(mem_, driver_features_, std::move(queues), this);
}

void VirtioMmio::MarkNeedsReset(const absl::Status& why) {
  if (log_limiter_.Allow()) {
    SKIFF_LOG(kWarn, "virtio-mmio: device_id=%u needs reset: %s",
              device_->device_id(), OneLine(std::string(why.message())));
  }
  status_ |= kStatusNeedsReset;
  // Buffers may hold data the device wrote but never published.
  mem_.NoteWrite();
  SignalConfig();
}

void VirtioMmio::ResetLocked() {
  device_->Reset();
  mem_.NoteWrite();  // as in MarkNeedsReset
  status_ = 0;
  device_features_sel_ = 0;
  driver_features_sel_ = 0;
  driver_features_ = 0;
  queue_sel_ = 0;
  shm_sel_ = 0;
  queues_.assign(device_->num_queues(), QueueRegs{});
  // §4.2.2.1: QueueNum has no defined reset value; start at the maximum as
  // QEMU does, for drivers that never write it.
  for (QueueRegs& q : queues_) q.num = device_->max_queue_size();
  interrupt_status_.store(0);
}

void VirtioMmio::Pause() {
  {
    absl::MutexLock lock(&pause_mu_);
    if (paused_) return;
    paused_ = true;
  }
  device_->Pause();
}

void VirtioMmio::Resume() {
  std::vector<bool> held;
  {
    absl::MutexLock lock(&pause_mu_);
    if (!paused_) return;
    paused_ = false;
    held.swap(held_queues_);
  }
  device_->Resume();
  for (uint32_t q = 0; q < held.size(); ++q) {
    if (held[q]) ProcessQueue(q);
  }
}

bool VirtioMmio::paused() const {
  absl::MutexLock lock(&pause_mu_);
  return paused_;
}

void VirtioMmio::ProcessQueue(uint32_t queue) {
  {
    absl::MutexLock lock(&pause_mu_);
    if (paused_) {
      // QueueNotify only passes indices below num_queues (a uint16_t).
      if (queue >= held_queues_.size()) held_queues_.resize(queue + 1);
      held_queues_[queue] = true;
      return;
    }
  }
  absl::Status s = device_->ProcessQueue(queue);
  if (s.ok()) return;
  absl::MutexLock lock(&mu_);
  // An error from a queue of an earlier incarnation (reset since) is moot.
  if (status_ & kStatusDriverOk) MarkNeedsReset(s);
}

}  // namespace skiff::devices
