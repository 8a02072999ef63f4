#include "devices/virtio/virtio_net.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "devices/virtio/iovec_util.h"

namespace skiff::devices {
namespace {

uint64_t Bit(int n) { return uint64_t{1} << n; }

// writev(2) takes at most UIO_MAXIOV buffers; longer chains are copied.
constexpr size_t kMaxIov = 1024;
// A frame needs at least an Ethernet header (destination, source, type).
constexpr size_t kEthHeaderSize = 14;

uint64_t Features(const VirtioNet::Options& options) {
  uint64_t f = Bit(kVirtioNetFCsum) | Bit(kVirtioNetFGuestCsum) |
               Bit(kVirtioNetFGuestTso4) | Bit(kVirtioNetFGuestTso6) |
               Bit(kVirtioNetFGuestEcn) | Bit(kVirtioNetFHostTso4) |
               Bit(kVirtioNetFHostTso6) | Bit(kVirtioNetFHostEcn) |
               Bit(kVirtioNetFMrgRxbuf) | Bit(kVirtioNetFStatus) |
               Bit(kVirtioRingFIndirectDesc) | Bit(kVirtioRingFEventIdx);
  const bool has_mac = std::any_of(options.mac.begin(), options.mac.end(),
                                   [](uint8_t b) { return b != 0; });
  if (has_mac) f |= Bit(kVirtioNetFMac);
  return f;
}

// The offloads the host may use towards the guest. §5.1.3.1 makes TSO
// depend on GUEST_CSUM and ECN on TSO; a driver that ignored that gets the
// subset that is consistent (TUNSETOFFLOAD refuses the rest).
NetOffload OffloadFor(uint64_t features) {
  NetOffload o;
  o.csum = (features >> kVirtioNetFGuestCsum) & 1;
  o.tso4 = o.csum && ((features >> kVirtioNetFGuestTso4) & 1);
  o.tso6 = o.csum && ((features >> kVirtioNetFGuestTso6) & 1);
  o.ecn = (o.tso4 || o.tso6) && ((features >> kVirtioNetFGuestEcn) & 1);
  return o;
}

}  // namespace

VirtioNet::VirtioNet(std::unique_ptr<NetBackend> backend, Options options)
    : options_(std::move(options)),
      features_(Features(options_)),
      config_{},
      rx_buffer_(NetBackend::kMaxFrame),
      backend_(std::move(backend)) {
  std::memcpy(config_.mac, options_.mac.data(), sizeof(config_.mac));
  config_.status = kVirtioNetSLinkUp;
  config_.max_virtqueue_pairs = 1;
  backend_->SetFramesWaitingCallback([this] { OnFramesWaiting(); });
}

VirtioNet::~VirtioNet() = default;

void VirtioNet::ReadConfig(uint64_t offset, absl::Span<uint8_t> data) {
  std::memset(data.data(), 0, data.size());
  if (offset >= sizeof(config_)) return;
  const size_t n = std::min<uint64_t>(data.size(), sizeof(config_) - offset);
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(&config_) + offset,
              n);
}

absl::Status VirtioNet::Activate(const GuestMemory& mem, uint64_t features,
                                 std::vector<std::optional<Virtqueue>> queues,
                                 VirtioInterrupt* interrupt) {
  (void)mem;
  if (queues.size() < 2 || !queues[kRxQueue].has_value() ||
      !queues[kTxQueue].has_value()) {
    return absl::FailedPreconditionError(
        "virtio-net: receiveq1 and transmitq1 must both be enabled");
  }
  SKIFF_RETURN_IF_ERROR(backend_->SetOffload(OffloadFor(features)));
  absl::MutexLock lock(&mu_);
  ClearRxLocked();
  rx_ = std::move(queues[kRxQueue]);
  tx_ = std::move(queues[kTxQueue]);
  interrupt_ = interrupt;
  features_negotiated_ = features;
  broken_ = false;
  deferred_error_ = absl::OkStatus();
  return absl::OkStatus();
}

void VirtioNet::Reset() {
  {
    absl::MutexLock lock(&mu_);
    ClearRxLocked();
    rx_.reset();
    tx_.reset();
    interrupt_ = nullptr;
    features_negotiated_ = 0;
    broken_ = false;
    deferred_error_ = absl::OkStatus();
  }
  // Until the next driver negotiates, the host must not prepare offloaded
  // frames it may not accept. Best effort: frames with offloads the guest
  // did not accept are dropped on receive anyway.
  if (absl::Status s = backend_->SetOffload({}); !s.ok()) {
    if (log_limiter_.Allow()) {
      SKIFF_LOG(kWarn, "virtio-net: reset offloads: %s",
                OneLine(std::string(s.message())));
    }
  }
}

