// KvmVm / KvmVcpu against a real /dev/kvm with tiny hand-assembled guests
// (64-bit, CPL0; see tiny_guest.h). Every test skips when /dev/kvm is
// missing. The guests stay a few dozen instructions long because CPL0 code
// is emulated at a few MIPS on shadow-paging hosts (HOST-KVM.md).
#include "kvm/kvm_vm.h"

#include <linux/kvm.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/fake_kvm.h"
#include "kvm/test_util.h"
#include "kvm/tiny_guest.h"
#include "kvm/x86_convert.h"

namespace skiff::kvm {
namespace {

using ::testing::HasSubstr;

// Everything one test needs: memory, VM, vCPU 0 in long mode at kTinyCode.
struct Guest {
  std::unique_ptr<KvmSystem> kvm;
  std::unique_ptr<GuestMemory> memory;
  std::unique_ptr<KvmVm> vm;
  std::unique_ptr<KvmVcpu> vcpu;
};

// Builds the guest with `code` at kTinyCode. Fails the test on errors.
void MakeGuest(std::unique_ptr<KvmSystem> kvm, absl::Span<const uint8_t> code,
               KvmVm::Options options, Guest& g) {
  g.kvm = std::move(kvm);
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok()) << memory.status();
  g.memory = std::move(*memory);
  ASSERT_TRUE(WriteLongModeTables(*g.memory).ok());
  ASSERT_TRUE(g.memory->Write(GuestAddr(kTinyCode), code).ok());
  auto vm = KvmVm::Create(*g.kvm, *g.memory, options);
  ASSERT_TRUE(vm.ok()) << vm.status();
  g.vm = std::move(*vm);
  auto vcpu = g.vm->CreateKvmVcpu(0);
  ASSERT_TRUE(vcpu.ok()) << vcpu.status();
  g.vcpu = std::move(*vcpu);
  absl::Status s = EnterLongMode(*g.vcpu, kTinyCode, kTinyStackTop);
  ASSERT_TRUE(s.ok()) << s;
}

constexpr KvmVm::Options kNoIrqchip{.num_vcpus = 1, .irqchip = false};

// Runs until an exit other than kInterrupted-by-nobody; a watchdog kicks
// after 20 s so a broken host fails the test instead of hanging it.
VcpuExit RunGuarded(KvmVcpu& vcpu, VcpuIo& io) {
  absl::Notification done;
  std::thread watchdog([&] {
    if (!done.WaitForNotificationWithTimeout(absl::Seconds(20))) vcpu.Kick();
  });
  absl::StatusOr<VcpuExit> exit = vcpu.Run(io);
  done.Notify();
  watchdog.join();
  EXPECT_TRUE(exit.ok()) << exit.status();
  return exit.ok() ? *exit : VcpuExit{};
}

TEST(KvmVm, CreatesVmAndVcpus) {
  SKIFF_KVM_OR_SKIP(kvm);
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  auto vm = KvmVm::Create(*kvm, **memory, {.num_vcpus = 2});
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ((*vm)->name(), "kvm");
  auto v0 = (*vm)->CreateVcpu(0);
  ASSERT_TRUE(v0.ok()) << v0.status();
  auto v1 = (*vm)->CreateVcpu(1);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ((*v1)->index(), 1);
  EXPECT_TRUE(absl::IsAlreadyExists((*vm)->CreateVcpu(0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument((*vm)->CreateVcpu(2).status()));
  // Boot MSRs and FPU were applied.
  auto misc = (*v0)->GetMsr(kMsrIa32MiscEnable);
  ASSERT_TRUE(misc.ok()) << misc.status();
  EXPECT_TRUE(*misc & kMiscEnableFastStrings);
  auto lstar = (*v0)->GetMsr(kMsrLstar);
  ASSERT_TRUE(lstar.ok());
  EXPECT_EQ(*lstar, 0u);
}

TEST(KvmVm, RejectsBadOptionsAndRamOverTss) {
  SKIFF_KVM_OR_SKIP(kvm);
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  EXPECT_FALSE(KvmVm::Create(*kvm, **memory, {.num_vcpus = 0}).ok());
  EXPECT_FALSE(KvmVm::Create(*kvm, **memory, {.num_vcpus = 100000}).ok());
  auto high = GuestMemory::Create({{GuestAddr(0xfff00000), 0x100000}}, {});
  ASSERT_TRUE(high.ok());
  auto vm = KvmVm::Create(*kvm, **high, {});
  ASSERT_FALSE(vm.ok());
  EXPECT_THAT(std::string(vm.status().message()), HasSubstr("TSS"));
}

TEST(KvmVm, IrqLinesNeedIrqchip) {
  SKIFF_KVM_OR_SKIP(kvm);
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  auto vm = KvmVm::Create(*kvm, **memory, {});
  ASSERT_TRUE(vm.ok()) << vm.status();
  auto line = (*vm)->CreateIrqLine(4);
  ASSERT_TRUE(line.ok()) << line.status();
  (*line)->Pulse();
  EXPECT_TRUE((*vm)->SetIrqLevel(4, false).ok());
  EXPECT_FALSE((*vm)->CreateIrqLine(kNumGsis).ok());
  auto event = EventFd::Create();
  ASSERT_TRUE(event.ok());
  absl::Status s = (*vm)->RegisterIrqfd(*event, 5);
  EXPECT_TRUE(s.ok()) << s;
  s = (*vm)->UnregisterIrqfd(*event, 5);
  EXPECT_TRUE(s.ok()) << s;

  auto plain = KvmVm::Create(*kvm, **memory, kNoIrqchip);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(absl::IsFailedPrecondition((*plain)->CreateIrqLine(4).status()));
  EXPECT_FALSE((*plain)->RegisterIrqfd(*event, 5).ok());
}

TEST(KvmVcpu, SetMsrsNamesRefusedMsr) {
  SKIFF_KVM_OR_SKIP(kvm);
  Guest g;
  MakeGuest(std::move(kvm), {}, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  absl::Status s = g.vcpu->SetMsrs({{kMsrStar, 0}, {0xdeadbeef, 1}});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.message()), HasSubstr("MSR 0xdeadbeef"));
  EXPECT_FALSE(g.vcpu->GetMsr(0xdeadbeef).ok());
}

TEST(KvmVcpu, RegsAndSregsRoundTrip) {
  SKIFF_KVM_OR_SKIP(kvm);
  Guest g;
  MakeGuest(std::move(kvm), {}, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  Regs regs{};
  ASSERT_TRUE(g.vcpu->GetRegs(regs).ok());
  EXPECT_EQ(regs.rip, kTinyCode);
  regs.r13 = 0x1313;
  ASSERT_TRUE(g.vcpu->SetRegs(regs).ok());
  Regs back{};
  ASSERT_TRUE(g.vcpu->GetRegs(back).ok());
  EXPECT_EQ(back.r13, 0x1313u);
  Sregs sregs{};
  ASSERT_TRUE(g.vcpu->GetSregs(sregs).ok());
  EXPECT_EQ(sregs.cr3, kTinyPml4);
  EXPECT_TRUE(sregs.efer & kEferLma);
  EXPECT_EQ(sregs.cs.l, 1);
  auto phys = g.vcpu->Translate(kTinyCode);
  ASSERT_TRUE(phys.ok()) << phys.status();
  EXPECT_EQ(*phys, kTinyCode);
}

TEST(KvmVcpu, PortOutInAndHalt) {
  SKIFF_KVM_OR_SKIP(kvm);
  constexpr uint8_t kCode[] = {
      0xb0, 0x42, 0xe6, 0x80,              // mov al, 0x42; out 0x80, al
      0x66, 0xba, 0xf8, 0x03,              // mov dx, 0x3f8
      0x66, 0xb8, 0x34, 0x12, 0x66, 0xef,  // mov ax, 0x1234; out dx, ax
      0xb8, 0x78, 0x56, 0x34, 0x12, 0xef,  // mov eax, 0x12345678; out dx, eax
      0xec,                                // in al, dx
      0xf4,                                // hlt
  };
  Guest g;
  MakeGuest(std::move(kvm), kCode, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  RecordingIo io;
  VcpuExit exit = RunGuarded(*g.vcpu, io);
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHalt) << DescribeVcpuExit(exit);
  auto rec = io.records();
  ASSERT_EQ(rec.size(), 4u);
  EXPECT_EQ(rec[0].addr, 0x80u);
  EXPECT_EQ(rec[0].data, (std::vector<uint8_t>{0x42}));
  EXPECT_EQ(rec[1].addr, 0x3f8u);
  EXPECT_EQ(rec[1].data, (std::vector<uint8_t>{0x34, 0x12}));
  EXPECT_EQ(rec[2].data, (std::vector<uint8_t>{0x78, 0x56, 0x34, 0x12}));
  EXPECT_FALSE(rec[3].write);
  EXPECT_EQ(rec[3].data.size(), 1u);
  Regs regs{};
  ASSERT_TRUE(g.vcpu->GetRegs(regs).ok());
  EXPECT_EQ(regs.rax, 0x123456a0u);  // IN filled AL with RecordingIo's 0xa0
  EXPECT_EQ(regs.rip, kTinyCode + sizeof(kCode));
}

TEST(KvmVcpu, StringPortIo) {
  SKIFF_KVM_OR_SKIP(kvm);
  constexpr uint8_t kCode[] = {
      0xbe, 0x00, 0x70, 0x00, 0x00,  // mov esi, 0x7000
      0xb9, 0x05, 0x00, 0x00, 0x00,  // mov ecx, 5
      0xba, 0x00, 0x05, 0x00, 0x00,  // mov edx, 0x500
      0xf3, 0x6e,                    // rep outsb
      0xbf, 0x00, 0x71, 0x00, 0x00,  // mov edi, 0x7100
      0xb9, 0x04, 0x00, 0x00, 0x00,  // mov ecx, 4
      0xf3, 0x66, 0x6d,              // rep insw
      0xf4,                          // hlt
  };
  Guest g;
  MakeGuest(std::move(kvm), kCode, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  constexpr uint8_t kHello[] = {'h', 'e', 'l', 'l', 'o'};
  ASSERT_TRUE(g.memory->Write(GuestAddr(0x7000), kHello).ok());
  RecordingIo io;
  VcpuExit exit = RunGuarded(*g.vcpu, io);
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHalt) << DescribeVcpuExit(exit);
  std::string out;
  std::vector<uint8_t> in;
  for (const IoRecord& r : io.records()) {
    EXPECT_EQ(r.addr, 0x500u);
    if (r.write) {
      out.append(r.data.begin(), r.data.end());
    } else {
      EXPECT_EQ(r.data.size(), 2u);
      in.insert(in.end(), r.data.begin(), r.data.end());
    }
  }
  EXPECT_EQ(out, "hello");
  ASSERT_EQ(in.size(), 8u);
  uint8_t stored[8];
  ASSERT_TRUE(g.memory->Read(GuestAddr(0x7100), stored).ok());
  for (int i = 0; i < 8; ++i) EXPECT_EQ(stored[i], 0xa0 + i);
}

TEST(KvmVcpu, MmioWriteAndReadRoundTrip) {
  SKIFF_KVM_OR_SKIP(kvm);
  constexpr uint8_t kCode[] = {
      0xb8, 0x78, 0x56, 0x34, 0x12,                    // mov eax, 0x12345678
      0x89, 0x04, 0x25, 0x00, 0x00, 0x10, 0x00,        // mov [0x100000], eax
      0x8b, 0x1c, 0x25, 0x08, 0x00, 0x10, 0x00,        // mov ebx, [0x100008]
      0x48, 0x8b, 0x0c, 0x25, 0x10, 0x00, 0x10, 0x00,  // mov rcx, [0x100010]
      0xf4,                                            // hlt
  };
  Guest g;
  MakeGuest(std::move(kvm), kCode, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  RecordingIo io;
  io.on_read = [](uint64_t addr, absl::Span<uint8_t> data) {
    uint64_t v = addr == 0x100008 ? 0xdeadbeef : 0x1122334455667788;
    std::memcpy(data.data(), &v, data.size());
  };
  VcpuExit exit = RunGuarded(*g.vcpu, io);
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHalt) << DescribeVcpuExit(exit);
  auto rec = io.records();
  ASSERT_EQ(rec.size(), 3u);
  EXPECT_TRUE(rec[0].mmio && rec[0].write);
  EXPECT_EQ(rec[0].addr, kTinyMmioBase);
  EXPECT_EQ(rec[0].data, (std::vector<uint8_t>{0x78, 0x56, 0x34, 0x12}));
  EXPECT_EQ(rec[1].addr, kTinyMmioBase + 8);
  EXPECT_EQ(rec[1].data.size(), 4u);
  EXPECT_EQ(rec[2].data.size(), 8u);
  Regs regs{};
  ASSERT_TRUE(g.vcpu->GetRegs(regs).ok());
  EXPECT_EQ(regs.rbx, 0xdeadbeefu);
  EXPECT_EQ(regs.rcx, 0x1122334455667788u);
}

// mov al, 1; out 0x80, al; jmp $
constexpr uint8_t kSpinCode[] = {0xb0, 0x01, 0xe6, 0x80, 0xeb, 0xfe};

TEST(KvmVcpu, KickInterruptsSpinningGuest) {
  SKIFF_KVM_OR_SKIP(kvm);
  Guest g;
  MakeGuest(std::move(kvm), kSpinCode, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  absl::Notification started;
  RecordingIo io;
  io.on_write = [&](const IoRecord&) {
    if (!started.HasBeenNotified()) started.Notify();
  };
  absl::StatusOr<VcpuExit> exit;
  std::thread runner([&] { exit = g.vcpu->Run(io); });
  started.WaitForNotification();
  g.vcpu->Kick();
  runner.join();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kInterrupted);
  Regs regs{};
  ASSERT_TRUE(g.vcpu->GetRegs(regs).ok());
  EXPECT_EQ(regs.rip, kTinyCode + 4);  // at the jmp $
}

TEST(KvmVcpu, KickBeforeRunReturnsOnceThenGuestRuns) {
  SKIFF_KVM_OR_SKIP(kvm);
  Guest g;
  MakeGuest(std::move(kvm), kSpinCode, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  RecordingIo io;
  g.vcpu->Kick();
  auto first = g.vcpu->Run(io);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->kind, VcpuExit::Kind::kInterrupted);
  EXPECT_TRUE(io.records().empty());  // the guest did not run

  // immediate_exit was cleared: the guest now runs until kicked again.
  absl::Notification started;
  io.on_write = [&](const IoRecord&) {
    if (!started.HasBeenNotified()) started.Notify();
  };
  std::thread kicker([&] {
    started.WaitForNotification();
    g.vcpu->Kick();
  });
  auto second = g.vcpu->Run(io);
  kicker.join();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->kind, VcpuExit::Kind::kInterrupted);
  EXPECT_EQ(io.records().size(), 1u);
}

TEST(KvmVcpu, CpuidShowsVcpuIndexAndHypervisor) {
  SKIFF_KVM_OR_SKIP(kvm);
  constexpr uint8_t kCode[] = {
      0xb8, 0x01, 0x00, 0x00, 0x00,  // mov eax, 1
      0x0f, 0xa2,                    // cpuid
      0xf4,                          // hlt
  };
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  ASSERT_TRUE(WriteLongModeTables(**memory).ok());
  ASSERT_TRUE((*memory)->Write(GuestAddr(kTinyCode), kCode).ok());
  auto vm = KvmVm::Create(*kvm, **memory, {.num_vcpus = 2, .irqchip = false});
  ASSERT_TRUE(vm.ok()) << vm.status();
  auto vcpu = (*vm)->CreateKvmVcpu(1);
  ASSERT_TRUE(vcpu.ok()) << vcpu.status();
  ASSERT_TRUE(EnterLongMode(**vcpu, kTinyCode, kTinyStackTop).ok());
  RecordingIo io;
  VcpuExit exit = RunGuarded(**vcpu, io);
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHalt) << DescribeVcpuExit(exit);
  Regs regs{};
  ASSERT_TRUE((*vcpu)->GetRegs(regs).ok());
  EXPECT_EQ((regs.rbx >> 24) & 0xff, 1u);
  EXPECT_EQ((regs.rbx >> 16) & 0xff, 2u);
  EXPECT_TRUE(regs.rcx & (1u << 31));
}

TEST(KvmVcpu, IoeventfdSignalsInsteadOfExiting) {
  SKIFF_KVM_OR_SKIP(kvm);
  constexpr uint8_t kCode[] = {
      0x66, 0xba, 0x00, 0x05,  // mov dx, 0x500
      0xb0, 0x07, 0xee,        // mov al, 7; out dx, al   (matches)
      0xb0, 0x08, 0xee,        // mov al, 8; out dx, al   (does not)
      0xf4,                    // hlt
  };
  Guest g;
  MakeGuest(std::move(kvm), kCode, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  auto event = EventFd::Create();
  ASSERT_TRUE(event.ok());
  absl::Status s = g.vm->RegisterIoeventfd(0x500, 1, 7, /*pio=*/true, *event);
  ASSERT_TRUE(s.ok()) << s;
  RecordingIo io;
  VcpuExit exit = RunGuarded(*g.vcpu, io);
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHalt) << DescribeVcpuExit(exit);
  EXPECT_EQ(event->Consume(), 1u);
  auto rec = io.records();
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].data, (std::vector<uint8_t>{8}));
  s = g.vm->UnregisterIoeventfd(0x500, 1, 7, true, *event);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(KvmVcpu, CoalescedMmioWritesArriveBeforeNextExit) {
  SKIFF_KVM_OR_SKIP(kvm);
  constexpr uint8_t kCode[] = {
      0xb8, 0x11, 0x00, 0x00, 0x00,              // mov eax, 0x11
      0x89, 0x04, 0x25, 0x00, 0x01, 0x10, 0x00,  // mov [0x100100], eax
      0xb8, 0x22, 0x00, 0x00, 0x00,              // mov eax, 0x22
      0x89, 0x04, 0x25, 0x04, 0x01, 0x10, 0x00,  // mov [0x100104], eax
      0xb0, 0x01, 0xe6, 0x80,                    // out 0x80, 1
      0xf4,                                      // hlt
  };
  Guest g;
  MakeGuest(std::move(kvm), kCode, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  if (!g.vm->SupportsCoalescedMmio()) {
    GTEST_SKIP() << "this KVM has no KVM_CAP_COALESCED_MMIO";
  }
  absl::Status s =
      g.vm->RegisterCoalescedMmio(kTinyMmioBase + 0x100, 0x100, false);
  ASSERT_TRUE(s.ok()) << s;
  RecordingIo io;
  VcpuExit exit = RunGuarded(*g.vcpu, io);
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kHalt) << DescribeVcpuExit(exit);
  auto rec = io.records();
  ASSERT_EQ(rec.size(), 3u);
  EXPECT_TRUE(rec[0].mmio);
  EXPECT_EQ(rec[0].addr, kTinyMmioBase + 0x100);
  EXPECT_EQ(rec[0].data, (std::vector<uint8_t>{0x11, 0, 0, 0}));
  EXPECT_EQ(rec[1].addr, kTinyMmioBase + 0x104);
  EXPECT_FALSE(rec[2].mmio);
  EXPECT_EQ(rec[2].addr, 0x80u);
  EXPECT_TRUE(
      g.vm->UnregisterCoalescedMmio(kTinyMmioBase + 0x100, 0x100, false).ok());
}

