#include "io/event_loop.h"

#include <poll.h>
#include <pthread.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "base/log.h"
#include "base/status_macros.h"

namespace skiff::io {
namespace {

// user_data layout: the low two bits say what a CQE belongs to. Submit()
// operations carry their Op pointer (8-byte aligned, tag 0); fd watches and
// timers carry their id, so a CQE that arrives after RemoveFd/CancelTimer
// finds nothing and is dropped instead of touching freed memory.
constexpr uint64_t kTagOp = 0;
constexpr uint64_t kTagFd = 1;
constexpr uint64_t kTagTimer = 2;
constexpr uint64_t kTagMask = 3;
// Removal and cancel requests: their completions are not interesting.
constexpr uint64_t kInternalUserData = 3;

uint64_t FdUserData(uint64_t id) { return (id << 2) | kTagFd; }
uint64_t TimerUserData(uint64_t id) { return (id << 2) | kTagTimer; }

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string InitHint(int err) {
  switch (err) {
    case EPERM:
      return " (is kernel.io_uring_disabled set?)";
    case ENOSYS:
      return " (the kernel has no io_uring)";
    case ENOMEM:
      return " (RLIMIT_MEMLOCK too low for the ring?)";
    default:
      return "";
  }
}

}  // namespace

struct EventLoop::Op {
  absl::AnyInvocable<void(int32_t)> done;
  bool in_use = false;
};

struct EventLoop::FdWatch {
  int fd = -1;
  absl::AnyInvocable<void()> callback;
};

struct EventLoop::Timer {
  __kernel_timespec deadline{};  // absolute CLOCK_MONOTONIC; read at submit
  int64_t deadline_ns = 0;
  int64_t period_ns = 0;  // 0 for one-shot timers
  absl::AnyInvocable<void()> callback;
};

EventLoop::EventLoop(const Options& options) : options_(options) {}

absl::StatusOr<std::unique_ptr<EventLoop>> EventLoop::Create(
    const Options& options) {
  std::unique_ptr<EventLoop> loop(new EventLoop(options));
  io_uring_params params;
  std::memset(&params, 0, sizeof(params));
  // A CQ larger than the SQ absorbs bursts of completions (polls and
  // timers complete without an SQE of ours in the same batch).
  params.flags =
      IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_COOP_TASKRUN;
  params.cq_entries = options.sq_entries * 4;
  int ret =
      io_uring_queue_init_params(options.sq_entries, &loop->ring_, &params);
  if (ret == -EINVAL) {
    // COOP_TASKRUN is 5.19+; older kernels refuse unknown setup flags.
    std::memset(&params, 0, sizeof(params));
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    params.cq_entries = options.sq_entries * 4;
    ret = io_uring_queue_init_params(options.sq_entries, &loop->ring_, &params);
  }
  if (ret < 0) {
    return absl::UnavailableError(absl::StrCat(
        "io_uring_queue_init: ", std::strerror(-ret), InitHint(-ret)));
  }
  loop->ring_ready_ = true;
  if ((params.features & IORING_FEAT_NODROP) == 0) {
    SKIFF_LOG(kWarn,
              "io_uring: kernel lacks IORING_FEAT_NODROP; completions may be "
              "lost if the CQ ring overflows");
  }
  SKIFF_ASSIGN_OR_RETURN(EventFd wake, EventFd::Create());
  loop->wake_ = std::make_unique<EventFd>(std::move(wake));
  EventLoop* raw = loop.get();
  loop->wake_id_ =
      loop->AddReadable(loop->wake_->fd(), [raw] { raw->OnWake(); });
  return loop;
}

EventLoop::~EventLoop() {
  Stop();
  if (thread_.joinable()) thread_.join();
  if (ring_ready_) {
    CancelAllAndDrain();
    io_uring_queue_exit(&ring_);
  }
}

absl::Status EventLoop::Start() {
  if (running_.load()) {
    return absl::FailedPreconditionError("event loop: already running");
  }
  if (thread_.joinable()) thread_.join();  // stopped from inside itself
  running_.store(true);                    // so RunAndWait posts from now on
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), options_.thread_name);
    if (options_.on_thread_start) options_.on_thread_start();
    Run();
  });
  return absl::OkStatus();
}

