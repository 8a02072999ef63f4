#include "io/uring_block_backend.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace skiff::io {
namespace {

using devices::BlockOp;
using devices::BlockRequest;
using ::testing::HasSubstr;

class UringBlockBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loop = EventLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
    ASSERT_TRUE(loop_->Start().ok());
    char dir[] = "/tmp/skiff_blk_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    loop_->Stop();
    if (!dir_.empty()) {
      std::string cmd = "rm -rf '" + dir_ + "'";
      ASSERT_EQ(system(cmd.c_str()), 0);
    }
  }

  // A file of `size` bytes where byte i is Pattern(i).
  std::string MakeImage(const std::string& name, size_t size) {
    std::string path = dir_ + "/" + name;
    std::vector<uint8_t> data(size);
    for (size_t i = 0; i < size; ++i) data[i] = Pattern(i);
    int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, data.data(), size), static_cast<ssize_t>(size));
    close(fd);
    return path;
  }
  static uint8_t Pattern(uint64_t i) {
    return static_cast<uint8_t>((i * 7 + (i >> 9)) & 0xff);
  }

  std::unique_ptr<UringBlockBackend> OpenDisk(
      const UringBlockBackend::Options& options) {
    auto disk = UringBlockBackend::Open(loop_.get(), options);
    EXPECT_TRUE(disk.ok()) << disk.status();
    return disk.ok() ? std::move(*disk) : nullptr;
  }

  // Runs one request on the loop and waits for its result.
  int64_t Run(UringBlockBackend& disk, BlockRequest req) {
    absl::Notification done;
    int64_t result = 0;
    int calls = 0;
    req.done = [&](int64_t res) {
      result = res;
      ++calls;
      done.Notify();
    };
    loop_->RunAndWait([&] {
      disk.Submit(std::move(req));
      disk.Kick();
    });
    done.WaitForNotification();
    loop_->RunAndWait([] {});  // a second call would have landed by now
    EXPECT_EQ(calls, 1);
    return result;
  }

  std::vector<uint8_t> ReadFile(const std::string& path) {
    std::vector<uint8_t> data;
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    fstat(fd, &st);
    data.resize(st.st_size);
    EXPECT_EQ(pread(fd, data.data(), data.size(), 0),
              static_cast<ssize_t>(data.size()));
    close(fd);
    return data;
  }

  std::unique_ptr<EventLoop> loop_;
  std::string dir_;
};

TEST_F(UringBlockBackendTest, OpenErrorNamesPath) {
  auto disk = UringBlockBackend::Open(loop_.get(), {.path = dir_ + "/nope"});
  ASSERT_FALSE(disk.ok());
  EXPECT_THAT(std::string(disk.status().message()),
              HasSubstr(dir_ + "/nope: No such file or directory"));
  auto dir =
      UringBlockBackend::Open(loop_.get(), {.path = dir_, .read_only = true});
  ASSERT_FALSE(dir.ok());
  EXPECT_THAT(std::string(dir.status().message()), HasSubstr(dir_));
}

TEST_F(UringBlockBackendTest, SizeAndReadOnlyFlag) {
  std::string path = MakeImage("a.img", 12345);
  auto disk = OpenDisk({.path = path, .read_only = true});
  ASSERT_NE(disk, nullptr);
  EXPECT_EQ(disk->size_bytes(), 12345u);
  EXPECT_TRUE(disk->read_only());
}

TEST_F(UringBlockBackendTest, LockKeepsASecondWriterOut) {
  std::string path = MakeImage("a.img", 4096);
  auto writer = OpenDisk({.path = path});
  ASSERT_NE(writer, nullptr);
  auto second = UringBlockBackend::Open(loop_.get(), {.path = path});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("locked"));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr(path));
  auto reader =
      UringBlockBackend::Open(loop_.get(), {.path = path, .read_only = true});
  EXPECT_FALSE(reader.ok());
  writer.reset();
  // Readers share.
  auto r1 = OpenDisk({.path = path, .read_only = true});
  auto r2 = OpenDisk({.path = path, .read_only = true});
  EXPECT_NE(r1, nullptr);
  EXPECT_NE(r2, nullptr);
  EXPECT_FALSE(UringBlockBackend::Open(loop_.get(), {.path = path}).ok());
}

