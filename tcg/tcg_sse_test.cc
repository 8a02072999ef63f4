// SSE/SSE2/MMX: every family runs natively on the host and under the
// interpreter on the same inputs (NativeDiffTest) and must produce the same
// bytes, MXCSR flags and RFLAGS; plus the fault behaviour (#UD, #NM, #GP
// alignment, #XM), LDMXCSR reserved bits, FXSAVE/FXRSTOR, CPUID bits.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tcg/cpuid_msr.h"
#include "tcg/simd_test_util.h"

namespace skiff::tcg::testing {
namespace {

class SseTest : public NativeDiffTest {};

uint64_t Lcg(uint64_t* s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return *s >> 16;
}

constexpr uint32_t kFloats[] = {0x00000000, 0x80000000, 0x3f800000, 0xbf800000,
                                0x3fc00000, 0x40400000, 0x00000001, 0x80400000,
                                0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00000,
                                0x7fa00000, 0x71000000, 0x0d000000, 0x3dcccccd,
                                0x4b000001, 0xcf000000, 0x5f000000, 0x4effffff};
constexpr uint64_t kDoubles[] = {
    0x0000000000000000, 0x8000000000000000, 0x3ff0000000000000,
    0xbff0000000000000, 0x3ff8000000000000, 0x4008000000000000,
    0x0000000000000001, 0x8008000000000000, 0x7fefffffffffffff,
    0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000,
    0x7ff4000000000000, 0x3fb999999999999a, 0x41e0000000000000,
    0xc3e0000000000000, 0x43e0000000000000, 0x3ff0000000000001,
    0x47efffffe0000000, 0x36a0000000000000};

// `n` 16-byte vectors: even ones float lanes, odd ones double lanes, drawn
// from the special values above plus random bits.
std::vector<uint8_t> FloatVectors(int n, uint64_t seed) {
  std::vector<uint8_t> v;
  for (int k = 0; k < n; ++k) {
    for (int lane = 0; lane < 4; ++lane) {
      if (k % 2 == 0) {
        const uint64_t r = Lcg(&seed);
        const uint32_t x = (r & 7) == 0 ? static_cast<uint32_t>(Lcg(&seed))
                                        : kFloats[r % std::size(kFloats)];
        Put(&v, x);
      } else if (lane < 2) {
        const uint64_t r = Lcg(&seed);
        const uint64_t x = (r & 7) == 0 ? Lcg(&seed) * 0x9e3779b97f4a7c15ull
                                        : kDoubles[r % std::size(kDoubles)];
        Put(&v, x);
      }
    }
  }
  return v;
}

// Loops over 16 operand pairs at [rdi] and the MXCSR control values at
// [rdi+0x1000], running each instruction of `ops` (operands xmm0, xmm1 or
// a memory source [rdi+rcx+16]) and storing xmm0 and MXCSR.
std::string PairLoop(const std::vector<std::string>& ops, int modes) {
  std::string s = R"(
    lea rsi, [rdi + 0x8000]
    xor edx, edx
  .mode:
    xor ecx, ecx
  .pair:
)";
  for (const std::string& op : ops) {
    absl::StrAppend(&s, "    ldmxcsr [rdi + 0x1000 + rdx]\n",
                    "    movaps xmm0, [rdi + rcx]\n",
                    "    movaps xmm1, [rdi + rcx + 16]\n", "    ", op, "\n",
                    "    movaps [rsi], xmm0\n", "    stmxcsr [rsi + 16]\n",
                    "    add rsi, 32\n");
  }
  absl::StrAppend(&s, R"(
    add ecx, 32
    cmp ecx, 512
    jb .pair
    add edx, 4
    cmp edx, )",
                  modes * 4, R"(
    jb .mode
)");
  return s;
}

