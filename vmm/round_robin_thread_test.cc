#include "vmm/round_robin_thread.h"

#include <atomic>
#include <deque>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "base/guest_clock.h"
#include "devices/irqchip/timer_queue.h"
#include "gtest/gtest.h"
#include "vmm/vcpu_thread.h"

namespace skiff {
namespace {

// Shared by the backends of one test: which host threads ran guest code,
// and whether two ever ran at once.
struct RunLog {
  absl::Mutex mu;
  std::set<std::thread::id> threads ABSL_GUARDED_BY(mu);
  std::atomic<int> running{0};
  std::atomic<bool> overlapped{false};
};

// Replays a script of exits, then behaves like a guest that runs until its
// time slice ends (kInterrupted). Without SetTimeSlice it refuses to start.
class SlicedBackend : public VcpuBackend {
 public:
  SlicedBackend(int index, RunLog& log, std::deque<VcpuExit::Kind> script,
                bool can_slice = true)
      : index_(index),
        log_(log),
        script_(std::move(script)),
        can_slice_(can_slice) {}
  int index() const override { return index_; }
  absl::StatusOr<VcpuExit> Run(VcpuIo&) override {
    if (log_.running.fetch_add(1) != 0) log_.overlapped.store(true);
    {
      absl::MutexLock lock(&log_.mu);
      log_.threads.insert(std::this_thread::get_id());
    }
    runs.fetch_add(1);
    VcpuExit e;
    if (!script_.empty()) {
      e.kind = script_.front();
      script_.pop_front();
    }
    std::this_thread::yield();  // "the slice"
    log_.running.fetch_sub(1);
    return e;
  }
  void Kick() override {}
  absl::Status SetTimeSlice(uint64_t instructions) override {
    if (!can_slice_) return VcpuBackend::SetTimeSlice(instructions);
    slice = instructions;
    return absl::OkStatus();
  }
  absl::Status GetRegs(Regs& r) override {
    r = regs;
    return absl::OkStatus();
  }
  absl::Status SetRegs(const Regs& r) override {
    regs = r;
    return absl::OkStatus();
  }
  absl::Status GetSregs(Sregs&) override { return absl::OkStatus(); }
  absl::Status SetSregs(const Sregs&) override { return absl::OkStatus(); }
  absl::Status SetMsrs(absl::Span<const MsrEntry>) override {
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> GetMsr(uint32_t) override { return 0; }
  absl::Status ResetFpu() override { return absl::OkStatus(); }

  std::atomic<int> runs{0};
  uint64_t slice = 0;
  Regs regs{};

 private:
  const int index_;
  RunLog& log_;
  std::deque<VcpuExit::Kind> script_;
  const bool can_slice_;
};

class NullIo : public VcpuIo {
 public:
  void PioRead(uint16_t, absl::Span<uint8_t>) override {}
  void PioWrite(uint16_t, absl::Span<const uint8_t>) override {}
  void MmioRead(uint64_t, absl::Span<uint8_t>) override {}
  void MmioWrite(uint64_t, absl::Span<const uint8_t>) override {}
};

class NullControl : public devices::MachineControl {
 public:
  void RequestStop(devices::StopReason reason, int) override {
    if (!stopped.HasBeenNotified()) {
      this->reason = reason;
      stopped.Notify();
    }
  }
  devices::StopReason reason{};
  absl::Notification stopped;
};

struct Fixture {
  explicit Fixture(std::deque<VcpuExit::Kind> script0 = {},
                   std::deque<VcpuExit::Kind> script1 = {})
      : shared(std::make_shared<RoundRobinThread>(1234)) {
    auto b0 = std::make_unique<SlicedBackend>(0, log, std::move(script0));
    auto b1 = std::make_unique<SlicedBackend>(1, log, std::move(script1));
    raw0 = b0.get();
    raw1 = b1.get();
    VcpuThread::Options o;
    o.shared_thread = shared;
    v0 = std::make_unique<VcpuThread>(std::move(b0), io, control, o);
    v1 = std::make_unique<VcpuThread>(std::move(b1), io, control, o);
  }
  RunLog log;
  NullIo io;
  NullControl control;
  std::shared_ptr<RoundRobinThread> shared;
  SlicedBackend* raw0;
  SlicedBackend* raw1;
  std::unique_ptr<VcpuThread> v0, v1;
};

void WaitRuns(const SlicedBackend& b, int n) {
  while (b.runs.load() < n) std::this_thread::yield();
}

TEST(RoundRobinThread, VcpusTakeTurnsOnOneHostThread) {
  Fixture f;
  ASSERT_TRUE(f.v0->Start().ok());
  ASSERT_TRUE(f.v1->Start().ok());
  EXPECT_EQ(f.raw0->slice, 1234u);
  WaitRuns(*f.raw0, 50);
  WaitRuns(*f.raw1, 50);
  f.v0->Stop();
  f.v1->Stop();
  f.v0->Join();
  f.v1->Join();
  EXPECT_FALSE(f.log.overlapped.load());
  absl::MutexLock lock(&f.log.mu);
  ASSERT_EQ(f.log.threads.size(), 1u);
  EXPECT_NE(*f.log.threads.begin(), std::this_thread::get_id());
}

TEST(RoundRobinThread, HaltedVcpuIsSkippedUntilWoken) {
  Fixture f({VcpuExit::Kind::kHalt});
  ASSERT_TRUE(f.v0->Start().ok());
  ASSERT_TRUE(f.v1->Start().ok());
  WaitRuns(*f.raw0, 1);
  const int before = f.raw1->runs.load();
  WaitRuns(*f.raw1, before + 100);    // vCPU 1 keeps running...
  EXPECT_EQ(f.raw0->runs.load(), 1);  // ...vCPU 0 stays halted
  f.v0->Wake();
  WaitRuns(*f.raw0, 10);
}

TEST(RoundRobinThread, SleepsWhenAllHaltedAndWakes) {
  Fixture f({VcpuExit::Kind::kHalt}, {VcpuExit::Kind::kHalt});
  ASSERT_TRUE(f.v0->Start().ok());
  ASSERT_TRUE(f.v1->Start().ok());
  WaitRuns(*f.raw0, 1);
  WaitRuns(*f.raw1, 1);
  // Both halted: RunSync still reaches a vCPU (work wakes the thread).
  ASSERT_TRUE(f.v1->RunSync([](VcpuBackend& b) {
                    Regs r{};
                    r.rax = 7;
                    return b.SetRegs(r);
                  })
                  .ok());
  EXPECT_EQ(f.raw1->regs.rax, 7u);
  EXPECT_EQ(f.raw0->runs.load(), 1);
  EXPECT_EQ(f.raw1->runs.load(), 1);
  f.v1->Wake();
  WaitRuns(*f.raw1, 5);
  EXPECT_EQ(f.raw0->runs.load(), 1);
}

TEST(RoundRobinThread, PauseAndResumeOneVcpu) {
  Fixture f;
  ASSERT_TRUE(f.v0->Start().ok());
  ASSERT_TRUE(f.v1->Start().ok());
  f.v0->Pause();
  EXPECT_TRUE(f.v0->paused());
  const int runs0 = f.raw0->runs.load();
  WaitRuns(*f.raw1, f.raw1->runs.load() + 50);
  EXPECT_EQ(f.raw0->runs.load(), runs0);
  f.v0->Resume();
  WaitRuns(*f.raw0, runs0 + 10);
}

TEST(RoundRobinThread, ExitOfOneVcpuLeavesTheOtherRunning) {
  Fixture f({VcpuExit::Kind::kPowerOff});
  ASSERT_TRUE(f.v0->Start().ok());
  ASSERT_TRUE(f.v1->Start().ok());
  f.control.stopped.WaitForNotification();
  EXPECT_EQ(f.control.reason, devices::StopReason::kPowerOff);
  f.v0->Join();  // finished by the shared thread
  EXPECT_FALSE(
      f.v0->RunSync([](VcpuBackend&) { return absl::OkStatus(); }).ok());
  WaitRuns(*f.raw1, f.raw1->runs.load() + 10);
}

TEST(RoundRobinThread, BackendWithoutTimeSlicesCannotShare) {
  RunLog log;
  NullIo io;
  NullControl control;
  VcpuThread::Options o;
  o.shared_thread = std::make_shared<RoundRobinThread>();
  VcpuThread v(
      std::make_unique<SlicedBackend>(0, log, std::deque<VcpuExit::Kind>{},
                                      /*can_slice=*/false),
      io, control, o);
  EXPECT_EQ(v.Start().code(), absl::StatusCode::kUnimplemented);
}

// --icount: a backend that "retires" `per_run` instructions into the clock
// per Run(), after an optional script of exits.
class CountingBackend : public SlicedBackend {
 public:
  CountingBackend(int index, RunLog& log, std::deque<VcpuExit::Kind> script,
                  InstructionClock& clock, uint64_t per_run)
      : SlicedBackend(index, log, std::move(script)),
        clock_(clock),
        per_run_(per_run) {}
  absl::StatusOr<VcpuExit> Run(VcpuIo& io) override {
    clock_.AddInstructions(per_run_);
    return SlicedBackend::Run(io);
  }

