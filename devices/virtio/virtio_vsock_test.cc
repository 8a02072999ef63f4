#include "devices/virtio/virtio_vsock.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "devices/testing/fakes.h"
#include "devices/virtio/iovec_util.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/testing/vsock_guest.h"
#include "devices/virtio/virtio_mmio.h"

namespace skiff::devices {
namespace {

using testing::FakeIrqLine;
using testing::VirtioMmioDriver;

constexpr uint64_t kGuestCid = 3;
constexpr uint32_t kRxBuf = 4096;

// Host ends in memory. Everything runs on the test thread.
class FakeBackend : public VsockBackend {
 public:
  struct End {
    std::string to_guest;  // what the host end will give Recv
    bool eof = false;
    int error = 0;           // Recv/Send fail with -error
    std::string from_guest;  // what Send took
    size_t send_room = SIZE_MAX;
    bool write_shut = false;
  };

  void Attach(VsockDevice* device) override { device_ = device; }
  bool Connect(VsockConnKey key) override {
    if (!listening.contains(key.host_port)) return false;
    ends[key] = End{};
    return true;
  }
  bool Connected(VsockConnKey key) override {
    connected.push_back(key);
    ends[key] = End{};
    return true;
  }
  int64_t Send(VsockConnKey key, absl::Span<const uint8_t> data) override {
    End& e = ends[key];
    if (e.error) return -e.error;
    const size_t n = std::min(data.size(), e.send_room);
    if (n == 0) return -EAGAIN;
    e.send_room -= e.send_room == SIZE_MAX ? 0 : n;
    e.from_guest.append(reinterpret_cast<const char*>(data.data()), n);
    return static_cast<int64_t>(n);
  }
  int64_t Recv(VsockConnKey key, absl::Span<const iovec> iov) override {
    End& e = ends[key];
    if (e.error) return -e.error;
    if (e.to_guest.empty()) return e.eof ? 0 : -EAGAIN;
    const size_t n = CopyToIovecs(
        iov, 0,
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(e.to_guest.data()),
                            e.to_guest.size()));
    e.to_guest.erase(0, n);
    return static_cast<int64_t>(n);
  }
  void ShutdownWrite(VsockConnKey key) override { ends[key].write_shut = true; }
  void Close(VsockConnKey key) override {
    closed.push_back(key);
    ends.erase(key);
  }
  void Reset() override {
    ++resets;
    ends.clear();
  }

  VsockDevice* device() { return device_; }

  std::set<uint32_t> listening;
  struct KeyLess {
    bool operator()(const VsockConnKey& a, const VsockConnKey& b) const {
      return std::pair(a.host_port, a.guest_port) <
             std::pair(b.host_port, b.guest_port);
    }
  };
  std::map<VsockConnKey, End, KeyLess> ends;
  std::vector<VsockConnKey> connected;
  std::vector<VsockConnKey> closed;
  int resets = 0;

 private:
  VsockDevice* device_ = nullptr;
};

using Packet = testing::VsockPacket;

VsockHdr Hdr(uint16_t op, uint32_t guest_port, uint32_t host_port,
             uint32_t len = 0, uint32_t buf_alloc = 65536,
             uint32_t fwd_cnt = 0) {
  return testing::GuestStreamHdr(kGuestCid, op, guest_port, host_port, len,
                                 buf_alloc, fwd_cnt);
}

struct Guest {
  explicit Guest(int rx_buffers = 8) {
    auto m = GuestMemory::Create({{GuestAddr(0), 4 << 20}}, {});
    EXPECT_TRUE(m.ok());
    mem = std::move(*m);
    auto b = std::make_unique<FakeBackend>();
    backend = b.get();
    auto dev = std::make_unique<VirtioVsock>(kGuestCid, std::move(b));
    vsock = dev.get();
    mmio = std::make_unique<VirtioMmio>(*mem, std::move(dev), &irq);
    driver = std::make_unique<VirtioMmioDriver>(*mem, *mmio, GuestAddr(0x1000));
    auto q = testing::StartVsockDriver(*driver);
    EXPECT_TRUE(q.ok()) << q.status();
    rx = q->rx;
    tx = q->tx;
    PostRx(rx_buffers);
  }

