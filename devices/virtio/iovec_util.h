// Helpers over the iovec lists of a DescriptorChain. Devices must not assume
// how the driver split a request across descriptors (virtio 1.2 §2.6.4,
// "Message Framing"), so headers and payloads are read at byte offsets into
// the concatenation of the buffers.
//
//   BlkHeader hdr;
//   if (CopyFromIovecs(chain.readable, 0, AsBytes(hdr)) != sizeof(hdr)) ...
//   std::vector<iovec> data = SliceIovecs(chain.writable, 0, len);
//
// The iovecs point into guest RAM that the guest may change concurrently;
// callers copy what they validate.
#ifndef SKIFF_DEVICES_VIRTIO_IOVEC_UTIL_H_
#define SKIFF_DEVICES_VIRTIO_IOVEC_UTIL_H_

#include <sys/uio.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/types/span.h"

namespace skiff::devices {

// Copies up to out.size() bytes from byte `offset` of `iovs`; returns how
// many were copied.
inline size_t CopyFromIovecs(absl::Span<const iovec> iovs, uint64_t offset,
                             absl::Span<uint8_t> out) {
  size_t done = 0;
  for (const iovec& v : iovs) {
    if (done == out.size()) break;
    if (offset >= v.iov_len) {
      offset -= v.iov_len;
      continue;
    }
    const size_t n = std::min<uint64_t>(v.iov_len - offset, out.size() - done);
    std::memcpy(out.data() + done,
                static_cast<const uint8_t*>(v.iov_base) + offset, n);
    done += n;
    offset = 0;
  }
  return done;
}

// Copies up to data.size() bytes to byte `offset` of `iovs`; returns how
// many were copied.
inline size_t CopyToIovecs(absl::Span<const iovec> iovs, uint64_t offset,
                           absl::Span<const uint8_t> data) {
  size_t done = 0;
  for (const iovec& v : iovs) {
    if (done == data.size()) break;
    if (offset >= v.iov_len) {
      offset -= v.iov_len;
      continue;
    }
    const size_t n = std::min<uint64_t>(v.iov_len - offset, data.size() - done);
    std::memcpy(static_cast<uint8_t*>(v.iov_base) + offset, data.data() + done,
                n);
    done += n;
    offset = 0;
  }
  return done;
}

// The iovecs covering bytes [offset, offset + len) of `iovs` (fewer bytes
// if `iovs` is shorter).
inline std::vector<iovec> SliceIovecs(absl::Span<const iovec> iovs,
                                      uint64_t offset, uint64_t len) {
  std::vector<iovec> out;
  for (const iovec& v : iovs) {
    if (len == 0) break;
    if (offset >= v.iov_len) {
      offset -= v.iov_len;
      continue;
    }
    const uint64_t n = std::min<uint64_t>(v.iov_len - offset, len);
    out.push_back(iovec{static_cast<uint8_t*>(v.iov_base) + offset, n});
    len -= n;
    offset = 0;
  }
  return out;
}

template <typename T>
absl::Span<uint8_t> AsBytes(T& value) {
  return absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), sizeof(T));
}

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_IOVEC_UTIL_H_
