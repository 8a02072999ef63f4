// UniqueFd owns one file descriptor and closes it on destruction.
//
//   SKIFF_ASSIGN_OR_RETURN(UniqueFd fd, UniqueFd::Open("/dev/kvm", O_RDWR));
//   ioctl(fd.get(), ...);
#ifndef SKIFF_BASE_UNIQUE_FD_H_
#define SKIFF_BASE_UNIQUE_FD_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace skiff {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  // Opens `path` with O_CLOEXEC added; the error names the path.
  static absl::StatusOr<UniqueFd> Open(const std::string& path, int flags,
                                       int mode = 0);

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

}  // namespace skiff

#endif  // SKIFF_BASE_UNIQUE_FD_H_