void VirtioNet::ClearRxLocked() {
  if (rx_frame_len_ != 0) rx_dropped_.fetch_add(1, std::memory_order_relaxed);
  rx_frame_len_ = 0;
  rx_chains_.clear();
  rx_room_ = 0;
}

VirtioNet::Stats VirtioNet::stats() const {
  constexpr auto kOrder = std::memory_order_relaxed;
  return Stats{.rx_packets = rx_packets_.load(kOrder),
               .rx_bytes = rx_bytes_.load(kOrder),
               .rx_dropped = rx_dropped_.load(kOrder),
               .rx_errors = rx_errors_.load(kOrder),
               .tx_packets = tx_packets_.load(kOrder),
               .tx_bytes = tx_bytes_.load(kOrder),
               .tx_dropped = tx_dropped_.load(kOrder),
               .tx_errors = tx_errors_.load(kOrder)};
}

bool VirtioNet::rx_frame_pending() const {
  absl::MutexLock lock(&mu_);
  return rx_frame_len_ != 0;
}

absl::Status VirtioNet::ProcessQueue(uint32_t queue) {
  absl::MutexLock lock(&mu_);
  if (!deferred_error_.ok()) return std::exchange(deferred_error_, {});
  if (broken_ || !rx_.has_value()) return absl::OkStatus();
  absl::Status s;
  if (queue == kRxQueue) {
    // New receive buffers: deliver what waits in the device and the host.
    s = ReceiveLocked();
  } else if (queue == kTxQueue) {
    s = TransmitLocked();
  }
  if (!s.ok()) broken_ = true;
  return s;
}

void VirtioNet::OnFramesWaiting() {
  absl::MutexLock lock(&mu_);
  // Paused: Resume reads the TAP, which does not signal again by itself.
  if (paused_) return;
  ReceiveDeferredLocked();
}

void VirtioNet::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
}

void VirtioNet::Resume() {
  absl::MutexLock lock(&mu_);
  paused_ = false;
  ReceiveDeferredLocked();
}

void VirtioNet::ReceiveDeferredLocked() {
  if (broken_ || !rx_.has_value()) return;
  if (absl::Status s = ReceiveLocked(); !s.ok()) {
    broken_ = true;
    deferred_error_ = s;
    if (log_limiter_.Allow()) {
      SKIFF_LOG(kWarn, "virtio-net: receive queue broken: %s",
                OneLine(std::string(s.message())));
    }
  }
}

void VirtioNet::PublishLocked(uint32_t queue) {
  std::optional<Virtqueue>& q = queue == kRxQueue ? rx_ : tx_;
  if (q.has_value() && q->PublishUsed() && interrupt_ != nullptr) {
    interrupt_->SignalUsed(queue);
  }
}

// ---- Receive (§5.1.6.3, §5.1.6.4) ----

absl::Status VirtioNet::ReceiveLocked() {
  absl::Status error;
  for (;;) {
    if (rx_frame_len_ == 0 && !ReadFrameLocked()) break;
    absl::StatusOr<bool> delivered = DeliverFrameLocked();
    if (!delivered.ok()) {
      error = delivered.status();
      break;
    }
    if (*delivered) continue;
    // Out of guest buffers: the frame waits, the backend is left unread,
    // and the driver is asked to notify when it posts more (§2.7.10).
    // Buffers that raced with that request are used at once.
    if (!rx_->EnableNotification()) break;
  }
  PublishLocked(kRxQueue);
  return error;
}

bool VirtioNet::ReadFrameLocked() {
  for (;;) {
    const iovec iov{rx_buffer_.data(), rx_buffer_.size()};
    const int64_t n = backend_->Receive(absl::MakeConstSpan(&iov, 1));
    if (n == -EAGAIN) return false;
    if (n == -EINTR) continue;
    if (n < 0) {
      // The frame (if any) is lost; the next callback tries again.
      rx_errors_.fetch_add(1, std::memory_order_relaxed);
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn, "virtio-net: backend receive failed errno=%d", -n);
      }
      return false;
    }
    // Runts, and frames that filled the whole bounce buffer (which is
    // larger than any frame the backend should produce, so it may have been
    // cut short), are not delivered.
    if (static_cast<uint64_t>(n) < kVirtioNetHdrSize + kEthHeaderSize ||
        static_cast<uint64_t>(n) >= rx_buffer_.size()) {
      rx_dropped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    VirtioNetHdr hdr;
    std::memcpy(&hdr, rx_buffer_.data(), sizeof(hdr));
    if (!RxHeaderAllowed(hdr)) {
      rx_dropped_.fetch_add(1, std::memory_order_relaxed);
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn,
                  "virtio-net: dropped received frame with offloads the "
                  "guest did not accept flags=0x%x gso_type=0x%x",
                  hdr.flags, hdr.gso_type);
      }
      continue;
    }
    std::memcpy(rx_buffer_.data(), &hdr, sizeof(hdr));
    rx_frame_len_ = static_cast<size_t>(n);
    return true;
  }
}

