// Hand-written differential cases, one list per instruction family
// (cases_alu.cc, cases_bits.cc, cases_misc.cc), assembled with nasm in one
// run. Each case runs from several seeded register/flag/data states.
//
//   SKIFF_ASSIGN_OR_RETURN(std::vector<Snippet> cases, HandWrittenCases());
//
// Writing a case: NASM source, BITS 64; use only local labels (".x"); RBX
// points into the middle of the 16 KiB data area ([rbx-0x2000, rbx+0x2000))
// and RSP near its top; every other register and the arithmetic flags start
// random. `undef` lists the flags architecturally undefined at the end (or
// at the faulting instruction). A hook for x87/SSE: add cases_fpu.cc with
// its own list and append it in HandWrittenCases().
#ifndef SKIFF_TCG_DIFFTEST_CASES_H_
#define SKIFF_TCG_DIFFTEST_CASES_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "tcg/difftest/generator.h"
#include "tcg/difftest/snippet.h"

namespace skiff::tcg::difftest {

struct CaseSpec {
  const char* name;
  const char* source;
  uint32_t undef = 0;
  int variants = 4;
  // Optional instruction the case needs (both host and interpreter).
  enum class Needs { kNone, kPopcnt, kLzcnt, kTzcnt } needs = Needs::kNone;
};

std::vector<CaseSpec> AluCases();
std::vector<CaseSpec> BitCases();
std::vector<CaseSpec> MiscCases();

// Every case × its variants, as snippets. NotFound when nasm is missing.
absl::StatusOr<std::vector<Snippet>> HandWrittenCases();

}  // namespace skiff::tcg::difftest

#endif  // SKIFF_TCG_DIFFTEST_CASES_H_
