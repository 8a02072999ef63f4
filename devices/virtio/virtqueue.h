// Virtqueue is the device side of one split virtqueue (virtio 1.2 §2.7): it
// pops descriptor chains the driver made available, turns them into host
// iovec lists pointing into guest RAM, and returns them through the used
// ring. Everything it reads from the rings is treated as hostile: indices,
// lengths, chain links, indirect tables and buffer addresses are all checked
// through GuestMemory, and a malformed ring is an error status (the transport
// then sets DEVICE_NEEDS_RESET), never a crash or an access outside RAM.
//
//   SKIFF_ASSIGN_OR_RETURN(Virtqueue q, Virtqueue::Create(mem, layout,
//                                                        features));
//   DescriptorChain chain;
//   for (;;) {
//     SKIFF_ASSIGN_OR_RETURN(bool got, q.Pop(chain));
//     if (!got) break;
//     ... read chain.readable, fill chain.writable ...
//     q.AddUsed(chain.head, bytes_written);
//   }
//   if (q.PublishUsed()) interrupt->SignalUsed(0);
//
// Buffers that cross a boundary between two guest RAM regions that are
// adjacent in guest-physical space are split into one iovec per region; a
// buffer that runs into a hole (no RAM) is rejected. Ring areas and indirect
// tables must each lie within one region.
//
// Thread-safety: a Virtqueue is used by one thread at a time (the device's
// event-loop thread). The driver runs concurrently on vCPU threads, so
// avail->idx is loaded with acquire and used->idx stored with release
// (§2.7.13 and §2.7.7's memory barriers); the event-index handshake adds full
// fences.
#ifndef SKIFF_DEVICES_VIRTIO_VIRTQUEUE_H_
#define SKIFF_DEVICES_VIRTIO_VIRTQUEUE_H_

#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"

namespace skiff::devices {

// Feature bits of the ring itself (virtio 1.2 §6).
inline constexpr int kVirtioRingFIndirectDesc = 28;
inline constexpr int kVirtioRingFEventIdx = 29;
inline constexpr int kVirtioFVersion1 = 32;

// Descriptor flags (§2.7.5).
inline constexpr uint16_t kVirtqDescFNext = 1;
inline constexpr uint16_t kVirtqDescFWrite = 2;
inline constexpr uint16_t kVirtqDescFIndirect = 4;
// avail->flags (§2.7.6) and used->flags (§2.7.8).
inline constexpr uint16_t kVirtqAvailFNoInterrupt = 1;
inline constexpr uint16_t kVirtqUsedFNoNotify = 1;

// Largest queue a split virtqueue can have (§2.7: Queue Size <= 32768).
inline constexpr uint16_t kVirtqMaxSize = 32768;
// Largest indirect table accepted. The spec bounds it only by what the
// driver learns from the device (e.g. virtio-blk seg_max), which may exceed
// the Queue Size the driver picked; 1024 is QEMU's VIRTQUEUE_MAX_SIZE.
inline constexpr uint32_t kVirtqMaxIndirectEntries = 1024;

// The wire layout of a descriptor (§2.7.5), little-endian like the x86 host.
struct VirtqDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(VirtqDesc) == 16);

// An element of the used ring (§2.7.8).
struct VirtqUsedElem {
  uint32_t id;
  uint32_t len;
};
static_assert(sizeof(VirtqUsedElem) == 8);

// vring_need_event() of §2.7.10: true when `event_idx` lies in the window
// (old_idx, new_idx], all modulo 2^16.
inline bool VringNeedEvent(uint16_t event_idx, uint16_t new_idx,
                           uint16_t old_idx) {
  return static_cast<uint16_t>(new_idx - event_idx - 1) <
         static_cast<uint16_t>(new_idx - old_idx);
}

// One popped chain. Buffers point into guest RAM; they stay valid as long as
// the GuestMemory does, but the guest may change their contents at any time.
struct DescriptorChain {
  uint16_t head = 0;
  std::vector<iovec> readable;  // device-readable (driver to device)
  std::vector<iovec> writable;  // device-writable (device to driver)
  uint64_t readable_bytes = 0;
  uint64_t writable_bytes = 0;
  // Buffer descriptors walked (entries of an indirect table included, the
  // descriptor pointing at the table not).
  uint32_t descriptors = 0;
  // A device-writable buffer lies on a page holding decoded guest code
  // (GuestMemory::HoldsCode) as the chain was popped.
  bool writes_code = false;

