#include "vmm/run_flags.h"

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "vmm/device_flags.h"
#include "vmm/option_parser.h"

namespace skiff {
namespace {

absl::Status FlagError(absl::string_view flag, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "%s: %s", std::string(flag), std::string(status.message())));
}

absl::Status ParseCpus(const std::string& value, VmConfig& config) {
  SKIFF_ASSIGN_OR_RETURN(KeyValueList kv, ParseKeyValueList(value));
  std::string count = kv.positional;
  std::string affinity;
  for (const auto& [key, v] : kv.items) {
    if (key == "boot" || key == "count") {
      count = v;
    } else if (key == "affinity") {
      affinity = v;
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown key '%s' (expected count, affinity)", key));
    }
  }
  if (!count.empty()) {
    SKIFF_ASSIGN_OR_RETURN(int64_t n, ParseInt(count, 1, VmConfig::kMaxVcpus));
    config.vcpus = static_cast<int>(n);
  }
  config.affinity.clear();
  if (!affinity.empty()) {
    for (absl::string_view per_vcpu : absl::StrSplit(affinity, ':')) {
      SKIFF_ASSIGN_OR_RETURN(std::vector<int> cpus, ParseCpuList(per_vcpu));
      config.affinity.push_back(std::move(cpus));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseMemory(const std::string& value, VmConfig& config) {
  SKIFF_ASSIGN_OR_RETURN(KeyValueList kv, ParseKeyValueList(value));
  std::string size = kv.positional;
  for (const auto& [key, v] : kv.items) {
    if (key == "size") {
      size = v;
    } else if (key == "shared") {
      SKIFF_ASSIGN_OR_RETURN(config.memory_shared, ParseBool(v));
    } else if (key == "hugetlbfs") {
      if (v.empty()) return absl::InvalidArgumentError("hugetlbfs: empty path");
      config.hugetlbfs_dir = v;
    } else {
      return absl::InvalidArgumentError(absl::StrFormat(
          "unknown key '%s' (expected size, shared, hugetlbfs)", key));
    }
  }
  if (!size.empty()) {
    // A bare number is MiB, like QEMU's -m and Firecracker's mem_size_mib.
    SKIFF_ASSIGN_OR_RETURN(config.memory_bytes, ParseSize(size, 1ull << 20));
  }
  return absl::OkStatus();
}

absl::Status ParseSerial(const std::string& value, VmConfig& config) {
  if (value == "stdio") {
    config.serial = {SerialConfig::Mode::kStdio, ""};
  } else if (value == "none" || value == "off") {
    config.serial = {SerialConfig::Mode::kNone, ""};
  } else if (absl::StartsWith(value, "file=")) {
    config.serial = {SerialConfig::Mode::kFile, value.substr(5)};
    if (config.serial.path.empty()) {
      return absl::InvalidArgumentError("file=: empty path");
    }
  } else if (absl::StartsWith(value, "socket=")) {
    config.serial = {SerialConfig::Mode::kSocket, value.substr(7)};
    if (config.serial.path.empty()) {
      return absl::InvalidArgumentError("socket=: empty path");
    }
  } else {
    return absl::InvalidArgumentError(absl::StrFormat(
        "'%s' (expected stdio, file=PATH, socket=PATH or none)", value));
  }
  return absl::OkStatus();
}

absl::Status ParseMetrics(const std::string& value, VmConfig& config) {
  SKIFF_ASSIGN_OR_RETURN(KeyValueList kv, ParseKeyValueList(value));
  std::string path = kv.positional;
  for (const auto& [key, v] : kv.items) {
    if (key == "path") {
      path = v;
    } else if (key == "period") {
      SKIFF_ASSIGN_OR_RETURN(int64_t s, ParseInt(v, 0, 86400));
      config.metrics_period_s = static_cast<int>(s);
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown key '%s' (expected path, period)", key));
    }
  }
  if (path.empty()) return absl::InvalidArgumentError("empty path");
  config.metrics_path = path;
  return absl::OkStatus();
}

absl::StatusOr<LogLevel> ParseLogLevel(const std::string& value) {
  if (value == "debug") return LogLevel::kDebug;
  if (value == "info") return LogLevel::kInfo;
  if (value == "warn") return LogLevel::kWarn;
  if (value == "error") return LogLevel::kError;
  if (value == "off") return LogLevel::kOff;
  return absl::InvalidArgumentError(absl::StrFormat(
      "'%s' (expected debug, info, warn, error or off)", value));
}

}  // namespace

namespace {

absl::StatusOr<RunFlags> ParseRunFlagsImpl(
    const std::vector<std::string>& args) {
  RunFlags flags;
  VmConfig& config = flags.config;
  for (size_t i = 0; i < args.size(); ++i) {
    SKIFF_ASSIGN_OR_RETURN(
        CommandFlag parsed,
        ReadCommandFlag(args, i, [](const std::string& name) {
          return name == "--help" || name == "--icount" || name == "--rng";
        }));
    const std::string& flag = parsed.name;
    const std::string& value = parsed.value;
    const bool has_value = parsed.has_value;
    if (flag == "--help") {
      flags.help = true;
      continue;
    }
    if (flag == "--icount" && !has_value) {  // a switch
      config.icount = true;
      continue;
    }
    if (flag == "--rng" && !has_value) {  // a switch; --rng=off also works
      config.rng = true;
      continue;
    }
    absl::Status st;
    if (flag == "--kernel") {
      config.kernel_path = value;
    } else if (flag == "--initrd") {
      config.initrd_path = value;
    } else if (flag == "--cmdline") {
      config.cmdline = value;
      config.cmdline_set = true;
    } else if (flag == "--cpus") {
      st = ParseCpus(value, config);
    } else if (flag == "--memory") {
      st = ParseMemory(value, config);
    } else if (flag == "--accel") {
      if (value == "kvm") {
        config.accel = Accel::kKvm;
      } else if (value == "tcg") {
        config.accel = Accel::kTcg;
      } else if (value == "auto") {
        config.accel = Accel::kAuto;
      } else {
        st = absl::InvalidArgumentError(
            absl::StrFormat("'%s' (expected kvm, tcg or auto)", value));
      }
    } else if (flag == "--tcg-threads") {
      if (value == "single" || value == "multi") {
        config.tcg_single_thread = value == "single";
      } else {
        st = absl::InvalidArgumentError(
            absl::StrFormat("'%s' (expected single or multi)", value));
      }
    } else if (flag == "--tcg-jit") {
      if (value == "on" || value == "off") {
        config.tcg_jit = value == "on";
      } else {
        st = absl::InvalidArgumentError(
            absl::StrFormat("'%s' (expected on or off)", value));
      }
    } else if (flag == "--disk") {
      auto disk = ParseDiskFlag(value, static_cast<int>(config.disks.size()));
      if (disk.ok()) config.disks.push_back(*std::move(disk));
      st = disk.status();
    } else if (flag == "--net") {
      auto net = ParseNetFlag(value, static_cast<int>(config.nets.size()));
      if (net.ok()) config.nets.push_back(*std::move(net));
      st = net.status();
    } else if (flag == "--vsock") {
      auto vsock = ParseVsockFlag(value);
      if (vsock.ok()) config.vsock = *std::move(vsock);
      st = vsock.status();
    } else if (flag == "--rng") {
      auto on = ParseBool(value);
      if (on.ok()) config.rng = *on;
      st = on.status();
    } else if (flag == "--serial") {
      st = ParseSerial(value, config);
    } else if (flag == "--seccomp") {
      if (value == "enforce") {
        config.seccomp = SeccompMode::kEnforce;
      } else if (value == "log") {
        config.seccomp = SeccompMode::kLog;
      } else if (value == "off") {
        config.seccomp = SeccompMode::kOff;
      } else {
        st = absl::InvalidArgumentError(
            absl::StrFormat("'%s' (expected enforce, log or off)", value));
      }
    } else if (flag == "--metrics") {
      st = ParseMetrics(value, config);
    } else if (flag == "--api-socket") {
      if (value.empty()) st = absl::InvalidArgumentError("empty path");
      flags.api_socket = value;
    } else if (flag == "--shutdown-timeout") {
      auto seconds = ParseInt(value, 0, 3600);
      if (seconds.ok()) flags.shutdown_timeout = absl::Seconds(*seconds);
      st = seconds.status();
    } else if (flag == "--log-level") {
      auto level = ParseLogLevel(value);
      if (level.ok()) flags.log_level = *level;
      st = level.status();
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown flag '%s' (see skiff run --help)", flag));
    }
    if (!st.ok()) return FlagError(flag, st);
  }
  if (flags.help) return flags;
  // --icount runs every vCPU on one interpreter thread; --accel kvm with
  // it is refused by Validate below.
  if (config.icount && config.accel != Accel::kKvm) {
    config.accel = Accel::kTcg;
    config.tcg_single_thread = true;
  }
  // Without --kernel the caller boots the default microVM: check the rest.
  VmConfig checked = config;
  if (checked.kernel_path.empty()) checked.kernel_path = "default";
  SKIFF_RETURN_IF_ERROR(checked.Validate());
  return flags;
}

}  // namespace

absl::StatusOr<RunFlags> ParseRunFlags(const std::vector<std::string>& args) {
  absl::StatusOr<RunFlags> flags = ParseRunFlagsImpl(args);
  if (!flags.ok()) return OneLineStatus(flags.status());
  return flags;
}

const char* RunHelpText() {
  return R"(usage: skiff run [--kernel PATH] [options]

Boots a microVM and runs it until the guest resets or powers off. Without
--kernel it boots the default microVM that scripts/setup prepares (a small
Linux kernel and a busybox initramfs that starts a shell on the console),
from $SKIFF_CACHE/default (default ~/.cache/skiff/default).

Guest:
  --kernel PATH        kernel to boot: ELF vmlinux (PVH note honoured),
                       bzImage, or a multiboot v1 kernel
  --initrd PATH        initial ramdisk
  --cmdline STR        kernel command line (default:
                       "console=ttyS0 reboot=k panic=-1 pci=off nomodule")
Machine:
  --cpus N[,affinity=L0:L1:...]
                       vCPU count (1..64) and, optionally, the host CPUs each
                       vCPU runs on: one list per vCPU, separated by ':',
                       each like 3, 0-3 or 0-1+6 (e.g. --cpus 2,affinity=0:1)
  --memory SIZE[,shared=on][,hugetlbfs=DIR]
                       guest RAM (default 512M; a bare number is MiB;
                       K/M/G/T suffixes); shared=on backs it with a memfd,
                       hugetlbfs=DIR with huge pages from that mount
  --accel kvm|tcg|auto KVM, the built-in interpreter, or KVM when this
                       host's KVM can run Linux (see skiff probe) and the
                       interpreter otherwise (default auto)
  --tcg-threads single|multi
                       interpreter only: one host thread per vCPU (multi,
                       the default) or all vCPUs taking turns on one host
                       thread (single; 100000-instruction time slices)
  --tcg-jit on|off     interpreter only: compile hot 64-bit code to host
                       instructions (default on)
  --icount             deterministic interpreter: guest time is the number
                       of instructions retired (1 ns each); implies --accel
                       tcg and --tcg-threads single; logs "icount
                       instructions=N" at exit
Devices (virtio-mmio, served by an io_uring thread):
  --disk path=IMG[,readonly=on][,id=NAME][,direct=on][,gather=off]
                       a raw disk image as virtio-blk (repeatable; Linux
                       names them vda, vdb, ... in order); readonly=on
                       answers guest writes with an I/O error, direct=on
                       bypasses the host page cache (O_DIRECT), and then
                       gather=off hands scattered requests to the host as
                       they are instead of through a bounce buffer
  --net tap=NAME[,mac=02:00:00:00:00:01][,id=NAME]
                       virtio-net on a host TAP interface (repeatable;
                       created when skiff may, else it must exist and be
                       usable by this user; the host brings it up); without
                       mac= a locally administered one is derived
  --vsock cid=N,uds=PATH
                       virtio-vsock with guest CID N (3 or more); the host
                       side is the Unix socket PATH, as in Firecracker:
                       connect and write "CONNECT <port>\n" to reach a guest
                       listener; guest connections to CID 2 port P reach the
                       socket PATH_P
  --rng[=on|off]       virtio-rng fed from the host's getrandom
Console:
  --serial stdio|file=PATH|socket=PATH|none
                       where the 8250 UART at 0x3f8 goes (default stdio; on
                       a terminal, stdin is raw and Ctrl-A x quits).
                       file=: output only; a regular file is truncated
                       (like QEMU's -serial file:), a FIFO is written
                       without waiting for a reader, an existing Unix
                       socket is connected to. socket=: listen on a new
                       Unix socket (mode 0600), one client at a time for
                       input and output; output is dropped while no
                       client is connected
Other:
  --seccomp enforce|log|off
                       per-thread syscall allow-lists (vCPU, I/O loop, API,
                       main): a syscall outside them kills the process
                       (enforce, the default), is logged by the kernel to
                       the audit log / dmesg (log), or no filter is installed
                       (off)
  --metrics PATH[,period=S]
                       append Firecracker-style JSON lines (one object per
                       line: vCPU exits by reason, event loop and device
                       counters) to the file or FIFO PATH every S seconds
                       (default 60; 0: only at exit) and at exit
  --api-socket PATH    serve the Firecracker-compatible API (see skiff fc
                       --help) for this VM on the Unix socket PATH: GET /,
                       GET /vm/config, PATCH /vm (pause, resume), PUT
                       /actions SendCtrlAltDel
  --shutdown-timeout SECONDS
                       SIGTERM sends Ctrl-Alt-Del and waits this long for
                       the guest to reset before stopping it (default 10;
                       0: SIGTERM stops at once, like SIGINT)
  --log-level debug|info|warn|error|off   (default warn)
  --help               this text

Exit status: the guest's reset or power-off exits 0; a write of v to the
debug-exit port 0xf4 exits (v << 1) | 1; a bad flag or file exits 2; a guest
triple fault exits 4; a backend failure (KVM internal error) exits 6; any
other VMM failure exits 8. SIGINT, or SIGTERM after --shutdown-timeout,
stops the VM and exits 0.
)";
}

}  // namespace skiff
