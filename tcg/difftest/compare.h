// Comparison of a native and an interpreted Outcome of one Snippet, and a
// readable report of the differences.
//
//   std::string diff = CompareOutcomes(snippet, native, interp);
//   if (!diff.empty()) std::cout << DescribeSnippet(snippet) << diff;
//
// Compared: how the run ended (completed, exception vector, timeout, crash),
// RIP, the 16 GPRs, RFLAGS.{CF,PF,AF,ZF,SF,OF,DF} minus the flags the
// snippet marks architecturally undefined at the instruction where it
// stopped, and every byte of the data area. For #PF also CR2 and the W
// error-code bit; for #GP/#SS the error code.
#ifndef SKIFF_TCG_DIFFTEST_COMPARE_H_
#define SKIFF_TCG_DIFFTEST_COMPARE_H_

#include <string>

#include "tcg/difftest/snippet.h"

namespace skiff::tcg::difftest {

// Empty when the outcomes agree; otherwise one line per difference.
std::string CompareOutcomes(const Snippet& s, const Outcome& native,
                            const Outcome& interp);

// Name, code bytes (hex, for objdump -D -b binary -m i386:x86-64), initial
// registers, flags and data seed.
std::string DescribeSnippet(const Snippet& s);

// "CF ZF" for a flags mask.
std::string FlagNames(uint64_t flags);

}  // namespace skiff::tcg::difftest

#endif  // SKIFF_TCG_DIFFTEST_COMPARE_H_
