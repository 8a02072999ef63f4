#include "devices/virtio/file_block_backend.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace skiff::devices {

absl::StatusOr<std::unique_ptr<FileBlockBackend>> FileBlockBackend::Open(
    const std::string& path, const Options& options) {
  int flags = options.read_only ? O_RDONLY : O_RDWR;
  if (options.direct) flags |= O_DIRECT;
  SKIFF_ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open(path, flags));
  return FromFd(std::move(fd), options.read_only);
}

absl::StatusOr<std::unique_ptr<FileBlockBackend>> FileBlockBackend::FromFd(
    UniqueFd fd, bool read_only) {
  // lseek works for regular files and block devices alike.
  const off_t end = ::lseek(fd.get(), 0, SEEK_END);
  if (end < 0) return ErrnoStatus("lseek disk image to its end");
  return std::unique_ptr<FileBlockBackend>(new FileBlockBackend(
      std::move(fd), static_cast<uint64_t>(end), read_only));
}

void FileBlockBackend::Submit(BlockRequest request) {
  int64_t result = 0;
  switch (request.op) {
    case BlockOp::kRead:
    case BlockOp::kWrite:
      result = Transfer(request);
      break;
    case BlockOp::kFlush:
      result = ::fdatasync(fd_.get()) < 0 ? -errno : 0;
      break;
    case BlockOp::kDiscard:
      if (read_only_) {
        result = -EROFS;
      } else if (::fallocate(fd_.get(),
                             FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             static_cast<off_t>(request.offset),
                             static_cast<off_t>(request.length)) < 0) {
        // Discard is a hint (§5.2.6.2 lets the device ignore it); only
        // real I/O errors are reported.
        result = (errno == EOPNOTSUPP || errno == ENOSYS) ? 0 : -errno;
      }
      break;
    case BlockOp::kWriteZeroes:
      result =
          read_only_ ? -EROFS : WriteZeroes(request.offset, request.length);
      break;
  }
  if (request.done) request.done(result);
}

int64_t FileBlockBackend::Transfer(const BlockRequest& r) {
  const bool write = r.op == BlockOp::kWrite;
  if (write && read_only_) return -EROFS;
  std::vector<iovec> iov = r.iov;
  size_t first = 0;
  uint64_t offset = r.offset;
  int64_t total = 0;
  while (first < iov.size()) {
    const int count =
        static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    const ssize_t n = write ? ::pwritev(fd_.get(), iov.data() + first, count,
                                        static_cast<off_t>(offset))
                            : ::preadv(fd_.get(), iov.data() + first, count,
                                       static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) {
      if (write) return -EIO;
      // End of file: the rest reads as zeroes.
      for (size_t i = first; i < iov.size(); ++i) {
        std::memset(iov[i].iov_base, 0, iov[i].iov_len);
        total += static_cast<int64_t>(iov[i].iov_len);
      }
      return total;
    }
    total += n;
    offset += static_cast<uint64_t>(n);
    // Advance past what was transferred (short reads and writes).
    size_t left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (left > 0) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return total;
}

int64_t FileBlockBackend::WriteZeroes(uint64_t offset, uint64_t length) {
  const off_t off = static_cast<off_t>(offset);
  const off_t len = static_cast<off_t>(length);
  if (::fallocate(fd_.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off,
                  len) == 0) {
    return 0;
  }
  if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off,
                  len) == 0) {
    return 0;
  }
  static constexpr size_t kChunk = 64 * 1024;
  std::vector<uint8_t> zeroes(std::min<uint64_t>(kChunk, length));
  while (length > 0) {
    const size_t n = std::min<uint64_t>(zeroes.size(), length);
    const ssize_t w =
        ::pwrite(fd_.get(), zeroes.data(), n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    offset += static_cast<uint64_t>(w);
    length -= static_cast<uint64_t>(w);
  }
  return 0;
}

}  // namespace skiff::devices
