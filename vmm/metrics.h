// Metrics in Firecracker's format: one JSON object per line, written to a
// file or a FIFO, with "utc_timestamp_ms" and one object per group of
// counters ("vcpu0": {"exits": 10, "io_in": 3, ...}, "block_rootfs": {...}).
// A MetricsRegistry holds the groups (callbacks reading live counters); a
// MetricsWriter writes a line every period on its own thread ("metrics") and
// whenever Flush() is called (PUT /actions FlushMetrics, and at exit).
//
//   MetricsRegistry registry;
//   registry.Add("vcpu0", [&](MetricsGroup& g) {
//     g.emplace_back("exits", vcpu.exits());
//   });
//   SKIFF_ASSIGN_OR_RETURN(auto writer,
//                          MetricsWriter::Create("/tmp/m.fifo", &registry));
//   SKIFF_RETURN_IF_ERROR(writer->Flush());  // a line now
//
// Counters are cumulative since start (Firecracker resets them at each
// write; cumulative values survive a lost line and are what Prometheus-style
// collectors expect). Thread-safety: all methods are thread-safe; sources
// run on the thread that writes (the "metrics" thread or Flush's caller)
// and must only read atomics or take their own locks.
#ifndef SKIFF_VMM_METRICS_H_
#define SKIFF_VMM_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "base/unique_fd.h"

namespace skiff {

// (counter name, value) pairs of one group, in the order they are added.
using MetricsGroup = std::vector<std::pair<std::string, uint64_t>>;

class MetricsRegistry {
 public:
  using Source = std::function<void(MetricsGroup& out)>;

  // Adds a group. Names should be unique and JSON-friendly ([a-z0-9_]);
  // they are escaped anyway. A later Add with the same name adds a second
  // key, so callers choose unique names (e.g. "block_<drive id>").
  void Add(std::string name, Source source) ABSL_LOCKS_EXCLUDED(mu_);

  // One JSON line (no trailing newline): {"utc_timestamp_ms":T,"g":{...}}.
  std::string Snapshot(int64_t utc_timestamp_ms) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  std::vector<std::pair<std::string, Source>> groups_ ABSL_GUARDED_BY(mu_);
};

class MetricsWriter {
 public:
  static constexpr absl::Duration kDefaultPeriod = absl::Seconds(60);

  struct Options {
    // Zero: no periodic writes, only Flush().
    absl::Duration period = kDefaultPeriod;
    // Runs first on the "metrics" thread, e.g. to install a seccomp filter.
    std::function<void()> on_thread_start;
  };

  // Opens `path` for appending (created 0600 if missing; a FIFO must have a
  // reader already, as Firecracker requires) and starts the periodic
  // thread. `registry` must outlive the writer.
  static absl::StatusOr<std::unique_ptr<MetricsWriter>> Create(
      const std::string& path, const MetricsRegistry* registry,
      Options options);
  static absl::StatusOr<std::unique_ptr<MetricsWriter>> Create(
      const std::string& path, const MetricsRegistry* registry) {
    return Create(path, registry, Options{});
  }
  // Stops the thread. Does not write a last line: call Flush() first.
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  // Writes one line now with a single write(2). A full FIFO (nobody
  // reading) drops the line and counts it rather than blocking the VMM.
  absl::Status Flush() ABSL_LOCKS_EXCLUDED(mu_);

  // Lines written / dropped because the FIFO was full.
  uint64_t lines_written() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t lines_dropped() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  MetricsWriter(UniqueFd fd, const MetricsRegistry* registry, Options options);
  void Loop(std::function<void()> on_thread_start) ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const MetricsRegistry* const registry_;
  const absl::Duration period_;

  mutable absl::Mutex mu_;
  UniqueFd fd_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread thread_;  // owner: the creating thread
};

}  // namespace skiff

#endif  // SKIFF_VMM_METRICS_H_
