// Machine's metrics: which counters go into each line (vmm/metrics.h) and
// the writer's lifetime. Group and counter names follow Firecracker's where
// they mean the same thing ("vcpu": exit_io_in, exit_mmio_write, failures;
// "block_<drive id>": read_count, write_bytes, ...).
#include <atomic>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "devices/virtio/virtio_device.h"
#include "vmm/machine.h"
#include "vmm/seccomp_filter.h"

namespace skiff {
namespace {

uint64_t Get(const std::atomic<uint64_t>& c) {
  return c.load(std::memory_order_relaxed);
}

// Appends one vCPU's exits (or adds them to `out`'s values in place, for
// the "vcpu" totals: the order of names is the same for every vCPU).
void VcpuCounters(const VcpuThread& v, const BusIo& io, MetricsGroup& out) {
  const VcpuThread::ExitCounters& e = v.exit_counters();
  const BusIo::Counters& c = io.counters();
  const std::pair<const char*, uint64_t> values[] = {
      {"exits", v.exits()},
      {"exit_io_in", Get(c.pio_reads)},
      {"exit_io_out", Get(c.pio_writes)},
      {"exit_mmio_read", Get(c.mmio_reads)},
      {"exit_mmio_write", Get(c.mmio_writes)},
      {"exit_unclaimed", Get(c.unclaimed)},
      {"exit_hlt", Get(e.hlt)},
      {"exit_interrupted", Get(e.interrupted)},
      {"exit_debug", Get(e.debug)},
      {"exit_reset", Get(e.reset)},
      {"exit_shutdown", Get(e.shutdown)},
      {"failures", Get(e.failures)},
  };
  if (out.empty()) {
    for (const auto& [name, value] : values) out.emplace_back(name, value);
    return;
  }
  for (size_t i = 0; i < out.size(); ++i) out[i].second += values[i].second;
}

}  // namespace

void Machine::RegisterMetrics() {
  // The sources run on the metrics thread (or a FlushMetrics caller) while
  // the VM runs: they only read atomics of objects the Machine owns until
  // FinishMetrics has run.
  metrics_registry_.Add("vcpu", [this](MetricsGroup& out) {
    for (size_t i = 0; i < vcpus_.size(); ++i) {
      VcpuCounters(*vcpus_[i], *io_[i], out);
    }
  });
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    metrics_registry_.Add(absl::StrFormat("vcpu%d", i),
                          [this, i](MetricsGroup& out) {
                            VcpuCounters(*vcpus_[i], *io_[i], out);
                          });
  }
  if (virtio_ == nullptr) return;
  metrics_registry_.Add("event_loop", [this](MetricsGroup& out) {
    const io::EventLoop::Stats s = virtio_->loop().stats();
    out.emplace_back("iterations", s.iterations);
    out.emplace_back("completions", s.completions);
    out.emplace_back("wakeups", s.wakeups);
    out.emplace_back("posted", s.posted);
    out.emplace_back("sq_full", s.sq_full);
    out.emplace_back("cq_overflow", s.cq_overflow);
  });
  // Devices were created in config order within each kind
  // (vmm/virtio_devices.cc), so the k-th block device is config_.disks[k].
  size_t blocks = 0, nets = 0;
  for (size_t i = 0; i < virtio_->windows().size(); ++i) {
    const devices::VirtioDevice* dev = &virtio_->transport(i).device();
    std::string name;
    switch (dev->device_id()) {
      case devices::kVirtioIdBlock:
        name = blocks < config_.disks.size()
                   ? "block_" + config_.disks[blocks].id
                   : absl::StrFormat("block%d", blocks);
        ++blocks;
        break;
      case devices::kVirtioIdNet:
        name = nets < config_.nets.size() ? "net_" + config_.nets[nets].id
                                          : absl::StrFormat("net%d", nets);
        ++nets;
        break;
      case devices::kVirtioIdRng:
        name = "entropy";
        break;
      case devices::kVirtioIdVsock:
        name = "vsock";
        break;
      default:
        name = absl::StrFormat("virtio%d", i);
        break;
    }
    metrics_registry_.Add(
        name, [dev](MetricsGroup& out) { dev->AppendMetrics(out); });
  }
}

absl::Status Machine::ConfigureMetrics(const std::string& path) {
  MetricsWriter::Options options;
  options.period = absl::Seconds(config_.metrics_period_s);
  options.on_thread_start =
      SeccompHook(SeccompThread::kVmm, config_.seccomp, this);
  SKIFF_ASSIGN_OR_RETURN(
      std::unique_ptr<MetricsWriter> writer,
      MetricsWriter::Create(path, &metrics_registry_, options));
  std::unique_ptr<MetricsWriter> old;
  {
    absl::MutexLock lock(&metrics_mu_);
    old = std::move(metrics_writer_);
    metrics_writer_ = std::move(writer);
  }
  return absl::OkStatus();  // `old` stops its thread outside the lock
}

absl::Status Machine::FlushMetrics() {
  absl::MutexLock lock(&metrics_mu_);
  if (metrics_writer_ == nullptr) {
    return absl::FailedPreconditionError(
        "metrics: no metrics path configured (PUT /metrics or --metrics)");
  }
  return metrics_writer_->Flush();
}

void Machine::FinishMetrics() {
  std::unique_ptr<MetricsWriter> writer;
  {
    absl::MutexLock lock(&metrics_mu_);
    writer = std::move(metrics_writer_);
  }
  if (writer == nullptr) return;
  if (absl::Status st = writer->Flush(); !st.ok()) {
    SKIFF_LOG(kWarn, "%s", std::string(st.message()));
  }
}

absl::Status Machine::ConfineVmmThread() {
  return InstallSeccompFilter(SeccompThread::kVmm, config_.seccomp);
}

}  // namespace skiff
