#include "io/tap_net_backend.h"

#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <climits>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "devices/virtio/virtio_net.h"

namespace skiff::io {
namespace {

constexpr char kTunPath[] = "/dev/net/tun";

// What to do about an error of Tap::Open that does not already say so.
std::string OpenHint(const absl::Status& status) {
  const absl::string_view msg = status.message();
  if (absl::StrContains(msg, " (")) return "";  // Tap::Open gave one
  if (absl::StartsWith(msg, "open ") &&
      absl::StrContains(msg, "Permission denied")) {
    return " (needs read-write access to /dev/net/tun: run as a user in its "
           "group, or with CAP_NET_ADMIN)";
  }
  return "";
}

}  // namespace

std::unique_ptr<TapNetBackend> TapNetBackend::Create(EventLoop* loop, Tap tap) {
  return std::unique_ptr<TapNetBackend>(
      new TapNetBackend(loop, std::move(tap)));
}

TapNetBackend::~TapNetBackend() {
  loop_->RunAndWait([this] {
    Unwatch();
    on_frames_ = nullptr;
  });
}

void TapNetBackend::Unwatch() {
  if (watch_ != 0) loop_->RemoveFd(watch_);
  watch_ = 0;
}

int64_t TapNetBackend::Send(absl::Span<const iovec> frame) {
  if (frame.size() > IOV_MAX) return -EMSGSIZE;
  for (;;) {
    const int64_t n = tap_.WriteV(frame.data(), static_cast<int>(frame.size()));
    if (n != -EINTR) return n;
  }
}

int64_t TapNetBackend::Receive(absl::Span<const iovec> buffers) {
  if (buffers.size() > IOV_MAX) return -EMSGSIZE;
  if (paused_) {
    // The device reads again (the guest posted buffers): watch again.
    paused_ = false;
    Watch();
  }
  for (;;) {
    const int64_t n =
        tap_.ReadV(buffers.data(), static_cast<int>(buffers.size()));
    if (n == -EINTR) continue;
    if (n == -EAGAIN) drained_ = true;
    return n;
  }
}

void TapNetBackend::SetFramesWaitingCallback(
    absl::AnyInvocable<void()> on_frames) {
  loop_->RunAndWait([this, &on_frames] {
    Unwatch();
    paused_ = false;
    on_frames_ = std::move(on_frames);
    if (on_frames_) Watch();
  });
}

void TapNetBackend::Watch() {
  watch_ = loop_->AddReadable(tap_.fd(), [this] {
    drained_ = false;
    on_frames_();
    // The device stopped before -EAGAIN (no guest buffers, or inactive):
    // frames stay queued, and a poll that is level-triggered (the loop's
    // fallback before Linux 5.13) would call again at once, forever. Stop
    // watching until the device's next Receive.
    if (!drained_ && watch_ != 0) {
      Unwatch();
      paused_ = true;
    }
  });
}

absl::Status TapNetBackend::SetOffload(const devices::NetOffload& offload) {
  // TUNSETOFFLOAD (drivers/net/tun.c set_offload) takes TSO only together
  // with checksum offload, and ECN only together with TSO.
  if ((offload.tso4 || offload.tso6) && !offload.csum) {
    return absl::InvalidArgumentError(
        absl::StrCat("tap ", tap_.name(), ": TSO needs checksum offload"));
  }
  if (offload.ecn && !(offload.tso4 || offload.tso6)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tap ", tap_.name(), ": TSO ECN needs TSO"));
  }
  unsigned flags = 0;
  if (offload.csum) flags |= TUN_F_CSUM;
  if (offload.tso4) flags |= TUN_F_TSO4;
  if (offload.tso6) flags |= TUN_F_TSO6;
  if (offload.ecn) flags |= TUN_F_TSO_ECN;
  if (ioctl(tap_.fd(), TUNSETOFFLOAD, flags) != 0) {
    return OneLineStatus(ErrnoStatus(
        absl::StrFormat("TUNSETOFFLOAD %s flags=%#x", tap_.name(), flags)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<devices::VirtioDevice>> OpenTapNetDevice(
    EventLoop* loop, const std::string& tap_name, std::array<uint8_t, 6> mac) {
  absl::StatusOr<Tap> tap = Tap::Open({.name = tap_name, .tun_path = kTunPath});
  if (!tap.ok()) {
    const absl::Status& s = tap.status();
    return absl::Status(
        s.code(), OneLine(absl::StrCat("tap ", tap_name, ": ",
                                       std::string(s.message()), OpenHint(s))));
  }
  std::unique_ptr<TapNetBackend> backend =
      TapNetBackend::Create(loop, *std::move(tap));
  return std::make_unique<devices::VirtioNet>(
      std::move(backend), devices::VirtioNet::Options{.mac = mac});
}

}  // namespace skiff::io
