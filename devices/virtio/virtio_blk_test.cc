#include "devices/virtio/virtio_blk.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "devices/testing/fakes.h"
#include "devices/virtio/testing/blk_guest.h"
#include "devices/virtio/testing/memory_block_backend.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_mmio.h"

namespace skiff::devices {
namespace {

using testing::BlkGuest;
using testing::Buffer;
using testing::MemoryBlockBackend;

constexpr uint64_t kDiskSize = 1 << 20;
constexpr uint64_t kEventIdx = uint64_t{1} << kVirtioRingFEventIdx;

struct Options {
  bool read_only = false;
  bool deferred = false;
  uint64_t drop_features = kEventIdx;  // plain interrupts unless asked
  uint16_t queue_size = 128;
};

// A guest with a virtio-blk disk on an in-memory backend whose byte i is
// i * 7 + 1.
struct Guest : BlkGuest {
  explicit Guest(Options o = {})
      : BlkGuest(std::make_unique<MemoryBlockBackend>(kDiskSize, o.read_only,
                                                      o.deferred),
                 {.serial = "skiff-disk-0", .queue_size = 256}, o.drop_features,
                 o.queue_size) {
    for (size_t i = 0; i < kDiskSize; ++i) {
      backend->data()[i] = static_cast<uint8_t>(i * 7 + 1);
    }
  }

