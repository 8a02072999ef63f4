// Tests for block execution (block_cache.h, TcgVcpu::RunBlocks) and the
// specialised handlers (ops_fast.h): self-modifying code inside a block and
// in another block, blocks at page boundaries, exact instruction limits,
// interrupts at block boundaries after STI shadows, and flag results of the
// specialised forms against the generic ones.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tcg/testing/asm_fixture.h"

namespace skiff::tcg::testing {
namespace {

using Kind = VcpuExit::Kind;

TEST_F(AsmTest, StoreIntoLaterInstructionOfSameBlock) {
  // The patched MOV is in the block that does the store: it must run with
  // the new immediate.
  Regs r = RunToHalt(R"(
    lea rax, [rel target]
    mov byte [rax + 1], 42
    nop
  target:
    mov ecx, 1
    hlt)");
  EXPECT_EQ(r.rcx, 42u);
}

// The same through the read-modify-write forms that write the host page
// directly (ALU, INC, BTS with a memory destination).
TEST_F(AsmTest, ReadModifyWriteIntoLaterInstructionsOfSameBlock) {
  Regs r = RunToHalt(R"(
    lea rax, [rel target]
    add dword [rax + 1], 40
    inc dword [rax + 6]
    bts dword [rax + 11], 4
    nop
  target:
    mov ecx, 2
    mov edx, 2
    mov esi, 2
    hlt)");
  EXPECT_EQ(r.rcx, 42u);
  EXPECT_EQ(r.rdx, 3u);
  EXPECT_EQ(r.rsi, 18u);
}

TEST_F(AsmTest, StoreIntoOwnInstructionThenLoopAgain) {
  // The second pass runs a block that was cached before the store.
  Regs r = RunToHalt(R"(
    xor ebx, ebx
    mov edi, 3
    lea rsi, [rel patch]
  again:
    add ebx, 0
  patch equ $ - 1
    mov byte [rsi], 10
    dec edi
    jnz again
    hlt)");
  EXPECT_EQ(r.rbx, 20u);  // 0 + 10 + 10
}

TEST_F(AsmTest, StoreIntoAnotherBlock) {
  Regs r = RunToHalt(R"(
    xor ebx, ebx
    mov edi, 2
  again:
    call f
    add ebx, eax
    lea rax, [rel f]
    mov dword [rax + 1], 100
    dec edi
    jnz again
    hlt
  f:
    mov eax, 1
    ret)");
  EXPECT_EQ(r.rbx, 101u);
}

TEST_F(AsmTest, VmmWriteBetweenRunsIsSeen) {
  Regs r = RunToHalt("mov eax, 7\nhlt");
  EXPECT_EQ(r.rax, 7u);
  // Same bytes except the immediate, written by the VMM.
  r = RunToHalt("mov eax, 9\nhlt");
  EXPECT_EQ(r.rax, 9u);
}

// Blocks are trusted until the memory's write epoch moves; each way this
// vCPU writes a page that holds blocks must move it. Each test runs its
// code twice before rewriting it: the first entry after a build compares
// bytes anyway.

// Writes `mov eax, 5; ret` at `page` (left in RDI), calls it twice and
// keeps the result in EBX.
std::string PlantFiveAndCallTwice(const std::string& page) {
  return "mov edi, " + page + "\n" + R"(
    mov dword [rdi], 0x000005b8   ; mov eax, 5
    mov word [rdi + 4], 0xc300    ; ret
    call rdi
    call rdi
    mov ebx, eax
)";
}

// The page is written (the TLB then allows writes to it) before code on it
// first runs: building the block must take that permission back.
TEST_F(AsmTest, CodeWrittenThroughAnEarlierWriteTranslationIsSeen) {
  Regs r = RunToHalt(PlantFiveAndCallTwice("0x30000") + R"(
    mov byte [rdi + 1], 9         ; mov eax, 9
    call rdi
    add ebx, eax
    hlt)");
  EXPECT_EQ(r.rbx, 14u);
}

// After INVLPG the next write fills the translation again: the fill must
// report that write and mark the entry for the later ones.
TEST_F(AsmTest, CodeWrittenThroughARefilledTranslationIsSeen) {
  Regs r = RunToHalt(PlantFiveAndCallTwice("0x33000") + R"(
    invlpg [rdi]
    mov byte [rdi + 1], 9         ; mov eax, 9: a TLB miss
    call rdi
    call rdi
    add ebx, eax
    mov byte [rdi + 1], 11        ; a hit on the refilled entry
    call rdi
    add ebx, eax
    hlt)");
  EXPECT_EQ(r.rbx, 5u + 9u + 11u);
}

// REP MOVS and REP STOS write a page run at once through the TLB.
TEST_F(AsmTest, CodeWrittenByStringInstructionsIsSeen) {
  Regs r = RunToHalt(R"(
    mov edx, 0x31000
    lea rsi, [rel five]
    mov rdi, rdx
    mov ecx, 6
    rep movsb
    call rdx
    call rdx
    mov ebx, eax
    lea rsi, [rel nine]
    mov rdi, rdx
    mov ecx, 6
    rep movsb
    call rdx
    call rdx
    add ebx, eax
    lea rdi, [rdx + 1]
    mov al, 1
    mov ecx, 4
    rep stosb                     ; mov eax, 0x01010101
    call rdx
    add ebx, eax
    hlt
  five:
    mov eax, 5
    ret
  nine:
    mov eax, 9
    ret)");
  EXPECT_EQ(r.rbx, 14u + 0x01010101u);
}

// A store that straddles into the code page goes through the split path.
TEST_F(AsmTest, StoreStraddlingIntoACodePageIsSeen) {
  Regs r = RunToHalt(PlantFiveAndCallTwice("0x32000") + R"(
    mov dword [rdi - 2], 0x09b80000  ; bytes 00 00 b8 09: mov eax, 9
    call rdi
    add ebx, eax
    hlt)");
  EXPECT_EQ(r.rbx, 14u);
}

// Runs the loaded code again from its start, the registers otherwise as
// the last run left them.
absl::StatusOr<VcpuExit> RunAgain(FlatMachine& m) {
  Regs r = m.regs();
  r.rip = kCodeAddr;
  m.SetRegs(r);
  return m.Run();
}

// With two vCPUs, a write the other vCPU makes is not reported, nor is one
// by another process mapping file-backed RAM; then every block entry
// compares bytes. A write through a raw span stands in for them here.
class UnreportedWriteTest : public AsmTest,
                            public ::testing::WithParamInterface<bool> {};

TEST_P(UnreportedWriteTest, IsSeen) {
  if (GetParam()) {
    options_.num_vcpus = 2;
  } else {
    options_.memfd = true;
  }
  auto m = FlatMachine::Create(options_);
  ASSERT_TRUE(m.ok()) << m.status();
  m_ = std::move(*m);
  const std::string program = R"(
    call f
    call f
    hlt
    align 64
  f:
    mov eax, 5
    ret)";
  EXPECT_EQ(RunToHalt(program).rax, 5u);
  absl::Span<uint8_t> imm =
      m_->memory().TrySlice(GuestAddr(kCodeAddr + 64 + 1), 1);
  ASSERT_EQ(imm.size(), 1u);
  imm[0] = 9;
  auto exit = RunAgain(*m_);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(m_->regs().rax, 9u);
}

INSTANTIATE_TEST_SUITE_P(TwoVcpusOrMemfd, UnreportedWriteTest,
                         ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "TwoVcpus" : "MemfdRam";
                         });

TEST_F(AsmTest, BlocksAcrossPageBoundaryWithStraddlingInstruction) {
  // The MOV at 0xffd straddles pages 0x10000/0x11000; blocks end before it,
  // it runs alone, the next block starts on the second page.
  Regs r = RunToHalt(R"(
    xor ebx, ebx
    mov edi, 3
  top:
    times 0xffd - ($ - $$) nop
    mov eax, 0x11223344
    add ebx, eax
    add ebx, 1
    dec edi
    jnz top
    hlt)");
  EXPECT_EQ(r.rbx, 3u * 0x11223345u);
}

TEST_F(AsmTest, BlockRunsToEndOfPage) {
  Regs r = RunToHalt(R"(
    mov ecx, 2
  top:
    times 0x1000 - 2 - ($ - $$) nop
    inc eax           ; last two bytes of the page
    inc edx           ; first instruction of the next page
    dec ecx
    jnz top
    hlt)");
  EXPECT_EQ(r.rax, 2u);
  EXPECT_EQ(r.rdx, 2u);
}

// A repeated string instruction that needs more than one batch goes on at
// its own address, not at the start of the block it sits in.
TEST_F(AsmTest, RepeatedStringInstructionResumesAtItselfInsideABlock) {
  Regs r = RunToHalt(R"(
    mov rdi, 0x20000
    mov rcx, 10000
    jmp block
  block:
    add dword [0x30000], 1    ; runs once
    mov al, 1                 ; never found: that memory is zero
    repne scasb               ; three batches
    mov ebx, [0x30000]
    hlt)");
  EXPECT_EQ(r.rbx, 1u);
  EXPECT_EQ(r.rcx, 0u);
  EXPECT_EQ(r.rdi, 0x20000u + 10000);
}

TEST_F(AsmTest, InstructionLimitIsExactInsideBlocks) {
  std::string src = "xor eax, eax\n";
  for (int k = 0; k < 100; ++k) src += "inc eax\n";
  src += "hlt\n";
  auto code = Assemble(src);
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  TcgVcpu& v = m_->vcpu();
  uint64_t expect = 0;
  for (uint64_t step : {1u, 7u, 3u, 40u, 1u, 30u}) {
    v.set_instruction_limit(step);
    const uint64_t before = v.instructions_retired();
    VcpuExit e = *m_->Run();
    EXPECT_EQ(e.kind, Kind::kInterrupted);
    EXPECT_EQ(v.instructions_retired() - before, step);
    expect += step;
    EXPECT_EQ(m_->regs().rax, expect - 1);  // the first one was XOR
  }
  v.set_instruction_limit(0);
  VcpuExit e = *m_->Run();
  EXPECT_EQ(e.kind, Kind::kHalt);
  EXPECT_EQ(m_->regs().rax, 100u);
  EXPECT_EQ(v.instructions_retired(), 102u);
}

