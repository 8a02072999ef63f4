#include "tools/bench/boot_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "tools/bench/smaps.h"
#include "tools/bench/stream_parsers.h"

extern char** environ;

namespace skiff::bench {
namespace {

// After the VMM exited, how long to wait for its pipes to reach EOF (a
// grandchild could hold them open).
constexpr int64_t kDrainUs = 2'000'000;

int64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

std::string Cmdline(const BootOptions& o, std::string_view extra) {
  std::string s = absl::StrCat(kBaseCmdline, " ", kInitKnobs);
  if (!extra.empty()) absl::StrAppend(&s, " ", std::string(extra));
  if (!o.append.empty()) absl::StrAppend(&s, " ", o.append);
  return s;
}

struct Child {
  BootRun run;
  pid_t pid = -1;
  int64_t start_us = 0;
  int64_t deadline_us = 0;
  int64_t exited_at_us = 0;
  UniqueFd out;
  UniqueFd err;
  UniqueFd pidfd;
  bool exited = false;
  bool timed_out = false;
  ConsoleWatcher console;
  StderrWatcher stderr_watcher;
};

absl::Status MakePipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  read_end = UniqueFd(fds[0]);
  write_end = UniqueFd(fds[1]);
  if (fcntl(read_end.get(), F_SETFL, O_NONBLOCK) != 0) {
    return ErrnoStatus("fcntl O_NONBLOCK");
  }
  return absl::OkStatus();
}

absl::Status Spawn(const VmmSpec& spec, Child& c) {
  UniqueFd out_w;
  UniqueFd err_w;
  SKIFF_RETURN_IF_ERROR(MakePipe(c.out, out_w));
  SKIFF_RETURN_IF_ERROR(MakePipe(c.err, err_w));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  std::vector<char*> argv;
  for (const std::string& a : spec.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  c.start_us = NowUs();
  const int rc =
      posix_spawnp(&c.pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return ErrnoStatus(absl::StrCat("posix_spawn ", spec.argv[0]), rc);
  const long pidfd = syscall(SYS_pidfd_open, c.pid, 0);
  // Without pidfds (Linux < 5.3) the loop polls waitpid instead.
  if (pidfd >= 0) c.pidfd = UniqueFd(static_cast<int>(pidfd));
  return absl::OkStatus();
}

// Reads what is available on `fd`; returns false at EOF or error.
bool Drain(int fd, const std::function<void(std::string_view)>& sink) {
  char buf[65536];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      sink(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    return false;
  }
}

void SampleRss(const VmmSpec& spec, Child& c) {
  absl::StatusOr<std::string> text =
      ReadSmallFile(absl::StrCat("/proc/", c.pid, "/smaps"));
  if (!text.ok()) return;
  absl::StatusOr<SmapsUsage> usage = ParseSmaps(*text, spec.memory_bytes);
  if (!usage.ok()) return;
  c.run.total_rss_kib = usage->total_rss_kib;
  // Without a guest-RAM mapping of the expected size the figure would
  // include guest RAM: leave it unset rather than report a wrong number.
  if (usage->guest_ram_mappings > 0)
    c.run.rss_kib = usage->rss_beyond_guest_kib;
  if (usage->tcg_mappings > 0) c.run.tcg_rss_kib = usage->tcg_rss_kib;
}

void Reap(Child& c, int64_t now) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(c.pid, &status, c.pidfd.valid() ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != c.pid) return;
  c.exited = true;
  c.exited_at_us = now;
  c.run.exit_us = now - c.start_us;
  if (WIFEXITED(status)) c.run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) c.run.signal = WTERMSIG(status);
}

void Finish(Child& c, double timeout_s) {
  const int64_t now = NowUs() - c.start_us;
  c.console.Finish(now);
  c.stderr_watcher.Finish();
  BootRun& r = c.run;
  r.console_us = c.console.first_line_us();
  r.first_byte_us = c.console.first_byte_us();
  r.init_us = c.console.init_us();
  r.guest_entry_us = c.stderr_watcher.vcpu0_entry_us();
  r.boot_timer_us = c.stderr_watcher.boot_timer_us();
  r.last_console_line = c.console.last_line();
  r.last_stderr_line = c.stderr_watcher.last_line();
  if (c.timed_out) {
    r.failure = absl::StrFormat("timeout after %g s", timeout_s);
  } else if (r.signal) {
    r.failure = absl::StrCat("killed by signal ", *r.signal);
  } else if (r.exit_code && *r.exit_code != 0) {
    r.failure = absl::StrCat("exit status ", *r.exit_code);
  } else if (!r.init_us) {
    r.failure = "no init line (skiff-init: ready) on the console";
  }
  r.ok = r.failure.empty();
}

}  // namespace

