#include "devices/virtio/virtio_net.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "devices/testing/fakes.h"
#include "devices/virtio/testing/fake_net_backend.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_mmio.h"

namespace skiff::devices {
namespace {

using testing::Buffer;
using testing::DriverQueue;
using testing::FakeIrqLine;
using testing::FakeNetBackend;
using testing::VirtioMmioDriver;

constexpr uint64_t Bit(int n) { return uint64_t{1} << n; }
constexpr std::array<uint8_t, 6> kMac = {0x02, 0x53, 0x4b, 0x00, 0x00, 0x07};

// A header (all zero unless given) followed by an Ethernet frame of
// `payload` bytes whose content depends on `seed`.
std::vector<uint8_t> Frame(size_t payload, uint8_t seed = 1,
                           VirtioNetHdr hdr = {}) {
  std::vector<uint8_t> f(kVirtioNetHdrSize + 14 + payload);
  std::memcpy(f.data(), &hdr, sizeof(hdr));
  for (size_t i = kVirtioNetHdrSize; i < f.size(); ++i) {
    f[i] = static_cast<uint8_t>(i * 13 + seed);
  }
  return f;
}

struct Options {
  uint64_t drop_features = 0;
  uint16_t queue_size = 16;
  std::array<uint8_t, 6> mac = kMac;
  bool setup_tx = true;
};

// A guest with a virtio-net interface on a fake backend.
struct Guest {
  explicit Guest(Options o = {}) {
    auto m = GuestMemory::Create({{GuestAddr(0), 4 << 20}}, {});
    EXPECT_TRUE(m.ok());
    mem = std::move(*m);
    auto b = std::make_unique<FakeNetBackend>();
    backend = b.get();
    auto net = std::make_unique<VirtioNet>(
        std::move(b), VirtioNet::Options{.mac = o.mac, .queue_size = 64});
    device = net.get();
    mmio = std::make_unique<VirtioMmio>(*mem, std::move(net), &irq);
    driver = std::make_unique<VirtioMmioDriver>(*mem, *mmio, GuestAddr(0x1000));
    features = driver->DeviceFeatures() & ~o.drop_features;
    EXPECT_TRUE(driver->Negotiate(features).ok());
    auto r = driver->SetupQueue(VirtioNet::kRxQueue, o.queue_size);
    EXPECT_TRUE(r.ok());
    rx = *r;
    if (o.setup_tx) {
      auto t = driver->SetupQueue(VirtioNet::kTxQueue, o.queue_size);
      EXPECT_TRUE(t.ok());
      tx = *t;
    }
    driver->DriverOk();
  }

  // Posts one device-writable receive chain of `len` bytes.
  GuestAddr PostRx(uint32_t len) {
    GuestAddr a = driver->Alloc(len);
    EXPECT_GE(rx->Add({{a, len, true}}), 0);
    return a;
  }
  // Posts `frame` for transmission, split into descriptors of at most
  // `piece` bytes, and notifies.
  void Transmit(const std::vector<uint8_t>& frame, size_t piece = 1 << 20) {
    std::vector<Buffer> bufs;
    for (size_t off = 0; off < frame.size(); off += piece) {
      const size_t n = std::min(piece, frame.size() - off);
      GuestAddr a = driver->Alloc(n);
      EXPECT_TRUE(
          mem->Write(a, absl::MakeConstSpan(frame.data() + off, n)).ok());
      bufs.push_back({a, static_cast<uint32_t>(n), false});
    }
    EXPECT_GE(tx->Add(bufs), 0);
    driver->Notify(VirtioNet::kTxQueue);
  }
  std::vector<uint8_t> ReadGuest(GuestAddr a, size_t len) {
    std::vector<uint8_t> out(len);
    EXPECT_TRUE(mem->Read(a, absl::MakeSpan(out)).ok());
    return out;
  }
  bool NeedsReset() { return driver->status() & kStatusNeedsReset; }

