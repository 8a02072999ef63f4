// The guest-memory and driver setup the virtio fuzzers share: a check that
// aborts (so libFuzzer reports it), guest RAM at GPA 0 created once per
// process and zeroed per input, ring-feature dropping chosen by the input,
// the negotiate/set-up-queues/DRIVER_OK sequence, and input bytes written
// into guest RAM behind the device's back. Fuzzer-only: not for tests,
// which want gtest assertions instead of abort(). The shared
// LLVMFuzzerInitialize (logs off) is in fuzz_init.cc, which meson links into
// every virtio fuzzer.
//
//   GuestMemory& mem = FuzzGuestRam<0x10000>();
//   testing::VirtioMmioDriver driver(mem, mmio, GuestAddr(0x1000));
//   uint64_t f = DropRingFeatures(driver.DeviceFeatures(), data[0] & 1,
//                                 data[0] & 2);
//   StartDriver(driver, f, {0, 1}, qsize);
//   PokeRam(mem, at, data + pos, n);
#ifndef SKIFF_DEVICES_VIRTIO_TESTING_FUZZ_SETUP_H_
#define SKIFF_DEVICES_VIRTIO_TESTING_FUZZ_SETUP_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "base/guest_memory.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtqueue.h"

namespace skiff::devices::testing {

// Aborts when `ok` is false: libFuzzer reports the input as a crash.
inline void FuzzCheck(bool ok) {
  if (!ok) std::abort();
}

// One region of kSize bytes at GPA 0, created on the first call of each
// process (mapping RAM per input would dominate the run) and zeroed on
// every call so inputs do not see each other's bytes.
template <uint64_t kSize>
GuestMemory& FuzzGuestRam() {
  static GuestMemory* const mem = [] {
    auto m = GuestMemory::Create({{GuestAddr(0), kSize}}, {});
    return m.ok() ? m->release() : nullptr;
  }();
  FuzzCheck(mem != nullptr);
  std::memset(mem->regions()[0].host, 0, kSize);
  return *mem;
}

// `features` without VIRTIO_RING_F_EVENT_IDX and/or
// VIRTIO_RING_F_INDIRECT_DESC, as the input asks.
inline uint64_t DropRingFeatures(uint64_t features, bool drop_event_idx,
                                 bool drop_indirect) {
  if (drop_event_idx) features &= ~(uint64_t{1} << kVirtioRingFEventIdx);
  if (drop_indirect) features &= ~(uint64_t{1} << kVirtioRingFIndirectDesc);
  return features;
}

// The two bytes a virtio-blk fuzz input starts with: flag bits in the
// first (bit 0 read-only disk, bit 1 drop EVENT_IDX, bit 2 drop
// INDIRECT_DESC, the rest the fuzzer's own) and the queue size, a power of
// two up to 64, in the second.
struct BlkFuzzHeader {
  uint8_t flags = 0;
  uint16_t qsize = 1;
  bool read_only() const { return flags & 1; }
  bool drop_event_idx() const { return flags & 2; }
  bool drop_indirect() const { return flags & 4; }
};

// Takes the header off the front of the input; false when it is shorter.
inline bool TakeBlkFuzzHeader(const uint8_t*& data, size_t& size,
                              BlkFuzzHeader* h) {
  if (size < 2) return false;
  h->flags = data[0];
  h->qsize = static_cast<uint16_t>(1u << (data[1] % 7));
  data += 2;
  size -= 2;
  return true;
}

// Negotiates `features`, sets up each of `queues` with `qsize` entries and
// sets DRIVER_OK; a well-formed setup must succeed.
inline void StartDriver(VirtioMmioDriver& driver, uint64_t features,
                        std::initializer_list<uint16_t> queues,
                        uint16_t qsize) {
  FuzzCheck(driver.Negotiate(features).ok());
  for (uint16_t q : queues) FuzzCheck(driver.SetupQueue(q, qsize).ok());
  driver.DriverOk();
}

// Copies `n` input bytes into the first region of `mem` from offset `at`,
// dropping what would fall past its end.
inline void PokeRam(GuestMemory& mem, uint64_t at, const uint8_t* src,
                    size_t n) {
  const GuestMemory::Region& r = mem.regions()[0];
  for (size_t i = 0; i < n && at + i < r.size; ++i) r.host[at + i] = src[i];
}

}  // namespace skiff::devices::testing

#endif  // SKIFF_DEVICES_VIRTIO_TESTING_FUZZ_SETUP_H_
