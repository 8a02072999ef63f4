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

// `count` 4 KiB pages of `mem` from the last to the first, the order a
// guest's page allocator often hands a buffer out in.
std::vector<iovec> DescendingPages(uint8_t* mem, size_t count) {
  std::vector<iovec> iov;
  for (size_t k = count; k-- > 0;) iov.push_back({mem + k * 4096, 4096});
  return iov;
}

class UringBlockGatherTest : public UringBlockBackendTest {
 protected:
  // A direct-I/O disk over a 1 MiB image and 256 KiB of page-aligned
  // memory; false (the test skips) where the file system lacks O_DIRECT.
  bool OpenDirect(uint32_t gather_below) {
    path_ = MakeImage("a.img", 1 << 20);
    auto opened = UringBlockBackend::Open(
        loop_.get(),
        {.path = path_, .direct = true, .gather_below = gather_below});
    if (!opened.ok()) {
      EXPECT_THAT(std::string(opened.status().message()),
                  HasSubstr("O_DIRECT"));
      return false;
    }
    disk_ = std::move(*opened);
    void* mem = nullptr;
    EXPECT_EQ(posix_memalign(&mem, 4096, kMemBytes), 0);
    mem_.reset(static_cast<uint8_t*>(mem));
    return true;
  }
  uint64_t Bounced() {
    uint64_t n = 0;
    loop_->RunAndWait([&] { n = disk_->requests_bounced(); });
    return n;
  }
  static constexpr size_t kMemBytes = 256 * 1024;
  struct Free {
    void operator()(uint8_t* p) const { free(p); }
  };
  std::string path_;
  std::unique_ptr<UringBlockBackend> disk_;
  std::unique_ptr<uint8_t, Free> mem_;
};

TEST_F(UringBlockGatherTest, ScatteredDirectIoGoesThroughOneBuffer) {
  if (!OpenDirect(8192)) GTEST_SKIP() << "no O_DIRECT here";
  uint8_t* mem = mem_.get();
  EXPECT_EQ(Run(*disk_, {.op = BlockOp::kRead,
                         .offset = 65536,
                         .iov = DescendingPages(mem, 16)}),
            65536);
  // The last page got the first 4 KiB, and so on.
  for (size_t k = 0; k < 16; ++k) {
    EXPECT_EQ(mem[(15 - k) * 4096], Pattern(65536 + k * 4096)) << k;
    EXPECT_EQ(mem[(15 - k) * 4096 + 4095], Pattern(65536 + k * 4096 + 4095));
  }
  EXPECT_EQ(Bounced(), 1u);

  for (size_t k = 0; k < 16; ++k) std::memset(mem + k * 4096, 0x10 + k, 4096);
  EXPECT_EQ(Run(*disk_, {.op = BlockOp::kWrite,
                         .offset = 0,
                         .iov = DescendingPages(mem, 16)}),
            65536);
  EXPECT_EQ(Bounced(), 2u);
  std::vector<uint8_t> file = ReadFile(path_);
  for (size_t k = 0; k < 16; ++k) {
    EXPECT_EQ(file[k * 4096], 0x10 + 15 - k) << k;
    EXPECT_EQ(file[k * 4096 + 4095], 0x10 + 15 - k) << k;
  }
  EXPECT_EQ(file[65536], Pattern(65536));

  // Smaller than kGatherMinBytes, or few large segments: as they are.
  EXPECT_EQ(Run(*disk_, {.op = BlockOp::kRead,
                         .offset = 131072,
                         .iov = DescendingPages(mem, 8)}),
            32768);
  EXPECT_EQ(mem[7 * 4096], Pattern(131072));
  EXPECT_EQ(Run(*disk_, {.op = BlockOp::kRead,
                         .offset = 131072,
                         .iov = {{mem + 65536, 65536}, {mem, 65536}}}),
            131072);
  EXPECT_EQ(mem[65536], Pattern(131072));
  EXPECT_EQ(mem[0], Pattern(131072 + 65536));
  EXPECT_EQ(Bounced(), 2u);

  // Buffers are reused: one after another, every request is gathered.
  for (uint64_t n = 0; n <= UringBlockBackend::kGatherBuffers; ++n) {
    EXPECT_EQ(Run(*disk_, {.op = BlockOp::kRead,
                           .offset = 0,
                           .iov = DescendingPages(mem, 16)}),
              65536);
    EXPECT_EQ(Bounced(), 3 + n);
  }
}

TEST_F(UringBlockGatherTest, GatheringCanBeTurnedOff) {
  if (!OpenDirect(0)) GTEST_SKIP() << "no O_DIRECT here";
  EXPECT_EQ(Run(*disk_, {.op = BlockOp::kRead,
                         .offset = 0,
                         .iov = DescendingPages(mem_.get(), 64)}),
            262144);
  EXPECT_EQ(mem_.get()[63 * 4096], Pattern(0));
  EXPECT_EQ(mem_.get()[0], Pattern(63 * 4096));
  EXPECT_EQ(Bounced(), 0u);
}

TEST_F(UringBlockGatherTest, AtMostKGatherBuffersAtOnce) {
  if (!OpenDirect(8192)) GTEST_SKIP() << "no O_DIRECT here";
  // kGatherBuffers + 1 reads of 16 pages each, submitted together into
  // consecutive 64 KiB of mem_.
  constexpr size_t kReads = UringBlockBackend::kGatherBuffers + 1;
  static_assert(kReads * 65536 <= kMemBytes + 65536);
  std::vector<uint8_t> extra(65536 + 4096);
  uint8_t* last = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(extra.data()) + 4095) & ~uintptr_t{4095});
  absl::Notification all_done;
  int remaining = kReads;
  std::vector<int64_t> results(kReads);
  loop_->RunAndWait([&] {
    for (size_t r = 0; r < kReads; ++r) {
      uint8_t* at = r < kReads - 1 ? mem_.get() + r * 65536 : last;
      disk_->Submit({.op = BlockOp::kRead,
                     .offset = r * 65536,
                     .iov = DescendingPages(at, 16),
                     .done = [&, r](int64_t res) {
                       results[r] = res;
                       if (--remaining == 0) all_done.Notify();
                     }});
    }
    disk_->Kick();
  });
  all_done.WaitForNotification();
  for (size_t r = 0; r < kReads; ++r) EXPECT_EQ(results[r], 65536) << r;
  EXPECT_EQ(Bounced(), UringBlockBackend::kGatherBuffers);
  for (size_t r = 0; r + 1 < kReads; ++r) {
    EXPECT_EQ(mem_.get()[r * 65536 + 15 * 4096], Pattern(r * 65536)) << r;
  }
  EXPECT_EQ(last[15 * 4096], Pattern((kReads - 1) * 65536));
  EXPECT_EQ(last[0], Pattern((kReads - 1) * 65536 + 15 * 4096));
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
