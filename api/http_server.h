// A small HTTP/1.1 server on a Unix stream socket, for the Firecracker-style
// control API: binds the socket (mode 0600), accepts connections and runs
// each through an HttpConnection (parsing, limits, framing) on one thread of
// its own that polls the listening socket, every connection and a stop
// eventfd.
//
//   auto server = HttpServer::Create("/run/skiff.sock",
//       [&](const HttpRequest& req) { return api.Handle(req); });
//   if (!server.ok()) { ... }          // path in use, bind failed, ...
//   SKIFF_RETURN_IF_ERROR((*server)->Start());
//   ...
//   (*server)->Stop();                 // any thread; also in the destructor
//
// The per-connection HTTP work is HttpConnection (api/http_connection.h).
#ifndef SKIFF_API_HTTP_SERVER_H_
#define SKIFF_API_HTTP_SERVER_H_

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "api/http_connection.h"
#include "base/event_fd.h"
#include "base/unique_fd.h"
#include "base/unix_socket.h"

namespace skiff::api {

class HttpServer {
 public:
  // Binds `socket_path` and listens. An existing live socket at the path is
  // an error; a stale one (nobody accepting) is removed; any other file is
  // an error. The socket is chmod 0600 before listen(), so no other user
  // can ever connect. Nothing is served until Start().
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(
      std::string socket_path, HttpHandler handler, HttpLimits limits = {});
  // Stops the thread and removes the socket file.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts the server thread ("api"). Call at most once. `on_thread_start`
  // runs first on that thread, e.g. to install its seccomp filter (then the
  // handler must only make the syscalls that filter allows).
  absl::Status Start(std::function<void()> on_thread_start = nullptr);
  // Asks the server thread to exit and, unless called from that thread
  // (e.g. by the handler), waits for it. Idempotent, any thread.
  void Stop();

  const std::string& socket_path() const { return listener_.path(); }

 private:
  HttpServer(UnixListener listener, HttpHandler handler, HttpLimits limits,
             EventFd stop);
  void Run();

  // Constant after construction. The listener removes the socket file
  // when the server goes, if the path still names it.
  const UnixListener listener_;
  const HttpHandler handler_;
  const HttpLimits limits_;
  const EventFd stop_;

  absl::Mutex mu_;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace skiff::api

#endif  // SKIFF_API_HTTP_SERVER_H_
