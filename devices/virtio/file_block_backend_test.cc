#include "devices/virtio/file_block_backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "devices/testing/fakes.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_mmio.h"

namespace skiff::devices {
namespace {

UniqueFd MemFd(size_t size, uint8_t fill) {
  UniqueFd fd(::memfd_create("disk", MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  std::vector<uint8_t> bytes(size, fill);
  EXPECT_EQ(::pwrite(fd.get(), bytes.data(), size, 0),
            static_cast<ssize_t>(size));
  return fd;
}

int64_t Submit(BlockBackend& b, BlockRequest r) {
  int64_t result = 1234567;
  r.done = [&result](int64_t res) { result = res; };
  b.Submit(std::move(r));
  b.Kick();
  return result;
}

std::vector<uint8_t> Contents(int fd, size_t size) {
  std::vector<uint8_t> out(size);
  EXPECT_EQ(::pread(fd, out.data(), size, 0), static_cast<ssize_t>(size));
  return out;
}

TEST(FileBlockBackend, ReadsAndWritesScatteredBuffers) {
  UniqueFd fd = MemFd(8192, 0x11);
  const int raw = fd.get();
  UniqueFd keep(::dup(raw));
  auto b = FileBlockBackend::FromFd(std::move(fd), false);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->size_bytes(), 8192u);
  EXPECT_FALSE((*b)->read_only());

  uint8_t a[100], c[412];
  std::memset(a, 0xaa, sizeof(a));
  std::memset(c, 0xcc, sizeof(c));
  EXPECT_EQ(Submit(**b, {.op = BlockOp::kWrite,
                         .offset = 512,
                         .iov = {{a, sizeof(a)}, {c, sizeof(c)}}}),
            512);
  std::vector<uint8_t> disk = Contents(keep.get(), 8192);
  EXPECT_EQ(disk[511], 0x11);
  EXPECT_EQ(disk[512], 0xaa);
  EXPECT_EQ(disk[612], 0xcc);
  EXPECT_EQ(disk[1024], 0x11);

  uint8_t r[512];
  EXPECT_EQ(
      Submit(**b, {.op = BlockOp::kRead, .offset = 600, .iov = {{r, 512}}}),
      512);
  EXPECT_EQ(r[0], 0xaa);
  EXPECT_EQ(r[12], 0xcc);
  EXPECT_EQ(Submit(**b, {.op = BlockOp::kFlush}), 0);
}

TEST(FileBlockBackend, ReadPastEndOfFileIsZeroFilled) {
  auto b = FileBlockBackend::FromFd(MemFd(1024, 0x22), false);
  ASSERT_TRUE(b.ok());
  uint8_t r[1024];
  std::memset(r, 0xff, sizeof(r));
  EXPECT_EQ(
      Submit(**b, {.op = BlockOp::kRead, .offset = 512, .iov = {{r, 1024}}}),
      1024);
  EXPECT_EQ(r[0], 0x22);
  EXPECT_EQ(r[511], 0x22);
  EXPECT_EQ(r[512], 0);
}

TEST(FileBlockBackend, WriteZeroesAndDiscard) {
  UniqueFd fd = MemFd(16384, 0x33);
  UniqueFd keep(::dup(fd.get()));
  auto b = FileBlockBackend::FromFd(std::move(fd), false);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(
      Submit(**b,
             {.op = BlockOp::kWriteZeroes, .offset = 4096, .length = 4096}),
      0);
  std::vector<uint8_t> disk = Contents(keep.get(), 16384);
  EXPECT_EQ(disk[4095], 0x33);
  EXPECT_EQ(disk[4096], 0);
  EXPECT_EQ(disk[8191], 0);
  EXPECT_EQ(disk[8192], 0x33);
  EXPECT_EQ(
      Submit(**b, {.op = BlockOp::kDiscard, .offset = 8192, .length = 4096}),
      0);
}

TEST(FileBlockBackend, ReadOnlyRefusesChanges) {
  char path[] = "/tmp/skiff-fbb-XXXXXX";
  int raw = ::mkstemp(path);
  ASSERT_GE(raw, 0);
  std::vector<uint8_t> bytes(4096, 0x44);
  ASSERT_EQ(::write(raw, bytes.data(), bytes.size()), 4096);
  ::close(raw);
  auto b = FileBlockBackend::Open(path, {.read_only = true});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE((*b)->read_only());
  uint8_t w[512] = {};
  EXPECT_EQ(
      Submit(**b, {.op = BlockOp::kWrite, .offset = 0, .iov = {{w, 512}}}),
      -EROFS);
  EXPECT_EQ(
      Submit(**b, {.op = BlockOp::kWriteZeroes, .offset = 0, .length = 512}),
      -EROFS);
  EXPECT_EQ(Submit(**b, {.op = BlockOp::kDiscard, .offset = 0, .length = 512}),
            -EROFS);
  UniqueFd check(::open(path, O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(Contents(check.get(), 4096), bytes);
  ::unlink(path);
}

TEST(FileBlockBackend, OpenNamesTheMissingFile) {
  auto b = FileBlockBackend::Open("/nonexistent/skiff.img", {});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(std::string(b.status().message()).find("/nonexistent/skiff.img"),
            std::string::npos);
}

// End to end: a guest write through virtio-blk lands in the host file, and
// a read-only disk leaves the file as it was.
TEST(FileBlockBackend, GuestWritesLandInTheFile) {
  for (bool read_only : {false, true}) {
    UniqueFd fd = MemFd(64 * 1024, 0x55);
    UniqueFd keep(::dup(fd.get()));
    auto backend = FileBlockBackend::FromFd(std::move(fd), read_only);
    ASSERT_TRUE(backend.ok());
    auto mem = GuestMemory::Create({{GuestAddr(0), 1 << 20}}, {});
    ASSERT_TRUE(mem.ok());
    testing::FakeIrqLine irq;
    VirtioMmio mmio(
        **mem,
        std::make_unique<VirtioBlk>(std::move(*backend), VirtioBlk::Options{}),
        &irq);
    testing::VirtioMmioDriver driver(**mem, mmio, GuestAddr(0x1000));
    ASSERT_TRUE(driver.Negotiate(driver.DeviceFeatures()).ok());
    auto q = driver.SetupQueue(0, 16);
    ASSERT_TRUE(q.ok());
    driver.DriverOk();
    GuestAddr hdr = driver.Alloc(16);
    GuestAddr buf = driver.Alloc(512);
    GuestAddr status = driver.Alloc(1);
    ASSERT_TRUE((*mem)->Fill(buf, 0x99, 512).ok());
    ASSERT_TRUE(
        (*mem)->WriteObj(hdr, VirtioBlkOutHdr{kVirtioBlkTOut, 0, 3}).ok());
    (*q)->Add({{hdr, 16, false}, {buf, 512, false}, {status, 1, true}});
    driver.Notify(0);
    ASSERT_TRUE((*q)->PopUsed().has_value());
    std::vector<uint8_t> disk = Contents(keep.get(), 64 * 1024);
    if (read_only) {
      EXPECT_EQ(*(*mem)->ReadObj<uint8_t>(status), kVirtioBlkSIoErr);
      EXPECT_EQ(disk, std::vector<uint8_t>(64 * 1024, 0x55));
    } else {
      EXPECT_EQ(*(*mem)->ReadObj<uint8_t>(status), kVirtioBlkSOk);
      EXPECT_EQ(disk[3 * 512 - 1], 0x55);
      EXPECT_EQ(disk[3 * 512], 0x99);
      EXPECT_EQ(disk[4 * 512 - 1], 0x99);
      EXPECT_EQ(disk[4 * 512], 0x55);
    }
  }
}

}  // namespace
}  // namespace skiff::devices