class PendingIrq : public InterruptSource {
 public:
  bool HasPendingInterrupt() override { return pending; }
  int AcknowledgeInterrupt() override {
    pending = false;
    return 0x31;
  }
  bool pending = true;
};

TEST_F(AsmTest, InterruptTakenRightAfterStiShadowInsideStraightCode) {
  // Without the one-instruction step after STI, the block "nop; cli; ..."
  // would run to its end and close the window.
  PendingIrq irq;
  m_->vcpu().set_interrupt_source(&irq);
  Regs r = RunToHalt(R"(
    cli
    mov ebx, 1
    sti
    mov ebx, 2         ; STI shadow
    cli                ; the interrupt comes before this
    mov ebx, 3
    sti
    hlt)");
  m_->vcpu().set_interrupt_source(nullptr);
  EXPECT_EQ(r.r14, 0x31u);
  EXPECT_EQ(r.rbx, 2u);
  EXPECT_FALSE(irq.pending);
  // The pushed RIP is the CLI (1 + 5 + 1 + 5 bytes in).
  EXPECT_EQ(m_->Read64(r.rsp), kCodeAddr + 12);
}

TEST_F(AsmTest, InterruptPolledAtBlockEntryWhenEnabled) {
  PendingIrq irq;
  irq.pending = false;
  m_->vcpu().set_interrupt_source(&irq);
  // Run once with nothing pending, then make it pending and kick the loop
  // around through a block boundary.
  auto code = Assemble(R"(
    sti
    mov ecx, 1000
  l:
    dec ecx
    jnz l
    mov ebx, 5
    hlt)");
  ASSERT_TRUE(code.ok());
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  m_->vcpu().set_instruction_limit(50);
  EXPECT_EQ(m_->Run()->kind, Kind::kInterrupted);
  irq.pending = true;
  m_->vcpu().set_instruction_limit(0);
  VcpuExit e = *m_->Run();
  m_->vcpu().set_interrupt_source(nullptr);
  EXPECT_EQ(e.kind, Kind::kHalt);
  Regs r = m_->regs();
  EXPECT_EQ(r.r14, 0x31u);
  EXPECT_NE(r.rbx, 5u);
  EXPECT_GT(r.rcx, 0u);
}

// A source with a pending flag, set from another thread while the guest
// runs from block to block: the run loop polls the flag, and calls
// HasPendingInterrupt() only once it is set.
class FlaggedIrq : public InterruptSource {
 public:
  bool HasPendingInterrupt() override {
    const bool set = flag.load();
    if (!set) ++asked_while_clear;
    return set;
  }
  int AcknowledgeInterrupt() override {
    flag = false;
    return 0x31;
  }
  const std::atomic<bool>* pending_flag() const override { return &flag; }
  std::atomic<bool> flag{false};
  int asked_while_clear = 0;  // vCPU thread only
};

TEST_F(AsmTest, InterruptFlaggedWhileBlocksRunIsTakenInsideTheLoop) {
  FlaggedIrq irq;
  m_->vcpu().set_interrupt_source(&irq);
  auto code = Assemble(R"(
    sti
    mov ecx, 0xffffffff       ; seconds of looping
  l:
    dec ecx
    jnz l
    hlt)");
  ASSERT_TRUE(code.ok());
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  std::thread raise([&irq] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    irq.flag = true;
  });
  VcpuExit e = *m_->Run();
  raise.join();
  m_->vcpu().set_interrupt_source(nullptr);
  EXPECT_EQ(e.kind, Kind::kHalt);
  Regs r = m_->regs();
  EXPECT_EQ(r.r14, 0x31u);
  EXPECT_GT(r.rcx, 0u);  // taken inside the loop, not after it
  // The run loop asks before it enters blocks; the blocks read the flag.
  EXPECT_LE(irq.asked_while_clear, 2);
}

// Runs `src` with blocks (specialised handlers) and then one instruction
// at a time with the generic handlers; every register and RFLAGS must
// match.
void ExpectSameWithAndWithoutBlocks(FlatMachine& m, const std::string& src) {
  auto code = Assemble(src);
  ASSERT_TRUE(code.ok()) << code.status();
  Regs with, without;
  for (bool blocks : {true, false}) {
    ASSERT_TRUE(m.LoadCode(*code).ok());
    Regs zero{};
    zero.rip = kCodeAddr;
    zero.rsp = kStackTop;
    zero.rflags = 0x2;
    m.SetRegs(zero);
    m.vcpu().set_block_cache_enabled(blocks);
    VcpuExit e = *m.Run();
    EXPECT_EQ(e.kind, Kind::kHalt) << DescribeVcpuExit(e);
    (blocks ? with : without) = m.regs();
  }
  m.vcpu().set_block_cache_enabled(true);
  const uint64_t* a = &with.rax;
  const uint64_t* b = &without.rax;
  for (int k = 0; k < 18; ++k) EXPECT_EQ(a[k], b[k]) << "register #" << k;
}

