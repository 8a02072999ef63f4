// Unix stream sockets at filesystem paths, as skiff serves and reaches them
// (the API socket, --serial socket= and file=, the vsock host side).
// UnixListener binds and listens at a path: a socket file left behind by a
// process that died is replaced, one that another process still serves is
// refused, and the file is removed again when the listener goes away, if
// the path still names the socket it created.
//
//   SKIFF_ASSIGN_OR_RETURN(
//       UnixListener l, UnixListener::Listen("api socket /run/x.sock",
//                                            "/run/x.sock", {.owner_only =
//                                            true}));
//   int client = accept4(l.fd(), nullptr, nullptr, SOCK_CLOEXEC);
#ifndef SKIFF_BASE_UNIX_SOCKET_H_
#define SKIFF_BASE_UNIX_SOCKET_H_

#include <sys/types.h>
#include <sys/un.h>

#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace skiff {

// `path` as a socket address; InvalidArgument, prefixed by `where`, unless
// it is 1..107 bytes without NUL.
absl::StatusOr<sockaddr_un> UnixSocketAddress(const std::string& where,
                                              const std::string& path);

// A blocking connection to the stream socket at `path`.
absl::StatusOr<UniqueFd> ConnectUnixSocket(const std::string& where,
                                           const std::string& path);

struct UnixListenOptions {
  int backlog = 16;
  // Mode 0600, set before listen() so that no connection is accepted while
  // the umask's wider mode applies.
  bool owner_only = false;
};

class UnixListener {
 public:
  // Errors name `where` and the step that failed.
  static absl::StatusOr<UnixListener> Listen(const std::string& where,
                                             const std::string& path,
                                             UnixListenOptions options);

  UnixListener() = default;  // listens nowhere
  UnixListener(UnixListener&& other) noexcept;
  UnixListener& operator=(UnixListener&& other) noexcept;
  ~UnixListener();

  bool valid() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }  // non-blocking, close-on-exec
  const std::string& path() const { return path_; }

 private:
  void RemoveIfOurs();

  UniqueFd fd_;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace skiff

#endif  // SKIFF_BASE_UNIX_SOCKET_H_
