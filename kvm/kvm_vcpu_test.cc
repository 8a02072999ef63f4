// KvmVcpu against FakeKvm (fake_kvm.h): the KVM_RUN loop, exit dispatch,
// kicks, fault context and ioctl plumbing, on any machine. What the real
// kernel does with these calls is covered by kvm_vm_test.cc where /dev/kvm
// exists.
#include "kvm/kvm_vcpu.h"

#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/fake_kvm.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_vm.h"
#include "kvm/test_util.h"
#include "kvm/x86_convert.h"

namespace skiff::kvm {
namespace {

using ::testing::HasSubstr;

class KvmVcpuFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto memory = GuestMemory::Create({{GuestAddr(0), 0x10000}}, {});
    ASSERT_TRUE(memory.ok());
    memory_ = std::move(*memory);
  }

  // Creates system, VM and vCPU `index` over the fake.
  void Create(KvmVm::Options options = {.num_vcpus = 1}, int index = 0) {
    auto kvm = KvmSystem::Create("/dev/kvm", fake_);
    ASSERT_TRUE(kvm.ok()) << kvm.status();
    kvm_ = std::move(*kvm);
    auto vm = KvmVm::Create(*kvm_, *memory_, options);
    ASSERT_TRUE(vm.ok()) << vm.status();
    vm_ = std::move(*vm);
    auto vcpu = vm_->CreateKvmVcpu(index);
    ASSERT_TRUE(vcpu.ok()) << vcpu.status();
    vcpu_ = std::move(*vcpu);
  }

  // A run_script that plays `steps` in order, one per KVM_RUN.
  void Script(std::vector<std::function<int(FakeKvm::Vcpu&)>> steps) {
    auto shared = std::make_shared<decltype(steps)>(std::move(steps));
    auto next = std::make_shared<size_t>(0);
    fake_.run_script = [shared, next](FakeKvm::Vcpu& v) {
      if (*next >= shared->size()) {
        errno = ENOSYS;
        return -1;
      }
      return (*shared)[(*next)++](v);
    };
  }

  FakeKvm fake_;
  std::unique_ptr<GuestMemory> memory_;
  std::unique_ptr<KvmSystem> kvm_;
  std::unique_ptr<KvmVm> vm_;
  std::unique_ptr<KvmVcpu> vcpu_;
};

int Halt(FakeKvm::Vcpu& v) {
  v.run()->exit_reason = KVM_EXIT_HLT;
  return 0;
}

TEST_F(KvmVcpuFakeTest, CreationLoadsCpuidMsrsFpuAndLints) {
  Create({.num_vcpus = 2}, 1);
  if (HasFatalFailure()) return;
  fake_.WithVcpu(1, [&](FakeKvm::Vcpu& v) {
    auto expected = vm_->CpuidFor(1);
    ASSERT_TRUE(expected.ok());
    ASSERT_EQ(v.cpuid.size(), expected->size());
    for (size_t i = 0; i < v.cpuid.size(); ++i) {
      EXPECT_EQ(v.cpuid[i].function, (*expected)[i].function);
      EXPECT_EQ(v.cpuid[i].ebx, (*expected)[i].ebx);
    }
    const kvm_cpuid_entry2* leaf1 = nullptr;
    for (const auto& e : v.cpuid) {
      if (e.function == 1) leaf1 = &e;
    }
    ASSERT_NE(leaf1, nullptr);
    EXPECT_EQ(leaf1->ebx >> 24, 1u);
    EXPECT_TRUE(leaf1->ecx & (1u << 24));  // TSC deadline: cap + irqchip
    for (const MsrEntry& m : DefaultBootMsrs()) {
      ASSERT_EQ(v.msrs.count(m.index), 1u) << std::hex << m.index;
      EXPECT_EQ(v.msrs[m.index], m.value);
    }
    EXPECT_EQ(v.msrs[kMsrMtrrDefType], kMtrrDefTypeEnableWb);
    EXPECT_EQ(v.fpu.fcw, 0x37f);
    EXPECT_EQ(v.fpu.mxcsr, 0x1f80u);
    uint32_t lint0, lint1;
    std::memcpy(&lint0, v.lapic.regs + 0x350, 4);
    std::memcpy(&lint1, v.lapic.regs + 0x360, 4);
    EXPECT_EQ((lint0 >> 8) & 7, 7u);       // ExtINT
    EXPECT_EQ((lint1 >> 8) & 7, 4u);       // NMI
    EXPECT_EQ(lint0 & 0x10000, 0x10000u);  // AP keeps its mask
  });
}

