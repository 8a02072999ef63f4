#include "devices/virtio/virtio_blk.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "devices/virtio/iovec_util.h"

namespace skiff::devices {

// One guest request; shared by its backend requests (a DISCARD may have
// several segments).
struct VirtioBlk::Request {
  uint64_t generation = 0;
  uint64_t backend_serial = 0;  // the backend its requests went to
  uint16_t head = 0;
  uint8_t* status = nullptr;  // the last writable byte, in guest RAM
  uint32_t used_len = 0;
  int pending = 0;  // backend requests not completed
  uint8_t result = kVirtioBlkSOk;
};

namespace {

uint64_t Bit(int n) { return uint64_t{1} << n; }

uint64_t Features(const BlockBackend& backend) {
  uint64_t f = Bit(kVirtioBlkFSizeMax) | Bit(kVirtioBlkFSegMax) |
               Bit(kVirtioBlkFBlkSize) | Bit(kVirtioBlkFFlush) |
               Bit(kVirtioBlkFDiscard) | Bit(kVirtioBlkFWriteZeroes) |
               Bit(kVirtioRingFIndirectDesc) | Bit(kVirtioRingFEventIdx);
  if (backend.read_only()) f |= Bit(kVirtioBlkFRo);
  return f;
}

}  // namespace

VirtioBlk::VirtioBlk(std::unique_ptr<BlockBackend> backend, Options options)
    : options_(std::move(options)),
      features_(Features(*backend)),
      read_only_(backend->read_only()),
      capacity_sectors_(backend->size_bytes() / kSectorSize),
      config_{},
      backend_(std::move(backend)) {
  absl::MutexLock lock(&mu_);
  config_.capacity = capacity_sectors_;
  // Any single buffer up to 4 MiB; with indirect descriptors a chain holds
  // up to queue_size descriptors, two of which are header and status.
  config_.size_max = 4u << 20;
  config_.seg_max = std::max<uint32_t>(options_.queue_size, 3) - 2;
  config_.blk_size = std::max<uint32_t>(options_.block_size, kSectorSize);
  config_.num_queues = 1;
  config_.max_discard_sectors = options_.max_discard_sectors;
  config_.max_discard_seg = options_.max_discard_segments;
  config_.discard_sector_alignment = 8;  // 4 KiB, the host page/block size
  config_.max_write_zeroes_sectors = options_.max_discard_sectors;
  config_.max_write_zeroes_seg = options_.max_discard_segments;
  config_.write_zeroes_may_unmap = 1;
}

VirtioBlk::~VirtioBlk() {
  // Backends first, explicitly: a completion they run while going away
  // still finds every member (and no retired backend it could count down).
  backend_.reset();
  std::vector<Retired> retired;
  {
    absl::MutexLock lock(&mu_);
    retired.swap(retired_);
  }
  retired.clear();
}

VirtioBlkConfig VirtioBlk::config() const {
  absl::MutexLock lock(&mu_);
  return config_;
}

size_t VirtioBlk::retired_backends() const {
  absl::MutexLock lock(&mu_);
  return retired_.size();
}

void VirtioBlk::WaitIdle() {
  absl::MutexLock lock(&mu_);
  // OnBackendDone publishes before it releases mu_, so once the count is
  // zero (outside a ProcessQueue pass) every completion is in the used ring.
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return in_flight_ == 0 && !in_pass_;
  };
  mu_.Await(absl::Condition(&idle));
}

void VirtioBlk::SetCapacityLocked(uint64_t size_bytes) {
  capacity_sectors_ = size_bytes / kSectorSize;
  config_.capacity = capacity_sectors_;
  // §4.2.2: ConfigGeneration changes and a configuration-change interrupt
  // goes out; Linux's virtio_blk then re-reads the capacity.
  if (interrupt_ != nullptr) interrupt_->SignalConfig();
}

std::vector<std::unique_ptr<BlockBackend>> VirtioBlk::TakeIdleRetiredLocked() {
  std::vector<std::unique_ptr<BlockBackend>> idle;
  for (auto it = retired_.begin(); it != retired_.end();) {
    if (it->in_flight == 0) {
      idle.push_back(std::move(it->backend));
      it = retired_.erase(it);
    } else {
      ++it;
    }
  }
  return idle;
}

