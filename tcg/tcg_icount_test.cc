// The interpreter under --icount (base/guest_clock.h InstructionClock): the
// vCPU counts the instructions it retires into the clock, RDTSC reads that
// count, and Run() ends exactly when the clock reaches its next deadline,
// including a deadline armed by the guest during the run.
#include <cstdint>
#include <limits>
#include <string>

#include "base/guest_clock.h"
#include "gtest/gtest.h"
#include "tcg/cpuid_msr.h"
#include "tcg/testing/asm_fixture.h"

namespace skiff::tcg::testing {
namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

TEST_F(AsmTest, IcountRdtscReadsTheInstructionCount) {
  InstructionClock clock;
  m_->vcpu().set_instruction_clock(&clock);
  // 1 + 2 * 1000 instructions before RDTSC. The clock moves at block ends,
  // so inside a block (here the last loop pass falls through the JNZ into
  // RDTSC) it lags by the block's instructions so far: at most 32.
  Regs r = RunToHalt(R"(
    mov ecx, 1000
  l:
    dec ecx
    jnz l
    rdtsc
    shl rdx, 32
    or rax, rdx
    hlt)");
  EXPECT_LE(r.rax, 2001u);
  EXPECT_GE(r.rax, 2001u - 32u);
  EXPECT_EQ(clock.instructions(), m_->vcpu().instructions_retired());
  EXPECT_EQ(clock.NowNs(), 2005u);  // through HLT
  EXPECT_EQ(clock.skipped_ns(), 0u);
}

TEST_F(AsmTest, IcountRunEndsAtTheClockDeadline) {
  InstructionClock clock;
  clock.set_deadline_source([] { return uint64_t{777}; });
  m_->vcpu().set_instruction_clock(&clock);
  VcpuExit exit = RunAsm("l: jmp l");
  EXPECT_EQ(exit.kind, VcpuExit::Kind::kInterrupted);
  EXPECT_EQ(clock.NowNs(), 777u);
  EXPECT_EQ(m_->vcpu().instructions_retired(), 777u);
}

TEST_F(AsmTest, IcountDeadlineAtOrBeforeNowStillRunsOneInstruction) {
  InstructionClock clock;
  clock.SkipTo(50);
  clock.set_deadline_source([] { return uint64_t{10}; });
  m_->vcpu().set_instruction_clock(&clock);
  VcpuExit exit = RunAsm("l: jmp l");
  EXPECT_EQ(exit.kind, VcpuExit::Kind::kInterrupted);
  EXPECT_EQ(m_->vcpu().instructions_retired(), 1u);
  EXPECT_EQ(clock.NowNs(), 51u);
}

// A local APIC stand-in whose TSC-deadline MSR is the clock's deadline.
class DeadlineIo : public RecordingIo {
 public:
  bool MsrWrite(uint32_t index, uint64_t value) override {
    if (index != kMsrIa32TscDeadline) return false;
    deadline = value;
    return true;
  }
  uint64_t deadline = kNever;
};

TEST_F(AsmTest, IcountTimerArmedDuringTheRunEndsIt) {
  InstructionClock clock;
  DeadlineIo io;
  clock.set_deadline_source([&io] { return io.deadline; });
  m_->vcpu().set_instruction_clock(&clock);
  m_->vcpu().set_instruction_limit(1'000'000);
  auto code = Assemble(R"(
    mov ecx, 0x6e0
    mov eax, 300
    xor edx, edx
    wrmsr
  l:
    jmp l)");
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  auto exit = m_->vcpu().Run(io);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kInterrupted);
  EXPECT_EQ(clock.NowNs(), 300u);
}

TEST_F(AsmTest, IcountSameProgramSameCount) {
  const std::string program = R"(
    mov ecx, 5000
    xor eax, eax
  l:
    add eax, ecx
    rdtsc
    dec ecx
    jnz l
    hlt)";
  uint64_t counts[2], rax[2];
  for (int run = 0; run < 2; ++run) {
    auto m = FlatMachine::Create();
    ASSERT_TRUE(m.ok()) << m.status();
    InstructionClock clock;
    clock.set_deadline_source([] { return uint64_t{4321}; });
    (*m)->vcpu().set_instruction_clock(&clock);
    auto code = Assemble(program);
    ASSERT_TRUE(code.ok());
    ASSERT_TRUE((*m)->LoadCode(*code).ok());
    // Runs end at the fixed deadline, then at each further instruction
    // (the deadline is past): the same sequence both times.
    VcpuExit exit;
    do {
      auto e = (*m)->Run();
      ASSERT_TRUE(e.ok());
      exit = *e;
    } while (exit.kind == VcpuExit::Kind::kInterrupted);
    EXPECT_EQ(exit.kind, VcpuExit::Kind::kHalt);
    counts[run] = clock.instructions();
    rax[run] = (*m)->regs().rax;
  }
  EXPECT_EQ(counts[0], counts[1]);
  EXPECT_EQ(counts[0], 2u + 4u * 5000u + 1u);
  EXPECT_EQ(rax[0], rax[1]);
}

TEST_F(AsmTest, IcountOffRestoresTheGuestClock) {
  InstructionClock icount;
  m_->vcpu().set_instruction_clock(&icount);
  ManualGuestClock manual;
  manual.Advance(99);
  m_->vcpu().set_guest_clock(&manual);
  Regs r = RunToHalt("rdtsc\nhlt");
  EXPECT_EQ(r.rax, 99u);
  EXPECT_EQ(icount.instructions(), 0u);
}

TEST_F(AsmTest, IcountRdrandRepeatsAcrossRuns) {
  const std::string program = R"(
    rdrand rax
    rdseed rbx
    hlt)";
  uint64_t first[2] = {};
  for (int run = 0; run < 2; ++run) {
    auto m = FlatMachine::Create(options_);
    ASSERT_TRUE(m.ok()) << m.status();
    InstructionClock clock;
    (*m)->vcpu().set_instruction_clock(&clock);
    auto code = Assemble(program);
    ASSERT_TRUE(code.ok()) << code.status();
    ASSERT_TRUE((*m)->LoadCode(*code).ok());
    auto exit = (*m)->Run();
    ASSERT_TRUE(exit.ok()) << exit.status();
    ASSERT_EQ(exit->kind, VcpuExit::Kind::kHalt);
    const Regs r = (*m)->regs();
    EXPECT_NE(r.rax, r.rbx);
    if (run == 0) {
      first[0] = r.rax;
      first[1] = r.rbx;
    } else {
      EXPECT_EQ(r.rax, first[0]);
      EXPECT_EQ(r.rbx, first[1]);
    }
  }
}

}  // namespace
}  // namespace skiff::tcg::testing
