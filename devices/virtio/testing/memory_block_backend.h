// An in-memory BlockBackend for tests and benchmarks. Requests complete
// inline in Submit, or, in deferred mode, wait until CompleteAll() so a test
// can hold many requests in flight like an io_uring backend does.
//
//   auto disk = std::make_unique<MemoryBlockBackend>(1 << 20);
//   MemoryBlockBackend* raw = disk.get();
//   VirtioBlk blk(std::move(disk), {});
//   ... raw->data()[0] ...
//
// Not thread-safe (a BlockBackend is driven from one thread).
#ifndef SKIFF_DEVICES_VIRTIO_TESTING_MEMORY_BLOCK_BACKEND_H_
#define SKIFF_DEVICES_VIRTIO_TESTING_MEMORY_BLOCK_BACKEND_H_

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <vector>

#include "devices/virtio/block_backend.h"

namespace skiff::devices::testing {

class MemoryBlockBackend : public BlockBackend {
 public:
  explicit MemoryBlockBackend(uint64_t size, bool read_only = false,
                              bool deferred = false)
      : data_(size), read_only_(read_only), deferred_(deferred) {}

  uint64_t size_bytes() const override { return data_.size(); }
  bool read_only() const override { return read_only_; }
  void Submit(BlockRequest request) override {
    ops_.push_back(request.op);
    if (deferred_) {
      pending_.push_back(std::move(request));
    } else {
      Complete(request);
    }
  }
  void Kick() override { ++kicks_; }

  // Deferred mode: completes every queued request in submission order.
  // Requests submitted by those completions complete too.
  void CompleteAll() {
    while (!pending_.empty()) CompleteNext();
  }
  // Deferred mode: completes the oldest queued request only.
  void CompleteNext() {
    if (pending_.empty()) return;
    BlockRequest r = std::move(pending_.front());
    pending_.pop_front();
    Complete(r);
  }
  // The next completion of every request fails with `error` (e.g. -EIO).
  void FailNext(int error) { fail_next_ = error; }

  std::vector<uint8_t>& data() { return data_; }
  size_t pending() const { return pending_.size(); }
  int kicks() const { return kicks_; }
  const std::vector<BlockOp>& ops() const { return ops_; }

 private:
  void Complete(BlockRequest& r) {
    int64_t result = 0;
    const bool data_op = r.op == BlockOp::kRead || r.op == BlockOp::kWrite;
    uint64_t length = r.length;
    if (data_op) {
      length = 0;
      for (const iovec& v : r.iov) length += v.iov_len;
    }
    if (fail_next_ != 0) {
      result = fail_next_;
      fail_next_ = 0;
    } else if (r.offset > data_.size() || length > data_.size() - r.offset) {
      result = -EINVAL;
    } else if (read_only_ && r.op != BlockOp::kRead &&
               r.op != BlockOp::kFlush) {
      result = -EROFS;
    } else {
      uint64_t off = r.offset;
      switch (r.op) {
        case BlockOp::kRead:
          for (const iovec& v : r.iov) {
            std::memcpy(v.iov_base, data_.data() + off, v.iov_len);
            off += v.iov_len;
          }
          result = static_cast<int64_t>(length);
          break;
        case BlockOp::kWrite:
          for (const iovec& v : r.iov) {
            std::memcpy(data_.data() + off, v.iov_base, v.iov_len);
            off += v.iov_len;
          }
          result = static_cast<int64_t>(length);
          break;
        case BlockOp::kDiscard:
        case BlockOp::kWriteZeroes:
          std::fill_n(data_.begin() + static_cast<ptrdiff_t>(off), length, 0);
          break;
        case BlockOp::kFlush:
          break;
      }
    }
    if (r.done) r.done(result);
  }

  std::vector<uint8_t> data_;
  const bool read_only_;
  const bool deferred_;
  std::deque<BlockRequest> pending_;
  std::vector<BlockOp> ops_;
  int kicks_ = 0;
  int fail_next_ = 0;
};

}  // namespace skiff::devices::testing

#endif  // SKIFF_DEVICES_VIRTIO_TESTING_MEMORY_BLOCK_BACKEND_H_
