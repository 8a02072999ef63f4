#include "kvm/kvm_vm.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "kvm/x86_convert.h"

namespace skiff::kvm {
namespace {

// A level-triggered GSI driven by KVM_IRQ_LINE. The VM outlives it.
class KvmIrqLine : public IrqLine {
 public:
  KvmIrqLine(const KvmVm& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  void SetLevel(bool asserted) override {
    absl::Status s = vm_.SetIrqLevel(gsi_, asserted);
    if (!s.ok() && limiter_.Allow()) {
      SKIFF_LOG(kError, "kvm: irq line gsi=%u level=%d failed: %s", gsi_,
                asserted ? 1 : 0, std::string(s.message()));
    }
  }

 private:
  const KvmVm& vm_;
  const uint32_t gsi_;
  RateLimiter limiter_;
};

// KVM_CREATE_VM can fail with EINTR when a signal arrives while the kernel
// sets up the VM (Firecracker retries the same way).
int CreateVmFd(KvmOps& ops, int kvm_fd) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    int fd = ops.Ioctl(kvm_fd, KVM_CREATE_VM, 0ul);
    if (fd >= 0 || errno != EINTR) return fd;
  }
  return -1;
}

bool Overlaps(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len) {
  return a < b + b_len && b < a + a_len;
}

}  // namespace

absl::Status ValidateIoeventfd(uint64_t addr, uint32_t len,
                               std::optional<uint64_t> datamatch, bool pio) {
  if (len != 0 && len != 1 && len != 2 && len != 4 && len != 8) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "KVM_IOEVENTFD addr=0x%x: len %u is not 0, 1, 2, 4 or 8", addr, len));
  }
  if (len == 0 && (pio || datamatch.has_value())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "KVM_IOEVENTFD addr=0x%x: len 0 (any length) needs MMIO without "
        "datamatch",
        addr));
  }
  if (datamatch.has_value() && len < 8 && (*datamatch >> (8 * len)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("KVM_IOEVENTFD addr=0x%x: datamatch 0x%x does not fit "
                        "in %u bytes",
                        addr, *datamatch, len));
  }
  if (pio && addr + len > 0x10000) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "KVM_IOEVENTFD: port 0x%x len %u is beyond port 0xffff", addr, len));
  }
  return absl::OkStatus();
}

KvmVm::KvmVm(UniqueFd fd, KvmOps& ops, const GuestMemory& memory,
             const Options& options, size_t vcpu_mmap_size,
             std::vector<CpuidEntry> supported_cpuid, bool tsc_deadline)
    : fd_(std::move(fd)),
      ops_(ops),
      memory_(memory),
      options_(options),
      vcpu_mmap_size_(vcpu_mmap_size),
      supported_cpuid_(std::move(supported_cpuid)),
      tsc_deadline_(tsc_deadline),
      vcpu_created_(static_cast<size_t>(options.num_vcpus), false) {}

absl::StatusOr<std::unique_ptr<KvmVm>> KvmVm::Create(const KvmSystem& kvm,
                                                     const GuestMemory& memory,
                                                     const Options& options) {
  int max_vcpus = kvm.CheckExtension(KVM_CAP_MAX_VCPUS);
  if (max_vcpus <= 0) max_vcpus = kvm.CheckExtension(KVM_CAP_NR_VCPUS);
  if (max_vcpus <= 0) max_vcpus = 4;  // api.rst: assume 4 when unreported
  if (options.num_vcpus < 1 || options.num_vcpus > max_vcpus) {
    return absl::InvalidArgumentError(
        absl::StrCat("KVM: ", options.num_vcpus,
                     " vCPUs requested; this host allows 1 to ", max_vcpus));
  }
  int fd = CreateVmFd(kvm.ops(), kvm.fd());
  if (fd < 0) return ErrnoStatus("KVM_CREATE_VM");
  std::unique_ptr<KvmVm> vm(
      new KvmVm(UniqueFd(fd), kvm.ops(), memory, options, kvm.vcpu_mmap_size(),
                std::vector<CpuidEntry>(kvm.supported_cpuid().begin(),
                                        kvm.supported_cpuid().end()),
                kvm.CheckExtension(KVM_CAP_TSC_DEADLINE_TIMER) > 0));
  SKIFF_RETURN_IF_ERROR(vm->SetUp(kvm));
  return vm;
}

