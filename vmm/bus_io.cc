#include "vmm/bus_io.h"

namespace skiff {

void BusIo::Unclaimed(const char* what, uint64_t addr, size_t size) {
  counters_.unclaimed.fetch_add(1, std::memory_order_relaxed);
  if (LogEnabled(LogLevel::kDebug) && unclaimed_log_.Allow()) {
    SKIFF_LOG(kDebug, "unclaimed %s addr=0x%x size=%u", what, addr, size);
  }
}

void BusIo::PioRead(uint16_t port, absl::Span<uint8_t> data) {
  counters_.pio_reads.fetch_add(1, std::memory_order_relaxed);
  if (!pio_.Read(port, data)) Unclaimed("pio read", port, data.size());
}

void BusIo::PioWrite(uint16_t port, absl::Span<const uint8_t> data) {
  counters_.pio_writes.fetch_add(1, std::memory_order_relaxed);
  if (!pio_.Write(port, data)) Unclaimed("pio write", port, data.size());
}

void BusIo::MmioRead(uint64_t addr, absl::Span<uint8_t> data) {
  counters_.mmio_reads.fetch_add(1, std::memory_order_relaxed);
  if (IsLapic(addr)) {
    lapic_->Read(addr - devices::Lapic::kBaseAddress, data);
    return;
  }
  if (!mmio_.Read(addr, data)) Unclaimed("mmio read", addr, data.size());
}

void BusIo::MmioWrite(uint64_t addr, absl::Span<const uint8_t> data) {
  counters_.mmio_writes.fetch_add(1, std::memory_order_relaxed);
  if (IsLapic(addr)) {
    lapic_->Write(addr - devices::Lapic::kBaseAddress, data);
    return;
  }
  if (!mmio_.Write(addr, data)) Unclaimed("mmio write", addr, data.size());
}

bool BusIo::MsrRead(uint32_t index, uint64_t& value) {
  return lapic_ != nullptr && lapic_->ReadMsr(index, value);
}

bool BusIo::MsrWrite(uint32_t index, uint64_t value) {
  return lapic_ != nullptr && lapic_->WriteMsr(index, value);
}

}  // namespace skiff
