#include "io/uring_block_backend.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/host_buffer.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace skiff::io {

using devices::BlockOp;
using devices::BlockRequest;

namespace {

// Write-zeroes falls back to writing this many zero bytes at a time.
constexpr size_t kZeroChunk = 64 * 1024;

// Gathered requests go through 2 MiB bounce buffers on transparent huge
// pages: one host-physical segment each (a buffer on 4 KiB pages read
// 1 MiB in 607 us here, on a huge page in 204-310).
constexpr uint64_t kGatherChunkBytes = kHugePageSize;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

}  // namespace

struct UringBlockBackend::File {
  UniqueFd fd;
  EventLoop* loop = nullptr;
  std::string path;
  uint64_t size = 0;
  bool read_only = false;
  bool direct = false;
  uint32_t mem_align = 1;     // O_DIRECT buffer alignment
  uint32_t offset_align = 1;  // O_DIRECT offset and length alignment
  uint32_t gather_below = 0;
  // Loop context only.
  uint64_t in_flight = 0;
  uint64_t bounced = 0;
  std::vector<HostBuffer> gather_free;  // chunks not in use
  size_t gather_chunks = 0;             // chunks mapped
  bool zero_range_works = true;
  bool punch_hole_works = true;
  std::unique_ptr<void, FreeDeleter> zeroes;  // kZeroChunk, aligned
  RateLimiter log_limiter;
};