  // Posts header + data + status as separate descriptors; returns the
  // status byte's address. `data_len` 0 means no data descriptor.
  GuestAddr Post(uint32_t type, uint64_t sector, GuestAddr data,
                 uint32_t data_len, bool device_writes_data) {
    GuestAddr hdr = driver->Alloc(16);
    EXPECT_TRUE(mem->WriteObj(hdr, VirtioBlkOutHdr{type, 0, sector}).ok());
    GuestAddr status = driver->Alloc(1);
    EXPECT_TRUE(mem->WriteObj<uint8_t>(status, 0xee).ok());
    std::vector<Buffer> bufs = {{hdr, 16, false}};
    if (data_len > 0) bufs.push_back({data, data_len, device_writes_data});
    bufs.push_back({status, 1, true});
    EXPECT_GE(queue->Add(bufs), 0);
    return status;
  }
  // Posts one request, notifies, and returns its status byte.
  uint8_t Run(uint32_t type, uint64_t sector, GuestAddr data, uint32_t data_len,
              bool device_writes_data) {
    GuestAddr status = Post(type, sector, data, data_len, device_writes_data);
    driver->Notify(0);
    auto used = queue->PopUsed();
    EXPECT_TRUE(used.has_value());
    return Status(status);
  }
  uint8_t Status(GuestAddr status) { return *mem->ReadObj<uint8_t>(status); }
  GuestAddr Segments(std::vector<VirtioBlkDiscardWriteZeroes> segs) {
    GuestAddr a = driver->Alloc(16 * segs.size());
    for (size_t i = 0; i < segs.size(); ++i) {
      EXPECT_TRUE(mem->WriteObj(a + 16 * i, segs[i]).ok());
    }
    return a;
  }
};

TEST(VirtioBlk, ConfigSpaceDescribesTheDisk) {
  Guest g;
  EXPECT_EQ(g.driver->Config<uint64_t>(0), kDiskSize / 512);
  EXPECT_EQ(g.driver->Config<uint32_t>(12), 254u);  // seg_max
  EXPECT_EQ(g.driver->Config<uint32_t>(20), 512u);  // blk_size
  EXPECT_EQ(g.driver->Config<uint32_t>(40), 32u);   // max_discard_seg
  EXPECT_EQ(g.driver->Config<uint8_t>(56), 1u);     // write_zeroes_may_unmap
  EXPECT_EQ(g.driver->Config<uint32_t>(200), 0u);   // past the end
  EXPECT_EQ(g.device->device_id(), kVirtioIdBlock);
  const uint64_t f = g.driver->DeviceFeatures();
  EXPECT_TRUE(f & (1u << kVirtioBlkFFlush));
  EXPECT_TRUE(f & (1u << kVirtioBlkFDiscard));
  EXPECT_TRUE(f & (1u << kVirtioBlkFWriteZeroes));
  EXPECT_FALSE(f & (1u << kVirtioBlkFRo));
}

TEST(VirtioBlk, ReadOnlyDiskOffersRo) {
  Guest g({.read_only = true});
  EXPECT_TRUE(g.driver->DeviceFeatures() & (1u << kVirtioBlkFRo));
}

TEST(VirtioBlk, WriteThenRead) {
  Guest g;
  GuestAddr out = g.driver->Alloc(1024);
  std::vector<uint8_t> pattern(1024);
  for (size_t i = 0; i < pattern.size(); ++i) pattern[i] = i & 0xff;
  ASSERT_TRUE(g.mem->Write(out, pattern).ok());
  EXPECT_EQ(g.Run(kVirtioBlkTOut, 4, out, 1024, false), kVirtioBlkSOk);
  EXPECT_EQ(
      0, std::memcmp(g.backend->data().data() + 4 * 512, pattern.data(), 1024));

  GuestAddr in = g.driver->Alloc(1024);
  GuestAddr status = g.Post(kVirtioBlkTIn, 4, in, 1024, true);
  g.driver->Notify(0);
  auto used = g.queue->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, 1025u);  // data plus status
  EXPECT_EQ(g.Status(status), kVirtioBlkSOk);
  std::vector<uint8_t> got(1024);
  ASSERT_TRUE(g.mem->Read(in, absl::MakeSpan(got)).ok());
  EXPECT_EQ(got, pattern);
  EXPECT_EQ(g.irq.rising_edges(), 2);
  EXPECT_EQ(g.driver->AckInterrupts(), kInterruptUsedBuffer);
}

TEST(VirtioBlk, HeaderSplitAcrossDescriptorsAndIndirect) {
  Guest g;
  GuestAddr hdr = g.driver->Alloc(16);
  ASSERT_TRUE(g.mem->WriteObj(hdr, VirtioBlkOutHdr{kVirtioBlkTIn, 1, 2}).ok());
  GuestAddr data = g.driver->Alloc(512);
  GuestAddr status = g.driver->Alloc(1);
  GuestAddr table = g.driver->Alloc(16 * 5);
  // Header in two pieces, data in two pieces, then the status byte.
  ASSERT_GE(g.queue->AddIndirect({{hdr, 5, false},
                                  {hdr + 5, 11, false},
                                  {data, 100, true},
                                  {data + 100, 412, true},
                                  {status, 1, true}},
                                 table),
            0);
  g.driver->Notify(0);
  ASSERT_TRUE(g.queue->PopUsed().has_value());
  EXPECT_EQ(g.Status(status), kVirtioBlkSOk);
  std::vector<uint8_t> got(512);
  ASSERT_TRUE(g.mem->Read(data, absl::MakeSpan(got)).ok());
  EXPECT_EQ(0,
            std::memcmp(got.data(), g.backend->data().data() + 2 * 512, 512));
}

TEST(VirtioBlk, ReadOnlyDiskRefusesEveryWrite) {
  Guest g({.read_only = true});
  const std::vector<uint8_t> before = g.backend->data();
  GuestAddr buf = g.driver->Alloc(512);
  EXPECT_EQ(g.Run(kVirtioBlkTOut, 0, buf, 512, false), kVirtioBlkSIoErr);
  GuestAddr seg = g.Segments({{0, 8, 0}});
  EXPECT_EQ(g.Run(kVirtioBlkTDiscard, 0, seg, 16, false), kVirtioBlkSIoErr);
  EXPECT_EQ(g.Run(kVirtioBlkTWriteZeroes, 0, seg, 16, false), kVirtioBlkSIoErr);
  EXPECT_TRUE(g.backend->ops().empty());
  EXPECT_EQ(g.backend->data(), before);
  // Reads and flushes still work.
  EXPECT_EQ(g.Run(kVirtioBlkTIn, 0, buf, 512, true), kVirtioBlkSOk);
  EXPECT_EQ(g.Run(kVirtioBlkTFlush, 0, buf, 0, false), kVirtioBlkSOk);
}

TEST(VirtioBlk, FlushReachesTheBackend) {
  Guest g;
  EXPECT_EQ(g.Run(kVirtioBlkTFlush, 0, GuestAddr(0), 0, false), kVirtioBlkSOk);
  ASSERT_EQ(g.backend->ops().size(), 1u);
  EXPECT_EQ(g.backend->ops()[0], BlockOp::kFlush);
}

TEST(VirtioBlk, GetIdReturnsThePaddedSerial) {
  Guest g;
  GuestAddr buf = g.driver->Alloc(20);
  ASSERT_TRUE(g.mem->Fill(buf, 0xaa, 20).ok());
  EXPECT_EQ(g.Run(kVirtioBlkTGetId, 0, buf, 20, true), kVirtioBlkSOk);
  char id[20];
  ASSERT_TRUE(
      g.mem->Read(buf, absl::MakeSpan(reinterpret_cast<uint8_t*>(id), 20))
          .ok());
  EXPECT_STREQ(id, "skiff-disk-0");
  EXPECT_EQ(id[19], 0);
}

TEST(VirtioBlk, DiscardAndWriteZeroes) {
  Guest g;
  GuestAddr seg = g.Segments({{2, 2, 0}, {10, 1, 0}});
  EXPECT_EQ(g.Run(kVirtioBlkTWriteZeroes, 0, seg, 32, false), kVirtioBlkSOk);
  auto& d = g.backend->data();
  EXPECT_EQ(d[2 * 512 - 1], static_cast<uint8_t>((2 * 512 - 1) * 7 + 1));
  EXPECT_EQ(d[2 * 512], 0);
  EXPECT_EQ(d[4 * 512 - 1], 0);
  EXPECT_NE(d[4 * 512], 0);
  EXPECT_EQ(d[10 * 512 + 7], 0);
  GuestAddr unmap = g.Segments({{20, 1, kVirtioBlkWriteZeroesFlagUnmap}});
  EXPECT_EQ(g.Run(kVirtioBlkTWriteZeroes, 0, unmap, 16, false), kVirtioBlkSOk);
  EXPECT_EQ(g.Run(kVirtioBlkTDiscard, 0, seg, 32, false), kVirtioBlkSOk);
}

TEST(VirtioBlk, BadDiscardSegments) {
  Guest g;
  const uint64_t sectors = kDiskSize / 512;
  struct Case {
    const char* name;
    std::vector<VirtioBlkDiscardWriteZeroes> segs;
    uint32_t type;
    uint8_t want;
  };
  const Case cases[] = {
      {"unmap on discard",
       {{0, 1, kVirtioBlkWriteZeroesFlagUnmap}},
       kVirtioBlkTDiscard,
       kVirtioBlkSUnsupp},
      {"unknown flag", {{0, 1, 2}}, kVirtioBlkTWriteZeroes, kVirtioBlkSUnsupp},
      {"past the end",
       {{sectors - 1, 2, 0}},
       kVirtioBlkTDiscard,
       kVirtioBlkSIoErr},
      {"overflowing",
       {{~uint64_t{0}, 2, 0}},
       kVirtioBlkTWriteZeroes,
       kVirtioBlkSIoErr},
      {"too large",
       {{0, (1u << 22) + 1, 0}},
       kVirtioBlkTDiscard,
       kVirtioBlkSIoErr},
      {"second bad",
       {{0, 1, 0}, {sectors, 1, 0}},
       kVirtioBlkTWriteZeroes,
       kVirtioBlkSIoErr},
      {"too many", std::vector<VirtioBlkDiscardWriteZeroes>(33, {0, 1, 0}),
       kVirtioBlkTDiscard, kVirtioBlkSIoErr},
  };
  for (const Case& c : cases) {
    GuestAddr seg = g.Segments(c.segs);
    EXPECT_EQ(
        g.Run(c.type, 0, seg, static_cast<uint32_t>(16 * c.segs.size()), false),
        c.want)
        << c.name;
  }
  // Partial segment and no segment at all.
  GuestAddr seg = g.Segments({{0, 1, 0}});
  EXPECT_EQ(g.Run(kVirtioBlkTDiscard, 0, seg, 15, false), kVirtioBlkSIoErr);
  EXPECT_EQ(g.Run(kVirtioBlkTDiscard, 0, seg, 0, false), kVirtioBlkSIoErr);
  EXPECT_TRUE(g.backend->ops().empty());
}

TEST(VirtioBlk, BadRequestsGetAnErrorStatus) {
  Guest g;
  GuestAddr buf = g.driver->Alloc(4096);
  const uint64_t sectors = kDiskSize / 512;
  EXPECT_EQ(g.Run(kVirtioBlkTIn, 0, buf, 100, true), kVirtioBlkSIoErr);
  EXPECT_EQ(g.Run(kVirtioBlkTIn, sectors, buf, 512, true), kVirtioBlkSIoErr);
  EXPECT_EQ(g.Run(kVirtioBlkTIn, sectors - 1, buf, 1024, true),
            kVirtioBlkSIoErr);
  EXPECT_EQ(g.Run(kVirtioBlkTOut, ~uint64_t{0}, buf, 512, false),
            kVirtioBlkSIoErr);
  EXPECT_EQ(g.Run(kVirtioBlkTOut, uint64_t{1} << 55, buf, 512, false),
            kVirtioBlkSIoErr);
  EXPECT_EQ(g.Run(2 /* SCSI */, 0, buf, 512, true), kVirtioBlkSUnsupp);
  EXPECT_EQ(g.Run(0x1234, 0, buf, 512, true), kVirtioBlkSUnsupp);
  // Data in the wrong direction: a write whose data the device may only
  // write to carries zero bytes of payload, which is a harmless no-op; the
  // backend never sees it.
  EXPECT_EQ(g.Run(kVirtioBlkTOut, 0, buf, 512, true), kVirtioBlkSOk);
  EXPECT_TRUE(g.backend->ops().empty());

  // Short header.
  GuestAddr hdr = g.driver->Alloc(16);
  GuestAddr status = g.driver->Alloc(1);
  g.queue->Add({{hdr, 8, false}, {status, 1, true}});
  g.driver->Notify(0);
  ASSERT_TRUE(g.queue->PopUsed().has_value());
  EXPECT_EQ(g.Status(status), kVirtioBlkSIoErr);

  // No writable byte at all: nowhere to put a status; completed with len 0.
  g.queue->Add({{hdr, 16, false}});
  g.driver->Notify(0);
  auto used = g.queue->PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, 0u);
  EXPECT_FALSE(g.driver->status() & kStatusNeedsReset);
}

