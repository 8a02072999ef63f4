// Command-line parsing for `skiff-bench blk`: the boot flags it shares with
// `skiff-bench boot` (VMMs, accelerator, guest, runs, JSON, timeout) plus the
// block-specific ones. Pure functions over argv, so every error is
// unit-tested.
//
//   SKIFF_ASSIGN_OR_RETURN(BlkOptions o, ParseBlkFlags({"--size", "16M"}));
//   SKIFF_RETURN_IF_ERROR(ResolveBlkDefaults(o, CurrentHostFacts()));
#ifndef SKIFF_TOOLS_BENCH_BLK_FLAGS_H_
#define SKIFF_TOOLS_BENCH_BLK_FLAGS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/bench/bench_flags.h"

namespace skiff::bench {

struct BlkOptions {
  // Shared with `boot`; --parallel and --svg are refused (one VM at a time,
  // so the VMMs do not compete for the disk and the CPUs).
  BootOptions common;
  double seconds = 5;  // per workload, inside the guest
  // The image to read; empty: a fresh one of size_bytes random bytes in a
  // temporary directory, deleted afterwards.
  std::string image;
  uint64_t size_bytes = 256ull << 20;
  int qd = 32;  // requests in flight for the random-read workload
};

// "16M", "1G", "4096" -> bytes (K, M, G: binary units). Must be a positive
// multiple of 1 MiB, at most 1 TiB, so 1 MiB sequential reads tile it.
absl::StatusOr<uint64_t> ParseImageSize(std::string_view text);

// Parses the arguments after "blk". Default --runs is 3 here.
absl::StatusOr<BlkOptions> ParseBlkFlags(const std::vector<std::string>& args);

// ResolveBootDefaults on the shared part, plus: an --image must be a regular
// file of at least 1 MiB.
absl::Status ResolveBlkDefaults(BlkOptions& options, const HostFacts& host);

std::string BlkUsage();

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_BLK_FLAGS_H_
