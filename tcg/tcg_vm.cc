#include "tcg/tcg_vm.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tcg/tcg_vcpu.h"

namespace skiff::tcg {

absl::StatusOr<std::unique_ptr<TcgVm>> TcgVm::Create(
    const GuestMemory& memory, const TcgOptions& options) {
  if (options.num_vcpus < 1 || options.num_vcpus > 255) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tcg: num_vcpus=", options.num_vcpus, " must be in [1, 255]"));
  }
  return std::unique_ptr<TcgVm>(new TcgVm(memory, options));
}

absl::StatusOr<std::unique_ptr<VcpuBackend>> TcgVm::CreateVcpu(int index) {
  if (index < 0 || index >= options_.num_vcpus) {
    return absl::InvalidArgumentError(absl::StrCat("tcg: vcpu index ", index,
                                                   " out of range [0, ",
                                                   options_.num_vcpus, ")"));
  }
  const GuestClock* clock;
  {
    absl::MutexLock lock(&mu_);
    clock = clock_;
    if (created_[static_cast<size_t>(index)]) {
      return absl::AlreadyExistsError(
          absl::StrCat("tcg: vcpu ", index, " already created"));
    }
    created_[static_cast<size_t>(index)] = true;
  }
  // Another vCPU, or another process mapping file-backed RAM, could write
  // guest RAM without a report.
  bool writes_reported = options_.num_vcpus == 1;
  for (const GuestMemory::Region& r : memory_.regions()) {
    if (r.fd >= 0) writes_reported = false;
  }
  auto vcpu =
      std::make_unique<TcgVcpu>(memory_, index, &code_epoch_, writes_reported);
  vcpu->set_guest_clock(clock);
  vcpu->set_jit_enabled(options_.jit);
  return std::unique_ptr<VcpuBackend>(std::move(vcpu));
}

absl::StatusOr<std::unique_ptr<IrqLine>> TcgVm::CreateIrqLine(uint32_t gsi) {
  return std::unique_ptr<IrqLine>(std::make_unique<TcgIrqLine>(gsi));
}

}  // namespace skiff::tcg
