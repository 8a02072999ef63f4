#include "vmm/machine.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "devices/acpi/acpi_pm.h"
#include "devices/legacy/boot_timer.h"
#include "devices/legacy/cmos_rtc.h"
#include "devices/legacy/debug_exit.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/ignored_port.h"
#include "devices/legacy/offset_view.h"
#include "devices/legacy/serial_8250.h"
#include "vmm/accel.h"
#include "vmm/acpi/mptable.h"
#include "vmm/acpi/tables.h"
#include "vmm/boot/layout.h"
#include "vmm/boot/loader.h"
#include "vmm/round_robin_thread.h"
#include "vmm/seccomp_filter.h"

namespace skiff {
namespace {

constexpr char kDefaultCmdline[] =
    "console=ttyS0 reboot=k panic=-1 pci=off nomodule";

// Legacy ISA resources (the PC/AT layout every x86 OS expects).
constexpr uint16_t kCom1Port = 0x3f8;
constexpr uint32_t kCom1Gsi = 4;
constexpr uint16_t kI8042Port = 0x60;
constexpr uint32_t kKeyboardGsi = 1;
constexpr uint16_t kCmosPort = 0x70;
constexpr uint16_t kDebugExitPort = 0xf4;
constexpr uint16_t kPostPort = 0x80;   // POST codes
constexpr uint16_t kDelayPort = 0xed;  // I/O delay
constexpr uint64_t kBootTimerAddr = 0xc000'0000;
constexpr uint64_t kBootTimerSize = 0x1000;

}  // namespace

absl::StatusOr<std::unique_ptr<Machine>> Machine::Create(
    const VmConfig& config, const Options& options) {
  SKIFF_RETURN_IF_ERROR(config.Validate());
  SKIFF_ASSIGN_OR_RETURN(EventFd stop_event, EventFd::Create());
  std::unique_ptr<Machine> m(
      new Machine(config, options, std::move(stop_event)));

  GuestMemory::Options mem_options;
  mem_options.memfd = config.memory_shared;
  mem_options.hugetlbfs_dir = config.hugetlbfs_dir;
  SKIFF_ASSIGN_OR_RETURN(
      m->memory_,
      GuestMemory::Create(GuestMemory::X86Layout(config.memory_bytes),
                          mem_options));

  SKIFF_ASSIGN_OR_RETURN(BackendChoice choice,
                         CreateBackend(config, *m->memory_));
  m->backend_ = std::move(choice.backend);
  m->backend_reason_ = std::move(choice.reason);
  SKIFF_LOG(kInfo, "accel=%s reason=\"%s\"", std::string(m->backend_->name()),
            m->backend_reason_);

  SKIFF_RETURN_IF_ERROR(m->CreateInterruptController(choice.in_kernel_irqchip));
  SKIFF_RETURN_IF_ERROR(m->CreateDevices());
  SKIFF_RETURN_IF_ERROR(m->LoadKernelAndCreateVcpus(choice.in_kernel_irqchip));
  m->RegisterMetrics();
  if (!config.metrics_path.empty()) {
    SKIFF_RETURN_IF_ERROR(m->ConfigureMetrics(config.metrics_path));
  }
  return m;
}

Machine::~Machine() {
  StopAll();
  // The interrupt controller's timer thread calls Wake() on the vCPU
  // threads: stop it while they still exist.
  irqchip_.reset();
}

absl::Status Machine::CreateInterruptController(bool in_kernel_irqchip) {
  for (int i = 0; i < config_.vcpus; ++i) {
    io_.push_back(std::make_unique<BusIo>(pio_, mmio_));
  }
  if (in_kernel_irqchip) {
    if (config_.icount) {
      return absl::InvalidArgumentError(
          "--icount needs the interpreter (--accel tcg)");
    }
    return absl::OkStatus();
  }
  if (config_.icount) {
    // --icount: time is the instruction count; the vCPUs count into this
    // clock (LoadKernelAndCreateVcpus) and the round-robin thread fires
    // the timers, so there is no timer thread.
    auto clock = std::make_unique<InstructionClock>();
    icount_clock_ = clock.get();
    clock_ = std::move(clock);
  } else {
    clock_ = std::make_unique<MonotonicGuestClock>();
  }
  // The interpreter's RDTSC must count on the LAPIC timers' clock.
  backend_->SetGuestClock(*clock_);
  // The "timers" thread's filter. No MachineControl: the thread starts
  // while Create still fills vcpus_, which RequestStop reads; a failure is
  // logged, and ConfineVmmThread would fail the same way and stop the VM.
  auto timers_hook =
      SeccompHook(SeccompThread::kTimers, config_.seccomp, nullptr);
  SKIFF_ASSIGN_OR_RETURN(
      irqchip_, devices::UserspaceIrqChip::Create(
                    config_.vcpus, *clock_, *this,
                    config_.icount ? devices::TimerQueue::Mode::kManual
                                   : devices::TimerQueue::Mode::kThread,
                    std::move(timers_hook)));
  if (icount_clock_ != nullptr) {
    icount_clock_->set_deadline_source(
        [timers = &irqchip_->timers()] { return timers->NextDeadline(); });
  }
  SKIFF_RETURN_IF_ERROR(irqchip_->Attach(pio_, mmio_));
  for (int i = 0; i < config_.vcpus; ++i) {
    io_[i] = std::make_unique<BusIo>(pio_, mmio_, &irqchip_->lapic(i));
  }
  return absl::OkStatus();
}

absl::StatusOr<IrqLine*> Machine::CreateIrqLine(uint32_t gsi, bool edge) {
  std::unique_ptr<IrqLine> line;
  if (irqchip_ != nullptr) {
    SKIFF_ASSIGN_OR_RETURN(line, irqchip_->CreateIrqLine(gsi));
  } else {
    SKIFF_ASSIGN_OR_RETURN(line, edge ? backend_->CreateEdgeIrqLine(gsi)
                                      : backend_->CreateIrqLine(gsi));
  }
  irq_lines_.push_back(std::move(line));
  return irq_lines_.back().get();
}

absl::Status Machine::CreateDevices() {
  SKIFF_ASSIGN_OR_RETURN(
      console_,
      Console::Create(config_.serial, options_.stdout_fd, options_.stdin_fd));

  auto add_pio = [this](std::shared_ptr<devices::BusDevice> dev, uint64_t base,
                        uint64_t len) -> absl::Status {
    SKIFF_RETURN_IF_ERROR(pio_.Insert(dev, base, len));
    devices_.push_back(std::move(dev));
    return absl::OkStatus();
  };
  SKIFF_ASSIGN_OR_RETURN(IrqLine * com1_irq, CreateIrqLine(kCom1Gsi));
  serial_ = std::make_shared<devices::Serial8250>(com1_irq, console_->sink());
  SKIFF_RETURN_IF_ERROR(
      add_pio(serial_, kCom1Port, devices::Serial8250::kRegisterCount));

  SKIFF_ASSIGN_OR_RETURN(IrqLine * kbd_irq, CreateIrqLine(kKeyboardGsi));
  auto i8042 = std::make_shared<devices::I8042>(kbd_irq, *this);
  i8042_ = i8042;
  // Two one-port views: a single 0x60-0x64 range would swallow port 0x61.
  SKIFF_RETURN_IF_ERROR(
      add_pio(devices::OffsetView::Make(i8042, devices::I8042::kDataOffset),
              kI8042Port, 1));
  SKIFF_RETURN_IF_ERROR(
      add_pio(devices::OffsetView::Make(i8042, devices::I8042::kCommandOffset),
              kI8042Port + 4, 1));

  uint64_t below_4g = 0, above_4g = 0;
  for (const GuestMemory::Region& r : memory_->regions()) {
    (r.start.value() < kX86MmioGapEnd ? below_4g : above_4g) += r.size;
  }
  devices::CmosRtc::Clock rtc_clock = &absl::Now;
  if (icount_clock_ != nullptr) {
    // --icount: the date starts at the clock's fixed epoch.
    rtc_clock = [clock = icount_clock_] {
      return absl::FromUnixNanos(clock->WallClockAtZeroNs()) +
             absl::Nanoseconds(static_cast<int64_t>(clock->NowNs()));
    };
  }
  SKIFF_RETURN_IF_ERROR(add_pio(std::make_shared<devices::CmosRtc>(
                                    below_4g, above_4g, std::move(rtc_clock)),
                                kCmosPort, 2));
  SKIFF_RETURN_IF_ERROR(
      add_pio(std::make_shared<devices::DebugExit>(*this), kDebugExitPort, 4));
  auto ignored = std::make_shared<devices::IgnoredPort>();
  SKIFF_RETURN_IF_ERROR(add_pio(ignored, kPostPort, 1));
  SKIFF_RETURN_IF_ERROR(add_pio(ignored, kDelayPort, 1));
  SKIFF_RETURN_IF_ERROR(add_pio(std::make_shared<devices::AcpiPm>(*this),
                                devices::AcpiPm::kDefaultPortBase,
                                devices::AcpiPm::kPortCount));

  auto boot_timer = std::make_shared<devices::BootTimer>(
      options_.process_start, [](absl::Duration, absl::Duration) {});
  SKIFF_RETURN_IF_ERROR(
      mmio_.Insert(boot_timer, kBootTimerAddr, kBootTimerSize));
  devices_.push_back(std::move(boot_timer));
  return CreateVirtioDevices();
}

absl::Status Machine::CreateVirtioDevices() {
  if (config_.disks.empty() && config_.nets.empty() && !config_.vsock.enabled &&
      !config_.rng) {
    return absl::OkStatus();
  }
  // Named: a FunctionRef must not outlive the callable it refers to.
  auto create_irq = [this](uint32_t gsi) {
    return CreateIrqLine(gsi, /*edge=*/true);
  };
  VirtioDevices::Env env{.memory = *memory_,
                         .mmio = mmio_,
                         .backend = *backend_,
                         .create_irq = create_irq};
  SKIFF_ASSIGN_OR_RETURN(virtio_, VirtioDevices::Create(config_, env));
  platform_virtio_ = virtio_->windows();
  return absl::OkStatus();
}

absl::Status Machine::WritePlatformTables(bool in_kernel_irqchip,
                                          boot::LoadOptions& load) {
  // The PIT's IRQ0 reaches IOAPIC pin 2 on the userspace interrupt
  // controller, as on PC hardware; KVM's default GSI routing wires it to
  // pin 0.
  const uint32_t irq0_gsi = in_kernel_irqchip ? 0 : 2;
  acpi::PlatformConfig platform;
  platform.num_vcpus = config_.vcpus;
  platform.irq0_gsi = irq0_gsi;
  platform.virtio = platform_virtio_;
  platform.virtio_level_triggered = false;
  SKIFF_ASSIGN_OR_RETURN(
      acpi::AcpiLayout acpi,
      acpi::WriteAcpiTables(*memory_, platform, boot::kAcpiTablesAddr));
  load.rsdp_addr = acpi.rsdp_addr;
  load.extra_reserved = acpi.e820_reserved;
  // The MP table serves kernels without ACPI (or booted with acpi=off); it
  // holds up to kMaxMpTableVcpus processors, and ACPI alone describes more.
  if (config_.vcpus <= acpi::kMaxMpTableVcpus) {
    acpi::MpTableConfig mp;
    mp.num_vcpus = config_.vcpus;
    mp.irq0_pin = static_cast<uint8_t>(irq0_gsi);
    for (const acpi::VirtioMmioDevice& d : platform_virtio_) {
      if (d.gsi >= 16) mp.extra_irqs.push_back(static_cast<uint8_t>(d.gsi));
    }
    SKIFF_RETURN_IF_ERROR(acpi::WriteMpTable(*memory_, mp, boot::kMpTableAddr));
  }
  return absl::OkStatus();
}

absl::Status Machine::LoadKernelAndCreateVcpus(bool in_kernel_irqchip) {
  boot::LoadOptions load;
  load.kernel_path = config_.kernel_path;
  load.initrd_path = config_.initrd_path;
  load.cmdline = config_.cmdline_set ? config_.cmdline : kDefaultCmdline;
  // Guests find virtio devices in the ACPI DSDT; a kernel told to ignore
  // ACPI needs them on its command line (an ACPI kernel given both would
  // probe each device twice).
  if (virtio_ != nullptr && absl::StrContains(load.cmdline, "acpi=off")) {
    load.cmdline += virtio_->CmdlineDevices();
  }
  SKIFF_RETURN_IF_ERROR(WritePlatformTables(in_kernel_irqchip, load));
  SKIFF_ASSIGN_OR_RETURN(boot::BootSetup boot,
                         boot::LoadKernel(*memory_, load));
  boot_protocol_ = boot.protocol;
  SKIFF_LOG(kInfo, "kernel=%s protocol=%s entry=0x%x", config_.kernel_path,
            boot.protocol, boot.entry);

  // --tcg-threads single: the interpreter's vCPUs take turns on one thread.
  // --icount: the same, deterministically (vmm/round_robin_thread.h).
  std::shared_ptr<RoundRobinThread> shared_thread;
  if (icount_clock_ != nullptr) {
    RoundRobinThread::Icount icount;
    icount.clock = icount_clock_;
    icount.timers = &irqchip_->timers();
    icount.vcpus = config_.vcpus;
    shared_thread = std::make_shared<RoundRobinThread>(
        RoundRobinThread::kDefaultSliceInstructions, icount);
  } else if (config_.tcg_single_thread && backend_->name() == "tcg") {
    shared_thread = std::make_shared<RoundRobinThread>();
  }
  if (shared_thread != nullptr) {
    shared_thread->SetThreadStartHook(
        SeccompHook(SeccompThread::kVcpu, config_.seccomp, this));
  }
  for (int i = 0; i < config_.vcpus; ++i) {
    SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<VcpuBackend> vcpu,
                           backend_->CreateVcpu(i));
    VcpuThread::Options vopts;
    vopts.shared_thread = shared_thread;
    vopts.on_thread_start =
        SeccompHook(SeccompThread::kVcpu, config_.seccomp, this);
    if (!config_.affinity.empty()) vopts.affinity = config_.affinity[i];
    if (i == 0) {
      SKIFF_RETURN_IF_ERROR(vcpu->ResetFpu());
      SKIFF_RETURN_IF_ERROR(vcpu->SetSregs(boot.sregs));
      SKIFF_RETURN_IF_ERROR(vcpu->SetRegs(boot.regs));
    } else {
      // Application processors wait for INIT/SIPI; KVM's in-kernel LAPIC
      // models that wait itself.
      vopts.wait_for_sipi = !in_kernel_irqchip;
    }
    if (irqchip_ != nullptr) {
      SKIFF_RETURN_IF_ERROR(vcpu->SetInterruptSource(&irqchip_->lapic(i)));
    }
    if (icount_clock_ != nullptr) {
      SKIFF_RETURN_IF_ERROR(vcpu->SetInstructionClock(*icount_clock_));
    }
    vcpus_.push_back(
        std::make_unique<VcpuThread>(std::move(vcpu), *io_[i], *this, vopts));
  }
  return absl::OkStatus();
}

