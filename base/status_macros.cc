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

std::string OneLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

absl::Status OneLineStatus(const absl::Status& status) {
  if (status.ok()) return status;
  std::string_view message(status.message().data(), status.message().size());
  return absl::Status(status.code(), OneLine(message));
}

}  // namespace skiff
