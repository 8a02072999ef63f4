#include "tools/bench/bench_flags.h"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace skiff::bench {
namespace {

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<int64_t> ParseInt(std::string_view flag, std::string_view v,
                                 int64_t lo, int64_t hi) {
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || ptr != v.data() + v.size() || v.empty() ||
      out < lo || out > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(flag), ": expected an integer in ", lo, "..",
                     hi, ", got \"", OneLine(v), "\""));
  }
  return out;
}

absl::StatusOr<double> ParseSeconds(std::string_view flag, std::string_view v) {
  const std::string s(v);
  char* end = nullptr;
  const double out = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(out) ||
      out <= 0 || out > 86400) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(flag), ": expected seconds in (0, 86400], got \"",
        OneLine(v), "\""));
  }
  return out;
}

// Walks "--name value" / "--name=value" pairs, calling handlers[name].
using Handler = std::function<absl::Status(std::string_view value)>;
absl::Status Walk(const std::vector<std::string>& args,
                  const std::map<std::string, Handler, std::less<>>& handlers,
                  bool& help) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", OneLine(arg), "\""));
    }
    std::string_view name = arg;
    std::string_view value;
    bool have_value = false;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      have_value = true;
    }
    auto it = handlers.find(name);
    if (it == handlers.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag \"", OneLine(name), "\""));
    }
    if (!have_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(std::string(name), ": missing value"));
      }
      value = args[++i];
    }
    SKIFF_RETURN_IF_ERROR(it->second(value));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BootOptions> ParseBootFlags(
    const std::vector<std::string>& args) {
  BootOptions o;
  auto str = [](std::string& field) {
    return [&field](std::string_view v) {
      field = std::string(v);
      return absl::OkStatus();
    };
  };
  const std::map<std::string, Handler, std::less<>> handlers = {
      {"--runs",
       [&](std::string_view v) {
         SKIFF_ASSIGN_OR_RETURN(o.runs, ParseInt("--runs", v, 1, 100000));
         return absl::OkStatus();
       }},
      {"--parallel",
       [&](std::string_view v) {
         SKIFF_ASSIGN_OR_RETURN(o.parallel, ParseInt("--parallel", v, 1, 256));
         return absl::OkStatus();
       }},
      {"--accel",
       [&](std::string_view v) {
         if (v != "kvm" && v != "tcg") {
           return absl::InvalidArgumentError(absl::StrCat(
               "--accel: expected kvm or tcg, got \"", OneLine(v), "\""));
         }
         o.accel = std::string(v);
         return absl::OkStatus();
       }},
      {"--vmm",
       [&](std::string_view v) {
         if (v != "skiff" && v != "qemu") {
           return absl::InvalidArgumentError(absl::StrCat(
               "--vmm: expected skiff or qemu, got \"", OneLine(v), "\""));
         }
         for (const std::string& have : o.vmms) {
           if (have == v) {
             return absl::InvalidArgumentError(
                 absl::StrCat("--vmm ", std::string(v), " given twice"));
           }
         }
         o.vmms.emplace_back(v);
         return absl::OkStatus();
       }},
      {"--timeout",
       [&](std::string_view v) {
         SKIFF_ASSIGN_OR_RETURN(o.timeout_s, ParseSeconds("--timeout", v));
         return absl::OkStatus();
       }},
      {"--memory",
       [&](std::string_view v) {
         SKIFF_ASSIGN_OR_RETURN(o.memory_mib,
                                ParseInt("--memory (MiB)", v, 16, 1 << 20));
         return absl::OkStatus();
       }},
      {"--kernel", str(o.kernel)},
      {"--initrd", str(o.initrd)},
      {"--json", str(o.json_path)},
      {"--svg", str(o.svg_path)},
      {"--skiff", str(o.skiff_path)},
      {"--qemu", str(o.qemu_path)},
      {"--append", str(o.append)},
  };
  SKIFF_RETURN_IF_ERROR(Walk(args, handlers, o.help));
  if (o.kernel.empty() != o.initrd.empty()) {
    return absl::InvalidArgumentError(
        "--kernel and --initrd go together (or neither: the cached guest)");
  }
  return o;
}

