#include "api/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace skiff::api {

SdNotifier::SdNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  if (socket != nullptr) socket_ = socket;
}

absl::Status SdNotifier::Notify(const std::string& state) const {
  if (socket_.empty()) return absl::OkStatus();
  // sd_notify(3): an absolute path, or '@' for a name in the abstract
  // namespace (a leading NUL in sun_path, the name not NUL-terminated).
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // A path keeps room for its terminating NUL; an abstract name needs none.
  const size_t max = sizeof(addr.sun_path) - (socket_[0] == '/' ? 1 : 0);
  if ((socket_[0] != '/' && socket_[0] != '@') || socket_.size() > max ||
      socket_.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "NOTIFY_SOCKET '", socket_, "': not an absolute socket path (at most ",
        sizeof(addr.sun_path) - 1, " bytes) or @name (at most ",
        sizeof(addr.sun_path), ")"));
  }
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  if (socket_[0] == '@') addr.sun_path[0] = '\0';
  const auto len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return ErrnoStatus("sd_notify: socket");
  const ssize_t n = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&addr), len);
  if (n < 0) return ErrnoStatus(absl::StrCat("sd_notify: send to ", socket_));
  if (static_cast<size_t>(n) != state.size()) {
    return absl::InternalError("sd_notify: datagram truncated");
  }
  return absl::OkStatus();
}

absl::Status SdNotifier::Ready() const { return Notify("READY=1"); }

absl::Status SdNotifier::Stopping() const { return Notify("STOPPING=1"); }

absl::Status SdNotifier::Status(absl::string_view text) const {
  std::string clean(text);
  for (char& c : clean) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return Notify(absl::StrCat("STATUS=", clean));
}

}  // namespace skiff::api
