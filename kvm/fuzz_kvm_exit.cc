// libFuzzer target: HandleKvmExit and DrainCoalescedRing on arbitrary
// kvm_run / ring contents. The kernel fills these pages, but guest actions
// choose ports, sizes, counts and addresses, so decoding must stay inside
// the mapping whatever the bytes say.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kvm/exit_handler.h"
#include "kvm/ioctl_buffer.h"

namespace {

class NullIo : public skiff::VcpuIo {
 public:
  void PioRead(uint16_t, absl::Span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0xff);
  }
  void PioWrite(uint16_t, absl::Span<const uint8_t> data) override {
    for (uint8_t b : data) sink_ ^= b;
  }
  void MmioRead(uint64_t, absl::Span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0xff);
  }
  void MmioWrite(uint64_t, absl::Span<const uint8_t> data) override {
    for (uint8_t b : data) sink_ ^= b;
  }

 private:
  uint8_t sink_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kPage = 4096;
  // Mapping sizes from a bare kvm_run up to three pages.
  const size_t mapping = size > 0 ? (1 + data[0] % 3) * kPage : kPage;
  skiff::kvm::IoctlBuffer run(mapping);
  if (size > 1) std::memcpy(run.data(), data + 1, std::min(size - 1, mapping));
  NullIo io;
  (void)skiff::kvm::HandleKvmExit(run.span(), io);
  skiff::kvm::IoctlBuffer ring(kPage);
  std::memcpy(ring.data(), data, std::min(size, kPage));
  (void)skiff::kvm::DrainCoalescedRing(ring.span(), io);
  return 0;
}