std::vector<uint8_t> PairInput(uint64_t seed) {
  std::vector<uint8_t> in = FloatVectors(32, seed);
  in.resize(0x1000);
  // RN, RD, RU, RZ, and RN with FTZ+DAZ; all masked.
  for (uint32_t m : {0x1f80u, 0x3f80u, 0x5f80u, 0x7f80u, 0x9fc0u}) Put(&in, m);
  return in;
}

TEST_F(SseTest, FloatArithmeticMatchesHost) {
  std::vector<std::string> ops;
  for (const char* sfx : {"ps", "pd", "ss", "sd"}) {
    for (const char* op : {"add", "sub", "mul", "div", "min", "max", "sqrt"}) {
      ops.push_back(absl::StrCat(op, sfx, " xmm0, xmm1"));
    }
    ops.push_back(absl::StrCat("add", sfx, " xmm0, [rdi + rcx + 16]"));
  }
  ops.push_back("rcpps xmm0, xmm1");
  ops.push_back("rsqrtps xmm0, xmm1");
  ops.push_back("rcpss xmm0, xmm1");
  ops.push_back("rsqrtss xmm0, xmm1");
  const size_t out = 5 * 16 * ops.size() * 32;
  CompareWithHost(PairLoop(ops, 5), PairInput(1), out);
}

TEST_F(SseTest, ComparesMatchHost) {
  std::vector<std::string> ops;
  for (const char* sfx : {"ps", "pd", "ss", "sd"}) {
    for (int imm = 0; imm < 8; ++imm) {
      ops.push_back(absl::StrCat("cmp", sfx, " xmm0, xmm1, ", imm));
    }
  }
  // (U)COMISS/SD: RFLAGS into the low quadword of xmm0.
  for (const char* op : {"comiss", "ucomiss", "comisd", "ucomisd"}) {
    ops.push_back(absl::StrCat(op,
                               " xmm0, xmm1\n    pushfq\n    pop rax\n"
                               "    and eax, 0x8d5\n    movq xmm0, rax"));
  }
  const size_t out = 2 * 16 * ops.size() * 32;
  CompareWithHost(PairLoop(ops, 2), PairInput(2), out);
}

TEST_F(SseTest, ConversionsMatchHost) {
  std::vector<std::string> ops = {
      "cvtps2pd xmm0, xmm1",
      "cvtpd2ps xmm0, xmm1",
      "cvtss2sd xmm0, xmm1",
      "cvtsd2ss xmm0, xmm1",
      "cvtdq2ps xmm0, xmm1",
      "cvtps2dq xmm0, xmm1",
      "cvttps2dq xmm0, xmm1",
      "cvtdq2pd xmm0, xmm1",
      "cvtpd2dq xmm0, xmm1",
      "cvttpd2dq xmm0, xmm1",
      "cvtps2pd xmm0, [rdi + rcx + 16]",
      "cvtdq2pd xmm0, [rdi + rcx + 16]",
  };
  for (const char* op : {"cvtss2si", "cvttss2si", "cvtsd2si", "cvttsd2si"}) {
    ops.push_back(absl::StrCat(op, " eax, xmm1\n    movq xmm0, rax"));
    ops.push_back(absl::StrCat(op, " rax, xmm1\n    movq xmm0, rax"));
  }
  // Integer sources: the first quadword of the pair's b vector.
  for (const char* op : {"cvtsi2ss", "cvtsi2sd"}) {
    ops.push_back(absl::StrCat("movq rax, xmm1\n    ", op, " xmm0, eax"));
    ops.push_back(absl::StrCat("movq rax, xmm1\n    ", op, " xmm0, rax"));
    ops.push_back(absl::StrCat(op, " xmm0, dword [rdi + rcx + 16]"));
  }
  const size_t out = 5 * 16 * ops.size() * 32;
  CompareWithHost(PairLoop(ops, 5), PairInput(3), out);
}

