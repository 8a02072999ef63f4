#include "devices/virtio/virtio_vsock.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "devices/virtio/iovec_util.h"

namespace skiff::devices {
namespace {

constexpr uint32_t kRxQueue = 0;
constexpr uint32_t kTxQueue = 1;
constexpr uint32_t kEventQueue = 2;

}  // namespace

struct VirtioVsock::Conn {
  // kConnecting: the host asked (ConnectToGuest) and the guest has not
  // answered yet.
  bool established = false;

  // Guest to host.
  uint32_t guest_sent = 0;  // payload bytes received from the guest
  uint32_t fwd_cnt = 0;     // of those, bytes the backend took
  uint32_t advertised_fwd_cnt = 0;
  bool credit_update_queued = false;
  std::vector<uint8_t> pending;  // taken from the guest, not by the backend
  size_t pending_off = 0;
  bool guest_shut_send = false;
  bool guest_shut_rcv = false;
  bool host_write_shut = false;

  // Host to guest.
  uint32_t peer_buf_alloc = 0;
  uint32_t peer_fwd_cnt = 0;
  uint32_t tx_cnt = 0;  // payload bytes sent to the guest
  bool host_readable = false;
  bool host_eof = false;
  bool in_ready = false;

  size_t pending_bytes() const { return pending.size() - pending_off; }
  uint32_t credit() const {
    const uint32_t in_flight = tx_cnt - peer_fwd_cnt;
    return in_flight >= peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
  }
};

VirtioVsock::VirtioVsock(uint64_t guest_cid,
                         std::unique_ptr<VsockBackend> backend)
    : guest_cid_(guest_cid), backend_(std::move(backend)) {
  backend_->Attach(this);
}

VirtioVsock::~VirtioVsock() = default;

uint64_t VirtioVsock::device_features() const {
  // No VIRTIO_VSOCK_F_SEQPACKET: stream sockets only.
  return (uint64_t{1} << kVirtioRingFIndirectDesc) |
         (uint64_t{1} << kVirtioRingFEventIdx);
}

void VirtioVsock::ReadConfig(uint64_t offset, absl::Span<uint8_t> data) {
  // struct virtio_vsock_config { le64 guest_cid; } (§5.10.4).
  std::memset(data.data(), 0, data.size());
  const uint64_t cid = guest_cid_;
  if (offset >= sizeof(cid)) return;
  const size_t n = std::min<uint64_t>(data.size(), sizeof(cid) - offset);
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(&cid) + offset, n);
}

absl::Status VirtioVsock::Activate(const GuestMemory& mem, uint64_t features,
                                   std::vector<std::optional<Virtqueue>> queues,
                                   VirtioInterrupt* interrupt) {
  (void)mem;
  (void)features;
  if (queues.size() < 2 || !queues[kRxQueue].has_value() ||
      !queues[kTxQueue].has_value()) {
    return absl::FailedPreconditionError(
        "virtio-vsock: rx and tx queues must be enabled");
  }
  absl::MutexLock lock(&mu_);
  rx_ = std::move(queues[kRxQueue]);
  tx_ = std::move(queues[kTxQueue]);
  if (queues.size() > kEventQueue) event_ = std::move(queues[kEventQueue]);
  interrupt_ = interrupt;
  broken_ = false;
  return absl::OkStatus();
}

void VirtioVsock::Reset() {
  absl::MutexLock lock(&mu_);
  rx_.reset();
  tx_.reset();
  event_.reset();
  interrupt_ = nullptr;
  broken_ = false;
  tx_stalled_ = false;
  rx_held_ = false;
  conns_.clear();
  replies_.clear();
  ready_.clear();
  backend_->Reset();
}

size_t VirtioVsock::connections() const {
  absl::MutexLock lock(&mu_);
  return conns_.size();
}

absl::Status VirtioVsock::ProcessQueue(uint32_t queue) {
  absl::MutexLock lock(&mu_);
  if (!active()) return absl::OkStatus();
  absl::Status error;
  if (queue == kTxQueue) error = ProcessTxLocked();
  // New rx buffers, or replies and credit from the tx packets: fill rx. A
  // stalled tx queue resumes once its replies have gone out.
  if (error.ok()) error = FillRxLocked();
  if (error.ok() && tx_stalled_ && replies_.size() < kMaxPendingReplies) {
    error = ProcessTxLocked();
    if (error.ok()) error = FillRxLocked();
  }
  PublishLocked();
  if (!error.ok()) broken_ = true;
  return error;
}

