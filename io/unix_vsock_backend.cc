#include "io/unix_vsock_backend.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "devices/virtio/virtio_vsock.h"

namespace skiff::io {

using devices::VsockConnKey;

namespace {

// Sockets besides the guest's connections: host programs that have not sent
// their CONNECT line yet.
constexpr size_t kMaxPendingClients = 64;

enum class SockState {
  kAwaitLine,   // host client: waiting for "CONNECT <port>\n"
  kAwaitGuest,  // host client: REQUEST sent, the guest has not answered
  kOpen,        // carrying the stream
};

struct Sock {
  UniqueFd fd;
  EventLoop::FdId watch = 0;
  SockState state = SockState::kAwaitLine;
  VsockConnKey key;
  uint64_t epoch = 0;  // device resets seen when it was opened
  bool write_poll_armed = false;
};

}  // namespace

struct UnixVsockBackend::Core {
  EventLoop* loop = nullptr;
  std::string path;
  // Removes the socket file after ~Core, if the path still names it.
  UnixListener listener;
  EventLoop::FdId listen_watch = 0;
  devices::VsockDevice* device = nullptr;
  std::weak_ptr<Core> self;
  // Bumped by Reset (any thread); closes sockets of older epochs.
  std::atomic<uint64_t> epoch{0};
  RateLimiter log_limiter;

  // Loop context only.
  uint64_t next_serial = 1;
  uint32_t next_host_port = kFirstHostPort;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Sock>> socks;  // by serial
  absl::flat_hash_map<VsockConnKey, uint64_t> by_key;
  size_t pending_clients = 0;

  ~Core() {
    if (listen_watch != 0) loop->RemoveFd(listen_watch);
    for (auto& [serial, s] : socks) loop->RemoveFd(s->watch);
  }

  Sock* Find(VsockConnKey key) {
    auto it = by_key.find(key);
    if (it == by_key.end()) return nullptr;
    auto s = socks.find(it->second);
    return s == socks.end() ? nullptr : s->second.get();
  }

  // Watches `fd` and takes ownership of it; returns its serial.
  uint64_t Add(UniqueFd fd, SockState state) {
    const uint64_t serial = next_serial++;
    auto sock = std::make_unique<Sock>();
    sock->state = state;
    sock->epoch = epoch.load();
    const int raw = fd.get();
    sock->fd = std::move(fd);
    sock->watch = loop->AddReadable(raw, [weak = self, serial] {
      if (auto core = weak.lock()) core->OnReadable(serial);
    });
    if (state == SockState::kAwaitLine) ++pending_clients;
    socks.emplace(serial, std::move(sock));
    return serial;
  }

  void Remove(uint64_t serial) {
    auto it = socks.find(serial);
    if (it == socks.end()) return;
    Sock& s = *it->second;
    loop->RemoveFd(s.watch);
    // Wakes a POLLOUT still armed on it, which holds the socket open.
    ::shutdown(s.fd.get(), SHUT_RDWR);
    if (s.state == SockState::kAwaitLine) --pending_clients;
    if (s.state != SockState::kAwaitLine) {
      auto k = by_key.find(s.key);
      if (k != by_key.end() && k->second == serial) by_key.erase(k);
    }
    socks.erase(it);
  }

  void OnAccept() {
    for (;;) {
      int fd = ::accept4(listener.fd(), nullptr, nullptr,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK && log_limiter.Allow()) {
          SKIFF_LOG(kWarn, "vsock: accept on %s: %s", path.c_str(),
                    std::strerror(errno));
        }
        return;
      }
      UniqueFd client(fd);
      if (pending_clients >= kMaxPendingClients) continue;  // closes it
      Add(std::move(client), SockState::kAwaitLine);
    }
  }

