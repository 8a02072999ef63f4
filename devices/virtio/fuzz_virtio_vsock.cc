// Fuzzes virtio-vsock end to end: a driver negotiates and sets up the rx,
// tx and event queues normally, then the input is a sequence of actions:
// rewriting guest RAM (descriptors, rings, packet headers and payloads) and
// notifying a queue, posting well-formed packets with fuzzed headers and
// rx buffers of fuzzed sizes, or host-side events on an in-memory backend
// (connect, readable, writable, reset, EOF, errors, short writes). The
// device must never crash, touch memory outside guest RAM, or talk to the
// backend about a connection the backend does not have.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "base/guest_memory.h"
#include "devices/testing/fakes.h"
#include "devices/virtio/iovec_util.h"
#include "devices/virtio/testing/fuzz_setup.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtio_vsock.h"

namespace {

using namespace skiff;
using namespace skiff::devices;
using skiff::devices::testing::FuzzCheck;

constexpr uint64_t kRam = 0x40000;
// Packets and rx buffers the structured actions post live here, above what
// the driver's allocator hands out for a few renegotiations.
constexpr uint64_t kTxScratch = 0x30000;
constexpr uint64_t kRxScratch = 0x34000;

// Host ends that accept even ports, hand out a pattern, and take bytes up
// to a budget the input controls.
class FuzzBackend : public VsockBackend {
 public:
  void Attach(VsockDevice* device) override { device_ = device; }
  bool Connect(VsockConnKey key) override {
    if (key.host_port % 2 != 0) return false;
    ends_[key] = End{};
    return true;
  }
  bool Connected(VsockConnKey key) override {
    ends_[key] = End{};
    return key.guest_port % 3 != 0;
  }
  int64_t Send(VsockConnKey key, absl::Span<const uint8_t> data) override {
    auto it = ends_.find(key);
    FuzzCheck(it != ends_.end());  // the device only talks about live ends
    const size_t n = std::min<size_t>(data.size(), it->second.send_room);
    if (n == 0) return -EAGAIN;
    it->second.send_room -= n;
    return static_cast<int64_t>(n);
  }
  int64_t Recv(VsockConnKey key, absl::Span<const iovec> iov) override {
    auto it = ends_.find(key);
    FuzzCheck(it != ends_.end());
    End& e = it->second;
    if (e.error) return -EPIPE;
    if (e.available == 0) return e.eof ? 0 : -EAGAIN;
    uint8_t buf[512];
    std::memset(buf, 0x5a, sizeof(buf));
    size_t total = 0;
    while (e.available > 0) {
      const size_t want = std::min<size_t>(e.available, sizeof(buf));
      const size_t n = CopyToIovecs(iov, total, absl::MakeConstSpan(buf, want));
      total += n;
      e.available -= n;
      if (n < want) break;
    }
    return static_cast<int64_t>(total);
  }
  void ShutdownWrite(VsockConnKey key) override { (void)key; }
  void Close(VsockConnKey key) override { ends_.erase(key); }
  void Reset() override { ends_.clear(); }

  // Host-side actions chosen by the input.
  void Act(uint8_t what, uint8_t arg) {
    if (device_ == nullptr) return;
    const VsockConnKey key{static_cast<uint32_t>(arg & 7),
                           static_cast<uint32_t>(arg >> 3)};
    switch (what % 6) {
      case 0:
        if (device_->ConnectToGuest(key)) ends_[key] = End{};
        break;
      case 1:
        if (auto it = ends_.find(key); it != ends_.end()) {
          it->second.available += arg * 37u;
          device_->HostReadable(key);
        }
        break;
      case 2:
        if (auto it = ends_.find(key); it != ends_.end()) {
          it->second.send_room += arg * 101u;
          device_->HostWritable(key);
        }
        break;
      case 3:
        if (ends_.erase(key) > 0) device_->HostReset(key);
        break;
      case 4:
        if (auto it = ends_.find(key); it != ends_.end()) {
          it->second.eof = true;
          device_->HostReadable(key);
        }
        break;
      case 5:
        if (auto it = ends_.find(key); it != ends_.end()) {
          it->second.error = true;
          device_->HostReadable(key);
        }
        break;
    }
  }