TEST_F(AsmTest, SpecialisedFormsMatchGenericHandlers) {
  std::string src = R"(
    mov rbp, 0x20000
    xor r15, r15
    mov eax, 0x80000001
    mov ecx, 0x7fffffff
    mov rdx, -5
    mov rbx, 0x123456789
  )";
  // Every ALU op and size in register, immediate and memory forms, each
  // followed by PUSHF folded into r15, and each condition code.
  const char* ops[] = {"add", "or", "and", "sub", "xor", "cmp", "test"};
  int label_id = 0;
  const char* regs[][3] = {{"eax", "ecx", "edx"}, {"rax", "rcx", "rdx"}};
  for (const char* op : ops) {
    for (auto& rr : regs) {
      src += std::string(op) + " " + rr[0] + ", " + rr[1] + "\n";
      src += "pushfq\npop rsi\nadd r15, rsi\nrol r15, 7\n";
      src += "mov [rbp + 8], " + std::string(rr[2]) + "\n";
      // Memory destinations: [mem] op= reg, and [mem] op= imm.
      src += std::string(op) + " [rbp + 8], " + rr[1] + "\n";
      src += "pushfq\npop rsi\nadd r15, rsi\nrol r15, 7\n";
      src += std::string("add r15, [rbp + 8]\n");
      if (std::string(op) != "test") {
        src += std::string(op) + (rr[0][0] == 'e' ? " dword" : " qword") +
               " [rbp + 8], -100\n";
        src += std::string(op) + (rr[0][0] == 'e' ? " dword" : " qword") +
               " [rel data], 0x12345\n";
        src += "pushfq\npop rsi\nadd r15, rsi\nrol r15, 7\n";
        src += std::string("add r15, [rbp + 8]\nadd r15, [rel data]\n");
        src += std::string(op) + " " + rr[1] + ", [rbp + 8]\n";
        src += "pushfq\npop rsi\nadd r15, rsi\nrol r15, 7\n";
        src += std::string(op) + " " + rr[2] + ", 0x7f\n";
        src += std::string(op) + " " + rr[0] + ", -3\n";
        src += "pushfq\npop rsi\nadd r15, rsi\nrol r15, 7\n";
      }
      for (int cc = 0; cc < 16; ++cc) {
        static const char* kCc[] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                                    "s", "ns", "p", "np", "l", "ge", "le", "g"};
        const std::string label = "skip" + std::to_string(label_id++);
        src += std::string("j") + kCc[cc] + " " + label +
               "\nadd r15, 1\nrol r15, 1\n" + label + ":\n";
      }
    }
  }
  // Byte registers (AH..BH without REX, SIL/DIL/R8B.. with it), SETcc and
  // CMOVcc on each condition after a compare.
  src += R"(
    mov rax, 0x1122334455667788
    mov rbx, 0x80
    mov rcx, 0x7f01
    mov rsi, 0xff
    test al, al
    pushfq
    pop rdx
    add r15, rdx
    test ah, ch
    pushfq
    pop rdx
    add r15, rdx
    test sil, bl
    pushfq
    pop rdx
    add r15, rdx
    cmp bl, 0x7f
    pushfq
    pop rdx
    add r15, rdx
    add ch, 0x81
    sub bh, 1
    and cl, 0xf0
    or ah, 0x0f
    xor sil, 0x55
    cmp al, 0x88
    pushfq
    pop rdx
    add r15, rdx
    add al, 0x90
    sub al, 3
    xor al, 0xa5
    add r15, rax
    add r15, rbx
    add r15, rcx
    add r15, rsi
    mov r8, 0x1234
    mov r9, -7
  )";
  {
    static const char* kCc[] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                                "s", "ns", "p", "np", "l", "ge", "le", "g"};
    for (const char* cmp : {"cmp r8, r9", "cmp r9d, r8d", "test r9b, r9b"}) {
      for (const char* cc : kCc) {
        src += std::string(cmp) + "\nset" + cc + " dl\nset" + cc + " dh\nset" +
               cc + " r10b\nmov r11, -1\ncmov" + cc +
               " r11d, r8d\nmov r12, -1\ncmov" + cc + " r12, r9\n" +
               "add r15, rdx\nadd r15, r10\nadd r15, r11\nadd r15, r12\n" +
               "rol r15, 3\n";
      }
    }
  }
  src += R"(
    mov rax, 0x80818283f0f1f2f3
    mov [rbp + 24], rax
    test byte [rbp + 24], 0x0c
    pushfq
    pop rsi
    add r15, rsi
    test byte [rbp + 31], 0x80
    pushfq
    pop rsi
    add r15, rsi
    test dword [rbp + 28], 0x80000000
    pushfq
    pop rsi
    add r15, rsi
    test qword [rbp + 24], -1
    pushfq
    pop rsi
    add r15, rsi
    test dword [rel data], 0
    pushfq
    pop rsi
    add r15, rsi
    mov rcx, -1
    movzx ecx, byte [rbp + 27]
    add r15, rcx
    mov rcx, -1
    movzx rcx, word [rbp + 30]
    add r15, rcx
    movzx edx, byte [rel data]
    add r15, rdx
    movsxd r8, dword [rbp + 28]
    add r15, r8
    movsxd r9, dword [rbp + 24]
    add r15, r9
    mov ecx, 0x80000005
    movsxd r10, ecx
    add r15, r10
    mov eax, 0x81234567
    shl eax, 3
    pushfq
    pop rsi
    add r15, rsi
    shr eax, 1
    pushfq
    pop rsi
    add r15, rsi
    sar eax, 7
    pushfq
    pop rsi
    add r15, rsi
    mov rax, 0x8000000000000001
    shl rax, 1
    pushfq
    pop rsi
    add r15, rsi
    sar rax, 63
    pushfq
    pop rsi
    add r15, rsi
    mov edi, 0x7fffffff
    inc edi
    pushfq
    pop rsi
    add r15, rsi
    dec edi
    jo no_inc
    inc r15
  no_inc:
    mov rdi, -1
    inc rdi
    pushfq
    pop rsi
    add r15, rsi
    %macro fold 0                 ; the flags into r15
      pushfq
      pop rdx
      add r15, rdx
    %endmacro
    mov rax, 0x8081828384858687
    mov [rbp + 32], rax
    mov rax, 0x11223344556677f0
    mov rbx, 0x0102030405060708
    mov rcx, 0x1f
    mov rsi, 0x40
    cmp byte [rbp + 32], 0x7f
    fold
    cmp byte [rbp + 33], bh
    fold
    add byte [rbp + 34], 0x90
    sub byte [rbp + 35], sil
    xor byte [rbp + 36], ah
    or byte [rel data], 0x11
    and bl, [rbp + 33]
    add ah, [rbp + 34]
    sub sil, [rbp + 35]
    cmp cl, [rbp + 36]
    fold
    add r15, rax
    add r15, rbx
    add r15, rsi
    add r15, [rbp + 32]
    add r15, [rel data]
    mov byte [rbp + 40], 0xee
    mov [rbp + 41], ah
    mov [rbp + 42], dil
    mov word [rbp + 44], 0x1234
    mov [rbp + 46], bx
    mov ch, [rbp + 32]
    mov r9b, [rbp + 33]
    mov dl, [rbp + 34]
    mov dx, [rbp + 44]
    add r15, [rbp + 40]
    add r15, rcx
    add r15, r9
    add r15, rdx
    test byte [rbp + 32], ah
    fold
    mov ecx, 0xc0000101
    mov eax, 0x20100
    xor edx, edx
    wrmsr
    mov rax, gs:[-0x100 + 32]
    mov gs:[-0x100 + 48], rax
    mov ecx, gs:[-0x100 + 36]
    mov dl, gs:[-0x100 + 33]
    add rdx, gs:[-0x100 + 48]
    sub ecx, gs:[-0x100 + 40]
    add r15, rax
    add r15, rcx
    add r15, rdx
    add r15, [rbp + 48]
    mov eax, 0x80000001
    test al, 0x81
    fold
    test ah, 0xff
    fold
    test eax, 0x80000000
    fold
    test rax, -1
    fold
    test r9b, 0x10
    fold
    mov rax, 0x8000000180000003
    cmp eax, 1
    mov ecx, 0
    shl rax, cl
    fold
    add r15, rax
    shl eax, cl
    add r15, rax
    mov ecx, 33
    shl eax, cl
    fold
    add r15, rax
    mov rax, 0x8000000180000003
    mov ecx, 65
    shr rax, cl
    fold
    sar rax, cl
    mov cl, 63
    sar rax, cl
    fold
    add r15, rax
    mov rax, 0xc000000180000003
    cmp rax, rbx
    rol rax, 1
    fold
    rol eax, 7
    fold
    ror rax, 1
    fold
    ror eax, 31
    fold
    rol rax, 63
    add r15, rax
    mov rax, 0x8000000000000001
    ror rax, 1
    fold
    mov eax, 3
    ror eax, 2
    fold
    rol eax, 1
    fold
    bt eax, 0
    fold
    bt rax, 31
    fold
    bt qword [rbp + 32], 7
    fold
    bts qword [rbp + 32], 70
    btr dword [rbp + 32], 0
    fold
    btc dword [rel data], 3
    fold
    add r15, [rbp + 32]
    add r15, [rel data]
    mov rax, 0x1122334455668899
    movzx ecx, ah
    movzx rdx, ax
    movsx esi, al
    movsx rdi, ax
    movsx r8, byte [rbp + 32]
    movsx r9d, word [rbp + 34]
    add r15, rcx
    add r15, rdx
    add r15, rsi
    add r15, rdi
    add r15, r8
    add r15, r9
    mov rax, 0x7fffffff
    imul ecx, eax, 3
    fold
    imul rcx, rax, -3
    fold
    imul rcx, rax, 0x7fffffff
    imul rcx, rcx
    fold
    imul eax, eax
    fold
    add r15, rcx
    add r15, rax
    mov rax, 0x12345678fedc8765
    cwde
    add r15, rax
    mov rax, 0x12345678fedc8765
    cdqe
    add r15, rax
    nop
    pause
    mov qword [rbp + 56], -1
    mov rax, 5
    cmp rax, 7
    inc dword [rbp + 56]
    fold
    stc
    dec qword [rbp + 56]
    fold
    rol rax, 1
    inc qword [rel data]
    fold
    add r15, [rbp + 56]
    add r15, [rel data]
    mov qword [rbp + 64], 7
    mov eax, 7
    mov ecx, 9
    lock cmpxchg [rbp + 64], ecx
    fold
    add r15, rax
    mov rax, -1
    cmpxchg [rbp + 64], rcx
    fold
    add r15, rax
    mov eax, 0x8000
    cmpxchg [rbp + 65], eax
    fold
    add r15, rax
    add r15, [rbp + 64]
    mov rax, 0x8000000000000000
    neg rax
    fold
    mov rcx, -1
    xor edx, edx
    neg edx
    fold
    neg ecx
    not rax
    not ecx
    fold
    add r15, rax
    add r15, rcx
    lea r8, [rbp + rbx*2 + 7]
    lea r9d, [rel $]
    push r8
    push 0x55
    pop r10
    pop r11
    call f
    mov [rel data], r11d
    mov r12, [rel data]
    mov qword [rbp + 16], -2
    mov r13, [rbp + 16]
    hlt
  f:
    mov r14, 99
    ret
  data:
    dq 0
  )";
  ExpectSameWithAndWithoutBlocks(*m_, src);
}

// The memory forms the block compiler translates, in each addressing form
// (base, RIP, base and index, index alone, absolute, FS/GS), size and
// register kind, and each condition right after a compare with memory:
// also on pages the TLB does not hold yet, and across a page end, where
// the handler runs the instruction.
TEST_F(AsmTest, CompiledMemoryFormsMatchGenericHandlers) {
  std::string src = R"(
    %macro fold 0                 ; the flags into r15
      pushfq
      pop rdx
      add r15, rdx
      rol r15, 5
    %endmacro
    mov rbp, 0x20000
    xor r15, r15
    mov qword [rbp + 0x50], 0     ; the same start for each run
    mov qword [rbp + 0x58], 0
    mov qword [rbp + 0x60], -1
    mov qword [rbp + 0x70], 0
    mov qword [rbp + 0x78], 0
    mov rax, 0x8081828384858687
    mov [rbp + 0x40], rax
    mov rax, 0x0102030405f6f7f8
    mov [rbp + 0x48], rax
    mov [rbp + 0xff8], rax
    mov [rbp + 0x1000], rax
    mov rsi, 3
    mov rdi, -2
    mov rcx, [rbp + rsi*8 + 0x28]
    add r15, rcx
    mov ecx, [rbp + rdi*4 + 0x4c]
    add r15, rcx
    mov rcx, [rsi*8 + 0x20028]
    add r15, rcx
    mov rcx, [0x20048]
    add r15, rcx
    mov ecx, [rel data + 4]
    add r15, rcx
    mov rcx, -1
    mov cx, [rbp + 0x41]
    mov [rbp + 0x50], cx
    mov [rbp + 0x53], cx
    mov [rbp + 0x61], cx
    add r15, rcx
    add r15, [rbp + 0x60]
    mov ah, [rbp + 0x42]
    mov bl, [rbp + rsi*2 + 0x40]
    mov sil, [rbp + 0x43]
    mov [rbp + 0x57], ah
    mov [rbp + 0x58], dil
    mov r9b, [rel data + 2]
    mov [rel data + 3], bh
    add r15, rax
    add r15, rbx
    add r15, rsi
    add r15, r9
    add r15, [rbp + 0x50]
    add r15, [rbp + 0x58]
    mov rsi, 3
    mov rcx, [rbp + 0xffc]
    mov dx, [rbp + 0xfff]
    mov [rbp + 0xffd], ecx
    add r15, rcx
    add r15, rdx
    add r15, [rbp + 0xff8]
    movzx ecx, byte [rbp + rsi*8 + 0x29]
    movsx rdx, word [rel data + 6]
    movzx r8d, word [rsi*4 + 0x20040]
    movsx r9d, byte [0x20047]
    add r15, rcx
    add r15, rdx
    add r15, r8
    add r15, r9
    lea r8, [rsi*4 + 7]
    lea r9d, [rbp + rdi*8 - 3]
    lea r10, [rel data]
    lea r11, [0x12345]
    lea r12d, [rsi + rdi*2 + 0x7fffffff]
    lea r13d, [rdi*4 + 1]
    lea r14d, [rdi + rdi*8]
    add r15, r13
    add r15, r14
    add r15, r8
    add r15, r9
    add r15, r10
    add r15, r11
    add r15, r12
    mov ecx, 0xc0000100
    mov eax, 8
    xor edx, edx
    wrmsr
    mov ecx, 0xc0000101
    mov eax, 0x20100
    wrmsr
    mov rax, [rel fs:data]
    mov rcx, gs:[rsi*8 - 0x100 + 0x28]
    mov edx, gs:[rbp + rdi*4 - 0x20000 - 0x100 + 0x4c]
    mov gs:[rsi*8 - 0x100 + 0x40], dx
    mov ebx, 0x55
    add ebx, gs:[rdi*4 - 0x100 + 0x28]
    fold
    add r15, rax
    add r15, rcx
    add r15, rdx
    add r15, rbx
    add r15, [rbp + 0x58]
    mov rax, 0x7f7f8081
    mov rcx, 0x80
    mov rbx, 0x1234
    add eax, [rbp + 0x40]
    fold
    sub rcx, [rbp + rsi*8 + 0x28]
    fold
    and ah, [rbp + 0x41]
    fold
    or bl, [rel data]
    fold
    xor cl, [rbp + 0x47]
    fold
    cmp rbx, [rel data]
    fold
    add r15, rax
    add r15, rbx
    add r15, rcx
    mov rbx, 0x8182
    cmp [rbp + 0x41], bh
    fold
    test [rbp + 0x40], bl
    fold
    cmp [rbp + rsi*8 + 0x28], rbx
    fold
    test [rel data], ebx
    fold
    cmp dword [rbp + 0xffe], 5
    fold
    mov dword [rbp + 0x68], -64
    %macro conds 0                ; conditions from the lazy record
      setb al
      setbe ah
      setl bl
      setle bh
      add r15, rax
      add r15, rbx
      rol r15, 3
    %endmacro
    cmp dword [rbp + 0x68], -128
    conds
    cmp dword [rbp + 0x68], -1
    conds
    cmp byte [rbp + 0x68], -1
    conds
    cmp qword [rbp + 0x68], -1
    conds
    test byte [rbp + 0x68], -1
    conds
    mov rcx, -1
    cmp [rbp + 0x68], ecx
    conds
    cmp [rbp + 0x68], cl
    conds
    cmp ecx, [rbp + 0x68]
    conds
    mov rax, -1
    add rax, 1
    inc ecx
    fold
    dec rbx
    fold
    mov ecx, [rbp + 0x40]
    inc rcx
    fold
    add r15, rcx
    add r15, rbx
  )";
  // Each condition after each compare form, most on a page not touched
  // before (the handler's record makes the host's flags).
  static const char* kCc[] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                              "s", "ns", "p", "np", "l", "ge", "le", "g"};
  const char* compares[] = {
      "cmp dword [rbp + rsi*8 + 0x28], 0x7f",
      "cmp byte [{page}], 0x80",
      "cmp qword [{page} + 8], -1",
      "test byte [{page} + 16], 0",
      "cmp byte [rbp + 0x41], 0x83",
      "test dword [rel data], 0x80000000",
      "cmp [{page} + 24], ecx",
      "test [rbp + 0x47], ah",
      "cmp rcx, [{page} + 32]",
      "sub ecx, [rbp + 0x44]",
      "add [rbp + 0xffe], ecx",
      "sub qword [rbp + 0x70], 0x7f",
      "and byte [rbp + 0x70], cl",
      "xor [rbp + 0x78], rcx",
      "cmp ecx, 0x40000000\ninc ecx",
      "cmp ecx, 0x40000000\ndec ecx",
      "add rcx, 0x7fffffff\ndec rcx",
  };
  int page = 0x30000;
  int label = 0;
  for (const char* compare : compares) {
    for (const char* cc : kCc) {
      std::string c = compare;
      if (const size_t at = c.find("{page}"); at != std::string::npos) {
        c.replace(at, 6, std::to_string(page));
        page += 0x1000;
      }
      const std::string skip = "skip" + std::to_string(label++);
      src += "mov ecx, " + std::to_string(label * 0x1234567u) + "\n" + c +
             "\nmov rdx, 0\nj" + cc + " " + skip + "\nadd r15, 1\n" + skip +
             ":\nrol r15, 1\n";
    }
  }
  src += R"(
    hlt
  data:
    dq 0x8000000180000003
  )";
  ExpectSameWithAndWithoutBlocks(*m_, src);
}