bool VirtioNet::RxHeaderAllowed(VirtioNetHdr& hdr) const {
  if (!Negotiated(kVirtioNetFGuestCsum)) {
    // §5.1.6.4.1: without GUEST_CSUM flags must be zero. DATA_VALID is
    // only a hint (the host checked the checksum), so it is cleared; a
    // partial checksum cannot be handed over and drops the frame.
    hdr.flags &= static_cast<uint8_t>(~kVirtioNetHdrFDataValid);
  }
  const uint8_t known_flags =
      Negotiated(kVirtioNetFGuestCsum)
          ? kVirtioNetHdrFNeedsCsum | kVirtioNetHdrFDataValid
          : 0;
  if (hdr.flags & ~known_flags) return false;
  return GsoAllowed(hdr.gso_type, kVirtioNetFGuestTso4, kVirtioNetFGuestTso6,
                    kVirtioNetFGuestEcn);
}

absl::StatusOr<bool> VirtioNet::DeliverFrameLocked() {
  const bool merge = Negotiated(kVirtioNetFMrgRxbuf);
  while (rx_room_ < rx_frame_len_) {
    if (!merge && !rx_chains_.empty()) {
      // §5.1.6.3.1: without MRG_RXBUF one chain holds a whole frame; the
      // driver posted buffers too small for this one. The chain stays for
      // the next (smaller) frame.
      rx_dropped_.fetch_add(1, std::memory_order_relaxed);
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn,
                  "virtio-net: dropped received frame bytes=%u larger than "
                  "the receive buffer bytes=%u (header included)",
                  rx_frame_len_, rx_room_);
      }
      rx_frame_len_ = 0;
      return true;
    }
    DescriptorChain chain;
    SKIFF_ASSIGN_OR_RETURN(bool got, rx_->Pop(chain));
    if (!got) return false;
    // The header (num_buffers included) goes into the first chain whole.
    const uint64_t min = rx_chains_.empty() ? kVirtioNetHdrSize : 1;
    if (chain.writable_bytes < min) {
      rx_errors_.fetch_add(1, std::memory_order_relaxed);
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn,
                  "virtio-net: receive chain head=%u has %u writable bytes",
                  chain.head, chain.writable_bytes);
      }
      rx_->AddUsed(chain.head, 0);
      continue;
    }
    rx_room_ += chain.writable_bytes;
    rx_chains_.push_back(std::move(chain));
  }

  // §5.1.6.4: num_buffers is the number of chains the frame occupies, 1
  // without MRG_RXBUF. A queue holds at most 32768 chains, so it fits.
  VirtioNetHdr hdr;
  std::memcpy(&hdr, rx_buffer_.data(), sizeof(hdr));
  size_t used_chains = 0;
  uint64_t room = 0;
  while (room < rx_frame_len_) room += rx_chains_[used_chains++].writable_bytes;
  hdr.num_buffers = static_cast<uint16_t>(used_chains);
  std::memcpy(rx_buffer_.data(), &hdr, sizeof(hdr));

  size_t offset = 0;
  for (size_t i = 0; i < used_chains; ++i) {
    const DescriptorChain& c = rx_chains_[i];
    const size_t n =
        std::min<uint64_t>(c.writable_bytes, rx_frame_len_ - offset);
    CopyToIovecs(c.writable, 0,
                 absl::MakeConstSpan(rx_buffer_.data() + offset, n));
    rx_->AddUsed(c.head, static_cast<uint32_t>(n));
    offset += n;
  }
  rx_chains_.erase(rx_chains_.begin(), rx_chains_.begin() + used_chains);
  rx_room_ = 0;
  for (const DescriptorChain& c : rx_chains_) rx_room_ += c.writable_bytes;
  rx_packets_.fetch_add(1, std::memory_order_relaxed);
  rx_bytes_.fetch_add(rx_frame_len_ - kVirtioNetHdrSize,
                      std::memory_order_relaxed);
  rx_frame_len_ = 0;
  return true;
}

