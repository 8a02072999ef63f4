#include "io/unix_vsock_backend.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"
#include "devices/testing/fakes.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/testing/vsock_guest.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtio_vsock.h"
#include "gtest/gtest.h"

namespace skiff::io {
namespace {

using devices::kVsockOpCreditUpdate;
using devices::kVsockOpRequest;
using devices::kVsockOpResponse;
using devices::kVsockOpRst;
using devices::kVsockOpRw;
using devices::kVsockOpShutdown;
using devices::kVsockShutdownRcv;
using devices::kVsockShutdownSend;
using devices::VirtioMmio;
using devices::VsockHdr;
using devices::testing::VirtioMmioDriver;

constexpr uint64_t kGuestCid = 3;
constexpr uint32_t kRxBuf = 4096;
// Only a hang guard: every wait normally ends in milliseconds.
constexpr absl::Duration kHang = absl::Seconds(20);

using Packet = devices::testing::VsockPacket;

VsockHdr Hdr(uint16_t op, uint32_t guest_port, uint32_t host_port,
             uint32_t len = 0, uint32_t buf_alloc = 1 << 20,
             uint32_t fwd_cnt = 0) {
  return devices::testing::GuestStreamHdr(kGuestCid, op, guest_port, host_port,
                                          len, buf_alloc, fwd_cnt);
}

UniqueFd ConnectUnix(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    return UniqueFd();
  }
  timeval tv{20, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

UniqueFd ListenUnix(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd.get(), 8) != 0) {
    return UniqueFd();
  }
  return fd;
}

void WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    ASSERT_GT(n, 0) << std::strerror(errno);
    done += n;
  }
}

// Reads until `n` bytes or EOF.
std::string ReadN(int fd, size_t n) {
  std::string out;
  char buf[65536];
  while (out.size() < n) {
    ssize_t r = ::read(fd, buf, std::min(sizeof(buf), n - out.size()));
    if (r <= 0) break;
    out.append(buf, r);
  }
  return out;
}

std::string ReadLine(int fd) {
  std::string out;
  char c;
  while (::read(fd, &c, 1) == 1) {
    out += c;
    if (c == '\n') break;
  }
  return out;
}

// A VM's worth of virtio-vsock on a running EventLoop, with the test thread
// playing the guest driver.
class Rig {
 public:
  Rig() {
    char tmpl[] = "/tmp/skiff-vsock-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    uds = dir_ + "/vm.sock";
    auto l = EventLoop::Create();
    EXPECT_TRUE(l.ok()) << l.status();
    loop = std::move(*l);
    auto m = GuestMemory::Create({{GuestAddr(0), 8 << 20}}, {});
    mem = std::move(*m);
    auto dev = OpenUnixVsockDevice(loop.get(), kGuestCid, uds);
    EXPECT_TRUE(dev.ok()) << dev.status();
    mmio = std::make_unique<VirtioMmio>(*mem, std::move(*dev), &irq);
    mmio->set_notify([this](uint32_t q) {
      loop->Post([this, q] { mmio->ProcessQueue(q); });
    });
    driver = std::make_unique<VirtioMmioDriver>(*mem, *mmio, GuestAddr(0x1000));
    auto q = devices::testing::StartVsockDriver(*driver);
    EXPECT_TRUE(q.ok()) << q.status();
    rx = q->rx;
    tx = q->tx;
    EXPECT_TRUE(loop->Start().ok());
    PostRx(32);
  }

  ~Rig() {
    loop->Stop();
    mmio.reset();  // the device and its backend, in loop context
    loop.reset();
    std::filesystem::remove_all(dir_);
  }

  void PostRx(int n) {
    devices::testing::PostVsockRx(*driver, *rx, n, kRxBuf, rx_bufs_);
  }

