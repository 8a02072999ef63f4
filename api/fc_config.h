// FcConfig is the microVM configuration in Firecracker's terms: what the
// pre-boot API endpoints and a --config-file build up, field for field as in
// Firecracker's swagger (boot-source, machine-config, drives, ...). At
// InstanceStart it becomes a skiff VmConfig.
//
//   FcConfig fc;
//   fc.boot_source = FcBootSource{.kernel_image_path = "vmlinux"};
//   fc.drives.push_back({.drive_id = "rootfs", .path_on_host = "root.ext4",
//                        .is_root_device = true});
//   SKIFF_ASSIGN_OR_RETURN(VmConfig vm, fc.ToVmConfig());
//   // vm.cmdline ends in "root=/dev/vda rw"
#ifndef SKIFF_API_FC_CONFIG_H_
#define SKIFF_API_FC_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/log.h"
#include "vmm/vm_config.h"

namespace skiff::api {

// The command line used when boot_args is absent but a root device needs
// "root=" appended. It matches vmm/machine.cc's default; Firecracker's own
// default turns the serial console off (8250.nr_uarts=0), which would make
// a microVM started this way silent.
inline constexpr char kDefaultBootArgs[] =
    "console=ttyS0 reboot=k panic=-1 pci=off nomodule";

struct FcBootSource {
  std::string kernel_image_path;
  std::string initrd_path;               // empty: none
  std::optional<std::string> boot_args;  // absent: the default command line
};

struct FcMachineConfig {
  // Firecracker's defaults, so GET /machine-config answers like it does.
  int vcpu_count = 1;
  uint64_t mem_size_mib = 128;
};

struct FcDrive {
  std::string drive_id;
  std::string path_on_host;
  bool is_root_device = false;
  bool is_read_only = false;
  std::string partuuid;               // with is_root_device: root=PARTUUID=
  std::string cache_type = "Unsafe";  // "Unsafe" | "Writeback"
  std::string io_engine = "Sync";     // "Sync" | "Async"; both use io_uring
};

struct FcNetworkInterface {
  std::string iface_id;
  std::string host_dev_name;
  std::string guest_mac;  // "aa:bb:cc:dd:ee:ff" as given, or empty
};

struct FcVsock {
  uint32_t guest_cid = 3;
  std::string uds_path;
};

struct FcLogger {
  std::string log_path;        // empty: stderr
  std::string level = "Info";  // Error|Warning|Info|Debug|Trace|Off
  bool show_level = false;
  bool show_log_origin = false;
  std::string module;  // accepted and reported back, not used for filtering
  // `level` as skiff's log level (Trace is Debug).
  LogLevel log_level() const;
};

struct FcMetrics {
  std::string metrics_path;
};

struct FcConfig {
  std::optional<FcBootSource> boot_source;
  FcMachineConfig machine_config;
  std::vector<FcDrive> drives;  // in the order they were added
  std::vector<FcNetworkInterface> network_interfaces;
  std::optional<FcVsock> vsock;
  bool entropy = false;
  std::optional<FcLogger> logger;
  std::optional<FcMetrics> metrics;

  // The VmConfig to start: boot source required; the root drive (if any)
  // becomes the first disk, /dev/vda, and "root=/dev/vda" or
  // "root=PARTUUID=<partuuid>" plus "ro"/"rw" is appended to the command
  // line (Firecracker does the same). Runs VmConfig::Validate().
  absl::StatusOr<VmConfig> ToVmConfig() const;
};

// The reverse, for a VM started from the `skiff run` command line and then
// served over the API: GET /vm/config reports what runs. No drive is marked
// root (the command line says which, if any); boot_args is the command line
// when one was given.
FcConfig FcConfigFromVmConfig(const VmConfig& vm);

// Firecracker's id rule for drive_id / iface_id: 1..64 characters of
// [A-Za-z0-9_].
bool IsValidFcId(const std::string& id);

// Parses "aa:bb:cc:dd:ee:ff" (either case).
bool ParseMac(const std::string& text, std::array<uint8_t, 6>* mac);

}  // namespace skiff::api

#endif  // SKIFF_API_FC_CONFIG_H_