TEST(VirtioBlk, BackendErrorsBecomeIoErr) {
  Guest g;
  GuestAddr buf = g.driver->Alloc(512);
  g.backend->FailNext(-EIO);
  EXPECT_EQ(g.Run(kVirtioBlkTIn, 0, buf, 512, true), kVirtioBlkSIoErr);
  EXPECT_EQ(g.Run(kVirtioBlkTIn, 0, buf, 512, true), kVirtioBlkSOk);
}

TEST(VirtioBlk, OnePassBatchesInterruptsAndKicks) {
  Guest g;
  std::vector<GuestAddr> statuses;
  for (int i = 0; i < 10; ++i) {
    statuses.push_back(
        g.Post(kVirtioBlkTIn, i, g.driver->Alloc(512), 512, true));
  }
  g.driver->Notify(0);
  EXPECT_EQ(g.irq.rising_edges(), 1);
  EXPECT_EQ(g.backend->kicks(), 1);
  for (GuestAddr s : statuses) EXPECT_EQ(g.Status(s), kVirtioBlkSOk);
  int used = 0;
  while (g.queue->PopUsed().has_value()) ++used;
  EXPECT_EQ(used, 10);
}

TEST(VirtioBlk, ManyRequestsInFlight) {
  Guest g({.deferred = true});
  std::vector<GuestAddr> statuses;
  std::vector<GuestAddr> bufs;
  for (int i = 0; i < 40; ++i) {
    bufs.push_back(g.driver->Alloc(4096));
    statuses.push_back(g.Post(kVirtioBlkTIn, 8 * i, bufs.back(), 4096, true));
  }
  g.driver->Notify(0);
  EXPECT_EQ(g.backend->pending(), 40u);
  EXPECT_EQ(g.device->in_flight(), 40u);
  EXPECT_EQ(g.backend->kicks(), 1);
  EXPECT_FALSE(g.queue->PopUsed().has_value());
  g.backend->CompleteAll();
  EXPECT_EQ(g.device->in_flight(), 0u);
  int used = 0;
  while (g.queue->PopUsed().has_value()) ++used;
  EXPECT_EQ(used, 40);
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(g.Status(statuses[i]), kVirtioBlkSOk);
    uint8_t first = *g.mem->ReadObj<uint8_t>(bufs[i]);
    EXPECT_EQ(first, static_cast<uint8_t>(8 * i * 512 * 7 + 1));
  }
}

