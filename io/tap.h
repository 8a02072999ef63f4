// Tap is a host TAP interface opened for virtio-net: non-blocking, with a
// 12-byte virtio-net header (struct virtio_net_hdr_v1, virtio 1.2 section
// 5.1.6) in front of every frame, in both directions. The kernel creates
// the interface when it does not exist and the process may (CAP_NET_ADMIN);
// otherwise it must be a persistent TAP this user may attach to.
//
//   SKIFF_ASSIGN_OR_RETURN(io::Tap tap, io::Tap::Open({.name = "tap0"}));
//   SKIFF_RETURN_IF_ERROR(tap.SetOffload({.csum = true, .tso = true}));
//   loop->AddReadable(tap.fd(), [&] { while (tap.ReadV(iov, n) > 0) ...; });
//
// Thread-safety: the fd may be used from any one thread at a time; the
// object itself is immutable after Open except for SetOffload.
#ifndef SKIFF_IO_TAP_H_
#define SKIFF_IO_TAP_H_

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace skiff::io {

class Tap {
 public:
  // sizeof(struct virtio_net_hdr_v1), the header with num_buffers that
  // VIRTIO_NET_F_MRG_RXBUF and VIRTIO_F_VERSION_1 devices use.
  static constexpr size_t kVnetHdrSize = 12;

  struct Options {
    // Interface name, at most 15 characters. Empty: the kernel picks tapN.
    std::string name;
    // The clone device; tests point it elsewhere.
    std::string tun_path = "/dev/net/tun";
  };

  struct Offload {
    // The guest may send frames with partial checksums (VIRTIO_NET_F_CSUM)
    // and accepts them (VIRTIO_NET_F_GUEST_CSUM).
    bool csum = false;
    // TCP segmentation offload for IPv4 and IPv6, with ECN; needs csum.
    bool tso = false;
  };

  // Opens /dev/net/tun and attaches to (or creates) the TAP. Errors are one
  // line with the interface name and, for permission problems, what to do.
  static absl::StatusOr<Tap> Open(const Options& options);

  Tap(Tap&&) = default;
  Tap& operator=(Tap&&) = default;

  int fd() const { return fd_.get(); }
  // The name the kernel gave the interface.
  const std::string& name() const { return name_; }

  // TUNSETOFFLOAD: which offloads the kernel may hand us in received frames
  // (and so which GSO types the guest must accept). Call again whenever the
  // guest's negotiated features change.
  absl::Status SetOffload(const Offload& offload);
  // SIOCSIFFLAGS: sets or clears IFF_UP on the interface (CAP_NET_ADMIN in
  // its network namespace). skiff normally leaves this to the host's setup.
  absl::Status SetUp(bool up);

  // One frame (with its header) per call. Return bytes or -errno; -EAGAIN
  // when nothing is queued (read) or the queue is full (write).
  int64_t ReadV(const iovec* iov, int count) const;
  int64_t WriteV(const iovec* iov, int count) const;

 private:
  Tap(UniqueFd fd, std::string name)
      : fd_(std::move(fd)), name_(std::move(name)) {}

  UniqueFd fd_;
  std::string name_;
};

}  // namespace skiff::io

#endif  // SKIFF_IO_TAP_H_
