// Command-line parsing for skiff-bench. Pure functions over argv, so every
// error path is unit-tested; main() prints the one-line error and exits 2.
//
//   SKIFF_ASSIGN_OR_RETURN(BootOptions o, ParseBootFlags({"--runs", "3"}));
//   SKIFF_RETURN_IF_ERROR(ResolveBootDefaults(o, env));
#ifndef SKIFF_TOOLS_BENCH_BENCH_FLAGS_H_
#define SKIFF_TOOLS_BENCH_BENCH_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace skiff::bench {

struct BootOptions {
  int runs = 5;
  int parallel = 1;
  std::string accel;   // "kvm", "tcg"; empty: decided by Resolve
  std::string kernel;  // empty: the cached default guest
  std::string initrd;
  std::vector<std::string> vmms;  // "skiff", "qemu"; empty: skiff
  std::string json_path;
  std::string svg_path;
  std::string skiff_path;  // empty: next to skiff-bench
  std::string qemu_path = "qemu-system-x86_64";
  double timeout_s = 120;
  uint64_t memory_mib = 512;
  std::string append;  // extra kernel command line for both
  bool help = false;
};

struct MicroOptions {
  std::string filter;     // passed as --benchmark_filter
  std::string build_dir;  // empty: the build tree skiff-bench runs from
  bool help = false;
};

// Parses the arguments after "boot". Errors are one line.
absl::StatusOr<BootOptions> ParseBootFlags(
    const std::vector<std::string>& args);
absl::StatusOr<MicroOptions> ParseMicroFlags(
    const std::vector<std::string>& args);

// What ResolveBootDefaults consults, so tests can fake the host.
struct HostFacts {
  std::string home;       // $HOME
  std::string self_dir;   // directory holding the skiff-bench executable
  bool have_kvm = false;  // /dev/kvm exists
};
HostFacts CurrentHostFacts();

// Fills kernel/initrd (the cached default guest), accel, vmms and the skiff
// path; fails with a message naming scripts/prepare-guest when the cached
// guest is missing.
absl::Status ResolveBootDefaults(BootOptions& options, const HostFacts& host);

// The directory of the default cached guest: $HOME/.cache/skiff/default.
std::string DefaultGuestDir(const std::string& home);

std::string BootUsage();
std::string MicroUsage();

}  // namespace skiff::bench

#endif  // SKIFF_TOOLS_BENCH_BENCH_FLAGS_H_
