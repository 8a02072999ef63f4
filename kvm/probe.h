// Probes that tell vmm/ and the test suites what this host's KVM can do,
// quickly (well under 100 ms when KVM works) and without side effects.
//
//   SKIFF_ASSIGN_OR_RETURN(ProbeResult probe, ProbeCanRunLinux());
//   if (!probe.can_run_linux) GTEST_SKIP() << probe.reason;
//
// ProbeCanRunLinux runs a tiny guest in 64-bit mode at CPL0 that executes
// INT3 and must reach its #BP handler, which writes kProbeMarker to port
// kProbePort and halts. Every Linux kernel executes INT3 at CPL0 early in
// boot (the alternatives self-test), and the shadow-paging KVM some of our
// machines have (/work/shared/HOST-KVM.md) cannot emulate it, so that
// machine fails the probe with a reason saying so instead of hanging a boot.
#ifndef SKIFF_KVM_PROBE_H_
#define SKIFF_KVM_PROBE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/vcpu_backend.h"
#include "kvm/kvm_ops.h"

namespace skiff::kvm {

inline constexpr uint16_t kProbePort = 0xe9;
inline constexpr uint8_t kProbeMarker = 0x03;  // the #BP vector

struct ProbeResult {
  bool can_run_linux = false;
  // Why not (empty when can_run_linux), e.g. "no /dev/kvm: ..." or "KVM
  // cannot emulate INT3 at CPL0 (...): internal error reason=17 ...".
  std::string reason;
};

// OK when `path` opens as a usable KVM and a VM (with irqchip) and a vCPU can
// be created; otherwise the error saying why (KvmSystem's messages).
absl::Status ProbeKvmUsable(const std::string& path = "/dev/kvm",
                            KvmOps& ops = KvmOps::Real());

// A non-OK status only for failures unrelated to KVM (e.g. out of memory);
// everything KVM-related is an answer with a reason.
absl::StatusOr<ProbeResult> ProbeCanRunLinux(
    const std::string& path = "/dev/kvm", KvmOps& ops = KvmOps::Real());

// How ProbeCanRunLinux judges the guest's run: `exit` is how Run() ended and
// `saw_marker` whether the #BP handler's port write arrived.
ProbeResult InterpretProbeExit(const VcpuExit& exit, bool saw_marker);

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_PROBE_H_
