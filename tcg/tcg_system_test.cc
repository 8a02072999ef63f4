// System behaviour: exits (HLT, Kick, shutdown), port and MMIO I/O,
// exceptions through the IDT (#UD #DE #PF #GP #BP), paging, user mode,
// SYSCALL/SYSRET, IRETQ, CPUID/MSRs, self-modifying code, interrupts.
#include <thread>

#include "gtest/gtest.h"
#include "tcg/cpuid_msr.h"
#include "tcg/flags.h"
#include "tcg/testing/asm_fixture.h"

namespace skiff::tcg::testing {
namespace {

using Kind = VcpuExit::Kind;

// The IDT stubs leave the vector in r14 and halt.

TEST_F(AsmTest, PortIo) {
  Regs r = RunToHalt(R"(
    mov al, 0x41
    out 0x80, al
    mov dx, 0x3f8
    mov eax, 0x12345678
    out dx, eax
    in al, 0x60
    mov bl, al
    in ax, dx
    mov rsi, 0x20000
    mov dword [rsi], 0x04030201
    mov ecx, 4
    rep outsb
    hlt)");
  EXPECT_EQ(r.rbx & 0xff, 0x78);
  EXPECT_EQ(r.rax & 0xffff, 0x5678);
  auto acc = m_->io().accesses();
  ASSERT_EQ(acc.size(), 8u);
  EXPECT_FALSE(acc[0].mmio);
  EXPECT_TRUE(acc[0].write);
  EXPECT_EQ(acc[0].addr, 0x80u);
  EXPECT_EQ(acc[0].value, 0x41u);
  EXPECT_EQ(acc[1].size, 4);
  EXPECT_EQ(acc[1].value, 0x12345678u);
  EXPECT_FALSE(acc[2].write);
  EXPECT_EQ(acc[2].addr, 0x60u);
  EXPECT_EQ(acc[7].value, 4u);
}

TEST_F(AsmTest, MmioOutsideRam) {
  Regs r = RunToHalt(R"(
    mov rbx, 0xc0001000
    mov dword [rbx], 0xcafe
    mov rax, [rbx + 8]
    mov word [rbx + 0xffe], 0x1234   ; crosses a 4 KiB boundary: still MMIO
    hlt)");
  EXPECT_EQ(r.rax, 0x1122334455667788u);
  auto acc = m_->io().accesses();
  ASSERT_GE(acc.size(), 3u);
  EXPECT_TRUE(acc[0].mmio);
  EXPECT_TRUE(acc[0].write);
  EXPECT_EQ(acc[0].addr, 0xc0001000u);
  EXPECT_EQ(acc[0].size, 4);
  EXPECT_EQ(acc[0].value, 0xcafeu);
  EXPECT_FALSE(acc[1].write);
  EXPECT_EQ(acc[1].size, 8);
  EXPECT_EQ(acc[1].addr, 0xc0001008u);
  uint64_t total = 0;
  for (size_t k = 2; k < acc.size(); ++k) total += acc[k].size;
  EXPECT_EQ(total, 2u);
}

TEST_F(AsmTest, UndefinedOpcodeRaisesUd) {
  Regs r = RunToHalt(R"(
    mov r14, 0xdead
    ud2)");
  EXPECT_EQ(r.r14, 6u);
  // Frame: RIP CS RFLAGS RSP SS, RIP = the UD2.
  EXPECT_EQ(m_->Read64(r.rsp), kCodeAddr + Assemble("mov r14, 0xdead")->size());
  EXPECT_EQ(m_->Read64(r.rsp + 8), kKernelCs);
}

// x87/SSE themselves are tested in tcg_x87_test.cc and tcg_sse_test.cc.
TEST_F(AsmTest, X87AndFxsaveExecute) {
  Regs r = RunToHalt("mov r14, 0\nfninit\nhlt");
  EXPECT_EQ(r.r14, 0u);
  r = RunToHalt("fxsave [0x20000]\nhlt");
  EXPECT_EQ(r.r14, 0u);
}

TEST_F(AsmTest, DivideErrorRaisesDe) {
  Regs r = RunToHalt(R"(
    xor ecx, ecx
    div ecx
    hlt)");
  EXPECT_EQ(r.r14, 0u);
  EXPECT_EQ(m_->Read64(r.rsp), kCodeAddr + 2);
  r = RunToHalt(R"(
    mov eax, 0x80000000
    cdq
    mov ecx, -1
    idiv ecx
    hlt)");
  EXPECT_EQ(r.r14, 0u);
}

TEST_F(AsmTest, PageFaultSetsCr2AndErrorCode) {
  m_->SetPte(0x30000, 0);            // not present
  m_->SetPte(0x31000, 0x31000 | 5);  // present, read-only, user
  Regs r = RunToHalt(R"(
    mov rax, [0x30010]
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x30010u);
  EXPECT_EQ(m_->Read64(r.rsp), 0u);  // error code: not present, read, sup
  EXPECT_EQ(m_->Read64(r.rsp + 8), kCodeAddr);
  // CR0.WP: a supervisor write to a read-only page faults.
  r = RunToHalt(R"(
    mov qword [0x31008], 1
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x31008u);
  EXPECT_EQ(m_->Read64(r.rsp), 3u);  // present | write
}

TEST_F(AsmTest, NxPageFaultsOnFetch) {
  m_->SetPte(0x32000, 0x32000 | 7 | (1ull << 63));
  ASSERT_TRUE(m_->memory().Fill(GuestAddr(0x32000), 0x90, 16).ok());
  Regs r = RunToHalt(R"(
    mov rax, 0x32000
    jmp rax)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x32000u);
  EXPECT_EQ(m_->Read64(r.rsp), 0x11u);  // present | instruction fetch
}

TEST_F(AsmTest, AccessedAndDirtyBits) {
  RunToHalt(R"(
    mov rax, [0x33000]
    mov qword [0x34000], 1
    hlt)");
  EXPECT_EQ(m_->Pte(0x33000) & 0x60, 0x20u);
  EXPECT_EQ(m_->Pte(0x34000) & 0x60, 0x60u);
}

TEST_F(AsmTest, InvlpgAndCr3Flush) {
  Regs r = RunToHalt(R"(
    mov rax, [0x35000]      ; fills the TLB
    mov qword [0x4000 + 0x35 * 8], 0x36007   ; remap 0x35000 -> 0x36000
    mov qword [0x36000], 99
    mov rbx, [0x35000]      ; stale TLB: still old page
    invlpg [0x35000]
    mov rcx, [0x35000]      ; 99
    mov qword [0x4000 + 0x35 * 8], 0x35007
    mov rdx, cr3
    mov cr3, rdx
    mov rsi, [0x35000]      ; old page again
    hlt)");
  EXPECT_EQ(r.rbx, 0u);
  EXPECT_EQ(r.rcx, 99u);
  EXPECT_EQ(r.rsi, 0u);
}

TEST_F(AsmTest, GeneralProtectionOnNonCanonical) {
  Regs r = RunToHalt(R"(
    mov rax, 0x0000800000000000
    mov rbx, [rax]
    hlt)");
  EXPECT_EQ(r.r14, 13u);
  EXPECT_EQ(m_->Read64(r.rsp), 0u);
}

TEST_F(AsmTest, GeneralProtectionOnJumpToNonCanonical) {
  Regs r = RunToHalt(R"(
    mov rax, 0x0000800000000000
    jmp rax)");
  EXPECT_EQ(r.r14, 13u);
  EXPECT_EQ(m_->Read64(r.rsp), 0u);
}

TEST_F(AsmTest, Int3AndIntN) {
  Regs r = RunToHalt("int3\nhlt");
  EXPECT_EQ(r.r14, 3u);
  EXPECT_EQ(m_->Read64(r.rsp), kCodeAddr + 1);  // trap: after INT3
  r = RunToHalt("int 0x80\nhlt");
  EXPECT_EQ(r.r14, 0x80u);
  EXPECT_EQ(m_->Read64(r.rsp), kCodeAddr + 2);
}

TEST_F(AsmTest, IretqReturnsFromHandler) {
  // Point vector 0x40 at a handler that returns.
  Regs r = RunToHalt(R"(
    lea rax, [rel handler]
    mov word [0x6000 + 0x40*16], ax
    shr rax, 16
    mov word [0x6000 + 0x40*16 + 6], ax
    mov rbx, rsp
    int 0x40
    mov rcx, rsp
    hlt
  handler:
    mov rdx, 0x77
    iretq)");
  EXPECT_EQ(r.rdx, 0x77u);
  EXPECT_EQ(r.rcx, r.rbx);
  EXPECT_EQ(r.r14, 0u);
}

TEST_F(AsmTest, UserModeSyscallAndFaults) {
  // Enter CPL 3 with IRETQ, make a SYSCALL back to CPL 0, then from user
  // mode execute a privileged instruction (#GP on the RSP0 stack).
  ASSERT_TRUE(m_->vcpu()
                  .SetMsrs({{kMsrStar, (uint64_t{0x23} << 48) |
                                           (uint64_t{kKernelCs} << 32)},
                            {kMsrSyscallMask, 0x200}})
                  .ok());
  Regs r = RunToHalt(R"(
    lea rax, [rel kernel_entry]
    mov ecx, 0xc0000082
    mov rdx, rax
    shr rdx, 32
    wrmsr
    push 0x2b                 ; SS
    push 0x70000              ; RSP
    push 0x202                ; RFLAGS
    push 0x33                 ; CS
    lea rax, [rel user]
    push rax
    iretq
  user:
    mov r8, cs
    mov r9, rsp
    syscall
  after_sysret:
    mov r13, cs
    cli                       ; #GP: CPL 3 > IOPL 0
    hlt
  kernel_entry:
    mov r10, cs
    mov r11, r11
    mov r12, rcx
    o64 sysret)");
  EXPECT_EQ(r.r8, kUserCs);
  EXPECT_EQ(r.r9, 0x70000u);
  EXPECT_EQ(r.r10, kKernelCs);
  EXPECT_EQ(r.r13, kUserCs)
      << std::hex << m_->Read64(r.rsp) << " " << m_->Read64(r.rsp + 8)
      << " cr2 " << m_->sregs().cr2;
  EXPECT_EQ(r.r14, 13u);
  // The #GP was delivered on the TSS RSP0 stack with the user frame.
  EXPECT_EQ(r.rsp, kRsp0Top - 48);
  EXPECT_EQ(m_->Read64(r.rsp + 16), kUserCs);
  EXPECT_EQ(m_->Read64(r.rsp + 40), kUserDs);
  EXPECT_EQ(m_->sregs().cs.selector, kKernelCs);
}

TEST_F(AsmTest, UserAccessToSupervisorPageFaults) {
  m_->SetPte(0x37000, 0x37000 | 3);  // supervisor only
  Regs r = RunToHalt(R"(
    push 0x2b
    push 0x70000
    push 0x2
    push 0x33
    lea rax, [rel user]
    push rax
    iretq
  user:
    mov rax, [0x37000]
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->Read64(r.rsp), 5u);  // present | user
}

TEST_F(AsmTest, IstStack) {
  // Vector 2 uses IST1.
  m_->Write64(kIdtAddr + 2 * 16, m_->Read64(kIdtAddr + 2 * 16) | (1ull << 32));
  Regs r = RunToHalt("int 2\nhlt");
  EXPECT_EQ(r.r14, 2u);
  EXPECT_EQ(r.rsp, kIst1Top - 40);
}

TEST_F(AsmTest, CpuidModel) {
  Regs r = RunToHalt(R"(
    xor eax, eax
    cpuid
    mov r8, rbx
    mov r9, rdx
    mov r10, rcx
    mov eax, 1
    cpuid
    mov r11, rdx
    mov eax, 0x80000001
    cpuid
    hlt)");
  char vendor[13] = {};
  std::memcpy(vendor, &r.r8, 4);
  std::memcpy(vendor + 4, &r.r9, 4);
  std::memcpy(vendor + 8, &r.r10, 4);
  EXPECT_STREQ(vendor, kCpuVendor);
  EXPECT_NE(r.r11 & 1, 0u);           // FPU
  EXPECT_NE(r.r11 & (1u << 26), 0u);  // SSE2
  EXPECT_NE(r.rdx & (1u << 29), 0u);  // long mode
}

// CPUID.7:EBX.ERMS: Linux then clears and copies pages with REP STOSB and
// REP MOVSB (clear_page_erms, memcpy_erms), as the kernel's clear_page does
// here.
TEST_F(AsmTest, ErmsIsAdvertisedAndRepStosbClearsAPage) {
  m_->Write64(kDataAddr + 4096, 0x1122334455667788);
  Regs r = RunToHalt(R"(
    mov eax, 7
    xor ecx, ecx
    cpuid
    mov r8, rbx
    mov rdi, 0x20000
    mov rax, 0x4242424242424242
    mov rcx, 512
    rep stosq                 ; a page of 0x42
    mov rdi, 0x20000
    mov ecx, 4096
    xor eax, eax
    rep stosb                 ; clear_page_erms
    hlt)");
  EXPECT_NE(r.r8 & (1u << 9), 0u);  // CPUID.7:EBX.ERMS
  EXPECT_EQ(r.rcx, 0u);
  EXPECT_EQ(r.rdi, kDataAddr + 4096);
  for (uint64_t a = kDataAddr; a < kDataAddr + 4096; a += 8) {
    ASSERT_EQ(m_->Read64(a), 0u) << std::hex << a;
  }
  EXPECT_EQ(m_->Read64(kDataAddr + 4096), 0x1122334455667788u);
}

TEST_F(AsmTest, RdrandAndRdseedAreAdvertisedAndSetCarry) {
  Regs r = RunToHalt(R"(
    mov eax, 1
    cpuid
    mov r8, rcx
    mov eax, 7
    xor ecx, ecx
    cpuid
    mov r9, rbx
    mov rax, -1
    mov rbx, -1
    mov rcx, -1
    mov rdx, -1
    mov rsi, 0xffff0000ffff0000
    xor edi, edi              ; ZF=1, PF=1 before each: both get cleared
    rdrand rax
    setc dil                  ; bit 0: CF after the 64-bit RDRAND
    pushfq
    pop r10
    xor r11d, r11d
    rdrand ebx                ; 32-bit: the upper half is zeroed
    rdseed rcx
    rdseed edx
    rdrand si                 ; 16-bit: bits 16..63 are kept
    adc r11, 0
    hlt)");
  EXPECT_NE(r.r8 & (1u << 30), 0u);  // CPUID.1:ECX.RDRAND
  EXPECT_NE(r.r9 & (1u << 18), 0u);  // CPUID.7:EBX.RDSEED
  EXPECT_EQ(r.rdi, 1u);
  EXPECT_EQ(r.r10 & (kFlagZf | kFlagPf | kFlagSf | kFlagOf | kFlagAf), 0u);
  EXPECT_EQ(r.r11, 1u);
  EXPECT_EQ(r.rbx >> 32, 0u);
  EXPECT_EQ(r.rdx >> 32, 0u);
  EXPECT_EQ(r.rsi & ~0xffffull, 0xffff0000ffff0000ull & ~0xffffull);
  // Four 64-bit draws that all came out all-ones, or equal, mean the
  // registers were not written (odds about 2^-64 otherwise).
  EXPECT_NE(r.rax, ~0ull);
  EXPECT_NE(r.rcx, ~0ull);
  EXPECT_NE(r.rax, r.rcx);
}

TEST_F(AsmTest, RdpidIsUndefined) {
  Regs r = RunToHalt(R"(
    rdpid rax
    hlt)");
  EXPECT_EQ(r.r14, 6u);  // #UD
}

TEST_F(AsmTest, MsrsAndUnknownMsrFaults) {
  Regs r = RunToHalt(R"(
    mov ecx, 0xc0000100       ; FS base
    mov eax, 0x20000
    xor edx, edx
    wrmsr
    mov qword [0x20000], 1234
    mov rbx, [fs:0]
    mov ecx, 0xc0000102
    mov eax, 0x1000
    wrmsr
    swapgs
    rdgsbase_emul:
    mov ecx, 0xc0000101
    rdmsr
    mov rsi, rax
    mov ecx, 0x12345
    rdmsr                     ; #GP(0)
    hlt)");
  EXPECT_EQ(r.rbx, 1234u);
  EXPECT_EQ(r.rsi, 0x1000u);
  EXPECT_EQ(r.r14, 13u);
  EXPECT_EQ(*m_->vcpu().GetMsr(kMsrKernelGsBase), 0u);
}

TEST_F(AsmTest, RdtscIsMonotonic) {
  Regs r = RunToHalt(R"(
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov rbx, rax
    rdtscp
    shl rdx, 32
    or rax, rdx
    sub rax, rbx
    hlt)");
  EXPECT_LT(static_cast<int64_t>(r.rax), int64_t{1} << 40);
  EXPECT_GE(static_cast<int64_t>(r.rax), 0);
}

TEST_F(AsmTest, PageCrossingAccesses) {
  m_->SetPte(0x39000, 0);  // 0x38000 mapped, 0x39000 not
  Regs r = RunToHalt(R"(
    mov rbx, 0x37ffc
    mov rax, 0x1122334455667788
    mov [rbx], rax            ; split across 0x37000/0x38000: fine
    mov rcx, [rbx]
    mov rdx, 0x38ffc
    mov qword [rdx], 1        ; second page not present: #PF, CR2 = 0x39000
    hlt)");
  EXPECT_EQ(r.rcx, 0x1122334455667788u);
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x39000u);
  EXPECT_EQ(m_->Read64(r.rsp), 2u);  // not present, write
  EXPECT_EQ(m_->memory().ReadObj<uint32_t>(GuestAddr(0x38ffc)).value(), 0u);
}

