// Fuzzes virtio-blk request parsing end to end: a driver negotiates through
// the transport and sets up the queue normally, then the input rewrites
// guest RAM (descriptors, avail ring, headers, segments and buffers) between
// notifications. The disk is a FileBlockBackend on a memfd, read-only or
// not; a read-only disk must never change.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "base/guest_memory.h"
#include "devices/testing/fakes.h"
#include "devices/virtio/file_block_backend.h"
#include "devices/virtio/testing/fuzz_setup.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_mmio.h"

namespace {

using namespace skiff;
using namespace skiff::devices;
using skiff::devices::testing::FuzzCheck;

constexpr uint64_t kRam = 0x10000;
constexpr size_t kDisk = 64 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  testing::BlkFuzzHeader header;
  if (!testing::TakeBlkFuzzHeader(data, size, &header)) return 0;
  GuestMemory& mem = testing::FuzzGuestRam<kRam>();
  const bool read_only = header.read_only();
  const uint16_t qsize = header.qsize;

  UniqueFd fd(::memfd_create("fuzz-disk", MFD_CLOEXEC));
  FuzzCheck(fd.valid());
  std::vector<uint8_t> pattern(kDisk, 0x6b);
  FuzzCheck(::pwrite(fd.get(), pattern.data(), kDisk, 0) == kDisk);
  const int raw_fd = fd.get();
  UniqueFd keep(::dup(raw_fd));
  auto backend = FileBlockBackend::FromFd(std::move(fd), read_only);
  FuzzCheck(backend.ok());

  testing::FakeIrqLine irq;
  VirtioMmio mmio(mem,
                  std::make_unique<VirtioBlk>(
                      std::move(*backend),
                      VirtioBlk::Options{.serial = "fuzz", .queue_size = 64}),
                  &irq);
  testing::VirtioMmioDriver driver(mem, mmio, GuestAddr(0x1000));
  testing::StartDriver(driver,
                       testing::DropRingFeatures(driver.DeviceFeatures(),
                                                 header.drop_event_idx(),
                                                 header.drop_indirect()),
                       {0}, qsize);

  // The input in chunks: [offset hi, offset lo, len, bytes...], each chunk
  // written into guest RAM and followed by a notification.
  size_t pos = 0;
  while (pos + 3 <= size) {
    const uint64_t at = (uint64_t{data[pos]} << 8 | data[pos + 1]) % kRam;
    const size_t n = data[pos + 2];
    pos += 3;
    const size_t avail = std::min(n, size - pos);
    testing::PokeRam(mem, at, data + pos, avail);
    pos += avail;
    driver.Notify(0);
    if (mmio.status() & kStatusNeedsReset) break;
  }
  if (read_only) {
    std::vector<uint8_t> now(kDisk);
    FuzzCheck(::pread(keep.get(), now.data(), kDisk, 0) == kDisk);
    FuzzCheck(now == pattern);
  }
  return 0;
}
