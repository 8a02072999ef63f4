// VirtioBlk is a virtio block device (virtio 1.2 §5.2) over a BlockBackend:
// IN, OUT, FLUSH, GET_ID, DISCARD and WRITE_ZEROES, with read-only disks
// (VIRTIO_BLK_F_RO: writes, discards and write-zeroes answer IOERR and never
// reach the backend). Requests complete asynchronously through the backend,
// so as many are in flight as the driver queues (up to the queue size).
//
//   SKIFF_ASSIGN_OR_RETURN(auto file, FileBlockBackend::Open(path, {}));
//   auto blk = std::make_unique<VirtioBlk>(std::move(file),
//                                          VirtioBlk::Options{.serial = "d0"});
//   auto mmio = std::make_shared<VirtioMmio>(*mem, std::move(blk), irq);
//
// One ProcessQueue pass pops every available chain, submits the backend
// requests, calls BlockBackend::Kick() once, and then publishes all the
// completions that arrived during the pass with at most one interrupt.
// Completions arriving later (io_uring) are published as they come.
//
// Malformed requests (short header, missing status byte, data not a
// multiple of 512 bytes, sectors past the end or overflowing, bad discard
// segments) get VIRTIO_BLK_S_IOERR; unknown types VIRTIO_BLK_S_UNSUPP. A
// malformed ring is an error from ProcessQueue (DEVICE_NEEDS_RESET).
//
// Backing-file swap (Firecracker's PATCH /drives path_on_host after boot):
// SwapBackend, on the device thread, sends new requests to a new backend
// while the ones in flight on the old one complete normally; the old one is
// destroyed (its file closed and unlocked) by the first queue pass after
// they have. The capacity in the configuration space follows
// the new size and a configuration-change interrupt tells the driver
// (virtio 1.2 §4.2.2, Linux virtblk_config_changed re-reads the capacity).
// RefreshCapacity does the same for the same backend resized on the host.
//
// Notifications: while requests are in flight the device does not re-arm
// queue notifications when the ring runs empty; each completion looks at
// the ring again instead, and the last one re-arms them (§2.7.10). A driver
// that keeps the queue busy then adds requests without an MMIO exit and
// without waking the device thread for each one.
//
// Pause (VirtioDevice::Pause): requests the driver queued complete (WaitIdle
// waits for them) but start no new ones until Resume.
//
// Thread-safety: see virtio_device.h. The backend is driven only from
// ProcessQueue's thread; its completions run there too. mu_ guards the
// queue and the configuration space against Activate/Reset/ReadConfig on
// vCPU threads and is never held across backend calls, so a backend may
// complete inline. The device owns its backends and destroys them first, so
// no completion outlives the device.
#ifndef SKIFF_DEVICES_VIRTIO_VIRTIO_BLK_H_
#define SKIFF_DEVICES_VIRTIO_VIRTIO_BLK_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "base/log.h"
#include "devices/virtio/block_backend.h"
#include "devices/virtio/virtio_device.h"

