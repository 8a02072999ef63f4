#include "api/fc_config.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace skiff::api {

LogLevel FcLogger::log_level() const {
  std::string l = absl::AsciiStrToLower(level);
  if (l == "error") return LogLevel::kError;
  if (l == "warning") return LogLevel::kWarn;
  if (l == "debug" || l == "trace") return LogLevel::kDebug;
  if (l == "off") return LogLevel::kOff;
  return LogLevel::kInfo;
}

bool IsValidFcId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return false;
    }
  }
  return true;
}

bool ParseMac(const std::string& text, std::array<uint8_t, 6>* mac) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts.size() != 6) return false;
  for (size_t i = 0; i < 6; ++i) {
    if (parts[i].size() != 2 ||
        !absl::ascii_isxdigit(static_cast<unsigned char>(parts[i][0])) ||
        !absl::ascii_isxdigit(static_cast<unsigned char>(parts[i][1]))) {
      return false;
    }
    uint32_t byte = 0;
    if (!absl::SimpleHexAtoi(parts[i], &byte)) return false;
    (*mac)[i] = static_cast<uint8_t>(byte);
  }
  return true;
}

absl::StatusOr<VmConfig> FcConfig::ToVmConfig() const {
  if (!boot_source.has_value()) {
    return absl::InvalidArgumentError(
        "boot-source: not configured (PUT /boot-source first)");
  }
  VmConfig vm;
  vm.kernel_path = boot_source->kernel_image_path;
  vm.initrd_path = boot_source->initrd_path;
  vm.vcpus = machine_config.vcpu_count;
  if (machine_config.mem_size_mib > (VmConfig::kMaxMemory >> 20)) {
    return absl::InvalidArgumentError(
        "machine-config: mem_size_mib exceeds 1 TiB");
  }
  vm.memory_bytes = machine_config.mem_size_mib << 20;

  // Firecracker makes the root device the first block device so the guest
  // sees it as /dev/vda whatever order the drives were added in.
  const FcDrive* root = nullptr;
  for (const FcDrive& d : drives) {
    if (d.is_root_device) root = &d;
  }
  auto add_disk = [&vm](const FcDrive& d) {
    DiskConfig disk;
    disk.id = d.drive_id;
    disk.path = d.path_on_host;
    disk.read_only = d.is_read_only;
    vm.disks.push_back(std::move(disk));
  };
  if (root != nullptr) add_disk(*root);
  for (const FcDrive& d : drives) {
    if (&d != root) add_disk(d);
  }

  if (boot_source->boot_args.has_value()) {
    vm.cmdline = *boot_source->boot_args;
    vm.cmdline_set = true;
  }
  if (root != nullptr) {
    if (!vm.cmdline_set) {
      vm.cmdline = kDefaultBootArgs;
      vm.cmdline_set = true;
    }
    std::string dev = root->partuuid.empty()
                          ? std::string("/dev/vda")
                          : absl::StrCat("PARTUUID=", root->partuuid);
    absl::StrAppend(&vm.cmdline, vm.cmdline.empty() ? "" : " ", "root=", dev,
                    root->is_read_only ? " ro" : " rw");
  }

  for (const FcNetworkInterface& n : network_interfaces) {
    NetConfig net;
    net.id = n.iface_id;
    net.tap = n.host_dev_name;
    if (!n.guest_mac.empty()) {
      if (!ParseMac(n.guest_mac, &net.mac)) {
        return absl::InvalidArgumentError(
            absl::StrCat("network-interfaces: ", n.iface_id,
                         ": guest_mac is not a MAC address"));
      }
      net.mac_set = true;
    }
    vm.nets.push_back(std::move(net));
  }
  if (vsock.has_value()) {
    vm.vsock.enabled = true;
    vm.vsock.guest_cid = vsock->guest_cid;
    vm.vsock.uds_path = vsock->uds_path;
  }
  vm.rng = entropy;
  if (absl::Status s = vm.Validate(); !s.ok()) return s;
  return vm;
}

FcConfig FcConfigFromVmConfig(const VmConfig& vm) {
  FcConfig c;
  FcBootSource b;
  b.kernel_image_path = vm.kernel_path;
  b.initrd_path = vm.initrd_path;
  if (vm.cmdline_set) b.boot_args = vm.cmdline;
  c.boot_source = std::move(b);
  c.machine_config.vcpu_count = vm.vcpus;
  c.machine_config.mem_size_mib = vm.memory_bytes >> 20;
  for (const DiskConfig& d : vm.disks) {
    FcDrive drive;
    drive.drive_id = d.id;
    drive.path_on_host = d.path;
    drive.is_read_only = d.read_only;
    c.drives.push_back(std::move(drive));
  }
  for (const NetConfig& n : vm.nets) {
    FcNetworkInterface iface;
    iface.iface_id = n.id;
    iface.host_dev_name = n.tap;
    if (n.mac_set) {
      iface.guest_mac =
          absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", n.mac[0], n.mac[1],
                          n.mac[2], n.mac[3], n.mac[4], n.mac[5]);
    }
    c.network_interfaces.push_back(std::move(iface));
  }
  if (vm.vsock.enabled) {
    c.vsock = FcVsock{vm.vsock.guest_cid, vm.vsock.uds_path};
  }
  c.entropy = vm.rng;
  return c;
}

}  // namespace skiff::api