TEST_F(UringBlockBackendTest, ReadScatterAndWriteGather) {
  std::string path = MakeImage("a.img", 65536);
  auto disk = OpenDisk({.path = path});
  ASSERT_NE(disk, nullptr);
  std::vector<uint8_t> a(1000), b(24), c(3072);
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kRead,
                        .offset = 512,
                        .iov = {{a.data(), a.size()},
                                {b.data(), b.size()},
                                {c.data(), c.size()}}}),
            4096);
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], Pattern(512 + i));
  for (size_t i = 0; i < b.size(); ++i) ASSERT_EQ(b[i], Pattern(1512 + i));
  for (size_t i = 0; i < c.size(); ++i) ASSERT_EQ(c[i], Pattern(1536 + i));

  std::vector<uint8_t> x(512, 0xAA), y(1536, 0x55);
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kWrite,
                        .offset = 8192,
                        .iov = {{x.data(), x.size()}, {y.data(), y.size()}}}),
            2048);
  std::vector<uint8_t> file = ReadFile(path);
  ASSERT_EQ(file.size(), 65536u);
  EXPECT_EQ(file[8191], Pattern(8191));
  EXPECT_EQ(file[8192], 0xAA);
  EXPECT_EQ(file[8192 + 511], 0xAA);
  EXPECT_EQ(file[8192 + 512], 0x55);
  EXPECT_EQ(file[8192 + 2047], 0x55);
  EXPECT_EQ(file[8192 + 2048], Pattern(8192 + 2048));
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kFlush}), 0);
}

TEST_F(UringBlockBackendTest, ReadsPastEndOfFileAreZeroFilled) {
  std::string path = MakeImage("a.img", 1000);
  auto disk = OpenDisk({.path = path});
  ASSERT_NE(disk, nullptr);
  std::vector<uint8_t> buf(4096, 0xEE);
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kRead,
                        .offset = 512,
                        .iov = {{buf.data(), buf.size()}}}),
            4096);
  for (size_t i = 0; i < 488; ++i) ASSERT_EQ(buf[i], Pattern(512 + i));
  for (size_t i = 488; i < buf.size(); ++i) ASSERT_EQ(buf[i], 0) << i;
  std::fill(buf.begin(), buf.end(), 0xEE);
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kRead,
                        .offset = 1 << 20,
                        .iov = {{buf.data(), buf.size()}}}),
            4096);
  EXPECT_EQ(buf[0], 0);
  EXPECT_EQ(buf[4095], 0);
}

TEST_F(UringBlockBackendTest, WritesPastEndAreRefusedAndTheImageNeverGrows) {
  std::string path = MakeImage("a.img", 4096);
  auto disk = OpenDisk({.path = path});
  ASSERT_NE(disk, nullptr);
  std::vector<uint8_t> buf(512, 1);
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kWrite,
                        .offset = 4096 - 256,
                        .iov = {{buf.data(), buf.size()}}}),
            -EINVAL);
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kWrite,
                        .offset = UINT64_MAX - 100,
                        .iov = {{buf.data(), buf.size()}}}),
            -EINVAL);
  EXPECT_EQ(
      Run(*disk, {.op = BlockOp::kDiscard, .offset = 4096, .length = 4096}),
      -EINVAL);
  EXPECT_EQ(ReadFile(path).size(), 4096u);
}

TEST_F(UringBlockBackendTest, ReadOnlyRefusesChangesAndLeavesTheFile) {
  std::string path = MakeImage("a.img", 8192);
  auto disk = OpenDisk({.path = path, .read_only = true});
  ASSERT_NE(disk, nullptr);
  std::vector<uint8_t> buf(512, 1);
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kWrite,
                        .offset = 0,
                        .iov = {{buf.data(), buf.size()}}}),
            -EROFS);
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kDiscard, .offset = 0, .length = 4096}),
            -EROFS);
  EXPECT_EQ(
      Run(*disk, {.op = BlockOp::kWriteZeroes, .offset = 0, .length = 4096}),
      -EROFS);
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kFlush}), 0);
  std::vector<uint8_t> file = ReadFile(path);
  for (size_t i = 0; i < file.size(); ++i) ASSERT_EQ(file[i], Pattern(i));
}