absl::Status VirtioVsock::ProcessTxLocked() {
  tx_stalled_ = false;
  for (;;) {
    if (replies_.size() >= kMaxPendingReplies) {
      tx_stalled_ = true;
      return absl::OkStatus();
    }
    absl::StatusOr<bool> got = tx_->Pop(tx_chain_);
    if (!got.ok()) return got.status();
    if (!*got) {
      if (!tx_->EnableNotification()) return absl::OkStatus();
      continue;
    }
    HandlePacket(tx_chain_);
    // Tx buffers are only read: the used length (bytes written, §2.7.8)
    // is 0.
    tx_->AddUsed(tx_chain_.head, 0);
  }
}

void VirtioVsock::HandlePacket(const DescriptorChain& chain) {
  VsockHdr hdr;
  if (CopyFromIovecs(chain.readable, 0, AsBytes(hdr)) != sizeof(hdr)) {
    if (log_limiter_.Allow()) {
      SKIFF_LOG(kWarn, "virtio-vsock: tx chain head=%u shorter than a header",
                chain.head);
    }
    return;
  }
  // Addressing (§5.10.6.2): a packet that does not come from the
  // guest's own CID is dropped; nothing could be addressed in reply.
  if (hdr.src_cid != guest_cid_) {
    if (log_limiter_.Allow()) {
      SKIFF_LOG(kWarn, "virtio-vsock: dropped packet src_cid=%u (guest is %u)",
                hdr.src_cid, guest_cid_);
    }
    return;
  }
  const VsockConnKey key{hdr.dst_port, hdr.src_port};
  // Replies go out from the CID the guest addressed, so that the guest
  // matches them to its socket even when it is not the host's.
  const uint64_t reply_cid = hdr.dst_cid;
  auto rst = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (hdr.op != kVsockOpRst) QueueReply(reply_cid, key, kVsockOpRst);
  };
  if (hdr.dst_cid != kVsockHostCid || hdr.type != kVsockTypeStream) {
    // Only the host is reachable, and only by stream sockets.
    rst();
    return;
  }
  auto it = conns_.find(key);
  Conn* conn = it == conns_.end() ? nullptr : it->second.get();
  if (conn != nullptr) {
    // Every packet carries the guest's credit (§5.10.6.3); new credit
    // resumes a host end we stopped reading.
    conn->peer_buf_alloc = hdr.buf_alloc;
    conn->peer_fwd_cnt = hdr.fwd_cnt;
    if (conn->host_readable && conn->credit() > 0) MarkReady(key, *conn);
  }
  switch (hdr.op) {
    case kVsockOpRequest:
      if (conn != nullptr) {
        // A second REQUEST for a live connection: both ends must forget it.
        ResetConnLocked(key, /*rst=*/true, /*host_gone=*/false);
        return;
      }
      if (conns_.size() >= kMaxConnections || !backend_->Connect(key)) {
        rst();
        return;
      }
      conn = conns_.emplace(key, std::make_unique<Conn>()).first->second.get();
      conn->established = true;
      conn->peer_buf_alloc = hdr.buf_alloc;
      conn->peer_fwd_cnt = hdr.fwd_cnt;
      QueueReply(kVsockHostCid, key, kVsockOpResponse);
      // The host end may have data already (a banner): try it once.
      conn->host_readable = true;
      MarkReady(key, *conn);
      return;
    case kVsockOpResponse:
      if (conn == nullptr || conn->established) {
        if (conn != nullptr) {
          ResetConnLocked(key, /*rst=*/true, /*host_gone=*/false);
        } else {
          rst();
        }
        return;
      }
      if (!backend_->Connected(key)) {
        ResetConnLocked(key, /*rst=*/true, /*host_gone=*/false);
        return;
      }
      conn->established = true;
      conn->host_readable = true;
      MarkReady(key, *conn);
      return;
    case kVsockOpRst:
      if (conn != nullptr) {
        ResetConnLocked(key, /*rst=*/false, /*host_gone=*/false);
      }
      return;
    case kVsockOpShutdown:
      if (conn == nullptr || !conn->established) {
        if (conn != nullptr) {
          ResetConnLocked(key, /*rst=*/true, /*host_gone=*/false);
        } else {
          rst();
        }
        return;
      }
      if (hdr.flags & kVsockShutdownRcv) conn->guest_shut_rcv = true;
      if (hdr.flags & kVsockShutdownSend) conn->guest_shut_send = true;
      FlushLocked(key);
      return;
    case kVsockOpRw:
      if (conn == nullptr || !conn->established || conn->guest_shut_send) {
        if (conn != nullptr) {
          ResetConnLocked(key, /*rst=*/true, /*host_gone=*/false);
        } else {
          rst();
        }
        return;
      }
      HandleRw(hdr, chain, *conn);
      return;
    case kVsockOpCreditUpdate:
      if (conn == nullptr) {
        rst();
        return;
      }
      return;  // the new credit was taken above
    case kVsockOpCreditRequest:
      if (conn == nullptr) {
        rst();
        return;
      }
      if (!conn->credit_update_queued) {
        conn->credit_update_queued = true;
        QueueReply(kVsockHostCid, key, kVsockOpCreditUpdate);
      }
      return;
    default:
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn, "virtio-vsock: unknown op=%u port=%u", hdr.op,
                  hdr.src_port);
      }
      if (conn != nullptr) {
        ResetConnLocked(key, /*rst=*/true, /*host_gone=*/false);
      } else {
        rst();
      }
      return;
  }
}