  void OnReadable(uint64_t serial) {
    auto it = socks.find(serial);
    if (it == socks.end()) return;
    Sock& s = *it->second;
    switch (s.state) {
      case SockState::kAwaitLine:
        ReadConnectLine(serial, s);
        return;
      case SockState::kAwaitGuest: {
        // Data may wait for the guest's answer; only a hang-up matters now.
        char byte;
        const ssize_t n = ::recv(s.fd.get(), &byte, 1, MSG_PEEK);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) return;
        const VsockConnKey key = s.key;
        Remove(serial);
        if (device != nullptr) device->HostReset(key);
        return;
      }
      case SockState::kOpen:
        if (device != nullptr) device->HostReadable(s.key);
        return;
    }
  }

  void ReadConnectLine(uint64_t serial, Sock& s) {
    char buf[kMaxLine];
    const ssize_t n = ::recv(s.fd.get(), buf, sizeof(buf), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      Remove(serial);
      return;
    }
    const absl::string_view seen(buf, static_cast<size_t>(n));
    const size_t nl = seen.find('\n');
    if (nl == absl::string_view::npos) {
      if (seen.size() == sizeof(buf)) Refuse(serial, "line too long");
      return;  // wait for the rest of the line
    }
    // Consume the line only: what follows it belongs to the stream.
    if (::recv(s.fd.get(), buf, nl + 1, 0) != static_cast<ssize_t>(nl + 1)) {
      Remove(serial);
      return;
    }
    absl::string_view line = seen.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    uint32_t port = 0;
    if (!absl::ConsumePrefix(&line, "CONNECT ") ||
        !absl::SimpleAtoi(line, &port)) {
      Refuse(serial, "expected \"CONNECT <port>\"");
      return;
    }
    if (device == nullptr) {
      Remove(serial);
      return;
    }
    // A fresh host port not in use with this guest port.
    VsockConnKey key{TakeHostPort(), port};
    for (int tries = 0; by_key.contains(key) && tries < 1024; ++tries) {
      key.host_port = TakeHostPort();
    }
    if (by_key.contains(key) || !device->ConnectToGuest(key)) {
      Remove(serial);  // no driver, or too many connections
      return;
    }
    auto it = socks.find(serial);
    if (it == socks.end()) return;
    --pending_clients;
    it->second->state = SockState::kAwaitGuest;
    it->second->key = key;
    by_key[key] = serial;
  }

  uint32_t TakeHostPort() {
    const uint32_t port = next_host_port;
    // Skip 0xffffffff (VMADDR_PORT_ANY) when wrapping.
    next_host_port = port >= UINT32_MAX - 1 ? kFirstHostPort : port + 1;
    return port;
  }

  void Refuse(uint64_t serial, const char* why) {
    if (log_limiter.Allow()) {
      SKIFF_LOG(kWarn, "vsock: host client on %s refused: %s", path.c_str(),
                why);
    }
    Remove(serial);
  }

  void ArmWritable(uint64_t serial, Sock& s) {
    if (s.write_poll_armed) return;
    s.write_poll_armed = true;
    const int fd = s.fd.get();
    loop->Submit(
        [fd](io_uring_sqe* sqe) { io_uring_prep_poll_add(sqe, fd, POLLOUT); },
        [weak = self, serial](int32_t) {
          auto core = weak.lock();
          if (!core) return;
          auto it = core->socks.find(serial);
          if (it == core->socks.end()) return;
          it->second->write_poll_armed = false;
          if (it->second->state == SockState::kOpen &&
              core->device != nullptr) {
            core->device->HostWritable(it->second->key);
          }
        });
  }

  void CloseOlderThan(uint64_t epoch_now) {
    std::vector<uint64_t> doomed;
    for (auto& [serial, s] : socks) {
      if (s->state != SockState::kAwaitLine && s->epoch < epoch_now) {
        doomed.push_back(serial);
      }
    }
    for (uint64_t serial : doomed) Remove(serial);
  }
};

UnixVsockBackend::UnixVsockBackend(std::shared_ptr<Core> core)
    : core_(std::move(core)) {}

UnixVsockBackend::~UnixVsockBackend() = default;

absl::StatusOr<std::unique_ptr<UnixVsockBackend>> UnixVsockBackend::Create(
    EventLoop* loop, const std::string& uds_path) {
  SKIFF_ASSIGN_OR_RETURN(
      UnixListener listener,
      UnixListener::Listen(OneLine(absl::StrCat("vsock uds ", uds_path)),
                           uds_path, {.backlog = 128}));
  auto core = std::make_shared<Core>();
  core->loop = loop;
  core->path = uds_path;
  core->listener = std::move(listener);
  core->self = core;
  Core* raw = core.get();
  loop->RunAndWait([raw] {
    raw->listen_watch =
        raw->loop->AddReadable(raw->listener.fd(), [weak = raw->self] {
          if (auto c = weak.lock()) c->OnAccept();
        });
  });
  return std::unique_ptr<UnixVsockBackend>(
      new UnixVsockBackend(std::move(core)));
}

