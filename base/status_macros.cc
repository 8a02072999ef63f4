#include "base/status_macros.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace skiff {

absl::Status ErrnoStatus(std::string_view op, int err) {
  std::string message = absl::StrCat(absl::string_view(op.data(), op.size()),
                                     ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EINVAL:
      return absl::InvalidArgumentError(message);
    case ENOMEM:
    case ENOSPC:
      return absl::ResourceExhaustedError(message);
    case EINTR:
    case EAGAIN:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace skiff