TEST_F(UringBlockBackendTest, DiscardAndWriteZeroesReadBackAsZero) {
  std::string path = MakeImage("a.img", 1 << 20);
  auto disk = OpenDisk({.path = path});
  ASSERT_NE(disk, nullptr);
  EXPECT_EQ(
      Run(*disk, {.op = BlockOp::kWriteZeroes, .offset = 4096, .length = 8192}),
      0);
  EXPECT_EQ(
      Run(*disk, {.op = BlockOp::kDiscard, .offset = 65536, .length = 65536}),
      0);
  std::vector<uint8_t> file = ReadFile(path);
  ASSERT_EQ(file.size(), 1u << 20);
  EXPECT_EQ(file[4095], Pattern(4095));
  for (size_t i = 4096; i < 4096 + 8192; ++i) ASSERT_EQ(file[i], 0) << i;
  EXPECT_EQ(file[4096 + 8192], Pattern(4096 + 8192));
  // ext4 and tmpfs punch holes, so the discarded range reads as zeroes too.
  for (size_t i = 65536; i < 131072; ++i) ASSERT_EQ(file[i], 0) << i;
  EXPECT_EQ(file[131072], Pattern(131072));
}

TEST_F(UringBlockBackendTest, WriteZeroesFallsBackWhereZeroRangeIsMissing) {
  // tmpfs has no FALLOC_FL_ZERO_RANGE, only hole punching.
  struct stat st;
  if (stat("/dev/shm", &st) != 0) GTEST_SKIP() << "no /dev/shm";
  char dir[] = "/dev/shm/skiff_blk_XXXXXX";
  if (mkdtemp(dir) == nullptr) GTEST_SKIP() << "cannot write /dev/shm";
  std::string saved = dir_;
  dir_ = dir;
  std::string path = MakeImage("a.img", 65536);
  dir_ = saved;
  {
    auto disk = OpenDisk({.path = path});
    ASSERT_NE(disk, nullptr);
    for (int round = 0; round < 2; ++round) {  // the second uses the cache
      EXPECT_EQ(Run(*disk, {.op = BlockOp::kWriteZeroes,
                            .offset = 4096u + round * 16384u,
                            .length = 8192}),
                0);
    }
  }
  std::vector<uint8_t> file = ReadFile(path);
  for (size_t i = 4096; i < 4096 + 8192; ++i) ASSERT_EQ(file[i], 0) << i;
  for (size_t i = 20480; i < 20480 + 8192; ++i) ASSERT_EQ(file[i], 0) << i;
  EXPECT_EQ(file[4096 + 8192], Pattern(4096 + 8192));
  unlink(path.c_str());
  rmdir(dir);
}

TEST_F(UringBlockBackendTest, SixtyFourRequestsInFlight) {
  constexpr int kRequests = 64;
  constexpr size_t kBlock = 4096;
  std::string path = MakeImage("a.img", 1 << 22);
  auto disk = OpenDisk({.path = path});
  ASSERT_NE(disk, nullptr);
  std::vector<std::vector<uint8_t>> bufs(kRequests,
                                         std::vector<uint8_t>(kBlock));
  std::vector<uint64_t> offsets(kRequests);
  std::vector<int64_t> results(kRequests, 1);
  std::mt19937_64 rng(42);
  for (auto& o : offsets) o = (rng() % ((1 << 22) / kBlock)) * kBlock;
  int completed = 0;
  uint64_t in_flight_after_submit = 0;
  absl::Notification all;
  loop_->RunAndWait([&] {
    for (int i = 0; i < kRequests; ++i) {
      disk->Submit({.op = BlockOp::kRead,
                    .offset = offsets[i],
                    .iov = {{bufs[i].data(), kBlock}},
                    .done = [&, i](int64_t res) {
                      results[i] = res;
                      if (++completed == kRequests) all.Notify();
                    }});
    }
    disk->Kick();
    // Nothing completes before this callback returns: all 64 are queued.
    in_flight_after_submit = disk->requests_in_flight();
  });
  all.WaitForNotification();
  EXPECT_EQ(in_flight_after_submit, uint64_t{kRequests});
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_EQ(results[i], int64_t{kBlock});
    for (size_t j = 0; j < kBlock; j += 97) {
      ASSERT_EQ(bufs[i][j], Pattern(offsets[i] + j));
    }
  }
  loop_->RunAndWait([&] { EXPECT_EQ(disk->requests_in_flight(), 0u); });
}