VmmSpec SkiffSpec(const BootOptions& o) {
  VmmSpec s;
  s.name = "skiff";
  s.memory_bytes = o.memory_mib << 20;
  s.argv = {o.skiff_path,  "run",
            "--kernel",    o.kernel,
            "--initrd",    o.initrd,
            "--accel",     o.accel,
            "--memory",    absl::StrCat(o.memory_mib, "M"),
            "--serial",    "stdio",
            "--log-level", "info",
            "--cmdline",   Cmdline(o, "")};
  return s;
}

VmmSpec QemuSpec(const BootOptions& o, std::optional<int64_t> tsc_khz) {
  VmmSpec s;
  s.name = "qemu";
  s.memory_bytes = o.memory_mib << 20;
  // As scripts/qemu-boot: microvm without ACPI (the microVM kernel cannot
  // load QEMU's DSDT), the guest's debug-exit port, and -no-reboot so the
  // guest's reboot ends QEMU. Under TCG the CPU gets RDRAND, as skiff's
  // interpreter has it: without it the guest seeds its crng from interrupt
  // timing late in boot, which costs both VMMs about a tenth of the boot.
  s.argv = {o.qemu_path,
            "-M",
            "microvm,acpi=off",
            "-accel",
            o.accel,
            "-cpu",
            o.accel == "kvm" ? "host" : "qemu64,+rdrand",
            "-nodefaults",
            "-no-user-config",
            "-nographic",
            "-serial",
            "stdio",
            "-m",
            absl::StrCat(o.memory_mib),
            "-smp",
            "1",
            "-kernel",
            o.kernel,
            "-initrd",
            o.initrd,
            "-append",
            Cmdline(o, tsc_khz ? absl::StrCat("tsc_early_khz=", *tsc_khz) : ""),
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-no-reboot"};
  return s;
}

std::optional<int64_t> ParseCpuinfoKhz(std::string_view cpuinfo) {
  size_t pos = 0;
  while (pos < cpuinfo.size()) {
    size_t nl = cpuinfo.find('\n', pos);
    if (nl == std::string_view::npos) nl = cpuinfo.size();
    std::string_view line = cpuinfo.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.starts_with("cpu MHz")) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const std::string value(line.substr(colon + 1));
    char* end = nullptr;
    const double mhz = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || !(mhz > 0) || mhz > 1e6) return std::nullopt;
    return static_cast<int64_t>(mhz * 1000);
  }
  return std::nullopt;
}

