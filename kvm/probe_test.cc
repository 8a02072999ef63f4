#include "kvm/probe.h"

#include <linux/kvm.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/fake_kvm.h"
#include "kvm/kvm_system.h"
#include "kvm/tiny_guest.h"

namespace skiff::kvm {
namespace {

using ::testing::HasSubstr;

TEST(Probe, NoDeviceIsAnAnswerNotAnError) {
  auto result = ProbeCanRunLinux("/nonexistent/kvm");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->can_run_linux);
  EXPECT_THAT(result->reason, HasSubstr("no /dev/kvm"));
  absl::Status usable = ProbeKvmUsable("/nonexistent/kvm");
  EXPECT_FALSE(usable.ok());
  EXPECT_THAT(std::string(usable.message()), HasSubstr("no /dev/kvm"));
}

TEST(Probe, InterpretsExits) {
  VcpuExit halt;
  halt.kind = VcpuExit::Kind::kHalt;
  EXPECT_TRUE(InterpretProbeExit(halt, true).can_run_linux);
  EXPECT_TRUE(InterpretProbeExit(halt, true).reason.empty());
  ProbeResult skipped = InterpretProbeExit(halt, false);
  EXPECT_FALSE(skipped.can_run_linux);
  EXPECT_THAT(skipped.reason, HasSubstr("without reaching its #BP handler"));

  VcpuExit error;
  error.kind = VcpuExit::Kind::kInternalError;
  error.reason = KVM_EXIT_INTERNAL_ERROR;
  error.suberror = KVM_INTERNAL_ERROR_EMULATION;
  error.message = "emulation failure";
  error.rip = 0x6000;
  error.insn[0] = 0xcc;
  error.insn_len = 1;
  ProbeResult r = InterpretProbeExit(error, false);
  EXPECT_FALSE(r.can_run_linux);
  EXPECT_EQ(r.reason,
            "KVM cannot emulate INT3 at CPL0 (shadow-paging KVM without "
            "hardware virtualization, see HOST-KVM.md): internal error "
            "reason=17 suberror=1 (emulation failure) rip=0x6000 insn=cc");

  VcpuExit shutdown;
  shutdown.kind = VcpuExit::Kind::kShutdown;
  EXPECT_THAT(InterpretProbeExit(shutdown, false).reason,
              HasSubstr("could not deliver #BP"));
  VcpuExit interrupted;
  interrupted.kind = VcpuExit::Kind::kInterrupted;
  EXPECT_THAT(InterpretProbeExit(interrupted, false).reason,
              HasSubstr("did not finish"));
}

TEST(Probe, FakeKvmThatDeliversBreakpoint) {
  FakeKvm fake;
  int step = 0;
  fake.run_script = [&](FakeKvm::Vcpu& v) {
    // Check the probe put the vCPU in 64-bit mode at its entry point.
    EXPECT_EQ(v.regs.rip, kTinyCode);
    EXPECT_TRUE(v.sregs.efer & kEferLma);
    EXPECT_EQ(v.sregs.cs.l, 1);
    kvm_run* run = v.run();
    if (step++ == 0) {  // the #BP handler's OUT
      run->exit_reason = KVM_EXIT_IO;
      run->io.direction = KVM_EXIT_IO_OUT;
      run->io.size = 1;
      run->io.port = kProbePort;
      run->io.count = 1;
      run->io.data_offset = 4096;
      v.mapping[4096] = kProbeMarker;
    } else {
      run->exit_reason = KVM_EXIT_HLT;
    }
    return 0;
  };
  auto result = ProbeCanRunLinux("/dev/kvm", fake);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->can_run_linux) << result->reason;
  absl::Status usable = ProbeKvmUsable("/dev/kvm", fake);
  EXPECT_TRUE(usable.ok()) << usable;
}

TEST(Probe, FakeShadowKvmCannotEmulateInt3) {
  FakeKvm fake;
  fake.run_script = [](FakeKvm::Vcpu& v) {
    v.run()->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    v.run()->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
    v.run()->internal.ndata = 0;
    return 0;
  };
  auto result = ProbeCanRunLinux("/dev/kvm", fake);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->can_run_linux);
  // RIP and the INT3 byte come from the probe guest's memory via
  // KVM_TRANSLATE (identity in the fake).
  EXPECT_THAT(result->reason,
              HasSubstr("KVM cannot emulate INT3 at CPL0 (shadow-paging KVM "
                        "without hardware virtualization, see HOST-KVM.md): "
                        "internal error reason=17 suberror=1 (emulation "
                        "failure) rip=0x6000 insn=cc f4 eb fd"));
}

TEST(Probe, FakeKvmRunFailure) {
  FakeKvm fake;
  fake.run_script = [](FakeKvm::Vcpu&) {
    errno = EFAULT;
    return -1;
  };
  auto result = ProbeCanRunLinux("/dev/kvm", fake);
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->can_run_linux);
  EXPECT_EQ(result->reason, "KVM_RUN failed: KVM_RUN vcpu 0: Bad address");
}

TEST(Probe, RealKvm) {
  if (!KvmSystem::Create().ok()) {
    GTEST_SKIP() << KvmSystem::Create().status().message();
  }
  EXPECT_TRUE(ProbeKvmUsable().ok());
  auto result = ProbeCanRunLinux();
  ASSERT_TRUE(result.ok()) << result.status();
  // Either answer is fine; a negative one must say why.
  if (!result->can_run_linux) {
    EXPECT_FALSE(result->reason.empty());
  }
  RecordProperty("can_run_linux", result->can_run_linux ? "yes" : "no");
  RecordProperty("reason", result->reason);
}

}  // namespace
}  // namespace skiff::kvm
