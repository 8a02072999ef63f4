// VirtioNet is a virtio network device (virtio 1.2 §5.1) over a NetBackend:
// one receive queue (0) and one transmit queue (1), no control queue. It
// offers a MAC address and a link-up status in its configuration space,
// mergeable receive buffers, checksum offload both ways and TSO4/TSO6/ECN
// both ways (the host's TAP does the work; the device only checks that a
// frame's header stays within what was negotiated).
//
//   SKIFF_ASSIGN_OR_RETURN(auto tap, io::TapNetBackend::Create(loop, ...));
//   auto net = std::make_unique<VirtioNet>(
//       std::move(tap), VirtioNet::Options{.mac = {0x02, 0, 0, 0, 0, 1}});
//   auto mmio = std::make_shared<VirtioMmio>(*mem, std::move(net), irq);
//
// TX: each chain of the transmit queue is a virtio_net_hdr_v1 and a frame
// (§5.1.6.2); the device sends a copy of the header it checked plus the frame
// straight from guest RAM. RX: frames are read into a bounce buffer, then
// copied into one receive chain, or, with VIRTIO_NET_F_MRG_RXBUF, into as
// many chains as they need (num_buffers says how many, §5.1.6.3). When the
// guest has posted no buffers the frame waits in the device and the backend
// is not read any further; the next receive-queue notification resumes.
//
// Guest errors: a malformed ring is an error from ProcessQueue (the
// transport sets DEVICE_NEEDS_RESET). A chain that is well-formed but wrong
// for its queue (too short a header, a frame too big, offloads that were not
// negotiated) is dropped, counted and logged at a limited rate.
//
// Thread-safety: see virtio_device.h. ProcessQueue and the backend's
// frames-waiting callback run on the event loop; Activate/Reset on vCPU
// threads. mu_ guards the queues and the RX state and is held around backend
// calls (a backend never calls back from inside them). stats() is lock-free
// and callable from any thread. The device owns the backend and destroys it
// first, so its callback never outlives the device.
#ifndef SKIFF_DEVICES_VIRTIO_VIRTIO_NET_H_
#define SKIFF_DEVICES_VIRTIO_VIRTIO_NET_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "base/log.h"
#include "devices/virtio/net_backend.h"
#include "devices/virtio/virtio_device.h"

namespace skiff::devices {

// §5.1.3 feature bits.
inline constexpr int kVirtioNetFCsum = 0;
inline constexpr int kVirtioNetFGuestCsum = 1;
inline constexpr int kVirtioNetFMac = 5;
inline constexpr int kVirtioNetFGuestTso4 = 7;
inline constexpr int kVirtioNetFGuestTso6 = 8;
inline constexpr int kVirtioNetFGuestEcn = 9;
inline constexpr int kVirtioNetFHostTso4 = 11;
inline constexpr int kVirtioNetFHostTso6 = 12;
inline constexpr int kVirtioNetFHostEcn = 13;
inline constexpr int kVirtioNetFMrgRxbuf = 15;
inline constexpr int kVirtioNetFStatus = 16;

// §5.1.4 status bits.
inline constexpr uint16_t kVirtioNetSLinkUp = 1;

// §5.1.6 header flags and GSO types.
inline constexpr uint8_t kVirtioNetHdrFNeedsCsum = 1;
inline constexpr uint8_t kVirtioNetHdrFDataValid = 2;
inline constexpr uint8_t kVirtioNetHdrGsoNone = 0;
inline constexpr uint8_t kVirtioNetHdrGsoTcpv4 = 1;
inline constexpr uint8_t kVirtioNetHdrGsoTcpv6 = 4;
inline constexpr uint8_t kVirtioNetHdrGsoEcn = 0x80;

// struct virtio_net_hdr_v1 (§5.1.6), little-endian like the host.
struct VirtioNetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
  uint16_t num_buffers;
};
static_assert(sizeof(VirtioNetHdr) == kVirtioNetHdrSize);

// The leading fields of struct virtio_net_config (§5.1.4) this device
// fills; the rest read as zero.
struct VirtioNetConfig {
  uint8_t mac[6];
  uint16_t status;
  uint16_t max_virtqueue_pairs;
  uint16_t mtu;
};
static_assert(sizeof(VirtioNetConfig) == 12);

class VirtioNet : public VirtioDevice {
 public:
  static constexpr uint32_t kRxQueue = 0;
  static constexpr uint32_t kTxQueue = 1;

  struct Options {
    // All zero: VIRTIO_NET_F_MAC is not offered and the driver picks one.
    std::array<uint8_t, 6> mac = {};
    uint16_t queue_size = 256;  // QueueNumMax; a power of two
  };

  // Counters for metrics. Bytes count frames without the virtio-net header.
  struct Stats {
    uint64_t rx_packets = 0;
    uint64_t rx_bytes = 0;
    uint64_t rx_dropped = 0;  // frames the guest could not or may not take
    uint64_t rx_errors = 0;   // backend read errors, unusable rx chains
    uint64_t tx_packets = 0;
    uint64_t tx_bytes = 0;
    uint64_t tx_dropped = 0;  // malformed frames, backend refusals
    uint64_t tx_errors = 0;   // backend write errors
  };