namespace skiff::devices {

// §5.2.3 feature bits.
inline constexpr int kVirtioBlkFSizeMax = 1;
inline constexpr int kVirtioBlkFSegMax = 2;
inline constexpr int kVirtioBlkFRo = 5;
inline constexpr int kVirtioBlkFBlkSize = 6;
inline constexpr int kVirtioBlkFFlush = 9;
inline constexpr int kVirtioBlkFDiscard = 13;
inline constexpr int kVirtioBlkFWriteZeroes = 14;

// §5.2.6 request types and status values.
inline constexpr uint32_t kVirtioBlkTIn = 0;
inline constexpr uint32_t kVirtioBlkTOut = 1;
inline constexpr uint32_t kVirtioBlkTFlush = 4;
inline constexpr uint32_t kVirtioBlkTGetId = 8;
inline constexpr uint32_t kVirtioBlkTDiscard = 11;
inline constexpr uint32_t kVirtioBlkTWriteZeroes = 13;
inline constexpr uint8_t kVirtioBlkSOk = 0;
inline constexpr uint8_t kVirtioBlkSIoErr = 1;
inline constexpr uint8_t kVirtioBlkSUnsupp = 2;
inline constexpr uint32_t kVirtioBlkWriteZeroesFlagUnmap = 1;
inline constexpr uint32_t kVirtioBlkIdBytes = 20;
inline constexpr uint64_t kSectorSize = 512;

// struct virtio_blk_req's header (§5.2.6).
struct VirtioBlkOutHdr {
  uint32_t type;
  uint32_t ioprio;
  uint64_t sector;
};
static_assert(sizeof(VirtioBlkOutHdr) == 16);

// struct virtio_blk_discard_write_zeroes (§5.2.6).
struct VirtioBlkDiscardWriteZeroes {
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};
static_assert(sizeof(VirtioBlkDiscardWriteZeroes) == 16);

// struct virtio_blk_config (§5.2.4), in the little-endian layout the driver
// reads.
struct VirtioBlkConfig {
  uint64_t capacity;  // in 512-byte sectors
  uint32_t size_max;
  uint32_t seg_max;
  uint16_t cylinders;
  uint8_t heads;
  uint8_t sectors;
  uint32_t blk_size;
  uint8_t physical_block_exp;
  uint8_t alignment_offset;
  uint16_t min_io_size;
  uint32_t opt_io_size;
  uint8_t writeback;
  uint8_t unused0;
  uint16_t num_queues;
  uint32_t max_discard_sectors;
  uint32_t max_discard_seg;
  uint32_t discard_sector_alignment;
  uint32_t max_write_zeroes_sectors;
  uint32_t max_write_zeroes_seg;
  uint8_t write_zeroes_may_unmap;
  uint8_t unused1[3];
  // Zero: VIRTIO_BLK_F_SECURE_ERASE is not offered.
  uint32_t max_secure_erase_sectors;
  uint32_t max_secure_erase_seg;
  uint32_t secure_erase_sector_alignment;
};
static_assert(sizeof(VirtioBlkConfig) == 72);

class VirtioBlk : public VirtioDevice {
 public:
  struct Options {
    // GET_ID answer: up to 20 bytes, NUL-padded when shorter (§5.2.6).
    std::string serial;
    uint16_t queue_size = 256;  // QueueNumMax; a power of two
    // Logical block size the driver must use (blk_size, §5.2.4): 512, or
    // the host's O_DIRECT alignment when the backend bypasses the cache.
    uint32_t block_size = 512;
    // Largest single DISCARD / WRITE_ZEROES segment, and segments per
    // request (advertised in the configuration space).
    uint32_t max_discard_sectors = 1u << 22;
    uint32_t max_discard_segments = 32;
    // Runs a closure on the device's thread once the current callback has
    // returned (the machine passes its EventLoop::Post). With it, a backend
    // that SwapBackend retired is closed as soon as its last request
    // completes; without it, at the next queue pass.
    std::function<void(absl::AnyInvocable<void()>)> defer;
  };

  VirtioBlk(std::unique_ptr<BlockBackend> backend, Options options);
  ~VirtioBlk() override;

  uint32_t device_id() const override { return kVirtioIdBlock; }
  uint64_t device_features() const override { return features_; }
  uint16_t num_queues() const override { return 1; }
  uint16_t max_queue_size() const override { return options_.queue_size; }
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) override;
  absl::Status Activate(const GuestMemory& mem, uint64_t features,
                        std::vector<std::optional<Virtqueue>> queues,
                        VirtioInterrupt* interrupt) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Reset() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ProcessQueue(uint32_t queue) override ABSL_LOCKS_EXCLUDED(mu_);

  void WaitIdle() override ABSL_LOCKS_EXCLUDED(mu_);

  // Device thread, outside ProcessQueue. Makes `backend` serve every
  // request from now on; requests in flight finish on the old one. Fails
  // (changing nothing) when `backend` differs in being read-only, which the
  // driver negotiated. Updates the capacity and signals a configuration
  // change to an active driver.
  absl::Status SwapBackend(std::unique_ptr<BlockBackend> backend)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Device thread. Re-reads the backend's size (BlockBackend::RefreshSize)
  // and signals a configuration change as SwapBackend does.
  absl::Status RefreshCapacity() ABSL_LOCKS_EXCLUDED(mu_);

  VirtioBlkConfig config() const ABSL_LOCKS_EXCLUDED(mu_);
  // Requests handed to a backend and not completed yet.
  size_t in_flight() const ABSL_LOCKS_EXCLUDED(mu_);
  void Pause() override ABSL_LOCKS_EXCLUDED(mu_);
  void Resume() override ABSL_LOCKS_EXCLUDED(mu_);
  // Old backends still finishing requests (after SwapBackend).
  size_t retired_backends() const ABSL_LOCKS_EXCLUDED(mu_);

