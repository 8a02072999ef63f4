// Fuzzes virtio-net end to end: a driver negotiates a feature subset
// through the transport and sets up both queues normally, then the input
// rewrites guest RAM (descriptors, avail rings, headers and frames) between
// transmit and receive notifications, and injects host frames with
// arbitrary headers and lengths into a fake backend. Every frame the device
// sends must be a header plus at least an Ethernet header, and no larger
// than NetBackend::kMaxFrame.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "base/guest_memory.h"
#include "devices/testing/fakes.h"
#include "devices/virtio/testing/fake_net_backend.h"
#include "devices/virtio/testing/fuzz_setup.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtio_net.h"

namespace {

using namespace skiff;
using namespace skiff::devices;
using skiff::devices::testing::FuzzCheck;

constexpr uint64_t kRam = 0x10000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  GuestMemory& mem = testing::FuzzGuestRam<kRam>();

  // data[0]: which offered features to drop (16 bits over two bytes).
  const uint16_t drop = static_cast<uint16_t>(data[0] | data[1] << 8);
  const uint16_t qsize = static_cast<uint16_t>(1u << (data[2] % 7));  // ..64
  data += 3;
  size -= 3;

  auto fake = std::make_unique<testing::FakeNetBackend>();
  testing::FakeNetBackend* backend = fake.get();
  testing::FakeIrqLine irq;
  VirtioMmio mmio(
      mem,
      std::make_unique<VirtioNet>(
          std::move(fake),
          VirtioNet::Options{.mac = {2, 0, 0, 0, 0, 1}, .queue_size = 64}),
      &irq);
  testing::VirtioMmioDriver driver(mem, mmio, GuestAddr(0x1000));
  uint64_t features = driver.DeviceFeatures();
  const int bits[] = {
      kVirtioNetFCsum,      kVirtioNetFGuestCsum, kVirtioNetFGuestTso4,
      kVirtioNetFGuestTso6, kVirtioNetFGuestEcn,  kVirtioNetFHostTso4,
      kVirtioNetFHostTso6,  kVirtioNetFHostEcn,   kVirtioNetFMrgRxbuf,
      kVirtioNetFStatus,    kVirtioNetFMac,       kVirtioRingFIndirectDesc,
      kVirtioRingFEventIdx};
  for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); ++i) {
    if (drop & (1u << i)) features &= ~(uint64_t{1} << bits[i]);
  }
  testing::StartDriver(driver, features,
                       {VirtioNet::kRxQueue, VirtioNet::kTxQueue}, qsize);

  // The input in chunks: [op, offset hi, offset lo, len, bytes...].
  // op & 3: 0 notify TX, 1 notify RX, 2 fire the backend callback, each
  // after writing the bytes into guest RAM; 3 injects the bytes as a host
  // frame (op >> 2 repeats them, to reach large and TSO-sized frames).
  size_t pos = 0;
  while (pos + 4 <= size) {
    const uint8_t op = data[pos];
    const uint64_t at = (uint64_t{data[pos + 1]} << 8 | data[pos + 2]) % kRam;
    const size_t n = data[pos + 3];
    pos += 4;
    const size_t avail = std::min(n, size - pos);
    if ((op & 3) == 3) {
      std::vector<uint8_t> frame(data + pos, data + pos + avail);
      const size_t repeat = op >> 2;
      for (size_t r = 0; r < repeat && !frame.empty(); ++r) {
        frame.insert(frame.end(), data + pos, data + pos + avail);
        if (frame.size() > 70000) break;
      }
      backend->Inject(std::move(frame));
      backend->FireFramesWaiting();
    } else {
      testing::PokeRam(mem, at, data + pos, avail);
      if ((op & 3) == 2) {
        backend->FireFramesWaiting();
      } else {
        driver.Notify(static_cast<uint16_t>(op & 1 ? VirtioNet::kRxQueue
                                                   : VirtioNet::kTxQueue));
      }
    }
    pos += avail;
    if (mmio.status() & kStatusNeedsReset) break;
  }
  for (const std::vector<uint8_t>& f : backend->sent()) {
    FuzzCheck(f.size() >= kVirtioNetHdrSize + 14);
    FuzzCheck(f.size() <= NetBackend::kMaxFrame);
  }
  const VirtioNet::Stats s = static_cast<VirtioNet&>(mmio.device()).stats();
  FuzzCheck(s.tx_packets == backend->sent().size());
  return 0;
}
