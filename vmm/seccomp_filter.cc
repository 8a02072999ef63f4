#include "vmm/seccomp_filter.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

#include "absl/base/internal/sysinfo.h"
#include "absl/strings/str_format.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "vmm/vcpu_thread.h"

namespace skiff {
namespace {

// An ioctl allowed by its "type" byte (bits 8..15 of the request, see
// <asm-generic/ioctl.h>): 0xAE is every KVM ioctl, 0x54 ('T') the terminal
// ioctls (TCGETS/TCSETS*) and the TUN ones (TUNSETOFFLOAD).
constexpr uint64_t kIoctlTypeMask = 0xff00;
constexpr uint64_t kKvmIoctlType = 0xae00;
constexpr uint64_t kTermTunIoctlType = 0x5400;
// KVM_IRQ_LINE, _IOW(KVMIO, 0x61, struct kvm_irq_level), spelled out
// because only kvm/ includes <linux/kvm.h> (the test checks the value).
// Under KVM a device raising its interrupt line makes this ioctl on the
// thread that raises it: the I/O loop (virtio completions), the API (the
// i8042's Ctrl-Alt-Del). Those threads get this one request only.
constexpr uint64_t kKvmIrqLine = 0x4008ae61;

// What every thread needs: the C/C++ runtime (malloc, futex-based
// absl::Mutex, thread exit), logging to stderr with one write(2) per line,
// clocks when the vDSO falls back to a syscall, and signal returns.
constexpr const char* kCommon[] = {
    "brk",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "exit",
    "exit_group",
    "fstat",
    "futex",
    "getpid",
    "getrandom",
    "gettid",
    "gettimeofday",
    "madvise",
    "mremap",
    "munmap",
    "nanosleep",
    "newfstatat",
    "read",
    "restart_syscall",
    "rseq",
    "rt_sigreturn",
    "rt_sigprocmask",
    "sched_yield",
    "set_robust_list",
    "sigaltstack",
    "tgkill",
    "write",
    "writev",
    "sched_getparam",
    "sched_getscheduler",
};

// vCPU threads: guest exits (KVM_RUN and register access under KVM; the
// interpreter makes no syscalls of its own), device register handlers
// (serial output, eventfd notifies to the I/O loop), kicks of other vCPUs
// and SetAffinity.
constexpr const char* kVcpu[] = {
    "sched_getaffinity",
    "sched_setaffinity",
    "pread64",
    "pwrite64",
    "lseek",
    "poll",
    "ppoll",
};

// The I/O loop: io_uring, eventfds, the virtio-rng entropy, the file block
// backend's fallbacks, TAP offloads and the vsock host side (Unix sockets).
constexpr const char* kIo[] = {
    "io_uring_enter", "io_uring_register", "pread64",   "preadv",
    "pwrite64",       "pwritev",           "readv",     "fsync",
    "fdatasync",      "fallocate",         "lseek",     "poll",
    "ppoll",          "accept4",           "connect",   "recvfrom",
    "recvmsg",        "sendmsg",           "sendto",    "shutdown",
    "getsockopt",     "setsockopt",        "fcntl",     "getsockname",
    "getpeername",    "epoll_wait",        "epoll_ctl", "timerfd_settime",
};

// The API server: a poll loop over the listening socket, the connections
// and a stop eventfd; PUT /logger, /metrics and PATCH /drives open files
// (a new disk image is locked with flock, and statx gives its O_DIRECT
// alignment).
constexpr const char* kApi[] = {
    "poll",   "ppoll",     "accept4",  "recvfrom", "recvmsg",
    "sendto", "sendmsg",   "shutdown", "fcntl",    "getsockopt",
    "openat", "ftruncate", "lseek",    "unlink",   "sched_getaffinity",
    "dup2",   "dup3",      "flock",    "statx",
};

// The userspace interrupt controller's timer thread (tcg without --icount):
// it waits on an absl::CondVar (futex, clock_gettime from kCommon) and its
// callbacks raise LAPIC timer and PIT interrupts, which only take locks and
// kick vCPUs (VcpuThread::Wake: an atomic and a futex under tcg, tgkill
// under KVM). So it gets kCommon and the no-exec mmap/mprotect only: no
// ioctl, no files, no sockets, no poll.

// The main thread once the VM runs: waits on the stop eventfd and the
// signalfd, writes metrics, then stops and tears everything down (joins,
// io_uring exit, unmapping guest memory, removing socket files, restoring
// the terminal), and tells systemd STOPPING=1 (api/sd_notify.h: a Unix
// datagram socket and sendto).
constexpr const char* kVmm[] = {
    "poll",      "ppoll",        "io_uring_enter",    "io_uring_register",
    "openat",    "unlink",       "unlinkat",          "lseek",
    "fcntl",     "ftruncate",    "shutdown",          "fsync",
    "fdatasync", "rt_sigaction", "sched_getaffinity", "timerfd_settime",
    "sendto",
};

template <size_t N>
void Append(std::vector<std::string>& out, const char* const (&names)[N]) {
  for (const char* n : names) out.push_back(n);
}

// The syscalls allowed whatever their arguments.
std::vector<std::string> UnconditionalNames(SeccompThread kind) {
  std::vector<std::string> names;
  Append(names, kCommon);
  switch (kind) {
    case SeccompThread::kVcpu:
      Append(names, kVcpu);
      break;
    case SeccompThread::kIo:
      Append(names, kIo);
      break;
    case SeccompThread::kApi:
      Append(names, kApi);
      break;
    case SeccompThread::kTimers:
      break;
    case SeccompThread::kVmm:
      Append(names, kVmm);
      break;
  }
  return names;
}

absl::Status Add(scmp_filter_ctx ctx, const std::string& name) {
  const int nr = seccomp_syscall_resolve_name(name.c_str());
  // A name this architecture does not have (e.g. a legacy call): nothing to
  // allow.
  if (nr == __NR_SCMP_ERROR) return absl::OkStatus();
  if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0); rc < 0) {
    return ErrnoStatus(absl::StrFormat("seccomp_rule_add %s", name), -rc);
  }
  return absl::OkStatus();
}

