// KvmVcpu is one KVM vCPU: the fd from KVM_CREATE_VCPU, its mmap'd kvm_run
// page, and the KVM_RUN loop that services port and MMIO exits through a
// VcpuIo and returns everything else as a VcpuExit (see exit_handler.h).
// Made by KvmVm::CreateVcpu / CreateKvmVcpu, which also loads the CPUID
// model (cpuid.h), the boot MSRs (x86_convert.h), a reset FPU and, with the
// irqchip, LAPIC LINT0 = ExtINT / LINT1 = NMI (the wiring a BIOS sets up, so
// the PIC's output reaches vCPU 0 through the virtual-wire mode).
//
//   SKIFF_ASSIGN_OR_RETURN(auto vcpu, vm->CreateKvmVcpu(0));
//   SKIFF_RETURN_IF_ERROR(vcpu->SetSregs(sregs));
//   SKIFF_RETURN_IF_ERROR(vcpu->SetRegs(regs));
//   for (;;) {
//     SKIFF_ASSIGN_OR_RETURN(VcpuExit exit, vcpu->Run(io));
//     if (exit.kind == VcpuExit::Kind::kInterrupted) { drain work; continue; }
//     ...
//   }
//
// Kicking: Kick() sets kvm_run.immediate_exit, so a KVM_RUN that has not
// started yet returns at once, and sends SIGRTMIN to the thread inside Run(),
// so one already in the guest exits. The signal handler is empty and is
// installed without SA_RESTART the first time a vCPU is created; Run()
// unblocks SIGRTMIN in the calling thread. Because the signal may also land
// while a VcpuIo handler is in a blocking system call, such handlers must
// cope with EINTR. Run() clears immediate_exit before returning kInterrupted;
// a Kick racing with that return is not lost as long as the caller looks at
// its work queue after every kInterrupted.
//
// Thread-safety: everything except Kick() must be called on one thread at a
// time (the vCPU's own); Kick() is safe from any thread.
#ifndef SKIFF_KVM_KVM_VCPU_H_
#define SKIFF_KVM_KVM_VCPU_H_

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "base/unique_fd.h"
#include "base/vcpu_backend.h"
#include "kvm/cpuid.h"
#include "kvm/kvm_ops.h"

namespace skiff::kvm {

// A VM's coalesced-MMIO ring, shared by its vCPUs (owned by KvmVm).
struct CoalescedMmio {
  // Byte offset of the ring page in every vCPU's kvm_run mapping; 0 when the
  // host has no KVM_CAP_COALESCED_MMIO.
  size_t ring_offset = 0;
  size_t ring_size = 0;
  // Set once a zone is registered; until then vCPUs skip the drain.
  std::atomic<bool> active{false};
  // Serializes drains: the ring has one consumer index for all vCPUs.
  absl::Mutex mu;
};

// The signal Kick() sends. Installs its (empty) handler once per process.
int KickSignal();
absl::Status InstallKickSignalHandler();

class KvmVcpu : public VcpuBackend {
 public:
  struct Params {
    KvmOps* ops = nullptr;  // null: KvmOps::Real()
    int vm_fd = -1;
    int index = 0;
    size_t mmap_size = 0;
    const GuestMemory* memory = nullptr;  // for instruction bytes at RIP
    CoalescedMmio* coalesced = nullptr;   // the VM's ring, or null
  };
  // KVM_CREATE_VCPU(index) and the kvm_run mapping only; KvmVm::CreateVcpu
  // then applies CPUID, MSRs, FPU and LINTs.
  static absl::StatusOr<std::unique_ptr<KvmVcpu>> Create(const Params& params);

  ~KvmVcpu() override;
  KvmVcpu(const KvmVcpu&) = delete;
  KvmVcpu& operator=(const KvmVcpu&) = delete;

  int index() const override { return index_; }
  absl::StatusOr<VcpuExit> Run(VcpuIo& io) override;
  void Kick() override;

  absl::Status GetRegs(Regs& regs) override;
  absl::Status SetRegs(const Regs& regs) override;
  absl::Status GetSregs(Sregs& sregs) override;
  // Read-modify-write: keeps an interrupt KVM has queued for injection.
  absl::Status SetSregs(const Sregs& sregs) override;
  // Fails naming the first MSR KVM refused.
  absl::Status SetMsrs(absl::Span<const MsrEntry> msrs) override;
  absl::StatusOr<uint64_t> GetMsr(uint32_t index) override;
  absl::Status ResetFpu() override;

  // KVM_SET_CPUID2.
  absl::Status SetCpuid(absl::Span<const CpuidEntry> entries);
  // LAPIC LVT LINT0 = ExtINT, LINT1 = NMI (needs the in-kernel irqchip).
  absl::Status SetupLints();
  // KVM_TRANSLATE: the guest-physical address of a linear address under the
  // vCPU's current paging mode; NotFound when it is not mapped.
  absl::StatusOr<uint64_t> Translate(uint64_t linear);

  // Replays writes queued in the VM's coalesced-MMIO ring through `io`.
  // Run() does this after every KVM_RUN, before handling the exit, so
  // devices see queued writes before any later access that exits.
  size_t DrainCoalescedMmio(VcpuIo& io);

  int fd() const { return fd_.get(); }

 private:
  KvmVcpu(KvmOps& ops, UniqueFd fd, int index, uint8_t* run, size_t mmap_size,
          const GuestMemory* memory, CoalescedMmio* coalesced)
      : ops_(ops),
        fd_(std::move(fd)),
        index_(index),
        run_(run),
        mmap_size_(mmap_size),
        memory_(memory),
        coalesced_(coalesced) {}

  // Adds RIP (as a linear address) and, when KVM did not supply them, the
  // instruction bytes there to an internal-error or shutdown exit.
  void AddFaultContext(VcpuExit& exit);
  void ClearImmediateExit();
  std::string Op(std::string_view ioctl_name) const;

  // Constant after Create.
  KvmOps& ops_;
  const UniqueFd fd_;
  const int index_;
  uint8_t* const run_;  // the kvm_run mapping, mmap_size_ bytes
  const size_t mmap_size_;
  const GuestMemory* const memory_;
  CoalescedMmio* const coalesced_;

  // The thread inside Run(), for Kick().
  absl::Mutex kick_mu_;
  bool in_run_ ABSL_GUARDED_BY(kick_mu_) = false;
  pthread_t run_thread_ ABSL_GUARDED_BY(kick_mu_){};

  // Owner thread only: the last thread Run() unblocked the kick signal in.
  bool unblocked_ = false;
  pthread_t unblocked_thread_{};
};

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_KVM_VCPU_H_
