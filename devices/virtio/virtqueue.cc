#include "devices/virtio/virtqueue.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "absl/strings/str_format.h"

namespace skiff::devices {
namespace {

// Offsets inside the driver area (§2.7.6) and the device area (§2.7.8).
constexpr uint64_t kAvailFlags = 0;
constexpr uint64_t kAvailIdx = 2;
constexpr uint64_t kAvailRing = 4;
constexpr uint64_t kUsedFlags = 0;
constexpr uint64_t kUsedIdx = 2;
constexpr uint64_t kUsedRing = 4;

// The areas are aligned (checked at Create) and the host mapping is
// page-aligned, so these 16-bit fields are naturally aligned host memory
// that the guest writes concurrently: access them atomically.
uint16_t Load16(const uint8_t* p, int order) {
  return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), order);
}
void Store16(uint8_t* p, uint16_t v, int order) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, order);
}
void Store32(uint8_t* p, uint32_t v) {
  __atomic_store_n(reinterpret_cast<uint32_t*>(p), v, __ATOMIC_RELAXED);
}

absl::Status Malformed(const std::string& what) {
  return absl::DataLossError(absl::StrCat("virtqueue: ", what));
}

}  // namespace

absl::StatusOr<Virtqueue> Virtqueue::Create(const GuestMemory& mem,
                                            const Layout& layout,
                                            uint64_t features) {
  const uint16_t n = layout.size;
  if (n == 0 || n > kVirtqMaxSize || (n & (n - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "virtqueue: size %u is not a power of two <= 32768", n));
  }
  // §2.7 "Virtqueue Part Alignment": 16, 2 and 4 bytes.
  if (layout.desc.value() % 16 != 0 || layout.avail.value() % 2 != 0 ||
      layout.used.value() % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "virtqueue: misaligned areas desc=0x%x avail=0x%x used=0x%x",
        layout.desc.value(), layout.avail.value(), layout.used.value()));
  }
  // §2.7 sizes: 16*n, 6+2*n and 6+8*n bytes (the trailing u16 is
  // used_event / avail_event, present whether or not EVENT_IDX is used).
  absl::Span<uint8_t> desc = mem.TrySlice(layout.desc, 16ull * n);
  absl::Span<uint8_t> avail = mem.TrySlice(layout.avail, 6ull + 2ull * n);
  absl::Span<uint8_t> used = mem.TrySlice(layout.used, 6ull + 8ull * n);
  if (desc.empty() || avail.empty() || used.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "virtqueue: areas outside guest RAM desc=0x%x avail=0x%x used=0x%x "
        "size=%u",
        layout.desc.value(), layout.avail.value(), layout.used.value(), n));
  }
  return Virtqueue(mem, layout, features, desc, avail, used);
}

Virtqueue::Virtqueue(const GuestMemory& mem, const Layout& layout,
                     uint64_t features, absl::Span<uint8_t> desc,
                     absl::Span<uint8_t> avail, absl::Span<uint8_t> used)
    : mem_(&mem),
      size_(layout.size),
      indirect_((features >> kVirtioRingFIndirectDesc) & 1),
      event_idx_((features >> kVirtioRingFEventIdx) & 1),
      desc_(desc),
      avail_(avail),
      used_(used),
      used_addr_(layout.used),
      popped_marks_(layout.size, 0) {}

uint16_t Virtqueue::AvailIdx() const {
  return Load16(avail_.data() + kAvailIdx, __ATOMIC_ACQUIRE);
}

absl::StatusOr<bool> Virtqueue::Pop(DescriptorChain& chain) {
  // Acquire pairs with the driver's write barrier before it bumps idx
  // (§2.7.13.3): the ring entry and descriptors are visible after this.
  const uint16_t avail_idx = AvailIdx();
  const uint16_t pending = static_cast<uint16_t>(avail_idx - next_avail_);
  if (pending == 0) return false;
  if (pending > size_) {
    return Malformed(absl::StrFormat(
        "avail idx %u is %u entries ahead of %u, more than the size %u",
        avail_idx, pending, next_avail_, size_));
  }
  const uint16_t head =
      Load16(avail_.data() + kAvailRing + 2u * (next_avail_ & (size_ - 1)),
             __ATOMIC_RELAXED);
  if (head >= size_) {
    return Malformed(
        absl::StrFormat("head index %u out of range (size %u)", head, size_));
  }
  chain.Clear();
  chain.head = head;
  // Loaded before the walk looks at the marks: a page marked during the
  // walk moves it on.
  const uint64_t marks = mem_->code_marks();
  if (absl::Status s = WalkTable(desc_, head, /*indirect=*/false, chain);
      !s.ok()) {
    return s;
  }
  popped_marks_[head] = chain.writes_code ? 0 : marks;
  ++next_avail_;
  return true;
}

