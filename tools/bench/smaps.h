// Reads a VMM's memory footprint from /proc/<pid>/smaps: the resident set of
// every mapping except guest RAM, i.e. what the VMM itself costs. Guest RAM
// is recognised as an anonymous (or memfd) mapping whose size equals the
// configured memory size; both skiff and QEMU map it that way. skiff's
// interpreter keeps its caches in memfd mappings named "skiff-tcg-..."
// (base/named_mapping.h): their part of that footprint is counted apart.
//
//   SKIFF_ASSIGN_OR_RETURN(SmapsUsage u, ParseSmaps(text, 512 << 20));
//   printf("%llu KiB beyond guest RAM\n", u.rss_beyond_guest_kib);
#ifndef SKIFF_TOOLS_BENCH_SMAPS_H_
#define SKIFF_TOOLS_BENCH_SMAPS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace skiff::bench {

struct SmapsUsage {
  uint64_t total_rss_kib = 0;
  uint64_t guest_ram_rss_kib = 0;     // Rss of the mappings left out
  uint64_t guest_ram_mappings = 0;    // how many were left out
  uint64_t rss_beyond_guest_kib = 0;  // total - guest RAM
  uint64_t tcg_rss_kib = 0;           // Rss of "/memfd:skiff-tcg-*"
  uint64_t tcg_mappings = 0;
  uint64_t mappings = 0;
};

// Parses the text of /proc/<pid>/smaps. Fails on text that is not smaps (no
// mapping header, an Rss line before any header, a malformed number).
absl::StatusOr<SmapsUsage> ParseSmaps(std::string_view text,
                                      uint64_t guest_ram_bytes);

// Reads a whole (proc) file, up to `limit` bytes.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          size_t limit = 16 << 20);

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_SMAPS_H_