TEST_F(AsmTest, SpecialisedMemoryRmwFaultsAsAWriteOnAReadOnlyPage) {
  m_->SetPte(0x2d000, 0x2d000 | 5);  // present, user, not writable
  Regs r = RunToHalt(R"(
    mov rbx, 0x2d000
    mov dword [0x2c000], 7
    mov rsi, 0x2c000
    add dword [rsi], 1        ; a block: the TLB entry allows writing
    cmp dword [rbx], 0        ; read-only page: reading is fine
    setz cl
    add dword [rbx], 1        ; #PF, write, present
    hlt)");
  EXPECT_EQ(m_->memory().ReadObj<uint32_t>(GuestAddr(0x2c000)).value(), 8u);
  EXPECT_EQ(r.rcx & 0xff, 1u);
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x2d000u);
  EXPECT_EQ(m_->Read64(r.rsp) & 3, 3u);  // error code: W and P
  EXPECT_EQ(m_->memory().ReadObj<uint32_t>(GuestAddr(0x2d000)).value(), 0u);
}

// RET in a 64-bit block (a specialised handler whose TLB hit and slow
// halves are separate functions) to a non-canonical address raises #GP at
// the RET, with RSP as it was before the RET.
TEST_F(AsmTest, SpecialisedRetToNonCanonicalAddressFaultsAtTheRet) {
  Regs r = RunToHalt(R"(
    mov rax, 0x0000800000000000
    push rax
    mov r15, rsp
    ret                       ; #GP(0)
    hlt)");
  EXPECT_EQ(r.r14, 13u);
  EXPECT_EQ(m_->Read64(r.rsp), 0u);                          // error code
  EXPECT_EQ(m_->Read64(r.rsp + 8), kCodeAddr + 10 + 1 + 3);  // the RET
  EXPECT_EQ(m_->Read64(r.rsp + 32), r.r15);  // the interrupted RSP
}

// A well-formed ALU, MOV, shift or IMUL instruction that cannot fault or
// branch, on RAX, RCX, RDX, RBX, RSI and RDI (so the loop's RSP, RBP, R14
// and R15 stay), or on [rbp + disp8] inside the 8-byte immediate of one of
// the function's MOVs (see RunRandomHotCode), so that the function stays
// valid code.
void AppendLoopInsn(std::mt19937& rng, std::vector<uint8_t>& code) {
  struct Op {
    uint8_t opcode;
    int imm;  // immediate bytes
  };
  static constexpr Op kOps[] = {
      {0x01, 0}, {0x03, 0}, {0x09, 0}, {0x0b, 0}, {0x11, 0}, {0x19, 0},
      {0x21, 0}, {0x23, 0}, {0x29, 0}, {0x2b, 0}, {0x31, 0}, {0x33, 0},
      {0x39, 0}, {0x3b, 0}, {0x85, 0}, {0x88, 0}, {0x89, 0}, {0x8a, 0},
      {0x8b, 0}, {0x22, 0}, {0x3a, 0}, {0xd1, 0}, {0xd3, 0}, {0xc1, 1},
      {0x80, 1}, {0x83, 1}, {0x6b, 1}, {0x81, 4}, {0x69, 4}};
  static constexpr uint8_t kRegs[] = {0, 1, 2, 3, 6, 7};
  const Op& op = kOps[rng() % std::size(kOps)];
  const bool wide = rng() % 2 == 0;
  if (wide) code.push_back(0x48);  // REX.W
  code.push_back(op.opcode);
  const uint8_t reg = kRegs[rng() % std::size(kRegs)];
  if (rng() % 2 == 0) {
    const bool byte = op.opcode == 0x22 || op.opcode == 0x3a ||
                      op.opcode == 0x80 || op.opcode == 0x88 ||
                      op.opcode == 0x8a;
    const int size = byte ? 1 : wide ? 8 : 4;
    const int imm_at = 13 * static_cast<int>(rng() % 6) + 2;
    code.push_back(static_cast<uint8_t>(0x45 | reg << 3));
    code.push_back(static_cast<uint8_t>(imm_at + rng() % (9 - size)));
  } else {
    const uint8_t rm = kRegs[rng() % std::size(kRegs)];
    code.push_back(static_cast<uint8_t>(0xc0 | reg << 3 | rm));
  }
  for (int b = 0; b < op.imm; ++b) code.push_back(static_cast<uint8_t>(rng()));
}

// Appends the 64-bit words of guest memory [from, to) to `out`.
void AppendWords(FlatMachine& m, uint64_t from, uint64_t to,
                 std::vector<uint64_t>& out) {
  for (uint64_t a = from; a < to; a += 8) out.push_back(m.Read64(a));
}

// How a differential run executes: one instruction at a time, in blocks,
// or in blocks compiled on their first entry (BlockJit).
enum Mode { kOneAtATime, kBlocks, kCompiled, kModes };

void SetMode(TcgVcpu& vcpu, int mode) {
  vcpu.set_block_cache_enabled(mode != kOneAtATime);
  if (mode == kCompiled) {
    vcpu.set_jit_eager();
  } else {
    vcpu.set_jit_enabled(false);
  }
}

// One-at-a-time execution ([0]) and each other mode retired the same
// number of instructions and left the same registers and memory (`data`).
void ExpectSameOutcome(const Regs (&out)[kModes],
                       const uint64_t (&retired)[kModes],
                       const std::vector<uint64_t> (&data)[kModes]) {
  for (int mode = 1; mode < kModes; ++mode) {
    SCOPED_TRACE(mode == kBlocks ? "blocks" : "compiled blocks");
    EXPECT_EQ(retired[0], retired[mode]);
    const uint64_t* a = &out[0].rax;
    const uint64_t* b = &out[mode].rax;
    for (int k = 0; k < 18; ++k) EXPECT_EQ(a[k], b[k]) << "register #" << k;
    EXPECT_TRUE(data[0] == data[mode]);
  }
}