// Allows syscall `nr` when one argument matches `cmp`. (libseccomp's
// SCMP_A<n> macros are C99 compound literals, which C++ -Wpedantic
// refuses.)
int AllowIf(scmp_filter_ctx ctx, int nr, scmp_arg_cmp cmp) {
  return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
}

// mmap and mprotect never with PROT_EXEC: no thread loads code once the VM
// runs, and writable-then-executable memory is what an exploit wants.
absl::Status AddMemoryRules(scmp_filter_ctx ctx) {
  for (int nr : {SCMP_SYS(mmap), SCMP_SYS(mprotect)}) {
    if (int rc = AllowIf(ctx, nr, {2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0});
        rc < 0) {
      return ErrnoStatus("seccomp_rule_add mmap/mprotect", -rc);
    }
  }
  return absl::OkStatus();
}

absl::Status AddIrqLineIoctl(scmp_filter_ctx ctx) {
  if (int rc = AllowIf(ctx, SCMP_SYS(ioctl), {1, SCMP_CMP_EQ, kKvmIrqLine, 0});
      rc < 0) {
    return ErrnoStatus("seccomp_rule_add ioctl KVM_IRQ_LINE", -rc);
  }
  return absl::OkStatus();
}

// The size and logical sector size of a disk image that is a block device:
// opened by PATCH /drives (api), re-read by the device (io).
absl::Status AddBlockSizeIoctls(scmp_filter_ctx ctx) {
  for (const uint64_t request : {static_cast<uint64_t>(BLKGETSIZE64),
                                 static_cast<uint64_t>(BLKSSZGET)}) {
    if (int rc = AllowIf(ctx, SCMP_SYS(ioctl), {1, SCMP_CMP_EQ, request, 0});
        rc < 0) {
      return ErrnoStatus("seccomp_rule_add ioctl BLKGETSIZE64/BLKSSZGET", -rc);
    }
  }
  return absl::OkStatus();
}

absl::Status AddIoctlType(scmp_filter_ctx ctx, uint64_t type) {
  if (int rc = AllowIf(ctx, SCMP_SYS(ioctl),
                       {1, SCMP_CMP_MASKED_EQ, kIoctlTypeMask, type});
      rc < 0) {
    return ErrnoStatus("seccomp_rule_add ioctl", -rc);
  }
  return absl::OkStatus();
}

