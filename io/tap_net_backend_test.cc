#include "io/tap_net_backend.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "devices/testing/fakes.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtio_net.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/event_loop.h"
#include "io/testing/netns.h"

namespace skiff::io {
namespace {

using devices::VirtioMmio;
using devices::VirtioNet;
using devices::testing::DriverQueue;
using devices::testing::FakeIrqLine;
using devices::testing::VirtioMmioDriver;
using skiff::io::testing::DropCapNetAdmin;
using skiff::io::testing::InFreshNetns;
using skiff::io::testing::IsTestFrame;
using skiff::io::testing::PacketSocket;
using ::testing::StartsWith;

constexpr std::array<uint8_t, 6> kMac = {0x02, 0x53, 0x4b, 0, 0, 0x42};

std::vector<uint8_t> TestFrame(uint8_t tag) {
  return io::testing::TestFrame(kMac, tag);
}

void SetLinkUp(const std::string& ifname) {
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(sock.valid());
  ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  std::memcpy(ifr.ifr_name, ifname.data(), ifname.size());
  ASSERT_EQ(ioctl(sock.get(), SIOCGIFFLAGS, &ifr), 0) << std::strerror(errno);
  ifr.ifr_flags |= IFF_UP;
  ASSERT_EQ(ioctl(sock.get(), SIOCSIFFLAGS, &ifr), 0) << std::strerror(errno);
}

TEST(TapNetBackend, ErrorsNameTheTap) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  auto dev = OpenTapNetDevice(loop->get(), "a-very-long-tap-name", kMac);
  ASSERT_FALSE(dev.ok());
  EXPECT_THAT(std::string(dev.status().message()),
              StartsWith("tap a-very-long-tap-name: "));
}

TEST(TapNetBackend, WithoutCapNetAdminTheErrorSaysWhatToDo) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  std::string skip = InFreshNetns([&] {
    ASSERT_NO_FATAL_FAILURE(DropCapNetAdmin());
    auto dev = OpenTapNetDevice(loop->get(), "skn9", kMac);
    ASSERT_FALSE(dev.ok());
    EXPECT_THAT(std::string(dev.status().message()),
                StartsWith("tap skn9: TUNSETIFF skn9: Operation not permitted "
                           "(creating a TAP needs CAP_NET_ADMIN"));
  });
  if (!skip.empty()) GTEST_SKIP() << skip;
}

TEST(TapNetBackend, OffloadsFollowTheKernelsRules) {
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  std::string skip = InFreshNetns([&] {
    auto tap = Tap::Open({.name = "skn1"});
    ASSERT_TRUE(tap.ok()) << tap.status();
    auto backend = TapNetBackend::Create(loop->get(), *std::move(tap));
    EXPECT_TRUE(backend->SetOffload({}).ok());
    EXPECT_TRUE(backend->SetOffload({.csum = true}).ok());
    EXPECT_TRUE(backend
                    ->SetOffload(
                        {.csum = true, .tso4 = true, .tso6 = true, .ecn = true})
                    .ok());
    EXPECT_TRUE(backend->SetOffload({.csum = true, .tso6 = true}).ok());
    EXPECT_FALSE(backend->SetOffload({.tso4 = true}).ok());
    EXPECT_FALSE(backend->SetOffload({.csum = true, .ecn = true}).ok());
    // Nothing waiting: the device would see -EAGAIN.
    uint8_t buf[64];
    iovec iov{buf, sizeof(buf)};
    EXPECT_EQ(backend->Receive(absl::MakeConstSpan(&iov, 1)), -EAGAIN);
  });
  if (!skip.empty()) GTEST_SKIP() << skip;
}