TEST(KvmVcpu, PicInterruptReachesGuest) {
  SKIFF_KVM_OR_SKIP(kvm);
  // Program the master 8259 (vector base 0x20), unmask IRQ 4, announce
  // readiness on port 0x80, then wait with interrupts on. The IRQ 4 handler
  // (vector 0x24) writes 0x24 to port 0x80 and spins.
  constexpr uint8_t kCode[] = {
      0xb0, 0x11, 0xe6, 0x20,  // ICW1: edge, cascade, ICW4 needed
      0xb0, 0x20, 0xe6, 0x21,  // ICW2: vector base 0x20
      0xb0, 0x04, 0xe6, 0x21,  // ICW3: slave on IRQ 2
      0xb0, 0x01, 0xe6, 0x21,  // ICW4: 8086 mode
      0xb0, 0xef, 0xe6, 0x21,  // OCW1: only IRQ 4 unmasked
      0xb0, 0x01, 0xe6, 0x80,  // ready
      0xfb,                    // sti
      0xf4,                    // hlt
      0xeb, 0xfd,              // jmp hlt
  };
  constexpr uint64_t kHandler = kTinyCode + 0x100;
  constexpr uint8_t kHandlerCode[] = {0xb0, 0x24, 0xe6, 0x80,  // out 0x80, 0x24
                                      0xeb, 0xfe};             // jmp $
  Guest g;
  MakeGuest(std::move(kvm), kCode, {.num_vcpus = 1}, g);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(g.memory->Write(GuestAddr(kHandler), kHandlerCode).ok());
  ASSERT_TRUE(SetIdtGate(*g.memory, 0x24, kHandler).ok());
  auto line = g.vm->CreateIrqLine(4);
  ASSERT_TRUE(line.ok()) << line.status();

  absl::Notification ready, handled;
  RecordingIo io;
  io.on_write = [&](const IoRecord& r) {
    if (r.addr != 0x80 || r.data.size() != 1) return;
    if (r.data[0] == 1 && !ready.HasBeenNotified()) ready.Notify();
    if (r.data[0] == 0x24 && !handled.HasBeenNotified()) handled.Notify();
  };
  absl::StatusOr<VcpuExit> exit;
  std::thread runner([&] { exit = g.vcpu->Run(io); });
  ready.WaitForNotification();
  (*line)->SetLevel(true);
  // With the irqchip, HLT sleeps in the kernel; stop after the handler ran
  // or after a generous guard.
  handled.WaitForNotificationWithTimeout(absl::Seconds(20));
  g.vcpu->Kick();
  runner.join();
  (*line)->SetLevel(false);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kInterrupted)
      << DescribeVcpuExit(*exit);
  EXPECT_TRUE(handled.HasBeenNotified()) << "IRQ 4 handler never ran";
}