absl::Status Virtqueue::WalkTable(absl::Span<const uint8_t> table,
                                  uint16_t first, bool indirect,
                                  DescriptorChain& chain) const {
  const uint32_t entries = static_cast<uint32_t>(table.size() / 16);
  // A walk that visits more descriptors than its table has repeats one: the
  // driver built a loop. The queue's own chains are also bounded by the
  // Queue Size (§2.7.5.3.1 / §2.7.13.1).
  const uint32_t limit = indirect ? entries : size_;
  uint32_t walked = 0;
  uint32_t idx = first;
  for (;;) {
    if (++walked > limit) {
      return Malformed(absl::StrFormat(
          "descriptor chain from head %u longer than its table (%u, loop?)",
          chain.head, limit));
    }
    VirtqDesc d;
    std::memcpy(&d, table.data() + 16u * idx, sizeof(d));
    if (d.flags & kVirtqDescFIndirect) {
      // §2.7.5.3.1: only with the feature, never nested, never with NEXT,
      // and a table that is a whole number of descriptors.
      if (!indirect_) return Malformed("indirect descriptor not negotiated");
      if (indirect) return Malformed("nested indirect descriptor");
      if (d.flags & kVirtqDescFNext) {
        return Malformed("indirect descriptor with NEXT set");
      }
      if (d.len == 0 || d.len % 16 != 0 ||
          d.len / 16 > kVirtqMaxIndirectEntries) {
        return Malformed(
            absl::StrFormat("indirect table length %u is invalid", d.len));
      }
      absl::Span<uint8_t> sub = mem_->TrySlice(GuestAddr(d.addr), d.len);
      if (sub.empty()) {
        return Malformed(absl::StrFormat(
            "indirect table [0x%x, +0x%x) outside guest RAM", d.addr, d.len));
      }
      return WalkTable(sub, 0, /*indirect=*/true, chain);
    }
    ++chain.descriptors;
    if (absl::Status s =
            MapBuffer(d.addr, d.len, d.flags & kVirtqDescFWrite, chain);
        !s.ok()) {
      return s;
    }
    if (!(d.flags & kVirtqDescFNext)) return absl::OkStatus();
    if (d.next >= entries) {
      return Malformed(
          absl::StrFormat("next index %u out of range (%u)", d.next, entries));
    }
    idx = d.next;
  }
}

absl::Status Virtqueue::MapBuffer(uint64_t addr, uint32_t len, bool writable,
                                  DescriptorChain& chain) const {
  // §2.7.4.2: device-writable buffers come after the device-readable ones.
  if (!writable && !chain.writable.empty()) {
    return Malformed("device-readable descriptor after a writable one");
  }
  std::vector<iovec>& out = writable ? chain.writable : chain.readable;
  uint64_t a = addr;
  uint64_t remaining = len;
  while (remaining > 0) {
    const GuestMemory::Region* region = nullptr;
    for (const GuestMemory::Region& r : mem_->regions()) {
      if (a >= r.start.value() && a - r.start.value() < r.size) {
        region = &r;
        break;
      }
    }
    if (region == nullptr) {
      return Malformed(
          absl::StrFormat("buffer [0x%x, +0x%x) outside guest RAM", addr, len));
    }
    const uint64_t offset = a - region->start.value();
    const uint64_t n = std::min(remaining, region->size - offset);
    out.push_back(iovec{region->host + offset, n});
    a += n;
    remaining -= n;
  }
  if (writable && !chain.writes_code) {
    chain.writes_code = mem_->HoldsCode(GuestAddr(addr), len);
  }
  (writable ? chain.writable_bytes : chain.readable_bytes) += len;
  return absl::OkStatus();
}

void Virtqueue::AddUsed(uint16_t head, uint32_t len) {
  uint8_t* elem = used_.data() + kUsedRing + 8u * (next_used_ & (size_ - 1));
  Store32(elem, head);
  Store32(elem + 4, len);
  ++next_used_;
  added_marks_ =
      std::min(added_marks_, head < size_ ? popped_marks_[head] : uint64_t{0});
}

void Virtqueue::NoteWrites() {
  // The device's writes happen before the marks are read; GuestMemory's
  // MarkCodePage orders the other way round.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (added_marks_ < mem_->code_marks() ||
      mem_->HoldsCode(used_addr_, used_.size())) {
    mem_->NoteWrite();
  }
  added_marks_ = ~0ull;
}

bool Virtqueue::PublishUsed() {
  if (next_used_ == published_used_) return false;
  // The buffers and elements written so far are reported before the index
  // that exposes them (GuestMemory::NoteWrite).
  NoteWrites();
  // Release: the elements written by AddUsed are visible before the index
  // that exposes them (§2.7.8.2).
  Store16(used_.data() + kUsedIdx, next_used_, __ATOMIC_RELEASE);
  const uint16_t old = published_used_;
  published_used_ = next_used_;
  // The driver writes used_event / flags then re-reads used->idx; we wrote
  // used->idx and now read theirs: a store-load pair needs a full fence.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (event_idx_) {
    const uint16_t used_event =
        Load16(avail_.data() + kAvailRing + 2u * size_, __ATOMIC_RELAXED);
    return VringNeedEvent(used_event, next_used_, old);
  }
  return !(Load16(avail_.data() + kAvailFlags, __ATOMIC_RELAXED) &
           kVirtqAvailFNoInterrupt);
}

bool Virtqueue::EnableNotification() {
  if (event_idx_) {
    // avail_event: "notify me once you make entry next_avail_ available".
    Store16(used_.data() + kUsedRing + 8u * size_, next_avail_,
            __ATOMIC_RELAXED);
  } else {
    Store16(used_.data() + kUsedFlags, 0, __ATOMIC_RELAXED);
  }
  mem_->NoteWrite(used_addr_, used_.size());
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return AvailIdx() != next_avail_;
}

void Virtqueue::DisableNotification() {
  if (event_idx_) {
    // The driver notifies when its new avail->idx passes avail_event; one
    // behind the next entry we read, no addition passes it (until the
    // 16-bit index wraps all the way round, which costs one notification).
    Store16(used_.data() + kUsedRing + 8u * size_,
            static_cast<uint16_t>(next_avail_ - 1), __ATOMIC_RELAXED);
  } else {
    Store16(used_.data() + kUsedFlags, kVirtqUsedFNoNotify, __ATOMIC_RELAXED);
  }
  mem_->NoteWrite(used_addr_, used_.size());
}

}  // namespace skiff::devices
