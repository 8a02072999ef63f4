// Test helpers for TAP tests that run in a private network namespace: run a
// body on a thread in a fresh namespace (so no host interface is touched),
// open a raw packet socket bound to an interface, build and recognise a
// test frame, and drop CAP_NET_ADMIN from the calling thread. Test-only (uses
// gtest assertions).
//
//   std::string skip = InFreshNetns([] {
//     auto tap = Tap::Open({.name = "skt0"});
//     UniqueFd sock = PacketSocket("skt0");
//     ...
//   });
//   if (!skip.empty()) GTEST_SKIP() << skip;
#ifndef SKIFF_IO_TESTING_NETNS_H_
#define SKIFF_IO_TESTING_NETNS_H_

#include <arpa/inet.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "base/unique_fd.h"
#include "gtest/gtest.h"

namespace skiff::io::testing {

// Runs `body` on a thread of its own in a fresh network namespace (network
// namespaces are per thread), so the test touches no host interface. Returns
// why it could not, or "".
inline std::string InFreshNetns(absl::FunctionRef<void()> body) {
  std::string skip;
  std::thread thread([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      skip = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      return;
    }
    body();
  });
  thread.join();
  return skip;
}

// A raw AF_PACKET socket bound to `ifname`, seeing every protocol.
inline UniqueFd PacketSocket(const std::string& ifname) {
  UniqueFd sock(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL)));
  EXPECT_TRUE(sock.valid()) << std::strerror(errno);
  sockaddr_ll addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  EXPECT_NE(addr.sll_ifindex, 0);
  EXPECT_EQ(bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0)
      << std::strerror(errno);
  return sock;
}

// A broadcast Ethernet frame from `src` with the local experimental
// EtherType, a fixed payload and `tag` after it, padded to the 60-byte
// minimum: easy to pick out of the IPv6 chatter a fresh interface carries.
inline constexpr uint16_t kTestEtherType = 0x88b5;  // IEEE local experimental
inline constexpr char kTestPayload[] = "skiff-test-frame";

inline std::vector<uint8_t> TestFrame(const std::array<uint8_t, 6>& src,
                                      uint8_t tag) {
  std::vector<uint8_t> frame(60, 0);
  std::memset(frame.data(), 0xff, 6);  // broadcast
  std::memcpy(frame.data() + 6, src.data(), 6);
  frame[12] = kTestEtherType >> 8;
  frame[13] = kTestEtherType & 0xff;
  std::memcpy(frame.data() + 14, kTestPayload, sizeof(kTestPayload));
  frame[14 + sizeof(kTestPayload)] = tag;
  return frame;
}

// Whether the `len` bytes at `frame` are TestFrame(_, tag).
inline bool IsTestFrame(const uint8_t* frame, size_t len, uint8_t tag) {
  return len >= 15 + sizeof(kTestPayload) &&
         frame[12] == (kTestEtherType >> 8) &&
         frame[13] == (kTestEtherType & 0xff) &&
         std::memcmp(frame + 14, kTestPayload, sizeof(kTestPayload)) == 0 &&
         frame[14 + sizeof(kTestPayload)] == tag;
}

// Drops CAP_NET_ADMIN from the effective set of the calling thread only
// (capabilities are per thread); run it inside InFreshNetns's body.
inline void DropCapNetAdmin() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2];
  ASSERT_EQ(syscall(SYS_capget, &header, data), 0);
  data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
  ASSERT_EQ(syscall(SYS_capset, &header, data), 0) << std::strerror(errno);
}

}  // namespace skiff::io::testing

#endif  // SKIFF_IO_TESTING_NETNS_H_