  // Posts up to `n` rx buffers (as many as free descriptors allow).
  void PostRx(int n) {
    ASSERT_TRUE(testing::PostVsockRx(*driver, *rx, n, kRxBuf, rx_bufs));
  }

  void Send(const VsockHdr& hdr, const std::string& payload = "") {
    absl::StatusOr<GuestAddr> written =
        testing::WriteVsockPacket(*mem, *driver, hdr, payload);
    ASSERT_TRUE(written.ok()) << written.status();
    const GuestAddr a = *written;
    std::vector<testing::Buffer> bufs = {{a, sizeof(hdr), false}};
    if (!payload.empty()) {
      bufs.push_back(
          {a + sizeof(hdr), static_cast<uint32_t>(payload.size()), false});
    }
    ASSERT_GE(tx->Add(bufs), 0);
    driver->Notify(1);
    auto used = tx->PopUsed();
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->len, 0u);
  }

  // The next packet the device put in an rx buffer.
  std::optional<Packet> Receive() {
    auto used = rx->PopUsed();
    if (!used.has_value()) return std::nullopt;
    GuestAddr a = rx_bufs.at(static_cast<uint16_t>(used->id));
    EXPECT_GE(used->len, sizeof(VsockHdr));
    absl::StatusOr<Packet> p = testing::ReadVsockPacket(*mem, a, kRxBuf);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return std::nullopt;
    EXPECT_EQ(used->len, sizeof(VsockHdr) + p->hdr.len);
    return *std::move(p);
  }

  // Guest port 5000 connects to host port 1234.
  void Connect(uint32_t buf_alloc = 65536) {
    backend->listening.insert(1234);
    Send(Hdr(kVsockOpRequest, 5000, 1234, 0, buf_alloc));
    auto p = Receive();
    ASSERT_TRUE(p.has_value());
    ASSERT_EQ(p->hdr.op, kVsockOpResponse);
  }

  std::unique_ptr<GuestMemory> mem;
  FakeIrqLine irq;
  FakeBackend* backend = nullptr;
  VirtioVsock* vsock = nullptr;
  std::unique_ptr<VirtioMmio> mmio;
  std::unique_ptr<VirtioMmioDriver> driver;
  testing::DriverQueue* rx = nullptr;
  testing::DriverQueue* tx = nullptr;
  std::map<uint16_t, GuestAddr> rx_bufs;
};

const VsockConnKey kKey{1234, 5000};

TEST(VirtioVsock, ConfigHoldsGuestCid) {
  Guest g;
  EXPECT_EQ(g.driver->Read32(kMmioDeviceId), kVirtioIdVsock);
  EXPECT_EQ(g.driver->Config<uint64_t>(0), kGuestCid);
  EXPECT_EQ(g.driver->Config<uint32_t>(4), 0u);
  EXPECT_EQ(g.driver->Config<uint32_t>(8), 0u);
}

TEST(VirtioVsock, GuestConnectIsAccepted) {
  Guest g;
  g.backend->listening.insert(1234);
  g.Send(Hdr(kVsockOpRequest, 5000, 1234));
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpResponse);
  EXPECT_EQ(p->hdr.src_cid, kVsockHostCid);
  EXPECT_EQ(p->hdr.dst_cid, kGuestCid);
  EXPECT_EQ(p->hdr.src_port, 1234u);
  EXPECT_EQ(p->hdr.dst_port, 5000u);
  EXPECT_EQ(p->hdr.type, kVsockTypeStream);
  EXPECT_EQ(p->hdr.buf_alloc, VirtioVsock::kBufAlloc);
  EXPECT_EQ(g.vsock->connections(), 1u);
  EXPECT_GE(g.irq.rising_edges(), 1);
}

