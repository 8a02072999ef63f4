// What a device may ask of the machine it is part of, without seeing it:
// stop the VM (reset line, power-off, debug-exit port) with an exit status.
//
//   control.RequestStop(StopReason::kReset, 0);
#ifndef SKIFF_DEVICES_MACHINE_CONTROL_H_
#define SKIFF_DEVICES_MACHINE_CONTROL_H_

#include <string_view>

namespace skiff::devices {

enum class StopReason {
  kReset,      // the guest reset the machine (i8042 0xFE, triple fault off)
  kPowerOff,   // ACPI S5 or another power-off request
  kDebugExit,  // a write to the isa-debug-exit compatible port
  kShutdown,   // triple fault
  kError,      // the VMM failed
  kSignal,     // SIGTERM / SIGINT
  kUser,       // the console escape key or an API request
};

std::string_view StopReasonName(StopReason reason);

class MachineControl {
 public:
  virtual ~MachineControl() = default;
  // Thread-safe. The first request wins; `exit_status` becomes the
  // process's exit status.
  virtual void RequestStop(StopReason reason, int exit_status) = 0;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_MACHINE_CONTROL_H_