namespace {

using File = UringBlockBackend::File;

// One request on its way through one or more SQEs.
struct Pending {
  std::shared_ptr<File> file;
  BlockRequest req;
  size_t iov_index = 0;  // first iovec not yet fully transferred
  uint64_t total = 0;    // bytes the request covers
  uint64_t done_bytes = 0;
  int zero_stage = 0;  // kWriteZeroes: 0 zero-range, 1 punch-hole, 2 write
  // O_DIRECT with misaligned or gathered guest buffers: req.iov is one
  // aligned bounce buffer (`bounce` or `chunk`) and user_iov the guest's
  // buffers.
  std::unique_ptr<void, FreeDeleter> bounce;
  HostBuffer chunk;
  std::vector<iovec> user_iov;
};
using PendingPtr = std::unique_ptr<Pending>;

// A free gather chunk, or a new one while fewer than kGatherBuffers exist;
// an empty buffer otherwise.
HostBuffer TakeGatherChunk(File& f) {
  if (!f.gather_free.empty()) {
    HostBuffer b = std::move(f.gather_free.back());
    f.gather_free.pop_back();
    return b;
  }
  if (f.gather_chunks >= UringBlockBackend::kGatherBuffers) {
    return HostBuffer();
  }
  absl::StatusOr<HostBuffer> b = HostBuffer::Allocate(kGatherChunkBytes);
  if (!b.ok()) return HostBuffer();
  ++f.gather_chunks;
  return *std::move(b);
}

void Finish(PendingPtr p, int64_t result) {
  File& f = *p->file;
  --f.in_flight;
  const void* bounce = p->chunk.size() > 0 ? p->chunk.data() : p->bounce.get();
  if (bounce != nullptr && p->req.op == BlockOp::kRead && result > 0) {
    const uint8_t* in = static_cast<const uint8_t*>(bounce);
    for (const iovec& v : p->user_iov) {
      std::memcpy(v.iov_base, in, v.iov_len);
      in += v.iov_len;
    }
  }
  if (p->chunk.size() > 0) f.gather_free.push_back(std::move(p->chunk));
  auto done = std::move(p->req.done);
  p.reset();
  if (done) done(result);
}

void Issue(PendingPtr p);

void OnComplete(PendingPtr p, int32_t res) {
  const BlockOp op = p->req.op;
  if (res == -EINTR || res == -EAGAIN) {
    Issue(std::move(p));
    return;
  }
  switch (op) {
    case BlockOp::kRead:
    case BlockOp::kWrite: {
      if (res < 0) return Finish(std::move(p), res);
      uint64_t n = static_cast<uint64_t>(res);
      p->done_bytes += n;
      // Skip what was transferred; a partial iovec is trimmed in place.
      std::vector<iovec>& iov = p->req.iov;
      while (n > 0 && p->iov_index < iov.size()) {
        iovec& v = iov[p->iov_index];
        uint64_t take = std::min<uint64_t>(n, v.iov_len);
        v.iov_base = static_cast<uint8_t*>(v.iov_base) + take;
        v.iov_len -= take;
        n -= take;
        if (v.iov_len == 0) ++p->iov_index;
      }
      while (p->iov_index < iov.size() && iov[p->iov_index].iov_len == 0) {
        ++p->iov_index;
      }
      const int64_t total = static_cast<int64_t>(p->total);
      if (p->done_bytes >= p->total) return Finish(std::move(p), total);
      const uint64_t pos = p->req.offset + p->done_bytes;
      if (op == BlockOp::kRead && (res == 0 || pos >= p->file->size)) {
        // End of file: the rest of the request reads as zeroes.
        for (size_t i = p->iov_index; i < iov.size(); ++i) {
          std::memset(iov[i].iov_base, 0, iov[i].iov_len);
        }
        return Finish(std::move(p), total);
      }
      if (res == 0)
        return Finish(std::move(p), -EIO);  // write made no progress
      Issue(std::move(p));                  // short transfer: the remainder
      return;
    }
    case BlockOp::kFlush:
      return Finish(std::move(p), res < 0 ? res : 0);
    case BlockOp::kDiscard:
      // Discard is a hint: a file system without hole punching keeps data.
      if (res == -EOPNOTSUPP) return Finish(std::move(p), 0);
      return Finish(std::move(p), res < 0 ? res : 0);
    case BlockOp::kWriteZeroes: {
      File& f = *p->file;
      if (p->zero_stage == 2) {
        if (res < 0) return Finish(std::move(p), res);
        if (res == 0) return Finish(std::move(p), -EIO);
        p->done_bytes += static_cast<uint64_t>(res);
        if (p->done_bytes >= p->total) return Finish(std::move(p), 0);
        Issue(std::move(p));
        return;
      }
      if (res >= 0) return Finish(std::move(p), 0);
      if (res != -EOPNOTSUPP && res != -EINVAL && res != -ENOTTY) {
        return Finish(std::move(p), res);
      }
      // Unsupported here: remember it, and try the next way.
      if (p->zero_stage == 0) {
        f.zero_range_works = false;
        p->zero_stage = f.punch_hole_works ? 1 : 2;
      } else {
        f.punch_hole_works = false;
        p->zero_stage = 2;
      }
      Issue(std::move(p));
      return;
    }
  }
  Finish(std::move(p), -EINVAL);
}

void SubmitStep(PendingPtr p, absl::FunctionRef<void(io_uring_sqe*)> prep) {
  EventLoop* loop = p->file->loop;
  loop->Submit(prep, [p = std::move(p)](int32_t res) mutable {
    OnComplete(std::move(p), res);
  });
}

void Issue(PendingPtr p) {
  File& f = *p->file;
  const int fd = f.fd.get();
  const uint64_t pos = p->req.offset + p->done_bytes;
  switch (p->req.op) {
    case BlockOp::kRead:
    case BlockOp::kWrite: {
      iovec* iov = p->req.iov.data() + p->iov_index;
      unsigned count = static_cast<unsigned>(
          std::min<size_t>(p->req.iov.size() - p->iov_index, IOV_MAX));
      const bool read = p->req.op == BlockOp::kRead;
      SubmitStep(std::move(p), [&](io_uring_sqe* sqe) {
        if (read) {
          io_uring_prep_readv(sqe, fd, iov, count, pos);
        } else {
          io_uring_prep_writev(sqe, fd, iov, count, pos);
        }
      });
      return;
    }
    case BlockOp::kFlush:
      SubmitStep(std::move(p), [&](io_uring_sqe* sqe) {
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
      });
      return;
    case BlockOp::kDiscard: {
      const uint64_t off = p->req.offset, len = p->req.length;
      SubmitStep(std::move(p), [&](io_uring_sqe* sqe) {
        io_uring_prep_fallocate(
            sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
      });
      return;
    }
    case BlockOp::kWriteZeroes: {
      if (p->zero_stage == 0 && !f.zero_range_works) {
        p->zero_stage = f.punch_hole_works ? 1 : 2;
      }
      if (p->zero_stage == 1 && !f.punch_hole_works) p->zero_stage = 2;
      const uint64_t off = p->req.offset, len = p->req.length;
      if (p->zero_stage < 2) {
        const int mode = p->zero_stage == 0
                             ? FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE
                             : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        SubmitStep(std::move(p), [&](io_uring_sqe* sqe) {
          io_uring_prep_fallocate(sqe, fd, mode, off, len);
        });
        return;
      }
      if (!f.zeroes) {
        void* buf = nullptr;
        if (posix_memalign(&buf, 4096, kZeroChunk) != 0) {
          return Finish(std::move(p), -ENOMEM);
        }
        std::memset(buf, 0, kZeroChunk);
        f.zeroes.reset(buf);
      }
      const void* zeroes = f.zeroes.get();
      const unsigned chunk = static_cast<unsigned>(
          std::min<uint64_t>(p->total - p->done_bytes, kZeroChunk));
      SubmitStep(std::move(p), [&](io_uring_sqe* sqe) {
        io_uring_prep_write(sqe, fd, zeroes, chunk, pos);
      });
      return;
    }
  }
  Finish(std::move(p), -EINVAL);
}

// The size of a regular file or block device; `st` gets its fstat.
absl::StatusOr<uint64_t> ImageSize(int fd, const std::string& path,
                                   struct stat* st) {
  if (fstat(fd, st) != 0) {
    return OneLineStatus(ErrnoStatus(absl::StrCat("fstat ", path)));
  }
  if (S_ISBLK(st->st_mode)) {
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
      return OneLineStatus(ErrnoStatus(absl::StrCat("BLKGETSIZE64 ", path)));
    }
    return bytes;
  }
  if (S_ISREG(st->st_mode)) return static_cast<uint64_t>(st->st_size);
  return absl::InvalidArgumentError(OneLine(
      absl::StrCat("disk ", path, ": not a regular file or block device")));
}

}  // namespace

