#include "api/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace skiff::api {
namespace {

// A datagram socket standing in for systemd's notification socket; the
// test process is not started by systemd, so nothing else listens.
class SdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skiff_notify_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string Receive() {
    char buf[512];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
  }

  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

TEST_F(SdNotifyTest, DisabledWithoutNotifySocket) {
  ::unsetenv("NOTIFY_SOCKET");
  SdNotifier n;
  EXPECT_FALSE(n.enabled());
  EXPECT_TRUE(n.Ready().ok());
  EXPECT_TRUE(n.Status("x").ok());
  EXPECT_TRUE(n.Stopping().ok());
}

TEST_F(SdNotifyTest, SendsReadyStatusStopping) {
  ASSERT_EQ(::setenv("NOTIFY_SOCKET", path_.c_str(), 1), 0);
  SdNotifier n;
  EXPECT_TRUE(n.enabled());
  ASSERT_TRUE(n.Status("booting\nREADY=1").ok());
  // The newline did not smuggle in a second assignment.
  EXPECT_EQ(Receive(), "STATUS=booting READY=1");
  ASSERT_TRUE(n.Ready().ok());
  EXPECT_EQ(Receive(), "READY=1");
  ASSERT_TRUE(n.Stopping().ok());
  EXPECT_EQ(Receive(), "STOPPING=1");
  // The variable stays for anyone else who reads it.
  EXPECT_NE(std::getenv("NOTIFY_SOCKET"), nullptr);
}

TEST_F(SdNotifyTest, MissingSocketIsAnError) {
  std::string gone = dir_ + "/gone";
  ASSERT_EQ(::setenv("NOTIFY_SOCKET", gone.c_str(), 1), 0);
  SdNotifier n;
  EXPECT_TRUE(n.enabled());
  EXPECT_FALSE(n.Ready().ok());
}

TEST_F(SdNotifyTest, AbstractSocketName) {
  // "@name" is a name in the abstract namespace, as systemd may pass it.
  const std::string name = "skiff_notify_test_" + std::to_string(::getpid());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const auto len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1), 0);
  SdNotifier n;
  ASSERT_TRUE(n.Ready().ok());
  char buf[64];
  const ssize_t got = ::recv(fd, buf, sizeof(buf), 0);
  ::close(fd);
  EXPECT_EQ(std::string(buf, got > 0 ? static_cast<size_t>(got) : 0),
            "READY=1");
}

TEST_F(SdNotifyTest, MalformedNotifySocketIsAnError) {
  for (const std::string& bad :
       {std::string("relative/path"), "/" + std::string(200, 'x')}) {
    ASSERT_EQ(::setenv("NOTIFY_SOCKET", bad.c_str(), 1), 0);
    SdNotifier n;
    EXPECT_TRUE(n.enabled());
    const absl::Status st = n.Ready();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(st.message().find("NOTIFY_SOCKET"), absl::string_view::npos);
  }
}

}  // namespace
}  // namespace skiff::api