 private:
  InstructionClock& clock_;
  const uint64_t per_run_;
};

struct IcountFixture {
  IcountFixture(int vcpus, std::deque<VcpuExit::Kind> script0, uint64_t per_run)
      : timers(clock, devices::TimerQueue::Mode::kManual),
        shared(std::make_shared<RoundRobinThread>(
            1234, RoundRobinThread::Icount{
                      .clock = &clock, .timers = &timers, .vcpus = vcpus})) {
    VcpuThread::Options o;
    o.shared_thread = shared;
    for (int i = 0; i < vcpus; ++i) {
      auto b = std::make_unique<CountingBackend>(
          i, log, i == 0 ? script0 : std::deque<VcpuExit::Kind>{}, clock,
          per_run);
      raw.push_back(b.get());
      v.push_back(std::make_unique<VcpuThread>(std::move(b), io, control, o));
    }
  }
  ~IcountFixture() {
    for (auto& t : v) t->Stop();
    v.clear();  // before the timers and the clock
  }
  InstructionClock clock;
  devices::TimerQueue timers;
  RunLog log;
  NullIo io;
  NullControl control;
  std::shared_ptr<RoundRobinThread> shared;
  std::vector<CountingBackend*> raw;
  std::vector<std::unique_ptr<VcpuThread>> v;
};

TEST(RoundRobinThread, IcountJumpsToTheNextTimerWhenAllHalted) {
  IcountFixture f(1, {VcpuExit::Kind::kHalt}, 0);
  std::atomic<uint64_t> fired_at{0};
  VcpuThread* v0 = f.v[0].get();
  f.timers.Schedule(5'000'000, [&] {
    fired_at.store(f.clock.NowNs());
    v0->Wake();
  });
  ASSERT_TRUE(v0->Start().ok());
  WaitRuns(*f.raw[0], 3);  // halted, woken by the timer, running again
  EXPECT_EQ(fired_at.load(), 5'000'000u);
  EXPECT_EQ(f.clock.skipped_ns(), 5'000'000u);
  EXPECT_EQ(f.clock.instructions(), 0u);
}

TEST(RoundRobinThread, IcountFiresDueTimersBetweenTurns) {
  IcountFixture f(1, {}, 1000);
  std::atomic<uint64_t> fired_at{0};
  f.timers.Schedule(2500, [&] { fired_at.store(f.clock.NowNs()); });
  ASSERT_TRUE(f.v[0]->Start().ok());
  WaitRuns(*f.raw[0], 5);
  // Due after the third turn (3000 instructions), before the fourth.
  EXPECT_EQ(fired_at.load(), 3000u);
  EXPECT_EQ(f.clock.skipped_ns(), 0u);
}

TEST(RoundRobinThread, IcountStartsTurnsOnlyWithEveryVcpu) {
  IcountFixture f(2, {}, 10);
  ASSERT_TRUE(f.v[0]->Start().ok());
  for (int i = 0; i < 1000; ++i) std::this_thread::yield();
  EXPECT_EQ(f.raw[0]->runs.load(), 0);
  ASSERT_TRUE(f.v[1]->Start().ok());
  WaitRuns(*f.raw[0], 5);
  WaitRuns(*f.raw[1], 5);
  // Strict alternation, vCPU 0 first: never more than one turn apart.
  EXPECT_LE(f.raw[0]->runs.load() - f.raw[1]->runs.load(), 1);
}

TEST(RoundRobinThread, IcountPausedVcpuStopsTime) {
  IcountFixture f(1, {}, 0);
  std::atomic<bool> fired{false};
  f.timers.Schedule(1'000'000, [&] { fired.store(true); });
  ASSERT_TRUE(f.v[0]->Start().ok());
  f.v[0]->Pause();
  for (int i = 0; i < 1000; ++i) std::this_thread::yield();
  // Paused is not halted: no jump to the timer.
  EXPECT_FALSE(fired.load());
  EXPECT_EQ(f.clock.skipped_ns(), 0u);
  f.v[0]->Resume();
}

}  // namespace
}  // namespace skiff
