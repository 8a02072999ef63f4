// The Firecracker-compatible control plane end to end, under tcg with the
// default microVM (scripts/prepare-guest): Firecracker's getting-started
// curl sequence over `skiff fc --api-sock`, API errors as curl sees them,
// pause/resume, a --config-file boot, SIGTERM's Ctrl-Alt-Del stop, systemd
// readiness through a fake NOTIFY_SOCKET, and `skiff run --api-socket`.
// Skips with the reason when the guest images or curl are missing.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/subprocess.h"
#include "tests/linux/linux_guest.h"

namespace skiff::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct CurlResult {
  int http_status = 0;
  std::string body;
};

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FileExists(GuestDir() + "/vmlinux") ||
        !FileExists(GuestDir() + "/initramfs.cpio")) {
      GTEST_SKIP() << "no default guest in " << GuestDir()
                   << " (scripts/setup or scripts/prepare-guest builds it)";
    }
    if (!FileExists("/usr/bin/curl")) GTEST_SKIP() << "no /usr/bin/curl";
    char tmpl[] = "/tmp/skiff-api-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    sock_ = dir_ + "/api.sock";
  }
  void TearDown() override {
    if (!dir_.empty()) {
      RunProcess({"/bin/rm", "-rf", dir_}, absl::Seconds(10));
    }
  }

  // curl --unix-socket: the tool Firecracker's getting-started guide uses.
  CurlResult Curl(const std::string& method, const std::string& path,
                  const std::string& body = "") {
    std::vector<std::string> argv = {"/usr/bin/curl",
                                     "-s",
                                     "--max-time",
                                     "60",
                                     "--unix-socket",
                                     sock_,
                                     "-X",
                                     method,
                                     absl::StrCat("http://localhost", path),
                                     "-H",
                                     "Accept: application/json",
                                     "-w",
                                     "\n%{http_code}"};
    if (!body.empty()) {
      argv.insert(argv.end(),
                  {"-H", "Content-Type: application/json", "-d", body});
    }
    ProcessResult r = RunProcess(argv, absl::Seconds(90));
    CurlResult c;
    size_t nl = r.out.rfind('\n');
    if (nl == std::string::npos) return c;
    c.body = r.out.substr(0, nl);
    c.http_status = std::atoi(r.out.c_str() + nl + 1);
    return c;
  }

  bool WaitForSocket() {
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      if (FileExists(sock_)) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  std::string BootSourceJson(const std::string& knobs) const {
    return absl::StrCat(R"({"kernel_image_path": ")", GuestDir(),
                        R"(/vmlinux", "initrd_path": ")", GuestDir(),
                        R"(/initramfs.cpio", "boot_args": ")", kBaseCmdline,
                        " ", knobs, R"("})");
  }

  // A Firecracker --config-file for the default guest.
  std::string WriteConfigFile(const std::string& knobs) const {
    const std::string path = dir_ + "/vm.json";
    std::ofstream(path) << absl::StrCat(
        R"({"boot-source": )", BootSourceJson(knobs),
        R"(, "machine-config": {"vcpu_count": 1, "mem_size_mib": 256}})");
    return path;
  }

  std::vector<std::string> Fc(std::vector<std::string> extra) const {
    std::vector<std::string> argv = {SKIFF_BIN, "fc", "--accel", "tcg"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // An image of `size` bytes of `fill` in the test directory.
  std::string WriteImage(const std::string& name, size_t size,
                         char fill) const {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << std::string(size, fill);
    return path;
  }

  static std::string DriveJson(const std::string& id, const std::string& path,
                               bool with_root_flags = true) {
    if (!with_root_flags) {
      return absl::StrCat(R"({"drive_id": ")", id, R"(", "path_on_host": ")",
                          path, R"("})");
    }
    return absl::StrCat(
        R"({"drive_id": ")", id, R"(", "path_on_host": ")", path,
        R"(", "is_root_device": false, "is_read_only": false})");
  }

  // Prints the disk's size in sectors and its first 8 bytes.
  static constexpr char kShowDisk[] =
      "echo disk=$(cat /sys/block/vda/size):$(head -c 8 /dev/vda)\n";
  // Waits (up to 10 s in the guest) for /dev/vda to have `sectors`, then
  // expects its first 8 bytes to be `head`.
  static void ExpectGuestDisk(Subprocess& p, int sectors,
                              const std::string& head) {
    const size_t mark = p.out().size();
    p.Write(
        absl::StrCat("for i in 1 2 3 4 5 6 7 8 9 10; do [ $(cat "
                     "/sys/block/vda/size) = ",
                     sectors, " ] && break; sleep 1; done\n"));
    p.Write(kShowDisk);
    EXPECT_TRUE(p.WaitForOutput(absl::StrCat("disk=", sectors, ":", head),
                                absl::Seconds(60), mark))
        << p.out();
  }

  // Starts `skiff fc` on the API socket with the default guest and `image`
  // as the read-write drive "data" (vda), sends InstanceStart and waits for
  // the guest's shell.
  void BootWithDataDrive(Subprocess& p, const std::string& image) {
    ASSERT_TRUE(p.Start(Fc({"--api-sock", sock_})).ok());
    ASSERT_TRUE(WaitForSocket()) << p.err();
    ASSERT_EQ(Curl("PUT", "/boot-source", BootSourceJson("")).http_status, 204);
    ASSERT_EQ(Curl("PUT", "/drives/data", DriveJson("data", image)).http_status,
              204);
    ASSERT_EQ(Curl("PUT", "/actions", R"({"action_type": "InstanceStart"})")
                  .http_status,
              204);
    ASSERT_TRUE(p.WaitForOutput("skiff# ", kBootTimeout)) << p.out() << p.err();
  }

  std::string dir_;
  std::string sock_;
};