TEST_F(KvmVcpuFakeTest, NoLintsWithoutIrqchip) {
  Create({.num_vcpus = 1, .irqchip = false});
  if (HasFatalFailure()) return;
  fake_.WithVcpu(0, [](FakeKvm::Vcpu& v) {
    uint32_t lint1;
    std::memcpy(&lint1, v.lapic.regs + 0x360, 4);
    EXPECT_EQ(lint1, 0x10000u);  // untouched
  });
}

TEST_F(KvmVcpuFakeTest, RefusedMtrrIsOnlyAWarning) {
  fake_.refused_msrs = {kMsrMtrrDefType};
  Create();
  EXPECT_NE(vcpu_, nullptr);
}

TEST_F(KvmVcpuFakeTest, RefusedBootMsrFailsNamingIt) {
  fake_.refused_msrs = {kMsrCstar};
  auto kvm = KvmSystem::Create("/dev/kvm", fake_);
  ASSERT_TRUE(kvm.ok());
  auto vm = KvmVm::Create(**kvm, *memory_, {});
  ASSERT_TRUE(vm.ok());
  auto vcpu = (*vm)->CreateVcpu(0);
  ASSERT_FALSE(vcpu.ok());
  EXPECT_THAT(std::string(vcpu.status().message()),
              HasSubstr("KVM_SET_MSRS vcpu 0: MSR 0xc0000083 value=0x0 "
                        "refused"));
}

TEST_F(KvmVcpuFakeTest, RegsSregsMsrRoundTrip) {
  Create();
  if (HasFatalFailure()) return;
  Regs regs{};
  regs.rip = 0x1234;
  regs.r9 = 9;
  ASSERT_TRUE(vcpu_->SetRegs(regs).ok());
  Regs back{};
  ASSERT_TRUE(vcpu_->GetRegs(back).ok());
  EXPECT_EQ(back.rip, 0x1234u);
  EXPECT_EQ(back.r9, 9u);

  fake_.WithVcpu(0, [](FakeKvm::Vcpu& v) { v.sregs.interrupt_bitmap[1] = 4; });
  Sregs sregs{};
  ASSERT_TRUE(vcpu_->GetSregs(sregs).ok());
  EXPECT_EQ(sregs.apic_base, 0xfee00900u);
  sregs.cr3 = 0x5000;
  ASSERT_TRUE(vcpu_->SetSregs(sregs).ok());
  fake_.WithVcpu(0, [](FakeKvm::Vcpu& v) {
    EXPECT_EQ(v.sregs.cr3, 0x5000u);
    EXPECT_EQ(v.sregs.interrupt_bitmap[1], 4u);  // preserved
  });

  auto tsc = vcpu_->GetMsr(kMsrIa32Tsc);
  ASSERT_TRUE(tsc.ok());
  EXPECT_EQ(*tsc, 0u);
  auto missing = vcpu_->GetMsr(0x12345);
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("0x12345"));
}