TEST(VirtioBlk, EventIdxSuppressesInterruptsTheDriverDidNotAskFor) {
  Guest g({.deferred = true, .drop_features = 0});
  ASSERT_TRUE(g.features & kEventIdx);
  for (int i = 0; i < 4; ++i) {
    g.Post(kVirtioBlkTIn, i, g.driver->Alloc(512), 512, true);
  }
  g.queue->SetUsedEvent(2);  // wake me when the third completes
  g.driver->Notify(0);
  g.backend->CompleteAll();
  EXPECT_EQ(g.irq.rising_edges(), 1);
}

// While requests are in flight the driver need not notify: each completion
// looks at the ring again, and the last one re-arms notifications.
void NotificationsOffWhileInFlight(bool event_idx) {
  Guest g({.deferred = true, .drop_features = event_idx ? 0 : kEventIdx});
  ASSERT_EQ((g.features & kEventIdx) != 0, event_idx);
  g.Post(kVirtioBlkTIn, 0, g.driver->Alloc(512), 512, true);
  g.driver->Notify(0);
  ASSERT_EQ(g.backend->pending(), 1u);
  const uint16_t old = g.queue->avail_idx();
  GuestAddr later[2];
  for (GuestAddr& status : later) {
    status = g.Post(kVirtioBlkTIn, 1, g.driver->Alloc(512), 512, true);
  }
  EXPECT_FALSE(g.queue->NeedsNotify(old, event_idx));
  // The completion of the first request starts the two added since.
  g.backend->CompleteNext();
  EXPECT_EQ(g.backend->pending(), 2u);
  EXPECT_EQ(g.Status(later[0]), 0xee);
  g.backend->CompleteAll();
  for (GuestAddr status : later) EXPECT_EQ(g.Status(status), kVirtioBlkSOk);
  EXPECT_EQ(g.device->in_flight(), 0u);
  EXPECT_EQ(g.backend->kicks(), 2);
  // Nothing in flight: the next request must be notified again.
  const uint16_t idle = g.queue->avail_idx();
  g.Post(kVirtioBlkTIn, 2, g.driver->Alloc(512), 512, true);
  EXPECT_TRUE(g.queue->NeedsNotify(idle, event_idx));
  g.driver->Notify(0);
  EXPECT_EQ(g.backend->pending(), 1u);
}