void UnixVsockBackend::Attach(devices::VsockDevice* device) {
  core_->device = device;
}

bool UnixVsockBackend::Connect(VsockConnKey key) {
  Core& c = *core_;
  // A socket left from before a device reset would shadow the new one.
  if (auto it = c.by_key.find(key); it != c.by_key.end()) c.Remove(it->second);
  const std::string target = absl::StrCat(c.path, "_", key.host_port);
  absl::StatusOr<sockaddr_un> addr = UnixSocketAddress("vsock", target);
  if (!addr.ok()) return false;
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return false;
  // A Unix stream connect completes at once or fails (ECONNREFUSED,
  // ENOENT, or EAGAIN when the listener's backlog is full).
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr),
                sizeof(*addr)) != 0) {
    SKIFF_LOG(kDebug, "vsock: guest connect to port %u (%s): %s", key.host_port,
              target.c_str(), std::strerror(errno));
    return false;
  }
  const uint64_t serial = c.Add(std::move(fd), SockState::kOpen);
  c.socks[serial]->key = key;
  c.by_key[key] = serial;
  return true;
}

bool UnixVsockBackend::Connected(VsockConnKey key) {
  Sock* s = core_->Find(key);
  if (s == nullptr || s->state != SockState::kAwaitGuest) return false;
  const std::string ok = absl::StrCat("OK ", key.host_port, "\n");
  // A few bytes into a fresh socket: they fit unless the client is gone.
  if (::send(s->fd.get(), ok.data(), ok.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
      static_cast<ssize_t>(ok.size())) {
    return false;
  }
  s->state = SockState::kOpen;
  return true;
}

int64_t UnixVsockBackend::Send(VsockConnKey key,
                               absl::Span<const uint8_t> data) {
  Core& c = *core_;
  auto it = c.by_key.find(key);
  if (it == c.by_key.end()) return -ECONNRESET;
  Sock& s = *c.socks[it->second];
  for (;;) {
    const ssize_t n = ::send(s.fd.get(), data.data(), data.size(),
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c.ArmWritable(it->second, s);
      return -EAGAIN;
    }
    return -errno;
  }
}

int64_t UnixVsockBackend::Recv(VsockConnKey key, absl::Span<const iovec> iov) {
  Sock* s = core_->Find(key);
  if (s == nullptr) return -ECONNRESET;
  const int count = static_cast<int>(std::min<size_t>(iov.size(), IOV_MAX));
  for (;;) {
    const ssize_t n = ::readv(s->fd.get(), iov.data(), count);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -EAGAIN;
    return -errno;
  }
}

void UnixVsockBackend::ShutdownWrite(VsockConnKey key) {
  if (Sock* s = core_->Find(key)) ::shutdown(s->fd.get(), SHUT_WR);
}

void UnixVsockBackend::Close(VsockConnKey key) {
  if (auto it = core_->by_key.find(key); it != core_->by_key.end()) {
    core_->Remove(it->second);
  }
}

void UnixVsockBackend::Reset() {
  const uint64_t now = core_->epoch.fetch_add(1) + 1;
  core_->loop->Post([weak = core_->self, now] {
    if (auto c = weak.lock()) c->CloseOlderThan(now);
  });
}

size_t UnixVsockBackend::open_sockets() const { return core_->socks.size(); }

absl::StatusOr<std::unique_ptr<devices::VirtioDevice>> OpenUnixVsockDevice(
    EventLoop* loop, uint32_t guest_cid, const std::string& uds_path) {
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<UnixVsockBackend> backend,
                         UnixVsockBackend::Create(loop, uds_path));
  return std::unique_ptr<devices::VirtioDevice>(
      std::make_unique<devices::VirtioVsock>(guest_cid, std::move(backend)));
}

}  // namespace skiff::io
