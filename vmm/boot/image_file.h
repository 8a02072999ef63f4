// Internal to vmm/boot: opening kernel and initrd files with their size
// checked before any host buffer is allocated, and reading them completely
// or a range at a time.
//
//   SKIFF_ASSIGN_OR_RETURN(OpenedImage file, OpenImageFile(what, path));
//   ImageReader image(what, file);
//   SKIFF_RETURN_IF_ERROR(image.Read(offset, guest_span));
#ifndef SKIFF_VMM_BOOT_IMAGE_FILE_H_
#define SKIFF_VMM_BOOT_IMAGE_FILE_H_

#include <cstdint>
#include <string>
#include <utility>

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

// Random access to a kernel or initrd image: bytes already in host memory,
// or an open file read on demand, so that a loader copies what it needs
// (headers, then each segment; the whole initrd) straight into guest RAM
// without a host copy of the whole file. Both forms check every range
// against the size.
class ImageReader {
 public:
  // `what` prefixes error messages; `bytes` or `file` must outlive the
  // reader.
  ImageReader(std::string what, absl::Span<const uint8_t> bytes)
      : what_(std::move(what)), bytes_(bytes), size_(bytes.size()) {}
  ImageReader(std::string what, const OpenedImage& file)
      : what_(std::move(what)), file_(&file), size_(file.size) {}

  const std::string& what() const { return what_; }
  uint64_t size() const { return size_; }
  bool InRange(uint64_t offset, uint64_t len) const {
    return offset <= size_ && len <= size_ - offset;
  }
  // Copies [offset, offset + out.size()); InvalidArgument when the range is
  // outside the image or the file shrank since it was opened.
  absl::Status Read(uint64_t offset, absl::Span<uint8_t> out) const;
  // The whole image in host memory: the bytes given, or the file read into
  // `storage` (huge pages, no zeroing pass).
  absl::StatusOr<absl::Span<const uint8_t>> All(HostBuffer& storage) const;

 private:
  std::string what_;
  absl::Span<const uint8_t> bytes_;
  const OpenedImage* file_ = nullptr;
  uint64_t size_ = 0;
};

// As OpenImageFile, refused when empty or larger than `max_size`
// (`max_name` says what the limit is, e.g. "guest RAM").
absl::StatusOr<OpenedImage> OpenImageFileWithin(const std::string& what,
                                                const std::string& path,
                                                uint64_t max_size,
                                                const std::string& max_name);

}  // namespace skiff::boot

#endif  // SKIFF_VMM_BOOT_IMAGE_FILE_H_