// Random programs built from hot opcodes (the specialised forms) with
// random ModRM bytes and immediates: blocks and one-at-a-time execution must
// end in the same registers, memory and exit after the same number of
// instructions (faults end in the IDT stubs, which HLT). With
// `self_modifying`, the program (AppendLoopInsn) runs in a loop that also
// calls a function of MOV/ADD pairs twice, and its memory operands point
// into that function's immediates: blocks that were checked are re-entered
// after their bytes changed.
void RunRandomHotCode(bool self_modifying) {
  constexpr uint32_t kFunction = 0x30000;
  static constexpr uint8_t kOps[] = {
      0x01, 0x03, 0x09, 0x0b, 0x21, 0x23, 0x29, 0x2b, 0x31, 0x33, 0x39,
      0x3b, 0x85, 0x89, 0x8b, 0x8d, 0xc1, 0xd1, 0xff, 0x83, 0x81, 0xc7,
      0xa9, 0x50, 0x53, 0x58, 0x5b, 0x74, 0x75, 0x72, 0x7c, 0x7e, 0xb8,
      0xba, 0x05, 0x2d, 0x11, 0x19, 0xf7, 0x0f, 0x80, 0x88, 0x8a, 0xc6,
      0xf6, 0xa8, 0x22, 0x3a, 0xd3, 0x90, 0x6b, 0x69, 0x98, 0x66};
  static constexpr uint8_t kRex[] = {0, 0x48, 0x49, 0x4c, 0x4d, 0x41, 0x40};
  std::mt19937 rng(12345);
  uint64_t total = 0;
  for (int program = 0; program < 150; ++program) {
    std::vector<uint8_t> code;
    // mov r15d, 30 (the loop count)
    if (self_modifying) code.insert(code.end(), {0x41, 0xbf, 30, 0, 0, 0});
    const size_t top = code.size();
    for (int k = 0; k < 24; ++k) {
      if (self_modifying) {
        AppendLoopInsn(rng, code);
        continue;
      }
      const uint8_t rex = kRex[rng() % sizeof(kRex)];
      if (rex != 0) code.push_back(rex);
      code.push_back(kOps[rng() % sizeof(kOps)]);
      // ModRM: mostly registers (not RSP), else [rbp + disp8].
      const uint8_t reg = static_cast<uint8_t>(rng() % 8);
      const uint8_t rm = static_cast<uint8_t>(rng() % 8);
      if (rng() % 4 != 0) {
        code.push_back(
            static_cast<uint8_t>(0xc0 | reg << 3 | (rm == 4 ? 0 : rm)));
      } else {
        code.push_back(static_cast<uint8_t>(0x45 | reg << 3));
        code.push_back(static_cast<uint8_t>(rng() % 0x80));
      }
      for (int b = 0; b < 4; ++b) code.push_back(static_cast<uint8_t>(rng()));
    }
    if (self_modifying) {
      // mov r14d, kFunction; call r14; call r14 (the second call checks
      // a block built by the first, the next iteration's first trusts it)
      code.insert(code.end(), {0x41, 0xbe});
      for (int b = 0; b < 4; ++b) {
        code.push_back(static_cast<uint8_t>(kFunction >> (8 * b)));
      }
      code.insert(code.end(), {0x41, 0xff, 0xd6, 0x41, 0xff, 0xd6});
      code.insert(code.end(), {0x41, 0xff, 0xcf});  // dec r15d
      const int32_t back = static_cast<int32_t>(top - (code.size() + 6));
      code.insert(code.end(), {0x0f, 0x85});  // jnz top
      for (int b = 0; b < 4; ++b)
        code.push_back(static_cast<uint8_t>(back >> (8 * b)));
    }
    code.push_back(0xf4);  // HLT
    Regs start{};
    uint64_t* r = &start.rax;
    for (int k = 0; k < 16; ++k) r[k] = rng() % 3 == 0 ? rng() : rng() % 64;
    start.rbp = self_modifying ? kFunction : kDataAddr + 0x100;
    std::vector<uint8_t> function;
    for (int k = 0; self_modifying && k < 6; ++k) {  // mov rax, imm64
                                                     // add rbx, rax
      function.insert(function.end(), {0x48, 0xb8});
      for (int b = 0; b < 8; ++b) {
        function.push_back(static_cast<uint8_t>(rng()));
      }
      function.insert(function.end(), {0x48, 0x01, 0xc3});
    }
    function.push_back(0xc3);  // ret
    start.rsp = kStackTop;
    start.rip = kCodeAddr;
    start.rflags = 0x2 | (rng() & 0x8d5);
    Regs out[kModes];
    VcpuExit exit[kModes];
    uint64_t retired[kModes];
    std::vector<uint64_t> data[kModes];
    for (int blocks = 0; blocks < kModes; ++blocks) {
      auto m = FlatMachine::Create();
      ASSERT_TRUE(m.ok());
      ASSERT_TRUE((*m)->LoadCode(code).ok());
      ASSERT_TRUE((*m)->memory().Write(GuestAddr(kFunction), function).ok());
      (*m)->SetRegs(start);
      SetMode((*m)->vcpu(), blocks);
      (*m)->vcpu().set_instruction_limit(5000);
      exit[blocks] = *(*m)->Run();
      out[blocks] = (*m)->regs();
      retired[blocks] = (*m)->vcpu().instructions_retired();
      AppendWords(**m, kDataAddr, kDataAddr + 0x400, data[blocks]);
      AppendWords(**m, kFunction, kFunction + 0x100, data[blocks]);
      AppendWords(**m, kStackTop - 0x200, kStackTop, data[blocks]);
    }
    SCOPED_TRACE(::testing::Message() << "program " << program);
    EXPECT_EQ(exit[0].kind, exit[kBlocks].kind);
    EXPECT_EQ(exit[0].kind, exit[kCompiled].kind);
    ExpectSameOutcome(out, retired, data);
    total += retired[1];
  }
  // Most programs run well past their first instructions before a fault.
  ::testing::Test::RecordProperty("instructions", static_cast<int>(total));
  EXPECT_GT(total, 150u * 8);
}

TEST(BlockDifferential, RandomHotCodeMatchesOneAtATime) {
  RunRandomHotCode(false);
}

TEST(BlockDifferential, RandomSelfModifyingLoopsMatchOneAtATime) {
  RunRandomHotCode(true);
}

// A TEST or CMP in each form FuseWithJcc pairs with a following Jcc
// (ops_fast.h): registers of 8, 16, 32 and 64 bits, immediates, and byte
// or dword memory at [rbp + disp8].
void AppendCompare(std::mt19937& rng, std::vector<uint8_t>& code) {
  static constexpr uint8_t kRegs[] = {0, 1, 2, 3, 6, 7};
  const uint8_t reg = kRegs[rng() % std::size(kRegs)];
  const uint8_t rm = kRegs[rng() % std::size(kRegs)];
  const uint8_t disp = static_cast<uint8_t>(8 * (rng() % 16));
  const uint8_t imm = static_cast<uint8_t>(rng() % 3 == 0 ? 0 : rng());
  const bool wide = rng() % 2 == 0;
  switch (rng() % 10) {
    case 0:  // test r/m, r
      if (wide) code.push_back(0x48);
      code.insert(code.end(),
                  {0x85, static_cast<uint8_t>(0xc0 | reg << 3 | rm)});
      break;
    case 1:  // test r/m8, r8
      code.insert(code.end(),
                  {0x84, static_cast<uint8_t>(0xc0 | reg << 3 | rm)});
      break;
    case 2:  // cmp r/m, r
      if (wide) code.push_back(0x48);
      code.insert(code.end(),
                  {0x39, static_cast<uint8_t>(0xc0 | reg << 3 | rm)});
      break;
    case 3:  // cmp r/m, imm8
      if (wide) code.push_back(0x48);
      code.insert(code.end(), {0x83, static_cast<uint8_t>(0xf8 | rm), imm});
      break;
    case 4:  // cmp r/m8, imm8
      code.insert(code.end(), {0x80, static_cast<uint8_t>(0xf8 | rm), imm});
      break;
    case 5:  // test r/m32, imm32
      code.insert(code.end(), {0xf7, static_cast<uint8_t>(0xc0 | rm), imm, 0, 0,
                               static_cast<uint8_t>(rng() % 2 ? 0x80 : 0)});
      break;
    case 6:  // cmp byte [rbp + disp8], imm8
      code.insert(code.end(), {0x80, 0x7d, disp, imm});
      break;
    case 7:  // cmp dword [rbp + disp8], imm8
      code.insert(code.end(), {0x83, 0x7d, disp, imm});
      break;
    case 8:  // cmp r/m16, r16
      code.insert(code.end(),
                  {0x66, 0x39, static_cast<uint8_t>(0xc0 | reg << 3 | rm)});
      break;
    default:  // test byte [rbp + disp8], imm8
      code.insert(code.end(), {0xf6, 0x45, disp, imm});
      break;
  }
}

// Loops of compare-and-branch pairs with every condition, each branch over
// an ALU or MOV instruction (AppendLoopInsn) that changes what the next
// compare sees. With blocks, the pairs run fused; Runs end every 1-7
// instructions, so instruction limits also fall between the two halves.
// Blocks and one-at-a-time execution must agree.
// Runs `code` from `start` in every Mode, in runs of 1..7 instructions
// (from `seed`) so that blocks also stop at instruction limits, to its HLT;
// expects the same outcome. Returns the instructions retired.
uint64_t ExpectModesAgree(const std::vector<uint8_t>& code, const Regs& start,
                          uint32_t seed) {
  Regs out[kModes];
  uint64_t retired[kModes];
  std::vector<uint64_t> data[kModes];
  for (int mode = 0; mode < kModes; ++mode) {
    auto m = FlatMachine::Create();
    EXPECT_TRUE(m.ok());
    if (!m.ok()) return 0;
    EXPECT_TRUE((*m)->LoadCode(code).ok());
    for (uint64_t a = kDataAddr; a < kDataAddr + 0x200; a += 8) {
      EXPECT_TRUE((*m)->memory()
                      .WriteObj(GuestAddr(a), a * 0x9e3779b97f4a7c15ull)
                      .ok());
    }
    (*m)->SetRegs(start);
    SetMode((*m)->vcpu(), mode);
    std::mt19937 limits(seed);
    VcpuExit exit;
    do {
      const uint64_t limit = 1 + limits() % 7;
      const uint64_t before = (*m)->vcpu().instructions_retired();
      (*m)->vcpu().set_instruction_limit(limit);
      exit = *(*m)->Run();
      if (exit.kind == Kind::kInterrupted) {
        EXPECT_EQ((*m)->vcpu().instructions_retired() - before, limit);
      }
    } while (exit.kind == Kind::kInterrupted &&
             (*m)->vcpu().instructions_retired() < 20000);
    EXPECT_EQ(exit.kind, Kind::kHalt) << DescribeVcpuExit(exit);
    out[mode] = (*m)->regs();
    retired[mode] = (*m)->vcpu().instructions_retired();
    AppendWords(**m, kDataAddr, kDataAddr + 0x200, data[mode]);
    AppendWords(**m, kStackTop - 0x100, kStackTop, data[mode]);
  }
  ExpectSameOutcome(out, retired, data);
  return retired[kCompiled];
}

Regs RandomStart(std::mt19937& rng) {
  Regs start{};
  uint64_t* r = &start.rax;
  for (int k = 0; k < 16; ++k) r[k] = rng() % 3 == 0 ? rng() : rng() % 64;
  start.rbp = kDataAddr + 0x100;
  start.rsp = kStackTop;
  start.rip = kCodeAddr;
  start.rflags = 0x2 | (rng() & 0x8d5);
  return start;
}

