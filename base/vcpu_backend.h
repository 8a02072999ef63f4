// The seam between the VMM and whatever executes guest code: KVM (kvm/) or
// the interpreter (tcg/). vmm/ only ever sees these interfaces.
//
// Port and MMIO accesses are not returned as exits: the backend calls the
// VcpuIo it was given, synchronously, on the vCPU thread, and resumes the
// guest with the result. KVM does so between two KVM_RUN calls; the
// interpreter does so in the middle of the instruction, which it could not do
// if it had to return and later replay a half-executed string instruction.
// Everything else that needs the VMM ends Run() with a VcpuExit.
//
//   class Loop : public VcpuIo { ... dispatch to buses ... };
//   for (;;) {
//     SKIFF_ASSIGN_OR_RETURN(VcpuExit exit, vcpu->Run(loop));
//     switch (exit.kind) { case VcpuExit::Kind::kHalt: ... }
//   }
#ifndef SKIFF_BASE_VCPU_BACKEND_H_
#define SKIFF_BASE_VCPU_BACKEND_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/x86_state.h"

namespace skiff {

class EventFd;
class GuestClock;
class InstructionClock;

// Device accesses made by a running vCPU. Implementations must be safe to
// call from several vCPU threads at once (each device guards its state).
class VcpuIo {
 public:
  virtual ~VcpuIo() = default;
  // `data` is 1, 2 or 4 bytes; reads fill all of it (0xff when nothing
  // decodes the port, like an open ISA bus).
  virtual void PioRead(uint16_t port, absl::Span<uint8_t> data) = 0;
  virtual void PioWrite(uint16_t port, absl::Span<const uint8_t> data) = 0;
  // `data` is 1 to 8 bytes.
  virtual void MmioRead(uint64_t addr, absl::Span<uint8_t> data) = 0;
  virtual void MmioWrite(uint64_t addr, absl::Span<const uint8_t> data) = 0;
  // MSRs the backend does not implement itself (a userspace local APIC's
  // x2APIC and TSC-deadline registers). False means no such MSR: the guest
  // gets #GP.
  virtual bool MsrRead(uint32_t index, uint64_t& value) {
    (void)index;
    (void)value;
    return false;
  }
  virtual bool MsrWrite(uint32_t index, uint64_t value) {
    (void)index;
    (void)value;
    return false;
  }
};

// The interrupt controller local to one vCPU (a userspace local APIC), as
// the backend sees it when no in-kernel irqchip exists. The backend polls it
// between instructions when RFLAGS.IF=1 and no interrupt shadow is active.
// Called on the vCPU's thread only.
class InterruptSource {
 public:
  virtual ~InterruptSource() = default;
  virtual bool HasPendingInterrupt() = 0;
  // Accepts the highest-priority pending interrupt and returns its vector,
  // or -1 if none is pending any more.
  virtual int AcknowledgeInterrupt() = 0;
  // A flag that is true whenever HasPendingInterrupt() would be, for a
  // backend to poll without a call (it may be true when no interrupt is
  // pending); nullptr when the source has none.
  virtual const std::atomic<bool>* pending_flag() const { return nullptr; }
};

// Why Run() returned. A plain value; `kind` says which fields mean something.
struct VcpuExit {
  enum class Kind {
    kHalt,           // HLT with nothing to wake the vCPU inside the backend
    kInterrupted,    // Kick() was called (or a signal arrived)
    kShutdown,       // triple fault or another shutdown condition
    kReset,          // the guest asked for a system reset
    kPowerOff,       // the guest asked for power-off
    kDebug,          // single step or breakpoint under guest debugging
    kInternalError,  // the backend could not run the guest any further
  };
  Kind kind = Kind::kInterrupted;

  // kInternalError: what failed, where, and the bytes there.
  uint32_t reason = 0;    // backend-specific exit reason (KVM_EXIT_*)
  uint32_t suberror = 0;  // backend-specific sub-reason
  uint64_t rip = 0;       // linear address of the failing instruction
  std::array<uint8_t, 16> insn{};
  uint8_t insn_len = 0;  // how many bytes of `insn` are valid
  std::string message;
};

std::string_view VcpuExitKindName(VcpuExit::Kind kind);
// One line describing an exit, e.g. for kInternalError:
// "internal error reason=17 suberror=1 (emulation failure) rip=0x... insn=cc
// 90".
std::string DescribeVcpuExit(const VcpuExit& exit);

// One virtual CPU. Used only on its own thread, except Kick().
class VcpuBackend {
 public:
  virtual ~VcpuBackend() = default;