TEST_F(UringBlockBackendTest, BadBufferIsAnErrnoNotACrash) {
  std::string path = MakeImage("a.img", 8192);
  auto disk = OpenDisk({.path = path});
  ASSERT_NE(disk, nullptr);
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kRead,
                        .offset = 0,
                        .iov = {{reinterpret_cast<void*>(16), 4096}}}),
            -EFAULT);
}

TEST_F(UringBlockBackendTest, DirectIoAlignmentAndBounceBuffers) {
  std::string path = MakeImage("a.img", 1 << 16);
  auto opened =
      UringBlockBackend::Open(loop_.get(), {.path = path, .direct = true});
  if (!opened.ok()) {
    EXPECT_THAT(std::string(opened.status().message()), HasSubstr("O_DIRECT"));
    GTEST_SKIP() << opened.status();
  }
  auto& disk = *opened;
  uint32_t align = std::max<uint32_t>(disk->direct_alignment(), 512);
  void* mem = nullptr;
  ASSERT_EQ(posix_memalign(&mem, 4096, 8192), 0);
  uint8_t* buf = static_cast<uint8_t*>(mem);
  EXPECT_EQ(
      Run(*disk, {.op = BlockOp::kRead, .offset = 4096, .iov = {{buf, 4096}}}),
      4096);
  EXPECT_EQ(buf[0], Pattern(4096));
  EXPECT_EQ(buf[4095], Pattern(8191));
  // A misaligned range is refused.
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kRead,
                        .offset = 4096 + align / 2,
                        .iov = {{buf, 4096}}}),
            -EINVAL);
  // Misaligned buffers bounce, both ways.
  EXPECT_EQ(Run(*disk, {.op = BlockOp::kRead,
                        .offset = 8192,
                        .iov = {{buf + 8, 1000}, {buf + 2000, 4096 - 1000}}}),
            4096);
  EXPECT_EQ(buf[8], Pattern(8192));
  EXPECT_EQ(buf[8 + 999], Pattern(8192 + 999));
  EXPECT_EQ(buf[2000], Pattern(8192 + 1000));
  EXPECT_EQ(buf[2000 + 3095], Pattern(8192 + 4095));
  std::memset(buf, 0x5A, 8192);
  EXPECT_EQ(Run(*disk,
                {.op = BlockOp::kWrite, .offset = 0, .iov = {{buf + 3, 4096}}}),
            4096);
  std::vector<uint8_t> file = ReadFile(path);
  EXPECT_EQ(file[0], 0x5A);
  EXPECT_EQ(file[4095], 0x5A);
  EXPECT_EQ(file[4096], Pattern(4096));
  free(mem);
}

TEST_F(UringBlockBackendTest, DestroyingTheBackendWithRequestsInFlight) {
  std::string path = MakeImage("a.img", 1 << 20);
  auto disk = OpenDisk({.path = path});
  ASSERT_NE(disk, nullptr);
  std::vector<uint8_t> buf(1 << 20);
  absl::Notification done;
  int64_t result = 0;
  loop_->RunAndWait([&] {
    disk->Submit({.op = BlockOp::kRead,
                  .offset = 0,
                  .iov = {{buf.data(), buf.size()}},
                  .done = [&](int64_t res) {
                    result = res;
                    done.Notify();
                  }});
    disk.reset();
  });
  done.WaitForNotification();
  EXPECT_EQ(result, 1 << 20);
}

TEST_F(UringBlockBackendTest, RefreshSizeSeesAFileResizedOnTheHost) {
  const std::string path = MakeImage("grow.img", 8192);
  auto disk = OpenDisk({.path = path});
  ASSERT_NE(disk, nullptr);
  EXPECT_EQ(disk->size_bytes(), 8192u);
  ASSERT_EQ(truncate(path.c_str(), 65536), 0);
  absl::StatusOr<uint64_t> size;
  loop_->RunAndWait([&] { size = disk->RefreshSize(); });
  ASSERT_TRUE(size.ok()) << size.status();
  EXPECT_EQ(*size, 65536u);
  EXPECT_EQ(disk->size_bytes(), 65536u);
}

}  // namespace
}  // namespace skiff::io
