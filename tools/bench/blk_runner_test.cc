#include "tools/bench/blk_runner.h"

#include <sys/stat.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/bench/smaps.h"

namespace skiff::bench {
namespace {

using ::testing::HasSubstr;

std::vector<BlkWorkload> Workloads() {
  BlkOptions o;
  return DefaultBlkWorkloads(o);
}

// A stand-in VMM: a shell printing what the guest would.
VmmSpec FakeVmm(const std::string& script) {
  return VmmSpec{.name = "fake", .argv = {"/bin/sh", "-c", script}};
}

TEST(CreateRandomImage, WritesTheSizeAndRemovesItsDirectory) {
  setenv("TMPDIR", ::testing::TempDir().c_str(), 1);
  std::string path;
  {
    absl::StatusOr<TempImage> img = CreateRandomImage(3 << 20);
    ASSERT_TRUE(img.ok()) << img.status();
    path = img->path();
    EXPECT_EQ(std::filesystem::file_size(path), 3u << 20);
    absl::StatusOr<std::string> data = ReadSmallFile(path);
    ASSERT_TRUE(data.ok());
    // Random, not sparse: a 1 MiB run of zeros would be a broken generator.
    EXPECT_EQ(data->find(std::string(1 << 20, '\0')), std::string::npos);
    TempImage moved = *std::move(img);
    EXPECT_EQ(moved.path(), path);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(
      std::filesystem::exists(std::filesystem::path(path).parent_path()));
  unsetenv("TMPDIR");
}

TEST(CreateRandomImage, FailsCleanlyInAMissingDirectory) {
  setenv("TMPDIR", "/nonexistent/skiff-bench", 1);
  absl::StatusOr<TempImage> img = CreateRandomImage(1 << 20);
  EXPECT_FALSE(img.ok());
  EXPECT_THAT(img.status().message(), HasSubstr("mkdtemp"));
  unsetenv("TMPDIR");
}

TEST(RunBlkBoot, CollectsResultsInWorkloadOrder) {
  const BlkRun run = RunBlkBoot(
      FakeVmm("echo 'Linux version 6.1'; "
              "echo 'skiff-iobench randread iops=100 mbps=0.4 ios=100 "
              "seconds=1.000'; "
              "printf 'skiff-iobench seqread iops=20 mbps=21.0 ios=20 "
              "seconds=1.000\\r\\n'; "
              "echo 'skiff-init: check cmd64 status 0'; "
              "echo 'skiff log' >&2"),
      Workloads(), 30);
  EXPECT_TRUE(run.ok) << run.failure;
  ASSERT_EQ(run.results.size(), 2u);
  ASSERT_TRUE(run.results[0].has_value());
  ASSERT_TRUE(run.results[1].has_value());
  EXPECT_EQ(run.results[0]->iops, 100);
  EXPECT_EQ(run.results[1]->mbps, 21.0);
  EXPECT_EQ(run.last_console_line, "skiff-init: check cmd64 status 0");
  EXPECT_EQ(run.last_stderr_line, "skiff log");
  EXPECT_GT(run.wall_us, 0);
}

TEST(RunBlkBoot, ReportsWhyARunFailed) {
  const std::vector<BlkWorkload> w = Workloads();
  EXPECT_THAT(RunBlkBoot(FakeVmm("exit 3"), w, 30).failure,
              HasSubstr("exit status 3"));
  EXPECT_THAT(RunBlkBoot(FakeVmm("true"), w, 30).failure,
              HasSubstr("cmd64 status"));
  EXPECT_THAT(
      RunBlkBoot(FakeVmm("echo 'skiff-init: check cmd64 status 1'"), w, 30)
          .failure,
      HasSubstr("guest script status 1"));
  EXPECT_THAT(RunBlkBoot(FakeVmm("echo 'skiff-iobench randread iops=1 mbps=1 "
                                 "ios=1 seconds=1'; "
                                 "echo 'skiff-init: check cmd64 status 0'"),
                         w, 30)
                  .failure,
              HasSubstr("no skiff-iobench result for seqread-1m-qd1"));
  EXPECT_THAT(RunBlkBoot(FakeVmm("kill -9 $$"), w, 30).failure,
              HasSubstr("signal 9"));
  const BlkRun slow = RunBlkBoot(FakeVmm("exec sleep 30"), w, 0.2);
  EXPECT_THAT(slow.failure, HasSubstr("timeout"));
  EXPECT_FALSE(slow.ok);
  EXPECT_THAT(
      RunBlkBoot(VmmSpec{.name = "x", .argv = {"/nonexistent/vmm"}}, w, 30)
          .failure,
      HasSubstr("posix_spawn"));
}

}  // namespace
}  // namespace skiff::bench
