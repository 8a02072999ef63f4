// EventFd wraps an eventfd(2) counter: the signalling primitive between
// vCPU threads, the event loop and KVM (ioeventfd, irqfd).
//
//   SKIFF_ASSIGN_OR_RETURN(EventFd ev, EventFd::Create());
//   ev.Signal();             // any thread
//   uint64_t n = ev.Consume();  // 0 when nothing was signalled (non-blocking)
#ifndef SKIFF_BASE_EVENT_FD_H_
#define SKIFF_BASE_EVENT_FD_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace skiff {

class EventFd {
 public:
  // Non-blocking, close-on-exec.
  static absl::StatusOr<EventFd> Create();

  EventFd(EventFd&&) = default;
  EventFd& operator=(EventFd&&) = default;

  int fd() const { return fd_.get(); }
  // Adds one to the counter. Never blocks; a saturated counter stays set.
  void Signal() const;
  // Returns and clears the counter; 0 when it was already clear.
  uint64_t Consume() const;
  // Blocks until the counter is non-zero, then clears it.
  uint64_t Wait() const;

 private:
  explicit EventFd(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace skiff

#endif  // SKIFF_BASE_EVENT_FD_H_
