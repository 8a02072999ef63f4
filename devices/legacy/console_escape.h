// Recognises the console escape in bytes read from a raw terminal: Ctrl-A x
// quits the VM, Ctrl-A Ctrl-A sends one literal Ctrl-A to the guest, and
// Ctrl-A followed by any other byte sends both bytes. (QEMU's -serial stdio
// uses the same keys.) Pure logic: the raw terminal itself lives in vmm/.
//
//   ConsoleEscape escape;
//   ConsoleEscape::Result r = escape.Feed(bytes_from_stdin);
//   uart->QueueInput(r.to_guest);
//   if (r.quit) control.RequestStop(StopReason::kUser, 0);
//
// A Ctrl-A at the end of one Feed() is held until the next one decides what
// it meant. Not thread-safe: one input thread owns it.
#ifndef SKIFF_DEVICES_LEGACY_CONSOLE_ESCAPE_H_
#define SKIFF_DEVICES_LEGACY_CONSOLE_ESCAPE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace skiff::devices {

class ConsoleEscape {
 public:
  static constexpr uint8_t kEscape = 0x01;  // Ctrl-A
  static constexpr uint8_t kQuit = 'x';

  struct Result {
    std::vector<uint8_t> to_guest;
    // The quit sequence was seen; bytes after it were discarded.
    bool quit = false;
  };

  Result Feed(absl::Span<const uint8_t> input);

  // True while a Ctrl-A waits for the byte that follows it.
  bool escape_pending() const { return escape_pending_; }

 private:
  bool escape_pending_ = false;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_LEGACY_CONSOLE_ESCAPE_H_