TEST_F(AsmTest, InstructionCrossingIntoUnmappedPageFaults) {
  m_->SetPte(0x3b000, 0);
  // mov rax, imm64 with its last bytes on the unmapped page.
  const uint8_t code[] = {0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE(m_->memory().Write(GuestAddr(0x3affc), code).ok());
  Regs r = RunToHalt(R"(
    mov rax, 0x3affc
    jmp rax)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x3b000u);
  EXPECT_EQ(m_->Read64(r.rsp), 0x10u);  // not present, instruction fetch
  EXPECT_EQ(m_->Read64(r.rsp + 8), 0x3affcu);
}

TEST_F(AsmTest, FaultDuringDeliveryIsDoubleFault) {
  // #PF handler's stack is unmapped: delivering #PF faults -> #DF, which
  // uses IST1 so it can be delivered.
  m_->Write64(kIdtAddr + 8 * 16, m_->Read64(kIdtAddr + 8 * 16) | (1ull << 32));
  Regs r = RunToHalt(R"(
    mov rsp, 0x3c100
    mov qword [0x4000 + 0x3c * 8], 0    ; unmap the stack page
    invlpg [0x3c000]
    mov rax, [0x3d0000 + 0x200000]      ; 2 MiB page beyond RAM: MMIO, ok
    mov rax, [0]                        ; #PF on NULL; push faults -> #DF
    hlt)");
  EXPECT_EQ(r.r14, 8u);
  EXPECT_EQ(r.rsp, kIst1Top - 48);
  EXPECT_EQ(m_->Read64(r.rsp), 0u);  // #DF error code
}