TEST_F(SseTest, MovesShufflesAndLogicMatchHost) {
  std::vector<std::string> ops = {
      "movss xmm0, xmm1",
      "movsd xmm0, xmm1",
      "movss xmm0, [rdi + rcx + 20]",
      "movsd xmm0, [rdi + rcx + 24]",
      "movups xmm0, [rdi + rcx + 4]",
      "movupd xmm0, [rdi + rcx + 8]",
      "movdqu xmm0, [rdi + rcx + 3]",
      "movapd xmm0, xmm1",
      "movdqa xmm0, [rdi + rcx + 16]",
      "movhlps xmm0, xmm1",
      "movlhps xmm0, xmm1",
      "movlps xmm0, [rdi + rcx + 16]",
      "movhps xmm0, [rdi + rcx + 16]",
      "movlpd xmm0, [rdi + rcx + 24]",
      "movhpd xmm0, [rdi + rcx + 24]",
      "movq xmm0, xmm1",
      "movq xmm0, [rdi + rcx + 16]",
      "movd xmm0, [rdi + rcx + 16]",
      "movq rax, xmm1\n    movq xmm0, rax",
      "movd eax, xmm1\n    movd xmm0, eax",
      "movmskps eax, xmm1\n    movd xmm0, eax",
      "movmskpd eax, xmm1\n    movd xmm0, eax",
      "shufps xmm0, xmm1, 0x1b",
      "shufps xmm0, xmm1, 0xe4",
      "shufpd xmm0, xmm1, 1",
      "shufpd xmm0, xmm1, 2",
      "unpcklps xmm0, xmm1",
      "unpckhps xmm0, xmm1",
      "unpcklpd xmm0, xmm1",
      "unpckhpd xmm0, xmm1",
      "andps xmm0, xmm1",
      "andnps xmm0, xmm1",
      "orps xmm0, xmm1",
      "xorpd xmm0, xmm1",
      "andpd xmm0, [rdi + rcx + 16]",
      "movaps [rsi], xmm1\n    movlps [rsi], xmm0\n    movaps xmm0, [rsi]",
      "movaps [rsi], xmm1\n    movhpd [rsi + 8], xmm0\n    movaps xmm0, [rsi]",
      "movaps [rsi], xmm1\n    movss [rsi], xmm0\n    movaps xmm0, [rsi]",
      "movaps [rsi], xmm1\n    movq [rsi + 8], xmm0\n    movaps xmm0, [rsi]",
      "movntps [rsi], xmm1\n    movaps xmm0, [rsi]",
      "movnti [rsi], rcx\n    movaps xmm0, [rsi]",
      "movups [rsi], xmm1\n    movaps xmm0, [rsi]",
  };
  const size_t out = 1 * 16 * ops.size() * 32;
  CompareWithHost(PairLoop(ops, 1), PairInput(4), out);
}

