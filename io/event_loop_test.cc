#include "io/event_loop.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/event_fd.h"
#include "gtest/gtest.h"

namespace skiff::io {
namespace {

std::unique_ptr<EventLoop> MakeLoop(EventLoop::Options options = {}) {
  auto loop = EventLoop::Create(options);
  EXPECT_TRUE(loop.ok()) << loop.status();
  return loop.ok() ? std::move(*loop) : nullptr;
}

TEST(EventLoop, CreateFailureIsOneLine) {
  // A zero-entry ring is refused by every kernel; the message format is the
  // one users see when io_uring is disabled ("...: Operation not permitted
  // (is kernel.io_uring_disabled set?)").
  auto loop = EventLoop::Create({.sq_entries = 0});
  ASSERT_FALSE(loop.ok());
  EXPECT_EQ(std::string(loop.status().message()),
            "io_uring_queue_init: Invalid argument");
}

TEST(EventLoop, DisabledIoUringIsOneClearLine) {
  // Make io_uring_setup fail with EPERM, as kernel.io_uring_disabled does,
  // with a seccomp filter on one thread (filters and no_new_privs are per
  // thread unless synchronised).
  std::string message, skip;
  std::thread thread([&] {
    sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(filter)), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
      skip = std::string("seccomp: ") + std::strerror(errno);
      return;
    }
    auto loop = EventLoop::Create();
    message = loop.ok() ? "created" : std::string(loop.status().message());
  });
  thread.join();
  if (!skip.empty()) GTEST_SKIP() << skip;
  EXPECT_EQ(message,
            "io_uring_queue_init: Operation not permitted (is "
            "kernel.io_uring_disabled set?)");
}

TEST(EventLoop, StartStopAndRestart) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  ASSERT_TRUE(loop->Start().ok());
  EXPECT_FALSE(loop->Start().ok());
  loop->Stop();
  ASSERT_TRUE(loop->Start().ok());
  loop->Stop();
}

TEST(EventLoop, PostRunsOnNamedLoopThread) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  ASSERT_TRUE(loop->Start().ok());
  std::string name;
  bool on_loop = false;
  loop->RunAndWait([&] {
    char buf[16] = {};
    pthread_getname_np(pthread_self(), buf, sizeof(buf));
    name = buf;
    on_loop = loop->IsLoopThread();
  });
  EXPECT_EQ(name, "io");
  EXPECT_TRUE(on_loop);
  EXPECT_FALSE(loop->IsLoopThread());
  loop->Stop();
}

TEST(EventLoop, PostFromManyThreads) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  ASSERT_TRUE(loop->Start().ok());
  constexpr int kThreads = 4, kPerThread = 2000;
  int count = 0;  // touched only on the loop
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) loop->Post([&count] { ++count; });
    });
  }
  for (auto& t : threads) t.join();
  int seen = 0;
  loop->RunAndWait([&] { seen = count; });
  EXPECT_EQ(seen, kThreads * kPerThread);
  EventLoop::Stats stats = loop->stats();
  EXPECT_GE(stats.posted, uint64_t{kThreads * kPerThread});
  EXPECT_GE(stats.wakeups, 1u);
  EXPECT_GE(stats.iterations, 1u);
  loop->Stop();
}

TEST(EventLoop, RunOnCallerThreadUntilStop) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  bool ran = false;
  loop->Post([&] {
    ran = true;
    loop->Stop();
  });
  loop->Run();
  EXPECT_TRUE(ran);
  // A second run works too.
  loop->Post([&] { loop->Stop(); });
  loop->Run();
}

TEST(EventLoop, ReadableEventFdAndRemove) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  auto ev = EventFd::Create();
  ASSERT_TRUE(ev.ok());
  std::atomic<int> fired{0};
  absl::Notification first;
  EventLoop::FdId id = loop->AddReadable(ev->fd(), [&] {
    ev->Consume();
    if (fired.fetch_add(1) == 0) first.Notify();
  });
  ASSERT_TRUE(loop->Start().ok());
  ev->Signal();
  first.WaitForNotification();
  // A second event after draining fires again.
  absl::Notification second;
  loop->RunAndWait([&] {
    loop->RemoveFd(id);
    id = loop->AddReadable(ev->fd(), [&] {
      ev->Consume();
      second.Notify();
    });
  });
  ev->Signal();
  second.WaitForNotification();
  loop->RunAndWait([&] { loop->RemoveFd(id); });
  int before = fired.load();
  ev->Signal();
  // Two round trips through the loop: a stale poll would have fired by now.
  loop->RunAndWait([] {});
  loop->RunAndWait([] {});
  EXPECT_EQ(fired.load(), before);
  EXPECT_EQ(ev->Consume(), 1u);  // still unread: nobody watches it
  loop->Stop();
}

