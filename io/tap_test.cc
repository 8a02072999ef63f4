#include "io/tap.h"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/synchronization/notification.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/event_loop.h"

namespace skiff::io {
namespace {

using ::testing::HasSubstr;

constexpr uint16_t kTestEtherType = 0x88b5;  // IEEE local experimental
constexpr char kPayload[] = "skiff-tap-test";

// Runs `body` on a thread of its own in a fresh network namespace (network
// namespaces are per thread), so the test touches no host interface. Returns
// why it could not, or "".
std::string InFreshNetns(absl::FunctionRef<void()> body) {
  std::string skip;
  std::thread thread([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      skip = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      return;
    }
    body();
  });
  thread.join();
  return skip;
}

std::vector<uint8_t> TestFrame() {
  std::vector<uint8_t> frame(60, 0);
  std::memset(frame.data(), 0xff, 6);               // broadcast
  const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x01};  // locally administered
  std::memcpy(frame.data() + 6, src, 6);
  frame[12] = kTestEtherType >> 8;
  frame[13] = kTestEtherType & 0xff;
  std::memcpy(frame.data() + 14, kPayload, sizeof(kPayload));
  return frame;
}

bool IsTestFrame(const uint8_t* frame, size_t len) {
  return len >= 14 + sizeof(kPayload) && frame[12] == (kTestEtherType >> 8) &&
         frame[13] == (kTestEtherType & 0xff) &&
         std::memcmp(frame + 14, kPayload, sizeof(kPayload)) == 0;
}

UniqueFd PacketSocket(const std::string& ifname) {
  UniqueFd sock(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
  EXPECT_TRUE(sock.valid()) << std::strerror(errno);
  sockaddr_ll addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  EXPECT_NE(addr.sll_ifindex, 0);
  EXPECT_EQ(bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0)
      << std::strerror(errno);
  return sock;
}

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
    std::vector<uint8_t> frame = TestFrame();
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
      if (IsTestFrame(buf, static_cast<size_t>(n))) break;
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
          if (IsTestFrame(buf, len) && !got.HasBeenNotified()) {
            // No offloads were enabled, so the header is all zero apart
            // from num_buffers, which the kernel leaves at 0 as well.
            header_ok = std::all_of(hdr, hdr + sizeof(hdr),
                                    [](uint8_t b) { return b == 0; });
            got.Notify();
          }
        }
      });
    });

    std::vector<uint8_t> frame = TestFrame();
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
    // Capabilities are per thread: drop CAP_NET_ADMIN from this one only.
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2];
    ASSERT_EQ(syscall(SYS_capget, &header, data), 0);
    data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
    ASSERT_EQ(syscall(SYS_capset, &header, data), 0) << std::strerror(errno);
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
