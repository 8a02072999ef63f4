#include "kvm/kvm_vcpu.h"

#include <linux/kvm.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "kvm/exit_handler.h"
#include "kvm/ioctl_buffer.h"
#include "kvm/x86_convert.h"

namespace skiff::kvm {
namespace {

void EmptyKickHandler(int) {}

// LAPIC register offsets and LVT delivery modes (Intel SDM vol. 3A, 10.5.1).
constexpr size_t kApicLvtLint0 = 0x350;
constexpr size_t kApicLvtLint1 = 0x360;
constexpr uint32_t kDeliveryModeNmi = 0b100;
constexpr uint32_t kDeliveryModeExtInt = 0b111;

uint32_t ReadApicReg(const kvm_lapic_state& lapic, size_t offset) {
  uint32_t v;
  std::memcpy(&v, lapic.regs + offset, sizeof(v));
  return v;
}

void WriteApicReg(kvm_lapic_state& lapic, size_t offset, uint32_t v) {
  std::memcpy(lapic.regs + offset, &v, sizeof(v));
}

uint32_t WithDeliveryMode(uint32_t lvt, uint32_t mode) {
  return (lvt & ~0x700u) | (mode << 8);
}

// struct kvm_msrs ends in a flexible array of `n` entries.
class MsrBuffer {
 public:
  explicit MsrBuffer(size_t n)
      : buf_(sizeof(kvm_msrs) + n * sizeof(kvm_msr_entry)) {
    get()->nmsrs = static_cast<uint32_t>(n);
  }
  kvm_msrs* get() { return buf_.As<kvm_msrs>(); }

 private:
  IoctlBuffer buf_;
};

constexpr uint64_t kPageSize = 4096;
constexpr size_t kMaxInsnLen = 15;  // x86 architectural maximum

}  // namespace

int KickSignal() { return SIGRTMIN; }

absl::Status InstallKickSignalHandler() {
  // Installed once per process; the handler only exists so that the signal
  // interrupts KVM_RUN instead of killing the process.
  static const int err = [] {
    struct sigaction sa {};
    sa.sa_handler = EmptyKickHandler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    return ::sigaction(KickSignal(), &sa, nullptr) == 0 ? 0 : errno;
  }();
  if (err != 0) return ErrnoStatus("sigaction SIGRTMIN (vCPU kick)", err);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<KvmVcpu>> KvmVcpu::Create(const Params& p) {
  SKIFF_RETURN_IF_ERROR(InstallKickSignalHandler());
  if (p.mmap_size < sizeof(kvm_run)) {
    return absl::InvalidArgumentError(
        absl::StrCat("vCPU mmap size ", p.mmap_size, " < sizeof(kvm_run)"));
  }
  KvmOps& ops = p.ops != nullptr ? *p.ops : KvmOps::Real();
  int raw =
      ops.Ioctl(p.vm_fd, KVM_CREATE_VCPU, static_cast<unsigned long>(p.index));
  if (raw < 0) return ErrnoStatus(absl::StrCat("KVM_CREATE_VCPU ", p.index));
  UniqueFd fd(raw);
  void* run = ops.MapShared(fd.get(), p.mmap_size);
  if (run == nullptr) {
    return ErrnoStatus(
        absl::StrCat("mmap kvm_run of vCPU ", p.index, " size=", p.mmap_size));
  }
  CoalescedMmio* coalesced = p.coalesced;
  if (coalesced != nullptr &&
      (coalesced->ring_offset == 0 ||
       coalesced->ring_offset + coalesced->ring_size > p.mmap_size)) {
    coalesced = nullptr;  // no ring inside this mapping
  }
  return std::unique_ptr<KvmVcpu>(
      new KvmVcpu(ops, std::move(fd), p.index, static_cast<uint8_t*>(run),
                  p.mmap_size, p.memory, coalesced));
}

KvmVcpu::~KvmVcpu() { ops_.Unmap(run_, mmap_size_); }

std::string KvmVcpu::Op(std::string_view ioctl_name) const {
  return absl::StrCat(absl::string_view(ioctl_name.data(), ioctl_name.size()),
                      " vcpu ", index_);
}

void KvmVcpu::ClearImmediateExit() {
  std::atomic_ref<uint8_t>(reinterpret_cast<kvm_run*>(run_)->immediate_exit)
      .store(0, std::memory_order_release);
}

void KvmVcpu::Kick() {
  // The flag catches a KVM_RUN about to start; the signal one under way.
  std::atomic_ref<uint8_t>(reinterpret_cast<kvm_run*>(run_)->immediate_exit)
      .store(1, std::memory_order_release);
  absl::MutexLock lock(&kick_mu_);
  // Run() clears in_run_ under kick_mu_ before returning, so the thread is
  // alive while we signal it.
  if (in_run_) ::pthread_kill(run_thread_, KickSignal());
}

absl::StatusOr<VcpuExit> KvmVcpu::Run(VcpuIo& io) {
  const pthread_t self = ::pthread_self();
  if (!unblocked_ || !::pthread_equal(unblocked_thread_, self)) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, KickSignal());
    if (int err = ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr); err != 0) {
      return ErrnoStatus("pthread_sigmask unblock SIGRTMIN", err);
    }
    unblocked_ = true;
    unblocked_thread_ = self;
  }
  {
    absl::MutexLock lock(&kick_mu_);
    in_run_ = true;
    run_thread_ = self;
  }
  absl::Cleanup leave = [this] {
    absl::MutexLock lock(&kick_mu_);
    in_run_ = false;
  };
  absl::Span<uint8_t> mapping(run_, mmap_size_);
  for (;;) {
    const int r = ops_.Ioctl(fd_.get(), KVM_RUN, 0ul);
    const int err = errno;
    DrainCoalescedMmio(io);
    if (r < 0) {
      if (err == EINTR) {
        // immediate_exit or a signal (a Kick, or one meant for the process).
        ClearImmediateExit();
        VcpuExit exit;
        exit.kind = VcpuExit::Kind::kInterrupted;
        exit.reason = KVM_EXIT_INTR;
        return exit;
      }
      if (err == EAGAIN) continue;  // transient; KVM asks to retry
      return ErrnoStatus(Op("KVM_RUN"), err);
    }
    std::optional<VcpuExit> exit = HandleKvmExit(mapping, io);
    if (!exit) continue;
    if (exit->kind == VcpuExit::Kind::kInterrupted) ClearImmediateExit();
    if (exit->kind == VcpuExit::Kind::kInternalError ||
        exit->kind == VcpuExit::Kind::kShutdown) {
      AddFaultContext(*exit);
    }
    return *exit;
  }
}