 private:
  struct End {
    uint64_t available = 0;
    uint64_t send_room = 1 << 20;
    bool eof = false;
    bool error = false;
  };
  VsockDevice* device_ = nullptr;
  absl::flat_hash_map<VsockConnKey, End> ends_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  GuestMemory& mem = testing::FuzzGuestRam<kRam>();
  uint8_t* ram = mem.regions()[0].host;

  const bool drop_event_idx = data[0] & 1;
  const bool drop_indirect = data[0] & 2;
  const uint16_t qsize = static_cast<uint16_t>(1u << (data[1] % 6));  // ..32
  data += 2;
  size -= 2;

  auto backend_owned = std::make_unique<FuzzBackend>();
  FuzzBackend* backend = backend_owned.get();
  testing::FakeIrqLine irq;
  VirtioMmio mmio(
      mem, std::make_unique<VirtioVsock>(3, std::move(backend_owned)), &irq);
  testing::VirtioMmioDriver driver(mem, mmio, GuestAddr(0x1000));
  const uint64_t features = testing::DropRingFeatures(
      driver.DeviceFeatures(), drop_event_idx, drop_indirect);
  testing::StartDriver(driver, features, {0, 1, 2}, qsize);

  // Chunks: [kind, a, b, len, bytes...]. kind%6: 0 write RAM at (a<<8|b)
  // then notify queue len%3; 1 host action a with argument b; 2 reset and
  // renegotiate; 3 notify queue a%4 (3 is out of range); 4 a well-formed
  // tx chain holding a packet (op a%9, ports from b, len from len, the
  // rest of the header and the payload from the input); 5 an rx buffer of
  // (a%64)*16 + b bytes, then the used rx entries are taken back.
  size_t pos = 0;
  int rx_slot = 0;
  while (pos + 4 <= size) {
    const uint8_t kind = data[pos], a = data[pos + 1], b = data[pos + 2];
    const size_t n = data[pos + 3];
    pos += 4;
    switch (kind % 6) {
      case 0: {
        const uint64_t at = (uint64_t{a} << 8 | b) * 2 % kRam;
        const size_t avail = std::min(n, size - pos);
        testing::PokeRam(mem, at, data + pos, avail);
        pos += avail;
        driver.Notify(static_cast<uint16_t>(n % 3));
        break;
      }
      case 1:
        backend->Act(a, b);
        break;
      case 2:
        if (driver.Negotiate(features).ok()) {
          for (uint16_t q = 0; q < 3; ++q) (void)driver.SetupQueue(q, qsize);
          driver.DriverOk();
        }
        break;
      case 3:
        driver.Notify(a % 4);
        break;
      case 4: {
        testing::DriverQueue* tx = driver.queue(1);
        if (tx == nullptr) break;
        VsockHdr hdr{};
        hdr.src_cid = (a & 0x80) ? a : 3;
        hdr.dst_cid = (a & 0x40) ? b : kVsockHostCid;
        hdr.src_port = b >> 3;
        hdr.dst_port = b & 7;
        hdr.len = static_cast<uint32_t>(n * ((a & 0x20) ? 257 : 1));
        hdr.type = (a & 0x10) ? a : kVsockTypeStream;
        hdr.op = static_cast<uint16_t>(a % 9);
        uint8_t extra[12] = {};  // flags, buf_alloc, fwd_cnt
        for (size_t i = 0; i < sizeof(extra) && pos < size; ++i) {
          extra[i] = data[pos++];
        }
        std::memcpy(
            reinterpret_cast<uint8_t*>(&hdr) + offsetof(VsockHdr, flags), extra,
            sizeof(extra));
        std::memcpy(ram + kTxScratch, &hdr, sizeof(hdr));
        size_t payload = 0;
        for (; payload < n && pos < size; ++payload) {
          ram[kTxScratch + sizeof(hdr) + payload] = data[pos++];
        }
        tx->Add({{GuestAddr(kTxScratch),
                  static_cast<uint32_t>(sizeof(hdr) + payload), false}});
        driver.Notify(1);
        while (tx->PopUsed().has_value()) {
        }
        break;
      }
      case 5: {
        testing::DriverQueue* rx = driver.queue(0);
        if (rx == nullptr) break;
        const uint32_t len = (a % 64) * 16u + b;
        rx->Add({{GuestAddr(kRxScratch + 0x1000ull * (rx_slot++ % 12)), len,
                  true}});
        driver.Notify(0);
        while (rx->PopUsed().has_value()) {
        }
        break;
      }
    }
  }
  return 0;
}
