// Internal to vmm/boot: opening kernel and initrd files with their size
// checked before any host buffer is allocated, and reading them completely.
//
//   SKIFF_ASSIGN_OR_RETURN(HostBuffer bytes,
//                          ReadImageFile("kernel /x/bzImage", path, max));
#ifndef SKIFF_VMM_BOOT_IMAGE_FILE_H_
#define SKIFF_VMM_BOOT_IMAGE_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/host_buffer.h"
#include "base/unique_fd.h"

namespace skiff::boot {

struct OpenedImage {
  UniqueFd fd;
  uint64_t size = 0;
};

// Opens a regular file read-only and reports its size.
absl::StatusOr<OpenedImage> OpenImageFile(const std::string& what,
                                          const std::string& path);

// Reads exactly out.size() bytes from the start of the file.
absl::Status ReadImageInto(const std::string& what, const OpenedImage& image,
                           absl::Span<uint8_t> out);

// The whole file, refused when larger than `max_size` (`max_name` says what
// the limit is, e.g. "guest RAM").
// The bytes are in a HostBuffer: huge pages, no zeroing pass.
absl::StatusOr<HostBuffer> ReadImageFile(const std::string& what,
                                         const std::string& path,
                                         uint64_t max_size,
                                         const std::string& max_name);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_IMAGE_FILE_H_
