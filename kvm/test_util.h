// Test helpers shared by kvm/*_test.cc: a recording VcpuIo and the
// /dev/kvm skip logic. Test-only; not part of skiff_kvm.
//
//   SKIFF_KVM_OR_SKIP(kvm);   // std::unique_ptr<KvmSystem> kvm, or skip
//   RecordingIo io;
#ifndef SKIFF_KVM_TEST_UTIL_H_
#define SKIFF_KVM_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/vcpu_backend.h"
#include "gtest/gtest.h"
#include "kvm/kvm_system.h"

namespace skiff::kvm {

struct IoRecord {
  bool mmio;
  bool write;
  uint64_t addr;
  std::vector<uint8_t> data;
};

// Records every access; reads return bytes from `read_value(addr, index)`
// (default: 0xa0 + running count).
class RecordingIo : public VcpuIo {
 public:
  void PioRead(uint16_t port, absl::Span<uint8_t> data) override {
    Read(false, port, data);
  }
  void PioWrite(uint16_t port, absl::Span<const uint8_t> data) override {
    Write(false, port, data);
  }
  void MmioRead(uint64_t addr, absl::Span<uint8_t> data) override {
    Read(true, addr, data);
  }
  void MmioWrite(uint64_t addr, absl::Span<const uint8_t> data) override {
    Write(true, addr, data);
  }

  std::vector<IoRecord> records() {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  // Called (outside the lock) after each write is recorded.
  std::function<void(const IoRecord&)> on_write;
  // Fills a read; defaults to consecutive bytes 0xa0, 0xa1, ...
  std::function<void(uint64_t addr, absl::Span<uint8_t>)> on_read;

 private:
  void Read(bool mmio, uint64_t addr, absl::Span<uint8_t> data) {
    if (on_read) {
      on_read(addr, data);
    } else {
      absl::MutexLock lock(&mu_);
      for (uint8_t& b : data) b = next_++;
    }
    absl::MutexLock lock(&mu_);
    records_.push_back({mmio, false, addr, {data.begin(), data.end()}});
  }
  void Write(bool mmio, uint64_t addr, absl::Span<const uint8_t> data) {
    IoRecord r{mmio, true, addr, {data.begin(), data.end()}};
    {
      absl::MutexLock lock(&mu_);
      records_.push_back(r);
    }
    if (on_write) on_write(r);
  }

  absl::Mutex mu_;
  std::vector<IoRecord> records_ ABSL_GUARDED_BY(mu_);
  uint8_t next_ ABSL_GUARDED_BY(mu_) = 0xa0;
};

}  // namespace skiff::kvm

// Declares `std::unique_ptr<KvmSystem> var`, or skips the test saying why
// (e.g. "no /dev/kvm: open /dev/kvm: No such file or directory; ...").
#define SKIFF_KVM_OR_SKIP(var)                                     \
  auto var##_or = ::skiff::kvm::KvmSystem::Create();               \
  if (!var##_or.ok()) GTEST_SKIP() << var##_or.status().message(); \
  std::unique_ptr<::skiff::kvm::KvmSystem> var = std::move(*var##_or)

#endif  // SKIFF_KVM_TEST_UTIL_H_