void AppendRel32(std::vector<uint8_t>& code, int32_t rel) {
  for (int b = 0; b < 4; ++b)
    code.push_back(static_cast<uint8_t>(rel >> (8 * b)));
}

TEST(BlockDifferential, FusedCompareAndBranchMatchesOneAtATime) {
  std::mt19937 rng(2024);
  uint64_t total = 0;
  for (int program = 0; program < 100; ++program) {
    std::vector<uint8_t> code = {0x41, 0xbf, 12, 0, 0, 0};  // mov r15d, 12
    const size_t top = code.size();
    for (int k = 0; k < 16; ++k) {
      AppendCompare(rng, code);
      const size_t jcc = code.size();
      code.insert(code.end(), {static_cast<uint8_t>(0x70 | rng() % 16), 0});
      AppendLoopInsn(rng, code);
      code[jcc + 1] = static_cast<uint8_t>(code.size() - (jcc + 2));
    }
    code.insert(code.end(), {0x41, 0xff, 0xcf});  // dec r15d
    code.insert(code.end(), {0x0f, 0x85});        // jnz top
    AppendRel32(code, static_cast<int32_t>(top - (code.size() + 4)));
    code.push_back(0xf4);  // HLT
    const Regs start = RandomStart(rng);
    const uint32_t seed = rng();
    SCOPED_TRACE(::testing::Message() << "program " << program);
    total += ExpectModesAgree(code, start, seed);
  }
  ::testing::Test::RecordProperty("instructions", static_cast<int>(total));
}

// A loop of compares and branches that calls a function (CALL rel32, RET,
// PUSH/POP) and jumps (JMP rel32): the control transfers compiled blocks
// translate.
TEST(BlockDifferential, CallsAndJumpsMatchOneAtATime) {
  std::mt19937 rng(77);
  uint64_t total = 0;
  for (int program = 0; program < 60; ++program) {
    std::vector<uint8_t> code = {0x41, 0xbf, 20, 0, 0, 0};  // mov r15d, 20
    const size_t top = code.size();
    std::vector<size_t> calls;
    for (int k = 0; k < 4; ++k) {
      AppendCompare(rng, code);
      const size_t jcc = code.size();
      code.insert(code.end(), {static_cast<uint8_t>(0x70 | rng() % 16), 0});
      AppendLoopInsn(rng, code);
      code[jcc + 1] = static_cast<uint8_t>(code.size() - (jcc + 2));
      code.push_back(0xe8);  // call function
      calls.push_back(code.size());
      AppendRel32(code, 0);
      code.push_back(0xe9);  // jmp to the next instruction
      AppendRel32(code, 0);
    }
    code.insert(code.end(), {0x41, 0xff, 0xcf});  // dec r15d
    code.insert(code.end(), {0x0f, 0x85});        // jnz top
    AppendRel32(code, static_cast<int32_t>(top - (code.size() + 4)));
    code.push_back(0xf4);  // HLT
    const size_t function = code.size();
    for (size_t at : calls) {
      const int32_t rel = static_cast<int32_t>(function - (at + 4));
      for (int b = 0; b < 4; ++b)
        code[at + b] = static_cast<uint8_t>(rel >> (8 * b));
    }
    for (int k = 0; k < 3; ++k) AppendLoopInsn(rng, code);
    code.insert(code.end(), {0x53, 0x59});  // push rbx; pop rcx
    AppendCompare(rng, code);
    code.push_back(0xc3);  // ret
    const Regs start = RandomStart(rng);
    const uint32_t seed = rng();
    SCOPED_TRACE(::testing::Message() << "program " << program);
    total += ExpectModesAgree(code, start, seed);
  }
  ::testing::Test::RecordProperty("instructions", static_cast<int>(total));
  EXPECT_GT(total, 60u * 100);
}

// Linear page 0x30000 runs the code of physical page 0x31000, then of
// 0x32000 after the guest remaps it: a block reached through a link from
// the caller's block must not outlive the translation it was linked under.
std::string RemapSource(const std::string& flush,
                        const std::string& pte_bits = "7") {
  // Three passes through the same blocks; the remap is between the second
  // and the third, when the call already goes through a link.
  return R"(
    xor ebx, ebx
    mov edi, 3
    mov rsi, 0x4000 + (0x30000 >> 12) * 8
    jmp again
  again:
    mov eax, 0x30000
    call rax
    add ebx, eax
    cmp edi, 2
    jne skip
    mov qword [rsi], 0x32000 | )" +
         pte_bits + "\n" + flush +
         R"(
  skip:
    dec edi
    jnz again
    hlt)";
}

void LoadRemapTargets(FlatMachine& m, uint64_t pte_bits = 7) {
  const uint8_t one[] = {0xb8, 1, 0, 0, 0, 0xc3};   // mov eax, 1; ret
  const uint8_t two[] = {0xb8, 20, 0, 0, 0, 0xc3};  // mov eax, 20; ret
  ASSERT_TRUE(m.memory().Write(GuestAddr(0x31000), one).ok());
  ASSERT_TRUE(m.memory().Write(GuestAddr(0x32000), two).ok());
  m.SetPte(0x30000, 0x31000 | pte_bits);
}

TEST_F(AsmTest, RemapWithInvlpgRunsTheNewPage) {
  LoadRemapTargets(*m_);
  Regs r = RunToHalt(RemapSource("mov eax, 0x30000\ninvlpg [rax]"));
  EXPECT_EQ(r.rbx, 1u + 1u + 20u);
}

TEST_F(AsmTest, RemapWithCr3ReloadRunsTheNewPage) {
  LoadRemapTargets(*m_);
  Regs r = RunToHalt(RemapSource("mov rax, cr3\nmov cr3, rax"));
  EXPECT_EQ(r.rbx, 1u + 1u + 20u);
}

// A global page (G with CR4.PGE): INVLPG still ends the links to it; a CR3
// write keeps its translation, in the TLB as on hardware, and so the links
// made through it, however many CR3 writes follow.
TEST_F(AsmTest, RemapGlobalPageWithInvlpgRunsTheNewPage) {
  LoadRemapTargets(*m_, 0x107);
  Regs r = RunToHalt(RemapSource("mov eax, 0x30000\ninvlpg [rax]", "0x107"));
  EXPECT_EQ(r.rbx, 1u + 1u + 20u);
}

TEST_F(AsmTest, Cr3ReloadKeepsAGlobalTranslation) {
  LoadRemapTargets(*m_, 0x107);
  Regs r = RunToHalt(
      RemapSource("mov rax, cr3\nmov cr3, rax\nmov cr3, rax", "0x107"));
  EXPECT_EQ(r.rbx, 1u + 1u + 1u);
  LoadRemapTargets(*m_, 0x107);
  m_->vcpu().set_block_cache_enabled(false);
  Regs one = RunToHalt(
      RemapSource("mov rax, cr3\nmov cr3, rax\nmov cr3, rax", "0x107"));
  EXPECT_EQ(one.rbx, 1u + 1u + 1u);
}

TEST_F(AsmTest, RemapGlobalPageWithPgeToggleRunsTheNewPage) {
  LoadRemapTargets(*m_, 0x107);
  Regs r = RunToHalt(RemapSource(
      "mov rdx, cr4\nand rdx, ~0x80\nmov cr4, rdx\nor rdx, 0x80\nmov cr4, rdx",
      "0x107"));
  EXPECT_EQ(r.rbx, 1u + 1u + 20u);
}

// INVLPG of another page leaves a global translation in the TLB, and so
// the links made through it: both modes keep running the old page.
TEST_F(AsmTest, InvlpgOfAnotherPageKeepsAGlobalTranslation) {
  LoadRemapTargets(*m_, 0x107);
  m_->SetPte(0x38000, 0x38000 | 7);
  Regs r = RunToHalt(RemapSource("mov eax, 0x38000\ninvlpg [rax]", "0x107"));
  EXPECT_EQ(r.rbx, 1u + 1u + 1u);
  LoadRemapTargets(*m_, 0x107);
  m_->vcpu().set_block_cache_enabled(false);
  Regs one = RunToHalt(RemapSource("mov eax, 0x38000\ninvlpg [rax]", "0x107"));
  EXPECT_EQ(one.rbx, 1u + 1u + 1u);
}

TEST_F(AsmTest, CodeRewrittenBehindALinkIsSeen) {
  // The call's target block is reached through a link on later passes;
  // the VMM-side write between passes happens inside the guest here.
  Regs r = RunToHalt(R"(
    xor ebx, ebx
    mov edi, 3
    lea rsi, [rel f]
  again:
    call f
    add ebx, eax
    inc byte [rsi + 1]
    dec edi
    jnz again
    hlt
    align 64
  f:
    mov eax, 5
    ret)");
  EXPECT_EQ(r.rbx, 5u + 6u + 7u);
}

// A device's write into compiled code between runs (GuestMemory::Write,
// as a virtio device reports its writes): the page holds blocks, so the
// write epoch moves and the next run decodes the new bytes.
TEST_F(AsmTest, DeviceWriteIntoCompiledCodeIsSeen) {
  auto code = Assemble(R"(
  again:
    xor ebx, ebx
    mov edi, 300
  next:
    call f
    add ebx, eax
    dec edi
    jnz next
    hlt
    jmp again
    align 64
  f:
    mov eax, 5
    ret)");
  ASSERT_TRUE(code.ok()) << code.status();
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  auto exit = m_->Run();
  ASSERT_TRUE(exit.ok() && exit->kind == VcpuExit::Kind::kHalt);
  EXPECT_EQ(m_->regs().rbx, 1500u);
  const uint8_t f[] = {0xb8, 5, 0, 0, 0, 0xc3};
  auto at = std::search(code->begin(), code->end(), std::begin(f), std::end(f));
  ASSERT_NE(at, code->end());
  const uint8_t seven = 7;
  ASSERT_TRUE(m_->memory()
                  .Write(GuestAddr(kCodeAddr + (at - code->begin()) + 1),
                         absl::MakeConstSpan(&seven, 1))
                  .ok());
  exit = m_->Run();
  ASSERT_TRUE(exit.ok() && exit->kind == VcpuExit::Kind::kHalt);
  EXPECT_EQ(m_->regs().rbx, 2100u);
}

// ---- Chained compiled blocks (BlockJit::Chain) ---------------------------

