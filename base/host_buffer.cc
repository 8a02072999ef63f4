#include "base/host_buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace skiff {

void* MapAnonymousHugeAligned(uint64_t size, int flags) {
  // Over-allocate by one huge page, then trim both ends.
  const uint64_t padded = size + kHugePageSize;
  void* raw = ::mmap(nullptr, padded, PROT_READ | PROT_WRITE,
                     flags | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return MAP_FAILED;
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePageSize - 1) & ~(kHugePageSize - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t tail = start + padded - (aligned + size);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + size), tail);
  void* host = reinterpret_cast<void*>(aligned);
  // Refused where THP is disabled, which only costs speed.
  ::madvise(host, size, MADV_HUGEPAGE);
  return host;
}

absl::StatusOr<HostBuffer> HostBuffer::Allocate(uint64_t size) {
  if (size == 0) return HostBuffer();
  void* p = MapAnonymousHugeAligned(size, MAP_PRIVATE | MAP_NORESERVE);
  if (p == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        ErrnoStatus(absl::StrFormat("mmap a %u-byte host buffer", size))
            .message());
  }
  return HostBuffer(static_cast<uint8_t*>(p), size);
}

HostBuffer::HostBuffer(HostBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

HostBuffer& HostBuffer::operator=(HostBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

HostBuffer::~HostBuffer() { Reset(); }

void HostBuffer::Reset() {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace skiff