void EventLoop::Run() {
  running_.store(true);
  loop_thread_.store(std::this_thread::get_id());
  while (!stop_.load(std::memory_order_acquire)) RunIteration();
  loop_thread_.store(std::thread::id());
  running_.store(false);
  stop_.store(false);
}

void EventLoop::Stop() {
  bool self = IsLoopThread();
  if (thread_.joinable() && !self) {
    stop_.store(true, std::memory_order_release);
    wake_->Signal();
    thread_.join();
    stop_.store(false);
  } else if (running_.load()) {
    stop_.store(true, std::memory_order_release);
    if (!self) wake_->Signal();
  }
}

bool EventLoop::IsLoopThread() const {
  return loop_thread_.load() == std::this_thread::get_id();
}

void EventLoop::Post(absl::AnyInvocable<void()> fn) {
  bool signal = false;
  {
    absl::MutexLock lock(&mu_);
    posted_.push_back(std::move(fn));
    if (!wake_pending_) {
      wake_pending_ = true;
      signal = true;
    }
  }
  if (signal) wake_->Signal();
}

void EventLoop::RunAndWait(absl::AnyInvocable<void()> fn) {
  if (IsLoopThread() || !running_.load()) {
    fn();
    return;
  }
  absl::Notification done;
  Post([&fn, &done] {
    fn();
    done.Notify();
  });
  done.WaitForNotification();
}

void EventLoop::OnWake() {
  wake_->Consume();
  wakeups_.fetch_add(1, std::memory_order_relaxed);
  std::deque<absl::AnyInvocable<void()>> batch;
  {
    absl::MutexLock lock(&mu_);
    batch.swap(posted_);
    wake_pending_ = false;
  }
  for (auto& fn : batch) {
    // Counted before it runs, so a closure sees itself and all earlier ones.
    posted_count_.fetch_add(1, std::memory_order_relaxed);
    fn();
  }
}

EventLoop::FdId EventLoop::AddReadable(int fd,
                                       absl::AnyInvocable<void()> on_readable) {
  FdId id = next_id_++;
  auto watch = std::make_unique<FdWatch>();
  watch->fd = fd;
  watch->callback = std::move(on_readable);
  fds_[id] = std::move(watch);
  ArmPoll(id);
  return id;
}

void EventLoop::ArmPoll(FdId id) {
  auto it = fds_.find(id);
  if (it == fds_.end()) return;
  io_uring_sqe* sqe = GetSqe();
  if (multishot_poll_) {
    io_uring_prep_poll_multishot(sqe, it->second->fd, POLLIN);
  } else {
    io_uring_prep_poll_add(sqe, it->second->fd, POLLIN);
  }
  io_uring_sqe_set_data64(sqe, FdUserData(id));
}

void EventLoop::RemoveFd(FdId id) {
  if (fds_.erase(id) == 0) return;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_poll_remove(sqe, FdUserData(id));
  io_uring_sqe_set_data64(sqe, kInternalUserData);
}

EventLoop::TimerId EventLoop::AddTimer(absl::Duration delay, bool periodic,
                                       absl::AnyInvocable<void()> fn) {
  TimerId id = next_id_++;
  auto timer = std::make_unique<Timer>();
  int64_t delay_ns = std::max<int64_t>(absl::ToInt64Nanoseconds(delay), 0);
  timer->deadline_ns = MonotonicNowNs() + delay_ns;
  // A zero period would re-fire forever without sleeping.
  if (periodic) timer->period_ns = std::max<int64_t>(delay_ns, 1000);
  timer->callback = std::move(fn);
  timers_[id] = std::move(timer);
  ArmTimer(id);
  return id;
}

void EventLoop::ArmTimer(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  Timer& t = *it->second;
  t.deadline.tv_sec = t.deadline_ns / 1'000'000'000;
  t.deadline.tv_nsec = t.deadline_ns % 1'000'000'000;
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_timeout(sqe, &t.deadline, 0, IORING_TIMEOUT_ABS);
  io_uring_sqe_set_data64(sqe, TimerUserData(id));
}