absl::Status VirtioBlk::SwapBackend(std::unique_ptr<BlockBackend> backend) {
  if (backend == nullptr) {
    return absl::InvalidArgumentError("virtio-blk: no backend");
  }
  if (backend->read_only() != read_only_) {
    return absl::FailedPreconditionError(
        read_only_ ? "virtio-blk: the drive is read-only, the new image not"
                   : "virtio-blk: the new image is read-only, the drive not");
  }
  std::unique_ptr<BlockBackend> old = std::exchange(backend_, nullptr);
  std::vector<std::unique_ptr<BlockBackend>> idle;
  {
    absl::MutexLock lock(&mu_);
    // Not inside a pass (same thread), so every request in flight went to
    // the old backend or to one retired before it.
    size_t old_in_flight = in_flight_;
    for (const Retired& r : retired_) old_in_flight -= r.in_flight;
    retired_.push_back({.serial = backend_serial_,
                        .in_flight = old_in_flight,
                        .backend = std::move(old)});
    ++backend_serial_;
    backend_ = std::move(backend);
    SetCapacityLocked(backend_->size_bytes());
    idle = TakeIdleRetiredLocked();
  }
  // Destroyed outside mu_: a backend may complete requests as it goes.
  idle.clear();
  return absl::OkStatus();
}

absl::Status VirtioBlk::RefreshCapacity() {
  SKIFF_ASSIGN_OR_RETURN(uint64_t size, backend_->RefreshSize());
  absl::MutexLock lock(&mu_);
  SetCapacityLocked(size);
  return absl::OkStatus();
}

void VirtioBlk::ReadConfig(uint64_t offset, absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  std::memset(data.data(), 0, data.size());
  if (offset >= sizeof(config_)) return;
  const size_t n = std::min<uint64_t>(data.size(), sizeof(config_) - offset);
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(&config_) + offset,
              n);
}

absl::Status VirtioBlk::Activate(const GuestMemory& mem, uint64_t features,
                                 std::vector<std::optional<Virtqueue>> queues,
                                 VirtioInterrupt* interrupt) {
  (void)mem;
  (void)features;
  if (queues.empty() || !queues[0].has_value()) {
    return absl::FailedPreconditionError(
        "virtio-blk: request queue not enabled");
  }
  absl::MutexLock lock(&mu_);
  queue_ = std::move(queues[0]);
  interrupt_ = interrupt;
  broken_ = false;
  rescan_ = false;
  return absl::OkStatus();
}

void VirtioBlk::Reset() {
  absl::MutexLock lock(&mu_);
  queue_.reset();
  interrupt_ = nullptr;
  broken_ = false;
  rescan_ = false;
  deferred_error_ = absl::OkStatus();
  ++generation_;
}

size_t VirtioBlk::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

bool VirtioBlk::InRange(uint64_t sector, uint64_t sectors) const {
  return sector <= capacity_sectors_ && sectors <= capacity_sectors_ - sector;
}

absl::Status VirtioBlk::ProcessQueue(uint32_t queue) {
  std::vector<std::unique_ptr<BlockBackend>> idle;
  {
    absl::MutexLock lock(&mu_);
    // Old backends whose last request completed since: destroyed below,
    // outside mu_ and outside any of their own callbacks.
    if (!retired_.empty()) idle = TakeIdleRetiredLocked();
    if (queue != 0) return absl::OkStatus();
    if (!deferred_error_.ok()) return std::exchange(deferred_error_, {});
  }
  return Pass();
}

void VirtioBlk::PassFromDevice() {
  absl::Status error = Pass();
  if (error.ok()) return;
  if (log_limiter_.Allow()) {
    SKIFF_LOG(kWarn, "virtio-blk: request queue broken: %s",
              std::string(error.message()));
  }
  absl::MutexLock lock(&mu_);
  deferred_error_ = std::move(error);
}

absl::Status VirtioBlk::Pass() {
  absl::Status error;
  for (;;) {
    std::vector<BlockRequest> batch;
    {
      absl::MutexLock lock(&mu_);
      if (!queue_.has_value() || broken_ || in_pass_) return error;
      const uint64_t generation = generation_;
      rescan_ = false;
      for (;;) {
        absl::StatusOr<bool> got = queue_->Pop(chain_);
        if (!got.ok()) {
          broken_ = true;
          error = got.status();
          // So that the transport hears of it on the driver's next notify.
          queue_->EnableNotification();
          break;
        }
        if (*got) {
          Parse(chain_, generation, batch);
          continue;
        }
        // Requests in flight: their completions come back here, so the
        // driver need not notify.
        if (in_flight_ + batch.size() > 0) {
          queue_->DisableNotification();
          rescan_ = true;
          break;
        }
        // §2.7.10: re-arm notifications, then catch what raced with it.
        if (!queue_->EnableNotification()) break;
      }
      in_flight_ += batch.size();
      in_pass_ = true;
    }
    // Unlocked: the backend may complete requests inline, which takes mu_.
    for (BlockRequest& r : batch) backend_->Submit(std::move(r));
    if (!batch.empty()) backend_->Kick();
    absl::MutexLock lock(&mu_);
    in_pass_ = false;
    PublishLocked();
    // All of them completed inline: nothing is left to look again.
    if (!rescan_ || in_flight_ > 0 || paused_ || !error.ok()) return error;
  }
}