TEST(VirtioBlk, NoNotifyNeededWhileRequestsAreInFlightEventIdx) {
  NotificationsOffWhileInFlight(true);
}

TEST(VirtioBlk, NoNotifyNeededWhileRequestsAreInFlightFlags) {
  NotificationsOffWhileInFlight(false);
}

TEST(VirtioBlk, InlineCompletionsLeaveNotificationsOn) {
  Guest g({.drop_features = 0});
  const uint16_t old = g.queue->avail_idx();
  EXPECT_EQ(g.Run(kVirtioBlkTIn, 0, g.driver->Alloc(512), 512, true),
            kVirtioBlkSOk);
  g.Post(kVirtioBlkTIn, 0, g.driver->Alloc(512), 512, true);
  EXPECT_TRUE(g.queue->NeedsNotify(static_cast<uint16_t>(old + 1), true));
}

TEST(VirtioBlk, PausedDeviceStartsNothingUntilResume) {
  Guest g({.deferred = true, .drop_features = 0});
  g.Post(kVirtioBlkTIn, 0, g.driver->Alloc(512), 512, true);
  g.driver->Notify(0);
  GuestAddr later = g.Post(kVirtioBlkTIn, 1, g.driver->Alloc(512), 512, true);
  g.mmio->Pause();
  g.backend->CompleteAll();
  g.device->WaitIdle();
  EXPECT_EQ(g.backend->pending(), 0u);
  g.mmio->Resume();
  EXPECT_EQ(g.backend->pending(), 1u);
  g.backend->CompleteAll();
  EXPECT_EQ(g.Status(later), kVirtioBlkSOk);
}