  std::unique_ptr<GuestMemory> mem;
  FakeIrqLine irq;
  FakeNetBackend* backend;
  VirtioNet* device;
  std::unique_ptr<VirtioMmio> mmio;
  std::unique_ptr<VirtioMmioDriver> driver;
  uint64_t features = 0;
  DriverQueue* rx = nullptr;
  DriverQueue* tx = nullptr;
};

TEST(VirtioNet, ConfigSpaceHasTheMacAndLinkUp) {
  Guest g;
  EXPECT_EQ(g.driver->Read32(kMmioDeviceId), kVirtioIdNet);
  uint8_t mac[6];
  g.driver->ReadConfig(0, absl::MakeSpan(mac));
  EXPECT_EQ(0, std::memcmp(mac, kMac.data(), 6));
  EXPECT_EQ(g.driver->Config<uint16_t>(6), kVirtioNetSLinkUp);
  EXPECT_EQ(g.driver->Config<uint8_t>(3), kMac[3]);  // any width, any offset
  EXPECT_EQ(g.driver->Config<uint32_t>(64), 0u);     // past the end
  const uint64_t f = g.driver->DeviceFeatures();
  for (int bit :
       {kVirtioNetFMac, kVirtioNetFStatus, kVirtioNetFMrgRxbuf, kVirtioNetFCsum,
        kVirtioNetFGuestCsum, kVirtioNetFHostTso4, kVirtioNetFGuestTso6,
        kVirtioRingFEventIdx, kVirtioRingFIndirectDesc}) {
    EXPECT_TRUE(f & Bit(bit)) << bit;
  }
}

TEST(VirtioNet, WithoutAMacTheDriverPicksOne) {
  Guest g({.mac = {}});
  EXPECT_FALSE(g.driver->DeviceFeatures() & Bit(kVirtioNetFMac));
}

TEST(VirtioNet, TransmittedFrameReachesTheBackendWithItsHeader) {
  Guest g;
  std::vector<uint8_t> frame = Frame(100);
  g.Transmit(frame, /*piece=*/12);  // header and frame in separate pieces
  ASSERT_EQ(g.backend->sent().size(), 1u);
  EXPECT_EQ(g.backend->sent()[0], frame);
  auto used = g.tx->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, 0u);
  EXPECT_EQ(g.irq.rising_edges(), 1);
  VirtioNet::Stats s = g.device->stats();
  EXPECT_EQ(s.tx_packets, 1u);
  EXPECT_EQ(s.tx_bytes, 114u);
  EXPECT_EQ(s.tx_dropped, 0u);
}

TEST(VirtioNet, ChecksumAndTsoHeadersPassThroughWhenNegotiated) {
  Guest g;
  VirtioNetHdr hdr{.flags = kVirtioNetHdrFNeedsCsum,
                   .gso_type = kVirtioNetHdrGsoTcpv4 | kVirtioNetHdrGsoEcn,
                   .hdr_len = 54,
                   .gso_size = 1448,
                   .csum_start = 34,
                   .csum_offset = 16,
                   .num_buffers = 0};
  std::vector<uint8_t> frame = Frame(3000, 5, hdr);
  g.Transmit(frame, 1000);
  ASSERT_EQ(g.backend->sent().size(), 1u);
  EXPECT_EQ(g.backend->sent()[0], frame);
}

TEST(VirtioNet, TransmitThroughAnIndirectTable) {
  Guest g;
  std::vector<uint8_t> frame = Frame(64);
  GuestAddr a = g.driver->Alloc(frame.size());
  ASSERT_TRUE(g.mem->Write(a, absl::MakeConstSpan(frame)).ok());
  GuestAddr table = g.driver->Alloc(32);
  ASSERT_GE(g.tx->AddIndirect(
                {{a, 12, false},
                 {a + 12, static_cast<uint32_t>(frame.size() - 12), false}},
                table),
            0);
  g.driver->Notify(VirtioNet::kTxQueue);
  ASSERT_EQ(g.backend->sent().size(), 1u);
  EXPECT_EQ(g.backend->sent()[0], frame);
}

TEST(VirtioNet, TransmitDropsOffloadsThatWereNotNegotiated) {
  Guest g({.drop_features = Bit(kVirtioNetFCsum) | Bit(kVirtioNetFHostTso4) |
                            Bit(kVirtioNetFHostTso6) |
                            Bit(kVirtioNetFHostEcn)});
  g.Transmit(Frame(60, 1, {.flags = kVirtioNetHdrFNeedsCsum}));
  g.Transmit(Frame(60, 1, {.gso_type = kVirtioNetHdrGsoTcpv4}));
  g.Transmit(Frame(60, 1, {.flags = kVirtioNetHdrFDataValid}));
  g.Transmit(Frame(60, 1, {.gso_type = 3}));  // UDP (UFO): never offered
  EXPECT_TRUE(g.backend->sent().empty());
  EXPECT_EQ(g.device->stats().tx_dropped, 4u);
  // Every chain is still returned to the driver.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(g.tx->PopUsed().has_value());
  g.Transmit(Frame(60));
  EXPECT_EQ(g.backend->sent().size(), 1u);
  EXPECT_FALSE(g.NeedsReset());
}

TEST(VirtioNet, TransmitDropsShortAndWriteOnlyChains) {
  Guest g;
  g.Transmit(std::vector<uint8_t>(8, 0));   // not even a header
  g.Transmit(std::vector<uint8_t>(20, 0));  // header, no Ethernet header
  GuestAddr w = g.driver->Alloc(100);
  ASSERT_GE(g.tx->Add({{w, 100, true}}), 0);  // only device-writable
  g.driver->Notify(VirtioNet::kTxQueue);
  EXPECT_TRUE(g.backend->sent().empty());
  EXPECT_EQ(g.device->stats().tx_dropped, 3u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(g.tx->PopUsed().has_value());
  EXPECT_FALSE(g.NeedsReset());
}

TEST(VirtioNet, BackendSendErrorsAreCounted) {
  Guest g;
  g.backend->SetSendResult(-EINVAL);
  g.Transmit(Frame(60));
  g.backend->SetSendResult(-EAGAIN);
  g.Transmit(Frame(60));
  VirtioNet::Stats s = g.device->stats();
  EXPECT_EQ(s.tx_errors, 1u);
  EXPECT_EQ(s.tx_dropped, 1u);
  EXPECT_EQ(s.tx_packets, 0u);
  EXPECT_TRUE(g.tx->PopUsed().has_value());
  EXPECT_TRUE(g.tx->PopUsed().has_value());
}

TEST(VirtioNet, ReceivedFrameLandsInAGuestBuffer) {
  Guest g({.drop_features = Bit(kVirtioNetFMrgRxbuf)});
  GuestAddr buf = g.PostRx(1526);
  g.driver->Notify(VirtioNet::kRxQueue);
  std::vector<uint8_t> frame = Frame(100, 9);
  g.backend->Inject(frame);
  g.backend->FireFramesWaiting();
  auto used = g.rx->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, frame.size());
  std::vector<uint8_t> got = g.ReadGuest(buf, frame.size());
  // num_buffers is 1 without MRG_RXBUF; the rest is the frame as read.
  frame[10] = 1;
  EXPECT_EQ(got, frame);
  EXPECT_EQ(g.irq.rising_edges(), 1);
  EXPECT_EQ(g.device->stats().rx_packets, 1u);
  EXPECT_EQ(g.device->stats().rx_bytes, 114u);
}

TEST(VirtioNet, PausedDeviceLeavesFramesOnTheHostUntilResume) {
  Guest g({.drop_features = Bit(kVirtioNetFMrgRxbuf)});
  GuestAddr buf = g.PostRx(1526);
  g.driver->Notify(VirtioNet::kRxQueue);
  g.mmio->Pause();
  std::vector<uint8_t> frame = Frame(100, 3);
  g.backend->Inject(frame);
  g.backend->FireFramesWaiting();
  EXPECT_FALSE(g.rx->PopUsed().has_value());
  EXPECT_EQ(g.ReadGuest(buf, 1), std::vector<uint8_t>{0});
  EXPECT_EQ(g.irq.rising_edges(), 0);
  // The host fd will not signal again: Resume reads it by itself.
  g.mmio->Resume();
  auto used = g.rx->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, frame.size());
  EXPECT_EQ(g.device->stats().rx_packets, 1u);
}

