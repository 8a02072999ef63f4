// KvmOps is the one seam between kvm/ and the kernel: every open, ioctl and
// mmap that KvmSystem, KvmVm and KvmVcpu make goes through it, so tests can
// substitute a fake KVM (kvm/fake_kvm.h) and exercise the exit loop, error
// paths and ioctl arguments on machines without /dev/kvm.
//
//   KvmOps& ops = KvmOps::Real();      // the default everywhere
//   int fd = ops.Open("/dev/kvm", O_RDWR | O_CLOEXEC);
//   if (ops.Ioctl(fd, KVM_GET_API_VERSION, 0) != 12) ...
//
// Contract: like the system calls: -1 with errno set on failure.
// Implementations must be thread-safe (Kick and vCPU threads share them).
#ifndef SKIFF_KVM_KVM_OPS_H_
#define SKIFF_KVM_KVM_OPS_H_

#include <cstddef>
#include <string>

namespace skiff::kvm {

class KvmOps {
 public:
  virtual ~KvmOps() = default;

  // open(2); the result is owned by the caller (closed with close(2)).
  virtual int Open(const std::string& path, int flags) = 0;
  // ioctl(2) with its argument as an integer (a pointer or a value).
  virtual int Ioctl(int fd, unsigned long request, unsigned long arg) = 0;
  // mmap(2) of `size` bytes of `fd` at offset 0, shared, read/write;
  // nullptr (errno set) on failure.
  virtual void* MapShared(int fd, size_t size) = 0;
  virtual void Unmap(void* addr, size_t size) = 0;

  template <typename T>
  int Ioctl(int fd, unsigned long request, T* arg) {
    return Ioctl(fd, request, reinterpret_cast<unsigned long>(arg));
  }

  // The real system calls. Stateless; lives for the whole process.
  static KvmOps& Real();
};

}  // namespace skiff::kvm

#endif  // SKIFF_KVM_KVM_OPS_H_