absl::StatusOr<MicroOptions> ParseMicroFlags(
    const std::vector<std::string>& args) {
  MicroOptions o;
  const std::map<std::string, Handler, std::less<>> handlers = {
      {"--filter",
       [&](std::string_view v) {
         o.filter = std::string(v);
         return absl::OkStatus();
       }},
      {"--build-dir",
       [&](std::string_view v) {
         o.build_dir = std::string(v);
         return absl::OkStatus();
       }},
  };
  SKIFF_RETURN_IF_ERROR(Walk(args, handlers, o.help));
  return o;
}

HostFacts CurrentHostFacts() {
  HostFacts h;
  if (const char* home = getenv("HOME")) h.home = home;
  std::error_code ec;
  const std::filesystem::path self =
      std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) h.self_dir = self.parent_path().string();
  h.have_kvm = access("/dev/kvm", F_OK) == 0;
  return h;
}

std::string DefaultGuestDir(const std::string& home) {
  return absl::StrCat(home, "/.cache/skiff/default");
}

absl::Status ResolveBootDefaults(BootOptions& o, const HostFacts& host) {
  if (o.vmms.empty()) o.vmms.push_back("skiff");
  if (o.accel.empty()) o.accel = host.have_kvm ? "kvm" : "tcg";
  if (o.kernel.empty()) {
    const std::string dir = DefaultGuestDir(host.home);
    o.kernel = dir + "/vmlinux";
    o.initrd = dir + "/initramfs.cpio";
    if (host.home.empty() || !IsFile(o.kernel) || !IsFile(o.initrd)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no cached guest in ", dir,
          " (vmlinux, initramfs.cpio): run scripts/prepare-guest first, or "
          "pass --kernel and --initrd"));
    }
  } else {
    for (const std::string* p : {&o.kernel, &o.initrd}) {
      if (!IsFile(*p)) {
        return absl::NotFoundError(absl::StrCat("no such file: ", OneLine(*p)));
      }
    }
  }
  if (o.skiff_path.empty()) {
    // Build tree: build/tools/bench/skiff-bench next to build/tools/skiff;
    // installed: both in the same bin directory.
    for (const char* rel : {"/../skiff", "/skiff"}) {
      const std::string candidate = host.self_dir + rel;
      if (!host.self_dir.empty() && IsFile(candidate)) {
        o.skiff_path = candidate;
        break;
      }
    }
    if (o.skiff_path.empty()) o.skiff_path = "skiff";
  }
  return absl::OkStatus();
}

std::string BootUsage() {
  return R"(usage: skiff-bench boot [options]

Boots the guest N times per VMM, P at a time, the VMMs taking turns a wave
of P boots each, and reports per phase (first guest instruction, first
kernel console line, init, exit) the min/p50/p90/p99/max time since the VMM
was spawned, the VMM's RSS beyond guest RAM, the creation rate and, with
two VMMs, the skiff/qemu ratios of the medians.

  --runs N             boots per VMM (default 5)
  --parallel P         boots at a time (default 1)
  --vmm skiff|qemu     a VMM to run (repeatable; default skiff)
  --accel kvm|tcg      default kvm when /dev/kvm exists, else tcg
  --kernel K --initrd I
                       guest (default ~/.cache/skiff/default/{vmlinux,
                       initramfs.cpio}, made by scripts/prepare-guest)
  --memory MIB         guest RAM (default 512)
  --append STR         extra kernel command line for every VMM
  --json FILE          every run's numbers and the summary
  --svg FILE           CDF plot per phase
  --skiff PATH         skiff binary (default: next to skiff-bench)
  --qemu PATH          default qemu-system-x86_64
  --timeout S          per boot (default 120)
)";
}

std::string MicroUsage() {
  return R"(usage: skiff-bench micro [--filter RE] [--build-dir DIR]

Runs every *_benchmark executable of the build tree with
--benchmark_format=json and prints name, time and items/s.
)";
}

}  // namespace skiff::bench