size_t KvmVcpu::DrainCoalescedMmio(VcpuIo& io) {
  if (coalesced_ == nullptr ||
      !coalesced_->active.load(std::memory_order_acquire)) {
    return 0;
  }
  absl::MutexLock lock(&coalesced_->mu);
  return DrainCoalescedRing(
      absl::MakeSpan(run_ + coalesced_->ring_offset, coalesced_->ring_size),
      io);
}

void KvmVcpu::AddFaultContext(VcpuExit& exit) {
  kvm_regs regs{};
  kvm_sregs sregs{};
  if (ops_.Ioctl(fd_.get(), KVM_GET_REGS, &regs) < 0 ||
      ops_.Ioctl(fd_.get(), KVM_GET_SREGS, &sregs) < 0) {
    return;
  }
  const bool long_mode = (sregs.efer & kEferLma) && sregs.cs.l;
  uint64_t linear = sregs.cs.base + regs.rip;
  if (!long_mode) linear &= 0xffffffffu;
  exit.rip = linear;
  if (exit.insn_len > 0 || memory_ == nullptr) return;
  // Read page by page: the instruction may straddle a page boundary, and
  // the two pages need not be contiguous in guest-physical memory.
  size_t done = 0;
  while (done < kMaxInsnLen) {
    const uint64_t at = linear + done;
    const size_t chunk = std::min<uint64_t>(kMaxInsnLen - done,
                                            kPageSize - (at & (kPageSize - 1)));
    absl::StatusOr<uint64_t> phys = Translate(at);
    if (!phys.ok()) break;
    if (!memory_
             ->Read(GuestAddr(*phys),
                    absl::MakeSpan(exit.insn.data() + done, chunk))
             .ok()) {
      break;
    }
    done += chunk;
  }
  exit.insn_len = static_cast<uint8_t>(done);
}

absl::StatusOr<uint64_t> KvmVcpu::Translate(uint64_t linear) {
  kvm_translation tr{};
  tr.linear_address = linear;
  if (ops_.Ioctl(fd_.get(), KVM_TRANSLATE, &tr) < 0) {
    return ErrnoStatus(
        absl::StrFormat("KVM_TRANSLATE vcpu %d linear=0x%x", index_, linear));
  }
  if (!tr.valid) {
    return absl::NotFoundError(absl::StrFormat(
        "KVM_TRANSLATE vcpu %d: linear 0x%x is not mapped", index_, linear));
  }
  return tr.physical_address;
}

absl::Status KvmVcpu::GetRegs(Regs& regs) {
  kvm_regs k{};
  if (ops_.Ioctl(fd_.get(), KVM_GET_REGS, &k) < 0) {
    return ErrnoStatus(Op("KVM_GET_REGS"));
  }
  regs = FromKvmRegs(k);
  return absl::OkStatus();
}

absl::Status KvmVcpu::SetRegs(const Regs& regs) {
  kvm_regs k = ToKvmRegs(regs);
  if (ops_.Ioctl(fd_.get(), KVM_SET_REGS, &k) < 0) {
    return ErrnoStatus(Op("KVM_SET_REGS"));
  }
  return absl::OkStatus();
}

