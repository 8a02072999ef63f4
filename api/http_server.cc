#include "api/http_server.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace skiff::api {

HttpServer::HttpServer(std::string socket_path, HttpHandler handler,
                       HttpLimits limits, UniqueFd listen_fd, EventFd stop,
                       dev_t dev, ino_t ino)
    : socket_path_(std::move(socket_path)),
      handler_(std::move(handler)),
      limits_(limits),
      listen_fd_(std::move(listen_fd)),
      stop_(std::move(stop)),
      dev_(dev),
      ino_(ino) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(
    std::string socket_path, HttpHandler handler, HttpLimits limits) {
  const std::string where = absl::StrCat("api socket ", OneLine(socket_path));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path) ||
      socket_path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": path must be 1..",
                                                   sizeof(addr.sun_path) - 1,
                                                   " bytes without NUL"));
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());

  struct stat st;
  if (::lstat(socket_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::AlreadyExistsError(
          absl::StrCat(where, ": exists and is not a socket"));
    }
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe.valid()) return ErrnoStatus(absl::StrCat(where, ": socket"));
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr),
                  sizeof(addr)) == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat(where, ": another process is serving it"));
    }
    if (errno != ECONNREFUSED) {
      return ErrnoStatus(absl::StrCat(where, ": probing existing socket"));
    }
    // Nobody listens: a leftover from a process that did not clean up.
    if (::unlink(socket_path.c_str()) != 0) {
      return ErrnoStatus(absl::StrCat(where, ": removing stale socket"));
    }
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return ErrnoStatus(absl::StrCat(where, ": socket"));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(absl::StrCat(where, ": bind"));
  }
  // Before listen(): until then connect() is refused, so there is no window
  // in which the umask's wider mode lets another user in.
  if (::chmod(socket_path.c_str(), 0600) != 0 ||
      ::stat(socket_path.c_str(), &st) != 0) {
    absl::Status status = ErrnoStatus(absl::StrCat(where, ": chmod 0600"));
    ::unlink(socket_path.c_str());
    return status;
  }
  if (::listen(fd.get(), 16) != 0) {
    absl::Status status = ErrnoStatus(absl::StrCat(where, ": listen"));
    ::unlink(socket_path.c_str());
    return status;
  }
  absl::StatusOr<EventFd> stop = EventFd::Create();
  if (!stop.ok()) {
    ::unlink(socket_path.c_str());
    return stop.status();
  }
  return std::unique_ptr<HttpServer>(
      new HttpServer(std::move(socket_path), std::move(handler), limits,
                     std::move(fd), std::move(*stop), st.st_dev, st.st_ino));
}

HttpServer::~HttpServer() {
  Stop();
  struct stat st;
  if (::lstat(socket_path_.c_str(), &st) == 0 && st.st_dev == dev_ &&
      st.st_ino == ino_) {
    ::unlink(socket_path_.c_str());
  }
}

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
    fds.push_back({listen_fd_.get(), POLLIN, 0});
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
      UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr,
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