TEST(TcgVcpu, KickInterruptsInfiniteLoop) {
  if (!Assemble("nop").ok()) GTEST_SKIP() << "nasm is not installed";
  auto m = *FlatMachine::Create();
  ASSERT_TRUE(m->LoadCode(*Assemble("l: inc rax\njmp l")).ok());
  std::thread kicker([&] { m->vcpu().Kick(); });
  auto exit = m->Run();
  kicker.join();
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->kind, Kind::kInterrupted);
  // Resumable: RIP is still inside the loop.
  m->vcpu().Kick();
  EXPECT_EQ(m->Run()->kind, Kind::kInterrupted);
}

TEST(TcgVcpu, RepStringIsInterruptibleAndResumes) {
  if (!Assemble("nop").ok()) GTEST_SKIP() << "nasm is not installed";
  auto m = *FlatMachine::Create();
  ASSERT_TRUE(m->LoadCode(*Assemble(R"(
    mov rdi, 0x40000
    mov rcx, 0x30000
    mov al, 7
    rep stosb
    hlt)"))
                  .ok());
  m->vcpu().set_instruction_limit(5);
  auto exit = m->Run();
  EXPECT_EQ(exit->kind, Kind::kInterrupted);
  Regs r = m->regs();
  EXPECT_GT(r.rcx, 0u);              // in the middle of the REP
  EXPECT_EQ(r.rip, kCodeAddr + 12);  // still on the REP STOSB
  m->vcpu().set_instruction_limit(0);
  exit = m->Run();
  EXPECT_EQ(exit->kind, Kind::kHalt);
  EXPECT_EQ(m->regs().rcx, 0u);
  EXPECT_EQ(m->memory().ReadObj<uint8_t>(GuestAddr(0x6ffff)).value(), 7);
}

TEST(TcgVcpu, TripleFaultWithoutIdtShutsDown) {
  if (!Assemble("nop").ok()) GTEST_SKIP() << "nasm is not installed";
  auto m = *FlatMachine::Create({.install_idt = false});
  ASSERT_TRUE(m->LoadCode(*Assemble("ud2")).ok());
  auto exit = m->Run();
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->kind, Kind::kShutdown);
}

