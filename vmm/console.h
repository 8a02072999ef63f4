// Console connects the guest's serial port to the host: output to stdout, a
// file or nowhere (--serial), and, for stdio, input from stdin on a thread of
// its own. On a terminal stdin is switched to raw mode (restored on every
// exit path) and Ctrl-A x stops the VM.
//
//   SKIFF_ASSIGN_OR_RETURN(auto console, Console::Create(config.serial, 1, 0));
//   auto serial = std::make_shared<devices::Serial8250>(irq, console->sink());
//   SKIFF_RETURN_IF_ERROR(console->StartInput(*serial, machine));
#ifndef SKIFF_VMM_CONSOLE_H_
#define SKIFF_VMM_CONSOLE_H_

#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "base/event_fd.h"
#include "devices/legacy/output_sink.h"
#include "devices/legacy/serial_8250.h"
#include "devices/machine_control.h"
#include "vmm/terminal.h"
#include "vmm/vm_config.h"

namespace skiff {

class Console {
 public:
  // `stdin_fd` < 0 disables input.
  static absl::StatusOr<std::unique_ptr<Console>> Create(
      const SerialConfig& config, int stdout_fd, int stdin_fd);
  ~Console();

  std::shared_ptr<devices::OutputSink> sink() const { return sink_; }

  // Forwards input to `serial` until Stop() or end of input. Both must
  // outlive the console's input thread (Stop() joins it).
  // `on_thread_start` runs first on that thread (its seccomp filter).
  absl::Status StartInput(devices::Serial8250& serial,
                          devices::MachineControl& control,
                          std::function<void()> on_thread_start = nullptr);
  void Stop();

 private:
  Console(std::shared_ptr<devices::OutputSink> sink, int stdin_fd, EventFd stop)
      : sink_(std::move(sink)), stdin_fd_(stdin_fd), stop_(std::move(stop)) {}
  void InputLoop(devices::Serial8250& serial, devices::MachineControl& control);

  const std::shared_ptr<devices::OutputSink> sink_;
  const int stdin_fd_;
  EventFd stop_;
  std::unique_ptr<RawTerminal> raw_;
  std::thread input_thread_;
};

}  // namespace skiff

#endif  // SKIFF_VMM_CONSOLE_H_