TEST_F(SseTest, PackedIntegerMatchesHost) {
  static const char* kOps[] = {
      "paddb",     "paddw",     "paddd",     "paddq",     "psubb",
      "psubw",     "psubd",     "psubq",     "paddusb",   "paddusw",
      "paddsb",    "paddsw",    "psubusb",   "psubusw",   "psubsb",
      "psubsw",    "pcmpeqb",   "pcmpeqw",   "pcmpeqd",   "pcmpgtb",
      "pcmpgtw",   "pcmpgtd",   "pand",      "pandn",     "por",
      "pxor",      "punpcklbw", "punpcklwd", "punpckldq", "punpckhbw",
      "punpckhwd", "punpckhdq", "packsswb",  "packuswb",  "packssdw",
      "pmullw",    "pmulhw",    "pmulhuw",   "pmuludq",   "pmaddwd",
      "pminub",    "pmaxub",    "pminsw",    "pmaxsw",    "pavgb",
      "pavgw",     "psadbw",    "psllw",     "pslld",     "psllq",
      "psrlw",     "psrld",     "psrlq",     "psraw",     "psrad",
  };
  std::vector<std::string> ops;
  for (const char* op : kOps) {
    ops.push_back(absl::StrCat(op, " xmm0, xmm1"));
    // MMX form: mm0 = low half of xmm0, mm1 = low half of xmm1.
    ops.push_back(absl::StrCat("movdq2q mm0, xmm0\n    movdq2q mm1, xmm1\n    ",
                               op, " mm0, mm1\n    movq2dq xmm0, mm0"));
  }
  ops.push_back("punpcklqdq xmm0, xmm1");
  ops.push_back("punpckhqdq xmm0, [rdi + rcx + 16]");
  ops.push_back("paddb xmm0, [rdi + rcx + 16]");
  ops.push_back(
      "movdq2q mm0, xmm0\n    paddw mm0, [rdi + rcx + 20]\n"
      "    movq2dq xmm0, mm0");
  // Small shift counts by register: the low byte of xmm1 masked to 0..31.
  for (const char* op : {"psllw", "psrld", "psraw", "psrad", "psllq"}) {
    ops.push_back(
        absl::StrCat("movd eax, xmm1\n    and eax, 31\n    movd "
                     "xmm2, eax\n    ",
                     op, " xmm0, xmm2"));
  }
  for (const char* op :
       {"psllw xmm0, 3",
        "psrlw xmm0, 15",
        "psraw xmm0, 7",
        "pslld xmm0, 31",
        "psrld xmm0, 1",
        "psrad xmm0, 40",
        "psllq xmm0, 33",
        "psrlq xmm0, 63",
        "pslldq xmm0, 5",
        "psrldq xmm0, 11",
        "pslldq xmm0, 16",
        "pshufd xmm0, xmm1, 0x4e",
        "pshuflw xmm0, xmm1, 0x1b",
        "pshufhw xmm0, [rdi + rcx + 16], 0xd8",
        "pinsrw xmm0, ecx, 5",
        "pextrw eax, xmm1, 6\n    movd xmm0, eax",
        "pmovmskb eax, xmm1\n    movd xmm0, eax",
        "movdq2q mm1, xmm1\n    pmovmskb eax, mm1\n    movd xmm0, eax",
        "movdq2q mm1, xmm1\n    pshufw mm0, mm1, 0x39\n    movq2dq xmm0, mm0",
        "movdq2q mm0, xmm0\n    psrlq mm0, 9\n    movq2dq xmm0, mm0",
        "movdq2q mm0, xmm0\n    pinsrw mm0, ecx, 2\n    movq2dq xmm0, mm0",
        "movdq2q mm1, xmm1\n    pextrw eax, mm1, 3\n    movd xmm0, eax",
        "movd mm0, ecx\n    movq mm1, mm0\n    movq rax, mm1\n    emms\n"
        "    movq xmm0, rax"}) {
    ops.push_back(op);
  }
  const size_t out = 1 * 16 * ops.size() * 32;
  CompareWithHost(PairLoop(ops, 1), PairInput(5), out);
}

// ---- Faults -----------------------------------------------------------------

TEST_F(SseTest, UdWithoutOsfxsr) {
  Regs r = RunToHalt(R"(
    mov r14, 0xdead
    xorps xmm0, xmm0
    hlt)");
  EXPECT_EQ(r.r14, 6u);
}

TEST_F(SseTest, NmWhenTsSet) {
  Regs r = RunToHalt(std::string(kSimdPrologue) + R"(
    mov rax, cr0
    or eax, 8
    mov cr0, rax
    mov r14, 0xdead
    addps xmm0, xmm1
    hlt)");
  EXPECT_EQ(r.r14, 7u);
  // CLTS clears TS, after which SSE works.
  r = RunToHalt(std::string(kSimdPrologue) + R"(
    mov rax, cr0
    or eax, 8
    mov cr0, rax
    clts
    mov r14, 0
    addps xmm0, xmm1
    hlt)");
  EXPECT_EQ(r.r14, 0u);
}