TEST(KvmVcpu, InternalErrorReportsRipAndBytes) {
  SKIFF_KVM_OR_SKIP(kvm);
  // INT3 at CPL0 with a handler: a KVM with hardware virtualization runs the
  // handler (and this test has nothing to observe); the shadow-paging KVM of
  // HOST-KVM.md cannot emulate INT3 and reports an emulation failure.
  constexpr uint8_t kCode[] = {0xcc, 0xf4};
  constexpr uint8_t kHandler[] = {0xf4};
  Guest g;
  MakeGuest(std::move(kvm), kCode, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(g.memory->Write(GuestAddr(kTinyCode + 0x100), kHandler).ok());
  ASSERT_TRUE(SetIdtGate(*g.memory, 3, kTinyCode + 0x100).ok());
  RecordingIo io;
  VcpuExit exit = RunGuarded(*g.vcpu, io);
  if (exit.kind == VcpuExit::Kind::kHalt) {
    GTEST_SKIP() << "this KVM delivers INT3 at CPL0, so its emulation-failure "
                    "path cannot be triggered by a test guest";
  }
  ASSERT_EQ(exit.kind, VcpuExit::Kind::kInternalError)
      << DescribeVcpuExit(exit);
  EXPECT_EQ(exit.reason, static_cast<uint32_t>(KVM_EXIT_INTERNAL_ERROR));
  EXPECT_EQ(exit.suberror, static_cast<uint32_t>(KVM_INTERNAL_ERROR_EMULATION));
  EXPECT_EQ(exit.rip, kTinyCode);
  ASSERT_GE(exit.insn_len, 1);
  EXPECT_EQ(exit.insn[0], 0xcc);
  EXPECT_THAT(DescribeVcpuExit(exit), HasSubstr("emulation failure"));
  EXPECT_THAT(DescribeVcpuExit(exit), HasSubstr("insn=cc"));
}

TEST(KvmVcpu, TripleFaultIsShutdown) {
  SKIFF_KVM_OR_SKIP(kvm);
  // UD2 with an empty IDT: #UD -> #NP -> #DF -> triple fault.
  constexpr uint8_t kCode[] = {0x0f, 0x0b};
  Guest g;
  MakeGuest(std::move(kvm), kCode, kNoIrqchip, g);
  if (HasFatalFailure()) return;
  RecordingIo io;
  VcpuExit exit = RunGuarded(*g.vcpu, io);
  if (exit.kind == VcpuExit::Kind::kInternalError) {
    GTEST_SKIP() << "this KVM cannot emulate the fault sequence at CPL0: "
                 << DescribeVcpuExit(exit);
  }
  EXPECT_EQ(exit.kind, VcpuExit::Kind::kShutdown) << DescribeVcpuExit(exit);
}

// --- Against FakeKvm: the ioctls KvmVm issues and their arguments. ---

std::vector<FakeKvm::Call> CallsOf(const std::vector<FakeKvm::Call>& calls,
                                   unsigned long request) {
  std::vector<FakeKvm::Call> out;
  for (const auto& c : calls) {
    if (c.request == request) out.push_back(c);
  }
  return out;
}

TEST(KvmVmFake, SetUpSequence) {
  FakeKvm fake;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_TRUE(kvm.ok()) << kvm.status();
  auto memory = GuestMemory::Create(
      {{GuestAddr(0), 0x20000}, {GuestAddr(0x100000000), 0x10000}}, {});
  ASSERT_TRUE(memory.ok());
  auto vm = KvmVm::Create(**kvm, **memory, {.num_vcpus = 2});
  ASSERT_TRUE(vm.ok()) << vm.status();
  auto calls = fake.vm_calls();
  std::vector<unsigned long> order;
  for (const auto& c : calls) order.push_back(c.request);
  EXPECT_THAT(order, ::testing::ElementsAre(
                         KVM_SET_IDENTITY_MAP_ADDR, KVM_SET_TSS_ADDR,
                         KVM_SET_USER_MEMORY_REGION, KVM_SET_USER_MEMORY_REGION,
                         KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2));
  EXPECT_EQ(calls[0].As<uint64_t>(), kIdentityMapAddr);
  EXPECT_EQ(calls[1].value, kTssAddr);
  auto slot1 = calls[3].As<kvm_userspace_memory_region>();
  EXPECT_EQ(slot1.slot, 1u);
  EXPECT_EQ(slot1.guest_phys_addr, 0x100000000u);
  EXPECT_EQ(slot1.memory_size, 0x10000u);
  EXPECT_EQ(slot1.userspace_addr,
            reinterpret_cast<uint64_t>((*memory)->regions()[1].host));
  EXPECT_EQ(calls[5].As<kvm_pit_config>().flags,
            static_cast<uint32_t>(KVM_PIT_SPEAKER_DUMMY));
}

TEST(KvmVmFake, NoIrqchipNoPit) {
  FakeKvm fake;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_TRUE(kvm.ok());
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  auto vm = KvmVm::Create(**kvm, **memory, kNoIrqchip);
  ASSERT_TRUE(vm.ok());
  auto calls = fake.vm_calls();
  EXPECT_TRUE(CallsOf(calls, KVM_CREATE_IRQCHIP).empty());
  EXPECT_TRUE(CallsOf(calls, KVM_CREATE_PIT2).empty());
}

TEST(KvmVmFake, SlotErrorNamesSlotAddressAndSize) {
  FakeKvm fake;
  fake.fail_vm_ioctl[KVM_SET_USER_MEMORY_REGION] = EINVAL;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_TRUE(kvm.ok());
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  auto vm = KvmVm::Create(**kvm, **memory, {});
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.status().message(),
            "KVM_SET_USER_MEMORY_REGION slot 0 guest_addr=0x0 size=0x10000: "
            "Invalid argument");
}