// The loop below runs from compiled block to compiled block through
// chained jumps (inline JMP and JNZ) without returning to the run loop: a
// kick must still stop it.
TEST_F(AsmTest, KickStopsChainedBlocks) {
  auto code = Assemble(R"(
    mov ecx, 0xffffffff       ; seconds of looping
  l:
    dec ecx
    jmp m
  m:
    jnz l
    hlt)");
  ASSERT_TRUE(code.ok());
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  std::thread kicker([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    m_->vcpu().Kick();
  });
  VcpuExit e = *m_->Run();
  kicker.join();
  EXPECT_EQ(e.kind, Kind::kInterrupted);
  EXPECT_GT(m_->regs().rcx, 0u);
}

// One physical page of code at two linear addresses, each followed by a
// different page: the jump at its end reaches a different block through
// each alias, so a chained jump made through one must not be taken when
// the block runs through the other.
TEST_F(AsmTest, ChainedJumpHoldsOnlyForTheAddressItWasMadeAt) {
  const uint8_t jump[] = {0xe9, 0xfb, 0x0f, 0, 0};  // jmp $ + 0x1000
  const uint8_t one[] = {0xb8, 1, 0, 0, 0, 0xc3};   // mov eax, 1; ret
  const uint8_t two[] = {0xb8, 2, 0, 0, 0, 0xc3};   // mov eax, 2; ret
  ASSERT_TRUE(m_->memory().Write(GuestAddr(0x33000), jump).ok());
  ASSERT_TRUE(m_->memory().Write(GuestAddr(0x34000), one).ok());
  ASSERT_TRUE(m_->memory().Write(GuestAddr(0x35000), two).ok());
  m_->SetPte(0x40000, 0x33000 | 7);
  m_->SetPte(0x41000, 0x34000 | 7);
  m_->SetPte(0x50000, 0x33000 | 7);
  m_->SetPte(0x51000, 0x35000 | 7);
  Regs r = RunToHalt(R"(
    xor ebx, ebx
    mov edi, 4
  a:
    mov eax, 0x40000
    call rax
    add ebx, eax
    dec edi
    jnz a
    mov edi, 4
  b:
    mov eax, 0x50000
    call rax
    add ebx, eax
    dec edi
    jnz b
    hlt)");
  EXPECT_EQ(r.rbx, 4u * 1 + 4u * 2);
}

// Another thread rewrites code that the loop reaches through chained jumps
// only (as a device's DMA would): the jump after the write must see the
// moved write epoch and leave for the run loop, which decodes the new
// bytes.
TEST_F(AsmTest, CodeWrittenByAnotherThreadEndsChainedJumps) {
  auto code = Assemble(R"(
    mov esi, 0x20000          ; kDataAddr: +0 stop flag, +8 last eax
  top:
    cmp dword [rsi], 0
    jne done
    jmp f
  back:
    mov [rsi + 8], rax
    jmp top
  done:
    hlt
    align 64
  f:
    mov eax, 5
    jmp back)");
  ASSERT_TRUE(code.ok());
  const uint8_t f[] = {0xb8, 5, 0, 0, 0};
  auto at = std::search(code->begin(), code->end(), std::begin(f), std::end(f));
  ASSERT_NE(at, code->end());
  const uint64_t imm = kCodeAddr + (at - code->begin()) + 1;
  m_->Write64(kDataAddr, 0);
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  std::thread writer([this, imm] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uint8_t seven = 7;
    ASSERT_TRUE(m_->memory()
                    .Write(GuestAddr(imm), absl::MakeConstSpan(&seven, 1))
                    .ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uint8_t stop = 1;
    ASSERT_TRUE(m_->memory()
                    .Write(GuestAddr(kDataAddr), absl::MakeConstSpan(&stop, 1))
                    .ok());
  });
  VcpuExit e = *m_->Run();
  writer.join();
  EXPECT_EQ(e.kind, Kind::kHalt);
  EXPECT_EQ(m_->Read64(kDataAddr + 8), 7u);
}

// A block reached through a chained jump rewrites one of its own later
// instructions: the write must end it there, as it ends a block the run
// loop entered.
TEST_F(AsmTest, ChainedBlockRewritingItselfRunsTheNewCode) {
  Regs r = RunToHalt(R"(
    xor ebx, ebx
    mov edi, 300
  a:
    dec edi
    jmp b
  b:
    cmp edi, 1
    jne c
    mov byte [rel c + 1], 7
  c:
    mov eax, 5
    add ebx, eax
    test edi, edi
    jnz a
    hlt)");
  EXPECT_EQ(r.rbx, 298u * 5 + 2u * 7);
}

// Two return addresses that share a jump cache slot, on different pages:
// a RET must go on to its own address, never to the block the slot last
// held.
TEST_F(AsmTest, ReturnsSharingAJumpCacheSlotReachTheirOwnCallers) {
  // mov eax, 0x36000; call rax; add ebx, imm8; ret (returns after 7 bytes)
  const uint8_t one[] = {0xb8, 0, 0x60, 3, 0, 0xff, 0xd0, 0x83, 0xc3, 1, 0xc3};
  const uint8_t hundred[] = {0xb8, 0,    0x60, 3,   0,   0xff,
                             0xd0, 0x83, 0xc3, 100, 0xc3};
  const uint8_t ret[] = {0xc3};
  // The second caller's place on linear page 0xc0000 whose return address
  // takes the first one's slot.
  uint64_t second = 0;
  for (uint64_t at = 0xc0000; at < 0xc0ff0; ++at) {
    if (Cpu::JumpCacheSlot(at + 7) == Cpu::JumpCacheSlot(0x40007)) {
      second = at;
      break;
    }
  }
  ASSERT_NE(second, 0u);
  ASSERT_TRUE(m_->memory().Write(GuestAddr(0x34000), one).ok());
  ASSERT_TRUE(
      m_->memory().Write(GuestAddr(0x35000 + (second & 0xfff)), hundred).ok());
  ASSERT_TRUE(m_->memory().Write(GuestAddr(0x36000), ret).ok());
  m_->SetPte(0x40000, 0x34000 | 7);
  m_->SetPte(0xc0000, 0x35000 | 7);
  Regs r = RunToHalt(absl::StrFormat(R"(
    xor ebx, ebx
    mov edi, 20
  a:
    mov eax, 0x40000
    call rax
    mov eax, %d
    call rax
    dec edi
    jnz a
    hlt)",
                                     second));
  EXPECT_EQ(r.rbx, 20u * 101);
}

// The code at a return address changes after the jump cache took it in:
// the RET must run the new code.
TEST_F(AsmTest, ReturnToRewrittenCodeRunsTheNewCode) {
  Regs r = RunToHalt(R"(
    xor ebx, ebx
    mov edi, 300
  a:
    call f
  back:
    mov eax, 5
    add ebx, eax
    cmp edi, 2
    jne s
    mov byte [rel back + 1], 7
  s:
    dec edi
    jnz a
    hlt
  f:
    ret)");
  EXPECT_EQ(r.rbx, 299u * 5 + 7);
}

// Dropping all compiled code (TcgVm::InvalidateCode after new code was
// written behind the vCPU's back) leaves no jump cache entry that leads
// into it.
TEST_F(AsmTest, InvalidatedCodeIsNotReachedThroughTheJumpCache) {
  const std::string program = R"(
    mov edi, 3
  a:
    call f
    mov eax, 5
    dec edi
    jnz a
    hlt
    align 64
  f:
    ret)";
  EXPECT_EQ(RunToHalt(program).rax, 5u);
  auto code = Assemble(program);
  ASSERT_TRUE(code.ok());
  const uint8_t five[] = {0xb8, 5, 0, 0, 0};
  auto at =
      std::search(code->begin(), code->end(), std::begin(five), std::end(five));
  ASSERT_NE(at, code->end());
  absl::Span<uint8_t> imm =
      m_->memory().TrySlice(GuestAddr(kCodeAddr + (at - code->begin()) + 1), 1);
  ASSERT_EQ(imm.size(), 1u);
  imm[0] = 9;  // not reported
  m_->vm().InvalidateCode();
  auto exit = RunAgain(*m_);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(m_->regs().rax, 9u);
}

// `mov eax, imm32; ret` at linear 0x40ffe, its last three immediate bytes
// and the RET on linear page 0x41000: physical 0x33ffe onwards, with
// 0x34000 right after it, or else 0x36000 (an immediate 0x100 higher).
void LoadStraddlingLoad(FlatMachine& m, uint64_t first_pte_bits,
                        uint64_t next_pte_bits) {
  const uint8_t first[] = {0xb8, 7};
  const uint8_t rest[] = {0, 0, 0, 0xc3};
  const uint8_t other[] = {1, 0, 0, 0xc3};
  ASSERT_TRUE(m.memory().Write(GuestAddr(0x33ffe), first).ok());
  ASSERT_TRUE(m.memory().Write(GuestAddr(0x34000), rest).ok());
  ASSERT_TRUE(m.memory().Write(GuestAddr(0x36000), other).ok());
  m.SetPte(0x40000, 0x33000 | first_pte_bits);
  m.SetPte(0x41000, 0x34000 | next_pte_bits);
}

// Three calls of `entry` (the straddling load), a remap of linear page
// 0x41000 to 0x36000 and `flush`, then three more calls.
std::string StraddleRemapSource(const std::string& flush,
                                const std::string& entry = "0x40ffe") {
  const auto calls = [&](const std::string& label) {
    return "    mov edi, 3\n  " + label + ":\n    mov eax, " + entry +
           "\n    call rax\n    add ebx, eax\n    dec edi\n    jnz " + label +
           "\n";
  };
  return "    xor ebx, ebx\n" + calls("a") +
         "    mov qword [0x4000 + 0x41 * 8], 0x36000 | 7\n    " + flush + "\n" +
         calls("b") + "    hlt\n";
}

// A block may end with an instruction that crosses into the next page
// where that page follows in physical memory; when the next page is
// remapped, the instruction must be decoded from the new one.
TEST_F(AsmTest, StraddlingInstructionSeesItsNextPageRemapped) {
  LoadStraddlingLoad(*m_, 7, 7);
  Regs r = RunToHalt(StraddleRemapSource("invlpg [0x41000]"));
  EXPECT_EQ(r.rbx, 3u * 7 + 3u * 0x107);
}

