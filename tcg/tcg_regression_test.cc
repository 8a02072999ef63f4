// Regression tests for divergences the differential harness (tcg/difftest)
// found between the interpreter and the host CPU, one test per fix.
#include <cstdint>

#include "gtest/gtest.h"
#include "tcg/testing/asm_fixture.h"

namespace skiff::tcg::testing {
namespace {

// A 32-bit shift, rotate or double shift by a masked count of 0 leaves the
// flags alone but still writes the 32-bit register, clearing bits 63:32.
TEST_F(AsmTest, ThirtyTwoBitShiftByZeroZeroExtends) {
  Regs r = RunToHalt(R"(
    mov rax, 0xffffffff12345678
    mov rbx, 0xffffffff12345678
    mov rdx, 0xffffffff12345678
    mov rsi, 0xffffffff12345678
    mov rdi, 0xffffffff12345678
    mov r8, 0xffffffff12345678
    mov r9, 0xffffffff12345678
    mov ecx, 32               ; masks to 0 for 32-bit operands
    shl eax, cl
    rol ebx, cl
    shld edx, esi, cl
    shrd esi, edi, 0
    sar edi, 32
    mov cl, 64                ; a 64-bit shift by 0 keeps all 64 bits
    shl r8, cl
    mov cl, 0
    shl r9w, cl               ; 16-bit: upper bits untouched
    hlt)");
  EXPECT_EQ(r.rax, 0x12345678u);
  EXPECT_EQ(r.rbx, 0x12345678u);
  EXPECT_EQ(r.rdx, 0x12345678u);
  EXPECT_EQ(r.rsi, 0x12345678u);
  EXPECT_EQ(r.rdi, 0x12345678u);
  EXPECT_EQ(r.r8, 0xffffffff12345678u);
  EXPECT_EQ(r.r9, 0xffffffff12345678u);
}

TEST_F(AsmTest, ShiftByZeroLeavesFlags) {
  Regs r = RunToHalt(R"(
    mov eax, 1
    cmp eax, 2                ; CF=1, SF=1
    mov ecx, 0
    shl eax, cl
    pushfq
    pop rbx
    hlt)");
  EXPECT_NE(r.rbx & 1, 0u);     // CF
  EXPECT_NE(r.rbx & 0x80, 0u);  // SF
}

// XADD with the same register as source and destination: the sum is
// written last (SDM vol. 2: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP).
TEST_F(AsmTest, XaddSameRegisterKeepsTheSum) {
  Regs r = RunToHalt(R"(
    mov rax, 5
    xadd rax, rax
    mov ebx, 0x80000000
    xadd ebx, ebx             ; 32-bit: 0, CF=1
    setc cl
    mov edx, 0x0304
    xadd dh, dh
    mov esi, 7
    mov edi, 2
    xadd esi, edi             ; different registers: esi = 9, edi = 7
    hlt)");
  EXPECT_EQ(r.rax, 10u);
  EXPECT_EQ(r.rbx, 0u);
  EXPECT_EQ(r.rcx & 0xff, 1u);
  EXPECT_EQ(r.rdx, 0x0604u);
  EXPECT_EQ(r.rsi, 9u);
  EXPECT_EQ(r.rdi, 7u);
}

// A LOCKed access that splits across pages and faults on the second one
// reports that page's first byte in CR2 (like any split access).
TEST_F(AsmTest, SplitLockedAccessFaultReportsSecondPageStart) {
  m_->SetPte(0x39000, 0);  // 0x38000 mapped, 0x39000 not
  Regs r = RunToHalt(R"(
    mov rbx, 0x38ffe
    lock add dword [rbx], 1
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x39000u);
  EXPECT_EQ(m_->Read64(r.rsp), 2u);  // not present, write
  EXPECT_EQ(m_->memory().ReadObj<uint16_t>(GuestAddr(0x38ffe)).value(), 0u);
}

// A read-modify-write faults as a write: W=1 in the #PF error code even
// when the page is not present (the read never happens first).
TEST_F(AsmTest, ReadModifyWritePageFaultIsAWrite) {
  m_->SetPte(0x30000, 0);  // not present
  Regs r = RunToHalt(R"(
    add qword [0x30010], 1
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->sregs().cr2, 0x30010u);
  EXPECT_EQ(m_->Read64(r.rsp), 2u);  // not present | write

  r = RunToHalt(R"(
    mov rbx, 0x30ffc
    not dword [rbx]
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->Read64(r.rsp), 2u);

  // A plain read of the same page still reports W=0.
  r = RunToHalt(R"(
    mov rax, [0x30010]
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->Read64(r.rsp), 0u);
}

// A shift of memory by a masked count of 0 is still checked as a write.
TEST_F(AsmTest, MemoryShiftByZeroFaultsAsAWrite) {
  m_->SetPte(0x30000, 0);  // not present
  Regs r = RunToHalt(R"(
    mov cl, 32
    shr dword [0x30010], cl
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->Read64(r.rsp), 2u);  // not present | write
  m_->SetPte(0x30000, 0x30000 | 5);  // present, read-only
  r = RunToHalt(R"(
    rol byte [0x30010], 0x40
    hlt)");
  EXPECT_EQ(r.r14, 14u);
  EXPECT_EQ(m_->Read64(r.rsp), 3u);  // present | write
}

// The direct (non-faulting) read-modify-write path still updates memory
// and the D bit.
TEST_F(AsmTest, ReadModifyWriteUpdatesMemoryAndDirtyBit) {
  m_->SetPte(0x33000, 0x33000 | 7);  // present, writable, user, A=D=0
  m_->Write64(0x33008, 40);
  Regs r = RunToHalt(R"(
    add qword [0x33008], 2
    mov rax, [0x33008]
    hlt)");
  EXPECT_EQ(r.rax, 42u);
  EXPECT_NE(m_->Pte(0x33000) & 0x40, 0u);  // dirty
}

}  // namespace
}  // namespace skiff::tcg::testing
