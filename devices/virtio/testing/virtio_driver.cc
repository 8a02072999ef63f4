#include "devices/virtio/testing/virtio_driver.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "devices/virtio/virtio_mmio.h"

namespace skiff::devices::testing {
namespace {

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

DriverQueue::DriverQueue(const GuestMemory& mem, GuestAddr base, uint16_t size)
    : mem_(mem) {
  layout_.size = size;
  layout_.desc = base;
  layout_.avail = base + 16ull * size;
  layout_.used =
      GuestAddr(AlignUp((layout_.avail + 6ull + 2ull * size).value(), 4));
  (void)mem_.Fill(base, 0, Footprint(size));
  for (int i = size - 1; i >= 0; --i) free_.push_back(static_cast<uint16_t>(i));
}

uint64_t DriverQueue::Footprint(uint16_t size) {
  return AlignUp(16ull * size + 6ull + 2ull * size, 4) + 6ull + 8ull * size;
}

void DriverQueue::WriteDesc(uint16_t index, const VirtqDesc& desc) {
  (void)mem_.WriteObj(layout_.desc + 16ull * index, desc);
}

void DriverQueue::PushAvail(uint16_t head) {
  (void)mem_.WriteObj(layout_.avail + 4 + 2ull * (next_avail_ % layout_.size),
                      head);
  ++next_avail_;
  SetAvailIdx(next_avail_);
}

void DriverQueue::SetAvailIdx(uint16_t idx) {
  next_avail_ = idx;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  (void)mem_.WriteObj(layout_.avail + 2, idx);
}

uint16_t DriverQueue::avail_idx() const {
  return mem_.ReadObj<uint16_t>(layout_.avail + 2).value_or(0);
}

void DriverQueue::SetAvailFlags(uint16_t flags) {
  (void)mem_.WriteObj(layout_.avail, flags);
}

void DriverQueue::SetUsedEvent(uint16_t idx) {
  (void)mem_.WriteObj(layout_.avail + 4 + 2ull * layout_.size, idx);
}

uint16_t DriverQueue::avail_event() const {
  return mem_.ReadObj<uint16_t>(layout_.used + 4 + 8ull * layout_.size)
      .value_or(0);
}

bool DriverQueue::NeedsNotify(uint16_t old, bool event_idx) const {
  if (event_idx) return VringNeedEvent(avail_event(), avail_idx(), old);
  return !(mem_.ReadObj<uint16_t>(layout_.used).value_or(0) &
           kVirtqUsedFNoNotify);
}

uint16_t DriverQueue::used_idx() const {
  return mem_.ReadObj<uint16_t>(layout_.used + 2).value_or(0);
}

int DriverQueue::Add(absl::Span<const Buffer> bufs) {
  if (bufs.empty() || bufs.size() > free_.size()) return -1;
  std::vector<uint16_t> chain;
  for (size_t i = 0; i < bufs.size(); ++i) {
    chain.push_back(free_.back());
    free_.pop_back();
  }
  for (size_t i = 0; i < bufs.size(); ++i) {
    const bool last = i + 1 == bufs.size();
    WriteDesc(chain[i],
              VirtqDesc{bufs[i].addr.value(), bufs[i].len,
                        static_cast<uint16_t>(
                            (bufs[i].device_writable ? kVirtqDescFWrite : 0) |
                            (last ? 0 : kVirtqDescFNext)),
                        last ? uint16_t{0} : chain[i + 1]});
  }
  const uint16_t head = chain[0];
  in_flight_[head] = std::move(chain);
  PushAvail(head);
  return head;
}

int DriverQueue::AddIndirect(absl::Span<const Buffer> bufs, GuestAddr table) {
  if (bufs.empty() || free_.empty()) return -1;
  for (size_t i = 0; i < bufs.size(); ++i) {
    const bool last = i + 1 == bufs.size();
    VirtqDesc d{
        bufs[i].addr.value(), bufs[i].len,
        static_cast<uint16_t>((bufs[i].device_writable ? kVirtqDescFWrite : 0) |
                              (last ? 0 : kVirtqDescFNext)),
        static_cast<uint16_t>(last ? 0 : i + 1)};
    (void)mem_.WriteObj(table + 16ull * i, d);
  }
  const uint16_t head = free_.back();
  free_.pop_back();
  WriteDesc(head,
            VirtqDesc{table.value(), static_cast<uint32_t>(16 * bufs.size()),
                      kVirtqDescFIndirect, 0});
  in_flight_[head] = {head};
  PushAvail(head);
  return head;
}

std::optional<VirtqUsedElem> DriverQueue::PopUsed() {
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  if (used_idx() == last_used_) return std::nullopt;
  auto elem = mem_.ReadObj<VirtqUsedElem>(layout_.used + 4 +
                                          8ull * (last_used_ % layout_.size));
  ++last_used_;
  if (!elem.ok()) return std::nullopt;
  auto it = in_flight_.find(static_cast<uint16_t>(elem->id));
  if (it != in_flight_.end()) {
    for (uint16_t d : it->second) free_.push_back(d);
    in_flight_.erase(it);
  }
  return *elem;
}

VirtioMmioDriver::VirtioMmioDriver(const GuestMemory& mem, BusDevice& dev,
                                   GuestAddr heap)
    : mem_(mem), dev_(dev), heap_(heap) {}

uint32_t VirtioMmioDriver::Read32(uint64_t offset) {
  uint32_t v = 0;
  dev_.Read(offset, absl::MakeSpan(reinterpret_cast<uint8_t*>(&v), 4));
  return v;
}

void VirtioMmioDriver::Write32(uint64_t offset, uint32_t value) {
  dev_.Write(offset,
             absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&value), 4));
}