VmmResult RunBatch(const VmmSpec& spec, int runs, int parallel,
                   double timeout_s, const ProgressFn& progress) {
  VmmResult result;
  result.name = spec.name;
  result.command = spec.argv;
  std::vector<std::unique_ptr<Child>> active;
  int next = 0;
  int ok = 0;
  const int64_t timeout_us = static_cast<int64_t>(timeout_s * 1e6);
  const int64_t batch_start = NowUs();
  int64_t last_init = batch_start;

  auto finish = [&](std::unique_ptr<Child> c) {
    Finish(*c, timeout_s);
    if (c->run.init_us)
      last_init = std::max(last_init, c->start_us + *c->run.init_us);
    ok += c->run.ok ? 1 : 0;
    result.runs.push_back(std::move(c->run));
    if (progress) progress(static_cast<int>(result.runs.size()), runs, ok);
  };

  while (next < runs || !active.empty()) {
    while (next < runs && static_cast<int>(active.size()) < parallel) {
      auto c = std::make_unique<Child>();
      c->run.index = next++;
      if (absl::Status s = Spawn(spec, *c); !s.ok()) {
        c->run.failure = OneLine(std::string(s.message()));
        result.runs.push_back(std::move(c->run));
        if (progress) progress(static_cast<int>(result.runs.size()), runs, ok);
        continue;
      }
      c->deadline_us = c->start_us + timeout_us;
      active.push_back(std::move(c));
    }
    if (active.empty()) continue;

    std::vector<pollfd> fds;
    std::vector<std::pair<Child*, int>> owners;  // 0 out, 1 err, 2 pidfd
    int64_t now = NowUs();
    int64_t wake = now + 1'000'000;
    bool need_short_poll = false;
    for (auto& c : active) {
      if (c->out.valid()) {
        fds.push_back({c->out.get(), POLLIN, 0});
        owners.push_back({c.get(), 0});
      }
      if (c->err.valid()) {
        fds.push_back({c->err.get(), POLLIN, 0});
        owners.push_back({c.get(), 1});
      }
      if (!c->exited) {
        if (c->pidfd.valid()) {
          fds.push_back({c->pidfd.get(), POLLIN, 0});
          owners.push_back({c.get(), 2});
        } else {
          need_short_poll = true;
        }
        wake = std::min(wake, c->deadline_us);
      } else {
        wake = std::min(wake, c->exited_at_us + kDrainUs);
      }
    }
    int wait_ms = static_cast<int>(std::max<int64_t>(0, wake - now) / 1000 + 1);
    if (need_short_poll) wait_ms = std::min(wait_ms, 10);
    const int n = poll(fds.data(), fds.size(), wait_ms);
    now = NowUs();
    if (n > 0) {
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Child& c = *owners[i].first;
        const int64_t t = now - c.start_us;
        switch (owners[i].second) {
          case 0: {
            const bool had_init = c.console.init_us().has_value();
            const bool open = Drain(c.out.get(), [&](std::string_view chunk) {
              c.console.Feed(chunk, t);
            });
            if (!had_init && c.console.init_us() && !c.exited)
              SampleRss(spec, c);
            if (!open) c.out.Reset();
            break;
          }
          case 1:
            if (!Drain(c.err.get(), [&](std::string_view chunk) {
                  c.stderr_watcher.Feed(chunk);
                })) {
              c.err.Reset();
            }
            break;
          case 2:
            Reap(c, now);
            break;
        }
      }
    }
    for (auto& c : active) {
      if (!c->exited && !c->pidfd.valid()) Reap(*c, now);
      if (!c->exited && now >= c->deadline_us && !c->timed_out) {
        c->timed_out = true;
        kill(c->pid, SIGKILL);
      }
    }
    // Retire children that exited and whose pipes are done (or stuck).
    for (size_t i = 0; i < active.size();) {
      Child& c = *active[i];
      const bool pipes_done = !c.out.valid() && !c.err.valid();
      if (c.exited && (pipes_done || now >= c.exited_at_us + kDrainUs)) {
        finish(std::move(active[i]));
        active.erase(active.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
  }
  result.batch_seconds = static_cast<double>(last_init - batch_start) / 1e6;
  return result;
}

std::vector<VmmResult> RunInterleaved(const std::vector<VmmSpec>& specs,
                                      int runs, int parallel, double timeout_s,
                                      const InterleavedProgressFn& progress) {
  std::vector<VmmResult> results(specs.size());
  for (size_t v = 0; v < specs.size(); ++v) {
    results[v].name = specs[v].name;
    results[v].command = specs[v].argv;
  }
  for (int done = 0; done < runs;) {
    const int wave = std::min(std::max(parallel, 1), runs - done);
    const bool last_wave = done + wave == runs;
    for (size_t v = 0; v < specs.size(); ++v) {
      const int64_t start = NowUs();
      VmmResult part = RunBatch(specs[v], wave, parallel, timeout_s, nullptr);
      for (BootRun& run : part.runs) results[v].runs.push_back(std::move(run));
      // As one continuous batch counts: a wave holds its slots until its
      // boots have exited, the last wave until its last init.
      results[v].batch_seconds +=
          last_wave ? part.batch_seconds
                    : static_cast<double>(NowUs() - start) / 1e6;
      if (progress) progress(v, done + wave, runs, OkCount(results[v]));
    }
    done += wave;
  }
  return results;
}

}  // namespace skiff::bench
