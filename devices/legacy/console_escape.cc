#include "devices/legacy/console_escape.h"

namespace skiff::devices {

ConsoleEscape::Result ConsoleEscape::Feed(absl::Span<const uint8_t> input) {
  Result result;
  result.to_guest.reserve(input.size() + 1);
  for (uint8_t b : input) {
    if (!escape_pending_) {
      if (b == kEscape) {
        escape_pending_ = true;
      } else {
        result.to_guest.push_back(b);
      }
      continue;
    }
    escape_pending_ = false;
    if (b == kQuit) {
      result.quit = true;
      return result;
    }
    result.to_guest.push_back(kEscape);
    if (b != kEscape) result.to_guest.push_back(b);
  }
  return result;
}

}  // namespace skiff::devices