  void Clear() {
    readable.clear();
    writable.clear();
    readable_bytes = writable_bytes = 0;
    descriptors = 0;
    writes_code = false;
  }
};

class Virtqueue {
 public:
  // Where the driver put the three areas (QueueDesc/QueueDriver/QueueDevice
  // of §4.2.2) and how many entries they have.
  struct Layout {
    uint16_t size = 0;
    GuestAddr desc;
    GuestAddr avail;  // the "driver area"
    GuestAddr used;   // the "device area"
  };

  // Checks the layout: a power-of-two size up to 32768 (§2.7), areas aligned
  // as §2.7 Table "Virtqueue Part Alignment" requires (16, 2, 4) and each
  // inside one RAM region. `features` are the negotiated ones; only
  // INDIRECT_DESC and EVENT_IDX matter here. `mem` must outlive the queue.
  static absl::StatusOr<Virtqueue> Create(const GuestMemory& mem,
                                          const Layout& layout,
                                          uint64_t features);

  uint16_t size() const { return size_; }
  bool event_idx() const { return event_idx_; }
  // The next avail ring slot the device will read, and the next used slot
  // it will write (both free-running 16-bit counters).
  uint16_t next_avail() const { return next_avail_; }
  uint16_t next_used() const { return next_used_; }

  // Pops the next available chain into `chain` (its vectors are reused).
  // Returns false when the ring is empty, an error when the ring or the
  // chain is malformed (the queue should then be considered broken).
  absl::StatusOr<bool> Pop(DescriptorChain& chain);

  // Writes a used element for a chain popped earlier; the driver sees it
  // only after PublishUsed. `head` must come from Pop.
  void AddUsed(uint16_t head, uint32_t len);

  // Makes every element added since the last call visible to the driver
  // (release store of used->idx) and says whether the driver wants an
  // interrupt for them (avail->flags, or used_event under EVENT_IDX, §2.7.10).
  // Returns false when nothing was added. Before the index, it reports the
  // writes into those chains' buffers and the ring to GuestMemory, which
  // moves its write epoch only when they may have changed decoded code: a
  // buffer on a marked page as it was popped, or any page marked since.
  bool PublishUsed();

  // Call when the ring looks empty, before going idle. Under EVENT_IDX it
  // publishes avail_event = next_avail so the driver notifies on the next
  // buffer (§2.7.10). Returns true if buffers arrived meanwhile, in which
  // case the caller should Pop again instead of sleeping.
  bool EnableNotification();
  // Asks the driver not to notify for the buffers it adds from now on, for
  // a device that will look at the ring again by itself (§2.7.10:
  // avail_event behind next_avail, or used->flags NO_NOTIFY without
  // EVENT_IDX). EnableNotification undoes it.
  void DisableNotification();

  // Driver's avail->idx as last loaded (for tests and diagnostics).
  uint16_t AvailIdx() const;

 private:
  Virtqueue(const GuestMemory& mem, const Layout& layout, uint64_t features,
            absl::Span<uint8_t> desc, absl::Span<uint8_t> avail,
            absl::Span<uint8_t> used);

  // Appends [addr, addr + len) to `chain` as one or more iovecs.
  absl::Status MapBuffer(uint64_t addr, uint32_t len, bool writable,
                         DescriptorChain& chain) const;
  // Walks the chain of `table` (the queue's table or an indirect table)
  // from index `first`: at most size() descriptors in the queue's table,
  // at most the table's length in an indirect one.
  absl::Status WalkTable(absl::Span<const uint8_t> table, uint16_t first,
                         bool indirect, DescriptorChain& chain) const;

  // Reports this queue's writes since the last call (PublishUsed).
  void NoteWrites();

  const GuestMemory* mem_;
  uint16_t size_;
  bool indirect_;
  bool event_idx_;
  // Host views of the three areas, checked once at Create (the layout of
  // GuestMemory is constant, so they stay valid).
  absl::Span<uint8_t> desc_;
  absl::Span<uint8_t> avail_;
  absl::Span<uint8_t> used_;

  uint16_t next_avail_ = 0;
  uint16_t next_used_ = 0;
  // used->idx as of the last PublishUsed (the "old" of vring_need_event).
  uint16_t published_used_ = 0;
  GuestAddr used_addr_;
  // Per head: GuestMemory::code_marks() as the chain was popped, or 0 when
  // it writes to a page holding code; and the least of those for the heads
  // added since the last PublishUsed (~0: none).
  std::vector<uint64_t> popped_marks_;
  uint64_t added_marks_ = ~0ull;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_VIRTQUEUE_H_