void EventLoop::CancelTimer(TimerId id) {
  if (timers_.find(id) == timers_.end()) return;
  // The kernel reads the timespec when the SQE is submitted: hand over any
  // queued arm request before the Timer (and its timespec) goes away.
  Flush();
  timers_.erase(id);
  io_uring_sqe* sqe = GetSqe();
  io_uring_prep_timeout_remove(sqe, TimerUserData(id), 0);
  io_uring_sqe_set_data64(sqe, kInternalUserData);
}

EventLoop::Op* EventLoop::NewOp() {
  if (free_ops_.empty()) {
    op_pool_.push_back(std::make_unique<Op>());
    free_ops_.push_back(op_pool_.back().get());
  }
  Op* op = free_ops_.back();
  free_ops_.pop_back();
  op->in_use = true;
  ++ops_in_flight_;
  return op;
}

void EventLoop::FreeOp(Op* op) {
  op->done = nullptr;
  op->in_use = false;
  --ops_in_flight_;
  free_ops_.push_back(op);
}

void EventLoop::Submit(absl::FunctionRef<void(io_uring_sqe*)> prep,
                       absl::AnyInvocable<void(int32_t res)> done) {
  // The low two bits of an Op's address carry the user_data tag.
  static_assert(alignof(Op) >= 4);
  Op* op = NewOp();
  op->done = std::move(done);
  io_uring_sqe* sqe = GetSqe();
  prep(sqe);
  io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(op) | kTagOp);
}

io_uring_sqe* EventLoop::GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    // The SQ ring is full: hand it to the kernel, which empties it.
    sq_full_.fetch_add(1, std::memory_order_relaxed);
    SubmitPending(0);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void EventLoop::Flush() { SubmitPending(0); }

int EventLoop::SubmitPending(unsigned wait_nr) {
  for (int attempt = 0;; ++attempt) {
    int ret = io_uring_submit_and_wait(&ring_, wait_nr);
    if (ret >= 0 || ret == -EINTR || ret == -ETIME) return ret;
    if (ret == -EBUSY || ret == -EAGAIN) {
      // The kernel holds back submissions while completions it could not
      // post (CQ overflow) are pending: make room by parking the CQEs we
      // have; the loop dispatches them at its next iteration.
      size_t before = parked_.size();
      ParkCompletions();
      if (parked_.size() != before) wait_nr = 0;
      if (parked_.size() == before && attempt > 0) {
        // Out of kernel memory for the request: back off briefly.
        timespec pause{0, 100'000};
        nanosleep(&pause, nullptr);
      }
      continue;
    }
    // Anything else means our SQEs are malformed, which is a bug here.
    SKIFF_LOG(kError, "io_uring_submit: %s", std::strerror(-ret));
    return ret;
  }
}

void EventLoop::ParkCompletions() {
  io_uring_cqe* cqes[64];
  for (;;) {
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, 64);
    if (n == 0) return;
    for (unsigned i = 0; i < n; ++i) {
      parked_.push_back(
          {io_uring_cqe_get_data64(cqes[i]), cqes[i]->res, cqes[i]->flags});
    }
    io_uring_cq_advance(&ring_, n);
  }
}

void EventLoop::RunIteration() {
  iterations_.fetch_add(1, std::memory_order_relaxed);
  // One submission for everything queued since the last iteration; sleep
  // only when no parked CQE is waiting to be dispatched.
  SubmitPending(parked_.empty() ? 1 : 0);
  // Copy completions off the ring before dispatching them, so that callbacks
  // that submit (and may park CQEs on a full SQ) never race this loop.
  ParkCompletions();
  std::vector<ParkedCqe> batch;
  batch.swap(parked_);
  completions_.fetch_add(batch.size(), std::memory_order_relaxed);
  for (const ParkedCqe& cqe : batch) {
    Dispatch(cqe.user_data, cqe.res, cqe.flags);
  }
  cq_overflow_.store(io_uring_smp_load_acquire(ring_.cq.koverflow),
                     std::memory_order_relaxed);
  if (parked_.empty()) {
    batch.clear();
    parked_.swap(batch);  // keep the capacity
  }
}

