// skiff: the command-line front end. A thin main() over vmm/.
//
//   skiff run --kernel vmlinux [options]   boot a microVM (see run --help)
//   skiff probe                            what this host's KVM can do
//   skiff version
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "vmm/accel.h"
#include "vmm/default_guest.h"
#include "vmm/machine.h"
#include "vmm/run_flags.h"

namespace {

constexpr char kUsage[] = R"(usage: skiff <command> [options]

Commands:
  run      boot a microVM (skiff run --help for its options)
  probe    report whether this host's KVM is usable and can run Linux
  version  print the version
)";

int ExitStatusFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
      return skiff::kExitUsage;
    default:
      return skiff::kExitVmmError;
  }
}

int Fail(const absl::Status& status, int exit_status) {
  std::fprintf(stderr, "skiff: %s\n",
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
  auto machine = skiff::Machine::Create(flags->config, options);
  if (!machine.ok())
    return Fail(machine.status(), ExitStatusFor(machine.status()));
  if (!default_guest_dir.empty()) {
    // A newcomer's first boot says what it runs and why on this host.
    std::fprintf(stderr,
                 "skiff: booting the default microVM from %s with %s (%s)\n",
                 default_guest_dir.c_str(),
                 std::string((*machine)->backend_name()).c_str(),
                 (*machine)->backend_reason().c_str());
  }
  if (absl::Status st = (*machine)->Start(); !st.ok()) {
    return Fail(st, skiff::kExitVmmError);
  }
  int status = (*machine)->WaitForStop(signal_fd);
  machine->reset();
  if (signal_fd >= 0) close(signal_fd);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  absl::Time process_start = absl::Now();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? skiff::kExitUsage : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "run") return Run(args, process_start);
  if (command == "probe") {
    std::fputs(skiff::DescribeHostAccel().c_str(), stdout);
    return 0;
  }
  if (command == "version" || command == "--version") {
    std::printf("skiff %s\n", SKIFF_VERSION);
    return 0;
  }
  std::fprintf(stderr, "skiff: unknown command '%s' (try skiff --help)\n",
               skiff::OneLine(command).c_str());
  return skiff::kExitUsage;
}
