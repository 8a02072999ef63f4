// BlockBackend is the seam between virtio-blk (which parses guest requests)
// and the host I/O engine that performs them (io_uring in production, plain
// pread/pwrite in tests). Requests carry host iovecs that point into guest
// RAM, already bounds-checked by the device.
//
//   backend.Submit({.op = BlockOp::kRead, .offset = sector * 512,
//                   .iov = {{ptr, len}},
//                   .done = [](int64_t res) { /* bytes or -errno */ }});
//   backend.Kick();  // one submission syscall for the whole batch
//
// Thread-safety: a backend is driven from one thread (the event loop); `done`
// runs on that same thread, possibly inside Submit or Kick.
#ifndef SKIFF_DEVICES_VIRTIO_BLOCK_BACKEND_H_
#define SKIFF_DEVICES_VIRTIO_BLOCK_BACKEND_H_

#include <sys/uio.h>

#include <cstdint>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"

namespace skiff::devices {

enum class BlockOp {
  kRead,
  kWrite,
  // Data written before the flush is durable on the host when it completes.
  kFlush,
  // Deallocate [offset, offset + length); later reads may return anything.
  kDiscard,
  // [offset, offset + length) reads back as zeroes afterwards.
  kWriteZeroes,
};

struct BlockRequest {
  BlockOp op = BlockOp::kRead;
  uint64_t offset = 0;     // bytes from the start of the image
  uint64_t length = 0;     // bytes, for kDiscard and kWriteZeroes
  std::vector<iovec> iov;  // kRead and kWrite: the guest buffers
  // Called exactly once with the bytes transferred (0 for the ops without
  // data) or a negative errno.
  absl::AnyInvocable<void(int64_t result)> done;
};

class BlockBackend {
 public:
  virtual ~BlockBackend() = default;
  virtual uint64_t size_bytes() const = 0;
  virtual bool read_only() const = 0;
  // Queues a request. The backend may complete it inline.
  virtual void Submit(BlockRequest request) = 0;
  // Starts every request queued since the last Kick.
  virtual void Kick() {}
  // Re-reads the image's size (the host may have resized it) and returns
  // it; size_bytes() answers the new size afterwards.
  virtual absl::StatusOr<uint64_t> RefreshSize() { return size_bytes(); }
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_BLOCK_BACKEND_H_