// ---- Transmit (§5.1.6.2) ----

absl::Status VirtioNet::TransmitLocked() {
  absl::Status error;
  for (;;) {
    absl::StatusOr<bool> got = tx_->Pop(tx_chain_);
    if (!got.ok()) {
      error = got.status();
      break;
    }
    if (!*got) {
      if (!tx_->EnableNotification()) break;
      continue;
    }
    SendChainLocked(tx_chain_);
    // §5.1.6.2.2: the device writes nothing into transmit buffers.
    tx_->AddUsed(tx_chain_.head, 0);
  }
  PublishLocked(kTxQueue);
  return error;
}

bool VirtioNet::TxHeaderAllowed(const VirtioNetHdr& hdr) const {
  // §5.1.6.2.1: DATA_VALID and RSC_INFO are the device's to set; NEEDS_CSUM
  // needs VIRTIO_NET_F_CSUM; each GSO type its HOST_* feature.
  const uint8_t known_flags =
      Negotiated(kVirtioNetFCsum) ? kVirtioNetHdrFNeedsCsum : 0;
  if (hdr.flags & ~known_flags) return false;
  return GsoAllowed(hdr.gso_type, kVirtioNetFHostTso4, kVirtioNetFHostTso6,
                    kVirtioNetFHostEcn);
}

bool VirtioNet::GsoAllowed(uint8_t gso_type, int tso4, int tso6,
                           int ecn_feature) const {
  const bool ecn = gso_type & kVirtioNetHdrGsoEcn;
  switch (gso_type & ~kVirtioNetHdrGsoEcn) {
    case kVirtioNetHdrGsoNone:
      return !ecn;
    case kVirtioNetHdrGsoTcpv4:
      return Negotiated(tso4) && (!ecn || Negotiated(ecn_feature));
    case kVirtioNetHdrGsoTcpv6:
      return Negotiated(tso6) && (!ecn || Negotiated(ecn_feature));
    default:
      return false;  // UFO, USO: never offered
  }
}

void VirtioNet::SendChainLocked(const DescriptorChain& chain) {
  auto drop = [&](const char* why) {
    tx_dropped_.fetch_add(1, std::memory_order_relaxed);
    if (log_limiter_.Allow()) {
      SKIFF_LOG(kWarn, "virtio-net: dropped transmit head=%u len=%u: %s",
                chain.head, chain.readable_bytes, why);
    }
  };
  if (chain.readable_bytes < kVirtioNetHdrSize + kEthHeaderSize) {
    return drop("shorter than a header and an Ethernet header");
  }
  if (chain.readable_bytes > NetBackend::kMaxFrame) {
    return drop("longer than a 64 KiB segment");
  }
  // A copy of the header: the guest may rewrite its own after the check.
  VirtioNetHdr hdr;
  CopyFromIovecs(chain.readable, 0, AsBytes(hdr));
  if (!TxHeaderAllowed(hdr)) return drop("offloads not negotiated");
  hdr.num_buffers = 0;  // unused on transmit

  const uint64_t frame_len = chain.readable_bytes - kVirtioNetHdrSize;
  tx_iov_.clear();
  tx_iov_.push_back(iovec{&hdr, sizeof(hdr)});
  std::vector<iovec> frame =
      SliceIovecs(chain.readable, kVirtioNetHdrSize, frame_len);
  if (frame.size() + 1 <= kMaxIov) {
    tx_iov_.insert(tx_iov_.end(), frame.begin(), frame.end());
  } else {
    tx_linear_.resize(frame_len);
    CopyFromIovecs(chain.readable, kVirtioNetHdrSize,
                   absl::MakeSpan(tx_linear_));
    tx_iov_.push_back(iovec{tx_linear_.data(), tx_linear_.size()});
  }
  const int64_t n = backend_->Send(tx_iov_);
  if (n < 0) {
    if (n == -EAGAIN || n == -ENOBUFS) {
      // Host queue full: dropped like a full NIC queue would.
      tx_dropped_.fetch_add(1, std::memory_order_relaxed);
    } else {
      // e.g. -EINVAL: the host refused the header's offload description.
      tx_errors_.fetch_add(1, std::memory_order_relaxed);
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn, "virtio-net: backend send failed head=%u errno=%d",
                  chain.head, -n);
      }
    }
    return;
  }
  tx_packets_.fetch_add(1, std::memory_order_relaxed);
  tx_bytes_.fetch_add(frame_len, std::memory_order_relaxed);
}

}  // namespace skiff::devices
