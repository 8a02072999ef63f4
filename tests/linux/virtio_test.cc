// Linux end to end with virtio devices: the default microVM booted by the
// real `skiff run` with --disk and --rng, checked from inside the guest
// against the host's view of the same files.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/subprocess.h"
#include "tests/linux/linux_guest.h"

namespace skiff::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A file under the test's temporary directory, removed at the end.
class TempImage {
 public:
  TempImage(const std::string& name, size_t size, uint32_t seed)
      : path_(absl::StrCat(::testing::TempDir(), "/", name, ".", getpid())) {
    std::mt19937 rng(seed);
    std::string data(size, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    std::ofstream(path_, std::ios::binary) << data;
  }
  ~TempImage() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::string Read() const {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
};

std::string HostSha256(const std::string& path) {
  ProcessResult r = RunProcess({"/usr/bin/sha256sum", path}, absl::Seconds(30));
  return r.out.substr(0, 64);
}

class VirtioLinuxTest : public LinuxGuestTest {
 protected:
  // Moves this test process into a network namespace of its own with a
  // TAP named `tap` at 10.0.2.1/24, which the guest (10.0.2.2) reaches
  // through virtio-net. Skips the test, saying why, when it cannot; the
  // caller returns when IsSkipped().
  void EnterNamespaceWithTap(const std::string& tap) {
    if (::unshare(CLONE_NEWNET) != 0) {
      GTEST_SKIP() << "cannot create a network namespace (unshare: "
                   << std::strerror(errno) << "); needs CAP_SYS_ADMIN";
    }
    ProcessResult setup =
        RunProcess({"/bin/sh", "-c",
                    absl::StrCat("ip link set lo up && ip tuntap add dev ", tap,
                                 " mode tap && ip addr add 10.0.2.1/24 dev ",
                                 tap, " && ip link set ", tap, " up")},
                   absl::Seconds(30));
    if (setup.exit_status != 0) {
      GTEST_SKIP() << "cannot set up a TAP in the test's namespace: "
                   << setup.err;
    }
  }
};

TEST_P(VirtioLinuxTest, GuestChecksumOfADiskEqualsTheHosts) {
  TempImage disk("disk", 6 << 20, 1);
  // Both ways the guest may find the device: the ACPI DSDT (default) and
  // virtio_mmio.device= on the command line (added with acpi=off; such a
  // guest cannot power off through ACPI, so it reboots).
  for (const char* acpi : {"", "acpi=off skiff.exit=reboot"}) {
    ProcessResult r =
        Boot(absl::StrCat(acpi, " ", GuestScript("sha256sum /dev/vda")),
             {"--disk", absl::StrCat("path=", disk.path(), ",id=data0")});
    EXPECT_THAT(r.out,
                HasSubstr(absl::StrCat(HostSha256(disk.path()), "  /dev/vda")))
        << acpi << "\n"
        << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("check cmd64 status 0"));
    EXPECT_EQ(r.exit_status, 0);
  }
}

TEST_P(VirtioLinuxTest, GuestWritesLandInTheHostFile) {
  TempImage disk("rw", 4 << 20, 2);
  TempImage direct("direct", 4 << 20, 3);
  // Pattern at 1 MiB on each disk; the serial number is the --disk id.
  ProcessResult r = Boot(
      GuestScript("cat /sys/block/vda/serial; echo;"
                  "for d in vda vdb; do"
                  "  printf 'skiff-%s-was-here' $d |"
                  "    dd of=/dev/$d bs=512 seek=2048 conv=fsync 2>/dev/null"
                  "    || exit 1;"
                  "done; echo written"),
      {"--disk", absl::StrCat("path=", disk.path(), ",id=serial-abc"), "--disk",
       absl::StrCat("path=", direct.path(), ",direct=on")});
  EXPECT_THAT(r.out, HasSubstr("serial-abc"));
  EXPECT_THAT(r.out, HasSubstr("check cmd64 status 0")) << r.out << r.err;
  EXPECT_EQ(disk.Read().substr(1 << 20, 18), "skiff-vda-was-here");
  EXPECT_EQ(direct.Read().substr(1 << 20, 18), "skiff-vdb-was-here");
}

TEST_P(VirtioLinuxTest, ReadOnlyDiskRefusesWritesAndStaysUnchanged) {
  TempImage disk("ro", 2 << 20, 4);
  const std::string before = HostSha256(disk.path());
  ProcessResult r =
      Boot(GuestScript("cat /sys/block/vda/ro;"
                       "if echo x | dd of=/dev/vda conv=fsync 2>/dev/null;"
                       "then echo write-accepted; else echo write-refused; fi"),
           {"--disk", absl::StrCat("path=", disk.path(), ",readonly=on")});
  EXPECT_THAT(r.out, HasSubstr("write-refused")) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("write-accepted")));
  EXPECT_EQ(HostSha256(disk.path()), before);
}

