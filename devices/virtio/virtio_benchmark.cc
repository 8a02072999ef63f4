// Micro-benchmarks of virtqueue processing: descriptor-chain pops per
// second (the walker alone) and virtio-blk 4 KiB reads per second through
// the whole device (transport, parsing, an in-memory backend, used ring).
//
//   ninja -C build devices/virtio/virtio_benchmark
//   build/devices/virtio/virtio_benchmark --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "base/guest_memory.h"
#include "devices/virtio/testing/memory_block_backend.h"
#include "devices/virtio/testing/virtio_driver.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtqueue.h"

namespace skiff::devices {
namespace {

std::unique_ptr<GuestMemory> Memory() {
  auto m = GuestMemory::Create({{GuestAddr(0), 16 << 20}}, {});
  return m.ok() ? std::move(*m) : nullptr;
}

// Pop + used-ring round trip of a 3-descriptor chain (header, data,
// status: a block request's shape), optionally through an indirect table.
void BM_VirtqueuePop(benchmark::State& state) {
  const bool indirect = state.range(0);
  auto mem = Memory();
  testing::DriverQueue driver(*mem, GuestAddr(0x1000), 256);
  auto q = Virtqueue::Create(*mem, driver.layout(),
                             uint64_t{1} << kVirtioRingFIndirectDesc);
  if (!q.ok()) {
    state.SkipWithError("queue");
    return;
  }
  const std::vector<testing::Buffer> bufs = {{GuestAddr(0x100000), 16, false},
                                             {GuestAddr(0x101000), 4096, true},
                                             {GuestAddr(0x102000), 1, true}};
  DescriptorChain chain;
  constexpr int kBatch = 64;
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      if (indirect) {
        driver.AddIndirect(bufs, GuestAddr(0x80000 + 64 * i));
      } else {
        driver.Add(bufs);
      }
    }
    for (int i = 0; i < kBatch; ++i) {
      auto got = q->Pop(chain);
      if (!got.ok() || !*got) {
        state.SkipWithError("pop");
        return;
      }
      q->AddUsed(chain.head, 4097);
    }
    q->PublishUsed();
    while (driver.PopUsed().has_value()) {
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_VirtqueuePop)->Arg(0)->Arg(1);

// 4 KiB reads, 32 per notification, through VirtioMmio + VirtioBlk.
void BM_VirtioBlkRead4K(benchmark::State& state) {
  auto mem = Memory();
  VirtioMmio mmio(*mem,
                  std::make_unique<VirtioBlk>(
                      std::make_unique<testing::MemoryBlockBackend>(64 << 20),
                      VirtioBlk::Options{}),
                  nullptr);
  testing::VirtioMmioDriver driver(*mem, mmio, GuestAddr(0x1000));
  if (!driver.Negotiate(driver.DeviceFeatures()).ok()) {
    state.SkipWithError("negotiate");
    return;
  }
  auto q = driver.SetupQueue(0, 256);
  if (!q.ok()) {
    state.SkipWithError("queue");
    return;
  }
  driver.DriverOk();
  constexpr int kDepth = 32;
  std::vector<GuestAddr> hdrs, datas, statuses;
  for (int i = 0; i < kDepth; ++i) {
    hdrs.push_back(driver.Alloc(16));
    datas.push_back(driver.Alloc(4096, 4096));
    statuses.push_back(driver.Alloc(1));
  }
  uint64_t sector = 0;
  for (auto _ : state) {
    for (int i = 0; i < kDepth; ++i) {
      (void)mem->WriteObj(hdrs[i], VirtioBlkOutHdr{kVirtioBlkTIn, 0, sector});
      sector = (sector + 8 * 37) % ((64 << 20) / 512 - 8);
      (*q)->Add({{hdrs[i], 16, false},
                 {datas[i], 4096, true},
                 {statuses[i], 1, true}});
    }
    driver.Notify(0);
    int done = 0;
    while ((*q)->PopUsed().has_value()) ++done;
    if (done != kDepth) {
      state.SkipWithError("lost requests");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations() * kDepth);
  state.SetBytesProcessed(state.iterations() * kDepth * 4096);
}
BENCHMARK(BM_VirtioBlkRead4K);

}  // namespace
}  // namespace skiff::devices

BENCHMARK_MAIN();
