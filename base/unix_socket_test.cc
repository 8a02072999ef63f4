#include "base/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skiff {
namespace {

using ::testing::HasSubstr;

class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/skiff-unix-socket.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/s.sock";
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  bool Exists() const {
    struct stat st;
    return ::lstat(path_.c_str(), &st) == 0;
  }

  std::string dir_, path_;
};

TEST_F(UnixSocketTest, ListensAcceptsAndRemovesItsFile) {
  {
    auto l = UnixListener::Listen("test", path_, {.owner_only = true});
    ASSERT_TRUE(l.ok()) << l.status();
    struct stat st;
    ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto c = ConnectUnixSocket("test", path_);
    ASSERT_TRUE(c.ok()) << c.status();
    const int accepted = ::accept4(l->fd(), nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(accepted, 0);
    ::close(accepted);
    // Moving keeps the file until the last owner goes.
    UnixListener moved = std::move(*l);
    EXPECT_TRUE(Exists());
  }
  EXPECT_FALSE(Exists());
}

TEST_F(UnixSocketTest, ServedSocketIsRefusedAndStaleOneReplaced) {
  auto first = UnixListener::Listen("test", path_, {});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = UnixListener::Listen("test", path_, {});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(),
              HasSubstr("test: another process is serving it"));
  // A socket file nobody listens on: bound, never listened.
  ::unlink(path_.c_str());
  {
    auto addr = UnixSocketAddress("test", path_);
    ASSERT_TRUE(addr.ok());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_EQ(
        ::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)),
        0);
    ::close(fd);
  }
  auto third = UnixListener::Listen("test", path_, {});
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST_F(UnixSocketTest, LeavesAFileThatIsNotItsOwn) {
  std::ofstream(path_) << "data";
  auto l = UnixListener::Listen("test", path_, {});
  ASSERT_FALSE(l.ok());
  EXPECT_THAT(l.status().message(), HasSubstr("exists and is not a socket"));
  EXPECT_TRUE(Exists());
  // A listener whose path was replaced meanwhile leaves the new file.
  ::unlink(path_.c_str());
  {
    auto ours = UnixListener::Listen("test", path_, {});
    ASSERT_TRUE(ours.ok()) << ours.status();
    ::unlink(path_.c_str());
    std::ofstream(path_) << "someone else's";
  }
  EXPECT_TRUE(Exists());
}

TEST(UnixSocket, AddressMustFitSockaddrUn) {
  EXPECT_FALSE(UnixSocketAddress("x", "").ok());
  EXPECT_FALSE(UnixSocketAddress("x", std::string(200, 'a')).ok());
  EXPECT_FALSE(UnixSocketAddress("x", std::string("a\0b", 3)).ok());
  EXPECT_THAT(UnixSocketAddress("x", "").status().message(),
              HasSubstr("x: path must be 1..107 bytes"));
  EXPECT_TRUE(UnixSocketAddress("x", "/tmp/s").ok());
}

}  // namespace
}  // namespace skiff