  void Send(const VsockHdr& hdr, const std::string& payload = "") {
    absl::StatusOr<GuestAddr> written =
        devices::testing::WriteVsockPacket(*mem, *driver, hdr, payload);
    ASSERT_TRUE(written.ok()) << written.status();
    const GuestAddr a = *written;
    ASSERT_GE(tx->Add({{a, static_cast<uint32_t>(sizeof(hdr) + payload.size()),
                        false}}),
              0);
    driver->Notify(1);
    const absl::Time deadline = absl::Now() + kHang;
    while (!tx->PopUsed().has_value()) {
      ASSERT_LT(absl::Now(), deadline) << "tx buffer never used";
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

  // The next rx packet; reposts its buffer.
  std::optional<Packet> Receive(absl::Duration timeout = kHang) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      auto used = rx->PopUsed();
      if (used.has_value()) {
        GuestAddr a = rx_bufs_.at(static_cast<uint16_t>(used->id));
        absl::StatusOr<Packet> p =
            devices::testing::ReadVsockPacket(*mem, a, kRxBuf);
        EXPECT_TRUE(p.ok()) << p.status();
        PostRx(1);
        if (!p.ok()) return std::nullopt;
        return *std::move(p);
      }
      if (absl::Now() > deadline) return std::nullopt;
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

  // Host client connects to guest port `port`; the guest accepts. Returns
  // the client and sets `key`.
  UniqueFd HostConnect(uint32_t port, devices::VsockConnKey& key) {
    UniqueFd c = ConnectUnix(uds);
    EXPECT_TRUE(c.valid());
    WriteAll(c.get(), "CONNECT " + std::to_string(port) + "\n");
    auto p = Receive();
    EXPECT_TRUE(p.has_value());
    if (!p.has_value()) return UniqueFd();
    EXPECT_EQ(p->hdr.op, kVsockOpRequest);
    EXPECT_EQ(p->hdr.dst_port, port);
    EXPECT_GE(p->hdr.src_port, UnixVsockBackend::kFirstHostPort);
    key = {p->hdr.src_port, port};
    Send(Hdr(kVsockOpResponse, port, key.host_port));
    EXPECT_EQ(ReadLine(c.get()), "OK " + std::to_string(key.host_port) + "\n");
    return c;
  }

  std::string uds;
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<GuestMemory> mem;
  devices::testing::FakeIrqLine irq;
  std::unique_ptr<VirtioMmio> mmio;
  std::unique_ptr<VirtioMmioDriver> driver;
  devices::testing::DriverQueue* rx = nullptr;
  devices::testing::DriverQueue* tx = nullptr;

 private:
  std::string dir_;
  std::map<uint16_t, GuestAddr> rx_bufs_;
};

TEST(UnixVsockBackend, HostConnectsAndDataFlows) {
  Rig rig;
  devices::VsockConnKey key;
  UniqueFd c = rig.HostConnect(52, key);
  ASSERT_TRUE(c.valid());

  WriteAll(c.get(), "ping");
  auto p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpRw);
  EXPECT_EQ(p->data, "ping");

  rig.Send(Hdr(kVsockOpRw, 52, key.host_port, 4), "pong");
  EXPECT_EQ(ReadN(c.get(), 4), "pong");

  // Host half-close: the guest sees SHUTDOWN(SEND) and can still send.
  ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
  p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpShutdown);
  EXPECT_EQ(p->hdr.flags, kVsockShutdownSend);
  rig.Send(Hdr(kVsockOpRw, 52, key.host_port, 4), "more");
  EXPECT_EQ(ReadN(c.get(), 4), "more");

  // The guest closes: RST back, and the client sees EOF.
  VsockHdr shut = Hdr(kVsockOpShutdown, 52, key.host_port);
  shut.flags = kVsockShutdownRcv | kVsockShutdownSend;
  rig.Send(shut);
  p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpRst);
  EXPECT_EQ(ReadN(c.get(), 1), "");
}

TEST(UnixVsockBackend, GuestHalfCloseReachesHost) {
  Rig rig;
  devices::VsockConnKey key;
  UniqueFd c = rig.HostConnect(53, key);
  ASSERT_TRUE(c.valid());
  rig.Send(Hdr(kVsockOpRw, 53, key.host_port, 3), "abc");
  VsockHdr shut = Hdr(kVsockOpShutdown, 53, key.host_port);
  shut.flags = kVsockShutdownSend;
  rig.Send(shut);
  EXPECT_EQ(ReadN(c.get(), 100), "abc");  // then EOF
  WriteAll(c.get(), "reply");
  auto p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->data, "reply");
}

TEST(UnixVsockBackend, GuestRefusalClosesClient) {
  Rig rig;
  UniqueFd c = ConnectUnix(rig.uds);
  ASSERT_TRUE(c.valid());
  WriteAll(c.get(), "CONNECT 99\n");
  auto p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  ASSERT_EQ(p->hdr.op, kVsockOpRequest);
  rig.Send(Hdr(kVsockOpRst, 99, p->hdr.src_port));
  EXPECT_EQ(ReadN(c.get(), 1), "");
}

TEST(UnixVsockBackend, BadConnectLineClosesClient) {
  Rig rig;
  UniqueFd c = ConnectUnix(rig.uds);
  ASSERT_TRUE(c.valid());
  WriteAll(c.get(), "HELLO 5\n");
  EXPECT_EQ(ReadN(c.get(), 1), "");
  UniqueFd d = ConnectUnix(rig.uds);
  WriteAll(d.get(), std::string(100, 'x'));
  EXPECT_EQ(ReadN(d.get(), 1), "");
}

TEST(UnixVsockBackend, ClientHangupBeforeAnswerResetsGuest) {
  Rig rig;
  UniqueFd c = ConnectUnix(rig.uds);
  WriteAll(c.get(), "CONNECT 77\n");
  auto p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  ASSERT_EQ(p->hdr.op, kVsockOpRequest);
  c.Reset();
  p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpRst);
  EXPECT_EQ(p->hdr.dst_port, 77u);
}