TEST(EventLoop, SignalFdThroughTheLoop) {
  // Block SIGUSR2 before the loop thread exists so that it inherits the
  // mask, and the signal stays pending for the signalfd.
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
  int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  ASSERT_GE(sfd, 0);
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  absl::Notification got;
  uint32_t signo = 0;
  loop->AddReadable(sfd, [&] {
    signalfd_siginfo info;
    while (read(sfd, &info, sizeof(info)) == sizeof(info)) {
      signo = info.ssi_signo;
      got.Notify();
    }
  });
  ASSERT_TRUE(loop->Start().ok());
  ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
  got.WaitForNotification();
  loop->Stop();
  EXPECT_EQ(signo, static_cast<uint32_t>(SIGUSR2));
  close(sfd);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

TEST(EventLoop, CallbackMayRemoveItself) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  auto ev = EventFd::Create();
  ASSERT_TRUE(ev.ok());
  absl::Notification done;
  EventLoop::FdId id = 0;
  id = loop->AddReadable(ev->fd(), [&] {
    ev->Consume();
    loop->RemoveFd(id);
    done.Notify();
  });
  ASSERT_TRUE(loop->Start().ok());
  ev->Signal();
  done.WaitForNotification();
  loop->Stop();
}

TEST(EventLoop, OneShotTimerFiresOnce) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  absl::Notification fired;
  int count = 0;
  loop->AddTimer(absl::Milliseconds(1), false, [&] {
    ++count;
    fired.Notify();
  });
  ASSERT_TRUE(loop->Start().ok());
  fired.WaitForNotification();
  loop->RunAndWait([] {});
  loop->Stop();
  EXPECT_EQ(count, 1);
}

TEST(EventLoop, PeriodicTimerRepeatsUntilCancelled) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  absl::Notification third;
  int count = 0;
  EventLoop::TimerId id = 0;
  id = loop->AddTimer(absl::Milliseconds(1), true, [&] {
    if (++count == 3) {
      loop->CancelTimer(id);
      third.Notify();
    }
  });
  ASSERT_TRUE(loop->Start().ok());
  third.WaitForNotification();
  loop->RunAndWait([] {});
  loop->Stop();
  EXPECT_EQ(count, 3);
}

TEST(EventLoop, CancelledTimerNeverFires) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  bool fired = false;
  EventLoop::TimerId id =
      loop->AddTimer(absl::Milliseconds(20), false, [&] { fired = true; });
  loop->CancelTimer(id);
  absl::Notification later;
  loop->AddTimer(absl::Milliseconds(40), false, [&] { later.Notify(); });
  ASSERT_TRUE(loop->Start().ok());
  later.WaitForNotification();
  loop->Stop();
  EXPECT_FALSE(fired);
}

TEST(EventLoop, SubmitSurvivesFullSubmissionRing) {
  // 8 SQEs, so 1000 NOPs fill the SQ ring many times over.
  auto loop = MakeLoop({.sq_entries = 8});
  ASSERT_NE(loop, nullptr);
  ASSERT_TRUE(loop->Start().ok());
  constexpr int kOps = 1000;
  int completed = 0, ok = 0;
  absl::Notification all;
  loop->Post([&] {
    for (int i = 0; i < kOps; ++i) {
      loop->Submit([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); },
                   [&](int32_t res) {
                     if (res == 0) ++ok;
                     if (++completed == kOps) all.Notify();
                   });
    }
  });
  all.WaitForNotification();
  loop->Stop();
  EXPECT_EQ(ok, kOps);
  EXPECT_GT(loop->stats().sq_full, 0u);
  EXPECT_GE(loop->stats().completions, uint64_t{kOps});
}

TEST(EventLoop, SubmitSurvivesCompletionRingOverflow) {
  // CQ of 8 (CLAMP keeps it at least the SQ size): 500 NOPs submitted in one
  // callback complete faster than anyone reaps them.
  auto loop = MakeLoop({.sq_entries = 2});
  ASSERT_NE(loop, nullptr);
  constexpr int kOps = 500;
  int completed = 0;
  for (int i = 0; i < kOps; ++i) {
    loop->Submit([](io_uring_sqe* sqe) { io_uring_prep_nop(sqe); },
                 [&](int32_t) { ++completed; });
  }
  loop->Flush();
  ASSERT_TRUE(loop->Start().ok());
  int seen = 0;
  while (seen < kOps) loop->RunAndWait([&] { seen = completed; });
  loop->Stop();
  EXPECT_EQ(seen, kOps);
}

TEST(EventLoop, SubmitReadsAFile) {
  auto loop = MakeLoop();
  ASSERT_NE(loop, nullptr);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "hello", 5), 5);
  char buf[16] = {};
  absl::Notification done;
  int32_t result = 0;
  loop->Submit(
      [&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fds[0], buf, 16, 0); },
      [&](int32_t res) {
        result = res;
        done.Notify();
      });
  ASSERT_TRUE(loop->Start().ok());
  done.WaitForNotification();
  loop->Stop();
  EXPECT_EQ(result, 5);
  EXPECT_EQ(std::string(buf), "hello");
  close(fds[0]);
  close(fds[1]);
}

TEST(EventLoop, DestroyCancelsOperationsInFlight) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  char buf[16];
  bool called = false;
  {
    auto loop = MakeLoop();
    ASSERT_NE(loop, nullptr);
    ASSERT_TRUE(loop->Start().ok());
    // A read from an empty pipe never completes by itself.
    loop->RunAndWait([&] {
      loop->Submit(
          [&](io_uring_sqe* sqe) {
            io_uring_prep_read(sqe, fds[0], buf, sizeof(buf), 0);
          },
          [&](int32_t) { called = true; });
    });
    loop->RunAndWait([] {});
  }
  EXPECT_FALSE(called);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace skiff::io