TEST(KvmVmFake, IdentityMapFailureIsOnlyAWarning) {
  FakeKvm fake;
  fake.fail_vm_ioctl[KVM_SET_IDENTITY_MAP_ADDR] = EINVAL;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_TRUE(kvm.ok());
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  EXPECT_TRUE(KvmVm::Create(**kvm, **memory, {}).ok());
  fake.caps.erase(KVM_CAP_SET_IDENTITY_MAP_ADDR);
  FakeKvm fake2;
  fake2.caps.erase(KVM_CAP_SET_IDENTITY_MAP_ADDR);
  auto kvm2 = KvmSystem::Create("/dev/kvm", fake2);
  ASSERT_TRUE(kvm2.ok());
  ASSERT_TRUE(KvmVm::Create(**kvm2, **memory, {}).ok());
  EXPECT_TRUE(CallsOf(fake2.vm_calls(), KVM_SET_IDENTITY_MAP_ADDR).empty());
}

TEST(KvmVmFake, IrqchipErrorsNamed) {
  FakeKvm fake;
  fake.fail_vm_ioctl[KVM_CREATE_PIT2] = EEXIST;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_TRUE(kvm.ok());
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  auto vm = KvmVm::Create(**kvm, **memory, {});
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.status().message(),
            "KVM_CREATE_PIT2 flags=KVM_PIT_SPEAKER_DUMMY: File exists");
}

