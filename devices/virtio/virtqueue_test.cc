#include "devices/virtio/virtqueue.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "devices/virtio/testing/virtio_driver.h"

namespace skiff::devices {
namespace {

using testing::Buffer;
using testing::DriverQueue;

constexpr uint64_t kIndirect = uint64_t{1} << kVirtioRingFIndirectDesc;
constexpr uint64_t kEventIdx = uint64_t{1} << kVirtioRingFEventIdx;

std::unique_ptr<GuestMemory> MakeMemory(
    std::vector<GuestMemory::RegionSpec> regions = {{GuestAddr(0), 1 << 20}}) {
  auto mem = GuestMemory::Create(std::move(regions), {});
  EXPECT_TRUE(mem.ok()) << mem.status();
  return std::move(*mem);
}

struct Fixture {
  explicit Fixture(uint16_t size = 16, uint64_t features = 0)
      : mem(MakeMemory()), driver(*mem, GuestAddr(0x1000), size) {
    auto q = Virtqueue::Create(*mem, driver.layout(), features);
    EXPECT_TRUE(q.ok()) << q.status();
    queue.emplace(std::move(*q));
  }
  std::unique_ptr<GuestMemory> mem;
  DriverQueue driver;
  std::optional<Virtqueue> queue;
  DescriptorChain chain;
};

TEST(VringNeedEvent, WindowIsModulo65536) {
  EXPECT_TRUE(VringNeedEvent(0, 1, 0));
  EXPECT_FALSE(VringNeedEvent(1, 1, 0));  // event 1 fires at idx 2
  EXPECT_TRUE(VringNeedEvent(4, 5, 3));
  EXPECT_FALSE(VringNeedEvent(2, 5, 3));           // already signalled past 2
  EXPECT_FALSE(VringNeedEvent(5, 5, 5));           // nothing new
  EXPECT_TRUE(VringNeedEvent(0xffff, 1, 0xfffe));  // window across the wrap
  EXPECT_TRUE(VringNeedEvent(0, 1, 0xfffe));
  EXPECT_FALSE(VringNeedEvent(2, 1, 0xfffe));
}

TEST(Virtqueue, CreateRejectsBadLayouts) {
  auto mem = MakeMemory();
  auto make = [&](uint16_t size, uint64_t d, uint64_t a, uint64_t u) {
    return Virtqueue::Create(
               *mem, {size, GuestAddr(d), GuestAddr(a), GuestAddr(u)}, 0)
        .status();
  };
  EXPECT_TRUE(make(16, 0x1000, 0x2000, 0x3000).ok());
  EXPECT_FALSE(make(0, 0x1000, 0x2000, 0x3000).ok());
  EXPECT_FALSE(make(12, 0x1000, 0x2000, 0x3000).ok());
  EXPECT_FALSE(make(16, 0x1008, 0x2000, 0x3000).ok());  // desc needs 16
  EXPECT_FALSE(make(16, 0x1000, 0x2001, 0x3000).ok());  // avail needs 2
  EXPECT_FALSE(make(16, 0x1000, 0x2000, 0x3002).ok());  // used needs 4
  EXPECT_FALSE(make(16, (1 << 20) - 16, 0x2000, 0x3000).ok());
  EXPECT_FALSE(make(16, 0x1000, 0x2000, (1 << 20) - 8).ok());
  EXPECT_FALSE(make(16, 0xffff'ffff'ffff'fff0, 0x2000, 0x3000).ok());
}

TEST(Virtqueue, EmptyRingPopsNothing) {
  Fixture f;
  auto got = f.queue->Pop(f.chain);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(*got);
}

TEST(Virtqueue, PopsReadableThenWritableBuffers) {
  Fixture f;
  ASSERT_TRUE(f.mem->Write(GuestAddr(0x8000), {1, 2, 3, 4}).ok());
  int head = f.driver.Add({{GuestAddr(0x8000), 4, false},
                           {GuestAddr(0x9000), 100, false},
                           {GuestAddr(0xa000), 8, true}});
  ASSERT_GE(head, 0);
  auto got = f.queue->Pop(f.chain);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(*got);
  EXPECT_EQ(f.chain.head, head);
  ASSERT_EQ(f.chain.readable.size(), 2u);
  ASSERT_EQ(f.chain.writable.size(), 1u);
  EXPECT_EQ(f.chain.readable_bytes, 104u);
  EXPECT_EQ(f.chain.writable_bytes, 8u);
  EXPECT_EQ(f.chain.descriptors, 3u);
  EXPECT_EQ(static_cast<uint8_t*>(f.chain.readable[0].iov_base)[2], 3);
  EXPECT_EQ(f.chain.readable[0].iov_base,
            f.mem->TrySlice(GuestAddr(0x8000), 4).data());
  EXPECT_EQ(f.chain.writable[0].iov_base,
            f.mem->TrySlice(GuestAddr(0xa000), 8).data());
  EXPECT_FALSE(*f.queue->Pop(f.chain));
}

TEST(Virtqueue, UsedElementsAppearOnPublish) {
  Fixture f;
  int head = f.driver.Add({{GuestAddr(0x8000), 8, true}});
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  f.queue->AddUsed(f.chain.head, 5);
  EXPECT_FALSE(f.driver.PopUsed().has_value());
  EXPECT_TRUE(f.queue->PublishUsed());
  auto used = f.driver.PopUsed();
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->id, static_cast<uint32_t>(head));
  EXPECT_EQ(used->len, 5u);
  EXPECT_FALSE(f.queue->PublishUsed());  // nothing new
}

// The interpreter trusts decoded guest code until the write epoch moves
// (GuestMemory::NoteWrite): what a device wrote must move it by the time
// the used index exposes it, when it may have changed code: a buffer on a
// page marked as holding code, as the chain was popped or since.
TEST(Virtqueue, PublishingReportsWritesToCodePages) {
  Fixture f;
  // Not code: the epoch stays.
  f.driver.Add({{GuestAddr(0x8000), 8, true}});
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  EXPECT_FALSE(f.chain.writes_code);
  f.queue->AddUsed(f.chain.head, 5);
  uint64_t epoch = f.mem->write_epoch();
  f.queue->PublishUsed();
  EXPECT_EQ(f.mem->write_epoch(), epoch);
  // A writable buffer on a code page as it is popped.
  ASSERT_TRUE(f.mem->MarkCodePage(0x9000));
  f.driver.Add({{GuestAddr(0x8000), 8, false}, {GuestAddr(0x8ff0), 32, true}});
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  EXPECT_TRUE(f.chain.writes_code);
  f.queue->AddUsed(f.chain.head, 32);
  f.queue->PublishUsed();
  EXPECT_GT(f.mem->write_epoch(), epoch);
  // A readable one there is not a write.
  epoch = f.mem->write_epoch();
  f.driver.Add({{GuestAddr(0x9000), 8, false}, {GuestAddr(0x8000), 8, true}});
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  EXPECT_FALSE(f.chain.writes_code);
  f.queue->AddUsed(f.chain.head, 8);
  f.queue->PublishUsed();
  EXPECT_EQ(f.mem->write_epoch(), epoch);
  // A page marked after the pop (code decoded from it while the device
  // wrote): the device cannot tell which, so it reports.
  f.driver.Add({{GuestAddr(0xa000), 8, true}});
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  EXPECT_FALSE(f.chain.writes_code);
  ASSERT_TRUE(f.mem->MarkCodePage(0x20000));
  f.queue->AddUsed(f.chain.head, 8);
  f.queue->PublishUsed();
  EXPECT_GT(f.mem->write_epoch(), epoch);
}

TEST(Virtqueue, RingWritesOnACodePageAreReported) {
  Fixture f;
  uint64_t epoch = f.mem->write_epoch();
  f.queue->DisableNotification();
  f.queue->EnableNotification();
  EXPECT_EQ(f.mem->write_epoch(), epoch);
  // The rings live from 0x1000 (Fixture); mark every page they may use.
  for (uint64_t page = 0x1000; page < 0x8000; page += 0x1000) {
    ASSERT_TRUE(f.mem->MarkCodePage(page));
  }
  f.queue->DisableNotification();
  EXPECT_GT(f.mem->write_epoch(), epoch);
  epoch = f.mem->write_epoch();
  f.queue->EnableNotification();
  EXPECT_GT(f.mem->write_epoch(), epoch);
  epoch = f.mem->write_epoch();
  f.driver.Add({{GuestAddr(0x8000), 8, true}});
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  f.queue->AddUsed(f.chain.head, 8);
  f.queue->PublishUsed();
  EXPECT_GT(f.mem->write_epoch(), epoch);
}

TEST(Virtqueue, NoInterruptFlagSuppressesInterrupts) {
  Fixture f;
  f.driver.SetAvailFlags(kVirtqAvailFNoInterrupt);
  f.driver.Add({{GuestAddr(0x8000), 8, true}});
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  f.queue->AddUsed(f.chain.head, 0);
  EXPECT_FALSE(f.queue->PublishUsed());
  EXPECT_TRUE(f.driver.PopUsed().has_value());
}

TEST(Virtqueue, IndirectChain) {
  Fixture f(16, kIndirect);
  int head = f.driver.AddIndirect({{GuestAddr(0x8000), 16, false},
                                   {GuestAddr(0x9000), 512, true},
                                   {GuestAddr(0xa000), 1, true}},
                                  GuestAddr(0x7000));
  auto got = f.queue->Pop(f.chain);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(*got);
  EXPECT_EQ(f.chain.head, head);
  EXPECT_EQ(f.chain.readable.size(), 1u);
  EXPECT_EQ(f.chain.writable.size(), 2u);
  EXPECT_EQ(f.chain.writable_bytes, 513u);
  EXPECT_EQ(f.chain.descriptors, 3u);
}

TEST(Virtqueue, IndirectNeedsTheFeature) {
  Fixture f(16, 0);
  f.driver.AddIndirect({{GuestAddr(0x8000), 16, false}}, GuestAddr(0x7000));
  EXPECT_FALSE(f.queue->Pop(f.chain).ok());
}

TEST(Virtqueue, MalformedIndirectTablesAreErrors) {
  struct Case {
    const char* name;
    VirtqDesc pointer;
    VirtqDesc entry;
  };
  const Case cases[] = {
      {"nested",
       {0x7000, 16, kVirtqDescFIndirect, 0},
       {0x7000, 16, kVirtqDescFIndirect, 0}},
      {"with next",
       {0x7000, 16, kVirtqDescFIndirect | kVirtqDescFNext, 1},
       {0x8000, 4, 0, 0}},
      {"empty", {0x7000, 0, kVirtqDescFIndirect, 0}, {0x8000, 4, 0, 0}},
      {"partial", {0x7000, 24, kVirtqDescFIndirect, 0}, {0x8000, 4, 0, 0}},
      {"too long",
       {0x7000, 16 * 1025, kVirtqDescFIndirect, 0},
       {0x8000, 4, 0, 0}},
      {"outside ram",
       {(1 << 20) - 16, 32, kVirtqDescFIndirect, 0},
       {0x8000, 4, 0, 0}},
      {"next past table",
       {0x7000, 16, kVirtqDescFIndirect, 0},
       {0x8000, 4, kVirtqDescFNext, 1}},
      {"loop in table",
       {0x7000, 16, kVirtqDescFIndirect, 0},
       {0x8000, 4, kVirtqDescFNext, 0}},
  };
  for (const Case& c : cases) {
    Fixture f(16, kIndirect);
    ASSERT_TRUE(f.mem->WriteObj(GuestAddr(0x7000), c.entry).ok());
    f.driver.WriteDesc(0, c.pointer);
    f.driver.WriteDesc(1, {0x8000, 4, 0, 0});
    f.driver.PushAvail(0);
    EXPECT_FALSE(f.queue->Pop(f.chain).ok()) << c.name;
  }
}

TEST(Virtqueue, MalformedChainsAreErrors) {
  struct Case {
    const char* name;
    VirtqDesc d0;
    VirtqDesc d1;
    uint16_t head;
  };
  const Case cases[] = {
      {"loop",
       {0x8000, 4, kVirtqDescFNext, 1},
       {0x8000, 4, kVirtqDescFNext, 0},
       0},
      {"self loop", {0x8000, 4, kVirtqDescFNext, 0}, {}, 0},
      {"next out of range", {0x8000, 4, kVirtqDescFNext, 16}, {}, 0},
      {"head out of range", {}, {}, 16},
      {"buffer outside ram", {1 << 20, 4, 0, 0}, {}, 0},
      {"buffer crossing end of ram", {(1 << 20) - 2, 4, 0, 0}, {}, 0},
      {"buffer wrapping", {0xffff'ffff'ffff'fffe, 4, 0, 0}, {}, 0},
      {"readable after writable",
       {0x8000, 4, kVirtqDescFWrite | kVirtqDescFNext, 1},
       {0x9000, 4, 0, 0},
       0},
  };
  for (const Case& c : cases) {
    Fixture f;
    f.driver.WriteDesc(0, c.d0);
    f.driver.WriteDesc(1, c.d1);
    f.driver.PushAvail(c.head);
    EXPECT_FALSE(f.queue->Pop(f.chain).ok()) << c.name;
  }
}

TEST(Virtqueue, IndirectTableLongerThanTheQueueIsAccepted) {
  Fixture f(4, kIndirect);
  std::vector<Buffer> bufs(30, Buffer{GuestAddr(0x8000), 1, false});
  ASSERT_GE(f.driver.AddIndirect(bufs, GuestAddr(0x7000)), 0);
  auto got = f.queue->Pop(f.chain);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(f.chain.readable.size(), 30u);
  EXPECT_EQ(f.chain.descriptors, 30u);
}

TEST(Virtqueue, ChainAsLongAsTheQueueIsAccepted) {
  Fixture f(4);
  std::vector<Buffer> bufs(4, Buffer{GuestAddr(0x8000), 1, false});
  ASSERT_GE(f.driver.Add(bufs), 0);
  auto got = f.queue->Pop(f.chain);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(f.chain.readable.size(), 4u);
}

TEST(Virtqueue, AvailIndexTooFarAheadIsAnError) {
  Fixture f(4);
  f.driver.SetAvailIdx(5);
  EXPECT_FALSE(f.queue->Pop(f.chain).ok());
}

TEST(Virtqueue, ZeroLengthBuffersMapToNothing) {
  Fixture f;
  f.driver.Add({{GuestAddr(0x8000), 0, false}, {GuestAddr(0x9000), 4, true}});
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  EXPECT_TRUE(f.chain.readable.empty());
  EXPECT_EQ(f.chain.writable.size(), 1u);
}

TEST(Virtqueue, BufferAcrossAdjacentRegionsIsSplit) {
  auto mem =
      MakeMemory({{GuestAddr(0), 0x10000}, {GuestAddr(0x10000), 0x10000}});
  DriverQueue driver(*mem, GuestAddr(0x1000), 8);
  auto q = Virtqueue::Create(*mem, driver.layout(), 0);
  ASSERT_TRUE(q.ok());
  driver.Add({{GuestAddr(0xff00), 0x200, true}});
  DescriptorChain chain;
  ASSERT_TRUE(*q->Pop(chain));
  ASSERT_EQ(chain.writable.size(), 2u);
  EXPECT_EQ(chain.writable[0].iov_len, 0x100u);
  EXPECT_EQ(chain.writable[1].iov_len, 0x100u);
  EXPECT_EQ(chain.writable[1].iov_base,
            mem->TrySlice(GuestAddr(0x10000), 1).data());
  EXPECT_EQ(chain.writable_bytes, 0x200u);
}

TEST(Virtqueue, BufferIntoAHoleIsRejected) {
  auto mem =
      MakeMemory({{GuestAddr(0), 0x10000}, {GuestAddr(0x20000), 0x10000}});
  DriverQueue driver(*mem, GuestAddr(0x1000), 8);
  auto q = Virtqueue::Create(*mem, driver.layout(), 0);
  ASSERT_TRUE(q.ok());
  driver.Add({{GuestAddr(0xff00), 0x200, true}});
  DescriptorChain chain;
  EXPECT_FALSE(q->Pop(chain).ok());
}

TEST(Virtqueue, IndicesWrapAround) {
  Fixture f(4);
  for (int i = 0; i < 70000; ++i) {
    int head = f.driver.Add({{GuestAddr(0x8000), 8, true}});
    ASSERT_GE(head, 0) << i;
    auto got = f.queue->Pop(f.chain);
    ASSERT_TRUE(got.ok() && *got) << i;
    f.queue->AddUsed(f.chain.head, static_cast<uint32_t>(i));
    f.queue->PublishUsed();
    auto used = f.driver.PopUsed();
    ASSERT_TRUE(used.has_value()) << i;
    ASSERT_EQ(used->len, static_cast<uint32_t>(i));
  }
  EXPECT_EQ(f.queue->next_avail(), static_cast<uint16_t>(70000));
  EXPECT_EQ(f.driver.used_idx(), static_cast<uint16_t>(70000));
}

TEST(Virtqueue, EventIdxInterruptsOnlyWhenUsedEventIsCrossed) {
  Fixture f(16, kEventIdx);
  for (int i = 0; i < 3; ++i) f.driver.Add({{GuestAddr(0x8000), 8, true}});
  f.driver.SetUsedEvent(1);  // "interrupt me when used idx passes 1"
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  f.queue->AddUsed(f.chain.head, 0);
  EXPECT_FALSE(f.queue->PublishUsed());  // used idx 0 -> 1: event 1 not hit
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  f.queue->AddUsed(f.chain.head, 0);
  EXPECT_TRUE(f.queue->PublishUsed());  // 1 -> 2 crosses event 1
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  f.queue->AddUsed(f.chain.head, 0);
  EXPECT_FALSE(f.queue->PublishUsed());  // 2 -> 3, event still 1
}

TEST(Virtqueue, EnableNotificationPublishesAvailEvent) {
  Fixture f(16, kEventIdx);
  f.driver.Add({{GuestAddr(0x8000), 8, true}});
  f.driver.Add({{GuestAddr(0x8000), 8, true}});
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  EXPECT_TRUE(f.queue->EnableNotification());  // one more is waiting
  EXPECT_EQ(f.driver.avail_event(), 1);
  ASSERT_TRUE(*f.queue->Pop(f.chain));
  EXPECT_FALSE(f.queue->EnableNotification());
  EXPECT_EQ(f.driver.avail_event(), 2);
}

}  // namespace
}  // namespace skiff::devices
