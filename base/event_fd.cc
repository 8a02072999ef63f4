#include "base/event_fd.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/status_macros.h"

namespace skiff {

absl::StatusOr<EventFd> EventFd::Create() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return ErrnoStatus("eventfd");
  return EventFd(UniqueFd(fd));
}

void EventFd::Signal() const {
  uint64_t one = 1;
  // EAGAIN means the counter is saturated, which still reads as signalled.
  [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof(one));
}

uint64_t EventFd::Consume() const {
  uint64_t value = 0;
  if (::read(fd_.get(), &value, sizeof(value)) != sizeof(value)) return 0;
  return value;
}

uint64_t EventFd::Wait() const {
  for (;;) {
    uint64_t value = Consume();
    if (value != 0) return value;
    pollfd p{fd_.get(), POLLIN, 0};
    ::poll(&p, 1, -1);
  }
}

}  // namespace skiff
