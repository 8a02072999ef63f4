// Console connects the guest's serial port to the host (--serial):
//  - stdio: output to stdout, input from stdin on a thread of its own. On
//    a terminal stdin is switched to raw mode (restored on every exit path)
//    and Ctrl-A x stops the VM.
//  - file=PATH: output only. A regular file is created or truncated, as
//    QEMU's `-serial file:` does (each boot's log stands alone); a FIFO is
//    opened read-write, so skiff never waits for a reader and a reader may
//    come and go (what it misses while the pipe is full is dropped, see
//    FdSink); an existing Unix stream socket is connected to (e.g. a
//    `socat UNIX-LISTEN:...` or a log collector).
//  - socket=PATH: a listening Unix stream socket (mode 0600, a stale
//    socket file is replaced), served by the console thread: one client at
//    a time gets the output and its bytes are the guest's input; later
//    clients wait in the backlog until it disconnects, as with QEMU's
//    `-serial unix:PATH,server,nowait`. Output is dropped while no client
//    is connected. The file is removed when the Console goes.
//  - none: output discarded.
// Once StartOutput() is called, output is written by a thread of its own
// (devices::AsyncSink): the guest's vCPU only copies bytes into a buffer.
//
//   SKIFF_ASSIGN_OR_RETURN(auto console, Console::Create(config.serial, 1, 0));
//   auto serial = std::make_shared<devices::Serial8250>(irq, console->sink());
//   console->StartOutput();
//   SKIFF_RETURN_IF_ERROR(console->StartInput(*serial, machine));
//
// Thread-safety: sink() may be written from any thread; the rest from the
// thread that created the Console.
#ifndef SKIFF_VMM_CONSOLE_H_
#define SKIFF_VMM_CONSOLE_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "base/event_fd.h"
#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "devices/legacy/output_sink.h"
#include "devices/legacy/serial_8250.h"
#include "devices/machine_control.h"
#include "vmm/terminal.h"
#include "vmm/vm_config.h"

namespace skiff {

class Console {
 public:
  // `stdin_fd` < 0 disables input (stdio mode only).
  static absl::StatusOr<std::unique_ptr<Console>> Create(
      const SerialConfig& config, int stdout_fd, int stdin_fd);
  ~Console();

  std::shared_ptr<devices::OutputSink> sink() const { return output_; }

  // Forwards input (stdin, or socket=PATH's client) to `serial` until
  // Stop() or end of input. Both must outlive the console's thread (Stop()
  // joins it). `on_thread_start` runs first on that thread (its seccomp
  // filter: poll, read, accept4, close).
  absl::Status StartInput(devices::Serial8250& serial,
                          devices::MachineControl& control,
                          std::function<void()> on_thread_start = nullptr);
  // Starts the output thread; `on_thread_start` runs first on it (its
  // seccomp filter: write, poll). Until then sink() writes synchronously.
  void StartOutput(std::function<void()> on_thread_start = nullptr);
  // Returns once what was written to sink() so far has gone out (or was
  // dropped).
  void Flush() { output_->Flush(); }
  // Ends input, then writes what output waits and ends the output thread.
  void Stop();

 private:
  class ClientSink;

  Console(std::shared_ptr<devices::AsyncSink> output, int stdin_fd,
          EventFd stop, UnixListener listener,
          std::shared_ptr<ClientSink> client_sink);
  void InputLoop(devices::Serial8250& serial, devices::MachineControl& control);
  void SocketLoop(devices::Serial8250& serial);

  const std::shared_ptr<devices::AsyncSink> output_;
  const int stdin_fd_;
  EventFd stop_;
  // socket=PATH only; removes the socket file with the console.
  UnixListener listener_;
  std::shared_ptr<ClientSink> client_sink_;
  std::unique_ptr<RawTerminal> raw_;
  std::thread input_thread_;
};

}  // namespace skiff

#endif  // SKIFF_VMM_CONSOLE_H_
