#include "vmm/vm_config.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"

namespace skiff {
namespace {

absl::Status ValidateDevices(const std::vector<DiskConfig>& disks,
                             const std::vector<NetConfig>& nets,
                             const VsockConfig& vsock) {
  absl::flat_hash_set<std::string> ids;
  for (const DiskConfig& d : disks) {
    if (d.id.empty() || d.path.empty()) {
      return absl::InvalidArgumentError(
          "--disk: a disk needs an id and a path");
    }
    if (!ids.insert(d.id).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--disk: id '%s' is used twice", d.id));
    }
  }
  ids.clear();
  for (const NetConfig& n : nets) {
    if (n.id.empty() || n.tap.empty()) {
      return absl::InvalidArgumentError(
          "--net: an interface needs an id and a tap");
    }
    if (n.tap.size() > 15) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--net: tap name '%s' is longer than 15 characters", n.tap));
    }
    if (!ids.insert(n.id).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--net: id '%s' is used twice", n.id));
    }
  }
  if (vsock.enabled) {
    if (vsock.guest_cid < 3 || vsock.guest_cid == 0xffffffff) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--vsock: guest cid %u is reserved (use 3 or more)",
                          vsock.guest_cid));
    }
    // Room in sockaddr_un for "<uds>_<port>" with a 10-digit port.
    if (vsock.uds_path.empty() || vsock.uds_path.size() > 107 - 11) {
      return absl::InvalidArgumentError(
          absl::StrFormat("--vsock: uds path must be 1..96 characters, got %d",
                          vsock.uds_path.size()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

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
  if (serial.mode == SerialConfig::Mode::kSocket && serial.path.empty()) {
    return absl::InvalidArgumentError("--serial socket=PATH: empty path");
  }
  if (icount && accel == Accel::kKvm) {
    return absl::InvalidArgumentError(
        "--icount needs the interpreter (--accel tcg), not --accel kvm");
  }
  return ValidateDevices(disks, nets, vsock);
}

}  // namespace skiff
