// BusIo is the VcpuIo of one vCPU: it dispatches port accesses to the port
// bus and MMIO accesses to the MMIO bus, and counts them. With a userspace
// interrupt controller, the local APIC page and the APIC MSRs go to that
// vCPU's own local APIC, since every vCPU sees its own at the same address.
//
//   devices::Bus pio("pio"), mmio("mmio");
//   BusIo io(pio, mmio, &chip->lapic(0));  // or nullptr
//   vcpu->Run(io);
#ifndef SKIFF_VMM_BUS_IO_H_
#define SKIFF_VMM_BUS_IO_H_

#include <atomic>
#include <cstdint>

#include "base/log.h"
#include "base/vcpu_backend.h"
#include "devices/bus.h"
#include "devices/irqchip/lapic.h"

namespace skiff {

class BusIo : public VcpuIo {
 public:
  struct Counters {
    std::atomic<uint64_t> pio_reads{0}, pio_writes{0};
    std::atomic<uint64_t> mmio_reads{0}, mmio_writes{0};
    std::atomic<uint64_t> unclaimed{0};
  };

  BusIo(devices::Bus& pio, devices::Bus& mmio, devices::Lapic* lapic = nullptr)
      : pio_(pio), mmio_(mmio), lapic_(lapic) {}

  void PioRead(uint16_t port, absl::Span<uint8_t> data) override;
  void PioWrite(uint16_t port, absl::Span<const uint8_t> data) override;
  void MmioRead(uint64_t addr, absl::Span<uint8_t> data) override;
  void MmioWrite(uint64_t addr, absl::Span<const uint8_t> data) override;
  bool MsrRead(uint32_t index, uint64_t& value) override;
  bool MsrWrite(uint32_t index, uint64_t value) override;

  const Counters& counters() const { return counters_; }

 private:
  void Unclaimed(const char* what, uint64_t addr, size_t size);
  bool IsLapic(uint64_t addr) const {
    return lapic_ != nullptr &&
           addr - devices::Lapic::kBaseAddress < devices::Lapic::kPageSize;
  }

  devices::Bus& pio_;
  devices::Bus& mmio_;
  devices::Lapic* const lapic_;  // null with an in-kernel irqchip
  Counters counters_;
  RateLimiter unclaimed_log_{1.0, 20.0};
};

}  // namespace skiff

#endif  // SKIFF_VMM_BUS_IO_H_