TEST(TcgVcpu, FetchOutsideRamIsInternalError) {
  if (!Assemble("nop").ok()) GTEST_SKIP() << "nasm is not installed";
  auto m = *FlatMachine::Create();
  ASSERT_TRUE(m->LoadCode(*Assemble("mov rax, 0xc0000000\njmp rax")).ok());
  auto exit = m->Run();
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->kind, Kind::kInternalError);
  EXPECT_EQ(exit->rip, 0xc0000000u);
}

TEST_F(AsmTest, SelfModifyingCode) {
  Regs r = RunToHalt(R"(
    mov ecx, 3
  again:
    call patched
    add rbx, rax
    mov byte [rel patched + 1], 5   ; mov eax, 5 next time
    loop again
    hlt
  patched:
    mov eax, 1
    ret)");
  EXPECT_EQ(r.rbx, 1u + 5u + 5u);
}

TEST_F(AsmTest, VmmWritesCodeBetweenRuns) {
  RunToHalt("mov eax, 1\nhlt");
  EXPECT_EQ(m_->regs().rax, 1u);
  // Same address, new bytes written by the VMM directly.
  Regs r = RunToHalt("mov eax, 2\nhlt");
  EXPECT_EQ(r.rax, 2u);
}

class FakeIrq : public InterruptSource {
 public:
  bool HasPendingInterrupt() override { return pending; }
  int AcknowledgeInterrupt() override {
    pending = false;
    return 0x30;
  }
  bool pending = false;
};