uint64_t VirtioMmioDriver::DeviceFeatures() {
  Write32(kMmioDeviceFeaturesSel, 0);
  uint64_t f = Read32(kMmioDeviceFeatures);
  Write32(kMmioDeviceFeaturesSel, 1);
  f |= uint64_t{Read32(kMmioDeviceFeatures)} << 32;
  return f;
}

absl::Status VirtioMmioDriver::Negotiate(uint64_t features) {
  if (Read32(kMmioMagicValue) != kVirtioMmioMagic ||
      Read32(kMmioVersion) != 2) {
    return absl::FailedPreconditionError("not a virtio-mmio v2 device");
  }
  Write32(kMmioStatus, 0);
  queues_.clear();
  Write32(kMmioStatus, kStatusAcknowledge);
  Write32(kMmioStatus, kStatusAcknowledge | kStatusDriver);
  Write32(kMmioDriverFeaturesSel, 0);
  Write32(kMmioDriverFeatures, static_cast<uint32_t>(features));
  Write32(kMmioDriverFeaturesSel, 1);
  Write32(kMmioDriverFeatures, static_cast<uint32_t>(features >> 32));
  Write32(kMmioStatus, kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
  if (!(Read32(kMmioStatus) & kStatusFeaturesOk)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("device refused features 0x%x", features));
  }
  return absl::OkStatus();
}

absl::StatusOr<DriverQueue*> VirtioMmioDriver::SetupQueue(uint16_t q,
                                                          uint16_t size) {
  Write32(kMmioQueueSel, q);
  if (Read32(kMmioQueueReady) != 0) {
    return absl::FailedPreconditionError("queue already ready");
  }
  const uint32_t max = Read32(kMmioQueueNumMax);
  if (max == 0 || size > max) {
    return absl::InvalidArgumentError(
        absl::StrFormat("queue %u: size %u, QueueNumMax %u", q, size, max));
  }
  GuestAddr base = Alloc(DriverQueue::Footprint(size), 4096);
  auto dq = std::make_unique<DriverQueue>(mem_, base, size);
  const Virtqueue::Layout l = dq->layout();
  Write32(kMmioQueueNum, size);
  Write32(kMmioQueueDescLow, static_cast<uint32_t>(l.desc.value()));
  Write32(kMmioQueueDescHigh, static_cast<uint32_t>(l.desc.value() >> 32));
  Write32(kMmioQueueDriverLow, static_cast<uint32_t>(l.avail.value()));
  Write32(kMmioQueueDriverHigh, static_cast<uint32_t>(l.avail.value() >> 32));
  Write32(kMmioQueueDeviceLow, static_cast<uint32_t>(l.used.value()));
  Write32(kMmioQueueDeviceHigh, static_cast<uint32_t>(l.used.value() >> 32));
  Write32(kMmioQueueReady, 1);
  if (queues_.size() <= q) queues_.resize(q + 1);
  queues_[q] = std::move(dq);
  return queues_[q].get();
}

void VirtioMmioDriver::DriverOk() {
  Write32(kMmioStatus, Read32(kMmioStatus) | kStatusDriverOk);
}

void VirtioMmioDriver::Notify(uint16_t q) { Write32(kMmioQueueNotify, q); }

uint32_t VirtioMmioDriver::AckInterrupts() {
  const uint32_t s = Read32(kMmioInterruptStatus);
  Write32(kMmioInterruptAck, s);
  return s;
}

void VirtioMmioDriver::ReadConfig(uint64_t offset, absl::Span<uint8_t> out) {
  dev_.Read(kMmioConfig + offset, out);
}

GuestAddr VirtioMmioDriver::Alloc(uint64_t size, uint64_t align) {
  GuestAddr a(AlignUp(heap_.value(), align));
  heap_ = a + size;
  (void)mem_.Fill(a, 0, size);
  return a;
}

}  // namespace skiff::devices::testing
