// IoctlBuffer: zeroed, 16-byte-aligned storage for KVM ioctl structs that
// end in a flexible array (kvm_msrs, kvm_cpuid2), and for test stand-ins of
// shared pages (kvm_run, the coalesced-MMIO ring).
//
//   IoctlBuffer buf(sizeof(kvm_msrs) + n * sizeof(kvm_msr_entry));
//   kvm_msrs* msrs = buf.As<kvm_msrs>();
//
// Why not std::vector<uint64_t> or std::vector<kvm_msr_entry>: writing the
// header through a different type than the vector's element type breaks
// strict aliasing, and clang does reorder such stores. An array of unsigned
// char provides storage for any object (C++20 [intro.object]).
#ifndef SKIFF_KVM_IOCTL_BUFFER_H_
#define SKIFF_KVM_IOCTL_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/types/span.h"

namespace skiff::kvm {

class IoctlBuffer {
 public:
  explicit IoctlBuffer(size_t size)
      : size_(size), bytes_(new uint8_t[size]()) {}

  template <typename T>
  T* As() {
    // operator new aligns to __STDCPP_DEFAULT_NEW_ALIGNMENT__ (16 on x86-64).
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    return reinterpret_cast<T*>(bytes_.get());
  }
  uint8_t* data() { return bytes_.get(); }
  size_t size() const { return size_; }
  absl::Span<uint8_t> span() { return absl::MakeSpan(bytes_.get(), size_); }

 private:
  size_t size_;
  std::unique_ptr<uint8_t[]> bytes_;
};

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_IOCTL_BUFFER_H_
