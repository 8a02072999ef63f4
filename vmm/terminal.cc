#include "vmm/terminal.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

#include "base/status_macros.h"

namespace skiff {
namespace {

// Reached from the fatal-signal handler, so plain data and an atomic flag.
termios g_saved_termios;
std::atomic<int> g_raw_fd{-1};

void RestoreOnFatalSignal(int sig) {
  int fd = g_raw_fd.exchange(-1);
  if (fd >= 0) tcsetattr(fd, TCSANOW, &g_saved_termios);
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RawTerminal>> RawTerminal::Enable(int fd) {
  termios saved;
  if (tcgetattr(fd, &saved) < 0) return ErrnoStatus("tcgetattr");
  termios raw = saved;
  cfmakeraw(&raw);
  // Keep output post-processing so host-side log lines still start at
  // column 0; the guest's own CR/LF pass through unchanged either way.
  raw.c_oflag = saved.c_oflag;
  if (tcsetattr(fd, TCSANOW, &raw) < 0) return ErrnoStatus("tcsetattr");
  g_saved_termios = saved;
  g_raw_fd.store(fd);
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE}) {
    struct sigaction sa = {};
    sa.sa_handler = RestoreOnFatalSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
  return std::unique_ptr<RawTerminal>(new RawTerminal(fd, saved));
}

RawTerminal::~RawTerminal() {
  g_raw_fd.store(-1);
  tcsetattr(fd_, TCSANOW, &saved_);
}

}  // namespace skiff
