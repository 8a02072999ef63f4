#include "api/http_server.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace skiff::api {

HttpServer::HttpServer(UnixListener listener, HttpHandler handler,
                       HttpLimits limits, EventFd stop)
    : listener_(std::move(listener)),
      handler_(std::move(handler)),
      limits_(limits),
      stop_(std::move(stop)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(
    std::string socket_path, HttpHandler handler, HttpLimits limits) {
  SKIFF_ASSIGN_OR_RETURN(
      UnixListener listener,
      UnixListener::Listen(absl::StrCat("api socket ", OneLine(socket_path)),
                           socket_path, {.owner_only = true}));
  SKIFF_ASSIGN_OR_RETURN(EventFd stop, EventFd::Create());
  return std::unique_ptr<HttpServer>(new HttpServer(
      std::move(listener), std::move(handler), limits, std::move(stop)));
}

HttpServer::~HttpServer() { Stop(); }

absl::Status HttpServer::Start(std::function<void()> on_thread_start) {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable()) {
    return absl::FailedPreconditionError("api server already started");
  }
  thread_ = std::thread([this, hook = std::move(on_thread_start)] {
    if (hook) hook();
    Run();
  });
  pthread_setname_np(thread_.native_handle(), "api");
  return absl::OkStatus();
}

void HttpServer::Stop() {
  stop_.Signal();
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    if (!thread_.joinable() || thread_.get_id() == std::this_thread::get_id()) {
      return;
    }
    thread = std::move(thread_);
  }
  thread.join();
}

void HttpServer::Run() {
  struct Conn {
    UniqueFd fd;
    std::unique_ptr<HttpConnection> http;
    std::string out;
    size_t sent = 0;
  };
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<pollfd> fds;
  char buf[16 * 1024];
  RateLimiter error_log;

  for (;;) {
    fds.clear();
    fds.push_back({stop_.fd(), POLLIN, 0});
    fds.push_back({listener_.fd(), POLLIN, 0});
    for (const auto& c : conns) {
      // A connection with a response pending is not read from: a client
      // that never reads cannot make the server buffer without bound.
      short events = c->sent < c->out.size() ? POLLOUT : POLLIN;
      fds.push_back({c->fd.get(), events, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      SKIFF_LOG(kError, "api: poll failed errno=%d, server stops", errno);
      return;
    }
    if (fds[0].revents != 0) return;

    std::vector<bool> drop(conns.size(), false);
    for (size_t i = 0; i < conns.size(); ++i) {
      Conn& c = *conns[i];
      const short revents = fds[i + 2].revents;
      if (revents == 0) continue;
      if (c.sent < c.out.size()) {
        if ((revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 &&
            (revents & POLLOUT) == 0) {
          drop[i] = true;
          continue;
        }
        ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent,
                           c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno != EAGAIN && errno != EINTR) drop[i] = true;
          continue;
        }
        c.sent += static_cast<size_t>(n);
        if (c.sent == c.out.size()) {
          c.out.clear();
          c.sent = 0;
          if (c.http->closing()) drop[i] = true;
        }
        continue;
      }
      ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
      if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) drop[i] = true;
        continue;
      }
      if (n == 0) {
        drop[i] = true;
        continue;
      }
      c.http->Feed(absl::string_view(buf, static_cast<size_t>(n)), &c.out);
      if (c.out.empty() && c.http->closing()) drop[i] = true;
    }
    size_t kept = 0;
    for (size_t i = 0; i < conns.size(); ++i) {
      if (!drop[i]) conns[kept++] = std::move(conns[i]);
    }
    conns.resize(kept);

    if ((fds[1].revents & POLLIN) != 0) {
      UniqueFd fd(::accept4(listener_.fd(), nullptr, nullptr,
                            SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd.valid()) {
        if (errno != EAGAIN && errno != EINTR && error_log.Allow()) {
          SKIFF_LOG(kWarn, "api: accept failed errno=%d", errno);
        }
      } else if (conns.size() >= limits_.max_connections) {
        if (error_log.Allow()) {
          SKIFF_LOG(kWarn, "api: connection refused, limit=%u reached",
                    limits_.max_connections);
        }
      } else {
        auto c = std::make_unique<Conn>();
        c->fd = std::move(fd);
        c->http = std::make_unique<HttpConnection>(&handler_, limits_);
        conns.push_back(std::move(c));
      }
    }
  }
}

}  // namespace skiff::api