TEST(VirtioBlk, MalformedRingFoundByACompletionNeedsResetOnNextNotify) {
  Guest g({.deferred = true, .drop_features = 0});
  g.Post(kVirtioBlkTIn, 0, g.driver->Alloc(512), 512, true);
  g.driver->Notify(0);
  const uint16_t old = g.queue->avail_idx();
  g.queue->WriteDesc(5, {0x2000, 16, kVirtqDescFNext, 6});
  g.queue->WriteDesc(6, {0x2000, 16, kVirtqDescFNext, 5});
  g.queue->PushAvail(5);
  g.backend->CompleteAll();
  EXPECT_FALSE(g.driver->status() & kStatusNeedsReset);
  EXPECT_TRUE(g.queue->NeedsNotify(old, true));
  g.driver->Notify(0);
  EXPECT_TRUE(g.driver->status() & kStatusNeedsReset);
}

TEST(VirtioBlk, ResetDropsCompletionsOfTheOldQueue) {
  Guest g({.deferred = true});
  GuestAddr status = g.Post(kVirtioBlkTIn, 0, g.driver->Alloc(512), 512, true);
  g.driver->Notify(0);
  g.driver->Write32(kMmioStatus, 0);
  g.backend->CompleteAll();
  EXPECT_EQ(g.Status(status), 0xee);
  EXPECT_EQ(g.queue->used_idx(), 0);
}

TEST(VirtioBlk, MalformedRingNeedsReset) {
  Guest g;
  g.queue->WriteDesc(0, {0x2000, 16, kVirtqDescFNext, 1});
  g.queue->WriteDesc(1, {0x2000, 16, kVirtqDescFNext, 0});
  g.queue->PushAvail(0);
  g.driver->Notify(0);
  EXPECT_TRUE(g.driver->status() & kStatusNeedsReset);
  // Later notifications do nothing until the driver resets.
  g.driver->Notify(0);
  EXPECT_EQ(g.queue->used_idx(), 0);
}

// The production threading model: QueueNotify on the "vCPU" (test) thread
// hands the queue to a device thread, which runs ProcessQueue and the
// backend's completions; the driver waits for its used entries.
TEST(VirtioBlk, ProcessQueueOnADeviceThread) {
  Guest g;
  struct Work {
    std::deque<uint32_t> queues;
    bool stop = false;
  };
  absl::Mutex mu;
  Work work;
  g.mmio->set_notify([&](uint32_t q) {
    absl::MutexLock lock(&mu);
    work.queues.push_back(q);
  });
  std::thread device_thread([&] {
    for (;;) {
      uint32_t q;
      {
        absl::MutexLock lock(&mu);
        mu.Await(absl::Condition(
            +[](Work* w) { return !w->queues.empty() || w->stop; }, &work));
        if (work.queues.empty()) return;
        q = work.queues.front();
        work.queues.pop_front();
      }
      g.mmio->ProcessQueue(q);
    }
  });
  constexpr int kRequests = 200;
  int completed = 0;
  for (int i = 0; i < kRequests; ++i) {
    // Reap completions whenever the ring has no room for another request.
    while (g.queue->free_descriptors() < 3) {
      if (g.queue->PopUsed().has_value()) ++completed;
    }
    g.Post(kVirtioBlkTIn, i % 64, g.driver->Alloc(512), 512, true);
    g.driver->Notify(0);
  }
  while (completed < kRequests) {
    if (g.queue->PopUsed().has_value()) ++completed;
  }
  {
    absl::MutexLock lock(&mu);
    work.stop = true;
  }
  device_thread.join();
  EXPECT_EQ(completed, kRequests);
  EXPECT_FALSE(g.driver->status() & kStatusNeedsReset);
}

}  // namespace
}  // namespace skiff::devices