TEST(VirtioVsock, GuestConnectIsRefused) {
  Guest g;
  g.Send(Hdr(kVsockOpRequest, 5000, 999));
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpRst);
  EXPECT_EQ(p->hdr.dst_port, 5000u);
  EXPECT_EQ(g.vsock->connections(), 0u);
}

TEST(VirtioVsock, DataFlowsBothWays) {
  Guest g;
  g.Connect();
  g.Send(Hdr(kVsockOpRw, 5000, 1234, 5), "hello");
  EXPECT_EQ(g.backend->ends[kKey].from_guest, "hello");

  g.backend->ends[kKey].to_guest = "world";
  g.backend->device()->HostReadable(kKey);
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpRw);
  EXPECT_EQ(p->data, "world");
  EXPECT_EQ(p->hdr.fwd_cnt, 5u);  // our credit: 5 bytes forwarded
  EXPECT_FALSE(g.Receive().has_value());
}

TEST(VirtioVsock, BannerSentRightAfterConnect) {
  Guest g;
  g.backend->listening.insert(1234);
  // The device tries the host end once after connecting; the fake has
  // nothing, so only the RESPONSE arrives.
  g.Send(Hdr(kVsockOpRequest, 5000, 1234));
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpResponse);
  EXPECT_FALSE(g.Receive().has_value());
}

TEST(VirtioVsock, NeverSendsMoreThanTheGuestCredit) {
  Guest g;
  g.Connect(/*buf_alloc=*/10);
  g.backend->ends[kKey].to_guest = "0123456789abcdef";
  g.backend->device()->HostReadable(kKey);
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->data, "0123456789");
  EXPECT_FALSE(g.Receive().has_value());  // no credit left

  // The guest consumed 4 bytes: 4 more may come.
  g.Send(Hdr(kVsockOpCreditUpdate, 5000, 1234, 0, 10, 4));
  p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->data, "abcd");
  EXPECT_FALSE(g.Receive().has_value());

  // A bigger buffer lets the rest through.
  g.Send(Hdr(kVsockOpCreditUpdate, 5000, 1234, 0, 4096, 14));
  p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->data, "ef");
}

TEST(VirtioVsock, DataWaitsForRxBuffers) {
  Guest g(/*rx_buffers=*/1);
  g.Connect();
  g.backend->ends[kKey].to_guest = "late";
  g.backend->device()->HostReadable(kKey);
  EXPECT_FALSE(g.Receive().has_value());
  g.PostRx(1);
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->data, "late");
}

TEST(VirtioVsock, PausedDeviceDeliversHostDataOnlyAfterResume) {
  Guest g;
  g.Connect();
  g.mmio->Pause();
  g.backend->ends[kKey].to_guest = "held";
  g.backend->device()->HostReadable(kKey);
  EXPECT_FALSE(g.Receive().has_value());
  g.mmio->Resume();
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->data, "held");
}

TEST(VirtioVsock, LargeHostDataIsSplitIntoBuffers) {
  Guest g(/*rx_buffers=*/8);
  g.Connect();
  std::string big(3 * kRxBuf + 100, 'x');
  g.backend->ends[kKey].to_guest = big;
  g.backend->device()->HostReadable(kKey);
  std::string got;
  while (auto p = g.Receive()) got += p->data;
  EXPECT_EQ(got, big);
}