  // read_count, read_bytes, write_count, write_bytes, flush_count,
  // discard_count (DISCARD and WRITE_ZEROES), other_count (GET_ID and
  // unsupported), errors (requests that did not end in VIRTIO_BLK_S_OK).
  void AppendMetrics(
      std::vector<std::pair<std::string, uint64_t>>& out) const override;

 private:
  struct Request;
  // Pops, parses and submits every request the driver has made available;
  // runs again when requests submitted in it completed inline meanwhile.
  absl::Status Pass() ABSL_LOCKS_EXCLUDED(mu_);
  // A pass the device starts itself (a completion, Resume): a ring error
  // is logged and kept for the transport's next ProcessQueue, which the
  // driver's next notification brings.
  void PassFromDevice() ABSL_LOCKS_EXCLUDED(mu_);
  // Parses one chain. Either completes it at once (bad request, GET_ID)
  // or appends backend requests to `out`.
  void Parse(const DescriptorChain& chain, uint64_t generation,
             std::vector<BlockRequest>& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Parses the segments of DISCARD / WRITE_ZEROES.
  uint8_t ParseSegments(const DescriptorChain& chain, bool write_zeroes,
                        const std::shared_ptr<Request>& req,
                        std::vector<BlockRequest>& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the status byte and the used element of a finished request.
  void Finish(Request& req) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnBackendDone(const std::shared_ptr<Request>& req, int64_t expected,
                     int64_t result) ABSL_LOCKS_EXCLUDED(mu_);
  // Counts the request's completion against its retired backend, if it
  // went to one; returns that backend when this was its last request and
  // options_.defer can close it.
  std::unique_ptr<BlockBackend> NoteRetiredDoneLocked(uint64_t serial)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Publishes used elements and interrupts if the driver wants it.
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool InRange(uint64_t sector, uint64_t sectors) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // New capacity in the configuration space, and a configuration-change
  // interrupt for an active driver.
  void SetCapacityLocked(uint64_t size_bytes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the old backends that have no request in flight any more, for
  // the caller to destroy outside mu_.
  std::vector<std::unique_ptr<BlockBackend>> TakeIdleRetiredLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;
  const uint64_t features_;
  const bool read_only_;
  RateLimiter log_limiter_;

  struct Counters {
    std::atomic<uint64_t> read_count{0}, read_bytes{0};
    std::atomic<uint64_t> write_count{0}, write_bytes{0};
    std::atomic<uint64_t> flush_count{0}, discard_count{0}, other_count{0};
    std::atomic<uint64_t> errors{0};
  };
  Counters counters_;  // relaxed atomics, any thread

  mutable absl::Mutex mu_;
  uint64_t capacity_sectors_ ABSL_GUARDED_BY(mu_);
  VirtioBlkConfig config_ ABSL_GUARDED_BY(mu_);
  std::optional<Virtqueue> queue_ ABSL_GUARDED_BY(mu_);
  VirtioInterrupt* interrupt_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Bumped by Reset so completions of an earlier incarnation are dropped.
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  // Inside a ProcessQueue pass: completions wait for its end to publish.
  bool in_pass_ ABSL_GUARDED_BY(mu_) = false;
  // Notifications are off until a completion looks at the ring again.
  bool rescan_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status deferred_error_ ABSL_GUARDED_BY(mu_);
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  DescriptorChain chain_ ABSL_GUARDED_BY(mu_);  // reused between pops
  // Bumped by SwapBackend; a Request remembers the backend it went to.
  uint64_t backend_serial_ ABSL_GUARDED_BY(mu_) = 0;

  // Declared last, so destroyed first: completions they run while shutting
  // down still find the members above.
  struct Retired {
    uint64_t serial;
    size_t in_flight;  // its backend requests not completed yet
    std::unique_ptr<BlockBackend> backend;
  };
  std::vector<Retired> retired_ ABSL_GUARDED_BY(mu_);
  // Device thread only (ProcessQueue submits to it without mu_).
  std::unique_ptr<BlockBackend> backend_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_VIRTIO_BLK_H_