  VirtioNet(std::unique_ptr<NetBackend> backend, Options options);
  ~VirtioNet() override;

  uint32_t device_id() const override { return kVirtioIdNet; }
  uint64_t device_features() const override { return features_; }
  uint16_t num_queues() const override { return 2; }
  uint16_t max_queue_size() const override { return options_.queue_size; }
  void ReadConfig(uint64_t offset, absl::Span<uint8_t> data) override;
  absl::Status Activate(const GuestMemory& mem, uint64_t features,
                        std::vector<std::optional<Virtqueue>> queues,
                        VirtioInterrupt* interrupt) override
      ABSL_LOCKS_EXCLUDED(mu_);
  void Reset() override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ProcessQueue(uint32_t queue) override ABSL_LOCKS_EXCLUDED(mu_);
  // Paused: frames waiting on the host stay there (the TAP is not read, so
  // nothing reaches guest memory); Resume receives what came meanwhile.
  void Pause() override ABSL_LOCKS_EXCLUDED(mu_);
  void Resume() override ABSL_LOCKS_EXCLUDED(mu_);

  // Any thread.
  Stats stats() const;
  // True while a received frame waits for guest buffers (tests).
  bool rx_frame_pending() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // The backend's frames-waiting callback (event loop).
  void OnFramesWaiting() ABSL_LOCKS_EXCLUDED(mu_);
  // Receives outside ProcessQueue: an error is kept for the next one.
  void ReceiveDeferredLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves frames from the backend into the guest until either runs dry.
  absl::Status ReceiveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads the next frame into rx_frame_; false when none is waiting.
  bool ReadFrameLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies rx_frame_ into guest chains. Returns false (keeping the frame
  // and the chains popped so far) when the guest has too few buffers.
  absl::StatusOr<bool> DeliverFrameLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status TransmitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends one TX chain, or drops and counts it.
  void SendChainLocked(const DescriptorChain& chain)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a header's offloads are within the negotiated ones.
  bool RxHeaderAllowed(VirtioNetHdr& hdr) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool TxHeaderAllowed(const VirtioNetHdr& hdr) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A header's GSO type given the feature bits that allow TCPv4, TCPv6 and
  // ECN segmentation in that direction (GUEST_* for rx, HOST_* for tx).
  bool GsoAllowed(uint8_t gso_type, int tso4, int tso6, int ecn_feature) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishLocked(uint32_t queue) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ClearRxLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Negotiated(int bit) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (features_negotiated_ >> bit) & 1;
  }

  // Constant after construction.
  const Options options_;
  const uint64_t features_;
  VirtioNetConfig config_;
  RateLimiter log_limiter_;

  std::atomic<uint64_t> rx_packets_{0};
  std::atomic<uint64_t> rx_bytes_{0};
  std::atomic<uint64_t> rx_dropped_{0};
  std::atomic<uint64_t> rx_errors_{0};
  std::atomic<uint64_t> tx_packets_{0};
  std::atomic<uint64_t> tx_bytes_{0};
  std::atomic<uint64_t> tx_dropped_{0};
  std::atomic<uint64_t> tx_errors_{0};

  mutable absl::Mutex mu_;
  std::optional<Virtqueue> rx_ ABSL_GUARDED_BY(mu_);
  std::optional<Virtqueue> tx_ ABSL_GUARDED_BY(mu_);
  VirtioInterrupt* interrupt_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t features_negotiated_ ABSL_GUARDED_BY(mu_) = 0;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  // A malformed receive ring found by the backend's callback, which cannot
  // report it: the next ProcessQueue returns it (DEVICE_NEEDS_RESET).
  absl::Status deferred_error_ ABSL_GUARDED_BY(mu_);
  // A frame read from the backend and not yet in the guest: header + frame.
  std::vector<uint8_t> rx_buffer_ ABSL_GUARDED_BY(mu_);
  size_t rx_frame_len_ ABSL_GUARDED_BY(mu_) = 0;  // 0: no frame waiting
  // Receive chains popped for the waiting frame (MRG_RXBUF gathers several).
  std::vector<DescriptorChain> rx_chains_ ABSL_GUARDED_BY(mu_);
  uint64_t rx_room_ ABSL_GUARDED_BY(mu_) = 0;      // their writable bytes
  DescriptorChain tx_chain_ ABSL_GUARDED_BY(mu_);  // reused between pops
  std::vector<iovec> tx_iov_ ABSL_GUARDED_BY(mu_);
  std::vector<uint8_t> tx_linear_ ABSL_GUARDED_BY(mu_);

  // Declared last, so destroyed first: its callback still finds the
  // members above while it is being unregistered.
  const std::unique_ptr<NetBackend> backend_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_VIRTIO_NET_H_
