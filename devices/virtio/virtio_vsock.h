// VirtioVsock is the virtio socket device (virtio 1.2 §5.10): stream
// connections between the guest (its CID from the configuration space) and
// the host (CID 2), whose host ends a VsockBackend carries. Queues: rx=0
// (device to driver), tx=1 (driver to device), event=2 (held, unused).
//
//   auto vsock = std::make_unique<VirtioVsock>(
//       /*guest_cid=*/3, std::make_unique<MyVsockBackend>(...));
//   auto mmio = std::make_shared<VirtioMmio>(*mem, std::move(vsock), irq);
//
// Protocol (§5.10.6): every packet starts with a 44-byte virtio_vsock_hdr.
// Only VIRTIO_VSOCK_TYPE_STREAM is offered (no SEQPACKET feature). The guest
// connects with REQUEST (answered RESPONSE or RST); the host connects with
// ConnectToGuest (a REQUEST the guest answers). RW carries data, SHUTDOWN
// half-closes (flag RCV: the sender reads no more; SEND: it sends no more),
// RST aborts, CREDIT_UPDATE / CREDIT_REQUEST exchange flow-control state.
//
// Credit (§5.10.6.3): each side advertises buf_alloc (its receive buffer)
// and fwd_cnt (bytes it has consumed) in every packet. The device never
// sends a connection more than peer_buf_alloc - (tx_cnt - peer_fwd_cnt)
// bytes; when the guest has no credit or no rx buffers, the device stops
// reading that host end and resumes when credit or buffers arrive. Guest
// data the backend cannot take yet is buffered up to kBufAlloc per
// connection, which is what the device advertises; fwd_cnt counts bytes the
// backend took, and a CREDIT_UPDATE goes out when the guest's view of our
// free space falls below half.
//
// Hostile guests: packets whose src_cid is not the guest's are dropped;
// packets to a CID other than the host, of another type, with an unknown op,
// for an unknown connection, or that overrun the credit or their own buffer
// are answered with RST (never an RST in reply to an RST). A tx chain too
// short for a header is dropped; a malformed ring is an error from
// ProcessQueue (DEVICE_NEEDS_RESET). Replies wait in a queue for rx
// buffers; when it is full the device stops taking tx packets until the
// guest posts rx buffers (backpressure instead of dropping replies).
//
// Thread-safety: see virtio_device.h and vsock_backend.h. mu_ guards all
// state; backend calls are made with mu_ held (the backend never calls back
// synchronously). On Reset every connection is forgotten and the backend is
// told to close its ends.
#ifndef SKIFF_DEVICES_VIRTIO_VIRTIO_VSOCK_H_
#define SKIFF_DEVICES_VIRTIO_VIRTIO_VSOCK_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "base/log.h"
#include "devices/virtio/virtio_device.h"
#include "devices/virtio/vsock_backend.h"

namespace skiff::devices {

// §5.10.6 types, ops and flags (also linux/virtio_vsock.h).
inline constexpr uint16_t kVsockTypeStream = 1;
enum VsockOp : uint16_t {
  kVsockOpInvalid = 0,
  kVsockOpRequest = 1,
  kVsockOpResponse = 2,
  kVsockOpRst = 3,
  kVsockOpShutdown = 4,
  kVsockOpRw = 5,
  kVsockOpCreditUpdate = 6,
  kVsockOpCreditRequest = 7,
};
inline constexpr uint32_t kVsockShutdownRcv = 1;
inline constexpr uint32_t kVsockShutdownSend = 2;

// struct virtio_vsock_hdr (§5.10.6), little-endian like the host.
#pragma pack(push, 1)
struct VsockHdr {
  uint64_t src_cid;
  uint64_t dst_cid;
  uint32_t src_port;
  uint32_t dst_port;
  uint32_t len;
  uint16_t type;
  uint16_t op;
  uint32_t flags;
  uint32_t buf_alloc;
  uint32_t fwd_cnt;
};
#pragma pack(pop)
static_assert(sizeof(VsockHdr) == 44);

class VirtioVsock : public VirtioDevice, public VsockDevice {
 public:
  // Receive buffer per connection advertised to the guest.
  static constexpr uint32_t kBufAlloc = 256 * 1024;
  // Largest payload of one packet either way (Linux's
  // VIRTIO_VSOCK_MAX_PKT_BUF_SIZE).
  static constexpr uint32_t kMaxPayload = 64 * 1024;
  static constexpr size_t kMaxConnections = 1024;
  // Replies waiting for rx buffers before tx processing pauses.
  static constexpr size_t kMaxPendingReplies = 256;

