// The interpreter's time: RDTSC/RDTSCP/IA32_TSC follow the machine's
// GuestClock, CPUID reports its frequency (leaves 0x15, 0x16, 0x40000010,
// invariant TSC), and IA32_TSC_DEADLINE goes to the local APIC.
#include <cstdint>
#include <cstring>
#include <string>

#include "base/guest_clock.h"
#include "gtest/gtest.h"
#include "tcg/cpuid_msr.h"
#include "tcg/pvclock.h"
#include "tcg/testing/asm_fixture.h"

namespace skiff::tcg::testing {
namespace {

// Runs CPUID leaf `leaf` and returns EAX, EBX, ECX, EDX in r8..r11.
std::string CpuidProgram(uint32_t leaf) {
  return "mov eax, " + std::to_string(leaf) + R"(
    xor ecx, ecx
    cpuid
    mov r8, rax
    mov r9, rbx
    mov r10, rcx
    mov r11, rdx
    hlt)";
}

TEST_F(AsmTest, CpuidAdvertisesTscFrequency) {
  ManualGuestClock clock;  // 1 GHz
  m_->vcpu().set_guest_clock(&clock);

  Regs r = RunToHalt(CpuidProgram(0));
  EXPECT_GE(r.r8, 0x16u);  // max basic leaf covers 0x15 and 0x16

  r = RunToHalt(CpuidProgram(1));
  EXPECT_NE(r.r10 & (1u << 24), 0u);  // TSC-deadline
  EXPECT_NE(r.r10 & (1u << 31), 0u);  // hypervisor present

  r = RunToHalt(CpuidProgram(0x15));
  // TSC = crystal * EBX / EAX = 1 GHz, crystal = APIC bus = 1 GHz.
  EXPECT_EQ(r.r8, 1u);
  EXPECT_EQ(r.r9, 1u);
  EXPECT_EQ(r.r10, 1'000'000'000u);

  r = RunToHalt(CpuidProgram(0x16));
  EXPECT_EQ(r.r8, 1000u);   // base MHz
  EXPECT_EQ(r.r9, 1000u);   // max MHz
  EXPECT_EQ(r.r10, 1000u);  // bus MHz

  r = RunToHalt(CpuidProgram(0x40000000));
  EXPECT_EQ(r.r8, 0x40000010u);
  char sig[13] = {};
  std::memcpy(sig, &r.r9, 4);
  std::memcpy(sig + 4, &r.r10, 4);
  std::memcpy(sig + 8, &r.r11, 4);
  EXPECT_STREQ(sig, "KVMKVMKVM");  // for kvmclock (pvclock.h)

  r = RunToHalt(CpuidProgram(0x40000001));
  EXPECT_EQ(r.r8, (1u << 3) | (1u << 24));  // CLOCKSOURCE2, STABLE_BIT

  r = RunToHalt(CpuidProgram(0x40000010));
  EXPECT_EQ(r.r8, 1'000'000u);  // TSC kHz
  EXPECT_EQ(r.r9, 1'000'000u);  // APIC bus kHz

  r = RunToHalt(CpuidProgram(0x80000007));
  EXPECT_NE(r.r11 & (1u << 8), 0u);  // invariant TSC
}

TEST_F(AsmTest, CpuidFollowsOtherTscFrequencies) {
  ManualGuestClock clock(2'500'000'000);
  m_->vcpu().set_guest_clock(&clock);
  Regs r = RunToHalt(CpuidProgram(0x15));
  EXPECT_EQ(r.r10 * r.r9 / r.r8, 2'500'000'000u);
  EXPECT_EQ(r.r8, 2u);
  EXPECT_EQ(r.r9, 5u);
  r = RunToHalt(CpuidProgram(0x16));
  EXPECT_EQ(r.r8, 2500u);
  r = RunToHalt(CpuidProgram(0x40000010));
  EXPECT_EQ(r.r8, 2'500'000u);
}

TEST_F(AsmTest, RdtscTracksManualGuestClock) {
  ManualGuestClock clock;
  clock.Advance(123'456);
  m_->vcpu().set_guest_clock(&clock);
  // Time stands still while the guest runs: both reads see the clock.
  Regs r = RunToHalt(R"(
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov rbx, rax
    rdtscp
    shl rdx, 32
    or rax, rdx
    hlt)");
  EXPECT_EQ(r.rbx, 123'456u);
  EXPECT_EQ(r.rax, 123'456u);

  clock.Advance(1'000'000);  // 1 ms at 1 GHz: 1e6 ticks
  r = RunToHalt("rdtsc\nshl rdx, 32\nor rax, rdx\nhlt");
  EXPECT_EQ(r.rax, 1'123'456u);
}

TEST_F(AsmTest, TscMsrWriteOffsetsTheClock) {
  ManualGuestClock clock;
  clock.Advance(5'000);
  m_->vcpu().set_guest_clock(&clock);
  Regs r = RunToHalt(R"(
    mov ecx, 0x10            ; IA32_TSC
    mov eax, 1000000
    xor edx, edx
    wrmsr
    hlt)");
  clock.Advance(700);
  r = RunToHalt(R"(
    mov ecx, 0x10
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov rbx, rax
    rdtsc
    shl rdx, 32
    or rax, rdx
    hlt)");
  EXPECT_EQ(r.rbx, 1'000'700u);
  EXPECT_EQ(r.rax, 1'000'700u);
}

TEST(TcgVm, VcpusShareTheMachineClock) {
  if (!Assemble("nop").ok()) GTEST_SKIP() << "nasm is not installed";
  ManualGuestClock clock;
  clock.Advance(42);
  auto memory = GuestMemory::Create(GuestMemory::X86Layout(1 << 20), {});
  ASSERT_TRUE(memory.ok()) << memory.status();
  auto vm = TcgVm::Create(**memory, {.num_vcpus = 2, .clock = &clock});
  ASSERT_TRUE(vm.ok()) << vm.status();
  auto vcpu = (*vm)->CreateVcpu(1);
  ASSERT_TRUE(vcpu.ok()) << vcpu.status();
  EXPECT_EQ(ReadTsc(static_cast<TcgVcpu&>(**vcpu).cpu()), 42u);

  ManualGuestClock later;
  later.Advance(7);
  (*vm)->SetGuestClock(later);
  auto vcpu0 = (*vm)->CreateVcpu(0);
  ASSERT_TRUE(vcpu0.ok()) << vcpu0.status();
  EXPECT_EQ(ReadTsc(static_cast<TcgVcpu&>(**vcpu0).cpu()), 7u);
}

// ns from a TSC value, as Linux's pvclock_scale_delta computes it.
uint64_t ScaleDelta(uint64_t delta, PvclockScale s) {
  if (s.shift < 0) {
    delta >>= -s.shift;
  } else {
    delta <<= s.shift;
  }
  __extension__ typedef unsigned __int128 U128;
  return static_cast<uint64_t>((static_cast<U128>(delta) * s.mul) >> 32);
}

TEST(Pvclock, ScaleMatchesTheTscRate) {
  PvclockScale s = PvclockScaleFor(1'000'000'000);
  EXPECT_EQ(s.mul, 1u << 31);
  EXPECT_EQ(s.shift, 1);
  EXPECT_EQ(ScaleDelta(123'456'789, s), 123'456'789u);
  for (uint64_t hz : {100'000'000ull, 2'500'000'000ull, 3'000'000'001ull,
                      10'000'000'000ull}) {
    s = PvclockScaleFor(hz);
    // One second of ticks is one second, to within a few ns.
    const uint64_t ns = ScaleDelta(hz, s);
    EXPECT_NEAR(static_cast<double>(ns), 1e9, 4.0) << hz;
  }
}

TEST_F(AsmTest, KvmclockSystemTimeFollowsTheGuestClock) {
  ManualGuestClock clock;
  clock.Advance(777'000);
  m_->vcpu().set_guest_clock(&clock);
  Regs r = RunToHalt(R"(
    mov ecx, 0x4b564d01       ; MSR_KVM_SYSTEM_TIME_NEW
    mov eax, 0x30001          ; structure at 0x30000, enabled
    xor edx, edx
    wrmsr
    mov ecx, 0x4b564d00       ; MSR_KVM_WALL_CLOCK_NEW
    mov eax, 0x30040
    wrmsr
    rdmsr
    hlt)");
  EXPECT_EQ(r.rax, 0x30040u);
  const GuestMemory& mem = m_->memory();
  EXPECT_EQ(mem.ReadObj<uint32_t>(GuestAddr(0x30000)).value() % 2, 0u);
  const uint64_t tsc0 = mem.ReadObj<uint64_t>(GuestAddr(0x30008)).value();
  const uint64_t sys0 = mem.ReadObj<uint64_t>(GuestAddr(0x30010)).value();
  PvclockScale s;
  s.mul = mem.ReadObj<uint32_t>(GuestAddr(0x30018)).value();
  s.shift = mem.ReadObj<int8_t>(GuestAddr(0x3001c)).value();
  EXPECT_EQ(mem.ReadObj<uint8_t>(GuestAddr(0x3001d)).value(), 1u);  // stable
  EXPECT_EQ(tsc0, 777'000u);
  EXPECT_EQ(sys0, 777'000u);
  // Later: the guest's kvmclock reading equals the GuestClock.
  clock.Advance(5'000'000);
  const uint64_t tsc = ReadTsc(m_->vcpu().cpu());
  EXPECT_EQ(sys0 + ScaleDelta(tsc - tsc0, s), clock.NowNs());
  // The wall clock: boot time in seconds since 1970, after 2020.
  EXPECT_EQ(mem.ReadObj<uint32_t>(GuestAddr(0x30040)).value(), 2u);
  EXPECT_GT(mem.ReadObj<uint32_t>(GuestAddr(0x30044)).value(), 1'577'836'800u);
}

TEST_F(AsmTest, KvmHypercallsFailWithEnosys) {
  Regs r = RunToHalt(R"(
    mov eax, 9                ; KVM_HC_CLOCK_PAIRING
    vmcall
    mov rbx, rax
    mov eax, 1
    vmmcall
    hlt)");
  EXPECT_EQ(r.rbx, static_cast<uint64_t>(-1000));
  EXPECT_EQ(r.rax, static_cast<uint64_t>(-1000));
}

// A VcpuIo whose "local APIC" owns IA32_TSC_DEADLINE.
class ApicMsrIo : public RecordingIo {
 public:
  bool MsrRead(uint32_t index, uint64_t& value) override {
    if (index != kMsrIa32TscDeadline) return false;
    value = deadline + 1;  // distinguishable from the interpreter's copy
    return true;
  }
  bool MsrWrite(uint32_t index, uint64_t value) override {
    if (index != kMsrIa32TscDeadline) return false;
    deadline = value;
    return true;
  }
  uint64_t deadline = 0;
};

TEST_F(AsmTest, TscDeadlineMsrGoesToTheLocalApic) {
  auto code = Assemble(R"(
    mov ecx, 0x6e0
    mov eax, 5000
    xor edx, edx
    wrmsr
    rdmsr
    hlt)");
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  ApicMsrIo io;
  auto exit = m_->vcpu().Run(io);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kHalt);
  EXPECT_EQ(io.deadline, 5000u);
  EXPECT_EQ(m_->regs().rax, 5001u);
}

TEST_F(AsmTest, TscDeadlineMsrWithoutLocalApicIsKept) {
  Regs r = RunToHalt(R"(
    mov ecx, 0x6e0
    mov eax, 5000
    xor edx, edx
    wrmsr
    xor eax, eax
    rdmsr
    hlt)");
  EXPECT_EQ(r.rax, 5000u);
}

}  // namespace
}  // namespace skiff::tcg::testing
