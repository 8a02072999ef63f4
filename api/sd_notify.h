// systemd readiness notification (Type=notify units), the sd_notify(3)
// protocol: each notification is one datagram of newline-separated
// "KEY=value" assignments sent to the AF_UNIX socket named by NOTIFY_SOCKET
// (a path, or "@name" for the abstract namespace). Without NOTIFY_SOCKET in
// the environment (not started by systemd) every call is a successful no-op.
//
//   SdNotifier notifier;
//   if (notifier.enabled()) SKIFF_LOG(kInfo, "systemd notify socket set");
//   notifier.Status("booting");
//   ... VM started ...
//   notifier.Ready();
//   ... SIGTERM ...
//   notifier.Stopping();
#ifndef SKIFF_API_SD_NOTIFY_H_
#define SKIFF_API_SD_NOTIFY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace skiff::api {

class SdNotifier {
 public:
  // Reads NOTIFY_SOCKET once; the environment is left as it is, so child
  // processes (none today) would see it too.
  SdNotifier();

  // True when NOTIFY_SOCKET is set (non-empty).
  bool enabled() const { return !socket_.empty(); }

  // "READY=1": startup finished (the VM runs, or the API serves).
  absl::Status Ready() const;
  // "STOPPING=1": shutdown began.
  absl::Status Stopping() const;
  // "STATUS=<text>", shown by systemctl status. Newlines and other control
  // characters become spaces: each line of a notification is a separate
  // assignment, so they must not reach the socket.
  absl::Status Status(absl::string_view text) const;
  // Sends `state` as given (one or more "KEY=value" lines). A NOTIFY_SOCKET
  // that is neither an absolute path nor "@name", or too long for a Unix
  // socket address, is an InvalidArgument error.
  absl::Status Notify(const std::string& state) const;

 private:
  std::string socket_;
};

}  // namespace skiff::api

#endif  // SKIFF_API_SD_NOTIFY_H_