void VirtioBlk::Pause() {
  absl::MutexLock lock(&mu_);
  paused_ = true;
}

void VirtioBlk::Resume() {
  bool rescan;
  {
    absl::MutexLock lock(&mu_);
    paused_ = false;
    rescan = rescan_;
  }
  // The driver did not notify for what it added while notifications were
  // off; the transport replays only the notifications it held.
  if (rescan) PassFromDevice();
}

void VirtioBlk::PublishLocked() {
  if (!queue_.has_value()) return;
  if (queue_->PublishUsed() && interrupt_ != nullptr) interrupt_->SignalUsed(0);
}

void VirtioBlk::AppendMetrics(
    std::vector<std::pair<std::string, uint64_t>>& out) const {
  auto get = [](const std::atomic<uint64_t>& c) {
    return c.load(std::memory_order_relaxed);
  };
  out.emplace_back("read_count", get(counters_.read_count));
  out.emplace_back("read_bytes", get(counters_.read_bytes));
  out.emplace_back("write_count", get(counters_.write_count));
  out.emplace_back("write_bytes", get(counters_.write_bytes));
  out.emplace_back("flush_count", get(counters_.flush_count));
  out.emplace_back("discard_count", get(counters_.discard_count));
  out.emplace_back("other_count", get(counters_.other_count));
  out.emplace_back("errors", get(counters_.errors));
}

void VirtioBlk::Finish(Request& req) {
  if (req.result != kVirtioBlkSOk) {
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
  }
  if (req.generation != generation_ || !queue_.has_value()) return;
  *req.status = req.result;
  queue_->AddUsed(req.head, req.used_len);
}

std::unique_ptr<BlockBackend> VirtioBlk::NoteRetiredDoneLocked(
    uint64_t serial) {
  if (serial == backend_serial_) return nullptr;
  for (auto it = retired_.begin(); it != retired_.end(); ++it) {
    if (it->serial != serial || it->in_flight == 0) continue;
    if (--it->in_flight > 0 || !options_.defer) return nullptr;
    std::unique_ptr<BlockBackend> idle = std::move(it->backend);
    retired_.erase(it);
    return idle;
  }
  return nullptr;
}

void VirtioBlk::OnBackendDone(const std::shared_ptr<Request>& req,
                              int64_t expected, int64_t result) {
  std::unique_ptr<BlockBackend> idle;
  bool rescan;
  {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    idle = NoteRetiredDoneLocked(req->backend_serial);
    if (result != expected) {
      req->result = kVirtioBlkSIoErr;
      if (log_limiter_.Allow()) {
        SKIFF_LOG(kWarn, "virtio-blk: backend result=%d expected=%d head=%u",
                  result, expected, req->head);
      }
    }
    if (--req->pending == 0) {
      Finish(*req);
      if (!in_pass_) PublishLocked();
    }
    rescan = rescan_ && !in_pass_ && !paused_;
  }
  // This runs inside one of that backend's own callbacks: it is destroyed
  // once the callback has returned.
  if (idle != nullptr) {
    options_.defer([backend = std::move(idle)]() mutable { backend.reset(); });
  }
  // Requests the driver added while notifications were off.
  if (rescan) PassFromDevice();
}

