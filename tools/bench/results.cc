#include "tools/bench/results.h"

namespace skiff::bench {

std::string_view PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kGuestEntry:
      return "guest_entry";
    case Phase::kConsole:
      return "console";
    case Phase::kInit:
      return "init";
    case Phase::kExit:
      return "exit";
  }
  return "unknown";
}

std::string_view PhaseTitle(Phase phase) {
  switch (phase) {
    case Phase::kGuestEntry:
      return "first guest instruction";
    case Phase::kConsole:
      return "first kernel console line";
    case Phase::kInit:
      return "init reached (skiff-init: ready)";
    case Phase::kExit:
      return "VMM exit (guest rebooted)";
  }
  return "unknown";
}

std::optional<double> PhaseValue(const BootRun& run, Phase phase) {
  std::optional<int64_t> v;
  switch (phase) {
    case Phase::kGuestEntry:
      v = run.guest_entry_us;
      break;
    case Phase::kConsole:
      v = run.console_us;
      break;
    case Phase::kInit:
      v = run.init_us;
      break;
    case Phase::kExit:
      v = run.exit_us;
      break;
  }
  if (!v) return std::nullopt;
  return static_cast<double>(*v);
}

std::vector<double> PhaseValues(const VmmResult& vmm, Phase phase) {
  std::vector<double> out;
  for (const BootRun& run : vmm.runs) {
    if (!run.ok) continue;
    if (std::optional<double> v = PhaseValue(run, phase)) out.push_back(*v);
  }
  return out;
}

namespace {

// `field` over the successful runs that have it.
std::vector<double> KibValues(const VmmResult& vmm,
                              std::optional<uint64_t> BootRun::*field) {
  std::vector<double> out;
  for (const BootRun& run : vmm.runs) {
    if (run.ok && run.*field) out.push_back(static_cast<double>(*(run.*field)));
  }
  return out;
}

}  // namespace

std::vector<double> RssValues(const VmmResult& vmm) {
  return KibValues(vmm, &BootRun::rss_kib);
}

std::vector<double> TcgRssValues(const VmmResult& vmm) {
  return KibValues(vmm, &BootRun::tcg_rss_kib);
}

int OkCount(const VmmResult& vmm) {
  int n = 0;
  for (const BootRun& run : vmm.runs) n += run.ok ? 1 : 0;
  return n;
}

double CreationRate(const VmmResult& vmm) {
  int booted = 0;
  for (const BootRun& run : vmm.runs) booted += run.init_us ? 1 : 0;
  if (booted == 0 || vmm.batch_seconds <= 0) return 0;
  return booted / vmm.batch_seconds;
}

}  // namespace skiff::bench
