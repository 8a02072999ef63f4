#include "io/tap.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/event_loop.h"
#include "io/testing/netns.h"

namespace skiff::io {
namespace {

using skiff::io::testing::DropCapNetAdmin;
using skiff::io::testing::InFreshNetns;
using skiff::io::testing::IsTestFrame;
using skiff::io::testing::PacketSocket;
using skiff::io::testing::TestFrame;
using ::testing::HasSubstr;

// Locally administered.
constexpr std::array<uint8_t, 6> kSrcMac = {0x02, 0, 0, 0, 0, 0x01};

TEST(Tap, MissingCloneDeviceIsOneClearLine) {
  auto tap = Tap::Open({.name = "skt0", .tun_path = "/nonexistent/tun"});
  ASSERT_FALSE(tap.ok());
  EXPECT_EQ(std::string(tap.status().message()),
            "open /nonexistent/tun: No such file or directory (is the tun "
            "module loaded?)");
}

TEST(Tap, NameTooLong) {
  auto tap = Tap::Open({.name = "a-very-long-tap-name"});
  ASSERT_FALSE(tap.ok());
  EXPECT_THAT(std::string(tap.status().message()), HasSubstr("name longer"));
}

TEST(Tap, CreatesAndConfiguresInAFreshNamespace) {
  std::string skip = InFreshNetns([] {
    auto tap = Tap::Open({});
    ASSERT_TRUE(tap.ok()) << tap.status();
    EXPECT_EQ(tap->name(), "tap0");  // the kernel's pick
    EXPECT_TRUE(tap->SetOffload({.csum = true}).ok());
    EXPECT_TRUE(tap->SetOffload({.csum = true, .tso = true}).ok());
    EXPECT_FALSE(tap->SetOffload({.tso = true}).ok());
    EXPECT_TRUE(tap->SetUp(true).ok());
    EXPECT_TRUE(tap->SetUp(false).ok());
    // Nothing to read: non-blocking.
    uint8_t buf[64];
    iovec iov{buf, sizeof(buf)};
    EXPECT_EQ(tap->ReadV(&iov, 1), -EAGAIN);
  });
  if (!skip.empty()) GTEST_SKIP() << skip;
}

TEST(Tap, FrameWrittenToTapReachesAPacketSocket) {
  std::string skip = InFreshNetns([] {
    auto tap = Tap::Open({.name = "skt0"});
    ASSERT_TRUE(tap.ok()) << tap.status();
    ASSERT_TRUE(tap->SetUp(true).ok());
    UniqueFd sock = PacketSocket("skt0");
    std::vector<uint8_t> frame = TestFrame(kSrcMac, 0);
    uint8_t hdr[Tap::kVnetHdrSize] = {};  // no offloads
    iovec iov[2] = {{hdr, sizeof(hdr)}, {frame.data(), frame.size()}};
    ASSERT_EQ(tap->WriteV(iov, 2),
              static_cast<int64_t>(sizeof(hdr) + frame.size()));
    // The interface may also carry IPv6 chatter; look for our frame.
    for (;;) {
      pollfd pfd{sock.get(), POLLIN, 0};
      ASSERT_EQ(poll(&pfd, 1, 10'000), 1) << "frame never arrived";
      uint8_t buf[2048];
      ssize_t n = recv(sock.get(), buf, sizeof(buf), 0);
      ASSERT_GT(n, 0);
      if (IsTestFrame(buf, static_cast<size_t>(n), 0)) break;
    }
  });
  if (!skip.empty()) GTEST_SKIP() << skip;
}

TEST(Tap, FrameSentOnTheInterfaceIsReadFromTheTapThroughTheLoop) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  ASSERT_TRUE((*loop)->Start().ok());
  std::string skip = InFreshNetns([&] {
    auto tap = Tap::Open({.name = "skt1"});
    ASSERT_TRUE(tap.ok()) << tap.status();
    ASSERT_TRUE(tap->SetUp(true).ok());
    UniqueFd sock = PacketSocket("skt1");

    absl::Notification got;
    bool header_ok = false;
    EventLoop::FdId id = 0;
    (*loop)->RunAndWait([&] {
      id = (*loop)->AddReadable(tap->fd(), [&] {
        uint8_t hdr[Tap::kVnetHdrSize];
        uint8_t buf[2048];
        iovec iov[2] = {{hdr, sizeof(hdr)}, {buf, sizeof(buf)}};
        for (;;) {
          int64_t n = tap->ReadV(iov, 2);
          if (n < 0) break;  // drained (-EAGAIN)
          if (n < static_cast<int64_t>(sizeof(hdr))) continue;
          size_t len = static_cast<size_t>(n) - sizeof(hdr);
          if (IsTestFrame(buf, len, 0) && !got.HasBeenNotified()) {
            // No offloads were enabled, so the header is all zero apart
            // from num_buffers, which the kernel leaves at 0 as well.
            header_ok = std::all_of(hdr, hdr + sizeof(hdr),
                                    [](uint8_t b) { return b == 0; });
            got.Notify();
          }
        }
      });
    });

    std::vector<uint8_t> frame = TestFrame(kSrcMac, 0);
    sockaddr_ll addr;
    std::memset(&addr, 0, sizeof(addr));
    addr.sll_family = AF_PACKET;
    addr.sll_ifindex = static_cast<int>(if_nametoindex("skt1"));
    addr.sll_halen = 6;
    std::memset(addr.sll_addr, 0xff, 6);
    ASSERT_EQ(sendto(sock.get(), frame.data(), frame.size(), 0,
                     reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
              static_cast<ssize_t>(frame.size()))
        << std::strerror(errno);
    got.WaitForNotification();
    EXPECT_TRUE(header_ok);
    (*loop)->RunAndWait([&] { (*loop)->RemoveFd(id); });
  });
  (*loop)->Stop();
  if (!skip.empty()) GTEST_SKIP() << skip;
}

TEST(Tap, WithoutCapNetAdminTheErrorSaysWhatToDo) {
  std::string skip = InFreshNetns([] {
    ASSERT_NO_FATAL_FAILURE(DropCapNetAdmin());
    auto tap = Tap::Open({.name = "skt2"});
    ASSERT_FALSE(tap.ok());
    EXPECT_THAT(std::string(tap.status().message()),
                HasSubstr("TUNSETIFF skt2: Operation not permitted (creating "
                          "a TAP needs CAP_NET_ADMIN"));
  });
  if (!skip.empty()) GTEST_SKIP() << skip;
}

}  // namespace
}  // namespace skiff::io
