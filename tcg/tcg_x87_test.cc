// x87: arithmetic, compares, loads/stores, transcendental and control
// instructions run natively and under the interpreter on the same inputs
// (NativeDiffTest) under several rounding/precision controls; plus #NM,
// #MF (pending unmasked exception), stack overflow and FNSTENV/FLDENV.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tcg/simd_test_util.h"

namespace skiff::tcg::testing {
namespace {

class X87Test : public NativeDiffTest {
 public:
  void RunOps(const std::vector<std::string>& ops, uint64_t seed);
};

constexpr uint64_t kValues[] = {
    0x0000000000000000, 0x8000000000000000, 0x3ff0000000000000,
    0xbff0000000000000, 0x3ff8000000000000, 0x4008000000000000,
    0x0000000000000001, 0x7fefffffffffffff, 0x7ff0000000000000,
    0xfff0000000000000, 0x7ff8000000000000, 0x7ff4000000000000,
    0x3fb999999999999a, 0x41e0000000000000, 0xc3e0000000000000,
    0x43e0000000000000, 0x3fe0000000000000, 0xbfd5555555555555,
    0x400921fb54442d18, 0x4415af1d78b58c40, 0x40f86a0000000000,
    0xc0c3880000000000, 0x3e112e0be826d695, 0x4197d78400000000};

std::vector<uint8_t> PairInput(int pairs, uint64_t seed) {
  std::vector<uint8_t> in;
  for (int k = 0; k < 2 * pairs; ++k) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t r = seed >> 17;
    Put(&in, (r & 7) == 0 ? (r * 0x9e3779b97f4a7c15ull) & ~(1ull << 62)
                          : kValues[r % std::size(kValues)]);
  }
  in.resize(0x1000);
  // Control words: RN/64-bit, RZ, RD, RN/53-bit; all exceptions masked.
  for (uint32_t cw : {0x37fu, 0xf7fu, 0x77fu, 0x27fu}) Put(&in, cw);
  return in;
}

constexpr int kPairs = 16;
constexpr int kModes = 4;
constexpr int kRecord = 48;

// For each pair (a, b) and control word: ST0 = a, ST1 = b, run `op`, then
// record FSW, up to three stack values, RFLAGS and the scratch qword at
// [rsi+40] the op may have written.
std::string PairLoop(const std::vector<std::string>& ops) {
  std::string s = R"(
    lea rsi, [rdi + 0x8000]
    xor edx, edx
  .mode:
    xor ecx, ecx
  .pair:
)";
  for (const std::string& op : ops) {
    absl::StrAppend(&s, R"(
    fninit
    fldcw [rdi + 0x1000 + rdx]
    fld qword [rdi + rcx + 8]
    fld qword [rdi + rcx]
    )",
                    op, R"(
    fnstsw [rsi + 30]
    fstp tword [rsi]
    fstp tword [rsi + 10]
    fstp tword [rsi + 20]
    pushfq
    pop rax
    and eax, 0x8d5
    mov [rsi + 32], rax
    add rsi, 48
)");
  }
  absl::StrAppend(&s, R"(
    add ecx, 16
    cmp ecx, )",
                  kPairs * 16, R"(
    jb .pair
    add edx, 4
    cmp edx, )",
                  kModes * 4, R"(
    jb .mode
)");
  return s;
}

void X87Test::RunOps(const std::vector<std::string>& ops, uint64_t seed) {
  const size_t out =
      static_cast<size_t>(kPairs) * kModes * ops.size() * kRecord;
  ASSERT_LE(out, kBlockSize - kOutOffset);
  CompareWithHost(PairLoop(ops), PairInput(kPairs, seed), out);
}

TEST_F(X87Test, ArithmeticMatchesHost) {
  RunOps({"fadd st0, st1",
          "fsub st0, st1",
          "fsubr st0, st1",
          "fmul st0, st1",
          "fdiv st0, st1",
          "fdivr st0, st1",
          "fadd st1, st0",
          "fsub st1, st0",
          "fsubr st1, st0",
          "fdiv st1, st0",
          "fdivr st1, st0",
          "faddp st1, st0",
          "fsubp st1, st0",
          "fsubrp st1, st0",
          "fmulp st1, st0",
          "fdivp st1, st0",
          "fdivrp st1, st0",
          "fadd dword [rdi + rcx + 8]",
          "fsub qword [rdi + rcx + 8]",
          "fdivr qword [rdi + rcx + 8]",
          "fiadd dword [rdi + rcx + 8]",
          "fimul word [rdi + rcx + 8]",
          "fisubr dword [rdi + rcx + 12]",
          "fidiv word [rdi + rcx + 14]",
          "fchs",
          "fabs",
          "fsqrt",
          "frndint",
          "fprem",
          "fprem1",
          "fscale",
          "fxch st1",
          "fld st1",
          "fst st1",
          "fstp st1",
          "ffree st1",
          "fincstp",
          "fdecstp"},
         11);
}