TEST(VirtioVsock, HostConnectAccepted) {
  Guest g;
  const VsockConnKey key{1u << 30, 80};
  ASSERT_TRUE(g.backend->device()->ConnectToGuest(key));
  EXPECT_FALSE(g.backend->device()->ConnectToGuest(key));  // in use
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpRequest);
  EXPECT_EQ(p->hdr.src_port, 1u << 30);
  EXPECT_EQ(p->hdr.dst_port, 80u);
  EXPECT_EQ(p->hdr.buf_alloc, VirtioVsock::kBufAlloc);
  g.Send(Hdr(kVsockOpResponse, 80, 1u << 30));
  ASSERT_EQ(g.backend->connected.size(), 1u);
  EXPECT_EQ(g.backend->connected[0], key);
  g.Send(Hdr(kVsockOpRw, 80, 1u << 30, 2), "hi");
  EXPECT_EQ(g.backend->ends[key].from_guest, "hi");
}

TEST(VirtioVsock, HostConnectRefused) {
  Guest g;
  const VsockConnKey key{1u << 30, 81};
  ASSERT_TRUE(g.backend->device()->ConnectToGuest(key));
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRequest);
  g.Send(Hdr(kVsockOpRst, 81, 1u << 30));
  ASSERT_EQ(g.backend->closed.size(), 1u);
  EXPECT_EQ(g.backend->closed[0], key);
  EXPECT_FALSE(g.Receive().has_value());  // no RST in reply to an RST
}

TEST(VirtioVsock, HostConnectNeedsARunningDriver) {
  Guest g;
  g.driver->Write32(kMmioStatus, 0);
  EXPECT_FALSE(g.backend->device()->ConnectToGuest({1u << 30, 80}));
}

TEST(VirtioVsock, HostConnectsAreBoundedWhileTheGuestIsNotReading) {
  Guest g(/*rx_buffers=*/0);
  size_t accepted = 0;
  for (uint32_t i = 0; i < 2 * VirtioVsock::kMaxPendingReplies; ++i) {
    if (!g.backend->device()->ConnectToGuest({(1u << 30) + i, 80})) break;
    ++accepted;
  }
  EXPECT_EQ(accepted, VirtioVsock::kMaxPendingReplies);
  g.PostRx(32);
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRequest);
}

TEST(VirtioVsock, ShutdownBothWays) {
  Guest g;
  g.Connect();
  g.Send(Hdr(kVsockOpRw, 5000, 1234, 3), "abc");
  g.Send(Hdr(kVsockOpShutdown, 5000, 1234, 0));  // no flags: nothing
  EXPECT_FALSE(g.backend->ends[kKey].write_shut);
  VsockHdr shut = Hdr(kVsockOpShutdown, 5000, 1234);
  shut.flags = kVsockShutdownSend;
  g.Send(shut);
  EXPECT_TRUE(g.backend->ends[kKey].write_shut);
  EXPECT_EQ(g.backend->ends[kKey].from_guest, "abc");

  // The host end's EOF becomes SHUTDOWN(SEND) for the guest.
  g.backend->ends[kKey].to_guest = "bye";
  g.backend->ends[kKey].eof = true;
  g.backend->device()->HostReadable(kKey);
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->data, "bye");
  p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpShutdown);
  EXPECT_EQ(p->hdr.flags, kVsockShutdownSend);

  // The guest closes: RST, and the host end is closed.
  shut.flags = kVsockShutdownSend | kVsockShutdownRcv;
  g.Send(shut);
  p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpRst);
  ASSERT_EQ(g.backend->closed.size(), 1u);
  EXPECT_EQ(g.vsock->connections(), 0u);
}

TEST(VirtioVsock, CloseWaitsForPendingData) {
  Guest g;
  g.Connect();
  g.backend->ends[kKey].send_room = 2;
  g.Send(Hdr(kVsockOpRw, 5000, 1234, 5), "hello");
  EXPECT_EQ(g.backend->ends[kKey].from_guest, "he");
  VsockHdr shut = Hdr(kVsockOpShutdown, 5000, 1234);
  shut.flags = kVsockShutdownSend | kVsockShutdownRcv;
  g.Send(shut);
  EXPECT_FALSE(g.Receive().has_value());
  EXPECT_TRUE(g.backend->closed.empty());
  g.backend->ends[kKey].send_room = SIZE_MAX;
  g.backend->device()->HostWritable(kKey);
  EXPECT_EQ(g.backend->closed.size(), 1u);
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRst);
}

