#include "vmm/fc_main.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "absl/strings/str_format.h"
#include "api/config_file.h"
#include "api/fc_config.h"
#include "api/sd_notify.h"
#include "base/status_macros.h"
#include "vmm/option_parser.h"
#include "vmm/run_flags.h"
#include "vmm/seccomp_filter.h"
#include "vmm/vcpu_thread.h"

namespace skiff {
namespace {

constexpr char kFcVersion[] = "1.0.0";  // the API version GET /version shows

// Flags `skiff fc` shares with `skiff run`: parsed by run's parser so both
// accept the same values.
bool IsSharedFlag(const std::string& flag) {
  return flag == "--accel" || flag == "--seccomp" || flag == "--serial" ||
         flag == "--log-level" || flag == "--shutdown-timeout";
}

absl::StatusOr<FcFlags> ParseFcFlagsImpl(const std::vector<std::string>& args) {
  FcFlags flags;
  auto is_switch = [](const std::string& name) {
    return name == "--help" || name == "--no-api" || name == "--boot-timer";
  };
  for (size_t i = 0; i < args.size(); ++i) {
    SKIFF_ASSIGN_OR_RETURN(CommandFlag parsed,
                           ReadCommandFlag(args, i, is_switch));
    const std::string& flag = parsed.name;
    const std::string& value = parsed.value;
    if (is_switch(flag)) {
      if (parsed.has_value) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s takes no value", flag));
      }
      if (flag == "--help") flags.help = true;
      if (flag == "--no-api") flags.no_api = true;
      if (flag == "--boot-timer") flags.boot_timer = true;
      continue;
    }
    if (flag == "--api-sock") {
      if (value.empty()) return absl::InvalidArgumentError("--api-sock: empty");
      flags.api_sock = value;
    } else if (flag == "--config-file") {
      if (value.empty()) {
        return absl::InvalidArgumentError("--config-file: empty");
      }
      flags.config_file = value;
    } else if (flag == "--id") {
      // Firecracker's instance id rule (1..64 of [A-Za-z0-9-]), plus '_'
      // and '.', which systemd instance names (skiff@%i) may contain.
      if (value.empty() || value.size() > 64 ||
          value.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
              std::string::npos) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "--id: '%s' (expected 1 to 64 letters, digits, '-', '_', '.')",
            value));
      }
      flags.id = value;
    } else if (IsSharedFlag(flag)) {
      SKIFF_ASSIGN_OR_RETURN(RunFlags run, ParseRunFlags({flag, value}));
      if (flag == "--accel") flags.accel = run.config.accel;
      if (flag == "--seccomp") flags.seccomp = run.config.seccomp;
      if (flag == "--serial") flags.serial = run.config.serial;
      if (flag == "--log-level") flags.log_level = run.log_level;
      if (flag == "--shutdown-timeout") {
        flags.shutdown_timeout = run.shutdown_timeout;
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown flag '%s' (see skiff fc --help)", flag));
    }
  }
  if (flags.help) return flags;
  if (flags.no_api && flags.config_file.empty()) {
    return absl::InvalidArgumentError(
        "--no-api needs --config-file (nothing could start the microVM)");
  }
  return flags;
}

}  // namespace

absl::StatusOr<FcFlags> ParseFcFlags(const std::vector<std::string>& args) {
  absl::StatusOr<FcFlags> flags = ParseFcFlagsImpl(args);
  if (!flags.ok()) return OneLineStatus(flags.status());
  return flags;
}

int ExitStatusForError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
      return kExitUsage;
    default:
      return kExitVmmError;
  }
}

namespace {

int Fail(const absl::Status& status, int exit_status) {
  std::fprintf(stderr, "%sskiff: %s\n", LogPriorityPrefix(LogLevel::kError),
               OneLine(std::string(status.message())).c_str());
  return exit_status;
}

void LogIfError(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    SKIFF_LOG(kWarn, "sd_notify %s: %s", what, std::string(status.message()));
  }
}

}  // namespace