TEST_F(SseTest, UdWhenEmSet) {
  Regs r = RunToHalt(std::string(kSimdPrologue) + R"(
    mov rax, cr0
    or eax, 4
    mov cr0, rax
    mov r14, 0xdead
    addps xmm0, xmm1
    hlt)");
  EXPECT_EQ(r.r14, 6u);
}

TEST_F(SseTest, MisalignedMovapsRaisesGp) {
  Regs r = RunToHalt(std::string(kSimdPrologue) + R"(
    mov r14, 0xdead
    movups xmm0, [rdi + 4]   ; fine
    addps xmm0, [rdi + 16]   ; fine
    movaps xmm0, [rdi + 4]
    hlt)");
  EXPECT_EQ(r.r14, 13u);
  r = RunToHalt(std::string(kSimdPrologue) + R"(
    mov r14, 0xdead
    paddb xmm0, [rdi + 8]
    hlt)");
  EXPECT_EQ(r.r14, 13u);
  r = RunToHalt(std::string(kSimdPrologue) + R"(
    mov r14, 0xdead
    movdqa [rdi + 1], xmm0
    hlt)");
  EXPECT_EQ(r.r14, 13u);
}

TEST_F(SseTest, UnmaskedExceptionRaisesXmOrUd) {
  const std::string body = R"(
    mov dword [rdi], 0x1d80     ; ZM (bit 9) clear: divide-by-zero unmasked
    ldmxcsr [rdi]
    mov eax, 0x3f800000
    movd xmm0, eax
    xorps xmm1, xmm1
    mov r14, 0xdead
    divss xmm0, xmm1
    hlt)";
  Regs r = RunToHalt(std::string(kSimdPrologue) + body);
  EXPECT_EQ(r.r14, 19u);
  // Without CR4.OSXMMEXCPT the same fault is #UD.
  r = RunToHalt(R"(
    mov rax, cr4
    or eax, 0x200
    and eax, ~0x400
    mov cr4, rax
    mov rdi, 0x20000
)" + body);
  EXPECT_EQ(r.r14, 6u);
}

TEST_F(SseTest, UnmaskedExceptionLeavesDestinationAndSetsFlag) {
  Regs r = RunToHalt(std::string(kSimdPrologue) + R"(
    mov dword [rdi], 0x1d80
    ldmxcsr [rdi]
    mov eax, 0x3f800000
    movd xmm0, eax
    xorps xmm1, xmm1
    mov r14, 0xdead
    divss xmm0, xmm1
    hlt)");
  EXPECT_EQ(r.r14, 19u);
  auto& f = m_->vcpu().cpu().s.fpu;
  EXPECT_EQ(f.xmm[0].lo & 0xffffffff, 0x3f800000u);
  EXPECT_EQ(f.mxcsr, 0x1d84u);  // ZE set
}

TEST_F(SseTest, LdmxcsrReservedBitsRaiseGp) {
  Regs r = RunToHalt(std::string(kSimdPrologue) + R"(
    mov dword [rdi], 0x11f80
    mov r14, 0xdead
    ldmxcsr [rdi]
    hlt)");
  EXPECT_EQ(r.r14, 13u);
  r = RunToHalt(std::string(kSimdPrologue) + R"(
    mov dword [rdi], 0xffff
    ldmxcsr [rdi]
    stmxcsr [rdi + 4]
    mov eax, [rdi + 4]
    mov r14, 0
    hlt)");
  EXPECT_EQ(r.r14, 0u);
  EXPECT_EQ(r.rax & 0xffffffff, 0xffffu);
}

// ---- FXSAVE / FXRSTOR
// ---------------------------------------------------------

