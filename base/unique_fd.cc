#include "base/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff {

absl::StatusOr<UniqueFd> UniqueFd::Open(const std::string& path, int flags,
                                        int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(absl::StrCat("open ", path));
  return UniqueFd(fd);
}

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace skiff