void VirtioVsock::HandleRw(const VsockHdr& hdr, const DescriptorChain& chain,
                           Conn& conn) {
  const VsockConnKey key{hdr.dst_port, hdr.src_port};
  const uint64_t available = chain.readable_bytes - sizeof(VsockHdr);
  // The payload must be in the chain, and the guest must respect the credit
  // we gave it (§5.10.6.3): otherwise the connection is reset.
  if (hdr.len > available || hdr.len > kMaxPayload ||
      conn.pending_bytes() + hdr.len > kBufAlloc) {
    if (log_limiter_.Allow()) {
      SKIFF_LOG(kWarn,
                "virtio-vsock: bad RW len=%u buffer=%u pending=%u port=%u",
                hdr.len, available, conn.pending_bytes(), hdr.src_port);
    }
    ResetConnLocked(key, /*rst=*/true, /*host_gone=*/false);
    return;
  }
  if (hdr.len == 0) return;
  if (conn.pending_off > 0 && conn.pending_off == conn.pending.size()) {
    conn.pending.clear();
    conn.pending_off = 0;
  }
  const size_t at = conn.pending.size();
  conn.pending.resize(at + hdr.len);
  CopyFromIovecs(chain.readable, sizeof(VsockHdr),
                 absl::MakeSpan(conn.pending.data() + at, hdr.len));
  conn.guest_sent += hdr.len;
  FlushLocked(key);
}

void VirtioVsock::FlushLocked(VsockConnKey key) {
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  Conn& conn = *it->second;
  while (conn.pending_bytes() > 0) {
    const int64_t n = backend_->Send(
        key, absl::MakeConstSpan(conn.pending.data() + conn.pending_off,
                                 conn.pending_bytes()));
    if (n == -EAGAIN || n == 0) break;  // HostWritable will resume
    if (n < 0) {
      ResetConnLocked(key, /*rst=*/true, /*host_gone=*/false);
      return;
    }
    const size_t taken = std::min<size_t>(n, conn.pending_bytes());
    conn.pending_off += taken;
    conn.fwd_cnt += static_cast<uint32_t>(taken);
  }
  if (conn.pending_bytes() == 0) {
    conn.pending.clear();
    conn.pending_off = 0;
    // Compact rarely: only once everything went out.
    if (conn.pending.capacity() > kMaxPayload) conn.pending.shrink_to_fit();
  } else if (conn.pending_off > kBufAlloc / 2) {
    conn.pending.erase(conn.pending.begin(),
                       conn.pending.begin() + conn.pending_off);
    conn.pending_off = 0;
  }
  if (conn.pending_bytes() == 0 && conn.guest_shut_send) {
    if (conn.guest_shut_rcv) {
      // The guest closed its socket: everything it sent has reached the
      // host end, so the connection is over. Linux waits for this RST
      // before it forgets the socket.
      ResetConnLocked(key, /*rst=*/true, /*host_gone=*/false);
      return;
    }
    if (!conn.host_write_shut) {
      conn.host_write_shut = true;
      backend_->ShutdownWrite(key);
    }
  }
  // Tell the guest about freed space once its view of our buffer is less
  // than half free.
  const uint32_t unadvertised = conn.fwd_cnt - conn.advertised_fwd_cnt;
  const uint32_t seen_used = conn.guest_sent - conn.advertised_fwd_cnt;
  if (unadvertised > 0 && seen_used > kBufAlloc / 2 &&
      !conn.credit_update_queued) {
    conn.credit_update_queued = true;
    QueueReply(kVsockHostCid, key, kVsockOpCreditUpdate);
  }
}