TEST_P(VirtioLinuxTest, DataSurvivesKillRightAfterTheGuestsFsync) {
  TempImage disk("durable", 4 << 20, 5);
  Subprocess p;
  ASSERT_TRUE(
      p.Start(Argv(absl::StrCat(
                       kBaseCmdline, " ",
                       GuestScript("head -c 65536 /dev/zero | tr '\\0' D |"
                                   " dd of=/dev/vda bs=65536 seek=16"
                                   " conv=fsync 2>/dev/null &&"
                                   " echo fsync-returned; sleep 600")),
                   {"--disk", absl::StrCat("path=", disk.path())}))
          .ok());
  ASSERT_TRUE(p.WaitForOutput("fsync-returned", kBootTimeout))
      << p.out() << p.err();
  p.Kill(SIGKILL);
  ProcessResult r = p.Wait(absl::Seconds(30));
  EXPECT_EQ(r.term_signal, SIGKILL);
  EXPECT_EQ(disk.Read().substr(1 << 20, 65536), std::string(65536, 'D'));
}

TEST_P(VirtioLinuxTest, RngFeedsTheGuestsHwrng) {
  ProcessResult r = Boot(
      GuestScript("cat /sys/class/misc/hw_random/rng_current;"
                  "n=$(dd if=/dev/hwrng bs=64 count=4 2>/dev/null | wc -c);"
                  "echo hwrng-bytes=$n; [ $n = 256 ]"),
      {"--rng"});
  EXPECT_THAT(r.out, HasSubstr("virtio_rng")) << r.out;
  EXPECT_THAT(r.out, HasSubstr("hwrng-bytes=256"));
  EXPECT_THAT(r.out, HasSubstr("check cmd64 status 0"));
}

// A Unix stream socket connected to `path`, or -1.
int ConnectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until EOF or `deadline`.
std::string ReadAll(int fd, absl::Time deadline) {
  std::string out;
  char buf[4096];
  while (absl::Now() < deadline) {
    pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, n);
  }
  return out;
}

TEST_P(VirtioLinuxTest, VsockCarriesDataBothWays) {
  const std::string uds =
      absl::StrCat(::testing::TempDir(), "/vsock.", getpid());
  // The host listener a guest connection to CID 2 port 6000 reaches.
  const std::string guest_port = uds + "_6000";
  ::unlink(guest_port.c_str());
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", guest_port.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  ASSERT_EQ(::listen(listener, 1), 0);

  Subprocess p;
  ASSERT_TRUE(
      p.Start(
           Argv(absl::StrCat(kBaseCmdline, " skiff.exit=poweroff ",
                             GuestScript("skiff-vsock listen 5000 1 > /tmp/in &"
                                         " l=$!; echo vsock-listening; wait $l;"
                                         " echo guest-got=$(cat /tmp/in);"
                                         " echo hello-from-guest |"
                                         " skiff-vsock connect 2 6000")),
                {"--vsock", absl::StrCat("cid=7,uds=", uds)}))
          .ok());
  ASSERT_TRUE(p.WaitForOutput("vsock-listening", kBootTimeout))
      << p.out() << p.err();

  // Host to guest: CONNECT until the guest's listener is up.
  std::string reply;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && reply.rfind("OK ", 0) != 0;
       ++attempt) {
    if (fd >= 0) ::close(fd);
    fd = ConnectUnix(uds);
    ASSERT_GE(fd, 0) << "connect " << uds;
    const std::string connect = "CONNECT 5000\n";
    ASSERT_EQ(::write(fd, connect.data(), connect.size()),
              static_cast<ssize_t>(connect.size()));
    char buf[64] = {};
    pollfd pfd = {fd, POLLIN, 0};
    if (::poll(&pfd, 1, 10000) == 1) {
      ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
      reply.assign(buf, n > 0 ? n : 0);
    }
    if (reply.rfind("OK ", 0) != 0) ::usleep(200 * 1000);
  }
  ASSERT_EQ(reply.rfind("OK ", 0), 0u) << reply << p.out();
  const std::string hello = "hello-from-host";
  ASSERT_EQ(::write(fd, hello.data(), hello.size()),
            static_cast<ssize_t>(hello.size()));
  ::shutdown(fd, SHUT_WR);
  EXPECT_TRUE(p.WaitForOutput("guest-got=hello-from-host", kBootTimeout))
      << p.out();
  ::close(fd);

  // Guest to host: the guest connects to CID 2 port 6000.
  pollfd lp = {listener, POLLIN, 0};
  ASSERT_EQ(::poll(&lp, 1, 60000), 1) << p.out();
  int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0);
  EXPECT_EQ(ReadAll(conn, absl::Now() + absl::Seconds(60)),
            "hello-from-guest\n");
  ::close(conn);
  ProcessResult r = p.Wait(kBootTimeout);
  EXPECT_THAT(r.out, HasSubstr("check cmd64 status 0"));
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  ::close(listener);
  ::unlink(guest_port.c_str());
}