void VirtioBlk::Parse(const DescriptorChain& chain, uint64_t generation,
                      std::vector<BlockRequest>& out) {
  auto req = std::make_shared<Request>();
  req->generation = generation;
  req->backend_serial = backend_serial_;
  req->head = chain.head;
  req->used_len = static_cast<uint32_t>(
      std::min<uint64_t>(chain.writable_bytes, UINT32_MAX));
  // §5.2.6: the status byte is the last device-writable byte. Zero-length
  // buffers never become iovecs, so the last iovec is not empty.
  if (chain.writable.empty()) {
    if (log_limiter_.Allow()) {
      SKIFF_LOG(kWarn, "virtio-blk: request head=%u has no status byte",
                chain.head);
    }
    queue_->AddUsed(chain.head, 0);
    return;
  }
  const iovec& last = chain.writable.back();
  req->status = static_cast<uint8_t*>(last.iov_base) + last.iov_len - 1;
  const uint64_t data_in = chain.writable_bytes - 1;  // writable minus status

  VirtioBlkOutHdr hdr;
  if (CopyFromIovecs(chain.readable, 0, AsBytes(hdr)) != sizeof(hdr)) {
    req->result = kVirtioBlkSIoErr;
    Finish(*req);
    return;
  }
  const uint64_t data_out = chain.readable_bytes - sizeof(hdr);
  auto submit = [&](BlockRequest r, int64_t expected) {
    ++req->pending;
    r.done = [this, req, expected](int64_t result) {
      OnBackendDone(req, expected, result);
    };
    out.push_back(std::move(r));
  };

  switch (hdr.type) {
    case kVirtioBlkTIn:
    case kVirtioBlkTOut: {
      const bool write = hdr.type == kVirtioBlkTOut;
      const uint64_t len = write ? data_out : data_in;
      (write ? counters_.write_count : counters_.read_count)
          .fetch_add(1, std::memory_order_relaxed);
      if ((write && read_only_) || len % kSectorSize != 0 ||
          !InRange(hdr.sector, len / kSectorSize)) {
        req->result = kVirtioBlkSIoErr;
        break;
      }
      if (len == 0) break;  // nothing to transfer: OK at once
      BlockRequest r;
      r.op = write ? BlockOp::kWrite : BlockOp::kRead;
      r.offset = hdr.sector * kSectorSize;
      r.iov = write ? SliceIovecs(chain.readable, sizeof(hdr), len)
                    : SliceIovecs(chain.writable, 0, len);
      (write ? counters_.write_bytes : counters_.read_bytes)
          .fetch_add(len, std::memory_order_relaxed);
      submit(std::move(r), static_cast<int64_t>(len));
      return;
    }
    case kVirtioBlkTFlush: {
      counters_.flush_count.fetch_add(1, std::memory_order_relaxed);
      BlockRequest r;
      r.op = BlockOp::kFlush;
      submit(std::move(r), 0);
      return;
    }
    case kVirtioBlkTGetId: {
      counters_.other_count.fetch_add(1, std::memory_order_relaxed);
      uint8_t id[kVirtioBlkIdBytes] = {};
      std::memcpy(id, options_.serial.data(),
                  std::min<size_t>(options_.serial.size(), sizeof(id)));
      const size_t n = std::min<uint64_t>(data_in, sizeof(id));
      CopyToIovecs(chain.writable, 0, absl::MakeConstSpan(id, n));
      break;
    }
    case kVirtioBlkTDiscard:
    case kVirtioBlkTWriteZeroes:
      counters_.discard_count.fetch_add(1, std::memory_order_relaxed);
      req->result =
          ParseSegments(chain, hdr.type == kVirtioBlkTWriteZeroes, req, out);
      if (req->result == kVirtioBlkSOk && req->pending > 0) return;
      break;
    default:
      counters_.other_count.fetch_add(1, std::memory_order_relaxed);
      req->result = kVirtioBlkSUnsupp;
      break;
  }
  Finish(*req);
}

uint8_t VirtioBlk::ParseSegments(const DescriptorChain& chain,
                                 bool write_zeroes,
                                 const std::shared_ptr<Request>& req,
                                 std::vector<BlockRequest>& out) {
  if (read_only_) return kVirtioBlkSIoErr;
  const uint64_t bytes = chain.readable_bytes - sizeof(VirtioBlkOutHdr);
  const uint64_t count = bytes / sizeof(VirtioBlkDiscardWriteZeroes);
  if (bytes % sizeof(VirtioBlkDiscardWriteZeroes) != 0 || count == 0 ||
      count > options_.max_discard_segments) {
    return kVirtioBlkSIoErr;
  }
  // Validate every segment before submitting any, so a bad request
  // changes nothing.
  std::vector<VirtioBlkDiscardWriteZeroes> segs(count);
  for (uint64_t i = 0; i < count; ++i) {
    VirtioBlkDiscardWriteZeroes& s = segs[i];
    CopyFromIovecs(chain.readable, sizeof(VirtioBlkOutHdr) + i * sizeof(s),
                   AsBytes(s));
    // §5.2.6.2: unknown flags, and unmap on a discard, are unsupported.
    const uint32_t allowed = write_zeroes ? kVirtioBlkWriteZeroesFlagUnmap : 0;
    if (s.flags & ~allowed) return kVirtioBlkSUnsupp;
    if (s.num_sectors > options_.max_discard_sectors ||
        !InRange(s.sector, s.num_sectors)) {
      return kVirtioBlkSIoErr;
    }
  }
  for (const VirtioBlkDiscardWriteZeroes& s : segs) {
    if (s.num_sectors == 0) continue;
    BlockRequest r;
    r.op = write_zeroes ? BlockOp::kWriteZeroes : BlockOp::kDiscard;
    r.offset = s.sector * kSectorSize;
    r.length = uint64_t{s.num_sectors} * kSectorSize;
    ++req->pending;
    r.done = [this, req](int64_t result) { OnBackendDone(req, 0, result); };
    out.push_back(std::move(r));
  }
  return kVirtioBlkSOk;
}

}  // namespace skiff::devices