TEST_F(SseTest, FxsaveImageMatchesHost) {
  std::vector<uint8_t> in = FloatVectors(16, 9);
  Put(&in, uint32_t{0x3fa1});  // MXCSR at 0x100
  in.resize(0x200);
  // FIP/FCS/FDP/FDS and FOP (bytes 6-23) are addresses and differ.
  std::string zero;
  for (int k = 0; k < 16; ++k)
    absl::StrAppend(&zero, "pxor xmm", k, ", xmm", k, "\n");
  // Every physical x87 register gets a known value first: FXSAVE stores
  // empty registers' stale contents too.
  CompareWithHost(
      zero + R"(
    fninit
    fldz
    fldz
    fldz
    fldz
    fldz
    fldz
    fldz
    fldz
    fninit
    fldpi
    fld1
    fldz
    fadd st0, st1
    fldl2e
    ffree st1
    mov eax, 0x27f
    push rax
    fldcw [rsp]
    pop rax
    ldmxcsr [rdi + 0x100]
    movaps xmm0, [rdi]
    movaps xmm1, [rdi + 0x10]
    movaps xmm2, [rdi + 0x20]
    movaps xmm7, [rdi + 0x70]
    movaps xmm8, [rdi + 0x80]
    movaps xmm15, [rdi + 0xf0]
    fxsave64 [rdi + 0x8000]
    fxsave [rdi + 0x8200]
)",
      in, 0x400,
      {{6, 18},
       {0x206, 18},
       {28, 4},  // MXCSR_MASK: ours is 0xffff, the host's may differ
       {0x200 + 28, 4},
       {416, 96},
       {0x200 + 416, 96}});
  EXPECT_EQ(m_->Read64(kDataAddr + kOutOffset + 24) >> 32, 0xffffu);
}

TEST_F(SseTest, FxrstorRoundTripsAndChecksMxcsr) {
  Regs r = RunToHalt(std::string(kSimdPrologue) + R"(
    fninit
    fld1
    fldpi
    mov eax, 0x12345678
    movd xmm3, eax
    pshufd xmm3, xmm3, 0
    mov eax, 0x1f80 | 0x6000
    mov [rdi + 0x400], eax
    ldmxcsr [rdi + 0x400]
    fxsave64 [rdi]
    fninit
    pxor xmm3, xmm3
    mov dword [rdi + 0x400], 0x1f80
    ldmxcsr [rdi + 0x400]
    fxrstor64 [rdi]
    stmxcsr [rdi + 0x400]
    mov ebx, [rdi + 0x400]
    fstp qword [rdi + 0x408]
    fstp qword [rdi + 0x410]
    movq rcx, xmm3
    mov rdx, [rdi + 0x408]
    mov rsi, [rdi + 0x410]
    mov dword [rdi + 24], 0x10000   ; reserved MXCSR bit in the image
    mov r14, 0
    fxrstor64 [rdi]
    hlt)");
  EXPECT_EQ(r.r14, 13u);
  EXPECT_EQ(r.rbx & 0xffffffff, 0x7f80u);
  EXPECT_EQ(r.rcx, 0x1234567812345678u);
  EXPECT_EQ(r.rdx, 0x400921fb54442d18u);  // pi as a double
  EXPECT_EQ(r.rsi, 0x3ff0000000000000u);
}

TEST_F(SseTest, FxsaveMisalignedRaisesGp) {
  Regs r = RunToHalt(std::string(kSimdPrologue) + R"(
    mov r14, 0xdead
    fxsave [rdi + 8]
    hlt)");
  EXPECT_EQ(r.r14, 13u);
}

