// FileBlockBackend is the simplest BlockBackend: every request runs at once,
// inside Submit, with preadv/pwritev/fdatasync/fallocate on a raw image
// file (or block device). It is the fallback where io_uring is missing and
// the backend unit tests and fuzzers use.
//
//   SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<FileBlockBackend> disk,
//                          FileBlockBackend::Open("disk.img",
//                                                 {.read_only = true}));
//   disk->Submit({.op = BlockOp::kRead, .offset = 0, .iov = {{buf, 512}},
//                 .done = [](int64_t res) { ... }});  // done already ran
//
// Semantics: reads past the end of the file return zeroes for the missing
// part (the file may have shrunk under us); FLUSH is fdatasync, so data is
// on the host's storage when it completes; DISCARD punches a hole (and is a
// successful no-op where the filesystem cannot); WRITE_ZEROES uses
// FALLOC_FL_ZERO_RANGE, then a punched hole, then plain zero writes. A
// read-only backend answers writes with -EROFS (the file is opened O_RDONLY).
//
// Thread-safety: like every BlockBackend, driven from one thread.
#ifndef SKIFF_DEVICES_VIRTIO_FILE_BLOCK_BACKEND_H_
#define SKIFF_DEVICES_VIRTIO_FILE_BLOCK_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "devices/virtio/block_backend.h"

namespace skiff::devices {

class FileBlockBackend : public BlockBackend {
 public:
  struct Options {
    bool read_only = false;
    bool direct = false;  // O_DIRECT: bypass the host page cache
  };

  static absl::StatusOr<std::unique_ptr<FileBlockBackend>> Open(
      const std::string& path, const Options& options);
  // Takes an open fd (e.g. a memfd in tests). Its size is read once here.
  static absl::StatusOr<std::unique_ptr<FileBlockBackend>> FromFd(
      UniqueFd fd, bool read_only);

  uint64_t size_bytes() const override { return size_; }
  bool read_only() const override { return read_only_; }
  void Submit(BlockRequest request) override;

 private:
  FileBlockBackend(UniqueFd fd, uint64_t size, bool read_only)
      : fd_(std::move(fd)), size_(size), read_only_(read_only) {}
  int64_t Transfer(const BlockRequest& r);
  int64_t WriteZeroes(uint64_t offset, uint64_t length);

  const UniqueFd fd_;
  const uint64_t size_;
  const bool read_only_;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_FILE_BLOCK_BACKEND_H_
