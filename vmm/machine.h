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

#include <functional>
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
#include "devices/legacy/i8042.h"
#include "devices/legacy/serial_8250.h"
#include "devices/machine_control.h"
#include "vmm/acpi/tables.h"
#include "vmm/boot/loader.h"
#include "vmm/bus_io.h"
#include "vmm/console.h"
#include "vmm/metrics.h"
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
    // SIGTERM in WaitForStop: Ctrl-Alt-Del, then this long for the guest to
    // reset or power off before the VM is stopped anyway. Zero: SIGTERM
    // stops at once, like SIGINT.
    absl::Duration shutdown_timeout = absl::Seconds(10);
    // Called once on the WaitForStop thread when the VM begins to stop
    // (SIGTERM/SIGINT, or the guest or a device stopping it), e.g. for
    // systemd's STOPPING=1.
    std::function<void()> on_stopping;
  };

  static absl::StatusOr<std::unique_ptr<Machine>> Create(
      const VmConfig& config, const Options& options);
  ~Machine() override;

  // Starts the vCPUs and the console.
  absl::Status Start();
  // Blocks until the guest or a device stops the VM, or a signal arrives on
  // `signal_fd` (a signalfd, or -1). Stops everything and returns the exit
  // status. SIGTERM is a graceful stop: Ctrl-Alt-Del (resuming a paused
  // VM), then Options::shutdown_timeout for the guest to reset; a second
  // SIGTERM, SIGINT or the timeout stops the VM at once (exit status 0).
  int WaitForStop(int signal_fd);

  // Lifecycle, from any one control thread (the API's) while the VM runs;
  // safe against a concurrent stop. Pause returns once every vCPU is parked
  // outside the guest and the devices are quiesced (VirtioDevices::Pause:
  // block requests in flight completed, no more RX into guest memory); guest
  // time keeps running, as in Firecracker. Resume restarts the devices, then
  // the vCPUs.
  void Pause() ABSL_LOCKS_EXCLUDED(control_mu_);
  void Resume() ABSL_LOCKS_EXCLUDED(control_mu_);
  bool paused() ABSL_LOCKS_EXCLUDED(control_mu_);
  // Firecracker's PATCH /drives path_on_host after boot
  // (VirtioDevices::UpdateDrivePath). Errors are one line naming the drive.
  absl::Status UpdateDrivePath(const std::string& drive_id,
                               const std::string& path)
      ABSL_LOCKS_EXCLUDED(control_mu_);
  // Presses and releases Ctrl-Alt-Del on the i8042 keyboard (what
  // Firecracker's SendCtrlAltDel does); Linux then reboots or signals init.
  // Fails when the guest disabled the keyboard or its buffer is full.
  absl::Status SendCtrlAltDel();

  void RequestStop(devices::StopReason reason, int exit_status) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // Confines the calling thread with the main-thread ("vmm") seccomp filter
  // of config.seccomp (vmm/seccomp_filter.h); nothing with kOff. Call after
  // Start on the thread that then calls WaitForStop and destroys the
  // Machine; that thread must not start threads or build VMs afterwards.
  absl::Status ConfineVmmThread();

  // Metrics (vmm/metrics.h, vmm/machine_metrics.cc): JSON lines to `path`
  // (a file or a FIFO with a reader) every VmConfig::metrics_period_s and on
  // FlushMetrics; replaces an earlier path. Create does this for
  // VmConfig::metrics_path. ConfigureMetrics starts a thread: call it
  // before the calling thread is confined. Any thread.
  absl::Status ConfigureMetrics(const std::string& path)
      ABSL_LOCKS_EXCLUDED(metrics_mu_);
  // Writes a line now; FailedPrecondition when no path is configured or
  // the VM has stopped (the last line is written as it stops).
  absl::Status FlushMetrics() ABSL_LOCKS_EXCLUDED(metrics_mu_);

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
  // `edge`: for edge-only device interrupts (an irqfd under KVM).
  absl::StatusOr<IrqLine*> CreateIrqLine(uint32_t gsi, bool edge = false);
  absl::Status CreateDevices();
  absl::Status CreateVirtioDevices();
  // ACPI tables and the MP table, describing vCPUs, interrupt routing and
  // the virtio devices created so far.
  absl::Status WritePlatformTables(bool in_kernel_irqchip,
                                   boot::LoadOptions& load);
  absl::Status LoadKernelAndCreateVcpus(bool in_kernel_irqchip);
  void StopAll();
  // Fills metrics_registry_ (machine_metrics.cc).
  void RegisterMetrics();
  // The last line at exit, then no more writer.
  void FinishMetrics() ABSL_LOCKS_EXCLUDED(metrics_mu_);
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
  InstructionClock* icount_clock_ = nullptr;  // clock_ under --icount
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
  std::shared_ptr<devices::I8042> i8042_;  // for SendCtrlAltDel
  std::vector<std::unique_ptr<VcpuThread>> vcpus_;
  EventFd stop_event_;

  absl::Mutex mu_;
  bool stop_requested_ ABSL_GUARDED_BY(mu_) = false;
  // Serializes Pause/Resume; separate from mu_, which a vCPU thread takes
  // in RequestStop while Pause waits for it to park.
  absl::Mutex control_mu_;
  bool paused_ ABSL_GUARDED_BY(control_mu_) = false;
  // StopAll shut the virtio devices down (under control_mu_, so a
  // lifecycle call never reaches a stopped event loop).
  bool devices_stopped_ ABSL_GUARDED_BY(control_mu_) = false;
  devices::StopReason stop_reason_ ABSL_GUARDED_BY(mu_) =
      devices::StopReason::kUser;
  int exit_status_ ABSL_GUARDED_BY(mu_) = 0;

  // Sources read the members above: declared last, destroyed first.
  MetricsRegistry metrics_registry_;
  absl::Mutex metrics_mu_;
  std::unique_ptr<MetricsWriter> metrics_writer_ ABSL_GUARDED_BY(metrics_mu_);
};

}  // namespace skiff

#endif  // SKIFF_VMM_MACHINE_H_
