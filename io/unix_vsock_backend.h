// UnixVsockBackend carries the host ends of virtio-vsock connections on Unix
// sockets, with Firecracker's host protocol (docs/vsock.md in Firecracker):
//
// - Host to guest: skiff listens on `uds_path`. A host program connects,
//   writes "CONNECT <port>\n", and skiff opens a connection to that guest
//   port from a fresh host port H. When the guest accepts, skiff answers
//   "OK <H>\n" and the socket then carries the stream; when it refuses (or
//   the driver is not running), skiff closes the socket.
// - Guest to host: a guest connecting to CID 2 port P makes skiff connect
//   to the Unix socket "<uds_path>_<P>"; if nothing listens there the guest
//   gets an RST.
// Data flows both ways; EOF on a socket becomes a SHUTDOWN(SEND) for the
// guest, and the guest's shutdown(SHUT_WR) a shutdown(SHUT_WR) here.
//
//   SKIFF_ASSIGN_OR_RETURN(
//       std::unique_ptr<devices::VirtioDevice> vsock,
//       io::OpenUnixVsockDevice(loop, /*guest_cid=*/3, "/run/vm0.vsock"));
//   // host: socat - UNIX-CONNECT:/run/vm0.vsock, then "CONNECT 52\n"
//   // guest: skiff-vsock listen 52
//
// Everything runs on the EventLoop: sockets are non-blocking, readable
// sockets are watched with AddReadable, and a socket the guest has no
// credit or rx buffers for is simply not read until the device asks again
// (it keeps the data in the kernel, which pushes back on the host program).
// A send that would block arms a one-shot POLLOUT and resumes from there.
//
// Thread-safety: Create in loop context or with the loop running. The
// VsockBackend methods run on the loop (Reset may come from any thread and
// only posts). Destroy the backend (with its device) in loop context after
// the loop has stopped or from the loop thread; the loop must outlive it.
#ifndef SKIFF_IO_UNIX_VSOCK_BACKEND_H_
#define SKIFF_IO_UNIX_VSOCK_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "devices/virtio/virtio_device.h"
#include "devices/virtio/vsock_backend.h"
#include "io/event_loop.h"

namespace skiff::io {

class UnixVsockBackend : public devices::VsockBackend {
 public:
  // Host ports handed to host-initiated connections count up from here
  // (Firecracker uses the same kind of range, above the well-known ports).
  static constexpr uint32_t kFirstHostPort = 1u << 30;
  // Bytes a "CONNECT <port>\n" line may take.
  static constexpr size_t kMaxLine = 32;

  // Listens on `uds_path`. A socket file nobody listens on any more is
  // removed first; anything else there is an error naming the path.
  static absl::StatusOr<std::unique_ptr<UnixVsockBackend>> Create(
      EventLoop* loop, const std::string& uds_path);
  ~UnixVsockBackend() override;

  // devices::VsockBackend.
  void Attach(devices::VsockDevice* device) override;
  bool Connect(devices::VsockConnKey key) override;
  bool Connected(devices::VsockConnKey key) override;
  int64_t Send(devices::VsockConnKey key,
               absl::Span<const uint8_t> data) override;
  int64_t Recv(devices::VsockConnKey key, absl::Span<const iovec> iov) override;
  void ShutdownWrite(devices::VsockConnKey key) override;
  void Close(devices::VsockConnKey key) override;
  void Reset() override;

  // Sockets open besides the listener (loop context; for tests).
  size_t open_sockets() const;

  struct Core;

 private:
  explicit UnixVsockBackend(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

// The virtio-vsock device for a VM with CID `guest_cid`, its host side on
// `uds_path` (see above). Errors are one line naming the path.
absl::StatusOr<std::unique_ptr<devices::VirtioDevice>> OpenUnixVsockDevice(
    EventLoop* loop, uint32_t guest_cid, const std::string& uds_path);

}  // namespace skiff::io

#endif  // SKIFF_IO_UNIX_VSOCK_BACKEND_H_
