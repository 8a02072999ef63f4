#include "devices/legacy/output_sink.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace skiff::devices {
namespace {

absl::Span<const uint8_t> AsBytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()),
                             s.size());
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST(BufferSink, Collects) {
  BufferSink sink;
  sink.Write(AsBytes("ab"));
  sink.Write(AsBytes("c"));
  EXPECT_EQ(sink.contents(), "abc");
  sink.Clear();
  EXPECT_EQ(sink.contents(), "");
}

TEST(FdSink, WritesEverythingToPipe) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  std::string text(10000, 'x');  // several chunks
  {
    FdSink sink{UniqueFd(fds[1])};
    // 10000 bytes fit in a default (64 KiB) pipe: nothing stalls.
    sink.Write(AsBytes(text));
    EXPECT_EQ(sink.dropped_bytes(), 0u);
  }  // closes the write end
  EXPECT_EQ(ReadAll(read_end.get()), text);
}

TEST(FdSink, FullPipeDropsInsteadOfBlocking) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  ASSERT_GT(::fcntl(write_end.get(), F_SETPIPE_SZ, 4096), 0);
  auto sink = FdSink::Borrow(write_end.get(), absl::Milliseconds(1));
  std::string big(64 * 1024, 'y');
  sink->Write(AsBytes(big));  // must return although nobody reads
  uint64_t dropped = sink->dropped_bytes();
  EXPECT_GT(dropped, 0u);
  // Stalled: the next write does not wait and is dropped whole.
  sink->Write(AsBytes("z"));
  EXPECT_EQ(sink->dropped_bytes(), dropped + 1);
  // Once the reader drains, output flows again.
  char buf[4096];
  ASSERT_GT(::read(read_end.get(), buf, sizeof(buf)), 0);
  sink->Write(AsBytes("w"));
  EXPECT_EQ(sink->dropped_bytes(), dropped + 1);
}

TEST(FdSink, ClosedReaderBreaksSink) {
  // EPIPE must surface as an error, not kill the test with SIGPIPE.
  struct sigaction ignore = {}, old = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old), 0);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  ::close(fds[0]);
  FdSink sink{UniqueFd(fds[1])};
  sink.Write(AsBytes("abc"));
  sink.Write(AsBytes("de"));
  EXPECT_EQ(sink.dropped_bytes(), 5u);
  ::sigaction(SIGPIPE, &old, nullptr);
}

TEST(FdSink, RegularFile) {
  char path[] = "/tmp/skiff_fdsink_XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  UniqueFd reader(::dup(fd));
  {
    FdSink sink{UniqueFd(fd)};
    sink.Write(AsBytes("hello "));
    sink.Write(AsBytes("file"));
    EXPECT_EQ(sink.dropped_bytes(), 0u);
  }
  ASSERT_EQ(::lseek(reader.get(), 0, SEEK_SET), 0);
  EXPECT_EQ(ReadAll(reader.get()), "hello file");
}

TEST(NullSink, Discards) {
  NullSink sink;
  sink.Write(AsBytes("anything"));
}

}  // namespace
}  // namespace skiff::devices
