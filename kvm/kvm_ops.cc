#include "kvm/kvm_ops.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace skiff::kvm {
namespace {

class RealKvmOps : public KvmOps {
 public:
  int Open(const std::string& path, int flags) override {
    return ::open(path.c_str(), flags);
  }
  int Ioctl(int fd, unsigned long request, unsigned long arg) override {
    return ::ioctl(fd, request, arg);
  }
  void* MapShared(int fd, size_t size) override {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  void Unmap(void* addr, size_t size) override { ::munmap(addr, size); }
};

}  // namespace

KvmOps& KvmOps::Real() {
  // No state: sharing one instance is safe, and it is never destroyed so
  // vCPUs torn down during exit still find it.
  static RealKvmOps* const ops = new RealKvmOps();
  return *ops;
}

}  // namespace skiff::kvm