TEST_P(VirtioLinuxTest, NetworkPingAndTcpThroughATap) {
  EnterNamespaceWithTap("sktap0");
  if (IsSkipped()) return;
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(7000);
  addr.sin_addr.s_addr = htonl(0x0a000201);  // 10.0.2.1
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0)
      << std::strerror(errno);
  ASSERT_EQ(::listen(listener, 1), 0);

  Subprocess p;
  ASSERT_TRUE(
      p.Start(Argv(absl::StrCat(
                       kBaseCmdline, " skiff.exit=poweroff ",
                       GuestScript(
                           "ip link set eth0 up &&"
                           " ip addr add 10.0.2.2/24 dev eth0 &&"
                           " cat /sys/class/net/eth0/address &&"
                           " ping -c 2 -W 10 10.0.2.1 && echo guest-ping-ok &&"
                           " dd if=/dev/zero bs=1024 count=1024 2>/dev/null |"
                           " nc 10.0.2.1 7000; echo net-done")),
                   {"--net", "tap=sktap0,mac=02:00:00:00:00:2a"}))
          .ok());
  ASSERT_TRUE(p.WaitForOutput("guest-ping-ok", kBootTimeout))
      << p.out() << p.err();
  EXPECT_THAT(p.out(), HasSubstr("02:00:00:00:00:2a"));

  // Host to guest.
  ProcessResult ping = RunProcess(
      {"/bin/ping", "-c", "2", "-W", "10", "10.0.2.2"}, absl::Seconds(60));
  EXPECT_EQ(ping.exit_status, 0) << ping.out << ping.err;

  // 1 MiB over TCP from the guest.
  pollfd lp = {listener, POLLIN, 0};
  ASSERT_EQ(::poll(&lp, 1, 60000), 1) << p.out();
  int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(conn, 0);
  size_t received = 0;
  bool all_zero = true;
  char buf[65536];
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (received < (1u << 20) && absl::Now() < deadline) {
    pollfd cp = {conn, POLLIN, 0};
    if (::poll(&cp, 1, 100) <= 0) continue;
    ssize_t n = ::read(conn, buf, sizeof(buf));
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) all_zero &= buf[i] == 0;
    received += n;
  }
  EXPECT_EQ(received, 1u << 20);
  EXPECT_TRUE(all_zero);
  ::close(conn);
  ::close(listener);
  EXPECT_TRUE(p.WaitForOutput("net-done", kBootTimeout)) << p.out();
  ProcessResult r = p.Wait(kBootTimeout);
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
}

TEST_P(VirtioLinuxTest, NetworkWorksAfterPauseAndResume) {
  EnterNamespaceWithTap("sktap1");
  if (IsSkipped()) return;
  if (!FileExists("/usr/bin/curl")) GTEST_SKIP() << "no /usr/bin/curl";
  char tmpl[] = "/tmp/skiff-pause-net.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string sock = std::string(tmpl) + "/api.sock";
  auto patch_vm = [&](const std::string& state) {
    return RunProcess(
               {"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                "--unix-socket", sock, "-X", "PATCH", "http://localhost/vm",
                "-d", absl::StrCat(R"({"state": ")", state, R"("})")},
               absl::Seconds(60))
        .out;
  };
  auto ping_guest = [] {
    return RunProcess({"/bin/ping", "-c", "2", "-W", "10", "10.0.2.2"},
                      absl::Seconds(60))
        .exit_status;
  };

  Subprocess p;
  ASSERT_TRUE(
      p.Start(Argv(absl::StrCat(kBaseCmdline, " skiff.exit=poweroff ",
                                GuestScript("ip link set eth0 up &&"
                                            " ip addr add 10.0.2.2/24 dev eth0"
                                            " && echo net-up && sleep 600")),
                   {"--net", "tap=sktap1", "--api-socket", sock}))
          .ok());
  ASSERT_TRUE(p.WaitForOutput("net-up", kBootTimeout)) << p.out() << p.err();
  EXPECT_EQ(ping_guest(), 0);

  ASSERT_EQ(patch_vm("Paused"), "204");
  // Frames sent while paused wait in the TAP (or are lost); either way
  // nothing is written into guest memory until the resume.
  RunProcess({"/bin/ping", "-c", "2", "-i", "0.2", "-W", "1", "10.0.2.2"},
             absl::Seconds(30));
  ASSERT_EQ(patch_vm("Resumed"), "204");
  EXPECT_EQ(ping_guest(), 0) << p.out();

  p.Kill(SIGINT);
  ProcessResult r = p.Wait(absl::Seconds(60));
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  RunProcess({"/bin/rm", "-rf", tmpl}, absl::Seconds(10));
}

TEST_P(VirtioLinuxTest, MissingDiskIsOneClearError) {
  ProcessResult r = RunProcess(
      Argv(kBaseCmdline, {"--disk", "path=/nonexistent/disk.img,id=root"}),
      absl::Seconds(30));
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--disk id=root"));
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/disk.img"));
}

INSTANTIATE_TEST_SUITE_P(Accel, VirtioLinuxTest,
                         ::testing::Values("tcg", "kvm"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace skiff::testing
