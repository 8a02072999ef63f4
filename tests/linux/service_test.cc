// skiff as a service, with the default microVM: the serial console on a
// Unix socket (`--serial socket=PATH`) carries the shell both ways, and
// every thread of the running VM has its seccomp filter in (enforce).
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/thread_seccomp.h"
#include "tests/linux/linux_guest.h"

namespace skiff::testing {
namespace {

// A client of the console socket, with deadlines on every wait.
class ConsoleClient {
 public:
  ~ConsoleClient() {
    if (fd_ >= 0) close(fd_);
  }
  // Connects once skiff has created the socket.
  bool Connect(const std::string& path, absl::Duration timeout) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
        return true;
      }
      close(fd_);
      fd_ = -1;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }
  bool WaitFor(const std::string& text, absl::Duration timeout,
               size_t from = 0) {
    const absl::Time deadline = absl::Now() + timeout;
    while (out_.find(text, from) == std::string::npos) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd pfd = {fd_, POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left))) <=
          0) {
        continue;
      }
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) return false;
      out_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }
  void Send(const std::string& s) {
    ASSERT_EQ(write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  const std::string& out() const { return out_; }

 private:
  int fd_ = -1;
  std::string out_;
};

class ServiceLinuxTest : public LinuxGuestTest {};

TEST_P(ServiceLinuxTest, SocketConsoleAndEveryThreadFiltered) {
  const std::string base =
      absl::StrCat(::testing::TempDir(), "/skiff-svc-", getpid());
  const std::string console = base + ".console";
  const std::string api = base + ".api";
  std::remove(console.c_str());
  std::remove(api.c_str());
  Subprocess p;
  ASSERT_TRUE(
      p.Start(Argv(kBaseCmdline,
                   {"--serial", absl::StrCat("socket=", console), "--seccomp",
                    "enforce", "--rng", "--api-socket", api}))
          .ok());
  ConsoleClient c;
  ASSERT_TRUE(c.Connect(console, absl::Seconds(30))) << p.err();
  struct stat st;
  ASSERT_EQ(stat(console.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(c.WaitFor("skiff# ", kBootTimeout)) << c.out() << p.err();

  // Every thread is running now and has confined itself.
  const std::map<std::string, ThreadSeccomp> threads =
      ThreadSeccompModes(p.pid());
  std::vector<std::string> want = {"vcpu0", "io", "console", "api"};
  if (GetParam() == "tcg") want.push_back("timers");
  for (const std::string& name : want) {
    EXPECT_TRUE(std::any_of(
        threads.begin(), threads.end(),
        [&name](const auto& entry) { return entry.second.name == name; }))
        << name << ": " << DescribeThreads(threads);
  }
  for (const auto& [tid, t] : threads) {
    EXPECT_EQ(t.mode, 2) << t.name << " has no seccomp filter: "
                         << DescribeThreads(threads);
  }

  const size_t mark = c.out().size();
  c.Send("echo answer=$((6*7))\n");
  EXPECT_TRUE(c.WaitFor("answer=42", absl::Seconds(60), mark)) << c.out();
  c.Send("poweroff -f\n");
  ProcessResult r = p.Wait(absl::Seconds(60));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.term_signal, 0) << "SIGSYS is 31: a seccomp kill\n" << r.err;
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(stat(console.c_str(), &st), 0) << "socket file left behind";
}

INSTANTIATE_TEST_SUITE_P(Accel, ServiceLinuxTest,
                         ::testing::Values("tcg", "kvm"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace skiff::testing
