// KvmVm is one KVM virtual machine (the fd from KVM_CREATE_VM): guest RAM
// registered as memory slots, the in-kernel irqchip (PIC, IOAPIC, LAPICs)
// and PIT, interrupt lines, irqfds and ioeventfds. It implements
// skiff::VmBackend; vmm/ wires devices to it through IrqLine and EventFd
// objects and never sees a KVM fd.
//
//   SKIFF_ASSIGN_OR_RETURN(auto kvm, KvmSystem::Create());
//   SKIFF_ASSIGN_OR_RETURN(auto vm, KvmVm::Create(*kvm, *memory,
//                                                 {.num_vcpus = 2}));
//   SKIFF_ASSIGN_OR_RETURN(auto vcpu0, vm->CreateVcpu(0));
//   SKIFF_ASSIGN_OR_RETURN(auto serial_irq, vm->CreateIrqLine(4));
//   SKIFF_RETURN_IF_ERROR(vm->RegisterIoeventfd(notify_addr, 4, queue_index,
//                                               /*pio=*/false, queue_event));
//
// With the irqchip (the default) HLT is handled inside the kernel: a halted
// vCPU sleeps in KVM_RUN until an interrupt arrives, so Run() does not
// return kHalt; it returns on Kick(). Without it (tiny test guests, the
// probe) HLT returns kHalt and no interrupt can be delivered.
//
// Lifetimes: `memory` must outlive the VM and every vCPU and IrqLine made
// from it; the VM must outlive its vCPUs and IrqLines. The KvmSystem may go
// away after Create.
//
// Thread-safety: all methods are thread-safe.
#ifndef SKIFF_KVM_KVM_VM_H_
#define SKIFF_KVM_KVM_VM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/event_fd.h"
#include "base/guest_memory.h"
#include "base/unique_fd.h"
#include "base/vcpu_backend.h"
#include "kvm/cpuid.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_vcpu.h"

namespace skiff::kvm {

// Where KVM keeps the real-mode TSS (three pages) and the identity-mapped
// page table it needs on Intel hosts without unrestricted guest. Just below
// the 4 GiB boundary, in the MMIO gap, where QEMU and Firecracker put them.
inline constexpr uint64_t kTssAddr = 0xfffbd000;
inline constexpr uint64_t kTssSize = 3 * 4096;
inline constexpr uint64_t kIdentityMapAddr = 0xfffbc000;
// GSIs of the default routing KVM_CREATE_IRQCHIP installs (IOAPIC pins; the
// first 16 also drive the PIC).
inline constexpr uint32_t kNumGsis = 24;

// Checks a KVM_IOEVENTFD request: len 1, 2, 4 or 8, or 0 (any length) for
// MMIO without datamatch; datamatch must fit in len bytes; a port must fit
// in 16 bits.
absl::Status ValidateIoeventfd(uint64_t addr, uint32_t len,
                               std::optional<uint64_t> datamatch, bool pio);

class KvmVm : public VmBackend {
 public:
  struct Options {
    int num_vcpus = 1;
    // In-kernel PIC/IOAPIC/LAPIC and PIT. Off only for tiny test guests.
    bool irqchip = true;
    // Show the guest KVM's PMU virtualization / VMX or SVM (see cpuid.h).
    bool pmu = false;
    bool nested = false;
  };

  static absl::StatusOr<std::unique_ptr<KvmVm>> Create(
      const KvmSystem& kvm, const GuestMemory& memory, const Options& options);

  KvmVm(const KvmVm&) = delete;
  KvmVm& operator=(const KvmVm&) = delete;

  std::string_view name() const override { return "kvm"; }
  // Each index in [0, num_vcpus) can be created once. vCPU 0 is the BSP.
  absl::StatusOr<std::unique_ptr<VcpuBackend>> CreateVcpu(int index) override;
  absl::StatusOr<std::unique_ptr<KvmVcpu>> CreateKvmVcpu(int index);
  // A level-triggered line driven with KVM_IRQ_LINE. Needs the irqchip.
  absl::StatusOr<std::unique_ptr<IrqLine>> CreateIrqLine(uint32_t gsi) override;
  // An irqfd-backed edge line (KVM_IRQFD). Needs the irqchip.
  absl::StatusOr<std::unique_ptr<IrqLine>> CreateEdgeIrqLine(
      uint32_t gsi) override;

