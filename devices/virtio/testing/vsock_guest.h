// Guest-side helpers for virtio-vsock tests (virtio 1.2 §5.10): stream
// packet headers from the guest, the rx/tx/event queue setup, rx buffers
// posted the way Linux 6.1 posts them, and packets written to and read from
// guest memory. Shared by the device test and the Unix-socket backend test;
// gtest-free, so failures come back as values for the caller to assert.
//
//   VirtioMmioDriver driver(*mem, mmio, GuestAddr(0x1000));
//   VsockQueues q = *StartVsockDriver(driver);
//   std::map<uint16_t, GuestAddr> rx_bufs;
//   PostVsockRx(driver, *q.rx, 8, 4096, rx_bufs);
//   GuestAddr a = *WriteVsockPacket(*mem, driver,
//                                   GuestStreamHdr(3, kVsockOpRequest, 5000,
//                                                  1234, 0, 65536, 0), "");
#ifndef SKIFF_DEVICES_VIRTIO_TESTING_VSOCK_GUEST_H_
#define SKIFF_DEVICES_VIRTIO_TESTING_VSOCK_GUEST_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/guest_memory.h"
#include "base/status_macros.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_vsock.h"

namespace skiff::devices::testing {

// One packet as the guest sees it: the header and its payload.
struct VsockPacket {
  VsockHdr hdr{};
  std::string data;
};

// A stream packet header from guest `guest_cid` to the host.
inline VsockHdr GuestStreamHdr(uint64_t guest_cid, uint16_t op,
                               uint32_t guest_port, uint32_t host_port,
                               uint32_t len, uint32_t buf_alloc,
                               uint32_t fwd_cnt) {
  VsockHdr h{};
  h.src_cid = guest_cid;
  h.dst_cid = kVsockHostCid;
  h.src_port = guest_port;
  h.dst_port = host_port;
  h.len = len;
  h.type = kVsockTypeStream;
  h.op = op;
  h.buf_alloc = buf_alloc;
  h.fwd_cnt = fwd_cnt;
  return h;
}

struct VsockQueues {
  DriverQueue* rx = nullptr;
  DriverQueue* tx = nullptr;
};

// Negotiates every offered feature, sets up rx and tx with 64 entries and
// the event queue with 8, and sets DRIVER_OK.
inline absl::StatusOr<VsockQueues> StartVsockDriver(VirtioMmioDriver& driver) {
  SKIFF_RETURN_IF_ERROR(driver.Negotiate(driver.DeviceFeatures()));
  VsockQueues q;
  SKIFF_ASSIGN_OR_RETURN(q.rx, driver.SetupQueue(0, 64));
  SKIFF_ASSIGN_OR_RETURN(q.tx, driver.SetupQueue(1, 64));
  SKIFF_RETURN_IF_ERROR(driver.SetupQueue(2, 8).status());
  driver.DriverOk();
  return q;
}

// Posts up to `n` rx buffers (as many as free descriptors allow), header
// and `payload` bytes in separate descriptors as Linux 6.1 posts them,
// records each head's address in `bufs` and notifies the rx queue. Returns
// false if a chain could not be added.
inline bool PostVsockRx(VirtioMmioDriver& driver, DriverQueue& rx, int n,
                        uint32_t payload, std::map<uint16_t, GuestAddr>& bufs) {
  n = std::min(n, rx.free_descriptors() / 2);
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    GuestAddr a = driver.Alloc(sizeof(VsockHdr) + payload);
    const int head = rx.Add(
        {{a, sizeof(VsockHdr), true}, {a + sizeof(VsockHdr), payload, true}});
    if (head < 0) {
      ok = false;
      continue;
    }
    bufs[static_cast<uint16_t>(head)] = a;
  }
  driver.Notify(0);
  return ok;
}

// Writes `hdr` and then `payload` into freshly allocated guest memory and
// returns where.
inline absl::StatusOr<GuestAddr> WriteVsockPacket(const GuestMemory& mem,
                                                  VirtioMmioDriver& driver,
                                                  const VsockHdr& hdr,
                                                  const std::string& payload) {
  GuestAddr a = driver.Alloc(sizeof(hdr) + payload.size() + 1);
  SKIFF_RETURN_IF_ERROR(mem.WriteObj(a, hdr));
  SKIFF_RETURN_IF_ERROR(mem.Write(
      a + sizeof(hdr),
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(payload.data()),
                          payload.size())));
  return a;
}

// Reads the packet at `a`: the header, then its payload cut to at most
// `max_payload` bytes (the rx buffer's size).
inline absl::StatusOr<VsockPacket> ReadVsockPacket(const GuestMemory& mem,
                                                   GuestAddr a,
                                                   uint32_t max_payload) {
  VsockPacket p;
  SKIFF_ASSIGN_OR_RETURN(p.hdr, mem.ReadObj<VsockHdr>(a));
  p.data.resize(std::min<uint32_t>(p.hdr.len, max_payload));
  SKIFF_RETURN_IF_ERROR(
      mem.Read(a + sizeof(VsockHdr),
               absl::MakeSpan(reinterpret_cast<uint8_t*>(p.data.data()),
                              p.data.size())));
  return p;
}

}  // namespace skiff::devices::testing

#endif  // SKIFF_DEVICES_VIRTIO_TESTING_VSOCK_GUEST_H_