void VirtioVsock::ResetConnLocked(VsockConnKey key, bool rst, bool host_gone) {
  conns_.erase(key);
  if (!host_gone) backend_->Close(key);
  if (rst) QueueReply(kVsockHostCid, key, kVsockOpRst);
}

void VirtioVsock::QueueReply(uint64_t src_cid, VsockConnKey key, uint16_t op,
                             uint32_t flags) {
  replies_.push_back(Reply{src_cid, key, op, flags});
}

void VirtioVsock::MarkReady(VsockConnKey key, Conn& conn) {
  if (conn.in_ready) return;
  conn.in_ready = true;
  ready_.push_back(key);
}

VsockHdr VirtioVsock::MakeHdr(uint64_t src_cid, VsockConnKey key, uint16_t op,
                              uint32_t flags, uint32_t len, Conn* conn) const {
  VsockHdr hdr{};
  hdr.src_cid = src_cid;
  hdr.dst_cid = guest_cid_;
  hdr.src_port = key.host_port;
  hdr.dst_port = key.guest_port;
  hdr.len = len;
  hdr.type = kVsockTypeStream;
  hdr.op = op;
  hdr.flags = flags;
  if (conn != nullptr) {
    hdr.buf_alloc = kBufAlloc;
    hdr.fwd_cnt = conn->fwd_cnt;
  }
  return hdr;
}

absl::StatusOr<bool> VirtioVsock::PopRxLocked() {
  if (rx_held_) {
    rx_held_ = false;
    return true;
  }
  for (;;) {
    absl::StatusOr<bool> got = rx_->Pop(rx_chain_);
    if (!got.ok() || *got) return got;
    if (!rx_->EnableNotification()) return false;
  }
}