TEST(VirtioVsock, CreditRequestAndUpdates) {
  Guest g;
  g.Connect();
  g.Send(Hdr(kVsockOpRw, 5000, 1234, 3), "abc");
  g.Send(Hdr(kVsockOpCreditRequest, 5000, 1234));
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpCreditUpdate);
  EXPECT_EQ(p->hdr.buf_alloc, VirtioVsock::kBufAlloc);
  EXPECT_EQ(p->hdr.fwd_cnt, 3u);

  // More than half of our buffer sent and forwarded: an unprompted update.
  const std::string chunk(VirtioVsock::kMaxPayload, 'z');
  for (int i = 0; i < 3; ++i) {
    g.Send(Hdr(kVsockOpRw, 5000, 1234, chunk.size()), chunk);
  }
  p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpCreditUpdate);
  EXPECT_EQ(p->hdr.fwd_cnt, 3u + 3 * chunk.size());
}

TEST(VirtioVsock, OverrunningTheCreditResets) {
  Guest g;
  g.Connect();
  g.backend->ends[kKey].send_room = 0;  // the host end takes nothing
  const std::string chunk(VirtioVsock::kMaxPayload, 'z');
  for (uint32_t sent = 0; sent < VirtioVsock::kBufAlloc; sent += chunk.size()) {
    g.Send(Hdr(kVsockOpRw, 5000, 1234, chunk.size()), chunk);
  }
  EXPECT_FALSE(g.Receive().has_value());
  g.Send(Hdr(kVsockOpRw, 5000, 1234, 1), "!");
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpRst);
  EXPECT_EQ(g.vsock->connections(), 0u);
}

TEST(VirtioVsock, HostErrorsReset) {
  Guest g;
  g.Connect();
  g.backend->ends[kKey].error = EPIPE;
  g.Send(Hdr(kVsockOpRw, 5000, 1234, 1), "x");
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRst);
  EXPECT_EQ(g.vsock->connections(), 0u);

  g.Connect();
  g.backend->device()->HostReset(kKey);
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRst);
  EXPECT_EQ(g.vsock->connections(), 0u);
  g.backend->device()->HostReadable(kKey);  // unknown: ignored
  EXPECT_FALSE(g.Receive().has_value());
}

TEST(VirtioVsock, GuestRstClosesHostEnd) {
  Guest g;
  g.Connect();
  g.Send(Hdr(kVsockOpRst, 5000, 1234));
  ASSERT_EQ(g.backend->closed.size(), 1u);
  EXPECT_EQ(g.vsock->connections(), 0u);
  EXPECT_FALSE(g.Receive().has_value());
}

TEST(VirtioVsock, BadPacketsGetRstOrAreDropped) {
  Guest g;
  g.Connect();
  VsockHdr h = Hdr(kVsockOpRw, 5000, 1234, 1);
  h.src_cid = 7;  // not the guest: dropped
  g.Send(h, "x");
  EXPECT_FALSE(g.Receive().has_value());

  h = Hdr(kVsockOpRequest, 5001, 1234);
  h.dst_cid = 9;  // another VM: RST from it
  g.Send(h);
  auto p = g.Receive();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->hdr.op, kVsockOpRst);
  EXPECT_EQ(p->hdr.src_cid, 9u);

  h = Hdr(kVsockOpRequest, 5002, 1234);
  h.type = 2;  // SEQPACKET was not offered
  g.Send(h);
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRst);

  g.Send(Hdr(kVsockOpRw, 5003, 1234, 1), "x");  // no such connection
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRst);
  g.Send(Hdr(kVsockOpCreditRequest, 5003, 1234));
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRst);
  g.Send(Hdr(kVsockOpRst, 5003, 1234));  // never answered
  EXPECT_FALSE(g.Receive().has_value());

  g.PostRx(16);
  g.Send(Hdr(kVsockOpResponse, 5000, 1234));  // not connecting: reset
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRst);
  EXPECT_EQ(g.vsock->connections(), 0u);

  g.Connect();
  g.Send(Hdr(99, 5000, 1234));  // unknown op: reset
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRst);
  EXPECT_EQ(g.vsock->connections(), 0u);

  g.Connect();
  g.Send(Hdr(kVsockOpRw, 5000, 1234, 100), "short");  // len past buffer
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRst);
  EXPECT_EQ(g.vsock->connections(), 0u);

  // A chain too short for a header is consumed and ignored.
  GuestAddr a = g.driver->Alloc(16);
  ASSERT_GE(g.tx->Add({{a, 10, false}}), 0);
  g.driver->Notify(1);
  EXPECT_TRUE(g.tx->PopUsed().has_value());
  EXPECT_FALSE(g.Receive().has_value());
  EXPECT_FALSE(g.driver->status() & kStatusNeedsReset);
}

