// UringBlockBackend serves a raw disk image (a regular file or a block
// device) to virtio-blk through the event loop's io_uring: reads and writes
// with READV/WRITEV straight into guest buffers (with O_DIRECT, misaligned
// or scattered ones through a bounce buffer), honest flush (fdatasync),
// discard and write-zeroes with fallocate, any number of requests in flight.
//
//   SKIFF_ASSIGN_OR_RETURN(
//       std::unique_ptr<io::UringBlockBackend> disk,
//       io::UringBlockBackend::Open(loop.get(), {.path = "disk.img"}));
//   // then, on the loop (the device's queue-notify callback):
//   disk->Submit({.op = devices::BlockOp::kRead, .offset = 0,
//                 .iov = {{buf, 4096}}, .done = [](int64_t res) { ... }});
//   disk->Kick();
//
// Thread-safety: Open on any thread. Submit and Kick in loop context (see
// event_loop.h); `done` runs on the loop thread, never inside Submit except
// for requests refused up front (bad range, read-only, misaligned O_DIRECT
// range).
// The backend may be destroyed with requests in flight: they still complete
// (their `done` is called), and the image stays open until the last one has.
// The EventLoop must outlive the backend.
#ifndef SKIFF_IO_URING_BLOCK_BACKEND_H_
#define SKIFF_IO_URING_BLOCK_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "devices/virtio/block_backend.h"
#include "io/event_loop.h"

namespace skiff::io {

class UringBlockBackend : public devices::BlockBackend {
 public:
  struct Options {
    std::string path;
    // Open O_RDONLY; writes, discard and write-zeroes fail with -EROFS.
    bool read_only = false;
    // O_DIRECT: bypass the host page cache. Offsets and lengths must then
    // be multiples of direct_alignment() (statx STATX_DIOALIGN, or 512), or
    // the request fails with -EINVAL: a device should advertise it as its
    // block size. Misaligned buffers go through a bounce buffer.
    bool direct = false;
    // O_DIRECT hands every buffer segment to the host device, and some
    // devices charge per segment: a virtio disk of a cloud VM took about
    // 2 us per 4 KiB segment here, against 0.4 us to copy 4 KiB. A direct
    // read or write of at least kGatherMinBytes whose segments average at
    // most this many bytes therefore goes through one bounce buffer (a
    // guest's pages are often neither contiguous nor in ascending order).
    // 0: never.
    uint32_t gather_below = 8192;
  };
  static constexpr uint64_t kGatherMinBytes = 64 * 1024;
  // Gathered requests in flight at once; more go as they are.
  static constexpr size_t kGatherBuffers = 4;

  // Opens and locks the image: a shared flock when read-only, an exclusive
  // one otherwise, so two VMs cannot write one image (or one write it while
  // another reads it). Errors are one line naming the path.
  static absl::StatusOr<std::unique_ptr<UringBlockBackend>> Open(
      EventLoop* loop, const Options& options);

  ~UringBlockBackend() override;

  uint64_t size_bytes() const override;
  bool read_only() const override;
  // Reads past the end of the image are zero-filled; writes, discards and
  // write-zeroes past it fail with -EINVAL (the image never grows).
  void Submit(devices::BlockRequest request) override;
  // The loop submits everything queued once per iteration; Kick only hands
  // requests to the kernel early when called outside a loop callback.
  void Kick() override;
  // Loop context: fstat (or BLKGETSIZE64) again, for an image resized on
  // the host.
  absl::StatusOr<uint64_t> RefreshSize() override;

  // Requests submitted and not yet completed. Loop context.
  uint64_t requests_in_flight() const;
  // Requests that went through a bounce buffer (misaligned, or gathered).
  // Loop context.
  uint64_t requests_bounced() const;
  // Offset and length alignment O_DIRECT requests need (1 without direct
  // I/O).
  uint32_t direct_alignment() const;

  struct File;  // shared with requests in flight

 private:
  explicit UringBlockBackend(std::shared_ptr<File> file);
  std::shared_ptr<File> file_;
};

}  // namespace skiff::io

#endif  // SKIFF_IO_URING_BLOCK_BACKEND_H_
