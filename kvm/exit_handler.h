// Decodes one KVM_RUN exit from the vCPU's kvm_run mapping: port and MMIO
// accesses are serviced through VcpuIo right here (the caller then re-enters
// KVM_RUN, which completes the guest instruction with the data left in the
// mapping); everything else becomes a VcpuExit for the VMM. Pure with
// respect to KVM (no ioctls), so it is unit-tested with a synthetic kvm_run.
//
//   std::optional<VcpuExit> exit = HandleKvmExit(run_mapping, io);
//   if (!exit) continue;          // serviced, re-enter the guest
//   return *exit;
//
// The kvm_run layout and exit semantics are in the kernel's
// Documentation/virt/kvm/api.rst, section 5 ("The kvm_run structure").
#ifndef SKIFF_KVM_EXIT_HANDLER_H_
#define SKIFF_KVM_EXIT_HANDLER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/types/span.h"
#include "base/vcpu_backend.h"

namespace skiff::kvm {

// `run_mapping` is the whole mmap of the vCPU fd (KVM_GET_VCPU_MMAP_SIZE
// bytes); it must be at least sizeof(kvm_run). String I/O data lives in it at
// io.data_offset, and every access there is bounds-checked against it.
//
// Returns nullopt when the exit was serviced and the guest should be resumed.
// Otherwise the exit for the VMM. For kInternalError the reason, suberror and
// message are filled, plus the instruction bytes when KVM supplied them
// (emulation failures with KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_
// BYTES); `rip` and missing bytes are left to the caller, which can read
// registers and guest memory.
std::optional<VcpuExit> HandleKvmExit(absl::Span<uint8_t> run_mapping,
                                      VcpuIo& io);

// Replays the writes KVM queued in a coalesced-MMIO ring (the page at
// KVM_CAP_COALESCED_MMIO's page offset of any vCPU mapping; one ring per VM)
// through `io`, oldest first, and consumes them. The caller serializes
// drains of one ring. A corrupt index or length stops the drain; returns
// how many entries were replayed.
size_t DrainCoalescedRing(absl::Span<uint8_t> ring_page, VcpuIo& io);

// "KVM_EXIT_IO", ..., or "unknown".
std::string KvmExitReasonName(uint32_t reason);
// "emulation failure", ... for KVM_EXIT_INTERNAL_ERROR suberrors.
std::string InternalErrorName(uint32_t suberror);

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_EXIT_HANDLER_H_