int FcMain(const std::vector<std::string>& args, absl::Time process_start) {
  absl::StatusOr<FcFlags> flags = ParseFcFlags(args);
  if (!flags.ok()) return Fail(flags.status(), kExitUsage);
  if (flags->help) {
    std::fputs(FcHelpText(), stdout);
    return 0;
  }
  SetLogLevel(flags->log_level);

  // As in `skiff run`: stop signals through a signalfd, blocked before any
  // thread starts so they never land on a vCPU or the API thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  UniqueFd signal_fd(signalfd(-1, &stop_signals, SFD_CLOEXEC));
  signal(SIGPIPE, SIG_IGN);

  const api::SdNotifier notifier;
  MachineController::Options options;
  options.machine.process_start = process_start;
  options.machine.shutdown_timeout = flags->shutdown_timeout;
  options.machine.on_stopping = [&notifier] {
    LogIfError(notifier.Stopping(), "STOPPING");
  };
  options.accel = flags->accel;
  options.seccomp = flags->seccomp;
  options.serial = flags->serial;
  options.on_started = [&notifier] {
    LogIfError(notifier.Notify("READY=1\nSTATUS=microVM running"), "READY");
  };
  auto controller = MachineController::Create(std::move(options));
  if (!controller.ok()) return Fail(controller.status(), kExitVmmError);
  api::FirecrackerApi api(
      controller->get(),
      {.instance_id = flags->id, .version = kFcVersion, .app_name = "skiff"});

  if (!flags->config_file.empty()) {
    absl::StatusOr<api::FcConfig> fc = api::LoadConfigFile(flags->config_file);
    if (!fc.ok()) return Fail(fc.status(), kExitUsage);
    if (absl::Status st = api.Configure(*fc); !st.ok()) {
      return Fail(st, ExitStatusForError(st));
    }
  }
  std::unique_ptr<api::HttpServer> server;
  if (!flags->no_api) {
    auto created = api::HttpServer::Create(
        flags->api_sock, [&api](const api::HttpRequest& request) {
          return api.Handle(request);
        });
    if (!created.ok()) return Fail(created.status(), kExitUsage);
    server = *std::move(created);
    if (absl::Status st = server->Start(SeccompHook(
            SeccompThread::kApi, flags->seccomp.value_or(SeccompMode::kEnforce),
            nullptr));
        !st.ok()) {
      return Fail(st, kExitVmmError);
    }
    SKIFF_LOG(kInfo, "API listening on %s", flags->api_sock);
  }

  // A --config-file VM starts at once. StartInstance waits for Run() below
  // to build the Machine, so it goes on a thread of its own, confined as
  // the API thread is, whose InstanceStart it stands in for.
  std::thread starter;
  if (!flags->config_file.empty()) {
    starter = std::thread(
        [&api, &controller,
         confine = SeccompHook(SeccompThread::kApi,
                               flags->seccomp.value_or(SeccompMode::kEnforce),
                               nullptr)] {
          if (confine) confine();
          if (absl::Status st = api.StartInstance(); !st.ok()) {
            std::fprintf(stderr, "%sskiff: InstanceStart: %s\n",
                         LogPriorityPrefix(LogLevel::kError),
                         OneLine(std::string(st.message())).c_str());
            (*controller)->Cancel(ExitStatusForError(st));
          }
        });
  } else if (notifier.enabled()) {
    // Nothing to boot yet: ready means the API serves.
    LogIfError(notifier.Notify("READY=1\nSTATUS=waiting for InstanceStart"),
               "READY");
  }
  const int status = (*controller)->Run(signal_fd.get());
  if (starter.joinable()) starter.join();
  if (server != nullptr) server->Stop();
  return status;
}

absl::StatusOr<std::unique_ptr<AttachedApi>> AttachedApi::Create(
    const std::string& socket_path, const VmConfig& config, Machine* machine) {
  std::unique_ptr<AttachedApi> a(new AttachedApi());
  MachineController::Options options;
  options.allow_log_redirect = false;
  SKIFF_ASSIGN_OR_RETURN(a->controller_,
                         MachineController::Create(std::move(options)));
  a->api_ = std::make_unique<api::FirecrackerApi>(
      a->controller_.get(),
      api::ApiOptions{.version = kFcVersion, .app_name = "skiff"});
  SKIFF_RETURN_IF_ERROR(
      a->api_->AttachRunning(api::FcConfigFromVmConfig(config)));
  a->controller_->Attach(machine);
  api::FirecrackerApi* fc_api = a->api_.get();
  SKIFF_ASSIGN_OR_RETURN(
      a->server_, api::HttpServer::Create(
                      socket_path, [fc_api](const api::HttpRequest& request) {
                        return fc_api->Handle(request);
                      }));
  // The same "api" filter as under `skiff fc`; a filter that cannot be
  // installed stops the VM.
  SKIFF_RETURN_IF_ERROR(a->server_->Start(
      SeccompHook(SeccompThread::kApi, config.seccomp, machine)));
  return a;
}

AttachedApi::~AttachedApi() {
  if (controller_ != nullptr) controller_->Detach();
  if (server_ != nullptr) server_->Stop();
}

const char* FcHelpText() {
  return R"(usage: skiff fc [--api-sock PATH] [--config-file FILE] [options]
       firecracker [same options]

Firecracker-compatible front end: serves Firecracker's REST API (HTTP/1.1 on
a Unix socket, mode 0600) and runs one microVM, configured through the API
(PUT /boot-source, /machine-config, /drives/ID, ..., then PUT /actions
{"action_type": "InstanceStart"}) or by a Firecracker --config-file. The
process exits when the microVM stops, with skiff run's exit statuses.

  --api-sock PATH      the API socket (default /run/firecracker.socket)
  --config-file FILE   boot this configuration at once (Firecracker's JSON:
                       boot-source, machine-config, drives, ...)
  --no-api             no API socket (needs --config-file)
  --id ID              instance id shown by GET / (default anonymous-instance)
  --boot-timer         accepted for compatibility (always on in skiff)
  --accel kvm|tcg|auto as in skiff run (default auto)
  --seccomp enforce|log|off
                       as in skiff run (default enforce)
  --serial stdio|file=PATH|socket=PATH|none
                       where the guest's serial console goes (default
                       stdio; see skiff run --help)
  --shutdown-timeout SECONDS
                       SIGTERM sends Ctrl-Alt-Del and waits this long for the
                       guest to reset before stopping it (default 10; 0:
                       SIGTERM stops at once). SIGINT always stops at once.
  --log-level debug|info|warn|error|off   (default warn)
  --help               this text

Under systemd (Type=notify), READY=1 is sent once the microVM runs (or, with
no --config-file, once the API serves) and STOPPING=1 when it stops.
)";
}

}  // namespace skiff
