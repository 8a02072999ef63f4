#include "tools/bench/blk_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "tools/bench/stream_parsers.h"

extern char** environ;

namespace skiff::bench {
namespace {

// What the init prints after the skiff.cmd64 script (guest/initramfs/init).
constexpr std::string_view kCmdStatusPrefix = "skiff-init: check cmd64 status ";

int64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

absl::Status MakePipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe2");
  read_end = UniqueFd(fds[0]);
  write_end = UniqueFd(fds[1]);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    const ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus("write image");
    data += n;
    len -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// The console of one boot: result lines matched to workloads in order, the
// script's status and the last line for failure reports.
struct ConsoleState {
  const std::vector<BlkWorkload>* workloads;
  std::vector<std::optional<IobenchResult>> results;
  size_t next = 0;
  std::optional<int> script_status;
  std::string last_line;

  void OnLine(std::string_view line) {
    if (!line.empty()) last_line = OneLine(line);
    if (std::optional<IobenchResult> r = ParseIobenchLine(line)) {
      while (next < workloads->size() && (*workloads)[next].mode != r->mode) {
        ++next;
      }
      if (next < workloads->size()) results[next++] = *std::move(r);
      return;
    }
    if (const size_t at = line.find(kCmdStatusPrefix);
        at != std::string_view::npos) {
      const std::string digits(line.substr(at + kCmdStatusPrefix.size()));
      char* end = nullptr;
      const long v = std::strtol(digits.c_str(), &end, 10);
      if (end != digits.c_str() && v >= 0 && v < 256) {
        script_status = static_cast<int>(v);
      }
    }
  }
};

}  // namespace

TempImage::TempImage(TempImage&& other) noexcept
    : dir_(std::move(other.dir_)), path_(std::move(other.path_)) {
  other.dir_.clear();
  other.path_.clear();
}

TempImage& TempImage::operator=(TempImage&& other) noexcept {
  if (this != &other) {
    Remove();
    dir_ = std::move(other.dir_);
    path_ = std::move(other.path_);
    other.dir_.clear();
    other.path_.clear();
  }
  return *this;
}

TempImage::~TempImage() { Remove(); }

void TempImage::Remove() {
  if (dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  dir_.clear();
}

absl::StatusOr<TempImage> CreateRandomImage(uint64_t bytes) {
  const char* tmp = getenv("TMPDIR");
  std::string templ =
      absl::StrCat(tmp && *tmp ? tmp : "/var/tmp", "/skiff-bench-blk-XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return ErrnoStatus(absl::StrCat("mkdtemp ", OneLine(templ)));
  }
  TempImage image(templ, templ + "/disk.img");
  SKIFF_ASSIGN_OR_RETURN(
      UniqueFd fd,
      UniqueFd::Open(image.path(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                     0600));
  std::string chunk(1 << 20, '\0');
  for (uint64_t done = 0; done < bytes;) {
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(chunk.size(), bytes - done));
    size_t filled = 0;
    while (filled < n) {
      const ssize_t r = getrandom(chunk.data() + filled, n - filled, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return ErrnoStatus("getrandom");
      filled += static_cast<size_t>(r);
    }
    SKIFF_RETURN_IF_ERROR(WriteAll(fd.get(), chunk.data(), n));
    done += n;
  }
  if (fsync(fd.get()) != 0) return ErrnoStatus("fsync image");
  return image;
}

BlkRun RunBlkBoot(const VmmSpec& spec,
                  const std::vector<BlkWorkload>& workloads, double timeout_s) {
  BlkRun run;
  ConsoleState console{
      .workloads = &workloads,
      .results = std::vector<std::optional<IobenchResult>>(workloads.size())};
  std::string last_stderr;
  LineSplitter out_lines(
      [&console](std::string_view line) { console.OnLine(line); });
  LineSplitter err_lines([&last_stderr](std::string_view line) {
    if (!line.empty()) last_stderr = OneLine(line);
  });

  UniqueFd out_r, out_w, err_r, err_w;
  if (absl::Status s = MakePipe(out_r, out_w); !s.ok()) {
    run.failure = OneLine(std::string(s.message()));
    return run;
  }
  if (absl::Status s = MakePipe(err_r, err_w); !s.ok()) {
    run.failure = OneLine(std::string(s.message()));
    return run;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  std::vector<char*> argv;
  for (const std::string& a : spec.argv) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  const int64_t start = NowUs();
  pid_t pid = -1;
  const int rc =
      posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  out_w.Reset();
  err_w.Reset();
  if (rc != 0) {
    run.failure = OneLine(std::string(
        ErrnoStatus(absl::StrCat("posix_spawn ", spec.argv[0]), rc).message()));
    return run;
  }

  // Read both pipes until EOF (the VMM and anything it spawned exited) or
  // the deadline; then reap.
  const int64_t deadline = start + static_cast<int64_t>(timeout_s * 1e6);
  bool timed_out = false;
  char buf[65536];
  while (out_r.valid() || err_r.valid()) {
    const int64_t now = NowUs();
    if (now >= deadline) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fds[2];
    UniqueFd* owners[2];
    nfds_t n = 0;
    for (UniqueFd* fd : {&out_r, &err_r}) {
      if (!fd->valid()) continue;
      fds[n] = {fd->get(), POLLIN, 0};
      owners[n++] = fd;
    }
    const int wait_ms =
        static_cast<int>(std::min<int64_t>(1000, (deadline - now) / 1000 + 1));
    if (poll(fds, n, wait_ms) < 0 && errno != EINTR) break;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      const ssize_t got = read(owners[i]->get(), buf, sizeof(buf));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        owners[i]->Reset();
        continue;
      }
      (owners[i] == &out_r ? out_lines : err_lines)
          .Feed(std::string_view(buf, static_cast<size_t>(got)));
    }
  }
  out_lines.Finish();
  err_lines.Finish();
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  run.wall_us = NowUs() - start;
  run.results = std::move(console.results);
  run.last_console_line = console.last_line;
  run.last_stderr_line = last_stderr;

  if (timed_out) {
    run.failure = absl::StrFormat("timeout after %g s", timeout_s);
  } else if (r == pid && WIFSIGNALED(status)) {
    run.failure = absl::StrCat("killed by signal ", WTERMSIG(status));
  } else if (r == pid && WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    run.failure = absl::StrCat("exit status ", WEXITSTATUS(status));
  } else if (!console.script_status) {
    run.failure = "no \"skiff-init: check cmd64 status\" line on the console";
  } else if (*console.script_status != 0) {
    run.failure = absl::StrCat("guest script status ", *console.script_status,
                               " (is /bin/skiff-iobench in the initramfs?)");
  } else {
    for (size_t w = 0; w < workloads.size(); ++w) {
      if (!run.results[w]) {
        run.failure =
            absl::StrCat("no skiff-iobench result for ", workloads[w].name);
        break;
      }
    }
  }
  run.ok = run.failure.empty();
  return run;
}

}  // namespace skiff::bench
