#include "tcg/difftest/difftest.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "tcg/difftest/cases.h"
#include "tcg/difftest/compare.h"
#include "tcg/difftest/encoder.h"
#include "tcg/difftest/generator.h"

namespace skiff::tcg::difftest {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != 0 ? std::strtoull(v, nullptr, 0) : fallback;
}

void ExpectNoDivergence(const DiffSummary& sum) {
  std::printf("%s\n", sum.Line().c_str());
  // Known divergences: one line per kind (the full reports are long; run
  // tcg_difftest --verbose to see them).
  std::map<std::string, int> kinds;
  for (const std::string& k : sum.known) ++kinds[k.substr(0, k.find(']') + 1)];
  for (const auto& [what, n] : kinds)
    std::printf("  %dx %s\n", n, what.c_str());
  for (size_t k = 0; k < sum.divergences.size() && k < 20; ++k) {
    ADD_FAILURE() << "divergence:\n" << sum.divergences[k];
  }
  EXPECT_TRUE(sum.divergences.empty())
      << sum.divergences.size() << " divergences";
}

TEST(Encoder, KnownEncodings) {
  std::vector<uint8_t> b;
  Encoder e(&b);
  e.Emit({.size = 8, .opcode = {0x01}, .reg = kRcx, .rm = Operand::Reg(kRax)});
  EXPECT_EQ(b, (std::vector<uint8_t>{0x48, 0x01, 0xc8}));
  b.clear();
  // add r9b, [rbx+0x10]: byte op, REX.R, disp8
  e.Emit({.size = 1, .opcode = {0x02}, .reg = 9, .rm = Operand::Mem(kRbx, 16)});
  EXPECT_EQ(b, (std::vector<uint8_t>{0x44, 0x02, 0x4b, 0x10}));
  b.clear();
  // mov ax, [rsp-0x200]: 66, SIB for RSP base, disp32
  e.Emit({.size = 2,
          .opcode = {0x8b},
          .reg = kRax,
          .rm = Operand::Mem(kRsp, -0x200)});
  EXPECT_EQ(b, (std::vector<uint8_t>{0x66, 0x8b, 0x84, 0x24, 0x00, 0xfe, 0xff,
                                     0xff}));
  b.clear();
  // lea r8, [r13 + r12*4]: REX.WRXB, r13 base needs a disp8 of 0
  e.Emit({.size = 8,
          .opcode = {0x8d},
          .reg = 8,
          .rm = Operand::Mem(13, 0, 12, 2)});
  EXPECT_EQ(b, (std::vector<uint8_t>{0x4f, 0x8d, 0x44, 0xa5, 0x00}));
}

TEST(Generator, IsDeterministicAndStaysSmall) {
  GeneratorOptions o;
  for (uint64_t i = 0; i < 200; ++i) {
    const Snippet a = GenerateSnippet(5, i, o);
    const Snippet b = GenerateSnippet(5, i, o);
    EXPECT_EQ(a.code, b.code);
    EXPECT_LE(a.code.size(), kMaxCodeSize);
    EXPECT_GE(a.instructions, 1);
    EXPECT_EQ(a.boundaries.size(), static_cast<size_t>(a.instructions));
  }
}

TEST(NativeRunner, ReportsExceptionsAndSurvivesSyscalls) {
  auto runner = NativeRunner::Create({.batch_size = 4, .timeout_ms = 200});
  ASSERT_TRUE(runner.ok()) << runner.status();
  std::vector<Snippet> s = {
      MakeSnippet("add", {0x48, 0x01, 0xc8}, 1),            // add rax, rcx
      MakeSnippet("ud2", {0x0f, 0x0b}, 2),                  // #UD
      MakeSnippet("syscall", {0x31, 0xc0, 0x0f, 0x05}, 3),  // getpid-ish
      MakeSnippet("div0", {0x31, 0xc9, 0xf7, 0xf1}, 4),     // #DE
      MakeSnippet("int3", {0xcc}, 5),                       // #BP
      MakeSnippet("loop", {0xeb, 0xfe}, 6),                 // jmp $
  };
  auto out = (*runner)->Run(s);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), s.size());
  EXPECT_EQ((*out)[0].kind, Outcome::Kind::kCompleted);
  EXPECT_EQ((*out)[0].gpr[kRax], s[0].gpr[kRax] + s[0].gpr[kRcx]);
  EXPECT_EQ((*out)[0].rip, kCodeBase + 3);
  EXPECT_EQ((*out)[1].kind, Outcome::Kind::kException);
  EXPECT_EQ((*out)[1].vector, 6);
  EXPECT_EQ((*out)[2].kind, Outcome::Kind::kCrashed) << (*out)[2].detail;
  EXPECT_EQ((*out)[3].vector, 0);
  EXPECT_EQ((*out)[4].vector, 3);
  EXPECT_EQ((*out)[4].rip, kCodeBase + 1);
  EXPECT_EQ((*out)[5].kind, Outcome::Kind::kTimeout);
}

TEST(InterpRunner, MatchesNativeOnASimpleSnippet) {
  auto harness = DiffHarness::Create();
  ASSERT_TRUE(harness.ok()) << harness.status();
  // add rax, rcx; push rax; mov [rbx+8], rcx
  std::vector<Snippet> s = {MakeSnippet(
      "simple", {0x48, 0x01, 0xc8, 0x50, 0x48, 0x89, 0x4b, 0x08}, 9)};
  auto sum = (*harness)->Run(s);
  ASSERT_TRUE(sum.ok()) << sum.status();
  ExpectNoDivergence(*sum);
}

TEST(DiffHarness, HandWrittenCases) {
  auto cases = HandWrittenCases();
  if (absl::IsNotFound(cases.status())) GTEST_SKIP() << "nasm is not installed";
  ASSERT_TRUE(cases.ok()) << cases.status();
  auto harness = DiffHarness::Create();
  ASSERT_TRUE(harness.ok()) << harness.status();
  auto sum = (*harness)->Run(*cases);
  ASSERT_TRUE(sum.ok()) << sum.status();
  ExpectNoDivergence(*sum);
}

// "More on demand": SKIFF_DIFFTEST_SEED / SKIFF_DIFFTEST_COUNT override the
// fixed CI values (or use the tcg_difftest tool).
TEST(DiffHarness, RandomSequences) {
  const uint64_t seed = EnvOr("SKIFF_DIFFTEST_SEED", 20261123);
  const uint64_t count = EnvOr("SKIFF_DIFFTEST_COUNT", 10000);
  GeneratorOptions o;
  o.features = CommonFeatures();
  std::vector<Snippet> snippets;
  for (uint64_t i = 0; i < count; ++i) {
    snippets.push_back(GenerateSnippet(seed, i, o));
  }
  auto harness = DiffHarness::Create();
  ASSERT_TRUE(harness.ok()) << harness.status();
  auto sum = (*harness)->Run(snippets);
  ASSERT_TRUE(sum.ok()) << sum.status();
  std::printf("seed=%llu\n", static_cast<unsigned long long>(seed));
  ExpectNoDivergence(*sum);
}

}  // namespace
}  // namespace skiff::tcg::difftest
