// Fuzzes the virtqueue walker: guest RAM (two adjacent regions and a hole)
// filled from the input, a ring layout and negotiated features chosen by the
// input, then pops, used-ring updates and notification handshakes. Every
// iovec handed out must lie inside guest RAM; a malformed ring must be an
// error, never a crash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "base/guest_memory.h"
#include "devices/virtio/testing/fuzz_setup.h"
#include "devices/virtio/virtqueue.h"

namespace {

using skiff::GuestAddr;
using skiff::GuestMemory;
using skiff::devices::DescriptorChain;
using skiff::devices::Virtqueue;
using skiff::devices::testing::FuzzCheck;

constexpr uint64_t kRegion = 0x4000;

bool InsideRam(const GuestMemory& mem, const iovec& v) {
  for (const GuestMemory::Region& r : mem.regions()) {
    const uint8_t* p = static_cast<const uint8_t*>(v.iov_base);
    if (p >= r.host && p - r.host < static_cast<ptrdiff_t>(r.size) &&
        v.iov_len <= r.size - static_cast<uint64_t>(p - r.host)) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  // Two adjacent regions, then a hole, then a third: buffers may be split
  // across the first two and must be refused across the hole.
  static GuestMemory* mem = [] {
    auto m = GuestMemory::Create({{GuestAddr(0), kRegion},
                                  {GuestAddr(kRegion), kRegion},
                                  {GuestAddr(4 * kRegion), kRegion}},
                                 {});
    return m.ok() ? m->release() : nullptr;
  }();
  FuzzCheck(mem != nullptr);

  const uint8_t size_log = data[0] % 9;  // queue sizes 1..256
  const uint64_t features = static_cast<uint64_t>(data[1] & 3) << 28;
  const uint16_t qsize = static_cast<uint16_t>(1u << size_log);
  // Ring areas at input-chosen (aligned) places, mostly inside RAM.
  const uint64_t desc = (uint64_t{data[2]} << 8) & ~uint64_t{15};
  const uint64_t avail = (uint64_t{data[3]} << 8) | (data[4] & 0xfe);
  const uint64_t used = (uint64_t{data[5]} << 8) | (data[6] & 0xfc);
  const uint8_t rounds = data[7];
  data += 8;
  size -= 8;

  // Guest RAM contents: the input, repeated.
  for (const GuestMemory::Region& r : mem->regions()) {
    for (uint64_t i = 0; i < r.size; i += size) {
      if (size == 0) {
        std::memset(r.host, 0, r.size);
        break;
      }
      std::memcpy(r.host + i, data, std::min<uint64_t>(size, r.size - i));
    }
  }
  auto q = Virtqueue::Create(*mem,
                             {.size = qsize,
                              .desc = GuestAddr(desc),
                              .avail = GuestAddr(avail),
                              .used = GuestAddr(used)},
                             features);
  if (!q.ok()) return 0;
  DescriptorChain chain;
  for (int i = 0; i < 1 + rounds % 64; ++i) {
    auto got = q->Pop(chain);
    if (!got.ok()) break;
    if (!*got) {
      if (!q->EnableNotification()) break;
      continue;
    }
    FuzzCheck(chain.head < qsize);
    FuzzCheck(chain.descriptors <= qsize);
    uint64_t rb = 0, wb = 0;
    for (const iovec& v : chain.readable) {
      FuzzCheck(InsideRam(*mem, v));
      rb += v.iov_len;
    }
    for (const iovec& v : chain.writable) {
      FuzzCheck(InsideRam(*mem, v));
      wb += v.iov_len;
      std::memset(v.iov_base, 0x5a, v.iov_len);  // the device writes
    }
    FuzzCheck(rb == chain.readable_bytes && wb == chain.writable_bytes);
    q->AddUsed(chain.head, static_cast<uint32_t>(wb));
    if (i % 3 == 0) q->PublishUsed();
  }
  q->PublishUsed();
  return 0;
}
