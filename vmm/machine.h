// Machine assembles and runs one microVM from a VmConfig: guest memory, the
// backend (KVM or tcg), buses and legacy devices, the kernel, vCPU threads
// and the console. It is the MachineControl devices use to stop the VM.
//
//   SKIFF_ASSIGN_OR_RETURN(auto machine, Machine::Create(config, {}));
//   SKIFF_RETURN_IF_ERROR(machine->Start());
//   int status = machine->WaitForStop(signal_fd);
//
// Thread-safety: RequestStop may be called from any thread; everything else
// from the thread that created the Machine.
#ifndef SKIFF_VMM_MACHINE_H_
#define SKIFF_VMM_MACHINE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/event_fd.h"
#include "base/guest_clock.h"
#include "base/guest_memory.h"
#include "base/vcpu_backend.h"
#include "devices/bus.h"
#include "devices/irqchip/cpu_control.h"
#include "devices/irqchip/irqchip.h"
#include "devices/legacy/serial_8250.h"
#include "devices/machine_control.h"
#include "vmm/acpi/tables.h"
#include "vmm/boot/loader.h"
#include "vmm/bus_io.h"
#include "vmm/console.h"
#include "vmm/vcpu_thread.h"
#include "vmm/virtio_devices.h"
#include "vmm/vm_config.h"

namespace skiff {

class Machine final : public devices::MachineControl,
                      public devices::CpuControl {
 public:
  struct Options {
    // When the process started, for the boot-timer device.
    absl::Time process_start = absl::Now();
    // Where --serial stdio writes, and where console input comes from
    // (-1: no input).
    int stdout_fd = 1;
    int stdin_fd = 0;
  };

  static absl::StatusOr<std::unique_ptr<Machine>> Create(
      const VmConfig& config, const Options& options);
  ~Machine() override;

  // Starts the vCPUs and the console.
  absl::Status Start();
  // Blocks until the guest or a device stops the VM, or a signal arrives on
  // `signal_fd` (a signalfd, or -1). Stops everything and returns the exit
  // status.
  int WaitForStop(int signal_fd);

  void RequestStop(devices::StopReason reason, int exit_status) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // devices::CpuControl, for the userspace interrupt controller.
  void Wake(int cpu) override;
  void InitCpu(int cpu) override;
  void StartCpu(int cpu, uint8_t vector) override;

  std::string_view backend_name() const { return backend_->name(); }
  // Why that backend was chosen, one line.
  const std::string& backend_reason() const { return backend_reason_; }
  const std::string& boot_protocol() const { return boot_protocol_; }
  devices::Bus& pio_bus() { return pio_; }
  devices::Bus& mmio_bus() { return mmio_; }
  const GuestMemory& memory() const { return *memory_; }

 private:
  Machine(const VmConfig& config, const Options& options, EventFd stop_event)
      : config_(config),
        options_(options),
        stop_event_(std::move(stop_event)) {}

  absl::Status CreateInterruptController(bool in_kernel_irqchip);
  absl::StatusOr<IrqLine*> CreateIrqLine(uint32_t gsi);
  absl::Status CreateDevices();
  absl::Status CreateVirtioDevices();
  // ACPI tables and the MP table, describing vCPUs, interrupt routing and
  // the virtio devices created so far.
  absl::Status WritePlatformTables(bool in_kernel_irqchip,
                                   boot::LoadOptions& load);
  absl::Status LoadKernelAndCreateVcpus(bool in_kernel_irqchip);
  void StopAll();
  // The vCPU with that index, or null for an index the guest made up.
  VcpuThread* VcpuAt(int cpu);

  // Constant after Create.
  const VmConfig config_;
  const Options options_;
  std::unique_ptr<GuestMemory> memory_;
  std::unique_ptr<VmBackend> backend_;
  std::string backend_reason_;
  std::string boot_protocol_;
  devices::Bus pio_{"pio"};
  devices::Bus mmio_{"mmio"};
  // Without an in-kernel irqchip: the userspace one and its clock.
  std::unique_ptr<GuestClock> clock_;
  std::unique_ptr<devices::UserspaceIrqChip> irqchip_;
  std::vector<std::unique_ptr<BusIo>> io_;  // one per vCPU
  std::vector<std::shared_ptr<devices::BusDevice>> devices_;
  std::vector<std::unique_ptr<IrqLine>> irq_lines_;
  // virtio-mmio windows and GSIs, for the ACPI DSDT and the command line.
  std::vector<acpi::VirtioMmioDevice> platform_virtio_;
  // The virtio devices and their event loop; null without any.
  std::unique_ptr<VirtioDevices> virtio_;
  std::unique_ptr<Console> console_;
  std::shared_ptr<devices::Serial8250> serial_;
  std::vector<std::unique_ptr<VcpuThread>> vcpus_;
  EventFd stop_event_;

  absl::Mutex mu_;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  devices::StopReason stop_reason_ ABSL_GUARDED_BY(mu_) =
      devices::StopReason::kUser;
  int exit_status_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace skiff

#endif  // SKIFF_VMM_MACHINE_H_