absl::Status KvmVm::SetUp(const KvmSystem& kvm) {
  // The TSS and identity-map pages are claimed by KVM; RAM there would be
  // shadowed on hosts that use them.
  for (const GuestMemory::Region& r : memory_.regions()) {
    if (Overlaps(r.start.value(), r.size, kIdentityMapAddr,
                 kTssAddr + kTssSize - kIdentityMapAddr)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "guest RAM [0x%x, 0x%x) overlaps KVM's TSS/identity map at "
          "[0x%x, 0x%x)",
          r.start.value(), r.end().value(), kIdentityMapAddr,
          kTssAddr + kTssSize));
    }
  }
  // Must precede KVM_CREATE_VCPU (api.rst, KVM_SET_IDENTITY_MAP_ADDR). Only
  // Intel hosts without unrestricted guest use the page, and KVM's default
  // is this same address, so a host that lacks or refuses the call (e.g. a
  // shadow-paging KVM variant) loses nothing: warn and go on.
  if (kvm.CheckExtension(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
    uint64_t identity = kIdentityMapAddr;
    if (ops_.Ioctl(fd(), KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) {
      absl::Status s = ErrnoStatus(
          absl::StrFormat("KVM_SET_IDENTITY_MAP_ADDR 0x%x", kIdentityMapAddr));
      SKIFF_LOG(kWarn, "kvm: %s (continuing with KVM's default)",
                std::string(s.message()));
    }
  }
  if (ops_.Ioctl(fd(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(kTssAddr)) <
      0) {
    return ErrnoStatus(absl::StrFormat("KVM_SET_TSS_ADDR 0x%x", kTssAddr));
  }

  const int max_slots = kvm.CheckExtension(KVM_CAP_NR_MEMSLOTS);
  if (max_slots > 0 &&
      memory_.regions().size() > static_cast<size_t>(max_slots)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("guest memory has ", memory_.regions().size(),
                     " regions; KVM allows ", max_slots, " memory slots"));
  }
  uint32_t slot = 0;
  for (const GuestMemory::Region& r : memory_.regions()) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.flags = 0;
    region.guest_phys_addr = r.start.value();
    region.memory_size = r.size;
    region.userspace_addr = reinterpret_cast<uint64_t>(r.host);
    if (ops_.Ioctl(fd(), KVM_SET_USER_MEMORY_REGION, &region) < 0) {
      return ErrnoStatus(absl::StrFormat(
          "KVM_SET_USER_MEMORY_REGION slot %u guest_addr=0x%x size=0x%x", slot,
          r.start.value(), r.size));
    }
    ++slot;
  }

  // KVM_CAP_COALESCED_MMIO answers with the ring's page offset in the vCPU
  // mapping (api.rst, 4.116).
  const long page = ::sysconf(_SC_PAGESIZE);
  const int ring_page = kvm.CheckExtension(KVM_CAP_COALESCED_MMIO);
  if (page > 0 && ring_page > 0 &&
      (static_cast<size_t>(ring_page) + 1) * page <= vcpu_mmap_size_) {
    coalesced_.ring_offset = static_cast<size_t>(ring_page) * page;
    coalesced_.ring_size = static_cast<size_t>(page);
    coalesced_pio_ = kvm.CheckExtension(KVM_CAP_COALESCED_PIO) > 0;
  }

  if (options_.irqchip) {
    if (ops_.Ioctl(fd(), KVM_CREATE_IRQCHIP, 0ul) < 0) {
      return ErrnoStatus("KVM_CREATE_IRQCHIP");
    }
    // The dummy speaker port keeps port 0x61 reads inside the kernel.
    kvm_pit_config pit{};
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    if (ops_.Ioctl(fd(), KVM_CREATE_PIT2, &pit) < 0) {
      return ErrnoStatus("KVM_CREATE_PIT2 flags=KVM_PIT_SPEAKER_DUMMY");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<CpuidEntry>> KvmVm::CpuidFor(int index) const {
  CpuidOptions o;
  o.vcpu_index = index;
  o.num_vcpus = options_.num_vcpus;
  o.irqchip = options_.irqchip;
  o.tsc_deadline = tsc_deadline_;
  o.pmu = options_.pmu;
  o.nested = options_.nested;
  return BuildCpuid(supported_cpuid_, o);
}

absl::StatusOr<std::unique_ptr<KvmVcpu>> KvmVm::CreateKvmVcpu(int index) {
  if (index < 0 || index >= options_.num_vcpus) {
    return absl::InvalidArgumentError(absl::StrCat(
        "vCPU index ", index, " outside [0, ", options_.num_vcpus, ")"));
  }
  {
    absl::MutexLock lock(&mu_);
    if (vcpu_created_[index]) {
      return absl::AlreadyExistsError(
          absl::StrCat("vCPU ", index, " already created"));
    }
    vcpu_created_[index] = true;
  }
  SKIFF_ASSIGN_OR_RETURN(std::vector<CpuidEntry> cpuid, CpuidFor(index));
  KvmVcpu::Params params;
  params.ops = &ops_;
  params.vm_fd = fd();
  params.index = index;
  params.mmap_size = vcpu_mmap_size_;
  params.memory = &memory_;
  params.coalesced = &coalesced_;
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<KvmVcpu> vcpu,
                         KvmVcpu::Create(params));
  SKIFF_RETURN_IF_ERROR(vcpu->SetCpuid(cpuid));
  SKIFF_RETURN_IF_ERROR(vcpu->SetMsrs(DefaultBootMsrs()));
  for (const MsrEntry& msr : BestEffortBootMsrs()) {
    if (absl::Status s = vcpu->SetMsrs({msr}); !s.ok()) {
      SKIFF_LOG(kWarn, "kvm: %s (continuing)", std::string(s.message()));
    }
  }
  SKIFF_RETURN_IF_ERROR(vcpu->ResetFpu());
  if (options_.irqchip) SKIFF_RETURN_IF_ERROR(vcpu->SetupLints());
  return vcpu;
}

absl::StatusOr<std::unique_ptr<VcpuBackend>> KvmVm::CreateVcpu(int index) {
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<KvmVcpu> vcpu, CreateKvmVcpu(index));
  return std::unique_ptr<VcpuBackend>(std::move(vcpu));
}

absl::StatusOr<std::unique_ptr<IrqLine>> KvmVm::CreateIrqLine(uint32_t gsi) {
  if (!options_.irqchip) {
    return absl::FailedPreconditionError(absl::StrCat(
        "irq line gsi ", gsi, ": the KVM VM was created without an irqchip"));
  }
  if (gsi >= kNumGsis) {
    return absl::InvalidArgumentError(
        absl::StrCat("irq line gsi ", gsi, " >= ", kNumGsis));
  }
  return std::unique_ptr<IrqLine>(new KvmIrqLine(*this, gsi));
}

namespace {

// Edges through an irqfd: a write to the eventfd makes KVM inject the
// interrupt. Unregistered when destroyed (the VM must outlive the line).
class KvmIrqfdLine : public IrqLine {
 public:
  KvmIrqfdLine(const KvmVm& vm, EventFd event, uint32_t gsi)
      : vm_(vm), event_(std::move(event)), gsi_(gsi) {}
  ~KvmIrqfdLine() override { (void)vm_.UnregisterIrqfd(event_, gsi_); }
  void SetLevel(bool asserted) override {
    if (asserted) event_.Signal();
  }

 private:
  const KvmVm& vm_;
  const EventFd event_;
  const uint32_t gsi_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<IrqLine>> KvmVm::CreateEdgeIrqLine(
    uint32_t gsi) {
  // The same checks as a level line.
  SKIFF_RETURN_IF_ERROR(CreateIrqLine(gsi).status());
  SKIFF_ASSIGN_OR_RETURN(EventFd event, EventFd::Create());
  SKIFF_RETURN_IF_ERROR(RegisterIrqfd(event, gsi));
  return std::unique_ptr<IrqLine>(
      new KvmIrqfdLine(*this, std::move(event), gsi));
}

absl::Status KvmVm::SetIrqLevel(uint32_t gsi, bool asserted) const {
  kvm_irq_level irq{};
  irq.irq = gsi;
  irq.level = asserted ? 1 : 0;
  if (ops_.Ioctl(fd(), KVM_IRQ_LINE, &irq) < 0) {
    return ErrnoStatus(
        absl::StrCat("KVM_IRQ_LINE gsi ", gsi, " level ", asserted ? 1 : 0));
  }
  return absl::OkStatus();
}

absl::Status KvmVm::Irqfd(const EventFd& event, uint32_t gsi,
                          bool deassign) const {
  if (!options_.irqchip) {
    return absl::FailedPreconditionError(
        absl::StrCat("KVM_IRQFD gsi ", gsi, ": VM has no irqchip"));
  }
  kvm_irqfd irqfd{};
  irqfd.fd = static_cast<uint32_t>(event.fd());
  irqfd.gsi = gsi;
  irqfd.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
  if (ops_.Ioctl(fd(), KVM_IRQFD, &irqfd) < 0) {
    return ErrnoStatus(absl::StrCat("KVM_IRQFD", deassign ? " deassign" : "",
                                    " gsi ", gsi, " fd ", event.fd()));
  }
  return absl::OkStatus();
}

absl::Status KvmVm::RegisterIrqfd(const EventFd& event, uint32_t gsi) const {
  return Irqfd(event, gsi, false);
}

absl::Status KvmVm::UnregisterIrqfd(const EventFd& event, uint32_t gsi) const {
  return Irqfd(event, gsi, true);
}

absl::Status KvmVm::Ioeventfd(uint64_t addr, uint32_t len,
                              std::optional<uint64_t> datamatch, bool pio,
                              const EventFd& event, bool deassign) const {
  SKIFF_RETURN_IF_ERROR(ValidateIoeventfd(addr, len, datamatch, pio));
  kvm_ioeventfd io{};
  io.addr = addr;
  io.len = len;
  io.fd = event.fd();
  if (datamatch.has_value()) {
    io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    io.datamatch = *datamatch;
  }
  if (pio) io.flags |= KVM_IOEVENTFD_FLAG_PIO;
  if (deassign) io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
  if (ops_.Ioctl(fd(), KVM_IOEVENTFD, &io) < 0) {
    return ErrnoStatus(absl::StrFormat(
        "KVM_IOEVENTFD%s %s addr=0x%x len=%u datamatch=%s",
        deassign ? " deassign" : "", pio ? "pio" : "mmio", addr, len,
        datamatch.has_value() ? absl::StrFormat("0x%x", *datamatch)
                              : std::string("none")));
  }
  return absl::OkStatus();
}

absl::Status KvmVm::RegisterIoeventfd(uint64_t addr, uint32_t len,
                                      std::optional<uint64_t> datamatch,
                                      bool pio, const EventFd& event) const {
  return Ioeventfd(addr, len, datamatch, pio, event, false);
}

absl::Status KvmVm::UnregisterIoeventfd(uint64_t addr, uint32_t len,
                                        std::optional<uint64_t> datamatch,
                                        bool pio, const EventFd& event) const {
  return Ioeventfd(addr, len, datamatch, pio, event, true);
}

absl::StatusOr<bool> KvmVm::AddMmioWriteNotifier(uint64_t addr, uint32_t value,
                                                 const EventFd& event) {
  SKIFF_RETURN_IF_ERROR(RegisterIoeventfd(addr, 4, value, false, event));
  return true;
}

absl::Status KvmVm::CoalescedZone(uint64_t addr, uint32_t size, bool pio,
                                  bool unregister) {
  const char* op = unregister ? "KVM_UNREGISTER_COALESCED_MMIO"
                              : "KVM_REGISTER_COALESCED_MMIO";
  if (!SupportsCoalescedMmio() || (pio && !coalesced_pio_)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: this KVM has no %s", op,
        pio ? "KVM_CAP_COALESCED_PIO" : "KVM_CAP_COALESCED_MMIO"));
  }
  if (size == 0 || addr + size < addr || (pio && addr + size > 0x10000)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: bad zone addr=0x%x size=0x%x%s", op, addr, size,
                        pio ? " pio" : ""));
  }
  kvm_coalesced_mmio_zone zone{};
  zone.addr = addr;
  zone.size = size;
  zone.pio = pio ? 1 : 0;
  if (ops_.Ioctl(fd(),
                 unregister ? KVM_UNREGISTER_COALESCED_MMIO
                            : KVM_REGISTER_COALESCED_MMIO,
                 &zone) < 0) {
    return ErrnoStatus(absl::StrFormat("%s addr=0x%x size=0x%x%s", op, addr,
                                       size, pio ? " pio" : ""));
  }
  // Never cleared: a vCPU may still find entries queued before unregister.
  if (!unregister) coalesced_.active.store(true, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status KvmVm::RegisterCoalescedMmio(uint64_t addr, uint32_t size,
                                          bool pio) {
  return CoalescedZone(addr, size, pio, false);
}

absl::Status KvmVm::UnregisterCoalescedMmio(uint64_t addr, uint32_t size,
                                            bool pio) {
  return CoalescedZone(addr, size, pio, true);
}

}  // namespace skiff::kvm
