#include "devices/legacy/output_sink.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
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

// Collects what it is given, each call waiting while the gate is closed.
class GatedSink : public OutputSink {
 public:
  void Write(absl::Span<const uint8_t> data) override {
    absl::MutexLock lock(&mu_);
    ++calls_;
    auto open = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return open_; };
    mu_.Await(absl::Condition(&open));
    contents_.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  void SetOpen(bool open) {
    absl::MutexLock lock(&mu_);
    open_ = open;
  }
  // Waits until `n` calls have begun.
  void AwaitCalls(int n) {
    absl::MutexLock lock(&mu_);
    auto begun = [this, n]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ >= n; };
    mu_.Await(absl::Condition(&begun));
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::string contents() {
    absl::MutexLock lock(&mu_);
    return contents_;
  }

 private:
  absl::Mutex mu_;
  bool open_ = true;
  int calls_ = 0;
  std::string contents_;
};

TEST(AsyncSink, WritesThroughUntilStarted) {
  auto inner = std::make_shared<BufferSink>();
  AsyncSink sink(inner);
  sink.Write(AsBytes("now"));
  EXPECT_EQ(inner->contents(), "now");
}

// The guest's thread never waits for the inner sink while there is room,
// and bytes that arrive while the writer is busy go on in one call.
TEST(AsyncSink, WriterThreadBatchesWhatArrivesMeanwhile) {
  auto inner = std::make_shared<GatedSink>();
  inner->SetOpen(false);
  AsyncSink sink(inner);
  std::thread::id writer;
  sink.Start([&writer] { writer = std::this_thread::get_id(); });
  sink.Write(AsBytes("a"));
  inner->AwaitCalls(1);  // the writer holds "a" and waits at the gate
  for (char c = 'b'; c <= 'z'; ++c) sink.Write(AsBytes(std::string(1, c)));
  EXPECT_EQ(inner->contents(), "");
  inner->SetOpen(true);
  sink.Flush();
  EXPECT_EQ(inner->contents(), "abcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(inner->calls(), 2);
  EXPECT_NE(writer, std::thread::id());
  EXPECT_NE(writer, std::this_thread::get_id());
  EXPECT_EQ(sink.dropped_bytes(), 0u);
}

// A full buffer makes writers wait for room, for at most the stall timeout;
// then what does not fit is dropped and counted.
TEST(AsyncSink, FullBufferWaitsThenDrops) {
  auto inner = std::make_shared<GatedSink>();
  inner->SetOpen(false);
  AsyncSink sink(inner, /*limit=*/8, absl::Milliseconds(50));
  sink.Start();
  sink.Write(AsBytes("1"));
  inner->AwaitCalls(1);
  sink.Write(AsBytes("2345678"));
  sink.Write(AsBytes("9"));    // fills the 8 bytes
  sink.Write(AsBytes("abc"));  // no room: dropped after 50 ms
  EXPECT_EQ(sink.dropped_bytes(), 3u);
  // Room made while a writer waits lets it go on.
  std::thread later([&inner] {
    absl::SleepFor(absl::Milliseconds(10));
    inner->SetOpen(true);
  });
  sink.Write(AsBytes("xyz"));
  later.join();
  sink.Flush();
  EXPECT_EQ(inner->contents(), "123456789xyz");
  EXPECT_EQ(sink.dropped_bytes(), 3u);
}

TEST(AsyncSink, StopPassesWhatWaitsThenWritesThrough) {
  auto inner = std::make_shared<BufferSink>();
  AsyncSink sink(inner);
  sink.Start();
  for (int k = 0; k < 1000; ++k) sink.Write(AsBytes("x"));
  sink.Stop();
  EXPECT_EQ(inner->contents(), std::string(1000, 'x'));
  sink.Write(AsBytes("!"));
  EXPECT_EQ(inner->contents(), std::string(1000, 'x') + "!");
  sink.Start();  // no restart after Stop
  sink.Write(AsBytes("?"));
  EXPECT_EQ(inner->contents(), std::string(1000, 'x') + "!?");
}

}  // namespace
}  // namespace skiff::devices
