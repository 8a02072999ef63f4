#include "vmm/vm_config.h"

#include "absl/strings/str_format.h"

namespace skiff {

std::string_view AccelName(Accel accel) {
  switch (accel) {
    case Accel::kAuto:
      return "auto";
    case Accel::kKvm:
      return "kvm";
    case Accel::kTcg:
      return "tcg";
  }
  return "unknown";
}

absl::Status VmConfig::Validate() const {
  if (kernel_path.empty()) {
    return absl::InvalidArgumentError("no kernel given (--kernel PATH)");
  }
  if (vcpus < 1 || vcpus > kMaxVcpus) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--cpus: %d vCPUs is outside 1..%d", vcpus, kMaxVcpus));
  }
  if (!affinity.empty() && static_cast<int>(affinity.size()) != vcpus) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--cpus: affinity lists %d vCPUs but there are %d",
                        affinity.size(), vcpus));
  }
  if (memory_bytes < kMinMemory || memory_bytes > kMaxMemory) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--memory: %u bytes is outside 16 MiB..1 TiB", memory_bytes));
  }
  if (memory_bytes % 4096 != 0) {
    return absl::InvalidArgumentError(
        "--memory: size must be a multiple of 4 KiB");
  }
  if (serial.mode == SerialConfig::Mode::kFile && serial.path.empty()) {
    return absl::InvalidArgumentError("--serial file=PATH: empty path");
  }
  return absl::OkStatus();
}

}  // namespace skiff