absl::Status KvmVcpu::GetSregs(Sregs& sregs) {
  kvm_sregs k{};
  if (ops_.Ioctl(fd_.get(), KVM_GET_SREGS, &k) < 0) {
    return ErrnoStatus(Op("KVM_GET_SREGS"));
  }
  sregs = FromKvmSregs(k);
  return absl::OkStatus();
}

absl::Status KvmVcpu::SetSregs(const Sregs& sregs) {
  kvm_sregs k{};
  if (ops_.Ioctl(fd_.get(), KVM_GET_SREGS, &k) < 0) {
    return ErrnoStatus(Op("KVM_GET_SREGS"));
  }
  ToKvmSregs(sregs, k);
  if (ops_.Ioctl(fd_.get(), KVM_SET_SREGS, &k) < 0) {
    return ErrnoStatus(absl::StrFormat(
        "KVM_SET_SREGS vcpu %d cr0=0x%x cr3=0x%x cr4=0x%x efer=0x%x", index_,
        sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer));
  }
  return absl::OkStatus();
}

absl::Status KvmVcpu::SetMsrs(absl::Span<const MsrEntry> msrs) {
  if (msrs.empty()) return absl::OkStatus();
  MsrBuffer buf(msrs.size());
  for (size_t i = 0; i < msrs.size(); ++i) {
    buf.get()->entries[i] = kvm_msr_entry{msrs[i].index, 0, msrs[i].value};
  }
  int r = ops_.Ioctl(fd_.get(), KVM_SET_MSRS, buf.get());
  if (r < 0) return ErrnoStatus(Op("KVM_SET_MSRS"));
  // KVM stops at the first MSR it refuses and returns how many it set.
  if (static_cast<size_t>(r) < msrs.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "KVM_SET_MSRS vcpu %d: MSR 0x%x value=0x%x refused (entry %d of %d)",
        index_, msrs[r].index, msrs[r].value, r, msrs.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> KvmVcpu::GetMsr(uint32_t index) {
  MsrBuffer buf(1);
  buf.get()->entries[0] = kvm_msr_entry{index, 0, 0};
  int r = ops_.Ioctl(fd_.get(), KVM_GET_MSRS, buf.get());
  if (r < 0) {
    return ErrnoStatus(
        absl::StrFormat("KVM_GET_MSRS vcpu %d MSR 0x%x", index_, index));
  }
  if (r != 1) {
    return absl::NotFoundError(absl::StrFormat(
        "KVM_GET_MSRS vcpu %d: MSR 0x%x not supported", index_, index));
  }
  return buf.get()->entries[0].data;
}

absl::Status KvmVcpu::ResetFpu() {
  kvm_fpu fpu = PowerOnFpu();
  if (ops_.Ioctl(fd_.get(), KVM_SET_FPU, &fpu) < 0) {
    return ErrnoStatus(Op("KVM_SET_FPU"));
  }
  return absl::OkStatus();
}

absl::Status KvmVcpu::SetCpuid(absl::Span<const CpuidEntry> entries) {
  IoctlBuffer buf(sizeof(kvm_cpuid2) +
                  entries.size() * sizeof(kvm_cpuid_entry2));
  auto* cpuid = buf.As<kvm_cpuid2>();
  cpuid->nent = static_cast<uint32_t>(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const CpuidEntry& e = entries[i];
    kvm_cpuid_entry2& k = cpuid->entries[i];
    k = kvm_cpuid_entry2{};
    k.function = e.function;
    k.index = e.index;
    k.flags = e.flags;
    k.eax = e.eax;
    k.ebx = e.ebx;
    k.ecx = e.ecx;
    k.edx = e.edx;
  }
  if (ops_.Ioctl(fd_.get(), KVM_SET_CPUID2, cpuid) < 0) {
    return ErrnoStatus(
        absl::StrCat("KVM_SET_CPUID2 vcpu ", index_, " nent=", entries.size()));
  }
  return absl::OkStatus();
}

absl::Status KvmVcpu::SetupLints() {
  kvm_lapic_state lapic{};
  if (ops_.Ioctl(fd_.get(), KVM_GET_LAPIC, &lapic) < 0) {
    return ErrnoStatus(Op("KVM_GET_LAPIC"));
  }
  WriteApicReg(
      lapic, kApicLvtLint0,
      WithDeliveryMode(ReadApicReg(lapic, kApicLvtLint0), kDeliveryModeExtInt));
  WriteApicReg(
      lapic, kApicLvtLint1,
      WithDeliveryMode(ReadApicReg(lapic, kApicLvtLint1), kDeliveryModeNmi));
  if (ops_.Ioctl(fd_.get(), KVM_SET_LAPIC, &lapic) < 0) {
    return ErrnoStatus(Op("KVM_SET_LAPIC"));
  }
  return absl::OkStatus();
}

}  // namespace skiff::kvm