TEST_F(ApiTest, GettingStartedCurlSequenceBootsTheMicroVm) {
  Subprocess p;
  ASSERT_TRUE(p.Start(Fc({"--api-sock", sock_})).ok());
  ASSERT_TRUE(WaitForSocket()) << p.err();
  struct stat st;
  ASSERT_EQ(::stat(sock_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  CurlResult r = Curl("GET", "/");
  EXPECT_EQ(r.http_status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("state":"Not started")"));
  EXPECT_EQ(Curl("PUT", "/boot-source",
                 BootSourceJson("skiff.check=boot skiff.exit=poweroff"))
                .http_status,
            204);
  EXPECT_EQ(Curl("PUT", "/machine-config",
                 R"({"vcpu_count": 1, "mem_size_mib": 256})")
                .http_status,
            204);
  r = Curl("PUT", "/actions", R"({"action_type": "InstanceStart"})");
  EXPECT_EQ(r.http_status, 204) << r.body;
  ProcessResult done = p.Wait(kBootTimeout);
  EXPECT_FALSE(done.timed_out);
  EXPECT_THAT(done.out, HasSubstr("skiff-init: ready"));
  EXPECT_THAT(done.out, HasSubstr("skiff-init: check boot status 0"));
  EXPECT_EQ(done.exit_status, 0) << done.out << done.err;
  EXPECT_FALSE(FileExists(sock_)) << "the socket outlived the process";
}

TEST_F(ApiTest, BadRequestsGet400WithAFaultMessage) {
  Subprocess p;
  ASSERT_TRUE(p.Start(Fc({"--api-sock", sock_})).ok());
  ASSERT_TRUE(WaitForSocket()) << p.err();

  CurlResult r = Curl("PUT", "/actions", R"({"action_type": "InstanceStart"})");
  EXPECT_EQ(r.http_status, 400);  // no boot source yet
  EXPECT_THAT(r.body, HasSubstr("fault_message"));
  r = Curl("PUT", "/boot-source", R"({"kernel_image_path": )");
  EXPECT_EQ(r.http_status, 400);
  EXPECT_THAT(r.body, HasSubstr("fault_message"));
  r = Curl("PUT", "/machine-config", R"({"vcpu_count": 0, "mem_size_mib": 1})");
  EXPECT_EQ(r.http_status, 400);
  EXPECT_THAT(r.body, HasSubstr("fault_message"));
  r = Curl("PATCH", "/vm", R"({"state": "Paused"})");
  EXPECT_EQ(r.http_status, 400);  // nothing runs
  EXPECT_THAT(r.body, HasSubstr("fault_message"));
  // A kernel that does not exist: InstanceStart fails, the API stays usable.
  EXPECT_EQ(Curl("PUT", "/boot-source",
                 R"({"kernel_image_path": "/nonexistent/vmlinux"})")
                .http_status,
            204);
  r = Curl("PUT", "/actions", R"({"action_type": "InstanceStart"})");
  EXPECT_EQ(r.http_status, 400);
  EXPECT_THAT(r.body, HasSubstr("nonexistent"));
  EXPECT_EQ(Curl("GET", "/").http_status, 200);

  p.Kill(SIGINT);
  ProcessResult done = p.Wait(absl::Seconds(30));
  EXPECT_EQ(done.exit_status, 0) << done.err;
}

TEST_F(ApiTest, PausedGuestAnswersAfterResume) {
  Subprocess p;
  ASSERT_NO_FATAL_FAILURE(
      BootWithDataDrive(p, WriteImage("data.img", 4 << 20, 'C')));
  // Disk reads in flight while the VM pauses: Pause waits for them, and
  // the disk keeps working after Resume.
  size_t mark = p.out().size();
  p.Write("(while :; do cat /dev/vda >/dev/null; done) & echo reader=on\n");
  ASSERT_TRUE(p.WaitForOutput("reader=on", absl::Seconds(60), mark));

  CurlResult r = Curl("PATCH", "/vm", R"({"state": "Paused"})");
  ASSERT_EQ(r.http_status, 204) << r.body;
  EXPECT_THAT(Curl("GET", "/").body, HasSubstr(R"("state":"Paused")"));
  // Typed while paused: the UART holds it until the vCPU runs again.
  mark = p.out().size();
  p.Write("echo answer=$((6*7))\n");
  r = Curl("PATCH", "/vm", R"({"state": "Resumed"})");
  ASSERT_EQ(r.http_status, 204) << r.body;
  EXPECT_THAT(Curl("GET", "/").body, HasSubstr(R"("state":"Running")"));
  EXPECT_TRUE(p.WaitForOutput("answer=42", absl::Seconds(60), mark)) << p.out();
  mark = p.out().size();
  p.Write("kill $!; echo disk=$(head -c 8 /dev/vda)\n");
  EXPECT_TRUE(p.WaitForOutput("disk=CCCCCCCC", absl::Seconds(60), mark))
      << p.out();

  // Ctrl-Alt-Del through the API: Linux's keyboard driver reboots.
  r = Curl("PUT", "/actions", R"({"action_type": "SendCtrlAltDel"})");
  EXPECT_EQ(r.http_status, 204) << r.body;
  ProcessResult done = p.Wait(absl::Seconds(60));
  EXPECT_FALSE(done.timed_out);
  EXPECT_THAT(done.out, HasSubstr("reboot: Restarting system"));
  EXPECT_EQ(done.exit_status, 0) << done.out << done.err;
}

TEST_F(ApiTest, PatchDrivePathAfterBootSwapsTheBackingFile) {
  const std::string first = WriteImage("first.img", 1 << 20, 'A');
  const std::string second = WriteImage("second.img", 2 << 20, 'B');
  Subprocess p;
  ASSERT_NO_FATAL_FAILURE(BootWithDataDrive(p, first));
  ExpectGuestDisk(p, 2048, "AAAAAAAA");

  // A file that cannot be opened: 400 naming it, the drive keeps its file.
  CurlResult r = Curl("PATCH", "/drives/data",
                      DriveJson("data", dir_ + "/missing.img", false));
  EXPECT_EQ(r.http_status, 400);
  EXPECT_THAT(r.body, HasSubstr("missing.img"));

  r = Curl("PATCH", "/drives/data", DriveJson("data", second, false));
  ASSERT_EQ(r.http_status, 204) << r.body;
  // The configuration-change interrupt makes virtio_blk re-read the
  // capacity; the next open of /dev/vda reads the new file.
  ExpectGuestDisk(p, 4096, "BBBBBBBB");
  // The same path again: a cheap re-read of its size.
  r = Curl("PATCH", "/drives/data", DriveJson("data", second, false));
  EXPECT_EQ(r.http_status, 204) << r.body;
  // Back to the first file: the old one was closed and unlocked.
  r = Curl("PATCH", "/drives/data", DriveJson("data", first, false));
  EXPECT_EQ(r.http_status, 204) << r.body;
  ExpectGuestDisk(p, 2048, "AAAAAAAA");
  // Another file moved to the same path: reopened, not just re-sized.
  const std::string third = WriteImage("third.img", 3 << 20, 'C');
  ASSERT_EQ(::rename(third.c_str(), first.c_str()), 0);
  r = Curl("PATCH", "/drives/data", DriveJson("data", first, false));
  EXPECT_EQ(r.http_status, 204) << r.body;
  ExpectGuestDisk(p, 6144, "CCCCCCCC");

  r = Curl("PUT", "/actions", R"({"action_type": "SendCtrlAltDel"})");
  EXPECT_EQ(r.http_status, 204) << r.body;
  ProcessResult done = p.Wait(absl::Seconds(60));
  EXPECT_FALSE(done.timed_out);
  EXPECT_EQ(done.exit_status, 0) << done.out << done.err;
}

TEST_F(ApiTest, ConfigFileBootsWithoutTheApi) {
  ProcessResult r =
      RunProcess(Fc({"--no-api", "--config-file",
                     WriteConfigFile("skiff.check=boot skiff.exit=poweroff")}),
                 kBootTimeout);
  EXPECT_FALSE(r.timed_out);
  EXPECT_THAT(r.out, HasSubstr("skiff-init: check boot status 0"));
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
}

TEST_F(ApiTest, BadConfigFileExits2) {
  const std::string path = dir_ + "/bad.json";
  std::ofstream(path) << R"({"boot-source": {"kernel_image_path": 7}})";
  ProcessResult r =
      RunProcess(Fc({"--no-api", "--config-file", path}), absl::Seconds(30));
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("kernel_image_path"));
}

TEST_F(ApiTest, SigtermSendsCtrlAltDelAndExitsZero) {
  Subprocess p;
  ASSERT_TRUE(p.Start(Fc({"--no-api", "--config-file", WriteConfigFile(""),
                          "--shutdown-timeout", "60", "--log-level", "info"}))
                  .ok());
  ASSERT_TRUE(p.WaitForOutput("skiff# ", kBootTimeout)) << p.out() << p.err();
  p.Kill(SIGTERM);
  ProcessResult done = p.Wait(absl::Seconds(90));
  EXPECT_FALSE(done.timed_out);
  EXPECT_THAT(done.err, HasSubstr("sent Ctrl-Alt-Del"));
  EXPECT_THAT(done.err, Not(HasSubstr("did not stop within")));
  // The guest reset itself (reboot=k), not the timeout.
  EXPECT_THAT(done.out, HasSubstr("reboot: Restarting system"));
  EXPECT_EQ(done.exit_status, 0) << done.out << done.err;
}

TEST_F(ApiTest, NotifiesReadyAndStoppingToNotifySocket) {
  const std::string notify_path = dir_ + "/notify";
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(notify_path.size(), sizeof(addr.sun_path));
  notify_path.copy(addr.sun_path, notify_path.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);

  ::setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
  ProcessResult r =
      RunProcess(Fc({"--no-api", "--config-file",
                     WriteConfigFile("skiff.check=boot skiff.exit=poweroff")}),
                 kBootTimeout);
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;

  std::string messages;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n <= 0) break;
    absl::StrAppend(&messages, std::string(buf, static_cast<size_t>(n)), "|");
  }
  ::close(fd);
  EXPECT_THAT(messages, HasSubstr("READY=1"));
  EXPECT_THAT(messages, HasSubstr("STOPPING=1"));
  EXPECT_LT(messages.find("READY=1"), messages.find("STOPPING=1")) << messages;
}

