// KvmSystem owns the /dev/kvm file descriptor: it checks that the host's KVM
// is one skiff can drive (API version 12 and the capabilities listed in
// RequiredCapabilities()) and answers system-wide queries.
//
//   SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<KvmSystem> kvm,
//   KvmSystem::Create()); SKIFF_ASSIGN_OR_RETURN(auto vm, KvmVm::Create(*kvm,
//   memory, {.num_vcpus = 2}));
//
// Errors say what to do: a missing device suggests `--accel tcg`, a
// permission error names the kvm group, a missing capability is named.
//
// Thread-safety: immutable after Create; all methods are safe from any thread.
#ifndef SKIFF_KVM_KVM_SYSTEM_H_
#define SKIFF_KVM_KVM_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/unique_fd.h"
#include "kvm/cpuid.h"
#include "kvm/kvm_ops.h"

namespace skiff::kvm {

inline constexpr int kKvmApiVersion = 12;

struct KvmCapability {
  int id;                 // KVM_CAP_*
  std::string_view name;  // "KVM_CAP_IRQFD"
};

// The capabilities skiff cannot work without.
absl::Span<const KvmCapability> RequiredCapabilities();

// The names of the required capabilities for which `has(id)` is false.
template <typename HasCapability>
std::vector<std::string> MissingCapabilities(HasCapability has) {
  std::vector<std::string> missing;
  for (const KvmCapability& cap : RequiredCapabilities()) {
    if (!has(cap.id)) missing.emplace_back(cap.name);
  }
  return missing;
}

// The status Create returns when open(path) failed with `err`.
absl::Status KvmOpenError(const std::string& path, int err);
// OK for version 12, else a FailedPrecondition naming both versions.
absl::Status CheckApiVersion(const std::string& path, int version);
// FailedPrecondition listing `missing`, or OK when empty.
absl::Status MissingCapabilitiesError(const std::string& path,
                                      const std::vector<std::string>& missing);

class KvmSystem {
 public:
  // `ops` (tests pass a fake) must outlive the KvmSystem and everything
  // created from it.
  static absl::StatusOr<std::unique_ptr<KvmSystem>> Create(
      const std::string& path = "/dev/kvm", KvmOps& ops = KvmOps::Real());

  KvmSystem(const KvmSystem&) = delete;
  KvmSystem& operator=(const KvmSystem&) = delete;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  KvmOps& ops() const { return ops_; }

  // KVM_CHECK_EXTENSION on the system fd: 0 when absent, else a positive,
  // capability-specific value (e.g. the slot count for KVM_CAP_NR_MEMSLOTS).
  int CheckExtension(int capability) const;

  // Size of each vCPU's kvm_run mapping (KVM_GET_VCPU_MMAP_SIZE).
  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }

  // KVM_GET_SUPPORTED_CPUID, read once at Create.
  absl::Span<const CpuidEntry> supported_cpuid() const {
    return supported_cpuid_;
  }

  // Reads KVM_GET_SUPPORTED_CPUID again.
  absl::StatusOr<std::vector<CpuidEntry>> GetSupportedCpuid() const;

 private:
  KvmSystem(UniqueFd fd, std::string path, KvmOps& ops)
      : fd_(std::move(fd)), path_(std::move(path)), ops_(ops) {}

  // Constant after Create.
  UniqueFd fd_;
  std::string path_;
  KvmOps& ops_;
  size_t vcpu_mmap_size_ = 0;
  std::vector<CpuidEntry> supported_cpuid_;
};

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_KVM_SYSTEM_H_
