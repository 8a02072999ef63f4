// VsockBackend is the seam between virtio-vsock (which speaks the virtio
// packet protocol with the guest, keeps connection state and does credit
// flow control) and whatever carries the host ends of the connections (Unix
// sockets in production, an in-memory fake in tests). A connection is named
// by its host port and guest port; the guest CID and the host CID (2) are
// fixed per device.
//
//   class MyBackend : public devices::VsockBackend { ... };
//   auto vsock = std::make_unique<VirtioVsock>(guest_cid, std::move(backend));
//   // The device calls backend->Attach(device) in its constructor. Later,
//   // on the device thread:
//   //   device->ConnectToGuest({.host_port = 1u << 30, .guest_port = 52});
//   //   device->HostReadable(key);   // when the host end has data or EOF
//
// Thread-safety and reentrancy:
// - Every method of both interfaces runs on the device thread (the event
//   loop), except VsockBackend::Reset, which may come from a vCPU thread.
// - The device calls the backend with its own lock held, so the backend
//   must never call back into the device from inside a VsockBackend method;
//   it reports events later, from its own event-loop callbacks.
#ifndef SKIFF_DEVICES_VIRTIO_VSOCK_BACKEND_H_
#define SKIFF_DEVICES_VIRTIO_VSOCK_BACKEND_H_

#include <sys/uio.h>

#include <cstdint>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/types/span.h"

namespace skiff::devices {

// The well-known CID of the host (virtio 1.2 §5.10.4: VMADDR_CID_HOST).
inline constexpr uint64_t kVsockHostCid = 2;

struct VsockConnKey {
  uint32_t host_port = 0;
  uint32_t guest_port = 0;

  friend bool operator==(const VsockConnKey&, const VsockConnKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const VsockConnKey& k) {
    return H::combine(std::move(h), k.host_port, k.guest_port);
  }
};

// What the device offers its backend. Implemented by VirtioVsock.
class VsockDevice {
 public:
  virtual ~VsockDevice() = default;
  // The host opens a connection from `key.host_port` to the guest's
  // `key.guest_port`: the device sends the guest a REQUEST. Returns false
  // when the driver is not running, the key is in use, or there are too
  // many connections or replies waiting for the guest. The answer comes as
  // VsockBackend::Connected (the guest accepted) or Close (it refused).
  virtual bool ConnectToGuest(VsockConnKey key) = 0;
  // The host end has data, EOF or an error to report: the device calls
  // Recv when the guest has buffers and credit for it.
  virtual void HostReadable(VsockConnKey key) = 0;
  // Send may accept more bytes now.
  virtual void HostWritable(VsockConnKey key) = 0;
  // The host end is gone and the backend has already forgotten the key: the
  // device resets the connection with the guest and does not call Close.
  virtual void HostReset(VsockConnKey key) = 0;
};

class VsockBackend {
 public:
  virtual ~VsockBackend() = default;

  // Called once by the device's constructor. `device` outlives the backend
  // (the device owns it).
  virtual void Attach(VsockDevice* device) = 0;

  // The guest asks to connect to host port `key.host_port`. True when the
  // host end is open; the connection is then established.
  virtual bool Connect(VsockConnKey key) = 0;
  // The guest accepted a connection the backend opened with
  // ConnectToGuest. False when the host end is already gone (the device
  // then resets the connection and calls Close).
  virtual bool Connected(VsockConnKey key) = 0;
  // Writes guest data to the host end: returns the bytes taken (possibly
  // fewer than offered), -EAGAIN when none fit now (the backend then calls
  // HostWritable once more fit), or another -errno when the host end
  // failed.
  virtual int64_t Send(VsockConnKey key, absl::Span<const uint8_t> data) = 0;
  // Reads host data into `iov`: bytes read, 0 at end of stream, -EAGAIN
  // when nothing is waiting (the backend calls HostReadable when there is),
  // or another -errno when the host end failed.
  virtual int64_t Recv(VsockConnKey key, absl::Span<const iovec> iov) = 0;
  // The guest will send nothing more: half-close the host end for writing.
  virtual void ShutdownWrite(VsockConnKey key) = 0;
  // The connection is over: close the host end and forget the key. Unknown
  // keys are ignored.
  virtual void Close(VsockConnKey key) = 0;
  // The device was reset: close every connection soon, without calling the
  // device. Any thread.
  virtual void Reset() = 0;
};

}  // namespace skiff::devices

#endif  // SKIFF_DEVICES_VIRTIO_VSOCK_BACKEND_H_
