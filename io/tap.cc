#include "io/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"

namespace skiff::io {
namespace {

std::string SetIffHint(int err, const std::string& name) {
  switch (err) {
    case EPERM:
      return absl::StrCat(
          " (creating a TAP needs CAP_NET_ADMIN; or create it beforehand: ip "
          "tuntap add ",
          name.empty() ? "tap0" : name, " mode tap vnet_hdr user $USER)");
    case EBUSY:
      return " (another process has it open)";
    case EINVAL:
      return " (an interface of that name exists and is not a TAP with "
             "vnet_hdr?)";
    default:
      return "";
  }
}

}  // namespace

absl::StatusOr<Tap> Tap::Open(const Options& options) {
  if (options.name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        OneLine(absl::StrCat("tap ", options.name, ": name longer than ",
                             IFNAMSIZ - 1, " characters")));
  }
  int raw = ::open(options.tun_path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (raw < 0) {
    int err = errno;
    std::string hint = err == ENOENT ? " (is the tun module loaded?)" : "";
    return absl::UnavailableError(OneLine(absl::StrCat(
        "open ", options.tun_path, ": ", std::strerror(err), hint)));
  }
  UniqueFd fd(raw);

  ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  std::memcpy(ifr.ifr_name, options.name.data(), options.name.size());
  if (ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
    int err = errno;
    return absl::UnavailableError(OneLine(
        absl::StrCat("TUNSETIFF ", options.name, ": ", std::strerror(err),
                     SetIffHint(err, options.name))));
  }
  std::string name(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));

  // The kernel's default header is the 10-byte virtio_net_hdr; virtio 1.x
  // devices always carry num_buffers, 12 bytes.
  int hdr_size = static_cast<int>(kVnetHdrSize);
  if (ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr_size) != 0) {
    return OneLineStatus(ErrnoStatus(absl::StrCat("TUNSETVNETHDRSZ ", name)));
  }
  Tap tap(std::move(fd), std::move(name));
  // No offloads until the guest negotiates them: the kernel must not hand us
  // partial checksums or GSO frames the guest has not agreed to take.
  SKIFF_RETURN_IF_ERROR(tap.SetOffload({}));
  return tap;
}

absl::Status Tap::SetOffload(const Offload& offload) {
  if (offload.tso && !offload.csum) {
    return absl::InvalidArgumentError(
        absl::StrCat("tap ", name_, ": TSO needs checksum offload"));
  }
  unsigned flags = 0;
  if (offload.csum) flags |= TUN_F_CSUM;
  if (offload.tso) flags |= TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  if (ioctl(fd_.get(), TUNSETOFFLOAD, flags) != 0) {
    return OneLineStatus(ErrnoStatus(
        absl::StrFormat("TUNSETOFFLOAD %s flags=%#x", name_, flags)));
  }
  return absl::OkStatus();
}

absl::Status Tap::SetUp(bool up) {
  // Interface flags live on the network stack, so any socket of the
  // interface's namespace will do.
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return ErrnoStatus("socket AF_INET");
  ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  std::memcpy(ifr.ifr_name, name_.data(), name_.size());
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) {
    return OneLineStatus(ErrnoStatus(absl::StrCat("SIOCGIFFLAGS ", name_)));
  }
  if (up) {
    ifr.ifr_flags |= IFF_UP;
  } else {
    ifr.ifr_flags &= ~IFF_UP;
  }
  if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) {
    return OneLineStatus(ErrnoStatus(absl::StrCat("SIOCSIFFLAGS ", name_)));
  }
  return absl::OkStatus();
}

int64_t Tap::ReadV(const iovec* iov, int count) const {
  ssize_t n = ::readv(fd_.get(), iov, count);
  return n < 0 ? -errno : n;
}

int64_t Tap::WriteV(const iovec* iov, int count) const {
  ssize_t n = ::writev(fd_.get(), iov, count);
  return n < 0 ? -errno : n;
}

}  // namespace skiff::io
