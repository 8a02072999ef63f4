// 4 KiB random reads from a temporary raw image: UringBlockBackend at queue
// depth 1 and 32 against plain pread (one thread, and 32 threads as the
// synchronous way to keep 32 reads in flight), through the page cache and
// with O_DIRECT.
//
//   build-io/io/io_benchmark --benchmark_min_time=1
//
// Args: {queue depth, direct}. The uring benchmarks drive the event loop on
// the benchmark thread (Run), so they measure the backend, not a thread hop.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "io/event_loop.h"
#include "io/uring_block_backend.h"

namespace skiff::io {
namespace {

constexpr uint64_t kImageSize = 64 << 20;
constexpr size_t kBlock = 4096;

// The image is created once per process and removed at exit.
class Image {
 public:
  static const std::string& Path() {
    static Image* image = new Image();  // never destroyed: benchmark lifetime
    return image->path_;
  }

 private:
  Image() {
    char path[] = "/tmp/skiff_io_bench_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
      std::perror("mkstemp");
      std::exit(1);
    }
    std::vector<uint8_t> chunk(1 << 20);
    std::mt19937_64 rng(1);
    for (uint64_t done = 0; done < kImageSize; done += chunk.size()) {
      for (auto& b : chunk) b = static_cast<uint8_t>(rng());
      if (write(fd, chunk.data(), chunk.size()) !=
          static_cast<ssize_t>(chunk.size())) {
        std::perror("write");
        std::exit(1);
      }
    }
    fsync(fd);
    close(fd);
    path_ = path;
    std::atexit([] { unlink(Path().c_str()); });
  }
  std::string path_;
};

uint8_t* AlignedBuffers(size_t count) {
  void* mem = nullptr;
  if (posix_memalign(&mem, 4096, count * kBlock) != 0) std::abort();
  return static_cast<uint8_t*>(mem);
}

void BM_UringRandomRead(benchmark::State& state) {
  const int depth = static_cast<int>(state.range(0));
  const bool direct = state.range(1) != 0;
  auto loop = EventLoop::Create();
  if (!loop.ok()) {
    state.SkipWithError(std::string(loop.status().message()).c_str());
    return;
  }
  auto disk = UringBlockBackend::Open(
      loop->get(),
      {.path = Image::Path(), .read_only = true, .direct = direct});
  if (!disk.ok()) {
    state.SkipWithError(std::string(disk.status().message()).c_str());
    return;
  }
  std::unique_ptr<uint8_t, decltype(&free)> bufs(AlignedBuffers(depth), &free);
  std::mt19937_64 rng(7);
  int in_flight = 0;
  bool finished = false;
  bool failed = false;
  EventLoop& l = **loop;
  UringBlockBackend& d = **disk;

  // Each completion starts the next read in the same slot, so `depth`
  // reads stay in flight until the benchmark has enough iterations.
  std::function<void(int)> issue = [&](int slot) {
    ++in_flight;
    uint64_t offset = (rng() % (kImageSize / kBlock)) * kBlock;
    d.Submit({.op = devices::BlockOp::kRead,
              .offset = offset,
              .iov = {{bufs.get() + slot * kBlock, kBlock}},
              .done = [&, slot](int64_t res) {
                --in_flight;
                if (res != static_cast<int64_t>(kBlock)) failed = true;
                if (!finished && !failed && state.KeepRunning()) {
                  issue(slot);
                } else {
                  finished = true;
                  if (in_flight == 0) l.Stop();
                }
              }});
  };
  l.Post([&] {
    for (int i = 0; i < depth; ++i) {
      if (!state.KeepRunning()) {
        finished = true;
        break;
      }
      issue(i);
    }
    if (in_flight == 0) l.Stop();
    d.Kick();
  });
  l.Run();
  if (failed) state.SkipWithError("a read failed");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kBlock);
}
BENCHMARK(BM_UringRandomRead)
    ->ArgNames({"qd", "direct"})
    ->Args({1, 0})
    ->Args({32, 0})
    ->Args({1, 1})
    ->Args({32, 1})
    ->UseRealTime();

void BM_PreadRandomRead(benchmark::State& state) {
  const bool direct = state.range(0) != 0;
  int fd = open(Image::Path().c_str(),
                O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));
  if (fd < 0) {
    state.SkipWithError("open failed (O_DIRECT unsupported?)");
    return;
  }
  std::unique_ptr<uint8_t, decltype(&free)> buf(AlignedBuffers(1), &free);
  std::mt19937_64 rng(7 + state.thread_index());
  for (auto _ : state) {
    uint64_t offset = (rng() % (kImageSize / kBlock)) * kBlock;
    if (pread(fd, buf.get(), kBlock, static_cast<off_t>(offset)) !=
        static_cast<ssize_t>(kBlock)) {
      state.SkipWithError("pread failed");
      break;
    }
  }
  close(fd);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kBlock);
}
// Threads(32): 32 synchronous readers, the pread way to reach depth 32.
BENCHMARK(BM_PreadRandomRead)
    ->ArgName("direct")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(32)
    ->UseRealTime();

}  // namespace
}  // namespace skiff::io

BENCHMARK_MAIN();