TEST(KvmVmFake, IrqLineIrqfdAndIoeventfdArguments) {
  FakeKvm fake;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_TRUE(kvm.ok());
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  auto vm = KvmVm::Create(**kvm, **memory, {});
  ASSERT_TRUE(vm.ok());
  auto line = (*vm)->CreateIrqLine(4);
  ASSERT_TRUE(line.ok());
  (*line)->Pulse();
  auto event = EventFd::Create();
  ASSERT_TRUE(event.ok());
  ASSERT_TRUE((*vm)->RegisterIrqfd(*event, 9).ok());
  ASSERT_TRUE((*vm)->UnregisterIrqfd(*event, 9).ok());
  ASSERT_TRUE((*vm)->RegisterIoeventfd(0xd0000050, 4, 2, false, *event).ok());
  ASSERT_TRUE(
      (*vm)->RegisterIoeventfd(0x510, 2, std::nullopt, true, *event).ok());
  ASSERT_TRUE((*vm)->UnregisterIoeventfd(0xd0000050, 4, 2, false, *event).ok());
  EXPECT_FALSE(
      (*vm)->RegisterIoeventfd(0x510, 3, std::nullopt, true, *event).ok());

  auto calls = fake.vm_calls();
  auto lines = CallsOf(calls, KVM_IRQ_LINE);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].As<kvm_irq_level>().irq, 4u);
  EXPECT_EQ(lines[0].As<kvm_irq_level>().level, 1u);
  EXPECT_EQ(lines[1].As<kvm_irq_level>().level, 0u);
  auto irqfds = CallsOf(calls, KVM_IRQFD);
  ASSERT_EQ(irqfds.size(), 2u);
  EXPECT_EQ(irqfds[0].As<kvm_irqfd>().gsi, 9u);
  EXPECT_EQ(irqfds[0].As<kvm_irqfd>().fd, static_cast<uint32_t>(event->fd()));
  EXPECT_EQ(irqfds[0].As<kvm_irqfd>().flags, 0u);
  EXPECT_EQ(irqfds[1].As<kvm_irqfd>().flags,
            static_cast<uint32_t>(KVM_IRQFD_FLAG_DEASSIGN));
  auto ioevents = CallsOf(calls, KVM_IOEVENTFD);
  ASSERT_EQ(ioevents.size(), 3u);
  auto mmio = ioevents[0].As<kvm_ioeventfd>();
  EXPECT_EQ(mmio.addr, 0xd0000050u);
  EXPECT_EQ(mmio.len, 4u);
  EXPECT_EQ(mmio.datamatch, 2u);
  EXPECT_EQ(mmio.fd, event->fd());
  EXPECT_EQ(mmio.flags, static_cast<uint32_t>(KVM_IOEVENTFD_FLAG_DATAMATCH));
  auto pio = ioevents[1].As<kvm_ioeventfd>();
  EXPECT_EQ(pio.flags, static_cast<uint32_t>(KVM_IOEVENTFD_FLAG_PIO));
  auto un = ioevents[2].As<kvm_ioeventfd>();
  EXPECT_EQ(un.flags, static_cast<uint32_t>(KVM_IOEVENTFD_FLAG_DATAMATCH |
                                            KVM_IOEVENTFD_FLAG_DEASSIGN));
}