TEST_F(KvmVcpuFakeTest, RunServicesIoThenReturnsHalt) {
  Create({.num_vcpus = 1, .irqchip = false});
  if (HasFatalFailure()) return;
  Script({
      [](FakeKvm::Vcpu& v) {
        kvm_run* run = v.run();
        run->exit_reason = KVM_EXIT_IO;
        run->io.direction = KVM_EXIT_IO_OUT;
        run->io.size = 1;
        run->io.port = 0x3f8;
        run->io.count = 2;
        run->io.data_offset = 4096;
        v.mapping[4096] = 'o';
        v.mapping[4097] = 'k';
        return 0;
      },
      [](FakeKvm::Vcpu& v) {
        kvm_run* run = v.run();
        run->exit_reason = KVM_EXIT_MMIO;
        run->mmio.phys_addr = 0xd0000000;
        run->mmio.len = 4;
        run->mmio.is_write = 0;
        return 0;
      },
      [](FakeKvm::Vcpu& v) {
        // The MMIO read result is in the mapping when KVM_RUN resumes.
        uint32_t data;
        std::memcpy(&data, v.run()->mmio.data, 4);
        EXPECT_EQ(data, 0xa3a2a1a0u);
        errno = EAGAIN;  // retried transparently
        return -1;
      },
      Halt,
  });
  RecordingIo io;
  auto exit = vcpu_->Run(io);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kHalt);
  auto rec = io.records();
  ASSERT_EQ(rec.size(), 3u);
  EXPECT_EQ(rec[0].data, (std::vector<uint8_t>{'o'}));
  EXPECT_EQ(rec[1].data, (std::vector<uint8_t>{'k'}));
  EXPECT_TRUE(rec[2].mmio);
  fake_.WithVcpu(0, [](FakeKvm::Vcpu& v) { EXPECT_EQ(v.runs, 4); });
}

TEST_F(KvmVcpuFakeTest, RunErrorNamesIoctl) {
  Create();
  if (HasFatalFailure()) return;
  Script({[](FakeKvm::Vcpu&) {
    errno = EFAULT;
    return -1;
  }});
  RecordingIo io;
  auto exit = vcpu_->Run(io);
  ASSERT_FALSE(exit.ok());
  EXPECT_EQ(exit.status().message(), "KVM_RUN vcpu 0: Bad address");
}

TEST_F(KvmVcpuFakeTest, KickBeforeRunReturnsInterruptedAndClearsFlag) {
  Create();
  if (HasFatalFailure()) return;
  Script({Halt});
  vcpu_->Kick();
  RecordingIo io;
  auto first = vcpu_->Run(io);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->kind, VcpuExit::Kind::kInterrupted);
  fake_.WithVcpu(0, [](FakeKvm::Vcpu& v) {
    EXPECT_EQ(v.runs, 0);  // never reached the guest
    EXPECT_EQ(v.run()->immediate_exit, 0);
  });
  auto second = vcpu_->Run(io);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->kind, VcpuExit::Kind::kHalt);
}

TEST_F(KvmVcpuFakeTest, KickFromAnotherThreadInterruptsRun) {
  Create();
  if (HasFatalFailure()) return;
  absl::Notification in_guest;
  Script({[&](FakeKvm::Vcpu& v) {
    in_guest.Notify();
    return FakeKvm::SpinUntilKicked(v);
  }});
  RecordingIo io;
  absl::StatusOr<VcpuExit> exit;
  std::thread runner([&] { exit = vcpu_->Run(io); });
  in_guest.WaitForNotification();
  vcpu_->Kick();
  runner.join();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kInterrupted);
  fake_.WithVcpu(
      0, [](FakeKvm::Vcpu& v) { EXPECT_EQ(v.run()->immediate_exit, 0); });
}