TEST(UnixVsockBackend, GuestConnectsToHostListener) {
  Rig rig;
  UniqueFd server = ListenUnix(rig.uds + "_8000");
  ASSERT_TRUE(server.valid());
  rig.Send(Hdr(kVsockOpRequest, 4000, 8000));
  auto p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  ASSERT_EQ(p->hdr.op, kVsockOpResponse);
  UniqueFd s(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(s.valid());
  timeval tv{20, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

  rig.Send(Hdr(kVsockOpRw, 4000, 8000, 2), "hi");
  EXPECT_EQ(ReadN(s.get(), 2), "hi");
  WriteAll(s.get(), "there");
  p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->data, "there");
  s.Reset();
  p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpShutdown);
  EXPECT_EQ(p->hdr.flags, kVsockShutdownSend);
}

TEST(UnixVsockBackend, GuestConnectWithoutListenerGetsRst) {
  Rig rig;
  rig.Send(Hdr(kVsockOpRequest, 4001, 8001));
  auto p = rig.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpRst);
  EXPECT_EQ(p->hdr.dst_port, 4001u);
}

TEST(UnixVsockBackend, HostDataFollowsGuestCredit) {
  Rig rig;
  devices::VsockConnKey key;
  UniqueFd c = rig.HostConnect(60, key);
  ASSERT_TRUE(c.valid());
  // The guest advertises only 1000 bytes, and frees them as it reads.
  constexpr uint32_t kGuestBuf = 1000;
  rig.Send(Hdr(kVsockOpCreditUpdate, 60, key.host_port, 0, kGuestBuf, 0));
  std::string big(200 * 1000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  std::thread writer([&] { WriteAll(c.get(), big); });
  std::string got;
  uint32_t unacked = 0;
  while (got.size() < big.size()) {
    auto p = rig.Receive();
    ASSERT_TRUE(p.has_value()) << "stalled at " << got.size();
    ASSERT_EQ(p->hdr.op, kVsockOpRw);
    got += p->data;
    unacked += p->data.size();
    ASSERT_LE(unacked, kGuestBuf) << "device exceeded the guest's credit";
    if (unacked == kGuestBuf || got.size() == big.size()) {
      rig.Send(Hdr(kVsockOpCreditUpdate, 60, key.host_port, 0, kGuestBuf,
                   static_cast<uint32_t>(got.size())));
      unacked = 0;
    }
  }
  writer.join();
  EXPECT_TRUE(got == big);
}

TEST(UnixVsockBackend, GuestDataToSlowHost) {
  Rig rig;
  devices::VsockConnKey key;
  UniqueFd c = rig.HostConnect(61, key);
  ASSERT_TRUE(c.valid());
  // 2 MiB from the guest, respecting the device's credit; the host reads
  // only after a while, so the socket fills and the device must wait for
  // POLLOUT.
  const size_t total = 2 << 20;
  std::string got;
  std::thread reader([&] {
    absl::SleepFor(absl::Milliseconds(50));
    got = ReadN(c.get(), total);
  });
  uint32_t peer_buf = devices::VirtioVsock::kBufAlloc, peer_fwd = 0;
  uint32_t sent = 0;
  const std::string chunk(16384, 'q');
  while (sent < total) {
    if (sent - peer_fwd + chunk.size() <= peer_buf) {
      rig.Send(Hdr(kVsockOpRw, 61, key.host_port, chunk.size()), chunk);
      sent += chunk.size();
      continue;
    }
    auto p = rig.Receive();
    ASSERT_TRUE(p.has_value()) << "no credit update after " << sent;
    ASSERT_EQ(p->hdr.op, kVsockOpCreditUpdate);
    peer_buf = p->hdr.buf_alloc;
    peer_fwd = p->hdr.fwd_cnt;
  }
  reader.join();
  EXPECT_EQ(got.size(), total);
}

TEST(UnixVsockBackend, DeviceResetClosesHostSockets) {
  Rig rig;
  devices::VsockConnKey key;
  UniqueFd c = rig.HostConnect(62, key);
  ASSERT_TRUE(c.valid());
  rig.driver->Write32(devices::kMmioStatus, 0);
  EXPECT_EQ(ReadN(c.get(), 1), "");
}

TEST(UnixVsockBackend, StaleSocketFileIsReplaced) {
  char tmpl[] = "/tmp/skiff-vsock-stale-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string path = dir + "/s.sock";
  { UniqueFd stale = ListenUnix(path); }  // closed: the file stays
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop.ok());
  {
    auto backend = UnixVsockBackend::Create(loop->get(), path);
    ASSERT_TRUE(backend.ok()) << backend.status();
    // Now someone listens: a second one must not steal the path.
    auto second = UnixVsockBackend::Create(loop->get(), path);
    ASSERT_FALSE(second.ok());
    EXPECT_NE(std::string(second.status().message()).find("listening"),
              std::string::npos);
  }
  struct stat st;
  EXPECT_NE(::lstat(path.c_str(), &st), 0);  // removed with the backend
  ASSERT_EQ(::close(::open(path.c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  auto file = UnixVsockBackend::Create(loop->get(), path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(std::string(file.status().message()),
            "vsock uds " + path + ": exists and is not a socket");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace skiff::io
