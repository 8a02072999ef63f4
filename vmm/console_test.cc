#include "vmm/console.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace skiff {
namespace {

class NoStop : public devices::MachineControl {
 public:
  void RequestStop(devices::StopReason, int) override {}
};

std::string TempPath(const std::string& name) {
  std::string path =
      absl::StrCat(::testing::TempDir(), "/console-", getpid(), "-", name);
  std::remove(path.c_str());
  return path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Write(devices::OutputSink& sink, const std::string& s) {
  sink.Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()),
                                 s.size()));
}

sockaddr_un Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

int Connect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = Address(path);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads until `want` bytes arrived or the peer closed (blocking reads).
std::string ReadBytes(int fd, size_t want) {
  std::string got;
  while (got.size() < want) {
    char buf[256];
    ssize_t n = read(fd, buf, std::min(sizeof(buf), want - got.size()));
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// The console thread forwards input asynchronously: wait for it (no timing
// assertion, the bound only keeps a broken build from hanging).
bool WaitForInput(const devices::Serial8250& serial, size_t bytes) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (serial.queued_input() < bytes) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

TEST(Console, FileIsTruncatedLikeQemu) {
  const std::string path = TempPath("file");
  { std::ofstream(path) << "an older boot's log\n"; }
  auto console = Console::Create({SerialConfig::Mode::kFile, path}, 1, 0);
  ASSERT_TRUE(console.ok()) << console.status();
  Write(*(*console)->sink(), "boot\n");
  console->reset();
  EXPECT_EQ(ReadFile(path), "boot\n");
  std::remove(path.c_str());
}

// Started, output goes out from the console's own thread: Flush waits for
// it, and Stop writes what still waits.
TEST(Console, OutputThreadWritesEverythingInOrder) {
  const std::string path = TempPath("async");
  auto console = Console::Create({SerialConfig::Mode::kFile, path}, 1, 0);
  ASSERT_TRUE(console.ok()) << console.status();
  (*console)->StartOutput();
  std::string want;
  for (int k = 0; k < 2000; ++k) {
    const std::string line = absl::StrCat(k, "\n");
    for (char c : line) Write(*(*console)->sink(), std::string(1, c));
    want += line;
  }
  (*console)->Flush();
  EXPECT_EQ(ReadFile(path), want);
  Write(*(*console)->sink(), "last");
  (*console)->Stop();
  EXPECT_EQ(ReadFile(path), want + "last");
  std::remove(path.c_str());
}

TEST(Console, FifoDoesNotWaitForAReader) {
  const std::string path = TempPath("fifo");
  ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
  // Create would block forever here if it opened the FIFO write-only.
  auto console = Console::Create({SerialConfig::Mode::kFile, path}, 1, 0);
  ASSERT_TRUE(console.ok()) << console.status();
  Write(*(*console)->sink(), "before ");
  int reader = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  Write(*(*console)->sink(), "after");
  EXPECT_EQ(ReadBytes(reader, 12), "before after");
  // A reader leaving is no error for later output.
  close(reader);
  Write(*(*console)->sink(), "more");
  console->reset();
  std::remove(path.c_str());
}

TEST(Console, FileOnAUnixSocketConnectsToIt) {
  const std::string path = TempPath("collector");
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = Address(path);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  ASSERT_EQ(listen(listener, 1), 0);
  auto console = Console::Create({SerialConfig::Mode::kFile, path}, 1, 0);
  ASSERT_TRUE(console.ok()) << console.status();
  int peer = accept(listener, nullptr, nullptr);
  ASSERT_GE(peer, 0);
  Write(*(*console)->sink(), "to the collector");
  EXPECT_EQ(ReadBytes(peer, 16), "to the collector");
  console->reset();
  close(peer);
  close(listener);
  std::remove(path.c_str());
}

TEST(Console, SocketServesOneClientAtATimeBothWays) {
  const std::string path = TempPath("sock");
  auto console = Console::Create({SerialConfig::Mode::kSocket, path}, 1, 0);
  ASSERT_TRUE(console.ok()) << console.status();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  devices::Serial8250 serial(nullptr, (*console)->sink());
  NoStop control;
  Write(*(*console)->sink(), "nobody hears this");  // dropped: no client
  ASSERT_TRUE((*console)->StartInput(serial, control).ok());

  int first = Connect(path);
  ASSERT_GE(first, 0);
  // A second client is accepted by the kernel into the backlog but not
  // served until the first leaves.
  int second = Connect(path);
  ASSERT_GE(second, 0);
  ASSERT_EQ(write(first, "ls\n", 3), 3);
  // Once its input arrived the first client is attached.
  ASSERT_TRUE(WaitForInput(serial, 3));
  Write(*(*console)->sink(), "first");
  EXPECT_EQ(ReadBytes(first, 5), "first");
  pollfd pfd = {second, POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0);  // nothing for the waiting client
  ASSERT_EQ(write(second, "x", 1), 1);

  close(first);
  // The second client's byte arrives once it is served.
  ASSERT_TRUE(WaitForInput(serial, 4));
  Write(*(*console)->sink(), "second");
  EXPECT_EQ(ReadBytes(second, 6), "second");

  console->reset();  // stops the thread and removes the socket file
  EXPECT_EQ(ReadBytes(second, 1), "");  // closed
  close(second);
  EXPECT_NE(stat(path.c_str(), &st), 0);
}

TEST(Console, SocketRefusesAPathThatIsNotASocketAndReplacesAStaleOne) {
  const std::string path = TempPath("busy");
  { std::ofstream(path) << "a file"; }
  auto console = Console::Create({SerialConfig::Mode::kSocket, path}, 1, 0);
  EXPECT_FALSE(console.ok());
  EXPECT_EQ(ReadFile(path), "a file");
  std::remove(path.c_str());

  // A socket file nobody listens on, as a killed skiff leaves it.
  int stale = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = Address(path);
  ASSERT_EQ(bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(stale);
  console = Console::Create({SerialConfig::Mode::kSocket, path}, 1, 0);
  ASSERT_TRUE(console.ok()) << console.status();
  // And a second console on a served path is refused.
  EXPECT_FALSE(Console::Create({SerialConfig::Mode::kSocket, path}, 1, 0).ok());
  console->reset();
}

}  // namespace
}  // namespace skiff
