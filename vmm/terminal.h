// RawTerminal puts a terminal into raw mode (no echo, no line editing, no
// signals from Ctrl-C: the guest gets every key) and restores it when it is
// destroyed, and also if the process dies from a fatal signal.
//
//   std::unique_ptr<RawTerminal> raw;
//   if (isatty(STDIN_FILENO)) SKIFF_ASSIGN_OR_RETURN(raw,
//   RawTerminal::Enable(STDIN_FILENO));
//
// The saved settings are process-wide state on purpose: the terminal is a
// process-wide resource and a signal handler must be able to reach them.
#ifndef SKIFF_VMM_TERMINAL_H_
#define SKIFF_VMM_TERMINAL_H_

#include <termios.h>

#include <memory>

#include "absl/status/statusor.h"

namespace skiff {

class RawTerminal {
 public:
  static absl::StatusOr<std::unique_ptr<RawTerminal>> Enable(int fd);
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  RawTerminal(int fd, const termios& saved) : fd_(fd), saved_(saved) {}
  int fd_;
  termios saved_;
};

}  // namespace skiff

#endif  // SKIFF_VMM_TERMINAL_H_