TEST_F(ApiTest, RunServesTheApiForItsVm) {
  Subprocess p;
  ASSERT_TRUE(p.Start({SKIFF_BIN, "run", "--accel", "tcg", "--memory", "256M",
                       "--kernel", GuestDir() + "/vmlinux", "--initrd",
                       GuestDir() + "/initramfs.cpio", "--cmdline",
                       kBaseCmdline, "--api-socket", sock_})
                  .ok());
  ASSERT_TRUE(p.WaitForOutput("skiff# ", kBootTimeout)) << p.out() << p.err();
  CurlResult r = Curl("GET", "/");
  EXPECT_EQ(r.http_status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("state":"Running")"));
  r = Curl("PUT", "/boot-source", BootSourceJson(""));
  EXPECT_EQ(r.http_status, 400);  // pre-boot only
  EXPECT_THAT(r.body, HasSubstr("fault_message"));
  r = Curl("PUT", "/actions", R"({"action_type": "SendCtrlAltDel"})");
  EXPECT_EQ(r.http_status, 204) << r.body;
  ProcessResult done = p.Wait(absl::Seconds(60));
  EXPECT_FALSE(done.timed_out);
  EXPECT_EQ(done.exit_status, 0) << done.out << done.err;
}

}  // namespace
}  // namespace skiff::testing