absl::Status Machine::Start() {
  // The moment the guest is let run, for boot benchmarks (skiff-bench).
  SKIFF_LOG(kInfo, "vcpu0 first guest entry after_us=%d",
            absl::ToInt64Microseconds(absl::Now() - options_.process_start));
  if (virtio_ != nullptr) SKIFF_RETURN_IF_ERROR(virtio_->Start());
  // Guest output goes out from a thread of its own, which writes like the
  // I/O loop does: same filter.
  console_->StartOutput(SeccompHook(SeccompThread::kIo, config_.seccomp, this));
  for (auto& v : vcpus_) SKIFF_RETURN_IF_ERROR(v->Start());
  // The console thread feeds a device like the I/O loop does: same filter.
  return console_->StartInput(
      *serial_, *this, SeccompHook(SeccompThread::kIo, config_.seccomp, this));
}

VcpuThread* Machine::VcpuAt(int cpu) {
  if (cpu < 0 || cpu >= static_cast<int>(vcpus_.size())) return nullptr;
  return vcpus_[cpu].get();
}

void Machine::Wake(int cpu) {
  if (VcpuThread* v = VcpuAt(cpu)) v->Wake();
}

void Machine::InitCpu(int cpu) {
  if (VcpuThread* v = VcpuAt(cpu)) v->Init();
}