TEST_F(AsmTest, InterruptAfterStiShadow) {
  FakeIrq irq;
  irq.pending = true;
  m_->vcpu().set_interrupt_source(&irq);
  Regs r = RunToHalt(R"(
    mov rbx, 1
    sti
    mov rbx, 2        ; runs in the STI shadow
    mov rbx, 3
    hlt)");
  m_->vcpu().set_interrupt_source(nullptr);
  EXPECT_EQ(r.r14, 0x30u);
  EXPECT_EQ(r.rbx, 2u);
  EXPECT_FALSE(irq.pending);
}

TEST(TcgVcpu, LockedIncrementsFromTwoThreadsAreExact) {
  if (!Assemble("nop").ok()) GTEST_SKIP() << "nasm is not installed";
  auto m = *FlatMachine::Create({.num_vcpus = 2});
  ASSERT_TRUE(m->LoadCode(*Assemble(R"(
    mov ecx, 200000
    mov rbx, 0x20000
    mov edx, 1
  l:
    lock inc qword [rbx]
    mov rax, rdx
    lock xadd [rbx + 8], rax
    loop l
    hlt)"))
                  .ok());
  VcpuExit e0, e1;
  std::thread t0([&] { e0 = *m->Run(0); });
  std::thread t1([&] { e1 = *m->Run(1); });
  t0.join();
  t1.join();
  EXPECT_EQ(e0.kind, Kind::kHalt);
  EXPECT_EQ(e1.kind, Kind::kHalt);
  EXPECT_EQ(m->Read64(0x20000), 400000u);
  EXPECT_EQ(m->Read64(0x20008), 400000u);
}

}  // namespace
}  // namespace skiff::tcg::testing
