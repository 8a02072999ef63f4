#include "kvm/kvm_system.h"

#include <fcntl.h>
#include <linux/kvm.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "kvm/ioctl_buffer.h"

namespace skiff::kvm {
namespace {

#define SKIFF_KVM_CAP(x) \
  KvmCapability { x, #x }
constexpr KvmCapability kRequired[] = {
    SKIFF_KVM_CAP(KVM_CAP_USER_MEMORY),  SKIFF_KVM_CAP(KVM_CAP_IMMEDIATE_EXIT),
    SKIFF_KVM_CAP(KVM_CAP_IRQCHIP),      SKIFF_KVM_CAP(KVM_CAP_PIT2),
    SKIFF_KVM_CAP(KVM_CAP_IOEVENTFD),    SKIFF_KVM_CAP(KVM_CAP_IRQFD),
    SKIFF_KVM_CAP(KVM_CAP_IRQ_ROUTING),  SKIFF_KVM_CAP(KVM_CAP_EXT_CPUID),
    SKIFF_KVM_CAP(KVM_CAP_SET_TSS_ADDR),
};
#undef SKIFF_KVM_CAP

// KVM_MAX_CPUID_ENTRIES is 256 in current kernels; grow on E2BIG anyway.
constexpr uint32_t kInitialCpuidEntries = 256;
constexpr uint32_t kMaxCpuidEntries = 4096;

}  // namespace

absl::Span<const KvmCapability> RequiredCapabilities() { return kRequired; }

absl::Status KvmOpenError(const std::string& path, int err) {
  absl::Status base = ErrnoStatus(absl::StrCat("open ", path), err);
  std::string message(base.message());
  switch (err) {
    case ENOENT:
    case ENXIO:
    case ENODEV:
      return absl::NotFoundError(absl::StrCat(
          "no /dev/kvm: ", message,
          "; this host has no KVM (no hardware virtualization or the kvm "
          "module is not loaded); use --accel tcg"));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrCat(
          message,
          "; add this user to the kvm group (sudo usermod -aG kvm $USER, then "
          "log in again) or use --accel tcg"));
    default:
      return absl::UnavailableError(
          absl::StrCat(message, "; use --accel tcg to run without KVM"));
  }
}

absl::Status CheckApiVersion(const std::string& path, int version) {
  if (version == kKvmApiVersion) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("KVM_GET_API_VERSION on ", path, " returned ", version,
                   ", skiff needs ", kKvmApiVersion));
}

absl::Status MissingCapabilitiesError(const std::string& path,
                                      const std::vector<std::string>& missing) {
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("KVM on ", path, " lacks required capabilities: ",
                   absl::StrJoin(missing, ", "), "; use --accel tcg"));
}

absl::StatusOr<std::unique_ptr<KvmSystem>> KvmSystem::Create(
    const std::string& path, KvmOps& ops) {
  int raw = ops.Open(path, O_RDWR | O_CLOEXEC);
  if (raw < 0) return KvmOpenError(path, errno);
  std::unique_ptr<KvmSystem> kvm(new KvmSystem(UniqueFd(raw), path, ops));

  int version = ops.Ioctl(kvm->fd(), KVM_GET_API_VERSION, 0ul);
  if (version < 0) {
    return ErrnoStatus(
        absl::StrCat("KVM_GET_API_VERSION on ", path, " (is it /dev/kvm?)"));
  }
  SKIFF_RETURN_IF_ERROR(CheckApiVersion(path, version));
  SKIFF_RETURN_IF_ERROR(
      MissingCapabilitiesError(path, MissingCapabilities([&](int cap) {
                                 return kvm->CheckExtension(cap) > 0;
                               })));

  int mmap_size = ops.Ioctl(kvm->fd(), KVM_GET_VCPU_MMAP_SIZE, 0ul);
  if (mmap_size < 0) return ErrnoStatus("KVM_GET_VCPU_MMAP_SIZE");
  if (static_cast<size_t>(mmap_size) < sizeof(kvm_run)) {
    return absl::FailedPreconditionError(
        absl::StrCat("KVM_GET_VCPU_MMAP_SIZE returned ", mmap_size,
                     ", smaller than struct kvm_run (", sizeof(kvm_run), ")"));
  }
  kvm->vcpu_mmap_size_ = static_cast<size_t>(mmap_size);
  SKIFF_ASSIGN_OR_RETURN(kvm->supported_cpuid_, kvm->GetSupportedCpuid());
  return kvm;
}

int KvmSystem::CheckExtension(int capability) const {
  int r = ops_.Ioctl(fd_.get(), KVM_CHECK_EXTENSION,
                     static_cast<unsigned long>(capability));
  return r < 0 ? 0 : r;
}

absl::StatusOr<std::vector<CpuidEntry>> KvmSystem::GetSupportedCpuid() const {
  for (uint32_t n = kInitialCpuidEntries; n <= kMaxCpuidEntries; n *= 2) {
    IoctlBuffer buf(sizeof(kvm_cpuid2) + n * sizeof(kvm_cpuid_entry2));
    auto* cpuid = buf.As<kvm_cpuid2>();
    cpuid->nent = n;
    if (ops_.Ioctl(fd_.get(), KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
      if (errno == E2BIG) continue;
      return ErrnoStatus(absl::StrCat("KVM_GET_SUPPORTED_CPUID nent=", n));
    }
    std::vector<CpuidEntry> out;
    out.reserve(cpuid->nent);
    for (uint32_t i = 0; i < cpuid->nent && i < n; ++i) {
      const kvm_cpuid_entry2& e = cpuid->entries[i];
      out.push_back({e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx});
    }
    return out;
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "KVM_GET_SUPPORTED_CPUID: more than ", kMaxCpuidEntries, " entries"));
}

}  // namespace skiff::kvm
