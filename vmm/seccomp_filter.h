// Per-thread seccomp filters: each kind of skiff thread (vCPU, I/O event
// loop, API server, interrupt-controller timers, main/VMM) gets an allow-list
// of the system calls it really makes, built with libseccomp (maintained, and
// it generates correct BPF for the architecture and its syscall numbering,
// including the audit arch check, so we never hand-write BPF).
//
// A filter applies to the thread that installs it and to the threads that
// thread creates afterwards, so each thread installs its own as it starts
// (the hooks in VcpuThread, RoundRobinThread, io::EventLoop, Console,
// MetricsWriter, devices::TimerQueue and api::HttpServer), and the main thread
// installs its filter last, after every other thread exists.
//
//   // On the thread to confine, once it has finished its own setup:
//   SKIFF_RETURN_IF_ERROR(InstallSeccompFilter(SeccompThread::kVcpu,
//                                              config.seccomp));
//   // Or as a thread-start hook:
//   opts.on_thread_start = SeccompHook(SeccompThread::kIo, mode, &control);
//
// Modes (SeccompMode in vmm/vm_config.h): kEnforce kills the whole process
// (SECCOMP_RET_KILL_PROCESS) on a syscall outside the list. We kill rather
// than return EPERM because a thread that makes an unexpected syscall is
// either compromised or buggy: letting it go on with an error it never
// expected invites probing and odd failure modes, and the kernel logs the
// kill (syscall number, comm) to the audit log / dmesg. kLog lets every
// syscall through but has the kernel log those outside the list (use it to
// find what a new code path needs); kOff installs nothing.
#ifndef SKIFF_VMM_SECCOMP_FILTER_H_
#define SKIFF_VMM_SECCOMP_FILTER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "devices/machine_control.h"
#include "vmm/vm_config.h"

namespace skiff {

enum class SeccompThread {
  kVcpu,    // vcpu<N> and the shared "vcpus" thread: guest exits, devices
  kIo,      // the io_uring event loop "io": virtio queues and backends
  kApi,     // the HTTP API server "api" (handler does not build the VM)
  kTimers,  // the userspace irqchip's "timers" (tcg): LAPIC timers, PIT
  kVmm,     // the main thread once the VM runs: signals, stop, teardown
};

const char* SeccompThreadName(SeccompThread kind);

// The names of the syscalls `kind` may make (sorted, for tests and docs).
std::vector<std::string> SeccompAllowList(SeccompThread kind);

// Confines the calling thread (and threads it creates later). With kOff it
// does nothing. Also sets no_new_privs, which seccomp requires without
// CAP_SYS_ADMIN.
absl::Status InstallSeccompFilter(SeccompThread kind, SeccompMode mode);

// A thread-start hook installing the filter for `kind`. If that fails, it
// logs the error and, when `control` is set, stops the VM (so a filter
// that cannot be installed never goes unnoticed). Empty with kOff.
std::function<void()> SeccompHook(SeccompThread kind, SeccompMode mode,
                                  devices::MachineControl* control);

}  // namespace skiff

#endif  // SKIFF_VMM_SECCOMP_FILTER_H_
