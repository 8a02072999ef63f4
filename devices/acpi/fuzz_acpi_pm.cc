// Drives AcpiPm with guest-controlled port accesses decoded from the fuzz
// input: any offset in (and past) its range, any size from 1 to 8 bytes, any
// value. Checks the invariants the guest relies on: SCI_EN always reads 1,
// PM1_STS always reads 0, and a power-off request is only ever kPowerOff.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "devices/acpi/acpi_pm.h"
#include "devices/testing/fakes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::devices;
  testing::FakeMachineControl control;
  AcpiPm pm(control);
  size_t pos = 0;
  auto next = [&]() -> uint8_t { return pos < size ? data[pos++] : 0; };
  while (pos < size) {
    uint8_t op = next();
    uint64_t offset = next() % (AcpiPm::kPortCount + 2);
    size_t len = 1 + (op >> 1) % 8;
    uint8_t buf[8];
    if (op & 1) {
      for (size_t i = 0; i < len; ++i) buf[i] = next();
      pm.Write(offset, absl::MakeConstSpan(buf, len));
    } else {
      pm.Read(offset, absl::MakeSpan(buf, len));
    }
  }
  uint8_t cnt[2], sts[2];
  pm.Read(AcpiPm::kPm1ControlOffset, absl::MakeSpan(cnt));
  pm.Read(AcpiPm::kPm1EventOffset, absl::MakeSpan(sts));
  if ((cnt[0] & AcpiPm::kSciEn) == 0 || sts[0] != 0 || sts[1] != 0) {
    std::abort();
  }
  for (const auto& call : control.calls()) {
    if (call.reason != StopReason::kPowerOff || call.exit_status != 0) {
      std::abort();
    }
  }
  return 0;
}
