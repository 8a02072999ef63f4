// Whole-machine benchmarks on the tiny guests of tests/guests:
//   BM_TinyGuestLifecycle  create, boot and stop a VM (no process start)
//   BM_PioExitRoundTrip    port-I/O exits through the vCPU loop and bus
//   BM_GuestIntegerLoop    guest integer code, reported as instructions/s
// Each runs under every backend this host can use; KVM variants report an
// error (and are skipped) where /dev/kvm is missing. VMM memory beyond guest
// RAM is reported as the counter rss_mib.
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "kvm/probe.h"
#include "vmm/machine.h"

namespace skiff {
namespace {

std::string Guest(const char* name) {
  return absl::StrCat(SKIFF_GUEST_DIR, "/", name, ".elf");
}

double RssMib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

// Boots `guest` once under `accel`; false (with the state marked) on error.
bool BootOnce(benchmark::State& state, const char* guest, Accel accel,
              int expected_status) {
  VmConfig config;
  config.kernel_path = Guest(guest);
  config.memory_bytes = 64ull << 20;
  config.accel = accel;
  config.serial.mode = SerialConfig::Mode::kNone;
  Machine::Options options;
  options.stdin_fd = -1;
  auto machine = Machine::Create(config, options);
  if (!machine.ok()) {
    state.SkipWithError(std::string(machine.status().message()).c_str());
    return false;
  }
  if (!(*machine)->Start().ok()) {
    state.SkipWithError("start failed");
    return false;
  }
  int status = (*machine)->WaitForStop(-1);
  if (status != expected_status) {
    state.SkipWithError(absl::StrCat("guest exited ", status).c_str());
    return false;
  }
  return true;
}

bool CheckBackend(benchmark::State& state, Accel accel) {
  if (accel != Accel::kKvm) return true;
  absl::Status usable = kvm::ProbeKvmUsable();
  if (!usable.ok()) {
    state.SkipWithError(std::string(usable.message()).c_str());
    return false;
  }
  return true;
}

void BM_TinyGuestLifecycle(benchmark::State& state, Accel accel) {
  if (!CheckBackend(state, accel)) return;
  double rss_before = RssMib();
  for (auto _ : state) {
    if (!BootOnce(state, "exit_code", accel, 85)) return;
  }
  state.counters["rss_mib"] = RssMib() - rss_before;
}

void BM_PioExitRoundTrip(benchmark::State& state, Accel accel) {
  if (!CheckBackend(state, accel)) return;
  constexpr int kExitsPerBoot = 100000;  // tests/guests/pio_loop.asm
  for (auto _ : state) {
    if (!BootOnce(state, "pio_loop", accel, 1)) return;
  }
  state.SetItemsProcessed(state.iterations() * kExitsPerBoot);
}

void BM_GuestIntegerLoop(benchmark::State& state, Accel accel) {
  if (!CheckBackend(state, accel)) return;
  constexpr int64_t kInstructions =
      5 * 20'000'000;  // tests/guests/int_loop.asm
  for (auto _ : state) {
    if (!BootOnce(state, "int_loop", accel, 1)) return;
  }
  state.SetItemsProcessed(state.iterations() * kInstructions);
  state.counters["MIPS"] = benchmark::Counter(
      static_cast<double>(state.iterations() * kInstructions) / 1e6,
      benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_TinyGuestLifecycle, tcg, Accel::kTcg)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_TinyGuestLifecycle, kvm, Accel::kKvm)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_PioExitRoundTrip, tcg, Accel::kTcg)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_PioExitRoundTrip, kvm, Accel::kKvm)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_GuestIntegerLoop, tcg, Accel::kTcg)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);
BENCHMARK_CAPTURE(BM_GuestIntegerLoop, kvm, Accel::kKvm)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

}  // namespace
}  // namespace skiff

BENCHMARK_MAIN();
