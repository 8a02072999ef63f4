#include "vmm/console.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "devices/legacy/console_escape.h"

namespace skiff {

// socket=PATH's output: the connected client, if any. Only the console
// thread attaches and detaches, so the fd it polls stays open until it
// detaches it; vCPU threads write through FdSink's stall rule.
class Console::ClientSink : public devices::OutputSink {
 public:
  void Write(absl::Span<const uint8_t> data) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (client_ != nullptr) client_->Write(data);
  }
  void Attach(UniqueFd fd) ABSL_LOCKS_EXCLUDED(mu_) {
    auto client = std::make_shared<devices::FdSink>(std::move(fd));
    absl::MutexLock lock(&mu_);
    client_ = std::move(client);
  }
  void Detach() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    client_.reset();
  }

 private:
  absl::Mutex mu_;
  std::shared_ptr<devices::FdSink> client_ ABSL_GUARDED_BY(mu_);
};

namespace {

// --serial file=PATH: see the header for why each kind is opened so.
absl::StatusOr<UniqueFd> OpenOutput(const std::string& path) {
  const std::string where = absl::StrFormat("--serial file=%s", path);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    return ConnectUnixSocket(where, path);
  }
  int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
  if (::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode)) {
    // fifo(7): opening for reading and writing never blocks on Linux, and
    // with our own read end a reader closing never means EPIPE.
    flags = O_RDWR | O_NONBLOCK | O_CLOEXEC;
  }
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return ErrnoStatus(where);
  return UniqueFd(fd);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Console>> Console::Create(
    const SerialConfig& config, int stdout_fd, int stdin_fd) {
  std::shared_ptr<devices::OutputSink> sink;
  UnixListener listener;
  std::shared_ptr<ClientSink> client_sink;
  switch (config.mode) {
    case SerialConfig::Mode::kStdio:
      sink = devices::FdSink::Borrow(stdout_fd);
      break;
    case SerialConfig::Mode::kFile: {
      SKIFF_ASSIGN_OR_RETURN(UniqueFd fd, OpenOutput(config.path));
      sink = std::make_shared<devices::FdSink>(std::move(fd));
      stdin_fd = -1;
      break;
    }
    case SerialConfig::Mode::kSocket: {
      SKIFF_ASSIGN_OR_RETURN(
          listener, UnixListener::Listen(
                        absl::StrFormat("--serial socket=%s", config.path),
                        config.path, {.backlog = 4, .owner_only = true}));
      client_sink = std::make_shared<ClientSink>();
      sink = client_sink;
      stdin_fd = -1;
      break;
    }
    case SerialConfig::Mode::kNone:
      sink = std::make_shared<devices::NullSink>();
      stdin_fd = -1;
      break;
  }
  SKIFF_ASSIGN_OR_RETURN(EventFd stop, EventFd::Create());
  return std::unique_ptr<Console>(new Console(
      std::make_shared<devices::AsyncSink>(std::move(sink)), stdin_fd,
      std::move(stop), std::move(listener), std::move(client_sink)));
}

Console::Console(std::shared_ptr<devices::AsyncSink> output, int stdin_fd,
                 EventFd stop, UnixListener listener,
                 std::shared_ptr<ClientSink> client_sink)
    : output_(std::move(output)),
      stdin_fd_(stdin_fd),
      stop_(std::move(stop)),
      listener_(std::move(listener)),
      client_sink_(std::move(client_sink)) {}

Console::~Console() { Stop(); }

absl::Status Console::StartInput(devices::Serial8250& serial,
                                 devices::MachineControl& control,
                                 std::function<void()> on_thread_start) {
  if (input_thread_.joinable()) return absl::OkStatus();
  if (listener_.valid()) {
    input_thread_ =
        std::thread([this, &serial, hook = std::move(on_thread_start)] {
          pthread_setname_np(pthread_self(), "console");
          if (hook) hook();
          SocketLoop(serial);
        });
    return absl::OkStatus();
  }
  if (stdin_fd_ < 0) return absl::OkStatus();
  if (isatty(stdin_fd_)) {
    SKIFF_ASSIGN_OR_RETURN(raw_, RawTerminal::Enable(stdin_fd_));
  }
  input_thread_ =
      std::thread([this, &serial, &control, hook = std::move(on_thread_start)] {
        pthread_setname_np(pthread_self(), "console");
        if (hook) hook();
        InputLoop(serial, control);
      });
  return absl::OkStatus();
}

void Console::StartOutput(std::function<void()> on_thread_start) {
  output_->Start([hook = std::move(on_thread_start)] {
    pthread_setname_np(pthread_self(), "console-out");
    if (hook) hook();
  });
}

void Console::Stop() {
  stop_.Signal();
  if (input_thread_.joinable()) input_thread_.join();
  output_->Stop();
  raw_.reset();
}

void Console::InputLoop(devices::Serial8250& serial,
                        devices::MachineControl& control) {
  devices::ConsoleEscape escape;
  for (;;) {
    pollfd fds[2] = {{stdin_fd_, POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      SKIFF_LOG(kWarn, "console: poll: %s", strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    uint8_t buf[256];
    ssize_t n = ::read(stdin_fd_, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;  // end of input: the guest keeps running
    devices::ConsoleEscape::Result r =
        escape.Feed(absl::MakeConstSpan(buf, static_cast<size_t>(n)));
    if (!r.to_guest.empty()) serial.QueueInput(r.to_guest);
    if (r.quit) {
      SKIFF_LOG(kInfo, "console: Ctrl-A x, stopping the VM");
      control.RequestStop(devices::StopReason::kUser, 0);
      return;
    }
  }
}

void Console::SocketLoop(devices::Serial8250& serial) {
  int client = -1;  // owned by client_sink_ while >= 0
  for (;;) {
    // While a client is connected the listener is not polled: the next one
    // waits in the backlog.
    pollfd fds[3] = {{stop_.fd(), POLLIN, 0},
                     {client < 0 ? listener_.fd() : -1, POLLIN, 0},
                     {client, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      SKIFF_LOG(kWarn, "console: poll: %s", strerror(errno));
      break;
    }
    if (fds[0].revents != 0) break;
    if (client >= 0 && fds[2].revents != 0) {
      uint8_t buf[256];
      ssize_t n = ::read(client, buf, sizeof(buf));
      if (n > 0) {
        serial.QueueInput(absl::MakeConstSpan(buf, static_cast<size_t>(n)));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        SKIFF_LOG(kInfo, "console: socket client disconnected");
        client_sink_->Detach();
        client = -1;
      }
    }
    if (client < 0 && fds[1].revents != 0) {
      int fd = ::accept4(listener_.fd(), nullptr, nullptr,
                         SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        SKIFF_LOG(kInfo, "console: socket client connected");
        client = fd;
        client_sink_->Attach(UniqueFd(fd));
      }
    }
  }
  client_sink_->Detach();
}

}  // namespace skiff
