#include "base/named_mapping.h"

#include <sys/mman.h>
#include <unistd.h>

namespace skiff {

void* MapNamed(const char* name, size_t size) {
  if (size == 0) return nullptr;
  const int fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd >= 0) {
    void* p = MAP_FAILED;
    if (::ftruncate(fd, static_cast<off_t>(size)) == 0) {
      p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    ::close(fd);
    if (p != MAP_FAILED) return p;
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void UnmapNamed(void* p, size_t size) {
  if (p != nullptr) ::munmap(p, size);
}

}  // namespace skiff