TEST_F(KvmVcpuFakeTest, KickSignalAloneInterruptsRun) {
  // Without the immediate_exit flag (cleared behind Kick's back), only the
  // signal can end the wait: proves the handler is installed, unblocked in
  // the vCPU thread and not SA_RESTART.
  Create();
  if (HasFatalFailure()) return;
  absl::Notification in_guest;
  std::atomic<bool> interrupted_by_signal{false};
  Script({[&](FakeKvm::Vcpu& v) {
    // Like KVM_RUN, wait with the signal unblocked atomically (ppoll's
    // mask), so a signal sent before the wait starts is not lost.
    sigset_t kick, old;
    sigemptyset(&kick);
    sigaddset(&kick, KickSignal());
    pthread_sigmask(SIG_BLOCK, &kick, &old);
    EXPECT_FALSE(sigismember(&old, KickSignal()));  // Run() unblocked it
    in_guest.Notify();
    sigset_t during;
    pthread_sigmask(SIG_SETMASK, nullptr, &during);
    sigdelset(&during, KickSignal());
    for (;;) {
      timespec ts{0, 2'000'000};
      if (::ppoll(nullptr, 0, &ts, &during) < 0 && errno == EINTR) {
        interrupted_by_signal = true;
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
        v.run()->exit_reason = KVM_EXIT_INTR;
        errno = EINTR;
        return -1;
      }
    }
  }});
  RecordingIo io;
  absl::StatusOr<VcpuExit> exit;
  pthread_t thread{};
  absl::Notification started;
  std::thread runner([&] {
    thread = pthread_self();
    started.Notify();
    exit = vcpu_->Run(io);
  });
  started.WaitForNotification();
  in_guest.WaitForNotification();
  ::pthread_kill(thread, KickSignal());
  runner.join();
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kInterrupted);
  EXPECT_TRUE(interrupted_by_signal.load());
}

TEST_F(KvmVcpuFakeTest, InternalErrorGetsRipAndBytesAcrossPages) {
  Create({.num_vcpus = 1, .irqchip = false});
  if (HasFatalFailure()) return;
  // A 3-byte instruction straddling two pages that are not adjacent in
  // guest-physical memory: linear 0x7ffe.. maps to phys 0x3ffe.., linear
  // 0x8000.. to phys 0x9000...
  fake_.translate = [](uint64_t linear, uint64_t* phys) {
    if (linear >= 0x7000 && linear < 0x8000) {
      *phys = linear - 0x4000;
    } else if (linear >= 0x8000 && linear < 0x9000) {
      *phys = linear + 0x1000;
    } else {
      return false;
    }
    return true;
  };
  constexpr uint8_t kFirst[] = {0x0f, 0xc7};
  ASSERT_TRUE(memory_->Write(GuestAddr(0x3ffe), kFirst).ok());
  constexpr uint8_t kSecond[] = {0x0e, 0x90};
  ASSERT_TRUE(memory_->Write(GuestAddr(0x9000), kSecond).ok());
  fake_.WithVcpu(0, [](FakeKvm::Vcpu& v) {
    v.regs.rip = 0x7ffe;
    v.sregs.efer = kEferLma | kEferLme;
    v.sregs.cs.l = 1;
  });
  Script({[](FakeKvm::Vcpu& v) {
    v.run()->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    v.run()->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
    v.run()->internal.ndata = 0;
    return 0;
  }});
  RecordingIo io;
  auto exit = vcpu_->Run(io);
  ASSERT_TRUE(exit.ok());
  ASSERT_EQ(exit->kind, VcpuExit::Kind::kInternalError);
  EXPECT_EQ(exit->rip, 0x7ffeu);
  // Two bytes from the first page, then as much of the second page as
  // is in RAM-backed memory (15 - 2 = 13 bytes).
  ASSERT_EQ(exit->insn_len, 15);
  EXPECT_EQ(exit->insn[0], 0x0f);
  EXPECT_EQ(exit->insn[1], 0xc7);
  EXPECT_EQ(exit->insn[2], 0x0e);
  EXPECT_EQ(exit->insn[3], 0x90);
  EXPECT_THAT(DescribeVcpuExit(*exit),
              HasSubstr("(emulation failure) rip=0x7ffe insn=0f c7 0e 90"));
}

