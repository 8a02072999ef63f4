#include "devices/machine_control.h"

namespace skiff::devices {

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kReset:
      return "reset";
    case StopReason::kPowerOff:
      return "power-off";
    case StopReason::kDebugExit:
      return "debug-exit";
    case StopReason::kShutdown:
      return "shutdown";
    case StopReason::kError:
      return "error";
    case StopReason::kSignal:
      return "signal";
    case StopReason::kUser:
      return "user";
  }
  return "unknown";
}

}  // namespace skiff::devices
