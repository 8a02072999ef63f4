#include "base/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff {

absl::StatusOr<sockaddr_un> UnixSocketAddress(const std::string& where,
                                              const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path) ||
      path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": path must be 1..",
                                                   sizeof(addr.sun_path) - 1,
                                                   " bytes without NUL"));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

absl::StatusOr<UniqueFd> ConnectUnixSocket(const std::string& where,
                                           const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(sockaddr_un addr, UnixSocketAddress(where, path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus(absl::StrCat(where, ": socket"));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr),
                sizeof(addr)) != 0) {
    return ErrnoStatus(absl::StrCat(where, ": connect"));
  }
  return fd;
}

absl::StatusOr<UnixListener> UnixListener::Listen(const std::string& where,
                                                  const std::string& path,
                                                  UnixListenOptions options) {
  SKIFF_ASSIGN_OR_RETURN(sockaddr_un addr, UnixSocketAddress(where, path));
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::AlreadyExistsError(
          absl::StrCat(where, ": exists and is not a socket"));
    }
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe.valid()) return ErrnoStatus(absl::StrCat(where, ": socket"));
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr),
                  sizeof(addr)) == 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          where, ": another process is serving it (still listening)"));
    }
    if (errno != ECONNREFUSED) {
      return ErrnoStatus(absl::StrCat(where, ": probing existing socket"));
    }
    // Nobody listens: a leftover from a process that did not clean up.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(absl::StrCat(where, ": removing stale socket"));
    }
  }
  UnixListener l;
  l.fd_.Reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l.fd_.valid()) return ErrnoStatus(absl::StrCat(where, ": socket"));
  if (::bind(l.fd_.get(), reinterpret_cast<const sockaddr*>(&addr),
             sizeof(addr)) != 0) {
    return ErrnoStatus(absl::StrCat(where, ": bind"));
  }
  // The file is ours from here: a failure below removes it (~UnixListener).
  if (::stat(path.c_str(), &st) != 0) {
    absl::Status status = ErrnoStatus(absl::StrCat(where, ": stat"));
    ::unlink(path.c_str());
    return status;
  }
  l.path_ = path;
  l.dev_ = st.st_dev;
  l.ino_ = st.st_ino;
  if (options.owner_only && ::chmod(path.c_str(), 0600) != 0) {
    return ErrnoStatus(absl::StrCat(where, ": chmod 0600"));
  }
  if (::listen(l.fd_.get(), options.backlog) != 0) {
    return ErrnoStatus(absl::StrCat(where, ": listen"));
  }
  return l;
}

UnixListener::UnixListener(UnixListener&& other) noexcept
    : fd_(std::move(other.fd_)),
      path_(std::exchange(other.path_, std::string())),
      dev_(other.dev_),
      ino_(other.ino_) {}

UnixListener& UnixListener::operator=(UnixListener&& other) noexcept {
  if (this != &other) {
    RemoveIfOurs();
    fd_ = std::move(other.fd_);
    path_ = std::exchange(other.path_, std::string());
    dev_ = other.dev_;
    ino_ = other.ino_;
  }
  return *this;
}

UnixListener::~UnixListener() { RemoveIfOurs(); }

void UnixListener::RemoveIfOurs() {
  if (path_.empty()) return;
  // Only our own socket: the path may have been replaced meanwhile.
  struct stat st;
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ &&
      st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
  path_.clear();
}

}  // namespace skiff