UringBlockBackend::UringBlockBackend(std::shared_ptr<File> file)
    : file_(std::move(file)) {}

UringBlockBackend::~UringBlockBackend() = default;

absl::StatusOr<std::unique_ptr<UringBlockBackend>> UringBlockBackend::Open(
    EventLoop* loop, const Options& options) {
  const std::string& path = options.path;
  int flags = (options.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (options.direct) flags |= O_DIRECT;
  int raw = ::open(path.c_str(), flags);
  if (raw < 0) {
    int err = errno;
    if (options.direct && err == EINVAL) {
      return absl::InvalidArgumentError(absl::StrCat(
          "open ", path,
          " with O_DIRECT: the file system does not support direct I/O "
          "(drop direct=on)"));
    }
    return OneLineStatus(ErrnoStatus(absl::StrCat("open ", path), err));
  }
  auto file = std::make_shared<File>();
  file->fd = UniqueFd(raw);
  file->loop = loop;
  file->path = path;
  file->read_only = options.read_only;
  file->direct = options.direct;
  file->gather_below = options.gather_below;

  struct stat st;
  SKIFF_ASSIGN_OR_RETURN(file->size, ImageSize(raw, path, &st));

  // A shared lock for readers and an exclusive one for a writer: flock
  // conflicts between open file descriptions, so this also holds between two
  // disks of one process.
  if (flock(raw, (options.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    int err = errno;
    if (err == EWOULDBLOCK) {
      return absl::FailedPreconditionError(OneLine(absl::StrCat(
          "disk ", path, ": image is locked by another user (",
          options.read_only ? "open read-write" : "open", " in another VM?)")));
    }
    return OneLineStatus(ErrnoStatus(absl::StrCat("flock ", path), err));
  }

  if (options.direct) {
    // Linux 6.1+ reports the real alignment; before, 512 is the common
    // logical block size and what most file systems accept.
    file->mem_align = 512;
    file->offset_align = 512;
    struct statx stx;
    if (statx(raw, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align != 0) {
      file->mem_align = std::max<uint32_t>(stx.stx_dio_mem_align, 1);
      file->offset_align = stx.stx_dio_offset_align;
    } else if (S_ISBLK(st.st_mode)) {
      int sector = 0;
      if (ioctl(raw, BLKSSZGET, &sector) == 0 && sector > 0) {
        file->mem_align = file->offset_align = static_cast<uint32_t>(sector);
      }
    }
  }
  return std::unique_ptr<UringBlockBackend>(
      new UringBlockBackend(std::move(file)));
}

uint64_t UringBlockBackend::size_bytes() const { return file_->size; }

absl::StatusOr<uint64_t> UringBlockBackend::RefreshSize() {
  struct stat st;
  SKIFF_ASSIGN_OR_RETURN(file_->size,
                         ImageSize(file_->fd.get(), file_->path, &st));
  return file_->size;
}
bool UringBlockBackend::read_only() const { return file_->read_only; }
uint64_t UringBlockBackend::requests_in_flight() const {
  return file_->in_flight;
}
uint64_t UringBlockBackend::requests_bounced() const { return file_->bounced; }
uint32_t UringBlockBackend::direct_alignment() const {
  return file_->offset_align;
}

void UringBlockBackend::Kick() {
  if (!file_->loop->IsLoopThread()) file_->loop->Flush();
}

void UringBlockBackend::Submit(BlockRequest request) {
  File& f = *file_;
  auto p = std::make_unique<Pending>();
  p->file = file_;
  p->req = std::move(request);
  ++f.in_flight;
  const BlockOp op = p->req.op;
  const uint64_t offset = p->req.offset;
  uint64_t length = p->req.length;
  if (op == BlockOp::kRead || op == BlockOp::kWrite) {
    length = 0;
    for (const iovec& v : p->req.iov) {
      if (v.iov_len > UINT64_MAX - length) return Finish(std::move(p), -EINVAL);
      length += v.iov_len;
    }
    if (f.direct && length > 0) {
      if (offset % f.offset_align != 0 || length % f.offset_align != 0) {
        if (f.log_limiter.Allow()) {
          SKIFF_LOG(kWarn,
                    "disk %s: direct I/O request not %u-byte aligned "
                    "offset=%u len=%u; failing it",
                    f.path.c_str(), f.offset_align, offset, length);
        }
        return Finish(std::move(p), -EINVAL);
      }
      bool buffers_aligned = true;
      for (const iovec& v : p->req.iov) {
        buffers_aligned =
            buffers_aligned &&
            reinterpret_cast<uintptr_t>(v.iov_base) % f.mem_align == 0 &&
            v.iov_len % f.offset_align == 0;
      }
      const uint64_t segments = p->req.iov.size();
      const bool scattered = segments > 1 && length >= kGatherMinBytes &&
                             length <= segments * f.gather_below;
      if (scattered && length <= kGatherChunkBytes) {
        p->chunk = TakeGatherChunk(f);
      }
      void* mem = p->chunk.data();
      if (mem == nullptr && !buffers_aligned) {
        // The range is fine but the guest's buffers are not: go through an
        // aligned bounce buffer rather than fail.
        if (posix_memalign(&mem, std::max<size_t>(f.mem_align, 64), length) !=
            0) {
          return Finish(std::move(p), -ENOMEM);
        }
        p->bounce.reset(mem);
      }
      if (mem != nullptr) {
        ++f.bounced;
        p->user_iov = std::move(p->req.iov);
        if (op == BlockOp::kWrite) {
          uint8_t* out = static_cast<uint8_t*>(mem);
          for (const iovec& v : p->user_iov) {
            std::memcpy(out, v.iov_base, v.iov_len);
            out += v.iov_len;
          }
        }
        p->req.iov = {{mem, length}};
      }
    }
  }
  p->total = length;
  if (op != BlockOp::kRead && op != BlockOp::kFlush && f.read_only) {
    return Finish(std::move(p), -EROFS);
  }
  if (offset > UINT64_MAX - length) return Finish(std::move(p), -EINVAL);
  if (op != BlockOp::kRead && op != BlockOp::kFlush &&
      offset + length > f.size) {
    return Finish(std::move(p), -EINVAL);
  }
  if (op != BlockOp::kFlush && length == 0) return Finish(std::move(p), 0);
  if (op == BlockOp::kRead && offset >= f.size) {
    for (const iovec& v : p->req.iov) std::memset(v.iov_base, 0, v.iov_len);
    return Finish(std::move(p), length);
  }
  Issue(std::move(p));
}

}  // namespace skiff::io
