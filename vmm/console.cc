#include "vmm/console.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "devices/legacy/console_escape.h"

namespace skiff {

absl::StatusOr<std::unique_ptr<Console>> Console::Create(
    const SerialConfig& config, int stdout_fd, int stdin_fd) {
  std::shared_ptr<devices::OutputSink> sink;
  switch (config.mode) {
    case SerialConfig::Mode::kStdio:
      sink = devices::FdSink::Borrow(stdout_fd);
      break;
    case SerialConfig::Mode::kFile: {
      int fd = ::open(config.path.c_str(),
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) {
        return ErrnoStatus(absl::StrFormat("--serial file=%s", config.path));
      }
      sink = std::make_shared<devices::FdSink>(UniqueFd(fd));
      stdin_fd = -1;
      break;
    }
    case SerialConfig::Mode::kNone:
      sink = std::make_shared<devices::NullSink>();
      stdin_fd = -1;
      break;
  }
  SKIFF_ASSIGN_OR_RETURN(EventFd stop, EventFd::Create());
  return std::unique_ptr<Console>(
      new Console(std::move(sink), stdin_fd, std::move(stop)));
}

Console::~Console() { Stop(); }

absl::Status Console::StartInput(devices::Serial8250& serial,
                                 devices::MachineControl& control,
                                 std::function<void()> on_thread_start) {
  if (stdin_fd_ < 0 || input_thread_.joinable()) return absl::OkStatus();
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

void Console::Stop() {
  stop_.Signal();
  if (input_thread_.joinable()) input_thread_.join();
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

}  // namespace skiff
