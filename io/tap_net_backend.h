// TapNetBackend carries virtio-net frames over a host TAP interface
// (io::Tap, with the 12-byte virtio-net header) driven by the EventLoop: the
// loop watches the TAP fd and calls the device's frames-waiting callback;
// the device then reads frames itself until -EAGAIN. Writes go straight to
// the TAP (a TAP never blocks a write: the kernel queues or drops).
// Offloads negotiated by the guest become TUNSETOFFLOAD flags.
//
// OpenTapNetDevice is what the machine calls for `--net tap=NAME`:
//
//   SKIFF_ASSIGN_OR_RETURN(
//       std::unique_ptr<devices::VirtioDevice> net,
//       io::OpenTapNetDevice(loop, "tap0", {0x02, 0, 0, 0, 0, 1}));
//   auto mmio = std::make_shared<devices::VirtioMmio>(mem, std::move(net),
//                                                     irq);
//
// Thread-safety: Create on any thread. Send, Receive and the callback run in
// the loop's context (Receive may re-arm the fd watch) (event_loop.h);
// SetFramesWaitingCallback and the destructor reach the loop through
// RunAndWait, so they may run on the machine's thread whether or not the loop
// is running (but not while the loop thread waits for the caller). SetOffload
// is an ioctl, any thread. The EventLoop must outlive the backend.
#ifndef SKIFF_IO_TAP_NET_BACKEND_H_
#define SKIFF_IO_TAP_NET_BACKEND_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "devices/virtio/net_backend.h"
#include "devices/virtio/virtio_device.h"
#include "io/event_loop.h"
#include "io/tap.h"

namespace skiff::io {

class TapNetBackend : public devices::NetBackend {
 public:
  // Takes an opened TAP (Tap::Open already set its 12-byte header).
  static std::unique_ptr<TapNetBackend> Create(EventLoop* loop, Tap tap);
  ~TapNetBackend() override;

  int64_t Send(absl::Span<const iovec> frame) override;
  int64_t Receive(absl::Span<const iovec> buffers) override;
  void SetFramesWaitingCallback(absl::AnyInvocable<void()> on_frames) override;
  absl::Status SetOffload(const devices::NetOffload& offload) override;

  const Tap& tap() const { return tap_; }

 private:
  TapNetBackend(EventLoop* loop, Tap tap) : loop_(loop), tap_(std::move(tap)) {}
  // Loop context: start and stop watching the TAP fd.
  void Watch();
  void Unwatch();

  // Constant after construction.
  EventLoop* const loop_;
  const Tap tap_;

  // Loop context only.
  EventLoop::FdId watch_ = 0;  // 0: not watched
  // The last callback left frames unread, so the fd is not watched until
  // the device calls Receive again.
  bool paused_ = false;
  bool drained_ = false;  // a Receive saw -EAGAIN since the last callback
  absl::AnyInvocable<void()> on_frames_;
};

// Opens (or creates) the TAP `tap_name` and returns a virtio-net device on
// it with MAC address `mac` (all zero: the guest picks one). Errors are one
// line naming the TAP and what to do, e.g. "tap tap0: TUNSETIFF tap0:
// Operation not permitted (creating a TAP needs CAP_NET_ADMIN; or create it
// beforehand: ip tuntap add tap0 mode tap vnet_hdr user $USER)".
absl::StatusOr<std::unique_ptr<devices::VirtioDevice>> OpenTapNetDevice(
    EventLoop* loop, const std::string& tap_name, std::array<uint8_t, 6> mac);

}  // namespace skiff::io

#endif  // SKIFF_IO_TAP_NET_BACKEND_H_
