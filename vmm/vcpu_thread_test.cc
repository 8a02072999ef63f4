#include "vmm/vcpu_thread.h"

#include <atomic>
#include <deque>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace skiff {
namespace {

// A backend that replays a script of exits; once the script is empty it
// behaves like a guest that spins until kicked.
class ScriptedBackend : public VcpuBackend {
 public:
  explicit ScriptedBackend(std::deque<VcpuExit::Kind> script)
      : script_(std::move(script)) {}
  int index() const override { return 3; }
  absl::StatusOr<VcpuExit> Run(VcpuIo& io) override {
    runs.fetch_add(1);
    if (!script_.empty()) {
      VcpuExit e;
      e.kind = script_.front();
      script_.pop_front();
      if (e.kind == VcpuExit::Kind::kInterrupted) {
        uint8_t b = 0x42;
        io.PioWrite(0x3f8, absl::MakeConstSpan(&b, 1));
      }
      return e;
    }
    while (!kicked_.exchange(false)) std::this_thread::yield();
    return VcpuExit{};
  }
  void Kick() override { kicked_.store(true); }
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
  Regs regs{};

 private:
  std::deque<VcpuExit::Kind> script_;
  std::atomic<bool> kicked_{false};
};

class CountingIo : public VcpuIo {
 public:
  void PioRead(uint16_t, absl::Span<uint8_t>) override {}
  void PioWrite(uint16_t, absl::Span<const uint8_t>) override { writes++; }
  void MmioRead(uint64_t, absl::Span<uint8_t>) override {}
  void MmioWrite(uint64_t, absl::Span<const uint8_t>) override {}
  std::atomic<int> writes{0};
};

class RecordingControl : public devices::MachineControl {
 public:
  void RequestStop(devices::StopReason reason, int status) override {
    if (!stopped.HasBeenNotified()) {
      this->reason = reason;
      this->status = status;
      stopped.Notify();
    }
  }
  devices::StopReason reason{};
  int status = -1;
  absl::Notification stopped;
};

TEST(VcpuThread, ResetExitStopsMachineWithStatusZero) {
  auto backend = std::make_unique<ScriptedBackend>(std::deque<VcpuExit::Kind>{
      VcpuExit::Kind::kInterrupted, VcpuExit::Kind::kReset});
  CountingIo io;
  RecordingControl control;
  VcpuThread vcpu(std::move(backend), io, control, {});
  EXPECT_EQ(vcpu.index(), 3);
  ASSERT_TRUE(vcpu.Start().ok());
  control.stopped.WaitForNotification();
  vcpu.Join();
  EXPECT_EQ(control.reason, devices::StopReason::kReset);
  EXPECT_EQ(control.status, 0);
  EXPECT_EQ(io.writes.load(), 1);
}

TEST(VcpuThread, TripleFaultAndInternalErrorAreFailures) {
  for (auto [kind, status] :
       {std::pair{VcpuExit::Kind::kShutdown, kExitGuestShutdown},
        std::pair{VcpuExit::Kind::kInternalError, kExitBackendError}}) {
    CountingIo io;
    RecordingControl control;
    VcpuThread vcpu(
        std::make_unique<ScriptedBackend>(std::deque<VcpuExit::Kind>{kind}), io,
        control, {});
    ASSERT_TRUE(vcpu.Start().ok());
    control.stopped.WaitForNotification();
    EXPECT_EQ(control.status, status);
  }
}

TEST(VcpuThread, RunSyncExecutesOnVcpuThreadWhileGuestRuns) {
  auto backend =
      std::make_unique<ScriptedBackend>(std::deque<VcpuExit::Kind>{});
  ScriptedBackend* raw = backend.get();
  CountingIo io;
  RecordingControl control;
  VcpuThread vcpu(std::move(backend), io, control, {});
  ASSERT_TRUE(vcpu.Start().ok());
  std::thread::id worker;
  ASSERT_TRUE(vcpu.RunSync([&](VcpuBackend& b) {
                    worker = std::this_thread::get_id();
                    Regs r{};
                    r.rip = 0x1234;
                    return b.SetRegs(r);
                  })
                  .ok());
  EXPECT_NE(worker, std::this_thread::get_id());
  EXPECT_EQ(raw->regs.rip, 0x1234u);
  vcpu.Stop();
  vcpu.Join();
  EXPECT_FALSE(
      vcpu.RunSync([](VcpuBackend&) { return absl::OkStatus(); }).ok());
}

TEST(VcpuThread, PauseParksAndResumeContinues) {
  auto backend =
      std::make_unique<ScriptedBackend>(std::deque<VcpuExit::Kind>{});
  ScriptedBackend* raw = backend.get();
  CountingIo io;
  RecordingControl control;
  VcpuThread vcpu(std::move(backend), io, control, {});
  ASSERT_TRUE(vcpu.Start().ok());
  vcpu.Pause();
  EXPECT_TRUE(vcpu.paused());
  int runs = raw->runs.load();
  // Work still runs while paused.
  ASSERT_TRUE(vcpu.RunSync([](VcpuBackend&) { return absl::OkStatus(); }).ok());
  EXPECT_EQ(raw->runs.load(), runs);
  vcpu.Resume();
  while (raw->runs.load() == runs) std::this_thread::yield();
  vcpu.Stop();
}

TEST(VcpuThread, HaltedVcpuSleepsUntilWoken) {
  auto backend = std::make_unique<ScriptedBackend>(std::deque<VcpuExit::Kind>{
      VcpuExit::Kind::kHalt, VcpuExit::Kind::kPowerOff});
  ScriptedBackend* raw = backend.get();
  CountingIo io;
  RecordingControl control;
  VcpuThread vcpu(std::move(backend), io, control, {});
  ASSERT_TRUE(vcpu.Start().ok());
  // A kick alone does not end a halt.
  while (raw->runs.load() < 1) std::this_thread::yield();
  vcpu.Kick();
  ASSERT_TRUE(vcpu.RunSync([](VcpuBackend&) { return absl::OkStatus(); }).ok());
  EXPECT_FALSE(control.stopped.HasBeenNotified());
  EXPECT_EQ(raw->runs.load(), 1);
  vcpu.Wake();
  control.stopped.WaitForNotification();
  EXPECT_EQ(control.reason, devices::StopReason::kPowerOff);
}

TEST(VcpuThread, AffinityPinsThread) {
  auto backend =
      std::make_unique<ScriptedBackend>(std::deque<VcpuExit::Kind>{});
  CountingIo io;
  RecordingControl control;
  VcpuThread vcpu(std::move(backend), io, control, {.affinity = {0}});
  ASSERT_TRUE(vcpu.Start().ok());
  int cpu = -1;
  ASSERT_TRUE(vcpu.RunSync([&](VcpuBackend&) {
                    cpu_set_t set;
                    sched_getaffinity(0, sizeof(set), &set);
                    cpu = CPU_COUNT(&set) == 1 && CPU_ISSET(0, &set) ? 0 : -1;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(cpu, 0);
  EXPECT_FALSE(vcpu.SetAffinity({100000}).ok());
  EXPECT_TRUE(vcpu.SetAffinity({}).ok());
}

}  // namespace
}  // namespace skiff
