#include "tests/integration/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/time/clock.h"

extern char** environ;

namespace skiff::testing {

Subprocess::~Subprocess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(5));
  }
  CloseStdin();
  for (int& fd : fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

absl::Status Subprocess::Start(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0 ||
      pipe2(in_pipe, O_CLOEXEC) < 0) {
    return absl::InternalError("pipe2 failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  in_fd_ = in_pipe[1];
  fds_[0] = out_pipe[0];
  fds_[1] = err_pipe[0];
  if (rc != 0) {
    pid_ = -1;
    return absl::InternalError("posix_spawn failed: " + argv[0]);
  }
  return absl::OkStatus();
}

void Subprocess::Write(const std::string& data) {
  size_t done = 0;
  while (in_fd_ >= 0 && done < data.size()) {
    ssize_t n = write(in_fd_, data.data() + done, data.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
}

void Subprocess::CloseStdin() {
  if (in_fd_ >= 0) close(in_fd_);
  in_fd_ = -1;
}

void Subprocess::Kill(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

bool Subprocess::Pump(absl::Time deadline) {
  if (fds_[0] < 0 && fds_[1] < 0) return false;
  int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
  if (ms <= 0) return false;
  pollfd fds[2] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}};
  if (poll(fds, 2, ms) < 0) return true;
  std::string* sinks[2] = {&result_.out, &result_.err};
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd < 0 || fds[i].revents == 0) continue;
    char buf[4096];
    ssize_t n = read(fds[i].fd, buf, sizeof(buf));
    if (n <= 0) {
      close(fds_[i]);
      fds_[i] = -1;
    } else {
      sinks[i]->append(buf, static_cast<size_t>(n));
    }
  }
  return true;
}

bool Subprocess::WaitForOutput(const std::string& text, absl::Duration timeout,
                               size_t from) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (result_.out.size() > from &&
        result_.out.find(text, from) != std::string::npos) {
      return true;
    }
    if (!Pump(deadline)) return false;
  }
}

ProcessResult Subprocess::Wait(absl::Duration timeout) {
  CloseStdin();
  absl::Time deadline = absl::Now() + timeout;
  while (Pump(deadline)) {
  }
  if (pid_ <= 0) return result_;
  if (fds_[0] >= 0 || fds_[1] >= 0) {
    result_.timed_out = true;
    kill(pid_, SIGKILL);
  }
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (WIFEXITED(status)) {
    result_.exit_status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result_.term_signal = WTERMSIG(status);
  }
  return result_;
}

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         absl::Duration timeout, const std::string& input) {
  Subprocess p;
  if (absl::Status st = p.Start(argv); !st.ok()) {
    ProcessResult r;
    r.err = std::string(st.message());
    return r;
  }
  if (!input.empty()) p.Write(input);
  return p.Wait(timeout);
}

const std::string& ProbeOutput(const std::string& skiff_bin) {
  static const std::string* out = [&skiff_bin] {
    ProcessResult r = RunProcess({skiff_bin, "probe"}, absl::Seconds(30));
    return new std::string(r.out + r.err);
  }();
  return *out;
}

}  // namespace skiff::testing
