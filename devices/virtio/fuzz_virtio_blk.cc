// Fuzzes virtio-blk request parsing end to end: a driver negotiates through
// the transport and sets up the queue normally, then the input rewrites
// guest RAM (descriptors, avail ring, headers, segments and buffers) between
// notifications. The disk is a FileBlockBackend on a memfd, read-only or
// not; a read-only disk must never change.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "base/guest_memory.h"
#include "base/log.h"
#include "devices/testing/fakes.h"
#include "devices/virtio/file_block_backend.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_mmio.h"

namespace {

using namespace skiff;
using namespace skiff::devices;

constexpr uint64_t kRam = 0x10000;
constexpr size_t kDisk = 64 * 1024;

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Guest errors are logged per device instance; silence them so the
  // fuzzer measures parsing, not stderr.
  skiff::SetLogLevel(skiff::LogLevel::kOff);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static GuestMemory* mem = [] {
    auto m = GuestMemory::Create({{GuestAddr(0), kRam}}, {});
    return m.ok() ? m->release() : nullptr;
  }();
  Check(mem != nullptr);
  uint8_t* ram = mem->regions()[0].host;
  std::memset(ram, 0, kRam);

  const bool read_only = data[0] & 1;
  const bool drop_event_idx = data[0] & 2;
  const bool drop_indirect = data[0] & 4;
  const uint16_t qsize = static_cast<uint16_t>(1u << (data[1] % 7));  // ..64
  data += 2;
  size -= 2;

  UniqueFd fd(::memfd_create("fuzz-disk", MFD_CLOEXEC));
  Check(fd.valid());
  std::vector<uint8_t> pattern(kDisk, 0x6b);
  Check(::pwrite(fd.get(), pattern.data(), kDisk, 0) == kDisk);
  const int raw_fd = fd.get();
  UniqueFd keep(::dup(raw_fd));
  auto backend = FileBlockBackend::FromFd(std::move(fd), read_only);
  Check(backend.ok());

  testing::FakeIrqLine irq;
  VirtioMmio mmio(*mem,
                  std::make_unique<VirtioBlk>(
                      std::move(*backend),
                      VirtioBlk::Options{.serial = "fuzz", .queue_size = 64}),
                  &irq);
  testing::VirtioMmioDriver driver(*mem, mmio, GuestAddr(0x1000));
  uint64_t features = driver.DeviceFeatures();
  if (drop_event_idx) features &= ~(uint64_t{1} << kVirtioRingFEventIdx);
  if (drop_indirect) features &= ~(uint64_t{1} << kVirtioRingFIndirectDesc);
  Check(driver.Negotiate(features).ok());
  auto q = driver.SetupQueue(0, qsize);
  Check(q.ok());
  driver.DriverOk();

  // The input in chunks: [offset hi, offset lo, len, bytes...], each chunk
  // written into guest RAM and followed by a notification.
  size_t pos = 0;
  while (pos + 3 <= size) {
    const uint64_t at = (uint64_t{data[pos]} << 8 | data[pos + 1]) % kRam;
    const size_t n = data[pos + 2];
    pos += 3;
    for (size_t i = 0; i < n && pos < size; ++i, ++pos) {
      if (at + i < kRam) ram[at + i] = data[pos];
    }
    driver.Notify(0);
    if (mmio.status() & kStatusNeedsReset) break;
  }
  if (read_only) {
    std::vector<uint8_t> now(kDisk);
    Check(::pread(keep.get(), now.data(), kDisk, 0) == kDisk);
    Check(now == pattern);
  }
  return 0;
}