// socket(2) for Unix sockets only (the vsock host side connects to
// <uds>_<port>); nothing here ever talks to the network.
absl::Status AddUnixSocket(scmp_filter_ctx ctx) {
  if (int rc = AllowIf(ctx, SCMP_SYS(socket), {0, SCMP_CMP_EQ, AF_UNIX, 0});
      rc < 0) {
    return ErrnoStatus("seccomp_rule_add socket", -rc);
  }
  return absl::OkStatus();
}

absl::Status AddRules(scmp_filter_ctx ctx, SeccompThread kind) {
  for (const std::string& name : UnconditionalNames(kind)) {
    SKIFF_RETURN_IF_ERROR(Add(ctx, name));
  }
  SKIFF_RETURN_IF_ERROR(AddMemoryRules(ctx));
  switch (kind) {
    case SeccompThread::kVcpu:
      SKIFF_RETURN_IF_ERROR(AddIoctlType(ctx, kKvmIoctlType));
      // TUNSETOFFLOAD when the guest's virtio-net driver sets features.
      return AddIoctlType(ctx, kTermTunIoctlType);
    case SeccompThread::kIo:
      SKIFF_RETURN_IF_ERROR(AddIoctlType(ctx, kTermTunIoctlType));
      SKIFF_RETURN_IF_ERROR(AddIrqLineIoctl(ctx));
      SKIFF_RETURN_IF_ERROR(AddBlockSizeIoctls(ctx));
      return AddUnixSocket(ctx);
    case SeccompThread::kApi:
      SKIFF_RETURN_IF_ERROR(AddBlockSizeIoctls(ctx));
      return AddIrqLineIoctl(ctx);
    case SeccompThread::kTimers:
      return absl::OkStatus();
    case SeccompThread::kVmm:
      SKIFF_RETURN_IF_ERROR(AddIoctlType(ctx, kKvmIoctlType));
      SKIFF_RETURN_IF_ERROR(AddIoctlType(ctx, kTermTunIoctlType));
      return AddUnixSocket(ctx);
  }
  return absl::OkStatus();
}

}  // namespace

const char* SeccompThreadName(SeccompThread kind) {
  switch (kind) {
    case SeccompThread::kVcpu:
      return "vcpu";
    case SeccompThread::kIo:
      return "io";
    case SeccompThread::kApi:
      return "api";
    case SeccompThread::kTimers:
      return "timers";
    case SeccompThread::kVmm:
      return "vmm";
  }
  return "unknown";
}

std::vector<std::string> SeccompAllowList(SeccompThread kind) {
  std::vector<std::string> names = UnconditionalNames(kind);
  // Plus the argument-checked rules of AddRules.
  names.push_back("mmap");
  names.push_back("mprotect");
  if (kind != SeccompThread::kTimers) {
    names.push_back("ioctl");  // by request: see AddRules
  }
  if (kind == SeccompThread::kIo || kind == SeccompThread::kVmm) {
    names.push_back("socket");
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

absl::Status InstallSeccompFilter(SeccompThread kind, SeccompMode mode) {
  if (mode == SeccompMode::kOff) return absl::OkStatus();
  // absl reads /sys files the first time it needs the CPU count (Mutex
  // spinning) and the TSC frequency (CycleClock, timed waits), then caches
  // them process-wide: do it now, so no confined thread needs openat.
  (void)absl::base_internal::NumCPUs();
  (void)absl::base_internal::NominalCPUFrequency();
  const uint32_t default_action =
      mode == SeccompMode::kEnforce ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_LOG;
  std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(
      seccomp_init(default_action), seccomp_release);
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");
  SKIFF_RETURN_IF_ERROR(AddRules(ctx.get(), kind));
  // Without TSYNC (the default): this thread only.
  if (int rc = seccomp_load(ctx.get()); rc < 0) {
    return ErrnoStatus(
        absl::StrFormat("seccomp_load (%s filter)", SeccompThreadName(kind)),
        -rc);
  }
  return absl::OkStatus();
}

std::function<void()> SeccompHook(SeccompThread kind, SeccompMode mode,
                                  devices::MachineControl* control) {
  if (mode == SeccompMode::kOff) return nullptr;
  return [kind, mode, control] {
    absl::Status st = InstallSeccompFilter(kind, mode);
    if (st.ok()) return;
    SKIFF_LOG(kError, "seccomp: %s", std::string(st.message()));
    if (control != nullptr) {
      control->RequestStop(devices::StopReason::kError, kExitVmmError);
    }
  };
}

}  // namespace skiff
