// Chooses and creates the vCPU backend for --accel: KVM, the tcg
// interpreter, or (auto) KVM when the host's KVM can run a Linux guest and
// tcg otherwise, with a one-line reason either way.
//
//   SKIFF_ASSIGN_OR_RETURN(BackendChoice b, CreateBackend(config, memory));
//   SKIFF_LOG(kInfo, "accel=%s (%s)", b.backend->name(), b.reason);
#ifndef SKIFF_VMM_ACCEL_H_
#define SKIFF_VMM_ACCEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/guest_memory.h"
#include "base/vcpu_backend.h"
#include "vmm/vm_config.h"

namespace skiff {

struct BackendChoice {
  std::unique_ptr<VmBackend> backend;
  std::string reason;
  // The backend emulates the interrupt controllers and starts application
  // processors itself (KVM's in-kernel irqchip).
  bool in_kernel_irqchip = false;
};

absl::StatusOr<BackendChoice> CreateBackend(const VmConfig& config,
                                            const GuestMemory& memory);

// What `skiff probe` prints: key=value lines about this host's KVM.
std::string DescribeHostAccel();

}  // namespace skiff

#endif  // SKIFF_VMM_ACCEL_H_