  virtual int index() const = 0;

  // Runs the guest until something needs the VMM. A failed status means the
  // backend itself failed (a host error), not the guest.
  virtual absl::StatusOr<VcpuExit> Run(VcpuIo& io) = 0;

  // Makes a current or the next Run() return kInterrupted soon.
  // Thread-safe; callable from any thread and from signal handlers' peers.
  virtual void Kick() = 0;

  virtual absl::Status GetRegs(Regs& regs) = 0;
  virtual absl::Status SetRegs(const Regs& regs) = 0;
  virtual absl::Status GetSregs(Sregs& sregs) = 0;
  virtual absl::Status SetSregs(const Sregs& sregs) = 0;
  virtual absl::Status SetMsrs(absl::Span<const MsrEntry> msrs) = 0;
  virtual absl::StatusOr<uint64_t> GetMsr(uint32_t index) = 0;
  // Resets the x87/SSE state to its power-on values (FCW 0x37f, MXCSR 0x1f80).
  virtual absl::Status ResetFpu() = 0;

  // Makes every later Run() return kInterrupted after at most
  // `instructions` guest instructions (0: no limit), so that several vCPUs
  // can take turns on one host thread. Only a backend that counts
  // instructions (the interpreter) can.
  virtual absl::Status SetTimeSlice(uint64_t instructions) {
    (void)instructions;
    return absl::UnimplementedError(
        "this vCPU backend cannot run for a number of instructions");
  }

  // Deterministic mode (--icount): the vCPU counts the instructions it
  // retires into `clock` (which then is its time base) and ends a Run()
  // with kInterrupted when the clock reaches its next deadline. Only a
  // backend that counts instructions (the interpreter) can.
  virtual absl::Status SetInstructionClock(InstructionClock& clock) {
    (void)clock;
    return absl::UnimplementedError(
        "this vCPU backend cannot count instructions (--icount needs the "
        "interpreter)");
  }

  // Attaches a userspace interrupt controller. Backends with an in-kernel
  // irqchip do not take one.
  virtual absl::Status SetInterruptSource(InterruptSource* source) {
    (void)source;
    return absl::UnimplementedError(
        "this vCPU backend delivers interrupts itself");
  }
};

// A level-triggered interrupt input of the platform interrupt controller
// (a GSI). Devices get one of these and never see the backend.
class IrqLine {
 public:
  virtual ~IrqLine() = default;
  virtual void SetLevel(bool asserted) = 0;
  // Edge: assert then deassert.
  void Pulse() {
    SetLevel(true);
    SetLevel(false);
  }
};

// The machine-wide part of a backend: creates vCPUs and interrupt lines.
class VmBackend {
 public:
  virtual ~VmBackend() = default;
  // "kvm" or "tcg".
  virtual std::string_view name() const = 0;
  // Index must be below the vCPU count the backend was created with.
  virtual absl::StatusOr<std::unique_ptr<VcpuBackend>> CreateVcpu(
      int index) = 0;
  virtual absl::StatusOr<std::unique_ptr<IrqLine>> CreateIrqLine(
      uint32_t gsi) = 0;
  // A line for edge-triggered device interrupts (virtio-mmio): Pulse()
  // injects one edge, SetLevel(false) does nothing. KVM signals an irqfd,
  // so the kernel injects the edge without an ioctl from the device thread.
  virtual absl::StatusOr<std::unique_ptr<IrqLine>> CreateEdgeIrqLine(
      uint32_t gsi) {
    return CreateIrqLine(gsi);
  }
  // The machine's time base (base/guest_clock.h), for a backend that keeps
  // the guest TSC itself (the interpreter), so that RDTSC agrees with the
  // userspace LAPIC timers. Call before CreateVcpu; the clock must outlive
  // the backend. Backends whose TSC the host provides ignore it.
  virtual void SetGuestClock(const GuestClock& clock) { (void)clock; }
  // Makes a guest's 4-byte write of `value` to MMIO address `addr` signal
  // `event` inside the hypervisor instead of exiting to the vCPU thread
  // (KVM_IOEVENTFD), for virtio queue notifications. Returns false when the
  // backend has no such mechanism: the write then reaches the MMIO bus as
  // usual. `event` must stay open while the backend exists.
  virtual absl::StatusOr<bool> AddMmioWriteNotifier(uint64_t addr,
                                                    uint32_t value,
                                                    const EventFd& event) {
    (void)addr;
    (void)value;
    (void)event;
    return false;
  }
};

}  // namespace skiff

#endif  // SKIFF_BASE_VCPU_BACKEND_H_
