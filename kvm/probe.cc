#include "kvm/probe.h"

#include <atomic>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_vm.h"
#include "kvm/tiny_guest.h"

namespace skiff::kvm {
namespace {

// At kTinyCode:           int3; 1: hlt; jmp 1b
// At kTinyCode + 0x100:   mov al, kProbeMarker; out kProbePort, al;
//                         2: hlt; jmp 2b
constexpr uint8_t kEntry[] = {0xcc, 0xf4, 0xeb, 0xfd};
constexpr uint8_t kBpHandler[] = {0xb0, kProbeMarker, 0xe6, kProbePort,
                                  0xf4, 0xeb,         0xfd};
constexpr uint64_t kBpHandlerAddr = kTinyCode + 0x100;

// Generous: the guest runs a handful of instructions, but real mode and
// CPL0 code are emulated on shadow-paging hosts.
constexpr absl::Duration kProbeTimeout = absl::Seconds(2);

class ProbeIo : public VcpuIo {
 public:
  void PioRead(uint16_t, absl::Span<uint8_t> data) override {
    for (uint8_t& b : data) b = 0xff;
  }
  void PioWrite(uint16_t port, absl::Span<const uint8_t> data) override {
    if (port == kProbePort && data.size() == 1 && data[0] == kProbeMarker) {
      saw_marker.store(true);
    }
  }
  void MmioRead(uint64_t, absl::Span<uint8_t> data) override {
    for (uint8_t& b : data) b = 0xff;
  }
  void MmioWrite(uint64_t, absl::Span<const uint8_t>) override {}
  std::atomic<bool> saw_marker{false};
};

ProbeResult No(std::string reason) {
  return ProbeResult{false, std::move(reason)};
}

}  // namespace

absl::Status ProbeKvmUsable(const std::string& path, KvmOps& ops) {
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<KvmSystem> kvm,
                         KvmSystem::Create(path, ops));
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<GuestMemory> memory,
                         CreateTinyGuestMemory());
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<KvmVm> vm,
                         KvmVm::Create(*kvm, *memory, {.num_vcpus = 1}));
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<VcpuBackend> vcpu, vm->CreateVcpu(0));
  return absl::OkStatus();
}

ProbeResult InterpretProbeExit(const VcpuExit& exit, bool saw_marker) {
  if (exit.kind == VcpuExit::Kind::kHalt && saw_marker) {
    return ProbeResult{true, ""};
  }
  const std::string what = DescribeVcpuExit(exit);
  switch (exit.kind) {
    case VcpuExit::Kind::kInternalError:
      return No(absl::StrCat(
          "KVM cannot emulate INT3 at CPL0 (shadow-paging KVM without "
          "hardware virtualization, see HOST-KVM.md): ",
          what));
    case VcpuExit::Kind::kShutdown:
      return No(absl::StrCat(
          "KVM could not deliver #BP at CPL0 (the probe guest shut down): ",
          what));
    case VcpuExit::Kind::kInterrupted:
      return No(absl::StrCat("the KVM probe guest did not finish within ",
                             absl::FormatDuration(kProbeTimeout)));
    case VcpuExit::Kind::kHalt:
      return No(
          "the KVM probe guest halted without reaching its #BP handler "
          "(INT3 at CPL0 was skipped or mis-emulated)");
    default:
      return No(
          absl::StrCat("the KVM probe guest stopped unexpectedly: ", what));
  }
}

absl::StatusOr<ProbeResult> ProbeCanRunLinux(const std::string& path,
                                             KvmOps& ops) {
  absl::StatusOr<std::unique_ptr<KvmSystem>> kvm = KvmSystem::Create(path, ops);
  if (!kvm.ok()) return No(std::string(kvm.status().message()));
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<GuestMemory> memory,
                         CreateTinyGuestMemory());
  SKIFF_RETURN_IF_ERROR(WriteLongModeTables(*memory));
  SKIFF_RETURN_IF_ERROR(memory->Write(GuestAddr(kTinyCode), kEntry));
  SKIFF_RETURN_IF_ERROR(memory->Write(GuestAddr(kBpHandlerAddr), kBpHandler));
  SKIFF_RETURN_IF_ERROR(SetIdtGate(*memory, 3, kBpHandlerAddr));

  // No irqchip: HLT must come back to us as an exit.
  auto vm = KvmVm::Create(**kvm, *memory, {.num_vcpus = 1, .irqchip = false});
  if (!vm.ok()) {
    return No(absl::StrCat("KVM VM creation failed: ",
                           std::string(vm.status().message())));
  }
  auto vcpu = (*vm)->CreateKvmVcpu(0);
  if (!vcpu.ok()) {
    return No(absl::StrCat("KVM vCPU creation failed: ",
                           std::string(vcpu.status().message())));
  }
  if (absl::Status s = EnterLongMode(**vcpu, kTinyCode, kTinyStackTop);
      !s.ok()) {
    return No(absl::StrCat("KVM refused 64-bit mode state: ",
                           std::string(s.message())));
  }

  // A watchdog so that a host that loops the guest forever cannot hang us.
  absl::Notification done;
  std::atomic<bool> timed_out{false};
  KvmVcpu* raw_vcpu = vcpu->get();
  std::thread watchdog([&done, &timed_out, raw_vcpu] {
    if (!done.WaitForNotificationWithTimeout(kProbeTimeout)) {
      timed_out.store(true);
      raw_vcpu->Kick();
    }
  });
  absl::Cleanup stop_watchdog = [&] {
    if (!done.HasBeenNotified()) done.Notify();
    watchdog.join();
  };

  ProbeIo io;
  for (;;) {
    absl::StatusOr<VcpuExit> exit = (*vcpu)->Run(io);
    if (!exit.ok()) {
      return No(absl::StrCat("KVM_RUN failed: ",
                             std::string(exit.status().message())));
    }
    // A signal meant for someone else interrupts too; only the watchdog's
    // kick ends the probe.
    if (exit->kind == VcpuExit::Kind::kInterrupted && !timed_out.load()) {
      continue;
    }
    return InterpretProbeExit(*exit, io.saw_marker.load());
  }
}

}  // namespace skiff::kvm
