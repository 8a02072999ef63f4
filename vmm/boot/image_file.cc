#include "vmm/boot/image_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "base/status_macros.h"
#include "vmm/boot/errors.h"

namespace skiff::boot {

absl::StatusOr<OpenedImage> OpenImageFile(const std::string& what,
                                          const std::string& path) {
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return Invalid(what, "cannot open: %s", std::strerror(errno));
  OpenedImage image{UniqueFd(raw), 0};
  struct stat st;
  if (::fstat(image.fd.get(), &st) < 0) {
    return Invalid(what, "fstat: %s", std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Invalid(what, "not a regular file");
  image.size = static_cast<uint64_t>(st.st_size);
  return image;
}

namespace {

absl::Status ReadImageAt(const std::string& what, const OpenedImage& image,
                         uint64_t offset, absl::Span<uint8_t> out) {
  uint64_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(image.fd.get(), out.data() + done,
                        std::min<uint64_t>(out.size() - done, 1u << 30),
                        static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Invalid(what, "read: %s", std::strerror(errno));
    if (n == 0) {
      return Invalid(what,
                     "file shrank while being read (%u of %u bytes at offset "
                     "0x%x)",
                     done, out.size(), offset);
    }
    done += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ImageReader::Read(uint64_t offset, absl::Span<uint8_t> out) const {
  if (!InRange(offset, out.size())) {
    return Invalid(what_,
                   "read of %u bytes at 0x%x is past the end of the %u-byte "
                   "image",
                   out.size(), offset, size_);
  }
  if (file_ != nullptr) return ReadImageAt(what_, *file_, offset, out);
  std::copy_n(bytes_.data() + offset, out.size(), out.data());
  return absl::OkStatus();
}

absl::StatusOr<absl::Span<const uint8_t>> ImageReader::All(
    HostBuffer& storage) const {
  if (file_ == nullptr) return bytes_;
  absl::StatusOr<HostBuffer> buffer = HostBuffer::Allocate(size_);
  if (!buffer.ok()) return Invalid(what_, "%s", buffer.status().message());
  storage = std::move(*buffer);
  SKIFF_RETURN_IF_ERROR(Read(0, storage.span()));
  return absl::Span<const uint8_t>(storage.span());
}

absl::StatusOr<OpenedImage> OpenImageFileWithin(const std::string& what,
                                                const std::string& path,
                                                uint64_t max_size,
                                                const std::string& max_name) {
  SKIFF_ASSIGN_OR_RETURN(OpenedImage image, OpenImageFile(what, path));
  if (image.size > max_size) {
    return Invalid(what, "%s file is larger than %s (%s)",
                   HumanSize(image.size), max_name, HumanSize(max_size));
  }
  if (image.size == 0) return Invalid(what, "file is empty");
  return image;
}

}  // namespace skiff::boot