TEST(VirtioNet, MergeableBuffersSplitALargeFrame) {
  Guest g;
  GuestAddr bufs[4];
  for (GuestAddr& b : bufs) b = g.PostRx(512);
  std::vector<uint8_t> frame = Frame(1200, 3);  // 1226 bytes with the header
  g.backend->Inject(frame);
  g.backend->FireFramesWaiting();
  std::vector<uint8_t> got;
  const uint32_t lens[3] = {512, 512, 1226 - 1024};
  for (int i = 0; i < 3; ++i) {
    auto used = g.rx->PopUsed();
    ASSERT_TRUE(used.has_value());
    EXPECT_EQ(used->len, lens[i]);
    std::vector<uint8_t> part = g.ReadGuest(bufs[i], used->len);
    got.insert(got.end(), part.begin(), part.end());
  }
  EXPECT_FALSE(g.rx->PopUsed().has_value());
  VirtioNetHdr hdr;
  std::memcpy(&hdr, got.data(), sizeof(hdr));
  EXPECT_EQ(hdr.num_buffers, 3);
  frame[10] = 3;
  EXPECT_EQ(got, frame);

  // The fourth buffer takes the next frame.
  g.backend->Inject(Frame(50, 4));
  g.backend->FireFramesWaiting();
  auto used = g.rx->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, 76u);
  EXPECT_EQ(g.ReadGuest(bufs[3], 12)[10], 1);
}

