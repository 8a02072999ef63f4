// VirtioDevices builds a microVM's virtio devices from its VmConfig: one
// virtio-mmio window and GSI per device, the io_uring event loop (thread
// "io") that runs every device's queues and host I/O, and the two ways a
// guest finds the devices (ACPI DSDT entries, `virtio_mmio.device=` on the
// command line).
//
//   SKIFF_ASSIGN_OR_RETURN(auto virtio, VirtioDevices::Create(config, env));
//   platform.virtio = virtio->windows();            // ACPI DSDT
//   cmdline += virtio->CmdlineDevices();            // for acpi=off kernels
//   SKIFF_RETURN_IF_ERROR(virtio->Start());         // before the vCPUs
//   ...
//   virtio->Shutdown();                             // after the vCPUs stop
//
// Layout: device n (disks in order, then network interfaces, vsock, rng)
// gets the 4 KiB window at kMmioBase + n * 0x1000 and the n-th GSI of
// kGsis, an edge-triggered line (virtio-mmio has one interrupt per device).
//
// Queue notifications: under KVM a KVM_IOEVENTFD per queue turns the
// guest's QueueNotify write into an eventfd the loop watches, without a
// vCPU exit to userspace; otherwise the transport's notify callback posts
// the queue to the loop from the vCPU thread.
//
// Pause/Resume quiesce the devices for a VM pause (after/before the vCPUs):
// Pause returns once no device will write guest memory any more.
// UpdateDrivePath swaps a disk's backing file while the guest runs
// (Firecracker's PATCH /drives path_on_host).
//
// Thread-safety: Create, Start and Shutdown on the machine's thread; Pause,
// Resume and UpdateDrivePath from one control thread between Start and
// Shutdown (the Machine serializes them with Shutdown).
#ifndef SKIFF_VMM_VIRTIO_DEVICES_H_
#define SKIFF_VMM_VIRTIO_DEVICES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "base/event_fd.h"
#include "base/guest_memory.h"
#include "base/vcpu_backend.h"
#include "devices/bus.h"
#include "devices/virtio/virtio_blk.h"
#include "devices/virtio/virtio_mmio.h"
#include "io/event_loop.h"
#include "vmm/acpi/tables.h"
#include "vmm/vm_config.h"

namespace skiff {

class VirtioDevices {
 public:
  static constexpr uint64_t kMmioBase = 0xd000'0000;
  static constexpr uint64_t kWindowSize = 0x1000;
  // Free IOAPIC pins: not the timer (0, 2), keyboard (1), COM1 (4), RTC (8)
  // or the ACPI SCI (9).
  static constexpr uint32_t kGsis[] = {5,  6,  7,  10, 11, 12, 13, 14, 15,
                                       16, 17, 18, 19, 20, 21, 22, 23};
  static constexpr size_t kMaxDevices = sizeof(kGsis) / sizeof(kGsis[0]);

  struct Env {
    const GuestMemory& memory;
    devices::Bus& mmio;
    VmBackend& backend;
    // Creates (or returns) the interrupt line of a GSI.
    absl::FunctionRef<absl::StatusOr<IrqLine*>(uint32_t gsi)> create_irq;
  };

  // Opens every backing file, TAP and socket the config names; errors are
  // one line naming the device (e.g. "--disk id=disk0: open ...").
  static absl::StatusOr<std::unique_ptr<VirtioDevices>> Create(
      const VmConfig& config, const Env& env);
  ~VirtioDevices();

  // Windows and GSIs, for the ACPI tables.
  const std::vector<acpi::VirtioMmioDevice>& windows() const {
    return windows_;
  }
  // " virtio_mmio.device=4K@0xd0000000:5 ..." (leading space), or "".
  std::string CmdlineDevices() const;
  bool empty() const { return windows_.empty(); }

  // Starts the event loop thread.
  absl::Status Start();
  // Stops the loop, takes the windows off the bus and destroys the devices
  // and their backends. Idempotent.
  void Shutdown();

  // Holds queue notifications, TAP RX and vsock delivery, then waits until
  // every backend request in flight has completed and been published.
  void Pause();
  // Processes what was held back and restarts RX.
  void Resume();
  // Opens `path` with the options disk `drive_id` was created with and
  // makes it the disk's backing file; requests in flight finish on the old
  // file, which stays in use when the new one cannot be opened or locked.
  // The same path again re-reads the file's size (it may have been
  // resized), or reopens it when another file was moved there. The guest
  // sees a configuration change with the new capacity.
  absl::Status UpdateDrivePath(const std::string& drive_id,
                               const std::string& path);

  io::EventLoop& loop() { return *loop_; }
  // The transport of device `index` (windows() order).
  devices::VirtioMmio& transport(size_t index) { return *transports_[index]; }

 private:
  explicit VirtioDevices(devices::Bus& mmio) : mmio_(mmio) {}

  absl::Status Add(const Env& env, std::unique_ptr<devices::VirtioDevice> dev);

  struct Disk {
    DiskConfig config;  // path: the current backing file
    uint32_t block_size;
    devices::VirtioBlk* device;  // owned by its transport
    // Identity of the file at `path` when it was opened (stat), so that a
    // file replaced at the same path is reopened rather than re-sized.
    uint64_t dev = 0;
    uint64_t ino = 0;
  };

  devices::Bus& mmio_;
  std::unique_ptr<io::EventLoop> loop_;
  std::vector<acpi::VirtioMmioDevice> windows_;
  std::vector<std::shared_ptr<devices::VirtioMmio>> transports_;
  std::vector<Disk> disks_;
  // Queue-notify eventfds registered with KVM (kept open for its lifetime).
  std::vector<std::unique_ptr<EventFd>> notify_fds_;
};

}  // namespace skiff

#endif  // SKIFF_VMM_VIRTIO_DEVICES_H_