TEST(VirtioVsock, TinyRxBufferIsReturnedEmpty) {
  Guest g(/*rx_buffers=*/0);
  GuestAddr a = g.driver->Alloc(16);
  int head = g.rx->Add({{a, 16, true}});
  g.driver->Notify(0);
  g.Send(Hdr(kVsockOpRequest, 5000, 999));
  auto used = g.rx->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->id, static_cast<uint32_t>(head));
  EXPECT_EQ(used->len, 0u);
  g.PostRx(1);
  EXPECT_EQ(g.Receive()->hdr.op, kVsockOpRst);
}

TEST(VirtioVsock, RepliesBackPressureTheTxQueue) {
  Guest g(/*rx_buffers=*/0);
  // Refused requests with no rx buffers: once kMaxPendingReplies RSTs wait,
  // the device stops taking tx packets instead of dropping replies.
  int sent = 0, taken = 0;
  for (int round = 0; round < 10; ++round) {
    while (g.tx->free_descriptors() > 0) {
      GuestAddr a = g.driver->Alloc(sizeof(VsockHdr));
      ASSERT_TRUE(
          g.mem->WriteObj(a, Hdr(kVsockOpRequest, 6000 + sent, 1)).ok());
      ASSERT_GE(g.tx->Add({{a, sizeof(VsockHdr), false}}), 0);
      ++sent;
    }
    g.driver->Notify(1);
    while (g.tx->PopUsed().has_value()) ++taken;
  }
  EXPECT_EQ(taken, static_cast<int>(VirtioVsock::kMaxPendingReplies));
  EXPECT_GT(sent, taken);
  // Rx buffers drain the replies and let tx resume: every request answered.
  int rsts = 0;
  for (int round = 0; round < 50 && rsts < sent; ++round) {
    g.PostRx(32);
    while (auto p = g.Receive()) rsts += p->hdr.op == kVsockOpRst;
  }
  EXPECT_EQ(rsts, sent);
}

TEST(VirtioVsock, ResetClosesEverything) {
  Guest g;
  g.Connect();
  EXPECT_EQ(g.vsock->connections(), 1u);
  const int resets = g.backend->resets;  // negotiation resets too
  g.driver->Write32(kMmioStatus, 0);
  EXPECT_EQ(g.vsock->connections(), 0u);
  EXPECT_EQ(g.backend->resets, resets + 1);
  g.backend->device()->HostReadable(kKey);  // after reset: ignored
}

TEST(VirtioVsock, MalformedRingNeedsReset) {
  Guest g;
  g.tx->WriteDesc(0, {0xfff0'0000, 44, 0, 0});
  g.tx->PushAvail(0);
  g.driver->Notify(1);
  EXPECT_TRUE(g.driver->status() & kStatusNeedsReset);
}

}  // namespace
}  // namespace skiff::devices