TEST(VirtioNet, WithoutBuffersAFrameWaitsUntilTheDriverPostsSome) {
  Guest g;
  g.backend->Inject(Frame(100, 1));
  g.backend->Inject(Frame(100, 2));
  g.backend->FireFramesWaiting();
  EXPECT_TRUE(g.device->rx_frame_pending());
  // It stopped reading the backend: the second frame is still there.
  EXPECT_EQ(g.backend->frames_waiting(), 1u);
  EXPECT_FALSE(g.rx->PopUsed().has_value());

  GuestAddr a = g.PostRx(2048);
  GuestAddr b = g.PostRx(2048);
  g.driver->Notify(VirtioNet::kRxQueue);
  EXPECT_FALSE(g.device->rx_frame_pending());
  EXPECT_EQ(g.backend->frames_waiting(), 0u);
  ASSERT_TRUE(g.rx->PopUsed().has_value());
  ASSERT_TRUE(g.rx->PopUsed().has_value());
  EXPECT_EQ(g.ReadGuest(a, 126)[125], Frame(100, 1)[125]);
  EXPECT_EQ(g.ReadGuest(b, 126)[125], Frame(100, 2)[125]);
  EXPECT_EQ(g.device->stats().rx_packets, 2u);
}

TEST(VirtioNet, UnderEventIdxTheDeviceAsksForTheNextBuffer) {
  Guest g;
  ASSERT_TRUE(g.features & Bit(kVirtioRingFEventIdx));
  g.PostRx(2048);
  g.backend->Inject(Frame(100));
  g.backend->Inject(Frame(100));
  g.backend->FireFramesWaiting();
  // One buffer used, the second frame waits, and avail_event names the
  // next avail slot (1) so the driver's next post notifies (§2.7.10).
  EXPECT_TRUE(g.rx->PopUsed().has_value());
  EXPECT_TRUE(g.device->rx_frame_pending());
  EXPECT_EQ(g.rx->avail_event(), 1);
}

TEST(VirtioNet, FrameTooBigForTheBufferIsDroppedWithoutMergeableBuffers) {
  Guest g({.drop_features = Bit(kVirtioNetFMrgRxbuf)});
  GuestAddr buf = g.PostRx(100);
  g.backend->Inject(Frame(200, 1));
  g.backend->Inject(Frame(40, 2));
  g.backend->FireFramesWaiting();
  auto used = g.rx->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, 66u);  // the small one, in the same buffer
  EXPECT_EQ(g.ReadGuest(buf, 66)[65], Frame(40, 2)[65]);
  EXPECT_EQ(g.device->stats().rx_dropped, 1u);
  EXPECT_FALSE(g.NeedsReset());
}

TEST(VirtioNet, ReceiveDropsOffloadsTheGuestDidNotAccept) {
  Guest g(
      {.drop_features = Bit(kVirtioNetFGuestCsum) | Bit(kVirtioNetFGuestTso4) |
                        Bit(kVirtioNetFGuestTso6) | Bit(kVirtioNetFGuestEcn)});
  GuestAddr buf = g.PostRx(2048);
  g.backend->Inject(Frame(60, 1, {.flags = kVirtioNetHdrFNeedsCsum}));
  g.backend->Inject(Frame(60, 1, {.gso_type = kVirtioNetHdrGsoTcpv6}));
  // DATA_VALID is only a hint: cleared, and the frame delivered.
  g.backend->Inject(Frame(60, 2, {.flags = kVirtioNetHdrFDataValid}));
  g.backend->FireFramesWaiting();
  auto used = g.rx->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(g.ReadGuest(buf, 1)[0], 0);  // flags
  EXPECT_EQ(g.ReadGuest(buf, 86)[85], Frame(60, 2)[85]);
  EXPECT_EQ(g.device->stats().rx_dropped, 2u);
}

TEST(VirtioNet, ReceiveChainWithoutRoomForTheHeaderIsReturnedEmpty) {
  Guest g;
  GuestAddr ro = g.driver->Alloc(64);
  ASSERT_GE(g.rx->Add({{ro, 64, false}}), 0);  // not device-writable
  GuestAddr tiny = g.driver->Alloc(8);
  ASSERT_GE(g.rx->Add({{tiny, 8, true}}), 0);  // header does not fit
  GuestAddr good = g.PostRx(2048);
  g.backend->Inject(Frame(60, 7));
  g.backend->FireFramesWaiting();
  auto u1 = g.rx->PopUsed();
  auto u2 = g.rx->PopUsed();
  auto u3 = g.rx->PopUsed();
  ASSERT_TRUE(u1 && u2 && u3);
  EXPECT_EQ(u1->len, 0u);
  EXPECT_EQ(u2->len, 0u);
  EXPECT_EQ(u3->len, 86u);
  EXPECT_EQ(g.ReadGuest(good, 86)[85], Frame(60, 7)[85]);
  EXPECT_EQ(g.device->stats().rx_errors, 2u);
  EXPECT_FALSE(g.NeedsReset());
}

