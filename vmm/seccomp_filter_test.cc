#include "vmm/seccomp_filter.h"

#include <fcntl.h>
#include <linux/kvm.h>  // only for the request numbers the filters name
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "gtest/gtest.h"

namespace skiff {
namespace {

constexpr SeccompThread kAllKinds[] = {
    SeccompThread::kVcpu, SeccompThread::kIo, SeccompThread::kApi,
    SeccompThread::kTimers, SeccompThread::kVmm};

bool Allowed(SeccompThread kind, const std::string& name) {
  std::vector<std::string> list = SeccompAllowList(kind);
  return std::find(list.begin(), list.end(), name) != list.end();
}

// Runs `body` in a forked child (filters cannot be removed, so never in the
// test process) and returns its wait status. The child only makes raw
// syscalls after installing the filter: no gtest, no stdio.
template <typename Fn>
int InChild(Fn body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

TEST(Seccomp, AllowListsDifferByThreadKind) {
  EXPECT_TRUE(Allowed(SeccompThread::kVcpu, "ioctl"));  // KVM_RUN
  EXPECT_TRUE(Allowed(SeccompThread::kVmm, "ioctl"));   // KVM, terminal
  EXPECT_TRUE(Allowed(SeccompThread::kIo, "io_uring_enter"));
  EXPECT_FALSE(Allowed(SeccompThread::kVcpu, "io_uring_enter"));
  EXPECT_TRUE(Allowed(SeccompThread::kApi, "accept4"));
  EXPECT_FALSE(Allowed(SeccompThread::kVcpu, "accept4"));
  EXPECT_FALSE(Allowed(SeccompThread::kVcpu, "socket"));
  for (SeccompThread kind : kAllKinds) {
    for (const char* never :
         {"execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace",
          "bind", "listen", "mount", "process_vm_writev", "init_module"}) {
      EXPECT_FALSE(Allowed(kind, never)) << SeccompThreadName(kind) << never;
    }
  }
}

TEST(Seccomp, TimerThreadGetsTheTightestList) {
  // The irqchip's timer thread waits and kicks vCPUs: nothing else.
  EXPECT_TRUE(Allowed(SeccompThread::kTimers, "futex"));
  EXPECT_TRUE(Allowed(SeccompThread::kTimers, "clock_gettime"));
  EXPECT_TRUE(Allowed(SeccompThread::kTimers, "tgkill"));
  for (const char* never : {"ioctl", "openat", "socket", "poll", "accept4",
                            "io_uring_enter", "sendmsg", "unlink"}) {
    EXPECT_FALSE(Allowed(SeccompThread::kTimers, never)) << never;
  }
  for (SeccompThread kind : kAllKinds) {
    if (kind == SeccompThread::kTimers) continue;
    EXPECT_LT(SeccompAllowList(SeccompThread::kTimers).size(),
              SeccompAllowList(kind).size())
        << SeccompThreadName(kind);
  }
  int status = InChild([] {
    if (!InstallSeccompFilter(SeccompThread::kTimers, SeccompMode::kEnforce)
             .ok()) {
      return 10;
    }
    if (syscall(SYS_gettid) <= 0) return 11;
    // Even the interrupt-line ioctl the device threads have.
    syscall(SYS_ioctl, -1, KVM_IRQ_LINE, 0);
    return 12;
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(Seccomp, OffInstallsNothing) {
  int status = InChild([] {
    if (!InstallSeccompFilter(SeccompThread::kVcpu, SeccompMode::kOff).ok()) {
      return 10;
    }
    int fd = static_cast<int>(syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
    return fd >= 0 ? 0 : 11;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Seccomp, EnforceKillsTheProcessOnAForbiddenSyscall) {
  int status = InChild([] {
    if (!InstallSeccompFilter(SeccompThread::kVcpu, SeccompMode::kEnforce)
             .ok()) {
      return 10;
    }
    // Allowed calls still work after the filter is in.
    if (syscall(SYS_getpid) <= 0) return 11;
    // Forbidden for a vCPU thread: never returns.
    syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    return 12;
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(Seccomp, EnforceKillsExecveFromAnyThreadKind) {
  for (SeccompThread kind : kAllKinds) {
    int status = InChild([kind] {
      if (!InstallSeccompFilter(kind, SeccompMode::kEnforce).ok()) return 10;
      const char* argv[] = {"/bin/true", nullptr};
      syscall(SYS_execve, "/bin/true", argv, nullptr);
      return 12;
    });
    ASSERT_TRUE(WIFSIGNALED(status)) << SeccompThreadName(kind);
    EXPECT_EQ(WTERMSIG(status), SIGSYS) << SeccompThreadName(kind);
  }
}

TEST(Seccomp, ArgumentRulesHold) {
  // The I/O loop may open Unix sockets (vsock host side) but not others.
  int status = InChild([] {
    if (!InstallSeccompFilter(SeccompThread::kIo, SeccompMode::kEnforce).ok()) {
      return 10;
    }
    if (syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0) < 0) return 11;
    syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);
    return 12;
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << WEXITSTATUS(status);
  // Executable mappings are refused to every kind.
  status = InChild([] {
    if (!InstallSeccompFilter(SeccompThread::kVmm, SeccompMode::kEnforce)
             .ok()) {
      return 10;
    }
    syscall(SYS_mmap, nullptr, 4096, PROT_READ | PROT_EXEC,
            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return 12;
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(Seccomp, DeviceThreadsMayOnlyRaiseKvmInterrupts) {
  // The API and I/O threads raise interrupt lines (KVM_IRQ_LINE) but never
  // run a vCPU or change the VM.
  for (SeccompThread kind : {SeccompThread::kApi, SeccompThread::kIo}) {
    int status = InChild([kind] {
      if (!InstallSeccompFilter(kind, SeccompMode::kEnforce).ok()) {
        return 10;
      }
      // Allowed: fails with EBADF rather than killing.
      if (syscall(SYS_ioctl, -1, KVM_IRQ_LINE, 0) != -1 || errno != EBADF) {
        return 11;
      }
      syscall(SYS_ioctl, -1, KVM_RUN, 0);
      return 12;
    });
    ASSERT_TRUE(WIFSIGNALED(status))
        << SeccompThreadName(kind) << " " << WEXITSTATUS(status);
    EXPECT_EQ(WTERMSIG(status), SIGSYS);
  }
  // A vCPU thread runs its vCPU.
  int status = InChild([] {
    if (!InstallSeccompFilter(SeccompThread::kVcpu, SeccompMode::kEnforce)
             .ok()) {
      return 10;
    }
    return syscall(SYS_ioctl, -1, KVM_RUN, 0) == -1 && errno == EBADF ? 0 : 11;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Seccomp, LogModeLetsTheCallThrough) {
  int status = InChild([] {
    if (!InstallSeccompFilter(SeccompThread::kVcpu, SeccompMode::kLog).ok()) {
      return 10;
    }
    int fd = static_cast<int>(syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
    return fd >= 0 ? 0 : 11;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Seccomp, FilterConfinesOnlyTheInstallingThread) {
  int status = InChild([] {
    // A thread installs the vCPU filter; the process's other threads (here
    // the main one) are unaffected, as without TSYNC.
    bool ok = false;
    std::thread t([&ok] {
      ok = InstallSeccompFilter(SeccompThread::kVcpu, SeccompMode::kEnforce)
               .ok();
    });
    t.join();
    if (!ok) return 10;
    int fd = static_cast<int>(syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0));
    return fd >= 0 ? 0 : 11;
  });
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Seccomp, HookIsEmptyWhenOff) {
  EXPECT_FALSE(SeccompHook(SeccompThread::kIo, SeccompMode::kOff, nullptr));
  EXPECT_TRUE(SeccompHook(SeccompThread::kIo, SeccompMode::kLog, nullptr));
}

}  // namespace
}  // namespace skiff
