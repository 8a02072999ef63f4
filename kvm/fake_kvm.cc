#include "kvm/fake_kvm.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "gtest/gtest.h"

namespace skiff::kvm {
namespace {

kvm_cpuid_entry2 Entry(uint32_t function, uint32_t eax, uint32_t ebx,
                       uint32_t ecx, uint32_t edx) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

int Fail(int err) {
  errno = err;
  return -1;
}

template <typename T>
T* Arg(unsigned long arg) {
  return reinterpret_cast<T*>(arg);
}

}  // namespace

kvm_cpuid_entry2 ToKvmCpuid(const CpuidEntry& e) {
  kvm_cpuid_entry2 k{};
  k.function = e.function;
  k.index = e.index;
  k.flags = e.flags;
  k.eax = e.eax;
  k.ebx = e.ebx;
  k.ecx = e.ecx;
  k.edx = e.edx;
  return k;
}

FakeKvm::FakeKvm() {
  for (int cap :
       {KVM_CAP_USER_MEMORY, KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_IRQCHIP,
        KVM_CAP_PIT2, KVM_CAP_IOEVENTFD, KVM_CAP_IRQFD, KVM_CAP_IRQ_ROUTING,
        KVM_CAP_EXT_CPUID, KVM_CAP_SET_TSS_ADDR, KVM_CAP_SET_IDENTITY_MAP_ADDR,
        KVM_CAP_TSC_DEADLINE_TIMER, KVM_CAP_COALESCED_PIO}) {
    caps[cap] = 1;
  }
  caps[KVM_CAP_MAX_VCPUS] = 8;
  caps[KVM_CAP_NR_MEMSLOTS] = 32;
  caps[KVM_CAP_COALESCED_MMIO] = KVM_COALESCED_MMIO_PAGE_OFFSET;
  supported_cpuid = {
      Entry(0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69),  // GenuineIntel
      Entry(1, 0x906ea, 0x00000800, 0x80200000 & ~(1u << 31), 0x178bfbff),
      Entry(0x40000000, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d),
      Entry(0x40000001, 0x01007afb, 0, 0, 0),
  };
}

FakeKvm::~FakeKvm() {
  absl::MutexLock lock(&mu_);
  for (auto& [index, v] : vcpus_) {
    if (v.mapping != nullptr) std::free(v.mapping);
  }
}

std::vector<FakeKvm::Call> FakeKvm::vm_calls() {
  absl::MutexLock lock(&mu_);
  return vm_calls_;
}

void FakeKvm::WithVcpu(int index, const std::function<void(Vcpu&)>& fn) {
  absl::MutexLock lock(&mu_);
  for (auto it = vcpus_.rbegin(); it != vcpus_.rend(); ++it) {
    if (it->second.index == index) {
      fn(it->second);
      return;
    }
  }
  ADD_FAILURE() << "FakeKvm: no vCPU " << index;
}

int FakeKvm::NewFd(FdInfo info) {
  int fd = ::eventfd(0, EFD_CLOEXEC);
  if (fd < 0) return fd;
  fds_[fd] = info;  // fd numbers are reused once the caller closes them
  vm_vcpu_indexes_.erase(fd);
  return fd;
}

int FakeKvm::Open(const std::string&, int) {
  if (open_errno != 0) return Fail(open_errno);
  absl::MutexLock lock(&mu_);
  return NewFd({Kind::kSystem});
}

int FakeKvm::Ioctl(int fd, unsigned long request, unsigned long arg) {
  int vcpu_index = -1;
  {
    absl::MutexLock lock(&mu_);
    auto it = fds_.find(fd);
    if (it == fds_.end()) return Fail(EBADF);
    switch (it->second.kind) {
      case Kind::kSystem:
        return SystemIoctl(request, arg);
      case Kind::kVm:
        return VmIoctl(fd, request, arg);
      case Kind::kVcpu:
        if (request != KVM_RUN) {
          return VcpuIoctl(vcpus_[it->second.vcpu], request, arg);
        }
        vcpu_index = it->second.vcpu;
        break;
    }
  }
  return Run(vcpu_index);
}

int FakeKvm::SystemIoctl(unsigned long request, unsigned long arg) {
  switch (request) {
    case KVM_GET_API_VERSION:
      return api_version;
    case KVM_CHECK_EXTENSION: {
      auto it = caps.find(static_cast<int>(arg));
      return it == caps.end() ? 0 : it->second;
    }
    case KVM_GET_VCPU_MMAP_SIZE:
      return mmap_size;
    case KVM_GET_SUPPORTED_CPUID: {
      auto* cpuid = Arg<kvm_cpuid2>(arg);
      if (cpuid->nent < supported_cpuid.size()) return Fail(E2BIG);
      cpuid->nent = static_cast<uint32_t>(supported_cpuid.size());
      std::copy(supported_cpuid.begin(), supported_cpuid.end(), cpuid->entries);
      return 0;
    }
    case KVM_CREATE_VM:
      return NewFd({Kind::kVm});
    default:
      return Fail(ENOTTY);
  }
}

int FakeKvm::VmIoctl(int vm_fd, unsigned long request, unsigned long arg) {
  Call call{request, {}, arg};
  if (_IOC_DIR(request) != _IOC_NONE && arg != 0) {
    const auto* p = reinterpret_cast<const uint8_t*>(arg);
    call.arg.assign(p, p + _IOC_SIZE(request));
  }
  vm_calls_.push_back(call);
  if (auto it = fail_vm_ioctl.find(request); it != fail_vm_ioctl.end()) {
    return Fail(it->second);
  }
  if (request == KVM_CREATE_VCPU) {
    const int index = static_cast<int>(arg);
    if (!vm_vcpu_indexes_[vm_fd].insert(index).second) return Fail(EEXIST);
    const int id = static_cast<int>(vcpus_.size());
    Vcpu& v = vcpus_[id];
    v.index = index;
    v.sregs.apic_base = 0xfee00900;
    // KVM's reset LVTs: LINT0 ExtINT on the BSP (LINT0_REENABLED quirk),
    // everything else masked.
    uint32_t lint0 = index == 0 ? 0x700 : 0x10000;
    uint32_t masked = 0x10000;
    std::memcpy(v.lapic.regs + 0x350, &lint0, 4);
    std::memcpy(v.lapic.regs + 0x360, &masked, 4);
    return NewFd({Kind::kVcpu, id});
  }
  return 0;
}

int FakeKvm::VcpuIoctl(Vcpu& v, unsigned long request, unsigned long arg) {
  switch (request) {
    case KVM_SET_CPUID2: {
      auto* cpuid = Arg<kvm_cpuid2>(arg);
      v.cpuid.assign(cpuid->entries, cpuid->entries + cpuid->nent);
      return 0;
    }
    case KVM_SET_MSRS: {
      auto* msrs = Arg<kvm_msrs>(arg);
      for (uint32_t i = 0; i < msrs->nmsrs; ++i) {
        if (refused_msrs.count(msrs->entries[i].index)) {
          return static_cast<int>(i);
        }
        v.msrs[msrs->entries[i].index] = msrs->entries[i].data;
      }
      return static_cast<int>(msrs->nmsrs);
    }
    case KVM_GET_MSRS: {
      auto* msrs = Arg<kvm_msrs>(arg);
      for (uint32_t i = 0; i < msrs->nmsrs; ++i) {
        auto it = v.msrs.find(msrs->entries[i].index);
        if (it == v.msrs.end()) return static_cast<int>(i);
        msrs->entries[i].data = it->second;
      }
      return static_cast<int>(msrs->nmsrs);
    }
    case KVM_SET_FPU:
      v.fpu = *Arg<kvm_fpu>(arg);
      return 0;
    case KVM_GET_REGS:
      *Arg<kvm_regs>(arg) = v.regs;
      return 0;
    case KVM_SET_REGS:
      v.regs = *Arg<kvm_regs>(arg);
      return 0;
    case KVM_GET_SREGS:
      *Arg<kvm_sregs>(arg) = v.sregs;
      return 0;
    case KVM_SET_SREGS:
      v.sregs = *Arg<kvm_sregs>(arg);
      return 0;
    case KVM_GET_LAPIC:
      *Arg<kvm_lapic_state>(arg) = v.lapic;
      return 0;
    case KVM_SET_LAPIC:
      v.lapic = *Arg<kvm_lapic_state>(arg);
      return 0;
    case KVM_TRANSLATE: {
      auto* tr = Arg<kvm_translation>(arg);
      uint64_t phys = 0;
      tr->valid = translate(tr->linear_address, &phys) ? 1 : 0;
      tr->physical_address = phys;
      return 0;
    }
    default:
      return Fail(ENOTTY);
  }
}

int FakeKvm::Run(int vcpu) {
  Vcpu* v;
  {
    absl::MutexLock lock(&mu_);
    v = &vcpus_[vcpu];  // std::map nodes are stable
    if (v->mapping == nullptr) return Fail(EFAULT);
    // Like kvm_arch_vcpu_ioctl_run: immediate_exit wins before anything.
    if (std::atomic_ref<uint8_t>(v->run()->immediate_exit).load() != 0) {
      v->run()->exit_reason = KVM_EXIT_INTR;
      return Fail(EINTR);
    }
    ++v->runs;
  }
  if (!run_script) return Fail(ENOSYS);
  return run_script(*v);
}

int FakeKvm::SpinUntilKicked(Vcpu& v) {
  for (;;) {
    if (std::atomic_ref<uint8_t>(v.run()->immediate_exit).load() != 0) {
      v.run()->exit_reason = KVM_EXIT_INTR;
      return Fail(EINTR);
    }
    // A pending kick signal interrupts the wait (no SA_RESTART).
    timespec ts{0, 2'000'000};
    if (::ppoll(nullptr, 0, &ts, nullptr) < 0 && errno == EINTR) {
      v.run()->exit_reason = KVM_EXIT_INTR;
      return Fail(EINTR);
    }
  }
}

void* FakeKvm::MapShared(int fd, size_t size) {
  absl::MutexLock lock(&mu_);
  auto it = fds_.find(fd);
  if (it == fds_.end() || it->second.kind != Kind::kVcpu) {
    errno = ENODEV;
    return nullptr;
  }
  const size_t rounded = (size + 4095) & ~size_t{4095};
  void* p = std::aligned_alloc(4096, rounded);
  if (p == nullptr) return nullptr;
  std::memset(p, 0, rounded);
  Vcpu& v = vcpus_[it->second.vcpu];
  v.mapping = static_cast<uint8_t*>(p);
  v.mapping_size = size;
  return p;
}

void FakeKvm::Unmap(void* addr, size_t) {
  absl::MutexLock lock(&mu_);
  for (auto& [index, v] : vcpus_) {
    if (v.mapping == addr) {
      v.mapping = nullptr;
      v.mapping_size = 0;
    }
  }
  std::free(addr);
}

}  // namespace skiff::kvm
