// BusIo is the VcpuIo every vCPU uses: it dispatches port accesses to the
// port bus and MMIO accesses to the MMIO bus, and counts them.
//
//   devices::Bus pio("pio"), mmio("mmio");
//   BusIo io(pio, mmio);
//   vcpu->Run(io);
#ifndef SKIFF_VMM_BUS_IO_H_
#define SKIFF_VMM_BUS_IO_H_

#include <atomic>
#include <cstdint>

#include "base/log.h"
#include "base/vcpu_backend.h"
#include "devices/bus.h"

namespace skiff {

class BusIo : public VcpuIo {
 public:
  struct Counters {
    std::atomic<uint64_t> pio_reads{0}, pio_writes{0};
    std::atomic<uint64_t> mmio_reads{0}, mmio_writes{0};
    std::atomic<uint64_t> unclaimed{0};
  };

  BusIo(devices::Bus& pio, devices::Bus& mmio) : pio_(pio), mmio_(mmio) {}

  void PioRead(uint16_t port, absl::Span<uint8_t> data) override;
  void PioWrite(uint16_t port, absl::Span<const uint8_t> data) override;
  void MmioRead(uint64_t addr, absl::Span<uint8_t> data) override;
  void MmioWrite(uint64_t addr, absl::Span<const uint8_t> data) override;

  const Counters& counters() const { return counters_; }

 private:
  void Unclaimed(const char* what, uint64_t addr, size_t size);

  devices::Bus& pio_;
  devices::Bus& mmio_;
  Counters counters_;
  RateLimiter unclaimed_log_{1.0, 20.0};
};

}  // namespace skiff

#endif  // SKIFF_VMM_BUS_IO_H_