TEST_F(KvmVcpuFakeTest, InternalErrorUnmappedRipLeavesNoBytes) {
  Create();
  if (HasFatalFailure()) return;
  fake_.translate = [](uint64_t, uint64_t*) { return false; };
  fake_.WithVcpu(0, [](FakeKvm::Vcpu& v) {
    v.regs.rip = 0xfff0;
    v.sregs.cs.base = 0xffff0000;  // real mode reset vector
  });
  Script({[](FakeKvm::Vcpu& v) {
    v.run()->exit_reason = KVM_EXIT_SHUTDOWN;
    return 0;
  }});
  RecordingIo io;
  auto exit = vcpu_->Run(io);
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kShutdown);
  EXPECT_EQ(exit->rip, 0xfffffff0u);  // cs.base + rip, 32-bit
  EXPECT_EQ(exit->insn_len, 0);
}

TEST_F(KvmVcpuFakeTest, KvmSuppliedBytesAreKept) {
  Create();
  if (HasFatalFailure()) return;
  fake_.WithVcpu(0, [](FakeKvm::Vcpu& v) {
    v.regs.rip = 0x6000;
    v.sregs.efer = kEferLma;
    v.sregs.cs.l = 1;
  });
  Script({[](FakeKvm::Vcpu& v) {
    auto& ef = v.run()->emulation_failure;
    v.run()->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    ef.suberror = KVM_INTERNAL_ERROR_EMULATION;
    ef.ndata = 3;
    ef.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
    ef.insn_size = 1;
    ef.insn_bytes[0] = 0xcc;
    return 0;
  }});
  RecordingIo io;
  auto exit = vcpu_->Run(io);
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(DescribeVcpuExit(*exit),
            "internal error reason=17 suberror=1 (emulation failure) "
            "rip=0x6000 insn=cc");
}

TEST_F(KvmVcpuFakeTest, CoalescedWritesReplayedBeforeTheExit) {
  Create({.num_vcpus = 1, .irqchip = false});
  if (HasFatalFailure()) return;
  ASSERT_TRUE(vm_->SupportsCoalescedMmio());
  ASSERT_TRUE(vm_->RegisterCoalescedMmio(0xd0000000, 0x1000, false).ok());
  Script({[](FakeKvm::Vcpu& v) {
            auto* ring = reinterpret_cast<kvm_coalesced_mmio_ring*>(
                v.mapping + KVM_COALESCED_MMIO_PAGE_OFFSET * 4096);
            kvm_coalesced_mmio& e = ring->coalesced_mmio[ring->last];
            e.phys_addr = 0xd0000010;
            e.len = 4;
            std::memset(e.data, 0x5a, 4);
            ring->last = ring->last + 1;
            v.run()->exit_reason = KVM_EXIT_IO;
            v.run()->io.direction = KVM_EXIT_IO_OUT;
            v.run()->io.size = 1;
            v.run()->io.port = 0x80;
            v.run()->io.count = 1;
            v.run()->io.data_offset = 4096;
            return 0;
          },
          Halt});
  RecordingIo io;
  auto exit = vcpu_->Run(io);
  ASSERT_TRUE(exit.ok());
  auto rec = io.records();
  ASSERT_EQ(rec.size(), 2u);
  EXPECT_TRUE(rec[0].mmio);
  EXPECT_EQ(rec[0].addr, 0xd0000010u);
  EXPECT_FALSE(rec[1].mmio);
  auto calls = fake_.vm_calls();
  bool registered = false;
  for (const auto& c : calls) {
    if (c.request == KVM_REGISTER_COALESCED_MMIO) {
      auto zone = c.As<kvm_coalesced_mmio_zone>();
      EXPECT_EQ(zone.addr, 0xd0000000u);
      EXPECT_EQ(zone.size, 0x1000u);
      registered = true;
    }
  }
  EXPECT_TRUE(registered);
}

}  // namespace
}  // namespace skiff::kvm
