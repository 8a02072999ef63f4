// VmConfig is the complete description of a microVM to start, whatever
// front end produced it (the `skiff run` command line now; a config file or
// the API later). It holds no live resources.
//
//   VmConfig config;
//   config.kernel_path = "vmlinux";
//   config.vcpus = 2;
//   SKIFF_RETURN_IF_ERROR(config.Validate());
#ifndef SKIFF_VMM_VM_CONFIG_H_
#define SKIFF_VMM_VM_CONFIG_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace skiff {

enum class Accel { kAuto, kKvm, kTcg };

// What the per-thread seccomp filters do with a syscall outside a thread's
// allow-list (vmm/seccomp_filter.h): kill the process, log it and let it
// through, or install no filter at all.
enum class SeccompMode { kEnforce, kLog, kOff };

struct SerialConfig {
  // kFile: output to a file (truncated), a FIFO or a connected Unix
  // socket; kSocket: a listening Unix socket, one client at a time, in
  // both directions (vmm/console.h).
  enum class Mode { kStdio, kFile, kNone, kSocket };
  Mode mode = Mode::kStdio;
  std::string path;  // kFile and kSocket
};

// One virtio-blk device (`--disk`).
struct DiskConfig {
  std::string id;  // unique among disks; "disk<N>" when not given
  std::string path;
  bool read_only = false;
  bool direct = false;  // O_DIRECT: bypass the host page cache
  // With `direct`: large requests scattered over small guest pages go
  // through one bounce buffer (io/uring_block_backend.h, gather_below).
  bool gather = true;
};

// One virtio-net device on a host TAP interface (`--net`).
struct NetConfig {
  std::string id;   // unique among interfaces; "net<N>" when not given
  std::string tap;  // host interface name
  std::array<uint8_t, 6> mac = {};
  bool mac_set = false;  // false: a locally administered address is derived
};

// virtio-vsock with the host side on Unix sockets, as Firecracker does.
struct VsockConfig {
  bool enabled = false;
  uint32_t guest_cid = 3;
  std::string uds_path;
};

struct VmConfig {
  static constexpr int kMaxVcpus = 64;
  static constexpr uint64_t kMinMemory = 16ull << 20;
  static constexpr uint64_t kMaxMemory = 1ull << 40;

  std::string kernel_path;
  std::string initrd_path;
  std::string cmdline;
  bool cmdline_set = false;  // false: use the default command line

  int vcpus = 1;
  // Host CPUs each vCPU may run on; empty means no pinning. When set it has
  // one entry per vCPU.
  std::vector<std::vector<int>> affinity;

  uint64_t memory_bytes = 512ull << 20;
  bool memory_shared = false;  // memfd-backed
  std::string hugetlbfs_dir;   // hugetlbfs-backed when set

  Accel accel = Accel::kAuto;
  bool tcg_single_thread = false;  // --tcg-threads single (one host thread)
  bool tcg_jit = true;  // --tcg-jit: hot blocks compiled to host code
  // --icount: deterministic execution, guest time from the instruction
  // count (tcg only; implies tcg_single_thread; see README, tcg section).
  bool icount = false;
  SerialConfig serial;

  std::vector<DiskConfig> disks;
  std::vector<NetConfig> nets;
  VsockConfig vsock;
  bool rng = false;  // virtio-rng

  SeccompMode seccomp = SeccompMode::kEnforce;
  // Firecracker-style JSON lines go here (a file or a FIFO) when set,
  // every metrics_period_s seconds (0: only on demand and at exit).
  std::string metrics_path;
  int metrics_period_s = 60;

  absl::Status Validate() const;
};

std::string_view AccelName(Accel accel);

}  // namespace skiff

#endif  // SKIFF_VMM_VM_CONFIG_H_