TEST_F(X87Test, ComparesMatchHost) {
  RunOps({"fcom st1",
          "fcomp st1",
          "fcompp",
          "fucom st1",
          "fucomp st1",
          "fucompp",
          "fcomi st0, st1",
          "fucomi st0, st1",
          "fcomip st0, st1",
          "fucomip st0, st1",
          "ftst",
          "fxam",
          "fcom qword [rdi + rcx + 8]",
          "ficom dword [rdi + rcx + 8]",
          "fcomp dword [rdi + rcx + 8]",
          "fucomi st0, st1\n    fcmovb st0, st1",
          "fucomi st0, st1\n    fcmovnbe st0, st1",
          "fucomi st0, st1\n    fcmove st0, st1",
          "fucomi st0, st1\n    fcmovu st0, st1",
          "fucomi st0, st1\n    fcmovnu st0, st1"},
         12);
}

TEST_F(X87Test, LoadsAndStoresMatchHost) {
  RunOps({"fist dword [rsi + 40]",
          "fistp word [rsi + 40]",
          "fistp qword [rsi + 40]",
          "fisttp dword [rsi + 40]",
          "fisttp qword [rsi + 40]",
          "fisttp word [rsi + 40]",
          "fst dword [rsi + 40]",
          "fstp qword [rsi + 40]",
          "fld dword [rdi + rcx + 8]",
          "fild word [rdi + rcx + 8]",
          "fild dword [rdi + rcx + 8]",
          "fild qword [rdi + rcx + 8]",
          "fstp tword [rsi + 40]\n    fld tword [rsi + 40]",
          "fld1",
          "fldz",
          "fldpi",
          "fldl2e",
          "fldl2t",
          "fldlg2",
          "fldln2",
          "fnstcw [rsi + 40]\n    fnstsw ax\n    mov [rsi + 42], ax",
          "fnstenv [rdi + 0x7000]\n    mov eax, [rdi + 0x7000]\n"
          "    mov [rsi + 40], ax\n    mov eax, [rdi + 0x7008]\n"
          "    mov [rsi + 42], ax\n    fldenv [rdi + 0x7000]",
          "fnclex",
          "fwait"},
         13);
}

TEST_F(X87Test, TranscendentalsMatchHost) {
  RunOps({"fyl2x", "fyl2xp1", "fpatan", "f2xm1", "fsin", "fcos", "fptan",
          "fsincos", "fxtract"},
         14);
}

TEST_F(X87Test, NmWhenTsSet) {
  Regs r = RunToHalt(R"(
    mov rax, cr0
    or eax, 8
    mov cr0, rax
    mov r14, 0xdead
    fld1
    hlt)");
  EXPECT_EQ(r.r14, 7u);
  // FWAIT faults only with MP and TS (FlatMachine sets MP).
  r = RunToHalt(R"(
    mov rax, cr0
    or eax, 8
    mov cr0, rax
    mov r14, 0xdead
    fwait
    hlt)");
  EXPECT_EQ(r.r14, 7u);
}

TEST_F(X87Test, PendingUnmaskedExceptionRaisesMfOnNextWaitingInsn) {
  Regs r = RunToHalt(R"(
    fninit
    mov eax, 0x37b          ; ZM clear
    push rax
    fldcw [rsp]
    pop rax
    fld1
    fldz
    mov r14, 0xdead
    fdivp st1, st0          ; records ZE, ES, B; no fault yet
    fnstsw ax               ; control instruction: no fault
    mov ebx, eax
    fwait
    hlt)");
  EXPECT_EQ(r.r14, 16u);
  EXPECT_EQ(r.rbx & 0x8087, 0x8084u);  // B, ES, ZE
  // The destination and the stack are left unchanged.
  auto& f = m_->vcpu().cpu().s.fpu;
  EXPECT_EQ((f.fsw >> 11) & 7, 6);
  // FNCLEX clears it and execution continues.
  r = RunToHalt(R"(
    fninit
    mov eax, 0x37b
    push rax
    fldcw [rsp]
    pop rax
    fld1
    fldz
    fdiv st1, st0
    fnclex
    fld1
    mov r14, 0
    hlt)");
  EXPECT_EQ(r.r14, 0u);
}

TEST_F(X87Test, StackOverflowSetsIeSfC1) {
  Regs r = RunToHalt(R"(
    fninit
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fnstsw ax
    hlt)");
  EXPECT_EQ(r.rax & 0x0241, 0x0241u);  // C1, SF, IE
}

TEST_F(X87Test, FldenvRestoresControlAndTags) {
  Regs r = RunToHalt(R"(
    fninit
    fld1
    fldpi
    fnstenv [0x20000]
    fninit
    fldenv [0x20000]
    fnstcw [0x20100]
    movzx ebx, word [0x20100]   ; FNSTENV masked everything: 0x37f
    fstp qword [0x20108]
    mov rcx, [0x20108]
    fnstsw ax
    hlt)");
  EXPECT_EQ(r.rbx, 0x37fu);
  EXPECT_EQ(r.rcx, 0x400921fb54442d18u);
  EXPECT_EQ((r.rax >> 11) & 7, 7u);  // one left on the stack
}

// FNSTENV reports the address of the last non-control x87 instruction, here
// one in the middle of a 64-bit block.
TEST_F(X87Test, LastInstructionPointerIsThatInstructionsAddress) {
  Regs r = RunToHalt(R"(
    fninit                    ; 2 bytes
    nop
    fld1                      ; at the block's start + 3
    fnstenv [0x20000]
    mov eax, [0x2000c]        ; FIP
    hlt)");
  EXPECT_EQ(r.rax, kCodeAddr + 3);
}

}  // namespace
}  // namespace skiff::tcg::testing