// A jump at linear 0x40ffd whose displacement's two high bytes lie on a
// non-global page (no block starts there), called from global code: a CR3
// write drops that translation, so after the remap the jump goes 64 KiB
// further.
// The global page's links and chained jumps into it must not outlive the
// next page's translation: checked with blocks compiled and without, and
// with the calls before and after the remap made from one call site, so
// that the later ones find the block through the link the earlier ones
// made.
void RunStraddlingJumpRemappedByCr3Reload(FlatMachine& m,
                                          const std::string& source) {
  m.SetPte(kCodeAddr, kCodeAddr | 0x107);
  auto code = Assemble(source + R"(
  target:
    mov eax, 1
    ret)");
  ASSERT_TRUE(code.ok());
  ASSERT_TRUE(m.LoadCode(*code).ok());
  const uint64_t target = kCodeAddr + code->size() - 6;
  const uint8_t far_target[] = {0xb8, 0x20, 0, 0, 0, 0xc3};  // mov eax, 32
  ASSERT_TRUE(m.memory().Write(GuestAddr(target + 0x10000), far_target).ok());
  const uint32_t rel = static_cast<uint32_t>(target - 0x41002);
  const uint32_t far_rel = rel + 0x10000;
  const uint8_t first[] = {0xe9, static_cast<uint8_t>(rel),
                           static_cast<uint8_t>(rel >> 8)};
  const uint8_t rest[] = {static_cast<uint8_t>(rel >> 16),
                          static_cast<uint8_t>(rel >> 24)};
  const uint8_t other[] = {static_cast<uint8_t>(far_rel >> 16),
                           static_cast<uint8_t>(far_rel >> 24)};
  ASSERT_TRUE(m.memory().Write(GuestAddr(0x33ffd), first).ok());
  ASSERT_TRUE(m.memory().Write(GuestAddr(0x34000), rest).ok());
  ASSERT_TRUE(m.memory().Write(GuestAddr(0x36000), other).ok());
  m.SetPte(0x40000, 0x33000 | 0x107);
  m.SetPte(0x41000, 0x34000 | 7);
  auto exit = m.Run();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->kind, VcpuExit::Kind::kHalt);
  EXPECT_EQ(m.regs().rbx, 3u * 1 + 3u * 32);
}

const std::string kTwoCallSites =
    StraddleRemapSource("mov rax, cr3\nmov cr3, rax", "0x40ffd");
// Six calls from one site; the remap and CR3 write follow the third.
constexpr char kOneCallSite[] = R"(
    xor ebx, ebx
    mov edi, 6
  again:
    mov eax, 0x40ffd
    call rax
    add ebx, eax
    cmp edi, 4
    jne skip
    mov qword [0x4000 + 0x41 * 8], 0x36000 | 7
    mov rax, cr3
    mov cr3, rax
  skip:
    dec edi
    jnz again
    hlt)";

TEST_F(AsmTest, StraddlingJumpSeesItsNextPageRemappedByCr3Reload) {
  RunStraddlingJumpRemappedByCr3Reload(*m_, kTwoCallSites);
}

TEST_F(AsmTest, StraddlingJumpSeesItsNextPageRemappedByCr3ReloadUncompiled) {
  m_->vcpu().set_jit_enabled(false);
  RunStraddlingJumpRemappedByCr3Reload(*m_, kTwoCallSites);
}

TEST_F(AsmTest, StraddlingJumpReachedThroughALinkSeesItsNextPageRemapped) {
  m_->vcpu().set_jit_enabled(false);
  RunStraddlingJumpRemappedByCr3Reload(*m_, kOneCallSite);
}

TEST_F(AsmTest, StraddlingJumpReachedThroughAChainSeesItsNextPageRemapped) {
  RunStraddlingJumpRemappedByCr3Reload(*m_, kOneCallSite);
}

// A write to the part of a straddling instruction on the next page, a page
// no block starts on, is seen: the block's pages are both code pages. The
// loop makes the first run trust the blocks and chain them.
TEST_F(AsmTest, WriteToTheNextPageOfAStraddlingInstructionIsSeen) {
  auto code = Assemble(R"(
    mov edi, 3
  top:
    jmp f
  r1:
    mov eax, 1
    dec edi
    jnz top
    hlt
    align 4096
    times 4096 - 3 db 0xcc
  f:
    jmp near r1)");
  ASSERT_TRUE(code.ok());
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  const uint64_t f = kCodeAddr + code->size() - 5;
  ASSERT_EQ(f & 0xfff, 0xffdu);
  auto exit = m_->Run();
  ASSERT_TRUE(exit.ok()) << exit.status();
  ASSERT_EQ(m_->regs().rax, 1u);
  // The displacement's two high bytes (on the next page) +1: the jump goes
  // 64 KiB further on, where it finds `mov eax, 2; hlt`.
  const uint8_t one[] = {0xb8, 1, 0, 0, 0};
  auto at =
      std::search(code->begin(), code->end(), std::begin(one), std::end(one));
  ASSERT_NE(at, code->end());
  const uint64_t r1 = kCodeAddr + (at - code->begin());
  const uint8_t two[] = {0xb8, 2, 0, 0, 0, 0xf4};
  ASSERT_TRUE(m_->memory().Write(GuestAddr(r1 + 0x10000), two).ok());
  const uint32_t rel = static_cast<uint32_t>(r1 + 0x10000 - (f + 5));
  const uint8_t high[] = {static_cast<uint8_t>(rel >> 16),
                          static_cast<uint8_t>(rel >> 24)};
  ASSERT_TRUE(m_->memory().Write(GuestAddr(f + 3), high).ok());
  exit = RunAgain(*m_);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(m_->regs().rax, 2u);
}

// A block whose last instruction crosses into a page that is then
// unmapped: the block's earlier instructions still run, and the probe of
// the next page leaves no fault (nor CR2) behind when the crossing
// instruction is not reached.
TEST_F(AsmTest, UnmappedNextPageFaultsOnlyWhenTheCrossingInstructionRuns) {
  // ret; test edi, edi; jnz (the ret); mov eax, 7 (crossing); ret
  const uint8_t first[] = {0xc3, 0x85, 0xff, 0x75, 0xfb, 0xb8, 7};
  const uint8_t rest[] = {0, 0, 0, 0xc3};
  ASSERT_TRUE(m_->memory().Write(GuestAddr(0x33ff9), first).ok());
  ASSERT_TRUE(m_->memory().Write(GuestAddr(0x34000), rest).ok());
  m_->SetPte(0x40000, 0x33000 | 7);
  m_->SetPte(0x41000, 0x34000 | 7);
  Regs r = RunToHalt(R"(
    mov r14, 99
    xor edi, edi
    mov esi, 0x40ffa
    call rsi
    mov ebx, eax
    mov qword [0x4000 + 0x41 * 8], 0
    invlpg [0x41000]
    mov rax, 0x1234
    mov cr2, rax
    mov edi, 1
    call rsi
    mov rcx, cr2
    xor edi, edi
    call rsi
    hlt)");
  EXPECT_EQ(r.rbx, 7u);
  EXPECT_EQ(r.rcx, 0x1234u);
  EXPECT_EQ(r.r14, 14u);  // the last call reaches the crossing instruction
  EXPECT_EQ(m_->sregs().cr2, 0x41000u);
}

// The jump cache holds 64-bit code for `x`; a far return (a handler) that
// lands on `x` in compatibility mode must not take it.
TEST_F(AsmTest, FarReturnToCompatibilityModeSkipsTheJumpCache) {
  auto code = Assemble(R"(
    mov eax, 10
    test edi, edi
    jnz compat
    lea rcx, [rel x]
    push rcx
    ret
  compat:
    push qword 0x08
    lea rcx, [rel x]
    push rcx
    o64 retf
  x:
    db 0x48, 0x05, 1, 0, 0, 0    ; add rax, 1 / dec eax; add eax, 1
    hlt)");
  ASSERT_TRUE(code.ok());
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  auto run = [&](uint64_t rdi) {
    Regs r = m_->regs();
    r.rdi = rdi;
    m_->SetRegs(r);
    auto exit = RunAgain(*m_);
    EXPECT_TRUE(exit.ok() && exit->kind == VcpuExit::Kind::kHalt);
    return m_->regs().rax;
  };
  for (int k = 0; k < 3; ++k) EXPECT_EQ(run(0), 11u);
  EXPECT_EQ(run(1), 10u);
  EXPECT_EQ(m_->sregs().cs.selector, kKernelCs32);
}

// Port writes of 1 flag an interrupt (FlaggedIrq) at once.
class RaisingIo : public RecordingIo {
 public:
  explicit RaisingIo(FlaggedIrq& irq) : irq_(irq) {}
  void PioWrite(uint16_t port, absl::Span<const uint8_t> data) override {
    if (data[0] == 1) irq_.flag = true;
    RecordingIo::PioWrite(port, data);
  }

 private:
  FlaggedIrq& irq_;
};

// STI (a handler) ends its block in an interrupt shadow: the block after
// it, though in the jump cache, must not be jumped to, so that the
// interrupt its first instruction raises comes right after that
// instruction.
TEST_F(AsmTest, StiShadowSkipsTheJumpCache) {
  FlaggedIrq irq;
  m_->vcpu().set_interrupt_source(&irq);
  RaisingIo io(irq);
  auto code = Assemble(R"(
    cli
    xor ebx, ebx
    mov edi, 5
    mov al, 0
  top:
    cmp edi, 2
    ja via_ret                ; 5, 4, 3: reach b by RET, IF=0
    mov al, 1
    sti                       ; 2: reach b in the STI shadow
  b:
    out 0x80, al
    mov ebx, edi
    cli
    dec edi
    jnz top
    hlt
  via_ret:
    lea rcx, [rel b]
    push rcx
    ret)");
  ASSERT_TRUE(code.ok());
  ASSERT_TRUE(m_->LoadCode(*code).ok());
  auto exit = m_->vcpu().Run(io);
  m_->vcpu().set_interrupt_source(nullptr);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->kind, Kind::kHalt);
  Regs r = m_->regs();
  EXPECT_EQ(r.r14, 0x31u);
  EXPECT_EQ(r.rbx, 3u);  // the interrupt came before `mov ebx, edi`
}

}  // namespace
}  // namespace skiff::tcg::testing
