// The impure half of `skiff-bench blk`: makes the test image and boots one
// VM at a time, collecting skiff-iobench's result lines from its console.
//
//   SKIFF_ASSIGN_OR_RETURN(TempImage img, CreateRandomImage(16 << 20));
//   BlkRun run = RunBlkBoot(spec, workloads, /*timeout_s=*/120);
//   // img's directory is removed when it goes out of scope.
#ifndef SKIFF_TOOLS_BENCH_BLK_RUNNER_H_
#define SKIFF_TOOLS_BENCH_BLK_RUNNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/bench/blk_bench.h"
#include "tools/bench/boot_runner.h"

namespace skiff::bench {

// A raw image in its own temporary directory, removed on destruction.
class TempImage {
 public:
  TempImage() = default;
  TempImage(std::string dir, std::string path)
      : dir_(std::move(dir)), path_(std::move(path)) {}
  TempImage(TempImage&& other) noexcept;
  TempImage& operator=(TempImage&& other) noexcept;
  TempImage(const TempImage&) = delete;
  TempImage& operator=(const TempImage&) = delete;
  ~TempImage();

  const std::string& path() const { return path_; }

 private:
  void Remove();
  std::string dir_;
  std::string path_;
};

// Writes `bytes` random bytes (getrandom) to a new file in a fresh
// directory under $TMPDIR, or /var/tmp (on disk, unlike a tmpfs /tmp, so
// O_DIRECT works and the image does not take RAM). Random data, so neither
// a sparse file nor a compressing layer makes reads cheaper than real ones.
absl::StatusOr<TempImage> CreateRandomImage(uint64_t bytes);

// Boots `spec` once and waits for it to exit (or kills it after
// `timeout_s`). ok when the VMM exited with status 0, the guest script
// reported status 0 and every workload printed a result.
BlkRun RunBlkBoot(const VmmSpec& spec,
                  const std::vector<BlkWorkload>& workloads, double timeout_s);

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_BLK_RUNNER_H_
