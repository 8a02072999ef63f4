// skiff: the command-line front end. A thin main() over vmm/.
//
//   skiff run --kernel vmlinux [options]   boot a microVM (see run --help)
//   skiff fc --api-sock PATH [options]     Firecracker-compatible front end
//                                          (also when invoked as firecracker)
//   skiff probe                            what this host's KVM can do
//   skiff version
#include <malloc.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "vmm/accel.h"
#include "vmm/default_guest.h"
#include "vmm/fc_main.h"
#include "vmm/machine.h"
#include "vmm/run_flags.h"

namespace {

constexpr char kUsage[] = R"(usage: skiff <command> [options]

Commands:
  run      boot a microVM (skiff run --help for its options)
  fc       Firecracker-compatible API server and --config-file runner
           (skiff fc --help; the binary run as `firecracker` is the same)
  probe    report whether this host's KVM is usable and can run Linux
  version  print the version
)";

int ExitStatusFor(const absl::Status& status) {
  return skiff::ExitStatusForError(status);
}

int Fail(const absl::Status& status, int exit_status) {
  std::fprintf(stderr, "%sskiff: %s\n",
               skiff::LogPriorityPrefix(skiff::LogLevel::kError),
               skiff::OneLine(std::string(status.message())).c_str());
  return exit_status;
}

int Run(const std::vector<std::string>& args, absl::Time process_start) {
  absl::StatusOr<skiff::RunFlags> flags = skiff::ParseRunFlags(args);
  if (!flags.ok()) return Fail(flags.status(), skiff::kExitUsage);
  if (flags->help) {
    std::fputs(skiff::RunHelpText(), stdout);
    return 0;
  }
  skiff::SetLogLevel(flags->log_level);
  std::string default_guest_dir;
  if (flags->config.kernel_path.empty()) {
    const std::string dir = skiff::DefaultGuestDir(
        [](const char* name) { return std::getenv(name); });
    if (absl::Status st = skiff::UseDefaultGuest(dir, flags->config);
        !st.ok()) {
      return Fail(st, skiff::kExitUsage);
    }
    default_guest_dir = dir;
  }

  // SIGINT and SIGTERM are taken through a signalfd by the main thread;
  // blocking them before any thread starts keeps them off the vCPU threads.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  int signal_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  // A closed stdout must show up as EPIPE in the serial sink, not kill us.
  signal(SIGPIPE, SIG_IGN);

  skiff::Machine::Options options;
  options.process_start = process_start;
  options.shutdown_timeout = flags->shutdown_timeout;
  auto machine = skiff::Machine::Create(flags->config, options);
  if (!machine.ok())
    return Fail(machine.status(), ExitStatusFor(machine.status()));
  if (!default_guest_dir.empty()) {
    // A newcomer's first boot says what it runs and why on this host.
    std::fprintf(stderr,
                 "%sskiff: booting the default microVM from %s with %s (%s)\n",
                 skiff::LogPriorityPrefix(skiff::LogLevel::kInfo),
                 default_guest_dir.c_str(),
                 std::string((*machine)->backend_name()).c_str(),
                 (*machine)->backend_reason().c_str());
  }
  if (absl::Status st = (*machine)->Start(); !st.ok()) {
    return Fail(st, skiff::kExitVmmError);
  }
  std::unique_ptr<skiff::AttachedApi> api;
  if (!flags->api_socket.empty()) {
    auto attached = skiff::AttachedApi::Create(flags->api_socket, flags->config,
                                               machine->get());
    if (!attached.ok()) {
      (*machine)->RequestStop(skiff::devices::StopReason::kUser, 0);
      (*machine)->WaitForStop(-1);
      return Fail(attached.status(), ExitStatusFor(attached.status()));
    }
    api = *std::move(attached);
  }
  // Every thread exists now: confine this one to what waiting, stopping
  // and tearing down need (--seccomp; vmm/seccomp_filter.h).
  if (absl::Status st = (*machine)->ConfineVmmThread(); !st.ok()) {
    (*machine)->RequestStop(skiff::devices::StopReason::kError,
                            skiff::kExitVmmError);
    (*machine)->WaitForStop(-1);
    return Fail(st, skiff::kExitVmmError);
  }
  int status = (*machine)->WaitForStop(signal_fd);
  api.reset();  // before the Machine it controls
  machine->reset();
  if (signal_fd >= 0) close(signal_fd);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  absl::Time process_start = absl::Now();
  // One malloc arena for every thread. glibc would give each thread that
  // allocates (vCPUs, event loop, timers) an arena of its own, 40-80 KiB
  // resident apiece; skiff's threads allocate little and seldom at once, and
  // small allocations go through glibc's per-thread cache without a lock.
  mallopt(M_ARENA_MAX, 1);
  // Debian builds abseil without NDEBUG, which leaves absl::Mutex's
  // deadlock detection on: every lock then records a stack trace into a
  // graph of lock order, and a cycle in it aborts the process. skiff's lock
  // order is checked when it is compiled (-Wthread-safety) and by its tests,
  // which keep abseil's default; a running VMM does without both costs.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Journald-style priorities when stderr is the journal: decided now, as
  // no thread may fstat(2) once its seccomp filter is in.
  skiff::InitLogFormat();
  std::vector<std::string> args(argv + 1, argv + argc);
  // Installed (or symlinked) as `firecracker`, skiff is `skiff fc`, so
  // Firecracker's tooling can run it unchanged.
  const std::string argv0 = argc > 0 ? argv[0] : "";
  const std::string basename = argv0.substr(argv0.rfind('/') + 1);
  if (basename == "firecracker") return skiff::FcMain(args, process_start);
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? skiff::kExitUsage : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "run") return Run(args, process_start);
  if (command == "fc") return skiff::FcMain(args, process_start);
  if (command == "probe") {
    std::fputs(skiff::DescribeHostAccel().c_str(), stdout);
    return 0;
  }
  if (command == "version" || command == "--version") {
    std::printf("skiff %s\n", SKIFF_VERSION);
    return 0;
  }
  std::fprintf(stderr, "%sskiff: unknown command '%s' (try skiff --help)\n",
               skiff::LogPriorityPrefix(skiff::LogLevel::kError),
               skiff::OneLine(command).c_str());
  return skiff::kExitUsage;
}
