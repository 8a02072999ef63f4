// FakeKvm: an in-process stand-in for /dev/kvm behind KvmOps, for tests on
// machines without KVM. It implements the ioctls kvm/ issues with plain
// state (registers, MSRs, CPUID, LAPIC, memory slots), records VM-level
// calls, injects errors, and lets each test script what KVM_RUN does.
// It checks kvm_run.immediate_exit on entry like the kernel does.
//
//   FakeKvm fake;
//   fake.run_script = [](FakeKvm::Vcpu& v) { v.run()->exit_reason =
//       KVM_EXIT_HLT; return 0; };
//   auto kvm = KvmSystem::Create("/dev/kvm", fake);
//
// Test-only. Thread-safe: vCPU threads and kickers may call it at once.
#ifndef SKIFF_KVM_FAKE_KVM_H_
#define SKIFF_KVM_FAKE_KVM_H_

#include <linux/kvm.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "kvm/cpuid.h"
#include "kvm/kvm_ops.h"

namespace skiff::kvm {

class FakeKvm : public KvmOps {
 public:
  struct Vcpu {
    int index = 0;
    uint8_t* mapping = nullptr;
    size_t mapping_size = 0;
    kvm_regs regs{};
    kvm_sregs sregs{};
    kvm_fpu fpu{};
    kvm_lapic_state lapic{};
    std::map<uint32_t, uint64_t> msrs;
    std::vector<kvm_cpuid_entry2> cpuid;
    int runs = 0;  // KVM_RUN calls that reached run_script
    kvm_run* run() { return reinterpret_cast<kvm_run*>(mapping); }
  };
  struct Call {
    unsigned long request;
    std::vector<uint8_t> arg;  // a copy of the argument struct, if any
    unsigned long value = 0;   // the argument itself
    template <typename T>
    T As() const {
      T t{};
      std::memcpy(&t, arg.data(), std::min(sizeof(T), arg.size()));
      return t;
    }
  };

  FakeKvm();
  ~FakeKvm() override;

  // --- configuration (set before use) ---
  int open_errno = 0;  // non-zero: Open fails with it
  int api_version = kApiVersion;
  std::map<int, int> caps;  // KVM_CHECK_EXTENSION answers; others 0
  int mmap_size = 3 * 4096;
  std::vector<kvm_cpuid_entry2> supported_cpuid;
  std::map<unsigned long, int> fail_vm_ioctl;  // request -> errno
  std::set<uint32_t> refused_msrs;             // KVM_SET_MSRS stops there
  // linear -> physical; unmapped addresses translate as invalid.
  std::function<bool(uint64_t linear, uint64_t* phys)> translate =
      [](uint64_t linear, uint64_t* phys) {
        *phys = linear;
        return linear < (1ull << 30);
      };
  // What KVM_RUN does once immediate_exit was found clear: fill the exit in
  // v.run() and return 0, or return -1 with errno set.
  std::function<int(Vcpu& v)> run_script;

  // --- observation ---
  std::vector<Call> vm_calls() ABSL_LOCKS_EXCLUDED(mu_);
  // The most recently created vCPU with this index; holds mu_ while `fn`
  // runs.
  void WithVcpu(int index, const std::function<void(Vcpu&)>& fn)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks like a guest spinning in KVM_RUN until a signal arrives or
  // immediate_exit is set, then returns -1/EINTR (KVM_EXIT_INTR). For
  // run_script.
  static int SpinUntilKicked(Vcpu& v);

  // KvmOps
  int Open(const std::string& path, int flags) override;
  int Ioctl(int fd, unsigned long request, unsigned long arg) override;
  void* MapShared(int fd, size_t size) override;
  void Unmap(void* addr, size_t size) override;

  static constexpr int kApiVersion = 12;

 private:
  enum class Kind { kSystem, kVm, kVcpu };
  struct FdInfo {
    Kind kind;
    int vcpu = -1;  // key in vcpus_
  };
  int NewFd(FdInfo info) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int SystemIoctl(unsigned long request, unsigned long arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int VmIoctl(int vm_fd, unsigned long request, unsigned long arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int VcpuIoctl(Vcpu& v, unsigned long request, unsigned long arg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int Run(int vcpu) ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  std::map<int, FdInfo> fds_ ABSL_GUARDED_BY(mu_);
  std::map<int, Vcpu> vcpus_ ABSL_GUARDED_BY(mu_);  // by creation order
  std::map<int, std::set<int>> vm_vcpu_indexes_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> vm_calls_ ABSL_GUARDED_BY(mu_);
};

// kvm_cpuid_entry2 from a CpuidEntry.
kvm_cpuid_entry2 ToKvmCpuid(const CpuidEntry& e);

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_FAKE_KVM_H_
