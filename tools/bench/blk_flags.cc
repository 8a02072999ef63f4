#include "tools/bench/blk_flags.h"

#include <sys/stat.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff::bench {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

absl::Status SetBlkFlag(BlkOptions& o, std::string_view name,
                        std::string_view value) {
  if (name == "--seconds") {
    const std::string s(value);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) ||
        v <= 0 || v > 3600) {
      return absl::InvalidArgumentError(
          absl::StrCat("--seconds: expected seconds in (0, 3600], got \"",
                       OneLine(value), "\""));
    }
    o.seconds = v;
  } else if (name == "--qd") {
    int v = 0;
    auto [ptr, ec] =
        std::from_chars(value.data(), value.data() + value.size(), v);
    if (value.empty() || ec != std::errc() ||
        ptr != value.data() + value.size() || v < 1 || v > 256) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--qd: expected an integer in 1..256, got \"", OneLine(value), "\""));
    }
    o.qd = v;
  } else if (name == "--image") {
    o.image = std::string(value);
  } else if (name == "--size") {
    SKIFF_ASSIGN_OR_RETURN(o.size_bytes, ParseImageSize(value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<uint64_t> ParseImageSize(std::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "--size: expected a multiple of 1M up to 1T (e.g. 16M, 1G), got \"",
        OneLine(text), "\""));
  };
  uint64_t shift = 0;
  std::string_view digits = text;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'K':
      case 'k':
        shift = 10;
        break;
      case 'M':
      case 'm':
        shift = 20;
        break;
      case 'G':
      case 'g':
        shift = 30;
        break;
      default:
        break;
    }
    if (shift != 0) digits.remove_suffix(1);
  }
  uint64_t v = 0;
  auto [ptr, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() ||
      ptr != digits.data() + digits.size() || v == 0 ||
      v > ((1ull << 40) >> shift)) {
    return bad();
  }
  v <<= shift;
  if (v % kMiB != 0) return bad();
  return v;
}

absl::StatusOr<BlkOptions> ParseBlkFlags(const std::vector<std::string>& args) {
  BlkOptions o;
  std::vector<std::string> rest;
  bool runs_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    std::string_view name = arg;
    std::string_view value;
    bool have_value = false;
    if (arg.starts_with("--")) {
      if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        have_value = true;
      }
    }
    if (name == "--parallel" || name == "--svg") {
      return absl::InvalidArgumentError(absl::StrCat(
          std::string(name), " is not supported by blk (one VM at a time)"));
    }
    if (name == "--runs") runs_given = true;
    if (name != "--seconds" && name != "--qd" && name != "--image" &&
        name != "--size") {
      rest.push_back(args[i]);
      continue;
    }
    if (!have_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(name), ": missing value"));
      }
      value = args[++i];
    }
    SKIFF_RETURN_IF_ERROR(SetBlkFlag(o, name, value));
  }
  SKIFF_ASSIGN_OR_RETURN(o.common, ParseBootFlags(rest));
  if (!runs_given) o.common.runs = 3;
  return o;
}

absl::Status ResolveBlkDefaults(BlkOptions& o, const HostFacts& host) {
  SKIFF_RETURN_IF_ERROR(ResolveBootDefaults(o.common, host));
  if (!o.image.empty()) {
    struct stat st;
    if (stat(o.image.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return absl::NotFoundError(
          absl::StrCat("--image: no such file: ", OneLine(o.image)));
    }
    if (static_cast<uint64_t>(st.st_size) < kMiB) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--image: ", OneLine(o.image), " is smaller than 1 MiB"));
    }
  }
  return absl::OkStatus();
}

std::string BlkUsage() {
  return R"(usage: skiff-bench blk [options]

Boots the guest once per run and VMM with a disk attached (skiff: --disk
path=IMG,direct=on; QEMU: -drive aio=io_uring,cache=none on virtio-blk-device)
and runs inside it, through skiff.cmd64, skiff-iobench randread (4 KiB, QD
32, O_DIRECT) and seqread (1 MiB, QD 1) on /dev/vda. Prints the min/p50/max
IOPS and MB/s per VMM and workload and, with two VMMs, the skiff/qemu ratio
of the p50s (higher is better).

  --runs N             boots per VMM (default 3)
  --seconds S          per workload inside the guest (default 5)
  --qd N               random-read queue depth (default 32)
  --image PATH         a raw image to read (default: a new one of --size
                       random bytes in $TMPDIR or /var/tmp, deleted after)
  --size SIZE          size of the new image (default 256M; K/M/G)
  --vmm skiff|qemu     a VMM to run (repeatable; default skiff)
  --accel kvm|tcg      default kvm when /dev/kvm exists, else tcg
  --kernel K --initrd I
                       guest (default ~/.cache/skiff/default/{vmlinux,
                       initramfs.cpio}; the initramfs needs /bin/skiff-iobench)
  --memory MIB         guest RAM (default 512)
  --append STR         extra kernel command line for every VMM
  --json FILE          every run's numbers and the summary
  --skiff PATH         skiff binary (default: next to skiff-bench)
  --qemu PATH          default qemu-system-x86_64
  --timeout S          per boot (default 120)
)";
}

}  // namespace skiff::bench