TEST(VirtioNet, BackendErrorsAndRuntFramesAreCounted) {
  Guest g;
  g.PostRx(2048);
  g.backend->FailNextReceive(-EIO);
  g.backend->FireFramesWaiting();
  EXPECT_EQ(g.device->stats().rx_errors, 1u);
  g.backend->Inject(std::vector<uint8_t>(20, 0));  // shorter than hdr + eth
  g.backend->Inject(Frame(10));
  g.backend->FireFramesWaiting();
  EXPECT_EQ(g.device->stats().rx_dropped, 1u);
  EXPECT_EQ(g.device->stats().rx_packets, 1u);
}

TEST(VirtioNet, MalformedTransmitRingNeedsReset) {
  Guest g;
  g.tx->PushAvail(200);  // head index past the queue size
  g.driver->Notify(VirtioNet::kTxQueue);
  EXPECT_TRUE(g.NeedsReset());
  EXPECT_TRUE(g.backend->sent().empty());
}

TEST(VirtioNet, MalformedReceiveRingFoundByTheCallbackNeedsResetLater) {
  Guest g;
  g.rx->WriteDesc(0, VirtqDesc{0x7fff'0000'0000, 64, kVirtqDescFWrite, 0});
  g.rx->PushAvail(0);
  g.backend->Inject(Frame(60));
  g.backend->FireFramesWaiting();
  EXPECT_FALSE(g.NeedsReset());  // the callback cannot tell the transport
  g.driver->Notify(VirtioNet::kTxQueue);
  EXPECT_TRUE(g.NeedsReset());
  // After a reset and a fresh negotiation the device works again.
  ASSERT_TRUE(g.driver->Negotiate(g.features).ok());
  g.rx = *g.driver->SetupQueue(0, 16);
  g.tx = *g.driver->SetupQueue(1, 16);
  g.driver->DriverOk();
  g.Transmit(Frame(60));
  EXPECT_EQ(g.backend->sent().size(), 1u);
}

TEST(VirtioNet, ActivateSetsTheHostOffloadsFromTheGuestFeatures) {
  {
    Guest g;
    EXPECT_EQ(
        g.backend->offload(),
        (NetOffload{.csum = true, .tso4 = true, .tso6 = true, .ecn = true}));
    g.driver->Write32(kMmioStatus, 0);  // reset
    EXPECT_EQ(g.backend->offload(), NetOffload{});
  }
  {
    // TSO without GUEST_CSUM breaks §5.1.3.1: no offloads at all.
    Guest g({.drop_features = Bit(kVirtioNetFGuestCsum)});
    EXPECT_EQ(g.backend->offload(), NetOffload{});
  }
  {
    Guest g({.drop_features =
                 Bit(kVirtioNetFGuestTso6) | Bit(kVirtioNetFGuestEcn)});
    EXPECT_EQ(g.backend->offload(), (NetOffload{.csum = true, .tso4 = true}));
  }
}

TEST(VirtioNet, BothQueuesAreRequired) {
  Guest g({.setup_tx = false});
  EXPECT_TRUE(g.NeedsReset());
}

TEST(VirtioNet, ResetDropsAWaitingFrame) {
  Guest g;
  g.backend->Inject(Frame(60));
  g.backend->FireFramesWaiting();
  ASSERT_TRUE(g.device->rx_frame_pending());
  g.driver->Write32(kMmioStatus, 0);
  EXPECT_FALSE(g.device->rx_frame_pending());
  EXPECT_EQ(g.device->stats().rx_dropped, 1u);
  // An inactive device reads nothing.
  g.backend->Inject(Frame(60));
  const int calls = g.backend->receive_calls();
  g.backend->FireFramesWaiting();
  EXPECT_EQ(g.backend->receive_calls(), calls);
}

TEST(VirtioNet, StatsAreReadableWhileTheDeviceRuns) {
  Guest g;
  std::thread reader([&] {
    for (int i = 0; i < 1000; ++i) (void)g.device->stats();
  });
  for (int i = 0; i < 10; ++i) g.Transmit(Frame(60));
  reader.join();
  EXPECT_EQ(g.device->stats().tx_packets, 10u);
}

}  // namespace
}  // namespace skiff::devices