absl::Status VirtioVsock::FillRxLocked() {
  // Paused: no guest memory writes; Resume fills what waits.
  if (paused_) return absl::OkStatus();
  for (;;) {
    const bool have_reply = !replies_.empty();
    if (!have_reply && ready_.empty()) return absl::OkStatus();
    absl::StatusOr<bool> got = PopRxLocked();
    if (!got.ok()) return got.status();
    if (!*got) return absl::OkStatus();
    if (rx_chain_.writable_bytes < sizeof(VsockHdr)) {
      // Not even room for a header (§5.10.6): give it back empty.
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn, "virtio-vsock: rx buffer head=%u of %u bytes",
                  rx_chain_.head, rx_chain_.writable_bytes);
      }
      rx_->AddUsed(rx_chain_.head, 0);
      continue;
    }
    if (have_reply) {
      const Reply r = replies_.front();
      replies_.pop_front();
      auto it = conns_.find(r.key);
      Conn* conn = it == conns_.end() ? nullptr : it->second.get();
      if (r.op == kVsockOpCreditUpdate) {
        if (conn == nullptr) {
          rx_held_ = true;  // the connection went away meanwhile
          continue;
        }
        conn->credit_update_queued = false;
      }
      VsockHdr hdr = MakeHdr(r.src_cid, r.key, r.op, r.flags, 0, conn);
      if (conn != nullptr) conn->advertised_fwd_cnt = conn->fwd_cnt;
      CopyToIovecs(rx_chain_.writable, 0, AsBytes(hdr));
      rx_->AddUsed(rx_chain_.head, sizeof(hdr));
      continue;
    }
    const VsockConnKey key = ready_.front();
    ready_.pop_front();
    auto it = conns_.find(key);
    Conn* conn = it == conns_.end() ? nullptr : it->second.get();
    if (conn == nullptr || !conn->in_ready) {
      rx_held_ = true;
      continue;
    }
    const uint32_t credit = conn->credit();
    if (!conn->established || !conn->host_readable || conn->host_eof ||
        conn->guest_shut_rcv || credit == 0) {
      // Resumed by HostReadable, a credit update or an RW from the guest.
      conn->in_ready = false;
      rx_held_ = true;
      continue;
    }
    const uint64_t room = std::min<uint64_t>(
        {rx_chain_.writable_bytes - sizeof(VsockHdr), credit, kMaxPayload});
    std::vector<iovec> iov =
        SliceIovecs(rx_chain_.writable, sizeof(VsockHdr), room);
    int64_t n = room == 0 ? -EAGAIN : backend_->Recv(key, iov);
    if (n == -EAGAIN) {
      conn->host_readable = false;
      conn->in_ready = false;
      rx_held_ = true;
      continue;
    }
    if (n < 0) {
      rx_held_ = true;
      ResetConnLocked(key, /*rst=*/true, /*host_gone=*/false);
      continue;
    }
    VsockHdr hdr;
    if (n == 0) {
      // End of the host's stream: "we will send nothing more".
      conn->host_eof = true;
      conn->host_readable = false;
      conn->in_ready = false;
      hdr = MakeHdr(kVsockHostCid, key, kVsockOpShutdown, kVsockShutdownSend, 0,
                    conn);
    } else {
      n = std::min<int64_t>(n, room);
      conn->tx_cnt += static_cast<uint32_t>(n);
      hdr = MakeHdr(kVsockHostCid, key, kVsockOpRw, 0, static_cast<uint32_t>(n),
                    conn);
      ready_.push_back(key);  // round-robin: it stays ready
    }
    conn->advertised_fwd_cnt = conn->fwd_cnt;
    CopyToIovecs(rx_chain_.writable, 0, AsBytes(hdr));
    rx_->AddUsed(rx_chain_.head, static_cast<uint32_t>(sizeof(hdr) + n));
  }
}

void VirtioVsock::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
}

void VirtioVsock::Resume() {
  absl::MutexLock lock(&mu_);
  paused_ = false;
  if (!active()) return;
  if (absl::Status s = FillRxLocked(); !s.ok()) broken_ = true;
  PublishLocked();
}

void VirtioVsock::PublishLocked() {
  if (interrupt_ == nullptr || paused_) return;
  if (rx_.has_value() && rx_->PublishUsed()) interrupt_->SignalUsed(kRxQueue);
  if (tx_.has_value() && tx_->PublishUsed()) interrupt_->SignalUsed(kTxQueue);
}

bool VirtioVsock::ConnectToGuest(VsockConnKey key) {
  absl::MutexLock lock(&mu_);
  // Refused too while replies back up: a host that connects and hangs up
  // in a loop must not grow the reply queue without bound.
  if (!active() || conns_.contains(key) || conns_.size() >= kMaxConnections ||
      replies_.size() >= kMaxPendingReplies) {
    return false;
  }
  conns_.emplace(key, std::make_unique<Conn>());
  QueueReply(kVsockHostCid, key, kVsockOpRequest);
  if (absl::Status s = FillRxLocked(); !s.ok()) broken_ = true;
  PublishLocked();
  return true;
}

void VirtioVsock::HostReadable(VsockConnKey key) {
  absl::MutexLock lock(&mu_);
  if (!active()) return;
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  it->second->host_readable = true;
  MarkReady(key, *it->second);
  if (absl::Status s = FillRxLocked(); !s.ok()) broken_ = true;
  PublishLocked();
}

void VirtioVsock::HostWritable(VsockConnKey key) {
  absl::MutexLock lock(&mu_);
  if (!active() || !conns_.contains(key)) return;
  FlushLocked(key);
  if (absl::Status s = FillRxLocked(); !s.ok()) broken_ = true;
  PublishLocked();
}

void VirtioVsock::HostReset(VsockConnKey key) {
  absl::MutexLock lock(&mu_);
  if (!active() || !conns_.contains(key)) return;
  ResetConnLocked(key, /*rst=*/true, /*host_gone=*/true);
  if (absl::Status s = FillRxLocked(); !s.ok()) broken_ = true;
  PublishLocked();
}

}  // namespace skiff::devices