  // `guest_cid` must be >= 3 (the caller validates the flag). Calls
  // backend->Attach(this).
  VirtioVsock(uint64_t guest_cid, std::unique_ptr<VsockBackend> backend);
  ~VirtioVsock() override;

  uint32_t device_id() const override { return kVirtioIdVsock; }
  uint64_t device_features() const override;
  uint16_t num_queues() const override { return 3; }
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) override;
  absl::Status Activate(const GuestMemory& mem, uint64_t features,
                        std::vector<std::optional<Virtqueue>> queues,
                        VirtioInterrupt* interrupt) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Reset() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ProcessQueue(uint32_t queue) override ABSL_LOCKS_EXCLUDED(mu_);
  // Paused: host events update connection state and queue replies, but
  // nothing goes into the rx queue until Resume.
  void Pause() override ABSL_LOCKS_EXCLUDED(mu_);
  void Resume() override ABSL_LOCKS_EXCLUDED(mu_);

  // VsockDevice: the backend's events (device thread).
  bool ConnectToGuest(VsockConnKey key) override ABSL_LOCKS_EXCLUDED(mu_);
  void HostReadable(VsockConnKey key) override ABSL_LOCKS_EXCLUDED(mu_);
  void HostWritable(VsockConnKey key) override ABSL_LOCKS_EXCLUDED(mu_);
  void HostReset(VsockConnKey key) override ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t guest_cid() const { return guest_cid_; }
  size_t connections() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Conn;
  struct Reply {
    uint64_t src_cid;
    VsockConnKey key;
    uint16_t op;
    uint32_t flags;
  };

  // Takes every available tx chain (until replies back up).
  absl::Status ProcessTxLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandlePacket(const DescriptorChain& chain)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleRw(const VsockHdr& hdr, const DescriptorChain& chain, Conn& conn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills rx buffers with replies, then data (callers publish).
  absl::Status FillRxLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Pushes guest data to the backend; finishes shutdowns it waited for.
  void FlushLocked(VsockConnKey key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the connection, closes the host end unless `host_gone`, and
  // queues an RST when `rst`.
  void ResetConnLocked(VsockConnKey key, bool rst, bool host_gone)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void QueueReply(uint64_t src_cid, VsockConnKey key, uint16_t op,
                  uint32_t flags = 0) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkReady(VsockConnKey key, Conn& conn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Header of a packet to the guest, with our credit for `conn` (if any).
  VsockHdr MakeHdr(uint64_t src_cid, VsockConnKey key, uint16_t op,
                   uint32_t flags, uint32_t len, Conn* conn) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts the next rx chain (a held one first) in rx_chain_; false when the
  // ring is empty.
  absl::StatusOr<bool> PopRxLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool active() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return rx_.has_value() && !broken_;
  }

  // Constant after construction.
  const uint64_t guest_cid_;
  RateLimiter log_limiter_;

  mutable absl::Mutex mu_;
  std::optional<Virtqueue> rx_ ABSL_GUARDED_BY(mu_);
  std::optional<Virtqueue> tx_ ABSL_GUARDED_BY(mu_);
  std::optional<Virtqueue> event_ ABSL_GUARDED_BY(mu_);
  VirtioInterrupt* interrupt_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  // Replies were backing up: tx processing paused until rx drains them.
  bool tx_stalled_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<VsockConnKey, std::unique_ptr<Conn>> conns_
      ABSL_GUARDED_BY(mu_);
  std::deque<Reply> replies_ ABSL_GUARDED_BY(mu_);
  // Connections whose host end may have data for the guest, round-robin.
  std::deque<VsockConnKey> ready_ ABSL_GUARDED_BY(mu_);
  DescriptorChain rx_chain_ ABSL_GUARDED_BY(mu_);
  bool rx_held_ ABSL_GUARDED_BY(mu_) = false;  // rx_chain_ popped, unused
  DescriptorChain tx_chain_ ABSL_GUARDED_BY(mu_);

  // Declared last, so destroyed first.
  const std::unique_ptr<VsockBackend> backend_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_VIRTIO_VSOCK_H_