void EventLoop::Dispatch(uint64_t user_data, int32_t res, uint32_t flags) {
  switch (user_data & kTagMask) {
    case kTagOp: {
      if (user_data == 0) return;
      Op* op = reinterpret_cast<Op*>(user_data);
      auto done = std::move(op->done);
      FreeOp(op);
      if (done) done(res);
      return;
    }
    case kTagFd: {
      FdId id = user_data >> 2;
      auto it = fds_.find(id);
      if (it == fds_.end()) return;  // removed; a late CQE
      bool more = (flags & IORING_CQE_F_MORE) != 0;
      if (res < 0) {
        if (res == -EINVAL && multishot_poll_) {
          // Pre-5.13 kernels refuse IORING_POLL_ADD_MULTI.
          multishot_poll_ = false;
          ArmPoll(id);
        } else if (res == -ECANCELED) {
          ArmPoll(id);  // the kernel may end a multishot poll at any time
        } else {
          SKIFF_LOG(kWarn, "io_uring: poll fd=%d failed: %s; fd dropped",
                    it->second->fd, std::strerror(-res));
          fds_.erase(it);
        }
        return;
      }
      // Run the callback from a local so that it may RemoveFd itself.
      auto callback = std::move(it->second->callback);
      callback();
      it = fds_.find(id);
      if (it == fds_.end()) return;
      it->second->callback = std::move(callback);
      if (!more) ArmPoll(id);
      return;
    }
    case kTagTimer: {
      TimerId id = user_data >> 2;
      auto it = timers_.find(id);
      if (it == timers_.end()) return;
      if (res != -ETIME && res != 0) {
        if (res == -ECANCELED) return;  // removed
        SKIFF_LOG(kWarn, "io_uring: timer failed: %s", std::strerror(-res));
      }
      auto callback = std::move(it->second->callback);
      bool periodic = it->second->period_ns != 0;
      if (periodic) {
        Timer& t = *it->second;
        t.deadline_ns += t.period_ns;
        int64_t now = MonotonicNowNs();
        // After a long stall, skip the missed periods instead of bursting.
        if (t.deadline_ns < now) t.deadline_ns = now + t.period_ns;
        ArmTimer(id);
      }
      callback();
      it = timers_.find(id);
      if (it == timers_.end()) return;
      if (periodic) {
        it->second->callback = std::move(callback);
      } else {
        timers_.erase(it);
      }
      return;
    }
    default:
      return;  // kInternalUserData
  }
}

void EventLoop::CancelAllAndDrain() {
  // Polls and timers reference no user memory; only Submit() operations
  // (block I/O into guest RAM) must be finished or cancelled before the ring
  // and the memory behind their buffers go away.
  fds_.clear();
  timers_.clear();
  for (auto& op : op_pool_) {
    if (!op->in_use) continue;
    op->done = nullptr;  // destroyed, never called
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<uintptr_t>(op.get()), 0);
    io_uring_sqe_set_data64(sqe, kInternalUserData);
  }
  SubmitPending(0);
  int64_t give_up = MonotonicNowNs() + 10'000'000'000;
  while (ops_in_flight_ > 0 || !parked_.empty()) {
    ParkCompletions();
    std::vector<ParkedCqe> batch;
    batch.swap(parked_);
    for (const ParkedCqe& cqe : batch) {
      if ((cqe.user_data & kTagMask) == kTagOp && cqe.user_data != 0) {
        FreeOp(reinterpret_cast<Op*>(cqe.user_data));
      }
    }
    if (ops_in_flight_ == 0) break;
    if (MonotonicNowNs() > give_up) {
      SKIFF_LOG(kError, "io_uring: %u operations did not finish at shutdown",
                static_cast<unsigned>(ops_in_flight_));
      break;
    }
    __kernel_timespec ts{0, 100'000'000};
    io_uring_cqe* cqe = nullptr;
    io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
  }
}

EventLoop::Stats EventLoop::stats() const {
  Stats s;
  s.iterations = iterations_.load(std::memory_order_relaxed);
  s.completions = completions_.load(std::memory_order_relaxed);
  s.wakeups = wakeups_.load(std::memory_order_relaxed);
  s.posted = posted_count_.load(std::memory_order_relaxed);
  s.sq_full = sq_full_.load(std::memory_order_relaxed);
  s.cq_overflow = cq_overflow_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace skiff::io
