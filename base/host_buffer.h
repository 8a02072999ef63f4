// HostBuffer is a large, uninitialised host buffer for whole files (kernel
// images): anonymous memory, 2 MiB-aligned and advised for transparent huge
// pages, so filling 20 MiB costs a handful of page faults rather than
// thousands of 4 KiB ones (and no zeroing pass, as std::vector would do).
// MapAnonymousHugeAligned is the same mapping for guest RAM.
//
//   SKIFF_ASSIGN_OR_RETURN(HostBuffer buf, HostBuffer::Allocate(size));
//   pread(fd, buf.data(), buf.size(), 0);
//   Use(buf.span());
#ifndef SKIFF_BASE_HOST_BUFFER_H_
#define SKIFF_BASE_HOST_BUFFER_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace skiff {

inline constexpr uint64_t kHugePageSize = 2ull << 20;

// mmap(PROT_READ | PROT_WRITE, `flags` | MAP_ANONYMOUS) of `size` bytes
// starting on a 2 MiB boundary, with MADV_HUGEPAGE. MAP_FAILED (errno set)
// on failure. Release with munmap(ptr, size).
void* MapAnonymousHugeAligned(uint64_t size, int flags);

class HostBuffer {
 public:
  // Fails (ResourceExhausted) when the memory cannot be mapped.
  static absl::StatusOr<HostBuffer> Allocate(uint64_t size);

  HostBuffer() = default;
  HostBuffer(HostBuffer&& other) noexcept;
  HostBuffer& operator=(HostBuffer&& other) noexcept;
  ~HostBuffer();

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  absl::Span<uint8_t> span() { return {data_, size_}; }
  absl::Span<const uint8_t> span() const { return {data_, size_}; }

 private:
  HostBuffer(uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  void Reset();

  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace skiff

#endif  // SKIFF_BASE_HOST_BUFFER_H_
