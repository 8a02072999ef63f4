#include "vmm/accel.h"

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_vm.h"
#include "kvm/probe.h"
#include "tcg/tcg_vm.h"

namespace skiff {
namespace {

absl::StatusOr<BackendChoice> CreateKvm(const VmConfig& config,
                                        const GuestMemory& memory,
                                        std::string reason) {
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<kvm::KvmSystem> system,
                         kvm::KvmSystem::Create());
  kvm::KvmVm::Options options;
  options.num_vcpus = config.vcpus;
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<kvm::KvmVm> vm,
                         kvm::KvmVm::Create(*system, memory, options));
  return BackendChoice{std::move(vm), std::move(reason), true};
}

absl::StatusOr<BackendChoice> CreateTcg(const VmConfig& config,
                                        const GuestMemory& memory,
                                        std::string reason) {
  tcg::TcgOptions options;
  options.num_vcpus = config.vcpus;
  options.jit = config.tcg_jit;
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<tcg::TcgVm> vm,
                         tcg::TcgVm::Create(memory, options));
  return BackendChoice{std::move(vm), std::move(reason), false};
}

}  // namespace

absl::StatusOr<BackendChoice> CreateBackend(const VmConfig& config,
                                            const GuestMemory& memory) {
  switch (config.accel) {
    case Accel::kKvm:
      return CreateKvm(config, memory, "--accel kvm");
    case Accel::kTcg:
      return CreateTcg(config, memory, "--accel tcg");
    case Accel::kAuto:
      break;
  }
  // auto: KVM only where it can run what a microVM runs, Linux; the probe
  // runs a tiny guest that does what every Linux kernel does early (INT3 at
  // CPL0, HOST-KVM.md).
  SKIFF_ASSIGN_OR_RETURN(kvm::ProbeResult probe, kvm::ProbeCanRunLinux());
  if (probe.can_run_linux) {
    return CreateKvm(config, memory, "auto: KVM can run Linux on this host");
  }
  return CreateTcg(config, memory, "auto: " + probe.reason);
}

std::string DescribeHostAccel() {
  std::string out;
  absl::Status usable = kvm::ProbeKvmUsable();
  if (usable.ok()) {
    out += "kvm=usable\n";
  } else {
    absl::StrAppendFormat(&out, "kvm=unusable reason=\"%s\"\n",
                          std::string(usable.message()));
  }
  absl::StatusOr<kvm::ProbeResult> probe = kvm::ProbeCanRunLinux();
  if (!probe.ok()) {
    absl::StrAppendFormat(&out, "linux=unknown reason=\"%s\"\n",
                          std::string(probe.status().message()));
  } else if (probe->can_run_linux) {
    out += "linux=yes\n";
  } else {
    absl::StrAppendFormat(&out, "linux=no reason=\"%s\"\n", probe->reason);
  }
  out += "tcg=available\n";
  return out;
}

}  // namespace skiff