void Machine::StartCpu(int cpu, uint8_t vector) {
  if (VcpuThread* v = VcpuAt(cpu)) v->StartUp(vector);
}

void Machine::RequestStop(devices::StopReason reason, int exit_status) {
  {
    absl::MutexLock lock(&mu_);
    if (stop_requested_) return;
    stop_requested_ = true;
    stop_reason_ = reason;
    exit_status_ = exit_status;
  }
  // What the guest printed before it asked to stop comes before the line
  // that says so.
  if (console_ != nullptr) console_->Flush();
  SKIFF_LOG(kInfo, "stopping reason=%s status=%d",
            std::string(devices::StopReasonName(reason)), exit_status);
  for (auto& v : vcpus_) v->Stop();
  stop_event_.Signal();
}

int Machine::WaitForStop(int signal_fd) {
  bool stopping_reported = false;
  auto report_stopping = [&] {
    if (stopping_reported || !options_.on_stopping) return;
    stopping_reported = true;
    options_.on_stopping();
  };
  // Set while a SIGTERM's Ctrl-Alt-Del waits for the guest to reset.
  absl::Time graceful_deadline = absl::InfiniteFuture();
  for (;;) {
    int timeout_ms = -1;
    if (graceful_deadline != absl::InfiniteFuture()) {
      timeout_ms = static_cast<int>(std::max<int64_t>(
          0, absl::ToInt64Milliseconds(graceful_deadline - absl::Now()) + 1));
    }
    pollfd fds[2] = {{stop_event_.fd(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
    int n = ::poll(fds, signal_fd >= 0 ? 2 : 1, timeout_ms);
    if (n < 0) continue;
    if (fds[0].revents != 0) break;
    if (n == 0 && absl::Now() >= graceful_deadline) {
      SKIFF_LOG(kWarn, "guest did not stop within %s of Ctrl-Alt-Del, stopping",
                absl::FormatDuration(options_.shutdown_timeout));
      RequestStop(devices::StopReason::kSignal, 0);
      continue;
    }
    if (signal_fd >= 0 && fds[1].revents != 0) {
      signalfd_siginfo info;
      if (::read(signal_fd, &info, sizeof(info)) != sizeof(info)) continue;
      report_stopping();
      const bool graceful = info.ssi_signo == SIGTERM &&
                            options_.shutdown_timeout > absl::ZeroDuration() &&
                            graceful_deadline == absl::InfiniteFuture();
      if (graceful) {
        Resume();  // a paused guest could not react
        absl::Status st = SendCtrlAltDel();
        if (st.ok()) {
          SKIFF_LOG(kInfo, "received SIGTERM: sent Ctrl-Alt-Del, waiting %s",
                    absl::FormatDuration(options_.shutdown_timeout));
          graceful_deadline = absl::Now() + options_.shutdown_timeout;
          continue;
        }
        SKIFF_LOG(kInfo, "received SIGTERM, %s: stopping the VM",
                  std::string(st.message()));
      } else {
        SKIFF_LOG(kInfo, "received signal %d, stopping the VM", info.ssi_signo);
      }
      RequestStop(devices::StopReason::kSignal, 0);
    }
  }
  report_stopping();
  StopAll();
  if (icount_clock_ != nullptr && GetLogLevel() != LogLevel::kOff) {
    // Shown at any log level but off: comparing runs is why --icount exists.
    LogMessage(
        LogLevel::kInfo,
        absl::StrFormat("icount instructions=%d virtual_ns=%d",
                        icount_clock_->instructions(), icount_clock_->NowNs()));
  }
  absl::MutexLock lock(&mu_);
  return exit_status_;
}

void Machine::Pause() {
  absl::MutexLock lock(&control_mu_);
  if (paused_) return;
  paused_ = true;
  // VcpuThread::Pause returns once that vCPU is parked (or has stopped).
  for (auto& v : vcpus_) v->Pause();
  // Then the devices: no vCPU can notify a queue any more.
  if (virtio_ != nullptr && !devices_stopped_) virtio_->Pause();
  SKIFF_LOG(kInfo, "paused");
}

void Machine::Resume() {
  absl::MutexLock lock(&control_mu_);
  if (!paused_) return;
  paused_ = false;
  if (virtio_ != nullptr && !devices_stopped_) virtio_->Resume();
  for (auto& v : vcpus_) v->Resume();
  SKIFF_LOG(kInfo, "resumed");
}

absl::Status Machine::UpdateDrivePath(const std::string& drive_id,
                                      const std::string& path) {
  absl::MutexLock lock(&control_mu_);
  if (virtio_ == nullptr || devices_stopped_) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "drive %s: the microVM has no such disk running", drive_id));
  }
  return virtio_->UpdateDrivePath(drive_id, path);
}

bool Machine::paused() {
  absl::MutexLock lock(&control_mu_);
  return paused_;
}

absl::Status Machine::SendCtrlAltDel() {
  if (i8042_ == nullptr || !i8042_->InjectCtrlAltDel()) {
    return absl::FailedPreconditionError(
        "the guest's keyboard is disabled or not reading its input");
  }
  return absl::OkStatus();
}

void Machine::StopAll() {
  for (auto& v : vcpus_) v->Stop();
  for (auto& v : vcpus_) v->Join();
  // The last metrics line, while the devices it reads still exist.
  FinishMetrics();
  // Devices after the vCPUs: no guest access can reach them any more.
  {
    absl::MutexLock lock(&control_mu_);
    devices_stopped_ = true;
    if (virtio_ != nullptr) virtio_->Shutdown();
  }
  if (console_ != nullptr) console_->Stop();
}

}  // namespace skiff