TEST(KvmVmFake, IoeventfdErrorNamesArguments) {
  FakeKvm fake;
  fake.fail_vm_ioctl[KVM_IOEVENTFD] = EEXIST;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_TRUE(kvm.ok());
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  auto vm = KvmVm::Create(**kvm, **memory, {});
  ASSERT_TRUE(vm.ok());
  auto event = EventFd::Create();
  ASSERT_TRUE(event.ok());
  absl::Status s = (*vm)->RegisterIoeventfd(0xd0000050, 4, 2, false, *event);
  EXPECT_EQ(s.message(),
            "KVM_IOEVENTFD mmio addr=0xd0000050 len=4 datamatch=0x2: File "
            "exists");
}

TEST(KvmVmFake, TooManyVcpus) {
  FakeKvm fake;
  auto kvm = KvmSystem::Create("/dev/kvm", fake);
  ASSERT_TRUE(kvm.ok());
  auto memory = CreateTinyGuestMemory();
  ASSERT_TRUE(memory.ok());
  auto vm = KvmVm::Create(**kvm, **memory, {.num_vcpus = 9});
  ASSERT_FALSE(vm.ok());
  EXPECT_EQ(vm.status().message(),
            "KVM: 9 vCPUs requested; this host allows 1 to 8");
}

TEST(KvmVm, ValidateIoeventfd) {
  EXPECT_TRUE(ValidateIoeventfd(0x1000, 4, 1, false).ok());
  EXPECT_TRUE(ValidateIoeventfd(0x1000, 0, std::nullopt, false).ok());
  EXPECT_TRUE(ValidateIoeventfd(0x1000, 8, ~0ull, false).ok());
  EXPECT_FALSE(ValidateIoeventfd(0x1000, 3, std::nullopt, false).ok());
  EXPECT_FALSE(ValidateIoeventfd(0x1000, 0, 1, false).ok());
  EXPECT_FALSE(ValidateIoeventfd(0x500, 0, std::nullopt, true).ok());
  EXPECT_FALSE(ValidateIoeventfd(0x1000, 1, 0x100, false).ok());
  EXPECT_FALSE(ValidateIoeventfd(0xffff, 2, std::nullopt, true).ok());
  EXPECT_TRUE(ValidateIoeventfd(0xfffe, 2, std::nullopt, true).ok());
}

}  // namespace
}  // namespace skiff::kvm