// A guest driving a virtio-net device on a real TAP, with the device's
// queues and the TAP served by a running event loop as in the machine.
TEST(TapNetBackend, FramesFlowBetweenTheGuestAndTheTap) {
  auto loop_or = EventLoop::Create();
  ASSERT_TRUE(loop_or.ok()) << loop_or.status();
  EventLoop* loop = loop_or->get();
  ASSERT_TRUE(loop->Start().ok());
  std::string skip = InFreshNetns([&] {
    auto dev = OpenTapNetDevice(loop, "skn0", kMac);
    ASSERT_TRUE(dev.ok()) << dev.status();
    VirtioNet* net = static_cast<VirtioNet*>(dev->get());
    SetLinkUp("skn0");
    UniqueFd sock = PacketSocket("skn0");

    auto mem = GuestMemory::Create({{GuestAddr(0), 4 << 20}}, {});
    ASSERT_TRUE(mem.ok());
    FakeIrqLine irq;
    auto mmio = std::make_unique<VirtioMmio>(**mem, *std::move(dev), &irq);
    VirtioMmio* raw = mmio.get();
    mmio->set_notify([loop, raw](uint32_t q) {
      loop->Post([raw, q] { raw->ProcessQueue(q); });
    });
    VirtioMmioDriver driver(**mem, *mmio, GuestAddr(0x1000));
    ASSERT_TRUE(driver.Negotiate(driver.DeviceFeatures()).ok());
    DriverQueue* rx = *driver.SetupQueue(VirtioNet::kRxQueue, 64);
    DriverQueue* tx = *driver.SetupQueue(VirtioNet::kTxQueue, 64);
    driver.DriverOk();
    ASSERT_EQ(driver.status() & devices::kStatusNeedsReset, 0u);

    // Guest to host: the frame appears on the interface.
    std::vector<uint8_t> frame = TestFrame(1);
    GuestAddr hdr = driver.Alloc(devices::kVirtioNetHdrSize);
    GuestAddr body = driver.Alloc(frame.size());
    ASSERT_TRUE((*mem)->Write(body, absl::MakeConstSpan(frame)).ok());
    ASSERT_GE(tx->Add({{hdr, static_cast<uint32_t>(devices::kVirtioNetHdrSize),
                        false},
                       {body, static_cast<uint32_t>(frame.size()), false}}),
              0);
    driver.Notify(VirtioNet::kTxQueue);
    for (;;) {  // the interface may also carry IPv6 chatter
      pollfd pfd{sock.get(), POLLIN, 0};
      ASSERT_EQ(poll(&pfd, 1, 10'000), 1) << "frame never arrived";
      uint8_t buf[2048];
      ssize_t n = recv(sock.get(), buf, sizeof(buf), 0);
      ASSERT_GT(n, 0);
      if (IsTestFrame(buf, static_cast<size_t>(n), 1)) break;
    }

    // Host to guest: frames sent on the interface land in RX buffers, the
    // first one sent before the guest posted any (it waits in the device or
    // the TAP, and the backend stops watching the fd until buffers come).
    sockaddr_ll addr;
    std::memset(&addr, 0, sizeof(addr));
    addr.sll_family = AF_PACKET;
    addr.sll_ifindex = static_cast<int>(if_nametoindex("skn0"));
    addr.sll_halen = 6;
    std::memset(addr.sll_addr, 0xff, 6);
    auto send_frame = [&](uint8_t tag) {
      std::vector<uint8_t> in = TestFrame(tag);
      ASSERT_EQ(sendto(sock.get(), in.data(), in.size(), 0,
                       reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
                static_cast<ssize_t>(in.size()))
          << std::strerror(errno);
    };
    send_frame(2);
    std::map<uint32_t, GuestAddr> by_head;
    for (int i = 0; i < 32; ++i) {
      GuestAddr a = driver.Alloc(2048);
      by_head[static_cast<uint32_t>(rx->Add({{a, 2048, true}}))] = a;
    }
    driver.Notify(VirtioNet::kRxQueue);
    send_frame(3);
    bool found[2] = {false, false};
    for (int tries = 0; tries < 10'000 && !(found[0] && found[1]); ++tries) {
      std::optional<devices::VirtqUsedElem> used;
      // On the loop, which owns the device side of the ring.
      loop->RunAndWait([&] { used = rx->PopUsed(); });
      if (!used.has_value()) {
        usleep(1000);
        continue;
      }
      ASSERT_TRUE(by_head.count(used->id));
      ASSERT_GE(used->len, devices::kVirtioNetHdrSize);
      std::vector<uint8_t> got(used->len);
      ASSERT_TRUE((*mem)->Read(by_head[used->id], absl::MakeSpan(got)).ok());
      EXPECT_EQ(got[10], 1);  // num_buffers
      for (uint8_t tag : {2, 3}) {
        if (IsTestFrame(got.data() + devices::kVirtioNetHdrSize,
                        got.size() - devices::kVirtioNetHdrSize, tag)) {
          found[tag - 2] = true;
        }
      }
    }
    EXPECT_TRUE(found[0]) << "the frame sent before buffers never arrived";
    EXPECT_TRUE(found[1]) << "the frame sent after buffers never arrived";
    EXPECT_GE(irq.rising_edges(), 2);
    VirtioNet::Stats s = net->stats();
    EXPECT_EQ(s.tx_packets, 1u);
    EXPECT_GE(s.rx_packets, 2u);
    // The transport (and with it device and backend) goes before the loop.
    mmio.reset();
  });
  loop->Stop();
  if (!skip.empty()) GTEST_SKIP() << skip;
}

}  // namespace
}  // namespace skiff::io