  // KVM_IRQ_LINE: sets the level of `gsi` (both the PIC and IOAPIC pins).
  absl::Status SetIrqLevel(uint32_t gsi, bool asserted) const;

  // KVM_IRQFD: a signal on `event` injects an edge on `gsi` from the
  // kernel, without waking any skiff thread. Needs the irqchip.
  absl::Status RegisterIrqfd(const EventFd& event, uint32_t gsi) const;
  absl::Status UnregisterIrqfd(const EventFd& event, uint32_t gsi) const;

  // KVM_IOEVENTFD: a guest write of `len` bytes (matching `datamatch` when
  // given) to MMIO address or port `addr` signals `event` inside the kernel
  // instead of exiting to userspace. Unregister with the same arguments.
  absl::Status RegisterIoeventfd(uint64_t addr, uint32_t len,
                                 std::optional<uint64_t> datamatch, bool pio,
                                 const EventFd& event) const;
  absl::Status UnregisterIoeventfd(uint64_t addr, uint32_t len,
                                   std::optional<uint64_t> datamatch, bool pio,
                                   const EventFd& event) const;
  // VmBackend: a KVM_IOEVENTFD for a 4-byte MMIO write of `value`.
  absl::StatusOr<bool> AddMmioWriteNotifier(uint64_t addr, uint32_t value,
                                            const EventFd& event) override;

  // KVM_REGISTER_COALESCED_MMIO: guest writes to [addr, addr + size) no
  // longer exit; KVM queues them in a ring that every vCPU replays through
  // its VcpuIo after its next exit (see KvmVcpu::DrainCoalescedMmio). Only
  // for write-only registers whose side effects may wait until the next exit
  // (reads of the zone still exit, after the queued writes are replayed).
  // `pio` needs KVM_CAP_COALESCED_PIO. FailedPrecondition when unsupported.
  absl::Status RegisterCoalescedMmio(uint64_t addr, uint32_t size, bool pio);
  absl::Status UnregisterCoalescedMmio(uint64_t addr, uint32_t size, bool pio);
  bool SupportsCoalescedMmio() const { return coalesced_.ring_offset != 0; }

  int fd() const { return fd_.get(); }
  const Options& options() const { return options_; }
  // The CPUID table vCPU `index` gets (exposed for tests and diagnostics).
  absl::StatusOr<std::vector<CpuidEntry>> CpuidFor(int index) const;

 private:
  KvmVm(UniqueFd fd, KvmOps& ops, const GuestMemory& memory,
        const Options& options, size_t vcpu_mmap_size,
        std::vector<CpuidEntry> supported_cpuid, bool tsc_deadline);
  absl::Status SetUp(const KvmSystem& kvm);
  absl::Status Ioeventfd(uint64_t addr, uint32_t len,
                         std::optional<uint64_t> datamatch, bool pio,
                         const EventFd& event, bool deassign) const;
  absl::Status Irqfd(const EventFd& event, uint32_t gsi, bool deassign) const;
  absl::Status CoalescedZone(uint64_t addr, uint32_t size, bool pio,
                             bool unregister);

  // Constant after Create.
  const UniqueFd fd_;
  KvmOps& ops_;
  const GuestMemory& memory_;
  const Options options_;
  const size_t vcpu_mmap_size_;
  const std::vector<CpuidEntry> supported_cpuid_;
  const bool tsc_deadline_;
  bool coalesced_pio_ = false;  // set in SetUp, constant after
  CoalescedMmio coalesced_;     // ring_offset/ring_size set in SetUp

  absl::Mutex mu_;
  std::vector<bool> vcpu_created_ ABSL_GUARDED_BY(mu_);
};

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_KVM_VM_H_