// Random x87/SSE/MMX encodings (any prefix, ModRM, SIB, displacement,
// immediate) must only ever fault or complete: a smoke test for the
// untrusted-input rules; fuzz_tcg covers this more thoroughly.
TEST_F(SseTest, RandomEncodingsNeverCrash) {
  uint64_t seed = 77;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> code;
    for (int n = 0; n < 8; ++n) {
      const uint64_t r = Lcg(&seed);
      static constexpr uint8_t kPrefixes[] = {0x66, 0xf2, 0xf3, 0x48, 0x4d};
      if (r & 1) code.push_back(kPrefixes[(r >> 1) % 5]);
      if ((r >> 4) & 1) {
        // Only the SIMD part of the 0F map (no branches out of RAM).
        static constexpr uint8_t kBase[] = {0x10, 0x28, 0x50, 0x60, 0x70,
                                            0xc0, 0xd0, 0xe0, 0xf0};
        const uint64_t o = Lcg(&seed);
        uint8_t op = static_cast<uint8_t>(kBase[o % 9] + ((o >> 8) & 15));
        if (op >= 0xc7 && op < 0xd0) op = 0xae;
        if (op >= 0x18 && op < 0x20) op = 0x12;
        code.push_back(0x0f);
        code.push_back(op);
      } else {
        code.push_back(static_cast<uint8_t>(0xd8 + ((r >> 5) & 7)));
      }
      for (int k = 0; k < 6; ++k) {
        code.push_back(static_cast<uint8_t>(Lcg(&seed)));
      }
    }
    code.push_back(0xf4);
    ASSERT_TRUE(m_->LoadCode(code).ok());
    Regs regs = m_->regs();
    regs.rax = regs.rbx = regs.rcx = regs.rdx = regs.rsi = regs.rdi = kDataAddr;
    regs.r14 = 0;
    m_->SetRegs(regs);
    Cpu& c = m_->vcpu().cpu();
    c.s.cr4 |= (iter & 1) ? 0x600 : 0;
    m_->vcpu().set_instruction_limit(64);
    auto exit = m_->Run();
    ASSERT_TRUE(exit.ok());
    // Trailing random bytes may decode as a branch out of RAM: that exit is
    // expected; any other internal error is a bug.
    const std::string what = DescribeVcpuExit(*exit);
    if (exit->kind == VcpuExit::Kind::kInternalError) {
      EXPECT_NE(what.find("fetch outside RAM"), std::string::npos) << what;
    }
    m_->vcpu().set_instruction_limit(0);
    ASSERT_TRUE(m_->vcpu().ResetFpu().ok());
  }
}

TEST(SseCpuid, AdvertisesExactlyWhatIsImplemented) {
  auto m = FlatMachine::Create();
  ASSERT_TRUE(m.ok());
  const CpuidResult r = Cpuid((*m)->vcpu().cpu(), 1, 0);
  EXPECT_TRUE(r.edx & (1u << 0));    // FPU
  EXPECT_TRUE(r.edx & (1u << 23));   // MMX
  EXPECT_TRUE(r.edx & (1u << 24));   // FXSR
  EXPECT_TRUE(r.edx & (1u << 25));   // SSE
  EXPECT_TRUE(r.edx & (1u << 26));   // SSE2
  EXPECT_FALSE(r.ecx & (1u << 0));   // SSE3
  EXPECT_FALSE(r.ecx & (1u << 9));   // SSSE3
  EXPECT_FALSE(r.ecx & (1u << 19));  // SSE4.1
  EXPECT_FALSE(r.ecx & (1u << 26));  // XSAVE
  EXPECT_FALSE(r.ecx & (1u << 28));  // AVX
}

TEST(SseReset, PowerOnValues) {
  auto m = FlatMachine::Create();
  ASSERT_TRUE(m.ok());
  TcgVcpu& v = (*m)->vcpu();
  v.cpu().s.fpu.mxcsr = 0;
  v.cpu().s.fpu.fcw = 0;
  v.cpu().s.fpu.ftw = 0xff;
  ASSERT_TRUE(v.ResetFpu().ok());
  EXPECT_EQ(v.cpu().s.fpu.mxcsr, 0x1f80u);
  EXPECT_EQ(v.cpu().s.fpu.fcw, 0x37fu);
  EXPECT_EQ(v.cpu().s.fpu.ftw, 0u);
}

}  // namespace
}  // namespace skiff::tcg::testing
