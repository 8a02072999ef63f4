// NetBackend is the seam between virtio-net (which walks the guest's queues)
// and the host packet I/O that carries its frames (a TAP in production, a
// fake in tests). Every frame crosses it with the 12-byte
// struct virtio_net_hdr_v1 (virtio 1.2 §5.1.6) in front, as io::Tap reads
// and writes them, so offloads pass through without translation.
//
//   backend->SetFramesWaitingCallback([dev] { dev->OnFramesWaiting(); });
//   SKIFF_RETURN_IF_ERROR(backend->SetOffload({.csum = true, .tso4 = true}));
//   int64_t n = backend->Receive(iovs);   // header + frame, or -EAGAIN
//   backend->Send(iovs);                  // header + frame
//
// Thread-safety: Send, Receive and the callback run on one thread, the event
// loop's; the callback is never called from inside Send or Receive, so the
// device may hold its lock around them. SetOffload may be called from any
// thread (the device calls it when the driver negotiates, on a vCPU thread).
#ifndef SKIFF_DEVICES_VIRTIO_NET_BACKEND_H_
#define SKIFF_DEVICES_VIRTIO_NET_BACKEND_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/types/span.h"

namespace skiff::devices {

// sizeof(struct virtio_net_hdr_v1): VIRTIO_F_VERSION_1 devices always carry
// num_buffers (§5.1.6).
inline constexpr size_t kVirtioNetHdrSize = 12;

// Which offloaded frames the host may hand the guest (TUNSETOFFLOAD), from
// the GUEST_* features the driver accepted.
struct NetOffload {
  bool csum = false;  // partial checksums (VIRTIO_NET_F_GUEST_CSUM)
  bool tso4 = false;  // TCP over IPv4 segmentation, needs csum
  bool tso6 = false;  // TCP over IPv6 segmentation, needs csum
  bool ecn = false;   // TSO with ECN, needs tso4 or tso6

  bool operator==(const NetOffload&) const = default;
};

class NetBackend {
 public:
  virtual ~NetBackend() = default;

  // Sends one frame: header then Ethernet frame, spread over `frame`.
  // Returns the bytes taken or a negative errno (-EAGAIN: the host queue is
  // full and the frame was not sent).
  virtual int64_t Send(absl::Span<const iovec> frame) = 0;
  // Receives the next frame (header included) into `buffers`. Returns its
  // length, -EAGAIN when none is waiting, or another negative errno (the
  // frame, if any, is lost). A frame longer than `buffers` may be truncated
  // or dropped, depending on the host; pass room for kMaxFrame bytes.
  virtual int64_t Receive(absl::Span<const iovec> buffers) = 0;
  // `on_frames` is called on the backend's thread whenever frames may have
  // arrived; the device then calls Receive until -EAGAIN or until it has no
  // guest buffers left (it calls Receive again on its own when the guest
  // posts more, without waiting for the callback). Replaces any earlier
  // callback; an empty one stops the calls.
  virtual void SetFramesWaitingCallback(
      absl::AnyInvocable<void()> on_frames) = 0;
  // Which offloads received frames may use from now on.
  virtual absl::Status SetOffload(const NetOffload& offload) = 0;

  // The largest frame (header included) a backend hands over: a 64 KiB TSO
  // segment plus Ethernet and VLAN headers, rounded up.
  static constexpr size_t kMaxFrame = kVirtioNetHdrSize + 65536 + 64;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_NET_BACKEND_H_
