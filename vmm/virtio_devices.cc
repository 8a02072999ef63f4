#include "vmm/virtio_devices.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "devices/virtio/virtio_rng.h"
#include "io/tap_net_backend.h"
#include "io/unix_vsock_backend.h"
#include "io/uring_block_backend.h"
#include "vmm/seccomp_filter.h"

namespace skiff {
namespace {

// Prefixes a device's error with the flag that configured it.
absl::Status DeviceError(const std::string& what, const absl::Status& st) {
  return absl::Status(
      st.code(), absl::StrFormat("%s: %s", what, std::string(st.message())));
}

// The (device, inode) of the file at `path`; zeroes when stat fails.
std::pair<uint64_t, uint64_t> FileIdentity(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {0, 0};
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

// How `disk` opens its image.
io::UringBlockBackend::Options BackendOptions(const DiskConfig& disk) {
  io::UringBlockBackend::Options o{
      .path = disk.path, .read_only = disk.read_only, .direct = disk.direct};
  if (!disk.gather) o.gather_below = 0;
  return o;
}

// A locally administered unicast MAC for interface `index` without one:
// 02:53:4b ("SK"), then the low 16 bits of the process id, then the index,
// so that concurrent microVMs on one host rarely collide.
std::array<uint8_t, 6> DefaultMac(size_t index) {
  const uint32_t pid = static_cast<uint32_t>(::getpid());
  return {0x02,
          0x53,
          0x4b,
          static_cast<uint8_t>(pid >> 8),
          static_cast<uint8_t>(pid),
          static_cast<uint8_t>(index)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<VirtioDevices>> VirtioDevices::Create(
    const VmConfig& config, const Env& env) {
  std::unique_ptr<VirtioDevices> v(new VirtioDevices(env.mmio));
  io::EventLoop::Options loop_options;
  loop_options.on_thread_start =
      SeccompHook(SeccompThread::kIo, config.seccomp, nullptr);
  SKIFF_ASSIGN_OR_RETURN(v->loop_, io::EventLoop::Create(loop_options));

  for (const DiskConfig& disk : config.disks) {
    const std::string what = absl::StrFormat("--disk id=%s", disk.id);
    auto backend =
        io::UringBlockBackend::Open(v->loop_.get(), BackendOptions(disk));
    if (!backend.ok()) return DeviceError(what, backend.status());
    devices::VirtioBlk::Options options;
    options.serial = disk.id;
    options.block_size = (*backend)->direct_alignment();
    options.defer = [loop = v->loop_.get()](absl::AnyInvocable<void()> fn) {
      loop->Post(std::move(fn));
    };
    auto blk =
        std::make_unique<devices::VirtioBlk>(*std::move(backend), options);
    const auto [dev, ino] = FileIdentity(disk.path);
    v->disks_.push_back({.config = disk,
                         .block_size = options.block_size,
                         .device = blk.get(),
                         .dev = dev,
                         .ino = ino});
    SKIFF_RETURN_IF_ERROR(v->Add(env, std::move(blk)));
  }
  for (size_t i = 0; i < config.nets.size(); ++i) {
    const NetConfig& net = config.nets[i];
    auto dev = io::OpenTapNetDevice(v->loop_.get(), net.tap,
                                    net.mac_set ? net.mac : DefaultMac(i));
    if (!dev.ok()) {
      return DeviceError(absl::StrFormat("--net id=%s", net.id), dev.status());
    }
    SKIFF_RETURN_IF_ERROR(v->Add(env, *std::move(dev)));
  }
  if (config.vsock.enabled) {
    auto vsock = io::OpenUnixVsockDevice(v->loop_.get(), config.vsock.guest_cid,
                                         config.vsock.uds_path);
    if (!vsock.ok()) return DeviceError("--vsock", vsock.status());
    SKIFF_RETURN_IF_ERROR(v->Add(env, *std::move(vsock)));
  }
  if (config.rng) {
    SKIFF_RETURN_IF_ERROR(v->Add(env, std::make_unique<devices::VirtioRng>()));
  }
  return v;
}

VirtioDevices::~VirtioDevices() { Shutdown(); }

absl::Status VirtioDevices::Add(const Env& env,
                                std::unique_ptr<devices::VirtioDevice> dev) {
  const size_t n = windows_.size();
  if (n >= kMaxDevices) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "too many virtio devices (at most %d disks, network interfaces, "
        "vsock and rng together)",
        kMaxDevices));
  }
  const uint64_t addr = kMmioBase + n * kWindowSize;
  const uint32_t gsi = kGsis[n];
  SKIFF_ASSIGN_OR_RETURN(IrqLine * irq, env.create_irq(gsi));
  const uint16_t queues = dev->num_queues();
  auto transport =
      std::make_shared<devices::VirtioMmio>(env.memory, std::move(dev), irq);
  io::EventLoop* loop = loop_.get();
  devices::VirtioMmio* raw = transport.get();
  // Without an ioeventfd, the vCPU that wrote QueueNotify hands the queue
  // to the loop. A raw pointer: the transport outlives the loop's run.
  transport->set_notify([loop, raw](uint32_t q) {
    loop->Post([raw, q] { raw->ProcessQueue(q); });
  });
  for (uint16_t q = 0; q < queues; ++q) {
    SKIFF_ASSIGN_OR_RETURN(EventFd event, EventFd::Create());
    auto fd = std::make_unique<EventFd>(std::move(event));
    SKIFF_ASSIGN_OR_RETURN(bool in_kernel,
                           env.backend.AddMmioWriteNotifier(
                               addr + devices::kMmioQueueNotify, q, *fd));
    if (!in_kernel) break;
    const EventFd* watched = fd.get();
    loop_->AddReadable(watched->fd(), [watched, raw, q] {
      if (watched->Consume() != 0) raw->ProcessQueue(q);
    });
    notify_fds_.push_back(std::move(fd));
  }
  SKIFF_RETURN_IF_ERROR(env.mmio.Insert(transport, addr, kWindowSize));
  windows_.push_back({.addr = addr, .size = kWindowSize, .gsi = gsi});
  transports_.push_back(std::move(transport));
  return absl::OkStatus();
}

std::string VirtioDevices::CmdlineDevices() const {
  std::string out;
  for (const acpi::VirtioMmioDevice& w : windows_) {
    absl::StrAppendFormat(&out, " virtio_mmio.device=%uK@0x%x:%u", w.size >> 10,
                          w.addr, w.gsi);
  }
  return out;
}

absl::Status VirtioDevices::Start() { return loop_->Start(); }

void VirtioDevices::Pause() {
  if (loop_ == nullptr) return;
  // On the loop, between callbacks: no ProcessQueue pass is running, and
  // none starts from here on (notifications are remembered).
  loop_->RunAndWait([this] {
    for (auto& t : transports_) t->Pause();
  });
  // Off the loop, which completes the requests still in flight.
  for (auto& t : transports_) t->device().WaitIdle();
}

void VirtioDevices::Resume() {
  if (loop_ == nullptr) return;
  loop_->RunAndWait([this] {
    for (auto& t : transports_) t->Resume();
  });
}

absl::Status VirtioDevices::UpdateDrivePath(const std::string& drive_id,
                                            const std::string& path) {
  if (loop_ == nullptr) {
    return absl::FailedPreconditionError("the microVM has stopped");
  }
  Disk* disk = nullptr;
  for (Disk& d : disks_) {
    if (d.config.id == drive_id) disk = &d;
  }
  if (disk == nullptr) {
    return absl::NotFoundError(absl::StrFormat(
        "drive %s: no such disk in the running microVM", drive_id));
  }
  const std::string what = absl::StrFormat("drive %s", drive_id);
  absl::Status status;
  const auto [dev, ino] = FileIdentity(path);
  if (path == disk->config.path && dev == disk->dev && ino == disk->ino) {
    // Same file: re-read its size (Firecracker reopens to pick up a file
    // resized on the host; the open fd sees the new size as well, and a
    // second exclusive flock by this process would conflict with ours).
    loop_->RunAndWait([&] { status = disk->device->RefreshCapacity(); });
    if (!status.ok()) return DeviceError(what, status);
    return absl::OkStatus();
  }
  // Opened and locked on this thread: a slow open must not stall the loop.
  DiskConfig config = disk->config;
  config.path = path;
  auto backend =
      io::UringBlockBackend::Open(loop_.get(), BackendOptions(config));
  if (!backend.ok()) return DeviceError(what, backend.status());
  if ((*backend)->direct_alignment() > disk->block_size) {
    // The driver already uses the block size advertised at boot.
    return absl::InvalidArgumentError(absl::StrFormat(
        "drive %s: %s needs %u-byte aligned direct I/O, the drive uses %u",
        drive_id, path, (*backend)->direct_alignment(), disk->block_size));
  }
  // On the loop: ProcessQueue and completions run there, so the swap falls
  // between two passes. A backend not handed over is destroyed there too.
  loop_->RunAndWait(
      [&] { status = disk->device->SwapBackend(*std::move(backend)); });
  if (!status.ok()) return DeviceError(what, status);
  disk->config.path = path;
  disk->dev = dev;
  disk->ino = ino;
  SKIFF_LOG(kInfo, "drive %s: backing file now %s", drive_id, path);
  return absl::OkStatus();
}

void VirtioDevices::Shutdown() {
  if (loop_ == nullptr) return;
  loop_->Stop();
  for (const acpi::VirtioMmioDevice& w : windows_) {
    (void)mmio_.Remove(w.addr);
  }
  // The loop is stopped and owned by this thread: backends may unregister
  // from it as they are destroyed.
  transports_.clear();
  loop_.reset();
}

}  // namespace skiff
